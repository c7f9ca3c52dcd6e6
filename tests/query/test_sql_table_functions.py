"""Table functions in warehouse SQL: pure generators run, everything else DuckDB has is
refused (enumerated from DuckDB itself, so a new release cannot slip one in)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tablever as tv
from tablever.errors import InvalidPredicateError, TableverError
from tablever.query.rewrite import (
    ALLOWED_TABLE_FUNCTIONS,
    HISTORY_FUNCTIONS,
    check_read_only,
    parse,
)


def _functions(*types: str) -> list[str]:
    conn = duckdb.connect()
    try:
        rows = conn.sql(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type IN "
            f"({', '.join(repr(t) for t in types)}) ORDER BY 1"
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


TABLE_FUNCTIONS = _functions("table", "table_macro")
REFUSED_TABLE_FUNCTIONS = [n for n in TABLE_FUNCTIONS if n.lower() not in ALLOWED_TABLE_FUNCTIONS]

# Scalar (and macro, aggregate) functions that read files, settings, the environment or
# session state, by name pattern over everything DuckDB lists.
_TOUCHY = re.compile(
    r"^(read_|parquet_|glob|sniff_|duckdb_|pragma_|__internal|iceberg_|delta_|sqlite_|"
    r"postgres_|mysql_|enable_|disable_)|_scan$|"
    r"^(current_setting|getenv|getvariable|write_log|query|query_table|load|install|"
    r"checkpoint|force_checkpoint|which_secret|json_execute_serialized_sql)$",
    re.IGNORECASE,
)
TOUCHY_SCALARS = [
    n for n in _functions("scalar", "macro", "aggregate", "window") if _TOUCHY.search(n)
]


def _refused(sql: str) -> str:
    with pytest.raises(InvalidPredicateError) as info:
        check_read_only(parse(sql))
    return str(info.value)


def test_the_enumeration_sees_duckdbs_functions() -> None:
    # The lists below are DuckDB's own: file readers are among them, and every
    # allowed name is a real DuckDB table function.
    assert {"read_csv", "read_parquet", "glob", "query", "duckdb_settings"} <= set(
        REFUSED_TABLE_FUNCTIONS)
    assert {n.lower() for n in TABLE_FUNCTIONS} >= ALLOWED_TABLE_FUNCTIONS
    assert not HISTORY_FUNCTIONS & {n.lower() for n in TABLE_FUNCTIONS}
    assert {"current_setting", "getvariable"} <= set(TOUCHY_SCALARS)


@pytest.mark.parametrize("name", REFUSED_TABLE_FUNCTIONS)
def test_every_other_duckdb_table_function_is_refused(name: str) -> None:
    for sql in (
        f"SELECT * FROM {name}('x', 1)",
        f"SELECT * FROM {name}('x', 1) AS f",
        f"SELECT * FROM events e JOIN {name}('x', 1) f ON true",
        f"SELECT * FROM events e, LATERAL {name}(e.id, 1)",
        f"SELECT * FROM events WHERE id IN (SELECT * FROM {name}('x', 1))",
        f"WITH a AS (SELECT * FROM {name}('x', 1)) SELECT * FROM a",
    ):
        message = _refused(sql)
        assert "not allowed" in message, (sql, message)


@pytest.mark.parametrize("name", TOUCHY_SCALARS)
def test_functions_that_touch_files_or_settings_are_refused(name: str) -> None:
    message = _refused(f"SELECT {name}('x')")
    assert "not allowed" in message and name.lower() in message.lower()


@pytest.mark.parametrize("name", sorted(ALLOWED_TABLE_FUNCTIONS - {"repeat_row"}))
def test_qualified_or_wrapped_generators_are_refused(name: str) -> None:
    assert "not allowed" in _refused(f"SELECT * FROM main.{name}([1])")
    assert "not allowed" in _refused(f"SELECT * FROM TABLE({name}([1]))")


@pytest.fixture()
def wh(tmp_path: Path) -> tv.Warehouse:
    w = tv.Warehouse(tmp_path / "wh")
    w.create("t", schema=pa.schema([("i", pa.int64()), ("k", pa.int64())]))
    return w


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM generate_series(1, 5)",
        "SELECT * FROM range(3)",
        "SELECT * FROM range(0, 10, 3) AS r(i)",
        "SELECT i FROM range(4) r(i) WHERE i IN (SELECT * FROM generate_series(2, 9))",
        "SELECT a.i, b.j FROM range(3) a(i) JOIN range(3) b(j) ON a.i = b.j",
        "SELECT x FROM unnest([3, 1, 2]) u(x)",
        "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(n, s)",
        "SELECT * FROM range(3) a(i), LATERAL range(a.i) b(j)",
        "SELECT * FROM repeat_row(1, 'x', num_rows => 3)",
        "SELECT * FROM json_each('{\"a\": 1, \"b\": [2]}')",
        "SELECT key, value FROM json_tree('[1, {\"b\": 2}]')",
    ],
)
def test_generators_give_duckdbs_rows(wh: tv.Warehouse, sql: str) -> None:
    expected = duckdb.connect().sql(sql).to_arrow_table()
    got = wh.sql(sql)
    assert got.schema.names == expected.schema.names
    assert sorted(map(str, got.to_pylist())) == sorted(map(str, expected.to_pylist()))


def test_insert_from_a_generator_commits(wh: tv.Warehouse) -> None:
    out = wh.sql("INSERT INTO t SELECT i, i % 10 FROM range(1000) t(i)")
    assert out.to_pylist() == [{"count": 1000}]
    got = wh.sql("SELECT k, count(*) AS n, sum(i) AS s FROM t GROUP BY k ORDER BY k")
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (i BIGINT, k BIGINT)")
    conn.execute("INSERT INTO t SELECT i, i % 10 FROM range(1000) t(i)")
    want = conn.sql("SELECT k, count(*) AS n, sum(i) AS s FROM t GROUP BY k ORDER BY k")
    assert got.to_pylist() == want.to_arrow_table().to_pylist()
    assert wh.table("t").latest().version == 1


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM query('SELECT 1')",
        "SELECT current_setting('allowed_paths')",
        "SELECT getvariable('x')",
        "SELECT * FROM t, LATERAL read_text(t.k::VARCHAR)",
        "INSERT INTO t SELECT 1, count(*) FROM read_text('/etc/passwd')",
    ],
)
def test_the_warehouse_refuses_them_and_commits_nothing(wh: tv.Warehouse, sql: str) -> None:
    with pytest.raises(TableverError, match="not allowed"):
        wh.sql(sql)
    assert wh.table("t").latest().version == 0
