"""Answers checked against DuckDB running the same statement on the same rows.

Each test reproduces a case where tablever once answered differently from DuckDB without
an error; DuckDB's answer is computed in the test, never written down by hand.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pytest

import tablever as tv


def duck(table: pa.Table, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` over a DuckDB table ``t`` holding ``table``'s rows (UTC session)."""
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.register("src", table)
    conn.execute("CREATE TABLE t AS SELECT * FROM src")
    conn.unregister("src")
    return conn.sql(sql).fetchall() if sql.lstrip().upper().startswith("SELECT") else (
        conn.execute(sql), conn.sql("SELECT * FROM t ORDER BY ALL").fetchall())[1]


def duck_after(table: pa.Table, statement: str) -> pa.Table:
    """The rows of ``t`` after DuckDB runs ``statement`` on it, as Arrow."""
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.register("src", table)
    conn.execute("CREATE TABLE t AS SELECT * FROM src")
    conn.unregister("src")
    conn.execute(statement)
    return conn.sql("SELECT * FROM t").to_arrow_table()


# --- 1. pruning compares numbers in the type DuckDB compares them in -----------------

@pytest.mark.parametrize(("column", "value", "predicate"), [
    ("i", 10**18 + 1, "i = 1e18"),
    ("i", 10**18 + 1, "i <= 1e18"),
    ("i", 10**18 + 1, "i BETWEEN 1e18 AND 1e18"),
    ("i", 10**18 + 1, "i IN (1e18, 5)"),
    ("i", 3, "i > 2.5"),
    ("i", 3, "i < 3.5"),
    ("i", 2**62 + 1, "i > 4611686018427387904.5"),
    ("f", 9007199254740992.0, "f = 9007199254740993"),
    ("f", 9007199254740992.0, "f >= 9007199254740993"),
])
def test_pruning_never_skips_a_file_duckdb_would_match(
    tmp_path: Path, column: str, value: Any, predicate: str
) -> None:
    dtype = pa.int64() if column == "i" else pa.float64()
    rows = pa.table({column: pa.array([value], dtype)})
    expected = duck(rows, f"SELECT count(*) FROM t WHERE {predicate}")[0][0]
    t = tv.create(tmp_path / "t", schema=rows.schema)
    t.append(rows)
    snap = t.latest()
    assert snap.to_arrow(where=predicate).num_rows == expected
    assert snap.sql(f"SELECT count(*) AS n FROM t WHERE {predicate}").column(0)[0].as_py() == expected
    after = t.delete(predicate)
    assert after.num_rows == 1 - expected
    assert expected == 1  # the cases are chosen so that DuckDB matches the row


# --- 2, 3. nanosecond timestamps: updates keep them, every path returns them --------

NS = 1_700_000_000_000_001_501


def ns_table() -> pa.Table:
    return pa.table({
        "k": pa.array([1, 2], pa.int64()),
        "ns": pa.array([NS, NS + 1], pa.timestamp("ns")),
        "nstz": pa.array([NS, NS + 2], pa.timestamp("ns", tz="UTC")),
    })


def test_update_changes_only_the_columns_it_sets(tmp_path: Path) -> None:
    rows = ns_table()
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    t.update({"k": "k + 1"})
    got = t.latest().to_arrow().sort_by("k")
    expected = duck_after(rows, "UPDATE t SET k = k + 1").sort_by("k")
    assert got.column("ns").to_pylist() == expected.column("ns").to_pylist()
    assert got.column("ns").cast(pa.int64()).to_pylist() == [NS, NS + 1]
    assert got.column("nstz").cast(pa.int64()).to_pylist() == [NS, NS + 2]
    assert got.schema == rows.schema
    wh = tv.Warehouse(tmp_path)
    wh.sql("UPDATE t SET k = k + 10")
    assert t.latest().to_arrow().column("ns").cast(pa.int64()).to_pylist() == [NS, NS + 1]


def test_nanoseconds_read_the_same_on_every_path(tmp_path: Path) -> None:
    rows = ns_table()
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    snap = t.latest()
    literal = "TIMESTAMP_NS '2023-11-14 22:13:20.000001501'"
    expected = duck(rows, f"SELECT k FROM t WHERE ns = {literal}")
    assert expected == [(1,)]
    for table in (snap.to_arrow(), snap.sql("SELECT * FROM t"), snap.relation().to_arrow_table()):
        assert table.column("ns").type == pa.timestamp("ns")
        assert table.column("ns").cast(pa.int64()).to_pylist() == [NS, NS + 1]
        assert table.column("nstz").cast(pa.int64()).to_pylist() == [NS, NS + 2]
    assert snap.to_arrow(where=f"ns = {literal}").column("k").to_pylist() == [1]
    assert snap.to_arrow(where=f"ns = {literal}").schema == rows.schema
    assert t.delete(f"ns = {literal}").to_arrow().column("k").to_pylist() == [2]


def test_seconds_columns_compare_at_their_own_precision(tmp_path: Path) -> None:
    rows = pa.table({"sec": pa.array([1_704_110_399, 1_704_110_400], pa.timestamp("s"))})
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    for predicate in ("sec > '2024-01-01 11:59:59.5'", "sec >= '2024-01-01 11:59:59.5'",
                      "sec = '2024-01-01 11:59:59.5'", "sec < '2024-01-01 12:00:00.5'"):
        expected = duck(rows, f"SELECT count(*) FROM t WHERE {predicate}")[0][0]
        assert t.latest().to_arrow(where=predicate).num_rows == expected, predicate
        assert t.latest().sql(
            f"SELECT count(*) FROM t WHERE {predicate}").column(0)[0].as_py() == expected


# --- 4, 5. nested columns keep their type when no file is read ----------------------

def list_table(ids: list[int]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()),
                     "l": pa.array([[i, i + 1] for i in ids], pa.list_(pa.int64()))})


def test_nested_columns_keep_their_type_with_no_file_read(tmp_path: Path) -> None:
    schema = list_table([]).schema
    t = tv.create(tmp_path / "t", schema=schema)
    t.append(list_table([1, 2, 3]))
    wh = tv.Warehouse(tmp_path)
    empty = wh.sql("SELECT * FROM t VERSION AS OF 0")
    assert empty.schema.field("l").type == pa.list_(pa.int64()) or pa.types.is_list(
        empty.schema.field("l").type)
    assert wh.sql("SELECT count(*) AS n FROM t VERSION AS OF 0 WHERE list_contains(l, 3)"
                  ).column(0)[0].as_py() == 0
    # every file pruned: the predicate still binds against the version's schema
    assert t.latest().to_arrow(where="id > 100 AND list_contains(l, 3)").num_rows == 0
    assert t.latest().to_arrow(where="id > 100").schema == schema
    wh.sql("INSERT INTO t SELECT * FROM t WHERE id > 100")
    assert t.latest().num_rows == 3


def test_updates_after_a_merge_added_nested_columns(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    t.append(pa.table({"id": pa.array([1, 2], pa.int64())}))
    t.append(pa.table({"id": pa.array([3], pa.int64()),
                       "tags": pa.array([["a"]], pa.list_(pa.string())),
                       "st": pa.array([{"a": 1}], pa.struct([("a", pa.int64())]))}),
             schema_mode="merge")
    t.update({"id": "id * 10"}, where="id = 1")
    assert sorted(t.latest().to_arrow().column("id").to_pylist()) == [2, 3, 10]
    t.update({"id": "id + 1"}, where="id = 3")
    got = {r["id"]: (r["tags"], r["st"]) for r in t.latest().to_arrow().to_pylist()}
    assert got[4] == (["a"], {"a": 1}) and got[10] == (None, None)
    # a predicate on the new column, when pruning leaves only the older file
    assert t.latest().to_arrow(where="id = 2 AND list_contains(tags, 'a')").num_rows == 0


def test_predicates_are_checked_even_when_every_file_is_pruned(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=list_table([]).schema, data=list_table([1, 2]))
    before = t.latest().version
    with pytest.raises(duckdb.Error):
        duck(list_table([1, 2]), "DELETE FROM t WHERE id > 5 AND l / 2 > 0")
    for call in (lambda: t.delete("id > 5 AND l / 2 > 0"),
                 lambda: t.update({"id": "id + 1"}, where="id > 5 AND l / 2 > 0"),
                 lambda: t.update({"id": "l / 2"}, where="id > 5"),
                 lambda: t.latest().to_arrow(where="id > 5 AND l / 2 > 0"),
                 lambda: t.delete("id > 5 AND l / 2 > 0")):
        with pytest.raises(tv.InvalidPredicateError):
            call()
    assert t.latest().version == before


# --- 6. offset widths are one logical type ---------------------------------------------

@pytest.mark.parametrize("mode", ["strict", "merge"])
def test_a_polars_round_trip_appends(tmp_path: Path, mode: str) -> None:
    rows = pa.table({"id": pa.array([1], pa.int64()),
                     "l": pa.array([["x"]], pa.list_(pa.string())),
                     "b": pa.array([b"\x00"], pa.binary()),
                     "s": pa.array(["y"], pa.string())})
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    df = t.latest().to_polars()
    assert isinstance(df, pl.DataFrame)
    t.append(df, schema_mode=mode)  # type: ignore[arg-type]
    t.append(pa.table({"id": pa.array([2], pa.int64()),
                       "l": pa.array([["z"]], pa.large_list(pa.large_string())),
                       "b": pa.array([b"\x01"], pa.large_binary()),
                       "s": pa.array(["w"], pa.string_view())}), schema_mode=mode)  # type: ignore[arg-type]
    out = t.latest().to_arrow()
    assert out.schema == rows.schema
    assert out.column("l").to_pylist() == [["x"], ["x"], ["z"]]


# --- 7. NaN equals NaN for change detection --------------------------------------------

def test_diff_by_key_treats_nan_as_unchanged(tmp_path: Path) -> None:
    rows = pa.table({"id": pa.array([1, 2], pa.int64()),
                     "f": pa.array([math.nan, 1.0], pa.float64()),
                     "s": pa.array(["a", "b"], pa.string())})
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    a = t.latest()
    b = t.update({"s": "s || '!'"})
    d = t.diff(a, b, on=["id"])
    assert d.updated.num_rows == 2
    assert d.updated.column("_changed").to_pylist() == [["s"], ["s"]]
    c = t.update({"s": "s"}, where="id = 1")  # rewrites the row, changes nothing
    d = t.diff(b, c, on=["id"])
    assert d.updated.num_rows == 0, d.updated.to_pylist()


# --- 8. values are converted by DuckDB's rules -------------------------------------

@pytest.mark.parametrize(("column", "dtype", "value", "expr"), [
    ("i", pa.int64(), 5, "2.5"),
    ("i", pa.int64(), 5, "i / 2"),
    ("i", pa.int64(), -7, "i / 2"),
    ("i", pa.int64(), 5, "' 7 '"),
    ("i", pa.int64(), 5, "'1e3'"),
    ("ts", pa.timestamp("us", tz="UTC"), 0, "'2024-01-01 12:00:00'"),
    ("l", pa.list_(pa.int64()), [1], "'[4, 5]'"),
    ("st", pa.struct([("a", pa.int64())]), {"a": 1}, "'{a: 9}'"),
    ("bl", pa.binary(), b"x", "'\\xAA'"),
])
def test_assignments_cast_like_duckdb(
    tmp_path: Path, column: str, dtype: pa.DataType, value: Any, expr: str
) -> None:
    rows = pa.table({"k": pa.array([1], pa.int64()), column: pa.array([value], dtype)})
    expected = duck_after(rows, f"UPDATE t SET {column} = {expr}")
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    t.update({column: expr})
    got = t.latest().to_arrow()
    assert got.schema == rows.schema
    assert got.column(column).to_pylist() == expected.column(column).to_pylist()


def test_a_timestamp_into_a_string_column_reads_as_duckdb_writes_it(tmp_path: Path) -> None:
    rows = pa.table({"s": pa.array(["x"]), "ts": pa.array([1_704_110_400_000_000],
                                                          pa.timestamp("us", tz="UTC"))})
    expected = duck_after(rows, "UPDATE t SET s = ts").column("s").to_pylist()
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    assert t.update({"s": "ts"}).to_arrow().column("s").to_pylist() == expected


def test_insert_values_cast_like_duckdb(tmp_path: Path) -> None:
    rows = pa.table({"i": pa.array([1], pa.int64())})
    expected = duck_after(rows, "INSERT INTO t VALUES (2.5)").column("i").to_pylist()
    tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    tv.Warehouse(tmp_path).sql("INSERT INTO t VALUES (2.5)")
    assert sorted(tv.open(tmp_path / "t").latest().to_arrow().column("i").to_pylist()) == sorted(
        expected)


def test_struct_fields_in_predicates_and_expressions(tmp_path: Path) -> None:
    rows = pa.table({"k": pa.array([1, 2], pa.int64()),
                     "st": pa.array([{"a": 1}, {"a": 5}], pa.struct([("a", pa.int64())]))})
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    assert t.latest().to_arrow(where="st.a > 2").column("k").to_pylist() == [2]
    t.update({"k": "st.a * 100"}, where="st.a = 1")
    assert sorted(t.latest().to_arrow().column("k").to_pylist()) == [2, 100]
    assert t.delete("st.a = 5").num_rows == 1
    with pytest.raises(tv.InvalidPredicateError):
        t.latest().to_arrow(where="nope.a = 1")


def test_an_overflow_names_the_expression_not_the_predicate(tmp_path: Path) -> None:
    rows = pa.table({"id": pa.array([1, 2**63 - 1], pa.int64())})
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    before = t.latest().version
    with pytest.raises(tv.TableverError) as err:
        t.update({"id": "id + 1"}, where="id > 0")
    assert "id + 1" in str(err.value)
    assert "cannot evaluate 'id > 0'" not in str(err.value)
    assert t.latest().version == before


# --- 9. clear errors instead of raw ones ---------------------------------------------

def test_compact_sorting_by_a_nested_column_is_refused_before_reading(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=list_table([]).schema)
    for i in range(3):
        t.append(list_table([i]))
    before = t.latest()
    for f in (tmp_path / "t" / "data").rglob("*.parquet"):
        f.unlink()  # were any file read, this would be an IntegrityError
    with pytest.raises(tv.SchemaMismatchError, match="'l'") as err:
        tv.compact(t, sort_by=["l"])
    assert err.value.columns == ["l"]
    assert t.latest().id == before.id


def test_changes_across_expired_versions_says_why_and_offers_diff(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    for i in range(4):
        t.append(pa.table({"id": pa.array([i], pa.int64())}))
    t.tag("start", ref=1)
    tv.expire(t, older_than="0s", keep_last=1)
    with pytest.raises(tv.RefNotFoundError, match=r"needs every version between.*diff\(1, 4\)"):
        t.changes(1, 4)
    assert t.diff(1, 4).summary == {"added": 3, "removed": 0}


def test_insert_values_are_typed_by_their_target_columns(tmp_path: Path) -> None:
    rows = pa.table({"s": pa.array(["a"]), "d": pa.array([1.0], pa.float64()),
                     "ts": pa.array([0], pa.timestamp("us"))})
    statement = ("INSERT INTO t VALUES ('x', 'NaN', 'infinity'), (42, 1.5, "
                 "TIMESTAMP '2022-01-01'), ('y', 2, NULL)")
    expected = duck_after(rows, statement)
    tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    assert tv.Warehouse(tmp_path).sql(statement).column(0)[0].as_py() == 3
    got = tv.open(tmp_path / "t").latest().to_arrow()
    assert got.schema == rows.schema

    def canon(t: pa.Table) -> list[tuple[Any, ...]]:
        ts = t.column("ts").cast(pa.int64()).to_pylist()  # 'infinity' is no datetime
        return sorted(zip(t.column("s").to_pylist(), map(repr, t.column("d").to_pylist()),
                          ts, strict=True), key=repr)

    assert canon(got) == canon(expected)


def test_diff_by_key_sees_a_change_below_a_microsecond(tmp_path: Path) -> None:
    rows = pa.table({"id": pa.array([1, 2], pa.int64()),
                     "ns": pa.array([1, 5], pa.timestamp("ns"))})
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    a = t.latest()
    b = t.update({"ns": "TIMESTAMP_NS '1970-01-01 00:00:00.000000002'"})
    expected = duck(rows, "SELECT count(*) FROM t WHERE ns IS DISTINCT FROM "
                          "TIMESTAMP_NS '1970-01-01 00:00:00.000000002'")[0][0]
    d = t.diff(a, b, on=["id"])
    assert d.summary["updated"] == expected == 2
    assert d.updated.column("_changed").to_pylist() == [["ns"], ["ns"]]


def test_deleted_rows_never_reach_a_predicate(tmp_path: Path) -> None:
    # one deleted row in 300: deletes are applied by an anti join, which DuckDB could
    # let the predicate pass below
    values = [str(i) for i in range(300)]
    values[1] = "abc"  # the one row whose s is not a number
    rows = pa.table({"id": pa.array(range(300), pa.int64()), "s": pa.array(values)})
    t = tv.create(tmp_path / "t", schema=rows.schema, data=rows)
    t.delete("id = 1")
    live = rows.filter(pa.compute.not_equal(rows.column("id"), 1))
    predicate = "CAST(s AS INTEGER) > 290"
    expected = duck(live, f"SELECT count(*) FROM t WHERE {predicate}")[0][0]
    assert t.latest().to_arrow(where=predicate).num_rows == expected == 9
    assert t.latest().sql(f"SELECT count(*) FROM t WHERE {predicate}").column(0)[0].as_py() == 9
    after = duck_after(live, f"UPDATE t SET s = s || '0' WHERE {predicate}")
    t.update({"s": "s || '0'"}, where=predicate)
    assert sorted(t.latest().to_arrow().to_pylist(), key=str) == sorted(after.to_pylist(), key=str)
    assert t.delete(predicate).num_rows == 290
