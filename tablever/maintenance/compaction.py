"""Compaction: rewrite small files and files with many deleted rows into files near a
target size, dropping deleted rows and keeping each row's ``_row_id``.

:func:`plan_compact` is pure (a state and a policy in, groups of files out);
:func:`compact` reads each group with pyarrow, writes it with
:func:`~tablever.write.write_data_files` (a physical ``_row_id`` column; one partition
per file when the table sets ``partition_by``) and commits ``operation="compact"``.
Appended files kept in row-id order (the common case) stream instead: each output's
inputs are read row group by row group on a second thread while the output encodes
(:func:`~tablever.write.write_row_groups`), so memory follows a few row groups, not
the group. If
a concurrent commit removed a rewritten file or gave it a new deletion vector, the
commit aborts with :class:`~tablever.errors.CommitConflictError` (never resurrecting a
deleted row); appends that won meanwhile are simply kept.

Why one module: the planner and the writer must agree on how files are cut (by bytes
and by rows) for compaction to reach a fixed point, and :func:`compact` plans its own
outputs again before committing; kept side by side, the two rules cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tablever.arrowpool import with_fast_pool
from tablever.content_hash import MOD, sum_hex, sum_rows
from tablever.deletes import load_positions
from tablever.errors import CommitConflictError, IntegrityError, InvalidValueError
from tablever.format.commit import Actions, Commit, DataFile, DeleteVector
from tablever.format.fieldids import ids_by_name, renames, sum_applies, table_stats
from tablever.format.state import TableState
from tablever.integrity import ensure_verified, read_verified
from tablever.partitioning import file_partition, partition_columns, write_split
from tablever.policy import Policy, parse_ratio, parse_size
from tablever.readers import conform_columns, file_rows
from tablever.schema import ROW_ID, schema_from_dict, schema_to_dict
from tablever.snapshot import Snapshot
from tablever.storage import Storage, fault_point
from tablever.write import (
    COMPRESSION,
    MAX_ROWS_PER_FILE,
    ROW_GROUP_SIZE,
    codec,
    read_parquet,
    with_schema_ids,
    write_data_file,
    write_row_groups,
)

if TYPE_CHECKING:
    from tablever.table import Table

__all__ = ["CompactGroup", "CompactPlan", "auto_compact", "compact", "compact_plan",
           "plan_compact", "small_files"]

Progress = Callable[[str, int, int], None]

SMALL_FRACTION = 0.75
"""A file under 75% of the target size is "small" (Iceberg's default)."""


@dataclass(frozen=True, slots=True)
class CompactGroup:
    """Files rewritten together into (about) one file of the target size."""

    files: tuple[DataFile, ...]
    deletes: tuple[DeleteVector | None, ...]  # the live vector of each file, as planned

    @property
    def rows(self) -> int:
        """Live rows (what the rewritten files will hold)."""
        return sum(f.rows - (d.rows if d else 0) for f, d in zip(self.files, self.deletes, strict=True))

    @property
    def deleted_rows(self) -> int:
        return sum(d.rows for d in self.deletes if d)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def live_bytes(self) -> int:
        return sum(_live_bytes(f, d) for f, d in zip(self.files, self.deletes, strict=True))


@dataclass(frozen=True, slots=True)
class CompactPlan:
    """What :func:`compact` would rewrite at ``version``; empty when nothing qualifies."""

    version: int
    target_file_bytes: int
    groups: tuple[CompactGroup, ...]

    @property
    def input_files(self) -> int:
        return sum(len(g.files) for g in self.groups)

    @property
    def input_bytes(self) -> int:
        return sum(g.bytes for g in self.groups)

    @property
    def rows(self) -> int:
        return sum(g.rows for g in self.groups)

    @property
    def deleted_rows(self) -> int:
        return sum(g.deleted_rows for g in self.groups)

    @property
    def empty(self) -> bool:
        return not self.groups


def _live_bytes(f: DataFile, d: DeleteVector | None) -> int:
    if not f.rows:
        return 0
    return int(f.bytes * (f.rows - (d.rows if d else 0)) / f.rows)


def _first_id(f: DataFile) -> int:
    if f.first_row_id is not None:
        return f.first_row_id
    lo = f.stats.get(ROW_ID, {}).get("min")
    return lo if isinstance(lo, int) and not isinstance(lo, bool) else 0


def plan_compact(
    state: TableState,
    *,
    target_file_bytes: int,
    min_input_files: int = 2,
    delete_ratio: float = 0.1,
    max_rows_per_file: int | None = None,
) -> CompactPlan:
    """Group the files worth rewriting (pure).

    Candidates are files under 75% of ``target_file_bytes`` and files whose deleted
    share is at least ``delete_ratio``. In row-id order (so rows added together stay
    together), candidates are packed into groups of at most ``target_file_bytes`` live
    bytes and ``max_rows_per_file`` live rows (default: the writer's cut,
    ``MAX_ROWS_PER_FILE``), so that a group of several files becomes one file; when the
    table property ``partition_by`` is set, each partition (read from the files'
    statistics) is packed apart, and files holding several partitions are packed
    together and split when rewritten. A group is rewritten when it holds at least
    ``min_input_files`` files (and more than one), or when any of its files has that
    many deleted rows.
    """
    candidates: list[tuple[DataFile, DeleteVector | None]] = []
    for key, f in state.files.items():
        dv = state.deletes.get(key)
        heavy = dv is not None and f.rows > 0 and dv.rows / f.rows >= delete_ratio
        if heavy or f.bytes < target_file_bytes * SMALL_FRACTION:
            candidates.append((f, dv))
    candidates.sort(key=lambda c: (_first_id(c[0]), c[0].path))
    # With partition_by, each partition is packed on its own (files never merge across
    # partitions); files that may hold several partitions (written before the property
    # was set) are packed together and split by partition when rewritten.
    columns = partition_columns(state.properties)
    row_cap = MAX_ROWS_PER_FILE if max_rows_per_file is None else max_rows_per_file
    bins: list[list[tuple[DataFile, DeleteVector | None]]] = []
    sizes: list[int] = []
    counts: list[int] = []
    filling: dict[object, int] = {}  # partition -> index of the bin being filled
    for f, dv in candidates:
        live = _live_bytes(f, dv)
        rows = f.rows - (dv.rows if dv is not None else 0)
        part = file_partition(f, columns, table_stats(f, state.schema)) if columns else ()
        i = filling.get(part)
        if (i is not None and sizes[i] + live <= target_file_bytes
                and counts[i] + rows <= row_cap):
            bins[i].append((f, dv))
            sizes[i] += live
            counts[i] += rows
        else:
            filling[part] = len(bins)
            bins.append([(f, dv)])
            sizes.append(live)
            counts.append(rows)
    groups = []
    for b in bins:
        heavy = any(d is not None and d.rows / max(f.rows, 1) >= delete_ratio for f, d in b)
        if heavy or len(b) >= max(min_input_files, 2):
            groups.append(CompactGroup(tuple(f for f, _ in b), tuple(d for _, d in b)))
    return CompactPlan(state.version, target_file_bytes, tuple(groups))


def _policy(
    table: Table, target_file_bytes: int | str | None, delete_ratio: float | None
) -> tuple[int, float]:
    policy = Policy.from_properties(table.properties)
    target = (
        policy.target_file_bytes
        if target_file_bytes is None
        else parse_size(target_file_bytes, "target_file_bytes")
    )
    ratio = policy.delete_ratio if delete_ratio is None else parse_ratio(
        delete_ratio, "delete_ratio"
    )
    return target, ratio


def _check_min_input_files(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError(f"invalid min_input_files {value!r}: expected an integer >= 1")


def compact_plan(
    table: Table,
    *,
    target_file_bytes: int | str | None = None,
    min_input_files: int = 2,
    delete_ratio: float | None = None,
) -> CompactPlan:
    """The plan :func:`compact` would carry out on the latest version (changes nothing)."""
    _check_min_input_files(min_input_files)
    target, ratio = _policy(table, target_file_bytes, delete_ratio)
    return plan_compact(
        table.latest().state, target_file_bytes=target, min_input_files=min_input_files,
        delete_ratio=ratio,
    )


# --- executing --------------------------------------------------------------------


def _read_file(
    storage: Storage, f: DataFile, dv: DeleteVector | None, schema: pa.Schema,
    stored: Mapping[str, Any],
) -> tuple[pa.Table, int | None]:
    """The live rows of one file in ``schema`` plus ``_row_id``, and their content-hash
    sum when the file has one (its stored sum minus the hashes of its deleted rows); the
    bytes are checked against the file's SHA-256 first (once per process, as every
    read does: :func:`~tablever.integrity.ensure_verified`) so compaction never launders
    a corrupt file."""
    (path,) = ensure_verified(storage, [f])
    try:
        # columns decoded on Arrow's threads for a large file (not worth it on a small one)
        table = read_parquet(path, threads=f.rows >= 65_536)
    except (pa.ArrowException, OSError) as exc:
        raise IntegrityError(f"data file {f.path} is unreadable: {exc}") from exc
    out = file_rows(f, table, schema, renames=renames(f, stored))
    live_sum = (None if f.content_hash is None or not sum_applies(f, stored)
                else int(f.content_hash, 16))
    if dv is not None:
        deleted = load_positions(storage, dv, f.rows)
        if live_sum is not None:
            live_sum = (live_sum - sum_rows(out.take(pa.array(deleted)))) % MOD
        mask = np.ones(f.rows, dtype=bool)
        mask[deleted] = False
        out = out.filter(pa.array(mask))
    return out, live_sum


@with_fast_pool
def _rewrite(
    storage: Storage, group: CompactGroup, schema: pa.Schema, target: int,
    sort_by: Sequence[str] | None, partition_by: Sequence[str] = (),
    compression: str = COMPRESSION, stored: Mapping[str, Any] | None = None,
) -> list[DataFile]:
    stored = stored if stored is not None else schema_to_dict(schema)
    pairs = list(zip(group.files, group.deletes, strict=True))
    pieces = max(1, round(group.live_bytes / target))
    rows_per_file = min(MAX_ROWS_PER_FILE, max(1, -(-group.rows // pieces)))
    mixed = bool(partition_by) and any(
        file_partition(f, partition_by, table_stats(f, stored)) is None for f in group.files)
    if not mixed and not sort_by and _appended_in_order(group.files, stored):
        cuts = _cut_by_rows(pairs, rows_per_file)
        if len(cuts) == 1:
            return [_stream_cut(storage, cuts[0], schema, compression, stored)]
        return _stream_cuts(storage, cuts, schema, compression, stored)
    if len(pairs) > 4:  # pyarrow decodes without the GIL: two readers use both cores
        with ThreadPoolExecutor(max_workers=2) as pool:
            read = list(pool.map(lambda fd: _read_file(storage, fd[0], fd[1], schema, stored),
                                 pairs))
    else:
        read = [_read_file(storage, f, d, schema, stored) for f, d in pairs]
    parts = [t for t, _ in read]
    sums = [s for _, s in read]
    if sum(p.num_rows for p in parts) != group.rows:
        raise IntegrityError("compaction read an unexpected number of rows")
    # A group of one partition stays one; files of several partitions are split.
    split = list(partition_by) if mixed else []
    if not split and not sort_by and None not in sums and _ids_ascending(parts):
        # Rows stay in input order: cut output files at input-file boundaries, so each
        # output's content-hash sum is the sum of its inputs' (no rows are re-hashed).
        return _write_whole_parts(storage, parts, sums, rows_per_file, compression)
    # One contiguous chunk per column: the Parquet writer is markedly faster on it than
    # on hundreds of small chunks.
    table = (pa.concat_tables(parts) if len(parts) > 1 else parts[0]).combine_chunks()
    if sort_by:
        keys = [(c, "ascending") for c in sort_by] + [(ROW_ID, "ascending")]
        table = table.take(pc.sort_indices(table, sort_keys=keys))
    else:
        ids = table.column(ROW_ID).to_numpy()
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            table = table.take(pa.array(np.argsort(ids, kind="stable")))
    return write_split(storage, table, split, first_row_id=None, max_rows_per_file=rows_per_file,
                       compression=compression)


def _appended_in_order(files: Sequence[DataFile], stored: Mapping[str, Any]) -> bool:
    """Whether the files are appended ones (row ids from ``first_row_id``) whose id
    ranges ascend, with stored content-hash sums: their rows can be streamed to the
    outputs in order without reading them first."""
    last = -1
    for f in files:
        if (f.first_row_id is None or f.content_hash is None or f.first_row_id <= last
                or not sum_applies(f, stored)):
            return False
        last = f.first_row_id + f.rows - 1
    return True


def _cut_by_rows(
    pairs: Sequence[tuple[DataFile, DeleteVector | None]], rows_per_file: int
) -> list[list[tuple[DataFile, DeleteVector | None]]]:
    """Inputs grouped into consecutive runs of about ``rows_per_file`` live rows (the
    same cuts :func:`_write_whole_parts` makes, known here from the log alone)."""
    cuts: list[list[tuple[DataFile, DeleteVector | None]]] = []
    current: list[tuple[DataFile, DeleteVector | None]] = []
    rows = 0
    for f, dv in pairs:
        live = f.rows - (dv.rows if dv is not None else 0)
        if current and rows + live > rows_per_file:
            cuts.append(current)
            current, rows = [], 0
        current.append((f, dv))
        rows += live
    if current:
        cuts.append(current)
    return cuts


def _nan_free(files: Sequence[DataFile], schema: pa.Schema, stored: Mapping[str, Any]) -> bool:
    """Whether no float column of ``files`` can hold NaN, from their stats alone: a
    column holding NaN has no bounds, so every file must have bounds or NULLs only."""
    floats = [field.name for field in schema if pa.types.is_floating(field.type)]
    for f in files if floats else ():
        stats = table_stats(f, stored)
        for name in floats:
            st = stats.get(name)
            if st is not None and "min" not in st and st.get("nulls", 0) < f.rows:
                return False
    return True


class _LiveGroups:
    """The live rows of a cut's inputs in order, with ``_row_id``, as tables of exactly
    131,072 rows (the last shorter), one chunk per column; ``content_sum`` is their
    content-hash sum once iterated. Reads one input row group at a time, each file's
    bytes checked against its SHA-256 first."""

    def __init__(self, storage: Storage, cut: Sequence[tuple[DataFile, DeleteVector | None]],
                 schema: pa.Schema, stored: Mapping[str, Any]) -> None:
        self.storage, self.cut, self.schema, self.stored = storage, cut, schema, stored
        self.content_sum = 0

    def _file(self, f: DataFile, dv: DeleteVector | None) -> Iterator[pa.Table]:
        out_schema = self.schema.append(pa.field(ROW_ID, pa.int64(), nullable=False))
        # A small input's bytes, read once for its check and decoded from memory (the
        # file reader's many small reads: 200 files of 2,500 rows in 121 ms, not 82).
        path, data = read_verified(self.storage, f)
        moved = renames(f, self.stored)
        deleted = None if dv is None else load_positions(self.storage, dv, f.rows)
        total = 0 if f.content_hash is None else int(f.content_hash, 16)
        start = live = 0
        try:
            with pq.ParquetFile(path if data is None else pa.BufferReader(data)) as pf:
                if pf.metadata.num_rows != f.rows:
                    raise IntegrityError(f"data file {f.path} holds {pf.metadata.num_rows} "
                                         f"rows, expected {f.rows}")
                for i in range(pf.metadata.num_row_groups):
                    raw = pf.read_row_group(i, use_threads=pf.metadata.row_group(i).num_rows
                                            >= 65_536)
                    n = raw.num_rows
                    if f.first_row_id is not None:
                        ids = pa.array(np.arange(start, start + n, dtype=np.int64)
                                       + f.first_row_id)
                    else:
                        ids = raw.column(ROW_ID).combine_chunks().cast(pa.int64())
                    part = pa.Table.from_arrays([*conform_columns(raw, self.schema, moved), ids],
                                                schema=out_schema)
                    if deleted is not None:
                        lo, hi = np.searchsorted(deleted, [start, start + n])
                        if hi > lo:
                            gone = deleted[lo:hi] - start
                            total -= sum_rows(part.take(pa.array(gone)))
                            mask = np.ones(n, dtype=bool)
                            mask[gone] = False
                            part = part.filter(pa.array(mask))
                    start += n
                    live += part.num_rows
                    yield part
        except (pa.ArrowException, OSError) as exc:
            raise IntegrityError(f"data file {f.path} is unreadable: {exc}") from exc
        if live != f.rows - (dv.rows if dv is not None else 0):
            raise IntegrityError(f"compaction read an unexpected number of rows of {f.path}")
        self.content_sum = (self.content_sum + total) % MOD

    def __iter__(self) -> Iterator[pa.Table]:
        pending: list[pa.Table] = []
        held = 0
        for f, dv in self.cut:
            for part in self._file(f, dv):
                if not part.num_rows:
                    continue
                pending.append(part)
                held += part.num_rows
                while held >= ROW_GROUP_SIZE:
                    both = pa.concat_tables(pending)
                    yield both.slice(0, ROW_GROUP_SIZE).combine_chunks()
                    rest = both.slice(ROW_GROUP_SIZE)
                    pending, held = ([rest] if rest.num_rows else []), rest.num_rows
        if held:
            yield pa.concat_tables(pending).combine_chunks()


_DONE = object()


def _prefetch(source: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """``source`` iterated on a thread of its own, ``depth`` items ahead: reading and
    decoding the inputs overlaps encoding the output (both release the GIL)."""
    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in source:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _stream_cut(
    storage: Storage, cut: Sequence[tuple[DataFile, DeleteVector | None]],
    schema: pa.Schema, compression: str, stored: Mapping[str, Any],
) -> DataFile:
    """One output file of whole inputs, read and written row group by row group, the
    reading on a second thread (the same bytes as reading them all first)."""
    if not _nan_free([f for f, _ in cut], schema, stored):  # NaN turns stats off: look first
        parts, total = [], 0
        for f, dv in cut:
            part, part_sum = _read_file(storage, f, dv, schema, stored)
            if part.num_rows != f.rows - (dv.rows if dv is not None else 0) or part_sum is None:
                raise IntegrityError(f"compaction read an unexpected number of rows of {f.path}")
            parts.append(part)
            total = (total + part_sum) % MOD
        return _write_parts(storage, parts, total, compression)
    groups = _LiveGroups(storage, cut, schema, stored)
    out_schema = schema.append(pa.field(ROW_ID, pa.int64(), nullable=False))
    sums: list[int] = []

    def counted() -> Iterator[pa.Table]:
        yield from groups
        sums.append(groups.content_sum)

    written = write_row_groups(storage, out_schema, _prefetch(counted()), content_sum=0,
                               compression=compression)
    return dataclasses.replace(written, content_hash=sum_hex(sums[0]))


def _stream_cuts(
    storage: Storage, cuts: Sequence[Sequence[tuple[DataFile, DeleteVector | None]]],
    schema: pa.Schema, compression: str, stored: Mapping[str, Any],
) -> list[DataFile]:
    """One task per output file that reads its inputs and writes it: on two threads,
    one output's reads overlap another's Parquet encoding."""

    def one(cut: Sequence[tuple[DataFile, DeleteVector | None]]) -> DataFile:
        return _stream_cut(storage, cut, schema, compression, stored)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, cuts))


def _write_parts(
    storage: Storage, parts: Sequence[pa.Table], content_sum: int, compression: str
) -> DataFile:
    """One output file of whole input parts whose content-hash sums add up to
    ``content_sum``; one contiguous chunk per column, on which Parquet encodes faster."""
    table = pa.concat_tables(parts).combine_chunks()
    return write_data_file(storage, table, None, content_sum=content_sum, compression=compression)


def _ids_ascending(parts: Sequence[pa.Table]) -> bool:
    last = -1
    for part in parts:
        if part.num_rows == 0:
            continue
        ids = part.column(ROW_ID).to_numpy()
        if ids[0] <= last or (len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1]))):
            return False
        last = int(ids[-1])
    return True


def _write_whole_parts(
    storage: Storage, parts: Sequence[pa.Table], sums: Sequence[int | None],
    rows_per_file: int, compression: str = COMPRESSION,
) -> list[DataFile]:
    """Output files made of whole input parts, about ``rows_per_file`` rows each."""
    cuts: list[tuple[list[pa.Table], int]] = []
    current: list[pa.Table] = []
    rows = total = 0
    for part, s in zip(parts, sums, strict=True):
        if current and rows + part.num_rows > rows_per_file:
            cuts.append((current, total))
            current, rows, total = [], 0, 0
        current.append(part)
        rows += part.num_rows
        total = (total + (s or 0)) % MOD
    if current:
        cuts.append((current, total))

    def write(cut: tuple[list[pa.Table], int]) -> DataFile:
        return _write_parts(storage, cut[0], cut[1], compression)

    if len(cuts) == 1:
        return [write(cuts[0])]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(write, cuts))


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _rewrite_groups(
    storage: Storage, plan: CompactPlan, schema: pa.Schema, sort_by: Sequence[str] | None,
    partition_by: Sequence[str], compression: str, progress: Progress | None,
    stored: Mapping[str, Any],
) -> list[DataFile]:
    total = len(plan.groups)
    if progress:
        progress("compact", 0, total)
    outputs: list[DataFile] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(_rewrite, storage, g, schema, plan.target_file_bytes, sort_by,
                        partition_by, compression, stored)
            for g in plan.groups
        ]
        for i, fut in enumerate(futures):
            outputs.extend(fut.result())
            if progress:
                progress("compact", i + 1, total)
    return outputs


def _unsortable(t: pa.DataType) -> bool:
    return pa.types.is_nested(t) or (
        pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type))


def compact(
    table: Table,
    *,
    target_file_bytes: int | str | None = None,
    min_input_files: int = 2,
    sort_by: Sequence[str] | None = None,
    delete_ratio: float | None = None,
    message: str = "",
    progress: Progress | None = None,
) -> Snapshot | None:
    """Rewrite small and delete-heavy files into files near ``target_file_bytes``.

    The new snapshot (``operation="compact"``) holds exactly the rows, with the same
    ``_row_id``, of the version it compacted (plus anything appended meanwhile); older
    versions are untouched. Returns None when nothing qualifies. ``sort_by`` orders the
    rows of each rewritten file by those columns (then ``_row_id``) for better pruning.
    Defaults come from the table properties ``compact.target_file_bytes`` (128 MiB) and
    ``compact.delete_ratio`` (0.1). Raises :class:`~tablever.errors.CommitConflictError`
    if another commit deleted rows from, or removed, a file being rewritten: nothing
    changed and rerunning is safe.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.table({"x": [1]}))
        >>> for i in range(3):
        ...     _ = t.append(pa.table({"x": [i, i + 10]}))
        >>> _ = t.delete("x = 11")
        >>> s = tv.compact(t)
        >>> s.operation, len(s.files), s.num_rows
        ('compact', 1, 5)
    """
    if sort_by is not None:
        sort_by = [sort_by] if isinstance(sort_by, str) else list(sort_by)
        names = table.schema.names
        unknown = [c for c in sort_by if c not in names]
        if unknown:
            from tablever.errors import SchemaMismatchError

            raise SchemaMismatchError(
                f"sort_by names unknown column(s) {', '.join(unknown)}", unknown
            )
        unsortable = [c for c in sort_by if _unsortable(table.schema.field(c).type)]
        if unsortable:
            from tablever.errors import SchemaMismatchError

            raise SchemaMismatchError(
                f"sort_by cannot order by {', '.join(map(repr, unsortable))}: list, struct "
                "and map columns have no order here; sort by scalar columns", unsortable,
            )
    _check_min_input_files(min_input_files)
    target, ratio = _policy(table, target_file_bytes, delete_ratio)
    writer = table.writer()
    state = writer.state
    plan = plan_compact(
        state, target_file_bytes=target, min_input_files=min_input_files, delete_ratio=ratio
    )
    if plan.empty:
        return None
    # the outputs carry the version's field ids (format 2)
    schema = with_schema_ids(schema_from_dict(state.schema), ids_by_name(state.schema))
    storage = table.storage
    partition_by = partition_columns(state.properties)
    # The committed state must be a fixed point: planning it again finds nothing. File
    # sizes after a rewrite are known only once written (merged files compress better),
    # so the outputs are planned again here and any group found is rewritten before the
    # commit. Each further round merges files, so the rounds end.
    planned: list[tuple[DataFile, DeleteVector | None]] = []
    outputs: dict[tuple[str, int | None], DataFile] = {}
    current, first, rounds = state, plan, 0
    while not plan.empty:
        rounds += 1
        written = _rewrite_groups(storage, plan, schema, sort_by, partition_by,
                                  codec(state.properties), progress if plan is first else None,
                                  state.schema)
        files, deletes = dict(current.files), dict(current.deletes)
        for g in plan.groups:
            for f, d in zip(g.files, g.deletes, strict=True):
                files.pop(f.key, None)
                deletes.pop(f.key, None)
                if outputs.pop(f.key, None) is None:
                    planned.append((f, d))
        for f in written:
            files[f.key] = f
            outputs[f.key] = f
        before = len(current.files)
        current = dataclasses.replace(current, files=files, deletes=deletes)
        plan = plan_compact(current, target_file_bytes=target, min_input_files=min_input_files,
                            delete_ratio=ratio)
        if rounds > 1 and len(current.files) >= before:
            break  # a later round that merges nothing would not end
    fault_point("compact.written")
    added = tuple(outputs.values())
    plan = first

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, None]:
        # Check the state itself, not only the winners: the table may have moved between
        # planning and the first attempt too.
        for f, d in planned:
            if state.files.get(f.key) != f:
                raise CommitConflictError(
                    f"compaction lost a race: data file {f.path} was removed or rewritten "
                    f"by a newer commit (now at version {state.version}); nothing was "
                    "committed, rerun compact"
                )
            if state.deletes.get(f.key) != d:
                raise CommitConflictError(
                    f"compaction lost a race: rows of data file {f.path} were deleted by a "
                    f"newer commit (now at version {state.version}); nothing was "
                    "committed, rerun compact"
                )
        return Actions(add=added, remove=tuple(f.key for f, _ in planned)), None

    props: dict[str, Any] = {
        "compacted_version": plan.version,
        "target_file_bytes": plan.target_file_bytes,
        "input_files": len(planned),
        "output_files": len(added),
        "dropped_deleted_rows": sum(d.rows for _, d in planned if d is not None),
    }
    if sort_by:
        props["sort_by"] = list(sort_by)
    new = writer.commit(
        "compact", build,
        message=message or f"compact {_files(len(planned))} into {len(added)}",
        properties=props,
    )
    return Snapshot(storage, new)


def small_files(state: TableState, target_file_bytes: int) -> int:
    """How many live data files of ``state`` are small (under 75% of the target)."""
    cut = target_file_bytes * SMALL_FRACTION
    return sum(1 for f in state.files.values() if f.bytes < cut)


def auto_compact(table: Table, state: TableState) -> Snapshot | None:
    """The compaction that follows an append by the table's policy, or None.

    When the table property ``compact.auto_small_files`` is N > 0 and the append's
    version ``state`` holds more than N small files, :func:`compact` runs at once and
    commits its own version (``operation="compact"``): the small files are folded into
    files near the target size, every row keeping its ``_row_id``, and every earlier
    version (the append's included) still reads exactly. It is part of the append's
    call, not a background task. Losing a race to another writer skips it (the next
    append tries again); the append stands either way.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.table({"x": [1]}),
        ...               properties={"compact.auto_small_files": 3})
        >>> for i in range(5):
        ...     _ = t.append(pa.table({"x": [i]}))
        >>> [v.operation for v in t.history()][:3]
        ['append', 'compact', 'append']
        >>> s = t.latest()
        >>> len(s.files), s.to_arrow(with_row_id=True).column("_row_id").to_pylist()
        (2, [0, 1, 2, 3, 4])
    """
    policy = Policy.from_properties(state.properties)
    if policy.auto_small_files <= 0:
        return None
    small = small_files(state, policy.target_file_bytes)
    if small <= policy.auto_small_files:
        return None
    try:
        return compact(table, message=f"auto-compact {small} small files after version "
                                      f"{state.version}")
    except CommitConflictError:
        return None
