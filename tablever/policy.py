"""Table properties: durations, sizes, and the policy kept in them.

Policy properties (set at ``create`` or with ``Table.set_properties``):

- ``retention.older_than``     versions older than this may be expired (default ``"90d"``)
- ``retention.keep_last``      the newest N versions are always kept (default ``10``)
- ``compact.target_file_bytes`` compaction's target file size (default 128 MiB)
- ``compact.delete_ratio``     a file with at least this share of deleted rows is
  rewritten even when large (default ``0.1``)
- ``compact.auto_small_files`` after an append leaves more than this many small files,
  the append is followed by a compact commit folding them (default ``0``: off; see
  :func:`tablever.maintenance.compaction.auto_compact`)
- ``vacuum.grace``             files younger than this are never vacuumed (default ``"1h"``)
- ``vacuum.checkpoint_spacing`` of the older checkpoints of retained versions, vacuum keeps
  one per this many versions and deletes the rest the log can rebuild (default ``10 ×
  checkpoint_interval``; ``0`` keeps every checkpoint; see
  :func:`tablever.maintenance.vacuuming.thinned_checkpoints`)
- ``checkpoint_interval``      a checkpoint every N commits (default ``100``; ``10`` on
  an object store, where each commit after the newest checkpoint is a request on open)
- ``compression``              the data files' Parquet codec: ``snappy`` (default),
  ``zstd`` (~35% smaller files, slower scans), ``lz4`` or ``none``
- ``partition_by``             column name(s), e.g. ``"label"`` or ``"label,day"``: each
  data file written from then on holds one combination of their values, so reads and
  deletes filtering on them skip the other partitions' files (unset, ``""`` or null:
  off; see :mod:`tablever.partitioning`)

:func:`validate_properties` checks these when a table is created or its properties are
set, so a malformed policy is refused up front instead of failing a later maintenance run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tablever.errors import InvalidValueError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "AUTO_SMALL_FILES",
    "DEFAULT_DELETE_RATIO",
    "DEFAULT_GRACE",
    "DEFAULT_KEEP_LAST",
    "DEFAULT_OLDER_THAN",
    "DEFAULT_TARGET_FILE_BYTES",
    "Duration",
    "Policy",
    "parse_duration",
    "validate_properties",
]

Duration = timedelta | str

DEFAULT_OLDER_THAN = "90d"
DEFAULT_KEEP_LAST = 10
DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024
DEFAULT_DELETE_RATIO = 0.1
DEFAULT_GRACE = "1h"
AUTO_SMALL_FILES = "compact.auto_small_files"
CHECKPOINT_SPACING = "vacuum.checkpoint_spacing"
SPACING_INTERVALS = 10  # the default checkpoint spacing, in checkpoint intervals

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")


def parse_duration(value: object, what: str = "duration") -> timedelta:
    """A ``timedelta`` from a timedelta or a string like ``"30s"``, ``"15m"``, ``"1h"``,
    ``"90d"``, ``"2w"`` or ``"1h30m"``; anything else is an :class:`InvalidNameError`
    (a ``ValueError``) naming the value.

    Example:
        >>> parse_duration("1h30m")
        datetime.timedelta(seconds=5400)
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise InvalidValueError(f"invalid {what} {value!r}: must not be negative")
        return value
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if _WHOLE.match(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
            return timedelta(seconds=seconds)
    raise InvalidValueError(
        f"invalid {what} {value!r}: use a timedelta or a string such as '30s', '15m', '1h', "
        "'90d' or '2w'"
    )


def _int(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise InvalidValueError(f"invalid {what} {value!r}: expected an integer")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < minimum:
        raise InvalidValueError(f"invalid {what} {value!r}: expected an integer >= {minimum}")
    return value


def parse_size(value: object, what: str = "size") -> int:
    """Bytes from an int or a string like ``"128MiB"``, ``"64MB"``, ``"1GiB"``."""
    if isinstance(value, str):
        m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", value.lower())
        if m:
            mult = {
                None: 1, "b": 1, "kb": 10**3, "kib": 2**10, "mb": 10**6, "mib": 2**20,
                "gb": 10**9, "gib": 2**30,
            }[m.group(2)]
            value = int(float(m.group(1)) * mult)
    return _int(value, what, 1)


def parse_ratio(value: object, what: str) -> float:
    try:
        ratio = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ratio = -1.0
    if isinstance(value, bool) or not 0.0 < ratio <= 1.0:
        raise InvalidValueError(f"invalid {what} {value!r}: expected a number in (0, 1]")
    return ratio


@dataclass(frozen=True, slots=True)
class Policy:
    """The maintenance policy of a table, from its properties with defaults."""

    older_than: timedelta
    keep_last: int
    target_file_bytes: int
    delete_ratio: float
    grace: timedelta
    auto_small_files: int = 0  # 0: no compaction after appends
    checkpoint_spacing: int | None = None  # None: SPACING_INTERVALS checkpoint intervals

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> Policy:
        """Read the policy; a malformed property is an :class:`InvalidNameError` naming it."""
        return cls(
            older_than=parse_duration(
                props.get("retention.older_than", DEFAULT_OLDER_THAN), "retention.older_than"
            ),
            keep_last=_int(props.get("retention.keep_last", DEFAULT_KEEP_LAST),
                           "retention.keep_last", 0),
            target_file_bytes=parse_size(
                props.get("compact.target_file_bytes", DEFAULT_TARGET_FILE_BYTES),
                "compact.target_file_bytes",
            ),
            delete_ratio=parse_ratio(
                props.get("compact.delete_ratio", DEFAULT_DELETE_RATIO), "compact.delete_ratio"
            ),
            grace=parse_duration(props.get("vacuum.grace", DEFAULT_GRACE), "vacuum.grace"),
            auto_small_files=_int(
                0 if props.get(AUTO_SMALL_FILES) in (None, "") else props[AUTO_SMALL_FILES],
                AUTO_SMALL_FILES, 0),
            checkpoint_spacing=None if props.get(CHECKPOINT_SPACING) in (None, "")
            else _int(props[CHECKPOINT_SPACING], CHECKPOINT_SPACING, 0),
        )


def keep_last_arg(value: object) -> int:
    return _int(value, "keep_last", 0)


def validate_properties(props: Mapping[str, Any], *, schema: pa.Schema | None = None) -> None:
    """Raise :class:`InvalidNameError` naming the first malformed known property.

    With the table's ``schema``, ``partition_by`` must also name existing columns of
    types that can be partitions; without it only its form is checked.
    """
    if "partition_by" in props:
        from tablever.partitioning import check_partition_by

        check_partition_by(props["partition_by"], schema)
    if "compression" in props:
        from tablever.write import CODECS

        if props["compression"] not in CODECS:
            raise InvalidValueError(
                f"compression must be one of {', '.join(CODECS)}, got {props['compression']!r}"
            )
    if "checkpoint_interval" in props:
        _int(props["checkpoint_interval"], "checkpoint_interval", 1)
    Policy.from_properties(props)
