"""Scenarios 7 and 9: forced races between two processes, with exact outcomes.

A *gated* operation runs in a spawned process and is stopped just before it puts its
commit (it has read the table and written its files); the other operation then commits
in this process; then the gated one is let go and must rebase, re-evaluate or abort
exactly as DESIGN §2 says. Scenario 9 gates a reader between planning and reading.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tablever as tv
from tablever.schema import merge_schemas
from tablever.storage import Storage

from .helpers import CTX, SCHEMA, check_table, rows

# --- operations, by name (the gated one runs in a spawned process) --------------


def _append(t: tv.Table, start: int = 100, n: int = 100) -> Any:
    return t.append(rows(range(start, start + n)), message=f"append {start}+{n}")


def _append_with(t: tv.Table, column: str, typ: str) -> Any:
    data = rows(range(500, 510))
    arr = pa.array([1.5] * 10) if typ == "float" else pa.array(["s"] * 10)
    if typ == "int":
        arr = pa.array(list(range(10)), pa.int64())
    return t.append(data.append_column(column, arr), schema_mode="merge", message=f"+{column}")


OPS: dict[str, Callable[..., Any]] = {
    "append": _append,
    "append_with": _append_with,
    "delete": lambda t, where: t.delete(where, message=f"delete {where}"),
    "update": lambda t, where: t.update({"label": "'u'"}, where, message=f"update {where}"),
    "compact": lambda t: tv.compact(t, min_input_files=2),
}


def gated(path: str, op: str, args: tuple[Any, ...], ready: Any, go: Any) -> tuple[str, Any]:
    orig = Storage.put_if_absent
    seen = {"gated": False}

    def put(self: Storage, rel: str, data: bytes, *, fault: str = "commit") -> bool:
        if rel.startswith("_tablever/log/") and not seen["gated"]:
            seen["gated"] = True
            ready.set()
            assert go.wait(120), "never let go"
        return orig(self, rel, data, fault=fault)

    Storage.put_if_absent = put  # type: ignore[method-assign]
    t = tv.open(path)
    try:
        snap = OPS[op](t, *args)
    except tv.TableverError as exc:
        return type(exc).__name__, str(exc)
    return "ok", None if snap is None else snap.version


def race(path: str, first: tuple[str, tuple[Any, ...]], second: tuple[str, tuple[Any, ...]]
         ) -> tuple[tuple[str, Any], Any]:
    """Start ``first`` gated before its commit, run ``second`` here, let ``first`` go."""
    ready, go = CTX.Event(), CTX.Event()
    q = CTX.Queue()
    p = CTX.Process(target=_gated_entry, args=(q, path, first, ready, go))
    p.start()
    while not ready.wait(0.1):
        assert p.is_alive(), "the gated operation ended before committing"
    op, args = second
    winner = OPS[op](tv.open(path), *args)
    go.set()
    result = q.get(timeout=120)
    p.join(30)
    assert p.exitcode == 0
    return result, winner


def _gated_entry(q: Any, path: str, first: tuple[str, tuple[Any, ...]], ready: Any, go: Any
                 ) -> None:
    q.put(gated(path, first[0], first[1], ready, go))


def _base(path: str, files: int = 1) -> tv.Table:
    t = tv.create(path, schema=SCHEMA)
    per = 100 // files
    for i in range(files):
        t.append(rows(range(i * per, (i + 1) * per)), message=f"base {i}")
    return t


def _labels(path: str) -> dict[int, str]:
    data = tv.open(path).latest().to_arrow()
    ids, labels = data.column("id").to_pylist(), data.column("label").to_pylist()
    return dict(zip(ids, labels, strict=True))


def _deleted_rows(path: str, version: int) -> int:
    return int(tv.open(path).as_of(version).summary["deleted_rows"])


RANGE = range(100)

CASES: list[tuple[str, tuple[str, tuple[Any, ...]], tuple[str, tuple[Any, ...]],
                  Callable[[str, Any, Any], None]]] = []


def case(name: str, first: tuple[str, tuple[Any, ...]], second: tuple[str, tuple[Any, ...]]
         ) -> Callable[[Callable[[str, Any, Any], None]], Callable[[str, Any, Any], None]]:
    def deco(fn: Callable[[str, Any, Any], None]) -> Callable[[str, Any, Any], None]:
        CASES.append((name, first, second, fn))
        return fn
    return deco


@case("append vs delete", ("append", ()), ("delete", ("id % 2 = 0",)))
def _(path: str, gated_result: Any, winner: Any) -> None:
    assert gated_result == ("ok", 3)  # renumbered past the delete
    assert sorted(_labels(path)) == [i for i in RANGE if i % 2] + list(range(100, 200))


@case("delete vs append", ("delete", ("id % 2 = 0",)), ("append", ()))
def _(path: str, gated_result: Any, winner: Any) -> None:
    # The delete read version 1: the rows appended meanwhile are not its to delete.
    assert gated_result == ("ok", 3) and _deleted_rows(path, 3) == 50
    assert sorted(_labels(path)) == [i for i in RANGE if i % 2] + list(range(100, 200))


@case("delete vs delete (overlapping)", ("delete", ("id % 2 = 0",)), ("delete", ("id % 3 = 0",)))
def _(path: str, gated_result: Any, winner: Any) -> None:
    # Re-evaluated on the winner's snapshot: each row deleted exactly once.
    assert gated_result == ("ok", 3)
    assert _deleted_rows(path, 2) == 34 and _deleted_rows(path, 3) == 33
    assert sorted(_labels(path)) == [i for i in RANGE if i % 2 and i % 3]


@case("delete vs delete (same rows)", ("delete", ("id < 50",)), ("delete", ("id < 50",)))
def _(path: str, gated_result: Any, winner: Any) -> None:
    assert gated_result == ("ok", 2)  # nothing left to delete: no commit
    assert tv.open(path).latest().version == 2
    assert sorted(_labels(path)) == list(range(50, 100))


@case("update vs delete", ("update", ("id < 50",)), ("delete", ("id % 2 = 0",)))
def _(path: str, gated_result: Any, winner: Any) -> None:
    assert gated_result == ("ok", 3)
    labels = _labels(path)
    assert sorted(labels) == [i for i in RANGE if i % 2], "a deleted row came back"
    assert all(lab == ("u" if i < 50 else "x") for i, lab in labels.items())


@case("delete vs update", ("delete", ("id % 2 = 0",)), ("update", ("id < 50",)))
def _(path: str, gated_result: Any, winner: Any) -> None:
    assert gated_result == ("ok", 3)
    labels = _labels(path)
    assert sorted(labels) == [i for i in RANGE if i % 2], "an updated row escaped the delete"
    assert all(lab == ("u" if i < 50 else "x") for i, lab in labels.items())


@case("schema change vs append", ("append", ()), ("append_with", ("score", "float")))
def _(path: str, gated_result: Any, winner: Any) -> None:
    assert gated_result == ("ok", 3)  # still fits: the new column is nullable
    data = tv.open(path).latest().to_arrow()
    assert data.schema.field("score").type == pa.float64() and data.num_rows == 210
    assert data.filter(pa.compute.is_valid(data.column("score"))).num_rows == 10


@case("conflicting schema changes", ("append_with", ("extra", "str")),
      ("append_with", ("extra", "int")))
def _(path: str, gated_result: Any, winner: Any) -> None:
    assert gated_result[0] == "SchemaMismatchError", gated_result
    t = tv.open(path)
    assert t.latest().version == 2 and t.schema.field("extra").type == pa.int64()


@case("compaction vs delete", ("compact", ()), ("delete", ("id % 2 = 0",)))
def _(path: str, gated_result: Any, winner: Any) -> None:
    assert gated_result[0] == "CommitConflictError", gated_result  # must never resurrect
    assert sorted(_labels(path)) == [i for i in RANGE if i % 2]
    assert tv.compact(tv.open(path), min_input_files=2) is not None  # the rerun succeeds
    assert sorted(_labels(path)) == [i for i in RANGE if i % 2]


@case("delete vs compaction", ("delete", ("id % 2 = 0",)), ("compact", ()))
def _(path: str, gated_result: Any, winner: Any) -> None:
    # The delete's files were rewritten: re-run on the compacted snapshot.
    assert gated_result == ("ok", 7) and _deleted_rows(path, 7) == 50
    assert sorted(_labels(path)) == [i for i in RANGE if i % 2]


@case("compaction vs append", ("compact", ()), ("append", ()))
def _(path: str, gated_result: Any, winner: Any) -> None:
    assert gated_result == ("ok", 7)  # appends never conflict
    t = tv.open(path)
    assert t.latest().operation == "compact" and sorted(_labels(path)) == list(range(200))


@case("append vs compaction", ("append", ()), ("compact", ()))
def _(path: str, gated_result: Any, winner: Any) -> None:
    assert gated_result == ("ok", 7)
    assert sorted(_labels(path)) == list(range(200))


def _file_schemas_fit(path: str) -> None:
    """No version holds a data file whose columns do not fit that version's schema."""
    t = tv.open(path)
    for s in t.history():
        for f in s.data_files:
            file_schema = pq.read_schema(Path(path) / f.path).remove_metadata()
            file_schema = pa.schema([x for x in file_schema if x.name != "_row_id"])
            assert merge_schemas(s.schema, file_schema) == s.schema, (s.version, f.path)


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_race(tmp_path: Path, name: str) -> None:
    _, first, second, check = next(c for c in CASES if c[0] == name)
    path = str(tmp_path / "t")
    _base(path, files=5 if "compact" in name else 1)
    gated_result, winner = race(path, first, second)
    check(path, gated_result, winner)
    _file_schemas_fit(path)
    checked = check_table(path)
    print(f"\n[race: {name}] gated op -> {gated_result[0]} "
          f"({gated_result[1] if gated_result[0] == 'ok' else 'as §2 says'}); "
          f"{checked.versions} versions, rows exact, no row resurrected or deleted twice")


# --- 9. expire + vacuum against a slow reader ------------------------------------

READS: dict[str, Callable[[tv.Snapshot], pa.Table]] = {
    "to_arrow": lambda s: s.to_arrow(with_row_id=True),
    "where": lambda s: s.to_arrow(where="id >= 0", with_row_id=True),
    "sql": lambda s: s.sql("SELECT id, label FROM t"),
    "polars": lambda s: s.to_polars().to_arrow(),
}


def slow_reader(path: str, version: Any, how: str, ready: Any, go: Any) -> tuple[str, Any]:
    """Open ``version``, plan the read (vectors loaded), wait, then read the files."""
    import tablever.snapshot as snapshot

    orig = snapshot.Snapshot.read_plan

    def plan(self: Any, files: Any = None) -> Any:
        out = orig(self, files)
        if not ready.is_set():
            ready.set()
            assert go.wait(120)
        return out

    snapshot.Snapshot.read_plan = plan  # type: ignore[method-assign]
    try:
        snap = tv.open(path).as_of(version)
        data = READS[how](snap)
    except tv.TableverError as exc:
        ready.set()
        return type(exc).__name__, str(exc)
    return "ok", data.num_rows


def _slow_read(path: str, version: Any, how: str, during: Callable[[], Any]) -> tuple[str, Any]:
    ready, go = CTX.Event(), CTX.Event()
    q = CTX.Queue()
    p = CTX.Process(target=_slow_entry, args=(q, path, version, how, ready, go))
    p.start()
    while not ready.wait(0.1):
        assert p.is_alive()
    during()
    go.set()
    out = q.get(timeout=120)
    p.join(30)
    return out


def _slow_entry(q: Any, path: str, version: Any, how: str, ready: Any, go: Any) -> None:
    q.put(slow_reader(path, version, how, ready, go))


def _history_table(path: str) -> dict[int, int]:
    t = tv.create(path, schema=SCHEMA)
    for i in range(6):
        t.append(rows(range(i * 20, i * 20 + 20)), message=f"a{i}")
    t.delete("id % 2 = 0", message="d")  # v7
    t.tag("kept", 3)
    t.overwrite(rows(range(1000, 1010)), message="o")  # v8: the old files are garbage
    return {v: t.as_of(v).num_rows for v in range(9)}


@pytest.mark.parametrize("how", sorted(READS))
def test_expire_and_vacuum_under_a_slow_reader(tmp_path: Path, how: str) -> None:
    path = str(tmp_path / "t")
    counts = _history_table(path)
    deleted: list[str] = []

    def maintain() -> None:
        t = tv.open(path)
        assert 7 in tv.expire(t, older_than="0s", keep_last=1)
        deleted.extend(tv.vacuum(t, grace="0s"))

    # The reader pinned version 7 (untagged) and planned its read; then expire and
    # vacuum take the version and its files away.
    outcome = _slow_read(path, 7, how, maintain)
    assert deleted, "vacuum deleted nothing: the race was not exercised"
    if outcome[0] == "ok":
        assert outcome[1] == counts[7], f"partial read: {outcome[1]} of {counts[7]} rows"
    else:
        assert outcome[0] in ("IntegrityError", "RefNotFoundError"), outcome
    # A reader arriving later is told the version expired; the tagged one survives whole.
    with pytest.raises(tv.RefNotFoundError, match="expired"):
        tv.open(path).as_of(7)
    t = tv.open(path)
    assert t.as_of("kept").num_rows == counts[3] and t.as_of("kept").version == 3
    t.as_of("kept", verify=True)
    check_table(path)
    print(f"\n[slow reader, {how}] version 7 expired and vacuumed mid-read -> {outcome[0]}"
          f"{'' if outcome[0] != 'ok' else f' ({outcome[1]} rows, whole)'}; the tagged "
          "version survived; later readers get RefNotFoundError")


def test_vacuum_grace_protects_a_slow_reader(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    counts = _history_table(path)

    def maintain() -> None:
        t = tv.open(path)
        tv.expire(t, older_than="0s", keep_last=1)
        assert not [p for p in tv.vacuum(t) if p.startswith("data/")]  # default grace: 1h

    start = time.time()
    outcome = _slow_read(path, 7, "to_arrow", maintain)
    assert outcome == ("ok", counts[7]), outcome
    check_table(path)
    print(f"\n[slow reader, default grace] version 7 expired mid-read but vacuum kept its "
          f"files: the reader got all {counts[7]} rows ({time.time() - start:.1f}s)")
