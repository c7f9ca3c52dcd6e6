"""Table state: the live files, deletion vectors, schema and row-id counter of a version.

:func:`apply` folds one commit into a state; it is pure, so replaying a log, checking a
checkpoint and rebasing a commit after a lost race are all unit-testable without a disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tablever.errors import CorruptLogError
from tablever.format.commit import Actions, Commit, DataFile, DeleteVector, FileKey
from tablever.format.live import LiveMap, live

__all__ = ["TableState", "apply", "empty_state", "fingerprint", "summarize", "touched_keys"]


@dataclass(frozen=True, slots=True)
class TableState:
    """The state of a table at one version. ``files`` and ``deletes`` are read-only
    (:class:`~tablever.format.live.LiveMap` when built by :func:`apply` or read from a
    checkpoint: row and byte totals without a walk over the files)."""

    version: int
    id: str
    commit: Commit
    schema: Mapping[str, Any]
    files: Mapping[FileKey, DataFile]
    deletes: Mapping[FileKey, DeleteVector]
    next_row_id: int
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def format(self) -> int:
        """The format version of this version (docs/format.md): 2 once upgraded."""
        return self.commit.format

    @property
    def num_rows(self) -> int:
        files, deletes = self.files, self.deletes
        rows = files.rows if isinstance(files, LiveMap) else sum(f.rows for f in files.values())
        gone = (deletes.rows if isinstance(deletes, LiveMap)
                else sum(d.rows for d in deletes.values()))
        return rows - gone

    @property
    def total_bytes(self) -> int:
        files = self.files
        return files.bytes if isinstance(files, LiveMap) else sum(f.bytes for f in files.values())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.files.values(), self.deletes)

    def live_rows(self, key: FileKey) -> int:
        dv = self.deletes.get(key)
        return self.files[key].rows - (dv.rows if dv else 0)


def fingerprint(files: Iterable[DataFile], deletes: Mapping[FileKey, DeleteVector]) -> str:
    """SHA-256 over the sorted ``(data sha256, deletion-vector sha256 or "")`` pairs."""
    pairs = sorted(
        f"{f.sha256}:{deletes[f.key].sha256 if f.key in deletes else ''}" for f in files
    )
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()


def empty_state(commit: Commit) -> TableState:
    """The state of version 0 (the ``create`` commit)."""
    if commit.version != 0 or commit.parent_id is not None:
        raise CorruptLogError("version 0 must have no parent")
    if commit.schema is None:
        raise CorruptLogError("version 0 must carry the table schema")
    state = TableState(
        version=-1,
        id="",
        commit=commit,
        schema=commit.schema,
        files={},
        deletes={},
        next_row_id=0,
        properties=dict(commit.properties),
    )
    return apply(state, commit, check_chain=False)


def apply(state: TableState, commit: Commit, *, check_chain: bool = True) -> TableState:
    """The state after ``commit``; raises CorruptLogError if the commit does not fit."""
    where = f"commit {commit.version} (log/{commit.version:020d}.json)"
    if check_chain:
        if commit.version != state.version + 1:
            raise CorruptLogError(f"{where}: follows version {state.version}")
        if commit.parent_id != state.id:
            raise CorruptLogError(f"{where}: parent_id does not match version {state.version}")
        if commit.format < state.commit.format:
            raise CorruptLogError(
                f"{where}: format {commit.format} after format {state.commit.format}")
    schema = commit.schema if commit.schema is not None else state.schema
    if (commit.format >= 2) != ("last_column_id" in schema):
        raise CorruptLogError(f"{where}: format {commit.format} with a schema "
                              f"{'without' if commit.format >= 2 else 'with'} field ids")
    # Edits of the previous state's maps: a commit costs what it changes, not the
    # number of live files.
    files = live(state.files).edit()
    deletes = live(state.deletes).edit()
    next_row_id = state.next_row_id
    for key in commit.actions.remove:
        if key not in files:
            raise CorruptLogError(f"{where}: removes {key[0]} which is not live")
        files.remove(key)
        if key in deletes:
            deletes.remove(key)
    for f in commit.actions.add:
        if f.key in files:
            raise CorruptLogError(f"{where}: adds {f.path} which is already live")
        files.put(f.key, f)
        if f.first_row_id is not None:
            next_row_id = max(next_row_id, f.first_row_id + f.rows)
    for dv in commit.actions.deletes:
        target = files.get(dv.key)
        if target is None:
            raise CorruptLogError(f"{where}: deletion vector for {dv.data_file} which is not live")
        if dv.rows > target.rows:
            raise CorruptLogError(f"{where}: deletion vector {dv.path} deletes too many rows")
        deletes.put(dv.key, dv)
    summary_next = commit.summary.get("next_row_id")
    if isinstance(summary_next, int) and not isinstance(summary_next, bool):
        next_row_id = max(next_row_id, summary_next)
    properties = state.properties
    if commit.actions.set_properties is not None:
        properties = {**state.properties, **commit.actions.set_properties}
    elif commit.operation == "set-properties":  # logs written before the action existed
        properties = {**state.properties, **commit.properties}
    return TableState(
        version=commit.version,
        id=commit.id,
        commit=commit,
        schema=schema,
        files=files.done(),
        deletes=deletes.done(),
        next_row_id=next_row_id,
        properties=properties,
    )


def summarize(state: TableState, actions: Actions, *, next_row_id: int) -> dict[str, int]:
    """Summary of a commit with ``actions`` applied on top of ``state``."""
    removed_rows = sum(state.live_rows(k) for k in actions.remove)
    added_rows = sum(f.rows for f in actions.add)
    newly_deleted = 0
    for dv in actions.deletes:
        old = state.deletes.get(dv.key)
        if dv.key in state.files and dv.key not in actions.remove:
            change = dv.rows - (old.rows if old else 0)
            if change >= 0:
                newly_deleted += change
            else:  # a smaller vector (restore): those rows come back
                added_rows -= change
        else:  # a vector on a file added by this same commit
            added_rows -= dv.rows
    files = live(state.files).edit()
    for key in actions.remove:
        if key in files:
            files.remove(key)
    for f in actions.add:
        files.put(f.key, f)
    deleted_rows = removed_rows + newly_deleted
    total = state.num_rows + added_rows - deleted_rows
    return {
        "added_rows": added_rows,
        "deleted_rows": deleted_rows,
        "total_rows": total,
        "total_files": len(files),
        "total_bytes": files.bytes,
        "next_row_id": next_row_id,
    }


def touched_keys(commit: Commit) -> set[FileKey]:
    """Files a commit removed or gave a new deletion vector."""
    return set(commit.actions.remove) | {dv.key for dv in commit.actions.deletes}
