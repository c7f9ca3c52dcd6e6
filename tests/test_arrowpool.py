"""tablever's reads and writes allocate from jemalloc and leave pyarrow's default alone."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv
import tablever.arrowpool as arrowpool
from tests.conftest import SCHEMA, make_batch

try:
    JEMALLOC: pa.MemoryPool | None = pa.jemalloc_memory_pool()
except (NotImplementedError, pa.ArrowException):  # a pyarrow built without it
    JEMALLOC = None

# Where pyarrow lacks jemalloc, tablever leaves the default pool in place.
FAST = "jemalloc" if JEMALLOC is not None else pa.default_memory_pool().backend_name


def test_the_pool_is_jemalloc_inside_and_restored_after_nesting() -> None:
    before = pa.default_memory_pool().backend_name
    with arrowpool.fast_pool():
        assert pa.default_memory_pool().backend_name == FAST
        with arrowpool.fast_pool():
            assert pa.default_memory_pool().backend_name == FAST
        assert pa.default_memory_pool().backend_name == FAST
    assert pa.default_memory_pool().backend_name == before


def test_concurrent_users_restore_the_default_only_when_the_last_leaves() -> None:
    before = pa.default_memory_pool().backend_name
    inside = threading.Barrier(4)
    seen: list[str] = []

    def work() -> None:
        with arrowpool.fast_pool():
            inside.wait()
            seen.append(pa.default_memory_pool().backend_name)
            inside.wait()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert seen == [FAST] * 4
    assert pa.default_memory_pool().backend_name == before


def test_reads_and_writes_run_on_it_and_leave_the_default(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import tablever.readers as readers

    pools: list[str] = []
    original = readers.read_arrow.__wrapped__  # type: ignore[attr-defined]

    def spy(self: tv.Snapshot, *args: object, **kwargs: object) -> pa.Table:
        pools.append(pa.default_memory_pool().backend_name)
        out: pa.Table = original(self, *args, **kwargs)
        return out

    monkeypatch.setattr(readers, "read_arrow", arrowpool.with_fast_pool(spy))
    before = pa.default_memory_pool().backend_name
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    t.append(make_batch(list(range(10))))
    assert t.latest().to_arrow().num_rows == 10
    assert pools == [FAST]
    assert pa.default_memory_pool().backend_name == before


def test_the_environment_variable_leaves_pyarrow_s_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    arrowpool._jemalloc.cache_clear()
    try:
        before = pa.default_memory_pool()
        with arrowpool.fast_pool():
            assert pa.default_memory_pool().backend_name == before.backend_name
    finally:
        arrowpool._jemalloc.cache_clear()


def test_a_pool_the_caller_sets_meanwhile_is_kept() -> None:
    system = pa.system_memory_pool()
    before = pa.default_memory_pool()
    try:
        with arrowpool.fast_pool():
            pa.set_memory_pool(system)
        assert pa.default_memory_pool().backend_name == "system"
    finally:
        pa.set_memory_pool(before)


def test_a_forked_child_starts_with_no_call_in_flight() -> None:
    import os

    if not hasattr(os, "fork"):
        return
    before = pa.default_memory_pool().backend_name
    with arrowpool.fast_pool():
        pid = os.fork()
        if pid == 0:  # the child: no tablever call of its own is running
            ok = arrowpool._depth == 0 and pa.default_memory_pool().backend_name == before
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
