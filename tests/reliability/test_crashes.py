"""Scenarios 4 and 5: a writer killed before, during and after its commit.

A fault point (``TABLEVER_FAULT=<name>``) makes the spawned writer ``os._exit(77)`` at a
chosen step; random-time SIGKILLs hit whatever step the writer is in.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tablever as tv

from .helpers import (
    CTX,
    SCHEMA,
    check_table,
    op_append,
    op_create,
    op_delete,
    op_run,
    op_tag,
    op_update,
    rows,
    start_fault,
    tmp_files,
)

Model = Counter  # (id, label) -> count


def _base(path: str) -> Model:
    """v0 create (checkpoint every 4), v1-v2 appends, v3 delete: the next commit is v4."""
    t = tv.create(path, schema=SCHEMA, properties={"checkpoint_interval": 4})
    t.append(rows(range(0, 100)), message="a")
    t.append(rows(range(100, 200)), message="b")
    t.delete("id % 5 = 0", message="c")
    return Counter((i, "x") for i in range(200) if i % 5)


def _rows_of(path: str) -> Model:
    data = tv.open(path).latest().to_arrow()
    return Counter(zip(data.column("id").to_pylist(), data.column("label").to_pylist(),
                       strict=True))


def op_upsert(path: str) -> int:
    t = tv.open(path)
    return t.upsert(rows(range(150, 250), "up"), on=["id"], message="upsert").version


def op_compact(path: str) -> int:
    snap = tv.compact(tv.open(path))
    return -1 if snap is None else snap.version


def op_expire(path: str) -> list[int]:
    return tv.expire(tv.open(path), older_than="0s", keep_last=2)


def op_vacuum(path: str) -> list[str]:
    return tv.vacuum(tv.open(path), grace="0s")


def _after_append(m: Model) -> Model:
    return m + Counter((i, "x") for i in range(1000, 1050))


def _after_delete(m: Model) -> Model:
    return Counter({k: v for k, v in m.items() if k[0] % 2})


def _after_update(m: Model) -> Model:
    return Counter({((i, "u") if i < 100 else (i, lab)): v for (i, lab), v in m.items()})


def _after_upsert(m: Model) -> Model:
    keep = Counter({k: v for k, v in m.items() if not 150 <= k[0] < 250})
    return keep + Counter((i, "up") for i in range(150, 250))


def _same(m: Model) -> Model:
    return m


@dataclass(frozen=True)
class Case:
    op: str
    fault: str
    committed: bool  # is the operation's effect there after the crash?


OPS: dict[str, tuple[Callable[..., Any], tuple[Any, ...], Callable[[Model], Model]]] = {
    "append": (op_append, (1000, 50), _after_append),
    "delete": (op_delete, ("id % 2 = 0",), _after_delete),
    "update": (op_update, ("u", "id < 100"), _after_update),
    "upsert": (op_upsert, (), _after_upsert),
    "tag": (op_tag, ("keep",), _same),
    "run": (op_run, ("run-1",), _same),
    "compact": (op_compact, (), _same),
}

CASES = [
    Case("append", "data.written", False),
    Case("append", "commit.before_temp", False),
    Case("append", "commit.after_fsync", False),
    Case("append", "commit.after_link", True),
    Case("append", "checkpoint.write", True),
    Case("delete", "commit.before_temp", False),
    Case("delete", "commit.after_fsync", False),
    Case("delete", "commit.after_link", True),
    Case("delete", "checkpoint.write", True),
    Case("update", "data.written", False),
    Case("update", "commit.after_fsync", False),
    Case("update", "commit.after_link", True),
    Case("upsert", "data.written", False),
    Case("upsert", "commit.after_link", True),
    Case("tag", "tag.before_temp", False),
    Case("tag", "tag.after_fsync", False),
    Case("tag", "tag.after_link", True),
    Case("run", "run.after_fsync", False),
    Case("run", "run.after_link", True),
    Case("compact", "compact.written", False),
    Case("compact", "commit.after_fsync", False),
    Case("compact", "commit.after_link", True),
]


def _effect_visible(case: Case, path: str) -> bool:
    t = tv.open(path)
    if case.op == "tag":
        return "keep" in t.tags()
    if case.op == "run":
        return any(r.run_id == "run-1" for r in t.runs())
    return t.latest().version == 4


def test_kill_before_commit_leaves_orphans_for_vacuum(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    model = _base(path)
    before = {p.relative_to(path).as_posix() for p in Path(path).rglob("*") if p.is_file()}
    p = start_fault("data.written", op_append, path, 1000, 50)
    p.join(120)
    assert p.exitcode == 77, "the writer did not reach data.written"
    after = {q.relative_to(path).as_posix() for q in Path(path).rglob("*") if q.is_file()}
    orphans = sorted(after - before)
    assert orphans and all(o.startswith("data/") for o in orphans), orphans
    checked = check_table(path)
    assert checked.latest == 3 and _rows_of(path) == model, "latest changed"
    t = tv.open(path)
    assert sorted(tv.vacuum(t, grace="0s", dry_run=True)) == orphans
    assert all((Path(path) / o).exists() for o in orphans), "dry_run deleted something"
    assert tv.vacuum(t) == [], "vacuum deleted files younger than the grace period"
    assert all((Path(path) / o).exists() for o in orphans)
    old = time.time() - 2 * 3600
    for o in orphans:
        os.utime(Path(path) / o, (old, old))
    assert sorted(tv.vacuum(t)) == orphans
    assert not any((Path(path) / o).exists() for o in orphans)
    check_table(path)
    print(f"\n[kill before commit] latest stayed at v3; {len(orphans)} orphan data file(s) "
          "listed by vacuum(dry_run=True), kept while younger than the 1h grace, then removed")


def test_kill_points(tmp_path: Path) -> None:
    base = str(tmp_path / "base")
    model0 = _base(base)
    procs = []
    for i, case in enumerate(CASES):
        path = str(tmp_path / f"case{i}")
        shutil.copytree(base, path)
        fn, args, _ = OPS[case.op]
        procs.append((case, path, start_fault(case.fault, fn, path, *args)))
    for case, _, p in procs:
        p.join(180)
        assert p.exitcode == 77, f"{case}: exit {p.exitcode}, the fault point was not reached"
    for case, path, _ in procs:
        fn, args, effect = OPS[case.op]
        visible = _effect_visible(case, path)
        assert visible == case.committed, f"{case}: effect visible={visible}"
        # The log is a valid prefix: every version reads, the newest is whole.
        checked = check_table(path)
        want = effect(model0) if case.committed else model0
        assert _rows_of(path) == want, f"{case}: rows differ after the crash"
        if not case.committed:
            fn(path, *args)  # a rerun of the operation succeeds
            assert _effect_visible(case, path), f"{case}: the rerun did not take effect"
            want = effect(model0)
        nxt = tv.open(path).latest().version + 1
        assert op_append(path, 5000, 10) == nxt, f"{case}: the next writer skipped a version"
        want = want + Counter((i, "x") for i in range(5000, 5010))
        check_table(path, expect_ids=[k[0] for k, n in want.items() for _ in range(n)])
        assert _rows_of(path) == want
        # Whatever the crash left behind (temp files, orphans) is vacuum's to remove.
        tv.vacuum(tv.open(path), grace="0s")
        assert not tmp_files(path), f"{case}: vacuum left temp files"
        check_table(path)
        del checked
    print(f"\n[kill points] {len(CASES)} kill points tried "
          f"({', '.join(sorted({c.fault for c in CASES}))}): the log stayed a valid prefix, "
          "the effect was all-or-nothing, the next writer took the next version, "
          "reruns succeeded, vacuum cleaned up")


@pytest.mark.parametrize(
    ("fault", "committed"), [("commit.after_fsync", False), ("commit.after_link", True)]
)
def test_kill_during_create(tmp_path: Path, fault: str, committed: bool) -> None:
    path = str(tmp_path / "t")
    p = start_fault(fault, op_create, path)
    p.join(120)
    assert p.exitcode == 77
    if committed:
        check_table(path)
        with pytest.raises(tv.TableExistsError):
            op_create(path)
    else:
        with pytest.raises(tv.TableNotFoundError):
            tv.open(path)
        assert op_create(path) == 0  # the rerun succeeds
    tv.vacuum(tv.open(path), grace="0s")
    assert not tmp_files(path)
    check_table(path)
    print(f"\n[kill in create at {fault}] table {'exists' if committed else 'absent'}, "
          "rerun behaves, vacuum removed the temp file")


# --- maintenance killed mid-way ------------------------------------------------------


def _maintenance_base(path: str) -> None:
    t = tv.create(path, schema=SCHEMA, properties={"checkpoint_interval": 3})
    for i in range(8):
        t.append(rows(range(i * 10, i * 10 + 10)), message=f"a{i}")
    t.tag("pinned", 2)
    t.delete("id % 3 = 0", message="d")
    t.overwrite(rows(range(500, 520)), message="o")  # old files become garbage


@pytest.mark.parametrize("fault", ["expire.checkpointed", "expire.recorded", "expire.deleting"])
def test_kill_during_expire(tmp_path: Path, fault: str) -> None:
    path = str(tmp_path / "t")
    _maintenance_base(path)
    before = {v: tv.open(path).as_of(v).to_arrow(with_row_id=True).sort_by("_row_id")
              for v in tv.open(path).log.list_versions()}
    p = start_fault(fault, op_expire, path)
    p.join(120)
    assert p.exitcode == 77
    t = tv.open(path)
    # Every retained version reads exactly as before; the tag survives.
    for v in [s.version for s in t.history()]:
        got = t.as_of(v).to_arrow(with_row_id=True).sort_by("_row_id")
        assert got.equals(before[v]), f"version {v} changed after a crash in expire"
    assert t.as_of("pinned").to_arrow(with_row_id=True).sort_by("_row_id").equals(before[2])
    expired = op_expire(path)  # rerun completes
    t = tv.open(path)
    assert 2 in {s.version for s in t.history()} and t.latest().version == max(before)
    for v in [s.version for s in t.history()]:
        assert t.as_of(v).to_arrow(with_row_id=True).sort_by("_row_id").equals(before[v])
    tv.vacuum(t, grace="0s")
    check_table(path)
    print(f"\n[kill in expire at {fault}] retained versions read exactly as before, tag "
          f"kept, rerun expired {len(expired)} more, vacuum + verify green")


def test_kill_during_vacuum(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    _maintenance_base(path)
    tv.expire(tv.open(path), older_than="0s", keep_last=1)
    t = tv.open(path)
    kept = {s.version: s.to_arrow(with_row_id=True).sort_by("_row_id") for s in t.history()}
    garbage = tv.vacuum(t, grace="0s", dry_run=True)
    assert len(garbage) >= 2
    p = start_fault("vacuum.deleting", op_vacuum, path)
    p.join(120)
    assert p.exitcode == 77
    left = [g for g in garbage if (Path(path) / g).exists()]
    assert len(left) == len(garbage) - 1, "vacuum died after its first delete"
    check_table(path)
    assert sorted(op_vacuum(path)) == sorted(left)
    t = tv.open(path)
    for v, data in kept.items():
        assert t.as_of(v).to_arrow(with_row_id=True).sort_by("_row_id").equals(data)
    check_table(path)
    print(f"\n[kill in vacuum] died after 1 of {len(garbage)} deletes; retained versions "
          "intact; the rerun deleted the rest")


# --- random-time SIGKILLs ------------------------------------------------------------

_APPEND = re.compile(r"^append (\d+) (\d+)$")
_DELETE = re.compile(r"^delete id % (\d+) = (\d+)$")
_UPDATE = re.compile(r"^update id % (\d+) = (\d+) -> (\w+)$")


def busy_writer(path: str, seed: int, started: Any) -> None:
    """A single writer looping over appends, deletes, updates and compactions; the
    message of each commit says exactly what it did, so the test can replay it."""
    rnd = random.Random(seed)
    t = tv.open(path)
    started.set()
    while True:
        nxt = t.latest().version + 1
        pick = rnd.random()
        if pick < 0.5:
            n = rnd.randint(1, 200)
            t.append(rows(range(nxt * 1000, nxt * 1000 + n)), message=f"append {nxt * 1000} {n}")
        elif pick < 0.7:
            m, r = rnd.randint(2, 9), rnd.randint(0, 1)
            t.delete(f"id % {m} = {r}", message=f"delete id % {m} = {r}")
        elif pick < 0.9:
            m, r = rnd.randint(2, 9), rnd.randint(0, 1)
            lab = f"u{nxt}"
            t.update({"label": f"'{lab}'"}, f"id % {m} = {r}",
                     message=f"update id % {m} = {r} -> {lab}")
        else:
            tv.compact(t, min_input_files=2)


def _replay(path: str) -> dict[int, str]:
    """The expected rows (id -> label) from the log's messages, version by version."""
    model: dict[int, str] = {}
    for s in reversed(tv.open(path).history()):
        msg = s.message
        if s.operation == "create" or s.operation == "compact":
            pass
        elif m := _APPEND.match(msg):
            start, n = int(m[1]), int(m[2])
            model.update({i: "x" for i in range(start, start + n)})
        elif m := _DELETE.match(msg):
            mod, r = int(m[1]), int(m[2])
            model = {i: lab for i, lab in model.items() if i % mod != r}
        elif m := _UPDATE.match(msg):
            mod, r, lab = int(m[1]), int(m[2]), m[3]
            model = {i: (lab if i % mod == r else old) for i, old in model.items()}
        else:
            raise AssertionError(f"unknown commit {s.version}: {msg!r}")
        got = s.to_arrow()
        ids, labels = got.column("id").to_pylist(), got.column("label").to_pylist()
        assert dict(zip(ids, labels, strict=True)) == model, (
            f"version {s.version} ({msg}) does not match the replayed model"
        )
    return model


def test_random_sigkills(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    tv.create(path, schema=SCHEMA, properties={"checkpoint_interval": 5})
    rnd = random.Random(7)
    kills = 12
    for k in range(kills):
        started = CTX.Event()
        p = CTX.Process(target=busy_writer, args=(path, 1000 + k, started))
        p.start()
        assert started.wait(120)
        time.sleep(rnd.uniform(0.05, 0.8))
        p.kill()
        p.join()
        check_table(path, verify_each=False)
        _replay(path)
    latest = tv.open(path).latest().version
    nxt = tv.open(path).append(rows(range(10**9, 10**9 + 5)), message=f"append {10**9} 5").version
    assert nxt == latest + 1
    model = _replay(path)
    tv.vacuum(tv.open(path), grace="0s")
    check_table(path, expect_ids=list(model))
    print(f"\n[random SIGKILL] {kills} kills of a busy writer: {latest} versions survived, "
          "every version equal to the replay of its log, next writer took the next version")
