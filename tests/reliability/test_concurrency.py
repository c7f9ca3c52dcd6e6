"""Scenarios 1, 2, 3 and 8: writers in spawned processes racing for versions."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

import tablever as tv
from tablever.storage import Storage

from .helpers import CTX, SCHEMA, check_table, rows, run_workers, tmp_files

# --- 1. append storm -------------------------------------------------------------


def storm_writer(path: str, writer: int, commits: int, n: int, barrier: Any) -> list[int]:
    # A generous retry budget: this scenario is about lost or duplicated rows, not about
    # giving up (scenario 8 covers that).
    t = tv.open(path, max_retries=10_000)
    barrier.wait()
    out = []
    for c in range(commits):
        start = (writer * commits + c) * n
        snap = t.append(rows(range(start, start + n), f"w{writer}"), message=f"w{writer} c{c}")
        out.append(snap.version)
    return out


def test_append_storm(tmp_path: Path) -> None:
    writers, commits, n = 8, 50, 100
    path = str(tmp_path / "storm")
    tv.create(path, schema=SCHEMA)
    barrier = CTX.Barrier(writers)
    got = run_workers(storm_writer, [(path, w, commits, n, barrier) for w in range(writers)])
    total = writers * commits
    every = sorted(v for vs in got for v in vs)
    assert every == list(range(1, total + 1)), "versions handed out twice or skipped"
    for vs in got:
        assert vs == sorted(vs)
    checked = check_table(
        path, expect_ids=range(total * n), verify_each=False
    )
    assert checked.latest == total and checked.latest_rows.num_rows == total * n
    t = tv.open(path)
    for s in t.history():
        assert s.num_rows == n * s.version == s.summary["total_rows"]
    assert not tmp_files(path)
    print(f"\n[storm] {writers} writers x {commits} commits x {n} rows: versions 1..{total} "
          f"dense, {total * n} rows, each version v has {n}*v rows, "
          f"{checked.verified_files} files re-hashed")


# --- 2. create race --------------------------------------------------------------


def create_racer(paths: list[str], barrier: Any) -> list[str]:
    out = []
    for p in paths:
        barrier.wait()
        try:
            tv.create(p, schema=SCHEMA)
            out.append("won")
        except tv.TableExistsError:
            out.append("exists")
    return out


def test_create_race(tmp_path: Path) -> None:
    procs, rounds = 8, 10
    paths = [str(tmp_path / f"t{r}") for r in range(rounds)]
    barrier = CTX.Barrier(procs)
    got = run_workers(create_racer, [(paths, barrier)] * procs)
    for r, p in enumerate(paths):
        outcomes = Counter(g[r] for g in got)
        assert outcomes == {"won": 1, "exists": procs - 1}, (p, outcomes)
        checked = check_table(p)
        assert checked.latest == 0 and checked.latest_rows.num_rows == 0
        assert not tmp_files(p)
    print(f"\n[create race] {procs} processes x {rounds} tables: exactly one create won "
          "each time, the others got TableExistsError")


# --- 3. the commit primitive -----------------------------------------------------


def _payload(who: int, r: int) -> bytes:
    seed = hashlib.sha256(f"{who}:{r}".encode()).digest()
    size = 1 + (seed[0] * 97 + seed[1]) % 40_000  # up to ~40 KB: a wide write window
    return f"{who}:{r}:".encode() + (seed * (size // 32 + 1))[:size]


def put_racer(root: str, who: int, rounds: int, barrier: Any) -> list[bool]:
    st = Storage(root)
    st.makedirs("race")
    out = []
    for r in range(rounds):
        data = _payload(who, r)
        barrier.wait()
        out.append(st.put_if_absent(f"race/{r:05d}.json", data))
    return out


def test_commit_primitive(tmp_path: Path) -> None:
    rounds = 1000
    root = str(tmp_path)
    barrier = CTX.Barrier(2)
    a, b = run_workers(put_racer, [(root, 0, rounds, barrier), (root, 1, rounds, barrier)])
    wins = Counter()
    for r in range(rounds):
        assert a[r] != b[r], f"round {r}: {'both' if a[r] else 'neither'} won"
        winner = 0 if a[r] else 1
        wins[winner] += 1
        p = tmp_path / "race" / f"{r:05d}.json"
        assert p.read_bytes() == _payload(winner, r), f"round {r}: the winner's file changed"
        assert os.stat(p).st_nlink == 1
    assert not tmp_files(root)
    print(f"\n[commit primitive] {rounds} races of 2 processes for one file: one winner "
          f"each time (A {wins[0]}, B {wins[1]}), the winner's bytes intact, no temp left")


# --- 8. retry exhaustion ---------------------------------------------------------


def limited_writer(path: str, writer: int, calls: int, n: int, barrier: Any) -> list[str]:
    t = tv.open(path, max_retries=1)
    barrier.wait()
    out = []
    for c in range(calls):
        start = (writer * calls + c) * n
        try:
            t.append(rows(range(start, start + n)), message=f"w{writer} c{c}")
            out.append("ok")
        except tv.CommitConflictError:
            out.append("conflict")
    return out


def test_retry_exhaustion(tmp_path: Path) -> None:
    writers, calls, n = 16, 8, 10
    path = str(tmp_path / "limited")
    tv.create(path, schema=SCHEMA)
    barrier = CTX.Barrier(writers)
    got = run_workers(limited_writer, [(path, w, calls, n, barrier) for w in range(writers)])
    ok_ids: list[int] = []
    ok_msgs = set()
    for w, outcomes in enumerate(got):
        for c, o in enumerate(outcomes):
            if o == "ok":
                start = (w * calls + c) * n
                ok_ids += range(start, start + n)
                ok_msgs.add(f"w{w} c{c}")
    checked = check_table(path, expect_ids=ok_ids)
    t = tv.open(path)
    msgs = Counter(s.message for s in t.history() if s.operation == "append")
    assert set(msgs) == ok_msgs and all(v == 1 for v in msgs.values()), "a call committed twice"
    conflicts = sum(o == "conflict" for g in got for o in g)
    assert conflicts > 0, "no writer gave up: the race was not exercised"
    print(f"\n[retry exhaustion] {writers} writers x {calls} calls, max_retries=1: "
          f"{len(ok_msgs)} committed once each, {conflicts} raised CommitConflictError, "
          f"table holds exactly the {len(ok_ids)} rows of the successes "
          f"({checked.versions} versions)")
