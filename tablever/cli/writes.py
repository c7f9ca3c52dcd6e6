"""Creating and writing: create, append, delete, filter, update, restore, set-property."""

from __future__ import annotations

from typing import Annotated, Any

import typer

import tablever as tv
from tablever.cli.common import (
    JsonOpt,
    MessageOpt,
    PathArg,
    PropertyOpt,
    arg,
    command,
    console,
    emit_json,
    grid,
    json_value,
    open_table,
    parse_pairs,
    parse_ref,
    parse_schema,
    read_input,
    report_write,
    say,
    schema_list,
    snapshot_dict,
)

# --- creating and writing -----------------------------------------------------------


@command("create")
def create(
    path: PathArg,
    from_file: Annotated[
        str | None, typer.Option("--from", help="Parquet, CSV or JSONL file: its rows become v1.")
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option("--schema", metavar="SPEC",
                     help='Empty table: "id:int64,label:string,ts:timestamp\\[us,UTC]".'),
    ] = None,
    message: Annotated[
        str | None, typer.Option(
            "--message", "-m",
            help="Message of the data commit (v1) with --from, else of the create commit (v0).")
    ] = None,
    prop: PropertyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a table from a data file or a schema."""
    if (from_file is None) == (schema is None):
        raise typer.BadParameter("give exactly one of --from FILE or --schema SPEC")
    kwargs: dict[str, Any] = {"properties": parse_pairs(prop, "--property", json_value)}
    if message is not None:
        kwargs["data_message" if from_file is not None else "message"] = message
    if from_file is not None:
        data = read_input(from_file)
        table = tv.create(path, schema=data.schema, data=data, **kwargs)
    else:
        assert schema is not None
        table = tv.create(path, schema=parse_schema(schema), **kwargs)
    s = table.latest()
    if as_json:
        emit_json({"location": table.location, **snapshot_dict(s), "schema": schema_list(s.schema)})
        return
    say(
        f"created {table.location}: version {s.version} ({s.short_id}), {s.num_rows} rows, "
        f"{len(s.schema)} columns"
    )


@command("append")
def append(
    path: PathArg,
    file: Annotated[str, arg("FILE", "Parquet, CSV or JSONL file.")],
    message: MessageOpt,
    prop: PropertyOpt = None,
    merge_schema: Annotated[
        bool, typer.Option("--merge-schema", help="Add new columns, widen int/float columns.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Append the rows of a file as a new version."""
    table = open_table(path)
    before = table.latest()
    data = read_input(file, before.schema)
    after = table.append(
        data, message=message, properties=parse_pairs(prop, "--property", json_value),
        schema_mode="merge" if merge_schema else "strict",
    )
    report_write(before, after, as_json, f"{file} holds no rows")


@command("delete")
def delete(
    path: PathArg,
    where: Annotated[str, arg("WHERE", "SQL predicate: rows where it IS TRUE go.")],
    message: MessageOpt,
    as_json: JsonOpt = False,
) -> None:
    """Delete the rows matching a SQL predicate (rows where it is NULL stay)."""
    table = open_table(path)
    before = table.latest()
    after = table.delete(where, message=message)
    report_write(before, after, as_json, f"no row matches {where!r}")


@command("filter")
def filter_(
    path: PathArg,
    keep: Annotated[str, arg("KEEP", "SQL predicate: rows where it IS TRUE stay.")],
    message: MessageOpt,
    as_json: JsonOpt = False,
) -> None:
    """Keep only the rows matching a SQL predicate (rows where it is NULL go)."""
    table = open_table(path)
    before = table.latest()
    after = table.filter(keep, message=message)
    report_write(before, after, as_json, f"every row matches {keep!r}")


@command("update")
def update(
    path: PathArg,
    set_: Annotated[
        list[str], typer.Option("--set", help="COLUMN=SQL_EXPRESSION (repeatable).",
                                show_default=False)
    ],
    message: MessageOpt,
    where: Annotated[str | None, typer.Option("--where", help="SQL predicate.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set columns to SQL expressions on the matching rows (rows keep their _row_id)."""
    table = open_table(path)
    before = table.latest()
    after = table.update(parse_pairs(set_, "--set"), where, message=message)
    report_write(before, after, as_json, "no row changed")


@command("restore")
def restore(
    path: PathArg,
    ref: Annotated[str, arg("REF", "Version, tag, snapshot-id prefix or ISO time.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What and why.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Make a new version with exactly the content of REF (same fingerprint)."""
    table = open_table(path)
    before = table.latest()
    after = table.restore(parse_ref(table, ref), message=message)
    report_write(before, after, as_json, "the latest already holds that content")


@command("set-property")
def set_property(
    path: PathArg,
    pairs: Annotated[list[str], arg("KEY=VALUE", "KEY=VALUE ... (JSON values are parsed).")],
    message: Annotated[str, typer.Option("--message", "-m", help="What and why.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Set table properties (checkpoint_interval, retention.*, ...)."""
    table = open_table(path)
    before = table.latest()
    after = table.set_properties(parse_pairs(pairs, "KEY=VALUE", json_value), message=message)
    if as_json:
        emit_json({"committed": after.id != before.id, **snapshot_dict(after),
                   "table_properties": table.properties})
        return
    report_write(before, after, False, "no property changed")
    console().print(grid(sorted(table.properties.items()), title="table properties"))
