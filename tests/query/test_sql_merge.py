"""MERGE INTO: one commit, with DuckDB running the same MERGE on the same rows as the
reference (rows compared without row ids), row ids kept for updated rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import tablever as tv

T = pa.table({"id": pa.array([1, 2, 3, 4, None], pa.int64()),
              "v": ["a", "b", "c", "d", "n"], "x": [1.0, 2.0, None, 4.0, 5.0]})
S = pa.table({"id": pa.array([2, 3, 5, 6, None], pa.int64()),
              "v": ["B", "x", "E", "F", "N"], "x": [20.0, 30.0, None, 60.0, 0.5]})

CASES = [
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.v = 'x' THEN DELETE "
    "WHEN MATCHED THEN UPDATE SET v = s.v, x = t.x + s.x "
    "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v, s.x)",
    "MERGE INTO t AS tt USING s AS ss ON tt.id = ss.id "
    "WHEN NOT MATCHED AND ss.x > 1 THEN INSERT (id, v) VALUES (ss.id, upper(ss.v))",
    "MERGE INTO t USING (SELECT id + 1 AS id, v FROM s WHERE id IS NOT NULL) AS src "
    "ON t.id = src.id WHEN MATCHED THEN DELETE",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = t.v",  # no change
    "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE",
    "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE AND t.x > 2 "
    "THEN UPDATE SET x = 0",
    "MERGE INTO t USING s ON false WHEN NOT MATCHED THEN INSERT BY NAME",
    "MERGE INTO t USING (SELECT v, id FROM s) AS s ON false WHEN NOT MATCHED "
    "THEN INSERT BY NAME",
    "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT *",
    "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT BY POSITION",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = DEFAULT "
    "WHEN NOT MATCHED THEN INSERT VALUES (s.id, DEFAULT, s.x)",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET *",
]


def duckdb_answer(query: str) -> tuple[list[Any], int]:
    con = duckdb.connect()
    con.register("t_src", T)
    con.register("s_src", S)
    con.execute("CREATE TABLE t AS SELECT * FROM t_src; CREATE TABLE s AS SELECT * FROM s_src")
    n = con.execute(query).fetchone()
    rows = con.sql("SELECT * FROM t").to_arrow_table().to_pylist()
    return sorted(rows, key=repr), int(n[0]) if n else 0


@pytest.fixture()
def wh(tmp_path: Path) -> tv.Warehouse:
    w = tv.Warehouse(tmp_path / "wh")
    w.create("t", data=T)
    w.create("s", data=S)
    return w


@pytest.mark.parametrize("query", CASES)
def test_merge_gives_duckdbs_rows_in_one_commit(wh: tv.Warehouse, query: str) -> None:
    want, count = duckdb_answer(query)
    t = wh.table("t")
    before = t.latest()
    ids_before = {r["v"]: r["_row_id"] for r in before.to_arrow(with_row_id=True).to_pylist()}
    got = wh.sql(query)
    assert got.column("count").to_pylist() == [count]
    after = wh.table("t").latest()
    assert sorted(after.to_arrow().to_pylist(), key=repr) == want
    changed = after.version != before.version
    assert after.version == before.version + (1 if changed else 0)  # at most one commit
    if changed:
        assert after.operation == "merge" and after.properties["sql"] == query
    # a row MERGE updated keeps its row id; an inserted one gets a new id
    rows = after.to_arrow(with_row_id=True).to_pylist()
    for r in rows:
        if r["_row_id"] in ids_before.values():
            assert r["_row_id"] < before.state.next_row_id
        else:
            assert r["_row_id"] >= before.state.next_row_id
    assert len({r["_row_id"] for r in rows}) == len(rows)


def test_updated_rows_keep_their_row_id(wh: tv.Warehouse) -> None:
    t = wh.table("t")
    old = {r["id"]: r["_row_id"] for r in t.latest().to_arrow(with_row_id=True).to_pylist()}
    wh.sql("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v")
    new = {r["id"]: (r["_row_id"], r["v"])
           for r in wh.table("t").latest().to_arrow(with_row_id=True).to_pylist()}
    assert new[2] == (old[2], "B") and new[3] == (old[3], "x") and new[1] == (old[1], "a")
    diff = wh.table("t").diff(-2, -1, on=["id"])
    assert diff.summary["updated"] == 2 and diff.summary["inserted"] == 0


def test_a_row_matched_twice_is_an_error_and_nothing_is_committed(wh: tv.Warehouse) -> None:
    wh.table("s").append(pa.table({"id": pa.array([2], pa.int64()), "v": ["BB"], "x": [1.0]}))
    before = wh.table("t").latest().id
    with pytest.raises(tv.DuplicateKeyError, match="more than one source row"):
        wh.sql("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v")
    assert wh.table("t").latest().id == before
    # only inserts: a repeated match does not matter
    wh.sql("MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES "
           "(s.id, s.v, s.x)")
    assert wh.table("t").latest().num_rows == 8


def test_merge_from_an_old_version_records_it_as_the_input(wh: tv.Warehouse) -> None:
    s = wh.table("s")
    s.tag("v1")
    s.delete("id = 2")
    wh.sql("MERGE INTO t USING s VERSION AS OF 'v1' AS src ON t.id = src.id "
           "WHEN MATCHED THEN UPDATE SET v = src.v")
    latest = wh.table("t").latest()
    assert {r["v"] for r in latest.to_arrow().to_pylist()} >= {"B", "x"}
    assert [(i.location, i.version) for i in latest.inputs] == [(s.location, 1)]


@pytest.mark.parametrize(("query", "says"), [
    ("MERGE INTO t VERSION AS OF 1 USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
     "past version"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.id IN (SELECT 1) THEN DELETE",
     "subqueries"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET _row_id = 1",
     "_row_id"),
    ("MERGE INTO t USING read_csv('/etc/passwd') AS s ON true WHEN MATCHED THEN DELETE",
     "read_csv"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = "
     "getenv('HOME')", "getenv"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET nope = 1", "nope"),
    ("MERGE INTO nowhere USING s ON true WHEN MATCHED THEN DELETE", "nowhere"),
])
def test_bad_merges_are_refused_and_change_nothing(wh: tv.Warehouse, query: str,
                                                   says: str) -> None:
    before = wh.table("t").latest().id
    with pytest.raises(tv.TableverError, match=says):
        wh.sql(query)
    assert wh.table("t").latest().id == before


def test_merge_into_an_empty_table(tmp_path: Path) -> None:
    w = tv.Warehouse(tmp_path)
    w.create("t", schema=T.schema)
    w.create("s", data=S)
    w.sql("MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT BY NAME")
    assert sorted(w.table("t").latest().to_arrow().to_pylist(), key=repr) == sorted(
        S.to_pylist(), key=repr)


def test_insert_by_name_refuses_a_source_column_the_table_lacks(wh: tv.Warehouse) -> None:
    # DuckDB refuses it rather than leave the value out; so does tablever
    query = ("MERGE INTO t USING (SELECT id, v, 1 AS extra FROM s) AS s ON false "
             "WHEN NOT MATCHED THEN INSERT BY NAME")
    with pytest.raises(duckdb.BinderException, match="extra"):
        duckdb_answer(query)
    before = wh.table("t").latest().id
    with pytest.raises(tv.InvalidPredicateError, match="no column 'extra'"):
        wh.sql(query)
    assert wh.table("t").latest().id == before
