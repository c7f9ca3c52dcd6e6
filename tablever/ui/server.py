"""The web server of ``tablever ui``: a static page and read-only JSON endpoints.

Only GET (and HEAD) are answered; anything else is a 405. A request whose Host header
is not the loopback name (or the ``--host`` given) and the server's port is a 403, so a
web page elsewhere cannot reach the server through a name that resolves to 127.0.0.1
(DNS rebinding). Nothing here writes to a table.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import tablever as tv
from tablever.ui.model import Source, diff_json, graph_json, open_source, version_json
from tablever.ui.sqlbox import QueryFailedError, QueryTimeoutError, SqlBox

__all__ = ["bind", "make_app", "serve"]

STATIC = Path(__file__).resolve().parent / "static"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
MAX_SAMPLE = 200
MAX_HEAD = 500


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


# Every answer: the page loads only its own files, no other site may frame it, and
# nothing is cached or sniffed.
PAGE_HEADERS = (
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
     b"base-uri 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


class Guard:
    """403 for a foreign Host header, 405 for any method but GET and HEAD.

    Every response carries ``PAGE_HEADERS`` (a Content-Security-Policy among them).
    """

    def __init__(self, app: ASGIApp, *, hosts: tuple[str, ...] = LOOPBACK) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1").lower()
        server = scope.get("server") or (None, None)
        allowed = {f"{h}:{server[1]}" for h in self.hosts}
        if server[1] == 80:  # a browser leaves out the default port
            allowed.update(self.hosts)
        if host not in allowed:
            response: Response = _error(
                403, f"refused: Host {host or '(none)'!r} is not this server's address "
                f"({', '.join(sorted(allowed))})")
        elif scope["method"] not in ("GET", "HEAD"):
            response = _error(405, f"{scope['method']} is not allowed: this server only reads")
            response.headers["Allow"] = "GET, HEAD"
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in PAGE_HEADERS if k not in names]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)
    return wrapped


def _int(request: Request, name: str, default: int, most: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise tv.InvalidValueError(f"{name}={raw!r} is not a whole number") from None
    if not 0 <= value <= most:
        raise tv.InvalidValueError(f"{name}={value} is out of range (0 to {most})")
    return value


def _ref(raw: str) -> tv.Ref:
    """A version number as an int; anything else (tag, id prefix, time) as given."""
    text = raw.strip()
    return int(text) if text.lstrip("-").isdigit() else text


def make_app(source: Source, *, sql_timeout: float = 10.0, sql_rows: int = 1000,
             hosts: tuple[str, ...] = LOOPBACK, tracking_uri: str | None = None) -> Starlette:
    """The ASGI application serving ``source`` (see docs/ui.md for the endpoints); runs
    link to their page on the MLflow server at ``tracking_uri`` (default: the
    ``MLFLOW_TRACKING_URI`` environment variable) when it is an http(s) URI."""
    if tracking_uri is None:
        tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    box = SqlBox(source.location, source.kind, storage_options=source.storage_options,
                 timeout=sql_timeout, max_rows=sql_rows)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    def tables(request: Request) -> Response:
        return JSONResponse({"kind": source.kind, "location": source.location,
                             "tables": source.names(), "tablever": tv.__version__,
                             "sql": {"timeout_s": sql_timeout, "row_limit": sql_rows}})

    def graph(request: Request) -> Response:
        return JSONResponse(graph_json(source.table(request.path_params["table"])))

    def version(request: Request) -> Response:
        table = source.table(request.path_params["table"])
        rows = _int(request, "rows", 20, MAX_HEAD)
        return JSONResponse(version_json(table, _ref(request.path_params["ref"]), rows=rows,
                                         tracking_uri=tracking_uri))

    def diff(request: Request) -> Response:
        table = source.table(request.path_params["table"])
        a = request.query_params.get("a")
        if a is None or not a.strip():
            raise tv.InvalidValueError("diff needs a=REF (and b=REF, default latest)")
        b = request.query_params.get("b")
        on = [c.strip() for c in (request.query_params.get("on") or "").split(",") if c.strip()]
        sample = _int(request, "sample", 10, MAX_SAMPLE)
        return JSONResponse(diff_json(table, _ref(a), _ref(b) if b else None,
                                      on=on or None, sample=sample))

    def sql(request: Request) -> Response:
        query = request.query_params.get("q")
        if query is None or not query.strip():
            raise tv.InvalidValueError("sql needs q=QUERY")
        return JSONResponse(box.run(query))

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, f"no such page: {request.url.path}")

    async def library_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, (tv.TableNotFoundError, tv.RefNotFoundError)):
            return _error(404, str(exc))
        if isinstance(exc, QueryFailedError):
            return _error(404 if exc.error == "TableNotFoundError" else 400, str(exc))
        if isinstance(exc, QueryTimeoutError):
            return _error(408, str(exc))
        return _error(400, str(exc))

    routes = [
        Route("/", index),
        Route("/api/tables", tables),
        Route("/api/tables/{table}/graph", graph),
        Route("/api/tables/{table}/versions/{ref}", version),
        Route("/api/tables/{table}/diff", diff),
        Route("/api/sql", sql),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, hosts=hosts)],
        exception_handlers={404: not_found, tv.TableverError: library_error},
        lifespan=_lifespan(box),
    )
    app.state.sql_box = box
    return app


def _lifespan(box: SqlBox) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            box.stop()

    return lifespan


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(location: str, *, host: str = "127.0.0.1", port: int = 8765,
          storage_options: dict[str, Any] | None = None, announce: Any = print) -> None:
    """Serve ``location`` (a table or a warehouse) until interrupted; ``announce`` gets
    the URL once the socket listens."""
    import uvicorn

    source = open_source(location, storage_options=storage_options)
    sock = bind(host, port)
    named = f"[{host}]" if ":" in host else host
    hosts = LOOPBACK if named in LOOPBACK else (*LOOPBACK, named)
    app = make_app(source, hosts=tuple(h.lower() for h in hosts))
    announce(url_of(sock))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[sock])
