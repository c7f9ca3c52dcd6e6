"""Hugging Face ``datasets`` from a snapshot or a split (``pip install 'tablever[hf]'``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["to_hf"]


def to_hf(source: Any, *, columns: Sequence[str] | None = None) -> Any:
    """A ``datasets.Dataset`` holding the rows of ``source`` (a snapshot or a split
    view), Arrow to Arrow: the types stay the table's (``datasets`` maps them to its
    ``Features``).

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> from tablever.hf import to_hf
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), data=pa.table({"x": [1, 2]}))
        >>> ds = to_hf(t.latest())
        >>> ds.num_rows, ds[0]
        (2, {'x': 1})
    """
    from datasets import Dataset
    from datasets.table import InMemoryTable

    return Dataset(InMemoryTable(source.to_arrow(columns=columns)))
