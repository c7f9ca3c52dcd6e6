"""Reading history: log, show, diff, changes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich import box
from rich.padding import Padding
from rich.text import Text

import tablever as tv
from tablever.cli.common import (
    JsonOpt,
    PathArg,
    RefArg,
    _scalar,
    add_row,
    arg,
    cell,
    command,
    console,
    emit_json,
    fmt_pairs,
    fmt_provenance,
    fmt_rows,
    fmt_time,
    grid,
    new_table,
    open_table,
    plural,
    rows_table,
    run_dict,
    runs_table,
    say,
    schema_list,
    snapshot_dict,
    split_columns,
    utc_ms,
)
from tablever.policy import parse_duration

# --- reading history ------------------------------------------------------------------


@command("log")
def log(
    path: PathArg,
    limit: Annotated[int | None, typer.Option("-n", "--limit", metavar="N", min=0,
                                              help="Show the newest N versions.")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose",
                                          help="Add author, provenance and properties.")] = False,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="TIME",
        help="Versions committed at or after TIME: ISO-8601 (UTC without an offset) or an "
        "age such as 2h, 7d.")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="TIME", help="Versions committed at or before TIME.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The versions of a table, newest first, with their tags and linked runs."""
    start, end = _when(since, "--since"), _when(until, "--until")
    table = open_table(path)
    snaps = table.history(limit=None if start or end else limit)
    snaps = [s for s in snaps if (start is None or s.timestamp >= start)
             and (end is None or s.timestamp <= end)]
    if limit is not None:
        snaps = snaps[:limit]
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
    # A light grid; below ~100 columns the time wraps (date over time) before the message,
    # and the message wraps before any other column.
    con = console()
    fixed: dict[str, Any] = {"no_wrap": True}
    right: dict[str, Any] = {"justify": "right"}
    when = fixed if con.width >= 96 else {"min_width": 10}
    out = new_table(table.location, [
        ("version", {**right, **fixed}), ("id", fixed), ("time (UTC)", when),
        ("operation", fixed), ("rows \u00b1", {**right, **fixed}), ("total", right),
        ("message", {"min_width": 8, "ratio": 1}), ("tags", {"style": "yellow", "min_width": 4}),
        ("runs", {**right, **fixed}),
    ], box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    for s in snaps:
        add_row(
            out, s.version, s.short_id, fmt_time(s.timestamp), s.operation, fmt_rows(s.summary),
            s.num_rows, s.message, ", ".join(tags[s.version]),
            len(runs[s.version]) if runs[s.version] else "",
        )
    con.print(out)


def _when(text: str | None, option: str) -> datetime | None:
    """An ISO-8601 time (UTC without an offset) or an age (``2h``, ``7d``) before now."""
    if text is None:
        return None
    try:
        return datetime.now(timezone.utc) - parse_duration(text, option)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither an ISO-8601 time (2026-05-01T09:00:00Z) nor an age (2h, 7d)",
            param_hint=option) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


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
        lines: list[tuple[str, Any]] = [
            ("message", s.message), ("author", s.author),
            ("provenance", fmt_provenance(s.provenance))]
        if s.properties:
            lines.append(("properties", fmt_pairs(s.properties)))
        con.print(Padding(grid(lines), (0, 0, 1, 4)))


@command("show")
def show(
    path: PathArg,
    ref: RefArg = None,
    rows: Annotated[int, typer.Option("-n", "--rows", metavar="ROWS", min=0, help="First rows to show.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """One version: summary, schema, tags, linked runs, provenance and first rows."""
    table = open_table(path)
    s = table.as_of(ref)
    tags = [r for r in table.tag_records() if r.version == s.version]
    runs = [r for r in table.runs() if r.version == s.version]
    head = s.head(rows) if rows else None  # reads only the files those rows are in
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
    sample: Annotated[int, typer.Option("-n", "--sample", metavar="SAMPLE", min=0, help="Sample rows per kind.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """What changed between two versions: counts, then sample rows."""
    table = open_table(path)
    keys = split_columns(on)
    d = table.diff(a, b, on=keys)
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


@command("changes")
def changes(
    path: PathArg,
    a: Annotated[str, arg("A", "From this ref (exclusive).")],
    b: Annotated[str | None, arg("B", "To this ref (default: latest).")] = None,
    limit: Annotated[int | None, typer.Option("-n", "--limit", metavar="N", min=0,
                                              help="At most N rows (default 50).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The change feed from A to B: rows inserted and deleted, version by version."""
    table = open_table(path)
    feed = table.changes(a, b)
    total = feed.num_rows
    shown = feed.slice(0, 50 if limit is None else limit)
    if as_json:
        emit_json(shown.to_pylist() if limit is not None else feed.to_pylist())
        return
    console().print(rows_table(shown, title=f"changes: {shown.num_rows} of {total} rows"))
    if total > shown.num_rows and limit is None:
        say(f"{plural(total - shown.num_rows, 'more row')} not shown: -n N shows more, "
            "--json prints them all")
