"""Warehouse.sql: each kind of statement mapped to its Python operation.

Queries run in the sandbox (:mod:`tablever.query.sandbox`); ``INSERT``, ``DELETE`` and
``UPDATE`` become ``append``, ``delete`` and ``update`` commits; ``CREATE TABLE`` creates
a table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from tablever.arrays import empty_table
from tablever.errors import (
    InvalidPredicateError,
    SchemaMismatchError,
    TableDroppedError,
    TableExistsError,
    TableNotFoundError,
)
from tablever.query.ddl import Column, CreateTable, Describe, as_create, as_describe, column_def
from tablever.query.engine import (
    cached_sandbox,
    cast_values,
    duckdb_type,
    is_conversion_error,
    run_sql,
)
from tablever.query.history import history_relation
from tablever.query.merge import merge_plan, merge_source, merge_target
from tablever.query.rewrite import (
    Dml,
    HistoryCall,
    TableRef,
    as_dml,
    parse,
    typed_values,
    values_column,
)
from tablever.query.sandbox import resolve_ref, run_query
from tablever.upstream import capture, note_read

if TYPE_CHECKING:
    from tablever.snapshot import Snapshot
    from tablever.table import Table
    from tablever.warehouse import Warehouse

__all__ = ["run_statement"]


class _Tables:
    """The warehouse's tables, opened once per statement, matched case-insensitively."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self.opened: dict[str, Table] = {}
        self._names: list[str] | None = None

    def get(self, name: str) -> Table:
        """The table, dropped or not (a dropped table's history still reads)."""
        key = name.lower()
        if key not in self.opened:
            match = self.find(name)
            if match is None:
                raise TableNotFoundError(name, available=self.wh.tables())
            self.opened[key] = self.wh.table(match, dropped=True)
        return self.opened[key]

    def target(self, name: str) -> Table:
        """The table a statement writes to: not a dropped one."""
        table = self.get(name)
        if table.dropped is not None:
            raise TableDroppedError(name, table.location, table.dropped)
        return table

    def find(self, name: str) -> str | None:
        if self._names is None:
            self._names = self.wh.tables(dropped=True)
        return next((t for t in self._names if t.lower() == name.lower()), None)

    def resolve(self, ref: TableRef) -> Snapshot:
        table = self.get(ref.name)
        if ref.kind == "latest" and table.dropped is not None:
            raise TableDroppedError(ref.name, table.location, table.dropped)
        snap = resolve_ref(table, ref)
        note_read(snap)  # what a statement reads is an input of what it writes
        return snap

    def call(self, call: HistoryCall) -> pa.Table:
        return history_relation(call, self.get(call.table), self.resolve)


def run_statement(wh: Warehouse, query: str, *, dialect: str | None = None,
                  message: str | None = None) -> pa.Table:
    """Run one statement of :meth:`Warehouse.sql` (see there). The table versions it
    reads are recorded as inputs of the commit it makes (INSERT ... SELECT, CREATE TABLE
    AS)."""
    with capture():
        return _run(wh, query, dialect=dialect, message=message)


def _run(wh: Warehouse, query: str, *, dialect: str | None,
         message: str | None) -> pa.Table:
    tables = _Tables(wh)
    text = query.strip() if isinstance(query, str) else query
    msg = message if message is not None else text
    other = as_describe(query, dialect=dialect)
    if isinstance(other, Describe):
        return _describe(tables.resolve(other.ref).schema)
    if other is not None:
        return pa.table({"name": pa.array(wh.tables(), pa.string())})
    tree = parse(query, dialect=dialect)
    create = as_create(tree)
    if create is not None:
        return _create(wh, tables, create, text=text, message=msg)
    if isinstance(tree, exp.Drop):
        return _drop(wh, tables, tree, message=msg)
    if isinstance(tree, exp.Alter):
        return _alter(tables, tree, message=msg)
    merging = merge_target(tree)
    if merging is not None:
        return _merge(tables, tree, text=text, message=msg)
    dml = as_dml(tree)
    if dml is None:
        return run_query(tree, tables.resolve, tables.call)
    target = tables.target(dml.table)
    if dml.kind == "insert":
        rows = _insert_rows(dml, target.schema, tables)
        target.append(rows, message=msg, properties={"sql": text})
        count = rows.num_rows
    elif dml.kind == "delete":
        before = target.latest().version
        snap = target.delete(dml.where or "TRUE", message=msg, properties={"sql": text})
        count = snap.summary["deleted_rows"] if snap.version != before else 0
    else:
        before = target.latest().version
        # SET names columns as DuckDB does, in any case (quoted or not)
        lower = {n.lower(): n for n in target.schema.names}
        assignments = {lower.get(c.lower(), c): v for c, v in dml.assignments.items()}
        snap = target.update(assignments, dml.where, message=msg, properties={"sql": text})
        count = snap.summary["added_rows"] if snap.version != before else 0
    return _count(count)


def _drop(wh: Warehouse, tables: _Tables, tree: exp.Drop, *, message: str) -> pa.Table:
    """DROP TABLE [IF EXISTS] t: one commit (Table.drop); the history stays readable."""
    kind = str(tree.args.get("kind") or "").upper()
    named = tree.args.get("tables") or ([tree.this] if tree.this is not None else [])
    target = named[0] if len(named) == 1 else None
    if (kind != "TABLE" or not isinstance(target, exp.Table) or tree.args.get("cascade")
            or tree.args.get("temporary") or target.args.get("db")):
        raise InvalidPredicateError(
            f"DROP {kind or ''} is not supported: only tables are stored; DROP TABLE [IF EXISTS] "
            "name drops a table")
    name = tables.find(target.name)
    if name is None or tables.get(name).dropped is not None:
        if tree.args.get("exists"):
            return _count(0)
        if name is None:
            raise TableNotFoundError(target.name, available=wh.tables())
        table = tables.get(name)
        raise TableDroppedError(name, table.location, table.dropped or 0)
    tables.get(name).drop(message=message)
    return _count(1)


def _alter(tables: _Tables, tree: exp.Alter, *, message: str) -> pa.Table:
    """ALTER TABLE t ADD COLUMN c TYPE [NOT NULL] | ALTER COLUMN c [SET DATA] TYPE T |
    RENAME COLUMN a TO b | DROP COLUMN [IF EXISTS] c: one commit (Table.add_column,
    alter_column, rename_column, drop_column); other ALTERs are refused."""
    actions = tree.args.get("actions") or []
    target = tree.this
    if (str(tree.args.get("kind") or "").upper() != "TABLE" or len(actions) != 1
            or not isinstance(target, exp.Table)):
        raise InvalidPredicateError(
            "this ALTER is not supported: ALTER TABLE name ADD COLUMN c TYPE, ALTER COLUMN "
            "c TYPE T, RENAME COLUMN a TO b or DROP COLUMN c, one change per statement")
    if target.args.get("version") or target.args.get("when"):
        raise InvalidPredicateError(
            f"ALTER TABLE {target.name}: a schema change makes a new latest version; an old "
            "version cannot be altered (restore it first, then alter)")
    action = actions[0]
    if isinstance(action, exp.AlterRename):
        raise InvalidPredicateError(
            f"ALTER TABLE {target.name} RENAME TO is refused: renaming a table's folder is "
            "not atomic on object stores; tv.copy the table to the new name, then DROP TABLE")
    table = tables.target(target.name)
    # a column is named in any case, quoted or not, as in DuckDB
    existing = {n.lower(): n for n in table.schema.names}.get(action.name.lower())
    if isinstance(action, exp.ColumnDef) and isinstance(action.args.get("kind"), exp.DataType):
        col = column_def(action, f"ALTER TABLE {target.name} ADD COLUMN")
        if existing is not None and action.args.get("exists"):
            return _count(0)  # ADD COLUMN IF NOT EXISTS of a column the table has
        field = _declared(CreateTable(target.name, (col,), None, False, False)).field(0)
        table.add_column(col.name, field.type, nullable=field.nullable, message=message)
        return _count(0)
    if (isinstance(action, exp.AlterColumn) and isinstance(action.args.get("dtype"), exp.DataType)
            and not action.args.get("using") and not action.args.get("collate")):
        col = Column(action.name, action.args["dtype"], False)
        field = _declared(CreateTable(target.name, (col,), None, False, False)).field(0)
        table.alter_column(existing or action.name, field.type, message=message)
        return _count(0)
    # SQL names columns in any case, as DuckDB does (names differing only in case are
    # refused in a table, so at most one column matches)
    names = {n.lower(): n for n in table.schema.names}
    if isinstance(action, exp.RenameColumn) and not action.args.get("exists"):
        old, new = action.this, action.args.get("to")
        if isinstance(old, exp.Column) and isinstance(new, exp.Column) and not old.table:
            table.rename_column(names.get(old.name.lower(), old.name), new.name,
                                message=message)
            return _count(0)
    if (isinstance(action, exp.Drop) and str(action.args.get("kind") or "").upper() == "COLUMN"
            and len(action.args.get("tables") or []) == 1 and not action.args.get("cascade")):
        (col,) = action.args["tables"]
        if isinstance(col, exp.Column) and not col.table:
            if action.args.get("exists") and col.name.lower() not in names:
                return _count(0)
            table.drop_column(names.get(col.name.lower(), col.name), message=message)
            return _count(0)
    raise InvalidPredicateError(
        f"ALTER TABLE {target.name} {action.sql('duckdb')} is not supported: ADD COLUMN, "
        "ALTER COLUMN ... TYPE, RENAME COLUMN a TO b and DROP COLUMN [IF EXISTS] c are, "
        "one per statement")


def _merge(tables: _Tables, tree: Any, *, text: str, message: str) -> pa.Table:
    """MERGE INTO: one commit, DuckDB deciding every row (tablever.query.merge)."""
    from tablever import operations as ops

    target = tables.target(merge_target(tree) or "")
    query, _ = merge_source(tree)
    source = run_query(query, tables.resolve, tables.call)
    plan = merge_plan(tree, target.schema.names, source.column_names)
    counts: dict[str, int] = {}
    ops.merge(target.writer(), source, plan.statement, matched_check=plan.matched_check,
              counts=counts, message=message, properties={"sql": text})
    return _count(counts.get("rows", 0))


def _create(wh: Warehouse, tables: _Tables, create: CreateTable, *, text: str,
            message: str) -> pa.Table:
    """CREATE TABLE: a new table (version 0, and version 1 with the query's rows), or
    with OR REPLACE on a table that exists, one overwrite commit."""
    existing = tables.find(create.name)
    if existing is not None and tables.get(existing).dropped is not None:
        table = tables.get(existing)
        raise TableExistsError(
            f"table {existing!r} was dropped at version {table.dropped} and its history is "
            f"kept: restore it (tablever restore {table.location} {(table.dropped or 1) - 1})"
            " or choose another name")
    if existing is not None and create.if_not_exists:
        return _count(0)
    if existing is not None and not create.replace:
        raise TableExistsError(
            f"table {existing!r} already exists: CREATE OR REPLACE TABLE overwrites its rows"
            " (a new version), CREATE TABLE IF NOT EXISTS leaves it as it is")
    if create.columns is not None:
        rows = empty_table(_declared(create))
    else:
        assert create.source is not None
        rows = _unique_names(run_query(create.source, tables.resolve, tables.call))
    if existing is not None:
        table = tables.get(existing)
        old = [(f.name, f.type, f.nullable) for f in table.schema]
        new = [(f.name, f.type, f.nullable) for f in rows.schema]
        if old != new:
            raise SchemaMismatchError(
                f"CREATE OR REPLACE TABLE {existing}: the new columns "
                f"({_shown(rows.schema)}) differ from the table's ({_shown(table.schema)}); "
                "replacing a table with other columns is not supported yet",
                sorted({n for n, *_ in old} ^ {n for n, *_ in new}
                       | {a[0] for a, b in zip(old, new, strict=False) if a != b}))
        table.overwrite(rows, message=message, properties={"sql": text}, allow_empty=True)
        return _count(rows.num_rows)
    try:
        wh.create(create.name, rows.schema, message=message,
                  data=rows if rows.num_rows else None, data_message=message)
    except TableExistsError:
        if not create.if_not_exists:  # created since it was looked for
            raise
        return _count(0)
    return _count(rows.num_rows)


def _unique_names(rows: pa.Table) -> pa.Table:
    """A query's columns named as DuckDB's CREATE TABLE AS names them: a name seen
    before (in any case) gets ``_1``, ``_2``, ... (``a, a`` is ``a, a_1``)."""
    seen: set[str] = set()
    names = []
    for name in rows.schema.names:
        new, n = name, 0
        while new.lower() in seen:
            n += 1
            new = f"{name}_{n}"
        seen.add(new.lower())
        names.append(new)
    return rows if names == rows.schema.names else rows.rename_columns(names)


def _shown(schema: pa.Schema) -> str:
    return ", ".join(f"{f.name} {duckdb_type(f.type) or f.type}" for f in schema)


def _declared(create: CreateTable) -> pa.Schema:
    """The Arrow schema of CREATE TABLE's columns, as DuckDB maps its type names (the
    types of an empty relation with one typed NULL per column)."""
    assert create.columns is not None
    select = exp.select(*(
        exp.alias_(exp.Cast(this=exp.Null(), to=col.type.copy()), col.name, quoted=True)
        for col in create.columns)).limit(0)
    try:
        schema = run_sql(cached_sandbox([]), select.sql(dialect="duckdb")).schema
        empty_table(schema)
    except (pa.ArrowException, NotImplementedError) as exc:
        raise SchemaMismatchError(
            f"CREATE TABLE {create.name}: a column type has no Arrow form to store ({exc})"
        ) from exc
    if len(set(n.lower() for n in schema.names)) != len(schema.names):
        raise InvalidPredicateError(f"CREATE TABLE {create.name}: a column name repeats")
    return pa.schema([f.with_nullable(not col.not_null)
                      for f, col in zip(schema, create.columns, strict=True)])


def _describe(schema: pa.Schema) -> pa.Table:
    """DESCRIBE's columns for a snapshot's schema, as DuckDB describes a table."""
    n = len(schema)
    return pa.table({
        "column_name": pa.array(schema.names, pa.string()),
        "column_type": pa.array([duckdb_type(f.type) or str(f.type) for f in schema],
                                pa.string()),
        "null": pa.array(["YES" if f.nullable else "NO" for f in schema], pa.string()),
        "key": pa.nulls(n, pa.string()),
        "default": pa.nulls(n, pa.string()),
        "extra": pa.nulls(n, pa.string()),
    })


def _count(n: int) -> pa.Table:
    return pa.table({"count": pa.array([n], pa.int64())})


def _insert_rows(dml: Dml, schema: pa.Schema, tables: _Tables) -> pa.Table:
    """The rows an INSERT adds, typed as DuckDB's INSERT types them."""
    lower = {n.lower(): n for n in schema.names}
    if dml.source is None:  # DEFAULT VALUES: every column's default, which is NULL
        return cast_values(pa.table({f.name: pa.nulls(1, f.type) for f in schema}), schema)
    names = dml.columns
    for given in names or []:
        if given.lower() not in lower:
            raise InvalidPredicateError(
                f"INSERT: table {dml.table!r} has no column {given!r} "
                f"(its columns: {', '.join(schema.names)})")
    if dml.by_name:
        rows = run_query(dml.source, tables.resolve, tables.call)
        names = rows.schema.names
        unknown = [n for n in names if n.lower() not in lower]
        if unknown:
            raise InvalidPredicateError(
                f"INSERT ... BY NAME: table {dml.table!r} has no column "
                f"{', '.join(map(repr, unknown))} (its columns: {', '.join(schema.names)})")
        if len({n.lower() for n in names}) != len(names):
            raise InvalidPredicateError("INSERT ... BY NAME: the query names a column twice")
    else:
        targets = names if names is not None else schema.names
        types = [duckdb_type(schema.field(lower[n.lower()]).type) for n in targets]
        typed = typed_values(dml.source, types)
        try:
            rows = run_query(typed, tables.resolve, tables.call)
        except Exception as exc:
            if typed is dml.source or not is_conversion_error(exc):
                raise
            raise _misfit(dml, targets, types, tables, exc) from exc
    return _mapped(rows, schema, names)


def _misfit(dml: Dml, targets: list[str], types: list[str | None],
            tables: _Tables, exc: BaseException) -> Exception:
    """SchemaMismatchError naming the columns a VALUES list's values do not fit."""
    bad = []
    for i, (name, sql_type) in enumerate(zip(targets, types, strict=True)):
        column = values_column(dml.source, i)
        if column is None:
            continue
        try:
            run_query(typed_values(column, [sql_type]), tables.resolve, tables.call)
        except Exception as one:  # noqa: BLE001 - any failure names the column
            if is_conversion_error(one):
                bad.append(name)
    if not bad:
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
    return SchemaMismatchError(
        f"INSERT INTO {dml.table}: values do not fit column(s) {', '.join(bad)}: {exc}", bad)


def _mapped(rows: pa.Table, schema: pa.Schema, columns: list[str] | None) -> pa.Table:
    """The query's result mapped onto the target's columns (by position onto
    ``columns``, or all columns), the others NULL, cast as DuckDB's INSERT casts."""
    from tablever.operations import cast_to_schema

    names = columns if columns is not None else schema.names
    if rows.num_columns != len(names):
        raise InvalidPredicateError(
            f"INSERT gives {rows.num_columns} values per row for {len(names)} columns "
            f"({', '.join(names)})"
        )
    lower = {n.lower(): n for n in schema.names}
    mapped = {lower[given.lower()]: col
              for given, col in zip(names, rows.columns, strict=True)}
    arrays = [mapped[f.name] if f.name in mapped else pa.nulls(rows.num_rows, f.type)
              for f in schema]
    values = cast_values(pa.Table.from_arrays(arrays, names=schema.names), schema)
    return cast_to_schema(values, schema)
