"""The physical limit: plain Parquet files in a folder, no log, no versions.

Appends write one file each (zstd, 122,880-row groups, like DuckDB's default). The deletes
rewrite the affected files in place (what a user without a table format does), so there is
no history: time travel, compaction and expiry are unsupported. Reads are
``pyarrow.parquet.read_table`` and DuckDB ``read_parquet`` over the file list.
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.systems.base import AGG_SQL, System, Unsupported, to_arrow

ROW_GROUP = 122_880


class Raw(System):
    name = "raw"
    compacts = False
    notes = {
        "delete": "read each file, drop matching rows with DuckDB, rewrite it (no history)",
        "aggregate": "DuckDB read_parquet(file list)",
        "lookup": "DuckDB read_parquet(file list) WHERE id = k",
    }

    def __init__(self, root: Any) -> None:
        super().__init__(root)
        self.dir = self.root / "files"
        self.dir.mkdir(exist_ok=True)
        self.n = 0

    def _write(self, data: pa.Table) -> None:
        pq.write_table(
            data,
            self.dir / f"part-{self.n:06d}.parquet",
            compression="zstd",
            row_group_size=ROW_GROUP,
        )
        self.n += 1

    def create(self, data: pa.Table) -> None:
        self._write(data)

    def append(self, data: pa.Table) -> None:
        self._write(data)

    def files(self) -> list[str]:
        return sorted(str(p) for p in self.dir.glob("*.parquet"))

    def delete(self, predicate: str) -> None:
        import duckdb

        con = duckdb.connect()
        for f in self.files():
            hit = con.execute(f"SELECT count(*) FROM read_parquet(?) WHERE {predicate}", [f])
            if hit.fetchall()[0][0] == 0:
                continue
            kept = to_arrow(con.sql(f"SELECT * FROM read_parquet('{f}') WHERE NOT ({predicate})"))
            tmp = f + ".tmp"
            pq.write_table(kept, tmp, compression="zstd", row_group_size=ROW_GROUP)
            os.replace(tmp, f)

    def current_version(self) -> Any:
        raise Unsupported("no versions")

    def read(self, version: Any = None) -> pa.Table:
        if version is not None:
            raise Unsupported("no versions")
        return pq.read_table(self.files())

    def aggregate(self, version: Any = None) -> pa.Table:
        import duckdb

        if version is not None:
            raise Unsupported("no versions")
        con = duckdb.connect()
        return to_arrow(con.sql(AGG_SQL.format(src=f"read_parquet({self.files()!r})")))

    def lookup(self, row_id: int) -> pa.Table:
        import duckdb

        con = duckdb.connect()
        return to_arrow(
            con.sql(f"SELECT * FROM read_parquet({self.files()!r}) WHERE id = {row_id}")
        )


SYSTEM = Raw
