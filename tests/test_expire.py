"""tv.expire: old versions go, tagged / linked / latest ones stay exact."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv
from tablever.format.refs import VersionInfo
from tablever.maintenance import expire_plan, expiry, parse_duration, plan_expire
from tests.conftest import make_batch, table_files

pytestmark = pytest.mark.storages  # each test on the local disk and on S3


def content(snap: tv.Snapshot) -> pa.Table:
    return snap.to_arrow(with_row_id=True).sort_by("_row_id")


def build(t: tv.Table, n: int = 8) -> dict[int, pa.Table]:
    """Versions 1..n of appends, deletes and an update; returns every version's rows."""
    for i in range(n):
        if i % 3 == 2:
            t.delete(f"id = {i * 10 - 5}")
        elif i == 4:
            t.update({"label": "'u'"}, where="id < 12")
        else:
            t.append(make_batch(list(range(i * 10, i * 10 + 10))))
    time.sleep(0.01)  # commit times are strictly increasing ms: let "0s" cover them all
    return {s.version: content(s) for s in t.history()}


def log_versions(t: tv.Table) -> list[int]:
    return t.log.list_versions()


def test_expire_keeps_tagged_linked_and_latest_versions_exact(table: tv.Table) -> None:
    before = build(table)
    table.tag("release", 2)
    table.link_run("run-1", 5, model="m")
    latest = table.latest().version

    gone = tv.expire(table, older_than="0s", keep_last=1)

    assert gone == [v for v in range(latest) if v not in (2, 5)]
    assert log_versions(table) == [2, 5, latest]
    assert [s.version for s in table.history()] == [latest, 5, 2]
    for v in (2, 5, latest):
        assert content(table.as_of(v)).equals(before[v]), v
    assert content(table.as_of("release")).equals(before[2])
    assert [r.version for r in table.runs()] == [5]
    for v in gone:
        with pytest.raises(tv.RefNotFoundError, match=rf"version {v} was expired on \d{{4}}-"):
            table.as_of(v)
    assert tv.verify(table).ok
    fresh = tv.open(table.location)  # a new handle sees the same
    assert content(fresh.as_of(5)).equals(before[5])
    with pytest.raises(tv.RefNotFoundError, match="expired"):
        fresh.as_of(1)


def test_keep_last_and_older_than(table: tv.Table) -> None:
    build(table)
    latest = table.latest().version
    assert tv.expire(table) == []  # defaults: 90 days, keep 10
    assert tv.expire(table, older_than="1h", keep_last=0) == []
    assert tv.expire(table, older_than=timedelta(0), keep_last=3) == list(range(latest - 2))
    assert log_versions(table) == [latest - 2, latest - 1, latest]
    assert tv.expire(table, older_than="0s", keep_last=3) == []  # nothing left to do


def test_policy_comes_from_table_properties(path: str) -> None:
    t = tv.create(path, schema=make_batch([]).schema,
                  properties={"retention.older_than": "0s", "retention.keep_last": 2})
    build(t, 4)
    assert tv.expire(t) == [0, 1, 2]
    with pytest.raises(tv.InvalidNameError, match="retention.keep_last"):
        t.set_properties({"retention.keep_last": "bad"})  # refused before it is stored
    assert t.properties["retention.keep_last"] == 2


@pytest.mark.parametrize("bad", ["", "90", "1y", "-1h", "h", "1.5.2s", 3600, None])
def test_invalid_durations_name_the_value(table: tv.Table, bad: Any) -> None:
    with pytest.raises(ValueError, match="invalid older_than") as err:
        tv.expire(table, older_than=bad if bad is not None else object())
    assert isinstance(err.value, tv.TableverError)
    if bad is not None:
        assert repr(bad) in str(err.value)


def test_durations() -> None:
    assert parse_duration("30s") == timedelta(seconds=30)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration(" 1h30m ") == timedelta(minutes=90)
    assert parse_duration(timedelta(seconds=5)) == timedelta(seconds=5)
    with pytest.raises(tv.InvalidNameError):
        parse_duration(timedelta(seconds=-1))


def test_dry_run_reports_the_plan_and_changes_nothing(table: tv.Table) -> None:
    build(table)
    table.tag("keep", 3)
    files = table_files(table.location)
    planned = tv.expire(table, older_than="0s", keep_last=2, dry_run=True)
    assert table_files(table.location) == files
    plan = expire_plan(table, older_than="0s", keep_last=2)
    assert plan.versions == planned and 3 not in planned
    assert "tag keep" in plan.reasons[3] and plan.anchors == (3, plan.keep[1])
    assert tv.expire(table, older_than="0s", keep_last=2) == planned


def test_retained_versions_read_exactly_across_checkpoints(path: str) -> None:
    t = tv.create(path, schema=make_batch([]).schema, properties={"checkpoint_interval": 3})
    before = build(t, 12)
    t.tag("a", 4)
    t.tag("b", 7)
    gone = tv.expire(t, older_than="0s", keep_last=2)
    latest = max(before)
    kept = sorted(set(before) - set(gone))
    assert kept == [4, 7, latest - 1, latest]
    checkpoints = t.log.list_checkpoints()
    assert {4, 7, latest - 1} <= set(checkpoints) and not set(gone) & set(checkpoints)
    for v in kept:
        assert content(t.as_of(v)).equals(before[v]), v
    t.append(make_batch([999]))  # and the table goes on
    assert t.latest().version == latest + 1
    assert t.latest().num_rows == before[latest].num_rows + 1
    assert tv.verify(t).ok


def test_expired_times_and_ids_say_expired(table: tv.Table) -> None:
    build(table)
    v3 = table.as_of(3)
    when = v3.timestamp
    tv.expire(table, older_than="0s", keep_last=2)
    with pytest.raises(tv.RefNotFoundError, match="version 3 was expired"):
        table.as_of(when)
    with pytest.raises(tv.RefNotFoundError, match="version 3 was expired"):
        table.as_of(when.isoformat())
    with pytest.raises(tv.RefNotFoundError, match="version 3 was expired"):
        table.as_of(v3.id[:12])
    with pytest.raises(tv.RefNotFoundError):
        table.as_of(datetime(2000, 1, 1, tzinfo=timezone.utc))
    latest = table.latest()
    assert table.as_of(latest.timestamp).version == latest.version


def test_handles_opened_before_expiry_keep_working(table: tv.Table) -> None:
    before = build(table)
    other = tv.open(table.location)
    assert len(other.history()) == len(before)  # caches its state and index
    latest = table.latest().version
    table.append(make_batch([500]))
    tv.expire(table, older_than="0s", keep_last=2)
    assert other.latest().version == latest + 1
    assert [s.version for s in other.history()] == [latest + 1, latest]
    other.append(make_batch([501]))
    assert table.latest().num_rows == before[latest].num_rows + 2


@pytest.mark.disk
def test_a_damaged_anchor_checkpoint_is_an_error_not_expiry(table: tv.Table) -> None:
    build(table)
    table.tag("t", 4)
    tv.expire(table, older_than="0s", keep_last=1)
    ck = Path(table.location) / "_tablever/checkpoints" / f"{4:020d}.parquet"
    ck.write_bytes(b"garbage")
    with pytest.raises(tv.CorruptLogError, match=f"{4:020d}.parquet"):
        tv.open(table.location).as_of("t")
    report = tv.verify(table)
    assert not report.ok and any(f"{4:020d}.parquet" in p for p in report.problems)


def test_a_tag_created_while_expiring_aborts_it(
    table: tv.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = build(table)
    original = table.log.write_expired

    def tag_then_record(*args: Any, **kwargs: Any) -> str:
        tv.open(table.location).tag("late", 2)  # racing user
        return original(*args, **kwargs)

    monkeypatch.setattr(table.log, "write_expired", tag_then_record)
    with pytest.raises(tv.CommitConflictError, match="tagged"):
        tv.expire(table, older_than="0s", keep_last=1)
    assert log_versions(table) == sorted(before)
    assert content(table.as_of("late")).equals(before[2])
    monkeypatch.undo()
    assert 2 not in tv.expire(table, older_than="0s", keep_last=1)
    assert content(table.as_of("late")).equals(before[2])


def test_an_interrupted_expiry_is_finished_by_vacuum(
    table: tv.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = build(table)
    latest = table.latest().version

    def crash(name: str) -> None:
        if name == "expire.recorded":
            raise KeyboardInterrupt

    monkeypatch.setattr(expiry, "fault_point", crash)
    with pytest.raises(KeyboardInterrupt):
        tv.expire(table, older_than="0s", keep_last=1)
    t = tv.open(table.location)
    with pytest.raises(tv.RefNotFoundError, match="expired"):
        t.as_of(1)  # the record is what counts
    assert content(t.as_of(latest)).equals(before[latest])
    assert len(log_versions(t)) == len(before)  # commit files still there
    report = tv.verify(t)
    assert report.ok and f"_tablever/log/{1:020d}.json" in report.orphans
    removed = tv.vacuum(t, grace="0s")
    assert f"_tablever/log/{1:020d}.json" in removed
    assert log_versions(t) == [latest]
    assert tv.verify(t).ok


def test_the_planner_is_pure() -> None:
    versions = [VersionInfo(v, f"{v:064x}", 1000 * v) for v in range(10)]
    plan = plan_expire(
        versions, protected={3: ["tag a"]}, now_ms=10_000, older_than=timedelta(seconds=2),
        keep_last=2, checkpoints=[5],
    )
    # 8 and 9 are newer than 2 s (and the newest two), 3 is tagged
    assert plan.versions == [0, 1, 2, 4, 5, 6, 7]
    assert plan.keep == (3, 8, 9)
    assert plan.anchors == (3, 8)
    assert plan.reasons[9].startswith("latest") and plan.reasons[3] == "tag a"
    assert plan_expire(versions[:1], protected={}, now_ms=10**9,
                       older_than=timedelta(0), keep_last=0).empty
