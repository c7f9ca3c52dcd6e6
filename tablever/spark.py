"""Spark reads and writes of tablever tables (``pip install 'tablever[spark]'``).

:func:`read` gives a Spark DataFrame of one version: Spark reads the version's Parquet
files in parallel, and the deletion vectors are applied inside Spark (each row's
position in its file, Parquet's ``_metadata.row_index``, anti-joined with a broadcast of
the deleted positions); columns and ``where`` are pushed to Spark's Parquet reader.

:func:`append` (and :func:`overwrite`) write a DataFrame: executors write tablever data
files (content-addressed, hashed, with stats) through ``mapInArrow``, and the driver
commits them once. A job that fails commits nothing; the files its finished tasks wrote
are unreferenced and ``vacuum`` removes them after its grace period.

Spark's executors must reach the table's files: a local table on one machine (Spark's
local mode) or a folder every worker mounts. A table on S3 is read through the driver's
local copies (fine for local mode); on a cluster, give Spark the bucket itself.

Spark keeps timestamps in microseconds: a nanosecond column reads truncated to them.
Spark's Python workers must import tablever: run them on the same environment
(``PYSPARK_PYTHON``). ``where`` is Spark SQL, evaluated by Spark.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tablever.arrays import empty_table
from tablever.deletes import load_positions
from tablever.errors import InvalidValueError, SchemaMismatchError
from tablever.format.fieldids import renames
from tablever.schema import ROW_ID

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tablever.snapshot import Snapshot

__all__ = ["append", "overwrite", "read"]

_FILE = "__tv_file"  # the data file's SHA-256 (its name), per row
_POS = "__tv_pos"  # the row's position in its file
_NAME = r"([0-9a-f]{64})\.parquet$"


def _snapshot(location: Any, ref: Any, storage_options: Mapping[str, Any] | None) -> Snapshot:
    from tablever.table import Table, open_table

    if isinstance(location, Table):
        return location.as_of(ref)
    return open_table(os.fspath(location), storage_options=storage_options).as_of(ref)


def read(
    spark: SparkSession,
    location: Any,
    ref: Any = None,
    *,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    row_id: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> DataFrame:
    """The rows of version ``ref`` (default: latest) of the table at ``location`` as a
    Spark DataFrame; ``where`` is a Spark SQL predicate, ``row_id`` adds ``_row_id``."""
    from pyspark.sql import functions as F  # noqa: N812 - Spark's own convention
    from pyspark.sql.pandas.types import from_arrow_schema

    snap = _snapshot(location, ref, storage_options)
    schema = snap.schema
    if columns is not None:
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise InvalidValueError(
                f"no column {missing[0]!r} in version {snap.version}; columns: "
                + ", ".join(schema.names))
    files = snap.data_files
    wanted = list(columns) if columns is not None else list(schema.names)
    if not files:
        empty = empty_table(schema)
        if row_id:
            empty = empty.append_column(ROW_ID, pa.array([], pa.int64()))
        out = spark.createDataFrame([], from_arrow_schema(empty.schema))
        return out.select(*wanted, *([ROW_ID] if row_id else []))
    storage = snap.storage
    paths = storage.fetch_all(lambda f: storage.local_path(f.path, sha256=f.sha256), files)
    spark_types = {f.name: f.dataType for f in from_arrow_schema(schema)}
    # One read per column mapping (format 2: files written before a rename or drop name
    # their columns otherwise), each projected to the version's names, then unioned.
    by_mapping: dict[Any, list[str]] = {}
    for f, path in zip(files, paths, strict=True):
        by_mapping.setdefault(renames(f, snap.state.schema), []).append(path)
    df = None
    for moved, group in by_mapping.items():
        part = (spark.read.option("mergeSchema", "true").parquet(*group)
                .select("*", F.col("_metadata.row_index").alias(_POS),
                        F.regexp_extract(F.col("_metadata.file_path"), _NAME, 1).alias(_FILE)))
        here, sources = set(part.columns), dict(moved)
        part = part.select(*[
            (F.col(src) if (src := sources.get(c, c)) is not None and src in here
             else F.lit(None)).cast(spark_types[c]).alias(c) for c in schema.names
        ], (F.col(ROW_ID) if ROW_ID in here else F.lit(None)).cast("long").alias(ROW_ID),
            F.col(_POS), F.col(_FILE))
        df = part if df is None else df.unionByName(part)
    assert df is not None
    rows_of = {f.path: f.rows for f in files}
    deleted = [(dv.data_file, load_positions(storage, dv, rows_of[dv.data_file]))
               for dv in snap.deletion_vectors]
    if deleted:
        gone = pa.table({
            _FILE: pa.array([_sha(p) for p, pos in deleted for _ in range(len(pos))],
                            pa.string()),
            _POS: pa.concat_arrays([pa.array(pos, pa.int64()) for _, pos in deleted]),
        })
        df = df.join(F.broadcast(spark.createDataFrame(gone)), [_FILE, _POS],
                     "left_anti")
    if row_id:
        starts = pa.table({
            _FILE: pa.array([_sha(f.path) for f in files], pa.string()),
            "__tv_first": pa.array([f.first_row_id for f in files], pa.int64()),
        })
        df = df.join(F.broadcast(spark.createDataFrame(starts)), [_FILE], "left")
        derived = F.col("__tv_first") + F.col(_POS)
        df = df.withColumn("__tv_row_id", F.coalesce(F.col(ROW_ID), derived))
    out = df.select(*[F.col(c) for c in schema.names],
                    *([F.col("__tv_row_id").alias(ROW_ID)] if row_id else []))
    if where is not None:
        out = out.filter(where)
    return out.select(*wanted, *([ROW_ID] if row_id else []))


def _sha(path: str) -> str:
    return path.rsplit("/", 1)[-1].split(".", 1)[0]


def _write_task(location: str, options: Mapping[str, Any], schema_ipc: bytes,
                properties: Mapping[str, Any], field_ids: Mapping[str, int] | None,
                batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """On an executor: write this partition's rows as tablever data files; yield what
    the driver needs to commit them (one JSON row per file)."""
    from tablever.partitioning import write_partitioned
    from tablever.schema import conform
    from tablever.storage import Storage
    from tablever.write import MAX_ROWS_PER_FILE

    schema = pa.ipc.read_schema(pa.py_buffer(schema_ipc))
    storage = Storage(location, None, options)
    pending: list[pa.RecordBatch] = []
    held = 0

    def flush() -> Iterator[pa.RecordBatch]:
        nonlocal pending, held
        if not held:
            return
        rows = conform(pa.Table.from_batches(pending), schema)
        pending, held = [], 0
        files = write_partitioned(storage, rows, first_row_id=0, properties=properties,
                                  field_ids=field_ids)
        yield pa.record_batch({"file": pa.array([json.dumps(f.to_dict()) for f in files])})

    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        if held >= MAX_ROWS_PER_FILE:
            yield from flush()
    yield from flush()


def _write(df: DataFrame, location: Any, *, mode: str, message: str,
           storage_options: Mapping[str, Any] | None) -> Snapshot:
    from tablever import operations as ops
    from tablever.format.commit import data_file_from_dict
    from tablever.snapshot import Snapshot
    from tablever.table import Table, open_table

    table = location if isinstance(location, Table) else open_table(
        os.fspath(location), storage_options=storage_options)
    writer = table.writer()
    schema = writer.schema
    if sorted(df.columns) != sorted(schema.names):  # checked before any task runs
        raise SchemaMismatchError(
            f"the DataFrame has columns {df.columns}, the table {schema.names}: select "
            "or add columns to match", sorted(set(df.columns) ^ set(schema.names)))
    from pyspark.sql.pandas.types import to_arrow_schema

    from tablever.schema import conform

    conform(empty_table(to_arrow_schema(df.schema)), schema)  # types too, before the job
    where, options = table.location, dict(storage_options or {})
    schema_ipc = schema.serialize().to_pybytes()
    properties = dict(writer.state.properties)
    field_ids = ops.write_ids(schema, writer.state.schema)  # format 2: the files carry them

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _write_task(where, options, schema_ipc, properties, field_ids, batches)

    rows = df.mapInArrow(task, "file string").collect()  # a failed task raises here
    files = [data_file_from_dict(json.loads(r["file"]), "a Spark task") for r in rows]
    if mode == "append":
        state = ops.add_files(writer, files, schema, message=message,
                              properties={"engine": "spark"})
    else:
        state = ops.replace_files(writer, files, message=message,
                                  properties={"engine": "spark"})
    return Snapshot(table.storage, state)


def append(df: DataFrame, location: Any, *, message: str = "",
           storage_options: Mapping[str, Any] | None = None) -> Snapshot:
    """Append the DataFrame's rows to the table at ``location`` in one commit (its
    columns must fit the table's schema, as for ``Table.append``)."""
    return _write(df, location, mode="append", message=message,
                  storage_options=storage_options)


def overwrite(df: DataFrame, location: Any, *, message: str = "",
              storage_options: Mapping[str, Any] | None = None) -> Snapshot:
    """Replace every row of the table at ``location`` with the DataFrame's, in one
    commit."""
    return _write(df, location, mode="overwrite", message=message,
                  storage_options=storage_options)
