"""Resolving a ref (tag, version, snapshot-id prefix or time) against a history.

The one set of rules for reading a ref, used by ``Table.as_of`` and the CLI alike. Pure:
the caller passes what it knows of the log (a :class:`History` of functions it calls
only when a rule needs them, so a tag or a version number never lists the whole log).

A string is read in this order: a tag of that name; ``latest``; a version number (up to
five digits, or negative to count back from the latest); a snapshot-id prefix (six or
more hex digits); a longer number as a version; an ISO-8601 time.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from tablever.errors import AmbiguousRefError, RefNotFoundError

__all__ = ["History", "Ref", "VersionInfo", "expired_message", "parse_time", "resolve",
           "resolve_ref"]

Ref = int | str | datetime | None
_HEX = re.compile(r"^[0-9a-f]{6,64}\Z")
_SHORT_INT = re.compile(r"^-?[0-9]{1,5}\Z")  # [0-9]: \d takes any digit


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    id: str
    timestamp_ms: int


def parse_time(value: str | datetime) -> datetime:
    """A timezone-aware UTC datetime; naive values and ISO strings without offset are UTC."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    else:
        dt = value
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def expired_message(version: int, expired_ms: int, *, copied_from: str | None = None) -> str:
    """What a reader of an expired version is told (or of a version a partial copy left
    out, which the copy records as expired with its source)."""
    if copied_from is not None:
        return (f"version {version} is not in this partial copy of {copied_from}: read it "
                f"there, or copy it to a new location with tv.copy(SOURCE, NEW, "
                f"refs=[{version}]) (`tablever copy SOURCE NEW --ref {version}`)")
    when = datetime.fromtimestamp(expired_ms / 1000, tz=timezone.utc)
    return f"version {version} was expired on {when.isoformat()} and can no longer be read"


def _looks_like_time(text: str) -> bool:
    return len(text) >= 10 and text[4:5] == "-" and text[:4].isdigit()


def resolve(
    ref: Ref,
    versions: Sequence[VersionInfo],
    tags: Mapping[str, int],
    *,
    expired: Mapping[int, str] | None = None,
    expired_versions: Sequence[VersionInfo] = (),
) -> int:
    """The version ``ref`` names among ``versions`` (ascending by version).

    ``expired`` maps versions that once existed but were expired to what a reader of
    them is told (:func:`expired_message`), so the error can say so; ``expired_versions`` (their ids and commit
    times) lets an id prefix or a time that names an expired version say so too.
    """
    if not versions:
        raise RefNotFoundError(ref, "the table has no versions")
    latest = versions[-1].version
    expired = expired or {}
    by_version = {v.version: v for v in versions}

    def known(version: int, shown: object) -> int:
        if version in by_version:
            return version
        if version in expired:
            raise RefNotFoundError(ref, expired[version])
        raise RefNotFoundError(
            ref, f"no version {shown}: versions run from {versions[0].version} to {latest}"
        )

    if ref is None:
        return latest
    if isinstance(ref, bool):
        raise RefNotFoundError(ref, f"not a ref: {ref!r}")
    if isinstance(ref, int):
        return known(latest + 1 + ref if ref < 0 else ref, ref)
    if isinstance(ref, datetime):
        return known(_at_time(ref, _with_expired(versions, expired, expired_versions), ref), ref)
    if not isinstance(ref, str):
        raise RefNotFoundError(ref, f"not a ref: {ref!r} (use a tag, version, id or time)")
    text = ref.strip()
    if text in tags:
        return known(tags[text], f"{tags[text]} (tag {text!r})")
    if text.lower() == "latest":
        return latest
    if _HEX.match(text.lower()):
        matches = [v for v in versions if v.id.startswith(text.lower())]
        if len(matches) > 1:
            ids = ", ".join(f"{m.id[:12]} (v{m.version})" for m in matches[:5])
            raise AmbiguousRefError(f"snapshot-id prefix {text!r} matches {len(matches)}: {ids}")
        if matches:
            return matches[0].version
        gone = [v for v in expired_versions if v.id.startswith(text.lower()) and v.version in expired]
        if len(gone) == 1:
            return known(gone[0].version, text)
    if text.isdigit():
        return known(int(text), text)
    if _looks_like_time(text):
        try:
            when = parse_time(text)
        except ValueError as exc:
            raise RefNotFoundError(ref, f"{ref!r} is not a valid ISO-8601 time: {exc}") from exc
        return known(_at_time(when, _with_expired(versions, expired, expired_versions), ref), ref)
    closest = difflib.get_close_matches(text, list(tags), n=3, cutoff=0.5)
    msg = f"no tag, version or snapshot id {ref!r}"
    if closest:
        msg += f"; closest tags: {', '.join(closest)}"
    elif tags:
        msg += f"; tags: {', '.join(sorted(tags)[:10])}"
    raise RefNotFoundError(ref, msg, closest)


def _with_expired(
    versions: Sequence[VersionInfo], expired: Mapping[int, str], gone: Sequence[VersionInfo]
) -> Sequence[VersionInfo]:
    """Retained and expired versions together, so a time inside an expired stretch names
    the expired version (and fails) instead of silently an older retained one."""
    extra = [v for v in gone if v.version in expired]
    if not extra:
        return versions
    by_version = {v.version: v for v in extra}
    by_version.update({v.version: v for v in versions})
    return [by_version[k] for k in sorted(by_version)]


def _at_time(when: datetime, versions: Sequence[VersionInfo], ref: object) -> int:
    when = parse_time(when)
    ms = int(when.timestamp() * 1000)
    stamps = [v.timestamp_ms for v in versions]
    i = bisect.bisect_right(stamps, ms)
    if i == 0:
        first = datetime.fromtimestamp(stamps[0] / 1000, tz=timezone.utc)
        raise RefNotFoundError(
            ref, f"no snapshot at or before {when.isoformat()}: the oldest is {first.isoformat()}"
        )
    return versions[i - 1].version


@dataclass(frozen=True, slots=True)
class History:
    """What resolving a ref may ask of a table's log and tags; each is called only when
    a rule needs it."""

    latest: Callable[[], int]  # the newest version number
    tag: Callable[[str], int | None]  # the version a tag names, None if no such tag
    versions: Callable[[], Sequence[VersionInfo]]  # every retained version, ascending
    tags: Callable[[], Mapping[str, int]]  # every tag
    expired: Callable[[], Mapping[int, tuple[VersionInfo, str]]]  # -> (info, message)


def resolve_ref(ref: Ref, history: History) -> tuple[int, str | None]:
    """The version ``ref`` names, and the tag's name when it named a tag. A version
    number found here may still be missing or expired: the caller loading it says so."""
    if ref is None:
        return history.latest(), None
    if isinstance(ref, int) and not isinstance(ref, bool):
        return _counted(ref, history), None
    if isinstance(ref, str):
        text = ref.strip()
        version = history.tag(text)
        if version is not None:
            return version, text
        if text.lower() == "latest":
            return history.latest(), None
        if _SHORT_INT.match(text):
            return _counted(int(text), history), None
    gone = history.expired()
    version = resolve(
        ref, history.versions(), history.tags(),
        expired={v: message for v, (_, message) in gone.items()},
        expired_versions=[info for info, _ in gone.values()],
    )
    return version, None


def _counted(number: int, history: History) -> int:
    if number >= 0:
        return number
    latest = history.latest()
    version = latest + 1 + number
    if version < 0:  # counting back past version 0 names nothing
        raise RefNotFoundError(number, f"no version {number}: the latest is {latest}")
    return version
