"""The live files (or deletion vectors) of a state, as an immutable map that the next
state derives from in time proportional to what a commit changes, not to the table.

A :class:`LiveMap` is a base map that is never changed (a dict, or a checkpoint's
columns that build entries only when asked) plus an overlay: base keys hidden, base keys
given a new value, and keys added after the base, in order. Deriving copies the overlay
only; once the overlay grows past a fraction of the base it is folded into a new dict
base. Row and byte totals are carried along, so a state's row count never walks its
files.
"""

from __future__ import annotations

from collections.abc import Hashable, ItemsView, Iterator, Mapping, ValuesView
from typing import Any, Generic, TypeVar

__all__ = ["LiveEdit", "LiveMap", "live"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING: Any = object()
# Folding the overlay into a new base costs a pass over the map: do it when the overlay
# is this large and a quarter of the base, so a commit copies O(overlay) and the fold's
# cost, spread over the commits that grew the overlay, stays constant per commit.
_MIN_FOLD = 1024


def _totals(values: Any) -> tuple[int, int]:
    rows = size = 0
    for v in values:
        rows += v.rows
        size += getattr(v, "bytes", 0)
    return rows, size


class _Values(ValuesView):  # type: ignore[type-arg]
    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        return (v for _, v in self._mapping.items())  # type: ignore[attr-defined]


class LiveMap(Mapping[K, V], Generic[K, V]):
    """An immutable map of live entries (each with ``rows``, files also ``bytes``), in
    the order they became live. Its values are read-only and shared between states."""

    __slots__ = ("_base", "_hidden", "_changed", "_added", "_len", "rows", "bytes")

    def __init__(
        self,
        base: Mapping[K, V],
        *,
        hidden: frozenset[K] | set[K] = frozenset(),
        changed: Mapping[K, V] | None = None,
        added: Mapping[K, V] | None = None,
        totals: tuple[int, int] | None = None,
    ) -> None:
        self._base = base
        self._hidden = hidden
        self._changed: Mapping[K, V] = changed or {}
        self._added: Mapping[K, V] = added or {}
        self._len = len(base) - len(hidden) + len(self._added)
        if totals is None:
            rows = getattr(base, "total_rows", None)
            size = getattr(base, "total_bytes", None)
            if rows is None or size is None:
                rows, size = _totals(base.values())
            assert not hidden and not self._changed and not self._added
            totals = (rows, size)
        self.rows, self.bytes = totals

    @property
    def base(self) -> Mapping[K, V]:
        return self._base

    @property
    def hidden(self) -> frozenset[K] | set[K]:
        """Keys of the base that are no longer live."""
        return self._hidden

    @property
    def changed(self) -> Mapping[K, V]:
        """Keys of the base with another value (in the base's place)."""
        return self._changed

    @property
    def added(self) -> Mapping[K, V]:
        """Keys live after the base's, in order."""
        return self._added

    @property
    def overlay_size(self) -> int:
        return len(self._hidden) + len(self._changed) + len(self._added)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, key: K) -> V:
        v = self._added.get(key, _MISSING)
        if v is not _MISSING:
            return v  # type: ignore[no-any-return]
        if key in self._hidden:
            raise KeyError(key)
        v = self._changed.get(key, _MISSING)
        if v is not _MISSING:
            return v  # type: ignore[no-any-return]
        return self._base[key]

    def __contains__(self, key: object) -> bool:
        if key in self._added:
            return True
        return key not in self._hidden and (key in self._changed or key in self._base)

    def __iter__(self) -> Iterator[K]:
        hidden = self._hidden
        if hidden:
            for k in self._base:
                if k not in hidden:
                    yield k
        else:
            yield from self._base
        yield from self._added

    def items(self) -> ItemsView[K, V]:
        return _Items(self)

    def values(self) -> ValuesView[V]:
        return _Values(self)

    def iter_items(self) -> Iterator[tuple[K, V]]:
        """(key, value) in order, without building a view."""
        hidden, changed = self._hidden, self._changed
        if hidden or changed:
            for k, v in self._base.items():
                if k in hidden:
                    continue
                yield k, changed.get(k, v)
        else:
            yield from self._base.items()
        yield from self._added.items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return len(self) == len(other) and dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LiveMap({len(self)} entries)"

    def edit(self) -> LiveEdit[K, V]:
        """A changeable copy of the overlay; :meth:`LiveEdit.done` gives the new map."""
        return LiveEdit(self)


class _Items(ItemsView):  # type: ignore[type-arg]
    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        return self._mapping.iter_items()  # type: ignore[attr-defined, no-any-return]


class LiveEdit(Generic[K, V]):
    """Deletes and puts on top of a :class:`LiveMap`, with the meaning of the same
    operations on a dict (a put on a live key keeps its place; a key removed and put
    again goes last)."""

    __slots__ = ("_map", "_hidden", "_changed", "_added", "_len", "rows", "bytes")

    def __init__(self, m: LiveMap[K, V]) -> None:
        self._map = m
        self._hidden = set(m.hidden)
        self._changed = dict(m.changed)
        self._added = dict(m.added)
        self._len = len(m)
        self.rows, self.bytes = m.rows, m.bytes

    def __len__(self) -> int:
        return self._len

    def __contains__(self, key: object) -> bool:
        if key in self._added:
            return True
        return key not in self._hidden and (key in self._changed or key in self._map.base)

    def get(self, key: K, default: Any = None) -> Any:
        v = self._added.get(key, _MISSING)
        if v is not _MISSING:
            return v
        if key in self._hidden:
            return default
        v = self._changed.get(key, _MISSING)
        if v is not _MISSING:
            return v
        return self._map.base.get(key, default)

    def remove(self, key: K) -> V:
        """Remove a live key (KeyError if it is not live); returns its value."""
        old = self._added.pop(key, _MISSING)
        if old is _MISSING:
            if key in self._hidden:
                raise KeyError(key)
            old = self._changed.pop(key, _MISSING)
            if old is _MISSING:
                old = self._map.base[key]
            self._hidden.add(key)
        self._len -= 1
        self.rows -= old.rows
        self.bytes -= getattr(old, "bytes", 0)
        return old  # type: ignore[no-any-return]

    def put(self, key: K, value: V) -> None:
        old = self.get(key, _MISSING)
        if key in self._added or key in self._hidden:
            self._added[key] = value
        elif old is not _MISSING:
            self._changed[key] = value
        else:
            self._added[key] = value
        if old is _MISSING:
            self._len += 1
        else:
            self.rows -= old.rows
            self.bytes -= getattr(old, "bytes", 0)
        self.rows += value.rows  # type: ignore[attr-defined]
        self.bytes += getattr(value, "bytes", 0)

    def done(self) -> LiveMap[K, V]:
        base = self._map.base
        overlay = len(self._hidden) + len(self._changed) + len(self._added)
        totals = (self.rows, self.bytes)
        if overlay >= _MIN_FOLD and overlay * 4 >= len(base):
            merged = LiveMap(base, hidden=frozenset(self._hidden), changed=self._changed,
                             added=self._added, totals=totals)
            return LiveMap(dict(merged.items()), totals=totals)
        return LiveMap(base, hidden=frozenset(self._hidden), changed=self._changed,
                       added=self._added, totals=totals)


def live(m: Mapping[K, V]) -> LiveMap[K, V]:
    """``m`` as a :class:`LiveMap` (a copy of a plain mapping, which may change later)."""
    if isinstance(m, LiveMap):
        return m
    return LiveMap(dict(m))
