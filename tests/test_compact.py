"""tv.compact: fewer files, the same rows with the same row ids, old versions untouched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tablever as tv
from tablever.format.commit import Actions, Commit, DataFile, DeleteVector
from tablever.format.state import TableState
from tablever.maintenance import compaction, plan_compact
from tests.conftest import SCHEMA, make_batch

pytestmark = pytest.mark.storages  # each test on the local disk and on S3


def content(snap: tv.Snapshot) -> pa.Table:
    return snap.to_arrow(with_row_id=True).sort_by("_row_id")


def every_version(t: tv.Table) -> dict[int, pa.Table]:
    return {s.version: content(s) for s in t.history()}


def many_small(t: tv.Table, n: int = 6, size: int = 5) -> tv.Table:
    for i in range(n):
        t.append(make_batch(list(range(i * size, (i + 1) * size))), message=f"batch {i}")
    return t


def test_compaction_keeps_rows_and_row_ids_and_every_older_version(table: tv.Table) -> None:
    many_small(table)
    table.delete("id % 4 = 0", message="drop some")
    table.update({"label": "'updated'"}, where="id < 8")  # files with a physical _row_id
    table.upsert(make_batch([3, 100]), on=["id"])
    before = every_version(table)
    latest = table.latest()

    snap = tv.compact(table, message="tidy up")

    assert snap is not None
    assert snap.operation == "compact" and snap.message == "tidy up"
    assert snap.version == latest.version + 1
    assert len(snap.files) < len(latest.files)
    assert content(snap).equals(before[latest.version])
    assert snap.summary["total_rows"] == latest.num_rows == snap.num_rows
    for version, rows in before.items():
        assert content(table.as_of(version)).equals(rows), version
    assert tv.verify(table).ok


def test_compaction_drops_deleted_rows(table: tv.Table) -> None:
    many_small(table)
    table.delete("id >= 3 AND id < 12")  # the middle file goes, two get deletion vectors
    deleted = set(range(3, 12))
    vectors = sum(d.rows for d in table.latest().deletion_vectors)
    assert vectors == 4
    snap = tv.compact(table)
    assert snap is not None
    assert snap.deletion_vectors == []
    assert sum(f.rows for f in snap.data_files) == snap.num_rows == 30 - len(deleted)
    ids = set(snap.to_arrow().column("id").to_pylist())
    assert ids.isdisjoint(deleted)
    assert snap.properties["dropped_deleted_rows"] == vectors
    for f in snap.data_files:
        physical = pq.read_table(table.storage.local_path(f.path))
        assert "_row_id" in physical.column_names and f.first_row_id is None


def test_a_large_file_with_many_deletes_is_rewritten_alone(table: tv.Table) -> None:
    table.append(make_batch(list(range(100))))
    assert tv.compact(table) is None  # one file, no deletes: nothing to gain
    table.delete("id < 30")
    big = table.latest().data_files[0].bytes
    snap = tv.compact(table, target_file_bytes=big // 2)  # not small, but 30% deleted
    assert snap is not None and len(snap.files) == 1 and not snap.deletion_vectors
    assert snap.to_arrow().column("id").to_pylist() == list(range(30, 100))


def test_nothing_to_compact_returns_none_and_commits_nothing(table: tv.Table) -> None:
    assert tv.compact(table) is None
    table.append(make_batch([1, 2]))
    assert tv.compact(table) is None
    assert tv.compact(table, min_input_files=3) is None
    table.append(make_batch([3]))
    assert tv.compact(table, min_input_files=3) is None
    assert table.latest().version == 2
    assert tv.compact(table) is not None


def test_target_size_splits_the_work(table: tv.Table) -> None:
    many_small(table, n=8, size=50)
    one = table.latest().data_files[0].bytes
    snap = tv.compact(table, target_file_bytes=one * 2 + one // 2)
    assert snap is not None
    assert 2 < len(snap.files) < 8
    assert content(snap).equals(content(table.as_of(snap.version - 1)))


def test_target_comes_from_the_table_property(path: str, schema: pa.Schema) -> None:
    t = tv.create(path, schema=schema, properties={"compact.target_file_bytes": 1})
    many_small(t, n=3)
    assert tv.compact(t) is None  # every file is over a 1-byte target
    t.set_properties({"compact.target_file_bytes": "64MiB"})
    assert tv.compact(t) is not None


def test_bad_policy_values_name_themselves(table: tv.Table) -> None:
    many_small(table, n=2)
    with pytest.raises(tv.InvalidNameError, match="lots"):
        tv.compact(table, target_file_bytes="lots")
    with pytest.raises(ValueError, match="min_input_files"):
        tv.compact(table, min_input_files=0)
    with pytest.raises(tv.SchemaMismatchError, match="nope"):
        tv.compact(table, sort_by=["nope"])


def test_sort_by_clusters_rows_and_keeps_ids(table: tv.Table) -> None:
    for i in range(4):
        ids = list(range(i, 40, 4))
        table.append(make_batch(ids, confidence=[float(-x) for x in ids]))
    before = content(table.latest())
    snap = tv.compact(table, sort_by=["confidence"])
    assert snap is not None and len(snap.files) == 1
    physical = pq.read_table(table.storage.local_path(snap.files[0]))
    conf = physical.column("confidence").to_pylist()
    assert conf == sorted(conf)
    assert content(snap).equals(before)


def test_compaction_reads_files_written_under_an_older_schema(table: tv.Table) -> None:
    many_small(table, n=2)
    extra = make_batch([50, 51]).append_column("source", pa.array(["a", "b"]))
    table.append(extra, schema_mode="merge")
    before = content(table.latest())
    snap = tv.compact(table)
    assert snap is not None and len(snap.files) == 1
    assert content(snap).equals(before)
    assert content(snap).column("source").null_count == 10


@pytest.mark.disk
def test_a_corrupt_input_file_is_refused_not_laundered(table: tv.Table) -> None:
    many_small(table, n=3)
    victim = Path(table.storage.full(table.latest().files[1]))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(tv.IntegrityError, match=table.latest().files[1]):
        tv.compact(table)
    assert table.latest().operation == "append"


def _race(
    monkeypatch: pytest.MonkeyPatch, table: tv.Table, other: Callable[[tv.Table], Any]
) -> None:
    """Make ``other`` commit through a second handle after compaction wrote its files."""
    original = compaction._rewrite
    done: list[bool] = []

    def write_then_race(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        if not done:
            done.append(True)
            other(tv.open(table.location))
        return out

    monkeypatch.setattr(compaction, "_rewrite", write_then_race)


def test_compaction_that_lost_to_a_delete_aborts_and_resurrects_nothing(
    table: tv.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    many_small(table)
    _race(monkeypatch, table, lambda t: t.delete("id = 7"))
    with pytest.raises(tv.CommitConflictError, match="deleted"):
        tv.compact(table)
    latest = table.latest()
    assert latest.operation == "delete"
    assert 7 not in latest.to_arrow().column("id").to_pylist()
    monkeypatch.undo()
    snap = tv.compact(table)  # a rerun succeeds
    assert snap is not None and 7 not in snap.to_arrow().column("id").to_pylist()
    assert content(snap).equals(content(latest))


def test_compaction_that_lost_to_an_overwrite_aborts(
    table: tv.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    many_small(table)
    _race(monkeypatch, table, lambda t: t.overwrite(make_batch([1])))
    with pytest.raises(tv.CommitConflictError, match="removed"):
        tv.compact(table)
    assert table.latest().to_arrow().column("id").to_pylist() == [1]


def test_appends_that_won_the_race_are_kept(
    table: tv.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    many_small(table)
    before = content(table.latest())
    _race(monkeypatch, table, lambda t: t.append(make_batch([500, 501])))
    snap = tv.compact(table)
    assert snap is not None and snap.operation == "compact"
    rows = content(snap)
    assert rows.num_rows == before.num_rows + 2
    assert {500, 501} <= set(rows.column("id").to_pylist())
    new_ids = set(rows.column("_row_id").to_pylist())
    assert set(before.column("_row_id").to_pylist()) < new_ids


# --- the planner is pure -------------------------------------------------------------


def _file(i: int, size: int, rows: int = 10) -> DataFile:
    return DataFile(f"data/{i:02x}/{i:064x}.parquet", f"{i:064x}", size, rows, i * 100)


def _state(files: list[DataFile], deletes: dict[int, int] | None = None) -> TableState:
    dvs = {}
    for i, n in (deletes or {}).items():
        f = files[i]
        dvs[f.key] = DeleteVector(f.path, f.first_row_id, f"deletes/00/{i:064x}.parquet",
                                  f"{i:064x}", n)
    commit = Commit(1, None, 0, "t", "append", "", "", {}, {}, None,
                    Actions(), {})
    return TableState(1, "x" * 64, commit, {}, {f.key: f for f in files}, dvs, 10_000)


def test_plan_packs_small_files_in_row_id_order_up_to_the_target() -> None:
    files = [_file(i, 40) for i in range(7)] + [_file(9, 1000)]
    plan = plan_compact(_state(files[::-1]), target_file_bytes=100)
    assert [[f.first_row_id for f in g.files] for g in plan.groups] == [
        [0, 100], [200, 300], [400, 500]
    ]  # the seventh small file is alone, the big one is near enough the target
    assert plan.input_files == 6 and plan.version == 1


def test_plan_takes_delete_heavy_files_and_skips_lone_clean_ones() -> None:
    files = [_file(0, 1000), _file(1, 1000), _file(2, 10)]
    plan = plan_compact(_state(files, {1: 5}), target_file_bytes=100, delete_ratio=0.5)
    assert [[f.first_row_id for f in g.files] for g in plan.groups] == [[100]]
    assert plan.deleted_rows == 5 and plan.rows == 5
    assert plan_compact(_state(files, {1: 4}), target_file_bytes=100, delete_ratio=0.5).empty


def test_compacted_files_carry_exact_content_sums_without_rehashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output sums come from the inputs' sums minus deleted rows; each must equal the
    hash of the file's rows computed from scratch, and the snapshot hash is unchanged."""
    from tablever.content_hash import sum_hex, sum_rows

    t = tv.create(tmp_path / "t", schema=SCHEMA)
    for i in range(6):
        t.append(make_batch(list(range(i * 50, i * 50 + 50))))
    t.delete("id % 7 = 0")
    before = t.latest().content_hash
    calls: list[int] = []
    original = compaction.sum_rows
    monkeypatch.setattr(compaction, "sum_rows", lambda tb: calls.append(tb.num_rows)
                        or original(tb))
    snap = tv.compact(t, target_file_bytes=1)  # tiny target: several output files
    assert snap is not None and len(snap.files) > 1
    assert sum(calls) == 300 - snap.num_rows  # only the deleted rows were hashed
    assert snap.content_hash == before
    for f in snap.data_files:
        rows = pq.read_table(tmp_path / "t" / f.path).drop_columns(["_row_id"])
        assert f.content_hash == sum_hex(sum_rows(rows))
