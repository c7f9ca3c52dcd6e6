"""Many small files and reads with deletes: tablever against plain DuckDB.

Builds, under a folder of its own (kept between runs), three tables of the benchmark's
events rows and times each query in a NEW process each run, tablever and DuckDB in turn
(A B A B ...), so the ratio is taken pair by pair on a shared, noisy machine:

- ``many``: 5,000 commits of 10 rows (5,000 live files, 50,000 rows); DuckDB reads
  ``read_parquet([the 5,000 files])``. Steps: SQL group-by, ``to_arrow()``, a point
  lookup by id.
- ``auto``: the same 5,000 commits with ``compact.auto_small_files`` set; the same
  steps (DuckDB reads the files of that version).
- ``deletes``: 500,000 rows in 200 files with a 5% delete (``confidence < 0.05``),
  against DuckDB over a clean copy of the same live rows (the same files rewritten
  without the deleted rows); and the same group-by after ``maintain``.

A tablever figure is the time from ``tv.open`` to the result, and (after open) from the
loaded latest version to the result; a DuckDB figure from ``duckdb.connect()`` to the
result, given the file list. Imports of tablever and duckdb are outside both; what
tablever imports while reading (sqlglot for SQL) is inside. The CPU-time ratio (all
threads of each process, the same span) is the steadier figure on a busy machine.

Usage: ``python -m benchmarks.small_files [--root DIR] [--runs N] [--commits N]
[--only many|auto|deletes] [--source CHECKOUT]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

AGG = ("SELECT label, count(*) AS n, avg(confidence) AS mean_conf, max(ts) AS last_ts "
       "FROM {src} GROUP BY label ORDER BY label")
LOOKUP = "SELECT * FROM {src} WHERE id = {id}"


def _rows(n: int) -> Any:
    from benchmarks.data import make_rows

    return make_rows(0, n, 7)


def build_many(path: Path, commits: int, *, auto: bool) -> None:
    import tablever as tv

    if (path / "_tablever").exists():
        return
    rows = _rows(commits * 10)
    props = {"compact.auto_small_files": 64} if auto else {}
    t = tv.create(str(path), schema=rows.schema, properties=props)
    t0 = time.perf_counter()
    for i in range(commits):
        t.append(rows.slice(i * 10, 10))
    print(f"built {path.name}: {commits} commits in {time.perf_counter() - t0:.1f} s, "
          f"{len(t.latest().files)} live files", flush=True)


def build_deletes(root: Path) -> None:
    import pyarrow.parquet as pq

    import tablever as tv

    path, clean = root / "deletes", root / "deletes_clean"
    if (path / "_tablever").exists() and clean.exists():
        return
    rows = _rows(500_000)
    t = tv.create(str(path), schema=rows.schema)
    for i in range(200):
        t.append(rows.slice(i * 2_500, 2_500))
    snap = t.delete("confidence < 0.05")
    clean.mkdir(exist_ok=True)
    live = snap.to_arrow()
    per = live.num_rows // 200 + 1
    for i in range(200):  # the same live rows, in as many files, with nothing deleted
        pq.write_table(live.slice(i * per, per), clean / f"{i:04d}.parquet")
    print(f"built deletes: {snap.num_rows} live rows of 500,000 in 200 files", flush=True)


def _files(path: Path, version: int | None = None) -> list[str]:
    import tablever as tv

    t = tv.open(str(path))
    snap = t.latest() if version is None else t.as_of(version)
    return [os.path.join(str(path), p) for p in snap.files]


# One timed query in a fresh process: prints the seconds and a digest of the answer.
_CHILD = r"""
import sys, json, time, hashlib
args = json.loads(sys.argv[1])
import duckdb, pyarrow as pa
import tablever as tv
import datetime
def norm(v):  # float sums differ in the last bits by order; time zones by session
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat()
    return v
def digest(t):
    rows = [[norm(v) for v in r.values()] for r in t.to_pylist()]
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
t0, c0 = time.perf_counter(), time.process_time()
opened = 0.0
if args["who"] == "tablever":
    table = tv.open(args["path"])
    table.latest()
    opened = time.perf_counter() - t0
    if args["what"] == "arrow":
        run = lambda: table.latest().to_arrow()
    else:
        run = lambda: table.sql(args["sql"].format(src="t"))
else:
    files = json.load(open(args["files"]))
    conn = duckdb.connect()
    # union_by_name where files differ (compacted files carry a _row_id column)
    src = "read_parquet(getvariable('files'))"
    if args.get("union"):
        src = "(SELECT * EXCLUDE (_row_id) FROM read_parquet(getvariable('files'), union_by_name=true))"
    conn.execute("SET VARIABLE files = $1::VARCHAR[]", [files])
    if args["what"] == "arrow":
        run = lambda: conn.sql(f"SELECT * FROM {src}").to_arrow_table()
    else:
        run = lambda: conn.sql(args["sql"].format(src=src)).to_arrow_table()
out = run()
secs, cpu = time.perf_counter() - t0, time.process_time() - c0
if args.get("warm"):  # the same query again in this process: the median of further runs
    times, cpus = [], []
    for _ in range(args["warm"]):
        t1, c1 = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - t1)
        cpus.append(time.process_time() - c1)
    secs, cpu, opened = sorted(times)[len(times) // 2], sorted(cpus)[len(cpus) // 2], 0.0
if args["what"] == "arrow":
    out = out.sort_by("id").select(["id", "label", "confidence"])
print(json.dumps({"seconds": secs, "cpu": cpu, "opened": opened, "digest": digest(out),
                  "rows": out.num_rows}))
"""


_SOURCE = str(Path(__file__).resolve().parents[1])  # the tablever the children import


def _once(args: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = _SOURCE + os.pathsep + env.get("PYTHONPATH", "")
    # cwd too: ``python -c`` puts the current folder first on sys.path
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], env=env,
                         cwd=_SOURCE, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def compare(name: str, path: Path, files: list[str], what: str, sql: str, runs: int,
            root: Path, *, warm: int = 0, union: bool = False) -> dict[str, Any]:
    """Median seconds of tablever and DuckDB over ``runs`` paired fresh processes (with
    ``warm``, of the same query repeated that many times in each process)."""
    listing = root / (re.sub(r"\W+", "_", name) + ".files.json")
    listing.write_text(json.dumps(files))
    ours, base, ratios, read, read_ratios, cpu_ratios = [], [], [], [], [], []
    for i in range(runs + 1):  # the first pair warms the page cache
        a = _once({"who": "tablever", "path": str(path), "what": what, "sql": sql,
                   "warm": warm})
        b = _once({"who": "duckdb", "files": str(listing), "what": what, "sql": sql,
                   "warm": warm, "union": union})
        if a["digest"] != b["digest"]:
            raise AssertionError(f"{name}: tablever and DuckDB disagree ({a} vs {b})")
        if i:
            ours.append(a["seconds"])
            base.append(b["seconds"])
            ratios.append(a["seconds"] / b["seconds"])
            read.append(a["seconds"] - a["opened"])
            read_ratios.append((a["seconds"] - a["opened"]) / b["seconds"])
            cpu_ratios.append(a["cpu"] / b["cpu"])
    row = {"step": name, "tablever_s": statistics.median(ours),
           "duckdb_s": statistics.median(base), "ratio": statistics.median(ratios),
           "tablever_read_s": statistics.median(read),
           "read_ratio": statistics.median(read_ratios),
           "cpu_ratio": statistics.median(cpu_ratios), "files": len(files)}
    print(f"{name:<26} tablever {row['tablever_s']:6.3f} s (after open {row['tablever_read_s']:6.3f})"
          f"   duckdb {row['duckdb_s']:6.3f} s   ratio {row['ratio']:5.2f} "
          f"(after open {row['read_ratio']:5.2f}; CPU time {row['cpu_ratio']:5.2f})   "
          f"{len(files)} files", flush=True)
    return row


def compare_deletes(root: Path, runs: int) -> list[dict[str, Any]]:
    """The group-by over the version with 5% deleted against DuckDB over the same live
    rows written clean: in a new process, warm (the query repeated in one process,
    which isolates applying the deletion vectors), and after ``maintain``."""
    import tablever as tv
    from tablever.maintenance import maintain

    path, clean = root / "deletes", root / "deletes_clean"
    files = sorted(str(p) for p in clean.glob("*.parquet"))
    out = [compare("deletes: group-by", path, files, "sql", AGG, runs, root),
           compare("deletes: group-by, warm", path, files, "sql", AGG, runs, root, warm=7)]
    done = root / "deletes_maintained"
    if not (done / "_tablever").exists():
        tv.copy(str(path), str(done))
        report = maintain(tv.open(str(done)))
        print(f"maintain: {report.compacted_files} files with their deletes folded into "
              f"{len(tv.open(str(done)).latest().files)}", flush=True)
    out.append(compare("deletes: after maintain", done, files, "sql", AGG, runs, root))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(
        os.environ.get("TMPDIR", "/tmp"), "tablever-small-files"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--commits", type=int, default=5_000)
    parser.add_argument("--only", choices=["many", "auto", "deletes"], action="append")
    parser.add_argument("--source", help="a checkout whose tablever the timed processes "
                        "import (to compare two versions); default: this one")
    opts = parser.parse_args()
    if opts.source:
        global _SOURCE
        _SOURCE = os.path.abspath(opts.source)
    root = Path(opts.root)
    root.mkdir(parents=True, exist_ok=True)
    only = set(opts.only or ["many", "auto", "deletes"])
    results = []
    for name in ("many", "auto"):
        if name not in only:
            continue
        path = root / f"{name}{opts.commits}"
        build_many(path, opts.commits, auto=name == "auto")
        files = _files(path)
        point = opts.commits * 10 // 2 + 7
        union = name == "auto"
        results += [
            compare(f"{name}: SQL group-by", path, files, "sql", AGG, opts.runs, root,
                    union=union),
            compare(f"{name}: to_arrow()", path, files, "arrow", "", opts.runs, root,
                    union=union),
            compare(f"{name}: point lookup", path, files, "sql",
                    LOOKUP.replace("{id}", str(point)), opts.runs, root, union=union),
        ]
    if "deletes" in only:
        build_deletes(root)
        results += compare_deletes(root, opts.runs)
    (root / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
