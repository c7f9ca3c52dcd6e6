"""The three read paths of ``Snapshot.to_arrow`` give the same rows.

A snapshot of a few files is read file by file; one of many files goes through a single
pyarrow.dataset scan whose batches are shaped as they arrive; one with many deleted rows
goes through one ordered DuckDB scan that drops them. All must agree, row for
row and type for type, on everything a file can be: older schemas (a column added later,
a narrower type), identical bytes live twice, deletion vectors cutting batches, physical
row ids after compaction, and projections.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv
import tablever.query.reads as reads_module
import tablever.readers as readers
from tablever.query.engine import default_connection, fetch_arrow, plan_sql
from tests.conftest import SCHEMA, make_batch, sorted_rows

# path -> (_FEW_FILES: at most this many files are read one by one, _DUCKDB_MIN_ROWS)
_PATHS = {"file by file": (10_000, 10**12), "one dataset scan": (0, 10**12),
          "one DuckDB scan": (0, 0)}


def _build(root: Path) -> tv.Table:
    narrow = pa.schema([("id", pa.int32()), ("label", pa.string()), ("confidence", pa.float32())])
    t = tv.create(root / "t", schema=narrow)
    t.append(pa.table({"id": pa.array([1, 2, 3], pa.int32()), "label": ["a", None, "c"],
                       "confidence": pa.array([0.5, 0.25, None], pa.float32())}))
    # widen the types and add a column: the first file keeps its narrow, shorter schema
    wide = SCHEMA.append(pa.field("note", pa.string()))
    t.append(pa.table({"id": pa.array([4], pa.int64()), "label": ["d"],
                       "confidence": pa.array([0.75]), "note": ["new"]}, schema=wide),
             schema_mode="merge")
    same = make_batch(list(range(100, 3100))).append_column(
        "note", pa.array(["x"] * 3000, pa.string()))
    t.append(same)
    t.append(same)  # identical bytes: one file, live twice under two row-id ranges
    for k in range(4):
        t.append(make_batch([5000 + k]).append_column("note", pa.array([None], pa.string())))
    n = 300_000  # three row groups: the scan hands it over in several batches
    t.append(pa.table({"id": pa.array(range(10_000, 10_000 + n), pa.int64()),
                       "label": pa.array(["big"] * n), "confidence": pa.array([0.0] * n),
                       "note": pa.nulls(n, pa.string())}))
    t.delete("id % 7 = 0 OR id = 2")  # vectors on most files, spread through batches
    return t


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tv.Table:
    return _build(tmp_path_factory.mktemp("paths"))


def _read(monkeypatch: pytest.MonkeyPatch, knobs: tuple[int, int], snap: tv.Snapshot,
          **kw: object) -> pa.Table:
    few, duck = knobs
    with readers.reading_with(few_files=few, few_rows=few * 1_000_000, duckdb_min_rows=duck):
        out: pa.Table = snap.to_arrow(**kw)  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("kw", [{}, {"with_row_id": True}, {"columns": ["note", "id"]},
                                {"columns": ["label"], "with_row_id": True}])
def test_both_paths_agree(table: tv.Table, monkeypatch: pytest.MonkeyPatch,
                          kw: dict[str, object]) -> None:
    snap = table.latest()
    assert len(snap.data_files) > 4
    results = {name: _read(monkeypatch, knobs, snap, **kw) for name, knobs in _PATHS.items()}
    a = results["file by file"]
    for b in results.values():
        assert a.schema == b.schema
        assert a.equals(b)  # same rows in the same (snapshot) order
    expected_cols = list(kw.get("columns", snap.schema.names))  # type: ignore[call-overload]
    if kw.get("with_row_id"):
        expected_cols.append("_row_id")
    assert a.column_names == expected_cols


def test_rows_are_exact_on_both_paths(table: tv.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = table.latest()
    for knobs in _PATHS.values():
        out = _read(monkeypatch, knobs, snap, with_row_id=True)
        rows = sorted_rows(out)
        ids = [r["id"] for r in rows]
        # 1..4 minus 2; the 3,000-row batch twice and 5000..5003, minus multiples of 7
        expected = [1, 3, 4] + [i for i in range(100, 3100) if i % 7] * 2
        expected += [i for i in range(5000, 5004) if i % 7]
        expected += [i for i in range(10_000, 310_000) if i % 7]
        assert sorted(ids) == sorted(expected)
        assert out.schema.field("id").type == pa.int64()  # the narrow file is widened
        first = [r for r in rows if r["id"] in (1, 3)]
        assert [r["note"] for r in first] == [None, None]  # column added after the file
        assert [r["label"] for r in first] == ["a", "c"]
        assert len({r["_row_id"] for r in rows}) == len(rows)  # the twice-live file too


def test_physical_row_ids_after_compaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = _build(tmp_path)
    before = sorted_rows(t.latest().to_arrow(with_row_id=True))
    tv.compact(t, min_input_files=2)
    snap = t.latest()
    for knobs in _PATHS.values():
        assert sorted_rows(_read(monkeypatch, knobs, snap, with_row_id=True)) == before


def test_many_file_path_names_a_damaged_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    for k in range(10):
        t.append(make_batch([k]))
    snap = t.latest()
    victim = snap.data_files[3]
    path = tmp_path / "t" / victim.path
    path.write_bytes(path.read_bytes()[:-20])  # truncated: size no longer matches
    with readers.reading_with(few_files=0, duckdb_min_rows=0), pytest.raises(
            tv.IntegrityError, match=victim.path):
        tv.open(tmp_path / "t").latest().to_arrow()


def test_no_columns_keeps_the_row_count_on_both_paths(table: tv.Table,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    snap = table.latest()
    for knobs in _PATHS.values():
        out = _read(monkeypatch, knobs, snap, columns=[])
        assert out.num_rows == snap.num_rows and out.num_columns == 0
        ids = _read(monkeypatch, knobs, snap, columns=[], with_row_id=True)
        assert ids.column_names == ["_row_id"] and ids.num_rows == snap.num_rows


@pytest.mark.parametrize("deletes", ["anti", "mask"])
@pytest.mark.parametrize("compacted", [False, True])
@pytest.mark.parametrize("bound", [False, True])
def test_duckdb_deletion_joins_agree_with_the_arrow_read(
    tmp_path: Path, deletes: str, compacted: bool, bound: bool
) -> None:
    """DuckDB applies deletion vectors through an anti join or a keep bitmap: both give
    exactly the live rows, their row ids and their physical positions, whether the
    bitmap and lists are session variables or parameters bound with the statement."""
    t = _build(tmp_path)
    t.delete("id IN (3099, 5003)")  # a file's last row; a 1-row file's only row
    if compacted:
        tv.compact(t, min_input_files=2)  # physical _row_id columns
        t.delete("id % 5 = 0")
    snap = t.latest()
    plan = snap.read_plan()
    assert any(f.deleted is not None for f in plan.files)
    conn = default_connection().cursor()
    params: dict[str, object] | None = {} if bound else None
    created: list[tuple[str, str]] = []
    sql = plan_sql(plan, conn, with_row_id=True, positions=True, deletes=deletes,  # type: ignore[arg-type]
                   created=created, params=params)
    assert ("get_bit" in sql) == (deletes == "mask")
    # Bound: nothing is SET on the connection (each SET and RESET is a statement more)
    assert ("getvariable" in sql) == (not bound)
    assert any(kind == "variable" for kind, _ in created) == (not bound)
    got = fetch_arrow(conn.sql(sql, params=params or None))
    expected = snap.to_arrow(with_row_id=True)
    live = [{k: v for k, v in r.items() if not k.startswith("__")} for r in sorted_rows(got)]
    assert live == sorted_rows(expected)
    deleted = [set() if f.deleted is None else set(f.deleted.tolist()) for f in plan.files]
    files_pos = zip(got["__tv_file"].to_pylist(), got["__tv_pos"].to_pylist(), strict=True)
    for file_index, pos in files_pos:
        assert 0 <= pos < plan.files[file_index].rows
        assert pos not in deleted[file_index]


def test_sql_over_many_files_with_deletes_sets_no_variable(tmp_path: Path) -> None:
    """Snapshot.sql over more files than a literal list holds, with dense deletes (a
    keep bitmap) in some files and none in others: the file lists and the bitmap are
    bound with the statement, never SET on the connection, and the answer is DuckDB's
    over the same live rows."""
    import duckdb

    from tablever.query import engine

    t = tv.create(tmp_path / "t", schema=SCHEMA)
    for k in range(engine._LITERAL_FILES + 6):
        t.append(make_batch(list(range(k * 20, k * 20 + 20))))
    t.delete("id % 3 = 0 AND id < 1300")  # dense, in most files; the last files stay clean
    snap = t.latest()
    plan = snap.read_plan()
    dirty = [f for f in plan.files if f.deleted is not None]
    assert len(dirty) > engine._LITERAL_FILES and len(dirty) < len(plan.files)
    params: dict[str, object] = {}
    sql = plan_sql(plan, default_connection().cursor(), params=params)
    assert "get_bit" in sql and "getvariable" not in sql
    assert any(isinstance(v, bytes) for v in params.values())  # the bitmap
    query = ("SELECT count(*) AS n, sum(id) AS s, min(confidence) AS lo, "
             "count(DISTINCT label) AS labels FROM t WHERE id % 7 <> 1")
    got = snap.sql(query)
    reference = duckdb.connect()
    reference.register("t", snap.to_arrow())
    assert got.to_pylist() == fetch_arrow(reference.sql(query)).to_pylist()
    conn = engine.cached_sandbox(plan.paths)  # the connection the query ran on
    assert fetch_arrow(conn.sql("SELECT count(*) AS n FROM duckdb_variables()")).to_pylist() == [
        {"n": 0}]


def test_the_bitmap_gives_way_to_the_join_on_large_scans() -> None:
    """DuckDB copies the keep bitmap (a constant) into every vector it tests, a cost
    growing with the square of the rows scanned: past a size the anti join, growing with
    the deleted rows, is cheaper (measured in engine.py). An ordered scan, which a join
    would reorder, keeps the bitmap."""
    from tablever.query.engine import deletes_mode

    assert deletes_mode(700_000, 90_000, ordered=False) == "mask"  # 13% of 700k rows
    assert deletes_mode(700_000, 500, ordered=False) == "anti"  # sparse
    assert deletes_mode(5_000_000, 500_000, ordered=False) == "mask"
    assert deletes_mode(10_000_000, 4_000_000, ordered=False) == "mask"  # 40%
    assert deletes_mode(10_000_000, 1_000_000, ordered=False) == "anti"  # 10%
    assert deletes_mode(20_000_000, 2_000_000, ordered=False) == "anti"
    assert deletes_mode(20_000_000, 2_000_000, ordered=True) == "mask"
    assert deletes_mode(2**31, 2**30, ordered=False) == "anti"  # get_bit's INTEGER


def test_duckdb_picks_the_bitmap_for_dense_deletes(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    t.append(make_batch(list(range(1000))))
    t.delete("id = 500")  # 0.1% of the file: anti join
    conn = default_connection().cursor()
    assert "ANTI JOIN" in plan_sql(t.latest().read_plan(), conn)
    t.delete("id % 10 = 0")  # 10%: keep bitmap
    assert "get_bit" in plan_sql(t.latest().read_plan(), conn)
    out = t.latest().sql("SELECT count(*) AS n, sum(id) AS s FROM t")
    kept = [i for i in range(1000) if i % 10 and i != 500]
    assert out.to_pylist() == [{"n": len(kept), "s": sum(kept)}]


def _no_pyarrow_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("read with pyarrow")

    monkeypatch.setattr(readers, "_read_many", refuse)
    monkeypatch.setattr(readers, "_read_file", refuse)


def test_large_reads_go_through_duckdb(table: tv.Table,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    snap = table.latest()
    expected = _read(monkeypatch, _PATHS["one dataset scan"], snap, with_row_id=True)
    _no_pyarrow_scan(monkeypatch)
    with readers.reading_with(duckdb_min_rows=1):
        got = snap.to_arrow(with_row_id=True)
    assert got.equals(expected) and got.schema == expected.schema


@pytest.mark.parametrize("column", [
    pa.array([1, 2, 3, 4], pa.timestamp("ns")),  # DuckDB's TIMESTAMPTZ is microseconds
    pa.array([1, 2, 3, 4], pa.decimal128(20, 3)),
    pa.array([[1], [2], None, [4]], pa.list_(pa.int64())),
])
def test_types_duckdb_would_change_are_read_with_pyarrow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column: pa.Array
) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64()), ("v", column.type)]))
    t.append(pa.table({"id": [1, 2, 3, 4], "v": column}))
    t.delete("id = 2")
    monkeypatch.setattr(reads_module, "read_ordered", None)  # never called
    with readers.reading_with(duckdb_min_rows=1):
        out = t.latest().to_arrow()
    assert out.schema.field("v").type == column.type
    assert out.column("v").to_pylist() == [column[i].as_py() for i in (0, 2, 3)]


def test_a_duckdb_failure_falls_back_to_pyarrow(table: tv.Table,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import tablever.query.engine as engine

    snap = table.latest()
    expected = _read(monkeypatch, _PATHS["one dataset scan"], snap)

    def broken(_: object) -> pa.Table:
        raise RuntimeError("DuckDB cannot read this")

    monkeypatch.setattr(engine, "fetch_arrow", broken)
    with readers.reading_with(duckdb_min_rows=1):
        assert snap.to_arrow().equals(expected)


def test_duckdb_reconciles_schemas_unless_files_share_one(tmp_path: Path) -> None:
    """Files known (written here) to share one schema are scanned without
    union_by_name; files that differ (a column widened later) are scanned apart, one
    scan per schema, or in one ordered scan with union_by_name, so a narrow first file
    cannot make DuckDB cast the wide values down."""
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    t.append(make_batch([1, 2]))
    t.append(make_batch([3]))
    conn = default_connection().cursor()
    assert "union_by_name" not in plan_sql(t.latest().read_plan(), conn)

    narrow = pa.schema([("id", pa.int32()), ("x", pa.float32())])
    w = tv.create(tmp_path / "w", schema=narrow)
    w.append(pa.table({"id": pa.array([1], pa.int32()), "x": pa.array([0.5], pa.float32())}))
    wide = pa.schema([("id", pa.int64()), ("x", pa.float64())])
    w.append(pa.table({"id": [2**40], "x": [0.1]}, schema=wide), schema_mode="merge")
    snap = w.latest()
    apart = plan_sql(snap.read_plan(), conn)
    assert "union_by_name" not in apart and apart.count("read_parquet(") == 2
    assert "union_by_name" in plan_sql(snap.read_plan(), conn, ordered=True)
    got = snap.sql("SELECT id, x FROM t ORDER BY id").to_pylist()
    assert got == [{"id": 1, "x": 0.5}, {"id": 2**40, "x": 0.1}]
    with readers.reading_with(duckdb_min_rows=0):
        assert snap.to_arrow().to_pylist() == [{"id": 1, "x": 0.5}, {"id": 2**40, "x": 0.1}]


@pytest.mark.parametrize("predicate", ["id = 500", "id % 10 = 0"])  # anti join; bitmap
def test_sql_leaves_its_cached_connection_clean(tmp_path: Path, predicate: str) -> None:
    """The deleted positions a query registers and the bitmaps it sets on the cached
    sandbox connection are gone after it, whether it succeeded or failed."""
    from tablever.query import engine

    t = tv.create(tmp_path / "t", schema=SCHEMA)
    t.append(make_batch(list(range(1000))))
    t.delete(predicate)
    snap = t.latest()
    expected = len([i for i in range(1000) if not (i == 500 if "500" in predicate else i % 10 == 0)])
    assert snap.sql("SELECT count(*) AS n FROM t").to_pylist() == [{"n": expected}]
    with pytest.raises(tv.InvalidPredicateError):
        snap.sql("SELECT nope FROM t")
    conn = engine.cached_sandbox(snap.read_plan().paths)
    tables = conn.sql("SELECT view_name FROM duckdb_views() WHERE view_name LIKE '__tv%'")
    variables = conn.sql("SELECT name FROM duckdb_variables() WHERE name LIKE '__tv%'")
    assert tables.fetchall() == [] and variables.fetchall() == []


def test_a_key_value_directory_never_sets_a_column(tmp_path: Path) -> None:
    """DuckDB reads ``.../label=x/`` in a path as a Hive partition: tablever's scans turn
    that off, so every read path gives the stored values."""
    root = tmp_path / "label=zzz" / "id=7" / "t"
    t = tv.create(root, schema=SCHEMA)
    n = 150_000  # past the size where to_arrow reads through DuckDB
    data = make_batch(list(range(n)))
    t.append(data)
    snap = tv.open(root).latest()
    out = snap.to_arrow()
    assert out.column("id").to_pylist()[:3] == [0, 1, 2]
    assert out.column("label").equals(data.column("label"))
    assert snap.sql("SELECT min(id) AS m, count(*) AS n FROM t").to_pylist() == [{"m": 0, "n": n}]
    assert snap.to_arrow(where="id = 7").num_rows == 1


def test_duckdb_refuses_what_it_would_misread(tmp_path: Path) -> None:
    """Column names DuckDB's scan uses are refused at create and merge; a plan whose
    column or path DuckDB would misread is an error (to_arrow then reads with pyarrow)."""
    from tablever.query.engine import check_readable
    from tablever.readplan import FileRead, ReadPlan

    for name in ("file_row_number", "File_Index", "__tv_pos", "__TV_x", "_ROW_ID", "_Row_Id"):
        with pytest.raises(tv.SchemaMismatchError, match=name):
            tv.create(tmp_path / name, schema=pa.schema([("id", pa.int64()), (name, pa.int64())]))
    t = tv.create(tmp_path / "m", schema=pa.schema([("id", pa.int64())]))
    for name in ("file_index", "__tv_file", "_ROW_ID"):
        with pytest.raises(tv.SchemaMismatchError, match=name):
            t.append(pa.table({"id": [1], name: [2]}), schema_mode="merge")
    assert t.latest().version == 0  # nothing written

    def plan(schema: pa.Schema, path: str) -> ReadPlan:
        return ReadPlan(key="k" * 64, schema=schema,
                        files=(FileRead(path, 1, 0, tuple(schema.names), None),))

    with pytest.raises(tv.TableverError, match="file_row_number"):
        check_readable(plan(pa.schema([("file_row_number", pa.int64())]), "/a/b.parquet"))
    for bad in ("/a/t*/b.parquet", "/a/t?/b.parquet", "/a/[x]/b.parquet"):
        with pytest.raises(tv.TableverError, match="glob"):
            check_readable(plan(pa.schema([("id", pa.int64())]), bad))


def test_a_glob_character_in_the_root_reads_only_this_table(tmp_path: Path) -> None:
    rows = make_batch(list(range(150_000)))
    for name in ("t*", "t2"):  # same bytes, so the same data file name under both roots
        tv.create(tmp_path / name, schema=SCHEMA).append(rows)
    snap = tv.open(tmp_path / "t*").latest()
    assert snap.to_arrow().num_rows == 150_000  # read with pyarrow, never globbed
    with pytest.raises(tv.TableverError, match="glob"):
        snap.sql("SELECT max(id) FROM t")
    # a bare count needs no file: it comes from the log
    assert snap.sql("SELECT count(*) AS n FROM t").to_pylist() == [{"n": 150_000}]


_WRITE_ELSEWHERE = """
import sys, pyarrow as pa, tablever as tv
narrow = pa.schema([("id", pa.int32()), ("x", pa.float32())])
same = tv.create(sys.argv[1] + "/same", schema=narrow)
for i in range(3):
    same.append(pa.table({"id": pa.array([i], pa.int32()), "x": pa.array([0.5], pa.float32())}))
w = tv.create(sys.argv[1] + "/w", schema=narrow)
w.append(pa.table({"id": pa.array([1], pa.int32()), "x": pa.array([0.5], pa.float32())}))
wide = pa.schema([("id", pa.int64()), ("x", pa.float64())])
w.append(pa.table({"id": [2**40], "x": [0.1]}, schema=wide), schema_mode="merge")
"""


def test_files_checked_by_this_process_are_known_to_share_a_schema(tmp_path: Path) -> None:
    """Files another process wrote: once a read has checked them against their SHA-256,
    their schemas are known too, so scans skip union_by_name where the files agree, and
    scan files that differ apart (or, in one ordered scan, keep it)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", _WRITE_ELSEWHERE, str(tmp_path)], check=True)
    conn = default_connection().cursor()
    same = tv.open(tmp_path / "same").latest()
    # read_plan checks the files first (this process did not write them)
    assert "union_by_name" not in plan_sql(same.read_plan(), conn)
    assert sorted(same.to_arrow()["id"].to_pylist()) == [0, 1, 2]
    assert same.sql("SELECT sum(id) AS s FROM t").to_pylist() == [{"s": 3}]

    w = tv.open(tmp_path / "w").latest()
    assert sorted(w.to_arrow()["id"].to_pylist()) == [1, 2**40]
    apart = plan_sql(w.read_plan(), conn)
    assert "union_by_name" not in apart and apart.count("read_parquet(") == 2
    assert "union_by_name" in plan_sql(w.read_plan(), conn, ordered=True)
    got = w.sql("SELECT id, x FROM t ORDER BY id").to_pylist()
    assert got == [{"id": 1, "x": 0.5}, {"id": 2**40, "x": 0.1}]


def test_files_written_here_and_checked_here_compare_as_readers_see_them(
    tmp_path: Path,
) -> None:
    """A file this process wrote with timestamp[s] / date64 columns (which read back as
    timestamp[ms] / date32) and a file written elsewhere with the same table share a
    schema: the scan skips union_by_name."""
    import subprocess
    import sys

    schema = pa.schema([("t", pa.timestamp("s")), ("d", pa.date64())])
    code = ("import sys, pyarrow as pa, tablever as tv\n"
            "s = pa.schema([('t', pa.timestamp('s')), ('d', pa.date64())])\n"
            "tv.create(sys.argv[1], schema=s).append("
            "pa.table({'t': pa.array([1], pa.timestamp('s')), 'd': pa.array([0], pa.date64())}))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "t")], check=True)
    t = tv.open(tmp_path / "t")
    t.append(pa.table({"t": pa.array([2], pa.timestamp("s")),
                       "d": pa.array([86_400_000], pa.date64())}, schema=schema))
    conn = default_connection().cursor()
    assert "union_by_name" not in plan_sql(t.latest().read_plan(), conn)
    assert t.latest().sql("SELECT count(DISTINCT t) AS n FROM t").to_pylist() == [{"n": 2}]


def test_columns_named_like_internal_ones_change_the_right_rows(tmp_path: Path) -> None:
    """Row-level writes select their own position columns next to the table's: a table
    with columns called ``__pos``, ``__file`` or ``__src`` (names those had once) deletes,
    updates and upserts exactly the rows its predicate names."""
    schema = pa.schema([("id", pa.int64()), ("__pos", pa.int64()), ("__file", pa.string()),
                        ("__src", pa.int64())])
    t = tv.create(tmp_path / "t", schema=schema)
    t.append(pa.table({"id": [0, 1, 2, 3], "__pos": [3, 2, 1, 0], "__file": ["a", "b", "c", "d"],
                       "__src": [9, 9, 9, 9]}, schema=schema))
    s = t.delete("id = 0")
    assert sorted(s.to_arrow()["id"].to_pylist()) == [1, 2, 3]
    s = t.delete("__pos = 2")  # the row with id 1
    assert sorted(s.to_arrow()["id"].to_pylist()) == [2, 3]
    s = t.update({"__file": "'z'"}, where="__pos = 0")
    got = {r["id"]: r["__file"] for r in s.to_arrow().to_pylist()}
    assert got == {2: "c", 3: "z"}
    s = t.upsert(pa.table({"id": [2, 7], "__pos": [5, 6], "__file": ["u", "v"], "__src": [1, 1]},
                          schema=schema), on="id")
    assert sorted((r["id"], r["__pos"], r["__file"]) for r in s.to_arrow().to_pylist()) == [
        (2, 5, "u"), (3, 0, "z"), (7, 6, "v")]
    lazy = s.lazy(with_row_id=True).collect()
    assert sorted(lazy["__pos"].to_list()) == [0, 5, 6]


def test_a_query_may_not_name_a_cte_like_the_snapshots(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    t.append(make_batch([1, 2]))
    with pytest.raises(tv.InvalidPredicateError, match="__tv_ref_0"):
        t.sql("WITH __tv_ref_0 AS (SELECT 1 AS x) SELECT * FROM t, __tv_ref_0")
    with pytest.raises(tv.InvalidPredicateError, match="reserved"):
        t.sql("SELECT count(*) FROM t AS __TV_a")


def test_tables_with_names_reserved_later_keep_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table created before '__tv_' and '_ROW_ID' were refused (simulated by lifting the
    check) still reads, queries and changes rows; only what would really clash in
    DuckDB is refused, with a clear error."""
    import tablever.table as table_module

    schema = pa.schema([("id", pa.int64()), ("__tv_note", pa.string()), ("_ROW_ID", pa.int64())])
    monkeypatch.setattr(table_module, "check_scan_columns", lambda names: None)
    t = tv.create(tmp_path / "t", schema=schema)
    monkeypatch.undo()
    t.append(pa.table({"id": [1, 2, 3], "__tv_note": ["a", "b", "c"], "_ROW_ID": [7, 8, 9]},
                      schema=schema))
    assert t.latest().to_arrow(where="id >= 2")["__tv_note"].to_pylist() == ["b", "c"]
    assert t.sql("SELECT max(_ROW_ID) AS m FROM t").to_pylist() == [{"m": 9}]
    t.delete("id = 1")
    t.append(pa.table({"id": [4], "__tv_note": ["d"], "_ROW_ID": [10], "more": [1.5]}),
             schema_mode="merge")
    got = sorted((r["id"], r["__tv_note"]) for r in t.latest().to_arrow().to_pylist())
    assert got == [(2, "b"), (3, "c"), (4, "d")]
    # reading _row_id next to a column SQL cannot tell from it: refused, nothing written
    before = t.latest().id
    with pytest.raises(tv.TableverError, match="_ROW_ID"):
        t.latest().to_arrow(where="id > 0", with_row_id=True)
    with pytest.raises(tv.TableverError, match="_ROW_ID"):
        t.update({"__tv_note": "'z'"}, where="id = 3")
    assert t.latest().id == before
    with pytest.raises(tv.SchemaMismatchError, match="__tv_x"):  # new ones are refused
        t.append(pa.table({"id": [5], "__tv_x": [1]}), schema_mode="merge")

    note = pa.schema([("id", pa.int64()), ("__tv_note", pa.string())])
    monkeypatch.setattr(table_module, "check_scan_columns", lambda names: None)
    u = tv.create(tmp_path / "u", schema=note)
    monkeypatch.undo()
    u.append(pa.table({"id": [1, 2], "__tv_note": ["a", "b"]}, schema=note))
    u.update({"__tv_note": "'z'"}, where="id = 2")
    u.upsert(pa.table({"id": [1, 3], "__tv_note": ["y", "c"]}, schema=note), on="id")
    assert sorted(u.latest().to_arrow().to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "__tv_note": "y"}, {"id": 2, "__tv_note": "z"}, {"id": 3, "__tv_note": "c"}]


def test_lazy_reads_of_a_table_with_a_column_named_like_the_position_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tablever.table as table_module

    schema = pa.schema([("id", pa.int64()), ("__tv_pos", pa.int64())])
    monkeypatch.setattr(table_module, "check_scan_columns", lambda names: None)
    t = tv.create(tmp_path / "t", schema=schema)
    monkeypatch.undo()
    t.append(pa.table({"id": [0, 1, 2], "__tv_pos": [7, 8, 9]}, schema=schema))
    t.append(pa.table({"id": [3], "__tv_pos": [10]}, schema=schema))
    got = t.latest().lazy(with_row_id=True).collect().sort("id")
    assert got["id"].to_list() == [0, 1, 2, 3]
    assert got["__tv_pos"].to_list() == [7, 8, 9, 10]
    assert got["_row_id"].to_list() == [0, 1, 2, 3]
    with pytest.raises(tv.TableverError, match="__tv_pos"):  # a row-level write clashes
        t.delete("id = 1")
    assert t.latest().version == 2
