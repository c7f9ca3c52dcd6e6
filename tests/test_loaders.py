"""Training loaders: shards hold every row exactly once, seeded order, bounded memory,
and the PyTorch and Hugging Face adapters over real torch and datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv
from tablever.loaders import BatchLoader

SCHEMA = pa.schema([("id", pa.int64()), ("label", pa.string()), ("x", pa.float64())])


def _rows(start: int, n: int) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({"id": ids, "label": [f"l{i % 4}" for i in ids],
                     "x": [i / 7 for i in ids]}, schema=SCHEMA)


@pytest.fixture()
def snap(tmp_path: Path) -> tv.Snapshot:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    for k in range(12):
        t.append(_rows(k * 500, 137 + 50 * k))
    t.delete("id % 11 = 3")
    t.update({"x": "x + 1"}, where="id % 13 = 0")  # files with physical row ids
    return t.latest()


def _ids(loader: BatchLoader) -> list[int]:
    return [i for b in loader for i in b.column("id").to_pylist()]


@pytest.mark.parametrize("world", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [None, 4])
def test_shards_are_disjoint_and_complete(snap: tv.Snapshot, world: int, seed: int | None) -> None:
    everything = sorted(snap.to_arrow(["id"]).column("id").to_pylist())
    parts = [_ids(snap.to_batches(64, shuffle_seed=seed, shard=(r, world), buffer_size=200))
             for r in range(world)]
    assert sorted(i for p in parts for i in p) == everything
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1  # equal shards for DDP
    for r, p in enumerate(parts):
        assert len(p) == snap.to_batches(64, shard=(r, world)).num_rows


def test_every_batch_is_full_but_the_last_and_rows_match(snap: tv.Snapshot) -> None:
    batches = list(snap.to_batches(100, shuffle_seed=1, with_row_id=True))
    assert all(b.num_rows == 100 for b in batches[:-1]) and 0 < batches[-1].num_rows <= 100
    got = pa.Table.from_batches(batches).sort_by("_row_id")
    assert got.equals(snap.to_arrow(with_row_id=True).sort_by("_row_id"))
    assert len(snap.to_batches(100)) == len(batches)


def test_unshuffled_order_is_snapshot_order(snap: tv.Snapshot) -> None:
    assert _ids(snap.to_batches(77)) == snap.to_arrow(["id"]).column("id").to_pylist()


def test_same_seed_same_order_other_seed_or_epoch_other_order(snap: tv.Snapshot) -> None:
    a = _ids(snap.to_batches(50, shuffle_seed=7, shard=(1, 2)))
    assert a == _ids(snap.to_batches(50, shuffle_seed=7, shard=(1, 2)))
    assert a != _ids(snap.to_batches(50, shuffle_seed=8, shard=(1, 2)))
    assert a != _ids(snap.to_batches(50, shuffle_seed=7, shard=(1, 2), epoch=1))
    plain = snap.to_arrow(["id"]).column("id").to_pylist()
    assert _ids(snap.to_batches(50, shuffle_seed=7)) != plain


def test_where_and_columns(snap: tv.Snapshot) -> None:
    want = snap.to_arrow(["id", "x"], where="label = 'l1' AND x > 100")
    parts = [pa.Table.from_batches(list(snap.to_batches(
        40, columns=["id", "x"], where="label = 'l1' AND x > 100", shard=(r, 3))), want.schema)
        for r in range(3)]
    got = pa.concat_tables(parts)
    assert got.schema == want.schema
    assert sorted(got.column("id").to_pylist()) == sorted(want.column("id").to_pylist())


def test_split_views_stream_their_rows_across_shards(snap: tv.Snapshot) -> None:
    view = snap.split({"train": 0.8, "val": 0.2}, seed=5)["train"]
    want = sorted(view.to_arrow(["id"]).column("id").to_pylist())
    got = [i for r in range(4) for i in _ids(view.to_batches(32, shuffle_seed=2, shard=(r, 4)))]
    assert sorted(got) == want and len(got) == len(want)


def test_memory_is_bounded(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "big", schema=SCHEMA)
    for k in range(40):
        t.append(_rows(k * 5_000, 5_000))
    snap = t.latest()
    before_fds = len(os.listdir("/proc/self/fd"))
    base = pa.total_allocated_bytes()
    full_bytes = snap.to_arrow().nbytes
    loader = snap.to_batches(500, shuffle_seed=3, buffer_size=2000)
    peak_fds, peak_bytes, seen = 0, 0, 0
    for batch in loader:
        seen += batch.num_rows
        peak_fds = max(peak_fds, len(os.listdir("/proc/self/fd")))
        peak_bytes = max(peak_bytes, pa.total_allocated_bytes() - base)
    assert seen == 200_000
    # one file of 5,000 rows (one row group) plus the buffer, never the version
    assert loader.stats.max_rows_held <= 2000 + 500 + 5_000
    assert loader.stats.max_files_open == 1 and loader.stats.files_opened == 40
    assert peak_fds <= before_fds + 4
    assert peak_bytes < full_bytes / 5, (peak_bytes, full_bytes)


@pytest.mark.parametrize("bad", [
    {"batch_size": 0}, {"batch_size": 4, "shard": (2, 2)}, {"batch_size": 4, "shard": (0, 0)},
    {"batch_size": 4, "columns": ["nope"]}, {"batch_size": 4, "where": "nope > 1"},
    {"batch_size": 4, "epoch": -1},
])
def test_bad_loader_arguments(snap: tv.Snapshot, bad: dict) -> None:
    with pytest.raises(tv.TableverError):
        snap.to_batches(**bad)


# --- Hugging Face datasets ------------------------------------------------------------

def test_hf_round_trip(snap: tv.Snapshot) -> None:
    ds = snap.to_hf()
    assert ds.data.table.equals(snap.to_arrow()) or ds.to_pandas().equals(snap.to_pandas())
    assert ds.num_rows == snap.num_rows and ds.column_names == SCHEMA.names
    streamed = list(snap.to_hf(streaming=True))
    assert streamed == snap.to_arrow().to_pylist()
    view = snap.split({"a": 0.5, "b": 0.5}, seed=1)["b"]
    assert view.to_hf(["id"])["id"][:] == view.to_arrow(["id"]).column("id").to_pylist()


# --- PyTorch --------------------------------------------------------------------------

def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise  # CI installs torch: its absence there is a failure
        return False
    return True


@pytest.mark.parametrize("world, workers", [(1, 0), (1, 2), (2, 2), (3, 1)])
def test_torch_workers_and_ranks_read_every_row_once(
    snap: tv.Snapshot, world: int, workers: int
) -> None:
    everything = sorted(snap.to_arrow(["id"]).column("id").to_pylist())
    if not _torch_available():
        # the same contract without torch: one shard per (rank, worker)
        from tablever.loaders import make_loader

        n = max(workers, 1)
        got = [i for r in range(world) for w in range(n)
               for i in _ids(make_loader(snap, 32, shuffle_seed=1, shard=(r * n + w, world * n)))]
        assert sorted(got) == everything
        return
    import torch

    from tablever.torch import TableverIterableDataset

    got = []
    for rank in range(world):
        ds = TableverIterableDataset(snap, 32, columns=["id", "x"], shuffle_seed=1,
                                     rank=rank, world_size=world)
        ds.set_epoch(2)
        for batch in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers):
            assert batch["id"].dtype == torch.int64 and batch["x"].dtype == torch.float64
            got += batch["id"].tolist()
    assert sorted(got) == everything


def test_torch_from_lock_verifies_before_the_first_batch(snap: tv.Snapshot, tmp_path: Path) -> None:
    if not _torch_available():
        lock = snap.lock(tmp_path / "a.lock")
        assert _ids(tv.from_lock(lock).to_batches(10)) == _ids(snap.to_batches(10))
        return
    from tablever.torch import TableverIterableDataset

    lock = snap.split({"train": 0.9, "val": 0.1}, seed=2)["train"].lock(tmp_path / "train.lock")
    ds = TableverIterableDataset.from_lock(lock, 16)
    assert sum(len(b["id"]) for b in ds) == ds.source.num_rows
    victim = Path(snap.location) / snap.files[0]
    victim.chmod(0o644)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    tv.clear_caches()
    with pytest.raises(tv.IntegrityError):
        TableverIterableDataset.from_lock(lock, 16)
