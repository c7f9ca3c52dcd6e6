"""Schema changes: ``tablever schema add|alter|rename|drop|upgrade PATH ...``, one commit
each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import pyarrow as pa
import typer

import tablever as tv
from tablever.cli.common import (
    JsonOpt,
    MessageOpt,
    PathArg,
    arg,
    command,
    group,
    open_table,
    report_write,
    watch,
)
from tablever.cli.writes import parse_schema

schema = group("schema", "Change a table's columns: one commit each, no data file rewritten.")

NameArg = Annotated[str, arg("NAME", "The column.")]
TypeArg = Annotated[str, arg("TYPE", "An Arrow type name: int64, float64, string, ...")]


def _change(path: str, as_json: bool, unchanged: str,
            change: Callable[[tv.Table], tv.Snapshot]) -> None:
    """Open the table at ``path``, make the one-commit ``change`` and report it (or
    ``unchanged`` when it committed nothing)."""
    table = open_table(path)
    before = watch(table)
    report_write(before, change(table), as_json, unchanged)


def _type(name: str, type_: str) -> pa.DataType:
    return parse_schema(f"{name}:{type_}").field(0).type


@command("add", group=schema)
def add(
    path: PathArg,
    name: NameArg,
    type_: TypeArg,
    not_null: Annotated[bool, typer.Option("--not-null", help="Refuse NULLs (a table with no rows only).")] = False,
    message: MessageOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Add column NAME of TYPE; the rows already in the table read it as NULL."""
    _change(path, as_json, "nothing changed", lambda table: table.add_column(
        name, _type(name, type_), nullable=not not_null, message=message))


@command("alter", group=schema)
def alter(
    path: PathArg,
    name: NameArg,
    type_: TypeArg,
    message: MessageOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Widen column NAME to TYPE (int8 -> int16 -> int32 -> int64, float32 -> float64)."""
    _change(path, as_json, "the column already has that type",
            lambda table: table.alter_column(name, _type(name, type_), message=message))


@command("rename", group=schema)
def rename(
    path: PathArg,
    old: Annotated[str, arg("OLD", "The column to rename.")],
    new: Annotated[str, arg("NEW", "Its new name.")],
    message: MessageOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Rename column OLD to NEW; older versions keep the old name (upgrades a format-1
    table to format 2 in the same commit)."""
    _change(path, as_json, "nothing changed",
            lambda table: table.rename_column(old, new, message=message))


@command("drop", group=schema)
def drop(
    path: PathArg,
    name: NameArg,
    message: MessageOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Drop column NAME; older versions still read it (upgrades a format-1 table to
    format 2 in the same commit)."""
    _change(path, as_json, "nothing changed",
            lambda table: table.drop_column(name, message=message))


@command("upgrade", group=schema)
def upgrade(
    path: PathArg,
    message: MessageOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Upgrade the table to format 2 (column field ids); tablever releases that read
    only format 1 then refuse its new versions."""
    _change(path, as_json, "the table is format 2 already",
            lambda table: table.upgrade_format(message=message))
