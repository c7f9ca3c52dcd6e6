"""DuckDB: a snapshot as a relation over its files and deletion vectors, and the sandbox.

Clean files (no deletion vector) are read raw; files with one drop their deleted rows
inside the scan, through a keep bitmap or an anti join (see :func:`plan_sql`).

Why one module: the scan of a snapshot (plan_sql) and the connections it runs on (the
sandbox, its settings and caches) must agree on every setting; kept together.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa

from tablever import caches
from tablever.errors import (
    IntegrityError,
    InvalidPredicateError,
    SchemaMismatchError,
    TableverError,
)
from tablever.readplan import FileRead, ReadPlan
from tablever.schema import ROW_ID, clashing_names
from tablever.write import file_schema, same_file_schema

__all__ = [
    "REL",
    "FileRead",
    "ReadPlan",
    "cast_values",
    "check_expressions",
    "duckdb_error",
    "default_connection",
    "deletes_mode",
    "duckdb_type",
    "fetch_arrow",
    "is_conversion_error",
    "plan_sql",
    "prepare_sandbox",
    "run_sql",
    "cached_sandbox",
    "sandbox_connection",
]


_local = threading.local()
# Every per-thread connection, with its thread: a connection must not be destroyed by a
# worker thread's exit nor during interpreter shutdown (DuckDB aborts the process with
# "terminate called without an active exception"), so a dead thread's connection is
# closed by the next thread that opens one, and the rest at exit, on the main thread.
_CONNECTIONS: list[tuple[threading.Thread, duckdb.DuckDBPyConnection]] = []
_CONNECTIONS_LOCK = threading.Lock()


def _keep(conn: duckdb.DuckDBPyConnection) -> None:
    with _CONNECTIONS_LOCK:
        alive = []
        for thread, other in _CONNECTIONS:
            if thread.is_alive():
                alive.append((thread, other))
            else:
                with contextlib.suppress(Exception):
                    other.close()
        alive.append((threading.current_thread(), conn))
        _CONNECTIONS[:] = alive


@atexit.register
def _close_connections() -> None:
    """At exit (worker threads already joined): close every connection tablever opened,
    the database being opened ahead for the next sandbox included."""
    with _CONNECTIONS_LOCK:
        for _, conn in _CONNECTIONS:
            with contextlib.suppress(Exception):
                conn.close()
        _CONNECTIONS.clear()
    pending = _SPARE.next
    if pending is not None and pending.done():
        with contextlib.suppress(Exception):
            pending.result().close()


def default_connection() -> duckdb.DuckDBPyConnection:
    """A per-thread in-memory DuckDB connection for ``Snapshot.relation()``."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = duckdb.connect()
        # GLOBAL: the cursors that writes and filtered reads take share it (a plain SET
        # is per session, and a local time zone would disagree with stats pruning).
        conn.execute("SET GLOBAL TimeZone = 'UTC'")
        conn.execute("SET GLOBAL parquet_metadata_cache = true")  # files never change
        _local.conn = conn
        _keep(conn)
    return conn


_TYPES_LOCK = threading.Lock()  # the one connection that answers


def duckdb_type(t: pa.DataType) -> str | None:
    """The DuckDB type an Arrow type is, as DuckDB itself maps it (``TIMESTAMP_NS``,
    ``TIMESTAMPTZ_NS``, ``TIMESTAMP_S``, ``BIGINT[]``, ``STRUCT(a BIGINT)``, ...), or
    None where DuckDB's Parquet reader sees the stored column as another type a cast
    cannot turn back (durations are plain integers in Parquet)."""
    hit = caches.DUCKDB_TYPES.get(t, default=False)
    if hit is not False:
        return hit  # type: ignore[no-any-return]
    with _TYPES_LOCK:
        name: str | None = None
        if not _has_duration(t):
            conn = _type_connection()
            try:
                # pa.nulls, not pa.array: the latter imports pandas (~0.3 s), which a
                # read of a new process would otherwise pay here.
                try:
                    empty = pa.nulls(0, t)
                except (pa.ArrowException, TypeError, ValueError):
                    empty = pa.array([], t)
                rel = conn.from_arrow(pa.table({"x": empty}))
                name = str(rel.types[0])
            except (duckdb.Error, pa.ArrowException, ValueError, TypeError):
                name = None
        caches.DUCKDB_TYPES.put(t, name)
        return name


def _has_duration(t: pa.DataType) -> bool:
    if pa.types.is_duration(t):
        return True
    if pa.types.is_dictionary(t):
        return _has_duration(t.value_type)
    return any(_has_duration(t.field(i).type) for i in range(t.num_fields))


def _type_connection() -> duckdb.DuckDBPyConnection:
    conn = getattr(_type_connection, "conn", None)
    if conn is None:
        conn = duckdb.connect()
        conn.execute("SET TimeZone = 'UTC'")  # a time without offset means UTC
        _type_connection.conn = conn  # type: ignore[attr-defined]
    return conn


def quote(name: str) -> str:
    """A DuckDB-quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


# Scans of one snapshot by schema at most, before its files are scanned in two (clean
# files and files with deletes), each reconciling its files' schemas.
_MAX_SCANS = 8
_LITERAL_FILES = 64  # file lists up to this long are SQL literals, longer ones variables


# Deleted positions per row read above which a keep bitmap beats an anti join (the bitmap
# costs per row read, the join per deleted row; docs/benchmarks.md).
_MASK_MIN_DENSITY = 0.01
_MAX_BITS = 2**31 - 1  # get_bit takes an INTEGER position
# The bitmap is a constant, which DuckDB copies into each vector of 2,048 rows it tests:
# rows / 8 bytes, rows / 2,048 times, a cost growing with the square of the rows of the
# scan, where the join's grows with the deleted rows. Measured here (5M to 20M rows, 10%
# and 40% deleted): a byte copied ~0.06 ns, a deleted row in the join ~300 ns; so the
# join wins past ~5,000 bytes copied per deleted row (20M rows, 10% deleted: the bitmap
# 1.6 s, the join 0.9 s; 700k rows, 13%: the bitmap copies 380 bytes per deleted row).
_BITMAP_COPY_PER_DELETED = 5_000


def deletes_mode(rows: int, deleted: int, *, ordered: bool) -> Literal["mask", "anti"]:
    """How a scan of ``rows`` rows, ``deleted`` of them deleted, drops them: a keep
    bitmap (``"mask"``, always for an ordered scan: a join does not keep the order) or
    an anti join on the deleted positions (``"anti"``)."""
    if ordered:
        return "mask"
    dense = deleted >= _MASK_MIN_DENSITY * rows
    copied = (rows // 8) * (rows // 2048)  # bytes of bitmap copied over the scan
    cheap = copied <= _BITMAP_COPY_PER_DELETED * deleted
    return "mask" if dense and cheap and rows <= _MAX_BITS else "anti"


def _set_variable(conn: duckdb.DuckDBPyConnection, name: str, value: Any, sql_type: str,
                  created: list[tuple[str, str]] | None,
                  params: dict[str, Any] | None = None) -> str:
    """Give ``value`` to the statement: as the named parameter ``$name`` when ``params``
    is given (the caller executes the statement with them), else as a session variable
    set on ``conn``. Returns the expression that reads it.

    A parameter costs less: each SET and RESET VARIABLE is a statement of its own, and
    for a keep bitmap the two cost about as much as the scan spends testing it."""
    if params is not None:
        params[name] = value
        return f"(${name}::{sql_type})"
    conn.execute(f"SET VARIABLE {name} = $1::{sql_type}", [value])
    if created is not None:
        created.append(("variable", name))
    return f"getvariable('{name}')"


def release(conn: duckdb.DuckDBPyConnection, created: Sequence[tuple[str, str]]) -> None:
    """Drop what :func:`plan_sql` registered and set on ``conn`` (listed in its
    ``created``): a cached connection must not keep one query's deletion bitmaps."""
    for kind, name in created:
        if kind == "table":
            conn.unregister(name)
        else:
            conn.execute(f"RESET VARIABLE {name}")


_GLOB = re.compile(r"[*?\[]")


def check_readable(plan: ReadPlan, *, positions: bool = False, with_row_id: bool = False) -> None:
    """TableverError unless DuckDB can scan ``plan`` exactly: no column may be named like
    one of its scan columns, and no path may hold a glob character (DuckDB expands
    ``*``, ``?`` and ``[...]`` in file lists, so other files could be read)."""
    hidden = sorted(clashing_names(plan.schema.names, positions=positions,
                                   with_row_id=with_row_id))
    if hidden:
        raise TableverError(
            f"DuckDB cannot read a table with a column named {', '.join(map(repr, hidden))} "
            "here (its Parquet scan or tablever's own columns use that name in SQL, in any "
            "case): read it with to_arrow() and write a table with the column renamed"
        )
    for f in plan.files:
        if _GLOB.search(f.path):
            raise TableverError(
                f"DuckDB cannot read {f.path!r}: its path holds a glob character "
                "(*, ? or [); move the table to a path without them"
            )


def _empty_relation(
    schema: pa.Schema, names: Sequence[str], *, with_row_id: bool, positions: bool
) -> str:
    """An empty relation with the columns (and types) :func:`plan_sql` gives."""
    cols = []
    for n in names:
        t = schema.field(n).type
        dtype = duckdb_type(t) or ("BIGINT" if pa.types.is_duration(t) else "VARCHAR")
        cols.append(f"CAST(NULL AS {dtype}) AS {quote(n)}")
    if with_row_id:
        cols.append(f"CAST(NULL AS BIGINT) AS {quote(ROW_ID)}")
    if positions:
        cols.append("CAST(NULL AS BIGINT) AS __tv_file, CAST(NULL AS BIGINT) AS __tv_pos")
    return f"SELECT {', '.join(cols) or '1 AS __empty'} LIMIT 0"


def _scan_groups(
    files: Sequence[FileRead], *, ordered: bool
) -> list[tuple[str, list[tuple[int, FileRead]]]]:
    """The scans of a plan: (label, [(index in the plan, file)]) each, in plan order.

    An ordered read is one scan. Otherwise clean files and files with deletes are
    scanned apart (only the latter pay for dropping rows), and each of those by schema:
    files known to share one schema need no reconciling (see :func:`plan_sql`); the
    files whose schema this process does not know are one scan that reconciles them.
    Files whose columns were renamed or dropped since (format 2) bind by their own
    names: they are scanned apart by column mapping (``FileRead.renames``) too.
    """
    indexed = list(enumerate(files))
    if ordered:
        if any(f.renames for f in files):
            raise ValueError("an ordered DuckDB read needs one column mapping")
        return [("a", indexed)]
    groups: dict[tuple[bool, Any, Any], list[tuple[int, FileRead]]] = {}
    for i, f in indexed:
        key = (f.deleted is not None, file_schema(f.path), f.renames)
        groups.setdefault(key, []).append((i, f))
    if len(groups) > _MAX_SCANS:  # many schemas: one reconciling scan per side and mapping
        groups = {}
        for i, f in indexed:
            groups.setdefault((f.deleted is not None, None, f.renames), []).append((i, f))
    return [(f"{'d' if dirty else 'c'}{n}", members)
            for n, ((dirty, _, _), members) in enumerate(groups.items())]


def plan_sql(
    plan: ReadPlan,
    conn: duckdb.DuckDBPyConnection,
    *,
    columns: Sequence[str] | None = None,
    with_row_id: bool = False,
    positions: bool = False,
    deletes: Literal["auto", "anti", "mask"] = "auto",
    ordered: bool = False,
    created: list[tuple[str, str]] | None = None,
    params: dict[str, Any] | None = None,
) -> str:
    """DuckDB SQL for the live rows of ``plan``; sets session variables (and may register
    deleted positions) on ``conn``.

    ``positions`` adds ``__tv_file`` (index into ``plan.files``) and ``__tv_pos`` (row position
    in that file), which row-level writes use to build deletion vectors. ``ordered``
    reads every file through one scan with no join, so DuckDB keeps the snapshot's row
    order (a scan, a filter and a projection preserve insertion order; joins do not).

    Deleted rows are dropped inside the scan. Either a WHERE tests one keep bitmap over
    the rows of the files read (``"mask"``: a session variable, no join, its cost is per
    row read), or an ANTI JOIN on ``(file_index, file_row_number)`` against the deleted
    positions (``"anti"``: cheaper when few rows are deleted). ``"auto"`` picks by the
    share of deleted rows and the size of the scan (:func:`deletes_mode`); ``ordered``
    always uses the bitmap. Clean files are read
    raw (a separate scan unless ``ordered``). Both ways let filters push into the scan.
    Row ids and positions come from per-file lists indexed by ``file_index``.
    ``created`` collects what is registered and set on ``conn`` (for :func:`release`).
    With ``params``, long lists and bitmaps go in it as named parameters instead of
    session variables: the caller must execute the SQL with them (``conn.execute(sql,
    params)``); a relation built with ``conn.sql`` cannot take them.
    """
    names = list(columns) if columns is not None else plan.schema.names

    def select_list(prefix: str, group: Sequence[FileRead], first: str, gidx: str) -> str:
        # Each group is its own read_parquet: only its files' columns bind.
        present: set[str] = set()
        for f in group:
            present.update(f.columns)
        out = []
        moved = dict(group[0].renames) if group else {}  # one mapping per group
        for n in names:
            field = plan.schema.field(n)
            dtype = duckdb_type(field.type)
            src = moved.get(n, n)
            if src is not None and src in present:
                expr = f"{prefix}{quote(src)}"
                out.append(f"CAST({expr} AS {dtype}) AS {quote(n)}" if dtype else expr)
            else:
                out.append(f"CAST(NULL AS {dtype or 'VARCHAR'}) AS {quote(n)}")
        if with_row_id:
            if ROW_ID in present:
                out.append(
                    f"COALESCE({prefix}{quote(ROW_ID)}, {first} + {prefix}file_row_number)"
                    f" AS {quote(ROW_ID)}"
                )
            else:
                out.append(f"{first} + {prefix}file_row_number AS {quote(ROW_ID)}")
        if positions:
            out.append(f"{gidx} AS __tv_file, {prefix}file_row_number AS __tv_pos")
        return ", ".join(out) if out else "NULL AS __empty"

    if not plan.files:
        return _empty_relation(plan.schema, names, with_row_id=with_row_id, positions=positions)

    check_readable(plan, positions=positions, with_row_id=with_row_id)
    tag = plan.key[:24]
    parts = []
    for label, members in _scan_groups(plan.files, ordered=ordered):
        group = [f for _, f in members]
        # union_by_name reconciles the files' schemas (files written before a column was
        # added or widened); it binds every file on each query (~0.2 ms a file), so
        # it is left out when the files are known to share one schema.
        by_name = "" if same_file_schema([f.path for f in group]) else ", union_by_name=true"
        # A long list goes in a variable: a literal of thousands of paths costs DuckDB
        # more to parse than the scan of as many small files. (A short one stays a
        # literal: a relation on a long-lived connection keeps its variables.) The path
        # must never set a column (a table under ".../label=x/" would read 'x').
        if len(group) > _LITERAL_FILES:
            listed = _set_variable(conn, f"__tv_files_{label}_{tag}",
                                   [f.path for f in group], "VARCHAR[]", created, params)
        else:
            listed = "[" + ", ".join("'" + f.path.replace("'", "''") + "'" for f in group) + "]"
        src = f"read_parquet({listed}{by_name}, hive_partitioning=false) AS __s"
        at_file = "[__s.file_index::BIGINT + 1]"  # lists are 1-based
        first = gidx = joins = where = ""
        if with_row_id:
            first = _set_variable(conn, f"__tv_first_{label}_{tag}",
                                  [f.first_row_id for f in group], "BIGINT[]", created,
                                  params) + at_file
        if positions:
            gidx = _set_variable(conn, f"__tv_gidx_{label}_{tag}",
                                 [i for i, _ in members], "BIGINT[]", created,
                                 params) + at_file
        dirty = [f for f in group if f.deleted is not None]
        if dirty:
            rows = sum(f.rows for f in group)
            mode = deletes
            if ordered or mode == "auto":
                deleted = sum(0 if f.deleted is None else len(f.deleted) for f in dirty)
                mode = deletes_mode(rows, deleted, ordered=ordered)
            if mode == "mask" and rows > _MAX_BITS:
                if ordered:
                    raise ValueError("an ordered DuckDB read takes at most 2**31 - 1 rows")
                mode = "anti"
            if mode == "mask":
                keep = np.ones(rows, dtype=bool)
                starts = np.cumsum([0] + [f.rows for f in group])
                for f, start in zip(group, starts, strict=False):
                    if f.deleted is not None:
                        keep[start + f.deleted] = False
                bits = _set_variable(conn, f"__tv_keep_{label}_{tag}",
                                     np.packbits(keep).tobytes(),  # first row = first bit
                                     "BLOB::BIT", created, params)
                offs = _set_variable(conn, f"__tv_offs_{label}_{tag}",
                                     [int(x) for x in starts[:-1]], "BIGINT[]",
                                     created, params) + at_file
                where = (f" WHERE get_bit({bits}, ({offs} + __s.file_row_number)::INTEGER)"
                         " = 1")
            else:
                idx = np.concatenate([np.full(len(f.deleted), i, dtype=np.int64)  # type: ignore[arg-type]
                                      for i, f in enumerate(group) if f.deleted is not None])
                pos = np.concatenate([f.deleted for f in dirty])  # type: ignore[misc]
                dv_name = f"__tv_dv_{label}_{tag}"
                conn.register(dv_name, pa.table({"file_index": idx, "pos": pos}))
                if created is not None:
                    created.append(("table", dv_name))
                joins = (f" ANTI JOIN {dv_name} AS __dv ON __s.file_index = __dv.file_index"
                         " AND __s.file_row_number = __dv.pos")
        sel = select_list("__s.", group, first, gidx)
        parts.append(f"SELECT {sel} FROM {src}{joins}{where}")
    return " UNION ALL ".join(parts)


def check_expressions(
    schema: pa.Schema,
    condition: str | None = None,
    shown: str | None = None,
    assignments: Mapping[str, str] | None = None,
) -> None:
    """InvalidPredicateError unless ``condition`` (DuckDB SQL over the columns of
    ``schema``) is a true/false condition and each ``assignments`` expression can be
    stored in its column (as DuckDB's UPDATE casts it).

    Both are bound against an empty relation of the version's own types, so the answer
    never depends on which files pruning left to read (DuckDB checks a statement when
    it binds it, whatever rows there are). ``shown`` is the user's text, for errors."""
    names = {n.lower() for n in schema.names}
    source = _empty_relation(schema, schema.names, with_row_id=ROW_ID.lower() not in names,
                             positions=False)
    conn = default_connection().cursor()
    try:
        if condition is not None:
            text = shown if shown is not None else condition
            kind = _bind(conn, f"SELECT ({condition}) FROM ({source}) AS {REL} LIMIT 0", text)
            if kind not in ("BOOLEAN", '"NULL"', "NULL"):
                raise InvalidPredicateError(
                    f"{text!r} is not a true/false condition (it gives {kind})", sql=text
                )
        for col, expr in (assignments or {}).items():
            dtype = duckdb_type(schema.field(col).type)
            cast = f"CAST(({expr}) AS {dtype})" if dtype else f"({expr})"
            _bind(conn, f"SELECT {cast} FROM ({source}) AS {REL} LIMIT 0",
                  f"{quote(col)} = {expr}")
    finally:
        conn.close()


def cast_values(values: pa.Table, schema: pa.Schema) -> pa.Table:
    """The columns of ``values`` (named as ``schema``'s) cast to ``schema``'s types by
    DuckDB's rules, as its INSERT does (2.5 -> 3 in an integer column, ' 7 ' -> 7,
    '[1, 2]' -> a list, a time without offset -> UTC); the Arrow types are then exactly
    the schema's. SchemaMismatchError names each column whose values cannot be cast."""
    if all(values.schema.field(f.name).type == f.type for f in schema):
        return values.select(schema.names)  # nothing to cast (an update of numbers, say)
    conn = _type_connection().cursor()
    name = "__tv_values"
    try:
        conn.register(name, values)

        def select(cols: Sequence[pa.Field]) -> pa.Table:
            items = []
            for f in cols:
                dtype = duckdb_type(f.type)
                items.append(f"CAST({quote(f.name)} AS {dtype}) AS {quote(f.name)}" if dtype
                             and values.schema.field(f.name).type != f.type else quote(f.name))
            return fetch_arrow(conn.sql(f"SELECT {', '.join(items)} FROM {name}"))

        try:
            out = select(list(schema))
        except duckdb.Error:
            reasons, bad = [], []
            for f in schema:
                try:
                    select([f])
                except duckdb.Error as exc:
                    bad.append(f.name)
                    reasons.append(f"{f.name!r}: cannot store {values.schema.field(f.name).type}"
                                   f" values in {f.type} ({_first_line(exc)})")
            raise SchemaMismatchError(
                "values do not fit the table: " + "; ".join(reasons or ["cannot cast"]), bad
            ) from None
    finally:
        conn.close()
    return out


# The alias of the relation row-level writes and filtered reads select from: not a
# name a user's column could have, so ``x.a`` is always the field a of a struct x.
REL = "__tv_rel"


def _bind(conn: duckdb.DuckDBPyConnection, sql: str, shown: str) -> str:
    try:
        return str(conn.sql(sql).types[0])
    except duckdb.Error as exc:
        raise duckdb_error(exc, shown) from exc


def duckdb_error(exc: BaseException, sql: str) -> TableverError:
    """The TableverError for a DuckDB failure evaluating the user's ``sql``."""
    if isinstance(exc, TableverError):
        return exc
    text = _first_line(exc)
    if "IO Error" in text or "No files found" in text or "No such file" in text:
        return IntegrityError(f"cannot read a data file: {text}")
    for prefix in ("Binder Error: ", "Conversion Error: ", "Parser Error: "):
        text = text.replace(prefix, "")
    return InvalidPredicateError(f"cannot evaluate {sql!r}: {text}", sql=sql)


def _open_database() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")  # times without an offset mean UTC
    # Keep Parquet footers between queries of a cached connection: binding a view over
    # 200 files and scanning them read every footer twice per query without it.
    conn.execute("SET parquet_metadata_cache = true")
    return conn


class _Spare:
    """One new in-memory database opened ahead, on a background thread, for the next
    sandbox: opening one costs more than a small query (mostly outside the GIL), which the first query
    over each new set of files otherwise waits for. Started by the first sandbox a
    process opens, so programs that never run SQL never pay for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: ThreadPoolExecutor | None = None
        self.next: Future[duckdb.DuckDBPyConnection] | None = None

    def take(self) -> duckdb.DuckDBPyConnection:
        with self.lock:
            ready, self.next = self.next, None
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tablever-duckdb")
            self.next = self.pool.submit(_open_database)
        if ready is not None:
            try:
                return ready.result()
            except Exception:  # noqa: BLE001 - open one here, which reports its own error
                pass
        return _open_database()

    def prepare(self) -> None:
        """Start opening the next database now if none is on its way (a query about to
        need one overlaps the opening with its own planning)."""
        with self.lock:
            if self.next is None:
                if self.pool is None:
                    self.pool = ThreadPoolExecutor(max_workers=1,
                                                   thread_name_prefix="tablever-duckdb")
                self.next = self.pool.submit(_open_database)

    def settle(self) -> None:
        """Before a fork: let an opening in progress finish, so that no DuckDB lock is
        held mid-open by a thread the child will not have."""
        pending = self.next
        if pending is not None:
            with contextlib.suppress(Exception):
                pending.result(timeout=10)

    def forget(self) -> None:
        """In a forked child: the parent's thread and its database are not ours. The
        database is kept referenced, never closed: closing it would wait for DuckDB
        threads that do not exist in the child."""
        if self.next is not None:
            _INHERITED.append(self.next)
        self.lock = threading.Lock()
        self.pool = self.next = None


_INHERITED: list[Any] = []
_SPARE = _Spare()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_SPARE.settle, after_in_child=_SPARE.forget)


def prepare_sandbox() -> None:
    """Have the database of the next new sandbox open in the background, while the
    caller plans the query that will need it."""
    _SPARE.prepare()


def sandbox_connection(paths: Sequence[str], *, spare: bool = False) -> duckdb.DuckDBPyConnection:
    """A new connection that may read exactly ``paths`` and nothing else, and cannot be
    reconfigured (statements are also whitelisted before they reach it). ``spare``
    takes a database opened ahead (see :class:`_Spare`)."""
    conn = _SPARE.take() if spare else _open_database()
    if paths:
        # Through a variable: DuckDB parses a literal of thousands of paths slowly.
        conn.execute("SET VARIABLE __tv_allowed = $1::VARCHAR[]", [list(paths)])
        conn.execute("SET allowed_paths = getvariable('__tv_allowed')")
        conn.execute("RESET VARIABLE __tv_allowed")
    # No extension is installed or loaded on demand: a function of one that is not
    # built in (excel_text, st_point, ...) is an error, never a download or a load of
    # whatever sits in the user's extension directory.
    conn.execute("SET autoinstall_known_extensions = false")
    conn.execute("SET autoload_known_extensions = false")
    conn.execute("SET allow_community_extensions = false")
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")
    return conn


_SANDBOX_CACHE_SIZE = 4


def cached_sandbox(paths: Sequence[str]) -> duckdb.DuckDBPyConnection:
    """A sandbox connection for exactly ``paths``, reused per thread (opening a DuckDB
    database costs more than a small query). Callers must leave it as they
    found it: drop their views and unregister their Arrow tables."""
    key = frozenset(paths)
    cache: OrderedDict[frozenset[str], duckdb.DuckDBPyConnection] | None = getattr(
        _local, "sandboxes", None
    )
    if cache is None:
        cache = OrderedDict()
        _local.sandboxes = cache
    conn = cache.get(key)
    if conn is not None:
        cache.move_to_end(key)
        return conn
    conn = sandbox_connection(sorted(key), spare=True)
    cache[key] = conn
    while len(cache) > _SANDBOX_CACHE_SIZE:
        _, old = cache.popitem(last=False)
        old.close()
    return conn


def forget_sandboxes() -> None:
    """Close this thread's cached sandbox connections."""
    cache = getattr(_local, "sandboxes", None) or {}
    for conn in list(cache.values()):
        forget_sandbox(conn)


caches.on_clear(forget_sandboxes)


def forget_sandbox(conn: duckdb.DuckDBPyConnection) -> None:
    """Drop ``conn`` from this thread's sandbox cache and close it (after a failure that
    may have left it in an unknown state)."""
    cache = getattr(_local, "sandboxes", None) or {}
    for key in [k for k, c in cache.items() if c is conn]:
        del cache[key]
    with contextlib.suppress(Exception):
        conn.close()


def run_sql(conn: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pa.Table:
    """Execute and fetch as Arrow; DuckDB's errors for the user's SQL become ours."""
    try:
        result = conn.sql(sql, params=params) if params else conn.sql(sql)
        if result is None:  # a statement without a result set
            return pa.table({})
        table = fetch_arrow(result)
    except duckdb.PermissionException as exc:
        raise TableverError(f"not allowed: {_first_line(exc)}") from exc
    except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
        raise InvalidPredicateError(f"invalid SQL: {_first_line(exc)}", sql=sql) from exc
    except duckdb.Error as exc:
        raise TableverError(f"query failed: {_first_line(exc)}") from exc
    except UnicodeDecodeError as exc:  # DuckDB quoting bytes of a damaged file
        raise TableverError(f"query failed: {exc}") from exc
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    return table


def is_conversion_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is DuckDB failing to cast a value."""
    cause = exc.__cause__ if isinstance(exc, TableverError) else exc
    return isinstance(cause, (duckdb.ConversionException, duckdb.OutOfRangeException))


def is_user_sql_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is a mistake in the SQL rather than in the data."""
    user = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException,
            duckdb.ConversionException)
    cause = exc.__cause__ if isinstance(exc, TableverError) else exc
    return isinstance(cause, user) or (
        isinstance(exc, InvalidPredicateError) and cause is None
    )


def fetch_arrow(result: Any) -> pa.Table:
    """An Arrow table from a DuckDB result or relation, across DuckDB versions."""
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        fn = getattr(result, name, None)
        if fn is not None:
            out = fn()
            return out.read_all() if isinstance(out, pa.RecordBatchReader) else out
    raise TypeError(f"cannot fetch Arrow from {type(result).__name__}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
