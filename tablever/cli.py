"""The ``tablever`` command line: a thin skin over the public API.

Each verb is one function that opens the table with ``tv.open``, calls one public
method and prints a Rich table for people, or JSON for scripts (``--json``: one JSON
document on stdout, nothing else). Any error a user can cause (a ``tv.TableverError``,
a missing or unreadable input file) becomes one line on stderr, ``error: <message>``,
and exit code 1; usage errors (a bad option, a malformed ``KEY=VALUE``) exit 2 as in
Click.

Adding a verb: write one function decorated with ``@command("verb")`` (or
``@command("verb", group=sub_app)`` for a sub-group made with :func:`group`) and use the
shared helpers: :func:`open_table`, :func:`parse_ref`, :func:`parse_pairs`,
:func:`emit_json`, :func:`snapshot_dict`, :func:`report_write`, :func:`rows_table`.
Raise :class:`CliError` for a user mistake the CLI itself detects.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import math
import os
import re
import sys
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, TypeVar, cast

import pyarrow as pa
import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table as RichTable
from rich.text import Text

import tablever as tv

__all__ = ["CliError", "app", "command", "group", "main"]

F = TypeVar("F", bound=Callable[..., Any])
Ref = int | str | None

app = typer.Typer(
    name="tablever",
    help="Row-level time travel for versioned datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class CliError(Exception):
    """A user mistake the CLI itself detects (an unreadable input file, say)."""


# --- shared helpers: errors, output, parsing ----------------------------------------


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, tv.TableverError) and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def fail(exc: BaseException) -> None:
    """Print ``error: <message>`` on stderr and exit 1 (no traceback)."""
    typer.echo(f"error: {_one_line(exc)}", err=True)
    raise typer.Exit(1)


def guard(fn: F) -> F:
    """Map user errors raised by ``fn`` to :func:`fail`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            raise  # Click handles a closed pipe (``tablever read ... | head``)
        except (tv.TableverError, CliError, OSError) as exc:
            fail(exc)

    return cast(F, wrapper)


def command(name: str, *, group: typer.Typer | None = None, **kwargs: Any) -> Callable[[F], F]:
    """Register ``fn`` as verb ``name`` (of ``group``, default the root app), guarded."""

    def decorate(fn: F) -> F:
        guarded = guard(fn)
        (group or app).command(name, **kwargs)(guarded)
        return guarded

    return decorate


def group(name: str, help: str) -> typer.Typer:  # noqa: A002 - Typer's own keyword
    """A sub-command group (``tablever NAME VERB ...``) attached to the root app."""
    sub = typer.Typer(help=help, no_args_is_help=True, add_completion=False)
    app.add_typer(sub, name=name)
    return sub


def console() -> Console:
    # Made per call: the width (COLUMNS) and the stream are those of this invocation.
    return Console(highlight=False, soft_wrap=False)


def say(line: str | Text) -> None:
    """One line for people on stdout (never wrapped, never read as markup)."""
    console().print(line if isinstance(line, Text) else Text(line), soft_wrap=True)


def jsonable(value: Any) -> Any:
    """``value`` with datetimes, decimals, bytes and non-finite floats made JSON-safe."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def emit_json(value: Any) -> None:
    """The one JSON document of a ``--json`` command, on stdout."""
    sys.stdout.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")


def open_table(path: str) -> tv.Table:
    return tv.open(path)


_SHORT_INT = re.compile(r"^-?[0-9]{1,5}$")


def parse_ref(table: tv.Table, text: str | None) -> Ref:
    """A REF argument: digits are a version (negative counts back from the latest),
    anything else (tag, snapshot-id prefix, ISO time) goes to the library as is.

    A tag named like a number wins over the version, as in ``Table.as_of``. Six or more
    digits stay a string, so the library can try them as an id prefix first.
    """
    if text is None:
        return None
    text = text.strip()
    if _SHORT_INT.match(text) and (
        text.startswith("-") or text not in {r.name for r in table.tag_records()}
    ):
        return int(text)
    return text


def parse_pairs(
    items: Iterable[str] | None, option: str, value: Callable[[str], Any] = str
) -> dict[str, Any]:
    """``KEY=VALUE`` items as a dict (a usage error, exit 2, if malformed)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        out[key.strip()] = value(raw)
    return out


def json_value(raw: str) -> Any:
    """JSON when ``raw`` parses as JSON (``10``, ``true``, ``[1,2]``), else the string."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, float) and not math.isfinite(value):
        return raw
    return value


def number_value(raw: str) -> Any:
    """An int or float when ``raw`` parses as one, else the string."""
    for kind in (int, float):
        try:
            number = kind(raw)
        except ValueError:
            continue
        if isinstance(number, float) and not math.isfinite(number):
            return raw
        return number
    return raw


def split_columns(text: str | None) -> list[str] | None:
    if text is None:
        return None
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise typer.BadParameter("expected a comma-separated list of column names")
    return cols


# --- schema specs and input files ---------------------------------------------------


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside brackets: ``a:int64,ts:timestamp[us,UTC]`` is two parts."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(<":
            depth += 1
        elif ch in "])>":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


_TIMESTAMP = re.compile(r"^timestamp\[\s*(\w+)\s*(?:,\s*(?:tz\s*=\s*)?([^\]]+?)\s*)?\]$")
_DECIMAL = re.compile(r"^decimal(128|256)?\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_LIST = re.compile(r"^(list|large_list)<(.+)>$")
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")


def parse_type(text: str) -> pa.DataType:
    """An Arrow type from its name: ``int64``, ``string``, ``float64``, ``bool``,
    ``date32``, ``timestamp[us]``, ``timestamp[us,UTC]``, ``decimal(10,2)``,
    ``list<string>``, or any other ``pyarrow.type_for_alias`` name."""
    text = text.strip()
    if m := _TIMESTAMP.match(text):
        unit, tz = m.group(1), m.group(2)
        if unit not in ("s", "ms", "us", "ns"):
            raise ValueError(f"timestamp unit must be s, ms, us or ns, not {unit!r}")
        if tz and not _OFFSET.match(tz):
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {tz!r}") from exc
        return pa.timestamp(unit, tz=tz)
    if m := _DECIMAL.match(text):
        precision, scale = int(m.group(2)), int(m.group(3))
        wide = m.group(1) == "256" or precision > 38
        return pa.decimal256(precision, scale) if wide else pa.decimal128(precision, scale)
    if m := _LIST.match(text):
        inner = parse_type(m.group(2))
        return pa.list_(inner) if m.group(1) == "list" else pa.large_list(inner)
    return pa.type_for_alias(text)


def parse_schema(spec: str) -> pa.Schema:
    """``"id:int64,label:string,ts:timestamp[us,UTC]"`` as an Arrow schema."""
    fields = []
    for part in _split_top(spec):
        name, sep, type_text = part.partition(":")
        if not sep or not name.strip() or not type_text.strip():
            raise typer.BadParameter(f"expected NAME:TYPE, got {part!r}", param_hint="--schema")
        try:
            fields.append(pa.field(name.strip(), parse_type(type_text)))
        except (ValueError, TypeError, pa.ArrowException) as exc:
            raise typer.BadParameter(
                f"column {name.strip()!r}: {exc}", param_hint="--schema"
            ) from exc
    return pa.schema(fields)


_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")
_KINDS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
          ".jsonl": "json", ".ndjson": "json", ".json": "json"}


def _input_kind(file: str) -> str:
    name = file.lower()
    for ext in _COMPRESSED:
        name = name.removesuffix(ext)
    kind = _KINDS.get(os.path.splitext(name)[1])
    if kind is None:
        raise CliError(
            f"cannot tell the format of {file}: name it .parquet, .csv, .tsv or .jsonl"
        )
    return kind


def _castable(src: pa.DataType, dst: pa.DataType) -> bool:
    """JSON carries only a few types: widen numbers, parse times; anything else is left
    for the library to report as a schema mismatch."""
    t = pa.types
    if t.is_null(src):
        return True
    if t.is_integer(src):
        return t.is_integer(dst) or t.is_floating(dst) or t.is_decimal(dst)
    if t.is_floating(src):
        return t.is_floating(dst) or t.is_decimal(dst)
    if t.is_temporal(dst):
        return t.is_string(src) or t.is_large_string(src) or t.is_temporal(src)
    return False


def _coerce(data: pa.Table, schema: pa.Schema) -> pa.Table:
    for i, field in enumerate(data.schema):
        idx = schema.get_field_index(field.name)
        if idx < 0 or field.type == schema.field(idx).type:
            continue
        target = schema.field(idx).type
        if _castable(field.type, target):
            # On failure the column stays as read: the library names it and both types.
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                data = data.set_column(i, field.name, data.column(i).cast(target))
    return data


def read_input(file: str, schema: pa.Schema | None = None) -> pa.Table:
    """Rows of a Parquet, CSV/TSV or JSON Lines file (compressed or not), by extension.

    Text formats carry no (or few) types: given the table's ``schema``, its columns are
    parsed as the table's types, so ``1`` lands in a float column and ISO strings in a
    timestamp column.
    """
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    kind = _input_kind(file)
    if not os.path.isfile(file):
        raise CliError(f"no such file: {file}")
    try:
        if kind == "parquet":
            return pq.read_table(file)
        if kind in ("csv", "tsv"):
            types = {}
            if schema is not None:
                types = {f.name: f.type for f in schema if not pa.types.is_nested(f.type)}
            return pcsv.read_csv(
                file,
                parse_options=pcsv.ParseOptions(delimiter="\t" if kind == "tsv" else ","),
                convert_options=pcsv.ConvertOptions(column_types=types),
            )
        data = pjson.read_json(file)
        return data if schema is None else _coerce(data, schema)
    except pa.ArrowException as exc:
        raise CliError(f"cannot read {file}: {_one_line(exc)}") from exc


# --- rendering ----------------------------------------------------------------------


def fmt_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def fmt_rows(summary: Mapping[str, Any]) -> Text:
    added, deleted = summary.get("added_rows", 0), summary.get("deleted_rows", 0)
    text = Text()
    text.append(f"+{added}", style="green" if added else "dim")
    text.append("/")
    text.append(f"\u2212{deleted}", style="red" if deleted else "dim")
    return text


def fmt_pairs(values: Mapping[str, Any]) -> Text:
    return Text("\n".join(f"{k}={_scalar(v)}" for k, v in values.items()))


def fmt_provenance(p: Mapping[str, Any]) -> Text:
    """git commit (dirty), host, python and tablever versions, on one line."""
    lines = []
    if p.get("git_commit"):
        dirty = " (dirty)" if p.get("git_dirty") else ""
        lines.append(f"git {str(p['git_commit'])[:12]}{dirty}")
    for key, label in (("host", "host"), ("python", "python"), ("tablever_version", "tablever")):
        if p.get(key):
            lines.append(f"{label} {p[key]}")
    return Text(", ".join(lines))


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(jsonable(value), ensure_ascii=False)
    return str(jsonable(value))


def cell(value: Any) -> Text:
    """A table cell; user text is never read as Rich markup."""
    if value is None:
        return Text("null", style="dim")
    return Text(_scalar(value))


def new_table(
    title: str | None, columns: Iterable[str | tuple[str, dict[str, Any]]], **kwargs: Any
) -> RichTable:
    """A Rich table whose title and headers are plain text (never markup); a column is a
    name or ``(name, add_column keyword arguments)``; ``kwargs`` go to the table."""
    table = RichTable(
        title=Text(title, style="bold") if title else None, title_justify="left", **kwargs
    )
    for col in columns:
        name, opts = (col, {}) if isinstance(col, str) else col
        table.add_column(Text(name), **{"overflow": "fold", **opts})
    return table


def add_row(table: RichTable, *values: Any) -> None:
    table.add_row(*(v if isinstance(v, Text) else cell(v) for v in values))


def rows_table(data: pa.Table, title: str | None = None) -> RichTable:
    table = new_table(title, data.column_names)
    for row in data.to_pylist():
        add_row(table, *row.values())
    return table


def grid(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> RenderableType:
    """Key/value lines under a bold title."""
    table = RichTable(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in pairs:
        table.add_row(Text(key), value if isinstance(value, Text) else cell(value))
    return table if title is None else Group(Text(title, style="bold"), table)


def snapshot_dict(s: tv.Snapshot) -> dict[str, Any]:
    return {
        "version": s.version,
        "id": s.id,
        "short_id": s.short_id,
        "parent_id": s.parent_id,
        "timestamp": s.timestamp.isoformat(timespec="milliseconds"),
        "operation": s.operation,
        "message": s.message,
        "author": s.author,
        "num_rows": s.num_rows,
        "summary": s.summary,
        "properties": s.properties,
        "provenance": s.provenance,
        "fingerprint": s.fingerprint,
    }


def schema_list(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def run_dict(run: tv.Run) -> dict[str, Any]:
    return {**run.to_dict(), "created_at": run.created_at.isoformat(timespec="milliseconds")}


def runs_table(runs: list[tv.Run], title: str | None = None) -> RichTable:
    table = new_table(title, ["run", ("version", {"justify": "right"}), "id", "model", "metrics",
                              "params", "artifact", "created (UTC)"])
    for r in runs:
        add_row(table, r.run_id, r.version, r.snapshot_id[:12], r.model, fmt_pairs(r.metrics),
                fmt_pairs(r.params), r.artifact_uri, fmt_time(r.created_at))
    return table


def report_write(before: tv.Snapshot, after: tv.Snapshot, as_json: bool, nothing: str) -> None:
    """The outcome of a write: the new version, or why nothing was committed."""
    committed = after.id != before.id
    if as_json:
        emit_json({"committed": committed, **snapshot_dict(after)})
        return
    if not committed:
        say(
            f"nothing to commit: {nothing}; the latest is still version {after.version} "
            f"({after.short_id})"
        )
        return
    line = Text(f"version {after.version} ({after.short_id}) {after.operation}: ")
    line.append_text(fmt_rows(after.summary))
    line.append(f" rows, {after.num_rows} total")
    if after.message:
        line.append(f" \u2014 {after.message}")
    say(line)


# --- shared option types ------------------------------------------------------------


def arg(metavar: str, help: str) -> Any:  # noqa: A002 - Typer's own keyword
    """A positional argument shown as ``metavar`` in the usage line."""
    return typer.Argument(metavar=metavar, help=help, show_default=False)


PathArg = Annotated[str, arg("PATH", "The table's location (a folder).")]
RefArg = Annotated[str | None, arg("REF", "Version, tag, snapshot-id prefix or ISO time "
                                          "(default: latest).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
MessageOpt = Annotated[str, typer.Option("--message", "-m", help="What changed and why.")]
PropertyOpt = Annotated[
    list[str] | None,
    typer.Option("--property", help="KEY=VALUE (repeatable); JSON values are parsed."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tablever {tv.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Row-level time travel for versioned datasets: every change is an immutable,
    content-addressed snapshot you can read again exactly."""


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
        str | None, typer.Option("--message", "-m", help="Message of the create commit (v0).")
    ] = None,
    prop: PropertyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a table from a data file or a schema."""
    if (from_file is None) == (schema is None):
        raise typer.BadParameter("give exactly one of --from FILE or --schema SPEC")
    kwargs: dict[str, Any] = {"properties": parse_pairs(prop, "--property", json_value)}
    if message is not None:
        kwargs["message"] = message
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


# --- reading history ------------------------------------------------------------------


@command("log")
def log(
    path: PathArg,
    limit: Annotated[int | None, typer.Option("-n", "--limit", min=0,
                                              help="Show the newest N versions.")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose",
                                          help="Add author, provenance and properties.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The versions of a table, newest first, with their tags and linked runs."""
    table = open_table(path)
    snaps = table.history(limit=limit)
    tags: dict[int, list[str]] = defaultdict(list)
    for rec in table.tag_records():
        tags[rec.version].append(rec.name)
    runs: dict[int, list[str]] = defaultdict(list)
    for run in table.runs():
        runs[run.version].append(run.run_id)
    if as_json:
        emit_json([
            {**snapshot_dict(s), "tags": tags[s.version], "runs": runs[s.version]} for s in snaps
        ])
        return
    if verbose:
        _log_blocks(snaps, tags, runs)
        return
    # A light grid; below ~100 columns the time wraps (date over time) before the message.
    con = console()
    fixed: dict[str, Any] = {"no_wrap": True}
    right: dict[str, Any] = {"justify": "right"}
    when = fixed if con.width >= 96 else {"min_width": 10}
    out = new_table(table.location, [
        ("version", {**right, **fixed}), ("id", fixed), ("time (UTC)", when),
        ("operation", {"min_width": 7}), ("rows \u00b1", {**right, **fixed}), ("total", right),
        ("message", {"min_width": 8}), ("tags", {"style": "yellow", "min_width": 4}),
        ("runs", {**right, "min_width": 4}),
    ], box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    for s in snaps:
        add_row(
            out, s.version, s.short_id, fmt_time(s.timestamp), s.operation, fmt_rows(s.summary),
            s.num_rows, s.message, ", ".join(tags[s.version]),
            len(runs[s.version]) if runs[s.version] else "",
        )
    con.print(out)


def _log_blocks(
    snaps: list[tv.Snapshot], tags: Mapping[int, list[str]], runs: Mapping[int, list[str]]
) -> None:
    """``log -v``: one block per version, like ``git log``, so any width reads well."""
    con = console()
    for s in snaps:
        head = Text()
        head.append(f"version {s.version}", style="bold")
        head.append(f"  {s.short_id}  {fmt_time(s.timestamp)} UTC  {s.operation}  ")
        head.append_text(fmt_rows(s.summary))
        head.append(f"  {s.num_rows} rows")
        if tags[s.version]:
            head.append(f"  tags: {', '.join(tags[s.version])}", style="yellow")
        if runs[s.version]:
            head.append(f"  runs: {', '.join(runs[s.version])}")
        con.print(head)
        con.print(Padding(grid([
            ("message", s.message), ("author", s.author),
            ("provenance", fmt_provenance(s.provenance)), ("properties", fmt_pairs(s.properties)),
        ]), (0, 0, 1, 4)))


@command("show")
def show(
    path: PathArg,
    ref: RefArg = None,
    rows: Annotated[int, typer.Option("-n", "--rows", min=0, help="First rows to show.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """One version: summary, schema, tags, linked runs, provenance and first rows."""
    table = open_table(path)
    s = table.as_of(parse_ref(table, ref))
    tags = [r for r in table.tag_records() if r.version == s.version]
    runs = [r for r in table.runs() if r.version == s.version]
    # The snapshot's own order; Snapshot has no limit yet, so this reads it whole.
    head = s.to_arrow().slice(0, rows) if rows else None
    files, nbytes = len(s.files), s.summary.get("total_bytes")
    if as_json:
        emit_json({
            **snapshot_dict(s), "num_files": files, "bytes": nbytes, "files": s.files,
            "schema": schema_list(s.schema), "tags": [t.name for t in tags],
            "runs": [run_dict(r) for r in runs],
            "head": head.to_pylist() if head is not None else [],
        })
        return
    parent = f"{s.parent_id[:12]} (v{s.version - 1})" if s.parent_id else "none"
    con = console()
    con.print(grid([
        ("version", str(s.version)), ("id", s.id), ("parent", parent),
        ("time", s.timestamp.isoformat(sep=" ", timespec="milliseconds")),
        ("operation", s.operation), ("message", s.message), ("author", s.author),
        ("rows", str(s.num_rows)), ("files", str(files)), ("bytes", str(nbytes)),
        ("fingerprint", s.fingerprint), ("properties", fmt_pairs(s.properties)),
    ], title=f"{table.location} @ version {s.version}"))
    schema = new_table("schema", ["column", "type", "nullable"])
    for f in s.schema:
        add_row(schema, f.name, str(f.type), "yes" if f.nullable else "no")
    con.print(schema)
    con.print(grid([(t.name, Text(f"{fmt_time(utc_ms(t.created_ms))} {t.message}".strip()))
                    for t in tags] or [("none", "")], title="tags"))
    if runs:
        con.print(runs_table(runs, title="linked runs"))
    con.print(grid([(k, cell(v)) for k, v in s.provenance.items()] or [("none", "")],
                   title="provenance"))
    if head is not None:
        more = s.num_rows - head.num_rows
        title = f"first {head.num_rows} of {s.num_rows} rows" if more > 0 else f"{s.num_rows} rows"
        con.print(rows_table(head, title=title))


@command("diff")
def diff(
    path: PathArg,
    a: Annotated[str, arg("A", "From this ref.")],
    b: Annotated[str | None, arg("B", "To this ref (default: latest).")] = None,
    on: Annotated[
        str | None, typer.Option("--on", metavar="COLS", help="Key columns a,b: report updates.")
    ] = None,
    sample: Annotated[int, typer.Option("-n", "--sample", min=0, help="Sample rows per kind.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """What changed between two versions: counts, then sample rows."""
    table = open_table(path)
    keys = split_columns(on)
    d = table.diff(parse_ref(table, a), parse_ref(table, b), on=keys)
    kinds = {"added": d.added, "removed": d.removed}
    if keys and d.inserted is not None and d.deleted is not None:
        kinds = {"inserted": d.inserted, "deleted": d.deleted}
    updated = _updates(d.updated.slice(0, sample), keys) if keys and d.updated is not None else []
    if as_json:
        emit_json({
            "a": d.a, "b": d.b, "on": keys, "summary": d.summary,
            "schema_changes": d.schema_changes,
            **{k: v.slice(0, sample).to_pylist() for k, v in kinds.items()},
            **({"updated": updated} if keys else {}),
        })
        return
    con = console()
    con.print(grid([(k, str(v)) for k, v in d.summary.items()],
                   title=f"diff version {d.a} \u2192 {d.b}"))
    for what, cols in d.schema_changes.items():
        con.print(Text(f"{what.replace('_', ' ')}: {_scalar(cols)}"))
    for kind, rows in kinds.items():
        if sample and rows.num_rows:
            con.print(rows_table(rows.slice(0, sample),
                                 title=f"{kind} ({min(sample, rows.num_rows)} of {rows.num_rows})"))
    if updated and keys:
        out = new_table(f"updated ({len(updated)} of {d.summary.get('updated', 0)})",
                        [*keys, "_row_id", "changes"])
        for u in updated:
            changes = "\n".join(
                f"{c}: {_scalar(u['before'].get(c))} \u2192 {_scalar(u['after'].get(c))}"
                for c in u["changed"]
            )
            add_row(out, *(u["key"][k] for k in keys), u["_row_id"], Text(changes))
        con.print(out)


def _updates(rows: pa.Table, keys: list[str]) -> list[dict[str, Any]]:
    out = []
    for r in rows.to_pylist():
        changed = list(r.get("_changed") or [])
        out.append({
            "key": {k: r[k] for k in keys},
            "_row_id": r.get("_row_id"),
            "changed": changed,
            "before": {c: (r.get("before") or {}).get(c) for c in changed},
            "after": {c: (r.get("after") or {}).get(c) for c in changed},
        })
    return out


# --- tags and runs ------------------------------------------------------------------


@command("tag")
def tag(
    path: PathArg,
    name: Annotated[str, arg("NAME", "Tag name, e.g. v1.0.")],
    ref: RefArg = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Why this version.")] = "",
    force: Annotated[bool, typer.Option("--force", help="Move an existing tag.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Name a version (tags are immutable unless --force)."""
    table = open_table(path)
    s = table.tag(name, parse_ref(table, ref), message=message, force=force)
    if as_json:
        emit_json({"tag": name, **snapshot_dict(s)})
        return
    say(f"tagged version {s.version} ({s.short_id}) as {name}")


@command("tags")
def tags(path: PathArg, as_json: JsonOpt = False) -> None:
    """Every tag with its version."""
    table = open_table(path)
    records = sorted(table.tag_records(), key=lambda r: (r.version, r.name))
    if as_json:
        emit_json([{
            "name": r.name, "version": r.version, "id": r.id, "message": r.message,
            "author": r.author,
            "created_at": utc_ms(r.created_ms).isoformat(timespec="milliseconds"),
        } for r in records])
        return
    out = new_table(f"tags of {table.location}",
                    ["tag", ("version", {"justify": "right"}), "id", "created (UTC)", "author",
                     "message"])
    for r in records:
        add_row(out, r.name, r.version, r.id[:12], fmt_time(utc_ms(r.created_ms)), r.author,
                r.message)
    console().print(out)


@command("runs")
def runs(path: PathArg, ref: RefArg = None, as_json: JsonOpt = False) -> None:
    """Model runs linked to the table (or to one version)."""
    table = open_table(path)
    found = table.runs(parse_ref(table, ref))
    if as_json:
        emit_json([run_dict(r) for r in found])
        return
    console().print(runs_table(found, title=f"runs of {table.location}"))


@command("link-run")
def link_run(
    path: PathArg,
    run_id: Annotated[str, arg("RUN_ID", "The run's id (e.g. an MLflow run id).")],
    ref: Annotated[str | None, typer.Option("--ref", help="The version trained on.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model name.")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="KEY=NUMBER.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="KEY=VALUE (JSON).")] = None,
    artifact_uri: Annotated[str | None, typer.Option("--artifact-uri")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing link.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Record that a model run trained on a version."""
    table = open_table(path)
    run = table.link_run(
        run_id, parse_ref(table, ref), model=model,
        metrics=parse_pairs(metric, "--metric", number_value),
        params=parse_pairs(param, "--param", json_value),
        artifact_uri=artifact_uri, force=force,
    )
    if as_json:
        emit_json(run_dict(run))
        return
    say(f"linked run {run.run_id} to version {run.version} "
        f"({run.snapshot_id[:12]})")


# --- reading data ---------------------------------------------------------------------

_FORMATS = ("table", "csv", "json", "jsonl", "parquet")
_OUT_EXT = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".parquet": "parquet", ".pq": "parquet"}
_TABLE_ROWS = 50


@command("read")
def read(
    path: PathArg,
    ref: RefArg = None,
    columns: Annotated[str | None, typer.Option("--columns", help="a,b,c")] = None,
    where: Annotated[str | None, typer.Option("--where", help="SQL predicate.")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="table, csv, json (one array), jsonl or parquet; "
        "default: from -o's extension, else table.")] = None,
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write to FILE.")] = None,
    limit: Annotated[
        int | None, typer.Option("-n", "--limit", min=0, help="At most N rows.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Export the rows of a version."""
    if as_json:
        fmt = "json"
    if fmt is None:
        ext = os.path.splitext(output or "")[1].lower()
        fmt = _OUT_EXT.get(ext, "table") if output else "table"
    if fmt not in _FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(_FORMATS)}",
                                 param_hint="--format")
    if fmt == "parquet" and output is None:
        raise typer.BadParameter("parquet needs -o FILE", param_hint="--format")
    if fmt == "table" and output is not None:
        raise typer.BadParameter("table prints to the terminal; use csv, json, jsonl or parquet "
                                 "with -o", param_hint="--format")
    table = open_table(path)
    s = table.as_of(parse_ref(table, ref))
    data = s.to_arrow(split_columns(columns), where)
    total = data.num_rows
    if limit is not None:
        data = data.slice(0, limit)
    elif fmt == "table":
        data = data.slice(0, _TABLE_ROWS)
    if fmt == "table":
        title = f"version {s.version}: {data.num_rows} of {total} rows"
        console().print(rows_table(data, title=title))
        return
    payload = _encode(data, fmt)
    if output is None:
        sys.stdout.write(payload.decode("utf-8"))
        return
    with open(output, "wb") as f:
        f.write(payload)
    say(f"wrote {data.num_rows} rows of version {s.version} to {output}")


def _encode(data: pa.Table, fmt: str) -> bytes:
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            sink = io.BytesIO()
            pq.write_table(data, sink)
            return sink.getvalue()
        if fmt == "csv":
            import pyarrow.csv as pcsv

            sink = io.BytesIO()
            pcsv.write_csv(data, sink)
            return sink.getvalue()
    except pa.ArrowException as exc:
        raise CliError(f"cannot write {fmt}: {_one_line(exc)}") from exc
    rows = jsonable(data.to_pylist())
    if fmt == "json":
        return (json.dumps(rows, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


@command("verify")
def verify(path: PathArg, ref: RefArg = None, as_json: JsonOpt = False) -> None:
    """Re-hash every file of a version; exit 1 naming the bad files on a mismatch."""
    table = open_table(path)
    s = table.as_of(parse_ref(table, ref), verify=True)
    if as_json:
        emit_json({"ok": True, **snapshot_dict(s), "files": s.files})
        return
    say(
        f"ok: version {s.version} ({s.short_id}): {len(s.files)} data files match their "
        f"SHA-256; fingerprint {s.fingerprint[:12]}"
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tablever`` script and ``python -m tablever``."""
    app(args=argv, prog_name="tablever")
