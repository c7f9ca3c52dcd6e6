"""How open, point-lookup planning and commit latency grow with a table.

- ``open``: tables of 1k / 10k / 100k live files (built as appends of 1,000 one-row
  files each, ``partition_by`` the id, a checkpoint at the latest version); in a new
  process each time, after the imports (tablever, DuckDB, sqlglot, pandas):
  ``tv.open(path).latest()`` with its row count, then ``plan(where="id = 123")`` and
  ``to_arrow(where="id = 123")``.
- ``commits``: one table, ``--commits`` appends of ``--rows`` rows in one process; the
  median latency of commits 1-10, 991-1000 and 9,991-10,000.

Run: ``python -m benchmarks.scale_open [open|commits|all] [--root DIR] [--files 1000,10000]``.
Medians of ``--repeat`` runs; the tables are kept under ``--root`` between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

PER_COMMIT = 1000

_OPEN = """
import json, sys, time
import tablever as tv
# What the first query of a process imports (DuckDB, sqlglot's DuckDB dialect, and
# pandas, which pyarrow pulls in when it converts Python values) is not timed here.
import duckdb, sqlglot.dialects.duckdb
try:
    import pandas
except ImportError:
    pass
t0 = time.perf_counter()
snap = tv.open(sys.argv[1]).latest()
rows = snap.num_rows
t1 = time.perf_counter()
plan = snap.plan(where="id = 123")
t2 = time.perf_counter()
got = snap.to_arrow(where="id = 123")
t3 = time.perf_counter()
assert got.num_rows == 1 and len(plan.tasks) == 1, (got.num_rows, len(plan.tasks))
print(json.dumps({"open": t1 - t0, "plan": t2 - t1, "lookup": t3 - t2, "rows": rows}))
"""


def build(path: Path, files: int) -> None:
    """A table of ``files`` live one-row files (ids 0..files-1), checkpointed at its
    latest version."""
    import tablever as tv

    if (path / "_tablever").exists():
        return
    shutil.rmtree(path, ignore_errors=True)
    commits = max(1, files // PER_COMMIT)
    t = tv.create(str(path), schema=pa.schema([("id", pa.int64()), ("v", pa.string())]),
                  properties={"partition_by": "id", "checkpoint_interval": commits})
    for start in range(0, files, PER_COMMIT):
        ids = range(start, min(files, start + PER_COMMIT))
        t.append(pa.table({"id": pa.array(ids, pa.int64()), "v": [f"x{i}" for i in ids]}),
                 provenance=False)


def open_times(path: Path, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _OPEN, str(path)], check=True,
                             capture_output=True, text=True, env={**os.environ})
        runs.append(json.loads(out.stdout))
    return {k: statistics.median(r[k] for r in runs) for k in ("open", "plan", "lookup")}


def commit_times(path: Path, commits: int, rows: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each commit (the CPU time of this process leaves out
    waiting on fsync and other processes: what grows with history shows there)."""
    import tablever as tv

    shutil.rmtree(path, ignore_errors=True)
    t = tv.create(str(path), schema=pa.schema([("id", pa.int64())]))
    wall, cpu = [], []
    for i in range(commits):
        batch = pa.table({"id": pa.array(range(i * rows, (i + 1) * rows), pa.int64())})
        t0, c0 = time.perf_counter(), time.process_time()
        t.append(batch, provenance=False)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="?", default="all", choices=["open", "commits", "all"])
    ap.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "tablever-scale"))
    ap.add_argument("--files", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=10)
    args = ap.parse_args(argv)
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    if args.what in ("open", "all"):
        for n in (int(x) for x in args.files.split(",")):
            path = root / f"files-{n}"
            t0 = time.perf_counter()
            build(path, n)
            built = time.perf_counter() - t0
            m = open_times(path, args.repeat)
            print(f"{n:>7} live files: open+rows {m['open'] * 1e3:8.1f} ms   "
                  f"plan(id = 123) {m['plan'] * 1e3:8.1f} ms   "
                  f"to_arrow(id = 123) {m['lookup'] * 1e3:8.1f} ms   (built in {built:.0f} s)",
                  flush=True)
    if args.what in ("commits", "all"):
        wall, cpu = commit_times(root / "commits", args.commits, args.rows)
        for lo, hi in ((1, 10), (991, 1000), (9991, 10000), (1, 100), (901, 1000),
                       (9901, 10000)):
            if len(wall) >= hi:
                print(f"commits {lo:>5}-{hi:<5} median wall "
                      f"{statistics.median(wall[lo - 1:hi]) * 1e3:7.2f} ms, cpu "
                      f"{statistics.median(cpu[lo - 1:hi]) * 1e3:7.2f} ms", flush=True)


if __name__ == "__main__":
    main()
