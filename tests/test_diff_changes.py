"""diff and changes: what changed between versions, from row ids and deletion vectors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv
import tablever.lineage as lineage

pytestmark = pytest.mark.storages  # each test on the local disk and on S3

Batch = Callable[..., pa.Table]


def pairs(t: pa.Table) -> list[tuple[int, int]]:
    return sorted(zip(t.column("id").to_pylist(), t.column("_row_id").to_pylist(), strict=True))


def test_diff_of_appends_and_deletes(filled: tv.Table, batch: Batch) -> None:
    filled.delete("id IN (2, 13)")
    filled.append(batch([50]))
    d = filled.diff(2)
    assert (d.a, d.b) == (2, 4)
    assert pairs(d.added) == [(50, 20)]
    assert pairs(d.removed) == [(2, 2), (13, 13)]
    assert d.summary == {"added": 1, "removed": 2}
    assert "_row_id" in d.added.column_names and "label" in d.removed.column_names
    back = filled.diff(4, 2)
    assert pairs(back.added) == [(2, 2), (13, 13)] and pairs(back.removed) == [(50, 20)]
    assert filled.diff(3, 3).summary == {"added": 0, "removed": 0}


def test_diff_by_key_reports_inserted_deleted_and_updated(filled: tv.Table, batch: Batch) -> None:
    filled.tag("v1.0")
    filled.update({"label": "'cat'"}, where="id = 4")
    filled.update({"confidence": "0.99", "label": "'dog'"}, where="id = 5")
    filled.update({"label": "label"}, where="id = 6")  # rewritten, same values
    filled.delete("id = 7")
    filled.upsert(batch([8, 60], labels=["l2", "new"]), on=["id"])  # 8 keeps its values
    d = filled.diff("v1.0", on=["id"])
    assert d.inserted is not None and d.deleted is not None and d.updated is not None
    assert d.inserted.column("id").to_pylist() == [60]
    assert d.deleted.column("id").to_pylist() == [7]
    updated = sorted(d.updated.to_pylist(), key=lambda r: r["id"])
    assert [(r["id"], sorted(r["_changed"])) for r in updated] == [
        (4, ["label"]), (5, ["confidence", "label"])
    ]
    five = updated[1]
    assert five["before"]["label"] == "l2" and five["after"]["label"] == "dog"
    assert five["after"]["confidence"] == pytest.approx(0.99)
    assert five["_row_id"] == 5
    assert d.summary["inserted"] == 1 and d.summary["deleted"] == 1
    assert d.summary["updated"] == 2


def test_diff_reports_schema_changes(table: tv.Table, batch: Batch) -> None:
    table.append(pa.table({"id": [1], "label": ["a"], "confidence": pa.array([0.5])}))
    table.append(pa.table({"id": [2], "label": ["b"], "confidence": [0.1], "source": ["web"]}),
                 schema_mode="merge")
    d = table.diff(1, 2, on=["id"])
    assert d.schema_changes == {"added_columns": ["source"]}
    assert d.inserted is not None and d.inserted.column("source").to_pylist() == ["web"]
    assert table.diff(2, 1).schema_changes == {"dropped_columns": ["source"]}


def test_diff_key_must_exist(filled: tv.Table) -> None:
    with pytest.raises(tv.SchemaMismatchError, match="nope"):
        filled.diff(1, 2, on=["nope"])


def test_restore_cancels_out_in_the_diff(filled: tv.Table) -> None:
    filled.delete("id < 5")
    filled.update({"label": "'x'"}, where="id > 15")
    s = filled.restore(2)
    d = filled.diff(2, s.version)
    assert d.summary == {"added": 0, "removed": 0}


def test_diff_reads_only_files_whose_rows_changed(
    filled: tv.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    filled.delete("id = 12")
    read: list[str] = []
    original = lineage._file_rows

    def recording(storage: Any, f: Any, *args: Any) -> pa.Table:
        read.append(f.path)
        return original(storage, f, *args)

    monkeypatch.setattr(lineage, "_file_rows", recording)
    d = filled.diff(2, 3)
    assert pairs(d.removed) == [(12, 12)]
    assert read == [filled.as_of(2).data_files[1].path]  # the untouched file is not read


def test_change_feed(filled: tv.Table, batch: Batch) -> None:
    filled.delete("id = 0")  # v3
    filled.update({"label": "'x'"}, where="id = 1")  # v4
    filled.append(batch([70]))  # v5
    feed = filled.changes(2, 5)
    assert feed.column_names[-3:] == ["_row_id", "_change", "_version"]
    got = sorted((r["_version"], r["_change"], r["_row_id"], r["id"], r["label"])
                 for r in feed.to_pylist())
    assert got == [
        (3, "delete", 0, 0, "l0"),
        (4, "delete", 1, 1, "l1"),
        (4, "insert", 1, 1, "x"),
        (5, "insert", 20, 70, "l1"),
    ]
    first = filled.changes(0, 1).to_pylist()
    assert {r["_change"] for r in first} == {"insert"} and len(first) == 10
    assert filled.changes(5, 5).num_rows == 0


def test_changes_with_the_end_before_the_start_names_the_versions(table: tv.Table,
                                                                   batch: Batch) -> None:
    table.append(batch([1, 2]))
    table.append(batch([3]))
    with pytest.raises(tv.RefNotFoundError, match="before the start version 2"):
        table.changes(2, 1)


def test_columns_named_like_the_diffs_own_ones(tmp_path: Path) -> None:
    """A table with columns ``x`` and ``x__new`` or ``__h`` diffs by key and across a
    compaction correctly; key columns or table columns that would clash with the output
    columns of a diff or of the change feed are a clear error, not a garbled table."""
    schema = pa.schema([("id", pa.int64()), ("x", pa.int64()), ("x__new", pa.int64()),
                        ("__h", pa.int64())])
    t = tv.create(tmp_path / "t", schema=schema)
    t.append(pa.table({"id": [1, 2], "x": [1, 2], "x__new": [5, 6], "__h": [0, 0]}, schema=schema))
    t.update({"x": "x + 10"}, where="id = 1")
    (row,) = t.diff(1, 2, on=["id"]).updated.to_pylist()
    assert row["_changed"] == ["x"]
    assert row["before"] == {"id": 1, "x": 1, "x__new": 5, "__h": 0}
    assert row["after"] == {"id": 1, "x": 11, "x__new": 5, "__h": 0}
    tv.compact(t)
    moved = t.diff(2, 3)
    assert moved.added.num_rows == 0 and moved.removed.num_rows == 0  # same rows, moved

    keyed = tv.create(tmp_path / "k", schema=pa.schema([("after", pa.int64()), ("v", pa.int64())]))
    keyed.append(pa.table({"after": [1], "v": [1]}))
    keyed.append(pa.table({"after": [2], "v": [2]}))
    with pytest.raises(tv.SchemaMismatchError, match="after"):
        keyed.diff(1, 2, on=["after"])
    feed = tv.create(tmp_path / "f", schema=pa.schema([("id", pa.int64()), ("_change", pa.string())]))
    feed.append(pa.table({"id": [1], "_change": ["a"]}))
    with pytest.raises(tv.SchemaMismatchError, match="_change"):
        feed.changes(0, 1)


def test_diff_of_a_table_with_columns_named_like_its_internal_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tables created before the __tv_ prefix was reserved may hold such columns: diff
    picks internal names that are not columns."""
    import tablever.table as table_module

    schema = pa.schema([("id", pa.int64()), ("__tv_new_0", pa.string()),
                        ("__tv_new_1", pa.string()), ("__tv_h", pa.int64())])
    monkeypatch.setattr(table_module, "check_scan_columns", lambda names: None)
    t = tv.create(tmp_path / "t", schema=schema)
    monkeypatch.undo()
    t.append(pa.table({"id": [1, 2], "__tv_new_0": ["a", "b"], "__tv_new_1": ["c", "d"],
                       "__tv_h": [0, 0]}, schema=schema))
    t.update({"__tv_new_0": "'z'"}, where="id = 1")
    (row,) = t.diff(1, 2, on=["id"]).updated.to_pylist()
    assert row["_changed"] == ["__tv_new_0"] and isinstance(row["_row_id"], int)
    assert row["before"]["__tv_new_0"] == "a" and row["after"]["__tv_new_0"] == "z"
    tv.compact(t)
    moved = t.diff(2, 3)
    assert moved.added.num_rows == 0 and moved.removed.num_rows == 0


def test_row_ids_are_typed_alike_on_every_path(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    t.append(pa.table({"id": pa.array([1, 2, 3], pa.int64())}))
    t.delete("id = 2")
    want = pa.field("_row_id", pa.int64(), nullable=False)
    d = t.diff(1, 2)
    for table in (t.latest().to_arrow(with_row_id=True), d.removed, d.added, t.changes(0, 2)):
        assert table.schema.field("_row_id") == want
