"""Schema changes as commits: add_column rewrites no file and never misreads history."""

from __future__ import annotations

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
