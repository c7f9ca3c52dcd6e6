"""The write path against its floors: ``python -m benchmarks.write_path --rows 500000``.

Times, on the same generated rows (benchmarks/data.py), medians of ``--repeat`` runs
interleaved across systems:

- ``append``: one large append of ``--rows`` rows into an empty table: tablever
  ``Table.append``, Lance ``write_dataset``, and raw ``pq.write_table`` of the same rows
  to one file, twice: with pyarrow's defaults (``raw``) and with the options tablever's
  data files use (``raw_same``: Snappy, 131,072-row groups, page checksums, dictionary
  pages only where tablever uses them). tablever's figure includes what the raw write
  does not do: the content hash, the SHA-256 naming the file, per-column stats, the
  fsyncs and the commit.
- ``delete``: ``confidence < 0.05`` on a table of the large append plus ``--small``
  1,000-row appends (one commit each).
- ``compact``: compaction of such a table (1 + ``--small`` files) into one file.

``--rss`` instead runs each bounded-memory scenario in a process of its own and prints
its peak resident set size (``ru_maxrss``): appending a ``pa.RecordBatchReader`` of
``--stream-rows`` generated rows, compacting a table of ``--stream-rows`` rows held in
100,000-row files, and reading a table back with ``Snapshot.to_batches``. The peak must
not grow with ``--stream-rows`` (docs/benchmarks.md).

Lance comes from the ``bench`` extra (``.venv-bench``); without it its rows are skipped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.data import DELETE_PREDICATE, make_rows

SMALL_ROWS = 1_000


def _lance() -> Any:
    try:
        import lance
    except ImportError:
        return None
    return lance


def _timed(fn: Callable[[], Any], cpu: list[float]) -> float:
    """Wall seconds of ``fn()``; its CPU seconds (every thread of the process) go to
    ``cpu``: on a shared machine the CPU figure moves less than the wall one."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    cpu.append(time.process_time() - c0)
    return wall


def _raw_same(rows: pa.Table, path: str) -> None:
    from tablever.write import ROW_GROUP_SIZE

    dictionary = [f.name for f in rows.schema if f.name == "label"]  # what tablever picks
    pq.write_table(rows, path, compression="snappy", row_group_size=ROW_GROUP_SIZE,
                   use_dictionary=dictionary, write_page_checksum=True)


def _tablever_table(path: str, rows: pa.Table, small: pa.Table, n_small: int) -> Any:
    import tablever as tv

    t = tv.create(path, schema=rows.schema)
    t.append(rows)
    for i in range(n_small):
        t.append(small.slice(i * SMALL_ROWS, SMALL_ROWS))
    return t


def _lance_table(path: str, rows: pa.Table, small: pa.Table, n_small: int) -> Any:
    lance = _lance()
    ds = lance.write_dataset(rows, path, mode="create")
    for i in range(n_small):
        ds.insert(small.slice(i * SMALL_ROWS, SMALL_ROWS), mode="append")
    return ds


Times = dict[str, dict[str, list[float]]]


def time_steps(args: argparse.Namespace) -> tuple[Times, Times]:
    import tablever as tv

    rows = make_rows(0, args.rows, 42)
    small = make_rows(args.rows, SMALL_ROWS * args.small, 42)
    lance = _lance()
    out: Times = {"append": {}, "delete": {}, "compact": {}}
    cpu: Times = {"append": {}, "delete": {}, "compact": {}}
    work = Path(tempfile.mkdtemp(prefix="tv-write-path-", dir=args.dir))
    try:
        # warm-up: imports (DuckDB and sqlglot for the delete) are not what is measured
        warm = _tablever_table(str(work / "warm"), rows.slice(0, 1000), small, 2)
        warm.delete(DELETE_PREDICATE)
        tv.compact(warm)
        if lance is not None:
            _lance_table(str(work / "warm.lance"), rows.slice(0, 1000), small, 2).delete(
                DELETE_PREDICATE)
        for r in range(args.repeat):
            base = work / f"r{r}"
            base.mkdir()
            # append: each system in turn on the same rows
            t = tv.create(str(base / "tv_append"), schema=rows.schema)
            raw, same, lpath = (str(base / n) for n in ("raw.parquet", "same.parquet", "lance"))
            steps: list[tuple[str, Callable[[], Any]]] = [
                ("tablever", lambda t=t: t.append(rows)),
                ("raw", lambda p=raw: pq.write_table(rows, p)),
                ("raw_same", lambda p=same: _raw_same(rows, p)),
            ]
            if lance is not None:
                steps.append(("lance", lambda p=lpath: lance.write_dataset(rows, p, mode="create")))
            for name, fn in steps if r % 2 == 0 else steps[::-1]:
                if "append" in args.steps:
                    out["append"].setdefault(name, []).append(
                        _timed(fn, cpu["append"].setdefault(name, [])))
            # delete and compact, each on a table of its own
            builders: list[tuple[str, Callable[..., Any]]] = [("tablever", _tablever_table)]
            if lance is not None:
                builders.append(("lance", _lance_table))
            for name, build in builders if r % 2 == 0 else builders[::-1]:
                if "delete" in args.steps:
                    table = build(str(base / f"{name}_delete"), rows, small, args.small)
                    out["delete"].setdefault(name, []).append(_timed(
                        lambda t=table: t.delete(DELETE_PREDICATE),
                        cpu["delete"].setdefault(name, [])))
                if "compact" in args.steps:
                    table = build(str(base / f"{name}_compact"), rows, small, args.small)
                    fn = (lambda t=table: tv.compact(t)) if name == "tablever" else (
                        table.optimize.compact_files)
                    out["compact"].setdefault(name, []).append(
                        _timed(fn, cpu["compact"].setdefault(name, [])))
            shutil.rmtree(base)
            print(f"  repetition {r + 1}/{args.repeat} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out, cpu


def print_times(times: Times, args: argparse.Namespace, what: str) -> None:
    print(f"\n{what}: rows={args.rows:,} small appends={args.small} repeat={args.repeat} "
          f"(medians in seconds; x = tablever / other, median of the paired ratios)")
    for step, by_system in times.items():
        if not by_system:
            continue
        tv_runs = by_system.get("tablever", [])
        cells = []
        for name, runs in by_system.items():
            cell = f"{name} {statistics.median(runs):.3f}"
            if name != "tablever" and tv_runs:
                ratio = statistics.median(a / b for a, b in zip(tv_runs, runs, strict=False))
                cell += f" (x{ratio:.2f})"
            cells.append(cell)
        print(f"{step:8s} " + " | ".join(cells))


# --- bounded memory ------------------------------------------------------------------


def _reader(n: int, batch: int = 100_000) -> pa.RecordBatchReader:
    """``n`` generated rows as a stream: never more than one batch in memory."""
    schema = make_rows(0, 1, 42).schema

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, n, batch):
            yield from make_rows(start, min(batch, n - start), 42).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def child(scenario: str, rows: int, path: str) -> None:
    """One scenario, run in a process of its own so its peak RSS is its own."""
    import tablever as tv

    t0 = time.perf_counter()
    if scenario == "append_stream":
        t = tv.create(path, schema=make_rows(0, 1, 42).schema)
        t.append(_reader(rows))
        assert t.latest().num_rows == rows
    elif scenario == "build_small_files":  # the input of the compaction scenario
        t = tv.create(path, schema=make_rows(0, 1, 42).schema)
        for start in range(0, rows, 100_000):
            t.append(make_rows(start, min(100_000, rows - start), 42))
    elif scenario == "compact":
        t = tv.open(path)
        tv.compact(t)
        assert t.latest().num_rows == rows
    elif scenario == "read_batches":
        seen = sum(b.num_rows for b in tv.open(path).latest().to_batches(65_536))
        assert seen == rows
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    print(f"{time.perf_counter() - t0:.2f}")


def _peak_rss(scenario: str, rows: int, path: str) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one scenario in a new process."""
    cmd = [sys.executable, "-m", "benchmarks.write_path", "--child", scenario,
           "--stream-rows", str(rows), "--path", path]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{scenario} failed ({proc.returncode})")
    return usage.ru_maxrss / 1024, float(out.strip().splitlines()[-1])


def print_rss(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="tv-write-rss-", dir=args.dir))
    try:
        n = args.stream_rows
        print(f"\nrows={n:,}: peak RSS of each step in its own process")
        for scenario, path in [("append_stream", "streamed"), ("read_batches", "streamed"),
                               ("build_small_files", "small"), ("compact", "small")]:
            mib, secs = _peak_rss(scenario, n, str(work / path))
            print(f"{scenario:18s} peak RSS {mib:8.0f} MiB   {secs:7.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=500_000, help="rows of the large append")
    ap.add_argument("--small", type=int, default=200, help="1,000-row appends after it")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--steps", default="append,delete,compact",
                    help="comma-separated subset of append,delete,compact")
    ap.add_argument("--dir", default=None, help="where the work folders go (default: tmp)")
    ap.add_argument("--rss", action="store_true", help="measure peak RSS instead of times")
    ap.add_argument("--stream-rows", type=int, default=5_000_000,
                    help="rows streamed in the --rss scenarios")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.stream_rows, args.path)
        return 0
    if args.rss:
        print_rss(args)
        return 0
    if _lance() is None:
        print("lance is not installed (pip install pylance): its rows are skipped",
              file=sys.stderr)
    wall, cpu = time_steps(args)
    print_times(wall, args, "wall")
    print_times(cpu, args, "CPU (all threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
