"""The write verbs: append, delete, filter, update, upsert, overwrite, restore, set-properties.

Each builds :class:`~tablever.format.commit.Actions` for the newest state and hands them
to a :class:`~tablever.transaction.Writer`, which commits and retries them; each returns
the new state. Deletes are merge-on-read: a deletion vector per data file,
replaced by the union when the same file loses more rows; no data file is rewritten.

Why one module: the verbs share the row-matching and deletion-vector helpers and the
rebasing rule; one file shows that every verb builds actions the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tablever.arrays import empty_table, int64_numpy
from tablever.deletes import load_positions
from tablever.errors import (
    ColumnInUseError,
    ColumnNotFoundError,
    CommitConflictError,
    DuplicateKeyError,
    InvalidNameError,
    InvalidPredicateError,
    InvalidValueError,
    SchemaMismatchError,
    TableNotFoundError,
    TableverError,
)
from tablever.format.checkpoint import FileList
from tablever.format.commit import Actions, Commit, DataFile, DeleteVector, FileKey
from tablever.format.fieldids import (
    carry_ids,
    dropped,
    has_ids,
    ids_by_name,
    legacy_ids,
    renamed,
    upgraded,
)
from tablever.format.state import TableState, touched_keys
from tablever.integrity import diagnose
from tablever.partitioning import partition_columns, write_partitioned
from tablever.schema import (
    ROW_ID,
    SchemaMode,
    conform,
    merge_schemas,
    schema_from_dict,
    schema_to_dict,
    to_arrow_table,
)
from tablever.snapshot import Snapshot
from tablever.storage import Storage
from tablever.transaction import Writer, json_properties
from tablever.write import (
    Progress,
    RowProgress,
    codec,
    sorted_unique,
    with_field_ids,
    write_positions,
    write_stream,
)

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = ["DROPPED", "add_files", "append", "delete", "drop", "drop_column", "filter", "merge",
           "overwrite", "rename_column", "renumber", "replace_files", "restore",
           "set_properties", "update", "upgrade_format", "upsert"]

DROPPED = "dropped"  # the table property a drop sets (its value: the version dropped at)


def renumber(files: Sequence[DataFile], start: int) -> list[DataFile]:
    """``files`` (written with placeholder row ids) given consecutive row-id ranges from
    ``start``, in order: appended rows get their ids when the commit's base is known."""
    out = []
    for f in files:
        out.append(replace(f, first_row_id=start))
        start += f.rows
    return out


def write_ids(schema: pa.Schema, base: Mapping[str, Any]) -> dict[str, int] | None:
    """The field ids files of ``schema`` (a write's columns) carry when committed on
    a version of schema ``base``: the ids of ``base``'s columns by name, and the ids new
    columns will get; None for a format-1 table."""
    if not has_ids(base):
        return None
    plain = pa.schema([f for f in schema if f.name != ROW_ID])
    return ids_by_name(carry_ids(schema_to_dict(plain), base))


def _check_ids(files: Sequence[DataFile], new_schema: pa.Schema | None,
               state: TableState) -> None:
    """CommitConflictError when files written with field ids would land on a version
    whose ids for their columns differ (a column renamed, dropped or added by a writer
    that won the race): their rows would read as other columns."""
    target = carry_ids(schema_to_dict(new_schema), state.schema) if new_schema is not None \
        else state.schema
    if not has_ids(target):
        if any(f.field_ids for f in files):
            raise CommitConflictError("the table's format changed while writing; "
                                      "nothing was committed, rerun the operation")
        return
    final = ids_by_name(target)
    for f in files:
        known = f.field_ids if f.field_ids is not None else {}
        if any(final.get(name) != fid for name, fid in known.items()):
            raise CommitConflictError(
                "the table's columns changed while writing (a column renamed, dropped or "
                "added by another writer); nothing was committed, rerun the operation")


def _counter(progress: Progress | None, total: int) -> Callable[[int], None] | None:
    return None if progress is None else RowProgress(progress, total).add


def append(
    writer: Writer,
    data: Any,
    *,
    message: str = "",
    properties: Mapping[str, Any] | None = None,
    schema_mode: SchemaMode = "strict",
    allow_empty: bool = False,
    provenance: bool = True,
    base_version: int | None = None,
    progress: Progress | None = None,
) -> TableState:
    """Append rows; ``schema_mode="merge"`` adds new nullable columns and widens
    int32->int64 and float32->float64. With ``base_version`` the rows go on exactly that
    version or nowhere (CommitConflictError): a create's own rows. ``progress("write",
    done, total)`` is told of the rows written (see :class:`~tablever.write.RowProgress`)."""
    if schema_mode not in ("strict", "merge"):
        raise InvalidValueError(f"schema_mode must be 'strict' or 'merge', not {schema_mode!r}")
    if isinstance(data, pa.RecordBatchReader) and not partition_columns(
            writer.state.properties):
        return _append_stream(writer, data, message=message, properties=properties,
                              schema_mode=schema_mode, allow_empty=allow_empty,
                              provenance=provenance, base_version=base_version,
                              progress=progress)
    incoming = to_arrow_table(data)
    table_schema = writer.schema
    if schema_mode == "merge":
        target = merge_schemas(table_schema, incoming.schema)
        rows = conform(incoming, target, mode="merge")
    else:
        target = table_schema
        rows = conform(incoming, target)
    if rows.num_rows == 0 and not allow_empty:
        return writer.state
    # Split per partition when the table sets partition_by: the parts' files get
    # consecutive row-id ranges below, in part order (docs/format.md).
    files = write_partitioned(writer.storage, rows, first_row_id=0,
                              properties=writer.state.properties,
                              field_ids=write_ids(rows.schema, writer.state.schema),
                              on_rows=_counter(progress, rows.num_rows))
    return add_files(writer, files, rows.schema, schema_mode=schema_mode, message=message,
                     properties=properties, allow_empty=allow_empty, provenance=provenance,
                     base_version=base_version, _target=target)


def _append_stream(
    writer: Writer,
    reader: pa.RecordBatchReader,
    *,
    schema_mode: SchemaMode,
    allow_empty: bool,
    progress: Progress | None,
    **commit: Any,
) -> TableState:
    """:func:`append` of a stream, batch by batch: at most two data files' rows are held
    (:func:`~tablever.write.write_stream`), whatever the length of the stream. The
    schema is checked on the stream's schema before any row is read."""
    empty = to_arrow_table(empty_table(reader.schema))
    target = merge_schemas(writer.schema, empty.schema) if schema_mode == "merge" else (
        writer.schema)
    schema = conform(empty, target, mode=schema_mode).schema
    ids = write_ids(schema, writer.state.schema) or {}

    def tables() -> Iterator[pa.Table]:
        try:
            for batch in reader:
                if batch.num_rows:
                    yield with_field_ids(conform(to_arrow_table(batch), target,
                                                 mode=schema_mode), ids)
        except pa.ArrowException as exc:
            raise TableverError(f"reading the stream of rows failed: {exc}") from exc

    files = write_stream(writer.storage, tables(), first_row_id=0,
                         compression=codec(writer.state.properties),
                         on_rows=None if progress is None else RowProgress(progress, None).add)
    if not files and not allow_empty:
        return writer.state
    return add_files(writer, files, schema, schema_mode=schema_mode, allow_empty=allow_empty,
                     _target=target, **commit)


def add_files(
    writer: Writer,
    files: Sequence[DataFile],
    schema: pa.Schema,
    *,
    schema_mode: SchemaMode = "strict",
    message: str = "",
    properties: Mapping[str, Any] | None = None,
    allow_empty: bool = False,
    provenance: bool = True,
    base_version: int | None = None,
    _target: pa.Schema | None = None,
) -> TableState:
    """Commit data files already written (by :func:`tablever.write.write_data_files`,
    with placeholder row ids) holding rows of ``schema``, as one append: the files get
    their row ids from the version they land on. What ``append`` does after writing,
    and what engines that write files in parallel (Spark executors) commit with."""
    table_schema = writer.schema
    target = _target if _target is not None else (
        merge_schemas(table_schema, schema) if schema_mode == "merge" else table_schema)
    if _target is None and schema_mode == "strict" and (
            merge_schemas(table_schema, schema) != table_schema):
        raise SchemaMismatchError(
            f"the files hold {schema}, which the table's schema {table_schema} does not "
            "accept", list(schema.names))
    written_schema = schema

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, pa.Schema | None]:
        if base_version is not None and state.version != base_version:
            raise CommitConflictError(
                f"the table moved past version {base_version} while its rows were being "
                f"added (now at version {state.version}); these rows were not committed"
            )
        current = schema_from_dict(state.schema)
        new_schema: pa.Schema | None = None
        if current != target:
            if schema_mode == "merge":
                new_schema = merge_schemas(current, written_schema)
            else:
                # Another writer evolved the schema: our files must still read under it.
                merged = merge_schemas(current, written_schema)
                if merged != current:
                    raise SchemaMismatchError(
                        "the table schema changed while appending: "
                        f"{current} no longer accepts the data", list(written_schema.names)
                    )
        elif schema_mode == "merge" and target != table_schema:
            new_schema = target
        _check_ids(files, new_schema, state)
        return Actions(add=tuple(renumber(files, state.next_row_id))), new_schema

    return writer.commit(
        "append", build, message=message, properties=properties,
        allow_empty=allow_empty, provenance=provenance,
    )


def _matches(
    storage: Storage,
    state: TableState,
    files: Sequence[DataFile],
    condition: str,
    extra: Sequence[str] = (),
    *,
    with_row_id: bool = False,
    shown: str | None = None,
) -> pa.Table:
    """``__tv_file`` (a DataFile of ``files``), ``__tv_pos`` and ``extra`` SQL columns of the
    live rows where ``condition`` IS TRUE. ``shown`` is the user's text, for errors (the
    caller has checked the expressions with ``check_expressions``)."""
    from tablever.query.engine import REL, default_connection, duckdb_error, fetch_arrow, plan_sql

    snap = Snapshot(storage, state)
    plan = snap.read_plan(files)
    conn = default_connection().cursor()
    inner = plan_sql(plan, conn, with_row_id=with_row_id, positions=True)
    cols = ", ".join(["__tv_file", "__tv_pos", *extra])
    sql = f"SELECT {cols} FROM ({inner}) AS {REL} WHERE ({condition}) IS TRUE"
    try:
        return fetch_arrow(conn.sql(sql))
    except InvalidPredicateError:
        raise
    except Exception as exc:  # DuckDB raises many types: damaged files, or the predicate
        user = shown if shown is not None else condition
        raise (diagnose(storage, state, exc, files) or duckdb_error(exc, user)) from exc


def _deletion_actions(
    storage: Storage, state: TableState, files: Sequence[DataFile], hits: pa.Table
) -> Actions:
    """Deletion vectors (unions with the live ones) for the rows in ``hits``."""
    if hits.num_rows == 0:
        return Actions()
    file_idx = int64_numpy(hits.column("__tv_file"))
    pos = int64_numpy(hits.column("__tv_pos"))
    order = np.argsort(file_idx, kind="stable")
    file_idx, pos = file_idx[order], pos[order]
    removes: list[FileKey] = []
    todo: list[tuple[DataFile, np.ndarray]] = []
    bounds = np.flatnonzero(np.diff(file_idx)) + 1
    for chunk_idx, chunk_pos in zip(np.split(file_idx, bounds), np.split(pos, bounds), strict=True):
        f = files[int(chunk_idx[0])]
        old = state.deletes.get(f.key)
        merged = chunk_pos
        if old is not None:
            merged = np.concatenate([load_positions(storage, old, f.rows), chunk_pos])
        merged = sorted_unique(merged)
        if len(merged) >= f.rows:
            removes.append(f.key)
        else:
            todo.append((f, merged))

    written = write_positions(storage, [merged for _, merged in todo])
    vectors = [
        DeleteVector(f.path, f.first_row_id, path, sha, int(len(merged)))
        for (f, merged), (path, sha) in zip(todo, written, strict=True)
    ]
    return Actions(remove=tuple(removes), deletes=tuple(vectors))


def _touches(actions: Actions) -> set[FileKey]:
    return set(actions.remove) | {d.key for d in actions.deletes}


def _predicate(writer: Writer, where: object) -> exp.Expression:
    """The parsed predicate, checked against the latest schema to be a true/false
    condition DuckDB can bind (before any file is pruned or read)."""
    from tablever.query.engine import check_expressions
    from tablever.query.predicate import parse_expression

    schema = writer.schema
    tree = parse_expression(where, schema.names)
    check_expressions(schema, tree.sql(dialect="duckdb"), str(where))
    return tree


def _rebasing(compute: Any) -> Any:
    """Wrap ``compute(state)`` so a retry reuses the result unless a winner touched one
    of the files it changes (then the predicate is re-run on the new state)."""
    cache: dict[str, Any] = {}

    def build(state: TableState, winners: Sequence[Commit]) -> Any:
        if "result" in cache:
            result = cache["result"]
            touched: set[FileKey] = set()
            for w in winners[cache["seen"]:]:
                touched |= touched_keys(w)
            cache["seen"] = len(winners)
            if result is None or not (touched & _touches(result[0])):
                return result
        cache["result"] = compute(state)
        cache["seen"] = len(winners)
        return cache["result"]

    return build


def delete(
    writer: Writer,
    where: str,
    *,
    message: str = "",
    properties: Mapping[str, Any] | None = None,
    allow_empty: bool = False,
    provenance: bool = True,
) -> TableState:
    """Delete the rows where ``where`` IS TRUE (rows where it is NULL stay)."""
    tree = _predicate(writer, where)
    condition = tree.sql(dialect="duckdb")

    def compute(state: TableState) -> tuple[Actions, None] | None:
        from tablever.query.predicate import prune

        files = prune(tree, FileList(state.files), schema_from_dict(state.schema),
                      stored=state.schema)
        if not files:
            return None
        hits = _matches(writer.storage, state, files, condition, shown=where)
        actions = _deletion_actions(writer.storage, state, files, hits)
        return None if actions.empty else (actions, None)

    props = {**dict(properties or {}), "predicate": condition}
    return writer.commit(
        "delete", _rebasing(compute), message=message or f"delete where {condition}",
        properties=props, allow_empty=allow_empty, provenance=provenance,
    )


def filter(  # noqa: A001 - the verb users know
    writer: Writer,
    keep: str,
    *,
    message: str = "",
    properties: Mapping[str, Any] | None = None,
    allow_empty: bool = False,
    provenance: bool = True,
) -> TableState:
    """Keep only the rows where ``keep`` IS TRUE (rows where it is NULL go)."""
    tree = _predicate(writer, keep)
    condition = tree.sql(dialect="duckdb")
    drop = f"NOT COALESCE(({condition}), FALSE)"

    def compute(state: TableState) -> tuple[Actions, None] | None:
        files = list(state.files.values())
        if not files:
            return None
        hits = _matches(writer.storage, state, files, drop, shown=keep)
        actions = _deletion_actions(writer.storage, state, files, hits)
        return None if actions.empty else (actions, None)

    props = {**dict(properties or {}), "predicate": condition}
    return writer.commit(
        "filter", _rebasing(compute), message=message or f"filter {condition}",
        properties=props, allow_empty=allow_empty, provenance=provenance,
    )


def cast_to_schema(values: pa.Table, schema: pa.Schema) -> pa.Table:
    """``values`` cast (safely: no overflow or truncation) to ``schema``."""
    arrays = []
    bad: list[str] = []
    reasons = []
    for f in schema:
        col = values.column(f.name)
        if col.type != f.type:
            try:
                col = pc.cast(col, f.type, safe=True)
            except (pa.ArrowException, ValueError) as exc:
                bad.append(f.name)
                reasons.append(f"{f.name!r}: cannot store {col.type} in {f.type} ({exc})")
                continue
        if not f.nullable and col.null_count:
            bad.append(f.name)
            reasons.append(f"{f.name!r}: NULL in a non-nullable column")
            continue
        arrays.append(col)
    if bad:
        raise SchemaMismatchError("values do not fit the table: " + "; ".join(reasons), bad)
    return pa.Table.from_arrays(arrays, schema=schema)


def update(
    writer: Writer,
    set: Mapping[str, str],  # noqa: A002 - mirrors SQL UPDATE ... SET
    where: str | None = None,
    *,
    message: str = "",
    properties: Mapping[str, Any] | None = None,
    allow_empty: bool = False,
    provenance: bool = True,
) -> TableState:
    """Set columns to SQL expressions on the rows where ``where`` IS TRUE (all rows when
    None). Updated rows keep their ``_row_id``; old versions are untouched."""
    from tablever.query.engine import cast_values, check_expressions
    from tablever.query.predicate import parse_expression, quote

    schema = writer.schema
    if not isinstance(set, Mapping) or not set:
        raise InvalidPredicateError("update needs a non-empty mapping of column -> SQL expression")
    assignments: dict[str, str] = {}
    for col, expr in set.items():
        if col == ROW_ID or col not in schema.names:
            raise InvalidPredicateError(
                f"update names unknown column {col!r}; columns are: {', '.join(schema.names)}"
            )
        assignments[col] = parse_expression(expr, schema.names, what="expression").sql(
            dialect="duckdb"
        )
    tree = _predicate(writer, where) if where is not None else None
    condition = tree.sql(dialect="duckdb") if tree is not None else "TRUE"
    check_expressions(schema, assignments=assignments)
    # what a failure while evaluating names: the whole statement, not the predicate only
    shown = "SET " + ", ".join(f"{quote(c)} = {e}" for c, e in assignments.items()) + (
        f" WHERE {where}" if where is not None else "")

    def compute(state: TableState) -> tuple[Actions, None] | None:
        from tablever.query.predicate import prune

        current = schema_from_dict(state.schema)
        files = prune(tree, FileList(state.files), current, stored=state.schema)
        if not files:
            return None
        select = [f"({assignments[n]}) AS {quote(n)}" if n in assignments else quote(n)
                  for n in current.names]
        hits = _matches(writer.storage, state, files, condition, [*select, quote(ROW_ID)],
                        with_row_id=True, shown=shown)
        if hits.num_rows == 0:
            return None
        # DuckDB's UPDATE casts each value to its column's type by DuckDB's rules (2.5 ->
        # 3, ' 7 ' -> 7, '[1, 2]' -> a list): so does this one, after the match, so that
        # a value that does not fit is named as such
        new_rows = cast_to_schema(cast_values(hits.select(current.names), current), current)
        new_rows = new_rows.append_column(ROW_ID, hits.column(ROW_ID).cast(pa.int64()))
        dels = _deletion_actions(writer.storage, state, files, hits.select(["__tv_file", "__tv_pos"]))
        added = write_partitioned(writer.storage, new_rows, first_row_id=None,
                                  field_ids=ids_by_name(state.schema),
                                  properties=state.properties)
        return Actions(add=tuple(added), remove=dels.remove, deletes=dels.deletes), None

    props = {**dict(properties or {}), "predicate": condition, "set": assignments}
    return writer.commit(
        "update", _rebasing(compute), message=message or f"update where {condition}",
        properties=props, allow_empty=allow_empty, provenance=provenance,
    )


def upsert(
    writer: Writer,
    data: Any,
    on: Sequence[str],
    *,
    message: str = "",
    properties: Mapping[str, Any] | None = None,
    allow_empty: bool = False,
    provenance: bool = True,
) -> TableState:
    """Replace the rows whose key ``on`` matches a row of ``data`` (keeping their
    ``_row_id``) and append the others. NULL keys never match."""
    from tablever.query.predicate import quote

    if isinstance(on, str):
        on = [on]
    keys = list(on)
    schema = writer.schema
    if not keys:
        raise InvalidPredicateError("upsert needs at least one key column in on=[...]")
    unknown = [k for k in keys if k not in schema.names]
    if unknown:
        raise SchemaMismatchError(f"upsert key column(s) not in the table: {', '.join(unknown)}",
                                  unknown)
    source = conform(to_arrow_table(data), schema)
    if source.num_rows == 0 and not allow_empty:
        return writer.state
    key_table = source.select(keys)
    # A key with a NULL part never matches (SQL equality), so such rows are simply
    # appended and may repeat; only complete keys must be unique in the data.
    complete = key_table
    for k in keys:
        complete = complete.filter(pc.is_valid(complete.column(k)))
    grouped = complete.group_by(keys).aggregate([([], "count_all")])
    dupes = grouped.filter(pc.greater(grouped.column("count_all"), 1))
    if dupes.num_rows:
        sample = dupes.slice(0, 3).drop_columns(["count_all"]).to_pylist()
        raise DuplicateKeyError(
            f"upsert data repeats {dupes.num_rows} key(s) on {keys}, e.g. {sample}"
        )
    src_keys = key_table.append_column("__tv_src", pa.array(np.arange(source.num_rows), pa.int64()))
    bounds = []
    for k in keys:
        col = source.column(k)
        if pa.types.is_integer(col.type) and col.null_count < len(col):
            mm = pc.min_max(col)
            bounds.append(f"{quote(k)} BETWEEN {mm['min'].as_py()} AND {mm['max'].as_py()}")
    from tablever.query.predicate import parse_expression

    prune_tree = parse_expression(" AND ".join(bounds), schema.names) if bounds else None

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, None] | None:
        from tablever.query.engine import default_connection, fetch_arrow, plan_sql
        from tablever.query.predicate import prune

        current = schema_from_dict(state.schema)
        rows = conform(source, current, mode="merge") if current != schema else source
        files = prune(prune_tree, FileList(state.files), current, stored=state.schema)
        matched_src = np.array([], dtype=np.int64)
        matched_ids = np.array([], dtype=np.int64)
        dels = Actions()
        if files:
            snap = Snapshot(writer.storage, state)
            plan = snap.read_plan(files)
            conn = default_connection().cursor()
            inner = plan_sql(plan, conn, with_row_id=True, positions=True)
            name = f"__tv_src_{plan.key[:16]}"
            conn.register(name, src_keys)
            cond = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in keys)
            sql = (f"SELECT t.__tv_file, t.__tv_pos, t.{quote(ROW_ID)}, s.__tv_src FROM ({inner}) AS t "
                   f"JOIN {name} AS s ON {cond}")
            hits = fetch_arrow(conn.sql(sql))
            conn.unregister(name)
            if hits.num_rows:
                dels = _deletion_actions(writer.storage, state, files, hits.select(["__tv_file", "__tv_pos"]))
                order = pc.sort_indices(hits, [("__tv_src", "ascending"), (ROW_ID, "ascending")])
                hits = hits.take(order)
                src = hits.column("__tv_src").to_numpy()
                ids = hits.column(ROW_ID).to_numpy()
                first = np.ones(len(src), dtype=bool)
                first[1:] = src[1:] != src[:-1]
                matched_src, matched_ids = src[first], ids[first]
        row_ids = np.full(rows.num_rows, -1, dtype=np.int64)
        row_ids[matched_src] = matched_ids
        fresh = row_ids < 0
        row_ids[fresh] = state.next_row_id + np.arange(int(fresh.sum()), dtype=np.int64)
        out = rows.append_column(ROW_ID, pa.array(row_ids, pa.int64()))
        added = write_partitioned(writer.storage, out, first_row_id=None,
                                  properties=state.properties,
                                  field_ids=ids_by_name(state.schema))
        return Actions(add=tuple(added), remove=dels.remove, deletes=dels.deletes), None

    props = {**dict(properties or {}), "on": keys}
    return writer.commit(
        "upsert", build, message=message or f"upsert on {', '.join(keys)}",
        properties=props, allow_empty=allow_empty, provenance=provenance,
    )


def overwrite(
    writer: Writer,
    data: Any,
    *,
    message: str = "",
    properties: Mapping[str, Any] | None = None,
    allow_empty: bool = False,
    provenance: bool = True,
    progress: Progress | None = None,
) -> TableState:
    """Replace every row with ``data`` (same schema); earlier versions keep theirs.
    ``progress`` as for :func:`append`."""
    rows = conform(to_arrow_table(data), writer.schema)
    files = write_partitioned(writer.storage, rows, first_row_id=0, properties=writer.state.properties,
                              on_rows=_counter(progress, rows.num_rows),
                              field_ids=write_ids(rows.schema, writer.state.schema))
    return replace_files(writer, files, message=message, properties=properties,
                         allow_empty=allow_empty, provenance=provenance)


def replace_files(
    writer: Writer,
    files: Sequence[DataFile],
    *,
    message: str = "",
    properties: Mapping[str, Any] | None = None,
    allow_empty: bool = False,
    provenance: bool = True,
) -> TableState:
    """Commit data files already written (rows of the table's schema, placeholder row
    ids) as the table's only rows: an overwrite of files written elsewhere."""

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, None] | None:
        _check_ids(files, None, state)
        added = renumber(files, state.next_row_id)
        actions = Actions(add=tuple(added), remove=tuple(state.files))
        return None if actions.empty else (actions, None)

    return writer.commit(
        "overwrite", build, message=message or "overwrite", properties=properties,
        allow_empty=allow_empty, provenance=provenance,
    )


def restore(
    writer: Writer,
    target: TableState,
    *,
    message: str = "",
    properties: Mapping[str, Any] | None = None,
    provenance: bool = True,
) -> TableState:
    """A new snapshot whose live files and deletion vectors are exactly those of ``ref``
    (so its fingerprint equals ``ref``'s); no data is copied."""
    tstate = target

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, Any] | None:
        removes: list[FileKey] = []
        adds: list[DataFile] = []
        vectors: list[DeleteVector] = []
        for key in state.files:
            if key not in tstate.files:
                removes.append(key)
            elif state.deletes.get(key) != tstate.deletes.get(key):
                want = tstate.deletes.get(key)
                if want is None:
                    removes.append(key)
                    adds.append(tstate.files[key])
                else:
                    vectors.append(want)
        for key, f in tstate.files.items():
            if key not in state.files:
                adds.append(f)
                if key in tstate.deletes:
                    vectors.append(tstate.deletes[key])
        # the target's own columns and ids (a version from before the upgrade gets the
        # ids its files map to), never a format-2 table back to format 1
        wanted = legacy_ids(tstate.schema, state.schema)
        new_schema = wanted if wanted != dict(state.schema) else None
        # restoring a version from before a drop brings the table back
        undrop = ({DROPPED: None} if state.properties.get(DROPPED) is not None
                  and tstate.properties.get(DROPPED) is None else None)
        actions = Actions(add=tuple(adds), remove=tuple(removes), deletes=tuple(vectors),
                          set_properties=undrop)
        if actions.empty and new_schema is None:
            return None
        return actions, new_schema

    props = {**dict(properties or {}), "restored_version": target.version,
             "restored_id": target.id}
    return writer.commit(
        "restore", build, message=message or f"restore version {target.version}",
        properties=props, allow_empty=True, provenance=provenance,
    )


def set_properties(
    writer: Writer, properties: Mapping[str, Any], *, message: str = "", provenance: bool = True
) -> TableState:
    """Set table properties (policy such as ``checkpoint_interval``, ``retention.*``)."""
    if not isinstance(properties, Mapping) or not properties:
        raise InvalidValueError("set_properties needs a non-empty mapping")
    from tablever.policy import validate_properties

    validate_properties({**writer.state.properties, **properties})

    values = json_properties(properties, "table properties")

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, None]:
        return Actions(set_properties=values), None

    return writer.commit(
        "set-properties", build, message=message or "set properties", provenance=provenance,
    )


def add_column(
    writer: Writer,
    name: str,
    dtype: pa.DataType,
    *,
    nullable: bool = True,
    message: str = "",
    provenance: bool = True,
) -> TableState:
    """Add a column at the end of the schema; the rows already in the table read it as
    NULL, so it must be nullable unless the version has no live rows. No file is
    rewritten."""
    from tablever.schema import check_case_clashes, check_scan_columns

    if not isinstance(name, str) or not name:
        raise InvalidValueError(f"add_column needs a column name, not {name!r}")
    if not isinstance(dtype, pa.DataType):
        raise InvalidValueError(f"add_column needs a pyarrow type, not {dtype!r}")

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, pa.Schema]:
        schema = schema_from_dict(state.schema)
        if name == ROW_ID:
            raise SchemaMismatchError(
                f"column name {ROW_ID!r} is reserved for the row ids", [name])
        if name in schema.names:
            raise SchemaMismatchError(
                f"column {name!r} already exists: pick another name", [name])
        names = [*schema.names, name]
        check_scan_columns(names)
        check_case_clashes(names)
        if not nullable and Snapshot(writer.storage, state).num_rows:
            raise SchemaMismatchError(
                f"column {name!r} cannot be NOT NULL: the rows already in the table "
                "would read it as NULL (add it nullable)", [name])
        return Actions(), schema.append(pa.field(name, dtype, nullable=nullable))

    return writer.commit(
        "add-column", build, message=message or f"add column {name}", allow_empty=True,
        provenance=provenance,
    )


def alter_column(
    writer: Writer,
    name: str,
    dtype: pa.DataType,
    *,
    message: str = "",
    provenance: bool = True,
) -> TableState:
    """Widen column ``name`` to ``dtype`` (see :func:`tablever.schema.column_widening`);
    the files already written are read cast to it, none is rewritten."""
    from tablever.schema import column_widening

    if not isinstance(dtype, pa.DataType):
        raise InvalidValueError(f"alter_column needs a pyarrow type, not {dtype!r}")

    current = writer.schema
    if name in current.names and name != ROW_ID and current.field(name).type == dtype:
        return writer.state

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, pa.Schema]:
        schema = schema_from_dict(state.schema)
        if name == ROW_ID or name not in schema.names:
            raise SchemaMismatchError(
                f"no column {name!r} to alter (columns: {', '.join(schema.names)})", [name])
        i = schema.get_field_index(name)
        old = schema.field(i)
        if old.type == dtype:  # a racing writer made the same change: commit it anyway
            return Actions(), schema
        if column_widening(old.type, dtype) is None:
            raise SchemaMismatchError(
                f"column {name!r} cannot change from {old.type} to {dtype}: only widening "
                "signed integers (int8 -> int16 -> int32 -> int64) and floats "
                "(float16 -> float32 -> float64) keeps every value", [name])
        return Actions(), schema.set(i, pa.field(name, dtype, nullable=old.nullable))

    return writer.commit(
        "alter-column", build, message=message or f"alter column {name} type {dtype}",
        allow_empty=True, provenance=provenance,
    )



def _column_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name or name != name.strip() or any(
            ord(ch) < 32 for ch in name):
        raise InvalidNameError(
            f"{what} needs a column name: a non-empty string without control characters "
            f"or surrounding spaces, not {name!r}")
    return name


def _existing_column(schema: Mapping[str, Any], name: str, verb: str) -> None:
    names = [f["name"] for f in schema["fields"]]
    if name == ROW_ID:
        raise SchemaMismatchError(
            f"cannot {verb} {ROW_ID!r}: it holds the row ids, not a column of the table",
            [name])
    if name not in names:
        raise ColumnNotFoundError(
            f"no column {name!r} to {verb} (columns: {', '.join(names)})", [name])


def upgrade_format(writer: Writer, *, message: str = "",
                   provenance: bool = True) -> TableState:
    """Upgrade a format-1 table to format 2 (field ids: docs/format.md) in one commit
    that rewrites no file; a format-2 table commits nothing."""
    if has_ids(writer.state.schema):
        return writer.state

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, Any]:
        return Actions(), upgraded(state.schema)  # as is if a racing writer upgraded it

    return writer.commit("upgrade", build, message=message or "upgrade to format 2 "
                         "(column field ids)", allow_empty=True, provenance=provenance)


_UPGRADE_NOTE = " (upgrades the table to format 2: column field ids)"


def rename_column(writer: Writer, old: str, new: str, *, message: str = "",
                  provenance: bool = True) -> TableState:
    """Rename column ``old`` to ``new`` in one commit that rewrites no file: the files
    written before read under the new name (by field id), older versions keep the old
    name. A format-1 table is upgraded to format 2 by the same commit."""
    from tablever.partitioning import partition_columns
    from tablever.schema import check_case_clashes, check_scan_columns

    _column_name(old, "rename_column")
    _column_name(new, "rename_column")
    upgrading = not has_ids(writer.state.schema)

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, Any]:
        _existing_column(state.schema, old, "rename")
        names = [f["name"] for f in state.schema["fields"]]
        if new == ROW_ID or new in names:
            raise SchemaMismatchError(
                f"cannot rename {old!r} to {new!r}: "
                + ("that name is reserved for the row ids" if new == ROW_ID
                   else "a column of that name exists; drop or rename it first"), [new])
        renamed_names = [new if n == old else n for n in names]
        check_scan_columns([new])
        check_case_clashes(renamed_names)
        parts = partition_columns(state.properties)
        props = None
        if old in parts:  # keep partitioning by the same column under its new name
            props = {"partition_by": ",".join(new if p == old else p for p in parts)}
        return Actions(set_properties=props), renamed(upgraded(state.schema), old, new)

    note = _UPGRADE_NOTE if upgrading else ""
    return writer.commit("rename-column", build,
                         message=message or f"rename column {old} to {new}{note}",
                         properties={"column": old, "new_name": new}, allow_empty=True,
                         provenance=provenance)


def drop_column(writer: Writer, name: str, *, message: str = "",
                provenance: bool = True) -> TableState:
    """Drop column ``name`` in one commit that rewrites no file: later versions no
    longer read it, older versions still do, and a column added later under the same
    name is a new column (NULL in the rows written before). A format-1 table is
    upgraded to format 2 by the same commit."""
    from tablever.partitioning import partition_columns

    _column_name(name, "drop_column")
    upgrading = not has_ids(writer.state.schema)

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, Any]:
        _existing_column(state.schema, name, "drop")
        if len(state.schema["fields"]) == 1:
            raise ColumnInUseError(
                f"cannot drop {name!r}: it is the table's last column (a table keeps at "
                "least one; add another column first, or drop the table)", [name])
        if name in partition_columns(state.properties):
            raise ColumnInUseError(
                f"cannot drop {name!r}: the table is partitioned by it; set the "
                "partition_by property without it first", [name])
        return Actions(), dropped(upgraded(state.schema), name)

    note = _UPGRADE_NOTE if upgrading else ""
    return writer.commit("drop-column", build, message=message or f"drop column {name}{note}",
                         properties={"column": name}, allow_empty=True,
                         provenance=provenance)


def merge(
    writer: Writer,
    source: pa.Table,
    statement: str,
    *,
    matched_check: str | None,
    counts: dict[str, int],
    message: str = "",
    properties: Mapping[str, Any] | None = None,
    provenance: bool = True,
) -> TableState:
    """One commit of a SQL MERGE, evaluated by DuckDB on the version it lands on.

    ``statement`` is DuckDB's MERGE over the table ``__tv_target`` (the version's rows
    with ``_row_id`` and where each lives) and ``__tv_source`` (``source``); rows it
    deletes are deleted, rows whose values it changes are rewritten with their
    ``_row_id``, rows it inserts get new ids. ``matched_check`` is a query naming a
    target row that matches two source rows, if any: the SQL standard's error (DuckDB
    would apply one of them). ``counts["rows"]`` is set to the rows MERGE affected.
    """
    from tablever.query.engine import default_connection, duckdb_error, fetch_arrow, plan_sql
    from tablever.query.predicate import quote as quote_ident

    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, None] | None:
        current = schema_from_dict(state.schema)
        snap = Snapshot(writer.storage, state)
        files = list(state.files.values())
        conn = default_connection().cursor()
        try:
            if files:
                inner = plan_sql(snap.read_plan(files), conn, with_row_id=True,
                                 positions=True)
            else:
                inner = ("SELECT * FROM __tv_empty")
                conn.register("__tv_empty", empty_table(current).append_column(
                    ROW_ID, pa.array([], pa.int64())).append_column(
                    "__tv_file", pa.array([], pa.int64())).append_column(
                    "__tv_pos", pa.array([], pa.int64())))
            conn.register("__tv_source", source)
            conn.execute(f"CREATE OR REPLACE TEMP TABLE __tv_target AS {inner}")
            if matched_check is not None:
                twice = conn.execute(matched_check).fetchone()
                if twice is not None:
                    raise DuplicateKeyError(
                        "MERGE: a row of the table matches more than one source row (the "
                        "SQL standard's cardinality violation); make the ON condition "
                        "match each row once")
            conn.execute("CREATE OR REPLACE TEMP TABLE __tv_before AS SELECT * FROM __tv_target")
            done = conn.execute(statement).fetchone()
            counts["rows"] = int(done[0]) if done else 0
            cols = ", ".join(quote_ident(c) for c in current.names)
            changed = (f"SELECT a.* FROM __tv_target a LEFT JOIN __tv_before b "
                       f"ON a.{quote_ident(ROW_ID)} = b.{quote_ident(ROW_ID)} "
                       f"WHERE b.{quote_ident(ROW_ID)} IS NULL "
                       f"OR ({', '.join('a.' + quote_ident(c) for c in current.names)}) "
                       f"IS DISTINCT FROM ({', '.join('b.' + quote_ident(c) for c in current.names)})")
            added_rows = fetch_arrow(conn.sql(f"SELECT {cols}, {quote_ident(ROW_ID)} FROM ({changed})"))
            gone = fetch_arrow(conn.sql(
                f"SELECT b.__tv_file, b.__tv_pos FROM __tv_before b WHERE b.{quote_ident(ROW_ID)} "
                f"NOT IN (SELECT {quote_ident(ROW_ID)} FROM __tv_target "
                f"WHERE {quote_ident(ROW_ID)} IS NOT NULL) "
                f"UNION ALL SELECT b.__tv_file, b.__tv_pos FROM __tv_before b JOIN ({changed}) c "
                f"ON b.{quote_ident(ROW_ID)} = c.{quote_ident(ROW_ID)}"))
        except TableverError:
            raise
        except Exception as exc:
            raise duckdb_error(exc, "MERGE") from exc
        finally:
            for name in ("__tv_target", "__tv_before"):
                conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.close()
        if added_rows.num_rows == 0 and gone.num_rows == 0:
            return None
        dels = _deletion_actions(writer.storage, state, files, gone)
        ids = int64_numpy(added_rows.column(ROW_ID), nulls=-1)
        fresh = ids < 0
        ids[fresh] = state.next_row_id + np.arange(int(fresh.sum()), dtype=np.int64)
        rows = conform(added_rows.drop_columns([ROW_ID]), current)
        rows = rows.append_column(ROW_ID, pa.array(ids, pa.int64()))
        added = write_partitioned(writer.storage, rows, first_row_id=None,
                                  field_ids=ids_by_name(state.schema),
                                  properties=state.properties)
        return Actions(add=tuple(added), remove=dels.remove, deletes=dels.deletes), None

    return writer.commit("merge", build, message=message or "merge",
                         properties=properties, provenance=provenance)



def drop(writer: Writer, *, message: str = "", provenance: bool = True) -> TableState:
    """Drop the table: a commit with no rows that marks it dropped. Its earlier versions
    stay readable by version and time (until expire removes them), and ``restore`` of
    one of them brings the table back."""
    def build(state: TableState, winners: Sequence[Commit]) -> tuple[Actions, None]:
        if state.properties.get(DROPPED) is not None:
            raise TableNotFoundError(
                f"{writer.storage.uri} was dropped already (version "
                f"{state.properties[DROPPED]})")
        return Actions(remove=tuple(state.files),
                       set_properties={DROPPED: state.version + 1}), None

    return writer.commit("drop", build, message=message or "drop table",
                         allow_empty=True, provenance=provenance)
