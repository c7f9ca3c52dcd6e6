"""Reopening exactly the snapshot a lock file pins (lockfile.py writes them)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tablever.errors import IntegrityError
from tablever.lockfile import LOCK_FORMAT, schema_hash
from tablever.snapshot import Snapshot
from tablever.table import Table

if TYPE_CHECKING:
    from tablever.splits import SplitView

__all__ = ["from_lock", "split_from_lock"]


def _open_first(locations: Sequence[str]) -> Table:
    """The table at the first of ``locations`` that holds one."""
    from tablever.errors import TableNotFoundError
    from tablever.table import open_table

    for i, loc in enumerate(locations):
        try:
            return open_table(loc)
        except TableNotFoundError:
            if i == len(locations) - 1:
                raise
    raise TableNotFoundError("")  # no location at all


def from_lock(
    path: str | os.PathLike[str], *, location: str | None = None, verify: bool = True
) -> Snapshot:
    """Open exactly the snapshot a lock file pins; IntegrityError on any mismatch.

    Checks the snapshot id, fingerprint, row count, schema hash and content hash, and
    (``verify``) re-hashes every file of the snapshot. The table is looked for at its
    location relative to the lock file, then at its absolute one; ``location`` overrides
    both (a table moved on its own). A pinned version that is no longer
    retained (expired, or never existed) is a ``RefNotFoundError`` naming the lock.
    """
    from tablever.errors import CorruptLogError, RefNotFoundError, TableNotFoundError

    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8") as f:
            lock = json.load(f)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise CorruptLogError(f"lock file {p}: unreadable: {exc}") from exc
    if not isinstance(lock, dict) or lock.get("format") != LOCK_FORMAT:
        raise CorruptLogError(f"lock file {p}: not a {LOCK_FORMAT} file")
    for key in ("table", "version", "id", "fingerprint", "rows", "schema_hash"):
        if key not in lock:
            raise CorruptLogError(f"lock file {p}: missing {key!r}")
    version = lock["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise CorruptLogError(f"lock file {p}: bad version {version!r}")
    if not isinstance(lock["table"], str) or not all(
        isinstance(lock[k], str) for k in ("id", "fingerprint", "schema_hash")
    ):
        raise CorruptLogError(
            f"lock file {p}: table, id, fingerprint and schema_hash must be strings"
        )
    recorded = lock["table"]
    candidates = [recorded]
    relative = lock.get("table_relative")
    if isinstance(relative, str) and "://" not in relative and not os.path.isabs(relative):
        folder = os.path.dirname(os.path.abspath(p))
        candidates.insert(0, os.path.normpath(os.path.join(folder, relative)))
    try:
        table = _open_first([location] if location is not None else candidates)
    except TableNotFoundError as exc:
        if location is not None:
            raise
        moved = TableNotFoundError(recorded)
        moved.args = (
            f"lock {p} pins a table at {recorded!r} and there is no table there: if it "
            "moved, pass its location (location=..., or PATH on the command line: "
            f"tablever read PATH --lock {p})",
        )
        raise moved from exc
    try:
        snap = table.as_of(version)
    except RefNotFoundError as exc:
        raise RefNotFoundError(
            version,
            f"lock {p} pins version {version} of {table.location}, which cannot be read: {exc}",
        ) from exc
    problems = []
    if snap.id != lock["id"]:
        problems.append(f"snapshot id is {snap.id[:12]}, the lock pins {lock['id'][:12]}")
    if snap.fingerprint != lock["fingerprint"]:
        problems.append("fingerprint differs (the files of that version changed)")
    if snap.num_rows != lock["rows"]:
        problems.append(f"{snap.num_rows} rows, the lock pins {lock['rows']}")
    if schema_hash(snap.schema) != lock["schema_hash"]:
        problems.append("schema differs")
    if not problems and "content_hash" in lock and snap.content_hash != lock["content_hash"]:
        problems.append("content hash differs (the rows of that version changed)")
    if problems:
        raise IntegrityError(
            f"lock {p} does not match version {version} of {table.location}: "
            + "; ".join(problems)
        )
    if verify:
        snap.verify()
    return snap


def split_from_lock(
    path: str | os.PathLike[str], *, location: str | None = None, verify: bool = True
) -> SplitView:
    """The split a lock written by ``SplitView.lock`` pins: its snapshot, opened and
    checked as :func:`from_lock` does, split again by the recorded definition; an
    IntegrityError unless the split holds exactly the recorded rows (count and digest
    of their row ids). A lock without a split is an ``InvalidValueError``.
    """
    from tablever.errors import InvalidValueError
    from tablever.splits import view_from_lock_entry

    snap = from_lock(path, location=location, verify=verify)
    with open(os.fspath(path), encoding="utf-8") as f:
        entry = json.load(f).get("split")
    if not isinstance(entry, dict):
        raise InvalidValueError(f"lock file {os.fspath(path)} pins no split (write it with "
                                "snapshot.split(...)[name].lock(path))")
    return view_from_lock_entry(snap, entry, f"lock {os.fspath(path)}")
