"""Stable splits: train/val/test assignments that never move a row.

Each row goes to a split by a hash of its key and the seed, mapped to a number ``u`` in
[0, 1) and cut at the cumulative fractions in the order given (``{"train": 0.85, "val":
0.15}``: ``u < 0.85`` is train; the same fractions in another order are another split). The key is the table's ``_row_id`` by default (stable across versions:
updates and compaction keep it) or the given columns. So a row is in the same split in
every later version; new rows are assigned as they come; no validation row can become a
training row as the data grows, which a reshuffling split cannot promise.

The hash (documented in docs/ml.md, fixed for this format): integer keys go through
SplitMix64 of ``key + seed * 0x9E3779B97F4A7C15``; other keys through BLAKE2b-64 of their
canonical text, keyed by the seed; ``u`` is the top 53 bits divided by 2**53. Neither
depends on the platform, Python's hash seed or a DuckDB release.

Stratification needs nothing more: the assignment does not look at any column, so every
stratum receives the fractions in expectation; :meth:`SplitView.proportions` reports them
per stratum, and the tests check them within binomial tolerance.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tablever.errors import InvalidValueError
from tablever.schema import ROW_ID

if TYPE_CHECKING:
    from tablever.snapshot import Snapshot

__all__ = ["Split", "SplitView", "assign", "split"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True, slots=True)
class Split:
    """A split definition: fractions by name, the seed and the key columns."""

    fractions: tuple[tuple[str, float], ...]
    seed: int
    key: tuple[str, ...] | None  # None: _row_id

    def to_dict(self) -> dict[str, Any]:
        # a list of pairs: the order of the splits is part of the assignment
        return {"fractions": [list(p) for p in self.fractions], "seed": self.seed,
                "key": None if self.key is None else list(self.key)}

    @classmethod
    def of(cls, fractions: Mapping[str, float] | Sequence[Sequence[Any]], seed: int,
           key: str | Sequence[str] | None) -> Split:
        if isinstance(fractions, list) and all(
                isinstance(p, (list, tuple)) and len(p) == 2 for p in fractions):
            fractions = {str(n): s for n, s in fractions}  # as a lock file records them
        if not isinstance(fractions, Mapping) or not fractions:
            raise InvalidValueError("split fractions are a mapping like {'train': 0.8, 'val': 0.2}")
        items = []
        for name, share in fractions.items():
            if not isinstance(name, str) or not name:
                raise InvalidValueError(f"a split name is a non-empty string, not {name!r}")
            if isinstance(share, bool) or not isinstance(share, (int, float)) or share <= 0:
                raise InvalidValueError(f"split {name!r}: a fraction is a number > 0, not {share!r}")
            items.append((name, float(share)))
        total = sum(s for _, s in items)
        if abs(total - 1.0) > 1e-9:
            raise InvalidValueError(f"split fractions must add up to 1, not {total:g}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InvalidValueError(f"seed must be a non-negative integer, not {seed!r}")
        keys = None if key is None else ((key,) if isinstance(key, str) else tuple(key))
        return cls(tuple(items), seed, keys)


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _unit(rows: pa.Table, split: Split) -> np.ndarray:
    """u in [0, 1) for each row of ``rows`` (which holds the key columns)."""
    names = [ROW_ID] if split.key is None else list(split.key)
    if len(names) == 1 and pa.types.is_integer(rows.column(names[0]).type) and (
            rows.column(names[0]).null_count == 0):
        keys = rows.column(names[0]).to_numpy().astype(np.int64).view(np.uint64)
        with np.errstate(over="ignore"):
            h = _splitmix(keys + np.uint64(split.seed) * _GOLDEN)
    else:
        salt = split.seed.to_bytes(8, "little")
        values = zip(*[rows.column(n).to_pylist() for n in names], strict=True)
        h = np.fromiter(
            (int.from_bytes(hashlib.blake2b(
                json.dumps(list(v), default=str, ensure_ascii=False).encode(),
                digest_size=8, key=salt).digest(), "little") for v in values),
            dtype=np.uint64, count=rows.num_rows)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assign(rows: pa.Table, split: Split) -> np.ndarray:
    """The index (into ``split.fractions``) of each row's split."""
    u = _unit(rows, split)
    edges = np.cumsum([s for _, s in split.fractions])
    edges[-1] = np.inf
    return np.searchsorted(edges, u, side="right").astype(np.int64)


class SplitView:
    """The rows of one split of one snapshot (read on demand)."""

    def __init__(self, snapshot: Snapshot, split: Split, name: str) -> None:
        self.snapshot, self.split, self.name = snapshot, split, name
        self._index = [n for n, _ in split.fractions].index(name)

    def __repr__(self) -> str:
        return f"SplitView({self.name!r} of version {self.snapshot.version})"

    def _mask(self, rows: pa.Table) -> pa.Array:
        return pa.array(assign(rows, self.split) == self._index)

    def _key_columns(self) -> list[str]:
        return [] if self.split.key is None else list(self.split.key)

    def to_arrow(self, columns: Sequence[str] | None = None, *,
                 with_row_id: bool = False) -> pa.Table:
        """The split's rows (``columns`` projects)."""
        cols = list(columns) if columns is not None else list(self.snapshot.schema.names)
        need = list(dict.fromkeys(cols + self._key_columns()))
        rows = self.snapshot.to_arrow(columns=need, with_row_id=True)
        rows = rows.filter(self._mask(rows))
        return rows.select(cols + ([ROW_ID] if with_row_id else []))

    def to_polars(self, columns: Sequence[str] | None = None) -> Any:
        import polars as pl

        return pl.from_arrow(self.to_arrow(columns))

    def to_pandas(self, columns: Sequence[str] | None = None) -> Any:
        return self.to_arrow(columns).to_pandas()

    @property
    def num_rows(self) -> int:
        return self.to_arrow(columns=self._key_columns() or
                             [self.snapshot.schema.names[0]]).num_rows

    def to_batches(self, batch_size: int, **kwargs: Any) -> Iterator[pa.RecordBatch]:
        """:meth:`Snapshot.to_batches` of the split's rows only."""
        cols = kwargs.pop("columns", None)
        keep_ids = kwargs.pop("with_row_id", False)
        cols = list(cols) if cols is not None else list(self.snapshot.schema.names)
        need = list(dict.fromkeys(cols + self._key_columns()))
        out = cols + ([ROW_ID] if keep_ids else [])
        pending: list[pa.Table] = []
        held = 0
        for batch in self.snapshot.to_batches(batch_size, columns=need, with_row_id=True,
                                              **kwargs):
            rows = pa.Table.from_batches([batch])
            rows = rows.filter(self._mask(rows)).select(out)
            if rows.num_rows:
                pending.append(rows)
                held += rows.num_rows
            while held >= batch_size:
                pool = pa.concat_tables(pending)
                yield from pool.slice(0, batch_size).combine_chunks().to_batches(batch_size)
                rest = pool.slice(batch_size)
                pending, held = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
        if held:
            yield from pa.concat_tables(pending).combine_chunks().to_batches(batch_size)

    def proportions(self, by: str) -> dict[Any, float]:
        """For each value of column ``by``: the share of its rows in this split."""
        rows = self.snapshot.to_arrow(columns=list(dict.fromkeys([by, *self._key_columns()])),
                                      with_row_id=True)
        mine = self._mask(rows)
        out = {}
        for value in pc.unique(rows.column(by)).to_pylist():
            sel = pc.equal(rows.column(by), value) if value is not None else pc.is_null(
                rows.column(by))
            n = pc.sum(sel).as_py() or 0
            k = pc.sum(pc.and_(sel, mine)).as_py() or 0
            out[value] = k / n if n else 0.0
        return out

    def lock(self, path: str | os.PathLike[str]) -> str:
        """A lock file pinning the snapshot and this split
        (:func:`tablever.split_from_lock` reads it back)."""
        from tablever.lockfile import write_lock

        return write_lock(self.snapshot, path,
                          extra={"split": {**self.split.to_dict(), "name": self.name}})


def split(snapshot: Snapshot, fractions: Mapping[str, float], *, seed: int = 0,
          key: str | Sequence[str] | None = None) -> dict[str, SplitView]:
    """See :meth:`tablever.snapshot.Snapshot.split`."""
    definition = Split.of(fractions, seed, key)
    if definition.key is not None:
        unknown = [k for k in definition.key if k not in snapshot.schema.names]
        if unknown:
            raise InvalidValueError(f"split key column {unknown[0]!r} is not in the table")
    return {name: SplitView(snapshot, definition, name) for name, _ in definition.fractions}

