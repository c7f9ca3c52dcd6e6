"""Spark reads and writes against a real local Spark session (pyspark, Java 17)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv

if os.environ.get("CI"):  # in CI pyspark is installed ([dev]): a missing one fails
    import pyspark  # noqa: F401
else:
    pytest.importorskip("pyspark", reason="pyspark is in the [dev] extra")
import tablever.spark as tvs  # noqa: E402


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers import this tablever
    session = (SparkSession.builder.master("local[2]").appName("tablever-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", "1g").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def by_id(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: r["_row_id"])


def history(tmp_path: Path) -> tv.Table:
    t = tv.create(tmp_path / "t", data=pa.table({
        "id": pa.array(range(200), pa.int64()), "s": [f"x{i}" for i in range(200)]}))
    t.append(pa.table({"id": pa.array(range(200, 260), pa.int64()), "s": ["y"] * 60}))
    t.delete("id % 7 = 0")
    t.update({"s": "upper(s)"}, where="id > 220")
    t.append(pa.table({"id": [1000], "s": ["z"], "f": [1.5]}), schema_mode="merge")
    t.upsert(pa.table({"id": pa.array([1, 1001], pa.int64()), "s": ["u", "v"],
                       "f": [2.5, None]}), on=["id"])
    tv.compact(t)  # files with a physical _row_id column
    t.delete("id = 3")
    return t


def test_every_version_reads_in_spark_as_in_tablever(spark: Any, tmp_path: Path) -> None:
    t = history(tmp_path)
    assert t.latest().deletion_vectors and any(
        f.first_row_id is None for f in t.latest().data_files)
    for snap in t.history():
        df = tvs.read(spark, t.location, snap.version, row_id=True)
        assert df.columns == [*snap.schema.names, "_row_id"]
        assert by_id(df.toArrow()) == by_id(snap.to_arrow(with_row_id=True)), snap.version
    latest = t.latest()
    got = tvs.read(spark, t, columns=["s", "id"], where="id > 100 AND s LIKE 'x%'").toArrow()
    want = latest.to_arrow(columns=["s", "id"], where="id > 100 AND s LIKE 'x%'")
    assert sorted(got.to_pylist(), key=str) == sorted(want.to_pylist(), key=str)
    with pytest.raises(tv.InvalidValueError, match="no column 'nope'"):
        tvs.read(spark, t, columns=["nope"])


def test_renames_and_drops_read_and_write_in_spark(spark: Any, tmp_path: Path) -> None:
    t = history(tmp_path)
    t.rename_column("s", "name")  # upgrades the table to format 2
    t.drop_column("f")
    t.add_column("f", pa.string())  # a new column: NULL in the rows before
    tvs.append(spark.createDataFrame([(2000, "w", "new")], "id long, name string, f string"),
               t, message="from spark")
    written = [f for f in t.latest().data_files if f.field_ids is not None]
    assert written  # Spark's files carry the field ids too
    t.update({"f": "'upd'"}, where="id = 1")
    t.delete("name = 'y'")
    for snap in t.history():
        df = tvs.read(spark, t.location, snap.version, row_id=True)
        assert df.columns == [*snap.schema.names, "_row_id"]
        assert by_id(df.toArrow()) == by_id(snap.to_arrow(with_row_id=True)), snap.version
    got = tvs.read(spark, t, where="f IS NOT NULL").toArrow().sort_by("id")
    assert got.column("id").to_pylist() == [1, 2000]


def test_a_spark_append_of_a_million_rows_commits_once(spark: Any, tmp_path: Path) -> None:
    from pyspark.sql import functions as F  # noqa: N812

    t = tv.create(tmp_path / "big", schema=pa.schema([("id", pa.int64()), ("g", pa.string()),
                                                      ("x", pa.float64())]))
    t.append(pa.table({"id": pa.array([-1], pa.int64()), "g": ["start"], "x": [0.0]}))
    df = (spark.range(1_000_000).withColumn("g", (F.col("id") % 5).cast("string"))
          .withColumn("x", F.col("id") / 2).repartition(4))
    before = t.latest().version
    snap = tvs.append(df, t.location, message="from spark")
    assert snap.version == before + 1 and snap.num_rows == 1_000_001
    assert tv.open(t.location).latest().version == before + 1  # one commit
    assert snap.properties["engine"] == "spark" and snap.message == "from spark"
    row_ids = snap.to_arrow(with_row_id=True).column("_row_id").to_pylist()
    assert sorted(row_ids) == list(range(1_000_001))
    wh = tv.Warehouse(tmp_path)
    stats = wh.sql("SELECT count(*) AS n, sum(id) AS s, count(DISTINCT g) AS k FROM big")
    assert stats.to_pylist() == [{"n": 1_000_001, "s": 999_999 * 1_000_000 // 2 - 1, "k": 6}]
    assert tv.verify(t).ok
    back = tvs.read(spark, t.location).agg(F.sum("x").alias("x")).collect()[0]["x"]
    assert back == pytest.approx(sum(i / 2 for i in range(1_000_000)))


def test_overwrite_and_a_failed_job_commits_nothing(spark: Any, tmp_path: Path) -> None:
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql.types import LongType

    t = tv.create(tmp_path / "t", data=pa.table({"id": pa.array([1, 2], pa.int64())}))
    snap = tvs.overwrite(spark.range(10, 15), t)
    assert sorted(snap.to_arrow().column("id").to_pylist()) == [10, 11, 12, 13, 14]
    before = t.latest().id

    @F.udf(LongType())
    def boom(x: int) -> int:
        if x == 7:
            raise ValueError("a bad row")
        return x

    with pytest.raises(Exception, match="a bad row"):
        tvs.append(spark.range(0, 20, numPartitions=4).select(boom("id").alias("id")), t)
    with pytest.raises(tv.SchemaMismatchError, match="columns"):
        tvs.append(spark.range(3).withColumnRenamed("id", "other"), t)
    with pytest.raises(tv.SchemaMismatchError, match="id"):
        tvs.append(spark.range(3).selectExpr("CAST(id AS STRING) AS id"), t)
    assert tv.open(t.location).latest().id == before
    assert tv.verify(t).ok  # files of the failed job's finished tasks are only orphans


def test_the_spark_page_runs(spark: Any, tmp_path: Path, capsys: Any) -> None:
    import re

    t = tv.create(tmp_path / "events", data=pa.table({
        "id": pa.array(range(10), pa.int64()), "label": ["a"] * 10, "confidence": [0.9] * 10}))
    t.tag("v1.0")
    page = (Path(__file__).resolve().parent.parent / "docs" / "spark.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", page, re.S)
    exec(compile(code, "docs/spark.md", "exec"), {"spark": spark, "path": t.location})  # noqa: S102
    assert capsys.readouterr().out.split() == ["True", "1000"]
