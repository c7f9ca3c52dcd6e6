"""as_of / latest / history: every version reads back exactly, by every kind of ref."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv

pytestmark = pytest.mark.storages  # each test on the local disk and on S3

Batch = Callable[..., pa.Table]


@pytest.fixture
def three(table: tv.Table, batch: Batch) -> tv.Table:
    """Versions 1..3 add ids [0, 1], [2], [3, 4, 5]; v1.0 tags version 1."""
    table.append(batch([0, 1]), message="a")
    table.tag("v1.0")
    table.append(batch([2]), message="b")
    table.append(batch([3, 4, 5]), message="c")
    return table


def ids(s: tv.Snapshot) -> list[int]:
    return sorted(s.to_arrow().column("id").to_pylist())


EXPECTED = {0: [], 1: [0, 1], 2: [0, 1, 2], 3: [0, 1, 2, 3, 4, 5]}


def test_every_version_by_every_ref(three: tv.Table) -> None:
    for v, want in EXPECTED.items():
        s = three.as_of(v)
        assert s.version == v and ids(s) == want
        assert three.as_of(s.id[:6]).version == v
        assert three.as_of(s.id[:12]).version == v
        assert three.as_of(s.id).version == v
        assert three.as_of(s.id[:12].upper()).version == v
        assert three.as_of(s.timestamp).version == v
        assert three.as_of(s.timestamp.isoformat()).version == v
        assert three.as_of(s.timestamp.replace(tzinfo=None)).version == v  # naive = UTC
        assert three.as_of(s.timestamp.replace(tzinfo=None).isoformat()).version == v
        assert three.as_of(str(v)).version == v
        assert three.as_of(v - 4).version == v  # negative counts back from the latest
    assert ids(three.as_of("v1.0")) == [0, 1]
    assert three.as_of(None).version == three.latest().version == 3


def test_time_between_commits_is_the_newest_at_or_before(three: tv.Table) -> None:
    s1, s2 = three.as_of(1), three.as_of(2)
    assert three.as_of(s2.timestamp - timedelta(milliseconds=1)).version == 1
    assert three.as_of(s1.timestamp + timedelta(microseconds=500)).version == 1
    other_zone = s2.timestamp.astimezone(timezone(timedelta(hours=-7)))
    assert three.as_of(other_zone).version == 2
    assert three.as_of(other_zone.isoformat()).version == 2


def test_time_before_the_first_commit(three: tv.Table) -> None:
    with pytest.raises(tv.RefNotFoundError):
        three.as_of(three.as_of(0).timestamp - timedelta(seconds=1))


def test_as_of_returns_a_new_snapshot_and_never_moves_the_table(three: tv.Table) -> None:
    old = three.as_of(1)
    assert three.latest().version == 3
    assert ids(old) == [0, 1]
    three.append(pa.table({"id": [9], "label": ["x"], "confidence": [0.1]}))
    assert ids(old) == [0, 1] and old.version == 1


def test_history_is_newest_first_and_hash_chained(three: tv.Table) -> None:
    hist = three.history()
    assert [h.version for h in hist] == [3, 2, 1, 0]
    assert [h.message for h in hist[:3]] == ["c", "b", "a"]
    for newer, older in zip(hist, hist[1:], strict=False):
        assert newer.parent_id == older.id
        assert newer.timestamp > older.timestamp
    assert [h.version for h in three.history(limit=2)] == [3, 2]


@pytest.mark.parametrize("ref", [4, 100, -5, "4", "v1.1", "nope", "deadbeef00", "1999-01-01"])
def test_unknown_refs(three: tv.Table, ref: Any) -> None:
    with pytest.raises(tv.RefNotFoundError):
        three.as_of(ref)


def test_unknown_ref_names_the_closest_tags(three: tv.Table) -> None:
    three.tag("v2.0", 2)
    with pytest.raises(tv.RefNotFoundError) as info:
        three.as_of("v1.1")
    assert "v1.0" in info.value.closest and "v1.0" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_reopened_table_reads_the_same_snapshots(three: tv.Table, path: str) -> None:
    again = tv.open(path)
    for v in EXPECTED:
        a, b = three.as_of(v), again.as_of(v)
        assert (a.id, a.fingerprint, a.timestamp) == (b.id, b.fingerprint, b.timestamp)
        assert a.to_arrow(with_row_id=True).equals(b.to_arrow(with_row_id=True))


_CHILD = """
import json, sys, tablever as tv
t = tv.open(sys.argv[1])
out = []
for h in reversed(t.history()):
    rows = h.to_arrow(with_row_id=True).sort_by("_row_id").to_pylist()
    out.append({"version": h.version, "id": h.id, "fingerprint": h.fingerprint, "rows": rows,
                "tag": t.as_of("v1.0").id})
print(json.dumps(out))
"""


def test_a_new_process_reads_the_same_snapshots(three: tv.Table, path: str) -> None:
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, path], capture_output=True, text=True, check=True,
        timeout=120,
    )
    seen = json.loads(res.stdout)
    assert [s["version"] for s in seen] == [0, 1, 2, 3]
    for s in seen:
        mine = three.as_of(s["version"])
        assert s["id"] == mine.id and s["fingerprint"] == mine.fingerprint
        assert s["rows"] == mine.to_arrow(with_row_id=True).sort_by("_row_id").to_pylist()
        assert s["tag"] == three.as_of("v1.0").id


@pytest.mark.disk
def test_verify_detects_a_changed_data_file(three: tv.Table, path: str) -> None:
    three.as_of(2, verify=True)
    victim = three.as_of(1).data_files[0].path
    p = Path(path, victim)
    p.write_bytes(p.read_bytes()[:-9] + b"corrupted")
    with pytest.raises(tv.IntegrityError, match=victim):
        three.as_of(2, verify=True)
    with pytest.raises(tv.IntegrityError, match=victim):
        three.as_of(3).verify()


@pytest.mark.disk
def test_a_tampered_commit_is_a_corrupt_log_error_naming_it(three: tv.Table, path: str) -> None:
    p = Path(path, "_tablever", "log", f"{2:020d}.json")
    p.write_bytes(p.read_bytes().replace(b'"message":"b"', b'"message":"B"'))
    with pytest.raises(tv.CorruptLogError, match=f"{2:020d}.json"):
        tv.open(path).as_of(2)


@pytest.mark.disk
def test_a_torn_newest_commit_is_a_corrupt_log_error(three: tv.Table, path: str) -> None:
    Path(path, "_tablever", "log", f"{4:020d}.json").write_bytes(b"")
    with pytest.raises(tv.CorruptLogError, match=f"{4:020d}.json"):
        tv.open(path).latest()
