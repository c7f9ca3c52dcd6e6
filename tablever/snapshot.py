"""Snapshot: a read-only view of one version of a table."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tablever.deletes import load_positions
from tablever.errors import (
    CorruptLogError,
    IntegrityError,
    InvalidPredicateError,
    SchemaMismatchError,
)
from tablever.format.checkpoint import FileList
from tablever.format.commit import DataFile, DeleteVector, copy_json
from tablever.format.state import TableState
from tablever.integrity import check_hash, ensure_verified
from tablever.schema import schema_from_dict
from tablever.storage import Storage
from tablever.upstream import INPUTS_KEY, Input, note_read

if TYPE_CHECKING:
    import duckdb
    import pandas
    import polars

    from tablever.loaders import BatchLoader
    from tablever.readplan import ReadPlan
    from tablever.scanplan import ScanPlan
    from tablever.splits import Splits

__all__ = ["Snapshot"]

class Snapshot:
    """One immutable version of a table. Obtain it from ``Table.as_of`` / ``latest``.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "events"),
        ...               schema=pa.schema([("id", pa.int64())]))
        >>> s = t.append(pa.table({"id": [1, 2, 3]}), message="first rows")
        >>> s.version, s.num_rows, s.operation
        (1, 3, 'append')
        >>> s.to_arrow(where="id > 1").column("id").to_pylist()
        [2, 3]
    """

    __slots__ = ("_state", "_storage", "_location", "_schema", "_content_hash")

    def __init__(self, storage: Storage, state: TableState) -> None:
        self._storage = storage
        self._state = state
        self._location = storage.uri
        self._schema: pa.Schema | None = None
        self._content_hash: str | None = None

    # --- metadata -----------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"Snapshot(version={self.version}, id={self.id[:12]!r}, "
            f"operation={self.operation!r}, rows={self.num_rows})"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Snapshot)
            and other._location == self._location
            and other.id == self.id
        )

    def __hash__(self) -> int:
        return hash((self._location, self.id))

    @property
    def storage(self) -> Storage:
        """Where the snapshot's files are (the table's storage)."""
        return self._storage

    @property
    def location(self) -> str:
        return self._location

    @property
    def version(self) -> int:
        return self._state.version

    @property
    def id(self) -> str:
        return self._state.id

    @property
    def short_id(self) -> str:
        return self._state.id[:12]

    @property
    def parent_id(self) -> str | None:
        return self._state.commit.parent_id

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self._state.commit.timestamp_ms / 1000, tz=timezone.utc)

    @property
    def timestamp_ms(self) -> int:
        return self._state.commit.timestamp_ms

    @property
    def operation(self) -> str:
        return self._state.commit.operation

    @property
    def message(self) -> str:
        return self._state.commit.message

    @property
    def author(self) -> str:
        return self._state.commit.author

    @property
    def properties(self) -> dict[str, Any]:
        return copy_json(self._state.commit.properties)  # dict(...) left nested ones shared

    @property
    def provenance(self) -> dict[str, Any]:
        return copy_json(self._state.commit.provenance)

    @property
    def inputs(self) -> list[Input]:
        """The table versions this one was derived from, as its commit recorded them
        (``inputs=`` on a write, or :func:`tablever.lineage.capture`)."""
        return [Input.from_dict(d) for d in self._state.commit.provenance.get(INPUTS_KEY, ())]

    @property
    def summary(self) -> dict[str, Any]:
        return copy_json(self._state.commit.summary)

    @property
    def format(self) -> int:
        """The table format of this version: 1, or 2 once the table has column field
        ids (docs/format.md)."""
        return self._state.format

    @property
    def num_rows(self) -> int:
        return self._state.num_rows

    @property
    def schema(self) -> pa.Schema:
        if self._schema is None:
            try:
                self._schema = schema_from_dict(self._state.schema)
            except (KeyError, TypeError, ValueError) as exc:
                raise CorruptLogError(f"version {self.version}: unreadable schema: {exc}") from exc
        return self._schema

    @property
    def fingerprint(self) -> str:
        return self._state.fingerprint

    @property
    def content_hash(self) -> str:
        """A digest of the snapshot's rows that ignores how they are laid out in files.

        Equal for two snapshots holding the same rows (``_row_id`` aside) under the same
        column names and types: the same data loaded twice in different batches, before
        and after compaction, a restore. Built from per-file sums stored at write time,
        minus the rows of deletion vectors (only those rows are read). Not a defence
        against a deliberate collision: ``fingerprint`` + ``verify`` is the tamper-evident
        identity. See docs/reproducibility.md.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> root = tempfile.mkdtemp()
            >>> a = tv.create(os.path.join(root, "a"), schema=pa.schema([("x", pa.int64())]))
            >>> b = tv.create(os.path.join(root, "b"), schema=pa.schema([("x", pa.int64())]))
            >>> _ = a.append(pa.table({"x": [1, 2, 3]}))
            >>> _ = b.append(pa.table({"x": [3]})); _ = b.append(pa.table({"x": [2, 1]}))
            >>> a.latest().content_hash == b.latest().content_hash
            True
            >>> a.latest().fingerprint == b.latest().fingerprint
            False
        """
        if self._content_hash is None:
            from tablever.content_hash import digest, snapshot_sum

            total = snapshot_sum(
                self._storage, self._state, lambda dv, rows: load_positions(self._storage, dv, rows)
            )
            self._content_hash = digest(self.num_rows, total, self.schema)
        return self._content_hash

    @property
    def files(self) -> list[str]:
        """Relative paths of the live data files, in the order they were added."""
        return [path for path, _ in self._state.files]  # keys: no entry is built

    @property
    def data_files(self) -> Sequence[DataFile]:
        """The live data files, in order (a sequence that builds entries as they are
        read: a point lookup prunes on statistics without building every one)."""
        return FileList(self._state.files)

    @property
    def deletion_vectors(self) -> list[DeleteVector]:
        return list(self._state.deletes.values())

    @property
    def state(self) -> TableState:
        return self._state

    # --- reading ------------------------------------------------------------------

    def _check_columns(self, columns: Sequence[str] | None) -> list[str] | None:
        if columns is None:
            return None
        if isinstance(columns, str):
            columns = [columns]
        names = self.schema.names
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise SchemaMismatchError(
                f"unknown column(s) {', '.join(unknown)}; columns are: {', '.join(names)}",
                unknown,
            )
        repeated = sorted({c for c in columns if list(columns).count(c) > 1})
        if repeated:  # a user's mistake, not a damaged file
            raise SchemaMismatchError(f"column(s) asked for twice: {', '.join(repeated)}", repeated)
        return list(columns)


    def check_columns(self, columns: Sequence[str] | None) -> list[str] | None:
        """``columns`` as a list, or SchemaMismatchError naming unknown or repeated ones."""
        return self._check_columns(columns)

    def plan(self, columns: Sequence[str] | None = None, where: str | None = None) -> ScanPlan:
        """The file tasks of this version, for an engine that reads the files itself.

        Each :class:`~tablever.scanplan.FileTask` gives a data file's absolute location
        (a local path, or an ``s3://`` URI), size, row count, row ids, the positions its
        deletion vector removes and the statistics pruning used. ``columns`` sets the
        plan's schema; ``where`` (DuckDB SQL) leaves out the files whose min/max
        statistics show no row can match; the engine still applies it to the rows.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.table({"x": [1]}))
            >>> _ = t.append(pa.table({"x": [1, 2, 3]}))
            >>> plan = t.delete("x = 2").plan()
            >>> [(task.rows, task.live_rows, task.deleted.tolist()) for task in plan.tasks]
            [(3, 2, [1])]
        """
        from tablever.scanplan import plan_scan

        note_read(self)
        return plan_scan(self, self._check_columns(columns), where)

    def read_plan(self, files: Sequence[DataFile] | None = None) -> ReadPlan:
        """The files (with deletion vectors loaded) a reader must scan."""
        from tablever.format.fieldids import renames
        from tablever.readplan import FileRead, ReadPlan

        chosen = self.data_files if files is None else files
        paths = ensure_verified(self._storage, chosen)
        vectors = [(f, self._state.deletes.get(f.key)) for f in chosen]
        with_dv = [(f, dv) for f, dv in vectors if dv is not None]
        arrays = self._storage.fetch_all(
            lambda fd: load_positions(self._storage, fd[1], fd[0].rows), with_dv)
        loaded = {f.key: a for (f, _), a in zip(with_dv, arrays, strict=True)}
        reads = [
            FileRead(
                path=path,
                rows=f.rows,
                first_row_id=f.first_row_id,
                columns=tuple(f.stats),
                deleted=None if dv is None else loaded[f.key],
                renames=renames(f, self._state.schema),
            )
            for (f, dv), path in zip(vectors, paths, strict=True)
        ]
        ident = hashlib.sha256()
        for f in chosen:
            dv = self._state.deletes.get(f.key)
            ident.update(f"{f.path}:{f.first_row_id}:{dv.sha256 if dv else ''}\n".encode())
        return ReadPlan(key=ident.hexdigest(), schema=self.schema, files=tuple(reads))

    def to_arrow(
        self,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        *,
        with_row_id: bool = False,
    ) -> pa.Table:
        """The snapshot's rows as a pyarrow Table.

        ``columns`` projects; ``where`` is a SQL predicate (DuckDB dialect) keeping rows
        where it IS TRUE, with per-file min/max pruning; ``with_row_id`` adds ``_row_id``.
        """
        note_read(self)
        cols = self._check_columns(columns)
        if where is not None:
            return self._read_where(cols, where, with_row_id)
        return self._read_arrow(self.data_files, cols, with_row_id)

    def _read_arrow(
        self, files: Sequence[DataFile], cols: list[str] | None, with_row_id: bool
    ) -> pa.Table:
        from tablever.readers import read_arrow

        return read_arrow(self, files, cols, with_row_id)






    def _read_where(self, cols: list[str] | None, where: str, with_row_id: bool) -> pa.Table:
        from tablever.query.reads import read_where

        return read_where(self, cols, where, with_row_id)

    def head(self, n: int = 10, columns: Sequence[str] | None = None) -> pa.Table:
        """The first ``n`` rows in snapshot order, reading only the files needed."""
        note_read(self)
        cols = self._check_columns(columns)
        if n < 0:
            raise InvalidPredicateError(f"head needs n >= 0, got {n}")
        chosen: list[DataFile] = []
        live = 0
        for f in self.data_files:
            if live >= n:
                break
            chosen.append(f)
            live += self._state.live_rows(f.key)
        return self._read_arrow(chosen, cols, False).slice(0, n)

    def to_polars(
        self,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        *,
        with_row_id: bool = False,
    ) -> polars.DataFrame:
        note_read(self)
        import polars as pl

        out = pl.from_arrow(self.to_arrow(columns, where, with_row_id=with_row_id))
        assert isinstance(out, pl.DataFrame)
        return out

    def to_pandas(
        self,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        *,
        with_row_id: bool = False,
    ) -> pandas.DataFrame:
        note_read(self)
        return self.to_arrow(columns, where, with_row_id=with_row_id).to_pandas()

    def lazy(self, *, with_row_id: bool = False) -> polars.LazyFrame:
        """A polars LazyFrame over the snapshot's files, deletion vectors applied."""
        note_read(self)
        from tablever.lazyframe import lazy_frame

        return lazy_frame(self, with_row_id=with_row_id)

    def relation(
        self,
        conn: duckdb.DuckDBPyConnection | None = None,
        *,
        columns: Sequence[str] | None = None,
        with_row_id: bool = False,
    ) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation over the snapshot (deletion vectors applied)."""
        note_read(self)
        from tablever.query.engine import default_connection, plan_sql

        cols = self._check_columns(columns)
        conn = conn or default_connection()
        return conn.sql(plan_sql(self.read_plan(), conn, columns=cols, with_row_id=with_row_id))

    def to_batches(
        self,
        batch_size: int,
        *,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        shuffle_seed: int | None = None,
        epoch: int = 0,
        shard: tuple[int, int] = (0, 1),
        buffer_size: int | None = None,
        with_row_id: bool = False,
    ) -> BatchLoader:
        """Stream the rows in ``pyarrow.RecordBatch``es of ``batch_size`` rows (the last
        may be shorter), in bounded memory: row group by row group, one file open at a
        time. ``shuffle_seed`` shuffles row groups and rows (within ``buffer_size`` rows)
        deterministically for each ``epoch``; ``shard=(rank, world_size)`` keeps one
        part of the rows, the parts together holding each row exactly once. See
        docs/ml.md and :class:`tablever.loaders.BatchLoader`.
        """
        from tablever.loaders import make_loader

        note_read(self)
        return make_loader(
            self, batch_size, columns=columns, where=where, shuffle_seed=shuffle_seed,
            epoch=epoch, shard=shard, buffer_size=buffer_size, with_row_id=with_row_id,
        )

    def to_hf(self, columns: Sequence[str] | None = None, *, streaming: bool = False) -> Any:
        """A Hugging Face ``datasets.Dataset`` of the rows (``IterableDataset`` when
        ``streaming``); see :func:`tablever.hf.to_hf` (``pip install 'tablever[hf]'``)."""
        from tablever.hf import to_hf

        note_read(self)
        return to_hf(self, columns=columns, streaming=streaming)

    def split(
        self,
        fractions: Mapping[str, float],
        *,
        seed: int = 42,
        key: str | Sequence[str] | None = None,
        stratify: str | None = None,
        tolerance: float = 0.05,
        min_stratum_rows: int = 1000,
    ) -> Splits:
        """Stable named splits: each row goes where a hash of its key (``_row_id`` when
        ``key`` is None) and ``seed`` sends it, so a row stays in its split in every
        later version. A mapping of name to :class:`tablever.splits.SplitView`. See
        :func:`tablever.splits.split` and docs/ml.md.
        """
        from tablever.splits import split

        note_read(self)
        return split(self, fractions, seed=seed, key=key, stratify=stratify,
                     tolerance=tolerance, min_stratum_rows=min_stratum_rows)

    def sql(self, query: str) -> pa.Table:
        """Run a read-only SQL query (DuckDB dialect) where the snapshot is named ``t``.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.table({"x": [1, 2]}))
            >>> t.append(pa.table({"x": [1, 2, 2]})).sql("SELECT count(*) AS n FROM t").to_pylist()
            [{'n': 3}]
        """
        note_read(self)
        from tablever.query.sandbox import query_snapshots

        return query_snapshots(query, {"t": self})

    def lock(self, path: str | os.PathLike[str]) -> str:
        """Write a lock file pinning this snapshot (table, version, id, fingerprint, rows,
        schema hash); ``tv.from_lock(path)`` reopens exactly it or raises IntegrityError."""
        from tablever.lockfile import write_lock

        return write_lock(self, path)

    def verify(self) -> None:
        """Re-hash every file of the snapshot; IntegrityError names each bad file."""
        problems = []
        for f in self.data_files:
            problems += check_hash(self._storage, f.path, f.sha256)
        for dv in self.deletion_vectors:
            problems += check_hash(self._storage, dv.path, dv.sha256)
        if problems:
            raise IntegrityError(
                f"version {self.version} failed verification: " + "; ".join(problems)
            )










