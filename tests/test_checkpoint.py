"""Checkpoints: opening any version costs the live files, not the length of history."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv
from tablever.format.checkpoint import CKPT_TYPES, CheckpointFiles


def _one_row(i: int) -> pa.Table:
    return pa.table({"i": pa.array([i], pa.int64())})


def test_a_thousand_commits_open_any_version_without_replaying_the_log(path: str) -> None:
    t = tv.create(path, schema=pa.schema([("i", pa.int64())]))
    for i in range(1000):
        t.append(_one_row(i), provenance=False)
    ckpts = sorted(p.name for p in Path(path, "_tablever", "checkpoints").iterdir())
    assert ckpts == [f"{v:020d}.parquet" for v in range(100, 1001, 100)]

    # Every open is a fresh handle; the counter sees each commit file it parses. At most
    # one checkpoint interval of commits is replayed, never the 1,000 of the history.
    for version in (1, 99, 100, 101, 500, 999, 1000):
        fresh = tv.open(path)
        s = fresh.as_of(version)
        assert s.num_rows == version
        assert fresh.log.commits_read <= 100, (version, fresh.log.commits_read)
    fresh = tv.open(path)
    assert sorted(fresh.as_of(999).to_arrow().column("i").to_pylist()) == list(range(999))

    fresh = tv.open(path)
    target = t.as_of(777)
    assert fresh.as_of(target.id[:12]).version == 777
    assert fresh.as_of(target.timestamp).version == 777
    assert fresh.log.commits_read < 200  # ids and times come from the checkpoint's history

    fresh = tv.open(path)
    assert fresh.latest().version == 1000 and fresh.log.commits_read == 0


def _table_with_checkpoints(path: str) -> tv.Table:
    t = tv.create(path, schema=pa.schema([("i", pa.int64())]),
                  properties={"checkpoint_interval": 10})
    for i in range(25):
        t.append(_one_row(i), provenance=False)
    t.delete("i % 4 = 0")  # version 26: deletion vectors in the live state
    for i in range(25, 29):
        t.append(_one_row(i), provenance=False)  # up to version 30
    return t


def test_checkpoint_interval_is_a_table_property(path: str) -> None:
    _table_with_checkpoints(path)
    ckpts = sorted(p.name for p in Path(path, "_tablever", "checkpoints").iterdir())
    assert ckpts == [f"{v:020d}.parquet" for v in (10, 20, 30)]


def test_checkpoint_state_equals_log_replay(path: str) -> None:
    t = _table_with_checkpoints(path)
    replayed, _ = t.log.load_state(30, base=None)
    from_ckpt, _ = tv.open(path).log.read_checkpoint(30)
    assert from_ckpt.id == replayed.id
    assert dict(from_ckpt.files) == dict(replayed.files)
    assert dict(from_ckpt.deletes) == dict(replayed.deletes)
    assert from_ckpt.next_row_id == replayed.next_row_id
    assert from_ckpt.fingerprint == replayed.fingerprint


@pytest.mark.parametrize("damage", [b"", b"not parquet at all"])
def test_a_corrupt_checkpoint_falls_back_to_the_log_with_a_warning(
    path: str, caplog: pytest.LogCaptureFixture, damage: bytes
) -> None:
    t = _table_with_checkpoints(path)
    want = {v: (t.as_of(v).id, t.as_of(v).fingerprint,
                t.as_of(v).to_arrow(with_row_id=True).sort_by("_row_id"))
            for v in (25, 27, 30)}
    Path(path, "_tablever", "checkpoints", f"{30:020d}.parquet").write_bytes(damage)
    Path(path, "_tablever", "checkpoints", f"{20:020d}.parquet").write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="tablever"):
        fresh = tv.open(path)
        for v, (sid, fp, data) in want.items():
            s = fresh.as_of(v)
            assert (s.id, s.fingerprint) == (sid, fp)
            assert s.to_arrow(with_row_id=True).sort_by("_row_id").equals(data)
        assert fresh.as_of(t.as_of(27).id[:12]).version == 27
    assert any("checkpoint" in r.getMessage() for r in caplog.records)
    assert fresh.log.commits_read > 10  # it really replayed from checkpoint 10


def test_versions_before_the_first_checkpoint_replay_from_zero(path: str) -> None:
    _table_with_checkpoints(path)
    fresh = tv.open(path)
    assert fresh.as_of(5).num_rows == 5
    assert fresh.log.commits_read == 6


def test_a_writer_that_races_past_a_checkpoint_does_not_leak_into_it(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tv.create(path, schema=pa.schema([("i", pa.int64())]),
                  properties={"checkpoint_interval": 3})
    t.append(_one_row(1))
    t.append(_one_row(2))
    a, b = tv.open(path), tv.open(path)
    real = a.storage.put_if_absent

    def racing(rel: str, data: bytes, **kwargs: object) -> bool:
        ok = real(rel, data, **kwargs)  # type: ignore[arg-type]
        if ok and rel.endswith(f"{3:020d}.json"):
            b.append(_one_row(99))  # version 4 lands before version 3's checkpoint
        return ok

    monkeypatch.setattr(a.storage, "put_if_absent", racing)
    a.append(_one_row(3))
    _, history = tv.open(path).log.read_checkpoint(3)
    assert [h.version for h in history] == [0, 1, 2, 3]
    assert [s.version for s in tv.open(path).history()] == [4, 3, 2, 1, 0]


def test_a_parsed_checkpoint_is_reused_until_its_file_changes(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tablever.log import Log

    t = tv.create(path, schema=pa.schema([("i", pa.int64())]),
                  properties={"checkpoint_interval": 5})
    for i in range(6):
        t.append(_one_row(i), provenance=False)
    parsed: list[int] = []
    original = Log._parse_checkpoint

    def counting(self: Log, version: int, raw: bytes, *args: Any, **kw: Any) -> object:
        parsed.append(version)
        return original(self, version, raw, *args, **kw)

    monkeypatch.setattr(Log, "_parse_checkpoint", counting)
    for _ in range(3):
        assert tv.open(path).latest().num_rows == 6
    assert parsed.count(5) <= 1  # fresh handles reuse the parse
    # a damaged checkpoint is a different file: it is parsed again and found damaged,
    # and the version still reads (its commits rebuild it)
    ck = Path(path, "_tablever", "checkpoints", f"{5:020d}.parquet")
    ck.write_bytes(ck.read_bytes()[:-40] + b"\x00" * 40)
    before = parsed.count(5)
    assert tv.open(path).latest().num_rows == 6
    assert parsed.count(5) == before + 1
    # verification never trusts the cache
    fresh = Log(tv.open(path).storage)
    with pytest.raises(tv.CorruptLogError):
        fresh.read_checkpoint(5, cached=False)


def test_changing_a_returned_state_does_not_change_the_next_open(path: str) -> None:
    t = tv.create(path, schema=pa.schema([("i", pa.int64())]),
                  properties={"checkpoint_interval": 2})
    for i in range(3):
        t.append(_one_row(i), provenance=False)
    first = tv.open(path).as_of(2)
    with pytest.raises((AttributeError, TypeError)):  # the live files are immutable
        first.state.files.clear()  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        first.state.files[("x", 0)] = first.data_files[0]  # type: ignore[index]
    first.state.properties["partition_by"] = "i"  # type: ignore[index]
    again = tv.open(path).as_of(2)
    assert again.num_rows == 2
    assert "partition_by" not in again.properties


def test_reopening_reuses_parsed_commits_until_a_file_changes(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import tablever.log as log_mod

    t = tv.create(path, schema=pa.schema([("i", pa.int64())]))
    for i in range(5):
        t.append(_one_row(i), provenance=False)
    parsed: list[str] = []
    original = log_mod.from_json

    def counting(raw: bytes, *, where: str, expected_version: int | None = None) -> object:
        parsed.append(where)
        return original(raw, where=where, expected_version=expected_version)

    monkeypatch.setattr(log_mod, "from_json", counting)
    first = tv.open(path).latest()
    parsed.clear()
    again = tv.open(path)
    assert again.latest().id == first.id and again.as_of(2).num_rows == 2
    assert parsed == []  # the same files: nothing parsed again
    assert again.log.commits_read > 0  # ... though the replay still counts what it used

    # An edit of the same size with the modification time put back is still seen: the
    # change time and the bytes' position on disk are part of what is compared.
    f = Path(path, "_tablever", "log", f"{5:020d}.json")
    st = f.stat()
    raw = f.read_bytes()
    f.write_bytes(raw.replace(b'"message":"', b'"message":"X', 1)[: len(raw) - 1] + b"}")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(tv.CorruptLogError, match=f.name):
        tv.open(path).latest()
    assert parsed == [f"_tablever/log/{5:020d}.json"]
    f.write_bytes(raw)
    assert tv.open(path).latest().id == first.id


def test_checkpoint_entries_read_column_by_column_match_entry_by_entry(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tablever.log as log_mod

    t = tv.create(path, schema=pa.schema([("i", pa.int64()), ("s", pa.string())]),
                  properties={"checkpoint_interval": 4})
    for k in range(3):
        t.append(pa.table({"i": [k * 10 + j for j in range(10)],
                           "s": [None if j == 3 else f"v{j}" for j in range(10)]}))
    t.delete("i % 7 = 0")
    tv.compact(t)  # files with a physical _row_id (first_row_id null)
    t.append(pa.table({"i": [100, 101], "s": ["x", "y"]}))
    t.delete("i = 101")
    t.append(pa.table({"i": [102], "s": ["z"]}))
    version = max(t.log.list_checkpoints())
    raw = t.storage.read_bytes(f"_tablever/checkpoints/{version:020d}.parquet")
    fast, _ = t.log._parse_checkpoint(version, raw)
    assert isinstance(fast.files.base, CheckpointFiles)  # type: ignore[attr-defined]
    assert fast.deletes and any(f.first_row_id is None for f in fast.files.values())
    monkeypatch.setattr(log_mod, "files_from_table", lambda *a: None)
    slow, _ = t.log._parse_checkpoint(version, raw, strict=True)  # the full record
    assert isinstance(slow.files.base, dict)  # type: ignore[attr-defined]
    assert fast.files == slow.files and fast.deletes == slow.deletes
    assert list(fast.files) == list(slow.files)  # the same order: the snapshot's order
    assert list(fast.files.values()) == list(slow.files.values())
    assert fast.fingerprint == slow.fingerprint == t.as_of(version).fingerprint
    assert fast.num_rows == slow.num_rows and fast.total_bytes == slow.total_bytes


def test_unusual_checkpoint_entries_are_checked_one_by_one() -> None:
    from tablever.format.checkpoint import usable

    sha = "ab" * 32
    base = {"path": [f"data/ab/{sha}.parquet"], "sha256": [sha], "bytes": [10], "rows": [2],
            "first_row_id": [0], "stats": ['{"i":{"max":2,"min":1,"nulls":0}}'],
            "dv_path": [None], "dv_sha256": [None], "dv_rows": [None],
            "content_hash": ["0" * 32]}

    def table(cols: dict[str, list[object]]) -> pa.Table:
        return pa.table({k: pa.array(v, CKPT_TYPES[k]) for k, v in cols.items()})

    assert usable(table(base))
    files = CheckpointFiles(table(base), "ck")
    assert [f.stats for f in files.values()] == [{"i": {"max": 2, "min": 1, "nulls": 0}}]
    for unusual in ({"path": ["data/../x.parquet"]}, {"sha256": [sha + "\n"]},
                    {"bytes": [-1]}, {"rows": [-2]}, {"first_row_id": [2**63 - 2]},
                    {"content_hash": ["0" * 31]}, {"path": [None]},
                    {"dv_path": [f"deletes/cd/{'cd' * 32}.parquet"]}):
        assert not usable(table({**base, **unusual})), unusual
    assert not usable(pa.table({**base, "rows": pa.array(["2"])}))  # another type
    twice = {k: v * 2 for k, v in base.items()}
    assert not usable(table(twice))
    # statistics are checked when an entry is built, as a commit's are
    for stats in (' {"i":{}}', '{"i":{"mean":1}}', '{"i":{"min":[1]}}', '{"i":{"min":NaN}}',
                  '{"i":{}} x'):
        files = CheckpointFiles(table({**base, "stats": [stats]}), "ck")
        with pytest.raises(tv.CorruptLogError, match="ck"):
            list(files.values())


def test_what_an_open_hands_out_can_be_changed_without_changing_the_next_open(
    path: str,
) -> None:
    t = tv.create(path, schema=pa.schema([("x", pa.int64())]), properties={"checkpoint_interval": 3})
    t.append(pa.table({"x": [1, 2]}), properties={"params": {"lr": 0.1}})
    t.append(pa.table({"x": [3]}))
    t.append(pa.table({"x": [4]}))  # version 3: a checkpoint
    t.append(pa.table({"x": [5]}))
    for version in (1, 3, 4):  # from a commit, from a checkpoint, replayed on top of it
        s = tv.open(path).as_of(version)
        s.state.commit.properties.clear()  # type: ignore[attr-defined]
        s.state.schema["fields"].clear()  # type: ignore[index]
        with pytest.raises(TypeError, match="read-only"):
            s.data_files[0].stats["x"]["max"] = -5  # type: ignore[index]
        with pytest.raises(TypeError, match="read-only"):
            s.data_files[0].stats.pop("x")  # type: ignore[attr-defined]
    again = tv.open(path)
    assert again.as_of(1).properties["params"] == {"lr": 0.1}
    assert again.as_of(4).schema.names == ["x"]
    assert again.latest().to_arrow(where="x = 2")["x"].to_pylist() == [2]
    assert tv.verify(again).ok
    # read-only stats still copy, compare, serialise and pickle like dicts
    import copy
    import json
    import pickle

    stats = again.latest().data_files[0].stats
    assert dict(stats) == json.loads(json.dumps(stats)) == pickle.loads(pickle.dumps(stats))
    assert copy.deepcopy(stats) == stats


def test_a_table_recreated_at_the_same_path_is_read_afresh(path: str) -> None:
    import shutil

    for i in range(4):
        t = tv.create(path, schema=pa.schema([("x", pa.int64())]))
        t.append(pa.table({"x": [i] * (i + 1)}), message="load")
        s = tv.open(path).as_of(1)
        assert s.to_arrow()["x"].to_pylist() == [i] * (i + 1)
        assert s.id == t.latest().id
        shutil.rmtree(path)


def test_a_stray_file_with_other_digits_is_not_a_version(path: str) -> None:
    t = tv.create(path, schema=pa.schema([("x", pa.int64())]))
    t.append(pa.table({"x": [1]}))
    t.append(pa.table({"x": [2]}))
    Path(path, "_tablever", "log", "\u0660" * 19 + "\u0661" + ".json").write_text("{}")
    assert tv.open(path).latest().version == 2
    assert tv.open(path).as_of(2).num_rows == 2


def test_a_handle_that_commits_meanwhile_keeps_its_newer_state(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tv.create(path, schema=pa.schema([("x", pa.int64())]))
    for i in range(3):
        t.append(pa.table({"x": [i]}))
    original = t._latest_version
    once: list[int] = []

    def then_commit() -> int:
        found = original()
        if not once:
            once.append(found)
            t.append(pa.table({"x": [9]}))  # lands between the look and the load
        return found

    monkeypatch.setattr(t, "_latest_version", then_commit)
    assert t.as_of(3).version == 3 and t.as_of(3).num_rows == 3
    monkeypatch.undo()
    assert t._state is not None and t._state.version == 4
    assert t.latest().num_rows == 4


def test_stats_and_properties_of_this_process_cannot_reach_a_checkpoint(path: str) -> None:
    t = tv.create(path, schema=pa.schema([("id", pa.int64())]),
                  properties={"checkpoint_interval": 3, "owner": {"team": "a"}})
    s = t.append(pa.table({"id": [1, 2, 3]}), properties={"run": {"lr": 0.1}})
    with pytest.raises(TypeError, match="read-only"):
        s.data_files[0].stats["id"]["min"] = 100  # type: ignore[index]
    t.latest().properties["run"]["lr"] = 9  # copies: nothing shared with the handle
    t.properties["owner"]["team"] = "x"
    t.append(pa.table({"id": [4]}))
    t.append(pa.table({"id": [5]}))  # version 3: a checkpoint of the handle's state
    again = tv.open(path)
    assert again.latest().to_arrow(where="id = 2")["id"].to_pylist() == [2]
    assert again.properties["owner"] == {"team": "a"}
    assert again.as_of(1).properties["run"] == {"lr": 0.1}
    assert tv.verify(again).ok


def test_deeply_nested_properties_still_open(path: str) -> None:
    nested: dict[str, object] = {}
    inner = nested
    for _ in range(700):
        inner["k"] = {}
        inner = inner["k"]  # type: ignore[assignment]
    t = tv.create(path, schema=pa.schema([("id", pa.int64())]))
    t.append(pa.table({"id": [1]}), properties={"deep": nested})
    for _ in range(2):
        s = tv.open(path).as_of(1)
        assert s.num_rows == 1 and "deep" in s.properties


def test_a_handle_follows_a_table_recreated_at_its_path(path: str) -> None:
    import shutil

    schema = pa.schema([("x", pa.int64())])
    h = tv.create(path, schema=schema)
    for v in (100, 101, 102):
        h.append(pa.table({"x": [v]}))
    assert h.latest().version == 3
    shutil.rmtree(path)
    t = tv.create(path, schema=schema)
    t.append(pa.table({"x": [1]}))
    assert h.latest().to_arrow()["x"].to_pylist() == [1]
    t.append(pa.table({"x": [2]}))
    t.append(pa.table({"x": [3]}))  # the new table reaches the old handle's version
    assert h.latest().id == t.latest().id
    assert sorted(h.latest().to_arrow()["x"].to_pylist()) == [1, 2, 3]


def test_the_callers_own_objects_never_reach_the_log(path: str) -> None:
    nested = {"b": [1]}
    t = tv.create(path, schema=pa.schema([("i", pa.int64())]), properties={"checkpoint_interval": 2})
    t.set_properties({"m": nested})
    given = {"run": {"lr": [0.1]}}
    t.append(_one_row(1), properties=given)
    nested["b"].append(99)
    given["run"]["lr"].append(9)
    t.append(_one_row(2))  # a checkpoint of the handle's state
    again = tv.open(path)
    assert again.properties["m"] == {"b": [1]}
    assert again.as_of(2).properties["run"] == {"lr": [0.1]}
    assert t.properties["m"] == {"b": [1]}
    assert tv.verify(again).ok


def test_a_large_checkpoint_stays_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    from tablever.caches import Lru

    cache: Lru[tuple[int, bytes], str] = Lru("test", max_entries=2, max_bytes=100)
    cache.put((1, b"a"), "one", 90)  # most of the budget: still kept
    assert cache.get((1, b"a")) == "one"
    cache.put((2, b"b"), "two", 200)  # more than the whole budget: not kept
    assert cache.get((2, b"b")) is None
    cache.put((3, b"c"), "three", 20)  # over the budget together: the oldest goes
    assert cache.get((1, b"a")) is None and cache.get((3, b"c")) == "three"


def test_a_reader_that_listed_checkpoints_before_an_expire_lists_again(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An expire writes the checkpoint that replaces the commits it removes, then removes
    them; a reader that listed the checkpoints just before finds the commits gone and
    must list again, not report a corrupt log."""
    from tablever.log import Log

    t = tv.create(path, schema=pa.schema([("i", pa.int64())]),
                  properties={"checkpoint_interval": 5})
    for i in range(12):
        t.append(_one_row(i), provenance=False)
    stale = Log(t.storage).list_checkpoints()
    tv.expire(t, older_than="0s", keep_last=2)
    log = Log(t.storage)
    assert not log.has_commit(6)  # the commits after the stale checkpoint are gone
    calls = {"n": 0}
    real = Log.list_checkpoints

    def listing(self: Log) -> list[int]:
        calls["n"] += 1
        return stale if calls["n"] == 1 else real(self)

    monkeypatch.setattr(Log, "list_checkpoints", listing)
    tv.clear_caches()
    state, _ = log.load_state(12)
    assert state.version == 12 and calls["n"] >= 2
    assert state.id == t.latest().id


def test_a_checkpoint_written_from_checkpoint_columns_equals_one_built_entry_by_entry(
    path: str,
) -> None:
    from tablever.format.checkpoint import checkpoint_table

    t = tv.create(path, schema=pa.schema([("i", pa.int64())]),
                  properties={"checkpoint_interval": 3})
    for k in range(3):
        t.append(pa.table({"i": [3 * k, 3 * k + 1, 3 * k + 2]}), provenance=False)
    t.delete("i = 4")  # version 4; checkpoint at 3
    tv.clear_caches()
    again = tv.open(path)
    state = again.latest().state
    assert isinstance(state.files.base, CheckpointFiles)  # type: ignore[attr-defined]
    t2 = tv.open(path)
    t2.delete("i = 7")  # a vector on a file from the checkpoint
    tv.compact(t2)  # removes files of the checkpoint, adds one
    t2.append(pa.table({"i": [100]}), provenance=False)
    tv.clear_caches()
    for version in range(3, t2.latest().version + 1):
        s = tv.open(path).as_of(version).state
        fast = checkpoint_table(s.files, s.deletes)
        slow = checkpoint_table(dict(s.files), dict(s.deletes))
        assert fast.equals(slow), version
    # checkpoint 6 was written from checkpoint 3's columns minus the files compacted
    assert 6 in t2.log.list_checkpoints()
    got = sorted(tv.open(path).latest().to_arrow()["i"].to_pylist())
    assert got == [0, 1, 2, 3, 5, 6, 8, 100]
    assert tv.verify(tv.open(path)).ok


def test_a_commit_adding_or_removing_many_files_is_checkpointed(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tablever import transaction

    monkeypatch.setattr(transaction, "CHECKPOINT_AFTER_FILES", 7)
    t = tv.create(path, schema=pa.schema([("i", pa.int64())]),
                  properties={"checkpoint_interval": 1000})
    for i in range(7):
        t.append(pa.table({"i": [i]}))
    t.delete("i = 0")  # removes one file: no checkpoint
    assert t.log.list_checkpoints() == []
    # compaction removes 6 files and adds 1: 7 in all
    compacted = tv.compact(t, target_file_bytes=1 << 20)
    assert compacted is not None and len(compacted.data_files) == 1
    assert t.log.list_checkpoints() == [compacted.version]
    tv.clear_caches()
    fresh = tv.open(path)
    assert fresh.latest().to_arrow().column("i").to_pylist() == [1, 2, 3, 4, 5, 6]
    assert fresh.log.commits_read == 0  # the open started from that checkpoint


def _header_table(path: str) -> tv.Table:
    t = tv.create(path, schema=pa.schema([("i", pa.int64()), ("s", pa.string())]),
                  properties={"checkpoint_interval": 3})
    for k in range(5):
        t.append(pa.table({"i": [k, k + 10], "s": [f"a{k}", None]}), message=f"m{k}")
    t.delete("i = 11")  # version 6: checkpointed, with a deletion vector
    return t


def _ckpt(path: str, version: int) -> Path:
    return Path(path, "_tablever", "checkpoints", f"{version:020d}.parquet")


def test_a_checkpoint_header_says_what_its_full_record_says(path: str) -> None:
    """Opened from its header or from the full state record (what older readers and
    ``verify`` read), a checkpoint gives the same state, commit, actions and history."""
    t = _header_table(path)
    raw = _ckpt(path, 6).read_bytes()
    fast, fast_hist = t.log._parse_checkpoint(6, raw)
    slow, slow_hist = t.log._parse_checkpoint(6, raw, strict=True)
    assert not fast.commit.actions.is_loaded  # type: ignore[attr-defined]
    assert fast.commit == slow.commit and fast.commit.actions == slow.commit.actions
    assert (fast.id, fast.schema, fast.properties, fast.next_row_id) == (
        slow.id, slow.schema, slow.properties, slow.next_row_id)
    assert list(fast.files.values()) == list(slow.files.values())
    assert dict(fast.deletes) == dict(slow.deletes) and len(fast.deletes) == 1
    assert list(fast_hist) == list(slow_hist) == t.log.versions(t.latest().state)[:7]
    assert fast.num_rows == slow.num_rows == 9


def _flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1:]


@pytest.mark.parametrize("where", ["pages", "header"])
def test_damage_the_header_checks_is_found_at_open(
    path: str, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    t = _header_table(path)
    want = t.latest().to_arrow().sort_by("i")
    ck = _ckpt(path, 6)
    raw = ck.read_bytes()
    at = 40 if where == "pages" else raw.index(b'"pages_sha256":"') + 20
    ck.write_bytes(_flip(raw, at))
    tv.clear_caches()
    with caplog.at_level(logging.WARNING, logger="tablever"):
        fresh = tv.open(path)
        assert fresh.latest().to_arrow().sort_by("i").equals(want)  # replayed: exact
    assert any("unreadable checkpoint" in r.getMessage() for r in caplog.records)
    assert fresh.log.commits_read > 0
    # once the commits before it are gone, the checkpoint is the record: an error
    for v in range(6):
        Path(path, "_tablever", "log", f"{v:020d}.json").unlink()
    tv.clear_caches()
    with pytest.raises(tv.CorruptLogError, match="digest does not match|damaged"):
        tv.open(path).latest()


def test_a_damaged_state_record_is_found_by_verify_not_by_an_open(path: str) -> None:
    _header_table(path)
    ck = _ckpt(path, 6)
    raw = ck.read_bytes()
    at = raw.index(b'{"columns_digest":"') + 25  # inside the record older readers read
    ck.write_bytes(_flip(raw, at))
    tv.clear_caches()
    assert tv.open(path).latest().num_rows == 9  # the header and pages are intact
    report = tv.verify(tv.open(path))
    assert not report.ok and any("00000000000000000006.parquet" in p for p in report.problems)


def test_the_actions_of_a_version_whose_commit_file_is_gone_come_from_its_checkpoint(
    path: str,
) -> None:
    t = _header_table(path)
    want = t.log.read_commit(6)
    Path(path, "_tablever", "log", f"{6:020d}.json").unlink()
    tv.clear_caches()
    snap = tv.open(path).as_of(6)
    assert snap.state.commit.actions == want.actions
    assert snap.state.commit.actions.deletes  # the delete's vector


def test_an_open_reads_the_header_without_parsing_the_state_record(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The footer handed to Parquet has the state record cut out (it can be tens of MB);
    a footer laid out otherwise is parsed whole, with the same result."""
    import pyarrow.parquet as pq

    import tablever.log as log_mod
    from tablever.log import HEAD_KEY, STATE_KEY, _lean_file

    t = _header_table(path)
    raw = _ckpt(path, 6).read_bytes()
    lean = _lean_file(raw)
    assert lean is not None
    pf, kv = lean
    assert set(pf.metadata.metadata or {}) <= {HEAD_KEY, STATE_KEY}
    assert not any((pf.metadata.metadata or {}).values())  # both values cut out
    assert kv[HEAD_KEY] == pq.ParquetFile(pa.BufferReader(raw)).metadata.metadata[HEAD_KEY]
    want = t.latest().to_arrow().sort_by("i")
    for v in range(6):  # the checkpoint is the record: it must be read, not skipped
        Path(path, "_tablever", "log", f"{v:020d}.json").unlink()
    for lean_footer in (True, False):  # and with the footer parsed whole
        if not lean_footer:
            monkeypatch.setattr(log_mod, "_lean_file", lambda raw: None)
        tv.clear_caches()
        fresh = tv.open(path)
        assert fresh.latest().to_arrow().sort_by("i").equals(want)
        assert fresh.log.commits_read == 0 and fresh.log.checkpoints_parsed == 1


def test_a_large_checkpoint_is_read_around_its_state_record(
    path: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On a local disk an open reads the pages and the footer of a large checkpoint but
    not its state record (the history, a bulk commit's file lists), which the history
    reads again when asked for."""
    import tablever.log as log_mod

    t = _header_table(path)
    want = t.latest().to_arrow().sort_by("i")
    versions = t.log.versions(t.latest().state)
    monkeypatch.setattr(log_mod, "_RANGED_READ", 0)  # every checkpoint is "large"
    monkeypatch.setattr(log_mod, "_KEEP_STATE", 16)  # and so is every state record
    tv.clear_caches()
    fresh = tv.open(path)
    reads: list[str] = []
    original = fresh.storage.read_bytes

    def counting(rel: str) -> bytes:
        reads.append(rel)
        return original(rel)

    monkeypatch.setattr(fresh.storage, "read_bytes", counting)
    snap = fresh.latest()
    assert snap.to_arrow().sort_by("i").equals(want)
    assert not any("checkpoints" in r for r in reads)  # read around, never whole
    hist = fresh.log.read_checkpoint(6)[1]
    assert list(hist) == versions[:7]  # the record, read again for the history
    assert any("checkpoints" in r for r in reads)
    # damaged pages are still found: the version is rebuilt from the log
    ck = _ckpt(path, 6)
    ck.write_bytes(_flip(ck.read_bytes(), 40))
    tv.clear_caches()
    with caplog.at_level(logging.WARNING, logger="tablever"):
        again = tv.open(path)
        assert again.latest().to_arrow().sort_by("i").equals(want)
    assert again.log.commits_read > 0
