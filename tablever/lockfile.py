"""Lock files: a small JSON file pinning one snapshot (table, version, id, fingerprint,
rows, schema and content hash), written next to code; ``tv.from_lock`` (reproduce.py)
reopens exactly that snapshot."""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from tablever.snapshot import Snapshot

__all__ = ["LOCK_FORMAT", "schema_hash", "write_lock"]


LOCK_FORMAT = "tablever-lock/1"


def schema_hash(schema: pa.Schema) -> str:
    from tablever.format.commit import canonical_json
    from tablever.schema import schema_to_dict

    return hashlib.sha256(canonical_json(schema_to_dict(schema))).hexdigest()


def write_lock(
    snapshot: Snapshot, path: str | os.PathLike[str], *, split: dict[str, Any] | None = None
) -> str:
    """Write a small JSON file pinning ``snapshot`` (see :func:`from_lock`).

    The table is recorded by its absolute path or URI (``"table"``) and, when it is on
    the local disk under the same root as the lock file, also relative to the lock
    file's folder (``"table_relative": "../wh/events"``), which :func:`from_lock` tries
    first: the lock keeps working when the project moves, and when it is moved alone.
    ``split`` (a split view's ``lock_entry()``) adds a ``"split"`` entry, which readers
    that do not know it ignore: ``from_lock`` still reopens the snapshot.
    """
    from tablever.format.commit import canonical_json
    from tablever.version import __version__

    out = os.fspath(path)
    body: dict[str, Any] = {
        "format": LOCK_FORMAT,
        "table": snapshot.location,
        "version": snapshot.version,
        "id": snapshot.id,
        "fingerprint": snapshot.fingerprint,
        "rows": snapshot.num_rows,
        "schema_hash": schema_hash(snapshot.schema),
        "content_hash": snapshot.content_hash,
        "timestamp": snapshot.timestamp.isoformat(),
        "tablever_version": __version__,
    }
    if split is not None:
        body["split"] = split
    relative = _relative_location(snapshot, out)
    if relative is not None:
        body["table_relative"] = relative
    text = json.dumps(json.loads(canonical_json(body)), indent=2, sort_keys=True) + "\n"
    tmp = f"{out}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    return out


def _relative_location(snapshot: Snapshot, lock_path: str) -> str | None:
    if "://" in snapshot.location or not os.path.isabs(snapshot.location):
        return None  # a table on another file system has a URI
    folder = os.path.dirname(os.path.abspath(lock_path))
    try:
        common = os.path.commonpath([folder, snapshot.location])
    except ValueError:  # another drive
        return None
    if os.path.dirname(common) == common:  # only the file system root in common
        return None
    return os.path.relpath(snapshot.location, folder).replace(os.sep, "/")
