"""Vacuum: delete files no retained version needs, once they are older than a grace period.

:func:`plan_vacuum` is pure: the set of paths the retained versions reference, a listing
of the table's files and the clock in; what to delete, out. It deletes only what it
recognises, and only under ``data/``, ``deletes/`` and ``_tablever/``:

- content-addressed data files and deletion vectors no retained version references,
  last modified more than ``grace`` ago (an in-flight writer's files are younger);
- temp files (``.tmp-*``) older than ``grace`` (left by crashed writers);
- commit files and checkpoints of expired versions (left by an interrupted expire);
- older checkpoints of retained versions that the log can rebuild, all but one per
  ``vacuum.checkpoint_spacing`` versions (:func:`thinned_checkpoints`): every checkpoint
  holds all live files, so keeping each one would grow with the square of the history.

It never deletes a referenced file, a tag, a run, an expiry record, a commit of a
retained version, a checkpoint a retained version cannot be rebuilt without, one of the
newest checkpoints, a file it does not recognise, or anything outside the table root.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from tablever.errors import CorruptLogError
from tablever.format.layout import ROOTS, checkpoint_path
from tablever.log import checkpoint_interval
from tablever.maintenance.retained import CONTENT_FILE, Survey, referenced_paths, survey
from tablever.policy import SPACING_INTERVALS, Duration, Policy, parse_duration
from tablever.storage import TMP_PREFIX, FileInfo, Storage, fault_point

if TYPE_CHECKING:
    from tablever.log import Log
    from tablever.table import Table

__all__ = ["VacuumPlan", "plan_vacuum", "thinned_checkpoints", "vacuum", "vacuum_plan"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class VacuumPlan:
    """Files to delete (with why), and unreferenced files kept because they are young."""

    delete: tuple[FileInfo, ...]
    # one per file in ``delete``: unreferenced | temp | expired | thinned
    reasons: tuple[str, ...]
    young: tuple[FileInfo, ...]  # unreferenced or temp, but within the grace period
    grace: timedelta
    now: float
    expired_seen: frozenset[int] = frozenset()  # expired versions when planned

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.delete]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.delete)

    @property
    def empty(self) -> bool:
        return not self.delete


def _under_roots(path: str) -> bool:
    parts = path.split("/")
    return (
        len(parts) >= 2
        and parts[0] in ROOTS
        and all(p not in ("", ".", "..") for p in parts)
        and "\\" not in path
        and "\x00" not in path
    )


def plan_vacuum(
    referenced: Set[str],
    files: Iterable[FileInfo],
    *,
    now: float,
    grace: timedelta,
    expired_meta: Set[str] = frozenset(),
    thinned: Set[str] = frozenset(),
) -> VacuumPlan:
    """Plan a vacuum (pure).

    ``referenced``: paths any retained version reads; ``files``: the listing of
    ``data/``, ``deletes/`` and ``_tablever/``; ``expired_meta``: commit files and
    checkpoints of expired versions; ``thinned``: checkpoints of retained versions the
    log can rebuild (:func:`thinned_checkpoints`), deleted once older than ``grace``.
    Times are seconds since the epoch.
    """
    limit = now - grace.total_seconds()
    delete: list[FileInfo] = []
    reasons: list[str] = []
    young: list[FileInfo] = []
    for f in sorted(files, key=lambda f: f.path):
        if not _under_roots(f.path) or f.path in referenced:
            continue
        name = f.path.rsplit("/", 1)[-1]
        if name.startswith(TMP_PREFIX):
            why = "temp"
        elif CONTENT_FILE.match(f.path):
            why = "unreferenced"
        elif f.path in expired_meta:
            delete.append(f)
            reasons.append("expired")
            continue
        elif f.path in thinned:
            why = "thinned"
        else:
            continue  # not ours to judge: verify reports unexpected files
        if f.mtime <= limit:
            delete.append(f)
            reasons.append(why)
        else:
            young.append(f)
    return VacuumPlan(tuple(delete), tuple(reasons), tuple(young), grace, now)


KEEP_NEWEST_CHECKPOINTS = 3


def thinned_checkpoints(
    checkpoints: Sequence[int],
    retained: Sequence[int],
    spacing: int,
    keep_newest: int = KEEP_NEWEST_CHECKPOINTS,
) -> list[int]:
    """Checkpoints of retained versions that vacuum may delete (pure), ascending.

    Walking the checkpoints from the oldest, each is kept when it is one of the newest
    ``keep_newest``, when the commits from the last kept checkpoint (or from version 0)
    up to it are not all retained (after an expire it is the record of its version), or
    when it lies ``spacing`` or more versions after the last kept one; the others go.
    Any retained version then rebuilds from a kept checkpoint (or version 0) and fewer
    than ``spacing`` plus one checkpoint interval commits. Running it again on what it
    keeps deletes nothing more. ``spacing`` 0 keeps every checkpoint.
    """
    have = set(retained)
    mine = [c for c in sorted(set(checkpoints)) if c in have]
    if spacing <= 0 or len(mine) <= keep_newest:
        return []
    top = mine[-1]
    missing = [v for v in range(top + 1) if v not in have]  # sorted
    out: list[int] = []
    anchor = -1  # rebuild from version 0
    for c in mine[: len(mine) - keep_newest]:
        # no missing version in (anchor, c]: the log replays c from the anchor
        replayable = bisect.bisect_right(missing, c) == bisect.bisect_right(missing, anchor)
        if replayable and c - max(anchor, 0) < spacing:
            out.append(c)
        else:
            anchor = c
    return out


def _listing(table: Table) -> list[FileInfo]:
    out: list[FileInfo] = []
    for root in ROOTS:
        out.extend(table.storage.walk(root))
    return out


def _referenced(log: Log, attempts: int = 3) -> tuple[Survey, set[str]]:
    """The survey and referenced paths, re-surveyed if an expire ran concurrently."""
    for attempt in range(attempts):
        s = survey(log)
        try:
            return s, referenced_paths(log, s.retained)
        except (CorruptLogError, FileNotFoundError):
            # A commit vanished under us: fine if a concurrent expire recorded it.
            after = survey(log)
            if set(after.expired) == set(s.expired) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def vacuum_plan(table: Table, *, grace: Duration | None = None) -> VacuumPlan:
    """The plan :func:`vacuum` would carry out now (changes nothing)."""
    props = table.properties
    policy = Policy.from_properties(props)
    wait = policy.grace if grace is None else parse_duration(grace, "grace")
    now = time.time()
    log = table.log
    s, referenced = _referenced(log)
    listing = _listing(table)
    # An expiry record younger than the grace period may belong to an expire still at
    # work (or about to withdraw it): leave its files to that expire.
    settled = {v for v, e in s.expired.items() if e.expired_ms / 1000 <= now - wait.total_seconds()}
    leftover = [
        p for p in s.leftover_meta() if int(p.rsplit("/", 1)[-1].split(".")[0]) in settled
    ]
    # Versions an expire has recorded are not retained here, whether or not their
    # commits are deleted yet; the checkpoints an expire is writing before it records
    # are younger than the grace period; one that records after this survey is caught
    # before anything is deleted (execute_vacuum).
    spacing = policy.checkpoint_spacing
    if spacing is None:
        remote = table.storage.round_trips
        spacing = SPACING_INTERVALS * checkpoint_interval(props, remote=remote)
    thinned = {checkpoint_path(c)
               for c in thinned_checkpoints(s.checkpoints, s.retained, spacing)}
    plan = plan_vacuum(referenced, listing, now=now, grace=wait, expired_meta=set(leftover),
                       thinned=thinned)
    # Commits that landed while we looked may reference an old file again (a restore,
    # or an append whose bytes equal an orphan's): keep whatever they name.
    newer = [v for v in log.list_versions() if v > s.latest]
    if newer and plan.delete:
        again: set[str] = set()
        for v in newer:
            c = log.read_commit(v)
            again.update(f.path for f in c.actions.add)
            again.update(d.path for d in c.actions.deletes)
        keep = [i for i, f in enumerate(plan.delete) if f.path not in again]
        plan = VacuumPlan(
            tuple(plan.delete[i] for i in keep), tuple(plan.reasons[i] for i in keep),
            plan.young, plan.grace, plan.now,
        )
    return dataclasses.replace(plan, expired_seen=frozenset(s.expired))


def vacuum(
    table: Table,
    *,
    grace: Duration | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[str]:
    """Delete files no retained version references and older than ``grace`` (default
    from the table property ``vacuum.grace``, else 1 hour), stale temp files, and
    leftover commit files and checkpoints of expired versions. Returns the paths
    (relative to the table root) deleted, or that would be with ``dry_run=True``.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.table({"x": [1]}))
        >>> _ = t.append(pa.table({"x": [1]}))
        >>> _ = t.overwrite(pa.table({"x": [2]}))
        >>> _ = tv.expire(t, older_than="0s", keep_last=1)
        >>> [p.split("/")[0] for p in tv.vacuum(t, grace="0s")]
        ['data']
    """
    plan = vacuum_plan(table, grace=grace)
    if dry_run or plan.empty:
        return plan.paths
    return execute_vacuum(table, plan, progress=progress)


def _mtime(storage: Storage, rel: str) -> float:
    """The file's current mtime (0 when it is gone)."""
    try:
        return storage.mtime(rel)
    except OSError:
        return 0.0


def execute_vacuum(
    table: Table, plan: VacuumPlan, *, progress: Progress | None = None
) -> list[str]:
    """Delete what ``plan`` lists; returns the paths deleted. A data file or temp file
    modified since it was listed (a writer reusing identical bytes) is skipped."""
    storage = table.storage
    for f in plan.delete:
        if not _under_roots(f.path):  # belt and braces: the planner never lists these
            raise CorruptLogError(f"vacuum refused to delete {f.path!r}")
    items = list(zip(plan.delete, plan.reasons, strict=True))
    if "thinned" in plan.reasons:
        if set(table.log.read_expired()) != plan.expired_seen:
            # an expire recorded versions since the plan: a thinned checkpoint may have
            # become the record of its version; keep them all (the next vacuum judges
            # them again)
            items = [item for item in items if item[1] != "thinned"]
        else:  # first, while the check above is fresh
            items.sort(key=lambda item: item[1] != "thinned")
    total = len(items)
    if progress:
        progress("vacuum", 0, total)
    limit = plan.now - plan.grace.total_seconds()
    # a writer that reused a file after the plan was made refreshed its time; where
    # times are coarse (whole seconds), anything within that much of the limit is kept
    recent = limit - storage.mtime_resolution

    def one(item: tuple[FileInfo, str]) -> str | None:
        f, why = item
        if why == "expired" or (f.mtime <= limit and _mtime(storage, f.path) <= recent):
            storage.delete(f.path)
            return f.path
        return None

    deleted: list[str] = []
    done = 0
    while done < total and not deleted:  # one at a time until the first deletion
        path = one(items[done])
        done += 1
        if path is not None:
            deleted.append(path)
            fault_point("vacuum.deleting")
        if progress and (done == total or done % 256 == 0):
            progress("vacuum", done, total)
    # The rest a batch at a time, each batch on a few threads (unlinks wait on the disk).
    while done < total:
        batch = items[done:done + 256]
        deleted += [p for p in storage.each(one, batch) if p is not None]
        done += len(batch)
        if progress:
            progress("vacuum", done, total)
    return deleted
