"""A real server (uvicorn on 127.0.0.1, a free port) over the demo-like warehouse."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

if os.environ.get("CI"):  # in CI the ui extra is installed ([dev]): a missing one fails
    import starlette  # noqa: F401
else:
    pytest.importorskip("starlette", reason="tablever[ui] is not installed")

import tablever as tv  # noqa: E402
from tests.ui.demo import build  # noqa: E402


@dataclass
class Served:
    url: str
    port: int
    root: Path
    warehouse: tv.Warehouse


def _serve(location: str, *, sql_timeout: float = 20.0) -> Iterator[tuple[str, int]]:
    import uvicorn

    from tablever.ui.model import open_source
    from tablever.ui.server import bind, make_app, url_of

    sock = bind("127.0.0.1", 0)
    app = make_app(open_source(location), sql_timeout=sql_timeout, sql_rows=50)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield url_of(sock), sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("ui") / "wh"
    wh = build(root)
    for url, port in _serve(str(root)):
        yield Served(url, port, root, wh)


@pytest.fixture(scope="session")
def served_table(served: Served) -> Iterator[Served]:
    """The same ``events`` table, served alone (PATH is a table)."""
    for url, port in _serve(str(served.root / "events")):
        yield Served(url, port, served.root, served.warehouse)
