"""Warehouse.sql: every time-travel syntax against the Python API's answer, DML, sandbox."""

from __future__ import annotations

import contextlib
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tablever as tv

pytestmark = pytest.mark.storages  # each test on the local disk and on S3

SCHEMA = pa.schema([("id", pa.int64()), ("label", pa.string()), ("confidence", pa.float64())])


def rows(ids: list[int], label: str = "cat") -> pa.Table:
    return pa.table({"id": ids, "label": [label] * len(ids),
                     "confidence": [i / 10 for i in ids]}, schema=SCHEMA)


@pytest.fixture()
def wh(path: str) -> tv.Warehouse:
    w = tv.Warehouse(path.rsplit("/", 1)[0] + "/wh")  # the folder of tmp_path / "wh"
    events = w.create("events", schema=SCHEMA)
    events.append(rows([1, 2, 3]), message="v1")
    events.tag("v1.0")
    time.sleep(0.01)
    events.append(rows([4, 5, 6, 7, 8, 9], "dog"), message="v2")
    events.delete("confidence < 0.3", message="v3")
    events.tag("v2.0")
    users = w.create("users", schema=pa.schema([("id", pa.int64()), ("name", pa.string())]))
    users.append(pa.table({"id": [1, 4, 9], "name": ["ann", "bo", "cy"]}), message="u1")
    return w


def ids_of(table: pa.Table, col: str = "id") -> list[int]:
    return sorted(table.column(col).to_pylist())


def py_ids(w: tv.Warehouse, ref: object) -> list[int]:
    return ids_of(w.table("events").as_of(ref).to_arrow())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("clause", "ref"),
    [
        ("VERSION AS OF 1", 1),
        ("VERSION AS OF 'v1.0'", "v1.0"),
        ("VERSION AS OF 'v2.0'", "v2.0"),
        ("FOR VERSION AS OF 2", 2),
        ("AT (VERSION => 1)", 1),
        ("", None),
    ],
)
def test_version_syntaxes_match_python(wh: tv.Warehouse, clause: str, ref: object) -> None:
    got = wh.sql(f"SELECT id FROM events {clause}")
    assert ids_of(got) == py_ids(wh, ref)


def test_version_by_id_prefix(wh: tv.Warehouse) -> None:
    snap = wh.table("events").as_of(2)
    got = wh.sql(f"SELECT id FROM events VERSION AS OF '{snap.id[:10]}'")
    assert ids_of(got) == py_ids(wh, 2)


@pytest.mark.parametrize(
    "template",
    [
        "SELECT id FROM events TIMESTAMP AS OF '{ts}'",
        "SELECT id FROM events FOR TIMESTAMP AS OF TIMESTAMP '{ts}'",
        "SELECT id FROM events FOR SYSTEM_TIME AS OF '{ts}'",
        "SELECT id FROM events AT (TIMESTAMP => '{ts}')",
    ],
)
def test_timestamp_syntaxes_match_python(wh: tv.Warehouse, template: str) -> None:
    v1 = wh.table("events").as_of("v1.0")
    ts = datetime.fromtimestamp(v1.timestamp_ms / 1000, tz=timezone.utc)
    text = ts.strftime("%Y-%m-%d %H:%M:%S.%f")
    got = wh.sql(template.format(ts=text))
    assert ids_of(got) == py_ids(wh, ts) == [1, 2, 3]


def test_two_versions_except_and_join_give_the_diff(wh: tv.Warehouse) -> None:
    events = wh.table("events")
    removed = wh.sql("SELECT id FROM events VERSION AS OF 'v1.0' "
                     "EXCEPT SELECT id FROM events VERSION AS OF 'v2.0'")
    added = wh.sql("SELECT b.id FROM events VERSION AS OF 'v2.0' b "
                   "LEFT JOIN events VERSION AS OF 'v1.0' a ON a.id = b.id WHERE a.id IS NULL")
    d = events.diff("v1.0", "v2.0")
    assert ids_of(removed) == ids_of(d.removed) == [1, 2]
    assert ids_of(added) == ids_of(d.added) == [4, 5, 6, 7, 8, 9]


def test_cte_subquery_and_join_across_tables(wh: tv.Warehouse) -> None:
    got = wh.sql(
        "WITH old AS (SELECT * FROM events VERSION AS OF 1) "
        "SELECT u.name FROM users u WHERE u.id IN (SELECT id FROM old) ORDER BY 1"
    )
    assert got.column("name").to_pylist() == ["ann"]


@pytest.mark.parametrize("sql, expected", [
    # the snapshots join the user's WITH list (plain, RECURSIVE), or start one
    ("WITH a AS (SELECT id FROM events VERSION AS OF 1), b AS (SELECT id FROM a) "
     "SELECT id FROM b", [1, 2, 3]),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
     "SELECT e.id FROM events VERSION AS OF 1 e JOIN r ON e.id = r.n", [1, 2, 3]),
    ("(SELECT id FROM events VERSION AS OF 1) UNION ALL (SELECT id FROM users)",
     [1, 1, 2, 3, 4, 9]),
    ("SELECT id FROM users WHERE id IN (WITH x AS (SELECT id FROM events) SELECT id FROM x)",
     [4, 9]),
    ("-- a comment first\n/* and another */ WITH a AS (SELECT id FROM events VERSION AS OF 1) "
     "SELECT id FROM a", [1, 2, 3]),
])
def test_snapshots_bind_around_the_users_own_ctes(
    wh: tv.Warehouse, sql: str, expected: list[int]
) -> None:
    assert ids_of(wh.sql(sql)) == expected


def test_errors_quote_the_users_query_not_the_file_lists(wh: tv.Warehouse) -> None:
    with pytest.raises(tv.InvalidPredicateError) as info:
        wh.sql("SELECT no_such_column FROM events")
    assert "no_such_column" in str(info.value)
    assert info.value.sql is not None and "read_parquet" not in info.value.sql


def test_other_dialect_is_transpiled(wh: tv.Warehouse) -> None:
    got = wh.sql("SELECT id FROM events FOR VERSION AS OF 1 LIMIT 10", dialect="trino")
    assert ids_of(got) == [1, 2, 3]


def test_dml_commits_one_version_each_and_returns_count(wh: tv.Warehouse) -> None:
    events = wh.table("events")
    before = events.latest().version
    out = wh.sql("INSERT INTO events VALUES (10, 'eel', 0.95), (11, 'eel', 0.15)")
    assert out.to_pylist() == [{"count": 2}]
    assert events.latest().version == before + 1
    assert wh.sql("DELETE FROM events WHERE confidence < 0.5").to_pylist() == [{"count": 3}]
    out = wh.sql("UPDATE events SET label = 'big' WHERE id >= 9", message="relabel")
    assert out.to_pylist() == [{"count": 2}]
    latest = events.latest()
    assert latest.version == before + 3 and latest.message == "relabel"
    assert sorted(latest.to_arrow(where="label = 'big'").column("id").to_pylist()) == [9, 10]
    assert wh.sql("DELETE FROM events WHERE id = 12345").to_pylist() == [{"count": 0}]
    assert events.latest().version == before + 3
    insert_sel = wh.sql("INSERT INTO events SELECT * FROM events VERSION AS OF 'v1.0'")
    assert insert_sel.to_pylist() == [{"count": 3}]


def test_dml_on_a_version_is_refused(wh: tv.Warehouse) -> None:
    before = wh.table("events").latest().version
    with pytest.raises(tv.InvalidPredicateError, match="past version"):
        wh.sql("DELETE FROM events AT (VERSION => 1) WHERE id = 1")
    assert wh.table("events").latest().version == before


def test_unknown_table_and_version_name_what_exists(wh: tv.Warehouse) -> None:
    with pytest.raises(tv.TableNotFoundError, match="events, users"):
        wh.sql("SELECT * FROM evnts")
    with pytest.raises(tv.RefNotFoundError, match="v1.0"):
        wh.sql("SELECT * FROM events VERSION AS OF 'v1.1'")


def test_parse_error_points_at_position(wh: tv.Warehouse) -> None:
    with pytest.raises(tv.InvalidPredicateError) as err:
        wh.sql("SELECT id FROM events WHERE (id = 1")
    assert err.value.line == 1 and err.value.col is not None


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "COPY (SELECT 1) TO 'out.csv'",
        "ATTACH 'x.db'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "PRAGMA version",
        "SELECT * FROM 'data.parquet'",
    ],
)
def test_sandbox_refuses_file_and_config_access(wh: tv.Warehouse, query: str,
                                                tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(tv.TableverError):
            wh.sql(query)
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "x.db").exists()
    assert ids_of(wh.sql("SELECT id FROM events VERSION AS OF 1")) == [1, 2, 3]


def test_snapshot_sql_names_the_snapshot_t(wh: tv.Warehouse) -> None:
    snap = wh.table("events").as_of("v2.0")
    got = snap.sql("SELECT label, count(*) AS n FROM t GROUP BY label")
    assert sorted(got.to_pylist(), key=lambda r: r["label"]) == [
        {"label": "cat", "n": 1},
        {"label": "dog", "n": 6},
    ]
    with pytest.raises(tv.TableNotFoundError):
        snap.sql("SELECT * FROM users")


def test_table_sql_accepts_versions(wh: tv.Warehouse) -> None:
    events = wh.table("events")
    got = events.sql("SELECT count(*) AS n FROM t VERSION AS OF 'v1.0'")
    assert got.to_pylist() == [{"n": 3}]
    assert events.sql("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 7}]


@pytest.mark.disk
def test_tables_lists_only_tables(wh: tv.Warehouse, tmp_path: Path) -> None:
    (tmp_path / "wh" / "not-a-table").mkdir()
    assert wh.tables() == ["events", "users"]
    with pytest.raises(tv.InvalidNameError):
        wh.table("../events")


def test_a_database_opened_ahead_is_sandboxed(wh: tv.Warehouse) -> None:
    """After the first query a new database is opened ahead for the next set of files;
    it is locked down like any sandbox. Around a fork the opening is let finish, and
    the child starts its own (it never closes the parent's)."""
    from tablever.query import engine

    events = wh.table("events")
    assert ids_of(events.sql("SELECT id FROM t")) == [3, 4, 5, 6, 7, 8, 9]
    assert engine._SPARE.next is not None  # one is being opened
    conn = engine.cached_sandbox(["/nonexistent/a.parquet"])  # a new file set takes it
    with pytest.raises(Exception, match="(?i)permission|disabled|not allowed"):
        conn.sql("SELECT * FROM read_csv('/etc/passwd')").fetchall()
    with pytest.raises(Exception, match="(?i)lock|configuration"):
        conn.execute("SET enable_external_access = true")
    pending = engine._SPARE.next
    assert pending is not None
    engine._SPARE.settle()  # what os.fork runs first
    assert pending.done()
    kept = len(engine._INHERITED)
    engine._SPARE.forget()  # what a forked child runs
    assert engine._SPARE.next is None and engine._SPARE.pool is None
    assert len(engine._INHERITED) == kept + 1
    assert ids_of(wh.sql("SELECT id FROM events VERSION AS OF 1")) == [1, 2, 3]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FROM events",
        "select COUNT() from events VERSION AS OF 'v1.0'",
        "SELECT count(*) AS n FROM events AS e VERSION AS OF 2",
        'SELECT count(*) "N" FROM events FOR VERSION AS OF 3',
        "SELECT count(*) FROM users",
    ],
)
def test_a_plain_count_comes_from_the_log_and_matches_duckdb(
    wh: tv.Warehouse, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare ``count(*)`` of one table is the snapshot's row count from its log (no file
    opened), with the column name and type DuckDB gives it."""
    import tablever.query.sandbox as sandbox

    fast = wh.sql(query)
    with pytest.MonkeyPatch.context() as scan:
        scan.setattr(sandbox, "_count_name", lambda tree: None)
        assert fast.equals(wh.sql(query)), (fast, wh.sql(query))
    monkeypatch.setattr(sandbox, "cached_sandbox", lambda paths: pytest.fail("scanned"))
    assert wh.sql(query).equals(fast)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FROM events WHERE id > 4",
        "SELECT count(*) FROM events LIMIT 0",
        "SELECT count(DISTINCT label) FROM events",
        "SELECT count(1) FROM events",
        "SELECT count(*) FROM events, users",
        "SELECT count(*) FROM events GROUP BY label",
        "SELECT count(*), 1 FROM events",
        "WITH events AS (SELECT 1 AS x) SELECT count(*) FROM events",
        "SELECT count(*) FROM events USING SAMPLE 50%",
        "SELECT count(* EXCLUDE (label)) FROM events",
        "SELECT count(*) FROM events AS e(a, b, c, d)",
        'SELECT count(*) AS "" FROM events',
        "SELECT count(*) FROM events ORDER BY 1",
    ],
)
def test_other_counts_still_run_in_duckdb(
    wh: tv.Warehouse, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tablever.query.sandbox as sandbox

    scanned: list[object] = []
    original = sandbox.cached_sandbox
    monkeypatch.setattr(sandbox, "cached_sandbox",
                        lambda paths: scanned.append(paths) or original(paths))
    with contextlib.suppress(tv.TableverError):  # DuckDB's own answer, an error too
        wh.sql(query)
    assert scanned, query


@pytest.mark.parametrize(("kind", "says"), [("data", "data file .* is missing"),
                                           ("vector", "deletion vector .* is missing")])
def test_a_count_from_the_log_still_needs_every_file(
    wh: tv.Warehouse, kind: str, says: str
) -> None:
    snap = wh.table("events").latest()
    (gone, *_) = snap.data_files if kind == "data" else snap.deletion_vectors
    wh.table("events").storage.delete(gone.path)
    with pytest.raises(tv.IntegrityError, match=says):
        wh.sql("SELECT count(*) FROM events")


def test_a_count_from_the_log_on_another_file_system_lists_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a non-local pyarrow file system the files are checked by one listing of
    data/ and deletes/, not a request per file."""
    import pyarrow.fs as pafs

    from tablever.storage import Storage

    t = tv.create(tmp_path / "t", schema=SCHEMA)
    for i in range(5):
        t.append(rows([i]))
    t.delete("id = 1")
    snap = tv.open("t", fs=pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())).latest()
    calls: list[str] = []
    original = Storage.size
    monkeypatch.setattr(Storage, "size", lambda self, rel: calls.append(rel) or original(self, rel))
    assert snap.sql("SELECT count(*) AS n FROM t").to_pylist() == [{"n": 4}]
    assert calls == []
    Path(tmp_path / "t" / snap.data_files[2].path).unlink()
    with pytest.raises(tv.IntegrityError, match="missing"):
        snap.sql("SELECT count(*) AS n FROM t")


@pytest.mark.parametrize("stmt", [
    'UPDATE T SET "FLAG" = 5, K = k + 1 WHERE flag IS NULL',
    "UPDATE t SET flag = 7",
    "INSERT INTO T (FLAG, K) VALUES (1, 2)",
    'DELETE FROM "T" WHERE FLAG = 3',
    "MERGE INTO T USING (SELECT 1 AS K, 9 AS FLAG) AS s ON T.k = s.K "
    "WHEN MATCHED THEN UPDATE SET FLAG = s.flag WHEN NOT MATCHED THEN INSERT BY NAME",
])
def test_names_match_in_any_case_as_in_duckdb(tmp_path: Path, stmt: str) -> None:
    conn = duckdb.connect()
    wh = tv.Warehouse(tmp_path / "wh")
    for run in (conn.execute, wh.sql):
        run('CREATE TABLE t (k INTEGER, "Flag" INTEGER)')
        run("INSERT INTO t VALUES (1, NULL), (2, 3)")
        run(stmt)
    want = conn.sql("SELECT * FROM t ORDER BY ALL").fetchall()
    got = wh.sql("SELECT * FROM t ORDER BY ALL")
    assert got.column_names == ["k", "Flag"]
    assert [tuple(r.values()) for r in got.to_pylist()] == want


@pytest.mark.parametrize("stmt", [
    "ALTER TABLE T ALTER COLUMN flag TYPE BIGINT",
    'ALTER TABLE t ALTER COLUMN "K" SET DATA TYPE BIGINT',
    "ALTER TABLE t ADD COLUMN IF NOT EXISTS FLAG INTEGER",
    "ALTER TABLE t ADD COLUMN IF NOT EXISTS z INTEGER",
    "UPDATE t SET flag = DEFAULT WHERE k = 2",
])
def test_alter_and_update_read_names_and_default_as_duckdb(tmp_path: Path, stmt: str) -> None:
    conn = duckdb.connect()
    wh = tv.Warehouse(tmp_path / "wh")
    for run in (conn.execute, wh.sql):
        run('CREATE TABLE t (k INTEGER, "Flag" SMALLINT)')
        run("INSERT INTO t VALUES (1, NULL), (2, 3)")
        run(stmt)
    want = conn.sql("SELECT * FROM t ORDER BY ALL").fetchall()
    got = wh.sql("SELECT * FROM t ORDER BY ALL")
    assert [tuple(r.values()) for r in got.to_pylist()] == want
    assert [r[:2] for r in conn.sql("DESCRIBE t").fetchall()] == [
        (r["column_name"], r["column_type"]) for r in wh.sql("DESCRIBE t").to_pylist()]


def test_pivot_over_files_with_deletes_matches_duckdb(tmp_path: Path) -> None:
    """A PIVOT DuckDB expands into several statements takes no bound parameters: a keep
    bitmap (rows deleted from one file) and a long file list are read from session
    variables there, and the result is DuckDB's over the same rows."""
    import duckdb

    schema = pa.schema([("k", pa.string()), ("v", pa.int64())])
    one = tv.create(str(tmp_path / "one"), schema=schema)
    one.append(pa.table({"k": ["a", "b", "c", "a"], "v": [1, 2, 3, 4]}), provenance=False)
    one.delete("v = 2")
    many = tv.create(str(tmp_path / "many"), schema=schema)
    for i in range(70):
        many.append(pa.table({"k": ["a", "b", "c"], "v": [i, 2 * i, 3 * i]}), provenance=False)
    many.delete("v % 7 = 0")
    sql = "SELECT * FROM (PIVOT {src} ON k USING sum(v)) ORDER BY ALL"
    for t in (one, many):
        got = t.latest().sql(sql.format(src="t"))
        con = duckdb.connect()
        con.register("ref", t.latest().to_arrow())
        want = con.sql(sql.format(src="ref")).arrow()
        want = want.read_all() if isinstance(want, pa.RecordBatchReader) else want
        assert got.to_pylist() == want.to_pylist()
