"""Tables on S3 (and S3-compatible stores): the file system and the conditional put.

Every request goes through obstore (``pip install 'tablever[s3]'``), the Python
binding of the object_store crate: one request per operation (a GET reads a whole
object with no HEAD before it, a small file is one PUT, a listing can start after a
key), and ``put(..., mode="create")`` sends ``If-None-Match: *``, the conditional put a
commit is (pyarrow's S3 file system has none). docs/storage.md says why this one.

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

import io
import os
from collections.abc import Iterator, Mapping
from typing import IO, Any
from urllib.parse import urlparse

from tablever.errors import TableverError

__all__ = ["ObjectFiles", "conditional_store", "put_if_absent", "s3_settings", "split_location"]

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


def conditional_store(bucket: str, options: Mapping[str, Any]) -> Any:
    """An obstore S3 store for ``bucket``."""
    try:
        from obstore.store import S3Store
    except ImportError as exc:
        raise TableverError(
            "tables on s3:// need obstore: pip install 'tablever[s3]'"
        ) from exc
    cfg = s3_settings(options)
    kwargs: dict[str, Any] = {}
    for key in ("endpoint_url", "region", "access_key_id", "secret_access_key",
                "session_token"):
        if cfg.get(key):
            kwargs["endpoint" if key == "endpoint_url" else key] = cfg[key]
    client: Any = {"allow_http": True} if cfg["allow_http"] else {}
    return S3Store(bucket, client_options=client, **kwargs)


def put_if_absent(store: Any, prefix: str, rel: str, data: bytes) -> bool:
    """Create the object ``rel`` (below ``prefix``) with ``data`` only if there is none:
    True if this call created it, False if it existed. A store that refuses
    conditional writes is an error here, never a silent overwrite."""
    import obstore
    from obstore.exceptions import AlreadyExistsError, NotSupportedError, PreconditionError

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


def split_location(location: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix)."""
    parsed = urlparse(location)
    if not parsed.netloc:
        raise TableverError(f"{location!r} names no bucket: write s3://BUCKET/PATH")
    return parsed.netloc, parsed.path.strip("/")


def _os_error(exc: Exception, rel: str) -> Exception:
    """An object store's failure as the OSError a file's would be."""
    from obstore.exceptions import BaseError, NotFoundError

    if isinstance(exc, (NotFoundError, FileNotFoundError)):
        return FileNotFoundError(2, "not found", rel)
    if isinstance(exc, BaseError):
        return OSError(f"{rel}: {exc}")
    return exc


class _Reader(io.RawIOBase):
    """obstore's ReadableFile as a standard raw file (pyarrow asks for ``closed``)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = memoryview(self._inner.read(len(buffer)))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._inner.seek(offset, whence))

    def tell(self) -> int:
        return int(self._inner.tell())

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class ObjectFiles:
    """The files below ``prefix`` in an S3 bucket, one request per operation.

    Paths are relative to ``prefix`` with '/' separators. Missing objects raise
    FileNotFoundError, as files do.
    """

    type_name = "s3"
    # S3 keeps last-modified times in whole seconds
    mtime_resolution = 1.0

    def __init__(self, bucket: str, prefix: str, options: Mapping[str, Any],
                 store: Any = None) -> None:
        self.bucket, self.prefix, self.options = bucket, prefix.strip("/"), options
        self.store = store if store is not None else conditional_store(bucket, options)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def child(self, rel: str) -> ObjectFiles:
        return ObjectFiles(self.bucket, self.key(rel), self.options, self.store)

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}".strip("/") if self.prefix else rel.strip("/")

    def _rel(self, key: str) -> str:
        return key[len(self.prefix) + 1:] if self.prefix else key

    def _call(self, fn: Any, rel: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self.store, self.key(rel), *args, **kwargs)
        except Exception as exc:
            raise _os_error(exc, rel) from exc

    def read(self, rel: str) -> bytes:
        import obstore

        return bytes(self._call(obstore.get, rel).bytes())

    def chunks(self, rel: str) -> Iterator[bytes]:
        """The object's bytes in pieces, from one GET."""
        import obstore

        result = self._call(obstore.get, rel)
        try:
            for chunk in result.stream(min_chunk_size=1 << 20):
                yield bytes(chunk)
        except Exception as exc:
            raise _os_error(exc, rel) from exc

    def open(self, rel: str) -> IO[bytes]:
        """A seekable reader (a HEAD for the size, then ranged GETs as read)."""
        import obstore

        return io.BufferedReader(_Reader(self._call(obstore.open_reader, rel)), 1 << 16)

    def info(self, rel: str) -> tuple[int, float] | None:
        """(size, last-modified seconds) of the object, or None if there is none."""
        import obstore

        try:
            meta = self._call(obstore.head, rel)
        except FileNotFoundError:
            return None
        return int(meta["size"]), meta["last_modified"].timestamp()

    def is_dir(self, rel: str) -> bool:
        import obstore

        listed = obstore.list_with_delimiter(self.store, self.key(rel) + "/")
        return bool(listed["objects"] or listed["common_prefixes"])

    def names(self, rel: str) -> list[str]:
        """Names directly below ``rel``: objects and sub-folders."""
        import obstore

        listed = obstore.list_with_delimiter(self.store, self.key(rel) + "/" if rel or
                                             self.prefix else None)
        out = [m["path"].rsplit("/", 1)[-1] for m in listed["objects"]]
        out += [p.rstrip("/").rsplit("/", 1)[-1] for p in listed["common_prefixes"]]
        return out

    def files(self, rel: str, *, after: str | None = None) -> Iterator[tuple[str, int, float]]:
        """(path, size, last-modified seconds) of every object below ``rel``, in key
        order; with ``after`` (a path), only those whose path sorts after it, listed
        from there (S3's start-after), not from the start."""
        import obstore

        base = self.key(rel)
        offset = self.key(after) if after is not None else None
        for batch in obstore.list(self.store, base + "/" if base else None, offset=offset,
                                  chunk_size=1000):
            for meta in batch:
                yield (self._rel(meta["path"]), int(meta["size"]),
                       meta["last_modified"].timestamp())

    def write(self, rel: str, data: bytes) -> None:
        import obstore

        obstore.put(self.store, self.key(rel), data)

    def put_if_absent(self, rel: str, data: bytes) -> bool:
        return put_if_absent(self.store, self.prefix, rel, data)

    def delete(self, rel: str) -> None:
        import obstore

        obstore.delete(self.store, self.key(rel))  # deleting what is not there succeeds
