"""TableState: folding commits into live files, vectors and row ids (pure, no disk)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tablever.errors import CorruptLogError
from tablever.format.commit import Actions, Commit, DataFile, DeleteVector
from tablever.format.state import (
    TableState,
    apply,
    empty_state,
    fingerprint,
    summarize,
    touched_keys,
)

SCHEMA = {"fields": [{"name": "id", "type": "int64", "nullable": True}]}


def sha(c: str) -> str:
    return c * 64


def df(c: str, rows: int, first: int | None) -> DataFile:
    return DataFile(f"data/{c * 2}/{sha(c)}.parquet", sha(c), 10 * rows, rows, first)


def dv(target: DataFile, c: str, rows: int) -> DeleteVector:
    return DeleteVector(target.path, target.first_row_id, f"deletes/{c * 2}/{sha(c)}.parquet",
                        sha(c), rows)


def create() -> TableState:
    c0 = Commit(0, None, 1000, "t0", "create", "", "me", {"checkpoint_interval": 5}, {},
                SCHEMA, Actions(), {}).with_id()
    return empty_state(c0)


def step(state: TableState, actions: Actions, op: str = "append", **kw: object) -> TableState:
    summary = {} if kw.get("bad") else summarize(state, actions, next_row_id=0)
    c = Commit(state.version + 1, state.id, state.commit.timestamp_ms + 1, "t", op, "", "me",
               kw.get("properties", {}), {}, kw.get("schema"), actions,  # type: ignore[arg-type]
               summary).with_id()
    return apply(state, c)


def test_create_state_is_empty_version_zero() -> None:
    s = create()
    assert (s.version, s.num_rows, s.next_row_id, dict(s.files)) == (0, 0, 0, {})
    assert s.schema == SCHEMA
    assert s.properties == {"checkpoint_interval": 5}


def test_version_zero_needs_no_parent_and_a_schema() -> None:
    bad = Commit(0, sha("a"), 1, "t", "create", "", "me", {}, {}, SCHEMA, Actions(), {})
    with pytest.raises(CorruptLogError):
        empty_state(bad.with_id())
    with pytest.raises(CorruptLogError):
        empty_state(replace(bad, parent_id=None, schema=None).with_id())


def test_appends_advance_the_row_id_counter() -> None:
    a, b = df("a", 3, 0), df("b", 4, 3)
    s = step(step(create(), Actions(add=(a,))), Actions(add=(b,)))
    assert s.version == 2
    assert s.next_row_id == 7
    assert s.num_rows == 7
    assert list(s.files) == [a.key, b.key]


def test_same_bytes_twice_live_twice_with_distinct_row_ids() -> None:
    a = df("a", 3, 0)
    s = step(step(create(), Actions(add=(a,))), Actions(add=(replace(a, first_row_id=3),)))
    assert s.num_rows == 6 and len(s.files) == 2


def test_deletion_vector_replaces_the_previous_one_and_counts() -> None:
    a = df("a", 10, 0)
    s = step(create(), Actions(add=(a,)))
    s = step(s, Actions(deletes=(dv(a, "1", 2),)))
    assert s.num_rows == 8
    s = step(s, Actions(deletes=(dv(a, "2", 5),)))  # the union, as a new vector
    assert s.num_rows == 5
    assert list(s.deletes.values()) == [dv(a, "2", 5)]
    assert s.commit.summary["deleted_rows"] == 3


def test_a_smaller_vector_brings_rows_back() -> None:
    a = df("a", 10, 0)
    s1 = step(step(create(), Actions(add=(a,))), Actions(deletes=(dv(a, "1", 1),)))
    s2 = step(s1, Actions(deletes=(dv(a, "2", 6),)))
    s3 = step(s2, Actions(deletes=(dv(a, "1", 1),)), op="restore")  # back to s1's vector
    summary = s3.commit.summary
    assert (summary["added_rows"], summary["deleted_rows"]) == (5, 0)
    assert summary["total_rows"] == s3.num_rows == s1.num_rows == 9


def test_removing_a_file_drops_its_vector() -> None:
    a = df("a", 10, 0)
    s = step(step(create(), Actions(add=(a,))), Actions(deletes=(dv(a, "1", 2),)))
    s = step(s, Actions(remove=(a.key,)))
    assert s.num_rows == 0 and not s.deletes
    assert s.commit.summary["deleted_rows"] == 8


@pytest.mark.parametrize(
    "actions",
    [
        Actions(remove=(("data/zz/nope.parquet", 0),)),
        Actions(add=(df("a", 10, 0),)),  # already live
        Actions(deletes=(dv(df("b", 1, 99), "1", 1),)),  # vector for a file not live
        Actions(deletes=(dv(df("a", 10, 0), "1", 11),)),  # more rows than the file holds
    ],
)
def test_commits_that_do_not_fit_are_corrupt(actions: Actions) -> None:
    s = step(create(), Actions(add=(df("a", 10, 0),)))
    with pytest.raises(CorruptLogError):
        step(s, actions, bad=True)


def test_broken_hash_chain_is_detected() -> None:
    s = create()
    c = Commit(1, sha("f"), 2000, "t", "append", "", "me", {}, {}, None, Actions(), {}).with_id()
    with pytest.raises(CorruptLogError, match="parent_id"):
        apply(s, c)
    with pytest.raises(CorruptLogError, match="follows"):
        apply(s, replace(c, version=2, parent_id=s.id).with_id())


def test_fingerprint_is_order_independent_and_sees_vectors() -> None:
    a, b = df("a", 3, 0), df("b", 3, 3)
    assert fingerprint([a, b], {}) == fingerprint([b, a], {})
    assert fingerprint([a], {}) != fingerprint([a, b], {})
    assert fingerprint([a], {}) != fingerprint([a], {a.key: dv(a, "1", 1)})
    # Only bytes count, not row ids: the same content elsewhere in the id space matches.
    assert fingerprint([a], {}) == fingerprint([replace(a, first_row_id=50)], {})


def test_restoring_files_and_vectors_restores_the_fingerprint() -> None:
    a, b = df("a", 3, 0), df("b", 3, 3)
    s1 = step(step(create(), Actions(add=(a,))), Actions(deletes=(dv(a, "1", 1),)))
    s2 = step(s1, Actions(add=(b,), remove=(a.key,)))
    s3 = step(s2, Actions(add=(a,), remove=(b.key,), deletes=(dv(a, "1", 1),)), op="restore")
    assert s3.fingerprint == s1.fingerprint != s2.fingerprint
    assert s3.num_rows == 2


def test_summary_of_an_update_counts_both_sides() -> None:
    a = df("a", 10, 0)
    s = step(create(), Actions(add=(a,)))
    new = df("n", 2, None)
    s = step(s, Actions(add=(new,), deletes=(dv(a, "1", 2),)), op="update")
    summary = s.commit.summary
    assert (summary["added_rows"], summary["deleted_rows"], summary["total_rows"]) == (2, 2, 10)
    assert summary["total_files"] == 2
    assert summary["total_bytes"] == a.bytes + new.bytes


def test_set_properties_merges_table_properties() -> None:
    s = step(create(), Actions(), op="set-properties", properties={"retention.keep_last": 3})
    assert s.properties == {"checkpoint_interval": 5, "retention.keep_last": 3}
    s = step(s, Actions(add=(df("a", 1, 0),)), properties={"user": "x"})
    assert "user" not in s.properties


def test_schema_changes_only_when_a_commit_carries_one() -> None:
    wider = {"fields": [*SCHEMA["fields"], {"name": "x", "type": "string", "nullable": True}]}
    s = step(create(), Actions(), schema=wider)
    assert s.schema == wider
    assert step(s, Actions(add=(df("a", 1, 0),))).schema == wider


def test_touched_keys() -> None:
    a, b = df("a", 10, 0), df("b", 10, 10)
    base = step(step(create(), Actions(add=(a,))), Actions(add=(b,)))
    c = Commit(3, base.id, 5, "t", "delete", "", "me", {}, {}, None,
               Actions(remove=(a.key,), deletes=(dv(b, "1", 1),)), {})
    assert touched_keys(c) == {a.key, b.key}


def test_table_properties_change_by_their_own_action() -> None:
    s = step(create(), Actions(set_properties={"retention.keep_last": 3}), op="append")
    want = {"checkpoint_interval": 5, "retention.keep_last": 3}
    assert s.properties == want  # merged by the action, whatever the operation
    s = step(s, Actions(), op="append", properties={"retention.keep_last": 9})
    assert s.properties == want  # an operation's own parameters are not table properties
