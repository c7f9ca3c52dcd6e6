"""Stable splits and training loaders: Snapshot.split, Snapshot.to_batches, the torch and
Hugging Face adapters."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tablever as tv

FRACTIONS = {"train": 0.7, "val": 0.2, "test": 0.1}


def rows(start: int, n: int, rng: random.Random) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({"id": pa.array(ids, pa.int64()),
                     "label": [rng.choice(["cat", "dog", "owl"]) for _ in ids],
                     "x": [rng.random() for _ in ids]})


def assignment(snap: tv.Snapshot, **kw: Any) -> dict[int, str]:
    out = {}
    for name, view in snap.split(FRACTIONS, **kw).items():
        for rid in view.to_arrow(with_row_id=True).column("_row_id").to_pylist():
            assert rid not in out  # each row in exactly one split
            out[rid] = name
    return out


def test_no_row_ever_changes_split_over_twenty_random_changes(tmp_path: Path) -> None:
    rng = random.Random(5)
    t = tv.create(tmp_path / "t", data=rows(0, 2000, rng))
    seen: dict[int, str] = {}
    next_id = 2000
    for step in range(20):
        choice = rng.choice(["append", "append", "delete", "update", "compact"])
        if choice == "append":
            t.append(rows(next_id, rng.randint(50, 400), rng))
            next_id += 400
        elif choice == "delete":
            t.delete(f"id % {rng.randint(5, 13)} = {rng.randint(0, 4)}")
        elif choice == "update":
            t.update({"x": "x + 1"}, where=f"id % 7 = {rng.randint(0, 6)}")
        else:
            tv.compact(t)
        now = assignment(t.latest(), seed=7)
        assert len(now) == t.latest().num_rows
        for rid, name in now.items():
            assert seen.setdefault(rid, name) == name, (step, choice, rid)
        counts = {n: sum(1 for v in now.values() if v == n) for n in FRACTIONS}
        total = len(now)
        for name, share in FRACTIONS.items():  # binomial tolerance, 5 sigma
            sigma = (share * (1 - share) / total) ** 0.5
            assert abs(counts[name] / total - share) < 5 * sigma, (name, counts)
    # another seed is another assignment
    other = assignment(t.latest(), seed=8)
    assert sum(other[r] != seen[r] for r in other) > len(other) // 4


def test_a_key_split_follows_the_key_not_the_row(tmp_path: Path) -> None:
    rng = random.Random(1)
    t = tv.create(tmp_path / "t", data=rows(0, 500, rng))
    before = {r["id"]: name for name, v in t.latest().split(FRACTIONS, key="id").items()
              for r in v.to_arrow(columns=["id"]).to_pylist()}
    t.delete("id < 100")
    t.append(rows(0, 100, rng))  # the same ids again, as new rows with new row ids
    after = {r["id"]: name for name, v in t.latest().split(FRACTIONS, key="id").items()
             for r in v.to_arrow(columns=["id"]).to_pylist()}
    assert after == before
    by_label = t.latest().split(FRACTIONS, key=["label", "id"])
    assert sum(v.num_rows for v in by_label.values()) == 500


def test_strata_get_the_fractions_within_binomial_tolerance(tmp_path: Path) -> None:
    rng = random.Random(3)
    t = tv.create(tmp_path / "t", data=rows(0, 6000, rng))
    parts = t.latest().split(FRACTIONS, seed=11)
    labels = t.latest().to_arrow(columns=["label"]).column("label").to_pylist()
    for name, share in FRACTIONS.items():
        for label, got in parts[name].proportions("label").items():
            n = labels.count(label)
            assert abs(got - share) < 5 * (share * (1 - share) / n) ** 0.5, (name, label)


@pytest.mark.parametrize(("fractions", "kw", "says"), [
    ({"train": 0.8, "val": 0.1}, {}, "add up to 1"),
    ({"train": 1.2, "val": -0.2}, {}, "> 0"),
    ({}, {}, "mapping"),
    ({"a": 1.0}, {"seed": -1}, "seed"),
    ({"a": 1.0}, {"key": "nope"}, "nope"),
])
def test_bad_split_definitions(tmp_path: Path, fractions: dict[str, float],
                               kw: dict[str, Any], says: str) -> None:
    t = tv.create(tmp_path / "t", data=pa.table({"id": [1, 2]}))
    with pytest.raises(tv.InvalidValueError, match=says):
        t.latest().split(fractions, **kw)


def test_a_lock_records_the_split_and_reproduces_it(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", data=rows(0, 300, random.Random(2)))
    val = t.latest().split(FRACTIONS, seed=3)["val"]
    lock = tmp_path / "val.lock"
    val.lock(lock)
    assert json.loads(lock.read_text())["split"] == {
        "fractions": [[k, v] for k, v in FRACTIONS.items()], "seed": 3, "key": None,
        "name": "val"}
    t.append(rows(300, 100, random.Random(9)))
    again = tv.split_from_lock(lock)
    assert again.snapshot.version == val.snapshot.version
    assert again.to_arrow().equals(val.to_arrow())
    assert tv.from_lock(lock).id == val.snapshot.id  # still a plain lock too
    plain = tmp_path / "plain.lock"
    t.latest().lock(plain)
    with pytest.raises(tv.CorruptLogError, match="no split"):
        tv.split_from_lock(plain)


def many_groups(tmp_path: Path) -> tv.Table:
    """Three files of several row groups each, with deletes and a compaction."""
    t = tv.create(tmp_path / "t", data=rows(0, 1000, random.Random(4)))
    t.append(rows(1000, 700, random.Random(5)))
    t.delete("id % 10 = 3")
    t.update({"label": "'fox'"}, where="id % 17 = 0")
    t.append(rows(2000, 300, random.Random(6)))
    return t


def ids(batches: Any) -> list[int]:
    return [i for b in batches for i in b.column("id").to_pylist()]


def test_to_batches_in_order_and_shards_disjoint_and_complete(tmp_path: Path) -> None:
    t = many_groups(tmp_path)
    snap = t.latest()
    want = snap.to_arrow().column("id").to_pylist()
    plain = list(snap.to_batches(100))
    assert ids(plain) == want  # no seed: snapshot order
    assert all(b.num_rows == 100 for b in plain[:-1]) and plain[-1].num_rows <= 100
    assert plain[0].schema == snap.schema
    for world in (1, 2, 3, 5):
        for seed in (None, 7):
            parts = [ids(snap.to_batches(64, shuffle_seed=seed, shard=(r, world)))
                     for r in range(world)]
            flat = [i for p in parts for i in p]
            assert sorted(flat) == sorted(want) and len(flat) == len(set(flat)), (world, seed)
    a = ids(snap.to_batches(50, shuffle_seed=1, epoch=0))
    assert a == ids(snap.to_batches(50, shuffle_seed=1, epoch=0))
    assert a != ids(snap.to_batches(50, shuffle_seed=1, epoch=1))
    assert a != ids(snap.to_batches(50, shuffle_seed=2, epoch=0)) and sorted(a) == sorted(want)
    got = pa.Table.from_batches(list(snap.to_batches(80, columns=["x"], where="label = 'fox'",
                                                     with_row_id=True)))
    ref = snap.to_arrow(columns=["x"], where="label = 'fox'", with_row_id=True)
    assert got.column_names == ["x", "_row_id"] and got.equals(ref)


def test_to_batches_streams_in_bounded_memory(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    for k in range(12):
        t.append(pa.table({"id": pa.array(range(k * 1000, k * 1000 + 1000), pa.int64())}))
    groups = sum(pq.ParquetFile(t.storage.local_path(f.path)).metadata.num_row_groups
                 for f in t.latest().data_files)
    read: list[int] = []
    original = pq.ParquetFile.read_row_group

    def counting(self: Any, i: int, *args: Any, **kwargs: Any) -> Any:
        out = original(self, i, *args, **kwargs)
        read.append(out.num_rows)
        return out

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counting)
    stream = t.latest().to_batches(100, shuffle_seed=3, buffer_rows=1500)
    first = next(stream)
    assert first.num_rows == 100
    assert len(read) < groups and sum(read) <= 1500 + 1000  # the buffer plus one row group
    rest = sum(b.num_rows for b in stream)
    assert first.num_rows + rest == 12_000 and len(read) == groups


def test_bad_loader_arguments(tmp_path: Path) -> None:
    snap = tv.create(tmp_path / "t", data=pa.table({"id": [1, 2]})).latest()
    for kw, says in (({"batch_size": 0}, "batch_size"), ({"batch_size": 2, "shard": (2, 2)},
                                                         "shard"),
                     ({"batch_size": 2, "columns": ["nope"]}, "nope")):
        with pytest.raises(tv.InvalidValueError, match=says):
            list(snap.to_batches(**kw))
    with pytest.raises(tv.InvalidPredicateError):
        list(snap.to_batches(2, where="nope > 1"))


def test_a_split_streams_only_its_rows(tmp_path: Path) -> None:
    t = many_groups(tmp_path)
    val = t.latest().split(FRACTIONS, seed=5)["val"]
    streamed = ids(val.to_batches(33, shuffle_seed=4))
    assert sorted(streamed) == sorted(val.to_arrow().column("id").to_pylist())


def test_the_hugging_face_adapter_round_trips(tmp_path: Path) -> None:
    from tablever.hf import to_hf

    t = many_groups(tmp_path)
    ds = to_hf(t.latest())
    assert ds.num_rows == t.latest().num_rows
    assert ds.data.table.equals(t.latest().to_arrow())
    val = t.latest().split(FRACTIONS, seed=1)["val"]
    assert to_hf(val, columns=["id"])["id"] == val.to_arrow(columns=["id"]).column(
        "id").to_pylist()


def test_the_torch_dataset_covers_every_row_once_across_ranks_and_workers(
    tmp_path: Path,
) -> None:
    torch = pytest.importorskip("torch", reason="CI installs the CPU build of torch") \
        if not os.environ.get("CI") else __import__("torch")
    from torch.utils.data import DataLoader

    from tablever.torch import TableDataset

    t = many_groups(tmp_path)
    want = sorted(t.latest().to_arrow().column("id").to_pylist())
    seen: list[int] = []
    for rank in range(2):
        ds = TableDataset(t.latest(), 50, shuffle_seed=3, shard=(rank, 2))
        loader = DataLoader(ds, batch_size=None, num_workers=2)
        for batch in loader:
            assert isinstance(batch["id"], torch.Tensor) and isinstance(batch["label"], list)
            seen += batch["id"].tolist()
    assert sorted(seen) == want
    ds = TableDataset(t.latest(), 50, shuffle_seed=3)
    first = [b["id"].tolist() for b in ds]
    ds.set_epoch(1)
    assert [b["id"].tolist() for b in ds] != first
    np.testing.assert_array_equal(np.sort(np.concatenate(first)), want)


def test_the_ml_page_runs(capsys: Any) -> None:
    import re

    page = (Path(__file__).resolve().parent.parent / "docs" / "ml.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert len(blocks) == 2
    scope: dict[str, Any] = {}
    for code in blocks:
        exec(compile(code, "docs/ml.md", "exec"), scope)  # noqa: S102 - the page's own code
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("accuracy ") and float(out[0].split()[1]) > 0.75
    assert out[1:] == ["[1]", "True"]
