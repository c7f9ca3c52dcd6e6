"""Reading data: read (and the output formats other verbs share)."""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Annotated

import pyarrow as pa
import typer

import tablever as tv
from tablever.cli.common import (
    CliError,
    RefArg,
    _one_line,
    check_output,
    command,
    console,
    emit_json,
    jsonable,
    open_table,
    plural,
    rows_table,
    say,
    split_columns,
)

# --- reading data ---------------------------------------------------------------------

_FORMATS = ("table", "csv", "json", "jsonl", "parquet")
_OUT_EXT = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".parquet": "parquet", ".pq": "parquet"}
TABLE_ROWS = 50


def output_format(fmt: str | None, output: str | None, as_json: bool) -> str:
    """The output format from --format, --json and -o's extension (usage errors exit 2)."""
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
    return fmt


def write_rows(
    data: pa.Table, fmt: str, output: str | None, title: str, source: str = "",
    *, force: bool = False, hidden: int = 0,
) -> None:
    """Print ``data`` as a Rich table (saying how many further rows, ``hidden``, it does
    not show), or encode it to stdout or ``output`` (never inside a table, never over a
    file unless ``force``)."""
    if fmt == "table":
        console().print(rows_table(data, title=title))
        if hidden:
            say(f"{plural(hidden, 'more row')} not shown: -n N shows more, -o FILE or "
                "--format writes them all")
        return
    if output is not None:
        check_output(output, force)
    payload = _encode(data, fmt)
    if output is None:
        sys.stdout.write(payload.decode("utf-8"))
        return
    with open(output, "wb") as f:
        f.write(payload)
    say(f"wrote {plural(data.num_rows, 'row')}{source} to {output}")


FormatOpt = Annotated[str | None, typer.Option(
    "--format", "-f", metavar="FMT", help="table, csv, json (one array), jsonl or parquet; "
    "default: from -o's extension, else table.")]
OutputOpt = Annotated[str | None, typer.Option("-o", "--output", metavar="FILE", help="Write to FILE.")]
LimitOpt = Annotated[int | None, typer.Option("-n", "--limit", metavar="N", min=0, help="At most N rows.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite the -o file if it exists.")]


@command("read")
def read(
    path: Annotated[str | None, typer.Argument(
        metavar="PATH", help="The table's location (not needed with --lock).",
        show_default=False)] = None,
    ref: RefArg = None,
    columns: Annotated[str | None, typer.Option("--columns", metavar="COLS", help="Comma-separated column names: a,b,c.")] = None,
    where: Annotated[str | None, typer.Option("--where", metavar="SQL", help="SQL predicate.")] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    limit: LimitOpt = None,
    lock: Annotated[str | None, typer.Option(
        "--lock", metavar="FILE", help="Read exactly the version a lock file pins (verified first).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    force: ForceOpt = False,
) -> None:
    """Export the rows of a version (or of the version a lock file pins)."""
    fmt = output_format(fmt, output, as_json)
    if output is not None:
        check_output(output, force)
    if lock is not None:
        if ref is not None:
            raise typer.BadParameter("give a REF or --lock, not both", param_hint="--lock")
        s = tv.from_lock(lock, location=path)
    elif path is None:
        raise typer.BadParameter("PATH is required without --lock", param_hint="PATH")
    else:
        table = open_table(path)
        s = table.as_of(ref)
    if where is None and (limit is not None or fmt == "table"):
        total = s.num_rows
        data = s.head(limit if limit is not None else TABLE_ROWS, split_columns(columns))
    else:
        data = s.to_arrow(split_columns(columns), where)
        total = data.num_rows
        if limit is not None:
            data = data.slice(0, limit)
        elif fmt == "table":
            data = data.slice(0, TABLE_ROWS)
    hidden = total - data.num_rows if limit is None else 0
    write_rows(data, fmt, output, f"version {s.version}: {data.num_rows} of {total} rows",
               f" of version {s.version}", force=force, hidden=hidden)


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


# --- copying a table ------------------------------------------------------------------


@command("copy")
def copy_table(
    source: Annotated[str, typer.Argument(metavar="SRC", help="Table to copy (path or s3:// URI).")],
    destination: Annotated[str, typer.Argument(metavar="DST", help="Where to (path or s3:// URI).")],
    ref: Annotated[list[str] | None, typer.Option(
        "--ref", metavar="REF",
        help="Copy only this version (tag, number, id, time); repeat for more.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Copy a table to another location (push or pull): only what DST lacks is sent."""
    report = tv.copy(source, destination, refs=ref)
    if as_json:
        emit_json({"source": report.source, "destination": report.destination,
                   "files": report.files, "bytes": report.bytes, "skipped": report.skipped,
                   "versions": report.versions})
        return
    say(f"copied {plural(report.versions, 'version')} of {report.source} to "
        f"{report.destination}: {plural(report.files, 'file')} ({report.bytes} bytes) sent, "
        f"{report.skipped} already there")
