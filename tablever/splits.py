"""Stable train/validation/test splits: each row goes to the split a hash of its key and
a seed sends it to, so it stays there in every later version of the table.

**The hash** (``sha256-v1``, fixed; a change would get a new name). A row's key values
(``_row_id`` when no key is given) are encoded one after another:

- NULL: ``b"N"``
- an integer of any width: ``b"I"`` + 8 bytes big-endian two's complement (``b"U"`` +
  8 bytes unsigned for an unsigned value above 2**63 - 1), so ``int32`` 5 and ``int64``
  5 are the same key (a widened column keeps its rows' splits)
- a boolean: ``b"B\\x01"`` or ``b"B\\x00"``
- a string: ``b"S"`` + 4-byte big-endian length + its UTF-8 bytes; binary: ``b"Y"`` +
  length + bytes
- a date: ``b"D"`` + days since 1970-01-01 (8 bytes); a timestamp: ``b"T"`` +
  nanoseconds since the epoch in its own zone's UTC reading (8 bytes)

``h = SHA-256(b"tablever-split/1\\0" + seed as 8 bytes big-endian + encoding)``; the first
8 bytes of ``h`` read big-endian are ``u``. With the fractions in the order given,
normalised to sum to 1 and ``c_i`` their running sums, the row goes to the first split
``i`` with ``u < floor(c_i * 2**64)`` (computed exactly with rational numbers). Nothing
depends on the platform, the process, or the library versions.

**Stratification.** A row's split depends on its own key only; that is what keeps
every row in place as rows come and go, and it also means no stable assignment can
split a stratum more evenly than independent draws do. ``stratify=column`` therefore
checks that each value's rows are split within ``tolerance`` of the fractions (values
with fewer than ``min_stratum_rows`` rows are reported, not checked) and raises
``InvalidValueError`` otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tablever.errors import IntegrityError, InvalidValueError, SchemaMismatchError
from tablever.schema import ROW_ID

if TYPE_CHECKING:
    import pandas
    import polars

    from tablever.loaders import BatchLoader
    from tablever.snapshot import Snapshot

__all__ = ["SPLIT_HASH", "SplitSpec", "SplitView", "Splits", "split", "split_hashes"]

SPLIT_HASH = "sha256-v1"
_PREFIX = b"tablever-split/1\x00"
_INT64_MAX = 2**63 - 1


def _is_integer(t: pa.DataType) -> bool:
    return pa.types.is_integer(t)


def _key_type_ok(t: pa.DataType) -> bool:
    return any(test(t) for test in (
        pa.types.is_integer, pa.types.is_boolean, pa.types.is_string,
        pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary,
        pa.types.is_date, pa.types.is_timestamp,
    )) or (hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t))


def _encode_value(t: pa.DataType, v: Any) -> bytes:
    if v is None:
        return b"N"
    if pa.types.is_integer(t):
        return b"I" + int(v).to_bytes(8, "big", signed=True) if v <= _INT64_MAX else (
            b"U" + int(v).to_bytes(8, "big"))
    if pa.types.is_boolean(t):
        return b"B\x01" if v else b"B\x00"
    if isinstance(v, str):
        data = v.encode("utf-8")
        return b"S" + len(data).to_bytes(4, "big") + data
    if isinstance(v, bytes):
        return b"Y" + len(v).to_bytes(4, "big") + v
    if pa.types.is_date(t):
        return b"D" + int(v).to_bytes(8, "big", signed=True)
    return b"T" + int(v).to_bytes(8, "big", signed=True)


def _python_values(arr: pa.Array) -> list[Any]:
    """Values whose encoding the module docstring defines: dates as days, timestamps as
    nanoseconds, the rest as Python values."""
    t = arr.type
    if pa.types.is_date(t):
        return pc.cast(pc.cast(arr, pa.date32()), pa.int32()).to_pylist()
    if pa.types.is_timestamp(t):
        return pc.cast(pc.cast(arr, pa.timestamp("ns", t.tz)), pa.int64()).to_pylist()
    return arr.to_pylist()


def split_hashes(columns: Sequence[pa.Array | pa.ChunkedArray], seed: int) -> np.ndarray:
    """The ``uint64`` split hash (module docstring) of each row of the key ``columns``.

    Example:
        >>> import pyarrow as pa
        >>> from tablever.splits import split_hashes
        >>> a = split_hashes([pa.array([1, 2], pa.int64())], 42)
        >>> b = split_hashes([pa.array([1, 2], pa.int32())], 42)
        >>> bool((a == b).all()), a.dtype.name
        (True, 'uint64')
    """
    arrays = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns]
    n = len(arrays[0]) if arrays else 0
    prefix = hashlib.sha256(_PREFIX + int(seed).to_bytes(8, "big", signed=True))
    sha = prefix.copy
    if len(arrays) == 1 and _is_integer(arrays[0].type) and arrays[0].null_count == 0 and (
        n == 0 or pc.max(arrays[0]).as_py() <= _INT64_MAX
    ):
        # The one-integer key (``_row_id``) built in bulk: the same bytes as _encode_value.
        rec = np.zeros(n, dtype=[("t", "S1"), ("v", ">i8")])
        rec["t"] = b"I"
        rec["v"] = arrays[0].to_numpy(zero_copy_only=False).astype(np.int64)
        buf = rec.tobytes()
        encoded: Any = (buf[i * 9:(i + 1) * 9] for i in range(n))
    else:
        values = [_python_values(a) for a in arrays]
        types = [a.type for a in arrays]
        encoded = (
            b"".join(_encode_value(t, col[i]) for t, col in zip(types, values, strict=True))
            for i in range(n)
        )
    out = bytearray()
    for data in encoded:
        h = sha()
        h.update(data)
        out += h.digest()[:8]
    return np.frombuffer(bytes(out), dtype=">u8").astype(np.uint64)


@dataclass(frozen=True, slots=True)
class SplitSpec:
    """A split's definition, as lock files record it."""

    fractions: tuple[tuple[str, float], ...]
    seed: int
    key: tuple[str, ...] | None
    stratify: str | None = None
    tolerance: float = 0.05
    min_stratum_rows: int = 1000
    hash: str = SPLIT_HASH

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.fractions]

    @property
    def key_columns(self) -> list[str]:
        return list(self.key) if self.key is not None else [ROW_ID]

    def thresholds(self) -> np.ndarray:
        """Upper bounds of ``u`` for every split but the last, exactly."""
        parts = [Fraction(f) for _, f in self.fractions]
        total = sum(parts, Fraction(0))
        out, running = [], Fraction(0)
        for p in parts[:-1]:
            running += p
            out.append(math.floor(running / total * 2**64))
        return np.array(out, dtype=np.uint64)

    def assign(self, batch: pa.RecordBatch | pa.Table) -> np.ndarray:
        """The index (in ``names``) of each row's split; ``batch`` holds the key."""
        hashes = split_hashes([batch.column(c) for c in self.key_columns], self.seed)
        return np.searchsorted(self.thresholds(), hashes, side="right")

    def to_dict(self) -> dict[str, Any]:
        return {
            "hash": self.hash, "fractions": [[n, f] for n, f in self.fractions],
            "seed": self.seed, "key": None if self.key is None else list(self.key),
            "stratify": self.stratify, "tolerance": self.tolerance,
            "min_stratum_rows": self.min_stratum_rows,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SplitSpec:
        if d.get("hash") != SPLIT_HASH:
            raise InvalidValueError(
                f"split hash {d.get('hash')!r} is unknown to this tablever (it knows {SPLIT_HASH})")
        return cls(
            fractions=tuple((str(n), float(f)) for n, f in d["fractions"]), seed=int(d["seed"]),
            key=None if d.get("key") is None else tuple(d["key"]), stratify=d.get("stratify"),
            tolerance=float(d.get("tolerance", 0.05)),
            min_stratum_rows=int(d.get("min_stratum_rows", 1000)),
        )


def _check_spec(snapshot: Snapshot, spec: SplitSpec) -> None:
    if not spec.fractions:
        raise InvalidValueError("split needs at least one name: fraction, e.g. {'train': 0.8, 'val': 0.2}")
    for name, f in spec.fractions:
        if not name:
            raise InvalidValueError("a split name must be a non-empty string")
        if not (isinstance(f, float) and math.isfinite(f) and f > 0):
            raise InvalidValueError(f"split {name!r}: fraction must be a number > 0, got {f!r}")
    if len(set(spec.names)) != len(spec.names):
        raise InvalidValueError(f"split names repeat: {spec.names}")
    total = sum(f for _, f in spec.fractions)
    if abs(total - 1) > 1e-6:
        raise InvalidValueError(f"split fractions must sum to 1, they sum to {total:g}")
    if not -(2**63) <= spec.seed <= _INT64_MAX:
        raise InvalidValueError(f"seed must fit in 64 bits, got {spec.seed}")
    if not 0 <= spec.tolerance <= 1:
        raise InvalidValueError(f"tolerance must be within [0, 1], got {spec.tolerance}")
    schema = snapshot.schema
    for c in spec.key or ():
        if c not in schema.names:
            raise SchemaMismatchError(f"split key {c!r} is not a column; columns are: "
                                      f"{', '.join(schema.names)}", [c])
        if not _key_type_ok(schema.field(c).type):
            raise SchemaMismatchError(
                f"split key {c!r} is {schema.field(c).type}: a key must be integer, string, "
                "binary, boolean, date or timestamp columns", [c])
    if spec.stratify is not None:
        if spec.stratify not in schema.names:
            raise SchemaMismatchError(f"stratify column {spec.stratify!r} is not a column; "
                                      f"columns are: {', '.join(schema.names)}", [spec.stratify])
        t = schema.field(spec.stratify).type
        if pa.types.is_nested(t) or pa.types.is_floating(t):
            raise SchemaMismatchError(
                f"stratify column {spec.stratify!r} is {t}: it must hold discrete values "
                "(integers, strings, booleans, dates...)", [spec.stratify])


class SplitView:
    """The rows of one split of a snapshot, read like the snapshot itself.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.schema([("x", pa.int64())]))
        >>> s = t.append(pa.table({"x": list(range(1000))}))
        >>> parts = s.split({"train": 0.8, "val": 0.2}, seed=7)
        >>> parts["train"].num_rows + parts["val"].num_rows
        1000
        >>> later = t.append(pa.table({"x": list(range(1000, 1100))}))
        >>> val = set(parts["val"].to_arrow().column("x").to_pylist())
        >>> val <= set(later.split({"train": 0.8, "val": 0.2}, seed=7)["val"].to_arrow().column("x").to_pylist())
        True
    """

    __slots__ = ("_snapshot", "_spec", "_name", "_index", "_rows")

    def __init__(self, snapshot: Snapshot, spec: SplitSpec, name: str) -> None:
        self._snapshot = snapshot
        self._spec = spec
        self._name = name
        self._index = spec.names.index(name)
        self._rows: int | None = None

    def __repr__(self) -> str:
        return f"SplitView({self._name!r}, version={self._snapshot.version})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def spec(self) -> SplitSpec:
        return self._spec

    @property
    def schema(self) -> pa.Schema:
        return self._snapshot.schema

    def _mask(self, batch: pa.RecordBatch | pa.Table) -> np.ndarray:
        return self._spec.assign(batch) == self._index

    def _keys(self) -> list[str]:
        return [c for c in self._spec.key_columns if c != ROW_ID]

    def row_ids(self) -> np.ndarray:
        """The sorted ``_row_id``s of the split's rows."""
        parts = [
            b.column(ROW_ID).to_numpy()
            for b in self.to_batches(65536, columns=[], with_row_id=True)
        ]
        ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return np.sort(ids.astype(np.int64))

    @property
    def num_rows(self) -> int:
        if self._rows is None:
            self._rows = sum(
                b.num_rows for b in self.to_batches(65536, columns=[], with_row_id=True))
        return self._rows

    def to_arrow(self, columns: Sequence[str] | None = None, where: str | None = None, *,
                 with_row_id: bool = False) -> pa.Table:
        """The split's rows in snapshot order (as ``Snapshot.to_arrow``)."""
        cols = self._snapshot.check_columns(columns)
        names = list(cols if cols is not None else self.schema.names)
        extra = [c for c in self._keys() if c not in names]
        table = self._snapshot.to_arrow(names + extra, where, with_row_id=True)
        table = table.filter(pa.array(self._mask(table)))
        return table.select(names + ([ROW_ID] if with_row_id else []))

    def to_polars(self, columns: Sequence[str] | None = None, where: str | None = None, *,
                  with_row_id: bool = False) -> polars.DataFrame:
        import polars as pl

        out = pl.from_arrow(self.to_arrow(columns, where, with_row_id=with_row_id))
        assert isinstance(out, pl.DataFrame)
        return out

    def to_pandas(self, columns: Sequence[str] | None = None, where: str | None = None, *,
                  with_row_id: bool = False) -> pandas.DataFrame:
        return self.to_arrow(columns, where, with_row_id=with_row_id).to_pandas()

    def to_batches(
        self, batch_size: int, *, columns: Sequence[str] | None = None,
        where: str | None = None, shuffle_seed: int | None = None, epoch: int = 0,
        shard: tuple[int, int] = (0, 1), buffer_size: int | None = None,
        with_row_id: bool = False,
    ) -> BatchLoader:
        """The split's rows streamed as ``Snapshot.to_batches`` streams a snapshot's.
        Shards split the snapshot's rows evenly, then keep this split's: their sizes
        differ by the split's sampling noise."""
        from tablever.loaders import make_loader

        return make_loader(
            self._snapshot, batch_size, columns=columns, where=where,
            shuffle_seed=shuffle_seed, epoch=epoch, shard=shard, buffer_size=buffer_size,
            with_row_id=with_row_id, row_filter=self._mask, filter_columns=self._keys(),
        )

    def to_hf(self, columns: Sequence[str] | None = None, *, streaming: bool = False) -> Any:
        """A Hugging Face dataset of the split's rows (:func:`tablever.hf.to_hf`)."""
        from tablever.hf import to_hf

        return to_hf(self, columns=columns, streaming=streaming)

    def lock(self, path: str | os.PathLike[str]) -> str:
        """A lock file pinning the snapshot and this split (definition, rows and a digest
        of their row ids): :func:`tablever.reproduce.split_from_lock` reopens it."""
        from tablever.lockfile import write_lock

        return write_lock(self._snapshot, path, split=self.lock_entry())

    def lock_entry(self) -> dict[str, Any]:
        ids = self.row_ids()
        return {
            "name": self._name, "definition": self._spec.to_dict(), "rows": int(len(ids)),
            "row_ids_sha256": hashlib.sha256(ids.astype(">i8").tobytes()).hexdigest(),
        }


class Splits(Mapping[str, SplitView]):
    """Split name -> :class:`SplitView`, in the order the fractions were given.
    ``strata`` holds, with ``stratify``, each value's row count per split."""

    def __init__(self, snapshot: Snapshot, spec: SplitSpec,
                 strata: dict[Any, dict[str, int]] | None = None) -> None:
        self._views = {n: SplitView(snapshot, spec, n) for n in spec.names}
        self.spec = spec
        self.strata = strata

    def __getitem__(self, name: str) -> SplitView:
        try:
            return self._views[name]
        except KeyError:
            raise InvalidValueError(
                f"no split named {name!r}; splits are: {', '.join(self._views)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __repr__(self) -> str:
        return f"Splits({', '.join(self._views)})"


def _strata(snapshot: Snapshot, spec: SplitSpec) -> dict[Any, dict[str, int]]:
    assert spec.stratify is not None
    counts: dict[Any, np.ndarray] = {}
    keys = [c for c in spec.key_columns if c != ROW_ID]
    cols = list(dict.fromkeys([*keys, spec.stratify]))
    for batch in snapshot.to_batches(65536, columns=cols, with_row_id=True):
        where = spec.assign(batch)
        values = _python_values(batch.column(spec.stratify))
        for v, i in zip(values, where.tolist(), strict=True):
            counts.setdefault(v, np.zeros(len(spec.fractions), np.int64))[i] += 1
    out = {v: dict(zip(spec.names, c.tolist(), strict=True)) for v, c in counts.items()}
    bad = []
    for v, by_split in out.items():
        n = sum(by_split.values())
        if n < spec.min_stratum_rows:
            continue
        for name, f in spec.fractions:
            share = by_split[name] / n
            if abs(share - f) > spec.tolerance:
                bad.append(f"{spec.stratify}={v!r}: {name} holds {share:.3f} of its {n} rows, "
                           f"not {f:g} +- {spec.tolerance:g}")
    if bad:
        raise InvalidValueError(
            "stratified split out of tolerance (" + "; ".join(bad[:5]) + "). Rows never move "
            "between splits, so a larger tolerance, a larger min_stratum_rows or another "
            "seed (which moves rows: only for a new split) is the way out")
    return out


def split(
    snapshot: Snapshot,
    fractions: Mapping[str, float],
    *,
    seed: int = 42,
    key: str | Sequence[str] | None = None,
    stratify: str | None = None,
    tolerance: float = 0.05,
    min_stratum_rows: int = 1000,
) -> Splits:
    """Stable splits of ``snapshot``: ``{"train": 0.85, "val": 0.15}`` → a mapping of
    name to :class:`SplitView` (see the module docstring for the hash). ``key``: the
    column(s) identifying a row (default: ``_row_id``, which updates and upserts keep);
    ``stratify``: a column whose every value must be split within ``tolerance``.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.schema([("x", pa.int64())]))
        >>> s = t.append(pa.table({"x": list(range(100))}))
        >>> sorted(s.split({"train": 0.85, "val": 0.15}))
        ['train', 'val']
    """
    if not isinstance(fractions, Mapping):
        raise InvalidValueError("split takes a mapping of name to fraction, e.g. {'train': 0.8, 'val': 0.2}")
    keys = None if key is None else tuple([key] if isinstance(key, str) else key)
    if keys == (ROW_ID,):
        keys = None
    try:
        fr = tuple((str(n), float(f)) for n, f in fractions.items())
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"split fractions must be numbers: {exc}") from exc
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidValueError(f"seed must be an integer, got {seed!r}")
    spec = SplitSpec(fractions=fr, seed=seed, key=keys, stratify=stratify,
                     tolerance=float(tolerance), min_stratum_rows=int(min_stratum_rows))
    _check_spec(snapshot, spec)
    strata = _strata(snapshot, spec) if stratify is not None else None
    return Splits(snapshot, spec, strata)


def view_from_lock_entry(snapshot: Snapshot, entry: Mapping[str, Any], where: str) -> SplitView:
    """The split a lock file's ``split`` entry records, checked against its rows."""
    try:
        spec = SplitSpec.from_dict(entry["definition"])
        name = str(entry["name"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidValueError(f"{where}: unreadable split entry: {exc}") from exc
    view = split(snapshot, dict(spec.fractions), seed=spec.seed, key=spec.key,
                 stratify=spec.stratify, tolerance=spec.tolerance,
                 min_stratum_rows=spec.min_stratum_rows)[name]
    got = view.lock_entry()
    if got["rows"] != entry.get("rows") or got["row_ids_sha256"] != entry.get("row_ids_sha256"):
        raise IntegrityError(
            f"{where}: split {name!r} holds {got['rows']} rows now, the lock pins "
            f"{entry.get('rows')} (or other rows): " + json.dumps(spec.to_dict()))
    return view
