"""Exports to other formats: export iceberg."""

from __future__ import annotations

from typing import Annotated

import typer

from tablever.cli.common import JsonOpt, PathArg, command, emit_json, group, open_table, say

export = group("export", "Write another format's metadata over the table's own files.")


@command("iceberg", group=export)
def iceberg(
    path: PathArg,
    to: Annotated[str | None, typer.Option(
        "--to", metavar="FOLDER",
        help="Where the Iceberg metadata goes (default: _tablever/iceberg in the table).",
    )] = None,
    as_json: JsonOpt = False,
) -> None:
    """Iceberg v2 metadata for every retained version and tag, over the table's own
    data files (no data copied); run again after new commits, it writes only what is new."""
    import tablever as tv

    out = tv.export_iceberg(open_table(path), to)
    if as_json:
        emit_json({"metadata_location": out.metadata_location, "location": out.location,
                   "snapshots": {str(v): s for v, s in out.snapshots.items()},
                   "tags": dict(out.tags), "written": list(out.written),
                   "bytes_written": out.bytes_written, "reused": out.reused})
        return
    say(f"exported {len(out.snapshots)} version(s) and {len(out.tags)} tag(s) to "
        f"{out.location}: {len(out.written)} file(s) written ({out.bytes_written} bytes), "
        f"{out.reused} reused")
    say(f"metadata: {out.metadata_location}")
