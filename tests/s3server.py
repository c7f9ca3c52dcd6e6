"""A real S3 server for the tests: moto in server mode on 127.0.0.1, counting requests.

The server is moto's own WSGI application behind werkzeug, as moto's
``ThreadedMotoServer`` runs it, with one addition: every request it answers is recorded,
so tests can count the requests an operation makes (``with server.recording() as
log: ...``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

BUCKET = "tables"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # /bucket/key...
    query: dict[str, list[str]]
    ranged: bool
    conditional: bool  # If-None-Match: a put-if-absent

    @property
    def kind(self) -> str:
        """LIST, GET, GET-RANGE, HEAD, PUT, PUT-IF-ABSENT, DELETE, or the method."""
        if self.method == "GET" and ("list-type" in self.query or "prefix" in self.query
                                     or self.path.rstrip("/").count("/") <= 1):
            return "LIST"
        if self.method == "GET":
            return "GET-RANGE" if self.ranged else "GET"
        if self.method == "PUT":
            return "PUT-IF-ABSENT" if self.conditional else "PUT"
        if self.method == "POST" and "delete" in self.query:
            return "DELETE"
        return self.method

    @property
    def key(self) -> str:
        """The object key below the bucket."""
        return self.path.lstrip("/").split("/", 1)[1] if self.path.count("/") > 1 else ""


class Recording(list[Request]):
    def kinds(self) -> Counter[str]:
        return Counter(r.kind for r in self)

    def of(self, kind: str) -> list[Request]:
        return [r for r in self if r.kind == kind]


class S3Server:
    """Start with :meth:`start`; ``options`` are the storage options of a client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recordings: list[Recording] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _counting(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            if self._recordings:
                req = Request(
                    method=environ["REQUEST_METHOD"], path=environ.get("PATH_INFO", ""),
                    query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
                    ranged="HTTP_RANGE" in environ,
                    conditional="HTTP_IF_NONE_MATCH" in environ)
                with self._lock:
                    for rec in self._recordings:
                        rec.append(req)
            return app(environ, start_response)

        return wrapped

    def start(self) -> S3Server:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, self._counting(app), threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        import pyarrow.fs as pafs

        host, port = self._server.server_address[:2]
        self.endpoint = f"http://{host}:{port}"
        fs = pafs.S3FileSystem(endpoint_override=f"{host}:{port}", scheme="http",
                               access_key="testing", secret_key="testing",
                               region="us-east-1", allow_bucket_creation=True)
        fs.create_dir(BUCKET)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join()

    @property
    def options(self) -> dict[str, str]:
        """``storage_options`` for a client of this server."""
        return {"endpoint_url": self.endpoint, "region": "us-east-1",
                "access_key_id": "testing", "secret_access_key": "testing"}

    @property
    def environment(self) -> dict[str, str]:
        """The same settings as AWS environment variables."""
        return {f"AWS_{k.upper()}": v for k, v in self.options.items()}

    @contextmanager
    def recording(self) -> Iterator[Recording]:
        """The requests answered while the block runs."""
        rec = Recording()
        with self._lock:
            self._recordings.append(rec)
        try:
            yield rec
        finally:
            with self._lock:
                self._recordings.remove(rec)
