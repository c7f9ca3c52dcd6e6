"""Streaming a version for training: ``Snapshot.to_batches``.

The version is cut into tasks, one per Parquet row group of its files. An epoch orders
the tasks by a seeded shuffle (or in snapshot order without a seed), gives shard
``rank`` of ``world_size`` every ``world_size``-th task, and streams each task's live
rows (deletion vectors applied, ``where`` kept) through a bounded shuffle buffer. So:

- memory holds one row group plus the buffer (``buffer_rows``, default 16 batches),
  never the version;
- the same seed, epoch and shard give the same batches in the same order; another seed
  or epoch another order;
- the shards of one epoch are disjoint and together hold every live row exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tablever.errors import InvalidValueError
from tablever.schema import ROW_ID

if TYPE_CHECKING:
    from tablever.readplan import FileRead
    from tablever.snapshot import Snapshot

__all__ = ["Task", "batches", "tasks"]


@dataclass(frozen=True, slots=True)
class Task:
    """One row group of one data file: rows ``start`` to ``start + rows`` of it."""

    file: int  # index into the read plan's files
    group: int
    start: int
    rows: int


def tasks(snapshot: Snapshot) -> tuple[list[Task], list[FileRead]]:
    """The row-group tasks of ``snapshot``, in snapshot order (reads Parquet footers)."""
    plan = snapshot.read_plan()
    out = []
    for i, f in enumerate(plan.files):
        meta = pq.ParquetFile(f.path).metadata
        start = 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            out.append(Task(i, g, start, n))
            start += n
    return out, list(plan.files)


def _rng(seed: int, epoch: int, rank: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, rank, salt])


def batches(
    snapshot: Snapshot,
    batch_size: int,
    *,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    shuffle_seed: int | None = None,
    epoch: int = 0,
    shard: tuple[int, int] = (0, 1),
    with_row_id: bool = False,
    buffer_rows: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """See :meth:`tablever.snapshot.Snapshot.to_batches`."""
    from tablever.readers import conform_columns

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidValueError(f"batch_size must be a positive integer, not {batch_size!r}")
    rank, world = shard
    if not (isinstance(world, int) and world >= 1 and isinstance(rank, int)
            and 0 <= rank < world):
        raise InvalidValueError(f"shard must be (rank, world_size) with 0 <= rank < "
                                f"world_size, not {shard!r}")
    schema = snapshot.schema
    cols = list(columns) if columns is not None else list(schema.names)
    unknown = [c for c in cols if c not in schema.names]
    if unknown:
        raise InvalidValueError(f"no column {unknown[0]!r}; columns: {', '.join(schema.names)}")
    if where is not None:
        snapshot.to_arrow(where=where, columns=cols[:1])  # checks the predicate up front
    read_cols = list(schema.names) if where is not None else cols  # where may name others
    fields = [schema.field(c) for c in read_cols]
    out_schema = pa.schema(fields)
    if with_row_id:
        out_schema = out_schema.append(pa.field(ROW_ID, pa.int64(), nullable=False))
    todo, files = tasks(snapshot)
    if shuffle_seed is not None:
        order = _rng(shuffle_seed, epoch, 0, 1).permutation(len(todo))
        todo = [todo[i] for i in order]
    mine = todo[rank::world]
    buffer_cap = buffer_rows if buffer_rows is not None else 16 * batch_size
    rng = _rng(shuffle_seed, epoch, rank, 2) if shuffle_seed is not None else None
    buffer: list[pa.Table] = []
    held = 0

    def rows_of(task: Task) -> pa.Table:
        f = files[task.file]
        wanted = [c for c in read_cols if c in f.columns]
        if f.first_row_id is None and ROW_ID not in wanted:
            wanted.append(ROW_ID)
        raw = pq.ParquetFile(f.path).read_row_group(task.group, columns=wanted)
        parts = conform_columns(raw, fields)
        arrays = list(parts)
        if with_row_id:
            if f.first_row_id is not None:
                first = f.first_row_id + task.start
                arrays.append(pa.array(np.arange(first, first + task.rows, dtype=np.int64)))
            else:
                arrays.append(raw.column(ROW_ID).cast(pa.int64()))
        out = pa.Table.from_arrays(arrays, schema=out_schema)
        if f.deleted is not None and len(f.deleted):
            lo, hi = np.searchsorted(f.deleted, [task.start, task.start + task.rows])
            if hi > lo:
                keep = np.ones(task.rows, dtype=bool)
                keep[f.deleted[lo:hi] - task.start] = False
                out = out.filter(pa.array(keep))
        if where is not None:
            if out.num_rows:
                out = _keep(out, where)
            out = out.select(cols + ([ROW_ID] if with_row_id else []))
        return out

    def drain(final: bool) -> Iterator[pa.RecordBatch]:
        nonlocal buffer, held
        if not buffer:
            return
        pool = pa.concat_tables(buffer)
        if rng is not None:
            pool = pool.take(pa.array(rng.permutation(pool.num_rows)))
        full = pool.num_rows // batch_size * batch_size
        # keep a remainder back for the next group unless this is the end
        cut = pool.num_rows if final else full
        for start in range(0, cut, batch_size):
            chunk = pool.slice(start, min(batch_size, cut - start)).combine_chunks()
            yield from chunk.to_batches(max_chunksize=batch_size)
        rest = pool.slice(cut)
        buffer, held = ([rest], rest.num_rows) if rest.num_rows else ([], 0)

    for task in mine:
        part = rows_of(task)
        if part.num_rows:
            buffer.append(part)
            held += part.num_rows
        if held >= buffer_cap:
            yield from drain(final=False)
    yield from drain(final=True)


def _keep(rows: pa.Table, where: str) -> pa.Table:
    """The rows where the SQL predicate ``where`` IS TRUE (DuckDB evaluates it; the
    rows keep their own types)."""
    import pyarrow.compute as pc

    from tablever.query.engine import default_connection, fetch_arrow

    conn = default_connection().cursor()
    try:
        conn.register("__tv_batch", rows)
        mask = fetch_arrow(conn.sql(f"SELECT ({where}) IS TRUE AS k FROM __tv_batch"))
    finally:
        conn.close()
    return rows.filter(pc.fill_null(mask.column("k"), False))
