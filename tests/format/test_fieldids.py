"""The pure field-id rules (tablever/format/fieldids.py): no disk, schemas as stored."""

from __future__ import annotations

import pytest

from tablever.errors import CorruptLogError
from tablever.format.commit import Actions, DataFile
from tablever.format.fieldids import (
    carry_ids,
    dropped,
    file_columns,
    legacy_ids,
    renamed,
    renamed_between,
    renames,
    sum_applies,
    table_stats,
    union,
    upgraded,
)
from tablever.format.state import apply, empty_state
from tests.format.test_commit import commit

V1 = {"fields": [{"name": "a", "type": "int64", "nullable": True},
                 {"name": "b", "type": "string", "nullable": True}]}


def _file(stats: dict[str, dict[str, int]], ids: dict[str, int] | None = None) -> DataFile:
    return DataFile("data/00/x.parquet", "0" * 64, 10, 3, 0, stats, None, ids)


def test_upgrade_numbers_columns_and_records_their_names() -> None:
    v2 = upgraded(V1)
    assert [(f["name"], f["id"]) for f in v2["fields"]] == [("a", 1), ("b", 2)]
    assert v2["last_column_id"] == 2 and v2["name_mapping"] == {"a": 1, "b": 2}
    assert upgraded(v2) == v2


def test_a_legacy_file_maps_by_its_names_at_the_upgrade() -> None:
    old = _file({"a": {"nulls": 0}, "b": {"nulls": 1}, "_row_id": {"nulls": 0}})
    v2 = renamed(upgraded(V1), "a", "x")
    assert file_columns(old, v2) == {"x": "a", "b": "b"}
    assert renames(old, v2) == (("x", "a"),)
    assert table_stats(old, v2) == {"x": {"nulls": 0}, "b": {"nulls": 1}}
    assert not sum_applies(old, v2) and sum_applies(old, upgraded(V1))
    assert file_columns(old, V1) == {"a": "a", "b": "b"} and renames(old, V1) == ()


def test_a_dropped_name_added_again_is_another_column() -> None:
    v2 = dropped(upgraded(V1), "b")
    again = carry_ids({"fields": [*V1["fields"]]}, v2)  # b added back by name
    assert [(f["name"], f["id"]) for f in again["fields"]] == [("a", 1), ("b", 3)]
    old = _file({"a": {"nulls": 0}, "b": {"nulls": 0}})
    new = _file({"a": {"nulls": 0}, "b": {"nulls": 0}}, {"a": 1, "b": 3})
    assert file_columns(old, again) == {"a": "a", "b": None}
    assert renames(old, again) == (("b", None),)  # a read by name would be wrong
    assert file_columns(new, again) == {"a": "a", "b": "b"} and renames(new, again) == ()
    assert not sum_applies(old, again) and not sum_applies(old, v2)


def test_swapped_names_follow_the_ids() -> None:
    v2 = renamed(renamed(renamed(upgraded(V1), "a", "t"), "b", "a"), "t", "b")
    f = _file({"a": {"nulls": 0}, "b": {"nulls": 1}}, {"a": 1, "b": 2})
    assert file_columns(f, v2) == {"b": "a", "a": "b"}
    assert renamed_between(upgraded(V1), v2) == {"a": "b", "b": "a"}


def test_old_versions_get_the_ids_their_files_map_to() -> None:
    v2 = dropped(renamed(upgraded(V1), "a", "x"), "b")
    assert legacy_ids(V1, v2)["fields"][0]["id"] == 1
    restored = legacy_ids({"fields": [*V1["fields"], {"name": "z", "type": "int64"}]}, v2)
    assert [f["id"] for f in restored["fields"]] == [1, 2, 3]
    assert restored["last_column_id"] == 3 and restored["name_mapping"]["z"] == 3
    both = union(V1, v2)
    assert [(f["name"], f["id"]) for f in both["fields"]] == [("x", 1), ("b", 2)]
    assert union(V1, V1) == V1


def test_the_format_never_goes_back_and_needs_ids() -> None:
    none = Actions()
    state = empty_state(commit(0, None, schema=V1, actions=none))
    assert state.format == 1
    state2 = apply(state, commit(1, state.id, schema=upgraded(V1), format=2, actions=none))
    assert state2.format == 2
    with pytest.raises(CorruptLogError, match="format 1 after format 2"):
        apply(state2, commit(2, state2.id, format=1, actions=none))
    with pytest.raises(CorruptLogError, match="without field ids"):
        apply(state, commit(1, state.id, format=2, actions=none))
    with pytest.raises(CorruptLogError, match="with field ids"):
        apply(state, commit(1, state.id, schema=upgraded(V1), actions=none))
