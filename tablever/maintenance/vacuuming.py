"""Vacuum: delete files no retained version needs, once they are older than a grace period.

:func:`plan_vacuum` is pure: the set of paths the retained versions reference, a listing
of the table's files and the clock in; what to delete, out. It deletes only what it
recognises, and only under ``data/``, ``deletes/`` and ``_tablever/``:

- content-addressed data files and deletion vectors no retained version references,
  last modified more than ``grace`` ago (an in-flight writer's files are younger);
- temp files (``.tmp-*``) older than ``grace`` (left by crashed writers);
- commit files and checkpoints of expired versions (left by an interrupted expire).

It never deletes a referenced file, a tag, a run, an expiry record, a commit or
checkpoint of a retained version, a file it does not recognise, or anything outside the
table root.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from tablever.errors import CorruptLogError
from tablever.format.layout import ROOTS
from tablever.maintenance.retained import CONTENT_FILE, Survey, referenced_paths, survey
from tablever.policy import Duration, Policy, parse_duration
from tablever.storage import TMP_PREFIX, FileInfo, Storage, fault_point

if TYPE_CHECKING:
    from tablever.log import Log
    from tablever.table import Table

__all__ = ["VacuumPlan", "plan_vacuum", "vacuum", "vacuum_plan"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class VacuumPlan:
    """Files to delete (with why), and unreferenced files kept because they are young."""

    delete: tuple[FileInfo, ...]
    reasons: tuple[str, ...]  # one per file in ``delete``: unreferenced | temp | expired
    young: tuple[FileInfo, ...]  # unreferenced or temp, but within the grace period
    grace: timedelta
    now: float

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
) -> VacuumPlan:
    """Plan a vacuum (pure).

    ``referenced``: paths any retained version reads; ``files``: the listing of
    ``data/``, ``deletes/`` and ``_tablever/``; ``expired_meta``: commit files and
    checkpoints of expired versions. Times are seconds since the epoch.
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
        else:
            continue  # not ours to judge: verify reports unexpected files
        if f.mtime <= limit:
            delete.append(f)
            reasons.append(why)
        else:
            young.append(f)
    return VacuumPlan(tuple(delete), tuple(reasons), tuple(young), grace, now)


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
    policy = Policy.from_properties(table.properties)
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
    plan = plan_vacuum(referenced, listing, now=now, grace=wait, expired_meta=set(leftover))
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
    return plan


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
    total = len(plan.delete)
    for f in plan.delete:
        if not _under_roots(f.path):  # belt and braces: the planner never lists these
            raise CorruptLogError(f"vacuum refused to delete {f.path!r}")
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

    items = list(zip(plan.delete, plan.reasons, strict=True))
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
