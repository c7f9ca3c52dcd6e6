"""A checkpoint's rows as Arrow columns: checked a column at a time, digested from the
column buffers, and turned into :class:`~tablever.format.commit.DataFile` entries only
when one is asked for.

Opening a version from a checkpoint of 100,000 live files then costs a Parquet decode,
a few vectorised checks and one SHA-256 over the columns, not 100,000 Python objects:
the row count comes from a column sum, and a point lookup builds the entries of the
files it keeps (:meth:`CheckpointFiles.candidates` prunes on the statistics first).
Pure: bytes come in as a decoded table, nothing is read or written here.

Why one module: the checkpoint's columns are one contract, read (checks, digest, lazy
entries, bulk pruning on their statistics) and written (rows kept from the checkpoint a
state was read from) here; docs/format.md, "Checkpoints", describes them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tablever.errors import CorruptLogError
from tablever.format.commit import (
    MAX_INT,
    DataFile,
    DeleteVector,
    FileKey,
    canonical_json,
    field_ids_from_json,
    stats_from_json,
)
from tablever.format.live import LiveMap
from tablever.format.once import Once

__all__ = [
    "CKPT_TYPES",
    "LATER",
    "Bounds",
    "CheckpointFiles",
    "FileList",
    "checkpoint_table",
    "columns_digest",
    "deletes_from_table",
    "files_from_table",
    "usable",
    "usable_later",
]

CKPT_TYPES = {
    "path": pa.string(), "sha256": pa.string(), "bytes": pa.int64(), "rows": pa.int64(),
    "first_row_id": pa.int64(), "stats": pa.string(), "dv_path": pa.string(),
    "dv_sha256": pa.string(), "dv_rows": pa.int64(), "content_hash": pa.string(),
    "field_ids": pa.string(),
}
_OPTIONAL = ("content_hash", "field_ids")  # absent from older checkpoints
_REQUIRED = ("path", "sha256", "bytes", "rows", "stats")
_STORED = r"^(?:data|deletes)/[0-9a-f]{2}/[0-9a-f]{64}\.parquet$"  # layout.STORED, RE2
DIGEST_KEY = "columns_digest"


def _column(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)


# Arrays go to numpy through their buffers: pyarrow's own conversions of booleans and
# nullable arrays import pandas, which costs more than a whole open.
def _valid(arr: pa.Array) -> np.ndarray:
    """One byte per value: 1 valid, 0 null."""
    n = len(arr)
    bitmap = arr.buffers()[0]
    if bitmap is None or arr.null_count == 0:
        return np.ones(n, dtype=np.uint8)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[arr.offset:arr.offset + n]


def _ints(arr: pa.Array, null: int = 0) -> np.ndarray:
    """The values of an int64 array, ``null`` where null."""
    n = len(arr)
    values = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=arr.offset + n)[arr.offset:]
    if arr.null_count:
        values = np.where(_valid(arr).astype(bool), values, np.int64(null))
    return values


# --- the column digest ----------------------------------------------------------------


def _le64(values: np.ndarray) -> bytes:
    return values.astype("<i8", copy=False).tobytes()


def columns_digest(meta: Mapping[str, Any], table: pa.Table) -> str | None:
    """SHA-256 of a checkpoint's metadata and columns, computed from the column buffers
    (docs/format.md, "Checkpoints"); None when a column is neither int64 nor string."""
    body = {k: v for k, v in meta.items() if k not in ("digest", DIGEST_KEY)}
    h = hashlib.sha256(canonical_json(body))
    n = table.num_rows
    h.update(_le64(np.array([n])))
    for name, col in zip(table.column_names, table.columns, strict=True):
        if col.type not in (pa.int64(), pa.string()):
            return None
        arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        raw = name.encode()
        h.update(_le64(np.array([len(raw)])) + raw)
        h.update(_valid(arr).tobytes())
        if arr.type == pa.int64():
            h.update(_le64(_ints(arr)))
            continue
        valid = _valid(arr)
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32,
                                count=arr.offset + n + 1)[arr.offset:]
        lengths = np.diff(offsets)
        if arr.null_count and bool(np.any(lengths[valid == 0])):
            # a null slot spanning bytes: rebuild the array without them
            arr = pa.array([v if v is not None else "" for v in arr.to_pylist()], pa.string())
            offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1)
            lengths = np.diff(offsets)
        h.update(_le64(lengths))
        if n and offsets[-1] > offsets[0]:
            h.update(memoryview(arr.buffers()[2])[offsets[0]:offsets[-1]])
    return h.hexdigest()


# --- checking the columns -------------------------------------------------------------



def _all_true(mask: pa.Array | pa.ChunkedArray) -> bool:
    return bool(pc.all(mask, skip_nulls=True).as_py() is not False)


def _nonneg(col: pa.ChunkedArray) -> bool:
    if len(col) == col.null_count:
        return True
    lo = pc.min(col).as_py()
    return lo is None or lo >= 0


def _fixed(arr: pa.Array, width: int) -> np.ndarray | None:
    """The values of a string array without nulls as an ``(n, width)`` byte matrix, or
    None when one is not ``width`` bytes long."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=arr.offset + n + 1)
    offsets = offsets[arr.offset:]
    if n == 0 or not bool(np.all(np.diff(offsets) == width)):
        return None
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return data.reshape(n, width)


def _all_hex(m: np.ndarray) -> bool:
    # bytes.translate deleting the hex digits leaves nothing: one C pass over the bytes
    return not m.tobytes().translate(None, b"0123456789abcdef")


def _hex_matrix(arr: pa.Array, width: int) -> np.ndarray | None:
    """Like :func:`_fixed`, and None unless every byte is a lowercase hex digit."""
    m = _fixed(arr, width)
    return m if m is not None and _all_hex(m) else None


_DATA_PREFIX = np.frombuffer(b"data/", dtype=np.uint8)
_SUFFIX = np.frombuffer(b".parquet", dtype=np.uint8)


def _stored_data_paths(arr: pa.Array, shas: np.ndarray) -> np.ndarray | None:
    """The hex names of the paths if every path is ``data/<h2>/<64 hex>.parquet`` (what
    tablever writes; checked on the bytes, as a whole column), else None. ``shas`` is
    the checked ``sha256`` column: a path naming its own SHA-256 needs no other check."""
    m = _fixed(arr, 80)
    if m is None:
        return None
    name = m[:, 8:72]
    if not (bool((m[:, :5] == _DATA_PREFIX).all()) and bool((m[:, 7] == ord("/")).all())
            and bool((m[:, 72:] == _SUFFIX).all())):
        return None
    if not (bool((name == shas).all()) and bool((m[:, 5:7] == shas[:, :2]).all())) and not (
            _all_hex(m[:, 5:7]) and _all_hex(name)):
        return None
    return name


def _stored(arr: pa.Array | pa.ChunkedArray) -> bool:
    return _all_true(pc.match_substring_regex(arr, _STORED))


def _distinct_keys(names: np.ndarray | None, table: pa.Table) -> bool:
    """Whether no (path, first_row_id) pair repeats. With the paths' hex names, on a
    64-bit digest of each pair (distinct digests: distinct pairs); else, or when two
    digests meet, exactly."""
    first = _ints(_column(table, "first_row_id"), -1).astype(np.uint64)
    if names is not None:
        h = np.frombuffer(bytes.fromhex(names[:, :16].tobytes().decode()), dtype=np.uint64)
        h = h ^ (first * np.uint64(0x9E3779B97F4A7C15))
        h.sort()
        if not bool(np.any(h[1:] == h[:-1])):
            return True
    keys = set(zip(table.column("path").to_pylist(), first.tolist(), strict=True))
    return len(keys) == table.num_rows


def _sums_ok(table: pa.Table) -> bool:
    sums = _column(table, "content_hash")
    return sums.null_count == len(sums) or (
        _hex_matrix(sums.drop_null() if sums.null_count else sums, 32) is not None)


LATER = ("stats", "content_hash", "field_ids")
"""The columns an open leaves for later: only building an entry (or pruning on the
statistics) reads them, and they are most of a checkpoint's bytes."""


def usable_later(table: pa.Table) -> bool:
    """:func:`usable`'s checks of the :data:`LATER` columns (``table`` holds those)."""
    for name, col in zip(table.column_names, table.columns, strict=True):
        if name not in LATER or col.type != CKPT_TYPES[name]:
            return False
    if "stats" not in table.column_names or table.column("stats").null_count:
        return False
    return "content_hash" not in table.column_names or _sums_ok(table)


def usable(table: pa.Table, *, later: tuple[str, ...] = ()) -> bool:
    """Whether ``table`` holds what tablever writes, checked a column at a time: the
    expected types, stored paths and hex digests, counts in range, each live file once.
    The columns named in ``later`` may be absent (decoded and checked when used).
    False is not an error: the caller checks entry by entry and names the problem."""
    for name, col in zip(table.column_names, table.columns, strict=True):
        want = CKPT_TYPES.get(name)
        if want is not None and col.type != want:
            return False
    names = set(table.column_names) | set(later)
    if any(c not in names for c in CKPT_TYPES if c not in _OPTIONAL):
        return False
    if any(table.column(c).null_count for c in _REQUIRED if c not in later):
        return False
    if table.num_rows == 0:
        return True
    shas = _hex_matrix(_column(table, "sha256"), 64)
    if shas is None:
        return False
    path = _column(table, "path")
    hexnames = _stored_data_paths(path, shas)
    if hexnames is None and not _stored(path):
        return False
    col = table.column
    if not (_nonneg(col("bytes")) and _nonneg(col("rows")) and _nonneg(col("first_row_id"))):
        return False
    rows = _ints(_column(table, "rows"))
    first = _ints(_column(table, "first_row_id"))
    if not bool(np.all(first <= MAX_INT - rows)):
        return False
    if "content_hash" in table.column_names and not _sums_ok(table):
        return False
    has_dv = pc.is_valid(col("dv_path"))
    if pc.any(has_dv).as_py():
        dvs = table.filter(has_dv)
        if (dvs.column("dv_sha256").null_count or dvs.column("dv_rows").null_count
                or not _stored(dvs.column("dv_path"))
                or _hex_matrix(_column(dvs, "dv_sha256"), 64) is None
                or not _nonneg(dvs.column("dv_rows"))):
            return False
    return _distinct_keys(hexnames, table)


# --- the lazy files -------------------------------------------------------------------


_FILE_COLUMNS = ("path", "sha256", "bytes", "rows", "first_row_id", "stats", "content_hash",
                 "field_ids")


def _file_table(table: pa.Table) -> pa.Table:
    n = table.num_rows
    return pa.table({name: _column(table, name) if name in table.column_names
                     else pa.nulls(n, pa.string()) for name in _FILE_COLUMNS})


class CheckpointFiles(Mapping[FileKey, DataFile]):
    """The live files of a checkpoint (columns already checked by :func:`usable`), in
    row order. An entry is built, its statistics parsed and checked, the first time it
    is asked for; the key index the first time a key is looked up."""

    __slots__ = ("_part", "_tab", "_where", "_built", "_keys", "_index", "_int_stats",
                 "total_rows", "total_bytes")

    def __init__(self, table: pa.Table, where: str, *,
                 later: Callable[[], pa.Table] | None = None) -> None:
        """``table``: the checked columns; with ``later``, all but the :data:`LATER`
        ones, which that function decodes and checks the first time an entry (or the
        statistics of the files) is asked for: opening a version and counting its rows
        never reads them."""
        self._where = where
        self._part = table
        self._tab: Once[pa.Table] = Once(
            (lambda: _file_table(table)) if later is None else (lambda: self._joined(later)))
        if later is None:
            self._tab.get()
        n = table.num_rows
        self.total_rows = int(pc.sum(table.column("rows")).as_py() or 0)
        self.total_bytes = int(pc.sum(table.column("bytes")).as_py() or 0)
        self._built: list[DataFile | None] = [None] * n
        self._keys: list[FileKey] | None = None
        self._index: dict[FileKey, int] | None = None
        self._int_stats: dict[str, IntStats | None] = {}

    def _joined(self, later: Callable[[], pa.Table]) -> pa.Table:
        rest = later()
        if rest.num_rows != self._part.num_rows:
            raise CorruptLogError(f"{self._where}: checkpoint columns differ in length")
        tab = self._part
        for name, col in zip(rest.column_names, rest.columns, strict=True):
            tab = tab.append_column(name, col)
        return _file_table(tab)

    @property
    def _table(self) -> pa.Table:
        return self._tab.get()

    @property
    def decoded(self) -> bool:
        """Whether the :data:`LATER` columns have been decoded (the complexity tests
        look)."""
        return self._tab.done

    @property
    def table(self) -> pa.Table:
        """The columns (path, sha256, bytes, rows, first_row_id, stats, content_hash,
        field_ids), the last two null where the checkpoint lacks them."""
        return self._table

    def __len__(self) -> int:
        return self._part.num_rows

    def keys_list(self) -> list[FileKey]:
        if self._keys is None:
            paths = self._part.column("path").to_pylist()
            firsts = self._part.column("first_row_id").to_pylist()
            self._keys = list(zip(paths, firsts, strict=True))
        return self._keys

    def index(self) -> dict[FileKey, int]:
        """Row of each key."""
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self.keys_list())}
        return self._index

    def __iter__(self) -> Iterator[FileKey]:
        return iter(self.keys_list())

    def __contains__(self, key: object) -> bool:
        return key in self.index()

    def __getitem__(self, key: FileKey) -> DataFile:
        return self.file(self.index()[key])

    def get(self, key: FileKey, default: Any = None) -> Any:
        i = self.index().get(key)
        return default if i is None else self.file(i)

    def file(self, i: int) -> DataFile:
        """The entry of row ``i``."""
        f = self._built[i]
        if f is None:
            f = self._build(*(c[i].as_py() for c in self._table.columns))
            self._built[i] = f
        return f

    def _build(self, path: str, sha: str, size: int, rows: int, first: int | None,
               stats: str, content_hash: str | None, field_ids: str | None) -> DataFile:
        return DataFile(path, sha, size, rows, first, stats_from_json(stats, self._where),
                        content_hash, field_ids_from_json(field_ids, self._where))

    def iter_files(self) -> Iterator[DataFile]:
        """Every entry in order, built a slice of rows at a time as the caller reads on
        (the first rows of a snapshot do not build the rest)."""
        built, n = self._built, len(self)
        start, step = 0, 32
        while start < n:
            stop = min(n, start + step)
            step = min(step * 2, 4096)
            if any(built[i] is None for i in range(start, stop)):
                part = self._table.slice(start, stop - start)
                values = zip(*(c.to_pylist() for c in part.columns), strict=True)
                for i, row in enumerate(values, start):
                    if built[i] is None:
                        built[i] = self._build(*row)
            for i in range(start, stop):
                yield built[i]  # type: ignore[misc]
            start = stop

    def items(self) -> ItemsView[FileKey, DataFile]:
        return _CkptItems(self)

    @property
    def built(self) -> int:
        """How many entries have been built (the complexity tests count them)."""
        return sum(f is not None for f in self._built)

    def candidates(self, bounds: Bounds) -> list[int] | None:
        """Rows whose statistics do not rule out ``bounds`` (see :func:`stat_mask`); the
        bounds read for a column are kept for the next lookup."""
        for name in bounds:
            if name not in self._int_stats:
                self._int_stats[name] = int_stats(self._table, name)
        mask = stat_mask(self._int_stats, bounds, len(self))
        if mask is None:
            return None
        return np.flatnonzero(mask).tolist()  # type: ignore[no-any-return]


class _CkptItems(ItemsView):  # type: ignore[type-arg]
    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        m: CheckpointFiles = self._mapping  # type: ignore[attr-defined]
        return zip(m.keys_list(), m.iter_files(), strict=True)


Bounds = Mapping[str, "tuple[int | None, int | None]"]
"""Inclusive integer bounds by column name (None: unbounded), all of which a row must
satisfy."""


IntStats = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Per row: whether integer min and max are recorded, the mins, the maxes."""


def int_stats(table: pa.Table, name: str) -> IntStats | None:
    """The integer min/max of column ``name`` in each row's statistics, read with one
    vectorised regex over the JSON, never parsing it; None if that cannot be done."""
    stats = _column(table, "stats")
    # canonical JSON: top-level keys follow "{" or ",", each column's keys are sorted
    # (max, min, nulls), integers are plain digits; a quote inside a string value is
    # escaped, so the pattern cannot match inside one
    key = re.escape(json.dumps(name, ensure_ascii=False))
    pattern = "[{,]" + key + r':\{"max":(?P<max>-?[0-9]+),"min":(?P<min>-?[0-9]+)[,}]'
    try:
        found = pc.extract_regex(stats, pattern=pattern)
        if isinstance(found, pa.ChunkedArray):
            found = found.combine_chunks()
        # rows without a match hold "" under a null struct
        maxs, mins = (pc.cast(pc.replace_substring_regex(found.field(f), pattern="^$",
                                                         replacement="0"), pa.int64())
                      for f in ("max", "min"))
    except (pa.ArrowException, ValueError):
        return None
    return _valid(found).astype(bool), _ints(mins), _ints(maxs)


def stat_mask(columns: Mapping[str, IntStats | None], bounds: Bounds, n: int) -> np.ndarray | None:
    """Per row, False when the file's min/max of one of ``bounds``' columns shows that
    no row satisfies it; True otherwise (no integer bounds recorded, or the column
    absent from the file). None when a column's statistics could not be read."""
    mask = np.ones(n, dtype=bool)
    for name, (lo, hi) in bounds.items():
        got = columns[name]
        if got is None:
            return None
        has, mins, maxs = got
        ok = np.ones(n, dtype=bool)
        if lo is not None:
            ok &= maxs >= lo
        if hi is not None:
            ok &= mins <= hi
        mask &= ~has | ok
    return mask


class FileList(Sequence[DataFile]):
    """The live files of a state as a sequence, built as they are read; and, for a
    point lookup, :meth:`where_bounds`: the files whose statistics do not rule the
    bounds out, building entries for those only."""

    __slots__ = ("_map", "_list")

    def __init__(self, files: Mapping[FileKey, DataFile]) -> None:
        self._map = files
        self._list: list[DataFile] | None = None

    def _all(self) -> list[DataFile]:
        if self._list is None:
            self._list = list(self._map.values())
        return self._list

    def __len__(self) -> int:
        return len(self._map)

    def __getitem__(self, i: Any) -> Any:
        return self._all()[i]

    def __iter__(self) -> Iterator[DataFile]:
        if self._list is not None:
            return iter(self._list)
        return iter(self._map.values())  # built as read: head() reads the first few

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return self._all() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._all())

    def where_bounds(self, bounds: Bounds) -> list[DataFile] | None:
        """The files, in order, that may hold a row within ``bounds`` (a superset: the
        caller still checks each); None when the statistics cannot be read in bulk."""
        m = self._map
        if not isinstance(m, LiveMap) or not isinstance(m.base, CheckpointFiles):
            return None
        base: CheckpointFiles = m.base
        rows = base.candidates(bounds)
        if rows is None:
            return None
        hidden, changed = m.hidden, m.changed
        out = []
        if hidden or changed:
            keys = base.keys_list()
            for i in rows:
                k = keys[i]
                if k not in hidden:
                    out.append(changed.get(k) or base.file(i))
        else:
            out = [base.file(i) for i in rows]
        out.extend(m.added.values())
        return out


def files_from_table(table: pa.Table, where: str) -> LiveMap[FileKey, DataFile] | None:
    """The live files of a checked checkpoint table, or None when a column check fails
    (the caller then checks entry by entry)."""
    if not usable(table):
        return None
    return LiveMap(CheckpointFiles(table, where))


def deletes_from_table(table: pa.Table) -> LiveMap[FileKey, DeleteVector]:
    """The deletion vectors of a checkpoint table that passed :func:`usable`."""
    has_dv = pc.is_valid(table.column("dv_path"))
    out: dict[FileKey, DeleteVector] = {}
    if pc.any(has_dv).as_py():
        sub = table.filter(has_dv).select(
            ["path", "first_row_id", "dv_path", "dv_sha256", "dv_rows"]).to_pydict()
        for p, f, dp, ds, dr in zip(*sub.values(), strict=True):
            out[(p, f)] = DeleteVector(p, f, dp, ds, dr)
    return LiveMap(out)


# --- writing --------------------------------------------------------------------------


def _rows_of(files: Sequence[DataFile]) -> dict[str, pa.Array]:
    return {
        "path": pa.array([f.path for f in files], pa.string()),
        "sha256": pa.array([f.sha256 for f in files], pa.string()),
        "bytes": pa.array([f.bytes for f in files], pa.int64()),
        "rows": pa.array([f.rows for f in files], pa.int64()),
        "first_row_id": pa.array([f.first_row_id for f in files], pa.int64()),
        "stats": pa.array(
            [canonical_json({k: dict(v) for k, v in f.stats.items()}).decode() for f in files],
            pa.string(),
        ),
        "content_hash": pa.array([f.content_hash for f in files], pa.string()),
        "field_ids": pa.array(
            [None if f.field_ids is None else canonical_json(dict(f.field_ids)).decode()
             for f in files], pa.string()),
    }




def checkpoint_table(files: Mapping[FileKey, DataFile],
                     deletes: Mapping[FileKey, DeleteVector]) -> pa.Table:
    """The checkpoint rows of a state: one per live file, in order. Rows still in the
    checkpoint a state was read from are taken from its columns, not rebuilt."""
    base = files.base if isinstance(files, LiveMap) else None
    parts: list[pa.Table] = []
    if (isinstance(base, CheckpointFiles) and isinstance(files, LiveMap)
            and not files.changed):
        hidden = files.hidden
        table = base.table.select(list(_FILE_COLUMNS))
        index = base.index() if (hidden or deletes) else {}
        if hidden:
            keep = np.ones(len(base), dtype=bool)
            keep[[index[k] for k in hidden if k in index]] = False
            table = table.filter(pa.array(keep))
            new_pos = np.cumsum(keep) - 1
        else:
            keep = None
            new_pos = None
        parts.append(table)
        added = list(files.added.values())
        kept = table.num_rows

        def locate(key: FileKey) -> int:
            i = index.get(key)
            if i is not None and key not in files.added:
                return int(new_pos[i]) if new_pos is not None else i
            return kept + added_pos[key]

        added_pos = {f.key: j for j, f in enumerate(added)}
        if added:
            parts.append(pa.table(_rows_of(added)))
    else:
        listed = list(files.values())
        parts.append(pa.table(_rows_of(listed)))
        position = {f.key: j for j, f in enumerate(listed)}
        locate = position.__getitem__  # type: ignore[assignment]
    table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    n = table.num_rows
    dv_path: list[str | None] = [None] * n
    dv_sha: list[str | None] = [None] * n
    dv_rows: list[int | None] = [None] * n
    for key, dv in deletes.items():
        j = locate(key)
        dv_path[j], dv_sha[j], dv_rows[j] = dv.path, dv.sha256, dv.rows
    cols = {name: table.column(name) for name in _FILE_COLUMNS if name not in _OPTIONAL}
    cols["dv_path"] = pa.chunked_array([pa.array(dv_path, pa.string())])
    cols["dv_sha256"] = pa.chunked_array([pa.array(dv_sha, pa.string())])
    cols["dv_rows"] = pa.chunked_array([pa.array(dv_rows, pa.int64())])
    cols["content_hash"] = table.column("content_hash")
    if table.column("field_ids").null_count < n:  # format 2 (absent before it)
        cols["field_ids"] = table.column("field_ids")
    return pa.table({k: v.combine_chunks() for k, v in cols.items()})

