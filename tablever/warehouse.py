"""Warehouse: a folder of tables, queried together with SQL time travel."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from tablever.errors import InvalidPredicateError, SchemaMismatchError, TableNotFoundError
from tablever.format.commit import check_name
from tablever.log import Log
from tablever.storage import Storage
from tablever.table import Table, create, open_table

__all__ = ["Warehouse"]


class Warehouse:
    """A folder whose sub-folders are tables.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile
        >>> wh = tv.Warehouse(tempfile.mkdtemp())
        >>> events = wh.create("events", schema=pa.schema([("id", pa.int64())]))
        >>> _ = events.append(pa.table({"id": [1, 2, 3]}), message="v1")
        >>> _ = events.delete("id = 2", message="v2")
        >>> wh.sql("SELECT count(*) AS n FROM events VERSION AS OF 1").to_pylist()
        [{'n': 3}]
        >>> wh.sql("DELETE FROM events WHERE id = 3").to_pylist()
        [{'count': 1}]
    """

    def __init__(self, path: str | os.PathLike[str], *, fs: Any = None,
                 storage_options: Mapping[str, Any] | None = None) -> None:
        self._storage = Storage(os.fspath(path), fs, storage_options)
        self.path = self._storage.uri

    def __repr__(self) -> str:
        return f"Warehouse({self.path!r})"

    def _table_storage(self, name: str) -> Storage:
        check_name(name, "table name")
        return self._storage.child(name)

    def tables(self) -> list[str]:
        """Names of the tables in the warehouse, sorted."""
        out = []
        for name in sorted(self._storage.list_names("")):
            try:
                check_name(name, "table name")
            except Exception:  # not a table folder
                continue
            if self._storage.is_dir(name) and Log(self._storage.child(name)).exists():
                out.append(name)
        return out

    def table(self, name: str) -> Table:
        """Open table ``name``; TableNotFoundError lists the tables there are."""
        try:
            where = self._table_storage(name)
            location, fs = where.locator()
            return open_table(location, fs=fs, storage_options=where.storage_options)
        except TableNotFoundError:
            raise TableNotFoundError(name, available=self.tables()) from None

    def create(
        self,
        name: str,
        schema: Any = None,
        *,
        properties: Mapping[str, Any] | None = None,
        message: str = "create table",
        data: Any = None,
    ) -> Table:
        """Create table ``name`` in the warehouse (see :func:`tablever.create`)."""
        self._storage.makedirs("")
        where = self._table_storage(name)
        location, fs = where.locator()
        return create(location, schema, properties=properties, message=message, data=data,
                      fs=fs, storage_options=where.storage_options)

    def sql(self, query: str, *, dialect: str | None = None, message: str | None = None) -> pa.Table:
        """Run SQL over the warehouse's tables; any reference may carry a version clause
        (``VERSION AS OF``, ``TIMESTAMP AS OF``, ``FOR SYSTEM_TIME AS OF``, ``AT (...)``).

        ``INSERT``, ``DELETE`` and ``UPDATE`` on a table commit one version each (with
        ``message`` or the statement as the commit message) and return a one-row table
        with the integer column ``count`` (rows affected).
        """
        from tablever.query.rewrite import TableRef, as_dml, parse, typed_values
        from tablever.query.sandbox import resolve_ref, run_query

        tree = parse(query, dialect=dialect)
        opened: dict[str, Table] = {}

        def table_of(name: str) -> Table:
            key = name.lower()
            if key not in opened:
                match = next((t for t in self.tables() if t.lower() == key), None)
                if match is None:
                    raise TableNotFoundError(name, available=self.tables())
                opened[key] = self.table(match)
            return opened[key]

        def resolve(ref: TableRef) -> Any:
            return resolve_ref(table_of(ref.name), ref)

        dml = as_dml(tree)
        if dml is None:
            return run_query(tree, resolve)
        target = table_of(dml.table)
        msg = message if message is not None else query.strip()
        if dml.kind == "insert":
            assert dml.source is not None
            rows = run_query(typed_values(dml.source, _target_types(target.schema, dml.columns)),
                             resolve)
            snap = target.append(_insert_rows(rows, target.schema, dml.columns), message=msg,
                                 properties={"sql": query.strip()})
            count = rows.num_rows
            del snap
        elif dml.kind == "delete":
            before = target.latest().version
            snap = target.delete(dml.where or "TRUE", message=msg,
                                 properties={"sql": query.strip()})
            count = snap.summary["deleted_rows"] if snap.version != before else 0
        else:
            before = target.latest().version
            snap = target.update(dml.assignments, dml.where, message=msg,
                                 properties={"sql": query.strip()})
            count = snap.summary["added_rows"] if snap.version != before else 0
        return pa.table({"count": pa.array([count], pa.int64())})


def _target_types(schema: pa.Schema, columns: list[str] | None) -> list[str | None]:
    """The DuckDB type of each column an INSERT names (all, in order, by default)."""
    from tablever.query.engine import duckdb_type

    lower = {n.lower(): schema.field(n).type for n in schema.names}
    names = columns if columns is not None else schema.names
    return [duckdb_type(lower[n.lower()]) if n.lower() in lower else None for n in names]


def _insert_rows(rows: pa.Table, schema: pa.Schema, columns: list[str] | None) -> pa.Table:
    """INSERT's result mapped by position onto the target's columns (or ``columns``)."""
    from tablever.operations import cast_to_schema
    from tablever.query.engine import cast_values

    names = columns if columns is not None else schema.names
    if rows.num_columns != len(names):
        raise InvalidPredicateError(
            f"INSERT gives {rows.num_columns} values per row for {len(names)} columns "
            f"({', '.join(names)})"
        )
    lower = {n.lower(): n for n in schema.names}
    mapped = {}
    for given, col in zip(names, rows.columns, strict=True):
        real = lower.get(given.lower())
        if real is None:
            raise SchemaMismatchError(f"INSERT names unknown column {given!r}", [given])
        mapped[real] = col
    arrays = []
    for f in schema:
        arrays.append(mapped[f.name] if f.name in mapped else pa.nulls(rows.num_rows, f.type))
    values = cast_values(pa.Table.from_arrays(arrays, names=schema.names), schema)
    return cast_to_schema(values, schema)
