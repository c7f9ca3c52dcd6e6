"""Column field ids (format 2): rename_column, drop_column, upgrade_format.

Every version is read through every read path and checked against DuckDB running the
same statements on an in-memory table, which is the reference for what a rename, a
drop and a re-added column mean.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tablever as tv
from tablever import operations as ops
from tablever.format.fieldids import FIELD_ID_KEY, ROW_ID_FIELD_ID

pytestmark = pytest.mark.storages  # tests taking ``path`` run on the local disk and on S3

FIXTURE = Path(__file__).parent / "fixtures" / "format1"
EXPECTED = Path(__file__).parent / "fixtures" / "format1.expected.json"

# Statements run on a tablever warehouse and on DuckDB alike; a version after each.
STATEMENTS = [
    "CREATE TABLE e (id INTEGER, label VARCHAR, score DOUBLE)",
    "INSERT INTO e VALUES (1, 'cat', 0.5), (2, 'dog', 1.5), (3, 'cow', NULL)",
    "ALTER TABLE e RENAME COLUMN label TO kind",
    "INSERT INTO e VALUES (4, 'eel', 2.5)",
    "DELETE FROM e WHERE kind = 'dog'",  # the new name, on a file written under the old
    "ALTER TABLE e DROP COLUMN score",
    "ALTER TABLE e ADD COLUMN score VARCHAR",  # the same name: a new column
    "INSERT INTO e VALUES (5, 'fox', 'new')",
    "UPDATE e SET score = 'upd' WHERE id = 1",
    "ALTER TABLE e RENAME COLUMN kind TO label",
    "ALTER TABLE e RENAME COLUMN id TO kind",  # a name another column had before
    "DELETE FROM e WHERE kind = 4",
    "INSERT INTO e VALUES (6, 'gnu', 'late')",
]
PREDICATES = ["kind >= 3", "label = 'cat'", "score IS NULL", "score = 'new'", "id > 1",
              "kind IS NULL", "label IS NOT NULL AND kind < 6"]


def _model() -> list[tuple[list[str], list[tuple[Any, ...]]]]:
    """DuckDB's table after each statement: (column names, rows ordered by the first)."""
    con = duckdb.connect()
    out = []
    for q in STATEMENTS:
        con.execute(q)
        rel = con.sql("SELECT * FROM e ORDER BY 1")
        out.append((list(rel.columns), rel.fetchall()))
    return out


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=lambda r: r[0])


def _by_plan(snap: tv.Snapshot, where: str | None = None) -> pa.Table:
    """The version read the way an outside engine reads its scan plan (``where`` only
    prunes: the rows of the files kept)."""
    plan = snap.plan(where=where)
    parts = []
    for task in plan.tasks:
        have = list(task.columns)
        part = pq.read_table(task.location, columns=[task.sources[c] for c in have])
        part = part.rename_columns(have).filter(task.keep())
        for f in plan.schema:
            if f.name not in part.column_names:
                part = part.append_column(f.name, pa.nulls(len(part), f.type))
        parts.append(part.select(plan.columns).cast(plan.schema))
    return pa.concat_tables(parts) if parts else plan.schema.empty_table()


def _read_paths(snap: tv.Snapshot) -> dict[str, pa.Table]:
    with tv.readers.reading_with(few_files=0, few_rows=0):
        many = snap.to_arrow()
    with tv.readers.reading_with(duckdb_min_rows=0):
        ordered = snap.to_arrow()
    return {
        "to_arrow": snap.to_arrow(),
        "dataset": many,
        "duckdb_ordered": ordered,
        "polars": snap.to_polars().to_arrow(),
        "lazy": snap.lazy().collect().to_arrow(),
        "relation": snap.relation().to_arrow_table(),
        "sql": snap.sql("SELECT * FROM t"),
        "plan": _by_plan(snap),
        "batches": _batches(snap),
        "head": snap.head(100),
    }


def _batches(snap: tv.Snapshot) -> pa.Table:
    batches = list(snap.to_batches(2))
    if not batches:
        return snap.schema.empty_table()
    out = pa.Table.from_batches(batches)
    return out.drop_columns([c for c in out.column_names if c == "_row_id"])


def _warehouse(path: str) -> tv.Warehouse:
    wh = tv.Warehouse(path)
    for q in STATEMENTS:
        wh.sql(q)
    return wh


def test_every_version_through_every_read_path_matches_duckdb(path: str) -> None:
    wh = _warehouse(path)
    t = wh.table("e")
    model = _model()
    assert t.latest().version == len(STATEMENTS) - 1 and t.latest().format == 2
    for version, (names, rows) in enumerate(model):
        snap = t.as_of(version)
        assert snap.schema.names == names, version
        for how, got in _read_paths(snap).items():
            assert got.column_names == names, (version, how)
            assert _rows(got) == rows, (version, how)
        via_sql = wh.sql(f"SELECT * FROM e VERSION AS OF {version} ORDER BY 1")
        assert [tuple(r.values()) for r in via_sql.to_pylist()] == rows


@pytest.mark.parametrize("predicate", PREDICATES)
def test_where_prunes_by_field_id_and_matches_duckdb(tmp_path: Path, predicate: str) -> None:
    t = _warehouse(str(tmp_path / "wh")).table("e")
    con = duckdb.connect()
    for version, q in enumerate(STATEMENTS):
        con.execute(q)
        snap = t.as_of(version)
        try:
            want = con.sql(f"SELECT * FROM e WHERE ({predicate}) IS TRUE ORDER BY 1").fetchall()
        except duckdb.Error:
            with pytest.raises(tv.InvalidPredicateError):
                snap.to_arrow(where=predicate)
            continue
        assert _rows(snap.to_arrow(where=predicate)) == want, version
        assert _rows(_plan_rows(snap, predicate)) == want, version


def _plan_rows(snap: tv.Snapshot, predicate: str) -> pa.Table:
    """The rows of the files a plan keeps for ``predicate``, filtered by DuckDB."""
    rows = _by_plan(snap, predicate)  # noqa: F841 - DuckDB reads it by name
    return duckdb.sql(f"SELECT * FROM rows WHERE ({predicate}) IS TRUE").to_arrow_table()


def test_drop_and_add_again_never_resurrects_old_values(path: str) -> None:
    t = tv.create(path, data=pa.table({"id": [1, 2], "c": ["old1", "old2"]}))
    dropped = t.drop_column("c")
    assert dropped.schema.names == ["id"] and dropped.format == 2
    readded = t.add_column("c", pa.string())
    t.append(pa.table({"id": [3], "c": ["new"]}))
    latest = t.latest()
    assert latest.to_arrow().to_pylist() == [
        {"id": 1, "c": None}, {"id": 2, "c": None}, {"id": 3, "c": "new"}]
    assert latest.to_arrow(where="c IS NULL").column("id").to_pylist() == [1, 2]
    assert latest.to_arrow(where="c = 'old1'").num_rows == 0
    assert t.as_of(1).to_arrow().column("c").to_pylist() == ["old1", "old2"]
    ids = {f["name"]: f["id"] for f in readded.state.schema["fields"]}
    old_ids = {f["name"]: f["id"] for f in dropped.state.schema["fields"]}
    assert ids["c"] > max(old_ids.values()) + 1  # a new id, never the dropped one's


def test_rename_keeps_old_versions_and_predicates_follow(path: str) -> None:
    t = tv.create(path, data=pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    before = {v: t.as_of(v).to_arrow() for v in (0, 1)}
    s = t.rename_column("a", "n")
    assert s.message == "rename column a to n (upgrades the table to format 2: column field ids)"
    assert s.format == 2 and t.as_of(1).format == 1
    for v, table in before.items():
        assert t.as_of(v).to_arrow().equals(table)  # names included
    deleted = t.delete("n = 2")
    assert deleted.to_arrow().column("n").to_pylist() == [1, 3]
    t.update({"b": "'w'"}, where="n = 3")
    t.upsert(pa.table({"n": [1, 9], "b": ["u", "v"]}), on=["n"])
    got = t.latest().to_arrow()
    assert sorted(zip(got.column("n").to_pylist(), got.column("b").to_pylist(),
                      strict=True)) == [(1, "u"), (3, "w"), (9, "v")]
    with pytest.raises(tv.InvalidPredicateError):
        t.delete("a = 1")  # the old name is gone
    reopened = tv.open(t.location)
    tv.clear_caches()
    assert reopened.latest().to_arrow().equals(got)


def test_compaction_after_renames_and_drops_keeps_every_version(path: str) -> None:
    t = tv.create(path, data=pa.table({"id": [1, 2], "a": [10, 20], "b": ["p", "q"]}))
    t.append(pa.table({"id": [3], "a": [30], "b": ["r"]}))
    t.rename_column("a", "amount")
    t.append(pa.table({"id": [4], "amount": [40], "b": ["s"]}))
    t.drop_column("b")
    t.add_column("b", pa.int64())
    t.append(pa.table({"id": [5], "amount": [50], "b": [7]}))
    t.delete("id = 2")
    versions = [s.version for s in t.history()]
    before = {v: t.as_of(v).to_arrow(with_row_id=True) for v in versions}
    hashes = {v: t.as_of(v).content_hash for v in versions}
    compacted = tv.compact(t, target_file_bytes=1 << 20)
    assert compacted is not None and len(compacted.data_files) == 1
    assert compacted.to_arrow(with_row_id=True).sort_by("_row_id").equals(
        before[max(versions)].sort_by("_row_id"))
    assert compacted.content_hash == hashes[max(versions)]
    tv.clear_caches()
    again = tv.open(t.location)
    for v in versions:
        assert again.as_of(v).to_arrow(with_row_id=True).equals(before[v]), v
        assert again.as_of(v).content_hash == hashes[v], v
    (f,) = compacted.data_files
    ids = {c["name"]: c["id"] for c in compacted.state.schema["fields"]}
    assert f.field_ids == ids  # the output carries the version's ids, in the log ...
    local = t.storage.local_path(f.path, sha256=f.sha256)
    in_file = {x.name: int(x.metadata[FIELD_ID_KEY]) for x in pq.read_schema(local)
               if x.metadata and FIELD_ID_KEY in x.metadata}
    # ... and in the Parquet schema, _row_id under the id Iceberg reserves for it
    assert in_file == {**ids, "_row_id": ROW_ID_FIELD_ID}
    again.latest().verify()


def test_streamed_appends_and_streamed_compaction_carry_the_ids(path: str) -> None:
    t = tv.create(path, data=pa.table({"a": pa.array([], pa.int64()),
                                        "b": pa.array([], pa.string())}))
    t.rename_column("a", "n")
    t.drop_column("b")
    t.add_column("b", pa.string())  # the same name, a new id
    ids = {c["name"]: c["id"] for c in t.latest().state.schema["fields"]}
    for start in (0, 100):  # a RecordBatchReader is written as it streams
        rows = pa.table({"n": list(range(start, start + 50)),
                         "b": [f"r{i}" for i in range(start, start + 50)]})
        s = t.append(pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches(7)))
        assert [f.field_ids for f in s.data_files[-1:]] == [ids]
    expected = t.latest().to_arrow(with_row_id=True)
    assert expected.column("n").to_pylist() == [*range(50), *range(100, 150)]
    # files appended in row-id order under the current names: compaction streams them
    compacted = tv.compact(t, target_file_bytes=1 << 20)
    assert compacted is not None and len(compacted.data_files) == 1
    assert compacted.to_arrow(with_row_id=True).equals(expected)
    (f,) = compacted.data_files
    assert f.field_ids == ids
    local = t.storage.local_path(f.path, sha256=f.sha256)
    in_file = {x.name: int(x.metadata[FIELD_ID_KEY]) for x in pq.read_schema(local)
               if x.metadata and FIELD_ID_KEY in x.metadata}
    assert in_file == {**ids, "_row_id": ROW_ID_FIELD_ID}
    compacted.verify()


def test_checkpoints_keep_the_field_ids_of_each_file(path: str) -> None:
    t = tv.create(path, data=pa.table({"a": [1], "b": ["x"]}),
                  properties={"checkpoint_interval": 2})
    t.append(pa.table({"a": [2], "b": ["y"]}))
    t.rename_column("a", "n")  # version 2: a checkpoint of format-1 files and the upgrade
    t.append(pa.table({"n": [3], "b": ["z"]}))
    t.drop_column("b")  # version 4: a checkpoint holding files with and without ids
    t.add_column("b", pa.int64())
    t.append(pa.table({"n": [4], "b": [7]}))  # version 6, checkpointed
    t.append(pa.table({"n": [5], "b": [8]}))
    by_log = {f.key: f.field_ids for f in t.latest().data_files}
    assert sorted(v is None for v in by_log.values()) == [False, False, False, True, True]
    expected = {v: t.as_of(v).to_arrow(with_row_id=True) for v in range(8)}
    tv.clear_caches()
    fresh = tv.open(path)
    state, _ = fresh.log.read_checkpoint(6)
    assert {k: f.field_ids for k, f in state.files.items()} == {
        k: v for k, v in by_log.items() if k in state.files}
    assert {f.key: f.field_ids for f in fresh.latest().data_files} == by_log
    for v, table in expected.items():
        assert fresh.as_of(v).to_arrow(with_row_id=True).equals(table), v
    assert fresh.latest().to_arrow(where="b IS NULL").column("n").to_pylist() == [1, 2, 3]
    # a point delete on a checkpointed state prunes on the statistics of n, which the
    # oldest files hold under the name a
    tv.clear_caches()
    deleted = tv.open(path).delete("n = 2")
    assert deleted.to_arrow().column("n").to_pylist() == [1, 3, 4, 5]


def test_a_point_delete_after_swapping_names_prunes_by_id(path: str) -> None:
    t = tv.create(path, data=pa.table({"a": [1, 2], "b": [10, 20]}),
                  properties={"checkpoint_interval": 2})
    t.rename_column("a", "t")
    t.rename_column("b", "a")
    t.rename_column("t", "b")  # version 3; the file's column a is now b and b is a
    t.append(pa.table({"b": [3], "a": [30]}))  # version 4, checkpointed
    tv.clear_caches()
    deleted = tv.open(path).delete("a = 10")
    assert deleted.to_arrow().to_pylist() == [{"b": 2, "a": 20}, {"b": 3, "a": 30}]
    con = duckdb.connect()
    con.execute("CREATE TABLE r (b BIGINT, a BIGINT)")
    con.execute("INSERT INTO r VALUES (1, 10), (2, 20), (3, 30)")
    con.execute("DELETE FROM r WHERE a = 10")
    assert [tuple(r.values()) for r in deleted.to_arrow().to_pylist()] == con.execute(
        "SELECT * FROM r ORDER BY b").fetchall()


def test_format_1_table_reads_unchanged_and_upgrades_on_first_rename(tmp_path: Path) -> None:
    # written by the release before format 2 existed (tests/fixtures/format1)
    location = str(tmp_path / "t")
    shutil.copytree(FIXTURE, location)
    expected = json.loads(EXPECTED.read_text())

    def check_unchanged(t: tv.Table) -> None:
        for v, want in expected.items():
            snap = t.as_of(int(v))
            assert snap.format == 1
            assert snap.id == want["id"] and snap.fingerprint == want["fingerprint"]
            assert snap.schema.names == want["names"]
            assert [str(x) for x in snap.schema.types] == want["types"]
            assert snap.to_arrow(with_row_id=True).to_pylist() == want["rows"]
            assert snap.content_hash == want["content_hash"]

    t = tv.open(location)
    check_unchanged(t)
    log_before = sorted((tmp_path / "t" / "_tablever" / "log").iterdir())
    s = t.rename_column("label", "kind")
    assert s.version == 7 and s.format == 2 and "upgrades the table to format 2" in s.message
    log_after = sorted((tmp_path / "t" / "_tablever" / "log").iterdir())
    assert len(log_after) == len(log_before) + 1  # one commit, nothing rewritten
    latest = expected["6"]
    got = s.to_arrow(with_row_id=True).to_pylist()
    assert got == [{("kind" if k == "label" else k): v for k, v in r.items()}
                   for r in latest["rows"]]
    t.append(pa.table({"id": [7], "kind": ["gnu"], "score": pa.array([1.0], pa.float32()),
                       "note": [None]}))
    t.delete("kind = 'cow'")  # a format-1 file's column, under its new name
    assert t.latest().version == 9  # checkpoint_interval 3: a format-2 checkpoint at 9
    tv.clear_caches()
    reopened = tv.open(location)
    check_unchanged(reopened)
    assert reopened.latest().to_arrow().column("kind").to_pylist() == [
        "cat", "eel", "bird", "fox", "gnu"]


def test_upgrade_format_is_one_commit_and_idempotent(path: str) -> None:
    t = tv.create(path, data=pa.table({"x": [1], "y": ["a"]}))
    s = t.upgrade_format()
    assert (s.version, s.format, s.operation) == (2, 2, "upgrade")
    assert [(f["name"], f["id"]) for f in s.state.schema["fields"]] == [("x", 1), ("y", 2)]
    assert t.upgrade_format().version == 2  # already format 2: nothing committed
    assert s.to_arrow().equals(t.as_of(1).to_arrow())
    assert s.content_hash == t.as_of(1).content_hash  # no name changed
    t.append(pa.table({"x": [2], "y": ["b"]}))
    new = [f for f in t.latest().data_files if f.field_ids is not None]
    assert len(new) == 1 and new[0].field_ids == {"x": 1, "y": 2}


def test_parquet_field_ids_let_duckdb_read_renamed_files_by_id(tmp_path: Path) -> None:
    t = tv.create(str(tmp_path / "t"), data=pa.table({"a": [1, 2]}))
    t.upgrade_format()
    t.append(pa.table({"a": [3]}))
    t.rename_column("a", "b")
    snap = t.latest()
    (fid,) = [f["id"] for f in snap.state.schema["fields"]]
    written = [f for f in snap.data_files if f.field_ids is not None]
    local = t.storage.local_path(written[0].path, sha256=written[0].sha256)
    got = duckdb.sql(
        f"SELECT * FROM read_parquet('{local}', schema=MAP {{{fid}: "
        "{name: 'b', type: 'BIGINT', default_value: NULL}})").fetchall()
    assert got == [(3,)]


Bad = Callable[[tv.Table], Any]
BAD: list[tuple[str, Bad, type[tv.TableverError]]] = [
    ("rename to an existing name", lambda t: t.rename_column("a", "b"), tv.SchemaMismatchError),
    ("rename to the same name", lambda t: t.rename_column("a", "a"), tv.SchemaMismatchError),
    ("rename to a name in another case", lambda t: t.rename_column("a", "B"),
     tv.SchemaMismatchError),
    ("rename to _row_id", lambda t: t.rename_column("a", "_row_id"), tv.SchemaMismatchError),
    ("rename to a scan column", lambda t: t.rename_column("a", "file_index"),
     tv.SchemaMismatchError),
    ("rename to the reserved prefix", lambda t: t.rename_column("a", "__tv_a"),
     tv.SchemaMismatchError),
    ("rename to an empty name", lambda t: t.rename_column("a", ""), tv.InvalidNameError),
    ("rename to a name with spaces around", lambda t: t.rename_column("a", " c"),
     tv.InvalidNameError),
    ("rename to a control character", lambda t: t.rename_column("a", "c\n"),
     tv.InvalidNameError),
    ("rename to a number", lambda t: t.rename_column("a", 5), tv.InvalidNameError),
    ("rename _row_id", lambda t: t.rename_column("_row_id", "rid"), tv.SchemaMismatchError),
    ("rename an unknown column", lambda t: t.rename_column("nope", "c"),
     tv.ColumnNotFoundError),
    ("drop _row_id", lambda t: t.drop_column("_row_id"), tv.SchemaMismatchError),
    ("drop an unknown column", lambda t: t.drop_column("nope"), tv.ColumnNotFoundError),
    ("drop a column in another case", lambda t: t.drop_column("A"), tv.ColumnNotFoundError),
    ("drop a partition column", lambda t: t.drop_column("p"), tv.ColumnInUseError),
]


@pytest.mark.parametrize(("what", "call", "error"), BAD, ids=[b[0] for b in BAD])
def test_bad_schema_changes_change_nothing(
        tmp_path: Path, what: str, call: Bad, error: type[tv.TableverError]) -> None:
    t = tv.create(str(tmp_path / "t"), data=pa.table({"a": [1], "b": ["x"], "p": ["k"]}),
                  properties={"partition_by": "p"})
    head = t.latest()
    with pytest.raises(error):
        call(t)
    assert t.latest().id == head.id and t.latest().format == 1  # not even upgraded
    assert sorted(p.name for p in (tmp_path / "t" / "_tablever" / "log").iterdir()) == [
        f"{v:020d}.json" for v in range(head.version + 1)]


def test_drop_of_the_last_column_and_old_versions_are_refused(tmp_path: Path) -> None:
    t = tv.create(str(tmp_path / "t"), data=pa.table({"a": [1], "b": [2]}))
    t.drop_column("b")
    head = t.latest().id
    with pytest.raises(tv.ColumnInUseError, match="last column"):
        t.drop_column("a")
    assert not hasattr(t.as_of(1), "drop_column")  # a snapshot is read-only
    wh = tv.Warehouse(str(tmp_path))
    for q in ("ALTER TABLE t VERSION AS OF 1 DROP COLUMN b",
              "ALTER TABLE t AT (VERSION => 1) DROP COLUMN a",
              "ALTER TABLE t AT (VERSION => 1) RENAME COLUMN a TO c"):
        with pytest.raises(tv.InvalidPredicateError):
            wh.sql(q)
    assert t.latest().id == head


def test_renaming_a_partition_column_keeps_partitioning(tmp_path: Path) -> None:
    t = tv.create(str(tmp_path / "t"), data=pa.table({"a": [1, 2], "p": ["x", "y"]}),
                  properties={"partition_by": "p"})
    t.rename_column("p", "part")
    assert t.properties["partition_by"] == "part"
    t.append(pa.table({"a": [3, 4], "part": ["x", "z"]}))
    assert t.latest().to_arrow(where="part = 'x'").column("a").to_pylist() == [1, 3]
    plan = t.latest().plan(where="part = 'x'")
    assert plan.files_pruned == 2 and len(plan.tasks) == 2
    compacted = tv.compact(t, target_file_bytes=1 << 20)
    assert compacted is not None
    # one file per partition, the two of 'x' (one from before the rename) merged
    stats = [task.stats["part"] for task in compacted.plan().tasks]
    assert sorted((st["min"], st["max"]) for st in stats) == [("x", "x"), ("y", "y"),
                                                               ("z", "z")]


def test_content_hash_covers_names(path: str, tmp_path: Path) -> None:
    rows = pa.table({"a": [1, 2, 3], "b": ["x", None, "z"]})
    t = tv.create(path, data=rows)
    original = t.latest().content_hash
    renamed = t.rename_column("b", "c")
    fresh = tv.create(str(tmp_path / "fresh"), data=rows.rename_columns(["a", "c"]))
    assert renamed.content_hash == fresh.latest().content_hash != original
    assert t.as_of(1).content_hash == original
    assert t.rename_column("c", "b").content_hash == original  # renamed back
    dropped = t.drop_column("b")
    alone = tv.create(str(tmp_path / "alone"), data=rows.select(["a"]))
    assert dropped.content_hash == alone.latest().content_hash
    dropped.verify()
    t.as_of(1).verify()


def test_diff_and_changes_across_a_rename(tmp_path: Path) -> None:
    t = tv.create(str(tmp_path / "t"), data=pa.table({"id": [1, 2], "a": ["x", "y"]}))
    t.rename_column("a", "b")
    t.append(pa.table({"id": [3], "b": ["z"]}))
    t.delete("b = 'x'")
    d = t.diff(1, 4)
    assert d.schema_changes == {"renamed_columns": {"a": "b"}}
    assert d.added.select(["id", "b"]).to_pylist() == [{"id": 3, "b": "z"}]
    assert d.removed.select(["id", "b"]).to_pylist() == [{"id": 1, "b": "x"}]
    feed = t.changes(0, 4)
    assert feed.column_names == ["id", "b", "_row_id", "_change", "_version"]
    assert [(r["id"], r["b"], r["_change"]) for r in feed.to_pylist()] == [
        (1, "x", "insert"), (2, "y", "insert"), (3, "z", "insert"), (1, "x", "delete")]


def test_a_column_added_by_a_racing_writer_conflicts_instead_of_misreading(
        tmp_path: Path) -> None:
    t = tv.create(str(tmp_path / "t"), data=pa.table({"a": [1]}))
    t.upgrade_format()
    stale = t.writer()  # begins before the column below is added
    t.add_column("n", pa.int64())
    head = t.latest().id
    with pytest.raises(tv.CommitConflictError, match="columns changed"):
        ops.append(stale, pa.table({"a": [2], "m": ["x"]}), schema_mode="merge")
    assert t.latest().id == head


def test_sql_rename_and_drop_match_duckdb(tmp_path: Path) -> None:
    wh = tv.Warehouse(str(tmp_path / "wh"))
    con = duckdb.connect()
    statements = [
        "CREATE TABLE e (id INTEGER, Note VARCHAR, x DOUBLE)",
        "INSERT INTO e VALUES (1, 'a', 0.5), (2, 'b', NULL)",
        "ALTER TABLE e RENAME COLUMN NOTE TO Label",  # a column named in another case
        "ALTER TABLE e DROP COLUMN IF EXISTS nope",  # no-op in both
        "ALTER TABLE e DROP COLUMN X",
        "INSERT INTO e VALUES (3, 'c')",
        "ALTER TABLE e ADD COLUMN x VARCHAR",
    ]
    for q in statements:
        got = wh.sql(q)
        con.execute(q)
        if q.startswith("ALTER"):
            assert got.to_pylist() == [{"count": 0}]
    rel = con.sql("SELECT * FROM e ORDER BY id")
    out = wh.sql("SELECT * FROM e ORDER BY id")
    assert out.column_names == rel.columns == ["id", "Label", "x"]
    assert [tuple(r.values()) for r in out.to_pylist()] == rel.fetchall()
    assert [s.operation for s in reversed(wh.table("e").history())] == [
        "create", "append", "rename-column", "drop-column", "append", "add-column"]
    for q in ("ALTER TABLE e DROP COLUMN nope", "ALTER TABLE e RENAME COLUMN id TO LABEL"):
        with pytest.raises(tv.SchemaMismatchError):
            wh.sql(q)
        with pytest.raises(duckdb.Error):
            con.execute(q)
