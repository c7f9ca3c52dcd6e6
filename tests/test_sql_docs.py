"""docs/sql.md runs: every ```sql block, and every row of the statement reference with
the status it claims."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv

PAGE = Path(__file__).resolve().parent.parent / "docs" / "sql.md"
SCHEMA = pa.schema([("id", pa.int64()), ("label", pa.string()), ("confidence", pa.float64())])


def _warehouse(root: Path) -> tv.Warehouse:
    """The page's warehouse: events (tags v1.0, v2.0), users, staging, bad_ids."""
    wh = tv.Warehouse(root / "wh")
    events = wh.create("events", schema=SCHEMA)
    events.append(pa.table({"id": [1, 2, 3], "label": ["cat", "dog", "cat"],
                            "confidence": [0.9, 0.4, 0.8]}, schema=SCHEMA), message="day 1")
    events.tag("v1.0")
    events.filter("confidence >= 0.7", message="drop low-confidence labels")
    events.tag("v2.0")
    events.update({"label": "'lynx'"}, where="id = 3", message="relabel")
    wh.create("users", data=pa.table({"id": [1, 4], "name": ["ann", "bo"]}))
    wh.create("staging", data=pa.table({"id": [7], "label": ["owl"], "confidence": [0.75]},
                                       schema=SCHEMA))
    wh.create("bad_ids", data=pa.table({"id": [2]}))
    for _ in range(4):  # bad_ids AT (VERSION => 4)
        wh.table("bad_ids").append(pa.table({"id": [9]}))
    return wh


def _reference_rows() -> list[tuple[str, str, str, str]]:
    """(what, example, status, why) for each row of the statement reference."""
    text = PAGE.read_text()
    section = text.split("## Statement reference", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 4 or cells[2] not in ("supported", "refused", "not yet"):
            continue
        example = re.fullmatch(r"`(.*)`", cells[1])
        assert example, line
        rows.append((cells[0], example.group(1), cells[2], cells[3].replace("`", "")))
    return rows


REFERENCE = _reference_rows()
WHY = {what: why for what, _, _, why in REFERENCE}

# Each refused row: the words of its "Why" cell that the error must say, for its own
# example (None) and for the other statements the row names.
REFUSALS: dict[str, list[tuple[str | None, str]]] = {
    "statement-level `PIVOT` / `UNPIVOT`": [
        (None, "SELECT * FROM (PIVOT ...)"),
        ("UNPIVOT events ON label INTO NAME k VALUE v", "as a subquery")],
    "`SELECT ... INTO`": [(None, "CREATE TABLE")],
    "other table functions": [
        (None, "queries read only warehouse tables"),
        ("SELECT * FROM duckdb_settings()", "queries read only warehouse tables")],
    "file or catalog tables": [
        (None, "queries read only warehouse tables, by name"),
        ('SELECT * FROM "other.db".main.t', "queries read only warehouse tables, by name")],
    "parameters": [(None, "put the values in the statement")],
    "several statements": [(None, "run one statement per call")],
    "`INSERT OR REPLACE`, `OR IGNORE`, `ON CONFLICT`": [
        (None, "Table.upsert(rows, on=["),
        ("INSERT OR IGNORE INTO events VALUES (1, 'cat', 0.5)", "Table.upsert(rows, on=["),
        ("INSERT INTO events VALUES (1, 'cat', 0.5) ON CONFLICT DO NOTHING",
         "Table.upsert(rows, on=["),
        ("INSERT INTO events VALUES (1, 'cat', 0.5) ON CONFLICT (id) DO UPDATE SET label = "
         "excluded.label", "DuckDB refuses it")],
    "`RETURNING`": [
        (None, "run a SELECT first to see the rows"),
        ("INSERT INTO events VALUES (5, 'cat', 0.5) RETURNING *",
         "run a SELECT first to see the rows"),
        ("UPDATE events SET label = 'x' RETURNING id", "run a SELECT first to see the rows"),
        ("MERGE INTO events USING staging ON events.id = staging.id WHEN MATCHED THEN DELETE "
         "RETURNING *", "run a SELECT first to see the rows")],
    "`UPDATE ... FROM`": [(None, "WHEN MATCHED THEN UPDATE SET ... updates from another table")],
    "`DELETE ... USING`": [(None, "WHEN MATCHED THEN DELETE deletes the rows another table")],
    "`TRUNCATE`": [(None, "DELETE FROM")],
    "`CREATE TEMP TABLE`, constraints": [
        (None, "no keys, checks or defaults"),
        ("CREATE TEMP TABLE t (id INTEGER)", "stored and versioned"),
        ("CREATE TABLE t (id INTEGER DEFAULT 1)", "no keys, checks or defaults"),
        ("CREATE TABLE t (id INTEGER CHECK (id > 0))", "no keys, checks or defaults"),
        ("CREATE TABLE t (id INTEGER UNIQUE)", "no keys, checks or defaults"),
        ("ALTER TABLE events ADD COLUMN n INTEGER DEFAULT 0", "no keys, checks or defaults")],
    "`CREATE VIEW` / `INDEX` / `SCHEMA` / `SEQUENCE` / `MACRO` / `TYPE` / `SECRET`": [
        (None, "CREATE TABLE is the one CREATE"),
        ("CREATE INDEX i ON events (id)", "CREATE TABLE is the one CREATE"),
        ("CREATE SCHEMA s", "CREATE TABLE is the one CREATE"),
        ("CREATE SEQUENCE q", "CREATE TABLE is the one CREATE"),
        ("CREATE MACRO m(x) AS x + 1", "CREATE TABLE is the one CREATE"),
        ("CREATE TYPE mood AS ENUM ('a', 'b')", "CREATE TABLE is the one CREATE"),
        ("CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')", "CREATE TABLE is the one CREATE")],
    "other `DROP`": [(None, "only tables are stored"),
                     ("DROP SCHEMA s", "only tables are stored")],
    "`ALTER TABLE ... RENAME TO`": [(None, "not atomic on object stores")],
    "`DESCRIBE query`, `SUMMARIZE`": [
        (None, "write the aggregate query"),
        ("DESCRIBE SELECT * FROM events", "LIMIT 0")],
    "other `SHOW`": [(None, "SHOW TABLES lists the tables")],
    "`EXPLAIN`": [(None, "not available"), ("EXPLAIN ANALYZE SELECT 1", "not available")],
    "`COPY`": [(None, "write the Arrow table Warehouse.sql returns"),
               ("COPY (SELECT 1) TO 'x.csv'", "write the Arrow table Warehouse.sql returns")],
    "`EXPORT DATABASE` / `IMPORT DATABASE`": [
        (None, "tv.copy copies tables with their history"),
        ("IMPORT DATABASE 'backup'", "tv.copy copies tables with their history")],
    "`ATTACH` / `DETACH` / `USE`": [
        (None, "one namespace"), ("DETACH other", "one namespace"),
        ("USE other", "one namespace")],
    "`INSTALL` / `LOAD`": [(None, "the SQL runs without extensions"),
                           ("LOAD httpfs", "the SQL runs without extensions")],
    "`SET` / `RESET` / `PRAGMA` / `CALL`": [
        (None, "the session's settings are fixed"),
        ("RESET threads", "the session's settings are fixed"),
        ("PRAGMA version", "the session's settings are fixed"),
        ("CALL pragma_version()", "the session's settings are fixed")],
    "`BEGIN` / `COMMIT` / `ROLLBACK`": [
        (None, "each statement is its own commit"), ("COMMIT", "each statement is its own commit"),
        ("ROLLBACK", "each statement is its own commit")],
    "`PREPARE` / `EXECUTE` / `DEALLOCATE`": [
        (None, "put the values in the statement"),
        ("EXECUTE q", "put the values in the statement"),
        ("DEALLOCATE q", "put the values in the statement")],
    "`CHECKPOINT` / `VACUUM` / `ANALYZE`": [
        (None, "tv.compact"), ("CHECKPOINT", "tv.compact"),
        ("ANALYZE", "keep their own statistics")],
    "`COMMENT ON`": [(None, "Table.set_properties")],
}


def test_the_reference_covers_the_statements() -> None:
    named = " ".join(r[0] for r in REFERENCE)
    for word in ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "MERGE",
                 "COPY", "ATTACH", "PRAGMA", "SET", "EXPORT", "DESCRIBE", "SHOW", "EXPLAIN",
                 "BEGIN", "TRUNCATE", "INSTALL", "VACUUM", "table functions"):
        assert word in named, word
    statuses = {r[2] for r in REFERENCE}
    assert {"supported", "refused"} <= statuses <= {"supported", "refused", "not yet"}


def test_every_refusal_has_its_reason_listed() -> None:
    refused = {what for what, _, status, _ in REFERENCE if status == "refused"}
    assert refused == set(REFUSALS), (refused ^ set(REFUSALS))


REFUSED = [(what, sql, phrase) for what, cases in REFUSALS.items() for sql, phrase in cases]


@pytest.mark.parametrize(("what", "sql", "phrase"), REFUSED,
                         ids=[f"{w}: {s or 'example'}" for w, s, _ in REFUSED])
def test_each_refusal_gives_the_reason_the_page_gives(tmp_path: Path, what: str,
                                                      sql: str | None, phrase: str) -> None:
    example = next(e for w, e, _, _ in REFERENCE if w == what)
    assert phrase in WHY[what], f"the page's reason for {what} does not say {phrase!r}"
    wh = _warehouse(tmp_path)
    versions = {name: wh.table(name).latest().version for name in wh.tables()}
    with pytest.raises(tv.TableverError) as info:
        wh.sql(sql or example)
    assert phrase in str(info.value), str(info.value)
    assert {name: wh.table(name).latest().version for name in wh.tables()} == versions


@pytest.mark.parametrize(("what", "sql", "status", "why"), REFERENCE,
                         ids=[r[0] for r in REFERENCE])
def test_statement_reference_is_true(tmp_path: Path, what: str, sql: str, status: str,
                                     why: str) -> None:
    wh = _warehouse(tmp_path)
    versions = {name: wh.table(name).latest().version for name in wh.tables()}
    if status == "supported":
        assert isinstance(wh.sql(sql), pa.Table)
        return
    with pytest.raises(tv.TableverError) as info:
        wh.sql(sql)
    if status == "not yet":
        assert "not supported yet" in str(info.value)
    # a refused statement changes nothing
    assert {name: wh.table(name).latest().version for name in wh.tables()} == versions


def _sql_statements() -> list[str]:
    out = []
    for block in re.findall(r"```sql\n(.*?)```", PAGE.read_text(), re.S):
        parts = re.split(r";\s*\n", block.strip())
        out += [p.strip().rstrip(";") for p in parts if p.strip()]
    return out


STATEMENTS = _sql_statements()
# The page says so: a time before the table's first commit names no version.
_TOO_EARLY = re.compile(r"INTERVAL 1 (DAY|HOUR)|'2024-06-01")


def test_the_page_has_sql_examples() -> None:
    assert len(STATEMENTS) >= 10


@pytest.mark.parametrize("sql", STATEMENTS)
def test_sql_examples_run(tmp_path: Path, sql: str) -> None:
    wh = _warehouse(tmp_path)
    if _TOO_EARLY.search(sql):
        with pytest.raises(tv.RefNotFoundError):
            wh.sql(sql)
        return
    assert isinstance(wh.sql(sql), pa.Table)
