"""Reading a snapshot's rows with pyarrow: a few small files one by one, many through one
``pyarrow.dataset`` scan, and large reads through DuckDB (``query/reads.py``); all three
give the same table. Which is used is set by :class:`ReadOptions`."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tablever.arrays import bool_array, empty_table, int64_array
from tablever.arrowpool import with_fast_pool
from tablever.errors import IntegrityError
from tablever.format.commit import DataFile
from tablever.integrity import diagnose
from tablever.schema import ROW_ID

if TYPE_CHECKING:
    from tablever.snapshot import Snapshot

__all__ = ["ReadOptions", "conform_columns", "duckdb_exact", "file_rows", "read_arrow",
           "read_options", "reading_with"]


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """Which engine reads a snapshot (each gives the same rows; docs/benchmarks.md has
    the measurements behind the defaults).

    ``few_files``/``few_rows``: a read of at most this many distinct files and rows goes
    file by file, without setting up a ``pyarrow.dataset`` scan; the rest go through one
    scan, which overlaps files and row groups. ``duckdb_min_rows``: from this many rows
    in the files read, or ``duckdb_min_files`` distinct files, a read whose types DuckDB
    hands back exactly goes through one ordered DuckDB scan instead (its cost per small
    file is a fraction of a dataset scan's)."""

    few_files: int = 8
    few_rows: int = 131_072
    duckdb_min_rows: int = 131_072
    duckdb_min_files: int = 256


_OPTIONS = ReadOptions()


def read_options() -> ReadOptions:
    """The read options in force."""
    return _OPTIONS


@contextlib.contextmanager
def reading_with(**changes: int) -> Iterator[ReadOptions]:
    """Use other read options (``ReadOptions`` field names) within a ``with`` block, in
    this process.

    Example:
        >>> import tablever.readers as readers
        >>> with readers.reading_with(duckdb_min_rows=0) as options:
        ...     options.duckdb_min_rows
        0
    """
    global _OPTIONS
    before = _OPTIONS
    _OPTIONS = dataclasses.replace(before, **changes)
    try:
        yield _OPTIONS
    finally:
        _OPTIONS = before


# Arrow types DuckDB hands back exactly (after a cast to the table's type): no timestamp
# other than microseconds, no nested or dictionary types, no decimals.
_DUCKDB_EXACT = (pa.types.is_integer, pa.types.is_float32, pa.types.is_float64,
                 pa.types.is_boolean, pa.types.is_string, pa.types.is_large_string,
                 pa.types.is_date32)


def duckdb_exact(schema: pa.Schema) -> bool:
    return all(
        any(test(f.type) for test in _DUCKDB_EXACT)
        or (pa.types.is_timestamp(f.type) and f.type.unit == "us")
        for f in schema
    )


def conform_columns(
    raw: pa.Table | pa.RecordBatch, fields: Iterable[pa.Field],
    renames: Sequence[tuple[str, str | None]] = (),
) -> list[Any]:
    """The columns of ``raw`` (rows of one data file) for ``fields``: cast to the field's
    type where the file's is narrower, NULL where the file lacks the column (added to
    the schema after it was written). ``renames`` (``FileRead.renames``) names the
    file's column of each table column stored under another name, or None."""
    names = set(raw.schema.names)
    moved = dict(renames)
    out: list[Any] = []
    for field in fields:
        src = moved.get(field.name, field.name)
        if src is None or src not in names:
            out.append(pa.nulls(raw.num_rows, field.type))
            continue
        col = raw.column(src)
        out.append(col if col.type == field.type else col.cast(field.type))
    return out


def file_rows(
    f: DataFile, table: pa.Table, schema: pa.Schema, positions: np.ndarray | None = None,
    *, renames: Sequence[tuple[str, str | None]] = (),
) -> pa.Table:
    """The rows of data file ``f`` (``table``: the whole file as read) in ``schema``, with
    ``_row_id``; only the rows at ``positions`` when given. Columns the file lacks (added
    to the schema later) are NULL; narrower types widen; ``renames`` as for
    :func:`conform_columns`."""
    if table.num_rows != f.rows:
        raise IntegrityError(f"data file {f.path} holds {table.num_rows} rows, expected {f.rows}")
    if positions is not None:
        table = table.take(int64_array(positions))
    if f.first_row_id is not None:
        pos = np.arange(f.rows, dtype=np.int64) if positions is None else positions
        ids = int64_array(pos.astype(np.int64) + f.first_row_id)
    elif ROW_ID in table.column_names:
        ids = table.column(ROW_ID).combine_chunks().cast(pa.int64())
    else:
        raise IntegrityError(f"data file {f.path} has neither first_row_id nor a _row_id column")
    columns = conform_columns(table, schema, renames)
    return pa.Table.from_arrays(
        [*columns, ids], schema=schema.append(pa.field(ROW_ID, pa.int64(), nullable=False))
    )


@with_fast_pool
def read_arrow(
    snap: Snapshot, files: Sequence[DataFile], cols: list[str] | None, with_row_id: bool
) -> pa.Table:
    """The live rows of ``files`` (of ``snap``) as one Arrow table in the snapshot's
    schema (``cols`` only, with ``_row_id`` when asked), in snapshot order."""
    schema = snap.schema
    out_schema = pa.schema([schema.field(c) for c in cols]) if cols is not None else schema
    if with_row_id:
        out_schema = out_schema.append(pa.field(ROW_ID, pa.int64(), nullable=False))
    if not files:
        return empty_table(out_schema)
    plan = snap.read_plan(files)
    if not out_schema.names:  # no columns: only the number of live rows
        live = sum(r.rows - (0 if r.deleted is None else len(r.deleted)) for r in plan.files)
        return pa.table({"_": pa.nulls(live)}).select([])
    rows = sum(r.rows for r in plan.files)
    many = len({r.path for r in plan.files}) >= _OPTIONS.duckdb_min_files
    # One scan (DuckDB's or a dataset's) binds columns by name across files: files whose
    # columns were renamed or dropped since (format 2) are read one by one, each by its
    # own names.
    renamed = any(r.renames for r in plan.files)
    if (rows >= _OPTIONS.duckdb_min_rows or many) and not renamed and duckdb_exact(out_schema):
        from tablever.query.reads import read_ordered

        out = read_ordered(plan, cols, with_row_id, out_schema)
        if out is not None:
            return out
    reads = list(zip(files, plan.files, strict=True))
    fields = list(out_schema)[:-1] if with_row_id else list(out_schema)
    if not renamed and (len({r.path for r in plan.files}) > _OPTIONS.few_files
                        or sum(f.rows for f in files) > _OPTIONS.few_rows):
        return _read_many(snap, reads, fields, out_schema, with_row_id)
    # A few small files: one task each, on two threads (the machine's cores).

    def one(fr: tuple[DataFile, Any]) -> pa.Table:
        f, r = fr
        raw = _read_file(snap, f, r, fields, with_row_id)
        return _live_rows(f, r, raw, 0, fields, out_schema, with_row_id)

    if len(reads) == 1:
        return one(reads[0])
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        return pa.concat_tables(list(pool.map(one, reads)))


def _read_many(
    snap: Snapshot, reads: list[tuple[DataFile, Any]], fields: list[pa.Field],
    out_schema: pa.Schema, with_row_id: bool,
) -> pa.Table:
    """Many files through one pyarrow.dataset scan (its C++ scanner overlaps files:
    much cheaper per small file than reading them one by one), then each file's
    batches get their row ids and deletion vector. A path listed twice (identical
    bytes appended twice) is scanned once and used for both."""
    import pyarrow.dataset as ds

    read_schema = pa.schema(fields)
    if with_row_id and any(f.first_row_id is None for f, _ in reads):
        read_schema = read_schema.append(pa.field(ROW_ID, pa.int64()))
    uses: dict[str, list[int]] = {}
    for i, (_, r) in enumerate(reads):
        uses.setdefault(r.path, []).append(i)
    seen = dict.fromkeys(uses, 0)  # rows of each path scanned so far
    parts: list[list[Any]] = [[] for _ in reads]
    try:
        dataset = ds.dataset(list(uses), schema=read_schema, format=_parquet_format())
        # Batches are shaped as they arrive, while the scanner decodes the next ones.
        for tagged in dataset.scanner(columns=read_schema.names).scan_batches():
            batch, path = tagged.record_batch, tagged.fragment.path
            for i in uses[path]:
                f, r = reads[i]
                if seen[path] + batch.num_rows > f.rows:
                    raise diagnose(snap.storage, snap.state, None, [f]) or IntegrityError(
                        f"data file {f.path} holds more rows than the log says ({f.rows})"
                    )
                parts[i].append(_live_rows(f, r, batch, seen[path], fields,
                                                out_schema, with_row_id))
            seen[path] += batch.num_rows
    except FileNotFoundError as exc:
        raise IntegrityError(f"a data file of version {snap.version} is missing: {exc}") from exc
    except (pa.ArrowException, OSError) as exc:
        bad = diagnose(snap.storage, snap.state, exc, [f for f, _ in reads])
        raise (bad or IntegrityError(f"cannot read version {snap.version}: {exc}")) from exc
    for f, r in reads:
        if seen[r.path] != f.rows:
            raise diagnose(snap.storage, snap.state, None, [f]) or IntegrityError(
                f"data file {f.path} holds {seen[r.path]} rows, the log says {f.rows}"
            )
    return pa.Table.from_batches([b for part in parts for b in part], schema=out_schema)


def _read_file(
    snap: Snapshot, f: DataFile, r: Any, fields: list[pa.Field], with_row_id: bool
) -> pa.Table:
    """The columns of ``fields`` (and ``_row_id`` when needed) that one file holds."""
    try:
        with contextlib.ExitStack() as stack:
            pf = stack.enter_context(pq.ParquetFile(r.path, page_checksum_verification=True))
            present = set(pf.schema_arrow.names)
            wanted = [src for x in fields if (src := r.source(x.name)) in present]
            if with_row_id and f.first_row_id is None and ROW_ID in present:
                wanted.append(ROW_ID)
            raw = pf.read(columns=wanted, use_threads=pf.metadata.num_row_groups > 1)
    except FileNotFoundError as exc:
        raise IntegrityError(f"data file {f.path} of version {snap.version} is missing") from exc
    except (pa.ArrowException, OSError) as exc:
        raise (diagnose(snap.storage, snap.state, exc, [f]) or IntegrityError(
            f"cannot read version {snap.version}: {exc}")) from exc
    if raw.num_rows != f.rows:
        raise diagnose(snap.storage, snap.state, None, [f]) or IntegrityError(
            f"data file {f.path} holds {raw.num_rows} rows, the log says {f.rows}"
        )
    return raw


def _live_rows(
    f: DataFile, r: Any, raw: Any, start: int, fields: list[pa.Field],
    out_schema: pa.Schema, with_row_id: bool,
) -> Any:
    """Rows ``start ..`` of a file (``raw``: a Table or RecordBatch of them) in
    ``out_schema`` (columns the file lacks are NULL), with ``_row_id`` as the last
    column when asked, minus the rows the file's deletion vector removes."""
    n = raw.num_rows
    names = set(raw.schema.names)
    columns = conform_columns(raw, fields, r.renames)
    if with_row_id:
        if f.first_row_id is not None:
            first = f.first_row_id + start
            ids = int64_array(np.arange(first, first + n, dtype=np.int64))
        elif ROW_ID in names and raw.column(ROW_ID).null_count == 0:
            ids = raw.column(ROW_ID).cast(pa.int64())
        else:  # the log says the file carries its row ids
            raise IntegrityError(f"data file {f.path} lacks {ROW_ID} values")
        columns.append(ids)
    kind = pa.Table if isinstance(raw, pa.Table) else pa.RecordBatch
    out = kind.from_arrays(columns, schema=out_schema)
    if r.deleted is not None and len(r.deleted):
        lo, hi = np.searchsorted(r.deleted, [start, start + n])
        if hi > lo:
            mask = np.ones(n, dtype=bool)
            mask[r.deleted[lo:hi] - start] = False
            out = out.filter(bool_array(mask))
    return out


@functools.lru_cache(maxsize=1)
def _parquet_format() -> Any:
    import pyarrow.dataset as ds

    return ds.ParquetFileFormat(
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(
            page_checksum_verification=True
        )
    )
