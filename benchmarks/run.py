"""Benchmark runner: ``python -m benchmarks.run --rows 2000000 --repeat 3 --systems all``.

Generates the shared data once, runs one worker process per (system, repetition) for the
main workload (repetitions interleaved across systems, so machine noise spreads evenly),
then the long-history workload per system, the many-small-commits workload (built in one
process, read in new ones) and the tablever-only checks, and prints the medians with
tablever/peer ratios, and each step's peak resident memory. Results go to
``benchmarks/results/<timestamp>.json``.
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import systems
from benchmarks.data import generate, make_rows, write_ipc

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"

# (key, field, label, unit); label may use {rows}
MAIN_STEPS = [
    ("append_large", "seconds", "append {rows} rows (1 commit)", "s"),
    ("append_small", "seconds", "append 1,000 rows: median of 200 commits", "ms"),
    ("append_small", "first10", "  commits 1-10 (median)", "ms"),
    ("append_small", "last10", "  commits 191-200 (median)", "ms"),
    ("read_before", "seconds", "read latest -> Arrow", "s"),
    ("agg_before", "seconds", "DuckDB group-by, latest (first query of the process)", "s"),
    ("delete_one", "seconds", "delete 1 row", "s"),
    ("delete_one", "bytes_added", "delete 1 row: bytes written", "KB"),
    ("delete_5pct", "seconds", "delete 5% (confidence < 0.05)", "s"),
    ("filter_label", "seconds", "filter out label 'noise' (~8%)", "s"),
    ("read_after", "seconds", "read latest after deletes", "s"),
    ("agg_after", "seconds", "group-by after deletes", "s"),
    ("agg_clean", "seconds", "group-by, the same rows written clean (1 commit)", "s"),
    ("agg_clean", "ratio", "  group-by after deletes / clean", "x"),
    ("agg_same_files", "seconds", "group-by before the deletes (same files)", "s"),
    ("agg_same_files", "ratio", "  group-by after deletes / before", "x"),
    ("lookup", "seconds", "point lookup by id", "ms"),
    ("tt_first_read", "seconds", "time travel v_first: open + read", "s"),
    ("tt_middle_read", "seconds", "time travel v_middle: open + read", "s"),
    ("tt_latest_read", "seconds", "time travel v_latest: open + read", "s"),
    ("tt_first_agg", "seconds", "time travel v_first: group-by", "s"),
    ("tt_middle_agg", "seconds", "time travel v_middle: group-by", "s"),
    ("tt_latest_agg", "seconds", "time travel v_latest: group-by", "s"),
    ("compact", "seconds", "compact 200 files ({crows} rows)", "s"),
    ("expire_vacuum", "seconds", "expire old versions + vacuum", "s"),
]
BYTES_STEPS = [
    ("append_large", "bytes", "after the large append"),
    ("append_small", "bytes", "after 200 small appends"),
    ("delete_5pct", "bytes", "after delete 5%"),
    ("filter_label", "bytes", "after filter by label"),
    ("expire_vacuum", "bytes", "after expire + vacuum"),
    ("compact", "bytes_before", "compaction table, before"),
    ("compact", "bytes", "compaction table, after"),
]
HISTORY_STEPS = [
    ("history_commit", "first10", "append 1,000 rows at commits 2-11", "ms"),
    ("history_commit", "last10", "append 1,000 rows at the last 10 commits", "ms"),
    ("open_v1", "cold", "open version 1 in a new process", "ms"),
    ("open_vlast", "cold", "open the last version in a new process", "ms"),
    ("open_v1", "seconds", "open version 1 again (writer process, median of 5)", "ms"),
    ("open_vlast", "seconds", "open the last version again (writer process, median of 5)", "ms"),
]
SMALL_STEPS = [
    ("s_build", "seconds", "build: the commits (made: the next row)", "s"),
    ("s_build", "commits", "  commits made", "n"),
    ("s_build", "first10", "  commit latency, commits 2-11 (median)", "ms"),
    ("s_build", "c1000", "  commit latency, commits 991-1000 (median)", "ms"),
    ("s_build", "last10", "  commit latency, the last 10 commits (median)", "ms"),
    ("s_open", "seconds", "open the latest in a new process", "ms"),
    ("s_agg", "seconds", "DuckDB group-by", "ms"),
    ("s_agg2", "seconds", "  the same group-by again in that process", "ms"),
    ("s_read", "seconds", "full read -> Arrow", "ms"),
    ("s_lookup", "seconds", "point lookup by id", "ms"),
    ("s_files", "files", "live data files", "n"),
    ("s_raw_agg", "seconds", "raw: read_parquet group-by over the same files", "ms"),
    ("s_raw_read", "seconds", "raw: read_parquet full read, same files", "ms"),
    ("s_agg", "vs_raw", "  group-by / raw", "x"),
    ("s_read", "vs_raw", "  full read / raw", "x"),
    ("m_maintain", "seconds", "tablever: maintain (default policy, compacts)", "s"),
    ("m_open", "seconds", "  after maintain: open the latest, new process", "ms"),
    ("m_agg", "seconds", "  after maintain: DuckDB group-by", "ms"),
    ("m_agg2", "seconds", "  after maintain: the same group-by again", "ms"),
    ("m_read", "seconds", "  after maintain: full read -> Arrow", "ms"),
    ("m_lookup", "seconds", "  after maintain: point lookup by id", "ms"),
    ("m_files", "files", "  after maintain: live data files", "n"),
    ("m_raw_agg", "seconds", "  after maintain: raw read_parquet group-by", "ms"),
    ("m_agg", "vs_raw", "  after maintain: group-by / raw", "x"),
]
# (key, label) of the steps whose peak resident memory is shown
MEM_MAIN = [
    ("append_large", "append the large batch"),
    ("append_small", "200 small appends (all)"),
    ("read_before", "read latest -> Arrow"),
    ("agg_before", "DuckDB group-by, latest"),
    ("delete_5pct", "delete 5%"),
    ("filter_label", "filter by label"),
    ("read_after", "read after deletes"),
    ("agg_after", "group-by after deletes"),
    ("lookup", "point lookup"),
    ("tt_first_read", "time travel v_first: read"),
    ("compact", "compact 200 files"),
    ("expire_vacuum", "expire + vacuum"),
]
MEM_SMALL = [
    ("s_build", "build (all commits, writer process)"),
    ("s_open", "open the latest"),
    ("s_agg", "DuckDB group-by"),
    ("s_read", "full read -> Arrow"),
    ("s_lookup", "point lookup"),
    ("m_maintain", "tablever: maintain"),
]
TV_CHECKS = [  # (key, label, unit, target)
    ("to_arrow", "to_arrow() of the large snapshot vs pq.read_table", "s", "<= 1.2x"),
    ("sql_count", "Warehouse.sql count(*) vs read_parquet", "ms", "<= 1.1x"),
    ("sql_groupby", "Warehouse.sql group-by vs read_parquet", "s", "<= 1.1x"),
    ("plan_build", "build the long history (all commits)", "s", ""),
    ("open_v1_long", "tv.open(...).as_of(1), long history", "ms", ""),
    ("plan_v1", "sql count(*) VERSION AS OF 1, long history", "ms", "< 100 ms"),
    ("plan_vmid", "sql count(*) VERSION AS OF middle, long history", "ms", ""),
    ("plan_latest", "sql count(*) VERSION AS OF latest, long history", "ms", ""),
    ("vacuum_many", "vacuum of the unreferenced files", "s", "< 10 s"),
]
SCALE = {"s": 1.0, "ms": 1e3, "KB": 1e-3, "x": 1.0, "n": 1.0}  # KB and MB are decimal


def _worker(
    system: str,
    phase: str,
    args: argparse.Namespace,
    spec: Path,
    work: Path,
    tag: str,
    *,
    wdir: Path | None = None,
    extra: list[str] | None = None,
) -> dict[str, Any]:
    """Run one worker process; ``wdir`` (kept afterwards) reuses a table another built."""
    python = sys.executable
    if system == "ducklake":
        python = args.ducklake_python
        if not Path(python).exists():
            return {"fatal": f"environment missing: {python} (run benchmarks/run.sh)"}
    keep_dir = args.keep or wdir is not None
    wdir = wdir or work / f"{system}-{tag}"
    out = work / f"{system}-{tag}.json"
    log = work / f"{system}-{tag}.log"
    cmd = [
        python,
        "-m",
        "benchmarks.worker",
        "--system",
        system,
        "--phase",
        phase,
        "--spec",
        str(spec),
        "--workdir",
        str(wdir),
        "--out",
        str(out),
        "--history",
        str(args.history),
        "--repeat",
        str(args.repeat),
        "--sql-rows",
        str(args.sql_rows),
        "--plan-commits",
        str(args.plan_commits),
        "--small-commits",
        str(args.small_commits),
        "--small-budget",
        str(args.small_budget),
        *(extra or []),
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    with open(log, "w") as errf:
        try:
            proc = subprocess.run(
                cmd, cwd=REPO, env=env, stdout=errf, stderr=errf, timeout=args.timeout
            )
            rc: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    elapsed = time.perf_counter() - t0
    res: dict[str, Any] = {"fatal": f"worker exited {rc}"}
    if out.exists():
        res = json.loads(out.read_text())
    if rc == "timeout":
        res["fatal"] = f"timeout after {args.timeout}s"
    res["wall"] = elapsed
    if not keep_dir:
        shutil.rmtree(wdir, ignore_errors=True)
    tail = log.read_text()[-2000:] if log.exists() else ""
    if res.get("fatal") or any("error" in v for v in res.get("steps", {}).values()):
        res["log_tail"] = tail
    print(
        f"  {system:9s} {phase:10s} {tag:6s} {elapsed:7.1f}s"
        + (f"  FATAL {res['fatal']}" if res.get("fatal") else ""),
        flush=True,
    )
    return res


def _small(
    system: str, args: argparse.Namespace, spec: Path, work: Path
) -> dict[str, Any]:
    """The many-small-commits workload of one system: build in one process, read in
    ``--repeat`` new ones; on tablever, maintain in another and read again."""
    wdir = work / f"{system}-small"
    out: dict[str, Any] = {"build": _worker(system, "small", args, spec, work, "build", wdir=wdir)}

    def reads(build: dict[str, Any], tag: str) -> list[dict[str, Any]]:
        extra = build.get("extra", {})
        step = build.get("steps", {}).get("s_build", {})
        if build.get("fatal") or "commits" not in step:
            return []
        cmd = ["--token", json.dumps(extra.get("latest_token")), "--small-commits",
               str(int(step["commits"]))]
        return [
            _worker(system, "smallread", args, spec, work, f"{tag}{r}", wdir=wdir, extra=cmd)
            for r in range(args.repeat)
        ]

    out["read"] = reads(out["build"], "read")
    if system == "tablever":
        maint = _worker(system, "smallmaint", args, spec, work, "maint", wdir=wdir)
        out["maint"] = maint
        out["read_maintained"] = reads(
            {**maint, "steps": out["build"].get("steps", {})}, "mread"
        )
    if not args.keep:
        shutil.rmtree(wdir, ignore_errors=True)
    return out


def _merge_small(runs: dict[str, Any]) -> dict[str, Any]:
    merged = _merge([runs["build"]])
    merged.update(_merge(runs["read"]) if runs["read"] else {})
    if "maint" in runs:
        m = _merge([runs["maint"]])
        if "s_maintain" in m:
            merged["m_maintain"] = m["s_maintain"]
        for step, res in (_merge(runs["read_maintained"]) if runs["read_maintained"] else {}).items():
            merged["m_" + step.removeprefix("s_")] = res
    else:
        for key, *_ in SMALL_STEPS:
            if key.startswith("m_"):
                merged[key] = {"skipped": "maintain runs on tablever only"}
    stopped = runs["build"].get("extra", {}).get("stopped")
    if stopped and "seconds" in merged.get("s_build", {}):
        merged["s_build"]["note"] = stopped
    return merged


def _merge(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per step: the median of each numeric field over the runs where the step succeeded."""
    merged: dict[str, dict[str, Any]] = {}
    names = {k for r in runs for k in r.get("steps", {})}
    for step in names:
        recs = [r["steps"][step] for r in runs if step in r.get("steps", {})]
        good = [s for s in recs if "seconds" in s]
        if good:
            out: dict[str, Any] = {"runs": len(good)}
            for key in good[0]:
                vals = [s[key] for s in good if isinstance(s.get(key), (int, float))]
                if vals:
                    out[key] = statistics.median(vals)
            bad = [s for s in recs if "seconds" not in s]
            if bad:
                out["note"] = f"{len(bad)} run(s) failed: " + str(bad[0].get("error"))
            merged[step] = out
        else:
            merged[step] = recs[0]
    for r in runs:
        if r.get("fatal"):
            for step in merged.values():
                step.setdefault("note", "a run failed: " + r["fatal"])
    return merged


_NOTES: list[str] = []  # footnotes for the table being rendered (error messages)


def _note(text: str) -> str:
    if text not in _NOTES:
        _NOTES.append(text)
    return f"[{_NOTES.index(text) + 1}]"


def _cell(
    res: dict[str, Any] | None, field: str, unit: str, who: str = ""
) -> tuple[str, float | None]:
    if res is None:
        return "not run", None
    if "unsupported" in res:
        return "unsupported", None
    if "skipped" in res:
        return "skipped " + _note(f"{who}: {res['skipped']}"), None
    if "error" in res:
        return "error " + _note(f"{who}: {res['error']}"), None
    val = res.get(field)
    if not isinstance(val, (int, float)):
        return "n/a", None
    v = val * SCALE[unit]
    if unit == "x":
        return f"{v:.2f}x", float(val)
    if unit == "n":
        return f"{v:,.0f}", float(val)
    txt = f"{v:.1f}" if unit == "KB" or v >= 100 else f"{v:.3g}"
    return txt, float(val)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


MARKDOWN = False  # --markdown: print the tables as Markdown (for docs/benchmarks.md)


def _render(title: str, header: list[str], rows: list[list[str]]) -> None:
    if MARKDOWN:
        print(f"\n**{title}**\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print()
        for i, text in enumerate(_NOTES, start=1):
            print(f"[{i}] {text}  ")
        _NOTES.clear()
        return
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_lines=False)
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
        for r in rows:
            table.add_row(*r)
        Console(width=max(120, shutil.get_terminal_size((200, 40)).columns)).print(table)
    except ImportError:
        print(f"\n{title}")
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
        for r in [header, *rows]:
            print("  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)))
    for i, text in enumerate(_NOTES, start=1):
        print(f"  [{i}] {text}")
    _NOTES.clear()


def report(result: dict[str, Any]) -> None:
    cfg = result["config"]
    names: list[str] = cfg["systems"]
    main = result["main"]
    fmt = {
        "rows": f"{cfg['rows']:,}",
        "crows": f"{cfg['rows']:,}",
        "small": f"{cfg.get('small_commits', 0):,}",
    }

    def table(
        title: str,
        steps: list[tuple[str, str, str, str]],
        data: dict[str, dict[str, Any]],
        names: list[str] = names,
    ) -> None:
        peers = [s for s in names if s != "tablever"] if "tablever" in names else []
        header = ["step", *names, *[f"tv/{p}" for p in peers]]
        rows = []
        for key, field, label, unit in steps:
            cells, vals = [], {}
            for s in names:
                txt, val = _cell(data.get(s, {}).get(key) if s in data else None, field, unit, s)
                cells.append(txt)
                vals[s] = val
            ratios = [
                _ratio(vals.get("tablever"), vals[p]) if unit not in ("x", "n") else ""
                for p in peers
            ]
            suffix = f" [{unit}]" if unit not in ("x", "n") else ""
            rows.append([f"{label.format(**fmt)}{suffix}", *cells, *ratios])
        _render(title, header, rows)

    def mem_table(
        title: str, steps: list[tuple[str, str]], data: dict[str, Any], names: list[str] = names
    ) -> None:
        rows = []
        for key, label in steps:
            cells = []
            for s in names:
                res = data.get(s, {}).get(key)
                peak, delta = (res or {}).get("rss_peak"), (res or {}).get("rss_delta")
                if isinstance(peak, (int, float)) and isinstance(delta, (int, float)):
                    cells.append(f"{peak / 1e6:,.0f} (+{delta / 1e6:,.0f})")
                else:
                    cells.append(_cell(res, "rss_peak", "n", s)[0])
            rows.append([label, *cells])
        _render(title, ["step", *names], rows)

    if main:
        table(
            f"Workload: {cfg['rows']:,} rows, median of {cfg['repeat']} runs "
            "(tv/peer < 1: tablever faster)",
            MAIN_STEPS,
            main,
        )
    bytes_rows = []
    for key, field, label in BYTES_STEPS:
        cells = []
        for s in names:
            txt, _ = _cell(main.get(s, {}).get(key), field, "s", s)
            v = main.get(s, {}).get(key, {}).get(field)
            cells.append(f"{v / 1e6:.1f}" if isinstance(v, (int, float)) else txt)
        bytes_rows.append([label, *cells])
    if main:
        _render("Bytes on disk, MB (data + metadata)", ["after step", *names], bytes_rows)
        mem_table(
            "Peak resident memory of the worker process during each step, MB "
            "(+ growth over its resident memory when the step began)",
            MEM_MAIN,
            main,
        )
    if result.get("history"):
        table(
            f"Long history: {cfg['history']:,} commits of 1,000 rows",
            HISTORY_STEPS,
            result["history"],
        )
    if result.get("small"):
        table(
            f"Many small commits: {cfg['small_commits']:,} commits of 10 rows, read in new "
            f"processes (median of {cfg['repeat']})",
            SMALL_STEPS,
            result["small"],
            [s for s in names if s in result["small"]],
        )
        mem_table(
            "Many small commits: peak resident memory during each step, MB (+ growth)",
            MEM_SMALL,
            result["small"],
            [s for s in names if s in result["small"]],
        )
    tvm = result.get("tvmicro", {})
    if tvm:
        rows = []
        for key, label, unit, target in TV_CHECKS:
            res = tvm.get(key)
            txt, val = _cell(res, "seconds", unit, "tablever")
            btxt, base = ("", None)
            if res and "baseline" in res:
                btxt, base = _cell(res, "baseline", unit)
            ratio = _ratio(val, base)
            if key == "vacuum_many" and res and "files" in res:
                label = f"vacuum of {res['files']:,} unreferenced files"
            rows.append(
                [
                    f"{label} [{unit}]",
                    txt,
                    btxt if base is not None else "",
                    ratio if base is not None else "",
                    target,
                ]
            )
        _render(
            f"tablever checks (SQL table {cfg['sql_rows']:,} rows; "
            f"history {cfg['plan_commits']:,} commits)",
            ["check", "tablever", "baseline", "ratio", "target"],
            rows,
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows of the large append")
    ap.add_argument("--repeat", type=int, default=3, help="runs per step (median reported)")
    ap.add_argument(
        "--systems", default="all", help="all, or a comma list of " + ",".join(systems.ALL)
    )
    ap.add_argument("--phases", default="main,history,small,tvmicro")
    ap.add_argument("--history", type=int, default=1_000, help="commits in the history phase")
    ap.add_argument(
        "--iceberg-history",
        action="store_true",
        help="also run the history and small-commits phases on pyiceberg (several minutes)",
    )
    ap.add_argument(
        "--small-commits",
        type=int,
        default=5_000,
        help="commits of 10 rows in the many-small-commits phase",
    )
    ap.add_argument(
        "--small-budget",
        type=float,
        default=240.0,
        help="seconds a system may spend on those commits; it stops there (recorded)",
    )
    ap.add_argument(
        "--sql-rows",
        type=int,
        default=None,
        help="rows of the Warehouse.sql table (default 5 x --rows)",
    )
    ap.add_argument(
        "--plan-commits",
        type=int,
        default=10_000,
        help="commits of the long-history table (planning and vacuum checks)",
    )
    ap.add_argument("--timeout", type=int, default=900, help="seconds per worker process")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the tables written")
    ap.add_argument("--ducklake-python", default=str(REPO / ".venv-ducklake" / "bin" / "python"))
    ap.add_argument("--json", default=None, help="results file (default results/<time>.json)")
    ap.add_argument("--report", default=None, help="print a saved results file and exit")
    ap.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    args = ap.parse_args(argv)
    global MARKDOWN
    MARKDOWN = args.markdown
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        report(saved)
        print(f"elapsed: {saved['elapsed_seconds'] / 60:.1f} min")
        return 0
    args.sql_rows = args.sql_rows or 5 * args.rows
    names = systems.ALL if args.systems == "all" else args.systems.split(",")
    for n in names:
        if n not in systems.MODULES:
            ap.error(f"unknown system {n!r}; choose from {', '.join(systems.ALL)}")
    phases = args.phases.split(",")

    started = time.perf_counter()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="tablever-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"tablever benchmarks: {args.rows:,} rows, repeat {args.repeat}, systems "
        f"{','.join(names)}; scratch {work}",
        flush=True,
    )
    t0 = time.perf_counter()
    generate(work / "data", rows=args.rows)
    if "history" in phases:
        write_ipc(make_rows(10**12, 1_000 * args.history, 7), work / "data" / "history.arrow")
    if "small" in phases:
        from benchmarks.worker import SMALL_FIRST_ID, SMALL_ROWS

        write_ipc(
            make_rows(SMALL_FIRST_ID, SMALL_ROWS * args.small_commits, 11),
            work / "data" / "small_commits.arrow",
        )
    print(f"  data generated in {time.perf_counter() - t0:.1f}s", flush=True)
    spec_path = work / "data" / "spec.json"

    result: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "rows": args.rows,
            "repeat": args.repeat,
            "systems": names,
            "history": args.history,
            "sql_rows": args.sql_rows,
            "plan_commits": args.plan_commits,
            "small_commits": args.small_commits,
            "small_budget": args.small_budget,
            "spec": json.loads(spec_path.read_text()),
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "runs": {},
        "main": {},
        "history": {},
        "small": {},
        "tvmicro": {},
    }
    if "main" in phases:
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for r in range(args.repeat):
            for n in names:
                runs[n].append(_worker(n, "main", args, spec_path, work, f"r{r}"))
        result["runs"]["main"] = runs
        result["main"] = {n: _merge(rs) for n, rs in runs.items()}
    if "history" in phases:
        hist = {}
        for n in names:
            if n == "iceberg" and not args.iceberg_history:
                hist[n] = {
                    "steps": {
                        k: {
                            "skipped": "pyiceberg commits take 0.05-0.2 s "
                            "and grow (see the 200-commit rows); pass --iceberg-history"
                        }
                        for k in ("history_commit", "open_v1", "open_vlast")
                    }
                }
                continue
            hist[n] = _worker(n, "history", args, spec_path, work, "hist")
        result["runs"]["history"] = hist
        result["history"] = {n: _merge([h]) for n, h in hist.items()}
    if "small" in phases:
        result["runs"]["small"] = {}
        for n in names:
            if n == "raw" or (n == "iceberg" and not args.iceberg_history):
                continue
            runs_n = _small(n, args, spec_path, work)
            result["runs"]["small"][n] = runs_n
            result["small"][n] = _merge_small(runs_n)
    if "tvmicro" in phases and "tablever" in names:
        tvm = _worker("tablever", "tvmicro", args, spec_path, work, "micro")
        result["runs"]["tvmicro"] = tvm
        result["tvmicro"] = _merge([tvm])
    for phase_runs in result["runs"].values():
        for r in phase_runs.values() if isinstance(phase_runs, dict) else []:
            for x in r if isinstance(r, list) else [r]:
                if isinstance(x, dict) and x.get("versions"):
                    result.setdefault("versions", {}).update(x["versions"])
    result["elapsed_seconds"] = time.perf_counter() - started

    report(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = (
        Path(args.json)
        if args.json
        else RESULTS / (datetime.now().strftime("%Y%m%d-%H%M%S") + ".json")
    )
    out.write_text(json.dumps(result, indent=1, default=str))
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    mins, secs = divmod(result["elapsed_seconds"], 60)
    print(f"results: {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    print(f"elapsed: {int(mins)} min {secs:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
