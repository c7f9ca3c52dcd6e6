"""Spark (local mode) over tablever: read a version with deletes against Spark reading
the same Parquet files with no deletes to apply, and Spark append throughput.

``make bench-spark`` (or ``.venv/bin/python -m benchmarks.spark --rows 2000000``).
Medians of ``--repeat`` runs; each read is a full aggregate, so every row is scanned.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

import tablever as tv


def timed(fn: Callable[[], Any], repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F  # noqa: N812

    import tablever.spark as tvs

    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    root = tempfile.mkdtemp()
    rng = np.random.default_rng(0)
    n = args.rows
    t = tv.create(f"{root}/t", data=pa.table({
        "id": np.arange(n, dtype=np.int64), "label": pa.array((np.arange(n) % 7).astype(str)),
        "confidence": rng.random(n)}))
    t.delete("confidence < 0.05")
    snap = t.latest()
    paths = [snap.storage.local_path(f.path) for f in snap.data_files]

    def with_deletes() -> Any:
        return tvs.read(spark, t.location).groupBy("label").agg(F.avg("confidence")).collect()

    def plain_files() -> Any:
        return spark.read.parquet(*paths).groupBy("label").agg(F.avg("confidence")).collect()

    with_deletes(), plain_files()  # warm the JVM
    a, b = timed(with_deletes, args.repeat), timed(plain_files, args.repeat)
    df = spark.range(n).selectExpr("id + 100000000 AS id", "CAST(id % 7 AS STRING) AS label",
                                   "rand() AS confidence").repartition(2)
    df.cache().count()
    c = timed(lambda: tvs.append(df, t.location), args.repeat)
    print(f"{n:,} rows, medians of {args.repeat}, Spark local[2]")
    print(f"  group-by via tablever.spark.read (5% deleted rows): {a * 1000:.0f} ms")
    print(f"  group-by over the same files, no deletes applied:   {b * 1000:.0f} ms"
          f"  (ratio {a / b:.2f}x)")
    print(f"  tablever.spark.append of {n:,} rows: {c * 1000:.0f} ms "
          f"({n / c / 1e6:.2f} M rows/s)")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
