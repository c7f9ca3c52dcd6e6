"""The transaction log on storage: commits, checkpoints, the version index, expired versions.

It reads and puts log files; the commit loop (build, put, rebase, checkpoint) is
:mod:`tablever.transaction`'s.

Why one module: commits, checkpoints and the version index are read together (a
checkpoint is checked against the commits it summarises, the index against both).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import posixpath
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tablever import caches
from tablever.errors import CorruptLogError, TableNotFoundError
from tablever.format.checkpoint import (
    DIGEST_KEY,
    LATER,
    CheckpointFiles,
    checkpoint_table,
    columns_digest,
    deletes_from_table,
    files_from_table,
    usable,
    usable_later,
)
from tablever.format.commit import (
    Actions,
    Commit,
    DataFile,
    DeleteVector,
    LazyActions,
    canonical_json,
    copy_json,
    data_file_from_dict,
    delete_vector_from_dict,
    from_dict,
    from_json,
    to_json,
)
from tablever.format.layout import (
    CKPT_DIR,
    CKPT_NAME,
    COMMIT_NAME,
    EXPIRED_DIR,
    EXPIRED_NAME,
    LOG_DIR,
    checkpoint_path,
    commit_path,
    expired_path,
)
from tablever.format.live import LiveMap
from tablever.format.once import Once
from tablever.format.refs import VersionInfo
from tablever.format.state import TableState, apply, empty_state
from tablever.storage import Storage, fault_point

__all__ = [
    "DEFAULT_CHECKPOINT_INTERVAL",
    "REMOTE_CHECKPOINT_INTERVAL",
    "ExpiredVersion",
    "Log",
    "checkpoint_interval",
    "checkpoint_path",
    "commit_path",
]

log = logging.getLogger("tablever")

DEFAULT_CHECKPOINT_INTERVAL = 100
# On an object store every commit after the newest checkpoint is one more GET when a
# table is opened: checkpoint more often there (docs/storage.md has the figures).
REMOTE_CHECKPOINT_INTERVAL = 10


def checkpoint_interval(props: Mapping[str, Any], *, remote: bool) -> int:
    """Commits between checkpoints: the property ``checkpoint_interval``, else 100 (10 on
    an object store). A malformed value (refused when set, possible in a log written by
    hand) falls back to the default: a commit that has landed must not fail over it."""
    default = REMOTE_CHECKPOINT_INTERVAL if remote else DEFAULT_CHECKPOINT_INTERVAL
    try:
        interval = int(props.get("checkpoint_interval", default))
    except (TypeError, ValueError):
        return default
    return interval if interval > 0 else default


DEFAULT_MAX_RETRIES = 50
_THREADED_READ = 1 << 20  # a checkpoint this large decodes its columns on Arrow's threads
HEAD_KEY = b"tablever.head"  # a checkpoint's header: what an open reads (docs/format.md)
STATE_KEY = b"tablever.state"
_KEEP_STATE = 1 << 20  # a state record this small is kept for the history; larger, re-read
_RANGED_READ = 8 << 20  # a local checkpoint this large is read around its state record
_FOOTER_PROBE = 1 << 16  # bytes of a footer read to find where its state record starts

@dataclass(frozen=True, slots=True)
class ExpiredVersion:
    """A version ``expire`` removed: what it was and when (UTC ms) it went."""

    version: int
    id: str
    timestamp_ms: int
    expired_ms: int
    copied_from: str | None = None  # left out of a partial copy of this table


def _parse_expired(raw: bytes, path: str) -> list[ExpiredVersion]:
    try:
        d = json.loads(raw)
        expired_ms = d["expired_ms"]
        rows = d["versions"]
        source = d.get("copied_from")
        if source is not None and not isinstance(source, str):
            raise ValueError("copied_from is not a string")
        out = []
        for v, i, t in rows:
            if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                       for x in (v, t, expired_ms)) or not isinstance(i, str):
                raise ValueError("bad entry")
            out.append(ExpiredVersion(v, i, t, expired_ms, source))
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise CorruptLogError(f"{path}: unreadable record of expired versions: {exc}") from exc
    return out


def _checkpoint_content_hash(cols: dict[str, list[Any]], i: int) -> dict[str, Any]:
    """The ``content_hash`` of row ``i`` of a checkpoint (absent in older checkpoints)."""
    value = cols.get("content_hash", [None] * (i + 1))[i]
    out = {} if value is None else {"content_hash": {"sum": value, "rows": cols["rows"][i]}}
    ids = cols.get("field_ids", [None] * (i + 1))[i]  # absent before format 2
    if ids is not None:
        out["field_ids"] = json.loads(ids)
    return out


def _checkpoint_digest(meta: dict[str, Any], cols: dict[str, list[Any]]) -> str:
    """SHA-256 over a checkpoint's state metadata (without ``digest``) and its columns, so
    a damaged checkpoint that still parses is refused rather than read as another state."""
    body = {k: v for k, v in meta.items() if k != "digest"}
    return hashlib.sha256(canonical_json({"meta": body, "columns": cols})).hexdigest()


# Parsed checkpoints and commits, by version and the SHA-256 of their bytes: a reopen
# still reads every file it needs, but parses and validates only bytes it has not seen
# (parsing a large checkpoint was most of a reopen). Keyed by content, not by file
# times, so a file rewritten or a table re-created at the same path is never mistaken
# for what was there before. What the caches hand out is a copy of every container a
# caller could change; the statistics of files are read-only (ReadOnlyDict).
_CHECKPOINTS = caches.CHECKPOINTS
_COMMITS = caches.COMMITS


def _fresh_commit(commit: Commit) -> Commit:
    """``commit`` with its own properties, provenance, summary and schema (its files and
    deletion vectors are immutable)."""
    return dataclasses.replace(
        commit,
        properties=copy_json(commit.properties),
        provenance=copy_json(commit.provenance),
        summary=copy_json(commit.summary),
        schema=copy_json(commit.schema),
    )


def _fresh_copy(state: TableState) -> TableState:
    """``state`` with its own containers: what the cache hands out may be changed by a
    caller without changing what the next open sees."""
    return dataclasses.replace(
        state,
        commit=None if state.commit is None else _fresh_commit(state.commit),
        # LiveMaps are immutable: shared, never copied (a copy would cost a pass over
        # every live file)
        files=state.files if isinstance(state.files, LiveMap) else dict(state.files),
        deletes=state.deletes if isinstance(state.deletes, LiveMap) else dict(state.deletes),
        schema=copy_json(state.schema),
        properties=copy_json(state.properties),
    )


class _HashingSink(io.RawIOBase):
    """Where a checkpoint is encoded: keeps the bytes and hashes them as they come."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += b
        self.sha256.update(b)
        return len(b)

    @property
    def size(self) -> int:
        return len(self.data)


def _footer_start(raw: bytes) -> int | None:
    """Where a Parquet file's footer starts (the end of its pages), or None."""
    if len(raw) < 12 or raw[-4:] != b"PAR1" or raw[:4] != b"PAR1":
        return None
    start = len(raw) - 8 - int.from_bytes(raw[-8:-4], "little")
    return start if start >= 4 else None


def _file_hashes(raw: bytes) -> tuple[str | None, bytes]:
    """The SHA-256 of a checkpoint's pages (hex; None if it is no Parquet file), and the
    cache key: the SHA-256 of the file without its state record, which an open from the
    header reads only for the history (a full check, ``cached=False``, reads it all)."""
    start = _footer_start(raw)
    if start is None:
        return None, hashlib.sha256(raw).digest()
    view = memoryview(raw)
    h = hashlib.sha256(view[:start])
    pages = h.hexdigest()
    state = _kv_value(raw, start, STATE_KEY, last=False)
    if state is not None:
        h.update(view[start:state[0]])
        h.update(view[state[1]:])
    else:
        h.update(view[start:])
    return pages, h.digest()


def _kv_value(raw: bytes, start: int, key: bytes, *, last: bool,
              bound: int | None = None) -> tuple[int, int] | None:
    """Where the value of key-value metadata ``key`` lies in the Parquet footer that
    begins at ``start`` (Thrift compact: a binary field 1 holding the key, then a binary
    field 2, its varint length and its bytes), as (start of the varint, end of the
    value); None if absent. The pattern cannot occur inside a JSON value (raw control
    bytes are escaped there). ``bound``: where the footer ends, when ``raw`` holds only
    its beginning."""
    pattern = b"\x18" + bytes([len(key)]) + key + b"\x18"
    end = len(raw) - 8
    at = raw.rfind(pattern, start, end) if last else raw.find(pattern, start, end)
    if at < 0:
        return None
    pos = varint = at + len(pattern)
    length = shift = 0
    while pos < end and shift < 64:
        byte = raw[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (varint, pos + length) if pos + length <= (bound or end) else None
    return None


def _lean_file(raw: bytes) -> tuple[pq.ParquetFile, dict[bytes, bytes]] | None:
    """A checkpoint opened without parsing its state record: the footer, with the
    values of ``tablever.state`` and ``tablever.head`` cut out, is handed to Parquet
    (the record can be tens of MB: a bulk commit's file lists, a long history), and the
    header's bytes (with the record's, when small) are returned beside it. None when
    the footer is not laid out as tablever writes it (the caller parses it whole)."""
    start = _footer_start(raw)
    if start is None:
        return None
    state = _kv_value(raw, start, STATE_KEY, last=False)
    head = _kv_value(raw, start, HEAD_KEY, last=True)
    if state is None or head is None or state[1] > head[0]:
        return None
    lean = (raw[start:state[0]] + b"\x00" + raw[state[1]:head[0]] + b"\x00"
            + raw[head[1]:len(raw) - 8])
    try:
        meta = pq.read_metadata(pa.BufferReader(
            b"PAR1" + lean + len(lean).to_bytes(4, "little") + b"PAR1"))
        pf = pq.ParquetFile(pa.BufferReader(raw), metadata=meta)
    except Exception:  # noqa: BLE001 - not as written: the caller parses the footer whole
        return None

    def value(span: tuple[int, int]) -> bytes:
        at = span[0]
        while raw[at] & 0x80:
            at += 1
        return raw[at + 1:span[1]]

    kv = {HEAD_KEY: value(head)}
    record = value(state)
    if 0 < len(record) <= _KEEP_STATE:  # empty: read around it (the caller re-reads it)
        kv[STATE_KEY] = record
    return pf, kv


def _head(blob: bytes, version: int, raw: bytes, pages: str | None, path: str) -> dict[str, Any]:
    """A checkpoint's header, checked: its own digest, its version, and the SHA-256 and
    length of the file's pages."""
    head = json.loads(blob)
    if not isinstance(head, dict) or not isinstance(head.get("digest"), str):
        raise CorruptLogError(f"{path}: checkpoint header must be an object with a digest")
    body = {k: v for k, v in head.items() if k != "digest"}
    if hashlib.sha256(canonical_json(body)).hexdigest() != head["digest"]:
        raise CorruptLogError(f"{path}: checkpoint header digest does not match (damaged)")
    if head.get("version") != version:
        raise CorruptLogError(f"{path}: checkpoint header holds another version")
    if head.get("pages_bytes") != _footer_start(raw) or head.get("pages_sha256") != pages:
        raise CorruptLogError(f"{path}: checkpoint pages do not match their digest (damaged)")
    for key in ("schema", "properties", "commit"):
        if not isinstance(head.get(key), dict):
            raise CorruptLogError(f"{path}: checkpoint header {key} must be an object")
    for key in ("next_row_id", "rows"):
        if isinstance(head.get(key), bool) or not isinstance(head.get(key), int):
            raise CorruptLogError(f"{path}: checkpoint header {key} must be an integer")
    if not isinstance(head.get("id"), str) or head["commit"].get("id") != head["id"]:
        raise CorruptLogError(f"{path}: checkpoint header does not match its commit")
    return head


def _check_head(head: dict[str, Any], meta: dict[str, Any], rows: int, path: str) -> None:
    """A header (already checked by :func:`_head`) says what the full record says."""
    commit = {k: v for k, v in meta["commit"].items() if k != "actions"}
    same = (head["id"] == meta["id"] and head["commit"] == commit and head["rows"] == rows
            and all(head[k] == meta[k] for k in ("schema", "properties", "next_row_id")))
    if not same:
        raise CorruptLogError(f"{path}: checkpoint header differs from its state record")


def _history(rows: Any) -> list[VersionInfo]:
    return [VersionInfo(int(v), str(i), int(t)) for v, i, t in rows]


class _LazyHistory(Sequence[VersionInfo]):
    """A checkpoint's version index, parsed from its state record when first read."""

    __slots__ = ("_once",)

    def __init__(self, load: Callable[[], list[VersionInfo]]) -> None:
        self._once = Once(load)

    def _all(self) -> list[VersionInfo]:
        return self._once.get()

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, i: Any) -> Any:
        return self._all()[i]

    def __iter__(self) -> Iterator[VersionInfo]:
        return iter(self._all())


def now_ms() -> int:
    return int(time.time() * 1000)


class Log:
    """Reads and writes one table's ``_tablever`` folder."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        # instrumentation (the complexity tests count these)
        self.commits_read = 0  # commit files read
        self.checkpoints_parsed = 0  # checkpoint files parsed (not found in the cache)
        self.checkpoints_written = 0
        self._index: list[VersionInfo] | None = None
        self._index_lock = threading.RLock()

    # --- commits ------------------------------------------------------------------

    def exists(self) -> bool:
        return self.storage.exists(commit_path(0)) or bool(self.list_checkpoints())

    def list_versions(self) -> list[int]:
        out = []
        for name in self.storage.list_names(LOG_DIR):
            m = COMMIT_NAME.match(name)
            if m:
                out.append(int(m.group(1)))
        out.sort()
        return out

    def _read_log_file(self, path: str, what: str) -> tuple[bytes, bytes]:
        """The bytes of a log file and their SHA-256 (half of a cache key)."""
        try:
            raw = self.storage.read_bytes(path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise CorruptLogError(f"{path}: {what}: {exc}") from exc
        return raw, hashlib.sha256(raw).digest()

    def read_commit(self, version: int) -> Commit:
        """The commit of ``version``, validated (bytes this process parsed before are
        not parsed again)."""
        path = commit_path(version)
        raw, digest = self._read_log_file(path, "cannot read")
        self.commits_read += 1
        commit = _COMMITS.get((version, digest))
        if commit is None:
            commit = from_json(raw, where=path, expected_version=version)
            _COMMITS.put((version, digest), commit, len(raw))
        return _fresh_commit(commit)

    def _prefetch(self, versions: Sequence[int]) -> dict[int, Commit | Exception]:
        """The commits of ``versions`` (or the error reading each), read on a few
        threads where the storage is remote (a GET each, which would otherwise wait one
        after another; on a local disk they are read in order)."""
        def fetch(v: int) -> Commit | Exception:
            try:
                return self.read_commit(v)
            except (OSError, CorruptLogError) as exc:
                return exc

        if len(versions) < 2:
            return {}
        return dict(zip(versions, self.storage.fetch_all(fetch, list(versions)), strict=True))

    def has_commit(self, version: int) -> bool:
        return self.storage.exists(commit_path(version))

    # --- checkpoints --------------------------------------------------------------

    def list_checkpoints(self) -> list[int]:
        out = []
        for name in self.storage.list_names(CKPT_DIR):
            m = CKPT_NAME.match(name)
            if m:
                out.append(int(m.group(1)))
        out.sort()
        return out

    def write_checkpoint(self, state: TableState, history: Sequence[VersionInfo]) -> str:
        """Write the live state of ``state.version`` as Parquet (after its commit)."""
        return self._write_checkpoint(state, history)[0]

    def checkpoint_and_rebase(
        self, state: TableState, history: Sequence[VersionInfo]
    ) -> TableState:
        """Write the checkpoint of ``state`` and return ``state`` with its live files
        and deletion vectors read from the checkpoint's columns (as an open would read
        them): a writer that goes on committing builds its next checkpoint from those
        columns instead of from every entry again."""
        path, table = self._write_checkpoint(state, history)
        files = files_from_table(table, path)
        if files is None:  # not expected: columns this writer built
            return state
        return dataclasses.replace(state, files=files, deletes=deletes_from_table(table))

    def _write_checkpoint(
        self, state: TableState, history: Sequence[VersionInfo]
    ) -> tuple[str, pa.Table]:
        table = checkpoint_table(state.files, state.deletes)
        meta: dict[str, Any] = {
            "version": state.version,
            "id": state.id,
            "schema": dict(state.schema),
            "next_row_id": state.next_row_id,
            "properties": dict(state.properties),
            "commit": json.loads(to_json(state.commit)),
            "history": [[h.version, h.id, h.timestamp_ms] for h in history],
        }
        # Two digests: the column digest, which a reader checks from the column buffers,
        # and the digest over the columns as JSON, which readers before it check.
        meta[DIGEST_KEY] = columns_digest(meta, table)
        meta["digest"] = _checkpoint_digest(meta, table.to_pydict())
        sink = _HashingSink()
        # The state goes into the file's key-value metadata once: the Arrow schema
        # (store_schema) would hold a second copy of it, to be read on every open.
        with pq.ParquetWriter(pa.PythonFile(sink, mode="w"), table.schema,
                              compression="zstd", store_schema=False) as writer:
            writer.write_table(table)
            # The pages are written: the header holds their SHA-256, so an open checks
            # the whole file with one hash and decodes columns only when they are used.
            head = {
                "version": state.version,
                "id": state.id,
                "schema": meta["schema"],
                "next_row_id": state.next_row_id,
                "properties": meta["properties"],
                "commit": {k: v for k, v in meta["commit"].items() if k != "actions"},
                "rows": table.num_rows,
                "pages_bytes": sink.size,
                "pages_sha256": sink.sha256.hexdigest(),
            }
            head["digest"] = hashlib.sha256(canonical_json(head)).hexdigest()
            writer.add_key_value_metadata({STATE_KEY.decode(): canonical_json(meta),
                                           HEAD_KEY.decode(): canonical_json(head)})
        path = checkpoint_path(state.version)
        fault_point("checkpoint.write")
        self.storage.write_file(path, bytes(sink.data))
        self.checkpoints_written += 1
        return path, table

    def read_checkpoint(
        self, version: int, *, cached: bool = True
    ) -> tuple[TableState, Sequence[VersionInfo]]:
        """The state and version index a checkpoint holds. Bytes this process parsed
        before are not parsed again.

        An open reads the checkpoint's header and checks the file's pages by their
        SHA-256; the columns are decoded, the commit's actions and the history parsed,
        when first used. ``cached=False`` (``verify``, ``expire``) parses and checks
        everything now, from the record older readers read, and the header against it
        (and caches what it parsed)."""
        path = checkpoint_path(version)
        try:
            raw = None if not cached else self._without_state_record(path)
            if raw is None:
                raw = self.storage.read_bytes(path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise CorruptLogError(f"{path}: unreadable checkpoint: {exc}") from exc
        pages, digest = _file_hashes(raw)
        hit = _CHECKPOINTS.get((version, digest)) if cached else None
        if hit is not None:
            return _fresh_copy(hit[0]), hit[1]
        state, history = self._parse_checkpoint(version, raw, pages, strict=not cached)
        _CHECKPOINTS.put((version, digest), (_fresh_copy(state), history), len(raw))
        return state, history

    def _without_state_record(self, path: str) -> bytes | None:
        """A large checkpoint on a local disk, read without the value of its state
        record (tens of MB after a bulk commit or a long history, which an open from
        the header does not use): the pages, and the footer with that value empty. None
        when the file is small, remote, or not laid out as tablever writes it."""
        if self.storage.round_trips:
            return None
        with self.storage.open_read(path) as f:
            size = f.seek(0, 2)
            if size < _RANGED_READ:
                return None
            f.seek(size - 8)
            trailer = f.read(8)
            start = size - 8 - int.from_bytes(trailer[:4], "little")
            if trailer[4:] != b"PAR1" or start < 4:
                return None
            f.seek(start)
            front = f.read(min(_FOOTER_PROBE, size - 8 - start))
            state = _kv_value(front + trailer, 0, STATE_KEY, last=False,
                              bound=size - 8 - start)
            if state is None or state[1] - state[0] <= _KEEP_STATE:
                return None
            # one buffer: the pages, the footer up to the value, an empty value, the rest
            state_end = start + state[1]
            head = start + state[0]
            out = bytearray(head + 1 + size - state_end)
            view = memoryview(out)
            f.seek(0)
            if f.readinto(view[:head]) != head:  # type: ignore[attr-defined]
                return None
            out[head] = 0  # the value's length, a varint
            f.seek(state_end)
            if f.readinto(view[head + 1:]) != size - state_end:  # type: ignore[attr-defined]
                return None
        footer_len = len(out) - 8 - start
        out[-8:-4] = footer_len.to_bytes(4, "little")
        return bytes(out)

    def _parse_checkpoint(
        self, version: int, raw: bytes, pages: str | None = None, *, strict: bool = False
    ) -> tuple[TableState, Sequence[VersionInfo]]:
        """``pages``: the SHA-256 of the file's pages, if the caller has it."""
        path = checkpoint_path(version)
        self.checkpoints_parsed += 1
        if pages is None:
            pages = _file_hashes(raw)[0]
        try:
            lean = None if strict else _lean_file(raw)
            if lean is not None:
                return self._from_head(version, raw, *lean, pages)
            pf = pq.ParquetFile(pa.BufferReader(raw))
            kv = pf.metadata.metadata or {}
            if HEAD_KEY in kv and not strict:
                return self._from_head(version, raw, pf, kv, pages)
            table = pf.read(use_threads=len(raw) > _THREADED_READ)
            raw_meta = kv.get(STATE_KEY)
            if raw_meta is None:
                raise CorruptLogError(f"{path}: no tablever state in the checkpoint")
            meta = json.loads(raw_meta)
            if not isinstance(meta, dict):
                raise CorruptLogError(f"{path}: checkpoint metadata must be an object")
            fast = meta.get(DIGEST_KEY)
            got = columns_digest(meta, table) if isinstance(fast, str) else None
            cols: dict[str, list[Any]] | None = None
            if got is None:  # written before the column digest, or unusual columns
                cols = table.to_pydict()
                if meta.get("digest") != _checkpoint_digest(meta, cols):
                    raise CorruptLogError(f"{path}: checkpoint digest does not match (damaged)")
            elif got != fast:
                raise CorruptLogError(f"{path}: checkpoint digest does not match (damaged)")
            if not isinstance(meta["schema"], dict) or not isinstance(meta["properties"], dict):
                raise CorruptLogError(f"{path}: schema and properties must be objects")
            commit = from_dict(meta["commit"], where=path, expected_version=version)
            if meta["version"] != version or meta["id"] != commit.id:
                raise CorruptLogError(f"{path}: checkpoint does not match its commit")
            lazy = files_from_table(table, path)
            files: Any
            deletes: Any
            if lazy is not None:
                files, deletes = lazy, deletes_from_table(table)
            else:
                files, deletes = self._checked_entries(cols or table.to_pydict(),
                                                       table.num_rows, path)
            next_row_id = meta["next_row_id"]
            if isinstance(next_row_id, bool) or not isinstance(next_row_id, int):
                raise CorruptLogError(f"{path}: bad next_row_id")
            history = _history(meta["history"])
            if HEAD_KEY in kv:
                _check_head(_head(kv[HEAD_KEY], version, raw, pages, path), meta,
                            table.num_rows, path)
            state = TableState(
                version=version,
                id=commit.id,
                commit=commit,
                schema=meta["schema"],
                files=files,
                deletes=deletes,
                next_row_id=next_row_id,
                properties=meta["properties"],
            )
        except CorruptLogError:
            raise
        except FileNotFoundError:
            raise
        except Exception as exc:  # any malformed Parquet or JSON inside it
            raise CorruptLogError(f"{path}: unreadable checkpoint: {exc}") from exc
        return state, history

    def _from_head(self, version: int, raw: bytes, pf: pq.ParquetFile, kv: dict[bytes, bytes],
                   pages: str | None) -> tuple[TableState, Sequence[VersionInfo]]:
        """A version opened from a checkpoint's header: one SHA-256 over the file's
        pages, and its columns but the statistics decoded and checked; the statistics,
        the commit's actions and the history are read when first used."""
        path = checkpoint_path(version)
        head = _head(kv[HEAD_KEY], version, raw, pages, path)
        n = head["rows"]
        if pf.metadata.num_rows != n:
            raise CorruptLogError(f"{path}: checkpoint row count differs from its header")
        threads = len(raw) > _THREADED_READ
        # the columns but the LATER ones, checked now as a full read would check them;
        # the statistics and content hashes (most of the bytes) when an entry is built
        names = [c for c in pf.schema_arrow.names if c not in LATER]
        table = pf.read(columns=names, use_threads=threads)
        if table.num_rows != n or "stats" not in pf.schema_arrow.names:
            raise CorruptLogError(f"{path}: checkpoint columns differ from its header")
        if not usable(table, later=LATER):
            full = pf.read(use_threads=threads)
            self._checked_entries(full.to_pydict(), full.num_rows, path)  # names one
            raise CorruptLogError(f"{path}: checkpoint columns are not as written")

        def later() -> pa.Table:
            try:
                rest = pf.read(columns=[c for c in pf.schema_arrow.names if c in LATER],
                               use_threads=threads)
            except Exception as exc:  # pages whose digest matched, yet do not decode
                raise CorruptLogError(f"{path}: unreadable checkpoint: {exc}") from exc
            if not usable_later(rest):
                self._checked_entries(pf.read().to_pydict(), n, path)  # names one
                raise CorruptLogError(f"{path}: checkpoint columns are not as written")
            return rest

        state_blob = kv.get(STATE_KEY)
        keep = state_blob if state_blob is not None and len(state_blob) <= _KEEP_STATE else None

        def state_record() -> dict[str, Any]:
            blob = keep if keep is not None else self._state_record(version)
            meta = json.loads(blob)
            if not isinstance(meta, dict):
                raise CorruptLogError(f"{path}: checkpoint metadata must be an object")
            return meta

        def load_actions() -> Actions:
            try:
                c = self.read_commit(version)
            except FileNotFoundError:  # expired: the checkpoint is its record
                c = from_dict(state_record()["commit"], where=path, expected_version=version)
            if c.id != head["id"]:
                raise CorruptLogError(f"{path}: the commit of version {version} has another id")
            return c.actions

        def load_history() -> list[VersionInfo]:
            try:
                return _history(state_record()["history"])
            except CorruptLogError:
                raise
            except Exception as exc:
                raise CorruptLogError(f"{path}: unreadable checkpoint history: {exc}") from exc

        commit = from_dict(head["commit"], where=path, expected_version=version,
                           actions=LazyActions(load_actions))
        state = TableState(
            version=version,
            id=head["id"],
            commit=commit,
            schema=head["schema"],
            files=LiveMap(CheckpointFiles(table, path, later=later)),
            deletes=deletes_from_table(table),
            next_row_id=head["next_row_id"],
            properties=head["properties"],
        )
        return state, _LazyHistory(load_history)

    def _state_record(self, version: int) -> bytes:
        """The state record of a checkpoint, read again from storage."""
        path = checkpoint_path(version)
        raw = self.storage.read_bytes(path)
        try:
            blob = (pq.ParquetFile(pa.BufferReader(raw)).metadata.metadata or {})[STATE_KEY]
        except Exception as exc:
            raise CorruptLogError(f"{path}: unreadable checkpoint: {exc}") from exc
        return bytes(blob)

    @staticmethod
    def _checked_entries(
        cols: dict[str, list[Any]], n: int, path: str
    ) -> tuple[LiveMap[Any, DataFile], LiveMap[Any, DeleteVector]]:
        """A checkpoint's entries checked one by one, naming the first that is wrong
        (for what the column checks refused)."""
        files: dict[Any, DataFile] = {}
        deletes: dict[Any, DeleteVector] = {}
        for i in range(n):
            df = data_file_from_dict(
                {
                    "path": cols["path"][i],
                    "sha256": cols["sha256"][i],
                    "bytes": cols["bytes"][i],
                    "rows": cols["rows"][i],
                    "first_row_id": cols["first_row_id"][i],
                    "stats": json.loads(cols["stats"][i]),
                    **_checkpoint_content_hash(cols, i),
                },
                path,
            )
            if df.key in files:
                raise CorruptLogError(f"{path}: file {df.path} listed twice")
            files[df.key] = df
            if cols["dv_path"][i] is not None:
                deletes[df.key] = delete_vector_from_dict(
                    {
                        "data_file": df.path,
                        "data_first_row_id": df.first_row_id,
                        "path": cols["dv_path"][i],
                        "sha256": cols["dv_sha256"][i],
                        "rows": cols["dv_rows"][i],
                    },
                    path,
                )
        return LiveMap(files), LiveMap(deletes)

    # --- state --------------------------------------------------------------------

    def latest_version(self, known: int | None = None) -> int:
        """The newest committed version (probing forward from ``known`` when given)."""
        if known is not None and self.has_commit(known):
            v = known
            while self.has_commit(v + 1):
                v += 1
            return v
        # Commit names are zero-padded, so the newest is the greatest name that is one,
        # and only the names after the newest checkpoint's need listing (an object
        # store lists from there): a long log is not listed from its start.
        ckpts = self.list_checkpoints()
        after = posixpath.basename(commit_path(ckpts[-1])) if ckpts else None
        for name in sorted(self.storage.list_names(LOG_DIR, after=after), reverse=True):
            m = COMMIT_NAME.match(name)
            if m:
                return int(m.group(1))
        if not ckpts:
            raise TableNotFoundError(self.storage.uri)
        return ckpts[-1]

    def load_state(
        self, version: int, *, base: TableState | None = None
    ) -> tuple[TableState, Sequence[VersionInfo]]:
        """The state at ``version``, from ``base``, the nearest checkpoint, or version 0.

        Also returns what the checkpoint knew of the history before it (for refs).
        """
        if base is not None and base.version <= version:
            try:
                return self._replay(base, version), []
            except CorruptLogError as exc:
                if not isinstance(exc.__cause__, FileNotFoundError):
                    raise
                # Commits after ``base`` were expired meanwhile: start from a checkpoint.
        for attempt in range(3):
            try:
                return self._load_from_checkpoint(version)
            except (CorruptLogError, FileNotFoundError) as exc:
                # An expire removed commits or checkpoints between listing them and
                # reading them; it writes the checkpoint that replaces them first, so
                # listing again finds it.
                gone = isinstance(exc, FileNotFoundError) or isinstance(
                    exc.__cause__, FileNotFoundError)
                if not gone or attempt == 2 or isinstance(exc, TableNotFoundError):
                    raise
        raise AssertionError("unreachable")

    def _load_from_checkpoint(self, version: int) -> tuple[TableState, Sequence[VersionInfo]]:
        history: Sequence[VersionInfo] = []
        state: TableState | None = None
        ckpts = [ck for ck in self.list_checkpoints() if ck <= version]
        for i in range(len(ckpts) - 1, -1, -1):
            ck = ckpts[i]
            try:
                state, history = self.read_checkpoint(ck)
                break
            except CorruptLogError:
                # A checkpoint is only a cache while the log can rebuild the state
                # without it; once expire removed the commits it summarises, it is the
                # record of the version and an unreadable one is an error.
                if not self._replayable_without(ckpts[:i], version):
                    raise
                log.warning("skipping unreadable checkpoint %s; replaying the log", ck)
        if state is None:
            try:
                first = self.read_commit(0)
            except FileNotFoundError as exc:
                raise TableNotFoundError(self.storage.uri) from exc
            state = empty_state(first)
        return self._replay(state, version), history

    def _replay(self, state: TableState, version: int) -> TableState:
        ahead = self._prefetch(range(state.version + 1, version + 1))
        while state.version < version:
            try:
                got = ahead.pop(state.version + 1, None) or self.read_commit(state.version + 1)
                if isinstance(got, Exception):
                    raise got
                commit = got
            except FileNotFoundError as exc:
                raise CorruptLogError(
                    f"{commit_path(state.version + 1)}: missing from the log"
                ) from exc
            state = apply(state, commit)
        return state

    def _replayable_without(self, older_checkpoints: Sequence[int], version: int) -> bool:
        """Whether ``version`` can be rebuilt from an older checkpoint (or version 0) and
        the commits still in the log."""
        present = set(self.list_versions())
        missing = [v for v in range(version + 1) if v not in present]
        if not missing:
            return True
        return any(ck >= missing[-1] for ck in older_checkpoints)

    # --- expired versions -----------------------------------------------------------

    def read_expired(self) -> dict[int, ExpiredVersion]:
        """Versions that ``expire`` removed, with their id, time and when they went."""
        out: dict[int, ExpiredVersion] = {}
        for name in sorted(self.storage.list_names(EXPIRED_DIR)):
            if not EXPIRED_NAME.match(name):
                continue
            path = f"{EXPIRED_DIR}/{name}"
            try:
                raw = self.storage.read_bytes(path)
            except FileNotFoundError:
                continue
            for rec in _parse_expired(raw, path):
                out.setdefault(rec.version, rec)
        return out

    def write_expired(self, records: Sequence[ExpiredVersion], expired_ms: int, *,
                      copied_from: str | None = None) -> str:
        """Record ``records`` as expired (one immutable file per expire run), or, with
        ``copied_from``, as left out of a partial copy of that table."""
        path = expired_path(expired_ms, uuid.uuid4().hex[:16])
        body: dict[str, Any] = {
            "expired_ms": expired_ms,
            "versions": [[r.version, r.id, r.timestamp_ms] for r in records],
        }
        if copied_from is not None:
            body["copied_from"] = copied_from
        self.storage.makedirs(EXPIRED_DIR)
        self.storage.write_file(path, canonical_json(body))
        return path

    # --- committing ---------------------------------------------------------------

    def put_commit(self, commit: Commit) -> bool:
        """Put ``commit`` as its version's log file if no other writer has: the one
        atomic step of a commit. False if that version exists already."""
        return self.storage.put_if_absent(commit_path(commit.version), to_json(commit))

    def read_forward(self, state: TableState) -> list[Commit]:
        """The commits after ``state`` up to the newest, in order (the winners of a race)."""
        out: list[Commit] = []
        version = state.version + 1
        while True:
            try:
                out.append(self.read_commit(version))
            except FileNotFoundError:
                return out
            version += 1

    # --- the version index ----------------------------------------------------------

    def versions(self, current: TableState) -> list[VersionInfo]:
        """(version, id, timestamp) of every retained version up to ``current``
        (the newest state), ascending; kept between calls and extended as it grows."""
        with self._index_lock:
            index = self._index
            if index is None or not index or index[-1].version > current.version:
                index = self._build_index()
            try:
                while index[-1].version < current.version:
                    c = self.read_commit(index[-1].version + 1)
                    index.append(VersionInfo(c.version, c.id, c.timestamp_ms))
            except FileNotFoundError:  # versions were expired since the index was built
                index = self._build_index()
            expired = self.read_expired()
            if expired:
                index = [v for v in index if v.version not in expired]
            self._index = index
            return list(index)

    def note_committed(self, state: TableState) -> None:
        """Extend the version index by a version this process just committed."""
        with self._index_lock:
            index = self._index
            if index and index[-1].version + 1 == state.version:
                index.append(VersionInfo(state.version, state.id, state.commit.timestamp_ms))

    def forget_index(self) -> None:
        """Drop the version index (after an expire removed versions it lists)."""
        with self._index_lock:
            self._index = None

    def _build_index(self) -> list[VersionInfo]:
        present = set(self.list_versions())
        ckpts = self.list_checkpoints()
        index: list[VersionInfo] = []
        start = 0
        for ck in reversed(ckpts):
            try:
                _, lazy = self.read_checkpoint(ck)
                hist = list(lazy)  # parsed here: an unreadable one is skipped too
            except (CorruptLogError, FileNotFoundError):  # or one vacuum just thinned
                continue
            index = [h for h in hist
                     if h.version <= ck and (h.version in present or h.version == ck)]
            start = ck + 1
            break
        # A checkpoint's history may omit versions whose commits are still here (an
        # expire that died after writing it): the log, not the checkpoint, says what
        # is retained.
        known = {h.version for h in index}
        for v in sorted(x for x in present if x >= start or x not in known):
            try:
                c = self.read_commit(v)
            except FileNotFoundError:
                if v >= start:
                    raise
                continue  # expired meanwhile
            index.append(VersionInfo(c.version, c.id, c.timestamp_ms))
        index.sort(key=lambda h: h.version)
        return index
