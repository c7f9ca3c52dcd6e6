"""Delta Lake through delta-rs (the ``deltalake`` package).

delta-rs deletes copy-on-write (``DeltaTable.delete`` rewrites every file holding a
matching row); it does not write deletion vectors. Reads go through
``to_pyarrow_table``/``to_pyarrow_dataset``, the documented Arrow path, and DuckDB scans the
dataset object.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from benchmarks.systems.base import AGG_SQL, System, to_arrow


class Delta(System):
    name = "delta"
    notes = {
        "delete": "DeltaTable.delete(predicate) (copy-on-write)",
        "compact": "DeltaTable.optimize.compact()",
        "expire_vacuum": "create_checkpoint + cleanup_metadata (log kept: default 30-day "
        "log retention) + vacuum(retention_hours=0, enforce_retention_duration=False)",
        "aggregate": "DuckDB over DeltaTable.to_pyarrow_dataset()",
        "lookup": "QueryBuilder (DataFusion, file-stats pruning): SELECT * WHERE id = k",
    }

    @property
    def uri(self) -> str:
        return str(self.root / "table")

    def create(self, data: pa.Table) -> None:
        from deltalake import DeltaTable, write_deltalake

        write_deltalake(self.uri, data, mode="error")
        self.dt = DeltaTable(self.uri)  # the writer's handle, kept between commits

    def append(self, data: pa.Table) -> None:
        from deltalake import write_deltalake

        write_deltalake(self.dt, data, mode="append")

    def _open(self, version: Any = None) -> Any:
        from deltalake import DeltaTable

        return DeltaTable(self.uri, version=version)

    def delete(self, predicate: str) -> None:
        self.dt.delete(predicate)

    def compact(self) -> None:
        self.dt.optimize.compact()

    def expire_vacuum(self) -> None:
        dt = self.dt
        dt.create_checkpoint()
        dt.cleanup_metadata()
        dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)

    def live_files(self) -> list[str]:
        return [u.removeprefix("file://") for u in self._open().file_uris()]

    def current_version(self) -> int:
        return self._open().version()

    def read(self, version: Any = None) -> pa.Table:
        return self._open(version).to_pyarrow_table()

    def aggregate(self, version: Any = None) -> pa.Table:
        import duckdb

        ds = self._open(version).to_pyarrow_dataset()
        con = duckdb.connect()
        con.register("t", ds)
        return to_arrow(con.sql(AGG_SQL.format(src="t")))

    def lookup(self, row_id: int) -> pa.Table:
        from deltalake import QueryBuilder

        qb = QueryBuilder().register("t", self._open())
        return pa.table(qb.execute(f"SELECT * FROM t WHERE id = {row_id}").read_all())

    def warm_imports(self) -> None:
        import deltalake  # noqa: F401

    def open_version(self, version: Any) -> int:
        return int(self._open(version).count())  # from the add actions' statistics


SYSTEM = Delta
