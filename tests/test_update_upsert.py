"""update and upsert: new values, same _row_id; old versions untouched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv

pytestmark = pytest.mark.storages  # each test on the local disk and on S3

Batch = Callable[..., pa.Table]


def by_id(s: tv.Snapshot) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in s.to_arrow(with_row_id=True).to_pylist()}


def test_update_sets_values_and_keeps_row_ids(filled: tv.Table) -> None:
    before = by_id(filled.latest())
    s = filled.update({"label": "'cat'", "confidence": "confidence + 1"}, where="id IN (3, 15)",
                      message="relabel")
    after = by_id(s)
    assert s.operation == "update" and s.message == "relabel"
    assert s.properties["predicate"] == "id IN (3, 15)"
    assert s.properties["set"] == {"label": "'cat'", "confidence": "confidence + 1"}
    assert s.summary["added_rows"] == 2 and s.summary["deleted_rows"] == 2
    assert s.num_rows == 20
    for i in range(20):
        if i in (3, 15):
            assert after[i]["label"] == "cat"
            assert after[i]["confidence"] == pytest.approx(before[i]["confidence"] + 1)
            assert after[i]["_row_id"] == before[i]["_row_id"]
        else:
            assert after[i] == before[i]
    assert by_id(filled.as_of(2)) == before


def test_update_without_where_touches_every_row(filled: tv.Table) -> None:
    s = filled.update({"label": "upper(label)"})
    assert sorted(set(s.to_arrow().column("label").to_pylist())) == ["L0", "L1", "L2"]
    assert sorted(r["_row_id"] for r in by_id(s).values()) == list(range(20))


def test_updating_a_row_twice_and_setting_null(filled: tv.Table) -> None:
    row_id = by_id(filled.latest())[7]["_row_id"]
    filled.update({"confidence": "confidence * 2"}, where="id = 7")
    s = filled.update({"confidence": "NULL", "label": "label || '!'"}, where="id = 7")
    assert by_id(s)[7] == {"id": 7, "label": "l1!", "confidence": None, "_row_id": row_id}
    assert by_id(filled.as_of(3))[7]["confidence"] == pytest.approx(1.4)
    assert s.num_rows == 20


def test_update_matching_nothing_commits_nothing(filled: tv.Table) -> None:
    v = filled.latest().version
    assert filled.update({"label": "'x'"}, where="id > 99").version == v
    assert filled.update({"label": "'x'"}, where="id > 99", allow_empty=True).version == v + 1


@pytest.mark.parametrize(
    ("assignments", "error"),
    [
        ({"nope": "1"}, tv.InvalidPredicateError),
        ({"_row_id": "1"}, tv.InvalidPredicateError),
        ({"label": "nope + 1"}, tv.InvalidPredicateError),
        ({"label": "(SELECT 1)"}, tv.InvalidPredicateError),
        ({}, tv.InvalidPredicateError),
        ({"id": "'not a number'"}, tv.SchemaMismatchError),
    ],
)
def test_bad_updates_write_nothing(
    filled: tv.Table, path: str, files: Any, assignments: dict[str, str], error: type
) -> None:
    before, on_disk = filled.latest(), files(path)
    with pytest.raises(error):
        filled.update(assignments, where="id < 5")
    assert filled.latest().id == before.id
    assert files(path) == on_disk


def test_upsert_replaces_matches_keeping_row_ids_and_appends_the_rest(
    filled: tv.Table, batch: Batch
) -> None:
    before = by_id(filled.latest())
    s = filled.upsert(batch([5, 17, 30, 31], labels=["a", "b", "c", "d"]), on=["id"],
                      message="fresh labels")
    after = by_id(s)
    assert s.operation == "upsert" and s.properties["on"] == ["id"]
    assert s.summary["added_rows"] == 4 and s.summary["deleted_rows"] == 2
    assert s.num_rows == 22
    assert (after[5]["label"], after[5]["_row_id"]) == ("a", before[5]["_row_id"])
    assert (after[17]["label"], after[17]["_row_id"]) == ("b", before[17]["_row_id"])
    assert [after[30]["_row_id"], after[31]["_row_id"]] == [20, 21]  # the table's counter
    assert all(after[i] == before[i] for i in range(20) if i not in (5, 17))
    nxt = filled.append(batch([40]))
    assert by_id(nxt)[40]["_row_id"] == 22


def test_upsert_on_several_keys(filled: tv.Table, batch: Batch) -> None:
    s = filled.upsert(batch([4, 4], labels=["l1", "l2"], confidence=[0.0, 0.0]),
                      on=["id", "label"])
    rows = s.to_arrow(where="id = 4").to_pylist()
    assert sorted((r["label"], r["confidence"]) for r in rows) == [("l1", 0.0), ("l2", 0.0)]
    assert s.num_rows == 21


def test_upsert_null_keys_never_match(table: tv.Table) -> None:
    table.append(pa.table({"id": [None, 1], "label": ["a", "b"], "confidence": [0.1, 0.2]}))
    s = table.upsert(pa.table({"id": [None], "label": ["c"], "confidence": [0.3]}), on=["id"])
    assert sorted(s.to_arrow().column("label").to_pylist()) == ["a", "b", "c"]
    # NULL keys may repeat in the data: they match nothing, so they are all appended
    s = table.upsert(pa.table({"id": [None, None, 1], "label": ["d", "e", "B"],
                               "confidence": [0.4, 0.5, 0.6]}), on=["id"])
    assert sorted(s.to_arrow().column("label").to_pylist()) == ["B", "a", "c", "d", "e"]
    with pytest.raises(tv.DuplicateKeyError):
        table.upsert(pa.table({"id": [2, 2], "label": ["x", "y"], "confidence": [0.0, 0.0]}),
                     on=["id"])


def test_upsert_after_update_and_delete(filled: tv.Table, batch: Batch) -> None:
    rid = by_id(filled.latest())[3]["_row_id"]
    filled.update({"label": "'u'"}, where="id = 3")
    filled.delete("id = 4")
    s = filled.upsert(batch([3, 4], labels=["again", "back"]), on=["id"])
    after = by_id(s)
    assert (after[3]["label"], after[3]["_row_id"]) == ("again", rid)
    assert after[4]["label"] == "back" and after[4]["_row_id"] == 20  # deleted rows are gone
    assert s.num_rows == 20


def test_upsert_rejects_repeated_keys_and_bad_input(
    filled: tv.Table, batch: Batch, path: str, files: Any
) -> None:
    before, on_disk = filled.latest(), files(path)
    with pytest.raises(tv.DuplicateKeyError, match="1"):
        filled.upsert(batch([1, 1]), on=["id"])
    with pytest.raises(tv.SchemaMismatchError, match="nope"):
        filled.upsert(batch([1]), on=["nope"])
    with pytest.raises(tv.SchemaMismatchError):
        filled.upsert(pa.table({"id": ["x"]}), on=["id"])
    with pytest.raises(tv.InvalidPredicateError):
        filled.upsert(batch([1]), on=[])
    assert filled.latest().id == before.id and files(path) == on_disk


def test_empty_upsert_commits_nothing(filled: tv.Table, schema: pa.Schema) -> None:
    v = filled.latest().version
    assert filled.upsert(schema.empty_table(), on=["id"]).version == v


def test_changes_show_an_update_as_delete_and_insert_of_the_same_row(filled: tv.Table) -> None:
    rid = by_id(filled.latest())[8]["_row_id"]
    s = filled.update({"label": "'x'"}, where="id = 8")
    feed = filled.changes(s.version - 1, s.version).to_pylist()
    assert sorted((r["_change"], r["_row_id"], r["label"], r["_version"]) for r in feed) == [
        ("delete", rid, "l2", s.version),
        ("insert", rid, "x", s.version),
    ]
