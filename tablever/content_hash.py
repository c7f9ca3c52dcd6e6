"""Layout-independent content hash: an order-independent 128-bit digest of rows.

Every row gets a 128-bit hash computed column-wise with numpy (no per-row Python); the
rows of a data file are combined by addition mod 2**128 (a multiset hash), so the sum
of a file is stored in its ``add`` action at write time and a snapshot's sum is the sum
of its files' sums minus the hashes of the rows its deletion vectors remove. Only the
deleted rows are ever read. Two snapshots holding the same rows under the same column
names and types get the same :func:`digest`, however the rows are split into files.

The scheme (``tablever-content-hash/1``) is fixed and documented in
``docs/reproducibility.md``; changing anything here changes every stored sum, so it
needs a new scheme name.

Row hash, per lane L in {0, 1} (two independent 64-bit lanes, 128 bits together)::

    row_L  = mix_L(ROW_L + sum over non-null columns c of value_L(c))        (mod 2**64)
    row    = row_1 * 2**64 + row_0

``mix_0`` is the splitmix64 finalizer, ``mix_1`` murmur3's fmix64 (both bijections of
64-bit words). A NULL adds nothing, so a column missing from an older file (schema
evolution: it reads as NULL) hashes like a stored NULL. ``_row_id`` is excluded: the hash
is about content, not identity.

Why one module: the hash is one scheme (canonical forms per type, lanes, the sum and
the digest); split, a reader could not check it against docs/reproducibility.md in one
place.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tablever.arrays import int64_numpy, valid_mask
from tablever.errors import IntegrityError, SchemaMismatchError
from tablever.format.commit import DataFile, DeleteVector, canonical_json
from tablever.format.fieldids import file_columns, sum_applies
from tablever.format.state import TableState
from tablever.schema import ROW_ID, schema_to_dict
from tablever.storage import Storage

__all__ = [
    "SCHEME",
    "digest",
    "file_sum",
    "row_hashes",
    "rows_content_hash",
    "snapshot_sum",
    "sum_hex",
    "sum_rows",
]

SCHEME = "tablever-content-hash/1"
MOD = 1 << 128
_U64 = np.uint64
_MASK32 = _U64(0xFFFFFFFF)
# (shift, multiplier, shift, multiplier, shift) of the two finalizers
_MIXERS = (
    (30, 0xBF58476D1CE4E5B9, 27, 0x94D049BB133111EB, 31),  # splitmix64 (Stafford variant 13)
    (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33),  # murmur3 fmix64
)
_CANONICAL_NAN = _U64(0x7FF8000000000000)
_GOLDEN = _U64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection
_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_DAY_MS = 86_400_000


# --- mixing -----------------------------------------------------------------------------


def _mix(x: np.ndarray, lane: int) -> np.ndarray:
    """The lane's 64-bit finalizer on a uint64 array (wrapping arithmetic, new array)."""
    a, m1, b, m2, c = _MIXERS[lane]
    y = x >> _U64(a)
    y ^= x
    tmp = np.empty_like(y)
    y *= _U64(m1)
    np.right_shift(y, _U64(b), out=tmp)
    y ^= tmp
    y *= _U64(m2)
    np.right_shift(y, _U64(c), out=tmp)
    y ^= tmp
    return y


def _seed(path: tuple[str, ...], lane: int) -> int:
    """A 64-bit key per lane from SHA-256 of the scheme and a path of names."""
    raw = hashlib.sha256("\x00".join((SCHEME, *path)).encode("utf-8")).digest()
    return int.from_bytes(raw[8 * lane : 8 * lane + 8], "little")


_ROW_SEED = (_seed(("row",), 0), _seed(("row",), 1))
_POS_CACHE: dict[tuple[int, int], np.ndarray] = {}
_POS_LOCK = threading.Lock()


def _position_keys(count: int, lane: int) -> np.ndarray:
    """Keys for positions 0..count-1 inside a variable-length value (strings, lists)."""
    size = 1 << max(6, int(count - 1).bit_length()) if count else 64
    with _POS_LOCK:
        keys = _POS_CACHE.get((lane, size))
    if keys is None:
        base = _U64(_seed(("position",), lane))
        keys = _mix(np.arange(size, dtype=_U64) + base, lane)
        keys.setflags(write=False)
        with _POS_LOCK:
            _POS_CACHE[(lane, size)] = keys
    return keys[:count]


def _segment_sums(terms: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Wrapping sums of ``terms`` over segments ``[starts[i], starts[i+1])`` (empty -> 0).

    A cumulative sum and a difference instead of ``np.add.reduceat``, which returns the
    element itself for an empty segment rather than 0.
    """
    cs = np.zeros(len(terms) + 1, dtype=_U64)
    np.cumsum(terms, dtype=_U64, out=cs[1:])
    return cs[starts[1:]] - cs[starts[:-1]]


# --- canonical values ---------------------------------------------------------------------
#
# Every Arrow type is reduced to one of four shapes whose hashes do not depend on how the
# value is stored: fixed words (ints as int64/uint64, floats as float64 bits with one NaN,
# temporal values in a unit-free form), byte strings cut into 8-byte little-endian words,
# lists (offsets and a child), and structs (named children). So int32 and int64, float32
# and float64, string and large_string, and timestamp[s] and timestamp[ms] holding the same
# values hash alike: Parquet changes some of these on the way to disk and back, and merge
# widens some of them; the snapshot digest still tells the schema apart.


@dataclass(frozen=True, slots=True)
class _Fixed:
    kind: str
    words: tuple[np.ndarray, ...]
    valid: np.ndarray | None


@dataclass(frozen=True, slots=True)
class _Bytes:
    """Byte strings as 8-byte little-endian words (the last one zero-padded).

    Short values (a few vectorized passes, no per-word index arrays): the values are
    taken longest first (``order``: original row of each sorted place), and
    ``by_position[t]`` holds word ``t`` of the first ``len(by_position[t])`` of them, the
    ones that have a word ``t``. Long values: ``flat = (starts, t, words)``, every word back
    to back. The hash is the same either way.
    """

    kind: str
    lengths: np.ndarray  # int64 byte lengths
    order: np.ndarray | None
    by_position: tuple[np.ndarray, ...]
    flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    valid: np.ndarray | None


@dataclass(frozen=True, slots=True)
class _List:
    kind: str
    starts: np.ndarray  # int64, n + 1 offsets into the child
    child: _Canon
    valid: np.ndarray | None


@dataclass(frozen=True, slots=True)
class _Struct:
    kind: str
    fields: tuple[tuple[str, _Canon], ...]
    n: int
    valid: np.ndarray | None


_Canon = _Fixed | _Bytes | _List | _Struct


def _buffer(arr: pa.Array, dtype: np.dtype | type, index: int = 1, width: int = 1) -> np.ndarray:
    """The values buffer of a fixed-width array as numpy, honouring the array's offset."""
    n = len(arr) * width
    buf = arr.buffers()[index]
    if n == 0 or buf is None:
        return np.zeros(n, dtype=dtype)
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(buf, dtype=dtype, count=n, offset=arr.offset * width * itemsize)


def _ints(arr: pa.Array) -> np.ndarray:
    """Integers as uint64 words: signed via int64 (two's complement), unsigned as is."""
    t = arr.type
    signed = pa.types.is_signed_integer(t)
    raw = _buffer(arr, np.dtype(f"{'i' if signed else 'u'}{t.bit_width // 8}"))
    return raw.astype(np.int64).view(_U64) if signed else raw.astype(_U64)


def _offsets(arr: pa.Array, dtype: type) -> np.ndarray:
    n = len(arr)
    buf = arr.buffers()[1]
    if n == 0 or buf is None:
        return np.zeros(n + 1, dtype=np.int64)
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(buf, dtype=dtype, count=n + 1, offset=arr.offset * itemsize)


def _split_time(values: np.ndarray, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """(whole seconds, nanoseconds within the second) of int64 values in ``unit``."""
    per = _PER_SECOND[unit]
    secs = np.floor_divide(values, per)
    frac = (values - secs * per) * _NS_PER[unit]
    return secs.view(_U64), frac.view(_U64)


_SHORT_WORDS = 16
_ALL_ONES = _U64(0xFFFFFFFFFFFFFFFF)


def _bytes_canon(kind: str, arr: pa.Array, offsets: np.ndarray, data: np.ndarray) -> _Bytes:
    offsets = offsets.astype(np.int64, copy=False)
    lo, hi = int(offsets[0]), int(offsets[-1])
    rel = offsets - lo
    lengths = rel[1:] - rel[:-1]
    # One copy of the value bytes, padded so that every 8-byte load stays in bounds, seen
    # as one unaligned little-endian uint64 starting at every byte: word t of a value is
    # a single gather (two aligned loads and four shifts before: 2x slower).
    padded = np.zeros(hi - lo + 16, dtype=np.uint8)
    padded[: hi - lo] = data[lo:hi]
    at_byte = np.ndarray(buffer=padded, dtype="<u8", shape=(hi - lo + 9,), strides=(1,))
    nwords = (lengths + 7) >> 3
    most = int(nwords.max(initial=0))
    starts_at = rel[:-1]
    if most <= _SHORT_WORDS:
        # Longest first, so the values with a word t are a prefix: contiguous slices
        # instead of index arrays (a stable radix sort on one byte per value).
        order = np.argsort(np.uint8(_SHORT_WORDS) - nwords.astype(np.uint8), kind="stable")
        count = np.bincount(nwords, minlength=most + 1)
        having = len(nwords) - np.cumsum(count)  # values with more than t words
        pos = starts_at[order]
        left = lengths[order]
        parts = []
        for t in range(most):
            k = int(having[t])
            words = at_byte[pos[:k]]
            # the values whose last word this is: keep only their own bytes
            end = int(having[t + 1]) if t + 1 < most else 0
            tail = left[end:k]
            words[end:k] &= _ALL_ONES >> ((_U64(8) - tail.view(_U64)) << _U64(3))  # 1..8
            parts.append(words)
            pos[:k] += 8
            left[:k] -= 8
        return _Bytes(kind, lengths, order, tuple(parts), None, valid_mask(arr))
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(nwords, out=starts[1:])
    row = np.repeat(np.arange(len(lengths)), nwords)
    index = np.arange(int(starts[-1]), dtype=np.int64) - starts[:-1][row]
    loaded = at_byte[starts_at[row] + 8 * index]
    left = lengths[row] - 8 * index
    short = np.flatnonzero(left < 8)
    loaded[short] &= _ALL_ONES >> ((_U64(8) - left[short].view(_U64)) << _U64(3))
    flat = (starts, index, loaded)
    return _Bytes(kind, lengths, None, (), flat, valid_mask(arr))


def _canon(arr: pa.Array) -> _Canon:  # noqa: C901 - one branch per Arrow type family
    t = arr.type
    n = len(arr)
    if pa.types.is_dictionary(t):
        return _canon(arr.dictionary_decode())
    if isinstance(t, pa.ExtensionType):
        return _canon(arr.storage)
    if pa.types.is_null(t):
        return _Fixed("null", (), np.zeros(n, dtype=bool))
    if pa.types.is_boolean(t):
        buf = arr.buffers()[1]
        if buf is None or n == 0:
            bits = np.zeros(n, dtype=_U64)
        else:
            packed = np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")
            bits = packed[arr.offset : arr.offset + n].astype(_U64)
        return _Fixed("bool", (bits,), valid_mask(arr))
    if pa.types.is_integer(t):
        return _Fixed("int", (_ints(arr),), valid_mask(arr))
    if pa.types.is_floating(t):
        np_type = {16: np.float16, 32: np.float32, 64: np.float64}[t.bit_width]
        values = _buffer(arr, np_type).astype(np.float64)
        bits = values.view(_U64).copy()
        bits[np.isnan(values)] = _CANONICAL_NAN
        return _Fixed("float", (bits,), valid_mask(arr))
    if pa.types.is_date(t):
        if pa.types.is_date32(t):
            days = _buffer(arr, np.int32).astype(np.int64)
        else:  # Parquet stores date64 as whole days (truncated toward zero, as Arrow's
            # cast does): hash what reads back
            ms = _buffer(arr, np.int64)
            days = np.floor_divide(ms, _DAY_MS)
            days += (ms < 0) & (days * _DAY_MS != ms)
        return _Fixed("date", (days.view(_U64),), valid_mask(arr))
    if pa.types.is_timestamp(t) or pa.types.is_duration(t):
        secs, frac = _split_time(_buffer(arr, np.int64), t.unit)
        kind = "timestamp" if pa.types.is_timestamp(t) else "duration"
        return _Fixed(kind, (secs, frac), valid_mask(arr))
    if pa.types.is_time(t):
        raw = _buffer(arr, np.int32 if pa.types.is_time32(t) else np.int64).astype(np.int64)
        return _Fixed("time", ((raw * _NS_PER[t.unit]).view(_U64),), valid_mask(arr))
    if pa.types.is_decimal(t):
        k = t.bit_width // 64
        words = _buffer(arr, _U64, width=k).reshape(n, k)
        return _Fixed(f"decimal{t.bit_width}", tuple(words[:, i] for i in range(k)), valid_mask(arr))
    if pa.types.is_string(t) or pa.types.is_binary(t):
        kind = "string" if pa.types.is_string(t) else "binary"
        return _bytes_canon(kind, arr, _offsets(arr, np.int32), _data(arr))
    if pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        kind = "string" if pa.types.is_large_string(t) else "binary"
        return _bytes_canon(kind, arr, _offsets(arr, np.int64), _data(arr))
    if pa.types.is_fixed_size_binary(t):
        width = t.byte_width
        offsets = (np.arange(n + 1, dtype=np.int64) + arr.offset) * width
        return _bytes_canon("binary", arr, offsets, _data(arr, index=1))
    if pa.types.is_string_view(t):
        return _canon(arr.cast(pa.large_string()))
    if pa.types.is_binary_view(t):
        return _canon(arr.cast(pa.large_binary()))
    if pa.types.is_fixed_size_list(t):
        return _canon(arr.cast(pa.list_(t.value_field)))
    if pa.types.is_map(t):
        starts, lo, hi = _list_offsets(arr)
        entries = arr.values.slice(lo, hi - lo).flatten()
        child = _Struct("entry", (("key", _canon(entries[0])), ("value", _canon(entries[1]))),
                        hi - lo, None)
        return _List("map", starts, child, valid_mask(arr))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        starts, lo, hi = _list_offsets(arr)
        return _List("list", starts, _canon(arr.values.slice(lo, hi - lo)), valid_mask(arr))
    if pa.types.is_struct(t):
        children = arr.flatten()
        fields = tuple((t.field(i).name, _canon(c)) for i, c in enumerate(children))
        return _Struct("struct", fields, n, valid_mask(arr))
    raise SchemaMismatchError(f"cannot hash a column of type {t}")


def _data(arr: pa.Array, index: int = 2) -> np.ndarray:
    buf = arr.buffers()[index]
    return np.zeros(0, dtype=np.uint8) if buf is None else np.frombuffer(buf, dtype=np.uint8)


def _list_offsets(arr: pa.Array) -> tuple[np.ndarray, int, int]:
    offsets = np.asarray(arr.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    if len(offsets) == 0:
        offsets = np.zeros(1, dtype=np.int64)
    lo, hi = int(offsets[0]), int(offsets[-1])
    return offsets - lo, lo, hi


# --- hashing canonical values ---------------------------------------------------------------


def _hash(c: _Canon, path: tuple[str, ...], lane: int) -> np.ndarray:
    """Per-value uint64 hashes in ``lane`` (NULLs get 0; callers mask with ``c.valid``)."""
    seed = _U64(_seed((*path, c.kind), lane))
    if isinstance(c, _Fixed):
        if not c.words:
            return np.zeros(len(c.valid) if c.valid is not None else 0, dtype=_U64)
        h = _mix(c.words[0] ^ seed, lane)
        for w in c.words[1:]:
            h = _mix(h ^ w, lane)
    elif isinstance(c, _Bytes):
        if c.flat is not None:
            starts, t, words = c.flat
            keys = _position_keys(int(t.max(initial=0)) + 1, lane)
            sums = _segment_sums(_mix(words ^ keys[t], lane), starts)
        else:
            keys = _position_keys(len(c.by_position), lane)
            ordered = np.zeros(len(c.lengths), dtype=_U64)
            for t_, words in enumerate(c.by_position):
                ordered[: len(words)] += _mix(words ^ keys[t_], lane)
            sums = np.empty_like(ordered)
            sums[c.order] = ordered  # short values always carry their order
        h = _mix(sums ^ (c.lengths.view(_U64) * _GOLDEN + seed), lane)
    elif isinstance(c, _List):
        elems = _hash(c.child, (*path, "item"), lane)
        if c.child.valid is not None:  # a NULL element is a value inside a list
            elems = np.where(c.child.valid, elems, _U64(_seed((*path, "null"), lane)))
        counts = c.starts[1:] - c.starts[:-1]
        t = np.arange(len(elems), dtype=np.int64) - np.repeat(c.starts[:-1], counts)
        terms = _mix(elems ^ _position_keys(int(counts.max(initial=0)), lane)[t], lane)
        h = _mix(_segment_sums(terms, c.starts) ^ (counts.view(_U64) * _GOLDEN + seed), lane)
    else:
        acc = np.full(c.n, seed, dtype=_U64)
        for name, child in c.fields:
            acc += _masked(_hash(child, (*path, "field", name), lane), child.valid)
        h = _mix(acc, lane)
    return h


def _masked(h: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    return h if valid is None else np.where(valid, h, _U64(0))


def row_hashes(
    table: pa.Table | pa.RecordBatch, repetitive: dict[str, bool] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The two 64-bit lanes (low, high) of every row's 128-bit hash, ``_row_id`` excluded.
    ``repetitive`` keeps, across slices of one table, which string columns were found
    repetitive (hashed per distinct value): the same hashes either way, decided once."""
    n = table.num_rows
    acc = [np.full(n, _U64(_ROW_SEED[lane]), dtype=_U64) for lane in (0, 1)]
    for name, col in zip(table.column_names, table.columns, strict=True):
        if name == ROW_ID:
            continue
        chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
        offset = 0
        for chunk in chunks:
            m = len(chunk)
            if m:
                for lane, h in enumerate(_column_hashes(chunk, name, repetitive)):
                    acc[lane][offset : offset + m] += h
            offset += m
    return _mix(acc[0], 0), _mix(acc[1], 1)


def _repetitive(chunk: pa.Array) -> bool:
    # a cheap look at the first values: mostly distinct strings skip the encoding
    return bool(pc.count_distinct(chunk.slice(0, 4096)).as_py() * 4 <= 4096)


def _column_hashes(
    chunk: pa.Array, name: str, repetitive: dict[str, bool] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Both lanes of the per-value hashes of one column chunk (NULLs give 0).

    Repetitive strings and binaries are hashed once per distinct value and gathered:
    the same hashes, several times faster on label-like columns.
    """
    t = chunk.type
    worth = False
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)) and len(chunk) >= 4096:
        if repetitive is None:
            worth = _repetitive(chunk)
        else:
            if name not in repetitive:
                repetitive[name] = _repetitive(chunk)
            worth = repetitive[name]
    if worth:
        encoded = pc.dictionary_encode(chunk)
        if len(encoded.dictionary) > 0 and len(encoded.dictionary) * 2 <= len(chunk):
            uniq = _canon(encoded.dictionary)
            idx = int64_numpy(encoded.indices, nulls=0)  # pa.scalar would import pandas
            valid = valid_mask(chunk)
            out = []
            for lane in (0, 1):
                h = _hash(uniq, ("column", name), lane)[idx]
                out.append(_masked(h, valid))
            return out[0], out[1]
    c = _canon(chunk)
    return (
        _masked(_hash(c, ("column", name), 0), c.valid),
        _masked(_hash(c, ("column", name), 1), c.valid),
    )


def _lane_sum(x: np.ndarray) -> int:
    """Exact sum of uint64 values as a Python int."""
    total = 0
    for start in range(0, len(x), 1 << 30):
        part = x[start : start + (1 << 30)]
        total += int(np.sum(part & _MASK32, dtype=_U64))
        total += int(np.sum(part >> _U64(32), dtype=_U64)) << 32
    return total


# Rows hashed per pass: the temporaries of a slice this size stay in the CPU caches, which
# made hashing 2-6x faster than one pass over a million rows (and spares fresh processes
# the page faults of many large temporaries).
_SLICE_ROWS = 16_384


def sum_rows(table: pa.Table | pa.RecordBatch, positions: np.ndarray | None = None) -> int:
    """Sum mod 2**128 of the 128-bit hashes of the rows (or of the rows at ``positions``)."""
    if positions is not None:
        table = table.take(pa.array(np.asarray(positions, dtype=np.int64)))
    total = 0
    repetitive: dict[str, bool] = {}
    for start in range(0, table.num_rows, _SLICE_ROWS):
        lo, hi = row_hashes(table.slice(start, _SLICE_ROWS), repetitive)
        total += _lane_sum(lo) + (_lane_sum(hi) << 64)
    return total % MOD


def sum_hex(value: int) -> str:
    """A 128-bit sum as 32 lowercase hex digits (the ``content_hash.sum`` of a data file)."""
    return f"{value % MOD:032x}"


def digest(rows: int, total: int, schema: pa.Schema) -> str:
    """The content hash: SHA-256 hex of canonical JSON of the live row count, the 128-bit
    sum, and the sorted ``[name, type]`` pairs of the columns (``_row_id`` excluded)."""
    fields = schema_to_dict(pa.schema([f for f in schema if f.name != ROW_ID]))["fields"]
    columns = sorted([f["name"], f["type"]] for f in fields)
    body = {"scheme": SCHEME, "rows": rows, "sum": sum_hex(total), "columns": columns}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def rows_content_hash(table: pa.Table) -> str:
    """The content hash of in-memory rows: equals ``Snapshot.content_hash`` of a snapshot
    holding the same rows under the same schema (``_row_id`` ignored)."""
    return digest(table.num_rows, sum_rows(table), table.schema)


# --- snapshots ------------------------------------------------------------------------------

_DELETED_CACHE: OrderedDict[tuple[str, str], int] = OrderedDict()
_DELETED_LOCK = threading.Lock()
_DELETED_CACHE_MAX = 4096

Positions = Callable[[DeleteVector, int], np.ndarray]


def _open(storage: Storage, f: DataFile) -> pq.ParquetFile:
    try:
        pf = pq.ParquetFile(storage.open_read(f.path))
    except FileNotFoundError as exc:
        raise IntegrityError(f"data file {f.path} is missing") from exc
    except (pa.ArrowException, OSError) as exc:
        raise IntegrityError(f"data file {f.path} is unreadable: {exc}") from exc
    if pf.metadata.num_rows != f.rows:
        raise IntegrityError(
            f"data file {f.path} holds {pf.metadata.num_rows} rows, expected {f.rows}"
        )
    return pf


def _read_groups(pf: pq.ParquetFile, f: DataFile, groups: Iterable[int],
                 columns: list[str]) -> pa.Table:
    try:
        return pf.read_row_groups(list(groups), columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise IntegrityError(f"data file {f.path} is unreadable: {exc}") from exc


def _deleted_sum(storage: Storage, f: DataFile, positions: np.ndarray) -> int:
    """Sum of the hashes of the rows at ``positions``, reading only their row groups."""
    pf = _open(storage, f)
    columns = [c for c in pf.schema_arrow.names if c != ROW_ID]
    sizes = np.array(
        [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)],
        dtype=np.int64,
    )
    bounds = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    groups = np.unique(np.searchsorted(bounds, positions, side="right") - 1)
    table = _read_groups(pf, f, groups.tolist(), columns)
    # positions relative to the concatenation of the chosen row groups
    shift = np.zeros(len(sizes), dtype=np.int64)
    shift[groups] = bounds[groups] - np.concatenate([[0], np.cumsum(sizes[groups])[:-1]])
    group_of = np.searchsorted(bounds, positions, side="right") - 1
    return sum_rows(table, positions - shift[group_of])


def file_sum(storage: Storage, f: DataFile, deleted: np.ndarray | None,
             columns: Mapping[str, str | None] | None = None) -> int:
    """Sum of the live rows of ``f`` computed by reading it (files without a stored sum,
    or whose columns the snapshot no longer has under the same names). ``columns`` maps
    each column of the snapshot to the file's column holding it (or None): only those
    are hashed, under the snapshot's names."""
    pf = _open(storage, f)
    names = [c for c in pf.schema_arrow.names if c != ROW_ID]
    rename: dict[str, str] = {}
    if columns is not None:
        present = set(names)
        rename = {src: name for name, src in columns.items()
                  if src is not None and src in present}
        names = [c for c in names if c in rename]
    table = _read_groups(pf, f, range(pf.metadata.num_row_groups), names)
    if rename:
        table = table.rename_columns([rename[c] for c in table.column_names])
    if deleted is None or len(deleted) == 0:
        return sum_rows(table)
    live = np.ones(table.num_rows, dtype=bool)
    live[deleted] = False
    return sum_rows(table, np.flatnonzero(live))


def snapshot_sum(storage: Storage, state: TableState, positions: Positions) -> int:
    """The 128-bit sum of a snapshot's live rows: stored file sums minus the hashes of the
    rows at deletion-vector positions (cached per data file and vector)."""
    total = 0
    for f in state.files.values():
        dv = state.deletes.get(f.key)
        if f.content_hash is None or not sum_applies(f, state.schema, ROW_ID):
            # the stored sum hashes the file's own column names: a column renamed or
            # dropped since means hashing the rows as the version names them
            deleted = positions(dv, f.rows) if dv else None
            total += file_sum(storage, f, deleted, file_columns(f, state.schema))
            continue
        total += int(f.content_hash, 16)
        if dv is None:
            continue
        key = (f.sha256, dv.sha256)
        with _DELETED_LOCK:
            hit = _DELETED_CACHE.get(key)
            if hit is not None:
                _DELETED_CACHE.move_to_end(key)
        if hit is None:
            hit = _deleted_sum(storage, f, positions(dv, f.rows))
            with _DELETED_LOCK:
                _DELETED_CACHE[key] = hit
                if len(_DELETED_CACHE) > _DELETED_CACHE_MAX:
                    _DELETED_CACHE.popitem(last=False)
        total -= hit
    return total % MOD
