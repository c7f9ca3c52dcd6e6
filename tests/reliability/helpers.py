"""Shared pieces of the reliability suite: the invariant check every scenario ends with,
spawned workers (module-level so a spawned process can import them) and fault runs."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import queue
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import tablever as tv
from tablever.format.commit import Commit, canonical_json, commit_id
from tablever.storage import FAULT_ENV

CTX = mp.get_context("spawn")
SCHEMA = pa.schema([("id", pa.int64()), ("label", pa.string())])
LOG = "_tablever/log"


def rows(ids: Iterable[int], label: str = "x") -> pa.Table:
    ids = list(ids)
    return pa.table(
        {"id": pa.array(ids, pa.int64()), "label": pa.array([label] * len(ids), pa.string())},
        schema=SCHEMA,
    )


def commit_file(root: str | os.PathLike[str], version: int) -> Path:
    return Path(root) / LOG / f"{version:020d}.json"


def maintenance() -> Any:
    """``tablever.maintenance`` once it exports compact/expire/vacuum/verify, else None."""
    try:
        import tablever.maintenance as m
    except ImportError:
        return None
    if all(hasattr(tv, n) or hasattr(m, n) for n in ("compact", "expire", "vacuum", "verify")):
        return m
    return None


def _verify_fn() -> Callable[[tv.Table], Any] | None:
    fn = getattr(tv, "verify", None)
    if fn is None:
        m = maintenance()
        fn = getattr(m, "verify", None) if m is not None else None
    return fn


# --- the invariants ---------------------------------------------------------------


@dataclass
class Checked:
    """What :func:`check_table` saw."""

    first: int
    latest: int
    latest_rows: pa.Table  # id, label, _row_id of the latest version
    verified_files: int
    versions: int  # retained

    def ids(self) -> Counter[int]:
        return Counter(self.latest_rows.column("id").to_pylist())


def check_table(
    path: str | os.PathLike[str],
    *,
    expect_ids: Iterable[int] | None = None,
    verify_each: bool = True,
) -> Checked:
    """The invariants every scenario ends with.

    Versions are dense and unique and form a hash chain; every retained version reads,
    its rows equal ``summary.total_rows`` and it holds no row id twice; no row id
    reappears after it was deleted (restore aside); every file of every version matches
    its hash (``Snapshot.verify``, and ``tv.verify`` when it exists); with ``expect_ids``
    the latest version holds exactly those ids (as a multiset).
    """
    t = tv.open(path)
    history = list(reversed(t.history()))
    versions = [s.version for s in history]
    assert versions, f"{path}: no versions"
    first, latest = versions[0], versions[-1]
    expired = set(t.log.read_expired())
    assert not expired & set(versions), "an expired version is still listed"
    assert sorted(expired | set(versions)) == list(range(latest + 1)), (
        f"versions not dense: retained {versions}, expired {sorted(expired)}"
    )
    if not expired:
        assert t.log.list_versions() == versions, "history does not match the log"
    assert len({s.id for s in history}) == len(history), "duplicate snapshot ids"
    prev: tv.Snapshot | None = None
    prev_ids: np.ndarray | None = None
    hashed: set[tuple[str, str]] = set()
    latest_rows = pa.table({})
    for s in history:
        if prev is not None and prev.version + 1 != s.version:
            prev = prev_ids = None  # expired versions in between
        if prev is not None:
            assert s.parent_id == prev.id, f"version {s.version}: broken hash chain"
            assert s.timestamp_ms > prev.timestamp_ms, f"version {s.version}: time went back"
        data = s.to_arrow(with_row_id=True)
        total = s.summary["total_rows"]
        assert data.num_rows == s.num_rows == total, (
            f"version {s.version}: read {data.num_rows} rows, num_rows {s.num_rows}, "
            f"summary says {total}"
        )
        ids = np.sort(data.column("_row_id").to_numpy())
        assert not np.any(ids[1:] == ids[:-1]), f"version {s.version}: a row id twice"
        if prev is not None and prev_ids is not None and s.operation != "restore":
            new = np.setdiff1d(ids, prev_ids, assume_unique=True)
            old = new[new < prev.state.next_row_id]
            assert not len(old), f"version {s.version} resurrected row ids {old[:5].tolist()}"
        if verify_each:
            s.verify()
        else:
            files = [(f.path, f.sha256) for f in s.data_files]
            files += [(d.path, d.sha256) for d in s.deletion_vectors]
            for p, sha in files:
                if (p, sha) not in hashed:
                    actual = hashlib.sha256((Path(path) / p).read_bytes()).hexdigest()
                    assert actual == sha, f"{p} does not match its hash"
                    hashed.add((p, sha))
        prev, prev_ids = s, ids
        latest_rows = data
    verify = _verify_fn()
    if verify is not None:
        report = verify(t)
        assert report.ok, f"verify: {report.problems}"
    if expect_ids is not None:
        got = Counter(latest_rows.column("id").to_pylist())
        want = Counter(expect_ids)
        assert got == want, (
            f"latest rows differ: {sum((want - got).values())} missing, "
            f"{sum((got - want).values())} unexpected"
        )
    return Checked(first, latest, latest_rows, len(hashed), len(versions))


def tmp_files(root: str | os.PathLike[str]) -> list[str]:
    """Temp files left in a table (``.tmp-*``)."""
    return sorted(str(p) for p in Path(root).rglob(".tmp-*"))


def tree_state(root: str | os.PathLike[str]) -> dict[str, tuple[int, int, str]]:
    """Every file below ``root``: relative path -> (size, mtime_ns, sha256)."""
    out = {}
    for p in Path(root).rglob("*"):
        if p.is_file():
            st = p.stat()
            out[p.relative_to(root).as_posix()] = (
                st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()
            )
    return out


# --- writing commits by hand (hostile, torn, fuzzed) ------------------------------


def resign(body: dict[str, Any]) -> bytes:
    """Commit JSON with ``id`` recomputed over ``body`` (as the writer would)."""
    d = dict(body)
    d.pop("id", None)
    d["id"] = hashlib.sha256(canonical_json(d)).hexdigest()
    return canonical_json(d)


def commit_id_of(c: Commit) -> str:
    return commit_id(c)


def read_json(p: Path) -> dict[str, Any]:
    return json.loads(p.read_bytes())


# --- spawned workers --------------------------------------------------------------


def _entry(q: Any, idx: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        q.put((idx, True, fn(*args)))
    except BaseException:  # report everything to the parent, which fails the test
        q.put((idx, False, traceback.format_exc()))


def run_workers(
    fn: Callable[..., Any], args_list: Sequence[tuple[Any, ...]], *, timeout: float = 240
) -> list[Any]:
    """Run ``fn(*args)`` in one spawned process per ``args``; their results, in order.

    Fails (with the child's traceback) if any worker raised, crashed or timed out.
    """
    q = CTX.Queue()
    procs = [CTX.Process(target=_entry, args=(q, i, fn, a)) for i, a in enumerate(args_list)]
    for p in procs:
        p.start()
    results: dict[int, Any] = {}
    errors = []
    try:
        for _ in procs:
            try:
                idx, ok, value = q.get(timeout=timeout)
            except queue.Empty:
                errors.append(f"timed out after {timeout}s")
                break
            if ok:
                results[idx] = value
            else:
                errors.append(f"worker {idx}:\n{value}")
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
    assert not errors, "\n".join(errors)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return [results[i] for i in range(len(procs))]


def _fault_entry(fault: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    os.environ[FAULT_ENV] = fault
    fn(*args)


def start_fault(fault: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Start ``fn(*args)`` in a spawned process that dies (exit 77) at ``fault``."""
    p = CTX.Process(target=_fault_entry, args=(fault, fn, args))
    p.start()
    return p


# operations a worker runs on a table path ------------------------------------------


def op_append(path: str, start: int, n: int, label: str = "x") -> int:
    return tv.open(path).append(rows(range(start, start + n), label), message="append").version


def op_delete(path: str, where: str) -> int:
    return tv.open(path).delete(where, message=f"delete {where}").version


def op_update(path: str, label: str, where: str) -> int:
    return tv.open(path).update({"label": f"'{label}'"}, where, message="update").version


def op_create(path: str) -> int:
    return tv.create(path, schema=SCHEMA).latest().version


def op_tag(path: str, name: str) -> int:
    return tv.open(path).tag(name).version


def op_run(path: str, run_id: str) -> int:
    return tv.open(path).link_run(run_id, model="m", metrics={"acc": 0.5}).version


# --- watching for file access outside a table root ---------------------------------

_AUDIT_EVENTS = {
    "open", "os.remove", "os.rename", "os.link", "os.symlink", "os.listdir", "os.scandir",
    "os.rmdir", "os.mkdir", "os.truncate", "os.chmod", "os.chown", "os.utime",
    "shutil.rmtree", "shutil.copyfile", "shutil.move",
}
_AUDIT: dict[str, Any] = {"installed": False, "watch": None, "root": None, "hits": []}


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    watch = _AUDIT["watch"]
    if watch is None or event not in _AUDIT_EVENTS:
        return
    root = _AUDIT["root"]
    for a in args[:1] if event == "open" else args[:2]:
        if isinstance(a, (str, bytes)):
            p = os.path.normpath(os.path.join(watch, os.fsdecode(a)))
            if (p == watch or p.startswith(watch + os.sep)) and not (
                p == root or p.startswith(root + os.sep)
            ):
                _AUDIT["hits"].append((event, p))


class watch_outside:  # noqa: N801 - used as a context manager
    """Record Python-level file access below ``watch`` but outside ``root`` (relative
    paths are taken as relative to ``watch``: tablever only uses absolute ones)."""

    def __init__(self, watch: str | os.PathLike[str], root: str | os.PathLike[str]) -> None:
        self.watch = os.path.abspath(watch)
        self.root = os.path.abspath(root)
        self.hits: list[tuple[str, str]] = []

    def __enter__(self) -> watch_outside:
        if not _AUDIT["installed"]:
            import sys

            sys.addaudithook(_audit_hook)
            _AUDIT["installed"] = True
        _AUDIT.update(watch=self.watch, root=self.root, hits=self.hits)
        return self

    def __exit__(self, *exc: object) -> None:
        _AUDIT.update(watch=None, root=None, hits=[])
