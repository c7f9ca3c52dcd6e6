"""A scan plan any engine can run: the files of one version, each with its deletes.

:meth:`tablever.snapshot.Snapshot.plan` lists, for each live data file of a version, what
an engine needs to read it without tablever: its absolute location (a local path, or an
``s3://`` URI for a table on S3), its size and row count, its row ids, the positions its
deletion vector removes (loaded and checked, and where the vector itself is), and the
min/max statistics that pruning used, as Iceberg's ``plan_files`` does. A ``where``
predicate only prunes files whose statistics rule it out; the rows of the plan are a
superset of the matching rows and the engine still applies the predicate.

Reading a task: open its Parquet file, keep the columns of :attr:`ScanPlan.columns`
that the file holds (:attr:`FileTask.columns`; the others are NULL in this file: they
were added to the schema later, or re-added after a drop), each read from the file's
column :attr:`FileTask.sources` names (a column renamed since the file was written is
stored under its old name; format 2 files also carry each column's field id,
``PARQUET:field_id``), drop the rows at :attr:`FileTask.deleted`, and cast to
:attr:`ScanPlan.schema` (older files may hold narrower integer or float types). The
physical ``_row_id`` column some files carry is not a table column. docs/api.md shows a
parallel read with Dask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from tablever.deletes import load_positions
from tablever.format.fieldids import file_columns, has_ids, table_stats

if TYPE_CHECKING:
    from tablever.snapshot import Snapshot

__all__ = ["FileTask", "ScanPlan", "plan_scan"]


@dataclass(frozen=True, slots=True)
class FileTask:
    """One live data file of a version, as an engine reads it.

    Attributes:
        location: the file's absolute location (a local path, or ``s3://bucket/key``).
        path: the same file relative to the table root.
        sha256: the SHA-256 of the file's bytes (its name).
        size: bytes of the file.
        rows: rows stored in the file, deleted ones included.
        live_rows: rows left once the deleted positions are dropped.
        first_row_id: the row id of position 0 (row ids are ``first_row_id +
            position``), or None when the file carries a physical ``_row_id`` column.
        columns: the table columns the file holds (the others read as NULL).
        sources: for each of ``columns``, the name of the file's column holding it (the
            same name unless the column was renamed after the file was written).
        deleted: the deleted positions (sorted, unique int64, read-only), or None.
        delete_location: the deletion vector's absolute location, or None: a Parquet
            file with one int64 column ``pos`` holding the same positions.
        stats: per column ``{"nulls", "min", "max"}`` as the log records them (min and
            max only when exact): the bounds pruning used, under the version's column
            names.
    """

    location: str
    path: str
    sha256: str
    size: int
    rows: int
    live_rows: int
    first_row_id: int | None
    columns: tuple[str, ...]
    deleted: np.ndarray | None = field(default=None, compare=False, repr=False)
    delete_location: str | None = None
    stats: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False,
                                                   repr=False)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def keep(self) -> np.ndarray:
        """A boolean mask over the file's rows: False at the deleted positions.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "k"), schema=pa.table({"x": [1]}))
            >>> _ = t.append(pa.table({"x": [1, 2, 3]}))
            >>> t.delete("x = 2").plan().tasks[0].keep().tolist()
            [True, False, True]
        """
        mask = np.ones(self.rows, dtype=bool)
        if self.deleted is not None:
            mask[self.deleted] = False
        return mask


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """The file tasks of one version (``Snapshot.plan``), in the version's row order.

    Attributes:
        table: the table's location.
        version: the version planned.
        snapshot_id: that version's snapshot id.
        schema: the schema of the rows to produce (the chosen columns, in order).
        where: the predicate the engine must still apply (None: every row).
        tasks: the files to read, in order.
        files_pruned: live files left out because their statistics rule ``where`` out.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "p"), schema=pa.table({"x": [1]}))
        >>> _ = t.append(pa.table({"x": [1, 2, 3]}))
        >>> _ = t.append(pa.table({"x": [10, 20]}))
        >>> plan = t.latest().plan(where="x >= 10")
        >>> [task.rows for task in plan.tasks], plan.files_pruned
        ([2], 1)
        >>> plan.tasks[0].location.startswith(t.location)
        True
    """

    table: str
    version: int
    snapshot_id: str
    schema: pa.Schema
    where: str | None
    tasks: tuple[FileTask, ...]
    files_pruned: int = 0

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    @property
    def rows(self) -> int:
        """Live rows in the planned files (all of them match when ``where`` is None)."""
        return sum(t.live_rows for t in self.tasks)

    @property
    def bytes(self) -> int:
        return sum(t.size for t in self.tasks)


def plan_scan(snap: Snapshot, columns: Sequence[str] | None, where: str | None) -> ScanPlan:
    """The plan of ``snap`` (``columns`` already checked against its schema)."""
    files = snap.data_files
    chosen = files
    if where is not None:
        from tablever.query.engine import check_expressions
        from tablever.query.predicate import parse_expression, prune

        tree = parse_expression(where, snap.schema.names)
        check_expressions(snap.schema, tree.sql(dialect="duckdb"), where)
        chosen = prune(tree, files, snap.schema, stored=snap.state.schema)
    storage = snap.storage
    state = snap.state
    with_dv = [(f, state.deletes[f.key]) for f in chosen if f.key in state.deletes]
    arrays = storage.fetch_all(lambda fd: load_positions(storage, fd[1], fd[0].rows), with_dv)
    loaded = {f.key: a for (f, _), a in zip(with_dv, arrays, strict=True)}
    tasks = []
    for f in chosen:
        dv = state.deletes.get(f.key)
        held = {c: src for c, src in file_columns(f, state.schema).items() if src is not None}
        tasks.append(FileTask(
            location=storage.location_of(f.path),
            path=f.path,
            sha256=f.sha256,
            size=f.bytes,
            rows=f.rows,
            live_rows=state.live_rows(f.key),
            first_row_id=f.first_row_id,
            columns=tuple(held),
            deleted=loaded.get(f.key),
            delete_location=None if dv is None else storage.location_of(dv.path),
            stats=table_stats(f, state.schema) if has_ids(state.schema) else f.stats,
            sources=held,
        ))
    names = list(columns) if columns is not None else list(snap.schema.names)
    return ScanPlan(
        table=snap.location,
        version=snap.version,
        snapshot_id=snap.id,
        schema=pa.schema([snap.schema.field(c) for c in names]),
        where=where,
        tasks=tuple(tasks),
        files_pruned=len(files) - len(chosen),
    )
