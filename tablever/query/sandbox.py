"""Running user SQL over snapshots in a DuckDB connection that can read only them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tablever.errors import InvalidPredicateError, TableNotFoundError, TableverError
from tablever.integrity import check_present, diagnose
from tablever.query.engine import (
    cached_sandbox,
    forget_sandbox,
    plan_sql,
    prepare_sandbox,
    release,
    run_sql,
    sandbox_connection,
)
from tablever.query.predicate import prune, query_filter
from tablever.query.rewrite import (
    HistoryCall,
    TableRef,
    check_read_only,
    history_calls,
    parse,
    rewrite_query,
    table_refs,
)
from tablever.schema import RESERVED_PREFIX, ROW_ID

if TYPE_CHECKING:
    from sqlglot import exp

    from tablever.snapshot import Snapshot
    from tablever.table import Table

__all__ = ["eval_timestamp", "query_snapshots", "query_table", "run_query"]


def eval_timestamp(expr: str) -> datetime:
    """Evaluate a DuckDB timestamp expression (from a ``TIMESTAMP AS OF`` clause)."""
    conn = sandbox_connection([])
    try:
        table = run_sql(conn, f"SELECT CAST(({expr}) AS TIMESTAMPTZ) AS ts")
    finally:
        conn.close()
    value = table.column(0)[0].as_py()
    if not isinstance(value, datetime):
        raise InvalidPredicateError(f"{expr!r} is not a timestamp", sql=expr)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _check_own_names(tree: exp.Expression) -> None:
    """InvalidPredicateError for a CTE or alias named with the prefix the snapshots'
    own CTEs use (``__tv_``): it would clash with them."""
    from sqlglot import exp

    for node in tree.find_all(exp.TableAlias):
        name = node.name
        if name.lower().startswith(RESERVED_PREFIX):
            raise InvalidPredicateError(
                f"the name {name!r} is reserved: names starting with {RESERVED_PREFIX!r} "
                "are tablever's own"
            )


def _count_name(tree: exp.Expression) -> str | None:
    """The output column's name when ``tree`` is just ``SELECT count(*) [AS name] FROM
    one_table`` (an optional version clause and alias, nothing else), else None."""
    from sqlglot import exp

    if not isinstance(tree, exp.Select) or set(k for k, v in tree.args.items() if v) - {
        "expressions", "from", "from_"
    }:
        return None
    source = tree.args.get("from_") or tree.args.get("from")
    table = getattr(source, "this", None)
    if not isinstance(table, exp.Table) or set(k for k, v in table.args.items() if v) - {
        "this", "db", "catalog", "alias", "version", "when"
    } or len(tree.expressions) != 1:
        return None
    alias = table.args.get("alias")
    if alias is not None and alias.columns:  # t AS e(a, b): DuckDB checks the count
        return None
    item = tree.expressions[0]
    count = item.this if isinstance(item, exp.Alias) else item
    if type(count) is not exp.Count or set(k for k, v in count.args.items() if v) - {
        "this", "big_int"
    }:
        return None
    star = count.this
    if star is not None and (type(star) is not exp.Star or any(star.args.values())):
        return None  # count(x), count(DISTINCT ...), count(* EXCLUDE (...)), ...
    if isinstance(item, exp.Alias):
        return item.alias or None  # AS "": DuckDB refuses an empty name
    return "count_star()"


def run_query(
    tree: exp.Expression,
    resolve: Callable[[TableRef], Snapshot],
    call: Callable[[HistoryCall], pa.Table] | None = None,
) -> pa.Table:
    """Bind every table reference of a read-only statement to a snapshot and run it.

    ``call`` gives the rows of each history function (``snapshots('t')``, ...); without
    it they are refused. A query that names ``_row_id`` reads each snapshot with its row
    ids, a column ``*`` leaves out.
    """
    from sqlglot import exp

    check_read_only(tree)
    _check_own_names(tree)
    refs = table_refs(tree)
    calls = history_calls(tree)
    if calls and call is None:
        raise InvalidPredicateError(
            f"{calls[0].function}() is not available here: use Warehouse.sql or Table.sql")
    name = _count_name(tree) if len(refs) == 1 and not calls else None
    if name is None:
        prepare_sandbox()  # opens while the snapshots are resolved and their files checked
    snaps = {ref: resolve(ref) for ref in refs}
    relations = {c: call(c) for c in calls} if call is not None else {}
    # A query naming _row_id reads it for each table that has no column of that name
    # (in any case: tables made before the name was reserved keep theirs).
    named = any(c.name.lower() == ROW_ID for c in tree.find_all(exp.Column))
    row_ids = {ref for ref, snap in snaps.items()
               if named and ROW_ID not in {n.lower() for n in snap.schema.names}}
    if name is not None:
        # A snapshot's row count is in its log (file rows minus deleted rows): DuckDB
        # would open every file's footer for it.
        (snap,) = snaps.values()
        check_present(snap.storage, snap.state)  # no file is read: they must all be there
        # from a buffer: pa.array imports pandas (~0.3 s) in a process that has not
        count = pa.py_buffer(snap.num_rows.to_bytes(8, "little", signed=True))
        return pa.table({name: pa.Array.from_buffers(pa.int64(), 1, [None, count])})
    paths: list[str] = []
    plans = {}
    for ref, snap in snaps.items():
        # One table: WHERE conjuncts over its columns prune its files by min/max stats.
        found = query_filter(tree, snap.schema.names) if len(snaps) == 1 else None
        plan = snap.read_plan(
            None if found is None else prune(found, snap.data_files, snap.schema,
                                             stored=snap.state.schema))
        plans[ref] = plan
        paths.extend(plan.paths)
    conn = cached_sandbox(sorted(set(paths)))
    names = {ref: f"__tv_ref_{i}" for i, ref in enumerate(refs)}
    fn_names = {c: f"__tv_fn_{i}" for i, c in enumerate(calls)}
    created: list[tuple[str, str]] = []
    # File lists and keep bitmaps are bound with the statement, not SET and RESET; but
    # DuckDB takes no parameters for a statement it expands into several (a PIVOT whose
    # values it must look up first), so those read session variables.
    params: dict[str, Any] | None = (
        None if any(True for _ in tree.find_all(exp.Pivot)) else {})
    try:
        for c, rows in relations.items():
            conn.register(fn_names[c], rows)
            created.append(("table", fn_names[c]))
        # Each snapshot is a CTE in front of the query, not a view: a view is bound once
        # when created and again by the query.
        scans = {ref: plan_sql(plans[ref], conn, with_row_id=ref in row_ids,
                               created=created, params=params) for ref in refs}
        ctes = ", ".join(f'"{names[ref]}" AS NOT MATERIALIZED ({scans[ref]})' for ref in refs)
        shown = rewrite_query(tree, lambda ref: names[ref], bind_call=lambda c: fn_names[c],
                              row_ids=row_ids)
        return _run(conn, shown, ctes, params or None)
    except TableverError as exc:
        # A damaged or missing file is the table's fault, not the query's: name it.
        for snap in dict.fromkeys(snaps.values()):
            bad = diagnose(snap.storage, snap.state, exc)
            if bad is not None:
                raise bad from exc
        raise
    finally:
        try:
            release(conn, created)
        except Exception:  # noqa: BLE001 - never hide the query's own error; start afresh
            forget_sandbox(conn)


# A leading WITH (after any comments sqlglot kept) that the snapshots' CTEs join.
_WITH = re.compile(r"\s*(?:/\*.*?\*/\s*)*WITH\s+(RECURSIVE\s+)?", re.IGNORECASE | re.DOTALL)


def _run(conn: Any, sql: str, ctes: str, params: dict[str, Any] | None = None) -> pa.Table:
    """Run ``sql`` with ``ctes`` first in its WITH list (and the named ``params`` they
    read); errors quote ``sql`` alone."""
    if not ctes:
        return run_sql(conn, sql)
    m = _WITH.match(sql)
    full = f"{sql[:m.end()]}{ctes}, {sql[m.end():]}" if m else f"WITH {ctes} {sql}"
    try:
        return run_sql(conn, full, params)
    except InvalidPredicateError as exc:
        raise InvalidPredicateError(str(exc), sql=sql) from exc.__cause__


def query_snapshots(sql: str, named: Mapping[str, Snapshot]) -> pa.Table:
    """Run ``sql`` where each name in ``named`` is a snapshot (no version clauses)."""
    tree = parse(sql)
    lower = {k.lower(): v for k, v in named.items()}

    def resolve(ref: TableRef) -> Snapshot:
        snap = lower.get(ref.name.lower())
        if snap is None:
            raise TableNotFoundError(ref.name, available=sorted(named))
        if ref.kind != "latest":
            raise InvalidPredicateError(
                f"{ref.name!r} is one fixed snapshot here: version clauses are not allowed "
                "(use Table.sql or Warehouse.sql to query other versions)"
            )
        return snap

    return run_query(tree, resolve)


def resolve_ref(table: Table, ref: TableRef) -> Snapshot:
    if ref.kind == "latest":
        return table.latest()
    if ref.kind == "version":
        return table.as_of(ref.value)
    assert isinstance(ref.value, str)
    return table.as_of(eval_timestamp(ref.value))


def query_table(table: Table, sql: str) -> pa.Table:
    """Run ``sql`` where ``t`` (or the table's own name) is ``table``; any reference may
    carry a version clause."""
    tree = parse(sql)
    names = {"t", table.name.lower()}

    def resolve(ref: TableRef) -> Snapshot:
        if ref.name.lower() not in names:
            raise TableNotFoundError(ref.name, available=sorted(names))
        return resolve_ref(table, ref)

    def call(c: HistoryCall) -> pa.Table:
        from tablever.query.history import history_relation

        if c.table.lower() not in names:
            raise TableNotFoundError(c.table, available=sorted(names))
        return history_relation(c, table, resolve)

    return run_query(tree, resolve, call)
