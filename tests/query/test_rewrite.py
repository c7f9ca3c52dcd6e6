"""String-in, string-out tests of the sqlglot transforms in tablever.query.rewrite."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tablever.errors import InvalidPredicateError, TableverError
from tablever.query.rewrite import (
    Dml,
    TableRef,
    as_dml,
    check_read_only,
    parse,
    rewrite_query,
    table_refs,
)


class Binder:
    """A bind callback that names relations r0, r1, ... and records each call."""

    def __init__(self) -> None:
        self.calls: list[TableRef] = []

    def __call__(self, ref: TableRef) -> str:
        self.calls.append(ref)
        return f"r{len(self.calls) - 1}"


def rewrite(sql: str, dialect: str | None = None) -> tuple[list[TableRef], str]:
    tree = parse(sql, dialect=dialect)
    binder = Binder()
    out = rewrite_query(tree, binder)
    assert binder.calls == table_refs(tree)  # bind once per distinct ref, in order
    return binder.calls, out


def V(name: str, value: int | str) -> TableRef:  # noqa: N802 - reads like the SQL
    return TableRef(name, "version", value)


def T(name: str, value: str) -> TableRef:  # noqa: N802
    return TableRef(name, "timestamp", value)


def L(name: str) -> TableRef:  # noqa: N802
    return TableRef(name, "latest", None)


# ------------------------------------------------------------------ every syntax

SYNTAXES = [
    # (sql, dialect, refs, rewritten)
    ("SELECT * FROM events VERSION AS OF 3", None,
     [V("events", 3)], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events VERSION AS OF 'v2.0'", None,
     [V("events", "v2.0")], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events VERSION AS OF '3'", None,
     [V("events", "3")], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events VERSION AS OF 'a1b2c3d4e5f6' e", None,
     [V("events", "a1b2c3d4e5f6")], 'SELECT * FROM "r0" AS e'),
    ("SELECT * FROM events TIMESTAMP AS OF '2024-01-01T00:00:00Z'", None,
     [T("events", "'2024-01-01T00:00:00Z'")], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events FOR VERSION AS OF 3", None,
     [V("events", 3)], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events FOR TIMESTAMP AS OF TIMESTAMP '2024-01-01 00:00:00'", None,
     [T("events", "CAST('2024-01-01 00:00:00' AS TIMESTAMP)")], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events FOR SYSTEM_TIME AS OF '2024-01-01 10:00:00+00'", None,
     [T("events", "'2024-01-01 10:00:00+00'")], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events AT (VERSION => 3)", None,
     [V("events", 3)], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events AT (VERSION => 'v1')", None,
     [V("events", "v1")], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events AT (TIMESTAMP => TIMESTAMP '2024-01-01 00:00:00')", None,
     [T("events", "CAST('2024-01-01 00:00:00' AS TIMESTAMP)")], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events AS e AT (VERSION => 3)", None,
     [V("events", 3)], 'SELECT * FROM "r0" AS e'),
    # the alias may come before or after the clause, in any reader
    ("SELECT e.id FROM events VERSION AS OF 3 AS e", None,
     [V("events", 3)], 'SELECT e.id FROM "r0" AS e'),
    ("SELECT e.id FROM events AS e VERSION AS OF 3", None,
     [V("events", 3)], 'SELECT e.id FROM "r0" AS e'),
    ("SELECT e.id FROM events e VERSION AS OF 3", None,
     [V("events", 3)], 'SELECT e.id FROM "r0" AS e'),
    ("SELECT e.id FROM events AS e FOR SYSTEM_TIME AS OF '2024-01-01'", None,
     [T("events", "'2024-01-01'")], 'SELECT e.id FROM "r0" AS e'),
    # BigQuery-only text (backticks, TIMESTAMP_SUB) with dialect=None: bigquery fallback
    ("SELECT * FROM `events` AS e FOR SYSTEM_TIME AS OF "
     "TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 HOUR)", None,
     [T("events", "CURRENT_TIMESTAMP - INTERVAL '1' HOUR")], 'SELECT * FROM "r0" AS e'),
    # explicit dialects
    ("SELECT * FROM events VERSION AS OF 3 e", "spark",
     [V("events", 3)], 'SELECT * FROM "r0" AS e'),
    ("SELECT * FROM events TIMESTAMP AS OF '2024-01-01' e", "spark",
     [T("events", "'2024-01-01'")], 'SELECT * FROM "r0" AS e'),
    ("SELECT `id` FROM events VERSION AS OF 'v2.0'", "databricks",
     [V("events", "v2.0")], 'SELECT "id" FROM "r0" AS events'),
    ("SELECT * FROM events AS e VERSION AS OF 3", "databricks",
     [V("events", 3)], 'SELECT * FROM "r0" AS e'),
    ("SELECT * FROM events TIMESTAMP AS OF '2024-01-01 00:00:00'", "databricks",
     [T("events", "'2024-01-01 00:00:00'")], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events FOR VERSION AS OF 3", "trino",
     [V("events", 3)], 'SELECT * FROM "r0" AS events'),
    ("SELECT * FROM events FOR TIMESTAMP AS OF TIMESTAMP '2024-01-01 00:00:00 UTC' AS e", "trino",
     [T("events", "CAST('2024-01-01 00:00:00 UTC' AS TIMESTAMPTZ)")], 'SELECT * FROM "r0" AS e'),
    ("SELECT * FROM `proj.ds.events` AS e FOR SYSTEM_TIME AS OF '2024-01-01'", "bigquery",
     [T("events", "'2024-01-01'")], 'SELECT * FROM "r0" AS e'),
    ("SELECT * FROM events FOR SYSTEM_TIME AS OF '2024-01-01' AS e", "bigquery",
     [T("events", "'2024-01-01'")], 'SELECT * FROM "r0" AS e'),
    ("SELECT * FROM events AT (VERSION => 3) e", "snowflake",
     [V("events", 3)], 'SELECT * FROM "r0" AS e'),
    ("SELECT * FROM events AT (TIMESTAMP => '2024-01-01'::timestamp_tz) e", "snowflake",
     [T("events", "CAST('2024-01-01' AS TIMESTAMPTZ)")], 'SELECT * FROM "r0" AS e'),
    ("SELECT * FROM events FOR SYSTEM_TIME AS OF '2024-01-01'", "tsql",
     [T("events", "'2024-01-01'")], 'SELECT * FROM "r0" AS events'),
    # no clause at all
    ("SELECT * FROM events", None, [L("events")], 'SELECT * FROM "r0" AS events'),
]


@pytest.mark.parametrize(("sql", "dialect", "refs", "expected"), SYNTAXES)
def test_every_version_syntax(
    sql: str, dialect: str | None, refs: list[TableRef], expected: str
) -> None:
    got_refs, out = rewrite(sql, dialect)
    assert got_refs == refs
    assert out == expected


@pytest.mark.parametrize(("sql", "dialect", "refs", "expected"), SYNTAXES)
def test_rewritten_sql_has_no_version_clause(
    sql: str, dialect: str | None, refs: list[TableRef], expected: str
) -> None:
    out = rewrite(sql, dialect)[1]
    tree = parse(out)
    assert not list(tree.find_all(exp.Version, exp.HistoricalData))
    assert {t.name for t in tree.find_all(exp.Table)} == {f"r{i}" for i in range(len(refs))}


def test_version_literal_types() -> None:
    assert table_refs(parse("SELECT * FROM t VERSION AS OF 12"))[0].value == 12
    assert isinstance(table_refs(parse("SELECT * FROM t VERSION AS OF 12"))[0].value, int)
    assert table_refs(parse("SELECT * FROM t VERSION AS OF '12'"))[0].value == "12"
    assert table_refs(parse("SELECT * FROM t VERSION AS OF (4)"))[0].value == 4


def test_double_quoted_identifier_is_not_read_as_a_string_by_a_fallback() -> None:
    # BigQuery and Spark read "id" as a string; dialect=None must keep DuckDB's meaning.
    _, out = rewrite("SELECT \"id\" FROM events AS e FOR SYSTEM_TIME AS OF '2024-01-01'")
    assert out == 'SELECT "id" FROM "r0" AS e'
    # Only the BigQuery reader takes this text, and it would turn "id" into a string:
    # better an error than a query that silently selects the constant 'id'.
    with pytest.raises(InvalidPredicateError):
        parse("SELECT \"id\" FROM `events` AS e FOR SYSTEM_TIME AS OF '2024-01-01'")
    _, out = rewrite("SELECT `id` FROM `events` AS e FOR SYSTEM_TIME AS OF '2024-01-01'")
    assert out == 'SELECT "id" FROM "r0" AS e'


# ---------------------------------------------------- same table at two versions

def test_self_join_of_two_versions_maps_to_two_relations() -> None:
    refs, out = rewrite(
        "SELECT a.id, a.label AS old, b.label AS new "
        "FROM events VERSION AS OF 'v1.0' a JOIN events VERSION AS OF 'v2.0' b ON a.id = b.id "
        "WHERE a.label <> b.label"
    )
    assert refs == [V("events", "v1.0"), V("events", "v2.0")]
    assert out == (
        'SELECT a.id, a.label AS old, b.label AS new FROM "r0" AS a JOIN "r1" AS b '
        "ON a.id = b.id WHERE a.label <> b.label"
    )


def test_except_of_two_versions() -> None:
    refs, out = rewrite(
        "SELECT id FROM events VERSION AS OF 2 EXCEPT SELECT id FROM events VERSION AS OF 1"
    )
    assert refs == [V("events", 2), V("events", 1)]
    assert out == 'SELECT id FROM "r0" AS events EXCEPT SELECT id FROM "r1" AS events'


def test_version_against_latest_of_the_same_table() -> None:
    refs, out = rewrite("SELECT * FROM events EXCEPT SELECT * FROM events TIMESTAMP AS OF '2024'")
    assert refs == [L("events"), T("events", "'2024'")]
    assert out == 'SELECT * FROM "r0" AS events EXCEPT SELECT * FROM "r1" AS events'


def test_same_snapshot_twice_is_one_ref_and_one_relation() -> None:
    refs, out = rewrite(
        "SELECT * FROM events VERSION AS OF 1 x JOIN events AT (VERSION => 1) y USING (id)"
    )
    assert refs == [V("events", 1)]
    assert out == 'SELECT * FROM "r0" AS x JOIN "r0" AS y USING (id)'


def test_set_operations_union_intersect() -> None:
    refs, out = rewrite(
        "SELECT id FROM a VERSION AS OF 1 UNION ALL SELECT id FROM b "
        "INTERSECT SELECT id FROM c VERSION AS OF 'x'"
    )
    assert refs == [V("a", 1), L("b"), V("c", "x")]
    # INTERSECT binds tighter than UNION; sqlglot makes that explicit
    assert out == (
        'SELECT id FROM "r0" AS a UNION ALL (SELECT id FROM "r1" AS b '
        'INTERSECT SELECT id FROM "r2" AS c)'
    )


# ------------------------------------------------------------------------- CTEs

def test_cte_name_is_not_a_table_ref_even_when_it_shadows_one() -> None:
    refs, out = rewrite(
        "WITH events AS (SELECT * FROM events VERSION AS OF 1 WHERE ok) "
        "SELECT * FROM events JOIN labels USING (id)"
    )
    assert refs == [V("events", 1), L("labels")]
    assert out == (
        'WITH events AS (SELECT * FROM "r0" AS events WHERE ok) '
        'SELECT * FROM events JOIN "r1" AS labels USING (id)'
    )


def test_cte_names_match_case_insensitively_like_duckdb() -> None:
    refs, out = rewrite(
        'WITH Recent AS (SELECT * FROM events) SELECT * FROM recent JOIN "RECENT" r USING (id)'
    )
    assert refs == [L("events")]
    assert out == (
        'WITH Recent AS (SELECT * FROM "r0" AS events) '
        'SELECT * FROM recent JOIN "RECENT" AS r USING (id)'
    )


def test_later_cte_sees_earlier_cte_and_nested_with() -> None:
    refs, out = rewrite(
        "WITH a AS (SELECT * FROM t VERSION AS OF 1), b AS (SELECT * FROM a) "
        "SELECT * FROM b, (WITH c AS (SELECT * FROM u) SELECT * FROM c) s"
    )
    assert refs == [V("t", 1), L("u")]
    assert out == (
        'WITH a AS (SELECT * FROM "r0" AS t), b AS (SELECT * FROM a) '
        'SELECT * FROM b, (WITH c AS (SELECT * FROM "r1" AS u) SELECT * FROM c) AS s'
    )


def test_recursive_cte() -> None:
    refs, out = rewrite(
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT * FROM r JOIN t ON r.n = t.id"
    )
    assert refs == [L("t")]
    assert out.endswith('SELECT * FROM r JOIN "r0" AS t ON r.n = t.id')
    assert "FROM r WHERE n < 3" in out


def test_version_clause_on_a_cte_is_refused() -> None:
    with pytest.raises(InvalidPredicateError, match="CTE") as info:
        table_refs(parse("WITH x AS (SELECT 1) SELECT * FROM x VERSION AS OF 3"))
    assert (info.value.line, info.value.col) == (1, 36)


# ------------------------------------------------------- subqueries, IN, EXISTS

def test_subqueries_in_exists_and_scalar() -> None:
    refs, out = rewrite(
        "SELECT (SELECT max(ts) FROM d), * FROM a "
        "WHERE id IN (SELECT id FROM b VERSION AS OF 2) "
        "AND EXISTS (SELECT 1 FROM c WHERE c.id = a.id) "
        "AND id NOT IN (SELECT id FROM (SELECT id FROM e AT (VERSION => 4)) s)"
    )
    assert refs == [L("d"), L("a"), V("b", 2), L("c"), V("e", 4)]
    assert out == (
        'SELECT (SELECT MAX(ts) FROM "r0" AS d), * FROM "r1" AS a '
        'WHERE id IN (SELECT id FROM "r2" AS b) '
        'AND EXISTS(SELECT 1 FROM "r3" AS c WHERE c.id = a.id) '
        'AND NOT id IN (SELECT id FROM (SELECT id FROM "r4" AS e) AS s)'
    )


def test_semi_anti_and_lateral_joins() -> None:
    refs, out = rewrite(
        "SELECT * FROM a SEMI JOIN b VERSION AS OF 2 ON a.id = b.id "
        "ANTI JOIN c ON a.id = c.id, LATERAL (SELECT * FROM d WHERE d.id = a.id) l"
    )
    assert refs == [L("a"), V("b", 2), L("c"), L("d")]
    assert out == (
        'SELECT * FROM "r0" AS a SEMI JOIN "r1" AS b ON a.id = b.id '
        'ANTI JOIN "r2" AS c ON a.id = c.id, '
        'LATERAL (SELECT * FROM "r3" AS d WHERE d.id = a.id) AS l'
    )


def test_tables_scope_analysis_does_not_list_are_still_rewritten() -> None:
    refs, out = rewrite("SELECT * FROM (PIVOT t VERSION AS OF 2 ON k USING sum(v))")
    assert refs == [V("t", 2)]
    assert out == 'SELECT * FROM (PIVOT "r0" AS t ON k USING SUM(v))'
    refs, out = rewrite("VALUES ((SELECT max(id) FROM t VERSION AS OF 1))")
    assert refs == [V("t", 1)]
    assert out == 'VALUES ((SELECT MAX(id) FROM "r0" AS t))'


# --------------------------------------------------------- aliases and quoting

def test_unaliased_reference_keeps_its_name_for_qualified_columns() -> None:
    _, out = rewrite("SELECT events.id FROM events VERSION AS OF 1 WHERE events.ok")
    assert out == 'SELECT events.id FROM "r0" AS events WHERE events.ok'


def test_alias_with_column_list_is_kept() -> None:
    _, out = rewrite("SELECT x.a FROM events VERSION AS OF 2 AS x(a, b)")
    assert out == 'SELECT x.a FROM "r0" AS x(a, b)'


def test_quoted_identifiers() -> None:
    refs, out = rewrite('SELECT "My Col" FROM "My Table" VERSION AS OF 3')
    assert refs == [V("My Table", 3)]
    assert out == 'SELECT "My Col" FROM "r0" AS "My Table"'
    refs, _ = rewrite('SELECT * FROM "Events"')
    assert refs == [L("Events")]  # the name as written, not lower-cased


def test_schema_prefix_is_dropped_and_name_kept() -> None:
    refs, out = rewrite("SELECT * FROM main.events VERSION AS OF 1")
    assert refs == [V("events", 1)]
    assert out == 'SELECT * FROM "r0" AS events'


def test_relation_names_are_quoted() -> None:
    tree = parse("SELECT * FROM events")
    out = rewrite_query(tree, lambda ref: 'odd "name"')
    assert out == 'SELECT * FROM "odd ""name""" AS events'


def test_rewrite_does_not_change_the_tree() -> None:
    tree = parse("SELECT * FROM events VERSION AS OF 1 e")
    before = tree.sql("duckdb")
    first = rewrite_query(tree, lambda ref: "x")
    assert tree.sql("duckdb") == before
    assert rewrite_query(tree, lambda ref: "x") == first


def test_refs_follow_order_of_appearance_not_scope_order() -> None:
    tree = parse(
        "WITH c AS (SELECT * FROM z) SELECT * FROM b JOIN (SELECT * FROM a) s USING (id), c"
    )
    assert [r.name for r in table_refs(tree)] == ["z", "b", "a"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["events", "labels", "Runs"]),
            st.one_of(st.none(), st.integers(0, 5), st.sampled_from(["v1", "v2.0", "7"])),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_union_chain_model(parts: list[tuple[str, int | str | None]]) -> None:
    def clause(value: int | str | None) -> str:
        if value is None:
            return ""
        return f" VERSION AS OF {value}" if isinstance(value, int) else f" VERSION AS OF '{value}'"

    sql = " UNION ALL ".join(f'SELECT id FROM "{n}"{clause(v)}' for n, v in parts)
    expected: list[TableRef] = []
    for name, value in parts:
        ref = L(name) if value is None else V(name, value)
        if ref not in expected:
            expected.append(ref)
    refs, out = rewrite(sql)
    assert refs == expected
    relations = [t.name for t in parse(out).find_all(exp.Table)]
    assert sorted(set(relations)) == [f"r{i}" for i in range(len(expected))]


# ------------------------------------------------------ unsupported time travel

@pytest.mark.parametrize(
    ("sql", "needle"),
    [
        ("SELECT * FROM t BEFORE (TIMESTAMP => '2024-01-01')", "BEFORE"),
        ("SELECT * FROM t AT (OFFSET => -60)", "OFFSET"),
        ("SELECT * FROM t AT (STATEMENT => 'abc')", "STATEMENT"),
        ("SELECT * FROM t FOR SYSTEM_TIME FROM '2024' TO '2025'", "AS OF"),
        ("SELECT * FROM t FOR SYSTEM_TIME ALL", "AS OF"),
        ("SELECT * FROM t VERSION AS OF -1", "version -1"),
        ("SELECT * FROM t VERSION AS OF 1.5", "version 1.5"),
        ("SELECT * FROM t VERSION AS OF ''", "version ''"),
        ("SELECT * FROM t VERSION AS OF (SELECT max(v) FROM u)", "version"),
        ("SELECT * FROM t TIMESTAMP AS OF (SELECT max(ts) FROM u)", "constant"),
        ("SELECT * FROM t AT (TIMESTAMP => (SELECT max(ts) FROM u))", "constant"),
        ("SELECT * FROM t TIMESTAMP AS OF now() - (SELECT INTERVAL 1 DAY)", "constant"),
        ("SELECT * FROM t TIMESTAMP AS OF $when", "constant"),
    ],
)
def test_unsupported_time_travel_is_refused(sql: str, needle: str) -> None:
    tree = parse(sql)
    with pytest.raises(InvalidPredicateError, match="^t \\(line 1, column 15\\)") as info:
        table_refs(tree)
    assert needle in str(info.value)
    assert (info.value.line, info.value.col) == (1, 15)
    with pytest.raises(InvalidPredicateError):
        rewrite_query(tree, lambda ref: "x")


def test_databricks_at_syntax_is_refused_not_misread() -> None:
    with pytest.raises(InvalidPredicateError, match="VERSION AS OF") as info:
        parse("SELECT * FROM events@v3")
    assert "Databricks" in str(info.value)
    with pytest.raises(InvalidPredicateError, match="hint: Databricks `events@"):
        parse("SELECT * FROM events@v3 AS e")


# ------------------------------------------------------------------------ parse

def test_parse_error_has_line_col_and_snippet() -> None:
    sql = "SELECT id\nFROM events\nWHERE id = = 3"
    with pytest.raises(InvalidPredicateError) as info:
        parse(sql)
    err = info.value
    assert isinstance(err, TableverError) and isinstance(err, ValueError)
    assert (err.line, err.col) == (3, 12)
    assert err.sql == sql
    assert "line 3, column 12" in str(err)
    assert "  WHERE id = = 3\n             ^" in str(err)
    assert err.__cause__ is not None  # the sqlglot error is kept


def test_parse_error_column_is_where_the_token_starts() -> None:
    with pytest.raises(InvalidPredicateError) as info:
        parse("SELECT *\nFROM t WHERE")
    assert (info.value.line, info.value.col) == (2, 8)
    assert "  FROM t WHERE\n         ^^^^^" in str(info.value)


def test_parse_error_message_hides_sqlglot_internals() -> None:
    with pytest.raises(InvalidPredicateError) as info:
        parse("SELECT * FROM")
    assert "Expected table name but got the end" in str(info.value)
    assert "<Token" not in str(info.value)


def test_parse_error_for_unterminated_string() -> None:
    with pytest.raises(InvalidPredicateError, match="unterminated '") as info:
        parse("SELECT *\nFROM t WHERE a = 'oops")
    assert (info.value.line, info.value.col) == (2, 18)


def test_parse_needs_exactly_one_statement() -> None:
    with pytest.raises(InvalidPredicateError, match="exactly one SQL statement, got 2"):
        parse("SELECT 1; SELECT 2")
    with pytest.raises(InvalidPredicateError, match="empty SQL"):
        parse("  ;  ")
    assert parse("SELECT 1;").sql() == "SELECT 1"


def test_parse_rejects_unknown_dialect_and_non_string() -> None:
    with pytest.raises(InvalidPredicateError, match="unknown SQL dialect 'duckbd'"):
        parse("SELECT 1", dialect="duckbd")
    with pytest.raises(InvalidPredicateError, match="must be a string"):
        parse(b"SELECT 1")  # type: ignore[arg-type]


def test_parse_does_not_borrow_other_dialects_without_a_version_clause() -> None:
    with pytest.raises(InvalidPredicateError):
        parse("SELECT * FROM `events`")  # backticks are not DuckDB
    with pytest.raises(InvalidPredicateError):
        parse("SELECT * FROM events AS e VERSION AS OF 3 LIMIT", dialect="spark")


def test_parse_keeps_the_explicit_dialect() -> None:
    # Spark reads "x" as a string literal: an explicit dialect is honoured.
    out = rewrite("SELECT \"x\" FROM t VERSION AS OF 1", "spark")[1]
    assert out == "SELECT 'x' FROM \"r0\" AS t"


# -------------------------------------------------------------- check_read_only

REFUSED = [
    ("COPY events TO 'out.csv'", "COPY"),
    ("COPY (SELECT 1) TO '/tmp/x.parquet' (FORMAT parquet)", "COPY"),
    ("ATTACH 'other.db' AS o", "ATTACH"),
    ("DETACH o", "DETACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("SET enable_external_access = true", "SET"),
    ("RESET threads", "RESET"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("CREATE TABLE x AS SELECT 1", "CREATE"),
    ("CREATE SECRET s (TYPE s3)", "CREATE"),
    ("CREATE VIEW v AS SELECT * FROM events", "CREATE"),
    ("DROP TABLE events", "DROP"),
    ("ALTER TABLE events ADD COLUMN y INT", "ALTER"),
    ("EXPORT DATABASE 'dir'", "EXPORT DATABASE"),
    ("IMPORT DATABASE 'dir'", "IMPORT DATABASE"),
    ("CALL pragma_version()", "CALL"),
    ("USE other", "USE"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("DESCRIBE events", "DESCRIBE"),
    ("EXPLAIN SELECT 1", "EXPLAIN"),
    ("BEGIN", "BEGIN"),
    ("TRUNCATE events", "TRUNCATE"),
    ("SELECT * INTO copy FROM events", "SELECT ... INTO"),
    ("INSERT INTO events VALUES (1)", "INSERT"),
    ("MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE", "MERGE"),
    ("SELECT * FROM read_csv('x.csv')", "read_csv()"),
    ("SELECT * FROM read_csv_auto('x.csv')", "read_csv_auto()"),
    ("SELECT * FROM read_parquet(['a.parquet', 'b.parquet'])", "read_parquet()"),
    ("SELECT * FROM parquet_scan('x')", "parquet_scan()"),
    ("SELECT * FROM read_json('x')", "read_json()"),
    ("SELECT * FROM read_json_auto('x')", "read_json_auto()"),
    ("SELECT * FROM read_ndjson_objects('x')", "read_ndjson_objects()"),
    ("SELECT * FROM read_text('/etc/passwd')", "read_text()"),
    ("SELECT * FROM read_blob('x')", "read_blob()"),
    ("SELECT * FROM glob('*')", "glob()"),
    ("SELECT * FROM sniff_csv('x')", "sniff_csv()"),
    ("SELECT * FROM query_table('x')", "query_table()"),
    ("SELECT * FROM query('SELECT 1')", "query()"),
    ("SELECT * FROM sqlite_scan('x.db', 't')", "sqlite_scan()"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings()"),
    ("SELECT * FROM main.range(10)", "range()"),
    ("SELECT * FROM TABLE(read_csv('x'))", "read_csv()"),
    ("SELECT * FROM events e JOIN read_csv('x') r ON e.id = r.id", "read_csv()"),
    ("SELECT * FROM events, LATERAL read_csv(events.f)", "read_csv()"),
    ("SELECT * FROM TABLE(range(3))", "range()"),
    ("SELECT * FROM events WHERE id IN (SELECT * FROM read_csv('a'))", "read_csv()"),
    ("SELECT (SELECT count(*) FROM read_parquet('x'))", "read_parquet()"),
    ("WITH a AS (SELECT * FROM read_csv('x')) SELECT * FROM a", "read_csv()"),
    ("SELECT id FROM events UNION ALL SELECT * FROM read_parquet('y')", "read_parquet()"),
    ("SELECT * FROM t TIMESTAMP AS OF (SELECT max(ts) FROM read_csv('a'))", "read_csv()"),
    ("SELECT getenv('HOME')", "getenv()"),
    ("SELECT length(read_blob('x'))", "read_blob()"),
    ("SELECT current_setting('allowed_paths')", "current_setting()"),
    ("SELECT * FROM 'data.csv'", '"data.csv"'),
    ("FROM 'data.parquet'", '"data.parquet"'),
    ("SELECT * FROM '/etc/passwd'", '"/etc/passwd"'),
    ('SELECT * FROM "other.db".main.t', '"other.db".main.t'),
    ("SELECT * FROM 's3://bucket/x'.t", "s3://bucket/x"),
    ("SELECT * FROM $tbl", "parameter"),
]


@pytest.mark.parametrize(("sql", "named"), REFUSED)
def test_check_read_only_refuses_and_names_it(sql: str, named: str) -> None:
    with pytest.raises(InvalidPredicateError) as info:
        check_read_only(parse(sql))
    assert named in str(info.value)
    assert "not allowed" in str(info.value) or "file path" in str(info.value) or (
        "parameter" in str(info.value)
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM events VERSION AS OF 3",
        "VALUES (1), (2)",
        "(SELECT 1)",
        "SELECT 1 UNION SELECT 2",
        "SELECT 1 EXCEPT SELECT 2",
        "WITH a AS (SELECT * FROM events) SELECT * FROM a",
        "FROM events",
        "SELECT * FROM unnest([1, 2])",
        "SELECT * FROM range(10)",
        "SELECT * FROM events e, LATERAL generate_series(1, e.n)",
        "SELECT unnest([1, 2]), range(3), read_count FROM events",
        "SELECT * FROM events PIVOT (sum(a) FOR b IN (1, 2))",
        "SELECT * FROM (VALUES (1)) v(a)",
        'SELECT * FROM "v1.0"',
        "SELECT label, count(*) FROM events TIMESTAMP AS OF now() - INTERVAL 1 DAY GROUP BY 1",
    ],
)
def test_check_read_only_allows_queries(sql: str) -> None:
    check_read_only(parse(sql))


# ------------------------------------------------------------------------- DML

def test_select_is_not_dml() -> None:
    assert as_dml(parse("SELECT * FROM events")) is None
    assert as_dml(parse("VALUES (1)")) is None


def test_insert_values() -> None:
    dml = as_dml(parse("INSERT INTO events VALUES (1, 'a'), (2, 'b')"))
    assert dml is not None
    assert (dml.kind, dml.table, dml.columns, dml.where, dml.assignments) == (
        "insert", "events", None, None, {},
    )
    assert dml.source is not None
    assert rewrite_query(dml.source, Binder()) == "VALUES (1, 'a'), (2, 'b')"


def test_insert_select_with_columns_reads_a_past_version() -> None:
    tree = parse("INSERT INTO events (id, label) SELECT id, label FROM events VERSION AS OF 1")
    dml = as_dml(tree)
    assert dml == Dml("insert", "events", None, {}, dml.source if dml else None, ["id", "label"])
    assert dml is not None and dml.source is not None
    assert table_refs(dml.source) == [V("events", 1)]
    assert rewrite_query(dml.source, Binder()) == 'SELECT id, label FROM "r0" AS events'


def test_insert_with_leading_cte_moves_into_the_source() -> None:
    dml = as_dml(parse("WITH x AS (SELECT * FROM staging) INSERT INTO events SELECT * FROM x"))
    assert dml is not None and dml.source is not None
    assert table_refs(dml.source) == [L("staging")]
    assert rewrite_query(dml.source, Binder()) == (
        'WITH x AS (SELECT * FROM "r0" AS staging) SELECT * FROM x'
    )


def test_delete_strips_target_qualifiers() -> None:
    dml = as_dml(parse("DELETE FROM events AS e WHERE e.confidence < 0.7 AND events.label = 'x'"))
    assert dml == Dml("delete", "events", "confidence < 0.7 AND label = 'x'", {}, None, None)


def test_delete_without_where_deletes_everything() -> None:
    assert as_dml(parse("DELETE FROM events")) == Dml("delete", "events", None, {}, None, None)


def test_update_assignments_and_where() -> None:
    dml = as_dml(parse("UPDATE events AS e SET label = upper(e.label), e.n = n + 1 WHERE e.id = 5"))
    assert dml == Dml(
        "update", "events", "id = 5", {"label": "UPPER(label)", "n": "n + 1"}, None, None
    )


def test_update_in_another_dialect_gives_duckdb_sql() -> None:
    dml = as_dml(parse("UPDATE events SET label = 'x' WHERE id = 1", dialect="spark"))
    assert dml == Dml("update", "events", "id = 1", {"label": "'x'"}, None, None)


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM events VERSION AS OF 3 WHERE id = 1",
        "DELETE FROM events AT (VERSION => 3)",
        "DELETE FROM events FOR SYSTEM_TIME AS OF '2024-01-01'",
        "UPDATE events VERSION AS OF 3 SET label = 'x'",
        "INSERT INTO events AT (VERSION => 3) VALUES (1)",
    ],
)
def test_version_on_dml_target_is_refused(sql: str) -> None:
    with pytest.raises(InvalidPredicateError, match="cannot modify a past version"):
        as_dml(parse(sql))


@pytest.mark.parametrize(
    ("sql", "needle"),
    [
        ("UPDATE events SET label = l.label FROM l WHERE events.id = l.id", "UPDATE ... FROM"),
        ("DELETE FROM events USING bad WHERE events.id = bad.id", "DELETE ... USING"),
        ("INSERT OR REPLACE INTO events VALUES (1)", "OR REPLACE"),
        ("INSERT INTO events SELECT 1 ON CONFLICT DO NOTHING", "ON CONFLICT"),
        ("INSERT INTO events VALUES (1) RETURNING *", "RETURNING"),
        ("DELETE FROM events WHERE id = 1 RETURNING *", "RETURNING"),
        ("INSERT INTO events (id) DEFAULT VALUES", "DEFAULT VALUES"),
        ("DELETE FROM events WHERE id IN (SELECT id FROM bad)", "subqueries"),
        ("UPDATE events SET n = (SELECT max(n) FROM other)", "subqueries"),
        ("DELETE FROM events WHERE getenv('X') = label", "getenv()"),
        ("INSERT INTO events SELECT * FROM read_csv('x.csv')", "read_csv()"),
        ("UPDATE events SET other.n = 1", "not a column of events"),
        ("UPDATE events SET n = 1, N = 2", "set twice"),
        ("INSERT INTO events (id, id) VALUES (1, 2)", "repeats"),
        ("INSERT INTO '/tmp/x.csv' VALUES (1)", "file path"),
    ],
)
def test_unsupported_dml_is_refused(sql: str, needle: str) -> None:
    with pytest.raises(InvalidPredicateError) as info:
        as_dml(parse(sql))
    assert needle in str(info.value)


def test_insert_by_name_and_default_values() -> None:
    dml = as_dml(parse("INSERT INTO events BY NAME SELECT 1 AS id"))
    assert dml is not None and dml.by_name and dml.columns is None
    assert as_dml(parse("INSERT INTO events DEFAULT VALUES")) == Dml(
        "insert", "events", None, {}, None, None)


def test_dml_is_refused_by_check_read_only() -> None:
    for sql in ("DELETE FROM events", "UPDATE events SET a = 1", "INSERT INTO t VALUES (1)"):
        with pytest.raises(InvalidPredicateError, match="not allowed"):
            check_read_only(parse(sql))


@pytest.mark.parametrize(("sql", "read_as"), [
    ("INSERT INTO t BY POSITION SELECT 1", "INSERT INTO t SELECT 1"),
    ("INSERT INTO t AS x BY POSITION (a) VALUES (1)", "INSERT INTO t AS x (a) VALUES (1)"),
    ("insert into main.t by position values (1)", "INSERT INTO main.t VALUES (1)"),
    ("MERGE INTO t USING s ON t.k = s.k WHEN NOT MATCHED THEN INSERT BY POSITION",
     "MERGE INTO t USING s ON t.k = s.k WHEN NOT MATCHED THEN INSERT *"),
    # not after an INSERT's target: a column named position stays
    ("SELECT position FROM t ORDER BY position", "SELECT position FROM t ORDER BY position"),
    ("SELECT * FROM t GROUP BY position", "SELECT * FROM t GROUP BY position"),
])
def test_by_position_reads_as_position_without_it(sql: str, read_as: str) -> None:
    assert parse(sql).sql("duckdb") == parse(read_as).sql("duckdb")


def test_an_error_after_by_position_points_at_the_original_text() -> None:
    sql = "INSERT INTO t BY POSITION SELECT * FROM WHERE x = 1"
    with pytest.raises(InvalidPredicateError) as info:
        parse(sql)
    assert info.value.sql == sql
    assert info.value.col == sql.index("WHERE") + 1
    assert f"\n  {sql}\n" in str(info.value)
