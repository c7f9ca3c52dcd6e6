"""A table's history in SQL: snapshots(), tags(), runs(), table_changes() and the hidden
_row_id column, against the Python API's answers."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv
from tablever.errors import InvalidPredicateError, RefNotFoundError, TableNotFoundError

SCHEMA = pa.schema([("id", pa.int64()), ("label", pa.string())])


@pytest.fixture()
def wh(tmp_path: Path) -> tv.Warehouse:
    w = tv.Warehouse(tmp_path / "wh")
    t = w.create("events", schema=SCHEMA)
    t.append(pa.table({"id": [1, 2, 3, 4], "label": ["a", "b", "c", "d"]}, schema=SCHEMA),
             message="day 1")
    t.tag("v1.0", message="first")
    time.sleep(0.01)
    t.delete("id = 2", message="drop 2")
    t.update({"label": "'B'"}, where="id = 3", message="fix 3")
    t.tag("v2.0")
    t.append(pa.table({"id": [5], "label": ["e"]}, schema=SCHEMA), message="day 2")
    t.link_run("run-1", "v1.0", model="clf", metrics={"acc": 0.9}, params={"lr": 0.1})
    w.create("other", schema=pa.schema([("version", pa.int64())]))
    return w


def _sorted(rows: list[dict[str, object]], *keys: str) -> list[dict[str, object]]:
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))


def test_snapshots_match_history(wh: tv.Warehouse) -> None:
    got = wh.sql("SELECT * FROM snapshots('events')").to_pylist()
    table = wh.table("events")
    tags = {r.version: r.name for r in table.tag_records()}
    want = [
        {
            "version": s.version, "id": s.id, "time": s.timestamp, "operation": s.operation,
            "message": s.message, "author": s.author,
            "rows_added": s.summary["added_rows"], "rows_removed": s.summary["deleted_rows"],
            "total_rows": s.num_rows,
            "tags": [tags[s.version]] if s.version in tags else [],
        }
        for s in table.history()
    ]
    assert got == want
    assert [r["operation"] for r in got] == ["append", "update", "delete", "append", "create"]


def test_tags_and_runs(wh: tv.Warehouse) -> None:
    table = wh.table("events")
    got = wh.sql("SELECT name, version, id, message FROM tags('events') ORDER BY version")
    assert got.to_pylist() == [
        {"name": r.name, "version": r.version, "id": r.id, "message": r.message}
        for r in sorted(table.tag_records(), key=lambda r: r.version)]
    runs = wh.sql("SELECT run_id, version, model, metrics->>'acc' AS acc, "
                  "CAST(params->>'lr' AS DOUBLE) AS lr FROM runs('events')")
    assert runs.to_pylist() == [
        {"run_id": "run-1", "version": 1, "model": "clf", "acc": "0.9", "lr": 0.1}]


@pytest.mark.parametrize(
    ("args", "a", "b"),
    [
        ("1, 3", 1, 3),
        ("0, 4", 0, 4),
        ("'v1.0', 'v2.0'", "v1.0", "v2.0"),
        ("'v1.0'", "v1.0", None),
        ("2, 2", 2, 2),
    ],
)
def test_table_changes_match_the_change_feed(wh: tv.Warehouse, args: str, a: object,
                                             b: object) -> None:
    got = wh.sql(f"SELECT * FROM table_changes('events', {args})")
    want = wh.table("events").changes(a, b)  # type: ignore[arg-type]
    assert got.schema.names == want.schema.names
    assert got.schema.names[-3:] == ["_row_id", "_change", "_version"]
    keys = ("_version", "_change", "_row_id")
    assert _sorted(got.to_pylist(), *keys) == _sorted(want.to_pylist(), *keys)


def test_table_changes_by_id_prefix_and_time(wh: tv.Warehouse) -> None:
    table = wh.table("events")
    v1 = table.as_of(1)
    when = datetime.fromtimestamp(v1.timestamp_ms / 1000, tz=timezone.utc)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
    keys = ("_version", "_change", "_row_id")
    want = _sorted(table.changes(1).to_pylist(), *keys)
    for args in (f"'{v1.id[:10]}'", f"TIMESTAMP '{stamp}'", f"TIMESTAMP '{stamp}', now()",
                 f"'{v1.id}', 'v2.0'"):
        got = wh.sql(f"SELECT * FROM table_changes('events', {args})").to_pylist()
        expected = want if "v2.0" not in args else _sorted(
            table.changes(1, "v2.0").to_pylist(), *keys)
        assert _sorted(got, *keys) == expected, args


def test_history_joins_tables_at_any_version(wh: tv.Warehouse) -> None:
    # rows deleted since v1.0, with the message of the commit that deleted them
    got = wh.sql(
        "SELECT c.id, s.message FROM table_changes('events', 'v1.0') c "
        "JOIN snapshots('events') s ON s.version = c._version "
        "WHERE c._change = 'delete' AND c.id NOT IN (SELECT id FROM events) ORDER BY c.id")
    assert got.to_pylist() == [{"id": 2, "message": "drop 2"}]
    # the tagged versions' row counts, counted from the tables themselves
    got = wh.sql(
        "SELECT g.name, (SELECT count(*) FROM events VERSION AS OF 'v1.0') AS n1, "
        "(SELECT count(*) FROM events AT (VERSION => 3)) AS n3 "
        "FROM tags('events') g WHERE g.version = 1")
    assert got.to_pylist() == [{"name": "v1.0", "n1": 4, "n3": 3}]
    # in a CTE, with a table of the same column name, and an alias
    got = wh.sql(
        "WITH h AS (SELECT version FROM snapshots('events') WHERE operation = 'append') "
        "SELECT count(*) AS n FROM h JOIN snapshots('events') AS s USING (version)")
    assert got.to_pylist() == [{"n": 2}]


def test_history_feeds_writes(wh: tv.Warehouse) -> None:
    wh.sql("INSERT INTO other SELECT version FROM snapshots('events') WHERE tags <> []")
    assert sorted(wh.sql("SELECT * FROM other").column("version").to_pylist()) == [1, 3]
    wh.sql("CREATE TABLE audit AS "
           "SELECT * RENAME (_row_id AS source_row) FROM table_changes('events', 0)")
    assert wh.sql("SELECT count(*) AS n FROM audit").to_pylist() == [
        {"n": wh.table("events").changes(0).num_rows}]


def test_table_sql_has_the_history_of_its_own_table(wh: tv.Warehouse) -> None:
    table = wh.table("events")
    assert table.sql("SELECT max(version) AS v FROM snapshots('t')").to_pylist() == [{"v": 4}]
    with pytest.raises(TableNotFoundError):
        table.sql("SELECT * FROM snapshots('other')")


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT * FROM snapshots('nosuch')", TableNotFoundError),
        ("SELECT * FROM snapshots(events)", InvalidPredicateError),
        ("SELECT * FROM snapshots()", InvalidPredicateError),
        ("SELECT * FROM tags('events', 1)", InvalidPredicateError),
        ("SELECT * FROM table_changes('events')", InvalidPredicateError),
        ("SELECT * FROM table_changes('events', 1, 2, 3)", InvalidPredicateError),
        ("SELECT * FROM table_changes('events', 'nosuch')", RefNotFoundError),
        ("SELECT * FROM table_changes('events', 3, 1)", RefNotFoundError),
        ("SELECT * FROM table_changes('events', (SELECT 1))", InvalidPredicateError),
        ("SELECT * FROM main.snapshots('events')", InvalidPredicateError),
        ("SELECT * FROM events e, LATERAL snapshots('events')", InvalidPredicateError),
        ("SELECT snapshots('events')", InvalidPredicateError),
    ],
)
def test_history_errors(wh: tv.Warehouse, sql: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        wh.sql(sql)


# ------------------------------------------------------------------------ _row_id


@pytest.mark.parametrize(
    ("clause", "ref"),
    [("", None), ("VERSION AS OF 1", 1), ("VERSION AS OF 'v2.0'", "v2.0"),
     ("AT (VERSION => 2)", 2), ("FOR VERSION AS OF 3", 3), ("TIMESTAMP AS OF now()", None)],
)
def test_row_id_is_a_hidden_column(wh: tv.Warehouse, clause: str, ref: object) -> None:
    got = wh.sql(f"SELECT _row_id, * FROM events {clause}")
    want = wh.table("events").as_of(ref).to_arrow(with_row_id=True)  # type: ignore[arg-type]
    assert got.schema.names == ["_row_id", "id", "label"]
    assert _sorted(got.to_pylist(), "_row_id") == _sorted(want.to_pylist(), "_row_id")
    # a star alone never shows it, even when the query names it elsewhere
    assert wh.sql(f"SELECT * FROM events {clause}").schema.names == ["id", "label"]
    assert wh.sql(f"SELECT * FROM events {clause} WHERE _row_id >= 0").schema.names == [
        "id", "label"]
    assert wh.sql(f"SELECT e.* FROM events {clause} e WHERE e._row_id >= 0").schema.names == [
        "id", "label"]


def test_row_id_follows_a_row_across_versions(wh: tv.Warehouse) -> None:
    got = wh.sql(
        "SELECT old._row_id, old.label AS before, new.label AS after "
        "FROM events VERSION AS OF 'v1.0' old JOIN events new USING (_row_id) "
        "WHERE old.label IS DISTINCT FROM new.label")
    assert got.to_pylist() == [{"_row_id": 2, "before": "c", "after": "B"}]
    star = wh.sql("SELECT * FROM events VERSION AS OF 1 a JOIN events b ON a._row_id = b._row_id "
                  "WHERE a.id = 1")
    assert star.schema.names == ["id", "label", "id", "label"]
    # the change feed's own _row_id is a real column: a star shows it
    feed = wh.sql("SELECT * FROM table_changes('events', 1) c JOIN events e USING (id) "
                  "WHERE e._row_id IS NOT NULL")
    assert "_row_id" in feed.schema.names


def test_row_id_selects_rows_by_id(wh: tv.Warehouse) -> None:
    got = wh.sql("SELECT id FROM events WHERE _row_id IN (0, 4) ORDER BY id")
    assert got.column("id").to_pylist() == [1, 5]
    assert wh.sql("SELECT min(_row_id) AS m FROM events").to_pylist() == [{"m": 0}]
