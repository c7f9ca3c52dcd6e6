"""Resolving refs (tag, version, id prefix, time) against a history (pure, no disk)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tablever.errors import AmbiguousRefError, RefNotFoundError
from tablever.format.refs import VersionInfo, expired_message, parse_time, resolve

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
IDS = ["0a" * 32, "1b" * 32, "2c" * 32, "3d" * 32]
HISTORY = [VersionInfo(v, IDS[v], T0 + 1000 * v) for v in range(4)]
TAGS = {"v1.0": 1, "v2.0": 3, "baseline": 2}


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


@pytest.mark.parametrize(
    ("ref", "version"),
    [
        (None, 3), (0, 0), (2, 2), (-1, 3), (-4, 0), ("1", 1),
        ("v1.0", 1), ("v2.0", 3), (" baseline ", 2),
        (IDS[2][:6], 2), (IDS[1][:12], 1), (IDS[3], 3), (IDS[0][:8].upper(), 0),
    ],
)
def test_resolve_versions_tags_and_id_prefixes(ref: object, version: int) -> None:
    assert resolve(ref, HISTORY, TAGS) == version  # type: ignore[arg-type]


def test_resolve_time_is_newest_at_or_before() -> None:
    assert resolve(at(T0), HISTORY, TAGS) == 0
    assert resolve(at(T0 + 999), HISTORY, TAGS) == 0
    assert resolve(at(T0 + 1000), HISTORY, TAGS) == 1
    assert resolve(at(T0 + 10**9), HISTORY, TAGS) == 3


def test_naive_times_and_iso_strings_without_offset_are_utc() -> None:
    naive = at(T0 + 2000).replace(tzinfo=None)
    assert resolve(naive, HISTORY, TAGS) == 2
    assert resolve(naive.isoformat(), HISTORY, TAGS) == 2
    assert resolve(at(T0 + 2000).isoformat(), HISTORY, TAGS) == 2
    assert resolve(naive.isoformat() + "Z", HISTORY, TAGS) == 2
    # 01:00 in UTC+1 is 00:00 UTC: an explicit offset is honoured.
    plus_one = at(T0 + 2000).astimezone(timezone(timedelta(hours=1)))
    assert resolve(plus_one.isoformat(), HISTORY, TAGS) == 2
    assert resolve(plus_one.replace(tzinfo=None).isoformat(), HISTORY, TAGS) == 3


def test_parse_time() -> None:
    assert parse_time("2024-01-02T03:04:05") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert parse_time("2024-01-02T03:04:05+02:00").hour == 1
    assert parse_time(datetime(2024, 1, 1)).tzinfo is timezone.utc


def test_tags_win_over_everything_else() -> None:
    assert resolve("3", HISTORY, {"3": 1}) == 1
    assert resolve(IDS[2][:6], HISTORY, {IDS[2][:6]: 0}) == 0


def test_ambiguous_prefix() -> None:
    history = [
        VersionInfo(0, "abcdef01" + "0" * 56, T0),
        VersionInfo(1, "abcdef02" + "0" * 56, T0 + 1),
        VersionInfo(2, "abcdef02" + "1" * 56, T0 + 2),
    ]
    with pytest.raises(AmbiguousRefError, match="abcdef") as info:
        resolve("abcdef", history, {})
    assert "v0" in str(info.value) and "v2" in str(info.value)
    with pytest.raises(AmbiguousRefError):
        resolve("abcdef02", history, {})
    assert resolve("abcdef01", history, {}) == 0
    assert resolve("abcdef021", history, {}) == 2


def test_unknown_ref_names_the_closest_tags() -> None:
    with pytest.raises(RefNotFoundError, match="v1.0") as info:
        resolve("v1.1", HISTORY, TAGS)
    assert "v1.0" in info.value.closest
    assert info.value.ref == "v1.1"
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize(
    "ref", [4, -5, "99", "ffffff", "nope", "", True, 1.5, "2000-01-01", at(T0 - 1)]
)
def test_unknown_refs(ref: object) -> None:
    with pytest.raises(RefNotFoundError):
        resolve(ref, HISTORY, TAGS)  # type: ignore[arg-type]


def test_invalid_iso_time_is_ref_not_found() -> None:
    with pytest.raises(RefNotFoundError, match="ISO"):
        resolve("2024-13-45T00:00:00", HISTORY, TAGS)


def test_expired_versions_say_so() -> None:
    history = HISTORY[2:]
    with pytest.raises(RefNotFoundError, match="expired"):
        resolve(1, history, {}, expired={1: expired_message(1, T0 + 5000)})
    with pytest.raises(RefNotFoundError, match="no version 0"):
        resolve(0, history, {})


def test_empty_history() -> None:
    with pytest.raises(RefNotFoundError):
        resolve(None, [], {})
