"""One benchmark process: one system, one phase, one repetition; writes JSON results.

    python -m benchmarks.worker --system delta --phase main --spec DIR/spec.json \
        --workdir DIR/delta-0 --out DIR/delta-0.json

Phases:
  main     the shared workload (appends, deletes, filter, reads, time travel, lookup,
           expire/vacuum) followed by the compaction workload on a fresh table
  history  1,000 commits of 1,000 rows: commit latency first vs last, open v1 vs v1000
  tvmicro  tablever-only checks: to_arrow vs pyarrow, Warehouse.sql vs read_parquet,
           planning over a long history, vacuum of many unreferenced files

Only the standard library and pyarrow are imported here (the DuckLake worker runs in its
own environment). Every step is timed with ``time.perf_counter``; a step the system lacks
is recorded as ``{"unsupported": reason}``, a failure as ``{"error": message}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
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
        t0 = time.perf_counter()
        try:
            out = fn()
        except Unsupported as exc:
            self.steps[step] = {"unsupported": str(exc)}
            return None
        except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not crash
            traceback.print_exc(file=sys.stderr)
            self.steps[step] = {"error": _err(exc)}
            return None
        res: dict[str, Any] = {"seconds": time.perf_counter() - t0}
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
    if lat and len(lat) == len(small):
        rec.mark(
            "append_small",
            seconds=statistics.median(lat),
            first10=statistics.median(lat[:10]),
            last10=statistics.median(lat[-10:]),
            total=sum(lat),
            bytes=system.disk_bytes(),
        )
    rec.extra["append_latencies"] = lat

    rec.run("read_before", lambda: system.read())
    rec.run("agg_before", lambda: system.aggregate())

    before = system.disk_bytes()
    rec.run("delete_one", lambda: system.delete(f"id = {spec.delete_one_id}"), bytes_after=True)
    if rec.ok("delete_one") and system.name != "raw":  # raw rewrites in place: no history
        rec.steps["delete_one"]["bytes_added"] = rec.steps["delete_one"]["bytes"] - before
    rec.run("delete_5pct", lambda: system.delete(DELETE_PREDICATE), bytes_after=True)
    rec.run("filter_label", lambda: system.filter_out_label(FILTERED_LABEL), bytes_after=True)
    versions["latest"] = _version(system)
    rec.extra["versions"] = {k: v for k, v in versions.items()}

    rec.run("read_after", lambda: system.read())
    rec.run("agg_after", lambda: system.aggregate())
    rec.run("lookup", lambda: system.lookup(spec.lookup_id))
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
        rec.mark("history_commit", unsupported=str(exc))
        return
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        rec.mark("history_commit", error=f"after {len(lat)} commits: {_err(exc)}")
        return
    rec.mark(
        "history_commit",
        seconds=statistics.median(lat),
        first10=statistics.median(lat[:10]),
        last10=statistics.median(lat[-10:]),
        commits=len(batches),
        bytes=system.disk_bytes(),
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
    ap.add_argument("--phase", required=True, choices=["main", "history", "tvmicro"])
    ap.add_argument("--spec", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--history", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sql-rows", type=int, default=10_000_000)
    ap.add_argument("--plan-commits", type=int, default=10_000)
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
