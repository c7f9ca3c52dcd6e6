"""tablever, deltalake and Lance on the same S3 server (moto on 127.0.0.1), side by side.

``make bench-s3`` (or ``.venv-bench/bin/python -m benchmarks.s3``). Steps, each timed
``--repeat`` times and reported as medians:

- commit: one append of 1,000 rows to a table of ``--commits`` such appends
- open: open the latest version and count its rows, with no state in the process
- read: read the whole of an early version (time travel), cold and warm
- group-by: a DuckDB group-by over the latest version

and, for tablever, the routes by which DuckDB can scan S3 (a local copy of each file,
fetched once, against an Arrow dataset over pyarrow's S3 file system read every time).

The server runs in this process on loopback: absolute figures say little about a real
S3 (tens of ms per request), the ratios and the request counts more.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from tests.s3server import S3Server

QUERY = "SELECT label, count(*) AS n, avg(confidence) AS c FROM t GROUP BY label ORDER BY label"


def batch(start: int, rows: int) -> pa.Table:
    ids = np.arange(start, start + rows, dtype=np.int64)
    return pa.table({"id": ids, "label": pa.array([f"l{i % 7}" for i in ids]),
                     "confidence": (ids % 100) / 100.0})


def median_of(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class Tablever:
    name = "tablever"

    def __init__(self, server: S3Server) -> None:
        import tablever as tv

        self.tv, self.opts = tv, server.options
        self.root = f"s3://tables/{uuid.uuid4().hex}"
        self.uri = f"{self.root}/t"

    def create(self, data: pa.Table) -> None:
        self.t = self.tv.create(self.uri, data=data, storage_options=self.opts)

    def append(self, data: pa.Table) -> None:
        self.t.append(data)

    def open_count(self) -> int:
        self.tv.clear_caches()
        return int(self.tv.open(self.uri, storage_options=self.opts).latest().num_rows)

    def read(self, version: int, cold: bool) -> int:
        if cold:
            self.tv.clear_caches()
            self._new_cache()
        return int(self.tv.open(self.uri, storage_options=self.opts).as_of(version)
                   .to_arrow().num_rows)

    def groupby(self) -> pa.Table:
        return self.tv.Warehouse(self.root, storage_options=self.opts).sql(
            QUERY.replace("FROM t", "FROM t"))

    def _new_cache(self) -> None:
        import os

        os.environ["TABLEVER_CACHE_DIR"] = tempfile.mkdtemp()


class Delta:
    name = "deltalake"

    def __init__(self, server: S3Server) -> None:
        self.uri = f"s3://tables/{uuid.uuid4().hex}/delta"
        self.opts = {"AWS_ENDPOINT_URL": server.endpoint, "AWS_REGION": "us-east-1",
                     "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_ALLOW_HTTP": "true", "conditional_put": "etag"}

    def create(self, data: pa.Table) -> None:
        from deltalake import write_deltalake

        write_deltalake(self.uri, data, storage_options=self.opts)

    def append(self, data: pa.Table) -> None:
        from deltalake import write_deltalake

        write_deltalake(self.uri, data, mode="append", storage_options=self.opts)

    def open_count(self) -> int:
        from deltalake import DeltaTable

        return int(DeltaTable(self.uri, storage_options=self.opts).to_pyarrow_dataset()
                   .count_rows())

    def read(self, version: int, cold: bool) -> int:
        from deltalake import DeltaTable

        dt = DeltaTable(self.uri, version=version, storage_options=self.opts)
        return int(dt.to_pyarrow_table().num_rows)

    def groupby(self) -> pa.Table:
        import duckdb
        from deltalake import DeltaTable

        ds = DeltaTable(self.uri, storage_options=self.opts).to_pyarrow_dataset()
        con = duckdb.connect()
        con.register("t", ds)
        return con.sql(QUERY).to_arrow_table()


class Lance:
    name = "lance"

    def __init__(self, server: S3Server) -> None:
        self.uri = f"s3://tables/{uuid.uuid4().hex}/t.lance"
        self.opts = {"endpoint": server.endpoint, "region": "us-east-1",
                     "access_key_id": "testing", "secret_access_key": "testing",
                     "allow_http": "true"}

    def create(self, data: pa.Table) -> None:
        import lance

        self.ds = lance.write_dataset(data, self.uri, storage_options=self.opts)

    def append(self, data: pa.Table) -> None:
        self.ds.insert(data, mode="append")

    def open_count(self) -> int:
        import lance

        return int(lance.dataset(self.uri, storage_options=self.opts).count_rows())

    def read(self, version: int, cold: bool) -> int:
        import lance

        ds = lance.dataset(self.uri, version=version + 1, storage_options=self.opts)
        return int(ds.to_table().num_rows)

    def groupby(self) -> pa.Table:
        import duckdb
        import lance

        ds = lance.dataset(self.uri, storage_options=self.opts)
        con = duckdb.connect()
        con.register("t", ds)
        return con.sql(QUERY).to_arrow_table()


def duckdb_routes(system: Tablever, repeat: int) -> dict[str, float]:
    """Local copies (tablever's route) against an Arrow dataset over pyarrow's S3."""
    import duckdb
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    snap = system.tv.open(system.uri, storage_options=system.opts).latest()
    host = system.opts["endpoint_url"].split("://", 1)[1]
    s3 = pafs.S3FileSystem(endpoint_override=host, scheme="http", access_key="testing",
                           secret_key="testing", region="us-east-1")
    paths = [f"{system.uri[len('s3://'):]}/{f.path}" for f in snap.data_files]

    def arrow_dataset() -> pa.Table:
        con = duckdb.connect()
        con.register("t", ds.dataset(paths, filesystem=s3, format="parquet"))
        return con.sql(QUERY).to_arrow_table()

    def local_copies() -> pa.Table:
        return snap.sql(QUERY)

    a, b = arrow_dataset(), local_copies()
    assert a.select(['label', 'n']).equals(b.select(['label', 'n'])), (a, b)
    return {"arrow dataset on S3 (every query)": median_of(arrow_dataset, repeat),
            "local copies (warm)": median_of(local_copies, repeat)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--commits", type=int, default=50)
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    import os

    os.environ["TABLEVER_CACHE_DIR"] = tempfile.mkdtemp()
    server = S3Server().start()
    results: dict[str, dict[str, float]] = {}
    try:
        for cls in (Tablever, Delta, Lance):
            system: Any = cls(server)
            system.create(batch(0, args.rows))
            lat = []
            for k in range(1, args.commits):
                t0 = time.perf_counter()
                system.append(batch(k * args.rows, args.rows))
                lat.append(time.perf_counter() - t0)
            r = results[system.name] = {}
            r["commit (median of last 10)"] = statistics.median(lat[-10:])
            r["open + count"] = median_of(system.open_count, args.repeat)
            r["read version 5, cold"] = median_of(lambda s=system: s.read(5, True), args.repeat)
            r["read version 5, warm"] = median_of(lambda s=system: s.read(5, False), args.repeat)
            r["group-by at latest"] = median_of(system.groupby, args.repeat)
            if isinstance(system, Tablever):
                results["tablever DuckDB routes"] = duckdb_routes(system, args.repeat)
            print(f"{system.name}: done", file=sys.stderr)
    finally:
        server.stop()
    steps = list(results["tablever"])
    print(f"\n{args.commits} commits of {args.rows} rows, medians of {args.repeat} (ms)\n")
    print(f"| step | {' | '.join(n for n in ('tablever', 'deltalake', 'lance'))} "
          "| tablever / fastest peer |")
    print("|---|---|---|---|---|")
    for step in steps:
        vals = [results[n][step] * 1000 for n in ("tablever", "deltalake", "lance")]
        print(f"| {step} | " + " | ".join(f"{v:.1f}" for v in vals)
              + f" | {vals[0] / min(vals[1:]):.2f}x |")
    print("\nDuckDB over tablever's files on S3 (group-by, ms):")
    for route, v in results["tablever DuckDB routes"].items():
        print(f"  {route}: {v * 1000:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
