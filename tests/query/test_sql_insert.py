"""INSERT through Warehouse.sql against DuckDB's own INSERT on a plain in-memory table:
the same rows, or an error where DuckDB raises one, of the matching class."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tablever as tv
from tablever.errors import InvalidPredicateError, SchemaMismatchError, TableverError

# DuckDB's error class -> tablever's, for INSERT.
ERROR_CLASS: dict[type[Exception], type[TableverError]] = {
    duckdb.BinderException: InvalidPredicateError,
    duckdb.ParserException: InvalidPredicateError,
    duckdb.ConversionException: SchemaMismatchError,
    duckdb.OutOfRangeException: SchemaMismatchError,
}

CASES = [
    # floats: NaN and infinities by name, numbers of other types
    ("a DOUBLE", "INSERT INTO t VALUES (1.0), ('NaN')"),
    ("a DOUBLE", "INSERT INTO t VALUES (1), ('inf'), ('-Infinity'), (2.5e300)"),
    ("a FLOAT", "INSERT INTO t VALUES (1e39)"),
    ("a FLOAT", "INSERT INTO t VALUES (0.1), ('1e-3')"),
    # times: infinities, typed literals, strings, offsets
    ("a TIMESTAMP", "INSERT INTO t VALUES ('infinity'), (TIMESTAMP '2022-01-01')"),
    ("a TIMESTAMP", "INSERT INTO t VALUES ('-infinity'), ('2022-01-01 10:00:00.123456')"),
    ("a TIMESTAMP", "INSERT INTO t VALUES (DATE '2022-03-04')"),
    ("a TIMESTAMP", "INSERT INTO t VALUES ('not a time')"),
    ("a TIMESTAMPTZ", "INSERT INTO t VALUES ('infinity'), ('2022-01-01 10:00+02')"),
    ("a TIMESTAMPTZ", "INSERT INTO t VALUES (TIMESTAMP '2022-01-01 10:00')"),
    ("a DATE", "INSERT INTO t VALUES ('infinity'), ('2022-01-01'), ('-infinity')"),
    ("a DATE", "INSERT INTO t VALUES ('2022-02-30')"),
    ("a TIME", "INSERT INTO t VALUES ('12:34:56'), (TIME '01:02:03')"),
    # integers: overflow on every width, rounding of fractions
    ("a TINYINT", "INSERT INTO t VALUES (127), (128)"),
    ("a TINYINT", "INSERT INTO t VALUES (-128)"),
    ("a SMALLINT", "INSERT INTO t VALUES (32768)"),
    ("a INTEGER", "INSERT INTO t VALUES (2147483648)"),
    ("a BIGINT", "INSERT INTO t VALUES (9223372036854775807)"),
    ("a BIGINT", "INSERT INTO t VALUES (9223372036854775808)"),
    ("a UBIGINT", "INSERT INTO t VALUES (-1)"),
    ("a UTINYINT", "INSERT INTO t VALUES (255), ('7')"),
    ("a INTEGER", "INSERT INTO t VALUES (2.5), (3.5), (-2.5), (' 7 ')"),
    ("a INTEGER", "INSERT INTO t VALUES ('abc')"),
    ("a INTEGER", "INSERT INTO t VALUES ('1.5')"),
    # decimals: rounding half away from zero, overflow
    ("a DECIMAL(5,2)", "INSERT INTO t VALUES (1.005), (1.015), ('2.345'), (-1.005)"),
    ("a DECIMAL(5,2)", "INSERT INTO t VALUES (1234.5)"),
    ("a DECIMAL(5,2)", "INSERT INTO t VALUES (999.994), (1e2)"),
    ("a DECIMAL(38,10)", "INSERT INTO t VALUES (1.5), (2)"),
    ("a DECIMAL(4,0)", "INSERT INTO t VALUES (9999.5)"),
    # strings, booleans, nested
    ("a VARCHAR", "INSERT INTO t VALUES ('x'), (42), (1.50), (DATE '2022-01-01')"),
    ("a BOOLEAN", "INSERT INTO t VALUES ('true'), (1), ('no'), ('T')"),
    ("a BOOLEAN", "INSERT INTO t VALUES ('maybe')"),
    ("a INTEGER[]", "INSERT INTO t VALUES ([1, 2]), ('[3]'), (NULL)"),
    ("a STRUCT(x INT, y VARCHAR)", "INSERT INTO t VALUES ({'x': 1, 'y': 'a'})"),
    ("a MAP(VARCHAR, INT)", "INSERT INTO t VALUES (MAP {'k': 1})"),
    ("a BLOB", "INSERT INTO t VALUES ('\\xAA'::BLOB), ('abc')"),
    # column lists, DEFAULT, BY NAME, INSERT ... SELECT
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t (a, c) VALUES (1, 2.5)"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t (C, A) VALUES ('1.5', 2.5)"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t (c, a) SELECT 1.5, 7"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t (b) SELECT 42 UNION ALL SELECT 43"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t BY NAME SELECT 1.5 AS c, 7 AS a"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t BY NAME SELECT 'x' AS B"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t BY NAME SELECT 1 AS zz"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t BY NAME SELECT 'no' AS a"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t VALUES (1, DEFAULT, 2), (DEFAULT, 'x', 3)"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t (c) VALUES (DEFAULT)"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t DEFAULT VALUES"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t (zz) VALUES (1)"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t (a, a) VALUES (1, 2)"),
    ("a INTEGER, b VARCHAR", "INSERT INTO t SELECT 1"),
    ("a INTEGER, b VARCHAR", "INSERT INTO t VALUES (1, 'a', 3)"),
    ("a INTEGER, b VARCHAR", "INSERT INTO t (a, b) VALUES (1)"),
    ("a INTEGER", "INSERT INTO t SELECT 'abc'"),
    ("a INTEGER", "INSERT INTO t SELECT 3000000000"),
    ("a TINYINT", "INSERT INTO t SELECT i FROM range(120, 130) r(i)"),
    ("a DOUBLE", "INSERT INTO t SELECT * FROM (VALUES (1), (2.5)) v(x)"),
    ("a VARCHAR", "INSERT INTO t SELECT x FROM (VALUES ('x'), (NULL)) v(x)"),
    ("a INTEGER, b VARCHAR", "INSERT INTO t SELECT * FROM (VALUES (1, 'a')) v(x, y) WHERE x > 5"),
    # BY POSITION: what INSERT does without it
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t BY POSITION VALUES (1, 2, '3.5')"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t BY POSITION (c, a) VALUES ('1.5', 2.5)"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t AS x BY POSITION SELECT 1, 'a', 2"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO main.t by position SELECT 1, 'a', 2"),
    ("a INTEGER, b VARCHAR, c DOUBLE",
     "WITH q AS (SELECT 7 AS position) INSERT INTO t BY POSITION (a) SELECT position FROM q "
     "ORDER BY position"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t BY POSITION DEFAULT VALUES"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t BY POSITION SELECT 1, 'a'"),
    ("a INTEGER, b VARCHAR, c DOUBLE", "INSERT INTO t BY POSITION VALUES ('x', 'a', 1)"),
]


def _duckdb(cols: str, stmt: str) -> tuple[pa.Schema, list[tuple[object, ...]] | type[Exception]]:
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(f"CREATE TABLE t ({cols})")
    schema = conn.sql("SELECT * FROM t").to_arrow_table().schema
    try:
        conn.execute(stmt)
    except duckdb.Error as exc:
        return schema, type(exc)
    return schema, conn.sql("SELECT * FROM t").fetchall()


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    # Through DuckDB, which turns infinite times into its own Python values.
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    return conn.from_arrow(table).fetchall()


def _same(a: list[tuple[object, ...]], b: list[tuple[object, ...]]) -> bool:
    return [tuple(map(repr, r)) for r in a] == [tuple(map(repr, r)) for r in b]


@pytest.mark.parametrize(("cols", "stmt"), CASES)
def test_insert_matches_duckdb(tmp_path: Path, cols: str, stmt: str) -> None:
    schema, want = _duckdb(cols, stmt)
    wh = tv.Warehouse(tmp_path / "wh")
    table = wh.create("t", schema=schema)
    if isinstance(want, type):
        with pytest.raises(ERROR_CLASS[want]):
            wh.sql(stmt)
        assert table.latest().version == 0  # nothing committed
        return
    got = wh.sql(stmt)
    assert got.to_pylist() == [{"count": len(want)}]
    stored = wh.table("t").latest().to_arrow()
    assert stored.schema == schema
    assert _same(_rows(stored), want), (_rows(stored), want)
    # and read back through SQL, as DuckDB reads its own table
    assert _same(_rows(wh.sql("SELECT * FROM t")), want)


def test_a_value_that_does_not_fit_names_its_column(tmp_path: Path) -> None:
    wh = tv.Warehouse(tmp_path / "wh")
    wh.create("t", schema=pa.schema([("a", pa.int8()), ("b", pa.string()), ("c", pa.int32())]))
    with pytest.raises(SchemaMismatchError) as info:
        wh.sql("INSERT INTO t VALUES (1, 'x', 1), (300, 'y', 'z')")
    assert info.value.columns == ["a", "c"]
    with pytest.raises(SchemaMismatchError) as info:
        wh.sql("INSERT INTO t (c) SELECT 3000000000")
    assert info.value.columns == ["c"]


@pytest.mark.parametrize(
    ("stmt", "says"),
    [
        ("INSERT OR REPLACE INTO t VALUES (1)", "Table.upsert"),
        ("INSERT OR IGNORE INTO t VALUES (1)", "Table.upsert"),
        ("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", "Table.upsert"),
        ("INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2", "Table.upsert"),
        ("INSERT INTO t VALUES (1) RETURNING a", "RETURNING"),
        ("INSERT INTO t (a) DEFAULT VALUES", "DEFAULT VALUES takes no column list"),
    ],
)
def test_forms_without_a_meaning_here_are_refused(tmp_path: Path, stmt: str, says: str) -> None:
    wh = tv.Warehouse(tmp_path / "wh")
    wh.create("t", schema=pa.schema([("a", pa.int32())]))
    with pytest.raises(InvalidPredicateError, match=says.replace(".", r"\.")):
        wh.sql(stmt)
    assert wh.table("t").latest().version == 0


def test_on_conflict_is_refused_by_duckdb_too_on_a_table_without_a_key() -> None:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (a INTEGER)")
    for stmt in ("INSERT OR REPLACE INTO t VALUES (1)",
                 "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING"):
        with pytest.raises(duckdb.BinderException):
            conn.execute(stmt)
