"""Stable splits: rows never change split as the table changes; the hash is the one the
docs define; stratification within tolerance; lock files reproduce a split."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import tablever as tv
from tablever.splits import split_hashes

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def _assignment(snap: tv.Snapshot, **kw: object) -> dict[int, str]:
    out: dict[int, str] = {}
    for name, view in snap.split(FRACTIONS, seed=3, **kw).items():  # type: ignore[arg-type]
        for rid in view.to_arrow(["id"], with_row_id=True).column("_row_id").to_pylist():
            assert rid not in out, "a row in two splits"
            out[rid] = name
    return out


def _table(tmp_path: Path, n: int = 3000) -> tv.Table:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64()), ("label", pa.string())]))
    t.append(pa.table({"id": list(range(n)), "label": [f"l{i % 3}" for i in range(n)]}))
    return t


def test_no_row_changes_split_over_twenty_random_changes(tmp_path: Path) -> None:
    t = _table(tmp_path)
    rng = random.Random(11)
    before = _assignment(t.latest())
    next_id = 3000
    for step in range(20):
        op = rng.choice(["append", "delete", "update", "compact"])
        if op == "append":
            k = rng.randint(50, 400)
            t.append(pa.table({"id": list(range(next_id, next_id + k)),
                               "label": [f"l{i % 3}" for i in range(k)]}))
            next_id += k
        elif op == "delete":
            t.delete(f"id % {rng.randint(7, 40)} = {rng.randint(0, 6)}")
        elif op == "update":
            t.update({"label": "'changed'"}, where=f"id % 50 = {rng.randint(0, 49)}")
        else:
            tv.compact(t, min_input_files=2)
        snap = t.latest()
        after = _assignment(snap)
        live = set(snap.to_arrow(with_row_id=True).column("_row_id").to_pylist())
        assert set(after) == live, f"step {step}: every live row in exactly one split"
        moved = [r for r in live & set(before) if before[r] != after[r]]
        assert not moved, f"step {step} ({op}): rows changed split: {moved[:5]}"
        for name, frac in FRACTIONS.items():
            share = sum(1 for v in after.values() if v == name) / len(after)
            assert abs(share - frac) < 0.03, (step, name, share)
        before = after


def test_a_key_column_keeps_a_deleted_and_reinserted_row_in_its_split(tmp_path: Path) -> None:
    t = _table(tmp_path)
    first = t.latest().split(FRACTIONS, seed=3, key="id")
    was = {n: set(v.to_arrow(["id"]).column("id").to_pylist()) for n, v in first.items()}
    t.delete("id < 500")
    t.append(pa.table({"id": list(range(500)), "label": ["again"] * 500}))  # new row ids
    now = t.latest().split(FRACTIONS, seed=3, key="id")
    for name, view in now.items():
        assert set(view.to_arrow(["id"]).column("id").to_pylist()) == was[name]


def _reference_u(seed: int, encoded: bytes) -> int:
    """The hash as docs/ml.md and the splits module define it, written independently."""
    h = hashlib.sha256(b"tablever-split/1\x00" + seed.to_bytes(8, "big", signed=True) + encoded)
    return int.from_bytes(h.digest()[:8], "big")


def test_the_hash_is_the_documented_one() -> None:
    ints = [0, 1, -1, 2**40, 2**63 - 1]
    got = split_hashes([pa.array(ints, pa.int64())], 42)
    assert got.tolist() == [_reference_u(42, b"I" + v.to_bytes(8, "big", signed=True)) for v in ints]
    assert (split_hashes([pa.array(ints[:4], pa.int64())], 42)
            == split_hashes([pa.array(ints[:4], pa.int64()).cast(pa.int64())], 42)).all()
    names = ["a", None, "héllo"]
    nums = [5, 6, None]
    got = split_hashes([pa.array(names), pa.array(nums, pa.int32())], 7)
    want = []
    for s, n in zip(names, nums, strict=True):
        enc = b"N" if s is None else b"S" + len(s.encode()).to_bytes(4, "big") + s.encode()
        enc += b"N" if n is None else b"I" + n.to_bytes(8, "big", signed=True)
        want.append(_reference_u(7, enc))
    assert got.tolist() == want
    # int32 and int64 keys hash alike: widening a key column moves no row
    assert (split_hashes([pa.array([1, 2, 3], pa.int32())], 1)
            == split_hashes([pa.array([1, 2, 3], pa.int64())], 1)).all()


def test_assignment_follows_the_thresholds(tmp_path: Path) -> None:
    t = _table(tmp_path, 500)
    snap = t.latest()
    ids = snap.to_arrow(with_row_id=True).column("_row_id").to_pylist()
    bounds = [int(0.7 * 2**64), int(0.85 * 2**64)]
    want = {}
    for rid in ids:
        u = _reference_u(3, b"I" + rid.to_bytes(8, "big", signed=True))
        want[rid] = "train" if u < bounds[0] else "val" if u < bounds[1] else "test"
    assert _assignment(snap) == want


def test_stratified_proportions_within_tolerance(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "s", schema=pa.schema([("id", pa.int64()), ("label", pa.string())]))
    n = 9000
    labels = ["cat"] * 6000 + ["dog"] * 2500 + ["rare"] * 500
    t.append(pa.table({"id": list(range(n)), "label": labels}))
    splits = t.latest().split({"train": 0.8, "val": 0.2}, seed=1, stratify="label",
                              tolerance=0.03, min_stratum_rows=1000)
    assert splits.strata is not None
    for label, total in (("cat", 6000), ("dog", 2500)):
        val = splits["val"].to_arrow(where=f"label = '{label}'").num_rows
        assert abs(val / total - 0.2) <= 0.03
        assert splits.strata[label] == {"train": total - val, "val": val}
    assert sum(splits.strata["rare"].values()) == 500  # reported, not checked
    before = t.latest().version
    with pytest.raises(tv.InvalidValueError, match="label='cat'"):
        t.latest().split({"train": 0.8, "val": 0.2}, seed=1, stratify="label",
                         tolerance=0.0001, min_stratum_rows=1000)
    assert t.latest().version == before


@pytest.mark.parametrize("kwargs, error", [
    ({"fractions": {"train": 0.8, "val": 0.3}}, tv.InvalidValueError),
    ({"fractions": {"train": 1.2, "val": -0.2}}, tv.InvalidValueError),
    ({"fractions": {}}, tv.InvalidValueError),
    ({"key": "nope"}, tv.SchemaMismatchError),
    ({"stratify": "nope"}, tv.SchemaMismatchError),
    ({"seed": "x"}, tv.InvalidValueError),
])
def test_bad_split_arguments(tmp_path: Path, kwargs: dict, error: type) -> None:
    t = _table(tmp_path, 10)
    args = {"fractions": {"train": 0.8, "val": 0.2}, **kwargs}
    with pytest.raises(error):
        t.latest().split(args.pop("fractions"), **args)


def test_float_key_and_unknown_split_name_are_refused(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "f", schema=pa.schema([("x", pa.float64())]))
    s = t.append(pa.table({"x": [0.5]}))
    with pytest.raises(tv.SchemaMismatchError, match="key"):
        s.split({"a": 1.0}, key="x")
    with pytest.raises(tv.InvalidValueError, match="no split named"):
        s.split({"a": 1.0})["b"]


def test_views_read_alike(tmp_path: Path) -> None:
    t = _table(tmp_path, 800)
    view = t.latest().split(FRACTIONS, seed=3)["val"]
    arrow = view.to_arrow(with_row_id=True)
    assert view.num_rows == arrow.num_rows
    assert view.to_polars(with_row_id=True).to_arrow().equals(arrow.cast(
        view.to_polars(with_row_id=True).to_arrow().schema))
    assert view.to_pandas(["id"])["id"].tolist() == arrow.column("id").to_pylist()
    streamed = pa.Table.from_batches(list(view.to_batches(64, with_row_id=True)))
    assert streamed.equals(arrow)
    assert view.to_arrow(["id"], where="id < 100").column("id").to_pylist() == [
        i for i in arrow.column("id").to_pylist() if i < 100]


def test_a_split_lock_reproduces_the_split(tmp_path: Path) -> None:
    t = _table(tmp_path, 1000)
    view = t.latest().split(FRACTIONS, seed=3)["val"]
    path = view.lock(tmp_path / "val.lock")
    t.append(pa.table({"id": [5000], "label": ["new"]}))
    again = tv.split_from_lock(path)
    assert again.name == "val"
    assert again.to_arrow(with_row_id=True).equals(view.to_arrow(with_row_id=True))
    assert tv.from_lock(path).version == view.snapshot.version  # still a plain lock
    lock = json.loads(Path(path).read_text())
    assert lock["format"] == "tablever-lock/1" and lock["split"]["rows"] == view.num_rows
    lock["split"]["row_ids_sha256"] = "0" * 64
    Path(path).write_text(json.dumps(lock))
    with pytest.raises(tv.IntegrityError, match="split 'val'"):
        tv.split_from_lock(path)
    plain = t.latest().lock(tmp_path / "plain.lock")
    with pytest.raises(tv.InvalidValueError, match="pins no split"):
        tv.split_from_lock(plain)


def test_no_split_is_empty_for_reasonable_sizes(tmp_path: Path) -> None:
    t = _table(tmp_path, 200)
    counts = [v.num_rows for v in t.latest().split(FRACTIONS, seed=9).values()]
    assert sum(counts) == 200 and all(c > 0 for c in counts)
    assert np.isclose(counts[0] / 200, 0.7, atol=0.1)
