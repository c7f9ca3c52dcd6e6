"""append(schema_mode="merge"): new nullable columns and int/float widening, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv

NARROW = pa.schema([("id", pa.int32()), ("score", pa.float32()), ("label", pa.string())])


@pytest.fixture
def narrow(path: str) -> tv.Table:
    t = tv.create(path, schema=NARROW)
    t.append(pa.table({"id": pa.array([1, 2], pa.int32()),
                       "score": pa.array([0.5, None], pa.float32()), "label": ["a", "b"]}))
    return t


@pytest.fixture
def evolved(narrow: tv.Table) -> tv.Table:
    """Version 2 widens id and score and adds a column 'source'."""
    narrow.append(
        pa.table({"id": pa.array([3], pa.int64()), "score": pa.array([0.25], pa.float64()),
                  "label": ["c"], "source": ["web"]}),
        schema_mode="merge", message="wider",
    )
    return narrow


WIDE = pa.schema([("id", pa.int64()), ("score", pa.float64()), ("label", pa.string()),
                  ("source", pa.string())])
ROWS = [
    {"id": 1, "score": 0.5, "label": "a", "source": None},
    {"id": 2, "score": None, "label": "b", "source": None},
    {"id": 3, "score": 0.25, "label": "c", "source": "web"},
]


def by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: r["id"])


def test_merge_adds_nullable_columns_and_widens(evolved: tv.Table) -> None:
    s = evolved.latest()
    assert s.schema == WIDE
    assert s.schema.field("source").nullable
    assert s.to_arrow().schema == WIDE
    assert by_id(s.to_arrow().to_pylist()) == ROWS


def test_old_snapshots_read_with_their_own_schema(evolved: tv.Table, path: str) -> None:
    old = tv.open(path).as_of(1)
    assert old.schema == NARROW
    got = old.to_arrow()
    assert got.schema == NARROW
    assert by_id(got.to_pylist()) == [{"id": 1, "score": 0.5, "label": "a"},
                                      {"id": 2, "score": None, "label": "b"}]
    assert old.lazy().collect().columns == ["id", "score", "label"]


def test_every_reader_sees_the_evolved_schema(evolved: tv.Table) -> None:
    s = evolved.latest()
    assert by_id(s.to_polars().to_dicts()) == ROWS
    assert by_id(s.lazy().collect().to_dicts()) == ROWS
    rel = s.relation()
    assert by_id([dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]) == ROWS
    assert s.sql("SELECT count(source) AS n FROM t").to_pylist() == [{"n": 1}]
    assert s.to_arrow(where="source IS NULL").column("id").to_pylist() == [1, 2]
    assert s.to_arrow(columns=["source"], where="id > 2").to_pylist() == [{"source": "web"}]


def test_row_level_changes_on_evolved_tables(evolved: tv.Table) -> None:
    s = evolved.update({"source": "'backfill'"}, where="source IS NULL")
    assert sorted(s.to_arrow().column("source").to_pylist()) == ["backfill", "backfill", "web"]
    s = evolved.delete("source = 'web'")
    assert s.to_arrow().column("id").to_pylist() == [1, 2]
    assert s.lazy().collect().get_column("source").to_list() == ["backfill", "backfill"]


def test_strict_appends_after_merge_use_the_new_schema(evolved: tv.Table) -> None:
    s = evolved.append(pa.table({"id": pa.array([4], pa.int32()), "score": [1.0],
                                 "label": ["d"], "source": ["app"]}))
    assert s.schema == WIDE and s.num_rows == 4
    with pytest.raises(tv.SchemaMismatchError, match="source"):
        evolved.append(pa.table({"id": [5], "score": [1.0], "label": ["e"]}))


def test_merge_may_omit_nullable_columns(evolved: tv.Table) -> None:
    s = evolved.append(pa.table({"id": [9], "label": ["z"]}), schema_mode="merge")
    assert s.to_arrow(where="id = 9").to_pylist() == [
        {"id": 9, "score": None, "label": "z", "source": None}
    ]


@pytest.mark.parametrize(
    ("data", "columns"),
    [
        (pa.table({"id": ["x"], "score": [0.1], "label": ["a"]}), ["id"]),
        (pa.table({"id": pa.array([1], pa.int32()), "score": ["high"], "label": [7]}),
         ["score", "label"]),
        (pa.table({"id": [1.5], "score": [0.1], "label": ["a"]}), ["id"]),
        (pa.table({"id": pa.array([1], pa.int32()), "_row_id": [1]}), ["_row_id"]),
    ],
)
def test_anything_else_is_a_schema_mismatch_naming_the_columns(
    narrow: tv.Table, path: str, files: Any, data: pa.Table, columns: list[str]
) -> None:
    before, on_disk = narrow.latest(), files(path)
    with pytest.raises(tv.SchemaMismatchError) as info:
        narrow.append(data, schema_mode="merge")
    assert sorted(info.value.columns) == sorted(columns)
    for c in columns:
        assert repr(c) in str(info.value)
    assert narrow.latest().id == before.id and files(path) == on_disk


def test_narrowing_is_refused(evolved: tv.Table) -> None:
    with pytest.raises(tv.SchemaMismatchError, match="id"):
        evolved.append(pa.table({"id": [2**40], "score": [1.0], "label": ["a"],
                                 "source": [None]}).cast(
            pa.schema([("id", pa.float64()), ("score", pa.float64()), ("label", pa.string()),
                       ("source", pa.string())])), schema_mode="merge")
    assert evolved.latest().schema.field("id").type == pa.int64()


def test_bad_schema_mode(narrow: tv.Table) -> None:
    with pytest.raises(ValueError):
        narrow.append(pa.table({"id": [1]}), schema_mode="loose")  # type: ignore[arg-type]


def test_column_names_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    """SQL and DuckDB do not tell ``a`` from ``A``: such a table would mix them up."""
    with pytest.raises(tv.SchemaMismatchError, match="differ only in case: a, A"):
        tv.create(tmp_path / "t", schema=pa.schema([("a", pa.int64()), ("A", pa.int64())]))
    assert not (tmp_path / "t" / "_tablever").exists()
    t = tv.create(tmp_path / "u", schema=pa.schema([("id", pa.int64())]))
    before = t.latest().version
    with pytest.raises(tv.SchemaMismatchError, match="ID"):
        t.append(pa.table({"id": [1], "ID": [2]}), schema_mode="merge")
    assert t.latest().version == before and t.latest().schema.names == ["id"]
