"""delete and filter: merge-on-read deletion vectors, NULL rules, pruning, bad predicates."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import tablever as tv
import tablever.query.engine as engine

pytestmark = pytest.mark.storages  # each test on the local disk and on S3

Batch = Callable[..., pa.Table]


def ids(s: tv.Snapshot) -> list[int]:
    return sorted(s.to_arrow().column("id").to_pylist())


def test_delete_commits_deleted_rows_with_predicate_and_message(filled: tv.Table) -> None:
    s = filled.delete("confidence < 0.3", message="drop low confidence")
    assert s.operation == "delete" and s.message == "drop low confidence"
    assert s.properties["predicate"] == "confidence < 0.3"
    assert s.summary["deleted_rows"] == 6 and s.summary["added_rows"] == 0
    assert s.summary["total_rows"] == 14 == s.num_rows
    assert ids(s) == [i for i in range(20) if i % 10 >= 3]
    assert ids(filled.as_of(2)) == list(range(20))
    assert filled.delete("id = 3").message == "delete where id = 3"  # a default says what


def test_one_row_delete_on_two_million_rows_is_tiny(path: str, files: Any) -> None:
    n = 2_000_000
    t = tv.create(path, schema=pa.schema([("id", pa.int64()), ("v", pa.float64())]))
    before = t.append(pa.table({"id": np.arange(n), "v": np.arange(n) * 0.5}))
    on_disk = files(path, "data", "deletes", "_tablever/log")
    s = t.delete("id = 1234567")
    new = {p: size for p, size in files(path, "data", "deletes", "_tablever/log").items()
           if p not in on_disk}
    assert sum(new.values()) < 10_000, new
    assert not any(p.startswith("data/") for p in new)  # no data file rewritten
    assert {p.split("/")[0] for p in new} == {"deletes", "_tablever"}
    assert s.files == before.files and s.num_rows == n - 1
    assert len(s.deletion_vectors) == 1 and s.deletion_vectors[0].rows == 1
    assert t.latest().to_arrow(where="id = 1234567").num_rows == 0
    assert t.as_of(before.version).to_arrow(where="id = 1234567").num_rows == 1
    assert t.as_of(before.version).num_rows == n


@pytest.mark.disk
def test_a_later_delete_on_the_same_file_replaces_its_vector_with_the_union(
    filled: tv.Table, path: str
) -> None:
    first = filled.delete("id = 1")
    (dv1,) = first.deletion_vectors
    second = filled.delete("id = 2")
    (dv2,) = second.deletion_vectors  # one live vector per data file
    assert dv2.data_file == dv1.data_file and dv2.path != dv1.path
    assert dv2.rows == 2
    commit = second.state.commit
    assert [d.path for d in commit.actions.deletes] == [dv2.path]
    assert second.summary["deleted_rows"] == 1
    assert ids(second) == [0, *range(3, 20)]
    assert ids(first) == [0, *range(2, 20)]
    assert Path(path, dv1.path).exists()  # the old vector still serves the old version


def test_deleting_every_row_of_a_file_removes_it(filled: tv.Table) -> None:
    s = filled.delete("id < 10")
    assert len(s.data_files) == 1 and not s.deletion_vectors
    assert ids(s) == list(range(10, 20))
    assert s.summary["deleted_rows"] == 10 and s.summary["total_files"] == 1


def test_null_rules(table: tv.Table, batch: Batch) -> None:
    table.append(batch([1, 2, 3], confidence=[0.2, None, 0.9]))
    deleted = table.delete("confidence < 0.5")
    assert ids(deleted) == [2, 3]  # delete(p): rows where p is NULL stay
    table.restore(1)
    kept = table.filter("confidence >= 0.5")
    assert ids(kept) == [3]  # filter(p): rows where p is NULL go
    assert kept.operation == "filter" and kept.properties["predicate"] == "confidence >= 0.5"


def test_filter_keeps_only_rows_where_true(filled: tv.Table) -> None:
    s = filled.filter("label = 'l0' OR id > 17")
    assert ids(s) == [0, 3, 6, 9, 12, 15, 18, 19]
    assert s.summary["deleted_rows"] == 12


def test_empty_operations_commit_nothing_unless_allowed(filled: tv.Table) -> None:
    v = filled.latest().version
    assert filled.delete("id > 1000").version == v
    assert filled.filter("id >= 0").version == v
    assert filled.latest().version == v
    s = filled.delete("id > 1000", message="nothing to do, recorded", allow_empty=True)
    assert s.version == v + 1 and s.summary["deleted_rows"] == 0 and s.num_rows == 20


@pytest.mark.disk
def test_stats_prune_files_that_cannot_match(
    filled: tv.Table, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(path).resolve()
    filled.append(pa.table({"id": [100, 101], "label": ["x", None], "confidence": [None, None]}))
    scanned: list[list[str]] = []
    original = engine.plan_sql

    def recording(plan: Any, *args: Any, **kwargs: Any) -> str:
        scanned.append(sorted(Path(f.path).relative_to(root).as_posix() for f in plan.files))
        return original(plan, *args, **kwargs)

    monkeypatch.setattr(engine, "plan_sql", recording)
    second, third = filled.latest().data_files[1:]
    s = filled.delete("id = 15")
    assert scanned == [[second.path]]
    assert ids(s) == [i for i in range(20) if i != 15] + [100, 101]

    scanned.clear()
    filled.delete("id BETWEEN 101 AND 200 OR id IN (14, 13)")
    assert scanned == [sorted([second.path, third.path])]

    scanned.clear()
    v = filled.latest().version
    assert filled.delete("id > 5000").version == v
    assert scanned == []  # no file can match: nothing read, nothing committed

    scanned.clear()
    filled.latest().to_arrow(where="label IS NULL")
    assert scanned == [[third.path]]


BAD_PREDICATES = [
    ("nope = 1", "nope"),
    ("id = ", "line 1"),
    ("id IN (SELECT 1)", "SUBQUERY"),
    ("id = (SELECT max(id) FROM events)", "SUBQUERY"),
    ("sum(id) > 1", "SUM"),
    ("", "empty"),
    ("id = 'abc'", "abc"),  # parses, fails when evaluated: still before any write
]


@pytest.mark.parametrize(("predicate", "says"), BAD_PREDICATES)
@pytest.mark.parametrize("verb", ["delete", "filter", "update", "read"])
def test_bad_predicates_fail_before_anything_is_written(
    filled: tv.Table, path: str, files: Any, predicate: str, says: str, verb: str
) -> None:
    filled.delete("id = 3")  # a vector exists, so a write could replace it
    before, on_disk = filled.latest(), files(path)
    with pytest.raises(tv.InvalidPredicateError, match=says) as info:
        if verb == "delete":
            filled.delete(predicate)
        elif verb == "filter":
            filled.filter(predicate)
        elif verb == "update":
            filled.update({"label": "'x'"}, where=predicate)
        else:
            filled.latest().to_arrow(where=predicate)
    assert isinstance(info.value, ValueError)
    assert tv.open(path).latest().id == before.id
    assert files(path) == on_disk


def test_non_string_predicate(filled: tv.Table) -> None:
    with pytest.raises(tv.InvalidPredicateError):
        filled.delete(None)  # type: ignore[arg-type]


_TZ_CHILD = """
import datetime as dt, sys, pyarrow as pa, tablever as tv
U = dt.timezone.utc
S = pa.schema([("k", pa.int64()), ("ts", pa.timestamp("us", tz="UTC"))])
t = tv.create(sys.argv[1], schema=S)
noon, nine = dt.datetime(2024, 1, 1, 12, tzinfo=U), dt.datetime(2024, 1, 1, 9, tzinfo=U)
t.append(pa.table({"k": [1], "ts": [noon]}, schema=S))
t.append(pa.table({"k": [2, 3], "ts": [nine, noon]}, schema=S))
pred = "ts < '2024-01-01 10:00:00'"
print(sorted(t.latest().to_arrow(where=pred).column("k").to_pylist()))
print(sorted(t.delete(pred).to_arrow().column("k").to_pylist()))
"""


def test_times_without_offset_in_predicates_mean_utc_in_any_local_zone(path: str) -> None:
    env = {**os.environ, "TZ": "America/New_York"}
    out = subprocess.run([sys.executable, "-c", _TZ_CHILD, path], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout.split("\n")
    # Rows 1 and 3 hold the same instant (12:00Z): neither is before 10:00 UTC, whichever
    # file it sits in and whether stats pruning skipped that file or not.
    assert out[:2] == ["[2]", "[1, 3]"]


@pytest.mark.disk
def test_a_delete_over_many_files_syncs_each_vector_and_each_folder_once(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tv.create(path, schema=pa.schema([("id", pa.int64()), ("gone", pa.bool_())]))
    start = 0
    for i in range(20):  # file i: i + 2 rows, the last one to delete (20 distinct vectors)
        n = i + 2
        t.append(pa.table({"id": pa.array(range(start, start + n), pa.int64()),
                           "gone": [False] * (n - 1) + [True]}), provenance=False)
        start += n
    keep = [k for k in range(start) if k + 1 not in {sum(range(2, j + 3)) for j in range(20)}]
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd")
                      else str(fd))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    s = t.delete("gone", provenance=False)
    vectors = {os.path.join(path, d.path) for d in s.deletion_vectors}
    assert len(vectors) == 20 and ids(s) == keep
    if os.path.exists("/proc/self/fd"):
        folders = {os.path.dirname(v) for v in vectors}
        # each vector: one sync of its bytes (under a temp name) and one of its folder
        temp = [p for p in synced if os.path.dirname(p) in folders]
        assert len(temp) == 20 and all(os.path.basename(p).startswith(".tmp-") for p in temp)
        assert sorted(p for p in synced if p in folders) == sorted(folders)
    assert not [n for _, _, names in os.walk(os.path.join(path, "deletes"))
                for n in names if n.startswith(".tmp-")]
    tv.clear_caches()
    again = tv.open(path).latest()
    assert ids(again) == keep
    # the same vectors again (a retried delete): the stored copies are kept, not rewritten
    before = {v: os.stat(v).st_ino for v in vectors}
    written = t.storage.write_once_many(
        [(d.path, Path(path, d.path).read_bytes()) for d in s.deletion_vectors])
    assert written == [False] * 20
    assert {v: os.stat(v).st_ino for v in vectors} == before
