"""CREATE TABLE, DESCRIBE and SHOW TABLES through Warehouse.sql, against DuckDB's own."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tablever as tv
from tablever.errors import (
    InvalidPredicateError,
    RefNotFoundError,
    SchemaMismatchError,
    TableExistsError,
)

TYPES = [
    "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "HUGEINT", "FLOAT", "REAL", "DOUBLE", "DECIMAL(5,2)",
    "DECIMAL(38,10)", "NUMERIC", "VARCHAR", "TEXT", "STRING", "BLOB", "DATE", "TIME",
    "TIMESTAMP", "DATETIME", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S",
    "TIMESTAMP_MS", "TIMESTAMP_NS", "INTERVAL", "UUID", "INTEGER[]", "VARCHAR[][]",
    "INTEGER[3]", "STRUCT(a INTEGER, b VARCHAR)", "STRUCT(a INTEGER[])[]",
    "MAP(VARCHAR, DOUBLE)", "JSON",
]


def _duckdb_schema(columns: str) -> pa.Schema:
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(f"CREATE TABLE t ({columns})")
    return conn.sql("SELECT * FROM t").to_arrow_table().schema


@pytest.fixture()
def wh(tmp_path: Path) -> tv.Warehouse:
    w = tv.Warehouse(tmp_path / "wh")
    events = w.create("events", schema=pa.schema([("id", pa.int64()), ("label", pa.string())]))
    events.append(pa.table({"id": [1, 2, 3], "label": ["a", "b", "c"]}), message="v1")
    events.tag("v1.0")
    events.delete("id = 2", message="v2")
    return w


def _versions(w: tv.Warehouse, name: str) -> int:
    return w.table(name).latest().version


@pytest.mark.parametrize("sql_type", TYPES)
def test_column_types_map_as_duckdb_maps_them(wh: tv.Warehouse, sql_type: str) -> None:
    want = _duckdb_schema(f"a {sql_type}")
    try:
        got = wh.sql(f"CREATE TABLE t (a {sql_type})")
    except SchemaMismatchError as exc:  # a type tablever cannot store says so
        assert "t" not in wh.tables(), exc
        return
    assert got.to_pylist() == [{"count": 0}]
    assert wh.table("t").schema == want
    assert _versions(wh, "t") == 0


@pytest.mark.parametrize("sql_type", ["UNION(a INTEGER, b VARCHAR)", "VARINT", "INTERVAL"])
def test_types_without_a_stored_form_are_refused(wh: tv.Warehouse, sql_type: str) -> None:
    with pytest.raises(SchemaMismatchError):
        wh.sql(f"CREATE TABLE t (a {sql_type})")
    assert wh.tables() == ["events"]


def test_several_columns_and_not_null(wh: tv.Warehouse) -> None:
    wh.sql('CREATE TABLE t (id BIGINT NOT NULL, "Label" VARCHAR, score DOUBLE)')
    schema = wh.table("t").schema
    assert schema.names == ["id", "Label", "score"]
    assert [f.nullable for f in schema] == [False, True, True]
    assert schema.field("id").type == pa.int64()
    # NOT NULL holds as in DuckDB: the row is refused and nothing is committed
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (id BIGINT NOT NULL, label VARCHAR, score DOUBLE)")
    with pytest.raises(duckdb.ConstraintException):
        conn.execute("INSERT INTO t VALUES (NULL, 'x', 1)")
    with pytest.raises(SchemaMismatchError):
        wh.sql("INSERT INTO t VALUES (NULL, 'x', 1)")
    assert _versions(wh, "t") == 0
    wh.sql("INSERT INTO t (id) VALUES (7)")
    assert wh.sql("SELECT * FROM t").to_pylist() == [{"id": 7, "Label": None, "score": None}]


def test_create_as_select_matches_duckdb(wh: tv.Warehouse) -> None:
    query = "SELECT i, i % 3 AS k, 'x' || i AS s, i / 2 AS half FROM range(10) r(i)"
    conn = duckdb.connect()
    conn.execute(f"CREATE TABLE c AS {query}")
    want = conn.sql("SELECT * FROM c").to_arrow_table()
    assert wh.sql(f"CREATE TABLE c AS {query}").to_pylist() == [{"count": 10}]
    got = wh.table("c").latest().to_arrow()
    assert got.schema == want.schema
    assert got.sort_by("i").to_pylist() == want.sort_by("i").to_pylist()
    # version 0 is the empty table, version 1 its rows, both with the statement as message
    history = wh.table("c").history()
    assert [(s.version, s.num_rows) for s in history] == [(1, 10), (0, 0)]
    assert {s.message for s in history} == {f"CREATE TABLE c AS {query}"}


@pytest.mark.parametrize(
    "query",
    ["SELECT 1 AS a, 2 AS a", 'SELECT 1 AS "A", 2 AS a, 3 AS a_1', "SELECT 1, 2, 1",
     "SELECT 1 AS a, 2 AS a, 3 AS a", "SELECT NULL AS n", "SELECT id, id FROM events"],
)
def test_create_as_select_names_columns_as_duckdb(wh: tv.Warehouse, query: str) -> None:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE events (id BIGINT, label VARCHAR)")
    conn.execute(f"CREATE TABLE c AS {query}")
    want = conn.sql("SELECT * FROM c").to_arrow_table().schema
    wh.sql(f"CREATE TABLE c AS {query}")
    assert wh.table("c").schema == want


@pytest.mark.parametrize(
    "clause", ["VERSION AS OF 1", "VERSION AS OF 'v1.0'", "AT (VERSION => 1)",
               "FOR VERSION AS OF 1"])
def test_create_as_select_from_an_old_version(wh: tv.Warehouse, clause: str) -> None:
    wh.sql(f"CREATE TABLE old AS SELECT * FROM events {clause}")
    want = wh.table("events").as_of(1).to_arrow()
    got = wh.table("old").latest().to_arrow()
    assert got.schema == want.schema
    assert got.sort_by("id").to_pylist() == want.sort_by("id").to_pylist()


def test_create_as_an_empty_query_makes_an_empty_table(wh: tv.Warehouse) -> None:
    assert wh.sql("CREATE TABLE e AS SELECT * FROM events WHERE false").to_pylist() == [
        {"count": 0}]
    assert _versions(wh, "e") == 0
    assert wh.table("e").schema == wh.table("events").schema


def test_if_not_exists_commits_nothing_when_the_table_exists(wh: tv.Warehouse) -> None:
    before = _versions(wh, "events")
    for sql in ("CREATE TABLE IF NOT EXISTS events (x INTEGER)",
                "CREATE TABLE IF NOT EXISTS EVENTS AS SELECT 1 AS x"):
        assert wh.sql(sql).to_pylist() == [{"count": 0}]
    assert _versions(wh, "events") == before
    assert wh.table("events").schema.names == ["id", "label"]
    wh.sql("CREATE TABLE IF NOT EXISTS fresh (x INTEGER)")
    assert "fresh" in wh.tables()


def test_create_of_an_existing_table_is_refused(wh: tv.Warehouse) -> None:
    before = _versions(wh, "events")
    for sql in ("CREATE TABLE events (x INTEGER)", "CREATE TABLE Events AS SELECT 1 AS x"):
        with pytest.raises(TableExistsError, match="OR REPLACE"):
            wh.sql(sql)
    assert _versions(wh, "events") == before


def test_or_replace_overwrites_in_one_commit(wh: tv.Warehouse) -> None:
    before = _versions(wh, "events")
    out = wh.sql("CREATE OR REPLACE TABLE events AS "
                 "SELECT id * 10 AS id, label FROM events VERSION AS OF 1")
    assert out.to_pylist() == [{"count": 3}]
    assert _versions(wh, "events") == before + 1
    assert wh.sql("SELECT id FROM events ORDER BY id").column("id").to_pylist() == [10, 20, 30]
    assert wh.table("events").latest().operation == "overwrite"
    # the old rows are still there, in the old versions
    assert wh.sql("SELECT count(*) AS n FROM events VERSION AS OF 1").to_pylist() == [{"n": 3}]
    # with columns only, the table is emptied (one commit)
    wh.sql("CREATE OR REPLACE TABLE events (id BIGINT, label VARCHAR)")
    assert _versions(wh, "events") == before + 2
    assert wh.sql("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 0}]
    # on a table that does not exist, it creates one
    wh.sql("CREATE OR REPLACE TABLE other AS SELECT 1 AS x")
    assert wh.sql("SELECT * FROM other").to_pylist() == [{"x": 1}]


def test_or_replace_with_other_columns_is_refused(wh: tv.Warehouse) -> None:
    before = _versions(wh, "events")
    with pytest.raises(SchemaMismatchError, match="not supported yet") as info:
        wh.sql("CREATE OR REPLACE TABLE events AS SELECT id, label, 1 AS extra FROM events")
    assert info.value.columns == ["extra"]
    with pytest.raises(SchemaMismatchError):
        wh.sql("CREATE OR REPLACE TABLE events (id INTEGER, label VARCHAR)")
    assert _versions(wh, "events") == before


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
        ("CREATE SCHEMA s", "CREATE SCHEMA"),
        ("CREATE INDEX i ON events (id)", "CREATE INDEX"),
        ("CREATE MACRO m(a) AS a + 1", "CREATE"),
        ("CREATE SEQUENCE s", "CREATE SEQUENCE"),
        ("CREATE TEMP TABLE t (a INTEGER)", "TEMPORARY"),
        ("CREATE TABLE t (a INTEGER PRIMARY KEY)", "PRIMARY KEY"),
        ("CREATE TABLE t (a INTEGER UNIQUE)", "UNIQUE"),
        ("CREATE TABLE t (a INTEGER DEFAULT 3)", "DEFAULT"),
        ("CREATE TABLE t (a INTEGER CHECK (a > 0))", "CHECK"),
        ("CREATE TABLE t (a INTEGER, PRIMARY KEY (a))", "PRIMARY KEY"),
        ("CREATE OR REPLACE TABLE IF NOT EXISTS t (a INTEGER)", "choose one"),
        ("CREATE TABLE t (a NOSUCHTYPE)", "NOSUCHTYPE"),
        ("CREATE TABLE t (a INTEGER, A VARCHAR)", "repeats"),
        ("CREATE TABLE '/tmp/x.csv' (a INTEGER)", "file path"),
        ("CREATE TABLE t AS SELECT * FROM read_csv('/etc/passwd')", "not allowed"),
        ("CREATE TABLE t AS SELECT * FROM nosuch", "nosuch"),
    ],
)
def test_refused_creates_name_the_reason_and_leave_nothing(
    wh: tv.Warehouse, sql: str, says: str
) -> None:
    from tablever.errors import TableverError

    with pytest.raises(TableverError, match=says):
        wh.sql(sql)
    assert wh.tables() == ["events"]


def test_a_table_with_a_reserved_column_name_is_refused(wh: tv.Warehouse) -> None:
    with pytest.raises(SchemaMismatchError):
        wh.sql("CREATE TABLE t AS SELECT 1 AS _row_id")
    assert wh.tables() == ["events"]


# ------------------------------------------------------------------ DESCRIBE, SHOW


def test_describe_matches_duckdb(wh: tv.Warehouse) -> None:
    columns = ("a INTEGER NOT NULL, b VARCHAR, c DECIMAL(5,2), d TIMESTAMPTZ, e INTEGER[], "
               "f STRUCT(x INTEGER, y VARCHAR), g DOUBLE, h DATE")
    conn = duckdb.connect()
    conn.execute(f"CREATE TABLE t ({columns})")
    want = conn.sql("DESCRIBE t").to_arrow_table()
    wh.sql(f"CREATE TABLE t ({columns})")
    got = wh.sql("DESCRIBE t")
    assert got.schema.names == want.schema.names
    assert got.to_pylist() == want.to_pylist()
    assert wh.sql("DESC t;").to_pylist() == want.to_pylist()


@pytest.mark.parametrize(
    "clause", ["", "VERSION AS OF 0", "VERSION AS OF 'v1.0'", "AT (VERSION => 1)",
               "FOR VERSION AS OF 2", "TIMESTAMP AS OF now()", "AS e"])
def test_describe_every_version_form(wh: tv.Warehouse, clause: str) -> None:
    got = wh.sql(f"DESCRIBE events {clause}")
    assert got.column("column_name").to_pylist() == ["id", "label"]
    assert got.column("column_type").to_pylist() == ["BIGINT", "VARCHAR"]


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("DESCRIBE events VERSION AS OF 99", RefNotFoundError),
        ("DESCRIBE nosuch", tv.TableNotFoundError),
        ("DESCRIBE SELECT 1", InvalidPredicateError),
        ("DESCRIBE events JOIN events USING (id)", InvalidPredicateError),
        ("DESCRIBE read_csv('/etc/passwd')", InvalidPredicateError),
    ],
)
def test_describe_errors(wh: tv.Warehouse, sql: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        wh.sql(sql)


def test_show_tables(wh: tv.Warehouse) -> None:
    wh.sql("CREATE TABLE b (x INTEGER)")
    conn = duckdb.connect()
    conn.execute("CREATE TABLE events (x INTEGER)")
    conn.execute("CREATE TABLE b (x INTEGER)")
    want = conn.sql("SHOW TABLES").to_arrow_table()
    got = wh.sql("SHOW TABLES")
    assert got.schema.names == want.schema.names
    assert got.to_pylist() == want.to_pylist()
