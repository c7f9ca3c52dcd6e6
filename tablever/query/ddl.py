"""Pure sqlglot reading of the statements that are not queries or DML: ``CREATE TABLE``,
``DESCRIBE`` and ``SHOW TABLES``. Nothing here touches DuckDB or a file."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.tokens import TokenType

from tablever.errors import InvalidPredicateError
from tablever.query.rewrite import TableRef, check_read_only, parse, table_refs

__all__ = ["Column", "CreateTable", "Describe", "ShowTables", "as_create", "as_describe"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of ``CREATE TABLE t (...)``: its name, its DuckDB type as a tree, and
    whether it was declared ``NOT NULL``."""

    name: str
    type: exp.DataType
    not_null: bool


@dataclass(frozen=True, slots=True)
class CreateTable:
    """``CREATE [OR REPLACE] TABLE [IF NOT EXISTS] name (columns) | AS query``."""

    name: str
    columns: tuple[Column, ...] | None
    source: exp.Expression | None
    if_not_exists: bool
    replace: bool


@dataclass(frozen=True, slots=True)
class Describe:
    """``DESCRIBE name [version clause]``: the columns of one snapshot."""

    ref: TableRef


@dataclass(frozen=True, slots=True)
class ShowTables:
    """``SHOW TABLES``: the warehouse's tables."""


_NOT_YET = {"VIEW", "INDEX", "SCHEMA", "SEQUENCE", "MACRO", "FUNCTION", "TYPE", "DATABASE",
            "SECRET"}


def as_create(tree: exp.Expr) -> CreateTable | None:
    """Read a ``CREATE TABLE`` statement; ``None`` for any other statement.

    Raises:
        InvalidPredicateError: CREATE of anything but a table, a temporary table or
            other table properties, column constraints other than ``NOT NULL``
            (``PRIMARY KEY``, ``UNIQUE``, ``CHECK``, ``DEFAULT``, ...), both ``OR
            REPLACE`` and ``IF NOT EXISTS``, or a query that is not read-only.

    Example:
        >>> c = as_create(parse("CREATE TABLE IF NOT EXISTS t (id BIGINT NOT NULL, s VARCHAR)"))
        >>> c.name, [(x.name, x.type.sql("duckdb"), x.not_null) for x in c.columns]
        ('t', [('id', 'BIGINT', True), ('s', 'TEXT', False)])
    """
    if not isinstance(tree, exp.Create):
        return None
    kind = str(tree.args.get("kind") or "").upper()
    if kind != "TABLE":
        what = f"CREATE {kind}" if kind else "this CREATE statement"
        raise InvalidPredicateError(
            f"{what} is not supported: warehouse SQL creates tables only, CREATE TABLE is "
            "the one CREATE (CREATE TABLE name (columns) or CREATE TABLE name AS SELECT ...)")
    props = tree.args.get("properties")
    if isinstance(props, exp.Properties) and props.expressions:
        shown = ", ".join(p.sql("duckdb") for p in props.expressions)
        raise InvalidPredicateError(
            f"CREATE TABLE with {shown} is not supported: every warehouse table is stored "
            "and versioned; leave the property out")
    replace, if_not_exists = bool(tree.args.get("replace")), bool(tree.args.get("exists"))
    if replace and if_not_exists:
        raise InvalidPredicateError(
            "CREATE OR REPLACE TABLE IF NOT EXISTS: choose one (DuckDB refuses both too)")
    target = tree.this
    schema = target if isinstance(target, exp.Schema) else None
    table = schema.this if schema is not None else target
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        raise InvalidPredicateError("CREATE TABLE needs a table name")
    check_read_only(exp.select("*").from_(table.copy()))  # a name, not a file path
    if table.args.get("version") or table.args.get("when"):
        raise InvalidPredicateError("CREATE TABLE: a new table has no past versions")
    source = tree.expression
    columns = None
    if schema is not None:
        if source is not None:
            raise InvalidPredicateError(
                "CREATE TABLE name (columns) AS SELECT ...: give the columns or the query, "
                "not both (alias the query's columns instead)")
        columns = tuple(_column(item) for item in schema.expressions)
        if not columns:
            raise InvalidPredicateError("CREATE TABLE needs at least one column")
    elif source is None:
        raise InvalidPredicateError("CREATE TABLE needs columns or AS SELECT ...")
    else:
        if not isinstance(source, (exp.Query, exp.Values)):
            raise InvalidPredicateError("CREATE TABLE ... AS needs a query")
        source = source.copy()
        check_read_only(source)
    return CreateTable(table.name, columns, source, if_not_exists, replace)


def _column(item: exp.Expr, statement: str = "CREATE TABLE") -> Column:
    if not isinstance(item, exp.ColumnDef) or not isinstance(item.args.get("kind"), exp.DataType):
        raise InvalidPredicateError(
            f"{statement}: {item.sql('duckdb')} is not supported: tables have no "
            "constraints; give each column a name and a type")
    not_null = False
    for constraint in item.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null"):
            not_null = True
            continue
        if isinstance(kind, exp.DefaultColumnConstraint):
            hint = ("a column is NULL where a write gives no value; to fill a new column, "
                    f"add it, then UPDATE ... SET {item.name} = <value>")
        else:
            hint = "use Table.upsert(rows, on=[...]) for keyed writes"
        raise InvalidPredicateError(
            f"{statement}: column {item.name!r} {constraint.sql('duckdb')} is not supported:"
            " warehouse tables have no keys, checks or defaults (NOT NULL is the one "
            f"constraint they keep); {hint}")
    return Column(item.name, item.args["kind"], not_null)


def as_describe(sql: str, *, dialect: str | None = None) -> Describe | ShowTables | None:
    """Read ``DESCRIBE name [version clause]``, ``DESCRIBE SELECT ...`` is not one of them
    (it is refused), and ``SHOW TABLES``; ``None`` for any other statement.

    sqlglot does not read a version clause after ``DESCRIBE``, so the words after it are
    read as the ``FROM`` of a query, which must be exactly one table reference.

    Example:
        >>> as_describe("DESCRIBE events VERSION AS OF 'v1.0'")
        Describe(ref=TableRef(name='events', kind='version', value='v1.0'))
        >>> as_describe("SHOW TABLES")
        ShowTables()
    """
    from sqlglot.dialects.dialect import Dialect

    try:
        tokens = Dialect.get_or_raise(dialect or "duckdb").tokenize(sql)
    except Exception:  # noqa: BLE001 - the statement's parse reports it
        return None
    words = [t for t in tokens if t.token_type != TokenType.SEMICOLON]
    if not words:
        return None
    first = words[0].text.upper()
    if first == "SHOW" and [w.text.upper() for w in words[1:]] == ["TABLES"]:
        return ShowTables()
    if first not in ("DESCRIBE", "DESC") or len(words) < 2:
        return None
    if words[1].text.upper() in ("SELECT", "WITH", "FROM", "VALUES", "(", "TABLE"):
        raise InvalidPredicateError(
            "DESCRIBE of a query is not supported: DESCRIBE a table (DESCRIBE events "
            "VERSION AS OF 3), or run the query with LIMIT 0 to see its columns")
    rest = sql[words[1].start:].rstrip().rstrip(";")
    tree = parse(f"SELECT * FROM {rest}", dialect=dialect)
    source = tree.args.get("from_")
    table = source.this if isinstance(source, exp.From) else None
    if (not isinstance(tree, exp.Select) or set(k for k, v in tree.args.items() if v)
            != {"expressions", "from_"} or not isinstance(table, exp.Table)
            or not isinstance(table.this, exp.Identifier)):
        raise InvalidPredicateError(
            f"DESCRIBE takes one table name and an optional version clause, not {rest!r}")
    check_read_only(tree)
    (ref,) = table_refs(tree)
    return Describe(ref)


def column_def(item: exp.Expr, statement: str = "CREATE TABLE") -> Column:
    """A column definition of CREATE TABLE or ALTER TABLE ADD COLUMN (name, type,
    NOT NULL); any other constraint is an InvalidPredicateError naming ``statement``."""
    return _column(item, statement)
