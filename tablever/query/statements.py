"""Warehouse.sql: each kind of statement mapped to its Python operation.

Queries run in the sandbox (:mod:`tablever.query.sandbox`); ``INSERT``, ``DELETE`` and
``UPDATE`` become ``append``, ``delete`` and ``update`` commits; ``CREATE TABLE`` creates
a table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tablever.errors import InvalidPredicateError, SchemaMismatchError, TableNotFoundError
from tablever.query.engine import cast_values, duckdb_type, is_conversion_error
from tablever.query.rewrite import Dml, TableRef, as_dml, parse, typed_values, values_column
from tablever.query.sandbox import resolve_ref, run_query

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

    def get(self, name: str) -> Table:
        key = name.lower()
        if key not in self.opened:
            match = self.find(name)
            if match is None:
                raise TableNotFoundError(name, available=self.wh.tables())
            self.opened[key] = self.wh.table(match)
        return self.opened[key]

    def find(self, name: str) -> str | None:
        return next((t for t in self.wh.tables() if t.lower() == name.lower()), None)

    def resolve(self, ref: TableRef) -> Snapshot:
        return resolve_ref(self.get(ref.name), ref)


def run_statement(wh: Warehouse, query: str, *, dialect: str | None = None,
                  message: str | None = None) -> pa.Table:
    """Run one statement of :meth:`Warehouse.sql` (see there)."""
    tree = parse(query, dialect=dialect)
    tables = _Tables(wh)
    dml = as_dml(tree)
    if dml is None:
        return run_query(tree, tables.resolve)
    target = tables.get(dml.table)
    text = query.strip()
    msg = message if message is not None else text
    if dml.kind == "insert":
        rows = _insert_rows(dml, target.schema, tables.resolve)
        target.append(rows, message=msg, properties={"sql": text})
        count = rows.num_rows
    elif dml.kind == "delete":
        before = target.latest().version
        snap = target.delete(dml.where or "TRUE", message=msg, properties={"sql": text})
        count = snap.summary["deleted_rows"] if snap.version != before else 0
    else:
        before = target.latest().version
        snap = target.update(dml.assignments, dml.where, message=msg, properties={"sql": text})
        count = snap.summary["added_rows"] if snap.version != before else 0
    return _count(count)


def _count(n: int) -> pa.Table:
    return pa.table({"count": pa.array([n], pa.int64())})


def _insert_rows(dml: Dml, schema: pa.Schema, resolve: Callable[[TableRef], Any]) -> pa.Table:
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
        rows = run_query(dml.source, resolve)
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
            rows = run_query(typed, resolve)
        except Exception as exc:
            if typed is dml.source or not is_conversion_error(exc):
                raise
            raise _misfit(dml, targets, types, resolve, exc) from exc
    return _mapped(rows, schema, names)


def _misfit(dml: Dml, targets: list[str], types: list[str | None],
            resolve: Callable[[TableRef], Any], exc: BaseException) -> Exception:
    """SchemaMismatchError naming the columns a VALUES list's values do not fit."""
    bad = []
    for i, (name, sql_type) in enumerate(zip(targets, types, strict=True)):
        column = values_column(dml.source, i)
        if column is None:
            continue
        try:
            run_query(typed_values(column, [sql_type]), resolve)
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
