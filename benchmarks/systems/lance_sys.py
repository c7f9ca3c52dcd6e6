"""Lance (the ``pylance`` package): its own columnar format with deletion files."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa

from benchmarks.systems.base import AGG_SQL, System, Unsupported, to_arrow


class Lance(System):
    name = "lance"
    notes = {
        "delete": "LanceDataset.delete(predicate) (deletion files)",
        "compact": "dataset.optimize.compact_files()",
        "expire_vacuum": "cleanup_old_versions(older_than=timedelta(0))",
        "aggregate": "DuckDB over the LanceDataset (Arrow dataset interface)",
        "lookup": "to_table(filter='id = k') (no scalar index)",
    }

    @property
    def uri(self) -> str:
        return str(self.root / "table.lance")

    def create(self, data: pa.Table) -> None:
        import lance

        self.ds = lance.write_dataset(data, self.uri, mode="create")  # the writer's handle

    def append(self, data: pa.Table) -> None:
        self.ds.insert(data, mode="append")

    def _open(self, version: Any = None) -> Any:
        import lance

        return lance.dataset(self.uri, version=version)

    def delete(self, predicate: str) -> None:
        self.ds.delete(predicate)

    def compact(self) -> None:
        self.ds.optimize.compact_files()

    def expire_vacuum(self) -> None:
        self._open().cleanup_old_versions(older_than=timedelta(0))

    def live_files(self) -> list[str]:
        raise Unsupported("Lance data files are not Parquet")

    def current_version(self) -> int:
        return int(self._open().version)

    def read(self, version: Any = None) -> pa.Table:
        return self._open(version).to_table()

    def aggregate(self, version: Any = None) -> pa.Table:
        import duckdb

        ds = self._open(version)
        con = duckdb.connect()
        con.register("t", ds)
        return to_arrow(con.sql(AGG_SQL.format(src="t")))

    def lookup(self, row_id: int) -> pa.Table:
        return self._open().to_table(filter=f"id = {row_id}")

    def warm_imports(self) -> None:
        import lance  # noqa: F401

    def open_version(self, version: Any) -> int:
        return int(self._open(version).count_rows())


SYSTEM = Lance
