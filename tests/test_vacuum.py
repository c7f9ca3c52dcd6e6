"""tv.vacuum: frees what no retained version needs, after the grace period, nothing else."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv
from tablever.maintenance import expiry, maintain, plan_vacuum, vacuum_plan
from tablever.maintenance.vacuuming import execute_vacuum
from tablever.storage import FileInfo
from tablever.write import write_data_files
from tests.conftest import make_batch, table_files

pytestmark = pytest.mark.storages  # each test on the local disk and on S3


def content(snap: tv.Snapshot) -> pa.Table:
    return snap.to_arrow(with_row_id=True).sort_by("_row_id")


def age(root: str, rel: str, seconds: float = 7200) -> None:
    p = Path(root) / rel
    t = time.time() - seconds
    os.utime(p, (t, t))


def churn(t: tv.Table) -> None:
    """Versions whose files later versions no longer need."""
    t.append(make_batch(list(range(10))))
    t.append(make_batch(list(range(10, 20))))
    t.delete("id < 3")
    t.delete("id < 5")  # replaces the first deletion vector
    t.overwrite(make_batch(list(range(100, 105))))
    time.sleep(t.storage.mtime_resolution + 0.01)  # older than a grace of 0s


def test_vacuum_after_expire_frees_bytes_and_keeps_verify_green(table: tv.Table) -> None:
    churn(table)
    table.tag("first", 1)
    latest = table.latest()
    first = content(table.as_of("first"))
    assert tv.vacuum(table, grace="0s") == []  # every version still retained
    tv.expire(table, older_than="0s", keep_last=1)
    before = table_files(table.location, "data", "deletes")

    removed = tv.vacuum(table, grace="0s")

    after = table_files(table.location, "data", "deletes")
    assert removed and set(removed) == set(before) - set(after)
    assert sum(before.values()) > sum(after.values())
    assert any(p.startswith("deletes/") for p in removed)
    assert set(after) == set(latest.files) | set(table.as_of("first").files)
    assert content(table.as_of("first")).equals(first)
    assert content(table.latest()).equals(content(latest))
    report = tv.verify(table)
    assert report.ok and report.orphans == []
    assert tv.vacuum(table, grace="0s") == []


@pytest.mark.disk
def test_files_younger_than_grace_survive(table: tv.Table) -> None:
    churn(table)
    # An in-flight writer's file: written, not committed yet.
    orphan = write_data_files(table.storage, make_batch([777]), first_row_id=0)[0].path
    assert tv.vacuum(table) == []  # default grace: 1 hour
    assert tv.vacuum(table, grace="1h") == []
    assert (Path(table.location) / orphan).exists()
    age(table.location, orphan, 3 * 3600)
    assert tv.vacuum(table, grace="2h", dry_run=True) == [orphan]
    table.set_properties({"vacuum.grace": "4h"})
    assert tv.vacuum(table) == []  # the table's policy
    assert tv.vacuum(table, grace="2h") == [orphan]
    assert not (Path(table.location) / orphan).exists()
    assert tv.verify(table).ok


@pytest.mark.disk
def test_stale_temp_files_go_and_unknown_files_stay(table: tv.Table) -> None:
    churn(table)
    root = Path(table.location)
    stale = root / "data" / "ab" / ".tmp-deadbeef"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half a file")
    fresh = root / "_tablever" / "log" / ".tmp-cafe"
    fresh.write_bytes(b"{")
    notes = root / "data" / "notes.txt"
    notes.write_text("mine")
    for p in (stale, notes):
        age(table.location, p.relative_to(root).as_posix())
    plan = vacuum_plan(table, grace="1h")
    assert plan.paths == ["data/ab/.tmp-deadbeef"] and plan.reasons == ("temp",)
    assert [f.path for f in plan.young] == ["_tablever/log/.tmp-cafe"]
    assert tv.vacuum(table, grace="1h") == ["data/ab/.tmp-deadbeef"]
    assert fresh.exists() and notes.exists()
    assert "data/notes.txt: unexpected file" in tv.verify(table).problems


def test_dry_run_lists_and_changes_nothing(table: tv.Table) -> None:
    churn(table)
    tv.expire(table, older_than="0s", keep_last=1)
    files = table_files(table.location)
    plan = vacuum_plan(table, grace="0s")
    listed = tv.vacuum(table, grace="0s", dry_run=True)
    assert listed == plan.paths and plan.bytes > 0
    assert table_files(table.location) == files
    assert tv.vacuum(table, grace="0s") == listed


def test_nothing_outside_the_table_root_is_touched(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.parquet"
    sentinel.write_bytes(b"do not delete")
    (tmp_path / ".tmp-sentinel").write_bytes(b"nor this")
    for p in tmp_path.iterdir():
        os.utime(p, (0, 0))
    t = tv.create(tmp_path / "events", schema=make_batch([]).schema)
    churn(t)
    tv.expire(t, older_than="0s", keep_last=1)
    removed = tv.vacuum(t, grace="0s")
    assert removed and all(p.split("/")[0] in ("data", "deletes", "_tablever") for p in removed)
    assert sentinel.read_bytes() == b"do not delete"
    assert (tmp_path / ".tmp-sentinel").exists()
    assert tv.verify(t).ok


def test_a_hostile_commit_stops_vacuum_before_it_deletes_anything(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.parquet"
    sentinel.write_bytes(b"x")
    t = tv.create(tmp_path / "events", schema=make_batch([]).schema)
    churn(t)
    orphan = write_data_files(t.storage, make_batch([777]), first_row_id=0)[0].path
    age(t.location, orphan)
    assert tv.vacuum(t, grace="1h", dry_run=True) == [orphan]
    log = Path(t.location) / "_tablever" / "log"
    newest = sorted(log.iterdir())[-1]
    body = json.loads(newest.read_bytes())
    body["actions"]["add"] = [{**body["actions"]["add"][0], "path": "../sentinel.parquet"}]
    newest.write_text(json.dumps(body))
    files = table_files(t.location)
    with pytest.raises(tv.CorruptLogError):
        tv.vacuum(t, grace="0s")
    assert table_files(t.location) == files and sentinel.exists()
    report = tv.verify(t)
    assert not report.ok and any(newest.name in p for p in report.problems)
    assert sentinel.exists()


@pytest.mark.disk
def test_files_a_retained_version_needs_are_never_deleted(table: tv.Table) -> None:
    churn(table)
    table.restore(1)  # brings version 1's file back as the latest
    for p in table_files(table.location, "data", "deletes"):
        age(table.location, p)
    tv.expire(table, older_than="0s", keep_last=1)
    removed = tv.vacuum(table, grace="0s")
    needed = set(table.latest().files)
    assert needed and not needed & set(removed)
    assert table.latest().to_arrow().column("id").to_pylist() == list(range(10))
    assert tv.verify(table).ok


def test_the_planner_is_pure() -> None:
    sha = "ab" * 32
    files = [
        FileInfo(f"data/ab/{sha}.parquet", 10, 0.0),  # old, unreferenced
        FileInfo(f"data/cd/{'cd' * 32}.parquet", 20, 0.0),  # referenced
        FileInfo(f"deletes/ef/{'ef' * 32}.parquet", 30, 99.0),  # unreferenced, young
        FileInfo("_tablever/log/00000000000000000001.json", 5, 0.0),  # expired commit
        FileInfo("_tablever/log/00000000000000000002.json", 5, 0.0),  # retained commit
        FileInfo("_tablever/tags/v1.json", 5, 0.0),
        FileInfo("data/readme.txt", 5, 0.0),
        FileInfo("../outside/.tmp-x", 5, 0.0),
        FileInfo("elsewhere/.tmp-x", 5, 0.0),
    ]
    plan = plan_vacuum(
        {f"data/cd/{'cd' * 32}.parquet"}, files, now=100.0, grace=timedelta(seconds=10),
        expired_meta={"_tablever/log/00000000000000000001.json"},
    )
    assert plan.paths == ["_tablever/log/00000000000000000001.json", f"data/ab/{sha}.parquet"]
    assert plan.reasons == ("expired", "unreferenced") and plan.bytes == 15
    assert [f.path for f in plan.young] == [f"deletes/ef/{'ef' * 32}.parquet"]


@pytest.mark.disk
def test_a_file_reused_after_planning_survives(table: tv.Table) -> None:
    churn(table)
    orphan = write_data_files(table.storage, make_batch([777]), first_row_id=0)[0].path
    age(table.location, orphan)
    plan = vacuum_plan(table, grace="1h")
    assert plan.paths == [orphan]
    # A writer appends identical bytes: it finds the file and refreshes it (or rewrites it).
    os.utime(Path(table.location) / orphan)
    assert execute_vacuum(table, plan) == []
    assert (Path(table.location) / orphan).exists()


def test_a_fresh_expiry_record_is_left_to_its_expire(
    table: tv.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    churn(table)

    def crash(name: str) -> None:
        if name == "expire.recorded":
            raise KeyboardInterrupt

    monkeypatch.setattr(expiry, "fault_point", crash)
    with pytest.raises(KeyboardInterrupt):
        tv.expire(table, older_than="0s", keep_last=1)
    leftovers = [f"_tablever/log/{v:020d}.json" for v in range(table.latest().version)]
    assert not set(leftovers) & set(tv.vacuum(table, grace="1h", dry_run=True))
    assert set(leftovers) <= set(tv.vacuum(table, grace="0s"))


def test_maintain_runs_compact_expire_vacuum_with_the_policy(path: str) -> None:
    t = tv.create(path, schema=make_batch([]).schema, properties={
        "retention.older_than": "0s", "retention.keep_last": 1, "vacuum.grace": "0s",
    })
    for i in range(5):
        t.append(make_batch(list(range(i * 10, i * 10 + 10))))
    t.delete("id % 7 = 0")
    rows = content(t.latest())
    vectors = len(t.latest().deletion_vectors)
    time.sleep(t.storage.mtime_resolution + 0.01)  # older than a grace of 0s
    files = table_files(t.location)
    dry = maintain(t, dry_run=True)
    assert table_files(t.location) == files
    assert dry.dry_run and dry.compacted_files == 5 and dry.compact_version is None
    assert dry.versions_expired == list(range(t.latest().version))
    steps: list[tuple[str, int, int]] = []
    report = maintain(t, progress=lambda *a: steps.append(a))
    latest = t.latest()
    assert latest.operation == "compact" and report.compact_version == latest.version
    assert content(latest).equals(rows)
    assert report.versions_expired == list(range(latest.version))
    assert report.files_before == 5 + vectors and report.files_after == 1
    assert report.bytes_freed > 0 and report.bytes_after < report.bytes_before
    assert {s for s, _, _ in steps} == {"compact", "expire", "vacuum"}
    assert report.to_dict()["conflicts"] == []
    assert tv.verify(t).ok


def test_maintain_folds_deletes_into_files_by_the_delete_ratio_policy(path: str) -> None:
    """A file at least the target size is left alone by maintain until its deleted share
    reaches ``compact.delete_ratio``; then it is rewritten without the deleted rows (no
    deletion vector left to apply on read), and the rows stay the same."""
    t = tv.create(path, schema=make_batch([]).schema, properties={
        "compact.target_file_bytes": "1KiB", "compact.delete_ratio": 0.25,
    })
    t.append(make_batch(list(range(1000))))  # one file, larger than the target
    t.delete("id % 5 = 0")  # 20%: under the ratio
    assert maintain(t).compact_version is None
    assert len(t.latest().deletion_vectors) == 1
    t.delete("id % 5 = 1")  # 40%
    rows = content(t.latest())
    report = maintain(t)
    latest = t.latest()
    assert report.compact_version == latest.version and latest.operation == "compact"
    assert latest.deletion_vectors == [] and content(latest).equals(rows)
    assert latest.num_rows == 600


def test_reused_content_addressed_file_counts_as_new_for_grace(tmp_path: Path) -> None:
    """An in-flight writer whose bytes match an old unreferenced file reuses it; the reuse
    refreshes its time, so vacuum's grace period protects it until the commit lands."""
    t = tv.create(tmp_path / "t", schema=pa.schema([("x", pa.int64())]))
    data = pa.table({"x": [1, 2, 3]})
    old = t.append(data)
    t.overwrite(pa.table({"x": [9]}))
    path = tmp_path / "t" / old.files[0]
    long_ago = path.stat().st_mtime - 7200
    os.utime(path, (long_ago, long_ago))
    reused = write_data_files(t.storage, data, first_row_id=0)  # the in-flight writer
    assert reused[0].path == old.files[0]
    assert old.files[0] not in tv.vacuum(t, grace="1h")
    assert path.exists()


def test_many_files_go_in_batches_with_progress_and_young_ones_stay(tmp_path: Path) -> None:
    """Past the first deletion vacuum deletes on several threads, 256 files a batch:
    every old unreferenced file goes, each young one stays, progress ends at the total."""
    t = tv.create(tmp_path / "t", schema=make_batch([0]).schema)
    t.append(make_batch([0]))
    root = Path(t.location)
    old, young = [], []
    for i in range(700):
        rel = f"data/{i % 256:02x}/.tmp-{i:04d}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
        if i % 50 == 7:
            young.append(rel)
        else:
            age(t.location, rel)
            old.append(rel)
    steps: list[tuple[str, int, int]] = []
    plan = vacuum_plan(t, grace="1h")
    assert sorted(plan.paths) == sorted(old)
    deleted = execute_vacuum(t, plan, progress=lambda *a: steps.append(a))
    assert deleted == plan.paths  # in plan order
    assert not any((root / p).exists() for p in old)
    assert all((root / p).exists() for p in young)
    assert steps[0] == ("vacuum", 0, len(old)) and steps[-1] == ("vacuum", len(old), len(old))
    assert [s[1] for s in steps] == sorted(s[1] for s in steps)
    assert t.latest().to_arrow().num_rows == 1
