"""Streaming a snapshot's rows in batches for training: bounded memory, deterministic
shuffles, and shards that together hold every row exactly once.

The live rows of a snapshot are cut into *units*: one row group of one data file. A
loader orders the units (snapshot order, or a permutation drawn from ``shuffle_seed``
and ``epoch``), numbers the live rows along that order, and gives shard ``p`` of ``P``
the rows numbered ``[p*N//P, (p+1)*N//P)``: shards differ by at most one row before any
filter, and a shard reads only the units its range touches. Rows are then shuffled
within a bounded buffer. At most one data file is open at a time, and a loader holds at
most ``buffer_size`` rows plus one row group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tablever.arrays import bool_array, int64_array
from tablever.errors import IntegrityError, InvalidValueError
from tablever.readers import conform_columns
from tablever.schema import ROW_ID

if TYPE_CHECKING:
    from tablever.format.commit import DataFile
    from tablever.readplan import FileRead
    from tablever.snapshot import Snapshot

__all__ = ["BatchLoader", "LoaderStats"]

# A function of a batch (with the columns it asked for) -> a boolean mask of rows to keep.
RowFilter = Callable[[pa.RecordBatch], np.ndarray]


@dataclass(slots=True)
class LoaderStats:
    """What one pass over a loader held: observable bounds on its memory."""

    files_opened: int = 0
    max_files_open: int = 0
    max_rows_held: int = 0
    rows_yielded: int = 0


@dataclass(frozen=True, slots=True)
class _Unit:
    file: DataFile
    read: FileRead
    row_group: int
    start: int  # position of the row group's first row in the file
    rows: int
    live: int  # rows the deletion vector leaves


def _batch(table: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([c.combine_chunks() for c in table.columns], schema=schema)


def _rng(*parts: object) -> np.random.Generator:
    """A generator seeded from SHA-256 of ``parts``: the same stream on every platform."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "big")))


@dataclass
class BatchLoader:
    """An iterable of ``pyarrow.RecordBatch`` over one shard of a snapshot's rows.

    Build it with ``Snapshot.to_batches`` (or a split's ``to_batches``). Iterating twice
    gives the same batches. ``stats`` describes the last pass.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.schema([("x", pa.int64())]))
        >>> s = t.append(pa.table({"x": list(range(10))}))
        >>> [b.num_rows for b in s.to_batches(4)]
        [4, 4, 2]
        >>> a = s.to_batches(4, shard=(0, 2)); b = s.to_batches(4, shard=(1, 2))
        >>> sorted(x for part in (a, b) for batch in part for x in batch.column("x").to_pylist())
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """

    snapshot: Snapshot
    batch_size: int
    columns: list[str] | None = None
    shuffle_seed: int | None = None
    epoch: int = 0
    shard: tuple[int, int] = (0, 1)
    buffer_size: int | None = None
    with_row_id: bool = False
    row_filter: RowFilter | None = None
    filter_columns: tuple[str, ...] = ()
    where: str | None = None
    stats: LoaderStats = field(default_factory=LoaderStats)

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InvalidValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        rank, world = self.shard
        if not (isinstance(rank, int) and isinstance(world, int) and world >= 1 and 0 <= rank < world):
            raise InvalidValueError(
                f"shard must be (rank, world_size) with 0 <= rank < world_size, got {self.shard!r}"
            )
        if self.buffer_size is not None and self.buffer_size < 0:
            raise InvalidValueError(f"buffer_size must be >= 0, got {self.buffer_size}")
        if self.epoch < 0:
            raise InvalidValueError(f"epoch must be >= 0, got {self.epoch}")
        self.columns = self.snapshot.check_columns(self.columns)
        if self.columns == [] and not self.with_row_id:
            raise InvalidValueError("to_batches needs a column: columns=[] only with with_row_id=True")
        self._condition: str | None = None
        if self.where is not None:
            from tablever.query.engine import check_expressions
            from tablever.query.predicate import parse_expression

            tree = parse_expression(self.where, self.snapshot.schema.names)
            self._condition = tree.sql(dialect="duckdb")
            check_expressions(self.snapshot.schema, self._condition, self.where)
            self._tree = tree

    @property
    def buffer_rows(self) -> int:
        """Rows the shuffle buffer holds (0 without ``shuffle_seed``)."""
        if self.shuffle_seed is None:
            return 0
        return self.buffer_size if self.buffer_size is not None else max(8 * self.batch_size, 8192)

    def with_shard(self, rank: int, world_size: int) -> BatchLoader:
        """The same loader over another shard."""
        import dataclasses

        return dataclasses.replace(self, shard=(rank, world_size), stats=LoaderStats())

    # --- plan -------------------------------------------------------------------------

    def _units(self) -> list[_Unit]:
        files = self.snapshot.data_files
        if self._condition is not None:
            from tablever.query.predicate import prune

            files = prune(self._tree, files, self.snapshot.schema,
                          stored=self.snapshot.state.schema)
        if not files:
            return []
        plan = self.snapshot.read_plan(files)
        units = []
        for f, r in zip(files, plan.files, strict=True):
            try:
                meta = pq.read_metadata(r.path)
            except (OSError, pa.ArrowException) as exc:
                raise IntegrityError(f"cannot read data file {f.path}: {exc}") from exc
            start = 0
            for g in range(meta.num_row_groups):
                n = meta.row_group(g).num_rows
                dead = 0
                if r.deleted is not None and len(r.deleted):
                    lo, hi = np.searchsorted(r.deleted, [start, start + n])
                    dead = int(hi - lo)
                if n - dead:
                    units.append(_Unit(f, r, g, start, n, n - dead))
                start += n
            if start != f.rows:
                raise IntegrityError(f"data file {f.path} holds {start} rows, the log says {f.rows}")
        if self.shuffle_seed is not None:
            order = _rng("units", self.shuffle_seed, self.epoch).permutation(len(units))
            units = [units[i] for i in order]
        return units

    def _range(self, total: int) -> tuple[int, int]:
        rank, world = self.shard
        return rank * total // world, (rank + 1) * total // world

    @property
    def num_rows(self) -> int:
        """Rows this shard yields (before ``where`` and split filters)."""
        units = self._units()
        lo, hi = self._range(sum(u.live for u in units))
        return hi - lo

    # --- reading ----------------------------------------------------------------------

    def _out_schema(self) -> pa.Schema:
        schema = self.snapshot.schema
        names = self.columns if self.columns is not None else schema.names
        out = pa.schema([schema.field(c) for c in names])
        return out.append(pa.field(ROW_ID, pa.int64(), nullable=False)) if self.with_row_id else out

    def _read_unit(self, u: _Unit, lo: int, hi: int) -> pa.RecordBatch:
        """Live rows ``[lo, hi)`` (counted among the unit's live rows) of a unit, with
        every column the output and the filters need, and ``_row_id``."""
        schema = self.snapshot.schema
        wanted = list(self.columns if self.columns is not None else schema.names)
        for c in (*self.filter_columns, *self._where_columns()):
            if c != ROW_ID and c not in wanted:
                wanted.append(c)
        fields = [schema.field(c) for c in wanted]
        self.stats.files_opened += 1
        self.stats.max_files_open = max(self.stats.max_files_open, 1)
        try:
            with pq.ParquetFile(u.read.path, page_checksum_verification=True) as pf:
                present = set(pf.schema_arrow.names)
                names = [src for c in wanted if (src := u.read.source(c)) in present]
                if u.file.first_row_id is None:
                    names.append(ROW_ID)
                raw = pf.read_row_group(u.row_group, columns=names)
        except (OSError, pa.ArrowException) as exc:
            raise IntegrityError(f"cannot read data file {u.file.path}: {exc}") from exc
        positions = np.arange(u.start, u.start + u.rows, dtype=np.int64)
        if u.read.deleted is not None and len(u.read.deleted):
            keep = ~np.isin(positions, u.read.deleted)
            positions = positions[keep]
            raw = raw.filter(bool_array(keep))
        positions, raw = positions[lo:hi], raw.slice(lo, hi - lo)
        if u.file.first_row_id is not None:
            ids = int64_array(positions + u.file.first_row_id)
        else:
            ids = raw.column(ROW_ID).combine_chunks().cast(pa.int64())
        arrays = [*conform_columns(raw, fields, u.read.renames), ids]
        out_schema = pa.schema([*fields, pa.field(ROW_ID, pa.int64(), nullable=False)])
        return _batch(pa.Table.from_arrays(arrays, schema=out_schema), out_schema)

    def _where_columns(self) -> list[str]:
        if self._condition is None:
            return []
        from sqlglot import exp

        names = set(self.snapshot.schema.names)
        found = {n for c in self._tree.find_all(exp.Column) for n in (c.name, c.table)}
        return sorted(found & names)

    def _keep(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.row_filter is not None and batch.num_rows:
            batch = batch.filter(pa.array(self.row_filter(batch)))
        if self._condition is not None and batch.num_rows:
            from tablever.query.engine import default_connection

            conn = default_connection().cursor()
            try:
                conn.register("__tv_batch", pa.Table.from_batches([batch]))
                mask = conn.sql(
                    f"SELECT coalesce(({self._condition}), false) AS k FROM __tv_batch"
                ).fetchnumpy()["k"]
            finally:
                conn.close()
            batch = batch.filter(bool_array(np.asarray(mask, dtype=bool)))
        return batch.select(self._out_schema().names)

    def _stream(self) -> Iterator[pa.RecordBatch]:
        """The shard's filtered rows, unit by unit, in order."""
        units = self._units()
        lo, hi = self._range(sum(u.live for u in units))
        at = 0
        for u in units:
            a, b = max(lo, at), min(hi, at + u.live)
            at += u.live
            if a < b:
                yield self._keep(self._read_unit(u, a - (at - u.live), b - (at - u.live)))
            if at >= hi:
                break

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        self.stats = LoaderStats()
        out_schema = self._out_schema()
        rng = None if self.shuffle_seed is None else _rng(
            "rows", self.shuffle_seed, self.epoch, self.shard)
        limit = self.buffer_rows
        held: list[pa.RecordBatch] = []
        count = 0

        def emit(final: bool) -> Iterator[pa.RecordBatch]:
            nonlocal held, count
            table = pa.Table.from_batches(held, schema=out_schema)
            if rng is not None and table.num_rows:
                table = table.take(pa.array(rng.permutation(table.num_rows)))
            keep = 0 if final else max(limit, table.num_rows % self.batch_size)
            n_out = (table.num_rows - keep) // self.batch_size * self.batch_size
            if final:
                n_out = table.num_rows
            for start in range(0, n_out, self.batch_size):
                piece = table.slice(start, min(self.batch_size, n_out - start)).combine_chunks()
                self.stats.rows_yielded += piece.num_rows
                yield _batch(piece, out_schema)
            rest = table.slice(n_out).combine_chunks()
            held = rest.to_batches() if rest.num_rows else []
            count = rest.num_rows

        for batch in self._stream():
            held.append(batch)
            count += batch.num_rows
            self.stats.max_rows_held = max(self.stats.max_rows_held, count)
            if count >= limit + self.batch_size:
                yield from emit(False)
        if count:
            yield from emit(True)

    def __len__(self) -> int:
        """Batches this shard yields when no ``where`` or split filter drops rows."""
        return -(-self.num_rows // self.batch_size)


def make_loader(
    snapshot: Snapshot,
    batch_size: int,
    *,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    shuffle_seed: int | None = None,
    epoch: int = 0,
    shard: tuple[int, int] = (0, 1),
    buffer_size: int | None = None,
    with_row_id: bool = False,
    row_filter: RowFilter | None = None,
    filter_columns: Sequence[str] = (),
) -> BatchLoader:
    return BatchLoader(
        snapshot, batch_size, columns=None if columns is None else list(
            [columns] if isinstance(columns, str) else columns),
        shuffle_seed=shuffle_seed, epoch=epoch, shard=tuple(shard),  # type: ignore[arg-type]
        buffer_size=buffer_size, with_row_id=with_row_id, row_filter=row_filter,
        filter_columns=tuple(filter_columns), where=where,
    )
