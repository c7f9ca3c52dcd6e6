"""Table: the facade over one table (its writes, refs, tags and runs), and create/open.

Why one module: every public method of ``Table`` is here with its docstring and example,
each a few lines that hand over to operations.py, transaction.py or format/refs.py;
split, the facade would be read in pieces.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tablever import operations as ops
from tablever import provenance as prov
from tablever import upstream
from tablever.catalog import Catalog, Run, TagRecord, now_ms
from tablever.errors import (
    CorruptLogError,
    InvalidNameError,
    NameTakenError,
    RefNotFoundError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
)
from tablever.format.commit import check_name, copy_json
from tablever.format.refs import History, Ref, VersionInfo, expired_message, resolve_ref
from tablever.format.state import TableState
from tablever.log import DEFAULT_MAX_RETRIES, Log
from tablever.partitioning import PARTITION_BY, check_partition_by
from tablever.policy import AUTO_SMALL_FILES
from tablever.schema import (
    ROW_ID,
    SchemaMode,
    check_case_clashes,
    check_scan_columns,
    conform,
    to_arrow_table,
)
from tablever.snapshot import Snapshot
from tablever.storage import Storage
from tablever.transaction import (
    Writer,
    create_version_zero,
    json_properties,
    unfinished_version_zero,
)
from tablever.write import Progress

if TYPE_CHECKING:
    from tablever.lineage import Diff

__all__ = ["Table", "create", "open_table"]

def _location(location: str | os.PathLike[str]) -> str:
    loc = os.fspath(location)
    if not loc:
        raise InvalidNameError("empty table location")
    if "\x00" in loc:
        raise InvalidNameError("table location contains a NUL byte")
    return loc


def create(
    location: str | os.PathLike[str],
    schema: Any = None,
    *,
    properties: Mapping[str, Any] | None = None,
    message: str = "create table",
    data: Any = None,
    data_message: str = "initial data",
    fs: Any = None,
    storage_options: Mapping[str, Any] | None = None,
    provenance: bool = True,
    resume: bool = False,
    progress: Progress | None = None,
) -> Table:
    """Create a table (version 0) at ``location``; TableExistsError if there is one.

    ``schema`` is a ``pyarrow.Schema`` or any table-like value whose schema is taken
    (its rows are not added unless passed as ``data``, which is appended as version 1
    with ``data_message``; it is checked against the schema before version 0 is written).
    ``provenance=False`` (accepted by every write) leaves the commit's automatic
    provenance (tablever and Python version, user, host, git commit) empty. ``progress``
    is told of ``data``'s rows as they are written, as for :meth:`Table.append`.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "events"),
        ...               schema=pa.schema([("id", pa.int64()), ("label", pa.string())]))
        >>> t.latest().version, t.name
        (0, 'events')
    """
    loc = _location(location)
    if schema is None and data is None:
        raise SchemaMismatchError("create needs a schema (or data to take it from)")
    if isinstance(schema, pa.Schema):
        # not schema.empty_table(): it imports pandas (~0.3 s)
        arrow_schema = to_arrow_table(pa.Table.from_batches([], schema=schema)).schema
    else:
        arrow_schema = to_arrow_table(schema if schema is not None else data).schema
    if not arrow_schema.names:
        raise SchemaMismatchError("a table needs at least one column")
    if ROW_ID in arrow_schema.names:
        raise SchemaMismatchError(f"column name {ROW_ID!r} is reserved", [ROW_ID])
    dupes = sorted({n for n in arrow_schema.names if arrow_schema.names.count(n) > 1})
    if dupes:
        raise SchemaMismatchError(f"duplicate column names: {', '.join(dupes)}", dupes)
    check_case_clashes(arrow_schema.names)
    check_scan_columns(arrow_schema.names)
    rows = None
    if data is not None:  # checked before version 0 exists, so a mismatch leaves nothing
        rows = conform(to_arrow_table(data), arrow_schema)
    props = json_properties(properties, "table properties")
    from tablever.policy import validate_properties

    validate_properties(props, schema=arrow_schema)
    storage = Storage(loc, fs, storage_options)
    try:
        state = create_version_zero(storage, arrow_schema, properties=props, message=message,
                                    provenance=provenance)
    except TableExistsError:
        if rows is None or not resume:
            raise
        state = unfinished_version_zero(storage, arrow_schema, props)
    table = Table(storage)
    if rows is not None:
        # the rows go on version 0 or nowhere: a second create resuming the same table
        # (or one racing it) must not append them twice
        table._record(ops.append(Writer(storage, table.log, state), rows, message=data_message,
                                 provenance=provenance, base_version=0, progress=progress))
    return table


def open_table(
    location: str | os.PathLike[str], *, fs: Any = None, max_retries: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Table:
    """Open an existing table; TableNotFoundError if there is none at ``location``.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "events")
        >>> _ = tv.create(path, schema=pa.schema([("id", pa.int64())]))
        >>> tv.open(path).latest().version
        0
    """
    storage = Storage(_location(location), fs, storage_options)
    log = Log(storage)
    if not log.exists():
        raise TableNotFoundError(storage.uri)
    return Table(storage, max_retries=max_retries)


class Table:
    """A versioned table. Every write returns the new :class:`Snapshot`."""

    def __init__(self, storage: Storage, *, max_retries: int | None = None) -> None:
        self._storage = storage
        self._log = Log(storage)
        self._catalog = Catalog(storage)
        self._lock = threading.RLock()
        self._state: TableState | None = None
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries

    def __repr__(self) -> str:
        return f"Table({self.location!r})"

    @property
    def location(self) -> str:
        return self._storage.uri

    @property
    def name(self) -> str:
        return self._storage.root.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def log(self) -> Log:
        return self._log

    @property
    def catalog(self) -> Catalog:
        """The table's tags and runs on storage."""
        return self._catalog

    @property
    def properties(self) -> dict[str, Any]:
        return copy_json(self._current().properties)  # a change must not reach a checkpoint

    @property
    def schema(self) -> pa.Schema:
        return self.latest().schema

    # --- state and refs -----------------------------------------------------------

    def _current(self, latest: int | None = None) -> TableState:
        """The latest state, refreshed from storage (cheap when nothing changed); or the
        state of ``latest`` when the caller has just found that to be the newest version
        (not listing a long log twice)."""
        with self._lock:
            known = self._state
            given = latest is not None
            if latest is None:
                latest = self._log.latest_version(known.version if known else None)
            if known is not None and known.version == latest:
                return known
            if given and known is not None and known.version > latest:
                # this handle committed since the caller looked: ``latest`` is an older
                # version now, and the newer state stays the handle's
                return self._log.load_state(latest)[0]
            state, _ = self._log.load_state(latest, base=known)
            self._state = state
            return state

    def _latest_version(self) -> int:
        """The newest version number, found without loading its state."""
        known = self._state
        return self._log.latest_version(known.version if known is not None else None)

    def _state_at(self, version: int) -> TableState:
        # Only the latest version's state is loaded to read the latest: an old version of
        # a long history is rebuilt from its own checkpoint. A torn or corrupt newer
        # commit is reported when it is read, but never hides the versions before it.
        latest = self._latest_version()
        if version == latest:
            return self._current(latest)
        if version > latest:
            raise RefNotFoundError(version, f"no version {version}: the latest is {latest}")
        known = self._state
        if known is not None and known.version == version:
            return known
        gone = self._log.read_expired().get(version)
        if gone is not None:  # even while a checkpoint of it still exists
            raise RefNotFoundError(version, expired_message(
                version, gone.expired_ms, copied_from=gone.copied_from))
        try:
            state, _ = self._log.load_state(version)
        except CorruptLogError as exc:
            if isinstance(exc.__cause__, FileNotFoundError) or not self._log.has_commit(version):
                raise RefNotFoundError(
                    version, f"version {version} is no longer retained (expired): {exc}"
                ) from exc
            raise
        except TableNotFoundError as exc:
            raise RefNotFoundError(
                version, f"version {version} is no longer retained (expired)"
            ) from exc
        return state

    def versions(self) -> list[VersionInfo]:
        """(version, id, timestamp) of every retained version, ascending."""
        return self._log.versions(self._current())

    def _tag_versions(self) -> dict[str, int]:
        return {name: self._catalog.read_tag(name).version for name in self._catalog.tag_names()}

    def _history(self, seen: dict[str, TagRecord]) -> History:
        """The log and tags as the ref resolver asks for them; tag records read go to
        ``seen``."""
        def tag(name: str) -> int | None:
            try:
                check_name(name, "tag name")
                seen[name] = self._catalog.read_tag(name)
            except (InvalidNameError, FileNotFoundError):
                return None
            return seen[name].version

        def expired() -> dict[int, tuple[VersionInfo, str]]:
            return {v: (VersionInfo(e.version, e.id, e.timestamp_ms),
                        expired_message(v, e.expired_ms, copied_from=e.copied_from))
                    for v, e in self._log.read_expired().items()}

        return History(latest=self._latest_version, tag=tag, versions=self.versions,
                       tags=self._tag_versions, expired=expired)

    def as_of(self, ref: Ref = None, *, verify: bool = False) -> Snapshot:
        """The snapshot a ref names: tag, version (negative counts from the latest),
        snapshot-id prefix (>= 6 hex digits), datetime or ISO-8601 time; None = latest.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.schema([("x", pa.int64())]))
            >>> _ = t.append(pa.table({"x": [1]}), message="one")
            >>> _ = t.tag("v1.0")
            >>> _ = t.append(pa.table({"x": [2]}), message="two")
            >>> t.as_of("v1.0").to_arrow().column("x").to_pylist()
            [1]
        """
        if isinstance(ref, Snapshot):
            ref = ref.version
        seen: dict[str, TagRecord] = {}
        version, tag = resolve_ref(ref, self._history(seen))
        rec = seen[tag] if tag is not None else None
        state = self._state_at(version)
        if rec is not None and rec.id != state.id:
            raise CorruptLogError(
                f"tag {rec.name!r} points at version {rec.version} with id {rec.id[:12]}, "
                f"but that version's id is {state.id[:12]}"
            )
        snap = Snapshot(self._storage, state)
        if verify:
            snap.verify()
        return snap

    def latest(self) -> Snapshot:
        return Snapshot(self._storage, self._current())

    def history(self, *, limit: int | None = None) -> list[Snapshot]:
        """Every retained snapshot, newest first."""
        versions = [v.version for v in self.versions()]
        if limit is not None:
            versions = versions[-limit:] if limit > 0 else []
        out: list[Snapshot] = []
        state: TableState | None = None
        for v in versions:
            if state is not None and state.version + 1 == v:
                from tablever.format.state import apply

                state = apply(state, self._log.read_commit(v))
            else:
                state = self._state_at(v)
            out.append(Snapshot(self._storage, state))
        out.reverse()
        return out

    # --- tags and runs ------------------------------------------------------------

    def tag(
        self, name: str, ref: Ref = None, *, message: str = "", force: bool = False
    ) -> Snapshot:
        """Name a version (immutable unless ``force=True``); returns the tagged snapshot."""
        check_name(name, "tag name")
        snap = self.as_of(ref)
        rec = TagRecord(name, snap.version, snap.id, message, now_ms(), prov.author())
        if not self._catalog.write_tag(rec, force=force):
            existing = self._catalog.read_tag(name)
            raise NameTakenError(
                "tag", name, f"tag {name!r} already exists (version {existing.version}); "
                "tags are immutable: force=True (--force) moves it"
            )
        return snap

    def tags(self) -> dict[str, Snapshot]:
        out = {}
        for name in self._catalog.tag_names():
            rec = self._catalog.read_tag(name)
            out[name] = Snapshot(self._storage, self._state_at(rec.version))
        return out

    def tag_records(self) -> list[TagRecord]:
        return [self._catalog.read_tag(n) for n in self._catalog.tag_names()]

    def delete_tag(self, name: str) -> None:
        """Remove a tag (the version stays until expired)."""
        self._catalog.read_tag(name)
        self._catalog.delete_tag(name)

    def link_run(
        self,
        run_id: str,
        ref: Ref = None,
        *,
        model: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        artifact_uri: str | None = None,
        force: bool = False,
    ) -> Run:
        """Record that model run ``run_id`` trained on the snapshot ``ref`` names."""
        check_name(run_id, "run id")
        snap = self.as_of(ref)
        run = Run(
            run_id=run_id,
            version=snap.version,
            snapshot_id=snap.id,
            model=model,
            metrics=dict(metrics or {}),
            params=dict(params or {}),
            artifact_uri=artifact_uri,
            created_ms=now_ms(),
            author=prov.author(),
        )
        if not self._catalog.write_run(run, force=force):
            raise NameTakenError(
                "run", run_id, f"run {run_id!r} is already linked; force=True (--force) "
                "replaces it"
            )
        return run

    def runs(self, ref: Ref = None) -> list[Run]:
        """Linked runs, oldest first; with ``ref``, only the runs of that version."""
        runs = self._catalog.runs()
        if ref is not None:
            version = self.as_of(ref).version
            runs = [r for r in runs if r.version == version]
        return sorted(runs, key=lambda r: (r.created_ms, r.run_id))

    # --- writes: each verb builds actions in operations.py; a Writer commits them ---

    def writer(self) -> Writer:
        """What a write verb needs of this table: its storage, its newest state and a
        commit that retries (``tv.compact`` and the other maintenance steps use it)."""
        return Writer(self._storage, self._log, self._current(), self.max_retries)

    def _record(self, state: TableState) -> Snapshot:
        """Keep ``state`` (just committed, or unchanged) as this handle's newest."""
        with self._lock:
            known = self._state
            if known is None or state.version >= known.version:
                self._state = state
        return Snapshot(self._storage, state)

    def _write(self, verb: Callable[..., TableState], *args: Any, **kwargs: Any) -> Snapshot:
        # No lock held while the verb runs: writers through one handle race for the next
        # version by the put-if-absent, as writers in other processes do, and readers of
        # the handle never wait for a write
        return self._record(verb(self.writer(), *args, **kwargs))

    def append(
        self,
        data: Any,
        *,
        message: str = "",
        properties: Mapping[str, Any] | None = None,
        schema_mode: SchemaMode = "strict",
        allow_empty: bool = False,
        provenance: bool = True,
        inputs: Iterable[Any] | None = None,
        progress: Progress | None = None,
    ) -> Snapshot:
        """Append rows (pyarrow Table/RecordBatch, polars or pandas DataFrame, ...).

        ``schema_mode="merge"`` adds new nullable columns and widens int32->int64 and
        float32->float64; otherwise the data must match the table's schema. A
        ``pyarrow.RecordBatchReader`` is written as it is read, a data file at a time
        (memory bounded by two files' rows; the same files as its rows in one table).

        ``progress(step, done, total)``, if given, is called as the rows are encoded into
        data files: ``step`` is ``"write"``, ``done`` the rows written so far (0 first,
        then at least every 131,072 rows, ``total`` last) and ``total`` the rows of the
        write (0 for a ``RecordBatchReader``). The files are written on several
        threads, so it may be called from any of them, one call at a time, with
        ``done`` never decreasing.

        Returns the append's version. When the table sets ``compact.auto_small_files``
        and the append leaves more small files than that, a compact commit follows it
        (:func:`tablever.maintenance.compaction.auto_compact`; ``latest()`` is then that).

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.table({"c": [0]}))
            >>> seen = []
            >>> s = t.append(pa.table({"c": list(range(300_000))}),
            ...              progress=lambda step, done, total: seen.append(done))
            >>> seen[0], seen[-1], seen == sorted(seen), s.num_rows
            (0, 300000, True, 300000)
        """
        with upstream.given(inputs):
            snap = self._write(ops.append, data, message=message, properties=properties,
                               schema_mode=schema_mode, allow_empty=allow_empty,
                               provenance=provenance, progress=progress)
        if snap.state.properties.get(AUTO_SMALL_FILES):
            from tablever.maintenance.compaction import auto_compact

            auto_compact(self, snap.state)  # its own version, after the append's
        return snap

    def delete(
        self, where: str, *, message: str = "", properties: Mapping[str, Any] | None = None,
        allow_empty: bool = False, provenance: bool = True,
        inputs: Iterable[Any] | None = None,
    ) -> Snapshot:
        """Delete the rows where the SQL predicate ``where`` IS TRUE (NULL rows stay).

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.table({"c": [0.5]}))
            >>> _ = t.append(pa.table({"c": [0.2, 0.9, None]}))
            >>> s = t.delete("c < 0.7", message="drop low confidence")
            >>> s.summary["deleted_rows"], s.num_rows
            (1, 2)
        """
        with upstream.given(inputs):
            return self._write(ops.delete, where, message=message, properties=properties,
                              allow_empty=allow_empty, provenance=provenance)

    def filter(
        self, keep: str, *, message: str = "", properties: Mapping[str, Any] | None = None,
        allow_empty: bool = False, provenance: bool = True,
        inputs: Iterable[Any] | None = None,
    ) -> Snapshot:
        """Keep only the rows where the SQL predicate ``keep`` IS TRUE (NULL rows go)."""
        with upstream.given(inputs):
            return self._write(ops.filter, keep, message=message, properties=properties,
                              allow_empty=allow_empty, provenance=provenance)

    def update(
        self, set: Mapping[str, str], where: str | None = None, *, message: str = "",  # noqa: A002
        properties: Mapping[str, Any] | None = None, allow_empty: bool = False,
        provenance: bool = True,
        inputs: Iterable[Any] | None = None,
    ) -> Snapshot:
        """Set columns to SQL expressions where ``where`` IS TRUE; rows keep ``_row_id``."""
        with upstream.given(inputs):
            return self._write(ops.update, set, where, message=message, properties=properties,
                              allow_empty=allow_empty, provenance=provenance)

    def upsert(
        self, data: Any, on: Sequence[str], *, message: str = "",
        properties: Mapping[str, Any] | None = None, allow_empty: bool = False,
        provenance: bool = True,
        inputs: Iterable[Any] | None = None,
    ) -> Snapshot:
        """Replace rows whose key ``on`` matches ``data`` (keeping ``_row_id``), add others."""
        with upstream.given(inputs):
            return self._write(ops.upsert, data, on, message=message, properties=properties,
                              allow_empty=allow_empty, provenance=provenance)

    def overwrite(
        self, data: Any, *, message: str = "", properties: Mapping[str, Any] | None = None,
        allow_empty: bool = False, provenance: bool = True,
        inputs: Iterable[Any] | None = None, progress: Progress | None = None,
    ) -> Snapshot:
        """Replace all rows with ``data`` (``progress`` as for :meth:`append`)."""
        with upstream.given(inputs):
            return self._write(ops.overwrite, data, message=message, properties=properties,
                               allow_empty=allow_empty, provenance=provenance,
                               progress=progress)

    def restore(
        self, ref: Ref, *, message: str = "", properties: Mapping[str, Any] | None = None,
        provenance: bool = True,
    ) -> Snapshot:
        """A new snapshot with exactly the content of ``ref`` (same fingerprint)."""
        target = self.as_of(ref).state
        return self._write(ops.restore, target, message=message, properties=properties,
                           provenance=provenance)

    def drop(self, *, message: str = "", provenance: bool = True) -> Snapshot:
        """Drop the table: one commit, after which it holds no rows and its warehouse no
        longer lists it. Every earlier version stays readable (``as_of``) until expire
        removes it, and ``restore`` of one brings the table back.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile
            >>> wh = tv.Warehouse(tempfile.mkdtemp())
            >>> t = wh.create("t", data=pa.table({"x": [1, 2]}))
            >>> t.drop().operation, wh.tables(), t.as_of(1).num_rows
            ('drop', [], 2)
            >>> _ = t.restore(1)
            >>> wh.tables()
            ['t']
        """
        return self._write(ops.drop, message=message, provenance=provenance)

    @property
    def dropped(self) -> int | None:
        """The version that dropped the table, or None if it is not dropped."""
        value = self.latest().state.properties.get(ops.DROPPED)
        return None if value is None else int(value)

    def set_properties(
        self, properties: Mapping[str, Any], *, message: str = "", provenance: bool = True
    ) -> Snapshot:
        """Set table properties (``checkpoint_interval``, ``retention.*``,
        ``partition_by``, ...); a malformed value is an :class:`InvalidNameError` and
        changes nothing. ``partition_by`` applies to the data files written from then on.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"),
            ...               schema=pa.schema([("x", pa.int64()), ("label", pa.string())]))
            >>> _ = t.set_properties({"partition_by": "label"})
            >>> s = t.append(pa.table({"x": [1, 2, 3], "label": ["a", "b", "a"]}))
            >>> sorted(f.stats["label"]["min"] + f.stats["label"]["max"] for f in s.data_files)
            ['aa', 'bb']
        """
        if isinstance(properties, Mapping) and PARTITION_BY in properties:
            # Checked against the schema here; the operation checks the form of the rest.
            check_partition_by(properties[PARTITION_BY], self.schema)
        return self._write(ops.set_properties, properties, message=message, provenance=provenance)

    def add_column(
        self,
        name: str,
        dtype: pa.DataType,
        *,
        nullable: bool = True,
        message: str = "",
        provenance: bool = True,
    ) -> Snapshot:
        """Add column ``name`` of type ``dtype`` at the end of the schema, as one commit
        that rewrites no file: the rows already in the table read it as NULL, older
        versions read without it. A name already taken (in any case), a reserved name
        or ``nullable=False`` on a table with rows is a :class:`SchemaMismatchError`
        and changes nothing.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), data=pa.table({"x": [1]}))
            >>> s = t.add_column("note", pa.string())
            >>> t.as_of(s.version).to_arrow().to_pylist(), t.as_of(0).schema.names
            ([{'x': 1, 'note': None}], ['x'])
        """
        return self._write(ops.add_column, name, dtype, nullable=nullable, message=message,
                           provenance=provenance)

    def alter_column(
        self, name: str, dtype: pa.DataType, *, message: str = "", provenance: bool = True
    ) -> Snapshot:
        """Widen column ``name`` to ``dtype`` as one commit that rewrites no file: signed
        integers to wider signed integers, floats to wider floats (integers to floats are
        refused: int64 -> float64 loses digits). Older versions read with their own type.
        An unknown column or a narrowing or other change is a :class:`SchemaMismatchError`
        and changes nothing; the type the column already has commits nothing.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"),
            ...               data=pa.table({"x": pa.array([1], pa.int32())}))
            >>> s = t.alter_column("x", pa.int64())
            >>> s.to_arrow().schema.field("x").type, t.as_of(s.version - 1).schema.field("x").type
            (DataType(int64), DataType(int32))
        """
        return self._write(ops.alter_column, name, dtype, message=message,
                           provenance=provenance)

    def rename_column(
        self, old: str, new: str, *, message: str = "", provenance: bool = True
    ) -> Snapshot:
        """Rename column ``old`` to ``new`` as one commit that rewrites no file: rows
        written before read under the new name, older versions keep the old one. A
        format-1 table is upgraded to format 2 (column field ids, docs/format.md) by
        the same commit. An unknown column (:class:`ColumnNotFoundError`), ``_row_id``,
        a name taken (in any case) or reserved, or an invalid name changes nothing.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), data=pa.table({"x": [1]}))
            >>> s = t.rename_column("x", "y")
            >>> s.to_arrow().to_pylist(), t.as_of(s.version - 1).schema.names
            ([{'y': 1}], ['x'])
        """
        return self._write(ops.rename_column, old, new, message=message,
                           provenance=provenance)

    def drop_column(self, name: str, *, message: str = "", provenance: bool = True) -> Snapshot:
        """Drop column ``name`` as one commit that rewrites no file: older versions still
        read it; a column added later under the same name is a new column, NULL in the
        rows written before. Upgrades a format-1 table to format 2 in the same commit.
        An unknown column (:class:`ColumnNotFoundError`), ``_row_id``, the last column or
        a partition column (:class:`ColumnInUseError`) changes nothing.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"),
            ...               data=pa.table({"x": [1], "y": ["a"]}))
            >>> s = t.drop_column("y")
            >>> s.schema.names, t.as_of(s.version - 1).to_arrow().to_pylist()
            (['x'], [{'x': 1, 'y': 'a'}])
        """
        return self._write(ops.drop_column, name, message=message, provenance=provenance)

    def upgrade_format(self, *, message: str = "", provenance: bool = True) -> Snapshot:
        """Upgrade the table to format 2 (column field ids, docs/format.md) as one commit
        that rewrites no file; a format-2 table commits nothing. Readers older than
        format 2 then refuse the table's new versions. ``rename_column`` and
        ``drop_column`` upgrade a format-1 table themselves.

        Example:
            >>> import pyarrow as pa, tablever as tv, tempfile, os
            >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), data=pa.table({"x": [1]}))
            >>> t.latest().format, t.upgrade_format().format
            (1, 2)
        """
        return self._write(ops.upgrade_format, message=message, provenance=provenance)

    def diff(self, a: Ref, b: Ref = None, *, on: Sequence[str] | None = None) -> Diff:
        """What changed from ``a`` to ``b`` (computed from row ids and deletion vectors)."""
        from tablever.lineage import diff

        return diff(self.as_of(a), self.as_of(b), on=on)

    def changes(self, a: Ref, b: Ref = None) -> pa.Table:
        """Change feed from ``a`` (exclusive) to ``b``: rows with ``_row_id``,
        ``_change`` ('insert' | 'delete') and ``_version``."""
        from tablever.lineage import changes

        return changes(self, self.as_of(a).version, self.as_of(b).version)

    def sql(self, query: str) -> pa.Table:
        """Run a read-only query where this table's latest snapshot is named ``t``
        (and by its own name); any reference may carry ``VERSION AS OF``."""
        from tablever.query.sandbox import query_table

        return query_table(self, query)

