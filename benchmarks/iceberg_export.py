"""Iceberg export of a table with many versions: time and bytes of a full export, of an
incremental one after ten more commits, and of one with nothing new.

    python -m benchmarks.iceberg_export [--versions 200] [--rows 1000] [--dir DIR]

Every fifth commit deletes a few rows (a deletion vector, so a position-delete file);
the others append ``--rows`` rows. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

import tablever as tv


def _commit(t: tv.Table, i: int, rows: int) -> None:
    if i % 5 == 4:
        t.delete(f"id % 97 = {i % 97} AND id < {i * rows}")
    else:
        ids = pa.array(range(i * rows, (i + 1) * rows), pa.int64())
        t.append(pa.table({"id": ids, "value": pa.compute.multiply(ids, 2)}))


def _run(t: tv.Table) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = tv.export_iceberg(t)
    return {"seconds": round(time.perf_counter() - t0, 3), "files": len(out.written),
            "bytes": out.bytes_written, "reused": out.reused, "snapshots": len(out.snapshots)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=200)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--dir", default=None, help="where to build the table (default: a temp dir)")
    args = ap.parse_args(argv)
    root = Path(args.dir or tempfile.mkdtemp(prefix="tv-iceberg-bench-"))
    t = tv.create(root / "events", schema=pa.schema([("id", pa.int64()), ("value", pa.int64())]))
    for i in range(args.versions - 1):
        _commit(t, i, args.rows)
    table_bytes = sum(f.stat().st_size for f in (root / "events").rglob("*.parquet")
                      if "_tablever" not in f.parts)
    result: dict[str, Any] = {"versions": args.versions, "table_data_bytes": table_bytes}
    result["full"] = _run(t)
    for i in range(args.versions - 1, args.versions + 9):
        _commit(t, i, args.rows)
    result["after_10_commits"] = _run(t)
    result["nothing_new"] = _run(t)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
