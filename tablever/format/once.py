"""A value computed the first time it is asked for, once, whichever threads ask.

Example:
    >>> calls = []
    >>> v = Once(lambda: calls.append(1) or 42)
    >>> v.done, v.get(), v.get(), len(calls), v.done
    (False, 42, 42, 1, True)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Once"]

T = TypeVar("T")


class Once(Generic[T]):
    """``load()``'s value, computed on the first :meth:`get` (the others wait for it);
    ``load`` is dropped once it has run."""

    __slots__ = ("_load", "_value", "_done", "_lock")

    def __init__(self, load: Callable[[], T]) -> None:
        self._load: Callable[[], T] | None = load
        self._value: T | None = None
        self._done = False
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self._done

    def get(self) -> T:
        if not self._done:
            with self._lock:
                if not self._done:
                    assert self._load is not None
                    self._value = self._load()
                    self._done, self._load = True, None
        return self._value  # type: ignore[return-value]
