"""SQL MERGE: the statement, rewritten for DuckDB to evaluate on one version's rows.

``MERGE INTO target [AS t] USING source [AS s] ON ... WHEN [NOT] MATCHED [AND ...]
THEN UPDATE SET ... | DELETE | INSERT ...`` becomes:

- the source, a read-only query (``SELECT * FROM source``) the sandbox runs with time
  travel (another table's old version, a subquery, VALUES);
- DuckDB's own MERGE over ``__tv_target`` (the target version's rows, with ``_row_id``)
  and ``__tv_source``, keeping the user's aliases, so DuckDB decides every row;
- when a WHEN MATCHED clause exists, a query naming a target row that two source rows
  match: the SQL standard's cardinality violation, which DuckDB does not raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from tablever.errors import InvalidPredicateError
from tablever.query.rewrite import check_read_only
from tablever.schema import ROW_ID

__all__ = ["MergePlan", "merge_plan", "merge_source", "merge_target"]

TARGET, SOURCE = "__tv_target", "__tv_source"
_HIDDEN = {ROW_ID.lower(), "__tv_file", "__tv_pos"}


@dataclass(frozen=True)
class MergePlan:
    table: str
    source: exp.Expression  # a read-only query for the sandbox
    statement: str  # DuckDB MERGE over __tv_target and __tv_source
    matched_check: str | None


def merge_target(tree: exp.Expr) -> str | None:
    """The target table's name if ``tree`` is a MERGE, else None."""
    if not isinstance(tree, exp.Merge):
        return None
    target = tree.this
    if not isinstance(target, exp.Table) or target.args.get("db") or target.args.get("catalog"):
        raise InvalidPredicateError("MERGE INTO names a warehouse table, e.g. MERGE INTO events")
    if target.args.get("version") is not None:
        raise InvalidPredicateError(
            f"MERGE INTO {target.name}: cannot modify a past version; merge into the table")
    return str(target.name)


def merge_source(tree: exp.Merge) -> tuple[exp.Expression, str]:
    """The source of MERGE ``tree`` as a read-only query, and the alias it goes by."""
    using = tree.args.get("using")
    if isinstance(using, exp.Table):
        src_alias = using.alias or using.name
        source: exp.Expression = exp.select("*").from_(using.copy())
    elif isinstance(using, exp.Subquery):
        src_alias = using.alias or SOURCE
        source = using.this.copy()
    else:
        raise InvalidPredicateError("MERGE ... USING takes a table or a (subquery) AS alias")
    check_read_only(source)
    return source, src_alias


def merge_plan(tree: exp.Merge, columns: Sequence[str],
               source_columns: Sequence[str]) -> MergePlan:
    """The plan of MERGE ``tree`` on a table of ``columns`` from a source of
    ``source_columns`` (``INSERT *``/``UPDATE SET *`` pair them by position, as DuckDB
    does, and ``INSERT BY NAME`` by name)."""
    name = merge_target(tree)
    assert name is not None
    if tree.args.get("returning"):
        raise InvalidPredicateError(
            "MERGE ... RETURNING is not supported: run a SELECT first to see the rows it would "
            "change")
    alias = tree.this.alias or name
    source, src_alias = merge_source(tree)
    new = tree.copy()
    new.set("this", exp.Table(this=exp.to_identifier(TARGET),
                              alias=exp.TableAlias(this=exp.to_identifier(alias))))
    new.set("using", exp.Table(this=exp.to_identifier(SOURCE),
                               alias=exp.TableAlias(this=exp.to_identifier(src_alias))))
    whens = new.args["whens"].expressions
    for part in [new.args.get("on"), *whens]:
        if part is None:
            continue
        for node in part.walk():
            if isinstance(node, (exp.Query, exp.Table, exp.UDTF)):
                raise InvalidPredicateError(
                    "MERGE: subqueries and other tables are not supported in ON, WHEN and "
                    "SET; join them into the USING query")
            if isinstance(node, exp.Column) and node.name.lower() in _HIDDEN:
                raise InvalidPredicateError(f"MERGE: {node.name} cannot be read or set here")
    # the functions of ON, WHEN, SET and VALUES follow the sandbox's rules too
    parts: list[exp.Expr] = [new.args["on"]] if new.args.get("on") is not None else []
    for when in whens:
        parts += [when.args["condition"]] if when.args.get("condition") is not None else []
        then = when.args.get("then")
        if isinstance(then, exp.Update):
            parts += [a.expression for a in then.expressions if isinstance(a, exp.EQ)]
        elif isinstance(then, exp.Insert) and isinstance(then.expression, exp.Tuple):
            parts += list(then.expression.expressions)
    if parts:
        check_read_only(exp.select(*[p.copy() for p in parts]).from_(SOURCE))
    for when in whens:
        _expand_stars(when, columns, source_columns, src_alias, name)
        _defaults_to_null(when)
    for when in whens:
        then = when.args.get("then")
        if isinstance(then, exp.Insert) and then.this is None and isinstance(
                then.expression, exp.Tuple):
            # INSERT VALUES (...) lists every column of the table, in order
            then.set("this", exp.Tuple(expressions=[exp.column(c, quoted=True)
                                                    for c in columns]))
        if isinstance(then, exp.Update):
            for assign in then.expressions:
                if isinstance(assign, exp.EQ) and assign.this.name.lower() in _HIDDEN:
                    raise InvalidPredicateError(f"MERGE: {assign.this.name} cannot be set")
    check = None
    if any(w.args.get("matched") for w in whens):
        on = new.args["on"].sql("duckdb")
        check = (f'SELECT 1 FROM {TARGET} AS "{alias}" JOIN {SOURCE} AS "{src_alias}" ON {on} '
                 f'GROUP BY "{alias}".{ROW_ID} HAVING count(*) > 1 LIMIT 1')
    return MergePlan(name, source, new.sql("duckdb"), check)


def _is_default(node: exp.Expr) -> bool:
    """``DEFAULT`` as a value (sqlglot reads it as a column or a variable)."""
    if isinstance(node, exp.Var):
        return node.name.upper() == "DEFAULT"
    return (isinstance(node, exp.Column) and not node.table and node.name.upper() == "DEFAULT"
            and not node.this.quoted)


def _defaults_to_null(when: exp.When) -> None:
    """``SET c = DEFAULT`` and ``VALUES (DEFAULT)`` as NULL: tables have no column
    defaults (the relation DuckDB merges into has none to give)."""
    then = when.args.get("then")
    values: list[exp.Expr] = []
    if isinstance(then, exp.Update):
        values = [a.expression for a in then.expressions if isinstance(a, exp.EQ)]
    elif isinstance(then, exp.Insert) and isinstance(then.expression, exp.Tuple):
        values = list(then.expression.expressions)
    for value in values:
        if _is_default(value):
            value.replace(exp.Null())


def _by_name(then: exp.Insert) -> bool:
    """sqlglot reads ``INSERT BY NAME`` as a column ``BY`` aliased ``NAME``."""
    target = then.this
    if not isinstance(target, exp.Tuple) or len(target.expressions) != 1:
        return False
    only = target.expressions[0]
    return (isinstance(only, exp.Alias) and only.alias.upper() == "NAME"
            and isinstance(only.this, exp.Column) and only.this.name.upper() == "BY")


def _expand_stars(when: exp.When, columns: Sequence[str], source_columns: Sequence[str],
                  src_alias: str, table: str) -> None:
    """``INSERT *``, ``INSERT BY NAME`` and ``UPDATE SET *`` as explicit columns (the
    table DuckDB merges into has hidden columns a star would count)."""
    then = when.args.get("then")

    def src(c: str) -> exp.Column:
        return exp.column(c, table=src_alias, quoted=True)

    def same_count() -> None:
        if len(source_columns) != len(columns):
            raise InvalidPredicateError(
                f"MERGE: table {table!r} has {len(columns)} columns but the source has "
                f"{len(source_columns)} (* pairs them by position)")

    if isinstance(then, exp.Insert) and isinstance(then.this, exp.Star):
        same_count()
        pairs = list(zip(columns, source_columns, strict=True))
    elif isinstance(then, exp.Insert) and _by_name(then):
        known = {c.lower() for c in columns}
        unknown = [c for c in source_columns if c.lower() not in known]
        if unknown:  # as DuckDB's MERGE and INSERT BY NAME refuse them
            raise InvalidPredicateError(
                f"MERGE ... INSERT BY NAME: table {table!r} has no column "
                f"{', '.join(map(repr, unknown))} (its columns: {', '.join(columns)}); "
                "select only the table's columns in the USING query")
        by_lower = {c.lower(): c for c in source_columns}
        pairs = [(c, by_lower[c.lower()]) for c in columns if c.lower() in by_lower]
    elif isinstance(then, exp.Update) and any(isinstance(e, exp.Star) for e in then.expressions):
        same_count()
        then.set("expressions", [exp.EQ(this=exp.column(c, quoted=True), expression=src(s))
                                 for c, s in zip(columns, source_columns, strict=True)])
        return
    else:
        return
    then.set("this", exp.Tuple(expressions=[exp.column(c, quoted=True) for c, _ in pairs]))
    then.set("expression", exp.Tuple(expressions=[src(s) for _, s in pairs]))
