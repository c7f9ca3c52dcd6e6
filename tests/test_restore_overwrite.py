"""restore (exact earlier content, no data copied) and overwrite (replace every row)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv

pytestmark = pytest.mark.storages  # each test on the local disk and on S3

Batch = Callable[..., pa.Table]


def content(s: tv.Snapshot) -> list[dict[str, Any]]:
    return s.to_arrow(with_row_id=True).sort_by("_row_id").to_pylist()


@pytest.fixture
def busy(filled: tv.Table, batch: Batch) -> tv.Table:
    """v1, v2 appends; v3 delete (a vector); v4 tagged 'v1.0'; v5 update; v6 upsert; v7 delete."""
    filled.delete("id IN (1, 12)")
    filled.tag("v1.0", filled.append(batch([20, 21])).version)
    filled.update({"label": "'u'"}, where="id < 5")
    filled.upsert(batch([20, 30]), on=["id"])
    filled.delete("id > 15")
    return filled


def test_restore_has_the_refs_fingerprint_and_copies_no_data(
    busy: tv.Table, path: str, files: Any
) -> None:
    target = busy.as_of("v1.0")
    on_disk = files(path, "data", "deletes")
    s = busy.restore("v1.0", message="back to v1.0")
    assert s.fingerprint == target.fingerprint
    assert content(s) == content(target)
    assert files(path, "data", "deletes") == on_disk  # nothing copied or rewritten
    assert (s.operation, s.message, s.version) == ("restore", "back to v1.0", 8)
    assert s.properties["restored_version"] == target.version
    assert s.properties["restored_id"] == target.id
    assert s.summary["total_rows"] == target.num_rows == s.num_rows
    assert content(busy.as_of(7)) != content(s)  # history is kept, not rewound
    assert s.parent_id == busy.as_of(7).id


@pytest.mark.parametrize("version", [0, 1, 2, 3, 5, 6])
def test_restore_to_any_version(busy: tv.Table, version: int) -> None:
    s = busy.restore(version)
    assert s.fingerprint == busy.as_of(version).fingerprint
    assert content(s) == content(busy.as_of(version))
    assert content(tv.open(busy.location).latest()) == content(s)


def test_restore_keeps_the_row_id_counter(busy: tv.Table, batch: Batch) -> None:
    busy.restore(1)
    s = busy.append(batch([99]))
    new_ids = [r["_row_id"] for r in content(s) if r["id"] == 99]
    assert new_ids == [23]  # never reuses the ids 20..22 handed out after version 1


def test_restore_of_the_latest_still_commits(busy: tv.Table) -> None:
    latest = busy.latest()
    s = busy.restore(latest.version)
    assert s.version == latest.version + 1 and s.fingerprint == latest.fingerprint


def test_restore_of_an_unknown_ref(busy: tv.Table) -> None:
    with pytest.raises(tv.RefNotFoundError):
        busy.restore("v9.9")
    assert busy.latest().version == 7


def test_restore_brings_back_an_earlier_schema(table: tv.Table, batch: Batch) -> None:
    table.append(batch([1]))
    table.append(pa.table({"id": [2], "extra": ["x"]}), schema_mode="merge")
    s = table.restore(1)
    assert s.schema == table.as_of(1).schema and "extra" not in s.schema.names
    assert content(s) == content(table.as_of(1))


def test_overwrite_replaces_every_row(filled: tv.Table, batch: Batch) -> None:
    old = content(filled.latest())
    s = filled.overwrite(batch([100, 101]), message="fresh start")
    assert (s.operation, s.message, s.num_rows) == ("overwrite", "fresh start", 2)
    assert s.summary["deleted_rows"] == 20 and s.summary["added_rows"] == 2
    assert [(r["id"], r["_row_id"]) for r in content(s)] == [(100, 20), (101, 21)]
    assert content(filled.as_of(2)) == old


def test_overwrite_after_deletes_counts_live_rows(filled: tv.Table, batch: Batch) -> None:
    filled.delete("id < 3")
    s = filled.overwrite(batch([1]))
    assert s.summary["deleted_rows"] == 17 and s.num_rows == 1


def test_overwrite_checks_the_schema(filled: tv.Table, path: str, files: Any) -> None:
    on_disk = files(path)
    with pytest.raises(tv.SchemaMismatchError, match="label"):
        filled.overwrite(pa.table({"id": [1], "confidence": [0.1]}))
    assert filled.latest().version == 2 and files(path) == on_disk


def test_overwrite_with_no_rows_empties_the_table(filled: tv.Table, schema: pa.Schema) -> None:
    s = filled.overwrite(schema.empty_table())
    assert s.num_rows == 0 and s.version == 3 and s.data_files == []
    assert filled.as_of(2).num_rows == 20
