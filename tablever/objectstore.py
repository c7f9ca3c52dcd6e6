"""Tables on S3 (and S3-compatible stores): the file system and the conditional put.

Reads, listings and plain writes go through pyarrow's S3 file system, which tablever
already depends on. A commit must be a put-if-absent of the next log file: pyarrow
has no conditional put, so the commit goes through obstore (``pip install
'tablever[s3]'``), whose ``put(..., mode="create")`` sends ``If-None-Match: *``
(docs/storage.md says why this one).

Settings come from ``storage_options`` (the keys delta-rs and Lance users pass) or, for
each one not given, the usual AWS environment variables:

| option | environment |
|---|---|
| ``endpoint_url`` (``aws_endpoint_url``, ``endpoint``) | ``AWS_ENDPOINT_URL`` |
| ``region`` (``aws_region``) | ``AWS_REGION``, ``AWS_DEFAULT_REGION`` |
| ``access_key_id`` (``aws_access_key_id``) | ``AWS_ACCESS_KEY_ID`` |
| ``secret_access_key`` (``aws_secret_access_key``) | ``AWS_SECRET_ACCESS_KEY`` |
| ``session_token`` (``aws_session_token``) | ``AWS_SESSION_TOKEN`` |
| ``allow_http`` | true when the endpoint is ``http://`` |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

from tablever.errors import TableverError

__all__ = ["conditional_store", "put_if_absent", "s3_file_system", "s3_settings"]

_KEYS = {
    "endpoint_url": ("endpoint_url", "aws_endpoint_url", "endpoint", "AWS_ENDPOINT_URL"),
    "region": ("region", "aws_region", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "access_key_id": ("access_key_id", "aws_access_key_id", "AWS_ACCESS_KEY_ID"),
    "secret_access_key": ("secret_access_key", "aws_secret_access_key",
                          "AWS_SECRET_ACCESS_KEY"),
    "session_token": ("session_token", "aws_session_token", "AWS_SESSION_TOKEN"),
    "allow_http": ("allow_http",),
}


def s3_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """The S3 settings in force: each from ``options`` (any of its names, in any case)
    or else from its environment variable. Unknown option names are an error, so a typo
    is not silently ignored."""
    given = {str(k).lower(): v for k, v in options.items()}
    known = {name.lower() for names in _KEYS.values() for name in names}
    unknown = sorted(set(given) - known)
    if unknown:
        raise TableverError(
            f"unknown storage option(s) {', '.join(unknown)}; known: "
            + ", ".join(sorted(_KEYS))
        )
    out: dict[str, Any] = {}
    for key, names in _KEYS.items():
        for name in names:
            value = given.get(name.lower()) if not name.isupper() else os.environ.get(name)
            if value not in (None, ""):
                out[key] = value
                break
    endpoint = out.get("endpoint_url")
    if "allow_http" in out:
        out["allow_http"] = str(out["allow_http"]).lower() in ("1", "true", "yes")
    else:
        out["allow_http"] = bool(endpoint) and str(endpoint).startswith("http://")
    return out


def s3_file_system(location: str, options: Mapping[str, Any]) -> tuple[pafs.FileSystem, str]:
    """pyarrow's S3 file system for ``s3://bucket/prefix`` and the path in it."""
    parsed = urlparse(location)
    if not parsed.netloc:
        raise TableverError(f"{location!r} names no bucket: write s3://BUCKET/PATH")
    path = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
    cfg = s3_settings(options)
    kwargs: dict[str, Any] = {}
    endpoint = cfg.get("endpoint_url")
    if endpoint:
        url = urlparse(str(endpoint))
        kwargs["endpoint_override"] = url.netloc or url.path
        kwargs["scheme"] = url.scheme or "https"
    if cfg.get("region"):
        kwargs["region"] = cfg["region"]
    if cfg.get("access_key_id"):
        kwargs["access_key"] = cfg["access_key_id"]
        kwargs["secret_key"] = cfg.get("secret_access_key")
        if cfg.get("session_token"):
            kwargs["session_token"] = cfg["session_token"]
    try:
        return pafs.S3FileSystem(**kwargs), path
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends
        raise TableverError(f"cannot open S3 for {location!r}: {exc}") from exc


def conditional_store(root: str, options: Mapping[str, Any]) -> Any:
    """An obstore S3 store for the bucket of ``root`` (``bucket/prefix``)."""
    try:
        from obstore.store import S3Store
    except ImportError as exc:
        raise TableverError(
            "committing to s3:// needs a conditional put: pip install 'tablever[s3]'"
        ) from exc
    cfg = s3_settings(options)
    kwargs: dict[str, Any] = {}
    for key in ("endpoint_url", "region", "access_key_id", "secret_access_key",
                "session_token"):
        if cfg.get(key):
            kwargs["endpoint" if key == "endpoint_url" else key] = cfg[key]
    client: Any = {"allow_http": True} if cfg["allow_http"] else {}
    return S3Store(root.split("/", 1)[0], client_options=client, **kwargs)


def put_if_absent(store: Any, root: str, rel: str, data: bytes) -> bool:
    """Create the object ``rel`` (below ``root``) with ``data`` only if there is none:
    True if this call created it, False if it existed. A store that refuses
    conditional writes is an error here, never a silent overwrite."""
    import obstore
    from obstore.exceptions import AlreadyExistsError, NotSupportedError, PreconditionError

    prefix = root.split("/", 1)[1] if "/" in root else ""
    key = f"{prefix}/{rel}" if prefix else rel
    try:
        obstore.put(store, key, data, mode="create")
    except (AlreadyExistsError, PreconditionError):
        return False
    except NotSupportedError as exc:
        raise TableverError(
            f"the object store refuses conditional writes ({exc}): commits need "
            "If-None-Match (S3, MinIO, R2 and moto have it); nothing was committed"
        ) from exc
    return True
