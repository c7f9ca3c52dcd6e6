"""Lineage between tables: which table versions a commit was derived from.

A commit may record its inputs, each the ``(location, version, id, fingerprint)`` of a
table version it was made from, in its provenance under ``"inputs"`` (part of what the
commit id covers, docs/format.md). They are given to a write verb (``inputs=[...]``) or
gathered by :func:`capture`: inside the block, every snapshot whose rows are read is an
input of every commit made there (a table's own earlier versions excepted).

:mod:`tablever.stages` builds status and ``repro`` on these records.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tablever.errors import InvalidValueError

if TYPE_CHECKING:
    from tablever.snapshot import Snapshot

__all__ = ["Input", "capture", "given", "inputs_of", "note_read", "pending"]

INPUTS_KEY = "inputs"  # the provenance key holding a commit's inputs


@dataclass(frozen=True, slots=True)
class Input:
    """One table version a commit was derived from."""

    location: str
    version: int
    id: str
    fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return {"location": self.location, "version": self.version, "id": self.id,
                "fingerprint": self.fingerprint}

    @classmethod
    def of(cls, snapshot: Snapshot) -> Input:
        return cls(snapshot.location, snapshot.version, snapshot.id, snapshot.fingerprint)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Input:
        return cls(str(d["location"]), int(d["version"]), str(d["id"]), str(d["fingerprint"]))


# Inputs gathered by the innermost capture() block (None outside any), and the inputs a
# write verb was given (for the duration of that verb).
_CAPTURED: contextvars.ContextVar[dict[tuple[str, int], Input] | None] = contextvars.ContextVar(
    "tablever_captured_inputs", default=None)
_GIVEN: contextvars.ContextVar[tuple[Input, ...] | None] = contextvars.ContextVar(
    "tablever_given_inputs", default=None)


@contextlib.contextmanager
def capture() -> Iterator[list[Input]]:
    """Record every snapshot read inside the block as an input of the commits made there.

    Yields the list of inputs gathered so far (it grows as the block reads).

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> events = tv.create(os.path.join(root, "events"), data=pa.table({"x": [1, 2, 3]}))
        >>> train = tv.create(os.path.join(root, "train"), schema=pa.schema([("x", pa.int64())]))
        >>> with tv.lineage.capture():
        ...     rows = events.latest().to_arrow()
        ...     _ = train.append(rows.filter(pa.compute.field("x") > 1))
        >>> [(i.version, i.location == events.location) for i in train.latest().inputs]
        [(1, True)]
    """
    outer = _CAPTURED.get()
    gathered: dict[tuple[str, int], Input] = dict(outer) if outer else {}
    token = _CAPTURED.set(gathered)
    seen: list[Input] = []
    try:
        yield seen
    finally:
        seen[:] = list(gathered.values())
        _CAPTURED.reset(token)
        if outer is not None:
            outer.update(gathered)


def note_read(snapshot: Snapshot) -> None:
    """Called by the snapshot read methods: inside :func:`capture`, remember it."""
    gathered = _CAPTURED.get()
    if gathered is not None:
        gathered.setdefault((snapshot.location, snapshot.version), Input.of(snapshot))


def inputs_of(items: Iterable[Any]) -> tuple[Input, ...]:
    """``inputs=`` as given to a write verb: snapshots or :class:`Input` records."""
    if isinstance(items, (str, bytes, os.PathLike)) or not isinstance(items, Iterable):
        raise InvalidValueError("inputs= takes a list of snapshots (table.as_of(...))")
    out = []
    for item in items:
        if isinstance(item, Input):
            out.append(item)
        elif all(hasattr(item, a) for a in ("location", "version", "id", "fingerprint")):
            out.append(Input.of(item))  # a Snapshot (not imported: it imports this module)
        elif False:
            out.append(item)
        else:
            raise InvalidValueError(
                f"an input is a snapshot (table.as_of(...)), not {type(item).__name__}")
    return tuple(out)


@contextlib.contextmanager
def given(inputs: Iterable[Any] | None) -> Iterator[None]:
    """The inputs a write verb was given, for the commits it makes."""
    if inputs is None:
        yield
        return
    token = _GIVEN.set(inputs_of(inputs))
    try:
        yield
    finally:
        _GIVEN.reset(token)


def pending(location: str) -> list[dict[str, Any]]:
    """The inputs a commit to ``location`` records now, as stored: those given to the
    verb, then those captured (a table's own versions are not inputs of it)."""
    out: dict[tuple[str, int], Input] = {}
    for inp in _GIVEN.get() or ():
        out.setdefault((inp.location, inp.version), inp)
    for key, inp in (_CAPTURED.get() or {}).items():
        if inp.location != location:
            out.setdefault(key, inp)
    return [i.to_dict() for i in out.values()]
