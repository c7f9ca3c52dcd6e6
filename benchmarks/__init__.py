"""Benchmarks for tablever against Delta Lake, Iceberg, Lance, DuckLake and plain Parquet.

Run with ``make bench`` (see docs/benchmarks.md). The runner (``benchmarks.run``) generates
the data and starts one worker process per system and repetition (``benchmarks.worker``),
so a crash or a missing API in one system never stops the others. This package must stay
importable with only the standard library and pyarrow: the DuckLake worker runs in its own
environment.
"""
