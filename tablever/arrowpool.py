"""The Arrow memory pool tablever's heavy reads and writes allocate from.

pyarrow's default pool here is mimalloc, which returned large buffers to the system and
faulted them back in on every big allocation (compaction and first large reads ran at
about half speed; docs/benchmarks.md). So :func:`fast_pool` makes jemalloc pyarrow's default pool while a
tablever read or write runs, and puts the previous default back when the last one
ends. The default is process-wide: other threads allocating through pyarrow meanwhile
use jemalloc too (harmless: arrays keep the pool they were allocated from). A pool the
caller sets with ``pa.set_memory_pool`` during a tablever call is kept, not undone.
Setting ``ARROW_DEFAULT_MEMORY_POOL`` (or a pyarrow without jemalloc) leaves pyarrow's
choice alone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pyarrow as pa

__all__ = ["fast_pool", "with_fast_pool"]

_LOCK = threading.Lock()
_depth = 0
_saved: pa.MemoryPool | None = None

F = TypeVar("F", bound=Callable[..., Any])


@functools.lru_cache(maxsize=1)
def _jemalloc() -> pa.MemoryPool | None:
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return None
    try:
        return pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowException):
        return None


@contextlib.contextmanager
def fast_pool() -> Iterator[None]:
    """Run the block with jemalloc as pyarrow's default pool (nests; thread-safe)."""
    global _depth, _saved
    pool = _jemalloc()
    if pool is None:
        yield
        return
    with _LOCK:
        if _depth == 0:
            _saved = pa.default_memory_pool()
            pa.set_memory_pool(pool)
        _depth += 1
    try:
        yield
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                # put the previous pool back unless the caller chose another meanwhile
                if pa.default_memory_pool().backend_name == pool.backend_name:
                    pa.set_memory_pool(_saved)
                _saved = None


def _after_fork_in_child() -> None:
    """A forked child runs none of its parent's tablever calls: start from scratch (the
    lock may have been held by a thread that does not exist in the child)."""
    global _LOCK, _depth, _saved
    _LOCK = threading.Lock()
    if _depth and _saved is not None:
        pa.set_memory_pool(_saved)
    _depth, _saved = 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def with_fast_pool(fn: F) -> F:
    """Decorate ``fn`` to run inside :func:`fast_pool`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with fast_pool():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
