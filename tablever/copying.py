"""Copying a table between locations (local and S3 alike), as DVC users push and pull.

Data files and deletion vectors are named by the SHA-256 of their bytes, so a copy only
sends what the destination lacks, and a rerun after new commits sends only what is new.
Everything a version needs goes before the log file that names it, and commits are put
in version order with the same put-if-absent as any commit: the destination is a valid
table at every instant, and a reader there never sees a version whose files are missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tablever.errors import TableNotFoundError, TableverError
from tablever.format.layout import (
    COMMIT_NAME,
    DATA_DIR,
    DELETES_DIR,
    LOG_DIR,
    META,
    RUNS_DIR,
    TAGS_DIR,
    commit_path,
)
from tablever.log import Log
from tablever.storage import TMP_PREFIX, FileInfo, Storage

__all__ = ["CopyReport", "copy"]


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What a copy sent: files and bytes copied, and files the destination had."""

    source: str
    destination: str
    files: int
    bytes: int
    skipped: int
    versions: int  # commits copied


def _storage(location: Any, options: Mapping[str, Any] | None) -> Storage:
    from tablever.table import Table

    if isinstance(location, Table):
        return location.storage
    if not isinstance(location, (str, os.PathLike)):
        raise TableverError(f"a table location is a path or URI, not {type(location).__name__}")
    return Storage(os.fspath(location), None, options)


def copy(
    source: Any,
    destination: Any,
    *,
    source_options: Mapping[str, Any] | None = None,
    destination_options: Mapping[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> CopyReport:
    """Copy the table at ``source`` (a location or a ``Table``) to ``destination``:
    every retained version, its tags and runs. Only objects the destination lacks are
    sent. A destination that holds another table (another version 0), or a version
    whose commit differs from the source's (the two diverged), is a TableverError and
    nothing of the log is overwritten.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> t = tv.create(os.path.join(root, "a"), schema=pa.schema([("x", pa.int64())]))
        >>> _ = t.append(pa.table({"x": [1, 2]}))
        >>> tv.copy(t, os.path.join(root, "b")).versions
        2
        >>> tv.open(os.path.join(root, "b")).latest().fingerprint == t.latest().fingerprint
        True
    """
    src = _storage(source, source_options)
    dst = _storage(destination, destination_options)
    if not Log(src).exists():
        raise TableNotFoundError(src.uri)
    src_log, dst_log = Log(src), Log(dst)
    if dst_log.exists() and dst_log.has_commit(0) and src_log.has_commit(0) and (
            dst.read_bytes(commit_path(0)) != src.read_bytes(commit_path(0))):
            raise TableverError(
                f"{dst.uri} holds another table (its version 0 differs from {src.uri}'s): "
                "copy to a new location"
            )
    have = {i.path: i.size for top in (DATA_DIR, DELETES_DIR, META) for i in dst.walk(top)}
    files = [i for top in (DATA_DIR, DELETES_DIR, META) for i in src.walk(top)
             if not os.path.basename(i.path).startswith(TMP_PREFIX)]
    # content first, then checkpoints and expired records, the log, then tags and runs
    content: list[FileInfo] = []
    other: list[FileInfo] = []
    commits: list[FileInfo] = []
    names: list[FileInfo] = []
    for i in files:
        if i.path.startswith((f"{DATA_DIR}/", f"{DELETES_DIR}/")):
            content.append(i)
        elif i.path.startswith(f"{LOG_DIR}/") and COMMIT_NAME.match(os.path.basename(i.path)):
            commits.append(i)
        elif i.path.startswith((f"{TAGS_DIR}/", f"{RUNS_DIR}/")):
            names.append(i)
        else:
            other.append(i)
    commits.sort(key=lambda i: i.path)
    sent = sent_bytes = skipped = versions = 0
    total = len(files)

    def step() -> None:
        if progress is not None:
            progress("copy", sent + skipped, total)

    def plain(info: FileInfo) -> None:
        nonlocal sent, sent_bytes, skipped
        if have.get(info.path) == info.size:
            skipped += 1
        else:
            dst.write_file(info.path, src.read_bytes(info.path))
            sent += 1
            sent_bytes += info.size
        step()

    for info in content:  # what any version needs, first
        plain(info)
    for info in other:  # checkpoints and expired records
        plain(info)
    dst.makedirs(LOG_DIR)
    for info in commits:  # the log last, in version order
        data = src.read_bytes(info.path)
        if dst.put_if_absent(info.path, data):
            sent += 1
            sent_bytes += len(data)
            versions += 1
        elif dst.read_bytes(info.path) != data:
            raise TableverError(
                f"{dst.uri} has a different {info.path}: the two tables diverged at that "
                "version; nothing after it was copied"
            )
        else:
            skipped += 1
        step()
    for info in names:  # tags and runs name versions: after the versions they name
        plain(info)
    return CopyReport(src.uri, dst.uri, sent, sent_bytes, skipped, versions)
