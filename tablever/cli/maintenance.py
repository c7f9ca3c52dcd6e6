"""Maintenance: maintain, compact, expire, vacuum, verify."""

from __future__ import annotations

from typing import Annotated

import typer

import tablever as tv
from tablever.cli.common import (
    JsonOpt,
    PathArg,
    RefArg,
    command,
    console,
    emit_json,
    grid,
    open_table,
    plural,
    say,
    snapshot_dict,
)
from tablever.cli.progress import progress_bars
from tablever.maintenance import compact_plan, vacuum_plan
from tablever.maintenance.vacuuming import execute_vacuum
from tablever.policy import Policy

DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")]


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@command("maintain")
def maintain(path: PathArg, dry_run: DryRunOpt = False, as_json: JsonOpt = False) -> None:
    """Compact, expire and vacuum with the table's policy (its properties)."""
    table = open_table(path)
    with progress_bars(not as_json) as progress:
        report = tv.maintain(table, dry_run=dry_run, progress=progress)
    if as_json:
        emit_json(report.to_dict())
        return
    console().print(grid([
        ("files", f"{report.files_before} -> {report.files_after}"),
        ("bytes", f"{_size(report.bytes_before)} -> {_size(report.bytes_after)}"),
        ("would compact" if dry_run else "compacted",
         f"{plural(report.compacted_files, 'file')}, {plural(report.compacted_rows, 'row')}"
         + (f" (version {report.compact_version})" if report.compact_version is not None
            else "")),
        ("would expire" if dry_run else "expired",
         ", ".join(map(str, report.versions_expired)) or "nothing"),
        ("would vacuum" if dry_run else "vacuumed",
         f"{plural(len(report.vacuumed), 'file')}, {_size(report.bytes_freed)}"),
        ("conflicts", ", ".join(report.conflicts) or "none"),
    ], title=f"maintenance of {table.name}" + (" (dry run)" if dry_run else "")))


@command("compact")
def compact(
    path: PathArg,
    target: Annotated[str | None, typer.Option(
        "--target-file-bytes", metavar="BYTES", help="Target file size, e.g. 134217728 or 128MiB.")] = None,
    sort_by: Annotated[str | None, typer.Option("--sort-by", metavar="COLS", help="a,b: cluster rows.")] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rewrite small files and files with many deleted rows into files near the target."""
    table = open_table(path)
    sort = [c.strip() for c in sort_by.split(",")] if sort_by else None
    if dry_run:
        plan = compact_plan(table, target_file_bytes=target)
        if as_json:
            emit_json({"dry_run": True, "groups": len(plan.groups),
                       "input_files": plan.input_files, "input_bytes": plan.input_bytes})
            return
        if plan.empty:
            say("nothing to compact")
            return
        say(f"would compact {plural(plan.input_files, 'file')} ({_size(plan.input_bytes)}) "
            f"into {plural(len(plan.groups), 'file')}")
        return
    with progress_bars(not as_json) as progress:
        snap = tv.compact(table, target_file_bytes=target, sort_by=sort, progress=progress)
    if as_json:
        emit_json(None if snap is None else snapshot_dict(snap))
        return
    if snap is None:
        say("nothing to compact")
        return
    say(f"version {snap.version} ({snap.short_id}) compact: "
        f"{plural(snap.summary['total_files'], 'file')}, {plural(snap.num_rows, 'row')} "
        f"\u2014 {snap.message}")


@command("expire")
def expire(
    path: PathArg,
    older_than: Annotated[str | None, typer.Option(
        "--older-than", metavar="AGE", help="e.g. 90d, 12h (default: retention.older_than).")] = None,
    keep_last: Annotated[int | None, typer.Option(
        "--keep-last", metavar="N", min=0, help="Always keep the newest N (default: retention.keep_last).")
    ] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove old versions (never tagged ones, ones with linked runs, or the latest)."""
    table = open_table(path)
    versions = tv.expire(table, older_than=older_than, keep_last=keep_last, dry_run=dry_run)
    if as_json:
        emit_json({"dry_run": dry_run, "expired": versions})
        return
    verb = "would expire" if dry_run else "expired"
    line = f"{verb} {plural(len(versions), 'version')}"
    if versions:
        line += f": {', '.join(map(str, versions))}"
    elif older_than is None:
        policy = Policy.from_properties(table.properties)
        line += (f" (versions younger than retention.older_than, "
                 f"{_age(policy.older_than.total_seconds())}, are kept; --older-than sets "
                 "another age)")
    say(line)


@command("vacuum")
def vacuum(
    path: PathArg,
    grace: Annotated[str | None, typer.Option(
        "--grace", metavar="AGE", help="Keep files younger than this (default: vacuum.grace, else 1h).")
    ] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete files no retained version needs (older than the grace period), and older
    checkpoints the log can rebuild (vacuum.checkpoint_spacing)."""
    table = open_table(path)
    plan = vacuum_plan(table, grace=grace)
    why = dict(zip(plan.paths, plan.reasons, strict=True))
    paths = plan.paths
    if not dry_run and paths:
        with progress_bars(not as_json) as progress:
            paths = execute_vacuum(table, plan, progress=progress)
    reasons = [why[p] for p in paths]
    if as_json:
        emit_json({"dry_run": dry_run, "paths": paths, "reasons": reasons})
        return
    verb = "would delete" if dry_run else "deleted"
    counts = {r: reasons.count(r) for r in _VACUUM_REASONS if r in reasons}
    detail = ", ".join(plural(n, *_VACUUM_REASONS[r]) for r, n in counts.items())
    say(f"{verb} {plural(len(paths), 'file')}" + (f" ({detail})" if detail else ""))
    for p, r in list(zip(paths, reasons, strict=True))[:50]:
        say(f"  {p}  [{r}]")
    if len(paths) > 50:
        say(f"  ... and {len(paths) - 50} more")


# why vacuum deletes a file (VacuumPlan.reasons), as the summary line says it
_VACUUM_REASONS = {
    "unreferenced": ("unreferenced file", "unreferenced files"),
    "temp": ("stale temp file", "stale temp files"),
    "expired": ("file of expired versions", "files of expired versions"),
    "thinned": ("thinned checkpoint", "thinned checkpoints"),
}


@command("verify")
def verify(path: PathArg, ref: RefArg = None, as_json: JsonOpt = False) -> None:
    """Re-hash files and check the log: one version with REF, else every retained
    version. Exits 1 on any problem, so it can gate a training job or CI."""
    table = open_table(path)
    if ref is not None:
        s = table.as_of(ref, verify=True)
        if as_json:
            emit_json({"ok": True, **snapshot_dict(s), "files": s.files})
            return
        say(f"ok: version {s.version} ({s.short_id}): {len(s.files)} data files match their "
            f"SHA-256; fingerprint {s.fingerprint[:12]}")
        return
    with progress_bars(not as_json) as progress:
        report = tv.verify(table, progress=progress)
    if as_json:
        emit_json(report.to_dict())
    else:
        for problem in report.problems:
            console().print(f"problem: {problem}", markup=False, highlight=False)
        state = "ok" if report.ok else plural(len(report.problems), "problem")
        say(f"{state}: {plural(report.versions_checked, 'version')}, "
            f"{plural(report.files_checked, 'file')} ({_size(report.bytes_checked)}) checked; "
            f"{plural(len(report.orphans), 'unreferenced file')} (vacuum's work)")
    if not report.ok:
        raise typer.Exit(1)
