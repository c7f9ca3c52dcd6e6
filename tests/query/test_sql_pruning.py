"""SQL over one table prunes its files by min/max stats, without changing any answer.

Pruning is observed by removing the files a query must not need: a pruned query still
answers, an unpruned one reports the missing file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tablever as tv
from tablever.query import sandbox
from tablever.query.predicate import query_filter
from tablever.query.rewrite import parse
from tests.conftest import SCHEMA, make_batch


@pytest.fixture
def table(tmp_path: Path) -> tv.Table:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    for k in range(3):  # files holding ids 0-9, 10-19, 20-29
        t.append(make_batch(list(range(10 * k, 10 * k + 10))))
    return t


def _drop_all_but(table: tv.Table, keep: int) -> None:
    """Delete every data file of the latest version but the ``keep``-th."""
    for i, f in enumerate(table.latest().data_files):
        if i != keep:
            (Path(table.storage.full(f.path))).unlink()


@pytest.mark.parametrize("sql, expected", [
    ("SELECT id FROM t WHERE id = 15", [15]),
    ("SELECT e.id FROM t AS e WHERE e.id BETWEEN 12 AND 13 ORDER BY 1", [12, 13]),
    ("SELECT id FROM t WHERE id >= 18 AND label IS NOT NULL AND id < 20 ORDER BY id", [18, 19]),
    ("SELECT id FROM t WHERE id IN (11, 17) ORDER BY id", [11, 17]),
])
def test_a_query_reads_only_the_files_its_where_can_match(
    table: tv.Table, sql: str, expected: list[int]
) -> None:
    _drop_all_but(table, keep=1)
    snap = tv.open(table.storage.uri).latest()
    assert snap.sql(sql).column("id").to_pylist() == expected


def test_without_a_prunable_where_every_file_is_read(table: tv.Table) -> None:
    _drop_all_but(table, keep=1)
    snap = tv.open(table.storage.uri).latest()
    with pytest.raises(tv.IntegrityError):
        snap.sql("SELECT count(*) AS n FROM t WHERE id % 2 = 0")


def test_time_travel_queries_prune_the_version_they_read(table: tv.Table) -> None:
    first = table.as_of(1).data_files[0]
    for f in table.latest().data_files:
        if f.path != first.path:
            Path(table.storage.full(f.path)).unlink()
    out = table.sql("SELECT id FROM t VERSION AS OF 3 WHERE id < 2 ORDER BY id")
    assert out.column("id").to_pylist() == [0, 1]


def test_answers_are_unchanged_where_pruning_must_not_apply(table: tv.Table) -> None:
    snap = table.latest()
    # a select-list alias in WHERE (DuckDB binds it): never taken for a column
    assert snap.sql("SELECT id * 2 AS dbl FROM t WHERE dbl = 4").to_pylist() == [{"dbl": 4}]
    # OR across files, NOT, and a comparison with no stats help
    assert snap.sql("SELECT count(*) AS n FROM t WHERE id = 1 OR id = 25")["n"][0].as_py() == 2
    assert snap.sql("SELECT count(*) AS n FROM t WHERE NOT (id < 28)")["n"][0].as_py() == 2
    # a self-join reads the same snapshot twice: no pruning from one side's WHERE
    n = snap.sql("SELECT count(*) AS n FROM t a JOIN t b ON a.id = b.id + 20 WHERE a.id > 25")
    assert n["n"][0].as_py() == 4
    # deletes still apply to the files that are kept
    table.delete("id = 15")
    assert table.latest().sql("SELECT id FROM t WHERE id = 15").num_rows == 0


@pytest.mark.parametrize("sql", [
    "SELECT * FROM t JOIN u USING (id) WHERE id = 1",
    "SELECT * FROM t WHERE id IN (SELECT id FROM t)",
    "WITH c AS (SELECT * FROM t) SELECT * FROM c WHERE id = 1",
    "SELECT * FROM t WHERE id = 1 UNION ALL SELECT * FROM t",
    "SELECT count(*) FROM t",
    "SELECT * FROM t WHERE other.id = 1",
    "SELECT id + 1 AS label FROM t WHERE label = 'x'",
])
def test_only_the_plainest_shape_yields_a_filter(sql: str) -> None:
    assert query_filter(parse(sql), ["id", "label", "confidence"]) is None


def test_filter_keeps_own_columns_and_drops_the_rest() -> None:
    tree = parse("SELECT id AS k FROM t e WHERE e.id > 1 AND k = 4 AND (label = 'a' OR id < 0)")
    found = query_filter(tree, ["id", "label"])
    assert found is not None
    assert found.sql() == '"id" > 1 AND ("label" = \'a\' OR "id" < 0)'


# --- pruning compares literals the way DuckDB does ------------------------------------

_NS0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00 in ns

LITERAL_CASES = [
    # float32 columns: DuckDB rounds the literal to FLOAT
    (pa.schema([("v", pa.float32())]), {"v": pa.array([0.1, 0.9], pa.float32())},
     "v <= 0.1"),
    # ISO-looking text in a string column compares as text
    (pa.schema([("v", pa.string())]), {"v": ["2024-01-01 10:00", "2024-01-01T05:00"]},
     "v = '2024-01-01T05:00'"),
    (pa.schema([("v", pa.string())]),
     {"v": ["2024-01-01T10:00:00+05:00", "2024-01-01T06:00:00+00:00"]},
     "v = '2024-01-01T10:00:00+05:00'"),
    # dates DuckDB reads that are not plain ISO, and a time truncated to a date
    (pa.schema([("v", pa.date32())]), {"v": [dt.date(2024, 1, 1), dt.date(2024, 12, 1)]},
     "v > '2024-6-1'"),
    (pa.schema([("v", pa.date32())]), {"v": [dt.date(2024, 1, 1)]}, "v > 'epoch'"),
    (pa.schema([("v", pa.date32())]), {"v": [dt.date(2024, 1, 1)]},
     "v = '2024-01-01 10:00'"),
    # a timestamp without a zone against a literal with an offset, and 24:00
    (pa.schema([("v", pa.timestamp("us"))]), {"v": [dt.datetime(2023, 12, 31, 23, 59, 59)]},
     "v < '2024-01-01 00:00:00+01:00'"),
    (pa.schema([("v", pa.timestamp("us"))]), {"v": [dt.datetime(2024, 1, 1)]},
     "v = '2023-12-31 24:00:00'"),
    # nanoseconds beyond the microsecond bounds kept in the log
    (pa.schema([("v", pa.timestamp("ns"))]),
     {"v": pa.array([_NS0 - 1000, _NS0 + 500], pa.timestamp("ns"))},
     "v > '2024-01-01 00:00:00'"),
    # a zone-aware column: an offset literal is an instant
    (pa.schema([("v", pa.timestamp("us", tz="UTC"))]),
     {"v": [dt.datetime(2024, 1, 1, 9, tzinfo=dt.timezone.utc)]},
     "v = '2024-01-01 10:00:00+01:00'"),
]


@pytest.mark.parametrize("schema, columns, predicate", LITERAL_CASES)
def test_pruned_reads_and_deletes_agree_with_duckdb(
    tmp_path: Path, schema: pa.Schema, columns: dict[str, object], predicate: str
) -> None:
    t = tv.create(tmp_path / "t", schema=schema)
    t.append(pa.table(columns, schema=schema))
    snap = t.latest()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("rows", snap.to_arrow())
    want = con.sql(f"SELECT count(*) FROM rows WHERE {predicate}").fetchall()[0][0]
    assert want >= 1  # every case has a matching row that naive pruning would skip
    assert snap.sql(f"SELECT count(*) AS n FROM t WHERE {predicate}")["n"][0].as_py() == want
    assert snap.to_arrow(where=predicate).num_rows == want
    assert snap.num_rows - t.delete(predicate).num_rows == want


@pytest.mark.parametrize("sql", [
    "SELECT count(*) AS n FROM t TABLESAMPLE reservoir(10 ROWS) REPEATABLE (42) WHERE id >= 25",
    "SELECT count(*) AS n FROM t AS u(a, b) WHERE b = 'l1'",
    "SELECT count(*) AS n FROM t WHERE id BETWEEN SYMMETRIC 25 AND 5",
])
def test_shapes_whose_where_is_not_over_the_table_rows_are_not_pruned(
    table: tv.Table, sql: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = table.latest()
    pruned = snap.sql(sql).to_pylist()
    monkeypatch.setattr(sandbox, "query_filter", lambda *a, **k: None)
    assert pruned == snap.sql(sql).to_pylist()
    assert pruned[0]["n"] > 0


def test_columns_differing_only_in_case_are_never_used_to_prune() -> None:
    assert query_filter(parse("SELECT * FROM t WHERE a = 1"), ["a", "A"]) is None
