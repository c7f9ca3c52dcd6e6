"""Reading a snapshot through DuckDB: the ordered scan of large reads, and ``where=``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tablever.arrays import empty_table
from tablever.integrity import diagnose
from tablever.schema import ROW_ID

if TYPE_CHECKING:
    from tablever.readplan import ReadPlan
    from tablever.snapshot import Snapshot

__all__ = ["read_ordered", "read_where"]


def read_ordered(
    plan: ReadPlan, cols: list[str] | None, with_row_id: bool, out_schema: pa.Schema
) -> pa.Table | None:
    """The live rows through one ordered DuckDB scan that drops deleted rows as it
    reads (a bitmap test, no join), or None to read with pyarrow instead.

    DuckDB's parallel Parquet scan beats pyarrow's on large reads, more so with deleted
    rows (pyarrow decodes every row, then copies the survivors of each batch;
    docs/benchmarks.md). Any DuckDB error falls back to the pyarrow path, which names damaged
    files precisely.
    """
    from tablever.query.engine import default_connection, fetch_arrow, plan_sql

    conn = default_connection().cursor()
    try:
        params: dict[str, Any] = {}  # bound with the statement: no SET VARIABLE round
        sql = plan_sql(plan, conn, columns=cols, with_row_id=with_row_id, ordered=True,
                       params=params)
        table = fetch_arrow(conn.sql(sql, params=params or None)).cast(out_schema)
    except Exception:  # noqa: BLE001 - the pyarrow path reads, or says what is wrong
        return None
    finally:
        conn.close()
    return table if table.schema == out_schema else None


def read_where(snap: Snapshot, cols: list[str] | None, where: str, with_row_id: bool) -> pa.Table:
    """The live rows where ``where`` IS TRUE: the files min/max statistics cannot rule
    out, scanned by DuckDB with the predicate pushed into the scan."""
    from tablever.query.engine import (
        REL,
        check_expressions,
        default_connection,
        duckdb_error,
        fetch_arrow,
        plan_sql,
    )
    from tablever.query.predicate import parse_expression, prune, quote

    tree = parse_expression(where, snap.schema.names)
    condition = tree.sql(dialect="duckdb")
    check_expressions(snap.schema, condition, where)
    files = prune(tree, snap.data_files, snap.schema, stored=snap.state.schema)
    target = pa.schema([snap.schema.field(c) for c in (cols or snap.schema.names)])
    if with_row_id:
        target = target.append(pa.field(ROW_ID, pa.int64(), nullable=False))
    if not files:
        return empty_table(target)
    plan = snap.read_plan(files)
    conn = default_connection().cursor()
    # One ordered scan: the rows come in snapshot order, as to_arrow() gives them
    # (scans per schema or per kind of file would each be in order, but not together).
    # Files read under other names (format 2: renamed or dropped columns) need a scan
    # per column mapping; their rows are put in order by file and position instead.
    renamed = any(f.renames for f in plan.files)
    ordered = not renamed and sum(f.rows for f in plan.files) < 2**31
    params: dict[str, Any] = {}
    inner = plan_sql(plan, conn, with_row_id=with_row_id, ordered=ordered, positions=renamed,
                     params=params)
    names = list(cols) if cols is not None else list(snap.schema.names)
    if with_row_id:
        names.append(ROW_ID)
    sql = (
        f"SELECT {', '.join(quote(n) for n in names)} FROM ({inner}) AS {REL} "
        f"WHERE ({condition}) IS TRUE" + (" ORDER BY __tv_file, __tv_pos" if renamed else "")
    )
    try:
        table = fetch_arrow(conn.sql(sql, params=params or None))
    except Exception as exc:
        raise (diagnose(snap.storage, snap.state, exc, files) or duckdb_error(exc, where)) from exc
    try:
        return table.cast(target)
    except (pa.ArrowException, ValueError):
        return table
