"""SQL predicates and expressions: validation with sqlglot, and min/max file pruning."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tablever.errors import InvalidPredicateError
from tablever.format.checkpoint import FileList
from tablever.format.commit import DataFile
from tablever.format.fieldids import has_ids, table_stats
from tablever.query.engine import quote

__all__ = ["int_bounds", "may_match", "parse_expression", "prune", "query_filter", "quote",
           "validate_predicate"]

_FORBIDDEN = (exp.Select, exp.Subquery, exp.Table, exp.AggFunc, exp.Window, exp.Command)


Node = Any  # a sqlglot expression node (exp.Expr in sqlglot 30, exp.Expression before)


def parse_expression(sql: object, columns: Sequence[str], *, what: str = "predicate") -> Node:
    """Parse one scalar SQL expression (DuckDB dialect) over ``columns``.

    Raises InvalidPredicateError for syntax errors (with line and column), for
    subqueries, table references, aggregates, window functions, and unknown columns.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidPredicateError(f"empty or non-string {what}: {sql!r}", sql=str(sql))
    try:
        tree = sqlglot.parse_one(sql, read="duckdb", into=exp.Condition)
    except (ParseError, TokenError) as exc:
        line = col = None
        errors = getattr(exc, "errors", None) or []
        reason = "syntax error"
        if errors:
            first = errors[0]
            line, col = first.get("line"), first.get("col")
            desc = str(first.get("description") or "")
            reason = "incomplete expression" if "Required keyword" in desc else (
                re.sub(r"<class '[\w.]+\.(\w+)'>", r"\1", desc) or reason
            )
            if first.get("highlight"):
                reason += f" near {first['highlight']!r}"
        elif isinstance(exc, TokenError):
            reason = "cannot read it (an unterminated string or quote?)"
        where = f" at line {line}, column {col}" if line is not None else ""
        raise InvalidPredicateError(
            f"invalid {what} {sql!r}{where}: {reason}", sql=sql, line=line, col=col
        ) from exc
    if tree is None:
        raise InvalidPredicateError(f"empty {what}: {sql!r}", sql=sql)
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN):
            raise InvalidPredicateError(
                f"{what} {sql!r} may not contain {node.key.upper()} "
                "(only scalar expressions over the table's columns)",
                sql=sql,
            )
    known = set(columns)
    lower = {c.lower(): c for c in columns}
    unknown = []
    for col in tree.find_all(exp.Column):
        # ``x.a`` (and ``x.a.b``) is a field of a struct column x: DuckDB binds the field
        name = col.parts[0].name if col.table else col.name
        if name not in known and name.lower() not in lower:
            unknown.append(col.sql(dialect="duckdb") if col.table else name)
    if unknown:
        raise InvalidPredicateError(
            f"{what} {sql!r} names unknown column(s) {', '.join(sorted(set(unknown)))}; "
            f"columns are: {', '.join(columns)}",
            sql=sql,
        )
    return tree


def validate_predicate(sql: object, columns: Sequence[str]) -> str:
    """The predicate re-generated as DuckDB SQL, after validation."""
    return parse_expression(sql, columns).sql(dialect="duckdb")


# --- pruning -------------------------------------------------------------------------

_MAYBE = None  # three-valued: True (may match), False (cannot match)


def _literal(node: Node) -> Any:
    if isinstance(node, exp.Paren):
        return _literal(node.this)
    if isinstance(node, exp.Neg):
        v = _literal(node.this)
        return -v if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) else _NOPE
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        # DuckDB types a number literal as an integer, a DECIMAL (digits with a point:
        # exact) or a DOUBLE (with an exponent); each compares differently.
        text = node.this
        try:
            if re.fullmatch(r"\d+", text):
                return int(text)
            if re.fullmatch(r"\d*\.\d*", text):
                return Decimal(text)
            if re.fullmatch(r"(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+", text):
                return float(text)
            return _NOPE
        except (ValueError, ArithmeticError):
            return _NOPE
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        # only casts that keep the text's value: a DATE '... 12:00' is midnight
        text, to = node.this.this, node.to.this
        T = exp.DataType.Type
        if to in (T.VARCHAR, T.TEXT, T.TIMESTAMPTZ):
            return text
        if to in (T.TIMESTAMP, T.TIMESTAMPNTZ, T.TIMESTAMP_NS):
            m = _TIMESTAMP.fullmatch(text.strip())
            return text if m is not None and not m.group("zone") else _NOPE
        if to == T.DATE:
            return text if _DATE.fullmatch(text.strip()) else _NOPE
    return _NOPE


class _Nope:
    pass


_NOPE = _Nope()


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.(?P<fraction>\d{1,6}))?)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?"
)


def _comparable(value: Any, bound: Any, dtype: Any) -> tuple[Any, Any] | None:
    """Put a literal and a stats bound of a column of type ``dtype`` in one domain where
    Python compares them as DuckDB would, or None (then nothing is pruned).

    Only unambiguous pairs qualify: numbers with numbers, strings with strings on string
    columns, and plain ISO dates and timestamps on temporal columns (no offset on a
    timestamp without a time zone, where DuckDB would drop it, and dates only on date
    columns, where DuckDB would truncate a time).
    """
    if dtype is None:
        return None
    if pa.types.is_boolean(dtype):
        return (value, bound) if isinstance(value, bool) and isinstance(bound, bool) else None
    if isinstance(value, bool) or isinstance(bound, bool):
        return None
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        if not (isinstance(value, (int, float, Decimal)) and isinstance(bound, (int, float))):
            return None
        if pa.types.is_floating(dtype) or isinstance(value, float):
            # DuckDB compares a float column, or a DOUBLE literal, as DOUBLE: both
            # rounded to the nearest double (10**18 + 1 = 1e18 there), as float() does
            try:
                return float(value), float(bound)
            except OverflowError:
                return None
        if isinstance(value, Decimal):
            # an integer column against DECIMAL(p, s) compares exactly in DECIMAL(19 + s)
            # while that fits DuckDB's 38 digits; beyond, DuckDB picks DOUBLE: unsure
            exponent = value.as_tuple().exponent
            if not value.is_finite() or not isinstance(exponent, int) or 19 - exponent > 38:
                return None
        return value, bound
    if not (isinstance(value, str) and isinstance(bound, str)):
        return None
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return value, bound
    if pa.types.is_date(dtype):
        if not _DATE.fullmatch(value.strip()):
            return None
        try:
            return dt.date.fromisoformat(value.strip()), dt.date.fromisoformat(bound[:10])
        except ValueError:
            return None
    if pa.types.is_timestamp(dtype):
        m = _TIMESTAMP.fullmatch(value.strip())
        if m is None or (m.group("zone") and dtype.tz is None):
            return None
        digits = len(m.group("fraction") or "")
        if digits > {"s": 0, "ms": 3}.get(dtype.unit, 6):
            return None  # DuckDB first casts the literal to the column's coarser unit
        try:
            a, b = _as_time(value), _as_time(bound)
        except ValueError:
            return None
        if (a.tzinfo is None) != (b.tzinfo is None):
            # a zone-less literal on a column with a zone means UTC (the session's zone)
            a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
        return a, b
    return None


def _as_time(text: str) -> dt.datetime:
    t = text.strip().replace(" ", "T", 1)
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    if "T" not in t and len(t) == 10:
        return dt.datetime.fromisoformat(t)
    v = dt.datetime.fromisoformat(t)
    if v.tzinfo is not None:
        v = v.astimezone(dt.timezone.utc)
    return v


def _column(node: Node, stats: Mapping[str, Mapping[str, Any]]) -> str | None:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column) and not node.table:
        name = node.name
        if name in stats:
            return name
        for k in stats:
            if k.lower() == name.lower():
                return k
    return None


_FLIP: dict[type, type] = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ}


def _compare(
    op: type, col_stats: Mapping[str, Any], value: Any, rows: int, dtype: Any
) -> bool:
    """May some row satisfy ``column <op> value`` given min/max/nulls?"""
    if value is None or isinstance(value, _Nope):
        return True
    if col_stats.get("nulls", 0) >= rows and rows > 0:
        return False  # all null: no comparison is TRUE
    lo, hi = col_stats.get("min"), col_stats.get("max")
    if lo is None or hi is None:
        return True
    a = _comparable(value, lo, dtype)
    b = _comparable(value, hi, dtype)
    if a is None or b is None:
        return True
    v, lo_ = a
    v2, hi_ = b
    if pa.types.is_floating(dtype) and dtype.bit_width < 64:
        # DuckDB rounds the literal to the column's precision: leave that much room
        slack = max(abs(lo_), abs(hi_)) * 2.0**-20 + 1e-38
        lo_, hi_ = lo_ - slack, hi_ + slack
    elif pa.types.is_timestamp(dtype) and dtype.unit == "ns":
        # bounds were stored to the microsecond: a nanosecond value may lie beyond them
        lo_, hi_ = lo_ - dt.timedelta(microseconds=1), hi_ + dt.timedelta(microseconds=1)
    try:
        if op is exp.EQ:
            return bool(lo_ <= v <= hi_)
        if op is exp.GT:
            return bool(hi_ > v2)
        if op is exp.GTE:
            return bool(hi_ >= v2)
        if op is exp.LT:
            return bool(lo_ < v)
        if op is exp.LTE:
            return bool(lo_ <= v)
    except TypeError:
        return True
    return True


def may_match(
    node: Node, stats: Mapping[str, Mapping[str, Any]], rows: int,
    types: Mapping[str, Any] | None = None,
) -> bool:
    """False only if no row of a file with these stats can make ``node`` TRUE.
    ``types`` maps column names to Arrow types; a column of unknown type never prunes."""
    types = types or {}
    if isinstance(node, exp.Paren):
        return may_match(node.this, stats, rows, types)
    if isinstance(node, exp.And):
        return may_match(node.left, stats, rows, types) and may_match(
            node.right, stats, rows, types)
    if isinstance(node, exp.Or):
        return may_match(node.left, stats, rows, types) or may_match(
            node.right, stats, rows, types)
    if type(node) in _FLIP:
        left, right = node.left, node.right
        col = _column(left, stats)
        if col is not None:
            return _compare(type(node), stats[col], _literal(right), rows, types.get(col))
        col = _column(right, stats)
        if col is not None:
            return _compare(_FLIP[type(node)], stats[col], _literal(left), rows, types.get(col))
        return True
    if isinstance(node, exp.Between):
        col = _column(node.this, stats)
        if col is None or node.args.get("symmetric"):
            return True
        dtype = types.get(col)
        return _compare(exp.GTE, stats[col], _literal(node.args["low"]), rows, dtype) and (
            _compare(exp.LTE, stats[col], _literal(node.args["high"]), rows, dtype)
        )
    if isinstance(node, exp.In) and not node.args.get("query"):
        col = _column(node.this, stats)
        if col is None:
            return True
        return any(_compare(exp.EQ, stats[col], _literal(e), rows, types.get(col))
                   for e in node.expressions)
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        col = _column(node.this, stats)
        if col is None:
            return True
        return bool(stats[col].get("nulls", 1) > 0)
    if isinstance(node, exp.Not) and isinstance(node.this, exp.Is):
        inner = node.this
        if isinstance(inner.expression, exp.Null):
            col = _column(inner.this, stats)
            if col is None:
                return True
            return bool(stats[col].get("nulls", 0) < rows)
    return True


def int_bounds(tree: Node, schema: pa.Schema) -> dict[str, tuple[int | None, int | None]]:
    """Inclusive bounds on integer columns that every row for which ``tree`` is TRUE
    satisfies, from the conjuncts of its top-level AND of the shapes ``col <op> int``,
    ``col BETWEEN int AND int`` and ``col IN (int, ...)`` (others are left out, so the
    bounds hold for a superset of the matching rows)."""
    names = {f.name: f.name for f in schema} | {
        f.name.lower(): f.name for f in schema if f.name.lower() not in {g.name for g in schema}}
    ints = {f.name for f in schema if pa.types.is_integer(f.type)}
    out: dict[str, tuple[int | None, int | None]] = {}

    def column(node: Node) -> str | None:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Column) and not node.table:
            name = names.get(node.name) or names.get(node.name.lower())
            return name if name in ints else None
        return None

    def value(node: Node) -> int | None:
        v = _literal(node)
        return v if type(v) is int else None

    def narrow(name: str, lo: int | None, hi: int | None) -> None:
        old_lo, old_hi = out.get(name, (None, None))
        if old_lo is not None and (lo is None or old_lo > lo):
            lo = old_lo
        if old_hi is not None and (hi is None or old_hi < hi):
            hi = old_hi
        out[name] = (lo, hi)

    while isinstance(tree, exp.Paren):
        tree = tree.this
    for node in tree.flatten() if isinstance(tree, exp.And) else [tree]:
        while isinstance(node, exp.Paren):
            node = node.this
        if type(node) in _FLIP:
            assert isinstance(node, exp.Binary)
            op, col, v = type(node), column(node.left), value(node.right)
            if col is None or v is None:
                op, col, v = _FLIP[type(node)], column(node.right), value(node.left)
            if col is None or v is None:
                continue
            if op is exp.EQ:
                narrow(col, v, v)
            elif op is exp.GT:
                narrow(col, v + 1, None)
            elif op is exp.GTE:
                narrow(col, v, None)
            elif op is exp.LT:
                narrow(col, None, v - 1)
            else:
                narrow(col, None, v)
        elif isinstance(node, exp.Between) and not node.args.get("symmetric"):
            col, lo, hi = column(node.this), value(node.args["low"]), value(node.args["high"])
            if col is not None and lo is not None and hi is not None:
                narrow(col, lo, hi)
        elif isinstance(node, exp.In) and not node.args.get("query") and node.expressions:
            col = column(node.this)
            values = [value(e) for e in node.expressions]
            if col is not None and all(v is not None for v in values):
                narrow(col, min(values), max(values))  # type: ignore[type-var]
    return out


def prune(tree: Node | None, files: Iterable[DataFile], schema: pa.Schema, *,
          stored: Mapping[str, Any]) -> list[DataFile]:
    """The files that may hold a row for which ``tree`` is TRUE (all, if tree is None).

    ``schema`` is the snapshot's: it says how DuckDB compares each column with a literal;
    ``stored`` is the same schema as the log stores it, whose field ids (format 2) say
    which column of each file holds each column (its stats are under the file's names).
    A column absent from a file's stats is NULL in every row of it (schema evolution).
    Given a snapshot's :class:`~tablever.format.checkpoint.FileList`, integer bounds in
    ``tree`` first narrow the files on the statistics in bulk, so that only the entries
    of the files kept are built (a point lookup on a large table).
    """
    if tree is None:
        return list(files)
    by_id = has_ids(stored)
    # (format 2: a file's statistics may sit under the name its column had when written,
    # which only the per-file mapping below knows)
    if isinstance(files, FileList) and not by_id:
        bounds = int_bounds(tree, schema)
        narrowed = files.where_bounds(bounds) if bounds else None
        if narrowed is not None:
            files = narrowed
    types = {f.name: f.type for f in schema}
    # one walk of the tree, not one per file (it was most of a 200-file prune)
    columns = [c for c in tree.find_all(exp.Column) if not c.table]
    out = []
    for f in files:
        stats: Mapping[str, Mapping[str, Any]] = table_stats(f, stored) if by_id else f.stats
        missing = [c.name for c in columns if _column(c, stats) is None]
        if missing:
            stats = dict(stats)
            for name in missing:
                stats[name] = {"nulls": f.rows}
        if may_match(tree, stats, f.rows, types):
            out.append(f)
    return out


def query_filter(tree: Node, columns: Sequence[str]) -> Node | None:
    """The part of a query's WHERE that may prune its one table's files, or None.

    Only for the plainest shape, ``SELECT ... FROM x [AS a] WHERE ...`` with no other table,
    join, subquery or CTE: there every row of the result passed the WHERE, so a file none
    of whose rows can make a conjunct TRUE contributes nothing. The conjuncts kept name
    only columns of ``columns`` (qualifiers of ``x`` or its alias are dropped) and no
    select-list alias (DuckDB lets WHERE use those); the rest are left to DuckDB.
    """
    if not isinstance(tree, exp.Select) or tree.args.get("with") or tree.args.get("joins"):
        return None
    where = tree.args.get("where")
    source = tree.args.get("from_") or tree.args.get("from")
    if where is None or source is None or not isinstance(source.this, exp.Table):
        return None
    if len(list(tree.find_all(exp.Table))) != 1 or tree.find(exp.Subquery, exp.Lateral):
        return None
    table = source.this
    alias = table.args.get("alias")
    if (
        tree.args.get("sample") or table.args.get("sample")  # sampled before WHERE
        or table.args.get("pivots") or tree.find(exp.Pivot, exp.Unnest)  # reshaped rows
        or (alias is not None and alias.columns)  # columns renamed: t AS u(a, b)
    ):
        return None
    known = {c.lower(): c for c in columns}
    if len(known) != len(columns):  # names differing only in case: DuckDB cannot tell
        return None
    own = {table.name.lower(), table.alias_or_name.lower()}
    aliases = {e.alias.lower() for e in tree.expressions if isinstance(e, exp.Alias)}
    kept = []
    for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        cols = list(conjunct.find_all(exp.Column))
        if not cols or conjunct.find(*_FORBIDDEN):
            continue
        if any(c.table and c.table.lower() not in own for c in cols) or any(
            c.name.lower() not in known or c.name.lower() in aliases for c in cols
        ):
            continue
        bare = conjunct.copy()
        for c in bare.find_all(exp.Column):
            c.replace(exp.column(known[c.name.lower()], quoted=True))
        kept.append(bare)
    return exp.and_(*kept) if kept else None
