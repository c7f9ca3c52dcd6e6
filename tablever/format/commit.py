"""Commits and their actions as frozen dataclasses; canonical JSON; snapshot ids.

A commit is data: an operation builds a :class:`Commit`, :func:`commit_id` hashes its
canonical JSON (sorted keys, no whitespace, without ``id``), and the log stores
:func:`to_json`. :func:`from_json` is the strict reader: anything malformed or hostile is
a :class:`~tablever.errors.CorruptLogError` naming the file.

Why one module: the commit format is one contract (each action, its JSON form and its
validation of a hostile log); docs/format.md describes it field by field in this order.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tablever.errors import CorruptLogError, InvalidNameError, UnsupportedFormatError
from tablever.format.layout import STORED
from tablever.format.once import Once

FORMAT_VERSION = 1
# Format 2 adds column field ids (docs/format.md): a table stays format 1 until it is
# upgraded, explicitly or by its first rename or drop of a column.
FORMAT_IDS = 2
FORMATS = (FORMAT_VERSION, FORMAT_IDS)

_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")  # \Z: "$" would accept a trailing newline
_HEX32 = re.compile(r"^[0-9a-f]{32}\Z")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MAX_INT = 2**63 - 1

__all__ = [
    "FORMATS",
    "FORMAT_IDS",
    "FORMAT_VERSION",
    "Actions",
    "Commit",
    "DataFile",
    "DeleteVector",
    "FileKey",
    "LazyActions",
    "ReadOnlyDict",
    "canonical_json",
    "check_name",
    "copy_json",
    "field_ids_from_json",
    "check_rel_path",
    "commit_id",
    "from_dict",
    "from_json",
    "stats_from_json",
    "to_json",
]


def copy_json(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars) through the C JSON codec: faster
    than ``copy.deepcopy``, and as deep as anything the log could parse."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if type(value) is dict and all(  # flat (summaries, most properties): a dict() is a copy
        v is None or type(v) in _SCALARS for v in value.values()
    ):
        return dict(value)
    return json.loads(json.dumps(value))


_SCALARS = frozenset({str, int, float, bool})


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that ids are hashed from."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def check_name(name: object, what: str = "name", *, existing: bool = False) -> str:
    """Validate a tag, run or table name (``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``, no ``..``).

    ``existing=True`` is for names already stored (listing, reading, deleting): those
    also accept what earlier versions let through, a valid name plus one trailing
    newline, so such a tag still protects its version from ``expire``."""
    legacy = (existing and isinstance(name, str) and name.endswith("\n")
              and _NAME.match(name[:-1]) is not None)
    if not isinstance(name, str) or not (_NAME.match(name) or legacy) or ".." in name:
        raise InvalidNameError(
            f"invalid {what} {name!r}: use 1-128 characters of letters, digits, '.', '_' "
            "and '-', starting with a letter or digit, without '..'"
        )
    return name




def check_rel_path(path: object, where: str = "commit") -> str:
    """A path from the log must be relative, normalised and stay under the table root."""
    if isinstance(path, str) and STORED.fullmatch(path):  # the paths tablever writes
        return path
    if not isinstance(path, str) or not path:
        raise CorruptLogError(f"{where}: path must be a non-empty string, got {path!r}")
    bad = (
        "\x00" in path
        or "\\" in path
        or path.startswith("/")
        or _SCHEME.match(path) is not None
        or posixpath.normpath(path) != path
        or any(part in ("..", ".", "") for part in path.split("/"))
    )
    if bad:
        raise CorruptLogError(f"{where}: refusing path {path!r} (must stay under the table root)")
    return path


FileKey = tuple[str, int | None]
"""A live data file is identified by its path and first_row_id: the same bytes appended
twice are stored once but live twice, with different row ids."""


@dataclass(frozen=True, slots=True)
class DataFile:
    """A content-addressed Parquet data file.

    ``first_row_id`` is set for appended files (``_row_id = first_row_id + position``);
    it is None for files that carry a physical ``_row_id`` column (update, upsert, compact).
    ``stats`` maps each column of the file to ``{"min", "max", "nulls"}`` (min/max may be
    absent when unknown). ``content_hash`` is the 32-hex 128-bit sum of the file's row
    hashes (:mod:`tablever.content_hash`), stored as ``{"sum", "rows"}``; None for files
    written without it (the key is then absent, so older commits keep their ids).
    ``field_ids`` maps each column of the file (by its name in the file) to its field id
    (format 2); None for files written before the table had ids (absent key).
    """

    path: str
    sha256: str
    bytes: int
    rows: int
    first_row_id: int | None
    stats: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    content_hash: str | None = None
    field_ids: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        # Read-only, so that no caller can change the bounds a state (and from it the
        # next checkpoint) prunes by.
        if type(self.stats) is not ReadOnlyDict:
            frozen = ReadOnlyDict({k: ReadOnlyDict(v) for k, v in self.stats.items()})
            object.__setattr__(self, "stats", frozen)
        if self.field_ids is not None and type(self.field_ids) is not ReadOnlyDict:
            object.__setattr__(self, "field_ids", ReadOnlyDict(self.field_ids))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "rows": self.rows,
            "first_row_id": self.first_row_id,
            "stats": {k: dict(v) for k, v in self.stats.items()},
        }
        if self.content_hash is not None:
            out["content_hash"] = {"sum": self.content_hash, "rows": self.rows}
        if self.field_ids is not None:
            out["field_ids"] = dict(self.field_ids)
        return out

    @property
    def key(self) -> FileKey:
        return (self.path, self.first_row_id)

    @property
    def columns(self) -> list[str]:
        return list(self.stats)


@dataclass(frozen=True, slots=True)
class DeleteVector:
    """The live deletion vector of one data file: sorted int64 positions, ``rows`` of them."""

    data_file: str
    data_first_row_id: int | None
    path: str
    sha256: str
    rows: int

    @property
    def key(self) -> FileKey:
        return (self.data_file, self.data_first_row_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_file": self.data_file,
            "data_first_row_id": self.data_first_row_id,
            "path": self.path,
            "sha256": self.sha256,
            "rows": self.rows,
        }


@dataclass(frozen=True, slots=True)
class Actions:
    """What a commit changes: files added, files removed, deletion vectors set, and table
    properties set (merged over the table's; written only when present, so the ids of
    commits without it are what they always were)."""

    add: tuple[DataFile, ...] = ()
    remove: tuple[FileKey, ...] = ()
    deletes: tuple[DeleteVector, ...] = ()
    set_properties: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "add": [f.to_dict() for f in self.add],
            "remove": [{"path": p, "first_row_id": r} for p, r in self.remove],
            "deletes": [d.to_dict() for d in self.deletes],
        }
        if self.set_properties is not None:
            out["set_properties"] = dict(self.set_properties)
        return out

    @property
    def empty(self) -> bool:
        return not (self.add or self.remove or self.deletes or self.set_properties)


class LazyActions(Actions):
    """A commit's actions read the first time one is asked for (``load`` returns them):
    a version opened from a checkpoint knows its commit's header without parsing the
    files the commit added or removed, which may be a hundred thousand. Compares,
    copies and pickles as the :class:`Actions` it loads."""

    __slots__ = ("_once",)
    _once: Once[Actions]

    def __init__(self, load: Callable[[], Actions]) -> None:  # noqa: D107
        object.__setattr__(self, "_once", Once(load))

    def loaded(self) -> Actions:
        """The actions (read now if they were not yet)."""
        return self._once.get()

    @property
    def is_loaded(self) -> bool:
        return self._once.done

    add = property(lambda self: self.loaded().add)  # type: ignore[assignment]
    remove = property(lambda self: self.loaded().remove)  # type: ignore[assignment]
    deletes = property(lambda self: self.loaded().deletes)  # type: ignore[assignment]
    set_properties = property(  # type: ignore[assignment]
        lambda self: self.loaded().set_properties)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyActions):
            other = other.loaded()
        return self.loaded() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.loaded()) if self.is_loaded else "LazyActions(<not read yet>)"

    def __reduce__(self) -> tuple[Any, ...]:
        a = self.loaded()
        return (Actions, (a.add, a.remove, a.deletes, a.set_properties))

    def __copy__(self) -> LazyActions:
        return self

    def __deepcopy__(self, memo: Any) -> LazyActions:
        return self


@dataclass(frozen=True, slots=True)
class Commit:
    """One version of a table, exactly as stored in ``log/<version:020d>.json``."""

    version: int
    parent_id: str | None
    timestamp_ms: int
    txn: str
    operation: str
    message: str
    author: str
    properties: Mapping[str, Any]
    provenance: Mapping[str, Any]
    schema: Mapping[str, Any] | None
    actions: Actions
    summary: Mapping[str, Any]
    id: str = ""
    format: int = FORMAT_VERSION

    def body(self) -> dict[str, Any]:
        """The commit as a JSON-ready dict, without ``id``."""
        return {
            "format": self.format,
            "version": self.version,
            "parent_id": self.parent_id,
            "timestamp_ms": self.timestamp_ms,
            "txn": self.txn,
            "operation": self.operation,
            "message": self.message,
            "author": self.author,
            "properties": dict(self.properties),
            "provenance": dict(self.provenance),
            "schema": None if self.schema is None else dict(self.schema),
            "actions": self.actions.to_dict(),
            "summary": dict(self.summary),
        }

    def with_id(self) -> Commit:
        """This commit with ``id`` computed from its content."""
        return replace(self, id=commit_id(self))


def commit_id(commit: Commit) -> str:
    """SHA-256 of the canonical JSON of the commit without its id."""
    try:
        return hashlib.sha256(canonical_json(commit.body())).hexdigest()
    except (TypeError, ValueError) as exc:
        raise CorruptLogError(f"commit {commit.version}: not JSON-serialisable: {exc}") from exc


def to_json(commit: Commit) -> bytes:
    """The stored bytes of a commit: canonical JSON including ``id``."""
    body = commit.body()
    body["id"] = commit.id
    return canonical_json(body)


# --- strict reading -----------------------------------------------------------------


def _req(d: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise CorruptLogError(f"{where}: missing field {key!r}")
    value = d[key]
    if isinstance(value, bool) and typ is not bool and not (
        isinstance(typ, tuple) and bool in typ
    ):
        raise CorruptLogError(f"{where}: field {key!r} has the wrong type")
    if not isinstance(value, typ):
        raise CorruptLogError(f"{where}: field {key!r} has the wrong type")
    return value


def _count(d: Mapping[str, Any], key: str, where: str) -> int:
    value = _req(d, key, int, where)
    if not 0 <= value <= MAX_INT:
        raise CorruptLogError(f"{where}: field {key!r} out of range: {value}")
    return int(value)


def _sha(d: Mapping[str, Any], key: str, where: str) -> str:
    value = _req(d, key, str, where)
    if not _HEX64.match(value):
        raise CorruptLogError(f"{where}: field {key!r} is not a SHA-256 hex digest")
    return str(value)


_STAT_KEYS = frozenset(("min", "max", "nulls"))


class ReadOnlyDict(dict):  # type: ignore[type-arg]
    """A dict that refuses changes: the stats of every DataFile, which a process shares
    between opens of a table (parsed commits and checkpoints are cached) and writes into
    checkpoints."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("file statistics are read-only; copy them with dict()")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> ReadOnlyDict:
        return self

    def __deepcopy__(self, memo: Any) -> ReadOnlyDict:
        return self  # values are plain scalars (or read-only dicts of them)


def _stats(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise CorruptLogError(f"{where}: stats must be an object")
    out: dict[str, dict[str, Any]] = {}
    for col, st in raw.items():
        if not isinstance(st, dict):
            raise CorruptLogError(f"{where}: stats of column {col!r} must be an object")
        if not _STAT_KEYS.issuperset(st):
            unknown = sorted(set(st) - _STAT_KEYS)[0]
            raise CorruptLogError(f"{where}: unknown stats key {unknown!r}")
        for val in st.values():
            kind = type(val)
            if kind is float:
                if not math.isfinite(val):
                    raise CorruptLogError(f"{where}: non-finite stats value")
            elif val is not None and kind is not int and kind is not str and kind is not bool:
                if isinstance(val, float) and not math.isfinite(val):
                    raise CorruptLogError(f"{where}: non-finite stats value")
                if not isinstance(val, (int, float, str, bool)):
                    raise CorruptLogError(f"{where}: stats value of {col!r} has the wrong type")
        out[col] = st
    return out  # DataFile makes it read-only


def _row_id(d: Mapping[str, Any], key: str, where: str) -> int | None:
    value = d.get(key)
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT
    ):
        raise CorruptLogError(f"{where}: bad {key} {value!r}")
    return value


def file_key_from_dict(d: Any, where: str) -> FileKey:
    if not isinstance(d, dict):
        raise CorruptLogError(f"{where}: a removed file must be an object")
    return (check_rel_path(_req(d, "path", str, where), where), _row_id(d, "first_row_id", where))


def _plain_data_file(d: dict[str, Any]) -> DataFile | None:
    """``d`` as a DataFile when it is exactly what tablever writes, checked inline (a
    commit of many files is parsed ~2x faster); None sends it through the checks that
    name what is wrong."""
    path, sha, size, rows = d.get("path"), d.get("sha256"), d.get("bytes"), d.get("rows")
    first, stats, ch = d.get("first_row_id"), d.get("stats", {}), d.get("content_hash")
    if not (type(path) is str and STORED.fullmatch(path) and type(sha) is str
            and _HEX64.match(sha) and type(size) is int and 0 <= size <= MAX_INT
            and type(rows) is int and 0 <= rows <= MAX_INT
            and (first is None or (type(first) is int and 0 <= first <= MAX_INT - rows))
            and _plain_stats(stats) and "field_ids" not in d):
        return None
    if ch is None:
        return DataFile(path, sha, size, rows, first, stats, None)
    total = ch.get("sum") if type(ch) is dict and len(ch) == 2 else None
    if type(total) is str and _HEX32.match(total) and type(ch.get("rows")) is int and ch["rows"] == rows:
        return DataFile(path, sha, size, rows, first, stats, total)
    return None


def data_file_from_dict(d: Any, where: str) -> DataFile:
    if type(d) is dict:
        plain = _plain_data_file(d)
        if plain is not None:
            return plain
    if not isinstance(d, dict):
        raise CorruptLogError(f"{where}: an added file must be an object")
    first = _row_id(d, "first_row_id", where)
    rows = _count(d, "rows", where)
    if first is not None and first + rows > MAX_INT:
        raise CorruptLogError(f"{where}: row ids overflow")
    return DataFile(
        path=check_rel_path(_req(d, "path", str, where), where),
        sha256=_sha(d, "sha256", where),
        bytes=_count(d, "bytes", where),
        rows=rows,
        first_row_id=first,
        stats=_stats(d.get("stats", {}), where),
        content_hash=_content_hash(d.get("content_hash"), rows, where),
        field_ids=_field_ids(d.get("field_ids"), where),
    )


def field_ids_from_json(raw: str | None, where: str) -> dict[str, int] | None:
    """The ``field_ids`` of a checkpoint row (canonical JSON text or null), checked as
    :func:`data_file_from_dict` checks them."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CorruptLogError(f"{where}: unreadable field_ids {raw[:80]!r}: {exc}") from exc
    return _field_ids(value, where)


def _field_ids(raw: Any, where: str) -> dict[str, int] | None:
    """The optional ``field_ids`` of an added file: column name in the file -> field id."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and type(v) is int and 0 < v <= MAX_INT for k, v in raw.items()
    ):
        raise CorruptLogError(f"{where}: field_ids must map column names to positive ints")
    if len(set(raw.values())) != len(raw):
        raise CorruptLogError(f"{where}: field_ids gives two columns the same id")
    return dict(raw)


def _content_hash(raw: Any, rows: int, where: str) -> str | None:
    """The optional ``content_hash`` of an added file: ``{"sum": 32 hex, "rows": rows}``."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"sum", "rows"}:
        raise CorruptLogError(f"{where}: content_hash must be an object with 'sum' and 'rows'")
    value = _req(raw, "sum", str, f"{where} content_hash")
    if not _HEX32.match(value):
        raise CorruptLogError(f"{where}: content_hash sum is not 32 lowercase hex digits")
    if _count(raw, "rows", f"{where} content_hash") != rows:
        raise CorruptLogError(f"{where}: content_hash covers {raw['rows']} rows, file has {rows}")
    return str(value)


_DECODER = json.JSONDecoder()


def _plain_stats(raw: Any) -> bool:
    """Whether ``raw`` is what :func:`_stats` accepts as is (it then raises or copies)."""
    if type(raw) is not dict:
        return False
    for st in raw.values():
        if type(st) is not dict or not _STAT_KEYS.issuperset(st):
            return False
        for val in st.values():
            kind = type(val)
            if kind is float:
                if not math.isfinite(val):
                    return False
            elif val is not None and kind is not int and kind is not str and kind is not bool:
                return False
    return True


def stats_from_json(raw: str, where: str) -> dict[str, dict[str, Any]]:
    """The statistics of a checkpoint row (canonical JSON text), checked as
    :func:`data_file_from_dict` checks them."""
    try:
        stats, end = _DECODER.raw_decode(raw)
    except (ValueError, RecursionError) as exc:
        raise CorruptLogError(f"{where}: unreadable stats {raw[:80]!r}: {exc}") from exc
    if end != len(raw):
        raise CorruptLogError(f"{where}: unreadable stats {raw[:80]!r}")
    if _plain_stats(stats):
        return stats  # type: ignore[no-any-return]
    return _stats(stats, where)


def delete_vector_from_dict(d: Any, where: str) -> DeleteVector:
    if not isinstance(d, dict):
        raise CorruptLogError(f"{where}: a deletion vector must be an object")
    return DeleteVector(
        data_file=check_rel_path(_req(d, "data_file", str, where), where),
        data_first_row_id=_row_id(d, "data_first_row_id", where),
        path=check_rel_path(_req(d, "path", str, where), where),
        sha256=_sha(d, "sha256", where),
        rows=_count(d, "rows", where),
    )


def from_json(raw: bytes, *, where: str, expected_version: int | None = None) -> Commit:
    """Parse and validate stored commit bytes; the id must match the content."""
    if not raw:
        raise CorruptLogError(f"{where}: empty commit file (torn write?)")
    try:
        d = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CorruptLogError(f"{where}: not valid JSON (torn or corrupt commit): {exc}") from exc
    return from_dict(d, where=where, expected_version=expected_version)


def from_dict(d: Any, *, where: str, expected_version: int | None = None,
              actions: LazyActions | None = None) -> Commit:
    """A commit already parsed from JSON (as a checkpoint holds it), validated as
    :func:`from_json` validates stored bytes.

    With ``actions``, ``d`` is the commit's header (every field but ``actions``) and the
    actions are read when first asked for; the id is then taken as stored, and
    ``actions``' loader checks it against the whole commit."""
    if not isinstance(d, dict):
        raise CorruptLogError(f"{where}: a commit must be a JSON object")
    fmt = _req(d, "format", int, where)
    if fmt not in FORMATS:
        raise UnsupportedFormatError(fmt, where)
    version = _count(d, "version", where)
    if expected_version is not None and version != expected_version:
        raise CorruptLogError(f"{where}: holds version {version}, expected {expected_version}")
    parent = d.get("parent_id")
    if parent is not None and (not isinstance(parent, str) or not _HEX64.match(parent)):
        raise CorruptLogError(f"{where}: bad parent_id")
    if actions is None:
        actions_raw = _req(d, "actions", dict, where)
        add = _req(actions_raw, "add", list, where)
        remove = _req(actions_raw, "remove", list, where)
        deletes = _req(actions_raw, "deletes", list, where)
        set_properties = actions_raw.get("set_properties")
        if set_properties is not None and not isinstance(set_properties, dict):
            raise CorruptLogError(f"{where}: set_properties must be an object")
    schema = d.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise CorruptLogError(f"{where}: schema must be an object")
    summary = _req(d, "summary", dict, where)
    for key in ("added_rows", "deleted_rows", "total_rows", "total_files", "total_bytes"):
        _count(summary, key, where)
    commit = Commit(
        format=fmt,
        version=version,
        parent_id=parent,
        timestamp_ms=_count(d, "timestamp_ms", where),
        txn=_req(d, "txn", str, where),
        operation=_req(d, "operation", str, where),
        message=_req(d, "message", str, where),
        author=_req(d, "author", str, where),
        properties=_req(d, "properties", dict, where),
        provenance=_req(d, "provenance", dict, where),
        schema=schema,
        actions=actions if actions is not None else Actions(
            add=tuple(data_file_from_dict(a, where) for a in add),
            remove=tuple(file_key_from_dict(r, where) for r in remove),
            deletes=tuple(delete_vector_from_dict(x, where) for x in deletes),
            set_properties=set_properties,
        ),
        summary=summary,
        id=_sha(d, "id", where),
    )
    if actions is None and commit_id(commit) != commit.id:
        raise CorruptLogError(f"{where}: id does not match the commit's content (tampered?)")
    return commit
