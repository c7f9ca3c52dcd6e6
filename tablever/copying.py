"""Copying a table between locations (local and S3 alike), as DVC users push and pull.

Data files and deletion vectors are named by the SHA-256 of their bytes, so a copy only
sends what the destination lacks, and a rerun after new commits sends only what is new.
Everything a version needs goes before the log file that names it, and commits are put
in version order with the same put-if-absent as any commit: the destination is a valid
table at every instant, and a reader there never sees a version whose files are missing.

A partial copy (``refs=``) takes only the chosen versions: their files, a checkpoint of
each, and their commits, with the versions left out recorded as such (an expired-version
record naming the source), so the copy reads those versions exactly and says of any
other that it is not in this partial copy, and where to get it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tablever.errors import TableNotFoundError, TableverError
from tablever.format.layout import (
    COMMIT_NAME,
    DATA_DIR,
    DELETES_DIR,
    ICEBERG_DIR,
    LOG_DIR,
    META,
    RUNS_DIR,
    TAGS_DIR,
    commit_path,
    run_path,
    tag_path,
)
from tablever.log import ExpiredVersion, Log
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
    refs: Iterable[Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> CopyReport:
    """Copy the table at ``source`` (a location or a ``Table``) to ``destination``:
    every retained version, its tags and runs. Only objects the destination lacks are
    sent. A destination that holds another table (another version 0), or a version
    whose commit differs from the source's (the two diverged), is a TableverError and
    nothing of the log is overwritten.

    With ``refs`` (tags, versions, ids, times), only those versions are copied, with
    the tags and runs that name them: a partial copy, which reads them exactly and says
    of any other version that it is not there. A partial copy grows forward: a later
    ``refs=`` copy may add newer versions (or a full copy of a partial source), not
    older ones.

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
    partial_here = any(e.copied_from for e in dst_log.read_expired().values())
    if refs is not None:
        return _copy_versions(src, dst, refs, progress)
    if partial_here:
        raise TableverError(
            f"{dst.uri} is a partial copy: add versions to it with refs=, or copy the "
            "whole table to a new location"
        )
    have = {i.path: i.size for top in (DATA_DIR, DELETES_DIR, META) for i in dst.walk(top)}
    # An Iceberg export names the source's files by absolute location: it stays behind
    # (export again at the destination).
    files = [i for top in (DATA_DIR, DELETES_DIR, META) for i in src.walk(top)
             if not os.path.basename(i.path).startswith(TMP_PREFIX)
             and not i.path.startswith(f"{ICEBERG_DIR}/")]
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


def _copy_versions(src: Storage, dst: Storage, refs: Iterable[Any],
                   progress: Callable[[str, int, int], None] | None) -> CopyReport:
    """A partial copy: the versions ``refs`` name, newer than any the destination has."""
    from tablever.table import Table

    source, dst_log = Table(src), Log(dst)
    wanted = sorted({source.as_of(ref).version for ref in refs})
    if not wanted:
        raise TableverError("refs= names no version: give at least one tag or version")
    history = source.versions()
    by_version = {v.version: v for v in history}
    here: set[int] = set()
    newest = -1
    if dst_log.exists():
        mine = Table(dst).versions()
        if any(by_version.get(v.version, v).id != v.id for v in mine):
            raise TableverError(f"{dst.uri} holds another table: copy to a new location")
        here = {v.version for v in mine}
        newest = max(here)
        older = [v for v in wanted if v <= newest and v not in here]
        if older:
            raise TableverError(
                f"version {older[0]} is older than {dst.uri}'s newest ({newest}): a partial "
                "copy grows forward; copy it to a new location"
            )
    todo = [v for v in wanted if v not in here]
    src_log = Log(src)
    states = {v: src_log.load_state(v)[0] for v in todo}
    expired = list(src_log.read_expired().values())  # read once, not per version
    files: dict[str, int | None] = {}  # path -> size (None: a vector, size not logged)
    for state in states.values():
        for f in state.files.values():
            files[f.path] = f.bytes
        for d in state.deletes.values():
            files[d.path] = None
    have = dst.sizes(sorted(files))
    sent = sent_bytes = skipped = 0
    total = len(files) + 2 * len(todo)
    for path, size in sorted(files.items()):
        if have.get(path) is not None and size in (None, have[path]):  # named by content
            skipped += 1
        else:
            data = src.read_bytes(path)
            dst.write_file(path, data)
            sent += 1
            sent_bytes += len(data)
        if progress is not None:
            progress("copy", sent + skipped, total)
    previous = newest
    for v in todo:
        left_out = [by_version.get(u) for u in range(previous + 1, v)]
        gone = [ExpiredVersion(i.version, i.id, i.timestamp_ms, 0) for i in left_out if i]
        gone += [e for e in expired if previous < e.version < v]
        if gone:
            dst_log.write_expired(sorted(gone, key=lambda e: e.version), int(time.time() * 1000),
                                  copied_from=src.uri)
        dst_log.write_checkpoint(states[v], [h for h in history if h.version <= v])
        data = src.read_bytes(commit_path(v))
        if not dst.put_if_absent(commit_path(v), data) and dst.read_bytes(commit_path(v)) != data:
            raise TableverError(f"{dst.uri} has a different {commit_path(v)}: the tables diverged")
        sent += 2
        sent_bytes += len(data)
        previous = v
        if progress is not None:
            progress("copy", sent + skipped, total)
    copied = here | set(todo)
    for name, rec in ((n, source.catalog.read_tag(n)) for n in source.catalog.tag_names()):
        if rec.version in copied:
            dst.write_file(tag_path(name), src.read_bytes(tag_path(name)))
    for run in source.runs():
        if run.version in copied:
            dst.write_file(run_path(run.run_id), src.read_bytes(run_path(run.run_id)))
    return CopyReport(src.uri, dst.uri, sent, sent_bytes, skipped, len(todo))
