"""Versions made of many small files: the work a read does per file (checks, scans) and
automatic compaction on append (``compact.auto_small_files``). Complexity guards, not
timings: each counts what is done, on real files, real DuckDB and real tables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import tablever as tv
import tablever.snapshot as snapshot_module
from tablever.query import engine, sandbox
from tablever.storage import Storage
from tests.conftest import SCHEMA, make_batch

AGG = ("SELECT label, count(*) AS n, sum(id) AS s, max(confidence) AS m "
       "FROM {src} GROUP BY label ORDER BY label")


def _many(path: Path, files: int, *, rows: int = 3, **kw: Any) -> tv.Table:
    t = tv.create(path, schema=SCHEMA, **kw)
    for i in range(files):
        t.append(make_batch(list(range(i * rows, (i + 1) * rows))))
    return t


@pytest.fixture(scope="module")
def three_hundred(tmp_path_factory: pytest.TempPathFactory) -> tv.Table:
    return _many(tmp_path_factory.mktemp("small") / "t", 300)


class _Count:
    """Calls of a real function, wrapped (it still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
        self.calls: list[tuple[Any, ...]] = []
        real = getattr(owner, name)

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(args)
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)


def _reference(snap: tv.Snapshot, sql: str) -> list[tuple[Any, ...]]:
    """``sql`` run by plain DuckDB over the rows of ``snap`` (read with pyarrow)."""
    conn = duckdb.connect()
    conn.register("rows", snap.to_arrow())
    return conn.sql(sql.format(src="rows")).fetchall()


def test_sql_over_300_files_checks_each_once_in_one_scan(
    three_hundred: tv.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process's first SQL read of a 300-file version: one check pass that reads
    each data file once, and one DuckDB scan (a single read_parquet, no per-file
    relation, no schema reconciling) for all 300."""
    tv.clear_caches()  # as a new process: nothing verified yet
    snap = tv.open(three_hundred.location).latest()
    assert len(snap.files) == 300
    passes = _Count(monkeypatch, snapshot_module, "ensure_verified")
    reads = _Count(monkeypatch, Storage, "read_bytes")
    sent = _Count(monkeypatch, sandbox, "run_sql")
    got = snap.sql(AGG.format(src="t"))
    assert len(passes.calls) == 1
    data_reads = [a[1] for a in reads.calls if str(a[1]).startswith("data/")]
    assert sorted(data_reads) == sorted(snap.files)  # each file once
    (sql,) = [a[1] for a in sent.calls]
    assert len(re.findall(r"read_parquet\(", sql)) == 1
    assert "union_by_name" not in sql and "UNION ALL" not in sql
    # Checked files are not read again by the next query.
    reads.calls.clear()
    snap.sql("SELECT count(DISTINCT id) AS n FROM t")
    assert not [a for a in reads.calls if str(a[1]).startswith("data/")]
    assert [tuple(r.values()) for r in got.to_pylist()] == _reference(snap, AGG)


def test_to_arrow_of_many_files_is_one_ordered_scan(
    three_hundred: tv.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """to_arrow of hundreds of files goes through one ordered DuckDB scan, rows in
    snapshot order with their row ids, the same table the pyarrow paths give."""
    import tablever.readers as readers

    snap = three_hundred.latest()
    plans = _Count(monkeypatch, engine, "plan_sql")
    got = snap.to_arrow(with_row_id=True)
    assert len(plans.calls) == 1
    assert got.column("_row_id").to_pylist() == list(range(900))
    assert got.column("id").to_pylist() == list(range(900))
    with readers.reading_with(duckdb_min_files=10_000, duckdb_min_rows=10**9):
        assert snap.to_arrow(with_row_id=True).equals(got)


def test_files_of_several_schemas_scan_once_per_schema(tmp_path: Path) -> None:
    """Files written before a column was added and after it: one scan per schema, none
    reconciling; the new column reads NULL for the old rows, as DuckDB over the same
    rows says."""
    t = _many(tmp_path / "t", 40)
    t.add_column("note", pa.string())
    for i in range(40, 80):
        t.append(make_batch([i]).append_column("note", pa.array([f"n{i}"])))
    snap = t.latest()
    sql = engine.plan_sql(snap.read_plan(), engine.default_connection())
    assert sql.count("read_parquet(") == 2 and "union_by_name" not in sql
    query = "SELECT count(*) AS n, count(note) AS notes, min(note) AS lo, sum(id) AS s FROM {src}"
    assert [tuple(r.values()) for r in snap.sql(query.format(src="t")).to_pylist()] == \
        _reference(snap, query)
    ordered = snap.to_arrow(with_row_id=True)
    assert ordered.column("_row_id").to_pylist() == sorted(ordered.column("_row_id").to_pylist())
    assert ordered.column("note").null_count == 120


def test_deletes_over_many_files_read_exactly(three_hundred: tv.Table, tmp_path: Path) -> None:
    """Deletion vectors on many of the files: SQL, to_arrow and where= agree with DuckDB
    over the surviving rows; dirty files are one scan, clean ones another."""
    t = tv.open(three_hundred.location)
    snap = t.as_of(300)
    copy = tv.create(tmp_path / "d", schema=SCHEMA)
    for v in range(1, 301):
        copy.append(t.as_of(v).to_arrow().slice((v - 1) * 3, 3))
    deleted = copy.delete("id % 5 = 0")
    live = [i for i in range(900) if i % 5]
    assert sorted(deleted.to_arrow().column("id").to_pylist()) == live
    sql = engine.plan_sql(deleted.read_plan(), engine.default_connection())
    assert sql.count("read_parquet(") == 2  # files with deletes; files without
    got = deleted.sql(AGG.format(src="t")).to_pylist()
    assert [tuple(r.values()) for r in got] == _reference(deleted, AGG)
    assert deleted.to_arrow(where="id < 100").num_rows == len([i for i in live if i < 100])
    assert snap.num_rows == 900


def test_auto_compaction_bounds_small_files_and_keeps_every_version(tmp_path: Path) -> None:
    """500 tiny appends with compact.auto_small_files=16: the live small files stay at
    most 17 after every append; every version, compacted or not, reads exactly the
    rows (and row ids) a DuckDB reference table holds for it."""
    t = tv.create(tmp_path / "t", schema=SCHEMA, properties={"compact.auto_small_files": 16})
    ref = duckdb.connect()
    ref.execute("CREATE TABLE ref (v INTEGER, id BIGINT, label VARCHAR, confidence DOUBLE,"
                " rid BIGINT)")
    most = 0
    appends = []
    for i in range(500):
        snap = t.append(make_batch([2 * i, 2 * i + 1]))
        appends.append(snap.version)
        ref.executemany("INSERT INTO ref VALUES (?, ?, ?, ?, ?)",
                        [(snap.version, r["id"], r["label"], r["confidence"], 2 * i + k)
                         for k, r in enumerate(make_batch([2 * i, 2 * i + 1]).to_pylist())])
        most = max(most, len(t.latest().files))
    assert most <= 17
    history = {v.version: v.operation for v in t.history()}
    assert 20 < sum(op == "compact" for op in history.values()) < 500
    for v, op in sorted(history.items()):
        if v == 0:
            continue
        got = t.as_of(v).to_arrow(with_row_id=True)
        last_append = max(a for a in appends if a <= v)
        expected = ref.sql(
            f"SELECT id, label, confidence, rid FROM ref WHERE v <= {last_append} ORDER BY rid"
        ).fetchall()
        rows = sorted(zip(*(got.column(c).to_pylist()
                            for c in ("id", "label", "confidence", "_row_id")), strict=True),
                      key=lambda r: r[3])
        assert rows == expected, f"version {v} ({op})"
    latest = t.latest()
    assert latest.sql("SELECT count(*) AS n, sum(id) AS s FROM t").to_pylist() == [
        {"n": 1000, "s": sum(range(1000))}]


def test_auto_compaction_is_off_by_default_and_validated(tmp_path: Path) -> None:
    t = _many(tmp_path / "t", 20, rows=1)
    assert len(t.latest().files) == 20
    assert {v.operation for v in t.history()} == {"create", "append"}
    before = t.latest().version
    for bad in (-1, "many", True, 2.5):
        with pytest.raises(tv.TableverError, match="compact.auto_small_files"):
            t.set_properties({"compact.auto_small_files": bad})
    assert t.latest().version == before
    t.set_properties({"compact.auto_small_files": "4"})
    t.append(make_batch([100]))
    assert len(t.latest().files) == 1 and t.latest().operation == "compact"
    assert t.latest().to_arrow().column("id").to_pylist() == [*range(20), 100]


def test_schema_known_from_footer_bytes_matches_the_file(tmp_path: Path) -> None:
    """The schema a check records from a file's bytes is the one pyarrow reads from the
    file, for files written alike (one footer parse shared) and for other types."""
    import pyarrow.parquet as pq

    from tablever.write import file_schema

    def read(path: str) -> tuple[tuple[str, str], ...]:
        return tuple((f.name, str(f.type)) for f in pq.read_schema(path))

    schemas = [
        pa.schema([("a", pa.int32()), ("b", pa.float32())]),
        pa.schema([("a", pa.int64()), ("b", pa.float64())]),
        pa.schema([("t", pa.timestamp("s")), ("d", pa.date32()), ("s", pa.large_string())]),
        pa.schema([("l", pa.list_(pa.int64())), ("m", pa.struct([("x", pa.string())]))]),
    ]
    tables = []
    for i, schema in enumerate(schemas):
        t = tv.create(tmp_path / f"t{i}", schema=schema)
        for _ in range(3):
            t.append(pa.Table.from_pylist([{}], schema=schema))
        tables.append(t)
    tv.clear_caches()  # nothing known: the reads below check and record each file
    for t in tables:
        snap = tv.open(t.location).latest()
        plan = snap.read_plan()
        for f in plan.files:
            assert file_schema(f.path) == read(f.path)
        assert len({file_schema(f.path) for f in plan.files}) == 1
    assert file_schema(plan.files[0].path) != file_schema(
        tv.open(tables[0].location).latest().read_plan().files[0].path)
