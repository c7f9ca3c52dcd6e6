"""Creating and writing: create, append, upsert, overwrite, delete, filter, update,
restore, set-property."""

from __future__ import annotations

from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import typer

import tablever as tv
from tablever.cli.common import (
    JsonOpt,
    MessageOpt,
    PathArg,
    ProgressOpt,
    PropertyOpt,
    QuietOpt,
    arg,
    command,
    console,
    emit_json,
    grid,
    json_value,
    open_table,
    parse_pairs,
    plural,
    report_write,
    require_message,
    rows_table,
    say,
    schema_list,
    snapshot_dict,
    split_columns,
    watch,
    watch_new,
)
from tablever.cli.progress import progress_bars
from tablever.inputs import parse_schema as _parse_schema
from tablever.inputs import read_input

ROW_ID = "_row_id"

DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="Count the rows it would change and show a sample; commit nothing.")]

# --- creating and writing -----------------------------------------------------------


@command("create")
def create(
    path: PathArg,
    from_file: Annotated[
        str | None, typer.Option("--from", metavar="FILE", help="Parquet, CSV or JSONL file: its rows become v1.")
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option("--schema", metavar="SPEC",
                     help='Empty table: "id:int64,label:string,ts:timestamp\\[us,UTC]".'),
    ] = None,
    message: Annotated[
        str | None, typer.Option(
            "--message", "-m", metavar="MSG",
            help="Message of the data commit (v1) with --from, else of the create commit (v0).")
    ] = None,
    prop: PropertyOpt = None,
    as_json: JsonOpt = False,
    show_progress: ProgressOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create a table from a data file or a schema."""
    if (from_file is None) == (schema is None):
        raise typer.BadParameter("give exactly one of --from FILE or --schema SPEC")
    if message is not None:
        require_message(message)
    kwargs: dict[str, Any] = {"properties": parse_pairs(prop, "--property", json_value)}
    if message is not None:
        kwargs["data_message" if from_file is not None else "message"] = message
    if from_file is not None:
        data = read_input(from_file)
        watch_new(path)
        # resume=True: an interrupted create left version 0 only; the rerun adds the rows
        # on it (and only on it: a race with another create commits them once)
        with progress_bars(not (as_json or quiet), force=show_progress) as progress:
            table = tv.create(path, schema=data.schema, data=data, resume=True,
                              progress=progress, **kwargs)
    else:
        assert schema is not None
        table = tv.create(path, schema=parse_schema(schema), **kwargs)
    s = table.latest()
    if as_json:
        emit_json({"location": table.location, **snapshot_dict(s), "schema": schema_list(s.schema)})
        return
    if quiet:
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
    show_progress: ProgressOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Append the rows of a file as a new version."""
    require_message(message)
    table = open_table(path)
    before = watch(table)
    data = read_input(file, before.schema)
    with progress_bars(not (as_json or quiet), force=show_progress) as progress:
        after = table.append(
            data, message=message, properties=parse_pairs(prop, "--property", json_value),
            schema_mode="merge" if merge_schema else "strict", progress=progress,
        )
    if not quiet or as_json:
        report_write(before, after, as_json, f"{file} holds no rows")


@command("upsert")
def upsert(
    path: PathArg,
    file: Annotated[str, arg("FILE", "Parquet, CSV or JSONL file.")],
    on: Annotated[str, typer.Option("--on", metavar="COLS", show_default=False,
                                    help="Key columns a,b: rows with a key in FILE replace "
                                    "the table's rows with that key.")],
    message: MessageOpt,
    as_json: JsonOpt = False,
) -> None:
    """Replace the rows whose key is in a file (keeping their _row_id); add the rest."""
    require_message(message)
    keys = split_columns(on) or []
    table = open_table(path)
    before = watch(table)
    data = read_input(file, before.schema)
    after = table.upsert(data, keys, message=message)
    report_write(before, after, as_json, f"{file} changes no row")


@command("overwrite")
def overwrite(
    path: PathArg,
    file: Annotated[str, arg("FILE", "Parquet, CSV or JSONL file.")],
    message: MessageOpt,
    as_json: JsonOpt = False,
    show_progress: ProgressOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Replace every row with the rows of a file (older versions keep theirs)."""
    require_message(message)
    table = open_table(path)
    before = watch(table)
    data = read_input(file, before.schema)
    with progress_bars(not (as_json or quiet), force=show_progress) as progress:
        after = table.overwrite(data, message=message, allow_empty=data.num_rows == 0,
                                progress=progress)
    if not quiet or as_json:
        report_write(before, after, as_json, "the table already holds exactly those rows")


_SAMPLE = 5


def _dry_run(table: tv.Table, going: pa.Table, total: int, what: str, as_json: bool) -> None:
    """What a delete, filter or update would change: a count and a few rows."""
    s = table.latest()
    if as_json:
        emit_json({"dry_run": True, "version": s.version, "rows": going.num_rows,
                   "total": total, "sample": going.slice(0, _SAMPLE).to_pylist()})
        return
    say(f"would {what} {plural(going.num_rows, 'row')} of {total} in version {s.version}; "
        "nothing committed")
    if going.num_rows:
        shown = min(_SAMPLE, going.num_rows)
        console().print(rows_table(going.slice(0, _SAMPLE),
                                   title=f"{shown} of {going.num_rows}"))


@command("delete")
def delete(
    path: PathArg,
    where: Annotated[str, arg("WHERE", "SQL predicate: rows where it IS TRUE go.")],
    message: MessageOpt,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete the rows matching a SQL predicate (rows where it is NULL stay)."""
    require_message(message)
    table = open_table(path)
    if dry_run:
        s = table.latest()
        _dry_run(table, s.to_arrow(where=where, with_row_id=True), s.num_rows, "delete",
                 as_json)
        return
    before = watch(table)
    after = table.delete(where, message=message)
    report_write(before, after, as_json, f"no row matches {where!r}")


@command("filter")
def filter_(
    path: PathArg,
    keep: Annotated[str, arg("KEEP", "SQL predicate: rows where it IS TRUE stay.")],
    message: MessageOpt,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Keep only the rows matching a SQL predicate (rows where it is NULL go)."""
    require_message(message)
    table = open_table(path)
    if dry_run:
        s = table.latest()
        kept = s.to_arrow(where=keep, with_row_id=True).column(ROW_ID)
        rows = s.to_arrow(with_row_id=True)
        going = rows.filter(pc.invert(pc.is_in(rows.column(ROW_ID), value_set=kept)))
        _dry_run(table, going, s.num_rows, "drop", as_json)
        return
    before = watch(table)
    after = table.filter(keep, message=message)
    report_write(before, after, as_json, f"every row matches {keep!r}")


@command("update")
def update(
    path: PathArg,
    set_: Annotated[
        list[str], typer.Option("--set", metavar="COLUMN=EXPR", help="COLUMN=SQL_EXPRESSION (repeatable).",
                                show_default=False)
    ],
    message: MessageOpt,
    where: Annotated[str | None, typer.Option("--where", metavar="SQL", help="SQL predicate.")] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Set columns to SQL expressions on the matching rows (rows keep their _row_id)."""
    require_message(message)
    assignments = parse_pairs(set_, "--set", str.strip)
    table = open_table(path)
    if dry_run:
        s = table.latest()
        _dry_run(table, s.to_arrow(where=where, with_row_id=True), s.num_rows, "update",
                 as_json)
        return
    before = watch(table)
    after = table.update(assignments, where, message=message)
    report_write(before, after, as_json, "no row changed")


@command("restore")
def restore(
    path: PathArg,
    ref: Annotated[str, arg("REF", "Version, tag, snapshot-id prefix or ISO time.")],
    message: Annotated[str, typer.Option("--message", "-m", metavar="MSG", help="What and why.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Make a new version with exactly the content of REF (same fingerprint)."""
    table = open_table(path)
    before = watch(table)
    after = table.restore(ref, message=message)
    report_write(before, after, as_json, "the latest already holds that content")


@command("set-property")
def set_property(
    path: PathArg,
    pairs: Annotated[list[str], arg("KEY=VALUE", "KEY=VALUE ... (JSON values are parsed).")],
    message: Annotated[str, typer.Option("--message", "-m", metavar="MSG", help="What and why.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Set table properties (checkpoint_interval, retention.*, ...)."""
    table = open_table(path)
    before = watch(table)
    after = table.set_properties(parse_pairs(pairs, "KEY=VALUE", json_value), message=message)
    if as_json:
        emit_json({"committed": after.id != before.id, **snapshot_dict(after),
                   "table_properties": table.properties})
        return
    report_write(before, after, False, "no property changed")
    console().print(grid(sorted(table.properties.items()), title="table properties"))


def parse_schema(spec: str) -> Any:
    """``--schema`` as an Arrow schema; a malformed spec is a usage error (exit 2)."""
    try:
        return _parse_schema(spec)
    except tv.InvalidValueError as exc:
        raise typer.BadParameter(str(exc).removeprefix("schema spec: "),
                                 param_hint="--schema") from exc
