"""tv.export_iceberg: every version read back by a real Iceberg reader (pyiceberg)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import StaticTable
from typer.testing import CliRunner

import tablever as tv
from tablever.cli import app
from tablever.storage import Storage
from tests.conftest import make_batch

pytestmark = pytest.mark.storages


def _io_properties(location: str) -> dict[str, str]:
    """pyiceberg's pyarrow FileIO settings: for S3, the test server's."""
    if not location.startswith("s3://"):
        return {}
    return {"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
            "s3.endpoint": os.environ["AWS_ENDPOINT_URL"],
            "s3.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
            "s3.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"],
            "s3.region": os.environ["AWS_REGION"]}


def _open(out: tv.IcebergExport) -> StaticTable:
    return StaticTable.from_metadata(out.metadata_location, _io_properties(out.location))


def _rows(table: pa.Table, columns: list[str]) -> list[tuple[Any, ...]]:
    return sorted((tuple(r[c] for c in columns) for r in table.to_pylist()), key=repr)


def _assert_same(ice: StaticTable, snapshot_id: int, snap: tv.Snapshot) -> None:
    got = ice.scan(snapshot_id=snapshot_id).to_arrow()
    columns = snap.schema.names
    assert got.column_names == columns
    assert _rows(got, columns) == _rows(snap.to_arrow(), columns)


def _history(path: str) -> tv.Table:
    t = tv.create(path, schema=make_batch([]).schema)
    t.append(make_batch(list(range(10))), message="first")
    t.tag("first")
    t.append(make_batch(list(range(10, 25))))
    t.delete("id IN (2, 3, 17)")
    t.update({"label": "'upd'"}, where="id BETWEEN 5 AND 8")
    t.delete("id = 12")  # a second vector on the same file replaces the first
    t.tag("cleaned")
    more = make_batch([30, 31]).append_column("score", pa.array([0.5, None]))
    t.append(more, schema_mode="merge")
    t.upsert(make_batch([0, 40]).append_column("score", pa.array([9.0, 1.0])), on=["id"])
    t.restore("first", message="back to the start")
    t.append(make_batch([50, 51]))
    return t


def test_every_version_and_tag_reads_back_with_pyiceberg(path: str) -> None:
    t = _history(path)
    out = tv.export_iceberg(t)
    ice = _open(out)
    versions = [s.version for s in t.history()]
    assert sorted(out.snapshots) == sorted(versions)
    assert len(set(out.snapshots.values())) == len(versions)
    for v in versions:
        _assert_same(ice, out.snapshots[v], t.as_of(v))
    for name, snap in t.tags().items():
        ref = ice.metadata.refs[name]
        assert ref.snapshot_ref_type == "tag"
        assert ref.snapshot_id == out.snapshots[snap.version]
        _assert_same(ice, ice.snapshot_by_name(name).snapshot_id, snap)
    assert ice.current_snapshot().snapshot_id == out.snapshots[t.latest().version]
    _assert_same(ice, ice.current_snapshot().snapshot_id, t.latest())
    # position deletes are real delete files of Iceberg, not rows left out
    deleted = t.as_of("cleaned")
    scan = ice.scan(snapshot_id=out.snapshots[deleted.version])
    assert any(task.delete_files for task in scan.plan_files())
    # the export folder opens by itself (version hint), and filters run in Iceberg
    again = StaticTable.from_metadata(out.location, _io_properties(out.location))
    got = again.scan(row_filter="id >= 10").to_arrow()
    assert _rows(got, ["id"]) == _rows(t.latest().to_arrow(where="id >= 10"), ["id"])


def test_snapshot_ids_are_derived_from_version_ids(path: str) -> None:
    t = _history(path)
    out = tv.export_iceberg(t)
    for v, sid in out.snapshots.items():
        assert sid == int(t.as_of(v).id[:16], 16) & (2**63 - 1)
    ice = _open(out)
    by_id = {s.snapshot_id: s for s in ice.metadata.snapshots}
    for v in out.snapshots:
        assert by_id[out.snapshots[v]].sequence_number == v + 1
        assert by_id[out.snapshots[v]].summary["tablever.id"] == t.as_of(v).id


def _listing(location: str) -> dict[str, bytes]:
    storage = Storage(location)
    return {i.path: storage.read_bytes(i.path) for i in storage.walk("")}


def test_second_export_writes_only_what_is_new(path: str) -> None:
    t = _history(path)
    first = tv.export_iceberg(t)
    before = _listing(first.location)
    assert set(first.written) == set(before)
    t.append(make_batch([60, 61, 62]))
    t.delete("id = 61")
    t.tag("later")
    second = tv.export_iceberg(t)
    after = _listing(second.location)
    new = set(after) - set(before)
    # nothing of the first export is rewritten (the version hint moves to the new metadata)
    assert set(second.written) == new | {"metadata/version-hint.text"}
    assert all(after[p] == before[p] for p in before if p != "metadata/version-hint.text")
    assert second.reused > 0
    # two new versions: two manifest lists, a metadata file, new manifests and one
    # position-delete file; the manifests of unchanged groups are not written again
    assert sum(p.startswith("metadata/snap-") for p in new) == 2
    assert sum(p.endswith(".metadata.json") for p in new) == 1
    assert sum(p.startswith("deletes/") for p in new) == 1
    assert sum(p.startswith("metadata/manifest-") for p in new) <= 4
    ice = _open(second)
    for v in (t.latest().version, t.latest().version - 1, 1):
        _assert_same(ice, second.snapshots[v], t.as_of(v))
    assert ice.metadata.refs["later"].snapshot_id == second.snapshots[t.latest().version]
    # nothing new: nothing written, the same metadata
    third = tv.export_iceberg(t)
    assert third.written == () and third.metadata_location == second.metadata_location


def test_field_ids_stay_and_names_map_to_them(path: str) -> None:
    t = _history(path)
    first = tv.export_iceberg(t)
    ids = {f.name: f.field_id for f in _open(first).schema().fields}
    assert "_row_id" not in ids
    t.append(make_batch([70]).append_column("score", pa.array([1.0])).append_column(
        "extra", pa.array(["x"])), schema_mode="merge")
    ice = _open(tv.export_iceberg(t))
    now = {f.name: f.field_id for f in ice.schema().fields}
    assert {k: now[k] for k in ids} == ids and now["extra"] not in ids.values()
    mapping = json.loads(ice.metadata.properties["schema.name-mapping.default"])
    mapped = {m["names"][0]: m["field-id"] for m in mapping}
    assert mapped.pop("_row_id") not in now.values()
    assert mapped == now
    _assert_same(ice, ice.current_snapshot().snapshot_id, t.latest())


def test_verify_and_vacuum_leave_the_export_alone(path: str) -> None:
    t = _history(path)
    out = tv.export_iceberg(t)
    before = _listing(out.location)
    report = tv.verify(t)
    assert report.ok, report.problems
    assert not [p for p in report.orphans if "iceberg" in p]
    tv.vacuum(t, grace="0s")
    assert _listing(out.location) == before
    _assert_same(_open(out), out.snapshots[t.latest().version], t.latest())


def test_export_to_another_folder(path: str, tmp_path: Path) -> None:
    t = _history(path)
    target = str(tmp_path / "ice") if not path.startswith("s3://") else path + "-iceberg"
    out = tv.export_iceberg(t.location, target)
    assert out.location.rstrip("/").endswith(target.rstrip("/").split("://")[-1])
    assert not Storage(t.location).exists("_tablever/iceberg/metadata/version-hint.text")
    _assert_same(_open(out), out.snapshots[t.latest().version], t.latest())


def test_cli_export(path: str) -> None:
    t = _history(path)
    result = CliRunner().invoke(app, ["export", "iceberg", t.location, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["snapshots"][str(t.latest().version)] == \
        int(t.latest().id[:16], 16) & (2**63 - 1)
    result = CliRunner().invoke(app, ["export", "iceberg", t.location])
    assert result.exit_code == 0 and "0 file(s) written" in result.stdout


def test_what_iceberg_cannot_express_raises_and_writes_nothing(path: str) -> None:
    t = tv.create(path, schema=make_batch([]).schema)
    t.append(make_batch([1, 2, 3]))
    t.append(make_batch([1, 2, 3]))  # the same bytes: one file, live twice
    t.delete("id = 2")
    with pytest.raises(tv.ExportError, match="live twice"):
        tv.export_iceberg(t)
    assert not Storage(t.location).exists("_tablever/iceberg/metadata/version-hint.text")
    u = tv.create(path + "-tag", schema=make_batch([]).schema)
    u.append(make_batch([1]))
    u.tag("main")
    with pytest.raises(tv.ExportError, match="main"):
        tv.export_iceberg(u)


def test_unreadable_earlier_export_is_an_export_error(path: str) -> None:
    t = _history(path)
    out = tv.export_iceberg(t)
    Storage(out.location).write_file("metadata/version-hint.text", b"nope.metadata.json")
    with pytest.raises(tv.ExportError, match="unreadable"):
        tv.export_iceberg(t)


def test_after_expire_the_retained_versions_export(path: str) -> None:
    t = _history(path)
    first = tv.export_iceberg(t)
    tv.expire(t, keep_last=3, older_than="0s")
    retained = [s.version for s in t.history()]
    assert len(retained) < len(first.snapshots)
    out = tv.export_iceberg(t)
    assert sorted(out.snapshots) == sorted(retained)
    ice = _open(out)
    assert {s.snapshot_id for s in ice.metadata.snapshots} == set(out.snapshots.values())
    for v in retained:
        _assert_same(ice, out.snapshots[v], t.as_of(v))


def test_copy_leaves_the_export_behind(path: str) -> None:
    t = _history(path)
    tv.export_iceberg(t)
    dst = path + "-copy"
    tv.copy(t.location, dst)
    assert not Storage(dst).exists("_tablever/iceberg/metadata/version-hint.text")
    out = tv.export_iceberg(dst)
    assert out.location.startswith(dst.split("://")[-1]) or out.location.startswith(dst)
    _assert_same(_open(out), out.snapshots[t.latest().version], tv.open(dst).latest())


# (pyiceberg row filter, the same predicate in DuckDB SQL)
FILTERS = [
    ("id < 5", "id < 5"),
    ("id >= 40 and id < 45", "id >= 40 AND id < 45"),
    ("id = 27", "id = 27"),
    ("id in (3, 33, 63)", "id IN (3, 33, 63)"),
    ("small > 100", "small > 100"),
    ("label = 'l1'", "label = 'l1'"),
    ("label is null", "label IS NULL"),
    ("label is not null", "label IS NOT NULL"),
    ("confidence > 0.85", "confidence > 0.85"),
    ("flag = true", "flag = true"),
    ("day >= '2024-01-05'", "day >= DATE '2024-01-05'"),
    ("ts < '2024-01-03T00:00:00+00:00'", "ts < TIMESTAMPTZ '2024-01-03 00:00:00+00'"),
    ("naive >= '2024-01-06T00:00:00'", "naive >= TIMESTAMP '2024-01-06 00:00:00'"),
    ("score is not null", "score IS NOT NULL"),
    ("score > 1.5", "score > 1.5"),
    ("id > 1000", "id > 1000"),
    ("not (id < 30)", "NOT (id < 30)"),
    ("id < 5 or id > 55", "id < 5 OR id > 55"),
]


def _typed_batch(start: int, n: int) -> pa.Table:
    import datetime as dt

    ids = list(range(start, start + n))
    base = dt.datetime(2024, 1, 1)
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "small": pa.array([i * 3 for i in ids], pa.int32()),
        "label": pa.array([None if i % 7 == 0 else f"l{i % 3}" for i in ids], pa.string()),
        "confidence": pa.array([(i % 10) / 10 for i in ids], pa.float64()),
        "flag": pa.array([i % 4 == 0 for i in ids], pa.bool_()),
        "day": pa.array([(base + dt.timedelta(days=i // 10)).date() for i in ids], pa.date32()),
        "ts": pa.array([base + dt.timedelta(hours=5 * i) for i in ids], pa.timestamp("us", "UTC")),
        "naive": pa.array([base + dt.timedelta(hours=3 * i) for i in ids], pa.timestamp("us")),
    })


def test_column_bounds_prune_in_iceberg_and_lose_no_row(path: str) -> None:
    t = tv.create(path, schema=_typed_batch(0, 0).schema)
    for start in range(0, 60, 10):
        t.append(_typed_batch(start, 10))
    t.delete("id IN (4, 44)")
    t.update({"label": "'upd'"}, where="id BETWEEN 20 AND 23")
    t.append(_typed_batch(60, 3).append_column("score", pa.array([1.0, None, 2.0])),
             schema_mode="merge")
    out = tv.export_iceberg(t)
    ice = _open(out)
    snap = t.latest()
    columns = snap.schema.names
    pruned = 0
    for ice_filter, duck in FILTERS:
        scan = ice.scan(row_filter=ice_filter)
        pruned += len(snap.files) - len(list(scan.plan_files()))
        got = _rows(scan.to_arrow(), columns)
        assert got == _rows(snap.to_arrow(where=duck), columns), ice_filter
    assert pruned > 0
    # an earlier version under its own schema prunes the same way
    older = t.as_of(3)
    got = ice.scan(snapshot_id=out.snapshots[3], row_filter="id >= 12").to_arrow()
    assert _rows(got, older.schema.names) == _rows(older.to_arrow(where="id >= 12"),
                                                   older.schema.names)


def test_renames_and_drops_export_with_the_tables_field_ids(path: str) -> None:
    t = _history(path)  # format 1: the first rename below upgrades it
    before = tv.export_iceberg(t)  # an export from before the upgrade is replaced
    t.rename_column("label", "kind")
    t.append(make_batch([60]).rename_columns(["id", "kind", "confidence"]))
    t.drop_column("confidence")
    t.add_column("confidence", pa.string())  # the same name: a new column, NULL before
    t.update({"confidence": "'v'"}, where="id = 60")  # a file with a physical _row_id
    t.delete("kind = 'l2'")
    out = tv.export_iceberg(t)
    assert out.metadata_location != before.metadata_location
    ice = _open(out)
    table_ids = {f["name"]: f["id"] for f in t.latest().state.schema["fields"]}
    assert {f.name: f.field_id for f in ice.schema().fields} == table_ids
    for info in t.versions():
        _assert_same(ice, out.snapshots[info.version], t.as_of(info.version))
    mapping = json.loads(ice.metadata.properties["schema.name-mapping.default"])
    names = {n: m["field-id"] for m in mapping for n in m["names"]}
    # files written before the upgrade map by their names then (the others carry ids)
    assert names["label"] == table_ids["kind"] and "kind" not in names
    assert names["confidence"] != table_ids["confidence"]  # the old column, in old files
    assert ice.scan(row_filter="kind == 'l1'").to_arrow().num_rows == t.latest().to_arrow(
        where="kind = 'l1'").num_rows > 0


def test_a_name_for_two_columns_in_files_without_ids_is_an_export_error(path: str) -> None:
    t = tv.create(path, data=pa.table({"id": [1], "s": pa.array([{"x": 1}])}))
    t.drop_column("s")
    t.add_column("s", pa.struct([("x", pa.int64())]))
    t.append(pa.table({"id": [2], "s": pa.array([{"x": 2}])}))  # nested: no ids inside
    with pytest.raises(tv.ExportError, match="'s' stands for two columns"):
        tv.export_iceberg(t)
    assert not Storage(t.location).exists("_tablever/iceberg/metadata/version-hint.text")
