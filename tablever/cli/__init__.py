"""The ``tablever`` command line: a thin skin over the public API.

The verbs live in one module per theme; importing them registers them on ``app``.
"""

from __future__ import annotations

from tablever.cli import (  # noqa: F401
    data,
    export,
    history,
    maintenance,
    pipeline,
    schema,
    sql,
    tags,
    ui,
    writes,
)
from tablever.cli.common import CliError, app, command, group

__all__ = ["CliError", "app", "command", "group", "main"]

# ``tablever --help`` lists the verbs in the order of the story: make a table, change
# it, name versions, look back, read and pin, then look after it.
STORY = (
    "create", "append", "upsert", "overwrite", "delete", "filter", "update", "restore",
    "tag", "tags", "log", "show", "diff", "changes", "read", "sql", "lock", "link-run",
    "runs", "lineage", "status", "repro", "ls", "ui", "verify", "maintain", "compact",
    "expire", "vacuum", "set-property", "export",
)


def _story_order(name: str | None) -> int:
    return STORY.index(name) if name in STORY else len(STORY)


app.registered_commands.sort(key=lambda c: _story_order(c.name))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tablever`` script and ``python -m tablever``."""
    app(args=argv, prog_name="tablever")
