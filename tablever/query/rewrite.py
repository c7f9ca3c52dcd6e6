"""Pure sqlglot transforms for tablever SQL: time-travel references, sandbox checks, DML.

Nothing here touches DuckDB or a file. The engine parses a statement with :func:`parse`,
classifies it with :func:`as_dml`, refuses anything that is not a plain query with
:func:`check_read_only`, lists the snapshots it needs with :func:`table_refs`, creates one
view per :class:`TableRef`, and runs the SQL that :func:`rewrite_query` returns.

Accepted version clauses (each may follow any table reference, in any dialect sqlglot
reads them in):

- ``events VERSION AS OF 3`` / ``VERSION AS OF 'v2.0'`` (Spark, Databricks)
- ``events TIMESTAMP AS OF '2024-01-01T00:00:00Z'`` (Spark, Databricks)
- ``events FOR VERSION AS OF 3`` / ``FOR TIMESTAMP AS OF TIMESTAMP '...'`` (Trino)
- ``events FOR SYSTEM_TIME AS OF '...'`` (BigQuery, T-SQL)
- ``events AT (VERSION => 3)`` / ``AT (TIMESTAMP => ...)`` (DuckDB, DuckLake, Snowflake)

An alias may come before or after the clause (``events e VERSION AS OF 3`` and
``events VERSION AS OF 3 e``). With ``dialect=None`` the SQL is read as DuckDB; when that
fails and the SQL holds a version clause, the Trino, Snowflake, BigQuery and Databricks
readers are tried in turn (BigQuery and Databricks only if the SQL has no ``"..."`` token,
which they would read as a string rather than an identifier).

Why one module: one pure tree rewrite (parse, check, bind each reference, generate);
its checks and the rewrite walk the same nodes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.tokens import Token, TokenType

from tablever.errors import InvalidPredicateError
from tablever.schema import ROW_ID

__all__ = [
    "ALLOWED_TABLE_FUNCTIONS",
    "Dml",
    "HISTORY_FUNCTIONS",
    "HistoryCall",
    "TableRef",
    "as_dml",
    "check_read_only",
    "history_calls",
    "parse",
    "rewrite_query",
    "table_refs",
    "typed_values",
    "values_column",
]


@dataclass(frozen=True, slots=True)
class TableRef:
    """One snapshot a statement reads: a table name and the version it is pinned to.

    ``value`` is ``None`` for ``latest``; an ``int`` or a ``str`` (tag, snapshot-id prefix,
    or digits that were quoted) for ``version``; for ``timestamp``, a DuckDB SQL expression
    that evaluates to a timestamp, such as ``"'2024-01-01 10:00:00+00'"``.
    """

    name: str
    kind: Literal["latest", "version", "timestamp"]
    value: int | str | None


@dataclass(frozen=True, slots=True)
class Dml:
    """An INSERT, DELETE or UPDATE on a warehouse table, ready for the Python API.

    ``where`` and the values of ``assignments`` are DuckDB SQL over the target's columns
    (qualifiers naming the target are removed). ``source`` is the INSERT's query (a
    SELECT, set operation or VALUES), to be run through :func:`rewrite_query`; it is
    ``None`` for ``INSERT ... DEFAULT VALUES`` (one row of NULLs: tables have no column
    defaults). ``by_name`` matches the query's columns to the table's by name.
    """

    kind: Literal["insert", "delete", "update"]
    table: str
    where: str | None
    assignments: dict[str, str]
    source: exp.Expression | None
    columns: list[str] | None
    by_name: bool = False


@dataclass(frozen=True, slots=True)
class HistoryCall:
    """A call of one of tablever's table functions over a table's history:
    ``snapshots('t')``, ``tags('t')``, ``runs('t')`` or ``table_changes('t', from[, to])``.

    ``bounds`` holds ``table_changes``' two versions as :class:`TableRef` (the second is
    ``latest`` when omitted), and is empty for the others.
    """

    function: Literal["snapshots", "tags", "runs", "table_changes"]
    table: str
    bounds: tuple[TableRef, ...] = ()


# --------------------------------------------------------------------------- parse

_FALLBACK_DIALECTS = ("trino", "snowflake", "bigquery", "databricks")
# These readers take "..." as a string literal, where DuckDB reads an identifier.
_DOUBLE_QUOTE_STRINGS = {"bigquery", "databricks"}
_VERSION_PHRASES = (
    ("VERSION", "AS", "OF"),
    ("TIMESTAMP", "AS", "OF"),
    ("FOR", "SYSTEM_TIME"),
    ("FOR", "SYSTEM", "TIME"),
    ("FOR", "VERSION"),
    ("FOR", "TIMESTAMP"),
)
_HISTORICAL_PREFIXES = {"AT", "BEFORE"}
_NEVER_PARSED = {"EXPORT": "EXPORT DATABASE", "IMPORT": "IMPORT DATABASE"}
_QUOTED_TOKENS = {TokenType.STRING, TokenType.IDENTIFIER}


def parse(sql: str, *, dialect: str | None = None) -> exp.Expression:
    """Parse exactly one SQL statement.

    Args:
        sql: the statement; a trailing semicolon is fine.
        dialect: the sqlglot dialect to read (``"spark"``, ``"trino"``, ...); ``None``
            reads DuckDB SQL and also accepts the other dialects' version clauses.

    Raises:
        InvalidPredicateError: the SQL does not parse (``line``/``col`` give the 1-based
            start of the offending token, ``sql`` the input), is empty, holds more than
            one statement, or uses Databricks ``table@v3`` syntax.

    Example:
        >>> parse("SELECT id FROM events VERSION AS OF 3 AS e").sql("duckdb")
        'SELECT id FROM events FOR VERSION AS OF 3 AS e'
    """
    if not isinstance(sql, str):
        raise InvalidPredicateError(f"SQL must be a string, got {type(sql).__name__}")
    primary = _dialect(dialect)
    text = sql
    sql = _without_by_position(sql, primary)
    candidates = [primary]
    if _has_version_clause(sql, primary):
        candidates.append(_flipped(primary))
        if dialect is None:
            for name in _FALLBACK_DIALECTS:
                other = Dialect.get_or_raise(name)
                if name in _DOUBLE_QUOTE_STRINGS and _has_double_quoted_token(sql, other):
                    continue
                candidates += [other, _flipped(other)]

    first_error: ParseError | TokenError | None = None
    for candidate in candidates:
        try:
            statements = _parse_quietly(candidate, sql)
        except (ParseError, TokenError) as exc:
            first_error = first_error or exc
            continue
        break
    else:
        assert first_error is not None
        raise _parse_error(text, first_error, primary) from first_error

    if not statements:
        raise InvalidPredicateError("empty SQL: nothing to run", sql=text)
    if len(statements) > 1:
        raise InvalidPredicateError(
            f"expected exactly one SQL statement, got {len(statements)}: run one statement per call",
            sql=text
        )
    tree = statements[0]
    if not isinstance(tree, exp.Expression):  # pragma: no cover - sqlglot returns nodes
        raise InvalidPredicateError("cannot parse SQL", sql=text)
    _reject_at_syntax(tree, text)
    return tree


class _NoCommandFallbackWarning(logging.Filter):
    # sqlglot warns on stderr when it keeps a statement it cannot read as an opaque
    # Command (LOAD, RESET, CALL, EXPLAIN, ...); check_read_only refuses those by name.
    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


_QUIET = _NoCommandFallbackWarning()


def _parse_quietly(dialect: Dialect, sql: str) -> list[exp.Expr]:
    logger = logging.getLogger("sqlglot")
    logger.addFilter(_QUIET)
    try:
        return [s for s in dialect.parse(sql) if s is not None]
    finally:
        logger.removeFilter(_QUIET)


_NAME_TOKENS = {TokenType.VAR, TokenType.IDENTIFIER, TokenType.DOT, TokenType.ALIAS}


def _without_by_position(sql: str, dialect: Dialect) -> str:
    """``sql`` with DuckDB's ``INSERT INTO t [AS a] BY POSITION ...`` read as
    ``INSERT INTO t [AS a] ...`` (position is what INSERT does without it) and MERGE's
    ``INSERT BY POSITION`` as ``INSERT *``, which is what they mean.

    sqlglot reads ``BY NAME`` there but not ``BY POSITION``, so the two words are
    blanked out in the text before it is parsed, keeping every other character where it
    was (error positions stay true). Only a ``BY POSITION`` right after an INSERT's
    target, or right after MERGE's ``INSERT``, is touched: ``ORDER BY position`` is not.

    Example:
        >>> _without_by_position("INSERT INTO t BY POSITION (a) VALUES (1)", Dialect.get_or_raise("duckdb"))
        'INSERT INTO t             (a) VALUES (1)'
    """
    if "POSITION" not in sql.upper():
        return sql
    tokens = _tokens(sql, dialect)
    if tokens is None:
        return sql
    out = sql
    for i in range(1, len(tokens) - 1):
        by, position = tokens[i], tokens[i + 1]
        if (by.text.upper() != "BY" or position.text.upper() != "POSITION"
                or position.token_type != TokenType.VAR):
            continue
        j = i - 1
        if tokens[j].token_type == TokenType.INSERT:
            word = "*"  # MERGE ... THEN INSERT BY POSITION
        else:
            while j > 0 and tokens[j].token_type in _NAME_TOKENS:
                j -= 1
            if j == i - 1 or tokens[j].token_type != TokenType.INTO:
                continue
            word = ""
        width = position.end + 1 - by.start
        out = out[:by.start] + word.ljust(width) + out[position.end + 1:]
    return out


def _dialect(name: str | None) -> Dialect:
    try:
        return Dialect.get_or_raise(name or "duckdb")
    except ValueError as exc:
        raise InvalidPredicateError(f"unknown SQL dialect {name!r}") from exc


def _flipped(dialect: Dialect) -> Dialect:
    # The same reader with the alias on the other side of the version clause: sqlglot
    # reads `t VERSION AS OF 3 AS x` by default and `t AS x FOR SYSTEM_TIME AS OF ...`
    # in BigQuery, and fails on the other order. An instance attribute keeps it local.
    other = type(dialect)()
    other.ALIAS_POST_VERSION = not dialect.ALIAS_POST_VERSION
    return other


def _tokens(sql: str, dialect: Dialect) -> list[Token] | None:
    try:
        return dialect.tokenize(sql)
    except TokenError:
        return None


def _has_version_clause(sql: str, dialect: Dialect) -> bool:
    tokens = _tokens(sql, dialect)
    if tokens is None:
        return False
    words = ["" if tok.token_type in _QUOTED_TOKENS else tok.text.upper() for tok in tokens]
    for i in range(len(words)):
        for phrase in _VERSION_PHRASES:
            if tuple(words[i : i + len(phrase)]) == phrase:
                return True
        if words[i] in _HISTORICAL_PREFIXES and words[i + 1 : i + 4 : 2] == ["(", "=>"]:
            return True
    return False


def _has_double_quoted_token(sql: str, dialect: Dialect) -> bool:
    tokens = _tokens(sql, dialect)
    return tokens is None or any(
        tok.token_type in _QUOTED_TOKENS and sql[tok.start] == '"' for tok in tokens
    )


def _line_col(sql: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(sql)))
    line = sql.count("\n", 0, offset) + 1
    return line, offset - (sql.rfind("\n", 0, offset) + 1) + 1


def _snippet(sql: str, line: int, col: int, width: int = 1) -> str:
    lines = sql.splitlines() or [""]
    text = lines[min(line, len(lines)) - 1]
    return f"  {text}\n  {' ' * (col - 1)}{'^' * max(width, 1)}"


def _parse_error(
    sql: str, exc: ParseError | TokenError, dialect: Dialect
) -> InvalidPredicateError:
    tokens = _tokens(sql, dialect) or []
    first = tokens[0].text.upper() if tokens else ""
    if first in _NEVER_PARSED:
        refused = _refused(_NEVER_PARSED[first])
        return InvalidPredicateError(str(refused), sql=sql, line=1, col=1)
    if isinstance(exc, ParseError) and exc.errors:
        err = exc.errors[0]
        line, end_col = int(err.get("line") or 1), int(err.get("col") or 1)
        highlight = str(err.get("highlight") or "")
        col = max(1, end_col - len(highlight) + 1)
        what = re.sub(  # sqlglot prints its Token objects into some descriptions
            r"<Token token_type: [\w.]+, text: (.*?), line: .*?>",
            lambda m: "the end" if m.group(1) == "SENTINEL" else repr(m.group(1)),
            str(err.get("description") or ""),
        )
        if not what or "<class" in what:
            what = "incomplete or invalid SQL"
        near = f" near {highlight!r}" if highlight else ""
    else:
        # The tokenizer reports "Missing ' from <line>:<offset>" for unterminated quotes;
        # anything else it cannot read runs to the end of the text.
        cause = str(exc.__cause__ or exc)
        found = re.search(r"Missing (.) from \d+:(\d+)", cause)
        offset = int(found.group(2)) if found else len(sql)
        line, col = _line_col(sql, offset)
        what = f"unterminated {found.group(1)}" if found else "cannot read the SQL text"
        near, highlight = "", ""
    hint = _at_syntax_hint(tokens)
    message = (
        f"invalid SQL at line {line}, column {col}: {what}{near}\n"
        f"{_snippet(sql, line, col, len(highlight))}{hint}"
    )
    return InvalidPredicateError(message, sql=sql, line=line, col=col)


def _at_syntax_hint(tokens: list[Token]) -> str:
    for prev, tok in zip(tokens, tokens[1:], strict=False):
        if tok.text == "@" and tok.start == prev.end + 1 and prev.token_type in (
            TokenType.VAR, TokenType.IDENTIFIER,
        ):
            return (
                f"\nhint: Databricks `{prev.text}@...` is not supported; write "
                f"`{prev.text} VERSION AS OF <n>` or `{prev.text} TIMESTAMP AS OF '<time>'`"
            )
    return ""


def _reject_at_syntax(tree: exp.Expr, sql: str) -> None:
    # sqlglot reads Databricks `events@v3` as a table aliased by a parameter.
    for table in tree.find_all(exp.Table):
        alias = table.args.get("alias")
        if isinstance(alias, exp.TableAlias) and isinstance(
            alias.this, (exp.Placeholder, exp.Parameter)
        ):
            line, col = _position(table)
            raise InvalidPredicateError(
                f"Databricks `{table.name}@...` is not supported (line {line}, column {col}):"
                f" write `{table.name} VERSION AS OF <n>` or"
                f" `{table.name} TIMESTAMP AS OF '<time>'`",
                sql=sql, line=line, col=col,
            )


def _position(node: exp.Expr) -> tuple[int | None, int | None]:
    """1-based line and column where a table reference starts, if the parser recorded it."""
    ident = node.this if isinstance(node.this, exp.Identifier) else node
    meta = ident.meta if isinstance(ident, exp.Expr) else {}
    if not {"line", "col", "start", "end"} <= meta.keys():
        return None, None
    return int(meta["line"]), int(meta["col"]) - (int(meta["end"]) - int(meta["start"]))


def _table_error(table: exp.Table, message: str) -> InvalidPredicateError:
    line, col = _position(table)
    at = f" (line {line}, column {col})" if line is not None else ""
    return InvalidPredicateError(f"{table.name}{at}: {message}", line=line, col=col)


# ---------------------------------------------------------------------- table refs


def table_refs(tree: exp.Expr) -> list[TableRef]:
    """Every snapshot the statement reads, deduplicated, in order of appearance.

    Base tables in subqueries, joins (SEMI/ANTI too), set operations, LATERAL, IN and
    EXISTS count; references to a CTE do not.

    Raises:
        InvalidPredicateError: an unsupported clause (``BEFORE``, ``AT (OFFSET => ...)``,
            ``FOR SYSTEM_TIME FROM ... TO``, ``CHANGES``), a version that is not an
            integer or a quoted string, a timestamp that reads a table, or a version
            clause on a CTE.

    Example:
        >>> tree = parse("SELECT * FROM events VERSION AS OF 'v2.0' e JOIN events f USING (id)")
        >>> [(ref.name, ref.kind, ref.value) for ref in table_refs(tree)]
        [('events', 'version', 'v2.0'), ('events', 'latest', None)]
    """
    refs: list[TableRef] = []
    for node in _base_tables(tree):
        ref = _table_ref(node)
        if ref not in refs:
            refs.append(ref)
    return refs


def _base_tables(tree: exp.Expr) -> list[exp.Table]:
    """The base-table nodes of `tree` (not CTE references), in order of appearance."""
    # DuckDB matches names case-insensitively (quoted or not), so resolve CTE names on a
    # normalized copy; the copy's nodes map back to the original by walk order.
    norm = normalize_identifiers(tree.copy(), dialect="duckdb")
    originals = list(tree.walk(bfs=False))
    copies = list(norm.walk(bfs=False))
    back = {id(c): o for c, o in zip(copies, originals, strict=True)}

    # Scope analysis knows which names are CTEs at each point; a table it does not list
    # as a source (a statement-level PIVOT in a subquery, a scalar subquery in VALUES)
    # is still a table unless an enclosing WITH names it.
    base_ids: set[int] = set()
    try:
        for scope in traverse_scope(norm):
            for source in scope.sources.values():
                if isinstance(source, exp.Table):
                    base_ids.add(id(source))
    except OptimizeError:
        base_ids.clear()

    base: list[exp.Table] = []
    for node in copies:
        if not _is_named_table(node):
            continue
        assert isinstance(node, exp.Table)
        original = back[id(node)]
        assert isinstance(original, exp.Table)
        if id(node) in base_ids:
            base.append(original)
        elif _names_visible_cte(node):
            _reject_version_on_cte(original)
        else:
            base.append(original)

    if all("start" in t.this.meta for t in base):
        base.sort(key=lambda t: int(t.this.meta["start"]))
    return base


def _is_named_table(node: exp.Expr) -> bool:
    return (
        isinstance(node, exp.Table)
        and isinstance(node.this, exp.Identifier)
        and not isinstance(node.parent, exp.JoinHint)
    )


def _names_visible_cte(table: exp.Table) -> bool:
    """Whether an enclosing WITH defines a CTE of this name visible at this point."""
    if table.args.get("db"):
        return False
    prev: exp.Expr = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            # Inside a CTE's own body: only earlier CTEs (and itself, if RECURSIVE).
            visible = []
            for cte in node.expressions:
                if cte is prev and not node.recursive:
                    break
                visible.append(cte.alias_or_name)
                if cte is prev:
                    break
            if table.name in visible:
                return True
        else:
            with_ = node.args.get("with_")
            if (
                isinstance(with_, exp.With)
                and with_ is not prev
                and any(cte.alias_or_name == table.name for cte in with_.expressions)
            ):
                return True
        prev, node = node, node.parent
    return False


def _reject_version_on_cte(table: exp.Table) -> None:
    if table.args.get("version") or table.args.get("when"):
        raise _table_error(table, "a CTE defined in this query, not a table: it has no versions")


_AT_ONLY = "use AT (VERSION => n) or AT (TIMESTAMP => ...)"


def _table_ref(table: exp.Table) -> TableRef:
    name = table.name
    version = table.args.get("version")
    when = table.args.get("when")
    for arg in ("changes", "system_time"):
        if isinstance(table.args.get(arg), exp.Expr):
            raise _table_error(table, f"{table.args[arg].sql('duckdb')} is not supported")
    if version and when:
        raise _table_error(table, "more than one version clause")
    if isinstance(version, exp.Version):
        kind = str(version.this).upper()
        if str(version.args.get("kind") or "").upper() != "AS OF":
            raise _table_error(
                table, f"{version.sql('duckdb')} is not supported: pin one snapshot with AS OF"
            )
        value = version.expression
    elif isinstance(when, exp.HistoricalData):
        if str(when.this).upper() != "AT":
            raise _table_error(table, f"{str(when.this).upper()} (...) is not supported; {_AT_ONLY}")
        kind = str(when.args.get("kind") or "").upper()
        if kind not in ("VERSION", "TIMESTAMP"):
            raise _table_error(table, f"AT ({kind} => ...) is not supported; {_AT_ONLY}")
        value = when.expression
    else:
        return TableRef(name, "latest", None)

    if kind == "VERSION":
        return TableRef(name, "version", _version_value(table, value))
    return TableRef(name, "timestamp", _timestamp_value(table, value))


def _version_value(table: exp.Table, value: exp.Expr | None) -> int | str:
    while isinstance(value, exp.Paren):
        value = value.this
    if isinstance(value, exp.Literal):
        if value.is_string and value.this:
            return str(value.this)
        if value.is_int:
            return int(value.this)
    shown = value.sql("duckdb") if isinstance(value, exp.Expr) else "nothing"
    raise _table_error(
        table,
        f"version {shown} is not a non-negative integer or a quoted tag or snapshot id "
        "(e.g. VERSION AS OF 3, VERSION AS OF 'v2.0')",
    )


def _timestamp_value(table: exp.Table, value: exp.Expr | None) -> str:
    if value is None:
        raise _table_error(table, "the time-travel clause has no timestamp")
    reads = (exp.Table, exp.Query, exp.UDTF, exp.Placeholder, exp.Parameter)
    if isinstance(value, reads) or value.find(*reads) is not None:
        raise _table_error(
            table,
            f"timestamp {value.sql('duckdb')} must be a constant expression, "
            "not a query, table or parameter",
        )
    return value.sql(dialect="duckdb")


# ------------------------------------------------------------------ history calls


def history_calls(tree: exp.Expr) -> list[HistoryCall]:
    """Every call of a history function (:data:`HISTORY_FUNCTIONS`) in ``FROM`` or
    ``JOIN`` position, deduplicated, in order of appearance.

    Raises:
        InvalidPredicateError: a table name that is not a string, a bound that is not a
            version, tag or timestamp, or the wrong number of arguments.

    Example:
        >>> history_calls(parse(
        ...     "SELECT * FROM table_changes('events', 1, 'v2.0') JOIN tags('events') USING (version)"))
        [HistoryCall(function='table_changes', table='events', bounds=(TableRef(name='events', kind='version', value=1), TableRef(name='events', kind='version', value='v2.0'))), HistoryCall(function='tags', table='events', bounds=())]
    """
    out: list[HistoryCall] = []
    for node in _history_tables(tree):
        call = _history_call(node)
        if call not in out:
            out.append(call)
    return out


def _history_tables(tree: exp.Expr) -> list[exp.Table]:
    return [t for t in tree.find_all(exp.Table)
            if isinstance(t.this, exp.Anonymous) and t.this.name.lower() in HISTORY_FUNCTIONS
            and not t.args.get("db")]


def _history_call(table: exp.Table) -> HistoryCall:
    func = table.this
    name = func.name.lower()
    args = list(func.expressions)
    usage = ("table_changes('table', from, to)" if name == "table_changes"
             else f"{name}('table')")
    counts = (2, 3) if name == "table_changes" else (1,)
    if len(args) not in counts or any(isinstance(a, exp.Kwarg) for a in args):
        raise InvalidPredicateError(f"{name}() takes {usage}, got {func.sql('duckdb')}")
    first = args[0]
    if not (isinstance(first, exp.Literal) and first.is_string and first.this):
        raise InvalidPredicateError(
            f"{name}(): the table is named by a string, as in {usage}; got {first.sql('duckdb')}")
    target = str(first.this)
    if name != "table_changes":
        return HistoryCall(name, target)  # type: ignore[arg-type]
    bounds = []
    for arg in args[1:]:
        holder = exp.Table(this=exp.to_identifier(target))
        value = arg
        while isinstance(value, exp.Paren):
            value = value.this
        if isinstance(value, exp.Literal) and (value.is_int or value.is_string):
            bounds.append(TableRef(target, "version", _version_value(holder, value)))
        else:
            bounds.append(TableRef(target, "timestamp", _timestamp_value(holder, value)))
    if len(bounds) == 1:
        bounds.append(TableRef(target, "latest", None))
    return HistoryCall("table_changes", target, tuple(bounds))


# ------------------------------------------------------------------------ rewrite


def rewrite_query(
    tree: exp.Expr,
    bind: Callable[[TableRef], str],
    *,
    bind_call: Callable[[HistoryCall], str] | None = None,
    row_ids: Collection[TableRef] = (),
) -> str:
    """DuckDB SQL in which every base-table reference reads the relation ``bind`` names.

    ``bind`` is called once per distinct :class:`TableRef`, in order of appearance, and
    returns the name of a relation the caller created (a view over that snapshot). The
    version clause goes away; the user's alias stays, and an unaliased reference is
    aliased to its table name so ``events.id`` still resolves. ``tree`` is not changed.
    ``bind_call`` does the same for each :class:`HistoryCall` (``snapshots('t')``, ...),
    aliased to the function's name. The relations of the references in ``row_ids`` have
    a ``_row_id`` column that ``*`` leaves out (``* EXCLUDE (t._row_id)``), so it is
    hidden unless named.

    Example:
        >>> views = {}
        >>> def bind(ref):
        ...     return views.setdefault(ref, f"v{len(views)}")
        >>> rewrite_query(parse(
        ...     "SELECT id FROM events VERSION AS OF 1 EXCEPT SELECT id FROM events"), bind)
        'SELECT id FROM "v0" AS events EXCEPT SELECT id FROM "v1" AS events'
        >>> rewrite_query(parse("SELECT _row_id, * FROM events e"), bind,
        ...               row_ids=[TableRef("events", "latest", None)])
        'SELECT _row_id, * EXCLUDE (e._row_id) FROM "v1" AS e'
    """
    new = tree.copy()
    names: dict[TableRef, str] = {}
    bound: set[int] = set()
    for node in _base_tables(new):
        ref = _table_ref(node)
        if ref not in names:
            names[ref] = bind(ref)
        replacement = _bound(node, names[ref])
        if ref in row_ids:
            bound.add(id(replacement))
        node.replace(replacement)
    calls: dict[HistoryCall, str] = {}
    for node in _history_tables(new):
        call = _history_call(node)
        if bind_call is None:
            raise InvalidPredicateError(f"{call.function}() is not available here")
        if call not in calls:
            calls[call] = bind_call(call)
        alias = node.args.get("alias")
        replacement = exp.Table(
            this=exp.to_identifier(calls[call], quoted=True),
            alias=alias.copy() if alias else exp.TableAlias(
                this=exp.to_identifier(call.function)))
        node.replace(replacement)
    if bound:
        _hide_row_ids(new, bound)
    return new.sql(dialect="duckdb")


def _hide_row_ids(tree: exp.Expr, bound: set[int]) -> None:
    """Leave each snapshot's ``_row_id`` out of the stars that would expand it."""
    for select in list(tree.find_all(exp.Select)):
        sources = []
        from_ = select.args.get("from_")
        for item in [from_, *(select.args.get("joins") or [])]:
            node = item.this if isinstance(item, (exp.From, exp.Join)) else None
            if isinstance(node, exp.Table) and id(node) in bound:
                sources.append(node.alias_or_name)
        if not sources:
            continue
        for item in select.expressions:
            if isinstance(item, exp.Star):
                star, qualifiers = item, sources
            elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                match = [a for a in sources if a.lower() == item.table.lower()]
                star, qualifiers = item.this, [""] * bool(match)
            else:
                continue
            for qualifier in qualifiers:
                hidden = exp.column(ROW_ID, qualifier or None, quoted=False)
                star.set("except_", [*(star.args.get("except_") or []), hidden])


def _bound(table: exp.Table, relation: str) -> exp.Table:
    new = table.copy()
    for arg in ("version", "when", "db", "catalog"):
        new.set(arg, None)
    new.set("this", exp.to_identifier(relation, quoted=True))
    if not table.args.get("alias"):
        new.set("alias", exp.TableAlias(this=table.this.copy()))
    return new


# -------------------------------------------------------------------- read-only

_QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Values)
_STATEMENTS: tuple[type[exp.Expr], ...] = tuple(
    cls
    for cls in (
        getattr(exp, name, None)
        for name in (
            "DML", "DDL", "Command", "Copy", "Attach", "Detach", "Install", "Set", "Pragma",
            "Use", "Drop", "Alter", "Describe", "Show", "Summarize", "Transaction", "Commit",
            "Rollback", "TruncateTable", "Into", "Export", "Kill", "Grant", "Revoke",
            "Analyze", "LoadData", "Refresh", "Cache", "Uncache", "Execute", "Declare",
            "Comment", "Lock",
        )
    )
    if isinstance(cls, type)
)
_STATEMENT_NAMES = {
    "Insert": "INSERT", "Update": "UPDATE", "Delete": "DELETE", "Merge": "MERGE",
    "Copy": "COPY", "Create": "CREATE", "TruncateTable": "TRUNCATE", "Into": "SELECT ... INTO",
    "Transaction": "BEGIN", "LoadData": "LOAD DATA", "Pivot": "PIVOT",
}
# Table functions a query may call: pure generators that read nothing but their
# arguments. Every other table function (file readers, catalog and settings
# introspection, SQL-from-string executors, foreign scanners, profiling and logging
# switches, whatever a new DuckDB adds) is refused: an allow-list, so a new one is
# refused until someone decides it is safe.
ALLOWED_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "repeat_row", "json_each", "json_tree",
})
# tablever's own table functions over a table's history (see tablever.query.history);
# each is replaced by a relation the sandbox registers.
HISTORY_FUNCTIONS = frozenset({"snapshots", "table_changes", "tags", "runs"})
# Scalar function names refused anywhere: file readers, settings, session variables,
# logging, and internals.
_DENIED_PREFIXES = (
    "read_", "parquet_", "glob", "sniff_", "iceberg_", "delta_", "sqlite_", "postgres_",
    "mysql_", "duckdb_", "pragma_", "st_read", "arrow_scan", "json_execute", "__internal",
    "enable_", "disable_",
)
_DENIED_NAMES = {
    "query", "query_table", "getenv", "current_setting", "which_secret", "getvariable",
    "write_log", "checkpoint", "force_checkpoint", "summary",
    # sets the session's random seed: later statements on a shared sandbox would see it
    "setseed",
    # DuckDB macros over refused catalog functions (duckdb_views(), duckdb_types(),
    # duckdb_constraints(), pragma_database_size())
    "pg_get_viewdef", "pg_get_constraintdef", "format_type", "get_block_size",
}
_FILE_SUFFIX = re.compile(
    r"\.(csv|tsv|txt|parquet|json|jsonl|ndjson|gz|zst|bz2|xz|xlsx|db|duckdb|sqlite|"
    r"sqlite3|arrow|feather|ipc|avro|orc)$",
    re.IGNORECASE,
)


def check_read_only(tree: exp.Expr) -> None:
    """Refuse anything but a read-only query over warehouse tables.

    The root must be a SELECT, a set operation (UNION, INTERSECT, EXCEPT), a WITH ...
    SELECT or VALUES. Anywhere in the tree, statements (COPY, ATTACH, SET, PRAGMA, ...),
    table functions other than the pure generators of :data:`ALLOWED_TABLE_FUNCTIONS`
    (``range``, ``generate_series``, ``unnest``, ...) and tablever's
    :data:`HISTORY_FUNCTIONS`, file-reading or introspection functions, and table names
    that look like files (``'data.csv'``, ``"/tmp/x.db".main.t``) are refused.

    Raises:
        InvalidPredicateError: naming what was refused.

    Example:
        >>> check_read_only(parse("SELECT count(*) FROM events VERSION AS OF 2"))
        >>> try:
        ...     check_read_only(parse("SELECT * FROM read_csv('/etc/passwd')"))
        ... except InvalidPredicateError as exc:
        ...     print(exc)
        table function read_csv() is not allowed: queries read only warehouse tables (the table functions allowed are generate_series, json_each, json_tree, range, repeat_row, unnest, and tablever's runs, snapshots, table_changes, tags)
    """
    root = tree.unnest() if isinstance(tree, exp.Subquery) else tree
    if not isinstance(root, _QUERY_ROOTS):
        raise _refused(_statement_name(root))
    for node in tree.walk():
        if isinstance(node, _STATEMENTS):
            raise _refused(_statement_name(node))
        if isinstance(node, (exp.Placeholder, exp.Parameter)) and not isinstance(
                node.parent, exp.Table):
            raise InvalidPredicateError(
                f"parameter {node.sql('duckdb')} is not supported: Warehouse.sql takes no "
                "parameter values; put the values in the statement")
        if isinstance(node, exp.Table):
            _check_table(node)
        elif _is_table_function(node):
            _check_table_function(node)
        if isinstance(node, exp.Func):
            _check_function(node)


def _is_table_function(node: exp.Expr) -> bool:
    # A function in FROM/JOIN/LATERAL position (a Table wrapping a function is handled
    # by _check_table). UNNEST and VALUES read nothing but the query's own values.
    if isinstance(node, (exp.Unnest, exp.Values, exp.Lateral)):
        return False
    return isinstance(node, (exp.UDTF, exp.Func)) and isinstance(
        node.parent, (exp.From, exp.Join, exp.Lateral)
    )


def _check_table_function(func: exp.Expr, *, qualified: bool = False,
                          history: bool = False) -> None:
    """Refuse a table function unless it is a pure generator or one of tablever's own
    (those only where a table can stand: ``history``)."""
    name = _function_name(func)
    if not qualified and (name in ALLOWED_TABLE_FUNCTIONS
                          or (history and name in HISTORY_FUNCTIONS)):
        return
    raise InvalidPredicateError(
        f"table function {name}() is not allowed: queries read only warehouse tables "
        f"(the table functions allowed are {', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))}, "
        f"and tablever's {', '.join(sorted(HISTORY_FUNCTIONS))})"
    )


_FILES = ("the SQL reads and writes warehouse tables only: write the Arrow table "
          "Warehouse.sql returns (or use `tablever sql ... --format parquet -o FILE`), and "
          "add a file's rows with Table.append")
_HINTS = {
    "COPY": _FILES,
    "EXPORT DATABASE": "tv.copy copies tables with their history; " + _FILES,
    "IMPORT DATABASE": "tv.copy copies tables with their history; " + _FILES,
    "ATTACH": "a warehouse is one namespace: open another one with tv.Warehouse(path)",
    "DETACH": "a warehouse is one namespace: open another one with tv.Warehouse(path)",
    "USE": "a warehouse is one namespace: open another one with tv.Warehouse(path)",
    "INSTALL": "the SQL runs without extensions", "LOAD": "the SQL runs without extensions",
    "FORCE": "the SQL runs without extensions or checkpoints",
    "SET": "the session's settings are fixed (times are UTC)",
    "RESET": "the session's settings are fixed (times are UTC)",
    "PRAGMA": "the session's settings are fixed; DESCRIBE t and SHOW TABLES describe tables",
    "CALL": "the session's settings are fixed; DESCRIBE t and SHOW TABLES describe tables",
    "BEGIN": "each statement is its own commit; there are no multi-statement transactions",
    "COMMIT": "each statement is its own commit; there are no multi-statement transactions",
    "ROLLBACK": "each statement is its own commit; restore an old version with Table.restore",
    "CHECKPOINT": "tables are maintained with tv.compact, tv.expire and tv.vacuum",
    "VACUUM": "tables are maintained with tv.compact, tv.expire and tv.vacuum",
    "ANALYZE": "tables keep their own statistics",
    "TRUNCATE": "write DELETE FROM t (one commit; the rows stay in the old versions)",
    "EXPLAIN": "not available",
    "SUMMARIZE": "write the aggregate query (count, min, max, ...) instead",
    "DESCRIBE": "DESCRIBE takes a table (DESCRIBE events VERSION AS OF 3)",
    "SHOW": "SHOW TABLES lists the tables and DESCRIBE t a table's columns",
    "CREATE": "warehouse SQL creates tables only, CREATE TABLE is the one CREATE",
    "DROP": "DROP is not supported yet",
    "ALTER": ("ALTER TABLE name ADD COLUMN, ALTER COLUMN ... TYPE, RENAME COLUMN and DROP "
              "COLUMN change the latest version; a version clause on the table is refused"),
    "SELECT ... INTO": "write CREATE TABLE name AS SELECT ...",
    "PIVOT": "write it as a subquery: SELECT * FROM (PIVOT ...)",
    "UNPIVOT": "write it as a subquery: SELECT * FROM (UNPIVOT ...)",
    "PREPARE": "parameters are not supported: put the values in the statement",
    "EXECUTE": "parameters are not supported: put the values in the statement",
    "DEALLOCATE": "parameters are not supported: put the values in the statement",
    "COMMENT": "keep notes in table properties (Table.set_properties) or commit messages",
}


def _refused(what: str) -> InvalidPredicateError:
    hint = _HINTS.get(what, "")
    return InvalidPredicateError(
        f"{what} is not allowed: tablever SQL runs queries (SELECT, UNION/INTERSECT/EXCEPT, "
        "WITH, VALUES) over warehouse tables, INSERT, DELETE, UPDATE and MERGE on them, "
        "CREATE TABLE, ALTER TABLE, DROP TABLE, DESCRIBE and SHOW TABLES"
        + (f"; {hint}" if hint else "")
    )


def _statement_name(node: exp.Expr) -> str:
    for cls in type(node).__mro__:
        if cls.__name__ in _STATEMENT_NAMES:
            return _STATEMENT_NAMES[cls.__name__]
    words = node.sql(dialect="duckdb").split(None, 1)
    return words[0].upper() if words else type(node).__name__.upper()


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    text = node.sql(dialect="duckdb")
    return text.split("(", 1)[0].strip().lower() or type(node).__name__.lower()


def _check_function(node: exp.Func) -> None:
    names = {_function_name(node)}
    if not isinstance(node, exp.Anonymous):
        names.add(node.sql_name().lower())
    for name in names:
        if name in _DENIED_NAMES or name.startswith(_DENIED_PREFIXES):
            raise InvalidPredicateError(
                f"function {_function_name(node)}() is not allowed: "
                "queries read only warehouse tables"
            )


def _check_table(table: exp.Table) -> None:
    if not isinstance(table.this, exp.Identifier):
        if isinstance(table.this, (exp.Placeholder, exp.Parameter)):
            raise InvalidPredicateError("a parameter cannot stand for a table name")
        if table.this is None:
            return
        func = table.this
        wrapped = isinstance(func, exp.Anonymous) and func.name.upper() == "TABLE"
        if wrapped and func.expressions:
            func = func.expressions[0]  # TABLE(read_csv(...)): name the function inside
        # A schema prefix (main.range(3)) or TABLE(...) is refused: the names allowed are
        # DuckDB's own functions, called plainly.
        _check_table_function(func, qualified=wrapped or bool(table.args.get("db")),
                              history=True)
        return
    for part in table.parts:
        name = part.name
        if (
            any(ch in name for ch in "/\\:")
            or name.startswith(("~", "."))
            or _FILE_SUFFIX.search(name)
        ):
            raise InvalidPredicateError(
                f"{table.sql('duckdb')} looks like a file path: queries read only "
                "warehouse tables, by name"
            )


# ---------------------------------------------------------------------------- DML

_NO_KEY = ("warehouse tables have no PRIMARY KEY or UNIQUE constraint (DuckDB refuses it on "
           "such a table too); use Table.upsert(rows, on=[key columns])")
_RETURNING = ": run a SELECT first to see the rows it would return"
_UNSUPPORTED_ARGS: dict[type[exp.Expr], dict[str, str]] = {
    exp.Insert: {
        "conflict": "INSERT ... ON CONFLICT is not supported: " + _NO_KEY,
        "returning": "INSERT ... RETURNING is not supported" + _RETURNING,
        "overwrite": "INSERT OVERWRITE is not supported",
        "alternative": "INSERT OR REPLACE / OR IGNORE is not supported: " + _NO_KEY,
        "ignore": "INSERT IGNORE is not supported",
        "where": "INSERT ... WHERE is not supported",
        "partition": "INSERT ... PARTITION is not supported",
        "using": "INSERT ... USING is not supported",
        "exists": "INSERT ... IF NOT EXISTS is not supported",
    },
    exp.Delete: {
        "using": ("DELETE ... USING (other tables) is not supported: MERGE INTO t USING ... ON ... "
                  "WHEN MATCHED THEN DELETE deletes the rows another table matches"),
        "returning": "DELETE ... RETURNING is not supported" + _RETURNING,
        "order": "DELETE ... ORDER BY is not supported",
        "limit": "DELETE ... LIMIT is not supported",
        "tables": "multi-table DELETE is not supported",
        "with_": "WITH ... DELETE is not supported",
    },
    exp.Update: {
        "from_": ("UPDATE ... FROM (other tables) is not supported: MERGE INTO t USING ... ON ... "
                  "WHEN MATCHED THEN UPDATE SET ... updates from another table"),
        "returning": "UPDATE ... RETURNING is not supported" + _RETURNING,
        "order": "UPDATE ... ORDER BY is not supported",
        "limit": "UPDATE ... LIMIT is not supported",
        "with_": "WITH ... UPDATE is not supported",
    },
}


def as_dml(tree: exp.Expr) -> Dml | None:
    """Classify an INSERT, DELETE or UPDATE on a warehouse table; ``None`` otherwise.

    ``INSERT INTO t [(cols)] VALUES ... | SELECT ...`` gives the source query (checked
    with :func:`check_read_only`); ``DELETE FROM t [WHERE p]`` and
    ``UPDATE t SET c = e, ... [WHERE p]`` give DuckDB SQL for ``p`` and each ``e``.

    Raises:
        InvalidPredicateError: a version clause on the target ("cannot modify a past
            version"), UPDATE ... FROM, DELETE ... USING, RETURNING, ON CONFLICT,
            subqueries in WHERE or SET, or any other form tablever cannot map.

    Example:
        >>> dml = as_dml(parse("DELETE FROM events WHERE events.confidence < 0.7"))
        >>> dml.kind, dml.table, dml.where
        ('delete', 'events', 'confidence < 0.7')
    """
    if not isinstance(tree, (exp.Insert, exp.Delete, exp.Update)):
        return None
    verb = _STATEMENT_NAMES[type(tree).__name__]
    for arg, what in _UNSUPPORTED_ARGS[type(tree)].items():
        if tree.args.get(arg):
            raise InvalidPredicateError(what)

    target, columns = tree.this, None
    if isinstance(target, exp.Schema):
        columns = [ident.name for ident in target.expressions]
        target = target.this
        if len({c.lower() for c in columns}) != len(columns):
            raise InvalidPredicateError(f"INSERT INTO {target.sql('duckdb')}: a column repeats")
    if not isinstance(target, exp.Table) or not isinstance(target.this, exp.Identifier):
        raise InvalidPredicateError(f"{verb} needs a table name as its target")
    _check_table(target)
    if target.args.get("version") or target.args.get("when"):
        raise InvalidPredicateError(
            f"cannot modify a past version: {verb} target {target.name}{_clause_text(target)}"
            f" is read-only; write to {target.name} (its latest version)"
        )
    names = {target.name.lower()}
    if target.alias:
        names.add(target.alias.lower())

    if isinstance(tree, exp.Insert):
        if tree.args.get("default"):
            if tree.expression is not None or columns is not None:
                raise InvalidPredicateError("INSERT ... DEFAULT VALUES takes no column list "
                                            "and no values")
            return Dml("insert", target.name, None, {}, None, None)
        by_name = bool(tree.args.get("by_name"))
        if by_name and columns is not None:
            raise InvalidPredicateError(
                "INSERT ... BY NAME takes no column list: the query's column names say "
                "where each value goes")
        return Dml("insert", target.name, None, {}, _insert_source(tree), columns, by_name)
    where = tree.args.get("where")
    where_sql = _scalar_sql(where.this, names, verb) if isinstance(where, exp.Where) else None
    if isinstance(tree, exp.Delete):
        return Dml("delete", target.name, where_sql, {}, None, None)
    assignments: dict[str, str] = {}
    for item in tree.expressions:
        if not isinstance(item, exp.EQ) or not isinstance(item.this, exp.Column):
            raise InvalidPredicateError(f"UPDATE: cannot read assignment {item.sql('duckdb')}")
        column = item.this
        parts = column.parts
        if len(parts) > 2 or (len(parts) == 2 and parts[0].name.lower() not in names):
            raise InvalidPredicateError(
                f"UPDATE: {column.sql('duckdb')} is not a column of {target.name}"
            )
        if column.name.lower() in {c.lower() for c in assignments}:
            raise InvalidPredicateError(f"UPDATE: column {column.name} is set twice")
        value = item.expression
        if (isinstance(value, exp.Column) and not value.table and value.name.upper() == "DEFAULT"
                and not value.this.quoted):
            value = exp.Null()  # a column's DEFAULT is NULL: tables have no default values
        assignments[column.name] = _scalar_sql(value, names, verb)
    return Dml("update", target.name, where_sql, assignments, None, None)


def _clause_text(table: exp.Table) -> str:
    clause = table.args.get("version") or table.args.get("when")
    return f" {clause.sql('duckdb')}" if isinstance(clause, exp.Expr) else ""


def _insert_source(tree: exp.Insert) -> exp.Expression:
    source = tree.expression
    if not isinstance(source, (exp.Query, exp.Values)):
        raise InvalidPredicateError("INSERT needs VALUES or a query as its source")
    source = source.copy()
    with_ = tree.args.get("with_")
    if with_ is not None:
        if not isinstance(source, (exp.Select, exp.SetOperation)) or source.args.get("with_"):
            raise InvalidPredicateError("WITH ... INSERT: put the WITH inside the query")
        source.set("with_", with_.copy())
    check_read_only(source)
    return source


def typed_values(source: Any, types: Sequence[str | None]) -> Any:
    """``INSERT ... VALUES`` rows typed by their target columns, as DuckDB's INSERT
    types them (each value cast to its column's type, not the VALUES list typed on its
    own: ``('x'), (42)`` into a VARCHAR column is ``'x'``, ``'42'``). Rows of another
    length, and sources that are not VALUES, are returned unchanged (the caller says
    what is wrong with them).

    Example:
        >>> typed_values(parse("VALUES (1, 'a')"), ["VARCHAR", "BIGINT"]).sql("duckdb")
        "VALUES (CAST(1 AS TEXT), CAST('a' AS BIGINT))"
    """
    if not isinstance(source, exp.Values):
        return source
    out = source.copy()
    for row in out.expressions:
        items = row.expressions if isinstance(row, exp.Tuple) else None
        if items is None:
            continue
        for item in list(items):
            # A column's DEFAULT is NULL: warehouse tables have no default values.
            if isinstance(item, exp.Var) and item.name.upper() == "DEFAULT":
                item.replace(exp.Null())
        if len(items) != len(types):
            continue
        for item, sql_type in zip(list(row.expressions), types, strict=True):
            if sql_type is not None:
                item.replace(exp.Cast(this=item.copy(),
                                      to=exp.DataType.build(sql_type, dialect="duckdb", udt=True)))
    return out


def values_column(source: Any, index: int) -> Any:
    """The ``index``-th item of each row of a VALUES list, as a one-column VALUES list
    (to find which column of an INSERT a value does not fit), or None.

    Example:
        >>> values_column(parse("VALUES (1, 'a'), (2, 'b')"), 1).sql("duckdb")
        "VALUES ('a'), ('b')"
    """
    if not isinstance(source, exp.Values):
        return None
    rows = []
    for row in source.expressions:
        if not isinstance(row, exp.Tuple) or len(row.expressions) <= index:
            return None
        rows.append(exp.Tuple(expressions=[row.expressions[index].copy()]))
    return exp.Values(expressions=rows)


def _scalar_sql(node: exp.Expr, names: set[str], verb: str) -> str:
    """DuckDB SQL of a WHERE or SET expression, with the target's qualifiers removed."""
    reads = (exp.Query, exp.Table, exp.UDTF)
    if isinstance(node, reads) or node.find(*reads) is not None:
        raise InvalidPredicateError(
            f"{verb}: subqueries and other tables are not supported in WHERE or SET"
        )
    node = node.copy()
    for func in node.find_all(exp.Func):
        _check_function(func)
    for column in list(node.find_all(exp.Column)):
        parts = column.parts
        if len(parts) > 1 and parts[0].name.lower() in names:
            rest = [p.copy() for p in parts[1:]]
            column.replace(_column(rest))
    return node.sql(dialect="duckdb")


def _column(parts: list[exp.Expr]) -> exp.Column:
    names = ("this", "table", "db", "catalog")
    return exp.Column(**dict(zip(names, reversed(parts), strict=False)))
