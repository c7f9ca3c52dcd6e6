"""Expiry: remove old versions from the log, never one that someone still needs.

:func:`plan_expire` is pure: the retained versions, what protects them (tags, linked
runs) and the policy in; which versions go, which stay and why, and which checkpoints
must be written first, out. :func:`expire` carries a plan out in a crash-safe order:

1. write (and read back) a checkpoint at every retained version whose predecessor goes,
   so each retained version still reads exactly without the removed commits;
2. record the expired versions and the time (``_tablever/expired/``), so reading one
   raises ``RefNotFoundError`` saying it was expired, and when;
3. re-read tags and runs: if one appeared on a planned version meanwhile, withdraw the
   record and raise ``CommitConflictError`` (nothing removed; rerun);
4. delete the commit files (and checkpoints) of the expired versions.

A crash after step 2 leaves commit files that :func:`~tablever.maintenance.vacuum`
removes; a crash before it changes nothing a reader can see.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from tablever.errors import CommitConflictError, CorruptLogError
from tablever.format.layout import checkpoint_path, commit_path
from tablever.format.refs import VersionInfo
from tablever.log import ExpiredVersion
from tablever.policy import Duration, Policy, keep_last_arg, parse_duration
from tablever.storage import fault_point

if TYPE_CHECKING:
    from tablever.table import Table

__all__ = ["ExpirePlan", "expire", "expire_plan", "plan_expire"]


@dataclass(frozen=True, slots=True)
class ExpirePlan:
    """Which versions become unreadable, which stay (and why), which checkpoints to write."""

    now_ms: int
    cutoff_ms: int
    keep_last: int
    expire: tuple[VersionInfo, ...]
    keep: tuple[int, ...]
    reasons: Mapping[int, str] = field(default_factory=dict)  # why each kept version stays
    anchors: tuple[int, ...] = ()  # retained versions that need a checkpoint written first

    @property
    def versions(self) -> list[int]:
        """The versions to expire, ascending."""
        return [v.version for v in self.expire]

    @property
    def empty(self) -> bool:
        return not self.expire


def plan_expire(
    versions: Sequence[VersionInfo],
    *,
    protected: Mapping[int, Sequence[str]],
    now_ms: int,
    older_than: timedelta,
    keep_last: int,
    checkpoints: Collection[int] = (),
) -> ExpirePlan:
    """Plan an expiry (pure).

    ``versions`` are the retained versions, ascending. A version is kept when it is the
    latest, one of the newest ``keep_last``, committed less than ``older_than`` before
    ``now_ms``, or named in ``protected`` (tags and linked runs, with a label each).
    Every kept version whose predecessor is not kept needs a checkpoint of its own
    (an *anchor*); those not already in ``checkpoints`` (or whose predecessor goes now)
    are listed in ``anchors``.
    """
    cutoff = now_ms - int(older_than.total_seconds() * 1000)
    reasons: dict[int, str] = {}
    ordered = sorted(versions, key=lambda v: v.version)
    for i, info in enumerate(reversed(ordered)):
        v = info.version
        why: list[str] = []
        if i == 0:
            why.append("latest")
        elif i < keep_last:
            why.append(f"one of the newest {keep_last}")
        if info.timestamp_ms >= cutoff:
            why.append(f"newer than {older_than}")
        why.extend(protected.get(v, ()))
        if why:
            reasons[v] = ", ".join(why)
    expire = tuple(v for v in ordered if v.version not in reasons)
    keep = tuple(v.version for v in ordered if v.version in reasons)
    keep_set = set(keep)
    gone = {v.version for v in expire}
    have = set(checkpoints)
    anchors = tuple(
        v for v in keep
        if v > 0 and v - 1 not in keep_set and (v - 1 in gone or v not in have)
    )
    return ExpirePlan(
        now_ms=now_ms, cutoff_ms=cutoff, keep_last=keep_last, expire=expire, keep=keep,
        reasons=reasons, anchors=anchors if expire else (),
    )


def _protected(table: Table) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for rec in table.tag_records():
        out.setdefault(rec.version, []).append(f"tag {rec.name}")
    for run in table.runs():
        out.setdefault(run.version, []).append(f"run {run.run_id}")
    return out


def expire_plan(
    table: Table, *, older_than: Duration | None = None, keep_last: int | None = None
) -> ExpirePlan:
    """The plan :func:`expire` would carry out now (changes nothing)."""
    policy = Policy.from_properties(table.properties)
    age = policy.older_than if older_than is None else parse_duration(older_than, "older_than")
    keep = policy.keep_last if keep_last is None else keep_last_arg(keep_last)
    versions = table.versions()
    return plan_expire(
        versions,
        protected=_protected(table),
        now_ms=int(time.time() * 1000),
        older_than=age,
        keep_last=keep,
        checkpoints=table.log.list_checkpoints(),
    )


def expire(
    table: Table,
    *,
    older_than: Duration | None = None,
    keep_last: int | None = None,
    dry_run: bool = False,
) -> list[int]:
    """Remove versions older than ``older_than`` beyond the newest ``keep_last``; returns
    the versions expired (or, with ``dry_run=True``, that would be).

    Never removes a tagged version, a version with a linked run, or the latest. Before
    removing any commit file it writes the checkpoints the retained versions need, so
    each still reads exactly. Reading an expired version raises ``RefNotFoundError``
    saying when it was expired. Data files are not deleted here: ``vacuum`` does that.
    Defaults come from the table properties ``retention.older_than`` ("90d") and
    ``retention.keep_last`` (10).

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.table({"x": [1]}))
        >>> for i in range(4):
        ...     _ = t.append(pa.table({"x": [i]}))
        >>> _ = t.tag("first", 1)
        >>> tv.expire(t, older_than="0s", keep_last=1)
        [0, 2, 3]
        >>> t.as_of("first").num_rows, t.latest().num_rows
        (1, 4)
    """
    plan = expire_plan(table, older_than=older_than, keep_last=keep_last)
    if dry_run or plan.empty:
        return plan.versions
    execute_expire(table, plan)
    return plan.versions


def execute_expire(table: Table, plan: ExpirePlan) -> None:
    """Carry out ``plan`` (see the module docstring for the order and why)."""
    log = table.log
    storage = table.storage
    keep = set(plan.keep)
    versions = table.versions()
    for v in plan.anchors:
        state, _ = log.load_state(v)
        history = [h for h in versions if h.version <= v and h.version in keep]
        log.write_checkpoint(state, history)
        back, _ = log.read_checkpoint(v, cached=False)  # what is on disk, not a cache
        if (back.id, back.fingerprint, back.next_row_id) != (
            state.id, state.fingerprint, state.next_row_id
        ):
            raise CorruptLogError(
                f"{checkpoint_path(v)}: reads back differently from version {v}; "
                "nothing was expired"
            )
    fault_point("expire.checkpointed")
    record = log.write_expired(
        [ExpiredVersion(v.version, v.id, v.timestamp_ms, plan.now_ms) for v in plan.expire],
        plan.now_ms,
    )
    # A tag or run created while we planned would point at a version about to vanish.
    raced = sorted(set(_protected(table)) & {v.version for v in plan.expire})
    if raced:
        storage.delete(record)
        raise CommitConflictError(
            f"version(s) {', '.join(map(str, raced))} were tagged or linked to a run while "
            "expiring; nothing was removed, rerun expire"
        )
    fault_point("expire.recorded")
    have = set(log.list_checkpoints())

    def remove(v: int) -> None:
        storage.delete(commit_path(v))
        if v in have:
            storage.delete(checkpoint_path(v))

    first, *rest = plan.versions
    remove(first)
    fault_point("expire.deleting")
    storage.each(remove, rest)
    log.forget_index()  # the cached version index still lists the expired versions
