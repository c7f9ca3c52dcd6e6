"""The page's SQL box: read-only queries with time travel, under a time and a row limit.

Queries run in a worker process: DuckDB offers no statement timeout, and a process can
be stopped whatever it is doing. A query that outlives the limit is stopped with its
worker; the next query starts a new one.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from tablever.errors import InvalidPredicateError, TableNotFoundError, TableverError

STARTUP_SECONDS = 120

__all__ = ["QueryFailedError", "QueryTimeoutError", "SqlBox", "run_limited"]


def run_limited(location: str, kind: str, storage_options: dict[str, Any] | None,
                query: str, max_rows: int) -> dict[str, Any]:
    """Run one read-only query over the table (named ``t`` or by its name) or the
    warehouse at ``location``; at most ``max_rows`` rows come back.

    Raises:
        InvalidPredicateError: the query is no read-only query, or DuckDB refused it.
        TableNotFoundError: it names a table that is not there.
    """
    from sqlglot import exp

    import tablever as tv
    from tablever.cli.common import jsonable
    from tablever.query.rewrite import parse
    from tablever.query.sandbox import resolve_ref, run_query

    tree = parse(query)
    if isinstance(tree, (exp.Insert, exp.Delete, exp.Update, exp.Merge)):
        raise InvalidPredicateError(
            "the SQL box only reads: INSERT, DELETE, UPDATE and MERGE are not allowed here")
    if isinstance(tree, exp.Query):
        limit = tree.args.get("limit")
        given = limit.expression if isinstance(limit, exp.Limit) else None
        small = isinstance(given, exp.Literal) and given.is_int and int(given.this) <= max_rows
        if not small:
            tree.set("limit", exp.Limit(expression=exp.Literal.number(max_rows + 1)))
    if kind == "table":
        table = tv.open(location, storage_options=storage_options)
        tables = {"t": table, table.name.lower(): table}
    else:
        wh = tv.Warehouse(location, storage_options=storage_options)
        tables = {n.lower(): wh.table(n) for n in wh.tables()}

    def resolve(ref: Any) -> Any:
        found = tables.get(ref.name.lower())
        if found is None:
            raise TableNotFoundError(ref.name, available=sorted(tables))
        return resolve_ref(found, ref)

    result = run_query(tree, resolve)
    shown = result.slice(0, max_rows)
    return {
        "columns": [{"name": f.name, "type": str(f.type)} for f in shown.schema],
        "rows": jsonable([list(r.values()) for r in shown.to_pylist()]),
        "truncated": result.num_rows > max_rows,
    }


def _worker(conn: Connection, location: str, kind: str,
            storage_options: dict[str, Any] | None) -> None:
    import tablever.query.sandbox  # noqa: F401 - loaded before the first query's clock runs

    conn.send(("ready",))
    while True:
        try:
            query, max_rows = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", run_limited(location, kind, storage_options, query, max_rows)))
        except TableverError as exc:
            conn.send(("error", type(exc).__name__, str(exc)))
        except Exception as exc:  # noqa: BLE001 - the page shows it; the worker lives on
            conn.send(("error", type(exc).__name__, f"{type(exc).__name__}: {exc}"))


class QueryTimeoutError(TableverError):
    """A query from the SQL box ran longer than its time limit and was stopped."""


class SqlBox:
    """Runs queries one at a time in a worker process, each within ``timeout`` seconds."""

    def __init__(self, location: str, kind: str, *, storage_options: dict[str, Any] | None = None,
                 timeout: float = 10.0, max_rows: int = 1000) -> None:
        self.location, self.kind, self.storage_options = location, kind, storage_options
        self.timeout, self.max_rows = timeout, max_rows
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        if self._proc is not None and self._proc.is_alive() and self._conn is not None:
            return self._conn
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe()
        self._proc = ctx.Process(target=_worker, daemon=True, name="tablever-ui-sql",
                                 args=(theirs, self.location, self.kind, self.storage_options))
        self._proc.start()
        theirs.close()
        self._conn = ours
        # Starting Python and loading DuckDB is not the query's time.
        try:
            ready = ours.poll(STARTUP_SECONDS) and ours.recv() == ("ready",)
        except EOFError:
            ready = False
        if not ready:
            self.stop()
            raise TableverError(f"the SQL worker did not start (within {STARTUP_SECONDS} s)")
        return ours

    def stop(self) -> None:
        """End the worker process, if one runs."""
        proc, self._proc, self._conn = self._proc, None, None
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(5)

    def warm(self) -> None:
        """Start the worker now, so that the first query does not wait for it."""
        with self._lock:
            self._start()

    def run(self, query: str) -> dict[str, Any]:
        """The first ``max_rows`` rows of ``query``, with its columns and elapsed time.

        Raises:
            QueryTimeoutError: it ran longer than ``timeout`` seconds (it was stopped).
            TableverError: the query was refused or failed (the same class as the
                library raises, where the worker could name one).
        """
        with self._lock:
            conn = self._start()
            started = time.monotonic()
            conn.send((query, self.max_rows))
            if not conn.poll(self.timeout):
                self.stop()
                raise QueryTimeoutError(
                    f"the query ran longer than {self.timeout:g} s and was stopped: "
                    "add a WHERE or a LIMIT")
            try:
                answer = conn.recv()
            except EOFError:
                self.stop()
                raise TableverError("the query stopped its worker (out of memory?)") from None
            elapsed = time.monotonic() - started
        if answer[0] == "ok":
            return {**answer[1], "row_limit": self.max_rows,
                    "elapsed_ms": round(elapsed * 1000, 1)}
        _, name, message = answer
        raise QueryFailedError(message, error=name)


class QueryFailedError(TableverError):
    """A query from the SQL box was refused or failed; ``error`` names the library's
    error class (``InvalidPredicateError``, ``TableNotFoundError``, ...)."""

    def __init__(self, message: str, *, error: str) -> None:
        super().__init__(message)
        self.error = error
