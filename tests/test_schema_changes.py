"""Schema changes as commits: add_column rewrites no file and never misreads history."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

import tablever as tv


@pytest.fixture
def table(path: str) -> tv.Table:
    t = tv.create(path, schema=pa.schema([("id", pa.int64()), ("label", pa.string())]))
    t.append(pa.table({"id": [1, 2, 3], "label": ["a", "b", "c"]}))
    return t


def test_add_column_reads_null_for_old_rows_on_every_path(table: tv.Table) -> None:
    before = table.latest().version
    s = table.add_column("score", pa.float64())
    assert s.version == before + 1 and s.operation == "add-column"
    assert s.schema == pa.schema([("id", pa.int64()), ("label", pa.string()),
                                  ("score", pa.float64())])
    table.append(pa.table({"id": [4], "label": ["d"], "score": [0.5]}))
    want = [(1, "a", None), (2, "b", None), (3, "c", None), (4, "d", 0.5)]
    snap = table.latest()
    rows = sorted(tuple(r.values()) for r in snap.to_arrow().to_pylist())
    assert rows == want
    assert sorted(snap.to_polars().rows()) == want
    assert sorted(snap.lazy().collect().rows()) == want
    assert sorted(snap.relation().fetchall()) == want
    added = table.diff(before, snap.version).added
    assert added.column("id").to_pylist() == [4] and added.column("score").to_pylist() == [0.5]
    changes = table.changes(before + 1, snap.version)
    assert changes.column("id").to_pylist() == [4]
    # DuckDB on the same rows is the reference
    ref = duckdb.sql("SELECT * FROM (VALUES (1,'a',NULL::DOUBLE),(2,'b',NULL),(3,'c',NULL),"
                     "(4,'d',0.5)) v(id,label,score) WHERE score IS NULL ORDER BY id").fetchall()
    got = table.sql(f"SELECT * FROM {table.name} WHERE score IS NULL ORDER BY id")
    assert [tuple(r.values()) for r in got.to_pylist()] == ref
    # the version before the change reads with its own schema
    old = table.as_of(before)
    assert old.schema.names == ["id", "label"]
    assert sorted(old.to_polars().rows()) == [(1, "a"), (2, "b"), (3, "c")]
    # reopened, and after compaction, the same rows
    again = tv.open_table(table.location)
    assert sorted(again.latest().to_polars().rows()) == want
    tv.compact(again)
    assert sorted(tv.open_table(table.location).latest().to_polars().rows()) == want
    assert isinstance(snap.to_polars(), pl.DataFrame)


def test_add_column_then_update_delete(table: tv.Table) -> None:
    table.add_column("n", pa.int32())
    table.update({"n": "7"}, "id = 2")
    table.delete("id = 3")
    assert sorted(table.latest().to_polars().rows()) == [(1, "a", None), (2, "b", 7)]


@pytest.mark.parametrize(("name", "nullable"), [
    ("label", True), ("LABEL", True), ("_row_id", True), ("__tv_x", True), ("new", False),
])
def test_add_column_errors_change_nothing(table: tv.Table, name: str, nullable: bool) -> None:
    head = table.latest()
    with pytest.raises(tv.SchemaMismatchError, match=name if name != "new" else "NOT NULL"):
        table.add_column(name, pa.int64(), nullable=nullable)
    assert table.latest().version == head.version and table.latest().id == head.id


def test_add_not_null_column_on_empty_table(path: str) -> None:
    t = tv.create(path, schema=pa.schema([("id", pa.int64())]))
    s = t.add_column("must", pa.string(), nullable=False)
    assert not s.schema.field("must").nullable
    with pytest.raises(tv.TableverError):
        t.add_column("x", "int64")  # type: ignore[arg-type]


@pytest.fixture
def narrow(path: str) -> tv.Table:
    t = tv.create(path, schema=pa.schema([("i", pa.int8()), ("f", pa.float32())]))
    t.append(pa.table({"i": pa.array([1, -2], pa.int8()), "f": pa.array([0.5, None], pa.float32())}))
    return t


@pytest.mark.parametrize("steps", [
    [pa.int16(), pa.int32(), pa.int64()], [pa.int64()], [pa.int32()],
])
def test_alter_column_widens_and_old_versions_keep_their_type(
        narrow: tv.Table, steps: list[pa.DataType]) -> None:
    first = narrow.latest().version
    for dtype in steps:
        narrow.alter_column("i", dtype)
    narrow.alter_column("f", pa.float64())
    narrow.append(pa.table({"i": pa.array([300], steps[-1]), "f": [1.25]}))
    snap = tv.open_table(narrow.location).latest()
    got = snap.to_arrow()
    assert got.schema.field("i").type == steps[-1] and got.schema.field("f").type == pa.float64()
    ref = duckdb.sql("SELECT * FROM (VALUES (1::TINYINT, 0.5::FLOAT), (-2, NULL), (300::INT, 1.25))"
                     " v(i, f) ORDER BY i").fetchall()
    assert sorted(snap.to_polars().rows()) == ref
    assert sorted(snap.lazy().collect().rows()) == ref
    assert sorted(snap.relation().fetchall()) == ref
    sql = narrow.sql(f"SELECT i, f FROM {narrow.name} WHERE i > 0 ORDER BY i")
    assert [tuple(r.values()) for r in sql.to_pylist()] == [x for x in ref if x[0] > 0]
    old = narrow.as_of(first).to_arrow()
    assert old.schema.field("i").type == pa.int8() and old.column("i").to_pylist() == [1, -2]
    tv.compact(narrow)
    assert sorted(tv.open_table(narrow.location).latest().to_polars().rows()) == ref


@pytest.mark.parametrize(("name", "dtype", "match"), [
    ("i", pa.int8(), None), ("i", pa.uint8(), "cannot change"), ("f", pa.float16(), "cannot change"),
    ("i", pa.float64(), "cannot change"), ("i", pa.string(), "cannot change"),
    ("nope", pa.int64(), "no column"), ("_row_id", pa.int64(), "no column"),
])
def test_alter_column_refusals_change_nothing(
        narrow: tv.Table, name: str, dtype: pa.DataType, match: str | None) -> None:
    narrow.alter_column("i", pa.int16())
    head = narrow.latest()
    if match is None:  # narrowing back
        match = "cannot change"
    with pytest.raises(tv.SchemaMismatchError, match=match):
        narrow.alter_column(name, dtype)
    assert narrow.latest().id == head.id
    # the same type again commits nothing
    assert narrow.alter_column("i", pa.int16()).version == head.version


def test_sql_alter_table_matches_duckdb(tmp_path: Path) -> None:
    wh = tv.Warehouse(str(tmp_path / "wh"))
    con = duckdb.connect()
    for q in ["CREATE TABLE e (id INTEGER, x FLOAT)", "INSERT INTO e VALUES (1, 0.5), (2, NULL)",
              "ALTER TABLE e ADD COLUMN note VARCHAR", "ALTER TABLE e ALTER COLUMN id TYPE BIGINT",
              "ALTER TABLE e ALTER COLUMN x SET DATA TYPE DOUBLE",
              "INSERT INTO e VALUES (3000000000, 1.5, 'n')"]:
        wh.sql(q)
        con.execute(q)
    got = wh.sql("SELECT * FROM e ORDER BY id")
    assert [tuple(r.values()) for r in got.to_pylist()] == con.sql(
        "SELECT * FROM e ORDER BY id").fetchall()
    assert got.schema.types == [pa.int64(), pa.float64(), pa.string()]
    old = wh.sql("SELECT * FROM e VERSION AS OF 1")
    assert old.schema.names == ["id", "x"] and old.schema.types == [pa.int32(), pa.float32()]
    head = wh.table("e").latest().id
    for q, err in [("ALTER TABLE e RENAME TO f", "not atomic"),
                   ("ALTER TABLE e ALTER COLUMN id TYPE INTEGER", "cannot change"),
                   ("ALTER TABLE e ADD COLUMN NOTE INTEGER", "in case|already"),
                   ("ALTER TABLE e ADD COLUMN must INTEGER NOT NULL", "NOT NULL"),
                   ("ALTER TABLE e DROP COLUMN nope", "no column 'nope'"),
                   ("ALTER TABLE e RENAME COLUMN x TO ID", "in case"),
                   ("ALTER TABLE e ADD CONSTRAINT c CHECK (id > 0)", "not supported"),
                   ("ALTER TABLE missing ADD COLUMN y INTEGER", "missing")]:
        with pytest.raises(tv.TableverError, match=err):
            wh.sql(q)
    assert wh.table("e").latest().id == head and wh.tables() == ["e"]


def test_cli_schema_add_and_alter(table: tv.Table) -> None:
    from tablever.cli import main

    def run(*args: str) -> int:
        try:
            main(list(args))
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    head = table.latest().version
    assert run("schema", "add", table.location, "n", "int32") == 0
    assert run("schema", "alter", table.location, "n", "int64") == 0
    assert run("schema", "alter", table.location, "n", "int16") != 0
    assert run("schema", "add", table.location, "label", "string") != 0
    t = tv.open_table(table.location)
    assert t.latest().version == head + 2
    assert t.schema.field("n").type == pa.int64()
    assert t.latest().to_arrow().column("n").to_pylist() == [None, None, None]
