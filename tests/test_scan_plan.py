"""Snapshot.plan: the file tasks of a version, read by an engine outside tablever."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import tablever as tv
from tablever.scanplan import FileTask, ScanPlan
from tests.conftest import make_batch

pytestmark = pytest.mark.storages

PREDICATES = [
    "id < 5",
    "id >= 40 AND id < 45",
    "id = 27",
    "id BETWEEN 18 AND 22",
    "id IN (3, 33, 63)",
    "label = 'l1'",
    "label IS NULL",
    "confidence > 0.85",
    "score IS NOT NULL",
    "score > 100",
    "id > 1000",
    "NOT (id < 30)",
    "id < 5 OR id > 55",
    "coalesce(score, -1) < 0",
    "id::VARCHAR LIKE '1%'",
]


def _filesystem(location: str) -> tuple[pafs.FileSystem | None, str]:
    """How pyarrow opens a task's location (S3: the test server of the environment)."""
    if location.startswith("s3://"):
        import os

        host = os.environ["AWS_ENDPOINT_URL"].split("://", 1)[1]
        fs = pafs.S3FileSystem(endpoint_override=host, scheme="http", access_key="testing",
                               secret_key="testing", region="us-east-1")
        return fs, location[len("s3://"):]
    return None, location


def read_plan(plan: ScanPlan) -> pa.Table:
    """Every task read with pyarrow alone: the engine's side of the contract."""
    parts = []
    for task in plan.tasks:
        fs, where = _filesystem(task.location)
        have = [c for c in plan.columns if c in task.columns]
        part = pq.read_table(where, columns=have, filesystem=fs).filter(task.keep())
        for f in plan.schema:
            if f.name not in part.column_names:
                part = part.append_column(f.name, pa.nulls(len(part), f.type))
        parts.append(part.select(plan.columns).cast(plan.schema))
    return pa.concat_tables(parts) if parts else plan.schema.empty_table()


def _history(path: str) -> tv.Table:
    """Appends, deletes, an update (files with physical row ids), a new column, an
    upsert and a vector replaced by a second delete on the same file."""
    t = tv.create(path, schema=make_batch([]).schema)
    for start in range(0, 60, 10):
        t.append(make_batch(list(range(start, start + 10))), message=f"ids {start}+")
    t.delete("id IN (3, 4, 41)")
    t.update({"label": "'upd'"}, where="id BETWEEN 20 AND 24")
    more = make_batch([60, 61, 62]).append_column("score", pa.array([1.5, None, 200.0]))
    t.append(more, schema_mode="merge")
    t.delete("id = 45")
    t.upsert(make_batch([5, 70], labels=[None, "new"]).append_column(
        "score", pa.array([-3.0, 7.0])), on=["id"])
    t.delete("id = 46")
    return t


def test_plan_rows_equal_to_arrow_for_every_version(path: str) -> None:
    t = _history(path)
    versions = [s.version for s in t.history()]
    assert len(versions) >= 10
    saw_deletes = saw_row_ids = False
    for v in versions:
        snap = t.as_of(v)
        plan = snap.plan()
        assert plan.version == v and plan.snapshot_id == snap.id
        assert plan.rows == snap.num_rows
        assert read_plan(plan).equals(snap.to_arrow())
        cols = [c for c in ("label", "id") if c in snap.schema.names]
        assert read_plan(snap.plan(columns=cols)).equals(snap.to_arrow(columns=cols))
        for task in plan.tasks:
            assert isinstance(task, FileTask)
            assert task.live_rows == task.rows - (0 if task.deleted is None else len(task.deleted))
            saw_deletes |= task.deleted is not None
            saw_row_ids |= task.first_row_id is None
            if task.delete_location is not None:
                fs, where = _filesystem(task.delete_location)
                pos = pq.read_table(where, filesystem=fs).column("pos").to_pylist()
                assert pos == task.deleted.tolist()
    assert saw_deletes and saw_row_ids


def test_locations_are_absolute_and_name_the_files(path: str) -> None:
    t = _history(path)
    plan = t.latest().plan()
    for task in plan.tasks:
        assert task.location == f"{t.location.rstrip('/')}/{task.path}"
        if path.startswith("s3://"):
            assert task.location.startswith("s3://tables/")
        fs, where = _filesystem(task.location)
        info = (fs or pafs.LocalFileSystem()).get_file_info(where)
        assert info.size == task.size
        assert pq.read_metadata(where, filesystem=fs).num_rows == task.rows


def _duckdb_rows(table: pa.Table, predicate: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect()
    conn.register("v", table)
    rows = conn.execute(f"SELECT * FROM v WHERE ({predicate}) IS TRUE").fetchall()
    return sorted(rows, key=repr)


def test_pruning_never_drops_a_matching_row(path: str) -> None:
    t = _history(path)
    snap = t.latest()
    full = snap.to_arrow()
    pruned_some = False
    for predicate in PREDICATES:
        plan = snap.plan(where=predicate)
        assert plan.where == predicate
        assert len(plan.tasks) + plan.files_pruned == len(snap.files)
        pruned_some |= plan.files_pruned > 0
        got = _duckdb_rows(read_plan(plan), predicate)
        assert got == _duckdb_rows(full, predicate), predicate
    assert pruned_some
    assert snap.plan(where="id > 1000").tasks == ()


def test_pruning_on_older_versions_and_projection(path: str) -> None:
    t = _history(path)
    for snap in t.history()[::3]:
        full = snap.to_arrow()
        for predicate in ("id < 12", "id = 44", "label = 'upd'"):
            plan = snap.plan(columns=["id"], where=predicate)
            assert plan.columns == ["id"]
            expected = sorted(r[0] for r in _duckdb_rows(full.select(["id", "label"]), predicate))
            rows = read_plan(snap.plan(where=predicate))
            assert sorted(r[0] for r in _duckdb_rows(rows.select(["id", "label"]), predicate)) \
                == expected


def test_bad_plan_requests_raise_and_change_nothing(path: str) -> None:
    t = _history(path)
    before = t.latest().version
    with pytest.raises(tv.SchemaMismatchError, match="nope"):
        t.latest().plan(columns=["nope"])
    with pytest.raises(tv.InvalidPredicateError, match="unknown column"):
        t.latest().plan(where="nope > 1")
    with pytest.raises(tv.InvalidPredicateError):
        t.latest().plan(where="id +")
    with pytest.raises(tv.InvalidPredicateError):
        t.latest().plan(where="label + 1")  # not a condition DuckDB can bind
    assert t.latest().version == before


def test_plan_of_an_empty_version(path: str) -> None:
    t = tv.create(path, schema=make_batch([]).schema)
    plan = t.latest().plan()
    assert plan.tasks == () and plan.rows == 0
    assert read_plan(plan).equals(t.latest().to_arrow())
