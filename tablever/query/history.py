"""A table's history as relations for SQL: ``snapshots('t')``, ``tags('t')``,
``runs('t')`` and ``table_changes('t', from, to)``.

Each is an Arrow table built from the log (and, for the change feed, from
:meth:`Table.changes`), registered on the query's DuckDB connection under the name the
rewrite gave it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tablever.query.rewrite import HistoryCall, TableRef

if TYPE_CHECKING:
    from tablever.snapshot import Snapshot
    from tablever.table import Table

__all__ = ["history_relation"]

_TIME = pa.timestamp("us", tz="UTC")


def history_relation(
    call: HistoryCall, table: Table, resolve: Callable[[TableRef], Snapshot]
) -> pa.Table:
    """The rows of one history function call over ``table``.

    - ``snapshots``: one row per retained version, newest first: ``version``, ``id``,
      ``time``, ``operation``, ``message``, ``author``, ``rows_added``, ``rows_removed``,
      ``total_rows`` and ``tags`` (the tags naming it).
    - ``tags``: ``name``, ``version``, ``id``, ``message``, ``time``, ``author``.
    - ``runs``: ``run_id``, ``version``, ``id``, ``model``, ``metrics`` and ``params``
      (JSON text), ``artifact_uri``, ``time``, ``author``.
    - ``table_changes``: the rows each version after ``from`` up to ``to`` inserted or
      deleted, with ``_row_id``, ``_change`` and ``_version`` (:meth:`Table.changes`).
    """
    if call.function == "snapshots":
        return _snapshots(table)
    if call.function == "tags":
        return _tags(table)
    if call.function == "runs":
        return _runs(table)
    start, end = (resolve(ref) for ref in call.bounds)
    return table.changes(start.version, end.version)


def _snapshots(table: Table) -> pa.Table:
    names: dict[int, list[str]] = {}
    for rec in table.tag_records():
        names.setdefault(rec.version, []).append(rec.name)
    snaps = table.history()
    return pa.table({
        "version": pa.array([s.version for s in snaps], pa.int64()),
        "id": pa.array([s.id for s in snaps], pa.string()),
        "time": pa.array([s.timestamp_ms * 1000 for s in snaps], pa.int64()).cast(_TIME),
        "operation": pa.array([s.operation for s in snaps], pa.string()),
        "message": pa.array([s.message for s in snaps], pa.string()),
        "author": pa.array([s.author for s in snaps], pa.string()),
        "rows_added": pa.array([_int(s.summary, "added_rows") for s in snaps], pa.int64()),
        "rows_removed": pa.array([_int(s.summary, "deleted_rows") for s in snaps], pa.int64()),
        "total_rows": pa.array([s.num_rows for s in snaps], pa.int64()),
        "tags": pa.array([sorted(names.get(s.version, [])) for s in snaps],
                         pa.list_(pa.string())),
    })


def _int(summary: dict[str, Any], key: str) -> int | None:
    value = summary.get(key)
    return int(value) if isinstance(value, int) else None


def _tags(table: Table) -> pa.Table:
    recs = sorted(table.tag_records(), key=lambda r: (r.version, r.name))
    return pa.table({
        "name": pa.array([r.name for r in recs], pa.string()),
        "version": pa.array([r.version for r in recs], pa.int64()),
        "id": pa.array([r.id for r in recs], pa.string()),
        "message": pa.array([r.message for r in recs], pa.string()),
        "time": pa.array([r.created_ms * 1000 for r in recs], pa.int64()).cast(_TIME),
        "author": pa.array([r.author for r in recs], pa.string()),
    })


def _runs(table: Table) -> pa.Table:
    runs = table.runs()
    return pa.table({
        "run_id": pa.array([r.run_id for r in runs], pa.string()),
        "version": pa.array([r.version for r in runs], pa.int64()),
        "id": pa.array([r.snapshot_id for r in runs], pa.string()),
        "model": pa.array([r.model for r in runs], pa.string()),
        "metrics": pa.array([json.dumps(dict(r.metrics), sort_keys=True) for r in runs],
                            pa.string()),
        "params": pa.array([json.dumps(dict(r.params), sort_keys=True) for r in runs],
                           pa.string()),
        "artifact_uri": pa.array([r.artifact_uri for r in runs], pa.string()),
        "time": pa.array([r.created_ms * 1000 for r in runs], pa.int64()).cast(_TIME),
        "author": pa.array([r.author for r in runs], pa.string()),
    })
