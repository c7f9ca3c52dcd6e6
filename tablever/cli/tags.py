"""Tags and runs: tag, tags, runs, link-run."""

from __future__ import annotations

from typing import Annotated

import typer

from tablever.cli.common import (
    JsonOpt,
    PathArg,
    RefArg,
    add_row,
    arg,
    command,
    console,
    emit_json,
    fmt_time,
    json_value,
    new_table,
    number_value,
    open_table,
    parse_pairs,
    run_dict,
    runs_table,
    say,
    snapshot_dict,
    utc_ms,
)

# --- tags and runs ------------------------------------------------------------------


@command("tag")
def tag(
    path: PathArg,
    name: Annotated[str, arg("NAME", "Tag name, e.g. v1.0.")],
    ref: RefArg = None,
    message: Annotated[str, typer.Option("--message", "-m", metavar="MSG", help="Why this version.")] = "",
    force: Annotated[bool, typer.Option("--force", help="Move an existing tag.")] = False,
    delete: Annotated[bool, typer.Option(
        "--delete", "-d", help="Remove the tag (its version stays until expired).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Name a version (tags are immutable unless --force), or remove a tag (-d)."""
    table = open_table(path)
    if delete:
        if ref is not None or force or message:
            raise typer.BadParameter("--delete takes only PATH and NAME", param_hint="--delete")
        version = table.as_of(name).version
        table.delete_tag(name)
        if as_json:
            emit_json({"tag": name, "deleted": True, "version": version})
            return
        say(f"deleted tag {name} (version {version} stays until expired)")
        return
    s = table.tag(name, ref, message=message, force=force)
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
    found = table.runs(ref)
    if as_json:
        emit_json([run_dict(r) for r in found])
        return
    console().print(runs_table(found, title=f"runs of {table.location}"))


@command("link-run")
def link_run(
    path: PathArg,
    run_id: Annotated[str, arg("RUN_ID", "The run's id (e.g. an MLflow run id).")],
    ref: Annotated[str | None, typer.Option("--ref", metavar="REF", help="The version trained on.")] = None,
    model: Annotated[str | None, typer.Option("--model", metavar="NAME", help="Model name.")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", metavar="KEY=NUMBER", help="KEY=NUMBER.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", metavar="KEY=VALUE", help="KEY=VALUE (JSON).")] = None,
    artifact_uri: Annotated[str | None, typer.Option("--artifact-uri", metavar="URI", help="Where the model artifact is.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing link.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Record that a model run trained on a version."""
    table = open_table(path)
    run = table.link_run(
        run_id, ref, model=model,
        metrics=parse_pairs(metric, "--metric", number_value),
        params=parse_pairs(param, "--param", json_value),
        artifact_uri=artifact_uri, force=force,
    )
    if as_json:
        emit_json(run_dict(run))
        return
    say(f"linked run {run.run_id} to version {run.version} "
        f"({run.snapshot_id[:12]})")
