"""What the page shows, as JSON-ready dicts built from the public API (no web server here).

Every function reads; none writes to a table.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

import tablever as tv
from tablever.cli.common import jsonable

__all__ = ["Source", "diff_json", "graph_json", "mlflow_url", "open_source", "version_json"]

HEAD_ROWS = 20
SAMPLE_ROWS = 10


@dataclass(frozen=True, slots=True)
class Source:
    """What ``tablever ui`` serves: one table, or the tables of a warehouse."""

    location: str
    kind: str  # "table" or "warehouse"
    storage_options: dict[str, Any] | None = None

    def names(self) -> list[str]:
        if self.kind == "table":
            return [tv.open(self.location, storage_options=self.storage_options).name]
        return tv.Warehouse(self.location, storage_options=self.storage_options).tables()

    def table(self, name: str) -> tv.Table:
        """The table ``name``; TableNotFoundError (naming the tables there are) if none."""
        if self.kind == "table":
            table = tv.open(self.location, storage_options=self.storage_options)
            if name != table.name:
                raise tv.TableNotFoundError(name, available=[table.name])
            return table
        return tv.Warehouse(self.location, storage_options=self.storage_options).table(name)


def open_source(location: str, *, storage_options: dict[str, Any] | None = None) -> Source:
    """A table at ``location``, else a warehouse holding at least one table.

    Raises:
        TableNotFoundError: neither a table nor a folder of tables is there.
    """
    try:
        tv.open(location, storage_options=storage_options)
        return Source(location, "table", storage_options)
    except tv.TableNotFoundError:
        pass
    if not tv.Warehouse(location, storage_options=storage_options).tables():
        raise tv.TableNotFoundError(location, available=[])
    return Source(location, "warehouse", storage_options)


def _time(s: tv.Snapshot) -> str:
    return s.timestamp.isoformat(timespec="milliseconds")


def mlflow_url(run: tv.Run, tracking_uri: str | None) -> str | None:
    """The run's page on an MLflow tracking server (``http(s)://...``), or None.

    Example:
        >>> run = tv.Run("abc123", 3, "f" * 64, None,
        ...              artifact_uri="mlflow-artifacts:/7/abc123/artifacts")
        >>> mlflow_url(run, "http://127.0.0.1:5000/")
        'http://127.0.0.1:5000/#/experiments/7/runs/abc123'
        >>> mlflow_url(run, "sqlite:///mlflow.db") is None
        True
    """
    if not tracking_uri or not tracking_uri.startswith(("http://", "https://")):
        return None
    base = tracking_uri.rstrip("/")
    found = re.search(r"/(\d+)/" + re.escape(run.run_id) + r"/artifacts/?$", run.artifact_uri or "")
    if found:
        return f"{base}/#/experiments/{found.group(1)}/runs/{run.run_id}"
    return f"{base}/#/runs/{run.run_id}"


def _run(run: tv.Run, tracking_uri: str | None = None) -> dict[str, Any]:
    return jsonable({**run.to_dict(), "created_at": run.created_at.isoformat(timespec="milliseconds"),
                     "mlflow_url": mlflow_url(run, tracking_uri)})


def _schema(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def schema_changes(before: pa.Schema | None, after: pa.Schema) -> dict[str, Any]:
    """Columns added, dropped and retyped from ``before`` to ``after``."""
    if before is None:
        return {"added": [], "dropped": [], "retyped": []}
    old = {f.name: f.type for f in before}
    new = {f.name: f.type for f in after}
    return {
        "added": [n for n in new if n not in old],
        "dropped": [n for n in old if n not in new],
        "retyped": [{"column": n, "from": str(old[n]), "to": str(new[n])}
                    for n in new if n in old and old[n] != new[n]],
    }


def graph_json(table: tv.Table) -> dict[str, Any]:
    """Every retained version (newest first) with its parent, tags and runs, and the
    stretches ``expire`` removed between them."""
    snaps = table.history()
    tags: dict[int, list[str]] = defaultdict(list)
    for rec in table.tag_records():
        tags[rec.version].append(rec.name)
    runs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for run in table.runs():
        runs[run.version].append({"run_id": run.run_id, "model": run.model,
                                  "metrics": jsonable(dict(run.metrics))})
    by_id = {s.id: s.version for s in snaps}
    versions = []
    for s in snaps:
        summary = s.summary
        restored = s.properties.get("restored_version") if s.operation == "restore" else None
        versions.append({
            "version": s.version, "id": s.id, "short_id": s.short_id,
            "parent_id": s.parent_id,
            "parent_version": by_id.get(s.parent_id) if s.parent_id else None,
            "timestamp": _time(s), "operation": s.operation, "message": s.message,
            "num_rows": s.num_rows, "added_rows": summary.get("added_rows", 0),
            "deleted_rows": summary.get("deleted_rows", 0),
            "total_bytes": summary.get("total_bytes", 0),
            "restored_version": restored if restored in by_id.values() else None,
            "tags": sorted(tags[s.version]), "runs": runs[s.version],
        })
    expired = sorted(table.log.read_expired().values(), key=lambda e: e.version)
    retained = sorted(by_id.values())
    gaps: list[dict[str, Any]] = []
    for older, newer in zip(retained, retained[1:], strict=False):
        if newer - older > 1:
            gaps.append({"after": older, "before": newer, "versions": newer - older - 1})
    if retained and retained[0] > 0:
        gaps.append({"after": None, "before": retained[0], "versions": retained[0]})
    return {
        "table": table.name, "location": table.location,
        "latest": snaps[0].version if snaps else None,
        "versions": versions, "gaps": gaps,
        "expired": [{"version": e.version, "id": e.id} for e in expired],
    }


def version_json(table: tv.Table, ref: tv.Ref, *, rows: int = HEAD_ROWS,
                 tracking_uri: str | None = None) -> dict[str, Any]:
    """One version: ids, hashes, summary, schema and its change, runs (with their page
    on the MLflow server at ``tracking_uri``, if one is given) and first rows."""
    s = table.as_of(ref)
    parent: tv.Snapshot | None = None
    if s.parent_id is not None:
        try:
            parent = table.as_of(s.version - 1)
        except tv.RefNotFoundError:  # expired
            parent = None
    runs = [_run(r, tracking_uri) for r in table.runs() if r.version == s.version]
    head = s.head(rows)
    summary = s.summary
    return jsonable({
        "table": table.name, "version": s.version, "id": s.id, "short_id": s.short_id,
        "parent_id": s.parent_id, "parent_version": parent.version if parent else None,
        "timestamp": _time(s), "operation": s.operation, "message": s.message,
        "author": s.author, "properties": s.properties, "provenance": s.provenance,
        "fingerprint": s.fingerprint, "content_hash": s.content_hash,
        "num_rows": s.num_rows, "added_rows": summary.get("added_rows", 0),
        "deleted_rows": summary.get("deleted_rows", 0),
        "num_files": len(s.files), "total_bytes": summary.get("total_bytes", 0),
        "schema": _schema(s.schema),
        "schema_changes": schema_changes(parent.schema if parent else None, s.schema),
        "tags": sorted(r.name for r in table.tag_records() if r.version == s.version),
        "runs": runs, "head": head.to_pylist(), "head_columns": head.column_names,
        "inputs": [_input(table, i) for i in s.inputs],
    })


def _input(table: tv.Table, inp: Any) -> dict[str, Any]:
    """A version this one was derived from; ``table`` names it when it lives in the same
    folder (so the page can switch to it), else None."""
    def parent(location: str) -> str:
        return location.rstrip("/").rsplit("/", 1)[0]

    name = inp.location.rstrip("/").rsplit("/", 1)[-1]
    return {"location": inp.location, "version": inp.version, "id": inp.id,
            "short_id": inp.id[:12], "fingerprint": inp.fingerprint,
            "table": name if parent(inp.location) == parent(table.location) else None}


def _updates(rows: pa.Table, keys: list[str]) -> list[dict[str, Any]]:
    out = []
    for r in rows.to_pylist():
        changed = list(r.get("_changed") or [])
        before, after = r.get("before") or {}, r.get("after") or {}
        out.append({
            "key": {k: r[k] for k in keys}, "_row_id": r.get("_row_id"),
            "changes": [{"column": c, "before": before.get(c), "after": after.get(c)}
                        for c in changed],
        })
    return out


def diff_json(table: tv.Table, a: tv.Ref, b: tv.Ref, *, on: list[str] | None = None,
              sample: int = SAMPLE_ROWS) -> dict[str, Any]:
    """Counts, schema changes, sample rows and (with key columns ``on``) the per-column
    changes of each updated key, from ``a`` to ``b``."""
    d = table.diff(a, b, on=on)
    out: dict[str, Any] = {
        "table": table.name, "a": d.a, "b": d.b, "on": on, "summary": d.summary,
        "schema_changes": d.schema_changes,
        "added": d.added.slice(0, sample).to_pylist(),
        "removed": d.removed.slice(0, sample).to_pylist(),
    }
    if on and d.inserted is not None and d.deleted is not None and d.updated is not None:
        out["inserted"] = d.inserted.slice(0, sample).to_pylist()
        out["deleted"] = d.deleted.slice(0, sample).to_pylist()
        out["updated"] = _updates(d.updated.slice(0, sample), on)
    return jsonable(out)
