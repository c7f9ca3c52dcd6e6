"""Schema changes: ``tablever schema add|alter PATH ...``, one commit each."""

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
