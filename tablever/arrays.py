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
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["bool_array", "int64_array"]


def int64_array(values: np.ndarray) -> pa.Array:
    """``values`` (any integer dtype) as an int64 array without nulls."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def bool_array(mask: np.ndarray) -> pa.Array:
    """A numpy boolean mask as a boolean array without nulls."""
    flat = np.ascontiguousarray(mask, dtype=bool)
    bits = np.packbits(flat, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(flat), [None, pa.py_buffer(bits)])
