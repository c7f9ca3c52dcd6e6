"""Snapshot reads: every path (pyarrow, DuckDB, polars) applies deletion vectors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import tablever as tv

# A deprecated polars or DuckDB call in a read path fails here, before it breaks for users.
pytestmark = [pytest.mark.storages, pytest.mark.filterwarnings("error::DeprecationWarning")]

Batch = Callable[..., pa.Table]


@pytest.fixture
def mixed(filled: tv.Table, batch: Batch) -> tv.Table:
    """Files of every kind: clean, with a vector, and rewritten with physical _row_id."""
    filled.append(batch([20, 21, 22]))  # a clean file, row ids 20..22
    filled.delete("id IN (1, 2, 11)")  # vectors on the first two files
    filled.update({"label": "'upd'"}, where="id IN (5, 15)")  # physical _row_id file
    filled.delete("id = 15")  # ... which then gets a vector too
    return filled


LIVE = sorted(set(range(23)) - {1, 2, 11, 15})


def expected(with_row_id: bool = True) -> list[dict[str, Any]]:
    out = []
    for i in LIVE:
        row: dict[str, Any] = {
            "id": i, "label": "upd" if i == 5 else f"l{i % 3}", "confidence": (i % 10) / 10
        }
        if with_row_id:
            row["_row_id"] = i  # ids were appended in order, so _row_id == id here
        out.append(row)
    return out


def srt(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: r["id"])


def test_the_fixture_has_every_kind_of_file(mixed: tv.Table) -> None:
    s = mixed.latest()
    assert len(s.data_files) == 4 and len(s.deletion_vectors) == 3
    assert sum(f.first_row_id is None for f in s.data_files) == 1


def test_to_arrow(mixed: tv.Table) -> None:
    s = mixed.latest()
    assert srt(s.to_arrow(with_row_id=True).to_pylist()) == expected()
    assert srt(s.to_arrow().to_pylist()) == expected(with_row_id=False)
    got = s.to_arrow(with_row_id=True)
    assert got.schema.field("_row_id").type == pa.int64()
    assert got.schema.remove(3) == s.schema


def test_to_arrow_with_columns_and_where(mixed: tv.Table) -> None:
    s = mixed.latest()
    got = s.to_arrow(columns=["label"], where="id BETWEEN 4 AND 16", with_row_id=True)
    assert got.column_names == ["label", "_row_id"]
    want = [{"label": r["label"], "_row_id": r["_row_id"]} for r in expected()
            if 4 <= r["id"] <= 16]
    assert sorted(got.to_pylist(), key=lambda r: r["_row_id"]) == want
    only = s.to_arrow(columns=["id"])
    assert only.column_names == ["id"] and sorted(only.column("id").to_pylist()) == LIVE
    assert s.to_arrow(where="label = 'upd'").column("id").to_pylist() == [5]
    assert s.to_arrow(where="confidence IS NULL").num_rows == 0
    assert s.to_arrow(where="id > 1000").schema == s.schema


def test_to_polars_and_to_pandas(mixed: tv.Table) -> None:
    s = mixed.latest()
    df = s.to_polars(with_row_id=True)
    assert isinstance(df, pl.DataFrame)
    assert srt(df.to_dicts()) == expected()
    assert s.to_polars(columns=["id"], where="id < 4").get_column("id").sort().to_list() == [0, 3]
    pdf = s.to_pandas(columns=["id", "label"], where="label = 'upd'")
    assert isinstance(pdf, pd.DataFrame)
    assert pdf.to_dict("records") == [{"id": 5, "label": "upd"}]


def test_lazy_applies_deletion_vectors_in_polars(mixed: tv.Table) -> None:
    s = mixed.latest()
    lf = s.lazy(with_row_id=True)
    assert isinstance(lf, pl.LazyFrame)
    assert srt(lf.collect().to_dicts()) == expected()
    assert srt(s.lazy().collect().to_dicts()) == expected(with_row_id=False)
    agg = s.lazy().filter(pl.col("id") < 10).select(pl.len()).collect().item()
    assert agg == len([i for i in LIVE if i < 10])


def test_row_ids_across_a_gap_in_every_reader(filled: tv.Table, batch: Batch) -> None:
    filled.append(batch([20, 21]))
    s = filled.delete("id BETWEEN 10 AND 19")  # removes the middle file: ids jump 9 -> 20
    want = [(i, i) for i in [*range(10), 20, 21]]

    def pairs(rows: list[dict[str, Any]]) -> list[tuple[int, int]]:
        return sorted((r["id"], r["_row_id"]) for r in rows)

    assert pairs(s.to_arrow(with_row_id=True).to_pylist()) == want
    assert pairs(s.to_arrow(where="id >= 0", with_row_id=True).to_pylist()) == want
    assert pairs(s.lazy(with_row_id=True).collect().to_dicts()) == want
    rel = s.relation(with_row_id=True)
    assert pairs([dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]) == want


def test_relation_applies_deletion_vectors_in_duckdb(mixed: tv.Table) -> None:
    s = mixed.latest()
    rel = s.relation(with_row_id=True)
    assert srt([dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]) == expected()
    conn = duckdb.connect()
    rel = s.relation(conn, columns=["id"])
    assert rel.columns == ["id"]
    assert sorted(r[0] for r in rel.fetchall()) == LIVE


def test_sql_sees_the_snapshot_as_t(mixed: tv.Table) -> None:
    s = mixed.latest()
    got = s.sql("SELECT label, count(*) AS n FROM t GROUP BY label ORDER BY label")
    want: dict[str, int] = {}
    for r in expected():
        want[r["label"]] = want.get(r["label"], 0) + 1
    assert got.to_pylist() == [{"label": k, "n": v} for k, v in sorted(want.items())]
    assert s.sql("SELECT max(id) AS m FROM t WHERE id < 16").to_pylist() == [{"m": 14}]
    with pytest.raises(tv.InvalidPredicateError):
        s.sql("SELECT nope FROM t")


def test_every_reader_agrees_on_every_version(mixed: tv.Table) -> None:
    for snap in reversed(mixed.history()):
        base = srt(snap.to_arrow(with_row_id=True).to_pylist())
        assert srt(snap.lazy(with_row_id=True).collect().to_dicts()) == base, snap.version
        rel = snap.relation(with_row_id=True)
        duck = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
        assert srt(duck) == base, snap.version
        where = srt(snap.to_arrow(where="id >= 0", with_row_id=True).to_pylist())
        assert where == base, snap.version
        assert snap.sql("SELECT count(*) AS n FROM t").to_pylist() == [{"n": len(base)}]
        assert snap.num_rows == len(base)


def test_empty_snapshot_reads(table: tv.Table, schema: pa.Schema) -> None:
    s = table.latest()
    assert s.to_arrow().schema == schema and s.to_arrow().num_rows == 0
    assert s.to_arrow(with_row_id=True).column_names == [*schema.names, "_row_id"]
    assert s.to_arrow(where="id = 1").num_rows == 0
    assert s.lazy().collect().shape == (0, 3)
    assert s.lazy(with_row_id=True).collect().columns == [*schema.names, "_row_id"]
    assert s.relation().fetchall() == []
    assert s.sql("SELECT count(*) AS n FROM t").to_pylist() == [{"n": 0}]
    assert s.to_polars().shape == (0, 3) and len(s.to_pandas()) == 0


def test_unknown_columns_and_bad_where(mixed: tv.Table) -> None:
    s = mixed.latest()
    with pytest.raises(tv.SchemaMismatchError, match="nope"):
        s.to_arrow(columns=["id", "nope"])
    with pytest.raises(tv.SchemaMismatchError):
        s.relation(columns=["nope"])
    with pytest.raises(tv.SchemaMismatchError, match="twice"):  # not an IntegrityError
        s.to_arrow(columns=["id", "label", "id"])
    with pytest.raises(tv.InvalidPredicateError, match="nope"):
        s.to_polars(where="nope > 1")
    with pytest.raises(tv.InvalidPredicateError):
        s.to_arrow(where="id >")


@pytest.mark.disk
def test_a_missing_data_file_is_an_integrity_error(mixed: tv.Table, path: str) -> None:
    import os

    victim = mixed.latest().data_files[-1].path
    os.remove(os.path.join(path, victim))
    with pytest.raises(tv.IntegrityError):
        mixed.latest().to_arrow()
    with pytest.raises(tv.IntegrityError):
        mixed.latest().verify()
    assert mixed.as_of(2).to_arrow().num_rows == 20  # versions without it still read


def test_nan_rows_are_found_by_predicates_as_duckdb_orders_them(tmp_path: Path) -> None:
    """DuckDB orders NaN above every number; row-group statistics must not hide it."""
    import pyarrow.parquet as pq

    schema = pa.schema([("f", pa.float64()), ("g", pa.float32())])
    t = tv.create(tmp_path / "nan", schema=schema)
    s = t.append(pa.table({"f": [0.1, float("nan"), 0.5], "g": pa.array([1, 2, 3], pa.float32())},
                          schema=schema))
    con = duckdb.connect()
    con.register("rows", s.to_arrow())
    for where in ("f >= 0.7", "f <= 1e10", "f > 0.2", "isnan(f)"):
        want = con.sql(f"SELECT count(*) FROM rows WHERE {where}").fetchall()[0][0]
        assert s.to_arrow(where=where).num_rows == want, where
        assert s.sql(f"SELECT count(*) AS n FROM t WHERE {where}")["n"][0].as_py() == want
    meta = pq.read_metadata(t.storage.local_path(s.data_files[0].path))
    assert not meta.row_group(0).column(0).is_stats_set  # f holds NaN: no bounds
    assert meta.row_group(0).column(1).is_stats_set  # g does not


def test_predicates_must_be_true_false_conditions_whatever_the_column_types(path: str) -> None:
    # Plain column types are checked against an empty typed relation, others against the
    # snapshot's own scan: both refuse a non-boolean predicate and accept a boolean one.
    t = tv.create(path, schema=pa.schema([("id", pa.int64()), ("tags", pa.list_(pa.string()))]))
    t.append({"id": [1, 2, 3], "tags": [["a"], ["b"], []]})
    s = t.latest()
    assert s.to_arrow(where="list_contains(tags, 'a')")["id"].to_pylist() == [1]
    assert s.to_arrow(columns=["id"], where="id >= 2")["id"].to_pylist() == [2, 3]
    for bad, gives in (("tags", "VARCHAR\\[\\]"), ("len(tags)", "BIGINT"), ("id", "BIGINT")):
        with pytest.raises(tv.InvalidPredicateError, match=gives):
            s.to_arrow(where=bad)
        with pytest.raises(tv.InvalidPredicateError, match=gives):
            t.delete(bad)
    assert t.latest().id == s.id
    plain = tv.create(path + "2", schema=pa.schema([("id", pa.int64()), ("x", pa.float32())]))
    plain.append(pa.table({"id": [1, 2], "x": pa.array([0.5, 1.5], pa.float32())}))
    for bad, gives in (("x", "FLOAT"), ("id + 1", "BIGINT"), ("'yes'", "VARCHAR")):
        with pytest.raises(tv.InvalidPredicateError, match=gives):
            plain.latest().to_arrow(where=bad)
    assert plain.latest().to_arrow(where="x > 1")["id"].to_pylist() == [2]
    assert plain.latest().to_arrow(where="NULL")["id"].to_pylist() == []
