"""Schema changes: ``tablever schema add|alter|rename|drop|upgrade PATH ...``, one commit
each."""

from __future__ import annotations

from typing import Annotated

import typer

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
    table = open_table(path)
    dtype = parse_schema(f"{name}:{type_}").field(0).type
    before = watch(table)
    after = table.add_column(name, dtype, nullable=not not_null, message=message)
    report_write(before, after, as_json, "nothing changed")


@command("alter", group=schema)
def alter(
    path: PathArg,
    name: NameArg,
    type_: TypeArg,
    message: MessageOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Widen column NAME to TYPE (int8 -> int16 -> int32 -> int64, float32 -> float64)."""
    table = open_table(path)
    dtype = parse_schema(f"{name}:{type_}").field(0).type
    before = watch(table)
    after = table.alter_column(name, dtype, message=message)
    report_write(before, after, as_json, "the column already has that type")


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
    table = open_table(path)
    before = watch(table)
    after = table.rename_column(old, new, message=message)
    report_write(before, after, as_json, "nothing changed")


@command("drop", group=schema)
def drop(
    path: PathArg,
    name: NameArg,
    message: MessageOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Drop column NAME; older versions still read it (upgrades a format-1 table to
    format 2 in the same commit)."""
    table = open_table(path)
    before = watch(table)
    after = table.drop_column(name, message=message)
    report_write(before, after, as_json, "nothing changed")


@command("upgrade", group=schema)
def upgrade(
    path: PathArg,
    message: MessageOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Upgrade the table to format 2 (column field ids); tablever releases that read
    only format 1 then refuse its new versions."""
    table = open_table(path)
    before = watch(table)
    after = table.upgrade_format(message=message)
    report_write(before, after, as_json, "the table is format 2 already")
