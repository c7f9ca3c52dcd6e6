"""Deletion vectors: reading their positions, checked against the log, cached."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from tablever import caches
from tablever.arrays import int64_numpy
from tablever.errors import IntegrityError
from tablever.format.commit import DeleteVector
from tablever.storage import Storage

__all__ = ["load_positions", "read_positions"]


def read_positions(raw: bytes) -> np.ndarray:
    """The positions stored in a deletion vector's bytes."""
    from tablever.write import read_parquet

    column = read_parquet(pa.BufferReader(raw)).column("pos")
    if column.null_count == 0 and pa.types.is_integer(column.type):
        return int64_numpy(column)  # from the buffers: to_numpy imports pandas (~0.3 s)
    return np.asarray(column.to_numpy(zero_copy_only=False), np.int64)


def load_positions(storage: Storage, dv: DeleteVector, data_rows: int) -> np.ndarray:
    """The deletion vector's positions, checked against what the log says of it."""
    key = f"{dv.sha256}:{data_rows}"
    hit = caches.DELETION_VECTORS.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    try:
        raw = storage.read_bytes(dv.path)
    except FileNotFoundError as exc:
        raise IntegrityError(f"deletion vector {dv.path} is missing") from exc
    except OSError as exc:
        raise IntegrityError(f"deletion vector {dv.path} is unreadable: {exc}") from exc
    # Vectors are small and nothing else guards their bytes (no page checksums are
    # checked here): a flipped bit must not silently delete other rows.
    if hashlib.sha256(raw).hexdigest() != dv.sha256:
        raise IntegrityError(f"deletion vector {dv.path} does not match its SHA-256")
    try:
        pos = read_positions(raw)
    except (pa.ArrowException, KeyError, OSError, ValueError) as exc:
        raise IntegrityError(f"deletion vector {dv.path} is unreadable: {exc}") from exc
    if len(pos) != dv.rows or (len(pos) and (pos[0] < 0 or pos[-1] >= data_rows)) or (
        len(pos) > 1 and not bool(np.all(pos[1:] > pos[:-1]))
    ):
        raise IntegrityError(
            f"deletion vector {dv.path} does not match the log ({len(pos)} positions, "
            f"expected {dv.rows} in 0..{data_rows - 1})"
        )
    pos.setflags(write=False)
    caches.DELETION_VECTORS.put(key, pos, pos.nbytes)
    return pos
