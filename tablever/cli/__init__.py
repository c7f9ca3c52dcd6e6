"""The ``tablever`` command line: a thin skin over the public API.

The verbs live in one module per theme; importing them registers them on ``app``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

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

__all__ = ["CliError", "app", "command", "group", "main", "script"]

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
    """Run one command line in this process (``SystemExit`` carries its exit code)."""
    app(args=argv, prog_name="tablever")


def script() -> None:
    """Entry point of the ``tablever`` script and ``python -m tablever``.

    The command's work is done, durable and printed when it returns; what follows is the
    interpreter's teardown. There, native thread pools of the engines (Arrow's readers,
    DuckDB's scheduler) are destroyed by C++ static destructors, and a pool thread still
    joinable then aborts the process ("terminate called without an active exception",
    exit -6) after a command that succeeded. So the script ends the way a native tool
    does: Python's own exit steps run (threads joined, ``atexit`` handlers: DuckDB
    connections closed, temporary folders removed, logs flushed), the standard streams
    are flushed, and the process exits with the command's code without the static
    destructors.
    """
    code = 1  # an exception that escapes is printed and exits 1

    def finish() -> None:  # registered first, so it runs after every other handler
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)

    atexit.register(finish)
    try:
        main()
    except SystemExit as exc:
        code = _exit_code(exc.code)
        raise
    except KeyboardInterrupt:
        code = 130
        raise
    code = 0


def _exit_code(value: object) -> int:
    """The process exit code ``sys.exit(value)`` gives: None is 0, an int itself, any
    other value is printed to stderr and gives 1."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    return 1
