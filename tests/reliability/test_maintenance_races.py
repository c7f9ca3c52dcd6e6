"""Maintenance racing writers in spawned processes (scenarios 7 and 9 for maintenance):

- compaction against concurrent deletes and appends: compaction may lose (it raises
  CommitConflictError and is rerun), but no deleted row ever comes back and no appended
  row is lost;
- expire + vacuum against concurrent appends and a reader pinned to a tagged version:
  the reader always gets the whole version, appends all survive, every retained version
  reads, verify stays green.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import tablever as tv

from .helpers import CTX, SCHEMA, check_table, rows, run_workers

INITIAL_FILES, PER_FILE = 30, 40


def _setup(path: str) -> tv.Table:
    # Any deleted row makes a file worth compacting: compaction then races every delete.
    t = tv.create(path, schema=SCHEMA, properties={"compact.delete_ratio": 0.0001})
    for i in range(INITIAL_FILES):
        t.append(rows(range(i * PER_FILE, (i + 1) * PER_FILE), "init"), message=f"init {i}")
    return t


def compactor(path: str, barrier: Any, stop: Any) -> dict[str, int]:
    t = tv.open(path, max_retries=10_000)
    barrier.wait()
    done = conflicts = 0
    while True:
        finished = stop.is_set()  # read before trying: one more round once writers stop
        try:
            if tv.compact(t, target_file_bytes="64MiB") is not None:
                done += 1
        except tv.CommitConflictError:
            conflicts += 1
        if finished:
            return {"compactions": done, "conflicts": conflicts}
        time.sleep(0.005)


def deleter(path: str, barrier: Any, who: int, count: int) -> list[int]:
    t = tv.open(path, max_retries=10_000)
    barrier.wait()
    gone = []
    for k in range(count):
        victim = ((k * 37 + who * 11) % INITIAL_FILES) * PER_FILE + (k + who * 7) % PER_FILE
        t.delete(f"id = {victim} OR id = {victim + 1}", message=f"d{who}.{k}")
        gone += [victim, victim + 1]
    return gone


def appender(path: str, barrier: Any, who: int, count: int) -> list[int]:
    t = tv.open(path, max_retries=10_000)
    barrier.wait()
    added = []
    for k in range(count):
        start = 100_000 + (who * count + k) * 10
        t.append(rows(range(start, start + 10), f"a{who}"), message=f"a{who}.{k}")
        added += list(range(start, start + 10))
        time.sleep(0.05)  # spread the appends over the deletes
    return added


def test_compaction_against_concurrent_deletes_and_appends(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    _setup(path)
    barrier = CTX.Barrier(5)
    stop = CTX.Event()
    writers = CTX.Value("i", 4)
    results = run_workers(
        _worker,
        [
            ("compact", path, barrier, stop, writers),
            ("delete", path, barrier, stop, writers, 0, 12),
            ("delete", path, barrier, stop, writers, 1, 12),
            ("append", path, barrier, stop, writers, 0, 12),
            ("append", path, barrier, stop, writers, 1, 12),
        ],
    )
    stats, deleted, added = results[0], results[1] + results[2], results[3] + results[4]
    initial = set(range(INITIAL_FILES * PER_FILE))
    expect = (initial - set(deleted)) | set(added)
    # check_table: every version reads, rows == summary, no row id twice, no row id
    # reappears after it was deleted, verify green, latest ids exactly as expected.
    checked = check_table(path, expect_ids=expect, verify_each=False)
    t = tv.open(path)
    compactions = [s for s in t.history() if s.operation == "compact"]
    assert stats["compactions"] >= 1 and len(compactions) == stats["compactions"]
    assert t.latest().operation == "compact" or len(t.latest().files) <= 3
    print(
        f"compaction race: {checked.versions} versions, {stats['compactions']} compactions, "
        f"{stats['conflicts']} conflicts, {len(deleted)} rows deleted, {len(added)} appended"
    )


def _worker(role: str, path: str, barrier: Any, stop: Any, writers: Any, *rest: Any) -> Any:
    if role == "compact":
        return compactor(path, barrier, stop)
    try:
        fn = deleter if role == "delete" else appender
        return fn(path, barrier, *rest)
    finally:
        with writers.get_lock():
            writers.value -= 1
            if writers.value == 0:
                stop.set()


# --- expire + vacuum against appends and a pinned reader ----------------------------


def maintainer(path: str, barrier: Any, stop: Any) -> dict[str, int]:
    t = tv.open(path, max_retries=10_000)
    barrier.wait()
    expired = deleted = rounds = 0
    while True:
        finished = stop.is_set()
        expired += len(tv.expire(t, older_than="0s", keep_last=3))
        deleted += len(tv.vacuum(t, grace="10m"))
        rounds += 1
        if finished:
            return {"expired": expired, "deleted": deleted, "rounds": rounds}
        time.sleep(0.01)


def pinned_reader(path: str, barrier: Any, stop: Any, want: int) -> int:
    t = tv.open(path)
    barrier.wait()
    reads = 0
    while not stop.is_set() or reads < 3:
        snap = tv.open(path).as_of("pinned")
        data = snap.to_arrow(with_row_id=True)
        assert data.num_rows == want == snap.summary["total_rows"], data.num_rows
        assert t.as_of("pinned").id == snap.id
        reads += 1
    return reads


def slow_appender(path: str, barrier: Any, stop: Any, writers: Any, who: int, n: int) -> list[int]:
    try:
        return appender(path, barrier, who, n)
    finally:
        with writers.get_lock():
            writers.value -= 1
            if writers.value == 0:
                stop.set()


def _maint_worker(role: str, *args: Any) -> Any:
    return {"maintain": maintainer, "read": pinned_reader, "append": slow_appender}[role](*args)


def test_expire_and_vacuum_against_appends_and_a_pinned_reader(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    t = _setup(path)
    t.delete("id < 50")
    t.delete("id < 100")  # replaces the first deletion vector: it goes once expired
    pinned = t.tag("pinned")
    t.overwrite(rows(range(50_000, 50_010), "fresh"))  # the initial files now only matter
    t.append(rows(range(60_000, 60_010), "more"))      # to the pinned version
    # Age everything already written, so vacuum may take what expiry orphans.
    old = time.time() - 3600
    for p in Path(path).rglob("*"):
        if p.is_file():
            os.utime(p, (old, old))
    barrier = CTX.Barrier(4)
    stop = CTX.Event()
    writers = CTX.Value("i", 2)
    results = run_workers(
        _maint_worker,
        [
            ("maintain", path, barrier, stop),
            ("read", path, barrier, stop, pinned.num_rows),
            ("append", path, barrier, stop, writers, 0, 15),
            ("append", path, barrier, stop, writers, 1, 15),
        ],
    )
    stats, reads, added = results[0], results[1], results[2] + results[3]
    t = tv.open(path)
    latest = t.latest()
    ids = set(latest.to_arrow().column("id").to_pylist())
    assert ids == set(range(50_000, 50_010)) | set(range(60_000, 60_010)) | set(added)
    assert stats["expired"] > 0 and stats["deleted"] > 0
    assert t.as_of("pinned").num_rows == pinned.num_rows
    history = t.history()
    assert history[-1].version == pinned.version or pinned.version in {s.version for s in history}
    for s in history:  # every retained version reads whole
        assert s.to_arrow().num_rows == s.summary["total_rows"]
    report = tv.verify(t)
    assert report.ok, report.problems
    print(
        f"expire/vacuum race: {stats['rounds']} rounds, {stats['expired']} versions expired, "
        f"{stats['deleted']} files vacuumed, {reads} pinned reads, {len(added)} rows appended"
    )
