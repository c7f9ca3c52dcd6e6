"""One benchmark process: one system, one phase, one repetition; writes JSON results.

    python -m benchmarks.worker --system delta --phase main --spec DIR/spec.json \
        --workdir DIR/delta-0 --out DIR/delta-0.json

Phases:
  main     the shared workload (appends, deletes, filter, reads, time travel, lookup,
           expire/vacuum, the group-by over the same rows written clean) followed by
           the compaction workload on a fresh table
  history  1,000 commits of 1,000 rows: commit latency first vs last, open v1 vs v1000
  small    the many-small-commits table: ``--small-commits`` commits of 10 rows
  smallread  in a new process, over the table ``small`` built (``--token`` names its
           latest version): open, group-by, read, point lookup, and DuckDB
           ``read_parquet`` over the same live files
  smallmaint  tablever only: ``tv.maintain`` of that table (default policy: compacts)
  tvmicro  tablever-only checks: to_arrow vs pyarrow, Warehouse.sql vs read_parquet,
           planning over a long history, vacuum of many unreferenced files

Only the standard library and pyarrow are imported here (the DuckLake worker runs in its
own environment). Every step is timed with ``time.perf_counter``; a step the system lacks
is recorded as ``{"unsupported": reason}``, a failure as ``{"error": message}``.

Every step also records the process's peak resident memory while it ran (``rss_peak``,
bytes) and that peak less the resident memory at the step's start (``rss_delta``): see
:class:`PeakRSS`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from benchmarks import systems
from benchmarks.data import DELETE_PREDICATE, FILTERED_LABEL, DataSpec, read_ipc
from benchmarks.systems.base import System, Unsupported


class PeakRSS:
    """The peak resident set size of this process over one step.

    On Linux a process may reset its own high-water mark (``VmHWM`` in
    ``/proc/self/status``) by writing ``5`` to ``/proc/self/clear_refs``; reading ``VmHWM``
    after the step then gives the exact peak during the step, whatever allocated it
    (Python, Arrow, DuckDB, Rust). ``getrusage``'s ``ru_maxrss`` cannot be reset, so it
    shows only the steps that beat every earlier peak. Where ``clear_refs`` cannot be
    written, a thread samples ``/proc/self/statm`` every 2 ms instead (a peak shorter than
    that can be missed); without ``/proc`` nothing is recorded.
    """

    def __init__(self) -> None:
        self.page = 4096
        with contextlib.suppress(Exception):
            import os

            self.page = os.sysconf("SC_PAGE_SIZE")
        self.mode = self._probe()
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.start_bytes = 0

    def _probe(self) -> str:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self._hwm()
            return "hwm"
        except OSError:
            pass
        try:
            self._rss()
            return "sample"
        except OSError:
            return "none"

    @staticmethod
    def _hwm() -> int:
        with open("/proc/self/status") as f:
            m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
        if m is None:
            raise OSError("no VmHWM")
        return int(m.group(1)) * 1024

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def start(self) -> None:
        if self.mode == "none":
            return
        self.start_bytes = self._rss()
        if self.mode == "hwm":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return
        self._peak = self.start_bytes
        self._stop.clear()

        def sample() -> None:
            while not self._stop.wait(0.002):
                self._peak = max(self._peak, self._rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, int]:
        """``{"rss_peak": bytes, "rss_delta": bytes}`` for the step just ended."""
        if self.mode == "none":
            return {}
        if self.mode == "hwm":
            peak = self._hwm()
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            peak = max(self._peak, self._rss())
        return {"rss_peak": peak, "rss_delta": max(0, peak - self.start_bytes)}


RSS = PeakRSS()


def _err(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg}"[:300]


class Recorder:
    """Collects step results; never lets one failing step stop the rest."""

    def __init__(self, system: System | None) -> None:
        self.system = system
        self.steps: dict[str, dict[str, Any]] = {}
        self.extra: dict[str, Any] = {}

    def run(self, step: str, fn: Callable[[], Any], *, bytes_after: bool = False) -> Any:
        RSS.start()
        t0 = time.perf_counter()
        try:
            out = fn()
            secs = time.perf_counter() - t0
            mem = RSS.stop()
        except Unsupported as exc:
            RSS.stop()
            self.steps[step] = {"unsupported": str(exc)}
            return None
        except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not crash
            RSS.stop()
            traceback.print_exc(file=sys.stderr)
            self.steps[step] = {"error": _err(exc)}
            return None
        res: dict[str, Any] = {"seconds": secs, **mem}
        if isinstance(out, pa.Table):
            res["rows"] = out.num_rows
        if bytes_after and self.system is not None:
            res["bytes"] = self.system.disk_bytes()
        self.steps[step] = res
        return out if out is not None else True

    def mark(self, step: str, **values: Any) -> None:
        self.steps[step] = dict(values)

    def ok(self, step: str) -> bool:
        return "seconds" in self.steps.get(step, {})


def _version(system: System) -> Any:
    try:
        return system.current_version()
    except Unsupported:
        return None
    except Exception:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        return None


def _batches(table: pa.Table, size: int) -> list[pa.Table]:
    return [table.slice(i, size) for i in range(0, table.num_rows, size)]


def phase_main(system: System, spec: DataSpec, rec: Recorder) -> None:
    large = read_ipc(spec.large)
    small = _batches(read_ipc(spec.small), spec.small_rows)
    every = pa.concat_tables([large, read_ipc(spec.small)])
    expected = {"after_appends": every.num_rows}
    expected["after_delete_one"] = expected["after_appends"] - 1
    conf_hit = pc.sum(pc.less(every["confidence"], 0.05).cast(pa.int64())).as_py()
    expected["after_delete"] = expected["after_delete_one"] - conf_hit
    noise = pc.and_(
        pc.equal(every["label"], FILTERED_LABEL), pc.greater_equal(every["confidence"], 0.05)
    )
    expected["after_filter"] = expected["after_delete"] - pc.sum(noise.cast(pa.int64())).as_py()
    rec.extra["expected_rows"] = expected

    if rec.run("append_large", lambda: system.create(large), bytes_after=True) is None:
        return
    versions: dict[str, Any] = {"first": _version(system)}

    lat: list[float] = []
    RSS.start()
    for i, batch in enumerate(small):
        t0 = time.perf_counter()
        try:
            system.append(batch)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            rec.mark("append_small", error=_err(exc))
            break
        lat.append(time.perf_counter() - t0)
        if i + 1 == len(small) // 2:
            versions["middle"] = _version(system)
    mem = RSS.stop()
    if lat and len(lat) == len(small):
        rec.mark(
            "append_small",
            seconds=statistics.median(lat),
            first10=statistics.median(lat[:10]),
            last10=statistics.median(lat[-10:]),
            total=sum(lat),
            bytes=system.disk_bytes(),
            **mem,
        )
    rec.extra["append_latencies"] = lat

    rec.run("read_before", lambda: system.read())
    rec.run("agg_before", lambda: system.aggregate())

    versions["before_deletes"] = _version(system)
    before = system.disk_bytes()
    rec.run("delete_one", lambda: system.delete(f"id = {spec.delete_one_id}"), bytes_after=True)
    if rec.ok("delete_one") and system.name != "raw":  # raw rewrites in place: no history
        rec.steps["delete_one"]["bytes_added"] = rec.steps["delete_one"]["bytes"] - before
    rec.run("delete_5pct", lambda: system.delete(DELETE_PREDICATE), bytes_after=True)
    rec.run("filter_label", lambda: system.filter_out_label(FILTERED_LABEL), bytes_after=True)
    versions["latest"] = _version(system)
    rec.extra["versions"] = {k: v for k, v in versions.items()}

    after = rec.run("read_after", lambda: system.read())
    rec.run("agg_after", lambda: system.aggregate())
    _same_files(system, versions.get("before_deletes"), rec)
    rec.run("lookup", lambda: system.lookup(spec.lookup_id))
    if isinstance(after, pa.Table):
        _clean_copy(system, after, rec)
    del after
    for name in ("first", "middle", "latest"):
        v = versions.get(name)
        if v is None:
            reason = "no versions" if system.name == "raw" else "version unknown"
            rec.mark(f"tt_{name}_read", unsupported=reason)
            rec.mark(f"tt_{name}_agg", unsupported=reason)
            continue
        rec.run(f"tt_{name}_read", lambda v=v: system.read(v))
        rec.run(f"tt_{name}_agg", lambda v=v: system.aggregate(v))

    rec.run("expire_vacuum", system.expire_vacuum, bytes_after=True)
    rec.run("read_after_vacuum", lambda: system.read())

    # correctness: a fast wrong answer is not a result
    checks = {
        "read_before": expected["after_appends"],
        "read_after": expected["after_filter"],
        "tt_latest_read": expected["after_filter"],
        "tt_first_read": spec.rows,
        "tt_middle_read": spec.rows + spec.small_rows * (spec.n_small // 2),
        "read_after_vacuum": expected["after_filter"],
        "lookup": 1,
    }
    for step, want in checks.items():
        got = rec.steps.get(step, {}).get("rows")
        if got is not None and got != want:
            rec.steps[step] = {"error": f"wrong answer: {got} rows, expected {want}"}
    system.close()


def _same_files(system: System, version: Any, rec: Recorder) -> None:
    """The group-by at the version before the deletes: the same data files without the
    deleted rows, in the same warm process, so that the ratio to ``agg_after`` is what
    the deletes cost a read (``agg_clean`` also changes the layout: 1 file instead of
    201, which costs DuckDB's own ``read_parquet`` about 2.5x)."""
    if version is None:
        reason = "no versions" if system.name == "raw" else "version unknown"
        rec.mark("agg_same_files", unsupported=reason)
        return
    rec.run("agg_same_files", lambda: system.aggregate(version))
    if rec.ok("agg_same_files") and rec.ok("agg_after"):
        rec.steps["agg_same_files"]["ratio"] = (
            rec.steps["agg_after"]["seconds"] / rec.steps["agg_same_files"]["seconds"]
        )


def _clean_copy(system: System, rows: pa.Table, rec: Recorder) -> None:
    """The rows of the version with deletes written again in one commit to a new table of
    the same system (no deleted rows, no small files), and the same group-by over it."""
    clean = type(system)(system.root.parent / "clean")
    try:
        clean.create(rows)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        rec.mark("agg_clean", error=f"writing the clean table: {_err(exc)}")
        return
    rec.run("agg_clean", lambda: clean.aggregate())
    if rec.ok("agg_clean") and rec.ok("agg_after"):
        rec.steps["agg_clean"]["ratio"] = (
            rec.steps["agg_after"]["seconds"] / rec.steps["agg_clean"]["seconds"]
        )
    clean.close()


def phase_compact(system_cls: type[System], root: Path, spec: DataSpec, rec: Recorder) -> None:
    if not system_cls.compacts:
        try:
            system_cls.compact(None)  # type: ignore[arg-type]
        except Unsupported as exc:
            rec.mark("compact", unsupported=str(exc))
            return
    src = read_ipc(spec.compact_src)
    parts = _batches(src, -(-src.num_rows // spec.n_compact_files))
    system = system_cls(root)
    rec.system = system
    t0 = time.perf_counter()
    try:
        system.create(parts[0])
        for p in parts[1:]:
            system.append(p)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        rec.mark("compact", error=f"building the table: {_err(exc)}")
        return
    rec.extra["compact_build_seconds"] = time.perf_counter() - t0
    before = system.disk_bytes()
    rec.run("compact", system.compact, bytes_after=True)
    if rec.ok("compact"):
        rec.steps["compact"]["bytes_before"] = before
        out = rec.run("read_after_compact", lambda: system.read())
        if out is not None and rec.steps["read_after_compact"].get("rows") != src.num_rows:
            rec.steps["compact"] = {"error": "wrong answer after compaction"}
    system.close()


def phase_history(system: System, spec: DataSpec, rec: Recorder, commits: int, repeat: int) -> None:
    src = read_ipc(str(Path(spec.large).with_name("history.arrow")))
    batches = _batches(src, 1_000)[:commits]
    lat: list[float] = []
    tokens: dict[int, Any] = {}
    RSS.start()
    try:
        system.create(batches[0])
        tokens[1] = _version(system)
        for i, b in enumerate(batches[1:], start=2):
            t0 = time.perf_counter()
            system.append(b)
            lat.append(time.perf_counter() - t0)
            if i == len(batches):
                tokens[i] = _version(system)
    except Unsupported as exc:
        RSS.stop()
        rec.mark("history_commit", unsupported=str(exc))
        return
    except Exception as exc:  # noqa: BLE001
        RSS.stop()
        traceback.print_exc(file=sys.stderr)
        rec.mark("history_commit", error=f"after {len(lat)} commits: {_err(exc)}")
        return
    mem = RSS.stop()
    rec.mark(
        "history_commit",
        seconds=statistics.median(lat),
        first10=statistics.median(lat[:10]),
        last10=statistics.median(lat[-10:]),
        commits=len(batches),
        bytes=system.disk_bytes(),
        **mem,
    )
    rec.extra["history_latencies"] = lat
    for n, token in tokens.items():
        label = "open_v1" if n == 1 else "open_vlast"
        if token is None:
            rec.mark(label, unsupported="no versions")
            continue
        samples = []
        for _ in range(max(repeat, 5)):
            if rec.run(label, lambda t=token: system.open_version(t)) is None:
                break
            samples.append(rec.steps[label]["seconds"])
        if samples:
            rec.steps[label]["seconds"] = statistics.median(samples)
            rec.steps[label]["version"] = n
    system.close()  # the writer lets go (DuckLake's catalog is locked while attached)
    for n, token in tokens.items():
        label = "open_v1" if n == 1 else "open_vlast"
        cold = _cold_opens(system, token, 3) if rec.ok(label) else []
        if cold:
            rec.steps[label]["cold"] = statistics.median(cold)


SMALL_ROWS = 10  # rows per commit of the many-small-commits table
SMALL_FIRST_ID = 10**11  # its ids start here (apart from every other table's)


def _commit_windows(lat: list[float]) -> dict[str, float]:
    """Medians of commit latencies; ``lat[k]`` is commit ``k + 2`` (commit 1 creates)."""
    out = {"first10": statistics.median(lat[:10])}
    if len(lat) >= 999:
        out["c1000"] = statistics.median(lat[989:999])  # commits 991-1000
    if len(lat) >= 9_999:
        out["c10000"] = statistics.median(lat[9_989:9_999])  # commits 9,991-10,000
    out["last10"] = statistics.median(lat[-10:])
    return out


def small_source(spec: DataSpec) -> str:
    """The IPC file of the many-small-commits rows (written by the runner)."""
    return str(Path(spec.large).with_name("small_commits.arrow"))


def phase_small(
    system: System, spec: DataSpec, rec: Recorder, commits: int, budget: float
) -> None:
    """``commits`` commits of ``SMALL_ROWS`` rows through one writer handle; a system
    whose commits have taken ``budget`` seconds in all stops there (recorded)."""
    src = read_ipc(small_source(spec))
    lat: list[float] = []
    RSS.start()
    t_all = time.perf_counter()
    try:
        system.create(src.slice(0, SMALL_ROWS))
        for i in range(1, commits):
            batch = src.slice(i * SMALL_ROWS, SMALL_ROWS)
            t0 = time.perf_counter()
            system.append(batch)
            lat.append(time.perf_counter() - t0)
            if time.perf_counter() - t_all > budget:
                rec.extra["stopped"] = f"budget of {budget:.0f} s reached"
                break
    except Exception as exc:  # noqa: BLE001
        RSS.stop()
        traceback.print_exc(file=sys.stderr)
        rec.mark("s_build", error=f"after {len(lat) + 1} commits: {_err(exc)}")
        return
    total = time.perf_counter() - t_all
    mem = RSS.stop()
    rec.mark(
        "s_build",
        seconds=total,
        median=statistics.median(lat) if lat else 0.0,
        commits=len(lat) + 1,
        bytes=system.disk_bytes(),
        **_commit_windows(lat) if lat else {},
        **mem,
    )
    rec.extra["small_latencies"] = lat
    rec.extra["latest_token"] = _version(system)
    system.close()


def _raw(files: list[str], sql: str) -> pa.Table:
    import duckdb

    from benchmarks.systems.base import to_arrow

    con = duckdb.connect()  # held: DuckDB 1.4 closes a connection nothing references
    return to_arrow(con.sql(sql.format(src=f"read_parquet({files!r})")))


def phase_smallread(
    system: System, spec: DataSpec, rec: Recorder, commits: int, token: Any
) -> None:
    """The reads of the many-small-commits table (``commits`` commits), in a process that
    did not write it. DuckDB, sqlglot, pandas and the system's library are imported first,
    so the clock sees opening and reading, not imports."""
    import duckdb  # noqa: F401

    from benchmarks.systems.base import AGG_SQL

    with contextlib.suppress(ImportError):
        import sqlglot.dialects.duckdb  # noqa: F401
    with contextlib.suppress(ImportError):  # DuckDB imports it when first handed Arrow data
        import pandas  # noqa: F401
    system.warm_imports()
    n = commits * SMALL_ROWS
    opened = rec.run("s_open", lambda: system.open_version(token))
    if rec.ok("s_open") and opened != n:
        rec.steps["s_open"] = {"error": f"wrong answer: {opened} rows, expected {n}"}
    agg = rec.run("s_agg", lambda: system.aggregate())
    rec.run("s_agg2", lambda: system.aggregate())  # the first query's set-up paid
    rec.run("s_read", lambda: system.read())
    rec.run("s_lookup", lambda: system.lookup(SMALL_FIRST_ID + n // 2 + 3))
    files = rec.run("s_files", system.live_files)
    if isinstance(files, list):
        rec.steps["s_files"]["files"] = len(files)
        raw_agg = rec.run("s_raw_agg", lambda: _raw(files, AGG_SQL))
        rec.run("s_raw_read", lambda: _raw(files, "SELECT * FROM {src}"))
        if isinstance(agg, pa.Table) and isinstance(raw_agg, pa.Table):
            got = sorted(agg.column("n").to_pylist())
            if got != sorted(raw_agg.column("n").to_pylist()):
                rec.steps["s_agg"] = {"error": "wrong answer: differs from read_parquet"}
    else:
        for step in ("s_raw_agg", "s_raw_read"):
            rec.steps[step] = dict(rec.steps["s_files"])
    for step, raw in (("s_agg", "s_raw_agg"), ("s_read", "s_raw_read")):
        if rec.ok(step) and rec.ok(raw):
            rec.steps[step]["vs_raw"] = rec.steps[step]["seconds"] / rec.steps[raw]["seconds"]
    for step, want in (("s_read", n), ("s_raw_read", n), ("s_lookup", 1)):
        got = rec.steps.get(step, {}).get("rows")
        if got is not None and got != want:
            rec.steps[step] = {"error": f"wrong answer: {got} rows, expected {want}"}
    system.close()


def phase_smallmaint(system: System, rec: Recorder) -> None:
    rec.run("s_maintain", system.maintain)
    rec.extra["latest_token"] = _version(system)
    system.close()


def _cold_opens(system: System, token: Any, n: int) -> list[float]:
    """``n`` opens of version ``token``, each in a new interpreter (no cache of this
    process helps): the seconds of ``open_version`` alone, imports excluded."""
    import subprocess

    out = []
    for _ in range(n):
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.worker", "--cold-open", system.name,
             str(system.root), json.dumps(token)],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return []
        out.append(float(proc.stdout.strip().splitlines()[-1]))
    return out


def _cold_open_main(name: str, root: str, token: str) -> int:
    system = systems.load(name)(Path(root))
    system.warm_imports()
    t0 = time.perf_counter()
    system.open_version(json.loads(token))
    print(time.perf_counter() - t0)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--cold-open":
        return _cold_open_main(*argv[1:4])
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True, choices=systems.ALL)
    ap.add_argument(
        "--phase",
        required=True,
        choices=["main", "history", "tvmicro", "small", "smallread", "smallmaint"],
    )
    ap.add_argument("--spec", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--history", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sql-rows", type=int, default=10_000_000)
    ap.add_argument("--plan-commits", type=int, default=10_000)
    ap.add_argument("--small-commits", type=int, default=5_000)
    ap.add_argument("--small-budget", type=float, default=240.0)
    ap.add_argument("--token", default="null", help="smallread: the version to open (JSON)")
    args = ap.parse_args(argv)

    spec = DataSpec.load(args.spec)
    root = Path(args.workdir)
    result: dict[str, Any] = {"system": args.system, "phase": args.phase}
    t0 = time.perf_counter()
    try:
        cls = systems.load(args.system)
        result["notes"] = cls.notes
        if args.phase == "main":
            rec = Recorder(cls(root / "main"))
            phase_main(rec.system, spec, rec)  # type: ignore[arg-type]
            phase_compact(cls, root / "compact", spec, rec)
        elif args.phase in ("small", "smallread", "smallmaint"):
            rec = Recorder(cls(root / "small"))
            sys_ = rec.system
            assert sys_ is not None
            if args.phase == "small":
                phase_small(sys_, spec, rec, args.small_commits, args.small_budget)
            elif args.phase == "smallread":
                phase_smallread(sys_, spec, rec, args.small_commits, json.loads(args.token))
            else:
                phase_smallmaint(sys_, rec)
        elif args.phase == "history":
            rec = Recorder(cls(root / "history"))
            phase_history(rec.system, spec, rec, args.history, args.repeat)  # type: ignore[arg-type]
        else:
            from benchmarks import tvmicro

            rec = Recorder(None)
            tvmicro.run(
                root,
                spec,
                rec,
                sql_rows=args.sql_rows,
                plan_commits=args.plan_commits,
                repeat=args.repeat,
            )
        result["steps"] = rec.steps
        result["extra"] = rec.extra
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        result["fatal"] = _err(exc)
    result["elapsed"] = time.perf_counter() - t0
    result["versions"] = _versions()
    Path(args.out).write_text(json.dumps(result, default=str))
    return 0


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in (
        "tablever",
        "deltalake",
        "pyiceberg",
        "pylance",
        "duckdb",
        "pyarrow",
        "duckdb-ext-ducklake",
        "polars",
    ):
        with contextlib.suppress(PackageNotFoundError):
            out[dist] = version(dist)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
