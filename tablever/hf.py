"""Hugging Face ``datasets`` from snapshots and splits (``pip install 'tablever[hf]'``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tablever.snapshot import Snapshot
    from tablever.splits import SplitView

__all__ = ["to_hf"]


def to_hf(
    source: Snapshot | SplitView,
    *,
    columns: Sequence[str] | None = None,
    streaming: bool = False,
    batch_size: int = 65536,
) -> Any:
    """A ``datasets.Dataset`` of the rows of a snapshot or split (in memory, Arrow
    types kept), or with ``streaming=True`` a ``datasets.IterableDataset`` that reads
    them batch by batch (``to_batches``) each time it is iterated.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.schema([("x", pa.int64())]))
        >>> s = t.append(pa.table({"x": [1, 2, 3]}))
        >>> s.to_hf()["x"][:]
        [1, 2, 3]
        >>> [r["x"] for r in s.to_hf(streaming=True)]
        [1, 2, 3]
    """
    import datasets

    if not streaming:
        return datasets.Dataset(source.to_arrow(columns))
    loader = source.to_batches(batch_size, columns=columns)
    names = loader.columns if loader.columns is not None else source.schema.names
    import pyarrow as pa

    schema = pa.schema([source.schema.field(c) for c in names])

    def rows() -> Iterator[dict[str, Any]]:
        for batch in loader:
            yield from batch.to_pylist()

    return datasets.IterableDataset.from_generator(
        rows, features=datasets.Features.from_arrow_schema(schema))
