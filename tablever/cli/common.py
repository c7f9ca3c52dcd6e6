"""The ``tablever`` command line: a thin skin over the public API.

Each verb is one function that opens the table with ``tv.open``, calls one public
method and prints a Rich table for people, or JSON for scripts (``--json``: one JSON
document on stdout, nothing else). Any error a user can cause (a ``tv.TableverError``,
a missing or unreadable input file) becomes one line on stderr, ``error: <message>``,
and exit code 1; usage errors (a bad option, a malformed ``KEY=VALUE``) exit 2 as in
Click.

Input files and ``--schema`` specs are read by :mod:`tablever.inputs` (the library).

Adding a verb: write one function decorated with ``@command("verb")`` (or
``@command("verb", group=sub_app)`` for a sub-group made with :func:`group`) and use the
shared helpers: :func:`open_table`, :func:`parse_pairs`,
:func:`emit_json`, :func:`snapshot_dict`, :func:`report_write`, :func:`rows_table`.
Raise :class:`CliError` for a user mistake the CLI itself detects.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import sys
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
from tablever.cli.helpformat import HelpCommand, HelpGroup
from tablever.format.layout import LOG_DIR

__all__ = ["CliError", "app", "command", "group"]

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="tablever",
    cls=HelpGroup,
    help="Row-level time travel for versioned datasets.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion [bash|zsh|fish]
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


def fail(exc: BaseException, *, statement: str | None = None, dialect: str | None = None) -> None:
    """Print ``error: <message>`` on stderr and exit 1 (no traceback). An error in SQL
    (the user's ``statement``, else the one the error carries) adds the statement's line
    and a caret under the wrong token, when the position is known."""
    if isinstance(exc, tv.InvalidPredicateError):
        from tablever.cli.sqlerrors import sql_error_lines

        lines = sql_error_lines(exc, statement, dialect=dialect)
        if lines is not None:
            typer.echo("\n".join([f"error: {lines[0]}", *lines[1:]]), err=True)
            raise typer.Exit(1)
    typer.echo(f"error: {_one_line(exc)}", err=True)
    raise typer.Exit(1)


# The table a running write verb changes and its latest version before the write, so
# that Ctrl-C can say whether the write committed.
_watched: list[tuple[Callable[[], tv.Table], int]] = []


def watch(table: tv.Table) -> tv.Snapshot:
    """The latest snapshot of ``table``, remembered as the version before this write."""
    before = table.latest()
    _watched.append((lambda: table, before.version))
    return before


def watch_new(path: str) -> None:
    """Remember that a table is being created at ``path`` (there was none before)."""
    _watched.append((lambda: tv.open(path), -1))


def _interrupted() -> str:
    for opened, version in _watched:
        try:
            table = opened()
            latest = table.latest()
        except tv.TableNotFoundError:
            continue
        except Exception:  # the report must not fail: say what is known
            return "interrupted"
        if latest.version > version:
            line = (f"interrupted: version {latest.version} ({latest.short_id}) of "
                    f"{table.location} was committed")
            if version < 0 and latest.num_rows == 0:
                line += " (the empty table); rerun the same command to add the rows"
            return line
    return "interrupted: nothing committed"


def guard(fn: F) -> F:
    """Map user errors raised by ``fn`` to :func:`fail`, and Ctrl-C to one line and exit
    code 130 (saying whether a write committed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _watched.clear()
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            raise  # Click handles a closed pipe (``tablever read ... | head``)
        except KeyboardInterrupt:
            typer.echo(_interrupted(), err=True)
            raise typer.Exit(130) from None
        except (tv.TableverError, CliError, OSError) as exc:
            fail(exc)
        finally:
            _watched.clear()

    return cast(F, wrapper)


def command(name: str, *, group: typer.Typer | None = None, **kwargs: Any) -> Callable[[F], F]:
    """Register ``fn`` as verb ``name`` (of ``group``, default the root app), guarded."""

    def decorate(fn: F) -> F:
        guarded = guard(fn)
        (group or app).command(name, cls=kwargs.pop("cls", HelpCommand), **kwargs)(guarded)
        return guarded

    return decorate


def group(name: str, help: str) -> typer.Typer:  # noqa: A002 - Typer's own keyword
    """A sub-command group (``tablever NAME VERB ...``) attached to the root app."""
    sub = typer.Typer(help=help, no_args_is_help=True, add_completion=False, cls=HelpGroup)
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


def table_root(path: str) -> str | None:
    """The table folder ``path`` is, or lies inside of; None if it is in no table."""
    here = os.path.abspath(path)
    while True:
        if os.path.isdir(os.path.join(here, LOG_DIR)):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def open_table(path: str) -> tv.Table:
    try:
        return tv.open(path)
    except tv.TableNotFoundError:
        root = table_root(path)
        if root is not None and os.path.exists(path):
            raise CliError(
                f"no table at {path!r}: it is inside the table {root}; give that folder as PATH"
            ) from None
        names = tv.Warehouse(path).tables() if os.path.isdir(path) else []
        if names:
            raise CliError(
                f"no table at {path!r}: it is a warehouse holding {', '.join(names)}; give a "
                f"table as PATH ({os.path.join(path, names[0])})"
            ) from None
        raise


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 file``, ``2 files`` (``words`` for an irregular plural)."""
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def require_message(message: str | None, option: str = "--message") -> str:
    """A commit message that says something (a usage error, exit 2, if blank)."""
    if message is None or not message.strip():
        raise typer.BadParameter("a message is required: say what changed and why",
                                 param_hint=option)
    return message


def check_output(output: str, force: bool) -> None:
    """Refuse to write ``output`` inside a table folder, or over a file without --force."""
    root = table_root(os.path.dirname(os.path.abspath(output)) or ".")
    if root is not None:
        raise CliError(
            f"refusing to write {output} inside the table {root}: a table folder holds only "
            "what tablever writes there; choose a path outside it"
        )
    if os.path.isdir(output):
        raise CliError(f"{output} is a folder: give a file name")
    if os.path.exists(output) and not force:
        raise CliError(f"{output} exists: pass --force to overwrite it")




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
    # a title wider than the table runs past it (Rich would wrap it at the table's width)
    heading = Text(title, style="bold", no_wrap=True, overflow="ignore") if title else None
    table = RichTable(title=heading, title_justify="left", **kwargs)
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
        add_row(table, r.run_id, r.version, r.snapshot_id[:12], r.model or "",
                fmt_pairs(r.metrics), fmt_pairs(r.params), r.artifact_uri or "",
                fmt_time(r.created_at))
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
MessageOpt = Annotated[str, typer.Option("--message", "-m", metavar="MSG", help="What changed and why.")]
ProgressOpt = Annotated[bool, typer.Option(
    "--progress", help="Show progress on stderr even when it is not a terminal.")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Print nothing but errors (no progress, no summary).")]
PropertyOpt = Annotated[
    list[str] | None,
    typer.Option("--property", metavar="KEY=VALUE", help="KEY=VALUE (repeatable); JSON values are parsed."),
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

