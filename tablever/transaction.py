"""The one way a write reaches the log: a verb's actions, committed on the newest state.

Every write verb (create and append included) builds actions for a state and hands them
to a :class:`Writer`, which makes the commit, puts it, and on a lost race reads the
winners and asks the verb's ``build`` again (the verb re-checks what it assumed: see
``operations._rebasing``), then checkpoints. Nothing here calls back into ``Table``:
the facade asks for a writer and records the state it returns.

    Table (facade) -> operations / maintenance (build actions) -> Writer -> Log -> Storage
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tablever import provenance as prov
from tablever import upstream
from tablever.errors import (
    CommitConflictError,
    InvalidValueError,
    TableExistsError,
    TableverError,
)
from tablever.format.commit import FORMAT_IDS, FORMAT_VERSION, Actions, Commit, copy_json
from tablever.format.fieldids import carry_ids, has_ids
from tablever.format.layout import LOG_DIR
from tablever.format.state import TableState, apply, summarize
from tablever.log import DEFAULT_MAX_RETRIES, Log, checkpoint_interval, now_ms
from tablever.schema import ROW_ID, schema_from_dict, schema_to_dict
from tablever.storage import Storage

__all__ = ["Build", "Writer", "create_version_zero", "json_properties", "unfinished_version_zero"]

Build = Callable[[TableState, Sequence[Commit]],
                 "tuple[Actions, pa.Schema | Mapping[str, Any] | None] | None"]
"""A verb's actions (and new schema, or None) for a state, given the commits that won
races since it first read the table; None when there is nothing to commit. A new
``pa.Schema`` keeps the field ids of the columns it names (new ones get new ids); a
stored schema object (a ``Mapping``, from :mod:`tablever.format.fieldids`) is taken as
it is: what renames, drops and the format upgrade return."""


def json_properties(properties: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """Our own copy of ``properties`` as a commit stores it; InvalidNameError unless
    they are JSON values under string keys."""
    from tablever.format.commit import canonical_json

    props = dict(properties or {})
    for k in props:
        if not isinstance(k, str):
            raise InvalidValueError(f"{what} keys must be strings, got {k!r}")
    try:
        canonical_json(props)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"{what} must be JSON values: {exc}") from exc
    # the caller's nested objects may change after this: the commit keeps a copy
    return dict(copy_json(props))


def _next_row_id(state: TableState, actions: Actions) -> int:
    """The table-wide row-id counter after ``actions``: past every id they add."""
    next_row_id = state.next_row_id
    for f in actions.add:
        if f.first_row_id is not None:
            next_row_id = max(next_row_id, f.first_row_id + f.rows)
        elif ROW_ID in f.stats and isinstance(f.stats[ROW_ID].get("max"), int):
            next_row_id = max(next_row_id, int(f.stats[ROW_ID]["max"]) + 1)
    return next_row_id


@dataclass(frozen=True, slots=True)
class _Meta:
    """What every commit of one transaction says of itself."""

    operation: str
    message: str
    properties: dict[str, Any]
    provenance: dict[str, Any]
    author: str
    txn: str

    def commit(self, state: TableState | None, actions: Actions,
               schema: dict[str, Any] | None) -> Commit:
        """The commit of ``actions`` on ``state`` (None: version 0 of a new table)."""
        if state is None:
            summary: dict[str, Any] = {
                "added_rows": 0, "deleted_rows": 0, "total_rows": 0, "total_files": 0,
                "total_bytes": 0, "next_row_id": 0,
            }
            version, parent, stamp = 0, None, now_ms()
        else:
            summary = summarize(state, actions, next_row_id=_next_row_id(state, actions))
            version, parent = state.version + 1, state.id
            stamp = max(now_ms(), state.commit.timestamp_ms + 1)
        effective = schema if schema is not None else (state.schema if state else {})
        return Commit(
            version=version, parent_id=parent, timestamp_ms=stamp, txn=self.txn,
            operation=self.operation, message=self.message, author=self.author,
            properties=self.properties, provenance=self.provenance, schema=schema,
            actions=actions, summary=summary,
            format=FORMAT_IDS if has_ids(effective) else FORMAT_VERSION,
        ).with_id()


def _meta(operation: str, message: object, properties: Mapping[str, Any] | None,
          provenance: bool, location: str) -> _Meta:
    if not isinstance(message, str):
        raise InvalidValueError(f"message must be a string, got {type(message).__name__}")
    recorded = prov.capture() if provenance else {}
    inputs = upstream.pending(location)
    if inputs:  # lineage is recorded even when the automatic provenance is off
        recorded = {**recorded, upstream.INPUTS_KEY: inputs}
    return _Meta(operation, message, json_properties(properties, "properties"),
                 recorded, prov.author(), uuid.uuid4().hex)


@dataclass(frozen=True, slots=True)
class Writer:
    """What a write verb needs of one table: where its files go (``storage``), the
    newest state when the verb began (``state``), and :meth:`commit`."""

    storage: Storage
    log: Log
    state: TableState
    max_retries: int = DEFAULT_MAX_RETRIES

    @property
    def schema(self) -> pa.Schema:
        return schema_from_dict(self.state.schema)

    def commit(
        self,
        operation: str,
        build: Build,
        *,
        message: str,
        properties: Mapping[str, Any] | None = None,
        allow_empty: bool = False,
        provenance: bool = True,
    ) -> TableState:
        """Commit what ``build`` returns for the newest state as the next version; on a
        lost race, build again on top of the winners, at most ``max_retries`` times.
        Returns the new state (``self.state`` when there was nothing to commit)."""
        meta = _meta(operation, message, properties, provenance, self.storage.uri)
        state = self.state
        winners: list[Commit] = []
        attempt = 0
        while True:
            built = build(state, winners)
            if built is None and not allow_empty:
                return state
            actions, new_schema = built if built is not None else (Actions(), None)
            if actions.empty and not allow_empty:
                return state
            schema = _stored_schema(new_schema, state)
            commit = meta.commit(state, actions, None if schema == dict(state.schema) else schema)
            if self.log.put_commit(commit):
                return self._checkpoint(apply(state, commit))
            attempt += 1
            # Someone else holds that version: read forward to the new head.
            for other in self.log.read_forward(state):
                if other.txn == meta.txn:  # our own put, whose answer was lost
                    return apply(state, other)
                winners.append(other)
                state = apply(state, other)
            if attempt > self.max_retries:
                raise CommitConflictError(
                    f"gave up after {self.max_retries} retries: other writers kept "
                    f"committing (last seen version {state.version}); the operation "
                    "changed nothing and is safe to rerun"
                )
            time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))

    def _checkpoint(self, state: TableState) -> TableState:
        """Write a checkpoint after the commit of ``state`` if one is due; ``state``,
        read from the checkpoint's columns once written."""
        interval = checkpoint_interval(state.properties, remote=self.log.storage.round_trips)
        self.log.note_committed(state)
        # Also after a commit that adds or removes many files (a compaction, a bulk
        # add): replaying its file lists on every open would cost more than the
        # checkpoint.
        actions = state.commit.actions
        if (state.version % interval != 0
                and len(actions.add) + len(actions.remove) < CHECKPOINT_AFTER_FILES):
            return state
        try:
            # Only the history up to this version: another writer may already be past it.
            history = [h for h in self.log.versions(state) if h.version <= state.version]
            return self.log.checkpoint_and_rebase(state, history)
        except (OSError, TableverError):
            # the commit has landed: a checkpoint is a cache while the commits exist, and
            # a failure here must not make a caller retry (and commit twice)
            return state


CHECKPOINT_AFTER_FILES = 1_000  # files added plus removed by one commit (docs/format.md)


def _stored_schema(new: pa.Schema | Mapping[str, Any] | None,
                   state: TableState) -> dict[str, Any] | None:
    """The schema object a commit stores for a verb's new schema (see :data:`Build`)."""
    if new is None:
        return None
    if isinstance(new, pa.Schema):
        return carry_ids(schema_to_dict(new), state.schema)
    out = dict(new)
    if has_ids(state.schema) and has_ids(out):  # an id once given is never given again
        out["last_column_id"] = max(int(out["last_column_id"]),
                                    int(state.schema["last_column_id"]))
    return out


def create_version_zero(
    storage: Storage, schema: pa.Schema, *, properties: Mapping[str, Any] | None,
    message: str, provenance: bool,
) -> TableState:
    """Put version 0 (a schema, properties and no rows) of a new table at ``storage``;
    TableExistsError if one is there."""
    log = Log(storage)
    if log.exists():
        raise TableExistsError(f"a table already exists at {storage.uri!r}")
    meta = _meta("create", message, properties, provenance, storage.uri)
    storage.makedirs(LOG_DIR)
    commit = meta.commit(None, Actions(), schema_to_dict(schema))
    if not log.put_commit(commit):
        raise TableExistsError(f"a table already exists at {storage.uri!r}")
    from tablever.format.state import empty_state

    return empty_state(commit)


def unfinished_version_zero(
    storage: Storage, schema: pa.Schema, properties: dict[str, Any]
) -> TableState:
    """Version 0 of the table at ``storage`` when that is all it holds, with ``schema``
    and ``properties`` (a create whose rows were never committed); TableExistsError
    otherwise."""
    log = Log(storage)
    try:
        state, _ = log.load_state(log.latest_version())
    except TableverError:
        state = None
    if (state is None or state.version != 0 or schema_from_dict(state.schema) != schema
            or dict(state.properties) != properties):
        raise TableExistsError(
            f"a table already exists at {storage.uri!r} (only a table holding nothing but an "
            "empty version 0 of the same schema and properties is resumed)")
    return state
