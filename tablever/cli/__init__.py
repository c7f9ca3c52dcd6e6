"""The ``tablever`` command line: a thin skin over the public API.

The verbs live in one module per theme; importing them registers them on ``app``.
"""

from __future__ import annotations

from tablever.cli import data, history, maintenance, sql, tags, writes  # noqa: F401
from tablever.cli.common import CliError, app, command, group

__all__ = ["CliError", "app", "command", "group", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tablever`` script and ``python -m tablever``."""
    app(args=argv, prog_name="tablever")
