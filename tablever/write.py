"""Arrow -> content-addressed Parquet files with per-column stats and content hashes.

Files are deterministic: the same rows and schema give the same bytes (no timestamps,
UUIDs or table-specific values inside), so the same data loaded into two tables has the
same SHA-256 and the same fingerprint. Compression is Snappy: on the benchmark table
DuckDB aggregates ran 2-3x faster over it than over zstd and writes ~30% faster, for
files ~1.5x larger; row groups hold 131,072 rows (a balance of scan speed and
point-lookup pruning); a data file holds at most 1,048,576 rows.

Why one module: every way a data file is written (a table, a stream of tables, row
groups streamed by compaction) must give the same bytes for the same rows; the
encoding options, stats and the streaming sink they share stay side by side.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tablever import caches
from tablever.arrowpool import with_fast_pool
from tablever.content_hash import sum_hex, sum_rows
from tablever.format.commit import DataFile
from tablever.format.fieldids import FIELD_ID_KEY, ROW_ID_FIELD_ID
from tablever.format.layout import DATA_DIR, DELETES_DIR, content_path
from tablever.schema import ROW_ID
from tablever.storage import Storage, fault_point, mark_verified

__all__ = [
    "CODECS",
    "COMPRESSION",
    "codec",
    "MAX_ROWS_PER_FILE",
    "Progress",
    "RowProgress",
    "ROW_GROUP_SIZE",
    "column_stats",
    "has_bounds",
    "parquet_bytes",
    "read_parquet",
    "sorted_unique",
    "write_data_file",
    "write_data_files",
    "write_positions",
    "with_field_ids",
    "with_schema_ids",
    "write_row_groups",
    "write_stream",
]

ROW_GROUP_SIZE = 131_072
MAX_ROWS_PER_FILE = 1_048_576
COMPRESSION = "snappy"
# The table property ``compression`` chooses among these (Parquet codec names).
CODECS = ("snappy", "zstd", "lz4", "none")
_MAX_STAT_STRING = 256


def codec(properties: Any) -> str:
    """The data-file codec a table's properties ask for (``compression``), else Snappy."""
    value = properties.get("compression") if properties else None
    return COMPRESSION if value is None else str(value)


def _statistics(table: pa.Table) -> bool | list[str]:
    """Which columns get Parquet statistics: all but floating-point columns holding NaN.
    pyarrow leaves NaN out of the bounds it writes, and DuckDB, which orders NaN above
    every number, would skip such a row group for ``f > x`` and lose the NaN rows."""
    nan = []
    for f, col in zip(table.schema, table.columns, strict=True):
        if pa.types.is_floating(f.type) and len(col) and pc.any(pc.is_nan(col)).as_py():
            nan.append(f.name)
    return [n for n in table.column_names if n not in nan] if nan else True


_DICT_SAMPLE = 4096


def _dictionary_columns(table: pa.Table) -> list[str]:
    """Columns written with dictionary pages: strings and binaries whose first 4,096
    values repeat (at most half distinct). On numbers dictionaries cost ~3x the encoding
    time and made files larger; on mostly distinct strings (ids, free text) pyarrow fills
    a 1 MB dictionary and falls back to plain pages anyway, and the files took 16% longer
    to decode and 5% longer to encode. A function of the rows, so files stay
    deterministic."""
    out = []
    for f, col in zip(table.schema, table.columns, strict=True):
        t = f.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)
                or pa.types.is_binary(t) or pa.types.is_large_binary(t)):
            continue
        sample = col.slice(0, _DICT_SAMPLE)
        if pc.count_distinct(sample, mode="all").as_py() * 2 <= max(len(sample), 1):
            out.append(f.name)
    return out


# ``progress(step, done, total)``: the callback long operations take.
Progress = Callable[[str, int, int], None]


class RowProgress:
    """Rows written so far, reported as ``progress(step, done, total)``.

    The files of one write are encoded on several threads; each reports the rows it has
    just encoded with :meth:`add`, and the counts add up under a lock, so ``progress``
    sees ``done`` only grow, from 0 (reported when this is made) to ``total``.
    """

    def __init__(self, progress: Progress, total: int | None, step: str = "write") -> None:
        # total None: a stream of unknown length, reported with a total of 0
        self._progress, self._total, self._step = progress, total, step
        self._done = 0
        self._lock = threading.Lock()
        progress(step, 0, total or 0)

    def add(self, rows: int) -> None:
        with self._lock:
            done = self._done + rows
            self._done = done if self._total is None else min(done, self._total)
            self._progress(self._step, self._done, self._total or 0)


def parquet_bytes(
    table: pa.Table, compression: str = COMPRESSION, *,
    on_rows: Callable[[int], None] | None = None,
) -> bytes:
    """``table`` as Parquet bytes; ``on_rows(n)`` is told of each row group encoded (the
    bytes are the same: ``pq.write_table`` writes the same row groups in one call)."""
    sink = pa.BufferOutputStream()
    options: dict[str, Any] = dict(
        compression=compression,
        write_statistics=_statistics(table),
        use_dictionary=_dictionary_columns(table) or False,
        write_page_checksum=True,
    )
    if on_rows is None or table.num_rows <= ROW_GROUP_SIZE:
        pq.write_table(table, sink, row_group_size=ROW_GROUP_SIZE, **options)
        if on_rows is not None:
            on_rows(table.num_rows)
    else:
        with pq.ParquetWriter(sink, table.schema, **options) as writer:
            for start in range(0, table.num_rows, ROW_GROUP_SIZE):
                group = table.slice(start, ROW_GROUP_SIZE)
                writer.write_table(group, row_group_size=ROW_GROUP_SIZE)
                on_rows(group.num_rows)
    return bytes(sink.getvalue().to_pybytes())


def _json_scalar(value: Any) -> Any:
    """A stats bound as JSON, or None when it cannot serve as a bound."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if len(value) <= _MAX_STAT_STRING else None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return None


_EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _py_bound(scalar: pa.Scalar) -> Any:
    """``scalar.as_py()``, but a UTC timestamp of whole microseconds is built here: for a
    zoned timestamp pyarrow imports pandas (~0.3 s) in a process that has not, which the
    first write of a process would pay. Same value, same ``isoformat``."""
    t = scalar.type
    if pa.types.is_timestamp(t) and t.tz == "UTC" and t.unit in _MICROS:
        value = scalar.value
        return None if value is None else _EPOCH_UTC + dt.timedelta(
            microseconds=value * _MICROS[t.unit])
    return scalar.as_py()


def has_bounds(t: pa.DataType) -> bool:
    """Whether data files record min/max statistics for columns of type ``t``."""
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_boolean(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
    )


def column_stats(table: pa.Table) -> dict[str, dict[str, Any]]:
    """``{"min", "max", "nulls"}`` per column; min/max only where they are exact bounds."""
    out: dict[str, dict[str, Any]] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        st: dict[str, Any] = {"nulls": col.null_count}
        t = col.type
        if has_bounds(t) and col.null_count < len(col):
            try:
                mm = pc.min_max(col)
                lo, hi = _py_bound(mm["min"]), _py_bound(mm["max"])
            except (pa.ArrowException, ValueError, OverflowError):
                lo = hi = None
            if pa.types.is_floating(t) and pc.any(pc.is_nan(col)).as_py():
                lo = hi = None  # NaN sorts above everything: no safe bound
            lo, hi = _json_scalar(lo), _json_scalar(hi)
            if lo is not None and hi is not None:
                st["min"], st["max"] = lo, hi
        out[name] = st
    return out


# Column names and types of the data files this process wrote or checked, by full path:
# a reader of files known to share one schema can skip reconciling their schemas. Data
# files are named by the SHA-256 of their bytes, so a path keeps its schema.
_SCHEMAS = caches.FILE_SCHEMAS
_SIGNATURES = caches.SCHEMA_SIGNATURES


def _schema_signature(schema: pa.Schema) -> tuple[tuple[str, str], ...]:
    """Column names and types; one shared tuple per distinct schema (the registry holds
    a path per file, not a copy of its schema)."""
    sig = tuple((f.name, str(f.type)) for f in schema)
    return _SIGNATURES.setdefault(sig, sig)


# Signatures by the part of a pyarrow-written footer that fixes the types readers see:
# the Parquet format version, the embedded Arrow schema and what follows it (the writing
# library, the columns' sort orders). Files written alike share an entry, so each
# further file costs a byte search instead of a footer parse (~100 us a file, which
# thousands of small files add up to more than the scan of them).
_BY_FOOTER = caches.FOOTER_SIGNATURES
_ARROW_KEY = b"\x18\x0cARROW:schema"  # thrift compact: a binary field, 12 bytes, the key


def _footer_key(data: bytes) -> bytes | None:
    """The bytes of a Parquet file's footer that fix its schema as read (see above), or
    None when the footer holds no embedded Arrow schema (not written by pyarrow)."""
    if len(data) < 12 or data[-4:] != b"PAR1":
        return None
    size = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - size
    if start < 4:
        return None
    at = data.rfind(_ARROW_KEY, start, len(data) - 8)
    if at < 0:
        return None
    return data[start:start + 2] + data[at:len(data) - 8]


def record_file_schema(full: str, source: Any = None) -> None:
    """Remember the schema of the local data file ``full`` as readers see it (from its
    footer, read from ``source`` if given: the file's bytes or a readable; else the
    file), once its bytes are known to match their SHA-256."""
    key = _footer_key(source) if isinstance(source, bytes) else None
    sig = _BY_FOOTER.get(key) if key is not None else None
    if sig is None:
        where = pa.BufferReader(source) if isinstance(source, bytes) else source
        try:
            sig = _schema_signature(pq.read_schema(full if where is None else where))
        except (OSError, pa.ArrowException):
            return  # unknown: readers reconcile schemas as before
        if key is not None:
            _BY_FOOTER.put(key, sig)
    _SCHEMAS.put(full, sig)


def file_schema(full: str) -> tuple[tuple[str, str], ...] | None:
    """The column names and types of the local data file ``full`` if this process wrote
    or checked it (:func:`record_file_schema`), else None."""
    return _SCHEMAS.get(full)


def same_file_schema(paths: Sequence[str]) -> bool:
    """Whether every file of ``paths`` (full local paths) is known to this process, by
    writing or checking it, and all have the same column names and types."""
    seen = {_SCHEMAS.get(p) for p in paths}
    return len(seen) == 1 and None not in seen


def _encode(
    table: pa.Table, sink: Any, compression: str, on_rows: Callable[[int], None] | None
) -> None:
    """``table`` as Parquet into ``sink``, row group by row group (the same bytes as
    :func:`parquet_bytes`: ``pq.write_table`` writes the same row groups in one call)."""
    options: dict[str, Any] = dict(
        compression=compression,
        write_statistics=_statistics(table),
        use_dictionary=_dictionary_columns(table) or False,
        write_page_checksum=True,
    )
    with pq.ParquetWriter(sink, table.schema, **options) as writer:
        for start in range(0, max(table.num_rows, 1), ROW_GROUP_SIZE):
            group = table.slice(start, ROW_GROUP_SIZE)
            writer.write_table(group, row_group_size=ROW_GROUP_SIZE)
            if on_rows is not None:
                on_rows(group.num_rows)


def _describe(table: pa.Table, content_sum: int | None) -> tuple[str, dict[str, dict[str, Any]]]:
    """The file's content-hash sum (as stored) and column stats."""
    total = sum_rows(table) if content_sum is None else content_sum
    return sum_hex(total), column_stats(table)


def write_data_file(
    storage: Storage,
    table: pa.Table,
    first_row_id: int | None,
    *,
    content_sum: int | None = None,
    compression: str = COMPRESSION,
    on_rows: Callable[[int], None] | None = None,
) -> DataFile:
    """Write ``table`` as one data file. ``content_sum`` is the file's content-hash sum
    when the caller already knows it (compaction adds up its inputs' sums); ``on_rows(n)``
    is told of the rows as they are encoded.

    The encoded bytes stream to storage as Parquet writes them, hashed (SHA-256) on the
    way, and the content hash and stats come from the rows in memory on a second
    thread while Parquet encodes (numpy, Arrow and hashlib release the GIL): the file is
    never held whole in memory nor read back.
    """
    table = _tag_row_ids(table)
    with storage.content_sink(DATA_DIR) as sink:
        if table.num_rows < 65_536:  # small: a thread would cost more than it overlaps
            _encode(table, sink, compression, on_rows)
            content_hex, stats = _describe(table, content_sum)
        else:
            with ThreadPoolExecutor(max_workers=1) as pool:
                described = pool.submit(_describe, table, content_sum)
                _encode(table, sink, compression, on_rows)
                content_hex, stats = described.result()
        path, sha, wrote = sink.finish(lambda digest: content_path(DATA_DIR, digest))
        size = sink.size
    full = storage.cached_path(path)
    if full is not None:
        if wrote:
            mark_verified(full, sha)  # these very bytes: no need to re-hash them
        # the path names these bytes, so their schema is the file's (as readers see it:
        # timestamp[s] reads back as [ms], date64 as date32)
        record_file_schema(full)
    return DataFile(
        path=path,
        sha256=sha,
        bytes=size,
        rows=table.num_rows,
        first_row_id=first_row_id,
        stats=stats,
        content_hash=content_hex,
        field_ids=_field_ids(table.schema),
    )


def _field_ids(schema: pa.Schema) -> dict[str, int] | None:
    """The field ids the columns of ``schema`` carry (``PARQUET:field_id``, format 2),
    or None when none does."""
    out = {}
    for f in schema:
        raw = (f.metadata or {}).get(FIELD_ID_KEY)
        if raw is not None and f.name != ROW_ID:
            out[f.name] = int(raw)
    return out or None


def with_schema_ids(schema: pa.Schema, ids: Mapping[str, int]) -> pa.Schema:
    """``schema`` with each column named in ``ids`` carrying its field id."""
    if not ids:
        return schema
    return pa.schema([f.with_metadata({FIELD_ID_KEY: str(ids[f.name]).encode()})
                      if f.name in ids else f.remove_metadata() for f in schema])


def with_field_ids(table: pa.Table, ids: Mapping[str, int]) -> pa.Table:
    """``table`` with each column named in ``ids`` carrying its field id, which Parquet
    stores in the file (and :func:`write_data_file` in the log). Unchanged without ids."""
    if not ids:
        return table
    return table.cast(with_schema_ids(table.schema, ids))


def _tag_row_ids_schema(schema: pa.Schema) -> pa.Schema:
    """A schema whose columns carry field ids gets one for its ``_row_id`` column too
    (:data:`~tablever.format.fieldids.ROW_ID_FIELD_ID`): engines that read Parquet by
    field id then read the file by id alone."""
    i = schema.get_field_index(ROW_ID)
    if i < 0 or not _field_ids(schema) or (schema.field(i).metadata or {}).get(FIELD_ID_KEY):
        return schema
    tagged = schema.field(i).with_metadata({FIELD_ID_KEY: str(ROW_ID_FIELD_ID).encode()})
    return schema.set(i, tagged)


def _tag_row_ids(table: pa.Table) -> pa.Table:
    """``table`` with :func:`_tag_row_ids_schema` applied to its schema."""
    schema = _tag_row_ids_schema(table.schema)
    return table if schema is table.schema else table.cast(schema)


class _StatsBuilder:
    """:func:`column_stats` of a file built row group by row group: the bounds of each
    group as Arrow scalars, reduced once at the end (exactly the whole file's)."""

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._nulls = [0] * len(schema)
        self._rows = 0
        self._bounds: list[list[Any]] = [[] for _ in schema]
        self._nan = [False] * len(schema)
        self._failed = [False] * len(schema)

    def add(self, group: pa.Table) -> None:
        self._rows += group.num_rows
        for i, col in enumerate(group.columns):
            nulls = col.null_count
            self._nulls[i] += nulls
            t = col.type
            if not has_bounds(t) or nulls == len(col):
                continue
            if pa.types.is_floating(t) and pc.any(pc.is_nan(col)).as_py():
                self._nan[i] = True
            try:
                mm = pc.min_max(col)
            except (pa.ArrowException, ValueError):
                self._failed[i] = True
                continue
            self._bounds[i] += [mm["min"], mm["max"]]

    def stats(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for i, f in enumerate(self._schema):
            st: dict[str, Any] = {"nulls": self._nulls[i]}
            if has_bounds(f.type) and self._nulls[i] < self._rows and not (
                    self._failed[i] or self._nan[i]):
                try:
                    mm = pc.min_max(pa.array(self._bounds[i], type=f.type))
                    lo, hi = _json_scalar(mm["min"].as_py()), _json_scalar(mm["max"].as_py())
                except (pa.ArrowException, ValueError, OverflowError):
                    lo = hi = None
                if lo is not None and hi is not None:
                    st["min"], st["max"] = lo, hi
            out[f.name] = st
        return out


def write_row_groups(
    storage: Storage,
    schema: pa.Schema,
    groups: Iterable[pa.Table],
    *,
    content_sum: int,
    compression: str = COMPRESSION,
) -> DataFile:
    """One data file of ``groups`` (tables of ``schema`` of exactly 131,072 rows but the
    last; one chunk per column) whose content-hash sum is known, with no float column
    holding NaN: the bytes :func:`write_data_file` writes for their concatenation, with
    one row group in memory at a time (compaction streams its inputs through it while
    they are read)."""
    schema = _tag_row_ids_schema(schema)
    stats = _StatsBuilder(schema)
    rows = 0
    # stats on a second thread (in order: one worker), beside the encoding
    with storage.content_sink(DATA_DIR) as sink, ThreadPoolExecutor(max_workers=1) as pool:
        writer: pq.ParquetWriter | None = None
        added: list[Future[None]] = []
        try:
            for group in groups:
                if writer is None:  # the dictionary choice looks at the first rows only
                    writer = pq.ParquetWriter(
                        sink, schema, compression=compression, write_statistics=True,
                        use_dictionary=_dictionary_columns(group) or False,
                        write_page_checksum=True)
                added.append(pool.submit(stats.add, group))
                writer.write_table(group, row_group_size=ROW_GROUP_SIZE)
                rows += group.num_rows
        finally:
            if writer is not None:
                writer.close()
        for fut in added:
            fut.result()
        if writer is None:
            raise ValueError("write_row_groups needs at least one row group")
        path, sha, wrote = sink.finish(lambda digest: content_path(DATA_DIR, digest))
        size = sink.size
    full = storage.cached_path(path)
    if full is not None:
        if wrote:
            mark_verified(full, sha)
        record_file_schema(full)
    return DataFile(path=path, sha256=sha, bytes=size, rows=rows, first_row_id=None,
                    stats=stats.stats(), content_hash=sum_hex(content_sum),
                    field_ids=_field_ids(schema))


@with_fast_pool
def write_data_files(
    storage: Storage,
    table: pa.Table,
    *,
    first_row_id: int | None,
    max_rows_per_file: int = MAX_ROWS_PER_FILE,
    compression: str = COMPRESSION,
    on_rows: Callable[[int], None] | None = None,
) -> list[DataFile]:
    """Write ``table`` as one or more data files.

    With ``first_row_id`` the files get consecutive row-id ranges (appends); without it
    the table must carry a physical ``_row_id`` column (update, upsert, compact).
    ``on_rows(n)`` is told of the rows as they are encoded, from the writing threads
    (:class:`RowProgress` adds them up).
    """
    if table.num_rows == 0:
        return []
    chunks: list[tuple[pa.Table, int | None]] = []
    for start in range(0, table.num_rows, max_rows_per_file):
        part = table.slice(start, max_rows_per_file)
        chunks.append((part, None if first_row_id is None else first_row_id + start))
    def write(chunk: tuple[pa.Table, int | None]) -> DataFile:
        return write_data_file(storage, *chunk, compression=compression, on_rows=on_rows)

    if len(chunks) == 1:
        files = [write(chunks[0])]
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            files = list(pool.map(write, chunks))
    fault_point("data.written")
    return files


@with_fast_pool
def write_stream(
    storage: Storage,
    tables: Iterable[pa.Table],
    *,
    first_row_id: int | None,
    max_rows_per_file: int = MAX_ROWS_PER_FILE,
    compression: str = COMPRESSION,
    on_rows: Callable[[int], None] | None = None,
) -> list[DataFile]:
    """Write a stream of tables of one schema as data files: the files
    :func:`write_data_files` makes of their concatenation (the same cuts, the same
    bytes), holding at most two files' rows: one being written on a second thread while
    the stream fills the next. Memory is bounded by ``max_rows_per_file`` rows, whatever
    the length of the stream."""
    files: list[DataFile] = []
    parts: list[pa.Table] = []
    held = written = 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[DataFile] | None = None

        def flush() -> None:
            nonlocal pending, parts, held, written
            chunk = pa.concat_tables(parts)
            first = None if first_row_id is None else first_row_id + written
            if pending is not None:
                files.append(pending.result())  # at most one file in flight
            pending = pool.submit(write_data_file, storage, chunk, first,
                                  compression=compression, on_rows=on_rows)
            written += chunk.num_rows
            parts, held = [], 0

        for table in tables:
            offset = 0
            while offset < table.num_rows:
                take = min(table.num_rows - offset, max_rows_per_file - held)
                parts.append(table.slice(offset, take) if take < table.num_rows else table)
                held += take
                offset += take
                if held == max_rows_per_file:
                    flush()
        if held:
            flush()
        if pending is not None:
            files.append(pending.result())
    fault_point("data.written")
    return files


def sorted_unique(values: Sequence[int] | np.ndarray) -> np.ndarray:
    """Sorted distinct int64 positions. By sorting, not ``np.unique``: numpy 2's
    hash-based unique was an order of magnitude slower than a sort and a neighbour
    compare on deletion-vector sizes."""
    out = np.sort(np.asarray(values, dtype=np.int64))
    if len(out) > 1:
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
    return out


def write_positions(
    storage: Storage, vectors: Sequence[Sequence[int] | np.ndarray]
) -> list[tuple[str, str]]:
    """Write deletion vectors (each: sorted unique int64 positions); returns their
    (path, sha256) in order.

    Encoding is cheap and holds the GIL, so it runs first, on this thread; the durable
    writes then go together (:meth:`~tablever.storage.Storage.write_once_many`): the
    fsyncs of all the files overlap, then those of their folders, each folder once.
    """
    encoded = []
    for positions in vectors:
        arr = np.asarray(positions, dtype=np.int64)
        if len(arr) > 1 and not bool(np.all(arr[1:] > arr[:-1])):
            arr = sorted_unique(arr)
        data = parquet_bytes(pa.table({"pos": pa.array(arr, type=pa.int64())}))
        sha = hashlib.sha256(data).hexdigest()
        encoded.append((content_path(DELETES_DIR, sha), sha, data))
    storage.write_once_many([(path, data) for path, _, data in encoded])
    return [(path, sha) for path, sha, _ in encoded]


def read_parquet(
    source: Any, columns: Sequence[str] | None = None, *, threads: bool = False
) -> pa.Table:
    """One Parquet file (a path, file object or buffer) as a Table.

    Through ``ParquetFile`` rather than ``pq.read_table``, which goes through
    ``pyarrow.dataset`` (several times slower on a small file, and its import).
    ``threads`` decodes columns on Arrow's thread pool: worth it for large files only (on
    a deletion vector it made the read an order of magnitude slower).
    """
    with pq.ParquetFile(source) as pf:
        return pf.read(columns=columns, use_threads=threads)
