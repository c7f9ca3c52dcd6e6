"""Apache Iceberg through pyiceberg, with its SQLite-backed SQL catalog.

pyiceberg deletes copy-on-write (``Table.delete`` rewrites each file holding a matching
row; it has no merge-on-read writer), has no data-file compaction, and its snapshot expiry
only drops snapshots from the metadata: it deletes no file.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from benchmarks.systems.base import AGG_SQL, System, Unsupported


class Iceberg(System):
    name = "iceberg"
    compacts = False
    notes = {
        "delete": "Table.delete(filter) (copy-on-write)",
        "compact": "unsupported: pyiceberg has no rewrite_data_files",
        "expire_vacuum": "maintenance.expire_snapshots().older_than(now) (metadata only; "
        "pyiceberg removes no files)",
        "aggregate": "DataScan.to_duckdb() then DuckDB",
        "lookup": "scan(row_filter=EqualTo('id', k)).to_arrow()",
    }
    IDENT = "bench.events"

    def __init__(self, root: Any) -> None:
        super().__init__(root)
        from pyiceberg.catalog.sql import SqlCatalog

        (self.root / "warehouse").mkdir(exist_ok=True)
        self.catalog = SqlCatalog(
            "bench",
            uri=f"sqlite:///{self.root / 'catalog.db'}",
            warehouse=f"file://{self.root / 'warehouse'}",
        )

    def create(self, data: pa.Table) -> None:
        self.catalog.create_namespace("bench")
        self.tbl = self.catalog.create_table(self.IDENT, schema=data.schema)  # writer's handle
        self.tbl.append(data)

    def _open(self) -> Any:
        return self.catalog.load_table(self.IDENT)

    def append(self, data: pa.Table) -> None:
        self.tbl.append(data)

    @staticmethod
    def _expr(predicate: str) -> Any:
        from pyiceberg.expressions import EqualTo, LessThan

        known = {
            "confidence < 0.05": lambda: LessThan("confidence", 0.05),
        }
        if predicate in known:
            return known[predicate]()
        if predicate.startswith("label = '"):
            return EqualTo("label", predicate.split("'")[1])
        if predicate.startswith("id = "):
            return EqualTo("id", int(predicate[5:]))
        return predicate  # pyiceberg's own string parser

    def delete(self, predicate: str) -> None:
        self.tbl.delete(self._expr(predicate))

    def compact(self) -> None:
        raise Unsupported("pyiceberg has no data-file compaction (rewrite_data_files)")

    def expire_vacuum(self) -> None:
        tbl = self.tbl
        tbl.maintenance.expire_snapshots().older_than(datetime.now(timezone.utc)).commit()

    def live_files(self) -> list[str]:
        tasks = self._open().scan().plan_files()
        return [t.file.file_path.removeprefix("file://") for t in tasks]

    def current_version(self) -> int:
        snap = self._open().current_snapshot()
        assert snap is not None
        return int(snap.snapshot_id)

    def read(self, version: Any = None) -> pa.Table:
        return self._open().scan(snapshot_id=version).to_arrow()

    def aggregate(self, version: Any = None) -> pa.Table:
        import duckdb

        con = duckdb.connect()
        self._open().scan(snapshot_id=version).to_duckdb("t", connection=con)
        from benchmarks.systems.base import to_arrow

        return to_arrow(con.sql(AGG_SQL.format(src="t")))

    def lookup(self, row_id: int) -> pa.Table:
        return self._open().scan(row_filter=self._expr(f"id = {row_id}")).to_arrow()

    def warm_imports(self) -> None:
        import pyiceberg.catalog.sql  # noqa: F401

    def open_version(self, version: Any) -> int:
        snap = self._open().snapshot_by_id(version)
        assert snap is not None and snap.summary is not None
        return int(snap.summary["total-records"])


SYSTEM = Iceberg
