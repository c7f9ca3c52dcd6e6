"""A PyTorch ``IterableDataset`` over a snapshot or split (``pip install 'tablever[torch]'``).

Each ``DataLoader`` worker of each process reads its own shard: shard
``rank * num_workers + worker`` of ``world_size * num_workers``
(:func:`worker_shard`), so together they yield every row exactly once per epoch, and
the same batches for the same ``shuffle_seed`` and epoch (``set_epoch``). Use it with
``DataLoader(dataset, batch_size=None, num_workers=...)``: the dataset yields whole
batches, each a ``dict`` of column name to tensor (a list for columns torch cannot
hold, such as strings).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import torch
import torch.utils.data

from tablever.errors import InvalidValueError

if TYPE_CHECKING:
    from tablever.loaders import BatchLoader
    from tablever.snapshot import Snapshot
    from tablever.splits import SplitView

__all__ = ["TableverIterableDataset", "batch_to_torch", "worker_shard"]


def worker_shard(rank: int, world_size: int, worker: int, num_workers: int) -> tuple[int, int]:
    """The ``(shard, shards)`` one DataLoader worker of one process reads.

    Example:
        >>> from tablever.torch import worker_shard
        >>> [worker_shard(r, 2, w, 3) for r in range(2) for w in range(3)]
        [(0, 6), (1, 6), (2, 6), (3, 6), (4, 6), (5, 6)]
    """
    return rank * num_workers + worker, world_size * num_workers


def batch_to_torch(batch: pa.RecordBatch) -> dict[str, Any]:
    """Column name -> tensor (numbers and booleans without nulls) or list (the rest)."""
    out: dict[str, Any] = {}
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        t = col.type
        if col.null_count == 0 and (pa.types.is_integer(t) or pa.types.is_floating(t)
                                    or pa.types.is_boolean(t)):
            out[name] = torch.from_numpy(np.array(col.to_numpy(zero_copy_only=False)))
        else:
            out[name] = col.to_pylist()
    return out


class TableverIterableDataset(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Batches of a snapshot or split for ``torch.utils.data.DataLoader``.

    ``rank``/``world_size`` default to ``torch.distributed``'s when it is initialised
    (else 0 and 1). See the module docstring.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os, torch
        >>> from tablever.torch import TableverIterableDataset
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.schema([("x", pa.int64())]))
        >>> s = t.append(pa.table({"x": list(range(6))}))
        >>> ds = TableverIterableDataset(s, batch_size=4)
        >>> [b["x"].tolist() for b in torch.utils.data.DataLoader(ds, batch_size=None)]
        [[0, 1, 2, 3], [4, 5]]
    """

    def __init__(
        self,
        source: Snapshot | SplitView,
        batch_size: int,
        *,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        shuffle_seed: int | None = None,
        buffer_size: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        as_arrow: bool = False,
    ) -> None:
        super().__init__()
        self.source = source
        self.batch_size = batch_size
        self.columns = None if columns is None else list(columns)
        self.where = where
        self.shuffle_seed = shuffle_seed
        self.buffer_size = buffer_size
        self.rank = rank
        self.world_size = world_size
        self.as_arrow = as_arrow
        self.epoch = 0
        self.loader(0, 1)  # bad arguments fail here, not in a worker

    @classmethod
    def from_lock(cls, path: str | os.PathLike[str], batch_size: int,
                  **options: Any) -> TableverIterableDataset:
        """The dataset of the snapshot (or split) a lock file pins, verified first: an
        IntegrityError here, before any batch, if a file differs."""
        import json

        from tablever.reproduce import from_lock, split_from_lock

        with open(os.fspath(path), encoding="utf-8") as f:
            has_split = "split" in json.load(f)
        source = split_from_lock(path) if has_split else from_lock(path)
        return cls(source, batch_size, **options)

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (call it before each epoch, as with DistributedSampler)."""
        if epoch < 0:
            raise InvalidValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def _process(self) -> tuple[int, int]:
        if self.rank is not None or self.world_size is not None:
            return self.rank or 0, self.world_size or 1
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def loader(self, shard: int, shards: int) -> BatchLoader:
        """The batch loader of one shard."""
        return self.source.to_batches(
            self.batch_size, columns=self.columns, where=self.where,
            shuffle_seed=self.shuffle_seed, epoch=self.epoch, shard=(shard, shards),
            buffer_size=self.buffer_size,
        )

    def __iter__(self) -> Iterator[Any]:
        rank, world = self._process()
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for batch in self.loader(*worker_shard(rank, world, worker, workers)):
            yield batch if self.as_arrow else batch_to_torch(batch)
