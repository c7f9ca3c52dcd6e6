"""Pipelines over tables: lineage, status, repro."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from typing import Annotated, Literal

import typer

import tablever as tv
from tablever.cli.common import CliError, JsonOpt, PathArg, RefArg, arg, command, emit_json, say


@command("lineage")
def lineage(
    path: PathArg,
    ref: RefArg = None,
    warehouse: Annotated[str | None, typer.Option(
        "--warehouse", "-w", metavar="FOLDER",
        help="Where to look for derived tables (default: the folder holding PATH).")] = None,
    fmt: Annotated[Literal["text", "mermaid", "dot"], typer.Option(
        "--format", metavar="FORMAT",
        help="text; mermaid or dot (Graphviz) for a drawable graph.")] = "text",
    as_json: JsonOpt = False,
) -> None:
    """What a version was derived from, and what was derived from it."""
    g = tv.lineage_graph(path, None if ref is None else ref, warehouse=warehouse)
    if as_json:
        emit_json(g.to_dict())
        return
    if fmt in ("mermaid", "dot"):
        say(g.to_mermaid() if fmt == "mermaid" else g.to_dot())
        return

    def show(n: tv.stages.Node) -> str:
        return f"{n.location} v{n.version}" + (f" ({n.id[:12]})" if n.id else " (not readable)")

    say(show(g.root))
    upstream = [a for a, b in g.edges if b == g.root]
    downstream = [b for a, b in g.edges if a == g.root]
    for label, items in (("derived from", upstream), ("used by", downstream)):
        for n in items:
            say(f"  {label} {show(n)}")
    further = len(g.edges) - len(upstream) - len(downstream)
    if further > 0:
        say(f"  ... and {further} more derivation(s) further away (--json or --format mermaid)")


@command("status")
def status(
    location: Annotated[str, arg("WAREHOUSE", "A warehouse folder, or one table.")],
    as_json: JsonOpt = False,
) -> None:
    """Tables built from versions that have changed since (like dvc status)."""
    stale = tv.status(location)
    if as_json:
        emit_json([{"table": s.table, "input": s.input.to_dict(),
                    "latest_version": s.latest_version, "rows_added": s.rows_added,
                    "rows_removed": s.rows_removed} for s in stale])
        return
    if not stale:
        say("everything is up to date")
    for s in stale:
        say(str(s))


@command("repro")
def repro(
    file: Annotated[str, arg("FILE", "A Python file defining stages with @tv.stage.")],
    stages: Annotated[list[str] | None, arg("STAGE", "Stages to run (default: all).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Run even if up to date.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the stages whose inputs or params changed; skip the rest, saying why."""
    if not os.path.isfile(file):
        raise CliError(f"no file {file!r}: give the Python file that defines the stages")
    spec = importlib.util.spec_from_file_location(f"tablever_stages_{uuid.uuid4().hex}", file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(file)))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    defined = [s.name for s in tv.stages.registered() if s.fn.__module__ == module.__name__]
    if not defined:
        raise CliError(f"{file} defines no stage: mark functions with @tv.stage(...)")
    runs = tv.repro(*(stages or defined), force=force,
                    echo=None if as_json else say)
    if as_json:
        emit_json([{"stage": r.stage, "ran": r.ran, "reason": r.reason,
                    "versions": dict(r.versions)} for r in runs])
