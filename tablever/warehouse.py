"""Warehouse: a folder of tables, queried together with SQL time travel."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from tablever.errors import TableDroppedError, TableNotFoundError
from tablever.format.commit import check_name
from tablever.log import Log
from tablever.snapshot import Snapshot
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

    def tables(self, *, dropped: bool = False) -> list[str]:
        """Names of the tables in the warehouse, sorted; with ``dropped``, the dropped
        ones too (their history is still readable)."""
        out = []
        for name in sorted(self._storage.list_names("")):
            try:
                check_name(name, "table name")
            except Exception:  # not a table folder
                continue
            if self._storage.is_dir(name) and Log(self._storage.child(name)).exists():
                out.append(name)
        if not dropped:
            out = [n for n in out if self._open(n).dropped is None]
        return out

    def _open(self, name: str) -> Table:
        where = self._table_storage(name)
        location, fs = where.locator()
        return open_table(location, fs=fs, storage_options=where.storage_options)

    def table(self, name: str, *, dropped: bool = False) -> Table:
        """Open table ``name``; TableNotFoundError lists the tables there are, or says
        when the table was dropped (``dropped=True`` opens it anyway, to read its
        history or restore it)."""
        try:
            table = self._open(name)
        except TableNotFoundError:
            raise TableNotFoundError(name, available=self.tables()) from None
        if not dropped and table.dropped is not None:
            raise TableDroppedError(name, table.location, table.dropped)
        return table

    def drop(self, name: str, *, message: str = "") -> Snapshot:
        """Drop table ``name`` (one commit; see :meth:`Table.drop`)."""
        return self.table(name).drop(message=message or f"drop table {name}")

    def create(
        self,
        name: str,
        schema: Any = None,
        *,
        properties: Mapping[str, Any] | None = None,
        message: str = "create table",
        data: Any = None,
        data_message: str = "initial data",
    ) -> Table:
        """Create table ``name`` in the warehouse (see :func:`tablever.create`)."""
        self._storage.makedirs("")
        where = self._table_storage(name)
        location, fs = where.locator()
        return create(location, schema, properties=properties, message=message, data=data,
                      data_message=data_message, fs=fs, storage_options=where.storage_options)

    def sql(self, query: str, *, dialect: str | None = None, message: str | None = None) -> pa.Table:
        """Run SQL over the warehouse's tables; any reference may carry a version clause
        (``VERSION AS OF``, ``TIMESTAMP AS OF``, ``FOR SYSTEM_TIME AS OF``, ``AT (...)``).

        ``INSERT``, ``DELETE`` and ``UPDATE`` on a table commit one version each (with
        ``message`` or the statement as the commit message) and return a one-row table
        with the integer column ``count`` (rows affected). ``CREATE TABLE`` (with columns,
        ``AS SELECT``, ``IF NOT EXISTS`` or ``OR REPLACE``) creates or overwrites a table
        and returns its row ``count``; ``DESCRIBE t`` and ``SHOW TABLES`` describe them.
        docs/sql.md lists every statement and what it does.
        """
        from tablever.query.statements import run_statement

        return run_statement(self, query, dialect=dialect, message=message)
