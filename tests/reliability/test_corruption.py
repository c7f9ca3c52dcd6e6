"""Scenarios 6, 10 and 12: torn commits, corrupted files, hostile paths in the log."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv
from tablever.format.commit import DataFile
from tablever.format.state import TableState

from .helpers import (
    SCHEMA,
    check_table,
    commit_file,
    read_json,
    resign,
    rows,
    watch_outside,
)


def _build(path: str, **props: Any) -> tv.Table:
    t = tv.create(path, schema=SCHEMA, properties=props or None)
    t.append(rows(range(100)), message="a")  # v1
    t.delete("id % 3 = 0", message="d")  # v2: a deletion vector on v1's file
    t.update({"label": "'u'"}, "id < 10", message="u")  # v3
    t.append(rows(range(100, 150)), message="b")  # v4
    return t


def _read(snap: tv.Snapshot) -> pa.Table:
    return snap.to_arrow(with_row_id=True).sort_by("_row_id")


# --- 6. torn commit --------------------------------------------------------------


def test_torn_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    t = _build(path)
    t.tag("before", 3)
    want = _read(t.as_of(3))
    f = commit_file(path, 4)
    raw = f.read_bytes()
    for n in range(len(raw)):
        f.write_bytes(raw[:n])
        t = tv.open(path)
        with pytest.raises(tv.CorruptLogError, match=f.name):
            t.latest()
        assert _read(t.as_of(3)).equals(want), f"previous version changed at length {n}"
        if n % 50 == 0 or n == len(raw) - 1:
            assert _read(t.as_of("before")).equals(want)
            with pytest.raises(tv.CorruptLogError, match=f.name):
                t.as_of(-1)
            with pytest.raises(tv.CorruptLogError, match=f.name):
                t.append(rows([999]))  # no writer commits over (or past) a torn commit
            assert sorted(p.name for p in f.parent.iterdir()) == [
                f"{v:020d}.json" for v in range(5)
            ]
    f.write_bytes(raw)
    check_table(path)
    # A torn commit inside the log: the versions before it still read.
    f2 = commit_file(path, 2)
    raw2 = f2.read_bytes()
    f2.write_bytes(raw2[: len(raw2) // 2])
    t = tv.open(path)
    assert t.as_of(1).num_rows == 100
    for v in (2, 3, 4):
        with pytest.raises(tv.CorruptLogError, match=f2.name):
            t.as_of(v)
    f2.write_bytes(raw2)
    check_table(path)
    print(f"\n[torn commit] newest commit cut to each of {len(raw)} lengths: always "
          f"CorruptLogError naming {f.name}, never an empty commit; version 3 and its tag "
          "read exactly; no writer committed over it")


# --- 10. corruption --------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.tried = 0
        self.detected = 0
        self.correct = 0
        self.wrong: list[str] = []

    def read(self, fn: Callable[[], Any], want: Any, what: str, rel: str) -> None:
        """One read of a damaged table: IntegrityError/CorruptLogError naming ``rel``, or
        rows; any other exception fails the test."""
        self.tried += 1
        try:
            got = fn()
        except (tv.IntegrityError, tv.CorruptLogError) as exc:
            assert rel in str(exc), f"{what}: the error does not name {rel}: {exc}"
            self.detected += 1
            return
        if got == want:
            self.correct += 1
        else:
            self.wrong.append(what)


def _three_reads(path: str, version: int) -> list[tuple[Callable[[], Any], str]]:
    def arrow() -> Any:
        return _read(tv.open(path).as_of(version)).to_pylist()

    def where() -> Any:
        snap = tv.open(path).as_of(version)
        return snap.to_arrow(where="id >= 0", with_row_id=True).sort_by("_row_id").to_pylist()

    def sql() -> Any:
        snap = tv.open(path).as_of(version)
        return snap.sql("SELECT id, label FROM t ORDER BY id").to_pylist()

    return [(arrow, "to_arrow"), (where, "to_arrow(where=)"), (sql, "Snapshot.sql")]


def _flip_all(path: str, rel: str, version: int, tally: Tally, vtally: Tally) -> None:
    f = Path(path) / rel
    good = f.read_bytes()
    want = {name: fn() for fn, name in _three_reads(path, version)}
    step = max(1, len(good) // 150)
    try:
        for i in range(0, len(good), step):
            bad = bytearray(good)
            bad[i] ^= 0xFF
            f.write_bytes(bytes(bad))
            for fn, name in _three_reads(path, version):
                tally.read(fn, want[name], f"{name} with byte {i} of {rel} flipped", rel)
            # A verified read (as_of(verify=True)) and verify() always catch it.
            vtally.tried += 1
            with pytest.raises(tv.IntegrityError, match=rel):
                tv.open(path).as_of(version, verify=True)
            with pytest.raises(tv.IntegrityError, match=rel):
                tv.open(path).as_of(version).verify()
            vtally.detected += 1
    finally:
        f.write_bytes(good)


def test_corrupt_files(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    t = _build(path)
    snap = t.as_of(4)
    data = next(f.path for f in snap.data_files if f.first_row_id == 0)
    dv = snap.deletion_vectors[0].path
    tally, vtally = Tally(), Tally()
    for rel in (data, dv):
        # Missing: reads and verify name the file; versions without it still read.
        want = {name: fn() for fn, name in _three_reads(path, 4)}
        moved = Path(path) / (rel + ".moved")
        os.replace(Path(path) / rel, moved)
        for fn, name in _three_reads(path, 4):
            # (a vector already loaded may still be served from memory: a correct read)
            tally.read(fn, want[name], f"{name} with {rel} missing", rel)
        report = tv.verify(tv.open(path))
        assert not report.ok and any(rel in p for p in report.problems), report.problems
        vtally.tried += 1
        vtally.detected += 1
        assert tv.open(path).as_of(0).num_rows == 0
        os.replace(moved, Path(path) / rel)
        # Flipped bytes, one at a time.
        _flip_all(path, rel, 4, tally, vtally)
    check_table(path)
    assert not tally.wrong, f"damaged files gave wrong rows: {tally.wrong[:3]}"
    print(f"\n[corrupt files] data file and deletion vector missing or with a flipped byte: "
          f"unverified reads detected {tally.detected} of {tally.tried} (IntegrityError naming "
          f"the file), the other {tally.correct} read correct rows (never wrong ones); "
          f"verified reads and verify() detected {vtally.detected} of {vtally.tried}")


def test_unverified_reads_never_return_wrong_rows(tmp_path: Path) -> None:
    """Every other byte of a data file flipped, read without verify=True through all
    three paths (DuckDB checks no page checksums): reads re-hash a changed file first."""
    path = str(tmp_path / "t")
    t = _build(path)
    rel = next(f.path for f in t.as_of(4).data_files if f.first_row_id == 0)
    tally = Tally()
    f = Path(path) / rel
    good = f.read_bytes()
    want = {name: fn() for fn, name in _three_reads(path, 4)}
    try:
        for i in range(0, len(good), 2):
            f.write_bytes(good[:i] + bytes([good[i] ^ 0xFF]) + good[i + 1 :])
            for fn, name in _three_reads(path, 4):
                tally.read(fn, want[name], f"{name}, byte {i}", rel)
    finally:
        f.write_bytes(good)
    print(f"\n[unverified reads] one flipped byte in a data file, read {tally.tried} times: "
          f"{tally.detected} IntegrityError naming it, {len(tally.wrong)} wrong")
    assert not tally.wrong and tally.detected == tally.tried


def _corrupt_variants(good: bytes) -> list[tuple[str, bytes]]:
    out = [("empty", b""), ("garbage", os.urandom(len(good))), ("half", good[: len(good) // 2])]
    out += [(f"cut {n}", good[:n]) for n in (4, 8, len(good) - 8, len(good) - 1)]
    step = max(1, len(good) // 60)
    for i in range(0, len(good), step):
        bad = bytearray(good)
        bad[i] ^= 0x55
        out.append((f"flip {i}", bytes(bad)))
    return out


def test_corrupt_checkpoint(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = str(tmp_path / "t")
    t = tv.create(path, schema=SCHEMA, properties={"checkpoint_interval": 2})
    for i in range(5):
        t.append(rows(range(i * 10, i * 10 + 10)), message=f"a{i}")
    t.delete("id % 4 = 1", message="d")  # v6, checkpoints at 2, 4, 6
    want = {v: _read(t.as_of(v)) for v in range(7)}
    ck = Path(path) / "_tablever/checkpoints" / f"{4:020d}.parquet"
    good = ck.read_bytes()
    variants = _corrupt_variants(good)
    caplog.set_level(logging.WARNING, logger="tablever")
    os.unlink(Path(path) / "_tablever/checkpoints" / f"{6:020d}.parquet")
    for name, bad in variants:
        ck.write_bytes(bad)
        t = tv.open(path)
        for v in (4, 5, 6):
            assert _read(t.as_of(v)).equals(want[v]), f"checkpoint {name}: version {v} differs"
        assert len(t.history()) == 7
    assert any("skipping unreadable checkpoint" in r.getMessage() for r in caplog.records)
    ck.write_bytes(good)
    check_table(path)
    # Once expire removed the commits it summarises, the checkpoint is the record.
    expired = tv.expire(tv.open(path), older_than="0s", keep_last=3)
    assert expired == [0, 1, 2, 3]
    ck_good = ck.read_bytes()
    detected = 0
    for name, bad in variants:
        ck.write_bytes(bad)
        t = tv.open(path)
        try:
            got = _read(t.as_of(5))
        except tv.CorruptLogError as exc:
            assert ck.name in str(exc), f"checkpoint {name}: error does not name it: {exc}"
            detected += 1
        else:
            assert got.equals(want[5]), f"checkpoint {name}: wrong rows"
    ck.write_bytes(ck_good)
    check_table(path)
    print(f"\n[corrupt checkpoint] {len(variants)} corruptions while the log holds its commits: "
          f"skipped with a warning, exact rows from the log; after expire: {detected} of "
          f"{len(variants)} raised CorruptLogError naming it, the rest read exactly")


def test_broken_hash_chain(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    t = _build(path)
    t.tag("at2", 2)
    want1 = _read(t.as_of(1))
    f = commit_file(path, 2)
    good = f.read_bytes()
    body = read_json(f)
    # Edited without fixing the id: the id no longer matches the content.
    body["message"] = "tampered"
    f.write_bytes(resign(body).replace(body["message"].encode(), b"tamperex"))
    t = tv.open(path)
    assert _read(t.as_of(1)).equals(want1)
    for ref in (2, 3, 4, "at2"):
        with pytest.raises(tv.CorruptLogError, match=f.name):
            t.as_of(ref)
    with pytest.raises(tv.CorruptLogError, match=f.name):
        t.latest()
    # Edited and re-hashed: the next commit's parent_id no longer matches.
    f.write_bytes(resign(body))
    t = tv.open(path)
    with pytest.raises(tv.CorruptLogError, match=f"{3:020d}.json"):
        t.as_of(3)
    with pytest.raises(tv.CorruptLogError, match="tag 'at2'"):
        t.as_of("at2")
    report = tv.verify(tv.open(path))
    assert not report.ok and any(f"{3:020d}" in p or "hash chain" in p or "parent" in p
                                 for p in report.problems), report.problems
    f.write_bytes(good)
    check_table(path)
    print("\n[hash chain] an edited commit: CorruptLogError naming it; edited and re-hashed: "
          "the next commit and the tag refuse it; verify reports it")


# --- 12. hostile paths -----------------------------------------------------------

HOSTILE = [
    "../../etc/passwd",
    "/etc/passwd",
    "file:///etc/passwd",
    "../sentinel.parquet",
    "data/../../sentinel.parquet",
    "data\\..\\..\\sentinel.parquet",
    "..\\sentinel.parquet",
    "C:\\sentinel.parquet",
    "s3://bucket/sentinel.parquet",
    "data/./x.parquet",
    "data//x.parquet",
    "data/x.parquet\x00",
    "",
]
FIELDS = ["add.path", "remove.path", "deletes.path", "deletes.data_file"]


def _hostile_commit(v1: dict[str, Any], field: str, bad: str) -> bytes:
    body = copy.deepcopy(v1)
    added = v1["actions"]["add"][0]
    body.update(version=2, parent_id=v1["id"], timestamp_ms=v1["timestamp_ms"] + 1,
                txn=uuid.uuid4().hex, message="hostile")
    acts: dict[str, list[Any]] = {"add": [], "remove": [], "deletes": []}
    if field == "add.path":
        acts["add"] = [dict(added, path=bad, first_row_id=100)]
    elif field == "remove.path":
        acts["remove"] = [{"path": bad, "first_row_id": 0}]
    else:
        dv = {"data_file": added["path"], "data_first_row_id": 0, "path": added["path"],
              "sha256": added["sha256"], "rows": 1}
        dv["path" if field == "deletes.path" else "data_file"] = bad
        acts["deletes"] = [dv]
    body["actions"] = acts
    return resign(body)


def _all_verbs(path: str) -> None:
    t = tv.open(path)
    for fn in (t.latest, t.history, lambda: t.as_of(2), lambda: t.diff(1, 2),
               lambda: t.append(rows([7]))):
        with pytest.raises(tv.CorruptLogError):
            fn()
    try:
        report = tv.verify(t)
    except tv.CorruptLogError:
        pass
    else:
        assert not report.ok
    for dry in (True, False):
        with contextlib.suppress(tv.CorruptLogError):
            tv.vacuum(t, grace="0s", dry_run=dry)


def test_hostile_paths(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    t = tv.create(path, schema=SCHEMA)
    t.append(rows(range(100)), message="a")
    want1 = _read(t.as_of(1))
    sentinel = tmp_path / "sentinel.parquet"
    shutil.copy(Path(path) / t.latest().files[0], sentinel)
    before = (sentinel.read_bytes(), sentinel.stat().st_mtime_ns)
    passwd = os.stat("/etc/passwd").st_mtime_ns
    v1 = read_json(commit_file(path, 1))
    f2 = commit_file(path, 2)
    cases = 0
    with watch_outside(tmp_path, path) as w:
        for bad in HOSTILE:
            for field in FIELDS:
                f2.write_bytes(_hostile_commit(v1, field, bad))
                _all_verbs(path)
                assert _read(tv.open(path).as_of(1)).equals(want1)
                cases += 1
        f2.unlink()
        # The same paths in a checkpoint that is the record of its version.
        for bad in HOSTILE:
            state = tv.open(path).latest().state
            f = next(iter(state.files.values()))
            evil = DataFile(bad, f.sha256, f.bytes, f.rows, 0, f.stats)
            hostile = TableState(state.version, state.id, state.commit, state.schema,
                                 {evil.key: evil}, {}, state.next_row_id, state.properties)
            tv.open(path).log.write_checkpoint(hostile, [])
            assert _read(tv.open(path).latest()).equals(want1)  # a cache: skipped
            saved = commit_file(path, 0).read_bytes()
            commit_file(path, 0).unlink()
            try:
                with pytest.raises(tv.CorruptLogError):
                    tv.open(path).latest()
            finally:
                commit_file(path, 0).write_bytes(saved)
            cases += 1
        for ck in (Path(path) / "_tablever/checkpoints").iterdir():
            ck.unlink()
    assert not w.hits, f"touched outside the table root: {w.hits[:5]}"
    assert (sentinel.read_bytes(), sentinel.stat().st_mtime_ns) == before
    assert os.stat("/etc/passwd").st_mtime_ns == passwd
    check_table(path)
    print(f"\n[hostile paths] {cases} hostile commits/checkpoints ({len(HOSTILE)} paths x "
          f"{len(FIELDS)} fields + checkpoints): CorruptLogError on read; verify and vacuum "
          "touched nothing outside the root (audited; sentinel unchanged)")


def test_flips_in_a_checkpoint_footer_never_give_wrong_rows(tmp_path: Path) -> None:
    """An open checks a checkpoint by its header and its pages' SHA-256: the rest of the
    Parquet footer (column metadata, offsets, the Thrift around the two records) is not
    hashed. A flipped byte anywhere there must give exact rows or a CorruptLogError."""
    from tablever.log import HEAD_KEY, STATE_KEY, _footer_start, _kv_value

    path = str(tmp_path / "t")
    t = tv.create(path, schema=SCHEMA, properties={"checkpoint_interval": 3})
    for i in range(5):
        t.append(rows(range(i * 10, i * 10 + 10)), message=f"a{i}")
    t.delete("id % 4 = 1", message="d")  # v6: checkpointed, with deletion vectors
    want = _read(t.latest())
    for v in range(6):  # the checkpoint is the record of version 6
        commit_file(path, v).unlink()
    ck = Path(path) / "_tablever/checkpoints" / f"{6:020d}.parquet"
    good = ck.read_bytes()
    start = _footer_start(good)
    assert start is not None
    state = _kv_value(good, start, STATE_KEY, last=False)
    head = _kv_value(good, start, HEAD_KEY, last=True)
    assert state is not None and head is not None
    spots = [i for i in range(start, len(good))
             if not (state[0] + 4 <= i < state[1] or head[0] + 4 <= i < head[1])]
    detected = 0
    try:
        for i in spots[::2]:
            bad = bytearray(good)
            bad[i] ^= 0x01 if i % 4 else 0x80
            ck.write_bytes(bytes(bad))
            tv.clear_caches()
            try:
                got = _read(tv.open(path).latest())
            except tv.CorruptLogError:
                detected += 1
            else:
                assert got.equals(want), f"flip at {i}: wrong rows"
    finally:
        ck.write_bytes(good)
    assert detected > 0
