"""Every process-wide cache of tablever, in one place, each bounded and clearable.

All are least-recently-used maps bounded by entries and by bytes (an estimate of what
each entry holds). Nothing in them is needed for a correct answer: a miss costs a
re-read, a re-parse or a re-hash. ``tablever.clear_caches()`` empties them all.

| cache | holds | key |
|---|---|---|
| ``COMMITS`` | parsed commits | (version, SHA-256 of the commit's bytes) |
| ``CHECKPOINTS`` | parsed checkpoints (states) | (version, SHA-256 of its bytes) |
| ``DELETION_VECTORS`` | loaded deletion-vector positions | (SHA-256, rows of the file) |
| ``VERIFIED`` | local files whose bytes matched their SHA-256, with their stat | (path, SHA-256) |
| ``FILE_SCHEMAS`` | column names and types of checked data files | local path |
| ``SCHEMA_SIGNATURES`` | one shared tuple per distinct schema | the schema's tuple |
| ``FOOTER_SIGNATURES`` | the schema tuple of files written alike | the footer bytes that fix it |
| ``DUCKDB_TYPES`` | the DuckDB type of an Arrow type | Arrow type |
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["Lru", "all_caches", "clear_caches", "on_clear"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_ALL: list[Lru[Any, Any]] = []


class Lru(Generic[K, V]):
    """A thread-safe least-recently-used map, bounded by ``max_entries`` and by the sum
    of the sizes given to :meth:`put` (``max_bytes``). A value larger than the whole
    byte budget is not kept."""

    def __init__(self, name: str, *, max_entries: int, max_bytes: int) -> None:
        self.name, self.max_entries, self.max_bytes = name, max_entries, max_bytes
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        _ALL.append(self)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, key: K, default: Any = None) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return default
            self._items.move_to_end(key)
            return hit[0]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key: K, value: V, size: int = 1) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            self._put(key, value, size)

    def setdefault(self, key: K, value: V, size: int = 1) -> V:
        """The value held for ``key``, after storing ``value`` there if there was none."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0]
            if size <= self.max_bytes:
                self._put(key, value, size)
            return value

    def _put(self, key: K, value: V, size: int) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._items[key] = (value, size)
        self._bytes += size
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def all_caches() -> list[Lru[Any, Any]]:
    return list(_ALL)


def clear_caches() -> None:
    """Empty every process-wide cache of tablever (parsed log files, deletion vectors,
    files known to match their hashes, schemas, DuckDB types) and close this thread's
    cached SQL connections. Only costs: the next reads parse, load and hash again.

    Example:
        >>> import tablever as tv
        >>> tv.clear_caches()
    """
    for cache in _ALL:
        cache.clear()
    for hook in _ON_CLEAR:
        hook()


_ON_CLEAR: list[Callable[[], None]] = []


def on_clear(hook: Callable[[], None]) -> None:
    """Have :func:`clear_caches` call ``hook`` too (for caches kept elsewhere, such as
    the SQL connections of the module that opens them)."""
    _ON_CLEAR.append(hook)


MiB = 1 << 20
# Parsed log files hold ~4x their bytes in Python objects; a large table's checkpoint is
# the entry most worth keeping, so it may take most of its budget.
COMMITS: Lru[tuple[int, bytes], Any] = Lru("commits", max_entries=100_000, max_bytes=8 * MiB)
CHECKPOINTS: Lru[tuple[int, bytes], Any] = Lru("checkpoints", max_entries=16,
                                               max_bytes=256 * MiB)
DELETION_VECTORS: Lru[str, Any] = Lru("deletion vectors", max_entries=4096,
                                      max_bytes=256 * MiB)
# ~0.5 KB an entry: at most ~50 MB each
VERIFIED: Lru[tuple[str, str], tuple[int, int, int, int]] = Lru(
    "verified files", max_entries=100_000, max_bytes=100_000)
FILE_SCHEMAS: Lru[str, tuple[tuple[str, str], ...]] = Lru(
    "file schemas", max_entries=100_000, max_bytes=100_000)
SCHEMA_SIGNATURES: Lru[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = Lru(
    "schema signatures", max_entries=10_000, max_bytes=10_000)
FOOTER_SIGNATURES: Lru[bytes, tuple[tuple[str, str], ...]] = Lru(
    "footer signatures", max_entries=1024, max_bytes=1024)
DUCKDB_TYPES: Lru[Any, str | None] = Lru("duckdb types", max_entries=10_000, max_bytes=10_000)
