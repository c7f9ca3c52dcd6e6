"""Scenario 11: fuzzing the log reader (Hypothesis).

Commit JSON and checkpoint Parquet are mutated (wrong types, missing fields, duplicate
adds and removes, huge numbers, random bytes). A damaged file (hashes not fixed up) must
give a TableverError or exactly the right rows; a forged one (id or digest recomputed,
as a writer with access could) must give a TableverError or rows — never another
exception type, never a hang.
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tablever as tv
from tablever.log import _checkpoint_digest

from .helpers import SCHEMA, commit_file, resign, rows

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)
HUGE = [2**63 - 1, 2**63, 2**64 + 1, -1, -(2**63), 10**40, 1e308, -0.0]
VALUES = st.one_of(
    st.none(), st.booleans(), st.sampled_from(HUGE),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["../../etc/passwd", "/etc/passwd", "file:///x", "a\\b", "0" * 64]),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
CASES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(CASES.items()) if k != "count")
    print(f"\n[fuzz] {CASES['count']} mutated commits/checkpoints read in this process "
          f"(up to 4 properties x {FUZZ.max_examples} examples); reads: {outcomes}")


class Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hang("the reader took more than 20 s")


def _expected(path: str) -> dict[int, list[dict[str, Any]]]:
    t = tv.open(path)
    return {s.version: _rows(s) for s in t.history()}


def _rows(snap: tv.Snapshot) -> list[dict[str, Any]]:
    return snap.to_arrow(with_row_id=True).sort_by("_row_id").to_pylist()


def _read_all(path: str, versions: list[int]) -> dict[int, Any]:
    """What a reader sees of each version: rows, or the TableverError class name."""
    out: dict[int, Any] = {}
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    try:
        for v in versions:
            try:
                t = tv.open(path)
                snap = t.as_of(v)
                data = _rows(snap)
                assert len(data) == snap.num_rows
                out[v] = data
                CASES["rows"] += 1
            except tv.TableverError as exc:
                out[v] = type(exc).__name__
                CASES[type(exc).__name__] += 1
        with contextlib.suppress(tv.TableverError):
            tv.open(path).history()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    CASES["count"] += 1
    return out


def _build(path: str, checkpoint_interval: int) -> None:
    t = tv.create(path, schema=SCHEMA, properties={"checkpoint_interval": checkpoint_interval})
    t.append(rows(range(100)), message="a")  # v1
    t.delete("id % 3 = 0", message="d")  # v2
    t.update({"label": "'u'"}, "id < 10", message="u")  # v3 (adds, deletes)
    t.append(rows(range(100, 150)), message="b")  # v4


@pytest.fixture(scope="module")
def commit_table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    path = str(tmp_path_factory.mktemp("fuzz") / "commits")
    _build(path, checkpoint_interval=1000)
    yield path, _expected(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def checkpoint_table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    path = str(tmp_path_factory.mktemp("fuzz") / "checkpoints")
    _build(path, checkpoint_interval=4)
    yield path, _expected(path)
    shutil.rmtree(path, ignore_errors=True)


# --- mutations ---------------------------------------------------------------------


def _nodes(doc: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _nodes(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _nodes(v, (*here, i))


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


@st.composite
def json_mutations(draw: st.DrawFn, doc: Any) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        nodes = list(_nodes(doc))
        at = draw(st.sampled_from(nodes))
        kind = draw(st.sampled_from(["delete", "replace", "duplicate", "swap"]))
        if not at:
            doc = draw(VALUES) if kind == "replace" else doc
            continue
        parent, key = _get(doc, at[:-1]), at[-1]
        node = parent[key]
        if kind == "delete":
            del parent[key]
        elif kind == "replace":
            parent[key] = draw(VALUES)
        elif kind == "duplicate" and isinstance(node, list) and node:
            node.append(copy.deepcopy(draw(st.sampled_from(node))))
        elif kind == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(node))
        elif kind == "swap" and isinstance(node, (dict, list)):
            parent[key] = [node] if isinstance(node, dict) else {"x": node}
        else:
            parent[key] = draw(VALUES)
    return doc


@st.composite
def byte_mutations(draw: st.DrawFn, raw: bytes) -> bytes:
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "random", "splice"]))
    if kind == "random":
        return draw(st.binary(max_size=2 * len(raw)))
    i = draw(st.integers(0, max(0, len(raw) - 1)))
    if kind == "flip":
        return raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    if kind == "truncate":
        return raw[:i]
    if kind == "insert":
        return raw[:i] + draw(st.binary(min_size=1, max_size=16)) + raw[i:]
    j = draw(st.integers(i, len(raw)))
    return raw[:i] + raw[j:]


def _dump(doc: Any, forge: bool) -> bytes:
    if forge and isinstance(doc, dict):
        try:
            return resign(doc)
        except (TypeError, ValueError):
            pass  # NaN, infinity: not canonical JSON, so not forgeable; store as is
    return json.dumps(doc).encode()


# --- commits -----------------------------------------------------------------------


def _check_damaged(got: dict[int, Any], want: dict[int, Any]) -> None:
    for v, value in got.items():
        assert isinstance(value, str) or value == want[v], f"version {v}: wrong rows"


@FUZZ
@given(data=st.data())
def test_fuzz_commit_json(commit_table: tuple[str, dict], data: st.DataObject) -> None:
    path, want = commit_table
    f = commit_file(path, 3)
    good = f.read_bytes()
    doc = json.loads(good)
    if data.draw(st.booleans(), label="bytes"):
        bad = data.draw(byte_mutations(good))
    else:
        bad = _dump(data.draw(json_mutations(doc)), forge=False)
    try:
        f.write_bytes(bad)
        got = _read_all(path, [2, 3, 4])
    finally:
        f.write_bytes(good)
    assert got[2] == want[2], "a version before the damaged commit changed"
    _check_damaged(got, want)


@FUZZ
@given(data=st.data())
def test_fuzz_forged_commit(commit_table: tuple[str, dict], data: st.DataObject) -> None:
    path, want = commit_table
    f = commit_file(path, 4)
    good = f.read_bytes()
    bad = _dump(data.draw(json_mutations(json.loads(good))), forge=True)
    try:
        f.write_bytes(bad)
        got = _read_all(path, [3, 4])  # rows or a TableverError; nothing else
    finally:
        f.write_bytes(good)
    assert got[3] == want[3]


# --- checkpoints -------------------------------------------------------------------


def _checkpoint(path: str) -> Path:
    return Path(path) / "_tablever/checkpoints" / f"{4:020d}.parquet"


@st.composite
def parquet_mutations(draw: st.DrawFn, raw: bytes, forge: bool) -> bytes:
    table = pq.read_table(pa.BufferReader(raw))
    meta = json.loads(table.schema.metadata[b"tablever.state"])
    cols = table.to_pydict()
    kind = draw(st.sampled_from(["meta", "value", "drop", "type", "duplicate", "bytes"]))
    if kind == "bytes":
        return draw(byte_mutations(raw))
    if kind == "meta":
        meta = draw(json_mutations(meta))
    elif kind == "drop":
        cols.pop(draw(st.sampled_from(sorted(cols))))
    elif kind == "duplicate" and table.num_rows:
        i = draw(st.integers(0, table.num_rows - 1))
        cols = {k: [*v, v[i]] for k, v in cols.items()}
    elif table.num_rows:
        name = draw(st.sampled_from(sorted(cols)))
        i = draw(st.integers(0, table.num_rows - 1))
        if kind == "type":
            cols[name] = [None if x is None else str(x) for x in cols[name]]
        else:
            value = draw(VALUES)
            cols[name][i] = value
    try:
        out = pa.table(cols)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        out = table  # a value Arrow cannot even hold: keep the metadata change only
        cols = table.to_pydict()
    if forge and isinstance(meta, dict):
        with contextlib.suppress(TypeError, ValueError):
            meta["digest"] = _checkpoint_digest(meta, out.to_pydict())
    try:
        blob = json.dumps(meta).encode()
    except ValueError:
        blob = b"{}"
    sink = pa.BufferOutputStream()
    try:
        pq.write_table(out.replace_schema_metadata({"tablever.state": blob}), sink)
    except (pa.ArrowException, ValueError):  # a column Parquet cannot hold (an empty struct)
        sink = pa.BufferOutputStream()
        pq.write_table(table.replace_schema_metadata({"tablever.state": blob}), sink)
    return bytes(sink.getvalue().to_pybytes())


@FUZZ
@given(data=st.data())
def test_fuzz_checkpoint(checkpoint_table: tuple[str, dict], data: st.DataObject) -> None:
    """While the log holds the commits, a damaged checkpoint is skipped: exact rows."""
    path, want = checkpoint_table
    ck = _checkpoint(path)
    good = ck.read_bytes()
    bad = data.draw(parquet_mutations(good, forge=False))
    try:
        ck.write_bytes(bad)
        got = _read_all(path, [3, 4])
    finally:
        ck.write_bytes(good)
    assert got == {3: want[3], 4: want[4]}


@FUZZ
@given(data=st.data())
def test_fuzz_forged_checkpoint_as_record(
    checkpoint_table: tuple[str, dict], data: st.DataObject
) -> None:
    """With the commits before it gone, the checkpoint is read for real: a damaged one
    gives CorruptLogError or exact rows, a forged one a TableverError or rows."""
    path, want = checkpoint_table
    ck = _checkpoint(path)
    good = ck.read_bytes()
    forge = data.draw(st.booleans(), label="forge")
    bad = data.draw(parquet_mutations(good, forge=forge))
    log = Path(path) / "_tablever/log"
    saved = {v: commit_file(path, v).read_bytes() for v in range(4)}
    try:
        for v in range(4):
            commit_file(path, v).unlink()
        ck.write_bytes(bad)
        got = _read_all(path, [4])
    finally:
        ck.write_bytes(good)
        for v, raw in saved.items():
            (log / f"{v:020d}.json").write_bytes(raw)
    if not forge:
        _check_damaged(got, want)


