"""A PyTorch ``IterableDataset`` over a snapshot or a split (``pip install 'tablever[torch]'``).

It streams :meth:`Snapshot.to_batches` and splits the work twice: across processes
(``shard=(rank, world_size)``, as with DistributedDataParallel) and across the
DataLoader's workers (each takes every ``num_workers``-th task of its rank's share), so
every row of an epoch is produced exactly once. Call :meth:`TableDataset.set_epoch` per
epoch for a new shuffle. Each item is one batch: a dict of column name to a tensor
(numbers and booleans) or a list (anything else); use ``DataLoader(ds, batch_size=None)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import IterableDataset, get_worker_info

__all__ = ["TableDataset"]


class TableDataset(IterableDataset):  # type: ignore[type-arg]
    """Batches of a snapshot (``tv.open(...).as_of(ref)``) or a split view."""

    def __init__(self, source: Any, batch_size: int, *, columns: Sequence[str] | None = None,
                 where: str | None = None, shuffle_seed: int | None = None,
                 shard: tuple[int, int] = (0, 1)) -> None:
        super().__init__()
        self.source, self.batch_size = source, batch_size
        self.columns, self.where = columns, where
        self.shuffle_seed, self.shard, self.epoch = shuffle_seed, shard, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rank, world = self.shard
        info = get_worker_info()
        if info is not None:  # this worker's part of this rank's share
            rank, world = rank * info.num_workers + info.id, world * info.num_workers
        kwargs: dict[str, Any] = {"columns": self.columns, "shuffle_seed": self.shuffle_seed,
                                  "epoch": self.epoch, "shard": (rank, world)}
        if self.where is not None:
            kwargs["where"] = self.where
        for batch in self.source.to_batches(self.batch_size, **kwargs):
            yield {name: _tensor(batch.column(i)) for i, name in enumerate(batch.schema.names)}


def _tensor(column: Any) -> Any:
    import pyarrow as pa

    kind = column.type
    if column.null_count == 0 and (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                                   or pa.types.is_boolean(kind)):
        return torch.from_numpy(column.to_numpy(zero_copy_only=False).copy())
    return column.to_pylist()
