"""The ``tablever`` verbs over SQL, locks and maintenance."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tablever as tv
from tests.test_cli import cli, fails, ok, ok_json, rows


@pytest.fixture
def wh(tmp_path: Path) -> Path:
    """A warehouse with ``events``: v1 ids 1-3 (tag v1.0), v2 ids 4-5, v3 drops conf < 0.7."""
    w = tv.Warehouse(tmp_path / "wh")
    t = w.create("events", schema=rows([1], ["x"], [1.0]).schema)
    t.append(rows([1, 2, 3], ["cat", "dog", "cat"], [1.0, 0.5, 0.95]), message="day 1")
    t.tag("v1.0")
    t.append(rows([4, 5], ["bird", "cat"], [0.3, 0.8]), message="day 2")
    t.delete("confidence < 0.7", message="drop low confidence")
    return tmp_path / "wh"


def test_sql_reads_versions_and_writes_files(wh: Path, tmp_path: Path) -> None:
    out = ok_json("sql", "SELECT id FROM events VERSION AS OF 'v1.0' ORDER BY id", "-C", str(wh))
    assert out == [{"id": 1}, {"id": 2}, {"id": 3}]
    table = ok("sql", "SELECT count(*) AS n FROM events", "-C", str(wh))
    assert "│ 3 │" in table
    target = tmp_path / "v1.parquet"
    ok("sql", "SELECT * FROM events AT (VERSION => 1)", "-C", str(wh), "-o", str(target))
    assert pq.read_table(target).num_rows == 3
    trino = ok_json("sql", "SELECT count(*) AS n FROM events FOR VERSION AS OF 2", "-C", str(wh),
                    "--dialect", "trino")
    assert trino == [{"n": 5}]


def test_sql_dml_commits_with_message(wh: Path) -> None:
    out = ok_json("sql", "DELETE FROM events WHERE id = 5", "-C", str(wh), "-m", "drop 5")
    assert out == [{"count": 1}]
    latest = tv.Warehouse(wh).table("events").latest()
    assert latest.message == "drop 5" and latest.num_rows == 2


@pytest.mark.parametrize(
    "query",
    ["SELECT * FROM read_csv('/etc/passwd')", "COPY events TO 'x.csv'", "SELECT * FROM nope",
     "SELECT * FROM events VERSION AS OF 'v9'", "SELECT (1"],
)
def test_sql_errors_are_one_line(wh: Path, query: str) -> None:
    err = fails("sql", query, "-C", str(wh))
    assert err.startswith("error: ")


def test_lock_and_read_lock_round_trip(wh: Path, tmp_path: Path) -> None:
    events = str(wh / "events")
    lock = tmp_path / "data.lock"
    ok("lock", events, "v1.0", "-o", str(lock))
    pinned = json.loads(lock.read_text())
    assert pinned["version"] == 1
    read = json.loads(ok("read", "--lock", str(lock), "--format", "json"))
    assert sorted(r["id"] for r in read) == [1, 2, 3]
    data_file = wh / "events" / tv.open(events).as_of(1).files[0]
    data = bytearray(data_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    data_file.write_bytes(bytes(data))
    err = fails("read", "--lock", str(lock))
    assert "SHA-256" in err or "does not match" in err


def test_verify_whole_table_gates_on_problems(wh: Path) -> None:
    events = str(wh / "events")
    report = ok_json("verify", events)
    assert report["ok"] is True and report["versions_checked"] >= 4
    data_file = wh / "events" / tv.open(events).as_of(1).files[0]
    data_file.unlink()
    result = cli("verify", events)
    assert result.exit_code == 1
    assert data_file.name in result.output


def test_maintain_compacts_expires_and_vacuums(tmp_path: Path) -> None:
    path = tmp_path / "t"
    t = tv.create(path, schema=pa.schema([("x", pa.int64())]),
                  properties={"vacuum.grace": "0s", "retention.older_than": "0s",
                              "retention.keep_last": 1})
    for i in range(6):
        t.append(pa.table({"x": [i]}), message=f"row {i}")
    t.tag("keep", 2)
    dry = ok_json("maintain", str(path), "--dry-run")
    assert dry["dry_run"] is True and tv.open(path).latest().version == 6
    report = ok_json("maintain", str(path))
    assert report["compacted_files"] == 6 and report["versions_expired"]
    t2 = tv.open(path)
    assert sorted(t2.latest().to_arrow().column("x").to_pylist()) == list(range(6))
    assert t2.as_of("keep").num_rows == 2
    assert ok_json("verify", str(path))["ok"] is True


def test_compact_expire_vacuum_verbs(tmp_path: Path) -> None:
    path = tmp_path / "t"
    t = tv.create(path, schema=pa.schema([("x", pa.int64())]))
    for i in range(4):
        t.append(pa.table({"x": [i]}))
    plan = ok_json("compact", str(path), "--dry-run")
    assert plan["input_files"] == 4
    snap = ok_json("compact", str(path))
    assert snap["version"] == 5
    expired = ok_json("expire", str(path), "--older-than", "0s", "--keep-last", "1")
    assert expired["expired"] == [0, 1, 2, 3, 4]
    planned = ok_json("vacuum", str(path), "--grace", "0s", "--dry-run")
    gone = planned["paths"]
    assert any(p.startswith("data/") for p in gone)
    assert planned["reasons"] == ["unreferenced"] * len(gone)
    done = ok_json("vacuum", str(path), "--grace", "0s")
    deleted = done["paths"]
    assert sorted(deleted) == sorted(gone)
    assert done["reasons"] == ["unreferenced"] * len(deleted)
    assert sorted(tv.open(path).latest().to_arrow().column("x").to_pylist()) == [0, 1, 2, 3]
    assert fails("expire", str(path), "--older-than", "soon").startswith("error: ")


def test_vacuum_says_why_it_deletes_each_file(tmp_path: Path) -> None:
    path = tmp_path / "t"
    t = tv.create(path, schema=pa.schema([("x", pa.int64())]),
                  properties={"checkpoint_interval": 2, "vacuum.checkpoint_spacing": 6})
    for i in range(20):
        t.append(pa.table({"x": [i]}))
    t.overwrite(pa.table({"x": [-1]}))
    tv.expire(t, older_than="0s", keep_last=12)  # keeps 10..21
    (path / "data" / ".tmp-crashed").write_bytes(b"x")
    time.sleep(0.02)
    plan = tv.maintenance.vacuum_plan(t, grace="0s")
    want = {r: plan.reasons.count(r) for r in set(plan.reasons)}
    # the data files are all still used by version 20; checkpoints 12 and 14 go
    assert want == {"thinned": 2, "temp": 1}
    text = ok("vacuum", str(path), "--grace", "0s", "--dry-run")
    head, *lines = text.splitlines()
    assert head == (f"would delete {len(plan.paths)} files ({want['temp']} stale temp file, "
                    f"{want['thinned']} thinned checkpoints)")
    assert sorted(lines) == sorted(f"  {p}  [{r}]"
                                   for p, r in zip(plan.paths, plan.reasons, strict=True))
    assert ok("vacuum", str(path), "--grace", "0s").startswith(f"deleted {len(plan.paths)} files")
    assert tv.verify(tv.open(path)).ok
