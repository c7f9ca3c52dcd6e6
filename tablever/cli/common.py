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
import json
import math
import os
import re
import sys
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, TypeVar, cast

import pyarrow as pa
import typer
from rich.console import Console, Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

import tablever as tv

__all__ = ["CliError", "app", "command", "group"]

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

    from tablever.write import read_parquet

    kind = _input_kind(file)
    if not os.path.isfile(file):
        raise CliError(f"no such file: {file}")
    try:
        if kind == "parquet":
            return read_parquet(file, threads=True)
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

