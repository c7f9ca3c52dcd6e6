"""``maintain``: compact, then expire, then vacuum, with the table's policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tablever.format.layout import DATA_DIR, DELETES_DIR
from tablever.maintenance.compaction import compact, compact_plan
from tablever.maintenance.expiry import execute_expire, expire_plan
from tablever.maintenance.vacuuming import execute_vacuum, vacuum_plan

if TYPE_CHECKING:
    from tablever.table import Table

__all__ = ["MaintenanceReport", "maintain"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What :func:`maintain` did (or, with ``dry_run``, would do).

    ``files_*`` and ``bytes_*`` count data files and deletion vectors on disk. In a dry
    run, ``files_after``/``bytes_after`` leave out only what vacuum would delete now
    (files that compaction and expiry would orphan go in a later run, after the grace
    period).
    """

    dry_run: bool
    files_before: int
    bytes_before: int
    files_after: int
    bytes_after: int
    compacted_files: int  # input files rewritten (or to be)
    compacted_rows: int
    compact_version: int | None  # the version compaction committed; None if none
    versions_expired: list[int] = field(default_factory=list)
    vacuumed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    conflicts: list[str] = field(default_factory=list)  # steps that lost a race (rerun)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "files_before": self.files_before,
            "bytes_before": self.bytes_before,
            "files_after": self.files_after,
            "bytes_after": self.bytes_after,
            "compacted_files": self.compacted_files,
            "compacted_rows": self.compacted_rows,
            "compact_version": self.compact_version,
            "versions_expired": list(self.versions_expired),
            "vacuumed": list(self.vacuumed),
            "bytes_freed": self.bytes_freed,
            "conflicts": list(self.conflicts),
        }


def _content_files(table: Table) -> tuple[int, int]:
    n = size = 0
    for root in (DATA_DIR, DELETES_DIR):
        for f in table.storage.walk(root):
            n += 1
            size += f.size
    return n, size


def maintain(
    table: Table, *, dry_run: bool = False, progress: Progress | None = None
) -> MaintenanceReport:
    """Run compact → expire → vacuum with the table's policy (its properties
    ``compact.*``, ``retention.*`` and ``vacuum.grace``) and report.

    ``progress(step, done, total)`` is called as long steps advance (``step`` is
    ``"compact"``, ``"expire"`` or ``"vacuum"``). A compaction that loses a race to a
    concurrent delete is skipped (listed in ``conflicts``) and expire and vacuum still
    run; rerun later to compact.
    """
    from tablever.errors import CommitConflictError

    files_before, bytes_before = _content_files(table)
    conflicts: list[str] = []
    cplan = compact_plan(table)
    compact_version = None
    if not dry_run and not cplan.empty:
        try:
            snap = compact(table, progress=progress)
        except CommitConflictError as exc:
            conflicts.append(f"compact: {exc}")
        else:
            compact_version = snap.version if snap is not None else None
    elif progress:
        progress("compact", 0, 0)

    eplan = expire_plan(table)
    expired = eplan.versions
    if progress:
        progress("expire", 0, 1)
    if not dry_run and not eplan.empty:
        try:
            execute_expire(table, eplan)
        except CommitConflictError as exc:
            conflicts.append(f"expire: {exc}")
            expired = []
    if progress:
        progress("expire", 1, 1)

    vplan = vacuum_plan(table)
    vacuumed = vplan.paths
    if not dry_run:
        vacuumed = execute_vacuum(table, vplan, progress=progress)
    elif progress:
        progress("vacuum", 0, 0)
    gone = set(vacuumed)
    freed = sum(f.size for f in vplan.delete if f.path in gone)
    content = [f for f in vplan.delete if f.path.startswith((f"{DATA_DIR}/", f"{DELETES_DIR}/"))]
    if dry_run:
        files_after = files_before - len(content)
        bytes_after = bytes_before - sum(f.size for f in content)
    else:
        files_after, bytes_after = _content_files(table)
    return MaintenanceReport(
        dry_run=dry_run,
        files_before=files_before,
        bytes_before=bytes_before,
        files_after=files_after,
        bytes_after=bytes_after,
        compacted_files=cplan.input_files if dry_run or compact_version is not None else 0,
        compacted_rows=cplan.rows if dry_run or compact_version is not None else 0,
        compact_version=compact_version,
        versions_expired=expired,
        vacuumed=vacuumed,
        bytes_freed=freed,
        conflicts=conflicts,
    )
