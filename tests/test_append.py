"""append: inputs users hold, content-addressed files, summaries, bad input, races."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tablever as tv

pytestmark = pytest.mark.storages  # each test on the local disk and on S3

Batch = Callable[..., pa.Table]

EXPECTED = [
    {"id": 1, "label": "cat", "confidence": 0.5},
    {"id": 2, "label": None, "confidence": None},
]


@pytest.mark.parametrize(
    "make",
    [
        lambda: pa.table({"id": [1, 2], "label": ["cat", None], "confidence": [0.5, None]}),
        lambda: pa.RecordBatch.from_pydict(
            {"id": [1, 2], "label": ["cat", None], "confidence": [0.5, None]}
        ),
        lambda: pl.DataFrame({"id": [1, 2], "label": ["cat", None], "confidence": [0.5, None]}),
        lambda: pd.DataFrame({"id": [1, 2], "label": ["cat", None], "confidence": [0.5, None]}),
        lambda: pa.table(  # column order does not matter; dictionary columns are decoded
            {"confidence": [0.5, None], "id": [1, 2],
             "label": pa.array(["cat", None]).dictionary_encode()}
        ),
    ],
    ids=["arrow-table", "record-batch", "polars", "pandas", "reordered-dictionary"],
)
def test_append_accepts_what_users_hold(table: tv.Table, make: Callable[[], Any]) -> None:
    s = table.append(make(), message="two rows")
    assert s.version == 1
    assert s.to_arrow().to_pylist() == EXPECTED
    assert s.to_arrow().schema == table.latest().schema


def test_snapshot_metadata_and_summary(table: tv.Table, batch: Batch) -> None:
    v0 = table.latest()
    s1 = table.append(batch([1, 2, 3]), message="first", properties={"source": "s3://raw"})
    s2 = table.append(batch([4, 5]), message="second")
    assert (s1.version, s1.operation, s1.message) == (1, "append", "first")
    assert s1.properties == {"source": "s3://raw"}
    assert s1.parent_id == v0.id and s2.parent_id == s1.id
    assert v0.timestamp < s1.timestamp < s2.timestamp
    assert s1.timestamp.utcoffset() is not None and s1.timestamp.utcoffset().total_seconds() == 0
    assert len(s1.id) == 64
    assert s2.summary["added_rows"] == 2 and s2.summary["deleted_rows"] == 0
    assert s2.summary["total_rows"] == 5 == s2.num_rows
    assert s2.summary["total_files"] == 2
    assert s2.summary["total_bytes"] == sum(f.bytes for f in s2.data_files)


@pytest.mark.disk
def test_data_files_are_content_addressed_with_stats(
    table: tv.Table, batch: Batch, path: str
) -> None:
    s = table.append(batch([3, 1, 2], labels=["b", None, "a"], confidence=[0.1, 0.9, None]))
    (f,) = s.data_files
    raw = Path(path, f.path).read_bytes()
    assert f.sha256 == hashlib.sha256(raw).hexdigest()
    assert f.path == f"data/{f.sha256[:2]}/{f.sha256}.parquet"
    assert (f.bytes, f.rows, f.first_row_id) == (len(raw), 3, 0)
    assert f.stats["id"] == {"min": 1, "max": 3, "nulls": 0}
    assert f.stats["label"] == {"min": "a", "max": "b", "nulls": 1}
    assert f.stats["confidence"] == {"min": 0.1, "max": 0.9, "nulls": 1}
    assert pq.read_table(Path(path, f.path)).num_rows == 3


def test_row_ids_follow_the_table_counter(table: tv.Table, batch: Batch, rows: Any) -> None:
    table.append(batch([10, 11, 12]))
    s = table.append(batch([13, 14]))
    assert [r["_row_id"] for r in rows(s.to_arrow(with_row_id=True))] == [0, 1, 2, 3, 4]
    assert [f.first_row_id for f in s.data_files] == [0, 3]


def test_same_bytes_twice_are_stored_once_and_live_twice(
    table: tv.Table, batch: Batch, files: Any, path: str
) -> None:
    table.append(batch([1, 2]))
    s = table.append(batch([1, 2]))
    assert len(files(path, "data")) == 1
    assert s.num_rows == 4
    assert sorted(s.to_arrow(with_row_id=True).column("_row_id").to_pylist()) == [0, 1, 2, 3]


def test_files_do_not_depend_on_the_input_form(
    tmp_path: Path, schema: pa.Schema, batch: Batch
) -> None:
    base = batch(list(range(3000)))
    forms = [
        base,
        pa.concat_tables([base.slice(0, 1234), base.slice(1234)]),
        pa.Table.from_batches(base.to_batches(max_chunksize=100)),
        pl.from_arrow(base),
        base.to_pandas(),
    ]
    prints = set()
    for i, data in enumerate(forms):
        s = tv.create(tmp_path / f"t{i}", schema=schema).append(data)
        prints.add((s.fingerprint, tuple(s.files)))
    assert len(prints) == 1


def test_empty_append_commits_nothing_unless_allowed(table: tv.Table, schema: pa.Schema) -> None:
    before = table.latest()
    assert table.append(schema.empty_table()).version == before.version
    assert table.latest().version == 0
    s = table.append(schema.empty_table(), message="nothing, on purpose", allow_empty=True)
    assert (s.version, s.message, s.num_rows) == (1, "nothing, on purpose", 0)


def test_strict_mode_widens_losslessly(table: tv.Table) -> None:
    data = pa.table(
        {"id": pa.array([1], pa.int32()), "label": ["x"],
         "confidence": pa.array([0.5], pa.float32())}
    )
    s = table.append(data)
    assert s.schema == table.schema
    assert s.to_arrow().column("id").type == pa.int64()


@pytest.mark.parametrize(
    ("data", "columns"),
    [
        (pa.table({"id": ["a"], "label": ["x"], "confidence": [0.1]}), ["id"]),
        (pa.table({"id": [1], "label": [1], "confidence": ["high"]}), ["label", "confidence"]),
        (pa.table({"id": [1], "label": ["x"]}), ["confidence"]),
        (pa.table({"id": [1], "label": ["x"], "confidence": [0.1], "extra": [1]}), ["extra"]),
        (pa.table({"id": [1], "label": ["x"], "confidence": [0.1], "_row_id": [5]}),
         ["_row_id"]),
        (pa.table({"id": [1.5], "confidence": [1], "other": [True]}),  # int64 -> float64 loses
         ["id", "label", "confidence", "other"]),
    ],
)
def test_schema_mismatch_names_every_column_and_changes_nothing(
    filled: tv.Table, files: Any, path: str, data: pa.Table, columns: list[str]
) -> None:
    before, on_disk = filled.latest(), files(path)
    with pytest.raises(tv.SchemaMismatchError) as info:
        filled.append(data)
    assert sorted(info.value.columns) == sorted(columns)
    for c in columns:
        assert repr(c) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert tv.open(path).latest().id == before.id
    assert files(path) == on_disk


def test_nulls_in_a_non_nullable_column(path: str) -> None:
    t = tv.create(path, schema=pa.schema([pa.field("id", pa.int64(), nullable=False)]))
    with pytest.raises(tv.SchemaMismatchError, match="id"):
        t.append(pa.table({"id": [1, None]}))
    assert t.latest().version == 0


def test_unsupported_input_is_schema_mismatch(table: tv.Table) -> None:
    with pytest.raises(tv.SchemaMismatchError):
        table.append([1, 2, 3])
    with pytest.raises(tv.SchemaMismatchError):
        table.append(object())


def test_message_must_be_a_string(table: tv.Table, batch: Batch) -> None:
    with pytest.raises(tv.TableverError):
        table.append(batch([1]), message=3)  # type: ignore[arg-type]
    assert table.latest().version == 0


def test_threads_with_their_own_handles_all_commit(
    path: str, table: tv.Table, batch: Batch
) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        t = tv.open(path)
        barrier.wait()
        try:
            for i in range(5):
                t.append(batch([k * 100 + i]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    s = tv.open(path).latest()
    assert s.version == 20
    assert sorted(s.to_arrow().column("id").to_pylist()) == sorted(
        k * 100 + i for k in range(4) for i in range(5)
    )
    assert sorted(s.to_arrow(with_row_id=True).column("_row_id").to_pylist()) == list(range(20))


def _append_in_child(path: str, k: int, n: int) -> None:
    t = tv.open(path)
    for i in range(n):
        t.append(pa.table({"id": [k * 1000 + i], "label": [f"w{k}"], "confidence": [0.5]}))


def test_processes_appending_concurrently_all_commit(path: str, table: tv.Table) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_in_child, args=(path, k, 8)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    t = tv.open(path)
    s = t.latest()
    assert s.version == 24 and s.num_rows == 24
    got = s.to_arrow(with_row_id=True)
    assert sorted(got.column("id").to_pylist()) == sorted(
        k * 1000 + i for k in range(3) for i in range(8)
    )
    assert sorted(got.column("_row_id").to_pylist()) == list(range(24))
    history = t.history()
    assert [h.version for h in history] == list(range(24, -1, -1))
    for newer, older in zip(history, history[1:], strict=False):
        assert newer.parent_id == older.id and newer.timestamp > older.timestamp


# --- progress ------------------------------------------------------------------------


def _big(n: int) -> pa.Table:
    import numpy as np

    ids = np.arange(n, dtype=np.int64)
    return pa.table({
        "id": ids,
        "label": pa.array(np.array(["cat", "dog", "bird"])[ids % 3]),  # dictionary pages
        "confidence": np.where(ids % 7 == 0, np.nan, (ids % 100) / 100),  # NaN: no stats
    })


def _checked(calls: list[tuple[str, int, int]], total: int) -> None:
    """Called with ("write", done, total): 0 first, done never decreasing, total last."""
    assert calls, "progress was never called"
    assert {step for step, _, _ in calls} == {"write"}
    assert {t for _, _, t in calls} == {total}
    done = [d for _, d, _ in calls]
    assert done[0] == 0 and done[-1] == total
    assert done == sorted(done)


def test_append_reports_progress_up_to_the_total(tmp_path: Path) -> None:
    n = 2_500_000  # three data files, written on two threads, 20 row groups
    data = _big(n)
    t = tv.create(tmp_path / "t", schema=data.schema)
    calls: list[tuple[str, int, int]] = []
    threads: set[int] = set()

    def progress(step: str, done: int, total: int) -> None:
        threads.add(threading.get_ident())
        calls.append((step, done, total))

    s = t.append(data, message="big", progress=progress)
    _checked(calls, n)
    assert len(calls) >= 1 + -(-n // 131_072)  # at least once per row group
    assert s.num_rows == n and len(s.files) == 3

    # the same bytes as a write without progress: same files, same fingerprint
    u = tv.create(tmp_path / "u", schema=data.schema)
    plain = u.append(data, message="big")
    assert sorted(plain.files) == sorted(s.files)
    assert plain.fingerprint == s.fingerprint


def test_create_overwrite_and_partitioned_writes_report_progress(tmp_path: Path) -> None:
    data = _big(400_000)
    calls: list[tuple[str, int, int]] = []
    t = tv.create(tmp_path / "t", data=data, progress=lambda *c: calls.append(c))
    _checked(calls, 400_000)
    assert t.latest().num_rows == 400_000

    calls.clear()
    t.overwrite(data.slice(0, 300_000), message="fewer", progress=lambda *c: calls.append(c))
    _checked(calls, 300_000)

    # one file per label, written two at a time
    p = tv.create(tmp_path / "p", schema=data.schema, properties={"partition_by": "label"})
    calls.clear()
    s = p.append(data, message="by label", progress=lambda *c: calls.append(c))
    _checked(calls, 400_000)
    assert len(s.files) == 3


def test_a_failing_progress_callback_fails_the_write_and_commits_nothing(tmp_path: Path) -> None:
    data = _big(300_000)
    t = tv.create(tmp_path / "t", schema=data.schema)

    def progress(step: str, done: int, total: int) -> None:
        if done > 0:
            raise KeyboardInterrupt  # a user stopping a long write from the display

    with pytest.raises(KeyboardInterrupt):
        t.append(data, message="stopped", progress=progress)
    assert t.latest().version == 0 and tv.open(tmp_path / "t").latest().num_rows == 0
