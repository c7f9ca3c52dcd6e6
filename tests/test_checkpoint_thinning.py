"""vacuum thins the older checkpoints of retained versions: every version still reads
exactly, the records of expired stretches stay, and the disk no longer grows with the
square of the history."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tablever as tv
from tablever.errors import InvalidValueError
from tablever.format.layout import checkpoint_path
from tablever.maintenance import vacuum_plan
from tablever.maintenance.vacuuming import (
    KEEP_NEWEST_CHECKPOINTS,
    execute_vacuum,
    thinned_checkpoints,
)
from tests.conftest import make_batch

pytestmark = pytest.mark.storages  # each test on the local disk and on S3


# --- the rule, pure ---------------------------------------------------------------------


def test_one_checkpoint_per_spacing_and_the_newest_stay() -> None:
    ckpts = list(range(10, 201, 10))
    gone = thinned_checkpoints(ckpts, list(range(201)), spacing=50)
    kept = sorted(set(ckpts) - set(gone))
    assert kept == [50, 100, 150, 180, 190, 200]
    assert thinned_checkpoints(ckpts, list(range(201)), spacing=0) == []


def test_the_record_of_an_expired_stretch_stays() -> None:
    retained = list(range(55, 201))  # 0..54 expired: the checkpoint at 55 is their record
    ckpts = [55, *range(60, 201, 10)]
    gone = thinned_checkpoints(ckpts, retained, spacing=1000)
    assert 55 not in gone
    assert gone == list(range(60, 171, 10))
    # a hole in the middle (versions 120..129 expired, record at 130) is kept too
    holed = [v for v in range(201) if not 120 <= v < 130]
    assert 130 not in thinned_checkpoints([*range(10, 201, 10)], holed, spacing=1000)


def _rebuild_cost(v: int, kept: list[int], retained: set[int]) -> int | None:
    """Commits replayed to rebuild ``v`` from the newest usable kept checkpoint (or from
    version 0), or None when it cannot be rebuilt."""
    for c in sorted((c for c in kept if c <= v), reverse=True):
        if all(x in retained for x in range(c + 1, v + 1)):
            return v - c
    return v + 1 if all(x in retained for x in range(v + 1)) else None


@settings(max_examples=200, deadline=None)
@given(
    top=st.integers(1, 400),
    interval=st.integers(1, 30),
    spacing=st.integers(0, 120),
    holes=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 40)), max_size=4),
)
def test_every_retained_version_rebuilds_within_the_spacing(
    top: int, interval: int, spacing: int, holes: list[tuple[int, int]]
) -> None:
    expired = {v for start, n in holes for v in range(start, start + n) if v < top}
    retained = [v for v in range(top + 1) if v not in expired]
    have = set(retained)
    # checkpoints as a writer and expire leave them: every interval, plus the record of
    # each retained version whose predecessor was expired
    ckpts = sorted({c for c in range(interval, top + 1, interval) if c in have}
                   | {v for v in retained if v > 0 and v - 1 in expired})
    gone = thinned_checkpoints(ckpts, retained, spacing)
    kept = [c for c in ckpts if c not in gone]
    assert set(gone) <= set(ckpts)
    assert kept[-KEEP_NEWEST_CHECKPOINTS:] == ckpts[-KEEP_NEWEST_CHECKPOINTS:]
    for v in retained:
        before = _rebuild_cost(v, ckpts, have)
        after = _rebuild_cost(v, kept, have)
        assert (before is None) == (after is None), f"version {v}"
        if after is not None and spacing:
            assert after <= max(before or 0, spacing + interval), f"version {v}"
    if not spacing:
        assert gone == []
    assert thinned_checkpoints(kept, retained, spacing) == []  # once is enough


# --- on a table -------------------------------------------------------------------------


def _checkpoints(t: tv.Table) -> list[int]:
    return t.log.list_checkpoints()


def _every_version(path: str) -> dict[int, pa.Table]:
    t = tv.open(path)  # a fresh handle: nothing cached from the writer
    return {v.version: t.as_of(v.version).to_arrow(with_row_id=True).sort_by("_row_id")
            for v in t.versions()}


def _grow(path: str, commits: int, **props: object) -> tv.Table:
    t = tv.create(path, schema=make_batch([0]).schema,
                  properties={"checkpoint_interval": 2, **props})
    for i in range(commits):
        if i % 7 == 6:
            t.delete(f"id = {i - 3}")
        else:
            t.append(make_batch([i]))
    time.sleep(t.storage.mtime_resolution + 0.01)  # older than a grace of 0s
    return t


def test_vacuum_thins_checkpoints_and_every_version_reads_the_same(path: str) -> None:
    t = _grow(path, 60, **{"vacuum.checkpoint_spacing": 10})
    before = _every_version(path)
    ckpts = _checkpoints(t)
    assert ckpts == list(range(2, 61, 2))
    plan = vacuum_plan(t, grace="0s")
    thinned = [f.path for f, why in zip(plan.delete, plan.reasons, strict=True)
               if why == "thinned"]
    expected = [checkpoint_path(c) for c in thinned_checkpoints(ckpts, range(61), 10)]
    assert thinned == expected and len(thinned) == 22
    assert set(tv.vacuum(t, grace="0s", dry_run=True)) >= set(thinned)
    assert _checkpoints(t) == ckpts  # a dry run deletes nothing

    deleted = tv.vacuum(t, grace="0s")
    assert set(thinned) <= set(deleted)
    assert _checkpoints(t) == [10, 20, 30, 40, 50, 56, 58, 60]
    assert _every_version(path) == before
    assert tv.verify(t).ok
    assert not [p for p in tv.vacuum(t, grace="0s") if "checkpoints" in p]  # stable


def test_after_an_expire_the_records_stay_and_versions_read(path: str) -> None:
    t = _grow(path, 60, **{"vacuum.checkpoint_spacing": 1000})
    t.tag("keep", 23)
    tv.expire(t, older_than="0s", keep_last=30)  # keeps 23 (tagged) and 31..60
    time.sleep(t.storage.mtime_resolution + 0.01)
    retained = [v.version for v in t.versions()]
    assert retained == [23, *range(31, 61)]
    before = _every_version(path)
    tv.vacuum(t, grace="0s")
    left = _checkpoints(t)
    assert {23, 31} <= set(left)  # the records of versions whose predecessors went
    assert left == [23, 31, 56, 58, 60]
    assert _every_version(path) == before
    assert tv.verify(t).ok


def test_young_checkpoints_stay_by_the_grace_period(path: str) -> None:
    t = _grow(path, 30, **{"vacuum.checkpoint_spacing": 4})
    ckpts = _checkpoints(t)
    assert not [p for p in tv.vacuum(t) if "checkpoints" in p]  # default grace 1h
    assert _checkpoints(t) == ckpts


def test_the_default_spacing_is_ten_checkpoint_intervals(path: str) -> None:
    t = _grow(path, 50)
    gone = [p for p in tv.vacuum(t, grace="0s") if "checkpoints" in p]
    expected = thinned_checkpoints(list(range(2, 51, 2)), range(51), 20)
    assert gone == [checkpoint_path(c) for c in expected] and gone


def test_an_expire_between_plan_and_vacuum_keeps_every_checkpoint(path: str) -> None:
    t = _grow(path, 40, **{"vacuum.checkpoint_spacing": 1000})
    plan = vacuum_plan(t, grace="0s")
    assert "thinned" in plan.reasons
    tv.expire(t, older_than="0s", keep_last=15)  # version 26 becomes a record
    before = _every_version(path)
    ckpts = _checkpoints(t)
    execute_vacuum(t, plan)
    assert _checkpoints(t) == ckpts
    assert _every_version(path) == before
    assert tv.verify(t).ok


@pytest.mark.parametrize("bad", [-1, "ten", 1.5, True])
def test_a_bad_spacing_is_refused_and_nothing_changes(path: str, bad: object) -> None:
    t = _grow(path, 3)
    head = t.latest().version
    with pytest.raises(InvalidValueError, match="vacuum.checkpoint_spacing"):
        t.set_properties({"vacuum.checkpoint_spacing": bad})
    assert t.latest().version == head
    assert "vacuum.checkpoint_spacing" not in tv.open(path).properties


def test_a_reader_that_listed_a_thinned_checkpoint_reads_on(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = _grow(path, 40, **{"vacuum.checkpoint_spacing": 10})
    want = _every_version(path)
    reader = tv.open(path)
    stale = reader.log.list_checkpoints()  # listed before the vacuum
    tv.vacuum(t, grace="0s")
    assert set(stale) - set(_checkpoints(t))
    real = reader.log.list_checkpoints
    calls: list[int] = []

    def listed_once() -> list[int]:
        calls.append(1)
        return stale if len(calls) == 1 else real()

    for v in (16, 28):  # their nearest listed checkpoints (16, 28) are gone
        calls.clear()
        monkeypatch.setattr(reader.log, "list_checkpoints", listed_once)
        got = reader.as_of(v).to_arrow(with_row_id=True).sort_by("_row_id")
        assert got == want[v]
        assert len(calls) >= 2  # it listed again


def test_maintain_thins_in_the_run_that_expires(path: str) -> None:
    t = _grow(path, 60, **{"vacuum.checkpoint_spacing": 10, "vacuum.grace": "0s",
                           "retention.older_than": "0s", "retention.keep_last": 30})
    before = _every_version(path)
    report = tv.maintain(t)
    assert report.versions_expired  # a fresh expiry record does not stop the thinning
    assert [p for p in report.vacuumed if p.startswith("_tablever/checkpoints/")]
    retained = [v.version for v in t.versions()]
    left = _checkpoints(t)
    assert len(left) < len([c for c in range(2, 62, 2) if c in retained])
    assert retained[0] in left  # the record of the first retained version
    assert tv.verify(t).ok
    after = _every_version(path)
    assert sorted(after) == retained
    assert all(after[v] == before[v] for v in retained if v in before)
    assert after[retained[-1]].sort_by("id") == before[60].sort_by("id")  # the compaction
