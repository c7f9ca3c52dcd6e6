"""The ``ui`` verb: a local read-only web page over a table's history."""

from __future__ import annotations

from typing import Annotated

import typer

from tablever.cli.common import CliError, command, say


@command("ui")
def ui(
    path: Annotated[str, typer.Argument(
        metavar="PATH", help="A table or a warehouse folder (local or s3://).",
        show_default=False)],
    port: Annotated[int, typer.Option(
        "--port", metavar="N", min=0, max=65535, help="Port to listen on (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option(
        "--host", metavar="HOST", help="Interface to listen on; anything but 127.0.0.1 exposes the page "
        "to the network.")] = "127.0.0.1",
) -> None:
    """Serve a read-only page of versions, diffs and runs on 127.0.0.1; prints its URL."""
    try:
        from tablever.ui.server import serve
    except ImportError as exc:
        raise CliError(f"tablever ui needs the ui extra: pip install 'tablever[ui]' ({exc})") from None
    try:
        serve(path, host=host, port=port, announce=lambda url: say(
            f"serving {path} read-only at {url} (Ctrl-C stops)"))
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
