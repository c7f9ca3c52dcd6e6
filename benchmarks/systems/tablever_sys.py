"""tablever, through its public API only (DESIGN §3).

Writes go through one ``Table`` handle kept between commits (a writer session, as for the
peers); every read opens the table afresh with ``tv.open``, so no read reuses cached state.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from benchmarks.systems.base import AGG_SQL, System


class Tablever(System):
    name = "tablever"
    notes = {
        "delete": "Table.delete(predicate) (deletion vectors)",
        "filter": "Table.filter(\"label <> 'x'\")",
        "compact": "tv.compact(table)",
        "expire_vacuum": "tv.expire(older_than='0s', keep_last=1) + tv.vacuum(grace='0s')",
        "aggregate": "Snapshot.sql(...) (DuckDB over the snapshot)",
        "lookup": "Snapshot.to_arrow(where='id = k')",
    }

    @property
    def path(self) -> str:
        return str(self.root / "events")

    def _open(self) -> Any:
        import tablever as tv

        return tv.open(self.path)

    def _snap(self, version: Any = None) -> Any:
        t = self._open()
        return t.latest() if version is None else t.as_of(version)

    def create(self, data: pa.Table) -> None:
        import tablever as tv

        self.t = tv.create(self.path, schema=data.schema)  # the writer's handle
        self.t.append(data, message="large append")

    def append(self, data: pa.Table) -> None:
        self.t.append(data, message="small append")

    def delete(self, predicate: str) -> None:
        self.t.delete(predicate, message="delete")

    def filter_out_label(self, label: str) -> None:
        self.t.filter(f"label <> '{label}'", message=f"drop label {label}")

    def compact(self) -> None:
        import tablever as tv

        tv.compact(self.t)

    def expire_vacuum(self) -> None:
        import tablever as tv

        t = self.t
        tv.expire(t, older_than="0s", keep_last=1)
        tv.vacuum(t, grace="0s")

    def maintain(self) -> None:
        import tablever as tv

        tv.maintain(tv.open(self.path))  # the default policy: compacts; expires nothing

    def live_files(self) -> list[str]:
        return [str(self.root / "events" / f) for f in self._snap().files]

    def current_version(self) -> int:
        return int(self._snap().version)

    def read(self, version: Any = None) -> pa.Table:
        out: pa.Table = self._snap(version).to_arrow()
        return out

    def aggregate(self, version: Any = None) -> pa.Table:
        out: pa.Table = self._snap(version).sql(AGG_SQL.format(src="t"))
        return out

    def lookup(self, row_id: int) -> pa.Table:
        out: pa.Table = self._snap().to_arrow(where=f"id = {row_id}")
        return out

    def warm_imports(self) -> None:
        import tablever  # noqa: F401

    def open_version(self, version: Any) -> int:
        return int(self._snap(version).num_rows)


SYSTEM = Tablever
