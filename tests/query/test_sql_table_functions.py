"""Table functions in warehouse SQL: pure generators run, everything else DuckDB has is
refused (enumerated from DuckDB itself, so a new release cannot slip one in)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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


def _catalog(sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect()
    try:
        return conn.sql(sql).fetchall()
    finally:
        conn.close()


# Every scalar, aggregate and window function whose answer is not a function of its
# arguments alone, by DuckDB's own account (stability VOLATILE or CONSISTENT_WITHIN_QUERY,
# or side effects), with the fewest arguments it takes.
STATEFUL = {
    name: args for name, args in _catalog(
        "SELECT function_name, min(len(parameters)) FROM duckdb_functions() "
        "WHERE function_type IN ('scalar', 'aggregate', 'window') "
        "AND (stability <> 'CONSISTENT' OR has_side_effects) "
        "AND regexp_matches(function_name, '^[a-z_][a-z0-9_]*$') GROUP BY ALL")
}
# ... of which these are harmless in the sandbox, each for the reason given. Every other
# one must be refused: a function a new DuckDB adds fails this test until it is put in
# one list or the other (tablever/query/rewrite.py refuses by name).
HARMLESS = {
    # the clock and the calendar (the session's time zone is fixed: UTC)
    "now", "today", "current_date", "current_localtime", "current_localtimestamp",
    "get_current_time", "get_current_timestamp", "transaction_timestamp",
    "make_timestamptz", "timezone", "timezone_hour", "timezone_minute", "age", "century",
    "date_diff", "datediff", "date_part", "datepart", "date_sub", "datesub", "date_trunc",
    "datetrunc", "day", "dayname", "dayofmonth", "dayofweek", "dayofyear", "decade", "era",
    "hour", "isodow", "isoyear", "julian", "last_day", "microsecond", "millennium",
    "millisecond", "minute", "month", "monthname", "quarter", "second", "week", "weekday",
    "weekofyear", "year", "yearweek", "strftime", "time_bucket", "generate_series",
    "range",
    # randomness
    "random", "uuid", "gen_random_uuid", "uuidv4", "uuidv7",
    # the sandbox's own session: one empty in-memory database, no sequences
    "current_database", "current_schema", "current_schemas", "in_search_path",
    "current_connection_id", "current_query_id", "current_transaction_id",
    "txid_current", "current_query", "nextval", "currval", "setval",
    # about the value passed in, or the user's own error and wait
    "stats", "vector_type", "error", "sleep_ms",
}


def _call(name: str, args: int) -> str:
    return f"SELECT {name}({', '.join(['1'] * args)})"


def test_the_stateful_lists_are_duckdbs() -> None:
    assert {"current_setting", "getvariable", "write_log", "setseed", "now"} <= set(STATEFUL)
    assert set(STATEFUL) >= HARMLESS, sorted(HARMLESS - set(STATEFUL))


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_each_stateful_function_is_refused_unless_known_harmless(name: str) -> None:
    sql = _call(name, STATEFUL[name])
    if name in HARMLESS:
        check_read_only(parse(sql))
    else:
        assert "not allowed" in _refused(sql), f"{name}(): refuse it, or add it to HARMLESS"


# Functions a DuckDB macro may call, refused; the macro must be refused too.
_REFUSED_INSIDE = {n.lower() for n in REFUSED_TABLE_FUNCTIONS} | {
    n.lower() for n in STATEFUL if n not in HARMLESS}
MACROS_OVER_REFUSED = sorted({
    name for name, body in _catalog(
        "SELECT function_name, macro_definition FROM duckdb_functions() "
        "WHERE function_type = 'macro'")
    if any(called.lower() in _REFUSED_INSIDE
           for called in re.findall(r'"?([A-Za-z_][A-Za-z0-9_]*)"?\s*\(', body or ""))
})


def test_macros_over_refused_functions_are_refused() -> None:
    assert {"pg_get_viewdef", "get_block_size"} <= set(MACROS_OVER_REFUSED)
    for name in MACROS_OVER_REFUSED:
        message = _refused(f"SELECT {name}(1)")
        assert "not allowed" in message and name in message, name


PRAGMAS = [r[0] for r in _catalog(
    "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'pragma' "
    "ORDER BY 1")]


@pytest.mark.parametrize("name", PRAGMAS)
def test_every_pragma_is_refused(name: str) -> None:
    assert "PRAGMA is not allowed" in _refused(f"PRAGMA {name}")
    assert "not allowed" in _refused(f"CALL {name}()")


def test_the_sandbox_loads_and_installs_no_extension(tmp_path: Path) -> None:
    from tablever.query.engine import sandbox_connection

    conn = sandbox_connection([])
    try:
        settings = dict(conn.sql(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ("
            "'autoinstall_known_extensions', 'autoload_known_extensions', "
            "'allow_community_extensions', 'enable_external_access', 'lock_configuration')"
        ).fetchall())
    finally:
        conn.close()
    assert settings == {"autoinstall_known_extensions": "false",
                        "autoload_known_extensions": "false",
                        "allow_community_extensions": "false",
                        "enable_external_access": "false", "lock_configuration": "true"}
    wh = tv.Warehouse(tmp_path / "wh")
    # excel_text is in an extension DuckDB knows but has not built in: not fetched
    with pytest.raises(InvalidPredicateError, match="excel extension"):
        wh.sql("SELECT excel_text(1, '0')")


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
