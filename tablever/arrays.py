"""numpy arrays as Arrow arrays, from their buffers.

``pa.array`` of a numpy array (or of Python values) makes pyarrow import pandas, about
0.3 s, in a process that has not: a read that only masks deleted rows or numbers row ids
would pay it. These build the same arrays from the buffers (zero-copy for int64).

Example:
    >>> import numpy as np
    >>> int64_array(np.array([3, 1], dtype=np.int64)).to_pylist()
    [3, 1]
    >>> bool_array(np.array([True, False, True])).to_pylist()
    [True, False, True]
    >>> int64_numpy(pa.chunked_array([[1, 2], [3]], pa.int32())).tolist()
    [1, 2, 3]
    >>> int64_numpy(pa.chunked_array([[1, None], [None, 4]], pa.int8()), nulls=-1).tolist()
    [1, -1, -1, 4]
    >>> valid_mask(pa.chunked_array([["a", None, "b"]]).chunk(0).slice(1)).tolist()
    [False, True]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["bool_array", "empty_table", "int64_array", "int64_numpy", "valid_mask"]


def int64_array(values: np.ndarray) -> pa.Array:
    """``values`` (any integer dtype) as an int64 array without nulls."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def bool_array(mask: np.ndarray) -> pa.Array:
    """A numpy boolean mask as a boolean array without nulls."""
    flat = np.ascontiguousarray(mask, dtype=bool)
    bits = np.packbits(flat, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(flat), [None, pa.py_buffer(bits)])


def int64_numpy(column: pa.Array | pa.ChunkedArray, nulls: int | None = None) -> np.ndarray:
    """An integer column as an int64 numpy array, read from its buffers (``to_numpy``
    imports pandas, and gives floats where there are nulls). A null is ``nulls``; a
    column with nulls and no ``nulls`` value is a ValueError."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = []
    for chunk in chunks:
        if chunk.type != pa.int64():
            chunk = chunk.cast(pa.int64())
        data = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
        data = data[chunk.offset:chunk.offset + len(chunk)]
        valid = valid_mask(chunk)
        if valid is not None:
            if nulls is None:
                raise ValueError("int64_numpy takes a column without nulls")
            data = np.where(valid, data, np.int64(nulls))
        parts.append(data)
    if not parts:
        return np.empty(0, np.int64)
    return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()


def valid_mask(arr: pa.Array) -> np.ndarray | None:
    """Which values of ``arr`` are not null, as a numpy boolean array read from its
    validity bitmap; None when it has no nulls."""
    if arr.null_count == 0:
        return None
    n = len(arr)
    bitmap = arr.buffers()[0]
    if bitmap is None:  # a null-type array: every value is null
        return np.zeros(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), count=arr.offset + n,
                         bitorder="little")
    return bits[arr.offset:].astype(bool)


def empty_table(schema: pa.Schema) -> pa.Table:
    """``schema.empty_table()`` (one empty chunk per column, the schema's metadata kept)
    without importing pandas, which that method does."""
    try:
        return pa.Table.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)
    except (pa.ArrowException, TypeError, ValueError):  # a type pa.nulls cannot make
        return schema.empty_table()
