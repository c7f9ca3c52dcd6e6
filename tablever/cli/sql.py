"""SQL over a warehouse, and lock files: sql, lock."""

from __future__ import annotations

import os
from typing import Annotated

import typer

import tablever as tv
from tablever.cli.common import (
    JsonOpt,
    PathArg,
    RefArg,
    command,
    emit_json,
    open_table,
    parse_ref,
    say,
    snapshot_dict,
)
from tablever.cli.data import FormatOpt, LimitOpt, OutputOpt, output_format, write_rows


@command("sql")
def sql(
    query: Annotated[str, typer.Argument(metavar="QUERY", help="A statement; table "
                                         "references may carry VERSION AS OF etc.")],
    warehouse: Annotated[str, typer.Option(
        "-C", "--warehouse", help="The warehouse folder (default: the current folder).")] = ".",
    dialect: Annotated[str | None, typer.Option(
        "--dialect", help="Read QUERY in this SQL dialect (spark, trino, bigquery, ...).")] = None,
    message: Annotated[str | None, typer.Option(
        "--message", "-m", help="Commit message for INSERT/DELETE/UPDATE.")] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    limit: LimitOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Run SQL over the tables of a warehouse, at any of their versions."""
    fmt = output_format(fmt, output, as_json)
    wh = tv.Warehouse(warehouse)
    result = wh.sql(query, dialect=dialect, message=message)
    total = result.num_rows
    if limit is not None:
        result = result.slice(0, limit)
    write_rows(result, fmt, output, f"{result.num_rows} of {total} rows")


@command("lock")
def lock(
    path: PathArg,
    ref: RefArg = None,
    output: Annotated[str, typer.Option(
        "-o", "--output", help="The lock file to write.")] = "tablever.lock",
    as_json: JsonOpt = False,
) -> None:
    """Pin a version in a small lock file to commit beside the code that uses it."""
    table = open_table(path)
    s = table.as_of(parse_ref(table, ref))
    written = s.lock(output)
    if as_json:
        emit_json({"lock": os.fspath(written), **snapshot_dict(s)})
        return
    say(f"locked version {s.version} ({s.short_id}, {s.num_rows} rows, fingerprint "
        f"{s.fingerprint[:12]}) in {written}")
