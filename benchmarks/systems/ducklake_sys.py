"""DuckLake (format 0.3) on DuckDB 1.4.4, with a DuckDB-file catalog.

Runs in its own environment (``.venv-ducklake``): the ``duckdb-ext-ducklake`` package
ships ``ducklake.duckdb_extension`` for DuckDB 1.4.4 only, under
``site-packages/duckdb_ext/extensions``; we point ``extension_directory`` at it and
``LOAD ducklake`` with auto-install off, so nothing is downloaded. Deletes write
position-delete files (merge-on-read). Data inlining is left at its default (off in 0.3).
"""

from __future__ import annotations

import site
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchmarks.systems.base import AGG_SQL, System, to_arrow


def extension_dir() -> str:
    for sp in site.getsitepackages():
        d = Path(sp) / "duckdb_ext" / "extensions"
        if d.is_dir():
            return str(d)
    raise RuntimeError("duckdb-ext-ducklake is not installed in this environment")


def connect() -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET extension_directory = ?", [extension_dir()])
    con.execute("LOAD ducklake")
    return con


def attach(con: Any, root: Path) -> None:
    """(Re)attach the lake: DuckLake's "open the table", which reads the catalog afresh."""
    con.execute("DETACH DATABASE IF EXISTS lake")
    con.execute(
        f"ATTACH 'ducklake:{root / 'meta.ducklake'}' AS lake (DATA_PATH '{root / 'data'}/')"
    )


class DuckLake(System):
    name = "ducklake"
    notes = {
        "delete": "DELETE FROM lake.t WHERE ... (position-delete files)",
        "compact": "CALL ducklake_merge_adjacent_files('lake')",
        "expire_vacuum": "ducklake_expire_snapshots(older_than => now()) + "
        "ducklake_cleanup_old_files(cleanup_all => true)",
        "aggregate": "DuckDB SQL on the attached lake (AT (VERSION => v) for old versions)",
        "lookup": "SELECT * FROM lake.t WHERE id = k",
        "open": "DETACH + ATTACH the lake, then count(*) AT (VERSION => v)",
    }

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.con = connect()  # one DuckDB session with the extension loaded
        attach(self.con, self.root)

    def create(self, data: pa.Table) -> None:
        self.con.register("src", data)
        self.con.execute("CREATE TABLE lake.t AS SELECT * FROM src")
        self.con.unregister("src")

    def append(self, data: pa.Table) -> None:
        self.con.register("src", data)
        self.con.execute("INSERT INTO lake.t SELECT * FROM src")
        self.con.unregister("src")

    def delete(self, predicate: str) -> None:
        self.con.execute(f"DELETE FROM lake.t WHERE {predicate}")

    def compact(self) -> None:
        self.con.execute("CALL ducklake_merge_adjacent_files('lake')").fetchall()

    def expire_vacuum(self) -> None:
        self.con.execute("CALL ducklake_expire_snapshots('lake', older_than => now())").fetchall()
        self.con.execute("CALL ducklake_cleanup_old_files('lake', cleanup_all => true)").fetchall()

    def live_files(self) -> list[str]:
        attach(self.con, self.root)
        rows = self.con.execute("SELECT data_file FROM ducklake_list_files('lake', 't')")
        return [r[0] for r in rows.fetchall()]

    def current_version(self) -> int:
        return int(
            self.con.execute("SELECT id FROM ducklake_current_snapshot('lake')").fetchall()[0][0]
        )

    @staticmethod
    def _src(version: Any) -> str:
        return "lake.t" if version is None else f"lake.t AT (VERSION => {int(version)})"

    def read(self, version: Any = None) -> pa.Table:
        attach(self.con, self.root)
        return to_arrow(self.con.sql(f"SELECT * FROM {self._src(version)}"))

    def aggregate(self, version: Any = None) -> pa.Table:
        attach(self.con, self.root)
        return to_arrow(self.con.sql(AGG_SQL.format(src=self._src(version))))

    def lookup(self, row_id: int) -> pa.Table:
        attach(self.con, self.root)
        return to_arrow(self.con.sql(f"SELECT * FROM lake.t WHERE id = {row_id}"))

    def open_version(self, version: Any) -> int:
        attach(self.con, self.root)
        return int(self.con.execute(f"SELECT count(*) FROM {self._src(version)}").fetchall()[0][0])

    def close(self) -> None:
        self.con.close()


SYSTEM = DuckLake
