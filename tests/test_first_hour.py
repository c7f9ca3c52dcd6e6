"""What a new user meets in the first hour, through the library: canonical input types,
compaction that settles, lock files that move with the project, ``tv.open(version=)``."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tablever as tv
from tablever.format.commit import DataFile
from tablever.maintenance import compact_plan, plan_compact
from tablever.maintenance import compaction as compaction_module
from tablever.schema import canonical_types

UTC = timezone.utc


def _ts(unit: str, values: list[int], tz: str | None = "UTC") -> pa.Array:
    return pa.array(values, pa.timestamp(unit, tz=tz))


# --- 1. one type per kind, lossless casts on append ---------------------------------------


def _us_table(tmp_path: Path) -> tv.Table:
    return tv.create(tmp_path / "t", schema=pa.schema([
        ("id", pa.int64()), ("ts", pa.timestamp("us", tz="UTC"))]))


@pytest.mark.parametrize("unit,scale", [("s", 1), ("ms", 1_000), ("ns", 1_000_000_000)])
def test_append_casts_timestamps_to_the_table_unit_when_exact(
    tmp_path: Path, unit: str, scale: int
) -> None:
    t = _us_table(tmp_path)
    s = t.append(pa.table({"id": [1], "ts": _ts(unit, [1_714_550_400 * scale])}), message="m")
    assert s.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert s.to_arrow().column("ts").to_pylist() == [datetime(2024, 5, 1, 8, tzinfo=UTC)]


def test_append_of_int32_widens_to_int64(tmp_path: Path) -> None:
    t = _us_table(tmp_path)
    s = t.append(pa.table({"id": pa.array([7], pa.int32()), "ts": _ts("us", [0])}), message="m")
    assert s.to_arrow().column("id").type == pa.int64()


def test_append_of_nanoseconds_that_would_be_cut_names_the_column_and_the_fix(
    tmp_path: Path,
) -> None:
    t = _us_table(tmp_path)
    bad = pa.table({"id": [1], "ts": _ts("ns", [1_714_550_400_000_000_001])})
    for mode in ("strict", "merge"):
        with pytest.raises(tv.SchemaMismatchError) as err:
            t.append(bad, message="m", schema_mode=mode)  # type: ignore[arg-type]
        assert err.value.columns == ["ts"]
        assert "'ts'" in str(err.value) and "round them to microseconds" in str(err.value)
    assert t.latest().version == 0


def test_polars_and_merge_append_to_a_microsecond_table(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    t = _us_table(tmp_path)
    df = pl.DataFrame({"id": [1], "ts": [datetime(2024, 5, 1, tzinfo=UTC)]})
    t.append(df.with_columns(pl.col("ts").dt.cast_time_unit("ns")), message="polars ns")
    merged = pa.table({"id": [2], "ts": _ts("ms", [0]), "extra": ["x"]})
    s = t.append(merged, message="merge", schema_mode="merge")
    assert s.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert s.num_rows == 2


def test_a_table_created_with_nanoseconds_keeps_them(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("ts", pa.timestamp("ns"))]))
    s = t.append(pa.table({"ts": _ts("ns", [1], tz=None)}), message="m")
    assert s.schema.field("ts").type == pa.timestamp("ns")
    assert s.to_arrow().column("ts").cast(pa.int64()).to_pylist() == [1]
    s = t.append(pa.table({"ts": _ts("us", [1], tz=None)}), message="us widens")
    assert sorted(s.to_arrow().column("ts").cast(pa.int64()).to_pylist()) == [1, 1000]


def test_canonical_types() -> None:
    data = pa.table({"a": pa.array([1], pa.int32()), "ts": _ts("s", [1]),
                     "kept": pa.array([1], pa.int16()), "f": pa.array([1.0], pa.float32())})
    out = canonical_types(data, keep=["kept"])
    assert out.schema == pa.schema([("a", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")),
                                    ("kept", pa.int16()), ("f", pa.float32())])
    with pytest.raises(tv.SchemaMismatchError, match="'ts'.*timestamp\\[ns"):
        canonical_types(pa.table({"ts": _ts("ns", [1])}))


# --- 2. compaction reaches a fixed point ------------------------------------------------


def _fake_files(state: object, sizes: list[tuple[int, int]]) -> object:
    files, next_id = {}, 0
    for i, (rows, nbytes) in enumerate(sizes):
        f = DataFile(f"data/f{i}.parquet", "0" * 64, nbytes, rows, next_id)
        files[f.key] = f
        next_id += rows
    return dataclasses.replace(state, files=files, deletes={})  # type: ignore[type-var]


def test_plan_never_groups_files_the_writer_would_cut_apart_again(tmp_path: Path) -> None:
    # 4 files of 1,048,576 rows (~20 MB) under a 128 MiB target: small by bytes, full by
    # rows. They used to be planned as one group and rewritten as 4 files, every run.
    state = _us_table(tmp_path).latest().state
    full = _fake_files(state, [(compaction_module.MAX_ROWS_PER_FILE, 20 << 20)] * 4)
    assert plan_compact(full, target_file_bytes=128 << 20).empty  # type: ignore[arg-type]
    halves = _fake_files(state, [(600_000, 10 << 20)] * 4)
    assert plan_compact(halves, target_file_bytes=128 << 20).empty  # type: ignore[arg-type]
    small = _fake_files(state, [(300_000, 5 << 20)] * 4)
    plan = plan_compact(small, target_file_bytes=128 << 20)  # type: ignore[arg-type]
    assert [len(g.files) for g in plan.groups] == [3]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.tuples(st.integers(1, 120), st.integers(0, 300)), min_size=1,
                     max_size=7),
    target=st.sampled_from([1_500, 4_000, 12_000, 60_000]),
    row_cap=st.sampled_from([None, 40, 150]),
    min_input_files=st.integers(1, 3),
    delete_every=st.sampled_from([0, 2, 5]),
    sort=st.booleans(),
)
def test_a_second_compact_plans_nothing(
    batches: list[tuple[int, int]], target: int, row_cap: int | None, min_input_files: int,
    delete_every: int, sort: bool,
) -> None:
    root = tempfile.mkdtemp()
    try:
        with pytest.MonkeyPatch.context() as mp:
            if row_cap is not None:
                mp.setattr(compaction_module, "MAX_ROWS_PER_FILE", row_cap)
            t = tv.create(Path(root) / "t", schema=pa.schema([("id", pa.int64()),
                                                             ("s", pa.string())]))
            start = 0
            for rows, width in batches:
                ids = list(range(start, start + rows))
                start += rows
                t.append(pa.table({"id": ids, "s": [f"{i:08d}" + "x" * width for i in ids]}),
                         message="batch")
            if delete_every:
                t.delete(f"id % {delete_every} = 0", message="thin out")
            before = sorted(t.latest().to_arrow().column("id").to_pylist())
            kwargs = {"target_file_bytes": target, "min_input_files": min_input_files}
            tv.compact(t, sort_by=["s"] if sort else None, **kwargs)  # type: ignore[arg-type]
            assert compact_plan(t, **kwargs).empty  # type: ignore[arg-type]
            assert tv.compact(t, **kwargs) is None  # type: ignore[arg-type]
            assert sorted(t.latest().to_arrow().column("id").to_pylist()) == before
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_compact_message_says_file_in_the_singular(tmp_path: Path) -> None:
    t = _us_table(tmp_path)
    t.append(pa.table({"id": [1, 2], "ts": _ts("us", [0, 0])}), message="m")
    t.delete("id = 1", message="d")
    s = tv.compact(t)
    assert s is not None and s.message == "compact 1 file into 1"


# --- 6. lock files move with the project --------------------------------------------------


def test_lock_stores_the_table_relative_to_the_lock_and_survives_a_move(tmp_path: Path) -> None:
    project = tmp_path / "project"
    t = tv.create(project / "wh" / "events", schema=pa.schema([("id", pa.int64())]))
    t.append(pa.table({"id": [1, 2]}), message="m")
    (project / "locks").mkdir()
    t.latest().lock(project / "locks" / "data.lock")
    body = json.loads((project / "locks" / "data.lock").read_text())
    assert body["table_relative"] == "../wh/events" and body["table"] == t.location
    moved = tmp_path / "elsewhere"
    shutil.move(str(project), str(moved))
    assert tv.from_lock(moved / "locks" / "data.lock").num_rows == 2


def test_a_lock_moved_alone_still_finds_its_table(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "a" / "events", schema=pa.schema([("id", pa.int64())]))
    t.latest().lock(tmp_path / "data.lock")
    other = Path(tempfile.mkdtemp())
    try:
        shutil.move(str(tmp_path / "data.lock"), str(other / "data.lock"))
        body = json.loads((other / "data.lock").read_text())
        assert body["table_relative"] == "a/events" and body["table"] == t.location
        assert tv.from_lock(other / "data.lock").version == 0
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_a_lock_whose_table_moved_names_the_argument_that_fixes_it(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "wh" / "events", schema=pa.schema([("id", pa.int64())]))
    t.latest().lock(tmp_path / "data.lock")
    shutil.move(str(tmp_path / "wh"), str(tmp_path / "wh2"))
    with pytest.raises(tv.TableNotFoundError, match="location="):
        tv.from_lock(tmp_path / "data.lock")
    assert tv.from_lock(tmp_path / "data.lock", location=str(tmp_path / "wh2" / "events"))


# --- 10. tv.open(path, version=...) ---------------------------------------------------------


def test_open_at_a_version(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    t.append(pa.table({"id": [1]}), message="one")
    t.tag("v1.0")
    t.append(pa.table({"id": [2]}), message="two")
    assert tv.open(tmp_path / "t", version=1).num_rows == 1
    assert tv.open(tmp_path / "t", version="v1.0").version == 1
    assert isinstance(tv.open(tmp_path / "t"), tv.Table)
    with pytest.raises(tv.RefNotFoundError):
        tv.open(tmp_path / "t", version=9)
