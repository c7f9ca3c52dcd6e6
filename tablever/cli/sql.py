"""Warehouses and lock files: ls, sql, lock."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

import tablever as tv
from tablever.cli.common import (
    CliError,
    JsonOpt,
    PathArg,
    RefArg,
    add_row,
    check_output,
    command,
    console,
    emit_json,
    fail,
    new_table,
    open_table,
    plural,
    require_message,
    say,
    snapshot_dict,
    table_root,
)
from tablever.cli.data import (
    TABLE_ROWS,
    ForceOpt,
    FormatOpt,
    LimitOpt,
    OutputOpt,
    output_format,
    write_rows,
)


@command("sql")
def sql(
    query: Annotated[str, typer.Argument(metavar="QUERY", help="A statement; table "
                                         "references may carry VERSION AS OF etc.")],
    warehouse: Annotated[str, typer.Option(
        "-C", "--warehouse", metavar="WAREHOUSE", help="The warehouse folder (default: the current folder).")] = ".",
    dialect: Annotated[str | None, typer.Option(
        "--dialect", metavar="DIALECT", help="Read QUERY in this SQL dialect (spark, trino, bigquery, ...).")] = None,
    message: Annotated[str | None, typer.Option(
        "--message", "-m", metavar="MSG", help="Commit message for INSERT/DELETE/UPDATE.")] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    limit: LimitOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    force: ForceOpt = False,
) -> None:
    """Run SQL over the tables of a warehouse, at any of their versions."""
    fmt = output_format(fmt, output, as_json)
    if output is not None:
        check_output(output, force)
    if message is not None:
        require_message(message)
    root = table_root(warehouse)
    if root is not None:
        parent = os.path.dirname(root)
        raise CliError(
            f"-C {warehouse} is the table {os.path.basename(root)!r} (or inside it): -C wants "
            f"the warehouse folder that holds the tables, here -C {parent or '.'}"
        )
    wh = tv.Warehouse(warehouse)
    try:
        result = wh.sql(query, dialect=dialect, message=message)
    except tv.InvalidPredicateError as exc:
        fail(exc, statement=query, dialect=dialect)
    total = result.num_rows
    if limit is not None:
        result = result.slice(0, limit)
    elif fmt == "table":
        result = result.slice(0, TABLE_ROWS)
    write_rows(result, fmt, output, f"{result.num_rows} of {plural(total, 'row')}",
               force=force, hidden=total - result.num_rows if limit is None else 0)


@command("lock")
def lock(
    path: PathArg,
    ref: RefArg = None,
    output: Annotated[str, typer.Option(
        "-o", "--output", metavar="FILE", help="The lock file to write.")] = "tablever.lock",
    as_json: JsonOpt = False,
) -> None:
    """Pin a version in a small lock file to commit beside the code that uses it."""
    table = open_table(path)
    s = table.as_of(ref)
    written = s.lock(output)
    if as_json:
        emit_json({"lock": os.fspath(written), **snapshot_dict(s)})
        return
    say(f"locked version {s.version} ({s.short_id}, {s.num_rows} rows, fingerprint "
        f"{s.fingerprint[:12]}) in {written}")


@command("ls")
def ls(
    warehouse: Annotated[str, typer.Argument(
        metavar="WAREHOUSE", help="The warehouse folder (default: the current folder).",
        show_default=False)] = ".",
    as_json: JsonOpt = False,
) -> None:
    """The tables of a warehouse, with their latest version and rows."""
    if table_root(warehouse) is not None:
        raise CliError(f"{warehouse} is a table, not a warehouse: ls lists the tables of the "
                       "folder that holds it; tablever log shows a table's versions")
    wh = tv.Warehouse(warehouse)
    rows: list[dict[str, Any]] = []
    for name in wh.tables():
        s = wh.table(name).latest()
        rows.append({"table": name, "version": s.version, "rows": s.num_rows,
                     "committed": s.timestamp.isoformat(timespec="milliseconds"),
                     "message": s.message})
    if as_json:
        emit_json(rows)
        return
    if not rows:
        say(f"no tables in {warehouse}")
        return
    out = new_table(f"tables in {os.path.abspath(warehouse)}",
                    ["table", ("version", {"justify": "right"}), ("rows", {"justify": "right"}),
                     "committed (UTC)", "message"])
    for r in rows:
        add_row(out, r["table"], r["version"], r["rows"],
                r["committed"][:19].replace("T", " "), r["message"])
    console().print(out)
