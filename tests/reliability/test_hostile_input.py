"""Scenarios 13 and 14: hostile names and SQL that tries to leave the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tablever as tv

from .helpers import SCHEMA, check_table, rows, tree_state, watch_outside

# --- 13. names -------------------------------------------------------------------

BAD_NAMES = [
    "..", ".", "../x", "a/../b", "a/b", "a/", "/abs", "a\\b", "..\\x", "a\x00b", "\x00",
    "x" * 129, "", " ", ".hidden", "-dash", "a..b", "a b", "ü", "a\nb", "tags/../../x",
]


def test_hostile_names(tmp_path: Path) -> None:
    wh_path = tmp_path / "wh"
    wh = tv.Warehouse(wh_path)
    t = wh.create("events", schema=SCHEMA)
    t.append(rows(range(10)), message="a")
    before = tree_state(tmp_path)
    tried = 0
    with watch_outside(tmp_path, wh_path) as w:
        for bad in BAD_NAMES:
            for _verb, fn in (
                ("tag", lambda b=bad: t.tag(b)),
                ("run", lambda b=bad: t.link_run(b, model="m")),
                ("delete_tag", lambda b=bad: t.delete_tag(b)),
                ("table", lambda b=bad: wh.table(b)),
                ("create", lambda b=bad: wh.create(b, schema=SCHEMA)),
            ):
                with pytest.raises(tv.InvalidNameError):
                    fn()
                tried += 1
            # As a ref it is no tag name: never looked up as a file.
            with pytest.raises(tv.TableverError):
                t.as_of(bad)
    assert not w.hits, w.hits[:5]
    with pytest.raises(tv.InvalidNameError):
        tv.create(str(tmp_path / "a\x00b"), schema=SCHEMA)
    assert tree_state(tmp_path) == before, "a hostile name wrote something"
    # The longest legal names work.
    longest = "a" * 128
    t.tag(longest)
    t.link_run(longest, model="m")
    wh.create(longest, schema=SCHEMA)
    assert longest in t.tags() and longest in wh.tables()
    check_table(wh_path / "events")
    print(f"\n[names] {tried} hostile tag/run/table names ({len(BAD_NAMES)} names x 5 verbs) "
          "-> InvalidNameError, nothing written; 128-character names accepted")


# --- 14. the SQL sandbox ---------------------------------------------------------

ESCAPES = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_csv(['/etc/passwd'])",
    "FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM read_json('/etc/passwd')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM parquet_schema('{other}')",
    "SELECT * FROM read_parquet('{other}')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM '{other}'",
    'SELECT * FROM "/etc/passwd"',
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM {t}, read_text('/etc/passwd')",
    "WITH x AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM x",
    "SELECT (SELECT content FROM read_text('/etc/passwd'))",
    "SELECT * FROM {t} WHERE id IN (SELECT length(content) FROM read_text('/etc/passwd'))",
    "SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')')",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM pragma_version()",
    "COPY {t} TO '{out}'",
    "COPY (SELECT 1) TO '{out}'",
    "COPY {t} FROM '/etc/passwd'",
    "EXPORT DATABASE '{outdir}'",
    "ATTACH '{db}' AS x",
    "ATTACH ':memory:' AS x",
    "DETACH x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "FORCE INSTALL httpfs",
    "SET enable_external_access = true",
    "SET allowed_directories = ['/']",
    "RESET enable_external_access",
    "PRAGMA enable_profiling",
    "PRAGMA database_list",
    "CALL pragma_version()",
    "CREATE TEMP TABLE x AS SELECT 1",
    "CREATE VIEW x AS SELECT 1",
    "CREATE VIEW v AS SELECT * FROM read_text('/etc/passwd')",
    "CREATE MACRO m() AS TABLE SELECT * FROM read_text('/etc/passwd')",
    "SELECT 1; COPY (SELECT 1) TO '{out}'",
    "DROP VIEW {t}",  # DROP TABLE is a supported (versioned) statement of Warehouse.sql
    "DROP TABLE {t} CASCADE",
    "MERGE INTO {t} USING (SELECT * FROM read_text('/etc/passwd')) AS s ON true "
    "WHEN NOT MATCHED THEN INSERT BY NAME",
    "CHECKPOINT",
    "VACUUM",
    "INSERT INTO {t} SELECT 1, content FROM read_text('/etc/passwd')",
    "DELETE FROM {t} WHERE id IN (SELECT length(content) FROM read_text('/etc/passwd'))",
    "UPDATE {t} SET label = (SELECT content FROM read_text('/etc/passwd'))",
    "INSERT INTO {t} VALUES (1, 'x'); DROP TABLE {t}",
]
PREDICATES = [
    "id IN (SELECT length(content) FROM read_text('/etc/passwd'))",
    "length(read_text('/etc/passwd')) > 0",
    "EXISTS (SELECT 1 FROM read_csv('/etc/passwd'))",
    "id = 1; COPY (SELECT 1) TO '/tmp/x'",
    "(SELECT count(*) FROM glob('/etc/*')) > 0",
]


def test_sql_sandbox(tmp_path: Path) -> None:
    wh_path = tmp_path / "wh"
    wh = tv.Warehouse(wh_path)
    events = wh.create("events", schema=SCHEMA)
    events.append(rows(range(10)), message="a")
    other = wh.create("other", schema=SCHEMA)
    other.append(rows(range(100, 105)), message="secret")
    other_file = str(wh_path / "other" / other.latest().files[0])
    subs = {"other": other_file, "out": str(tmp_path / "out.csv"),
            "outdir": str(tmp_path / "export"), "db": str(tmp_path / "x.db")}
    snap = events.latest()
    before = tree_state(tmp_path)
    passwd = os.stat("/etc/passwd").st_mtime_ns
    ok_query = "SELECT count(*) AS n, sum(id) AS s FROM {t}"
    want = [{"n": 10, "s": 45}]
    refused = 0
    runners = (
        ("Warehouse.sql", "events", lambda q: wh.sql(q)),
        ("Table.sql", "t", lambda q: events.sql(q)),
        ("Snapshot.sql", "t", lambda q: snap.sql(q)),
    )
    for name, t, run in runners:
        for escape in ESCAPES:
            q = escape.format(t=t, **subs)
            with pytest.raises(tv.TableverError):
                run(q)
            refused += 1
            assert run(ok_query.format(t=t)).to_pylist() == want, f"{name} broke after {q!r}"
    for pred in PREDICATES:
        for fn in (lambda p=pred: events.delete(p),
                   lambda p=pred: events.update({"label": "'x'"}, p),
                   lambda p=pred: events.filter(p),
                   lambda p=pred: snap.to_arrow(where=p),
                   lambda p=pred: events.update({"label": f"CAST(({p}) AS VARCHAR)"})):
            with pytest.raises(tv.TableverError):
                fn()
            refused += 1
    assert tree_state(tmp_path) == before, "a refused statement wrote something"
    assert os.stat("/etc/passwd").st_mtime_ns == passwd
    assert events.latest().version == 1 and other.latest().version == 1
    assert wh.sql("SELECT count(*) AS n FROM events VERSION AS OF 1").to_pylist() == [{"n": 10}]
    check_table(wh_path / "events")
    print(f"\n[sql sandbox] {refused} escapes refused with a TableverError ({len(ESCAPES)} "
          f"statements x 3 entry points + {len(PREDICATES)} predicates x 5 writes/reads); "
          "nothing written; queries still worked after each")
