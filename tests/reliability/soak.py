"""Soak test: 4 writers, 2 readers and a maintenance loop on one table for N minutes.

Run with ``make soak`` or ``python -m tests.reliability.soak --minutes 2``. Prints
commits/s, reads/s, conflicts and errors; exits 1 if there was any error or the final
table is not exactly what the writers committed.

Each writer appends, deletes and updates only rows in its own id space, so it knows
exactly which of its rows must survive and with which label, whatever the others and
maintenance (compact, expire, vacuum, verify) do meanwhile. Readers read the latest
version, a tagged version (never expired) and random retained versions (which may be
expired mid-read: that clear error is counted, not an error).
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import shutil
import sys
import tempfile
import time
import traceback
from typing import Any

import tablever as tv

from .helpers import CTX, SCHEMA, check_table, rows

WRITERS, READERS = 4, 2
SPACE = 10_000_000  # ids of writer w: [w * SPACE, (w + 1) * SPACE)


def writer(path: str, who: int, deadline: float, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    t = tv.open(path, max_retries=8)
    model: dict[int, str] = {}
    next_id = who * SPACE
    commits = conflicts = 0
    while time.time() < deadline:
        pick = rnd.random()
        try:
            if pick < 0.6 or len(model) < 50:
                n = rnd.randint(1, 300)
                t.append(rows(range(next_id, next_id + n), f"w{who}"), message=f"w{who} append")
                model.update({i: f"w{who}" for i in range(next_id, next_id + n)})
                next_id += n
            elif pick < 0.8:
                lo = rnd.choice(list(model))
                hi = lo + rnd.randint(0, 40)
                snap = t.delete(f"id BETWEEN {lo} AND {hi}", message=f"w{who} delete")
                gone = [i for i in model if lo <= i <= hi]
                assert snap.version >= 0
                for i in gone:
                    del model[i]
            else:
                lo = rnd.choice(list(model))
                hi = lo + rnd.randint(0, 40)
                label = f"w{who}u{commits}"
                t.update({"label": f"'{label}'"}, f"id BETWEEN {lo} AND {hi}",
                         message=f"w{who} update")
                model.update({i: label for i in model if lo <= i <= hi})
            commits += 1
        except tv.CommitConflictError:
            conflicts += 1
        time.sleep(rnd.uniform(0, 0.04))  # room for compaction to win a race now and then
    return {"model": model, "commits": commits, "conflicts": conflicts}


def reader(path: str, who: int, deadline: float, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    reads = expired = 0
    errors: list[str] = []
    while time.time() < deadline:
        t = tv.open(path)
        pick = rnd.random()
        ref: Any = None if pick < 0.5 else "soak-pinned" if pick < 0.7 else None
        if pick >= 0.7:
            versions = [s.version for s in t.history(limit=30)]
            ref = rnd.choice(versions)
        try:
            snap = t.as_of(ref)
            if rnd.random() < 0.2:
                n = snap.sql("SELECT count(*) AS n FROM t").column("n")[0].as_py()
            else:
                data = snap.to_arrow(with_row_id=True)
                n = data.num_rows
                ids = data.column("_row_id").to_pylist()
                if len(set(ids)) != n:
                    errors.append(f"version {snap.version}: a row id twice")
            if n != snap.num_rows or n != snap.summary["total_rows"]:
                errors.append(f"version {snap.version}: read {n} rows, summary "
                              f"{snap.summary['total_rows']}")
            reads += 1
        except (tv.RefNotFoundError, tv.IntegrityError) as exc:
            # Fine only if the version was expired meanwhile (a clear error, no rows).
            gone = set(tv.open(path).log.read_expired())
            if isinstance(ref, int) and ref in gone:
                expired += 1
            else:
                errors.append(f"reading {ref!r}: {type(exc).__name__}: {exc}")
    return {"reads": reads, "expired": expired, "errors": errors}


def maintainer(path: str, who: int, deadline: float, seed: int) -> dict[str, Any]:
    t = tv.open(path, max_retries=8)
    out = {"rounds": 0, "compactions": 0, "conflicts": 0, "expired": 0, "vacuumed": 0,
           "checkpoints": 0, "verified": 0}
    errors: list[str] = []
    while time.time() < deadline:
        try:
            if tv.compact(t, min_input_files=8) is not None:
                out["compactions"] += 1
        except tv.CommitConflictError:
            out["conflicts"] += 1
        try:
            out["expired"] += len(tv.expire(t, older_than="0s", keep_last=200))
        except tv.CommitConflictError:
            out["conflicts"] += 1
        gone = tv.vacuum(t, grace="3s")
        out["vacuumed"] += len(gone)
        # thinned ones, and an interrupted expire's leftovers (rare here)
        out["checkpoints"] += sum(1 for p in gone if p.startswith("_tablever/checkpoints/"))
        if out["rounds"] % 10 == 0:
            report = tv.verify(t)
            out["verified"] += 1
            if not report.ok:
                errors.append(f"verify: {report.problems[:3]}")
        out["rounds"] += 1
        time.sleep(0.2)
    out["errors"] = errors
    return out


def _entry(q: Any, role: str, args: tuple[Any, ...]) -> None:
    fn = {"writer": writer, "reader": reader, "maintainer": maintainer}[role]
    try:
        q.put((role, args[1], True, fn(*args)))
    except BaseException:
        q.put((role, args[1], False, traceback.format_exc()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--path", help="where to create the table (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the table afterwards")
    args = ap.parse_args(argv)
    base = args.path or tempfile.mkdtemp(prefix="tablever-soak-")
    path = os.path.join(base, "soak")
    # checkpoints every 10 versions, thinned to one per 30 by vacuum: readers of old
    # versions race the thinning as well as expire
    t = tv.create(path, schema=SCHEMA, properties={"checkpoint_interval": 10,
                                                   "vacuum.checkpoint_spacing": 30})
    t.append(rows(range(-100, 0), "pinned"), message="pinned rows")
    pinned = t.tag("soak-pinned")
    start = time.time()
    deadline = start + args.minutes * 60
    print(f"soak: {WRITERS} writers, {READERS} readers, 1 maintenance loop for "
          f"{args.minutes:g} min on {path}", flush=True)
    q = CTX.Queue()
    roles = [("writer", i) for i in range(WRITERS)] + [("reader", i) for i in range(READERS)]
    roles.append(("maintainer", 0))
    procs = [CTX.Process(target=_entry, args=(q, r, (path, i, deadline, 1000 * i + len(r))))
             for r, i in roles]
    for p in procs:
        p.start()
    results: dict[tuple[str, int], Any] = {}
    errors: list[str] = []
    while len(results) + len(errors) < len(procs):
        try:
            role, i, ok, value = q.get(timeout=10)
        except queue.Empty:
            elapsed = time.time() - start
            latest = tv.open(path).latest().version
            print(f"  {elapsed:6.0f}s  version {latest}", flush=True)
            if elapsed > args.minutes * 60 + 600:
                errors.append("workers did not finish in time")
                break
            continue
        if ok:
            results[(role, i)] = value
        else:
            errors.append(f"{role} {i} crashed:\n{value}")
    for p in procs:
        p.join(30)
        if p.is_alive():
            p.kill()
    elapsed = time.time() - start
    writers = [v for (r, _), v in results.items() if r == "writer"]
    readers = [v for (r, _), v in results.items() if r == "reader"]
    maint = results.get(("maintainer", 0), {})
    for v in readers:
        errors += v["errors"]
    errors += maint.get("errors", [])
    # The final table holds exactly what the writers committed, and passes every check.
    try:
        expect: dict[int, str] = {i: "pinned" for i in range(-100, 0)}
        for v in writers:
            expect.update(v["model"])
        checked = check_table(path, expect_ids=list(expect), verify_each=False)
        data = checked.latest_rows
        got = dict(zip(data.column("id").to_pylist(), data.column("label").to_pylist(),
                       strict=True))
        if got != expect:
            errors.append("final labels differ from what the writers committed")
        if tv.open(path).as_of("soak-pinned").num_rows != pinned.num_rows:
            errors.append("the tagged version changed")
    except AssertionError as exc:
        errors.append(f"final check: {exc}")
    commits = sum(v["commits"] for v in writers)
    conflicts = sum(v["conflicts"] for v in writers) + maint.get("conflicts", 0)
    reads = sum(v["reads"] for v in readers)
    expired_reads = sum(v["expired"] for v in readers)
    print(f"soak: {elapsed:.0f}s, {commits} commits ({commits / elapsed:.1f}/s), "
          f"{reads} reads ({reads / elapsed:.1f}/s), {conflicts} conflicts, "
          f"{len(errors)} errors")
    print(f"      maintenance: {maint.get('rounds', 0)} rounds, {maint.get('compactions', 0)} "
          f"compactions ({maint.get('conflicts', 0)} lost a race and were retried later), "
          f"{maint.get('expired', 0)} versions expired, "
          f"{maint.get('vacuumed', 0)} files vacuumed ({maint.get('checkpoints', 0)} of them "
          f"checkpoints), {maint.get('verified', 0)} verifies; "
          f"{expired_reads} reads found their version expired (a clear error, not counted)")
    for e in errors[:20]:
        print(f"ERROR: {e}", file=sys.stderr)
    if not args.keep and not args.path:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
