"""Snapshot.content_hash: equal for the same rows however they are laid out in files."""

from __future__ import annotations

import decimal
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tablever as tv
import tablever.write as tv_write
from tablever.content_hash import row_hashes, rows_content_hash, sum_rows
from tablever.errors import CorruptLogError
from tablever.format.commit import DataFile, data_file_from_dict
from tablever.write import parquet_bytes
from tests.conftest import SCHEMA, make_batch


def _fresh(tmp_path: Path, name: str, data: pa.Table, schema: pa.Schema = SCHEMA) -> tv.Snapshot:
    t = tv.create(tmp_path / name, schema=schema)
    return t.append(data, message="fresh copy")


def _no_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every way of reading a Parquet file fail."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read a data file")

    for name in ("read_table", "ParquetFile", "read_metadata", "ParquetDataset"):
        monkeypatch.setattr(pq, name, refuse)
    monkeypatch.setattr(ds, "dataset", refuse)


# --- equal for the same rows ------------------------------------------------------------


def test_same_rows_in_different_batches_and_orders_hash_alike(tmp_path: Path) -> None:
    rows = make_batch(list(range(100)))
    one = _fresh(tmp_path, "one", rows)
    t = tv.create(tmp_path / "many", schema=SCHEMA)
    t.append(rows.slice(60).take(np.arange(39, -1, -1)))  # reversed tail first
    t.append(rows.slice(0, 25))
    many = t.append(rows.slice(25, 35))
    assert len(many.files) == 3 and len(one.files) == 1
    assert many.fingerprint != one.fingerprint
    assert many.content_hash == one.content_hash
    assert one.content_hash == rows_content_hash(rows)
    assert len(one.content_hash) == 64 and int(one.content_hash, 16) >= 0


def test_the_same_data_loaded_twice_has_the_same_content_hash(tmp_path: Path) -> None:
    rows = make_batch(list(range(50)))
    a = _fresh(tmp_path, "a", rows)
    b = _fresh(tmp_path, "b", rows)
    assert a.fingerprint == b.fingerprint and a.content_hash == b.content_hash


def test_row_ids_do_not_count(filled: tv.Table, tmp_path: Path) -> None:
    """An update keeps ``_row_id`` in a physical column; the hash ignores it."""
    after = filled.update({"label": "'x'"}, where="id < 5")
    assert any(f.first_row_id is None for f in after.data_files)  # a file with _row_id
    assert after.content_hash == _fresh(tmp_path, "copy", after.to_arrow()).content_hash


def test_rewritten_layout_keeps_the_content_hash(filled: tv.Table) -> None:
    """Compaction's outcome, written by hand: the same rows in one new file."""
    before = filled.delete("id IN (3, 14)")
    rewritten = filled.overwrite(before.to_arrow(), message="same rows, one file")
    assert rewritten.files != before.files and not rewritten.deletion_vectors
    assert rewritten.content_hash == before.content_hash
    assert rewritten.fingerprint != before.fingerprint


def test_restore_has_the_restored_versions_content_hash(filled: tv.Table) -> None:
    v2 = filled.as_of(2)
    filled.delete("id > 3")
    filled.append(make_batch([100, 101]))
    restored = filled.restore(2)
    assert restored.content_hash == v2.content_hash
    assert restored.fingerprint == v2.fingerprint


@pytest.mark.parametrize(
    "change",
    [
        'delete("id = 3")',
        'delete("confidence < 0.5")',
        'filter("label = \'l1\'")',
        'update({"confidence": "confidence * 2"}, where="id % 4 = 0")',
        "upsert(make_batch([2, 30], labels=['new', 'new']), on=['id'])",
    ],
)
def test_after_a_change_equals_a_fresh_table_of_the_remaining_rows(
    filled: tv.Table, tmp_path: Path, change: str
) -> None:
    eval(f"filled.{change}", {"filled": filled, "make_batch": make_batch})
    s = filled.latest()
    assert s.content_hash == _fresh(tmp_path, "fresh", s.to_arrow()).content_hash
    assert s.content_hash == rows_content_hash(s.to_arrow())


def test_deletes_on_the_same_file_accumulate(filled: tv.Table, tmp_path: Path) -> None:
    filled.delete("id = 1")
    filled.delete("id = 2")
    s = filled.delete("id IN (11, 19)")
    assert s.content_hash == _fresh(tmp_path, "fresh", s.to_arrow()).content_hash


def test_schema_evolution_old_files_hash_as_if_read_with_nulls(
    table: tv.Table, tmp_path: Path
) -> None:
    table.append(make_batch([1, 2]))
    wider = make_batch([3]).append_column("source", pa.array(["cam"], pa.string()))
    s = table.append(wider, schema_mode="merge")
    assert "source" not in s.data_files[0].stats  # the old file has no such column
    assert s.content_hash == _fresh(tmp_path, "fresh", s.to_arrow(), s.schema).content_hash


def test_widened_column_hashes_like_the_wide_type(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("x", pa.int32())]))
    t.append(pa.table({"x": pa.array([1, 2], pa.int32())}))
    s = t.append(pa.table({"x": pa.array([2**40], pa.int64())}), schema_mode="merge")
    assert s.schema.field("x").type == pa.int64()
    fresh = _fresh(tmp_path, "f", s.to_arrow(), s.schema)
    assert s.content_hash == fresh.content_hash


# --- different for different rows ------------------------------------------------------------


def _hash_of(rows: pa.Table) -> str:
    return rows_content_hash(rows)


def test_different_rows_differ(tmp_path: Path) -> None:
    base = make_batch(list(range(20)))
    h = _fresh(tmp_path, "base", base).content_hash
    one_value = base.set_column(2, "confidence", pa.array([0.5] + [0.0] * 19, pa.float64()))
    variants = {
        "one value changed": base.set_column(
            1, "label", pa.array(["zz"] + base.column("label").to_pylist()[1:])
        ),
        "a row missing": base.slice(1),
        "a row twice": pa.concat_tables([base, base.slice(0, 1)]),
        "a NULL instead of a value": base.set_column(
            1, "label", pa.array([None] + base.column("label").to_pylist()[1:], pa.string())
        ),
        "values swapped between rows": one_value,
        "empty": base.slice(0, 0),
    }
    seen = {h}
    for what, rows in variants.items():
        other = _hash_of(rows)
        assert other not in seen, what
        seen.add(other)


def test_values_moved_between_columns_or_rows_differ() -> None:
    a = pa.table({"x": [1, 2], "y": [1, 2]})
    b = pa.table({"x": [1, 2], "y": [2, 1]})
    c = pa.table({"y": [1, 2], "x": [1, 2]})  # column order alone does not matter
    d = pa.table({"x": [1, 2], "z": [1, 2]})  # a renamed column does
    assert _hash_of(a) != _hash_of(b)
    assert _hash_of(a) == _hash_of(c)
    assert _hash_of(a) != _hash_of(d)


def test_the_schema_is_part_of_the_digest() -> None:
    as64 = pa.table({"x": pa.array([1, 2], pa.int64())})
    as32 = pa.table({"x": pa.array([1, 2], pa.int32())})
    assert sum_rows(as64) == sum_rows(as32)  # same values: same row hashes ...
    assert _hash_of(as64) != _hash_of(as32)  # ... but the schema differs


def test_strings_that_differ_only_in_padding_or_position_differ() -> None:
    values = ["", "\x00", "a", "a\x00", "ab", "ba", "abcdefgh", "abcdefgh\x00", "x" * 100,
              "x" * 99 + "y", "y" + "x" * 99]
    lo, hi = row_hashes(pa.table({"s": values}))
    assert len(set(zip(lo.tolist(), hi.tolist(), strict=True))) == len(values)
    nested = [[1, 2], [2, 1], [1], [], None, [None], [1, None], [None, 1]]
    lo, hi = row_hashes(pa.table({"l": pa.array(nested, pa.list_(pa.int64()))}))
    assert len(set(zip(lo.tolist(), hi.tolist(), strict=True))) == len(nested)


def test_row_hashes_of_many_distinct_rows_are_distinct() -> None:
    n = 200_000
    rows = pa.table({"id": np.arange(n), "s": pa.array([f"r{i % 1000}" for i in range(n)])})
    lo, hi = row_hashes(rows)
    assert len(np.unique(lo)) == n and len(np.unique(hi)) == n


def test_long_null_and_repetitive_string_columns_hash_like_their_rows() -> None:
    """Columns long enough for the dictionary shortcut (all NULL, repetitive, long values
    past the by-position limit) and tables cut into slices hash as row by row."""
    n = 40_000
    rows = pa.table({
        "nothing": pa.nulls(n, pa.string()),
        "few": pa.array([None if i % 5 == 0 else f"v{i % 3}" for i in range(n)]),
        "long": pa.array([("w" * (i % 300)) + str(i) for i in range(n)]),
    })
    one_by_one = sum(sum_rows(rows.slice(i, 1)) for i in range(0, n, 997))
    picked = rows.take(list(range(0, n, 997)))
    assert sum_rows(picked) == one_by_one % (1 << 128)
    total = sum_rows(rows)
    halves = sum_rows(rows.slice(0, n // 3)) + sum_rows(rows.slice(n // 3))
    assert total == halves % (1 << 128)
    assert sum_rows(rows.select(["nothing"])) == sum_rows(pa.table({"nothing": pa.nulls(n)}))


# --- every column type, through Parquet and back ---------------------------------------------

ALL_TYPES = pa.table(
    {
        "i8": pa.array([-1, 0, None, 7], pa.int8()),
        "u64": pa.array([2**64 - 1, 0, None, 5], pa.uint64()),
        "f16": pa.array([1.5, None, float("nan"), -0.0], pa.float16()),
        "f64": pa.array([1.5, None, float("nan"), float("inf")], pa.float64()),
        "b": pa.array([True, None, False, True], pa.bool_()),
        "s": pa.array(["héllo world, a longer string", "", None, "x" * 200], pa.string()),
        "ls": pa.array(["a", "b", None, ""], pa.large_string()),
        "bin": pa.array([b"", b"\x00", None, b"\xff" * 9], pa.binary()),
        "fsb": pa.array([b"ab", b"cd", None, b"\x00\x00"], pa.binary(2)),
        "d32": pa.array([1, None, -5, 0], pa.date32()),
        "d64": pa.array([86_400_000 * 3, None, -86_400_000, 0], pa.date64()),
        "ts_s": pa.array([1, 2, None, -1], pa.timestamp("s")),
        "ts_ns": pa.array([1, -2, 3, None], pa.timestamp("ns", tz="Europe/Paris")),
        "t32": pa.array([1, 2, 3, None], pa.time32("s")),
        "t64": pa.array([1, 2, 3, None], pa.time64("ns")),
        "dur": pa.array([1, 2, -3, None], pa.duration("ms")),
        "dec": pa.array([decimal.Decimal("1.23"), None, decimal.Decimal("-4.00"),
                         decimal.Decimal("0")], pa.decimal128(5, 2)),
        "dec256": pa.array([decimal.Decimal("1.23"), None, decimal.Decimal("-4.00"),
                            decimal.Decimal("9" * 45)], pa.decimal256(50, 2)),
        "lst": pa.array([[1, None], None, [], [3]], pa.list_(pa.int64())),
        "lls": pa.array([["a", None], None, [], ["b"]], pa.large_list(pa.string())),
        "fsl": pa.array([[1, 2], None, [3, 4], [None, 5]], pa.list_(pa.int64(), 2)),
        "mp": pa.array([[("a", 1)], None, [], [("b", None)]], pa.map_(pa.string(), pa.int64())),
        "st": pa.array([{"x": 1, "y": "a"}, None, {"x": None, "y": None}, {"x": 2, "y": "b"}],
                       pa.struct([("x", pa.int64()), ("y", pa.string())])),
        "n": pa.nulls(4),
    }
)


@pytest.mark.parametrize("column", ALL_TYPES.column_names)
def test_hash_in_memory_equals_hash_read_back_from_parquet(column: str) -> None:
    """Stored sums come from memory, deleted rows are hashed from disk: they must agree."""
    rows = ALL_TYPES.select([column])
    back = pq.read_table(pa.BufferReader(parquet_bytes(rows)))
    for mem, disk in zip(row_hashes(rows), row_hashes(back), strict=True):
        assert mem.tolist() == disk.tolist()
    # slices (non-zero array offsets) hash like the same rows built afresh
    for start in range(4):
        part = rows.slice(start, 2)
        fresh = rows.take(list(range(start, min(start + 2, rows.num_rows))))  # offset 0
        assert part.column(0).chunks[0].offset == start
        assert fresh.column(0).chunks[0].offset == 0
        assert row_hashes(part)[0].tolist() == row_hashes(fresh)[0].tolist()


def test_a_table_of_every_type_round_trips(tmp_path: Path) -> None:
    rows = ALL_TYPES.drop_columns(["dec256"])  # DuckDB (delete's engine) lacks decimal256
    t = tv.create(tmp_path / "t", schema=rows.schema)
    t.append(rows.slice(0, 2))
    t.append(rows.slice(2))
    s = t.delete("i8 = 7")
    assert s.num_rows == 3
    assert s.content_hash == rows_content_hash(s.to_arrow())
    assert s.content_hash == rows_content_hash(rows.slice(0, 3))


def test_known_answer_pins_the_scheme() -> None:
    """The scheme is part of the format: these digests must never change."""
    rows = pa.table({"id": pa.array([1, 2, None], pa.int64()), "s": ["a", None, "ccc"]})
    assert f"{sum_rows(rows):032x}" == "f61bd52d0cfb69f15535df3c885e4700"
    assert rows_content_hash(rows) == (
        "ce6874d289031a267256c33fc333dbe094f44b090adae0bcc3002951754db66b"
    )


# --- computed without a second scan ----------------------------------------------------------


def test_append_hashes_from_memory_without_reading_a_file(
    table: tv.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_reads(monkeypatch)
    s = table.append(make_batch(list(range(1000))))
    (f,) = s.data_files
    assert f.content_hash is not None and len(f.content_hash) == 32
    assert s.content_hash  # no deletes: no data file is read either


def test_only_the_deleted_rows_row_groups_are_read(
    table: tv.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = tv_write.ROW_GROUP_SIZE * 2 + 10  # three row groups
    big = pa.table({"id": pa.array(np.arange(n)), "label": pa.array(["x"] * n),
                    "confidence": pa.array(np.zeros(n))})
    table.append(big)
    s = table.delete(f"id = {tv_write.ROW_GROUP_SIZE + 5}")
    read: list[list[int]] = []
    original = pq.ParquetFile.read_row_groups

    def spy(self: pq.ParquetFile, groups: list[int], *a: Any, **kw: Any) -> pa.Table:
        read.append(list(groups))
        return original(self, groups, *a, **kw)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)
    fresh = tv.open(table.location).latest()
    assert fresh.content_hash == rows_content_hash(big.filter(
        pa.array(np.arange(n) != tv_write.ROW_GROUP_SIZE + 5)))
    assert read == [[1]]
    assert s.num_rows == n - 1


def test_files_without_a_stored_sum_are_hashed_by_reading(
    table: tv.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = tv_write.write_data_file

    def without(*args: Any, **kwargs: Any) -> DataFile:
        return replace(original(*args, **kwargs), content_hash=None)

    monkeypatch.setattr(tv_write, "write_data_file", without)
    table.append(make_batch(list(range(10))))
    s = table.delete("id = 4")
    commit = json.loads(
        (Path(table.location) / "_tablever/log/00000000000000000001.json").read_text()
    )
    assert "content_hash" not in commit["actions"]["add"][0]
    monkeypatch.undo()
    assert s.data_files[0].content_hash is None
    assert s.content_hash == rows_content_hash(s.to_arrow())


# --- on disk: commits and checkpoints --------------------------------------------------------


def test_the_add_action_carries_the_sum_and_row_count(filled: tv.Table) -> None:
    raw = json.loads(
        (Path(filled.location) / "_tablever/log/00000000000000000001.json").read_text()
    )
    (add,) = raw["actions"]["add"]
    assert set(add["content_hash"]) == {"sum", "rows"}
    assert add["content_hash"]["rows"] == add["rows"] == 10
    assert len(add["content_hash"]["sum"]) == 32


@pytest.mark.parametrize(
    "bad",
    [
        {"sum": "0" * 31, "rows": 3},
        {"sum": "G" * 32, "rows": 3},
        {"sum": "A" * 32, "rows": 3},
        {"sum": "0" * 32, "rows": 4},
        {"sum": "0" * 32},
        {"sum": "0" * 32, "rows": 3, "extra": 1},
        {"sum": 5, "rows": 3},
        "0" * 32,
        [],
    ],
)
def test_strict_reader_rejects_a_malformed_content_hash(bad: object) -> None:
    d = {"path": "data/aa/" + "a" * 64 + ".parquet", "sha256": "a" * 64, "bytes": 1,
         "rows": 3, "first_row_id": 0, "stats": {}, "content_hash": bad}
    with pytest.raises(CorruptLogError, match="content_hash"):
        data_file_from_dict(d, "commit 1")


def test_content_hash_is_optional_and_absent_when_unknown() -> None:
    d = {"path": "data/aa/" + "a" * 64 + ".parquet", "sha256": "a" * 64, "bytes": 1,
         "rows": 3, "first_row_id": 0, "stats": {}}
    f = data_file_from_dict(d, "commit 1")
    assert f.content_hash is None and "content_hash" not in f.to_dict()
    g = data_file_from_dict({**d, "content_hash": {"sum": "0f" * 16, "rows": 3}}, "c")
    assert g.content_hash == "0f" * 16
    assert data_file_from_dict(g.to_dict(), "c") == g


def test_checkpoints_keep_the_sums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA, properties={"checkpoint_interval": 2})
    t.append(make_batch([1, 2, 3]))
    s = t.append(make_batch([4, 5]))  # version 2: a checkpoint
    assert t.log.list_checkpoints() == [2]
    state, _ = t.log.read_checkpoint(2)
    assert [f.content_hash for f in state.files.values()] == [
        f.content_hash for f in s.data_files
    ]
    _no_reads_of_data(monkeypatch, t)
    assert tv.open(t.location).as_of(2).content_hash == s.content_hash


def _no_reads_of_data(monkeypatch: pytest.MonkeyPatch, t: tv.Table) -> None:
    """Fail on opening a data file for hashing (checkpoints are read with read_table)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read a data file")

    monkeypatch.setattr(pq, "ParquetFile", refuse)
    t.delete("id = 1")  # the guard works: a deletion vector makes the hash read rows
    with pytest.raises(AssertionError, match="read a data file"):
        _ = t.latest().content_hash


def test_checkpoints_of_files_without_sums_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = tv_write.write_data_file
    monkeypatch.setattr(tv_write, "write_data_file",
                        lambda *a, **kw: replace(original(*a, **kw), content_hash=None))
    t = tv.create(tmp_path / "t", schema=SCHEMA, properties={"checkpoint_interval": 2})
    t.append(make_batch([1, 2, 3]))
    s = t.append(make_batch([4, 5]))
    monkeypatch.undo()
    state, _ = tv.open(t.location).log.read_checkpoint(2)
    assert all(f.content_hash is None for f in state.files.values())
    assert tv.open(t.location).as_of(2).content_hash == rows_content_hash(s.to_arrow())


def test_checkpoints_written_before_the_column_existed_read_as_unknown() -> None:
    from tablever.log import _checkpoint_content_hash

    cols = {"rows": [3, 2], "content_hash": [None, "ab" * 16]}
    assert _checkpoint_content_hash(cols, 0) == {}
    assert _checkpoint_content_hash(cols, 1) == {"content_hash": {"sum": "ab" * 16, "rows": 2}}
    assert _checkpoint_content_hash({"rows": [3]}, 0) == {}


# --- the vectorized string hash against the scheme as written --------------------------------

_M64 = (1 << 64) - 1
_FINALIZERS = ((30, 0xBF58476D1CE4E5B9, 27, 0x94D049BB133111EB, 31),
               (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33))


def _spec_mix(x: int, lane: int) -> int:
    a, m1, b, m2, c = _FINALIZERS[lane]
    x ^= x >> a
    x = (x * m1) & _M64
    x ^= x >> b
    x = (x * m2) & _M64
    return x ^ (x >> c)


def _spec_key(lane: int, *names: str) -> int:
    import hashlib

    raw = hashlib.sha256("\x00".join(("tablever-content-hash/1", *names)).encode()).digest()
    return int.from_bytes(raw[8 * lane: 8 * lane + 8], "little")


def _spec_row(value: bytes | None, column: str, kind: str, lane: int) -> int:
    """One row of one string/binary column, straight from docs/reproducibility.md."""
    acc = _spec_key(lane, "row")
    if value is not None:
        total = 0
        for t in range(0, (len(value) + 7) // 8):
            word = int.from_bytes(value[8 * t: 8 * t + 8].ljust(8, b"\x00"), "little")
            p = _spec_mix((t + _spec_key(lane, "position")) & _M64, lane)
            total = (total + _spec_mix(word ^ p, lane)) & _M64
        k = _spec_key(lane, "column", column, kind)
        acc = (acc + _spec_mix(total ^ ((len(value) * 0x9E3779B97F4A7C15 + k) & _M64), lane)) & _M64
    return _spec_mix(acc, lane)


@settings(max_examples=60, deadline=None)
@example([b"12345678", b"1234567", b"123456789", b"x" * 16, None, b""], 0, False)
@example([b"abcdefgh" * k for k in range(1, 17)] + [b"z" * 129], 3, True)
@given(st.lists(st.one_of(st.none(), st.binary(max_size=40), st.binary(min_size=100, max_size=300)),
                max_size=60),
       st.integers(0, 5), st.booleans())
def test_string_hashes_follow_the_written_scheme(
    values: list[bytes | None], cut: int, as_text: bool
) -> None:
    """Short values (one pass per word position, longest first) and long ones (every word
    back to back), in any mix and from an offset into a larger array, hash exactly as the
    scheme in docs/reproducibility.md says, row by row."""
    if as_text:
        texts = [None if v is None else v.decode("latin-1") for v in values]
        arr = pa.array(["pad"] * cut + texts, pa.string()).slice(cut)
        raw = [None if v is None else v.encode("utf-8") for v in texts]
        kind = "string"
    else:
        arr = pa.array([b"pad"] * cut + values, pa.binary()).slice(cut)
        raw, kind = values, "binary"
    lanes = row_hashes(pa.table({"c": arr}))
    for lane in (0, 1):
        assert lanes[lane].tolist() == [_spec_row(v, "c", kind, lane) for v in raw]


@settings(max_examples=200, deadline=None)
@given(unit=st.sampled_from(["s", "ms", "us"]),
       values=st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(-(10**15), 10**15),
                       min_size=1, max_size=5))
def test_utc_timestamp_bounds_are_pyarrows_own(unit: str, values: list[int]) -> None:
    """A file's min/max of a UTC timestamp column is built without ``as_py`` (which imports
    pandas): it must be what ``as_py().isoformat()`` gives, and no bound where that fails."""
    from tablever.write import column_stats

    col = pa.array(values, pa.int64()).cast(pa.timestamp(unit, tz="UTC"))
    got = column_stats(pa.table({"ts": col}))["ts"]
    mm = pa.compute.min_max(col)
    try:
        want = {"min": mm["min"].as_py().isoformat(), "max": mm["max"].as_py().isoformat()}
    except (ValueError, OverflowError):
        want = {}
    assert {k: got[k] for k in ("min", "max") if k in got} == want


def test_empty_tables_are_pyarrows_own() -> None:
    """``arrays.empty_table`` (no pandas import) gives what ``Schema.empty_table`` does:
    the same schema with its metadata, one empty chunk per column, for every type family."""
    from tablever.arrays import empty_table

    schema = pa.schema(
        [("i", pa.int64()), ("s", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
         ("d", pa.dictionary(pa.int32(), pa.string())), ("st", pa.struct([("x", pa.int8())])),
         ("l", pa.list_(pa.string())), ("m", pa.map_(pa.string(), pa.int64())),
         ("dec", pa.decimal128(10, 2)), ("fb", pa.binary(4)), ("u", pa.uuid()),
         ("n", pa.null()), ("dur", pa.duration("s"))],
        metadata={b"k": b"v"})
    got, want = empty_table(schema), schema.empty_table()
    assert got.schema.equals(want.schema, check_metadata=True)
    assert got.equals(want) and got.num_rows == 0
    assert [c.num_chunks for c in got.columns] == [c.num_chunks for c in want.columns]
