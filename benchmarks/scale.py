"""Scale curves of tablever: ``python -m benchmarks.scale`` (``make bench-scale``).

Three axes, each on a table of its own, each measured in new processes (median of
``--repeat``; the libraries are imported before the clock starts):

- **live files** (``--files 1000,10000,100000``): a table whose latest version holds N data
  files of 10 rows. The files are written directly with ``tablever.write.write_data_file``
  on 8 threads and committed with ``tablever.operations.add_files``, one commit per size
  step (1k, then 9k more, then 90k more), with ``checkpoint_interval`` 1 so the latest
  version opens from a checkpoint, as a long-lived table's does. Timed: open the latest
  (``tv.open(...).latest().num_rows``), plan a point lookup (``Snapshot.plan(where=
  "id = k")``, must leave one file) and the lookup itself (``to_arrow(where=...)``).
- **history** (``--commits 1000,10000,100000``): one table built by ``Table.append`` of 10
  rows per commit (the default checkpoint every 100 versions). Timed: the median latency
  of the 10 commits ending at each size (in the writer's process), and opening the latest
  in a new process. Then a ``vacuum`` (grace 0s), as routine maintenance would run it:
  the checkpoints on disk before and after it (it thins them) and its time.
- **rows** (``--rows 1000000,10000000,50000000``): one table grown by appends of 2M rows.
  Timed: ``Snapshot.sql`` group-by, DuckDB ``read_parquet`` group-by over the same files
  (the baseline) and ``Snapshot.to_arrow()``, which is skipped when the table in memory
  would exceed a third of the machine's available memory.

``--max N`` drops sizes above N on the files and history axes. Results go to
``benchmarks/results/scale-<time>.json`` and the plot to ``docs/benchmarks-scale.png``;
``--report FILE`` prints and plots a saved run again.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
PLOT = REPO / "docs" / "benchmarks-scale.png"
SEED = 42
FILE_ROWS = 10
CHUNK = 2_000_000


def _sizes(text: str) -> list[int]:
    return sorted({int(float(x)) for x in text.split(",") if x.strip()})


def _mem_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 1024**3


# --- probes: run in a new process, print one JSON object ------------------------------


def _warm() -> None:
    import contextlib

    import duckdb  # noqa: F401
    import sqlglot.dialects.duckdb  # noqa: F401

    import tablever  # noqa: F401

    with contextlib.suppress(ImportError):  # DuckDB imports it when handed Arrow data
        import pandas  # noqa: F401


def _timed(rss: Any, fn: Callable[[], Any]) -> tuple[dict[str, float], Any]:
    rss.start()
    t0 = time.perf_counter()
    out = fn()
    secs = time.perf_counter() - t0
    return {"seconds": secs, **rss.stop()}, out


def probe(kind: str, path: str, arg: str) -> dict[str, Any]:
    import tablever as tv
    from benchmarks.systems.base import AGG_SQL, to_arrow
    from benchmarks.worker import PeakRSS

    _warm()
    rss = PeakRSS()
    res: dict[str, Any] = {}
    res["open"], snap = _timed(rss, lambda: tv.open(path).latest())
    res["open"]["rows"] = snap.num_rows
    if kind == "files":
        where = f"id = {int(arg)}"
        res["plan"], plan = _timed(rss, lambda: snap.plan(where=where))
        res["plan"]["tasks"] = len(plan.tasks)
        res["lookup"], got = _timed(rss, lambda: snap.to_arrow(where=where))
        res["lookup"]["rows"] = got.num_rows
        if len(plan.tasks) != 1 or got.num_rows != 1:
            raise AssertionError(f"lookup planned {len(plan.tasks)} files, {got.num_rows} rows")
    elif kind == "rows":
        import duckdb

        files = [str(Path(path) / f) for f in snap.files]
        res["agg"], ours = _timed(rss, lambda: snap.sql(AGG_SQL.format(src="t")))
        con = duckdb.connect()
        res["raw_agg"], ref = _timed(
            rss, lambda: to_arrow(con.sql(AGG_SQL.format(src=f"read_parquet({files!r})")))
        )
        if sorted(ours.column("n").to_pylist()) != sorted(ref.column("n").to_pylist()):
            raise AssertionError("group-by differs from read_parquet")
        if arg == "read":
            res["read"], got = _timed(rss, lambda: snap.to_arrow())
            res["read"]["rows"] = got.num_rows
            del got
    return res


def _probe_runs(kind: str, path: Path, arg: str, repeat: int) -> dict[str, Any]:
    """Median of each figure over ``repeat`` new processes."""
    samples: list[dict[str, Any]] = []
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.scale", "--probe", kind, str(path), arg],
            capture_output=True, text=True, cwd=REPO, env=env, check=False,
        )
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1][:300] if proc.stderr else "?"}
        samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out: dict[str, Any] = {}
    for step in samples[0]:
        out[step] = {
            k: statistics.median(s[step][k] for s in samples) for k in samples[0][step]
        }
    return out


# --- the three axes ------------------------------------------------------------------


def axis_files(
    root: Path, sizes: list[int], repeat: int, log: Callable[[str], None], points: list
) -> None:
    import tablever as tv
    from benchmarks.data import make_rows
    from tablever import operations as ops
    from tablever.write import write_data_file

    path = root / "files"
    schema = make_rows(0, 1, SEED).schema
    t = tv.create(str(path), schema=schema, properties={"checkpoint_interval": 1})
    have = 0
    for n in sizes:
        rows = make_rows(have * FILE_ROWS, (n - have) * FILE_ROWS, SEED)
        writer = t.writer()
        t0 = time.perf_counter()

        def one(i: int, storage: Any = writer.storage, rows: Any = rows) -> Any:
            return write_data_file(storage, rows.slice(i * FILE_ROWS, FILE_ROWS), 0)

        with ThreadPoolExecutor(max_workers=8) as pool:
            files = list(pool.map(one, range(n - have)))
        written = time.perf_counter() - t0
        t0 = time.perf_counter()
        ops.add_files(writer, files, schema, message=f"{n - have} files")
        committed = time.perf_counter() - t0
        have = n
        key = FILE_ROWS * (n // 2) + 3
        res = _probe_runs("files", path, str(key), repeat)
        res.update(files=n, write_seconds=written, commit_seconds=committed)
        points.append(res)
        log(f"files {n:>9,}: wrote in {written:.1f}s, committed in {committed:.2f}s; " + _brief(res))


def axis_commits(
    root: Path, sizes: list[int], repeat: int, log: Callable[[str], None], points: list
) -> None:
    import tablever as tv
    from benchmarks.data import make_rows

    path = root / "commits"
    rows = make_rows(10**10, FILE_ROWS * max(sizes), SEED)
    t = tv.create(str(path), schema=rows.schema)
    lat: list[float] = []
    cpu: list[float] = []  # this process's CPU time: what other processes' load leaves out
    t_start = time.perf_counter()
    for i in range(max(sizes)):
        batch = rows.slice(i * FILE_ROWS, FILE_ROWS)
        t0, c0 = time.perf_counter(), time.process_time()
        t.append(batch, message="small")
        lat.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        n = i + 1
        if n in sizes:
            res = _probe_runs("commits", path, "", repeat)
            res.update(_thinning(t))
            res.update(
                commits=n,
                commit_median_last10=statistics.median(lat[-10:]),
                commit_median_first10=statistics.median(lat[:10]),
                commit_cpu_median_last10=statistics.median(cpu[-10:]),
                commit_cpu_median_first10=statistics.median(cpu[:10]),
                build_seconds=time.perf_counter() - t_start,
            )
            points.append(res)
            log(
                f"commits {n:>9,}: last 10 commits median "
                f"{res['commit_median_last10'] * 1e3:.1f} ms; " + _brief(res)
            )


def _checkpoint_bytes(t: Any) -> tuple[int, int]:
    sizes = [f.size for f in t.storage.walk("_tablever/checkpoints")]
    return len(sizes), sum(sizes)


def _thinning(t: Any) -> dict[str, Any]:
    """Checkpoints on disk before and after a ``vacuum`` with the default spacing (which
    thins them), and the vacuum's time: the history axis vacuums at each point as a
    table under routine maintenance would."""
    import tablever as tv

    count, size = _checkpoint_bytes(t)
    t0 = time.perf_counter()
    tv.vacuum(t, grace="0s")
    took = time.perf_counter() - t0
    after_count, after_size = _checkpoint_bytes(t)
    return {"checkpoints_before": count, "checkpoint_bytes_before": size,
            "checkpoints_after": after_count, "checkpoint_bytes_after": after_size,
            "vacuum_seconds": took}


def axis_rows(
    root: Path, sizes: list[int], repeat: int, log: Callable[[str], None], points: list
) -> None:
    import tablever as tv
    from benchmarks.data import make_rows

    path = root / "rows"
    t = tv.create(str(path), schema=make_rows(0, 1, SEED).schema)
    have, per_row = 0, 0.0
    for n in sizes:
        t0 = time.perf_counter()
        while have < n:
            chunk = make_rows(have, min(CHUNK, n - have), SEED)
            per_row = chunk.nbytes / chunk.num_rows
            t.append(chunk, message="load")
            have += chunk.num_rows
            del chunk
        built = time.perf_counter() - t0
        fits = n * per_row < _mem_available() / 3
        res = _probe_runs("rows", path, "read" if fits else "", repeat)
        if not fits:
            res["read"] = {"skipped": f"{n * per_row / 1e9:.1f} GB in memory is over a "
                           "third of the available memory"}
        res.update(rows=n, build_seconds=built, arrow_bytes=n * per_row)
        points.append(res)
        log(f"rows {n:>12,}: built in {built:.1f}s; " + _brief(res))


def _brief(res: dict[str, Any]) -> str:
    parts = []
    for step in ("open", "plan", "lookup", "agg", "raw_agg", "read"):
        v = res.get(step)
        if isinstance(v, dict) and "seconds" in v:
            parts.append(f"{step} {v['seconds'] * 1e3:.1f} ms")
    if "error" in res:
        parts.append("error: " + res["error"])
    return ", ".join(parts)


# --- output --------------------------------------------------------------------------


def _ms(res: dict[str, Any], step: str, field: str = "seconds") -> str:
    v = res.get(step, {}).get(field) if isinstance(res.get(step), dict) else None
    if not isinstance(v, (int, float)):
        return res.get(step, {}).get("skipped", "-") if isinstance(res.get(step), dict) else "-"
    return f"{v * 1e3:,.1f}"


def _mb(res: dict[str, Any], step: str) -> str:
    v = res.get(step, {}).get("rss_peak") if isinstance(res.get(step), dict) else None
    return f"{v / 1e6:,.0f}" if isinstance(v, (int, float)) else "-"


def report(result: dict[str, Any]) -> None:
    def show(title: str, header: list[str], rows: list[list[str]]) -> None:
        print(f"\n{title}\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---:" for _ in header) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")

    if result.get("files"):
        show(
            "Live files (10 rows each), new process, median ms (peak RSS MB)",
            ["live files", "open latest", "plan point lookup", "point lookup",
             "open peak MB", "write files [s]", "commit [s]"],
            [[f"{p['files']:,}", _ms(p, "open"), _ms(p, "plan"), _ms(p, "lookup"),
              _mb(p, "open"), f"{p['write_seconds']:.1f}", f"{p['commit_seconds']:.2f}"]
             for p in result["files"]],
        )
    if result.get("commits"):
        show(
            "History (commits of 10 rows), ms",
            ["commits", "commit latency, last 10 (median)", "its CPU time",
             "open latest, new process", "open peak MB", "build so far [s]"],
            [[f"{p['commits']:,}", f"{p['commit_median_last10'] * 1e3:.1f}",
              f"{p['commit_cpu_median_last10'] * 1e3:.1f}"
              if "commit_cpu_median_last10" in p else "-", _ms(p, "open"),
              _mb(p, "open"), f"{p['build_seconds']:.0f}"] for p in result["commits"]],
        )
        thinned = [p for p in result["commits"] if "checkpoint_bytes_before" in p]
        if thinned:
            show(
                "Checkpoints on disk, before and after vacuum (default spacing)",
                ["commits", "checkpoints before", "MB before", "checkpoints after",
                 "MB after", "vacuum [s]"],
                [[f"{p['commits']:,}", f"{p['checkpoints_before']:,}",
                  f"{p['checkpoint_bytes_before'] / 1e6:,.1f}", f"{p['checkpoints_after']:,}",
                  f"{p['checkpoint_bytes_after'] / 1e6:,.1f}", f"{p['vacuum_seconds']:.2f}"]
                 for p in thinned],
            )
    if result.get("rows"):
        show(
            "Rows, new process, ms (peak RSS MB)",
            ["rows", "Snapshot.sql group-by", "read_parquet group-by", "ratio",
             "to_arrow()", "to_arrow peak MB", "build [s]"],
            [[f"{p['rows']:,}", _ms(p, "agg"), _ms(p, "raw_agg"), _ratio(p),
              _ms(p, "read"), _mb(p, "read"), f"{p['build_seconds']:.0f}"]
             for p in result["rows"]],
        )
    axes = result.get("axis_seconds", {})
    if axes:
        print("\naxis times: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in axes.items()))


def _ratio(p: dict[str, Any]) -> str:
    a, b = p.get("agg", {}).get("seconds"), p.get("raw_agg", {}).get("seconds")
    return f"{a / b:.2f}x" if a and b else "-"


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))

    def line(ax: Any, xs: list[int], pts: list[dict[str, Any]], step: str, label: str,
             field: str = "seconds", scale: float = 1e3) -> None:
        pairs = [(x, p[step][field] * scale) for x, p in zip(xs, pts, strict=True)
                 if isinstance(p.get(step), dict) and isinstance(p[step].get(field), (int, float))]
        if pairs:
            ax.plot(*zip(*pairs, strict=True), marker="o", label=label)

    if result.get("files"):
        pts = result["files"]
        xs = [p["files"] for p in pts]
        ax = axes[0]
        line(ax, xs, pts, "open", "open the latest")
        line(ax, xs, pts, "plan", "plan a point lookup")
        line(ax, xs, pts, "lookup", "point lookup")
        ax.set(xscale="log", yscale="log", xlabel="live data files", ylabel="ms (new process)",
               title="Live files")
    if result.get("commits"):
        pts = result["commits"]
        xs = [p["commits"] for p in pts]
        ax = axes[1]
        pairs = [(p["commits"], p["commit_median_last10"] * 1e3) for p in pts]
        ax.plot(*zip(*pairs, strict=True), marker="o", label="commit (median of the last 10)")
        cpu = [(p["commits"], p["commit_cpu_median_last10"] * 1e3) for p in pts
               if "commit_cpu_median_last10" in p]
        if cpu:
            ax.plot(*zip(*cpu, strict=True), marker="o", label="its CPU time")
        line(ax, xs, pts, "open", "open the latest (new process)")
        ax.set(xscale="log", yscale="log", xlabel="commits in the history", ylabel="ms",
               title="History")
    if result.get("rows"):
        pts = result["rows"]
        xs = [p["rows"] for p in pts]
        ax = axes[2]
        line(ax, xs, pts, "agg", "Snapshot.sql group-by", scale=1)
        line(ax, xs, pts, "raw_agg", "DuckDB read_parquet group-by", scale=1)
        line(ax, xs, pts, "read", "to_arrow()", scale=1)
        ax.set(xscale="log", yscale="log", xlabel="rows", ylabel="s (new process)",
               title="Rows")
    for ax in axes:
        if ax.has_data():
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        else:
            ax.set_axis_off()
    when = result.get("started", "")[:10]
    fig.suptitle(f"tablever at scale ({when}, {result.get('machine', {}).get('cpus')} cores)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--probe":
        print(json.dumps(probe(*argv[1:4])))
        return 0
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--files", default="1000,10000,100000", help="live-file sizes")
    ap.add_argument("--commits", default="1000,10000,100000", help="history sizes")
    ap.add_argument("--rows", default="1000000,10000000,50000000", help="row sizes")
    ap.add_argument("--axes", default="files,rows,commits")
    ap.add_argument("--max", type=int, default=None, help="drop file and history sizes above N")
    ap.add_argument("--repeat", type=int, default=3, help="new processes per probe (median)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", default=None, help="results file (default results/scale-<time>.json)")
    ap.add_argument("--plot", default=str(PLOT), help="where the plot goes ('' for none)")
    ap.add_argument("--report", default=None, help="print and plot a saved results file")
    args = ap.parse_args(argv)
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        report(saved)
        if args.plot:
            plot(saved, Path(args.plot))
            print(f"plot: {args.plot}")
        return 0

    def cap(sizes: list[int]) -> list[int]:
        return [s for s in sizes if args.max is None or s <= args.max]

    axes = args.axes.split(",")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="tablever-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    out = Path(args.json) if args.json else RESULTS / (
        "scale-" + datetime.now().strftime("%Y%m%d-%H%M%S") + ".json")
    RESULTS.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:  # after each point: the results so far are saved
        print(f"  [{time.perf_counter() - started:6.0f}s] {msg}", flush=True)
        result["elapsed_seconds"] = time.perf_counter() - started
        out.write_text(json.dumps(result, indent=1, default=str))

    result: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {"files": cap(_sizes(args.files)), "commits": cap(_sizes(args.commits)),
                   "rows": _sizes(args.rows), "repeat": args.repeat},
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "mem_available": _mem_available()},
        "axis_seconds": {},
    }
    runners = {"files": axis_files, "commits": axis_commits, "rows": axis_rows}
    print(f"tablever scale curves: {result['config']}; scratch {work}", flush=True)
    for axis in axes:
        sizes = result["config"][axis]
        if not sizes:
            continue
        t0 = time.perf_counter()
        result[axis] = []
        runners[axis](work, sizes, args.repeat, log, result[axis])
        result["axis_seconds"][axis] = time.perf_counter() - t0
        if not args.keep:
            shutil.rmtree(work / axis, ignore_errors=True)
    result["elapsed_seconds"] = time.perf_counter() - started
    report(result)
    out.write_text(json.dumps(result, indent=1, default=str))
    if args.plot:
        plot(result, Path(args.plot))
        print(f"plot: {args.plot}")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    print(f"results: {out}")
    print(f"elapsed: {result['elapsed_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
