"""How much work opening, committing and point lookups do, counted (not timed): a change
that makes one of them O(history) or O(all live files) again fails here.

Counted: log files read (``Log.commits_read``), checkpoints parsed, checkpoint entries
built (``CheckpointFiles.built``), and every call a write makes on the table's storage.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tablever as tv
from tablever.format.checkpoint import CheckpointFiles
from tablever.format.live import LiveMap
from tablever.storage import Storage

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.string())])


def _rows(start: int, n: int) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({"id": pa.array(ids, pa.int64()), "v": [f"x{i}" for i in ids]})


def _many_files(path: str, files: int, *, interval: int = 1000) -> tv.Table:
    """A table of ``files`` one-row files (ids 0..files-1) in one commit, with a
    checkpoint at that version."""
    t = tv.create(path, schema=SCHEMA,
                  properties={"partition_by": "id", "checkpoint_interval": interval})
    state = t.append(_rows(0, files), provenance=False).state
    t.log.write_checkpoint(state, t.log.versions(state))
    return t


def _checkpoint_files(snap: tv.Snapshot) -> CheckpointFiles:
    files = snap.state.files
    assert isinstance(files, LiveMap) and isinstance(files.base, CheckpointFiles)
    return files.base


@contextmanager
def _storage_calls(storage: Storage) -> Iterator[Counter[str]]:
    """Every read, probe and listing made through ``storage`` while the block runs."""
    calls: Counter[str] = Counter()
    names = ("read_bytes", "exists", "list_names", "size", "open_read", "is_dir")
    saved = {n: getattr(storage, n) for n in names}

    def counting(name: str):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return saved[name](*args, **kwargs)
        return call

    for n in names:
        setattr(storage, n, counting(n))
    try:
        yield calls
    finally:
        for n in names:
            delattr(storage, n)


def test_opening_the_latest_reads_one_checkpoint_and_the_commits_after_it(path: str) -> None:
    t = tv.create(path, schema=SCHEMA, properties={"checkpoint_interval": 10})
    counts = []
    for total in (25, 205):
        while t.latest().version < total:
            t.append(_rows(t.latest().version, 1), provenance=False)
        tv.clear_caches()
        fresh = tv.open(path)
        snap = fresh.latest()
        assert snap.num_rows == total
        counts.append((fresh.log.checkpoints_parsed, fresh.log.commits_read))
    # checkpoint 20 + commits 21..25, then checkpoint 200 + commits 201..205
    assert counts == [(1, 5), (1, 5)]


def test_open_and_row_count_build_no_file_entry(path: str) -> None:
    _many_files(path, 300)
    tv.clear_caches()
    snap = tv.open(path).latest()
    assert snap.num_rows == 300 and len(snap.data_files) == 300
    assert snap.summary["total_bytes"] == snap.state.total_bytes
    assert _checkpoint_files(snap).built == 0
    # reading the first rows builds the first entries, not all of them
    assert snap.head(1).column("id").to_pylist() == [0]
    assert 0 < _checkpoint_files(snap).built < 300


@pytest.mark.parametrize("where", ["id = 123", "id IN (123, 124)", "id BETWEEN 122 AND 123",
                                   "123 = id AND v = 'x123'", "id >= 298"])
def test_a_point_lookup_builds_entries_only_for_the_files_it_keeps(
    path: str, where: str
) -> None:
    import duckdb

    t = _many_files(path, 300)
    t.append(_rows(1000, 2), provenance=False)  # files after the checkpoint: kept as candidates
    tv.clear_caches()
    snap = tv.open(path).latest()
    got = snap.to_arrow(where=where).sort_by("id")
    want = duckdb.sql(f"SELECT * FROM (SELECT range AS id, 'x' || range AS v FROM range(300) "
                      f"UNION ALL SELECT 1000, 'x1000' UNION ALL SELECT 1001, 'x1001') "
                      f"WHERE {where} ORDER BY id").to_arrow_table()
    assert got.column("id").to_pylist() == want.column("id").to_pylist()
    built = _checkpoint_files(snap).built
    assert built == sum(1 for i in got.column("id").to_pylist() if i < 300), built
    plan = snap.plan(where=where)
    assert sorted(task.rows for task in plan.tasks) == [1] * len(plan.tasks)
    assert _checkpoint_files(snap).built == built  # the plan built no more entries


def test_a_lookup_the_statistics_cannot_narrow_in_bulk_is_still_exact(path: str) -> None:
    _many_files(path, 50)
    snap = tv.open(path).latest()
    assert snap.to_arrow(where="v = 'x7' OR id = 9").sort_by("id")["id"].to_pylist() == [7, 9]
    assert snap.to_arrow(where="id = 7.0")["id"].to_pylist() == [7]
    assert snap.to_arrow(where="id = -1").num_rows == 0


def test_a_commit_reads_no_more_of_the_log_as_history_grows(path: str) -> None:
    t = tv.create(path, schema=SCHEMA, properties={"checkpoint_interval": 1000})
    counts = []
    for total in (20, 200):
        while t.latest().version < total:
            t.append(_rows(t.latest().version, 1), provenance=False)
        before = t.log.commits_read
        with _storage_calls(t.storage) as calls:
            t.append(_rows(10_000 + total, 1), provenance=False)
        counts.append((dict(calls), t.log.commits_read - before))
    assert counts[0] == counts[1], counts
    assert counts[0][1] == 0  # the writer's own state: no commit file read back


def test_a_commit_on_a_table_opened_from_a_checkpoint_builds_no_entry(path: str) -> None:
    _many_files(path, 300, interval=2)  # checkpoints at 1 and 2
    tv.clear_caches()
    t = tv.open(path)
    base = _checkpoint_files(t.latest())
    t.append(_rows(500, 1), provenance=False)  # version 2: writes a checkpoint too
    now = _checkpoint_files(t.latest())  # and the writer reads on from it
    t.delete("id = 5")  # a deletion vector on a file from the checkpoint
    assert base.built == 0 and now.built == 1  # the file it wrote a vector for
    tv.clear_caches()
    again = tv.open(path).latest()
    assert again.num_rows == 300 and again.to_arrow(where="id = 5").num_rows == 0
    assert again.to_arrow(where="id = 500")["v"].to_pylist() == ["x500"]


def test_live_maps_keep_dict_semantics_and_a_bounded_overlay() -> None:
    class Entry:
        __slots__ = ("rows", "bytes")

        def __init__(self, rows: int) -> None:
            self.rows, self.bytes = rows, 10 * rows

    m: LiveMap[int, Entry] = LiveMap({})
    model: dict[int, Entry] = {}
    for i in range(5000):
        e = m.edit()
        e.put(i, Entry(i % 7))
        model[i] = Entry(0)
        model[i] = e.get(i)
        if i % 3 == 0 and i > 10:
            e.remove(i - 10)
            del model[i - 10]
        if i % 5 == 0 and i > 20 and (i - 20) in model:
            e.put(i - 20, Entry(1))  # a new value for a live key keeps its place
            model[i - 20] = e.get(i - 20)
        if i % 11 == 0 and (i - 1) in model:
            e.remove(i - 1)
            e.put(i - 1, model.pop(i - 1))  # removed and put again: goes last
            model[i - 1] = e.get(i - 1)
        m = e.done()
        assert m.overlay_size <= max(1024, len(m.base) // 4) + 3
    assert list(m) == list(model) and dict(m.items()) == model and len(m) == len(model)
    assert m.rows == sum(v.rows for v in model.values())
    assert m.bytes == sum(v.bytes for v in model.values())
    with pytest.raises(KeyError):
        m.edit().remove(-1)


def test_an_open_after_a_commit_of_many_files_parses_none_of_them(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint of a version whose own commit added the files (a bulk load, a
    compaction) opens from its header: the commit's entries, the files' statistics and
    the history are read only when asked for."""
    import tablever.format.commit as commit_mod

    t = _many_files(path, 300)
    want = t.log.read_commit(t.latest().version)
    tv.clear_caches()
    parsed: list[object] = []
    original = commit_mod.data_file_from_dict

    def counting(*args: object, **kwargs: object) -> object:
        parsed.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(commit_mod, "data_file_from_dict", counting)
    fresh = tv.open(path)
    snap = fresh.latest()
    assert snap.num_rows == 300 and snap.operation == want.operation
    assert snap.summary == want.summary and snap.id == want.id
    actions = snap.state.commit.actions
    assert isinstance(actions, commit_mod.LazyActions) and not actions.is_loaded
    assert parsed == [] and fresh.log.commits_read == 0
    assert not _checkpoint_files(snap).decoded  # the statistics column
    # asked for, the actions are the commit's own (read from the log, id checked)
    assert actions == want.actions and len(actions.add) == 300
    assert snap.to_arrow(where="id = 7").column("id").to_pylist() == [7]
    assert _checkpoint_files(snap).decoded


def test_a_writer_builds_each_checkpoint_from_the_last_ones_columns(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After writing a checkpoint a writer reads its live files from it, so its next
    checkpoint encodes only the entries added since, not every live file again."""
    import tablever.format.checkpoint as ckpt

    built: list[int] = []
    original = ckpt._rows_of

    def counting(files: list[object]) -> object:
        built.append(len(files))
        return original(files)  # type: ignore[arg-type]

    monkeypatch.setattr(ckpt, "_rows_of", counting)
    t = tv.create(path, schema=SCHEMA, properties={"checkpoint_interval": 10})
    for i in range(30):
        t.append(_rows(i, 1), provenance=False)
    assert t.log.list_checkpoints() == [10, 20, 30]
    assert built == [10, 10, 10]  # (the version-0 commit adds no file)
    tv.clear_caches()
    assert tv.open(path).latest().to_arrow().column("id").to_pylist() == list(range(30))
    assert t.latest().to_arrow().column("id").to_pylist() == list(range(30))


def test_reads_in_a_new_process_do_not_import_pandas(path: str) -> None:
    """pandas costs ~0.3 s to import; pyarrow imports it whenever Python values become an
    array. Reads, SQL (the count answered from the log too) and lookups never need it."""
    import subprocess
    import sys

    t = tv.create(path, schema=SCHEMA)
    t.append(_rows(0, 50), provenance=False)
    t.delete("id = 3")
    script = f"""
import sys
import tablever as tv
s = tv.open({path!r}).latest()
assert s.num_rows == 49
assert s.to_arrow().num_rows == 49 and s.to_arrow(where="id = 5").num_rows == 1
assert s.sql("SELECT count(*) AS n FROM t").column("n").to_pylist() == [49]
assert s.sql("SELECT id % 3 AS k, count(*) AS n FROM t GROUP BY k").num_rows == 3
assert s.head(2).num_rows == 2 and len(s.plan(where="id = 5").tasks) == 1
assert sum(b.num_rows for b in s.to_batches(batch_size=10)) == 49
assert s.to_arrow(where="id < 0").num_rows == 0  # empty results, too
assert tv.open({path!r}).as_of(0).to_arrow().num_rows == 0
assert s.sql("SELECT * FROM t WHERE id < 0").num_rows == 0
print("pandas" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_create_append_and_delete_in_a_new_process_do_not_import_pandas(path: str) -> None:
    import subprocess
    import sys

    # The rows of a real dataset: a zoned timestamp (its bounds), a label column of few
    # values with NULLs (hashed per distinct value), text, floats. Written here and read
    # in the child with ParquetFile, which does not import pandas itself.
    n = 6000
    source = os.path.join(os.path.dirname(path), "rows.parquet")
    pq.write_table(pa.table({
        "id": pa.array(range(n), pa.int64()),
        "ts": pa.array([dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
                        + dt.timedelta(microseconds=7 * i) for i in range(n)],
                       pa.timestamp("us", tz="UTC")),
        "label": pa.array([("cat", "dog", None)[i % 3] for i in range(n)]),
        "text": pa.array([f"text {i}" for i in range(n)]),
        "confidence": pa.array([i / n for i in range(n)]),
    }), source)
    script = f"""
import sys
import pyarrow as pa
import pyarrow.parquet as pq
import tablever as tv
t = tv.create({path!r}, schema=pa.schema([("id", pa.int64())]))
ids = pa.Array.from_buffers(pa.int64(), 3, [None, pa.py_buffer(bytes(24))])
t.append(pa.Table.from_arrays([ids], names=["id"]), provenance=False)
t.delete("id = 0")
assert t.latest().num_rows == 0
rows = pq.ParquetFile({source!r}).read()
big = tv.create({path!r} + "-rows", schema=rows.schema)
big.append(rows, provenance=False)
assert big.latest().num_rows == {n}
print("pandas" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
