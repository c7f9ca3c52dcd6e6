"""SQL errors as DuckDB's own shell shows them: the message, then the statement's line and
a caret under the offending token::

    error: invalid SQL: Referenced column "nosuch" not found in FROM clause!
    LINE 1: SELECT nosuch FROM events
                   ^^^^^^

The position is the error's own (``line``/``col`` of an
:class:`~tablever.InvalidPredicateError` from the parser), else that of the first token
of the statement named by the message (the column, function or table DuckDB quotes).
"""

from __future__ import annotations

import re

import tablever as tv

__all__ = ["sql_error_lines"]

# Where DuckDB's and tablever's messages quote the name they could not bind.
_NAMED = [re.compile(p) for p in (
    r'column named "([^"]+)"',
    r'Referenced column "([^"]+)"',
    r'column "([^"]+)" must appear',
    r"names unknown column\(s\) ([^\s;,]+)",
    r"argument types '([^'(]+)\(",
    r'Function with name "?([^"\s!]+)',
    r'Referenced table "([^"]+)"',
    r'Table with name "?([^"\s!]+)',
)]
# A longer line is shown as a window around the caret.
_WIDTH = 100


def _tokens(sql: str, dialect: str | None) -> list[tuple[int, int, str]]:
    """``(start, end, text)`` of each token (``end`` exclusive; quoted names unquoted)."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import SqlglotError

    try:
        tokens = Dialect.get_or_raise(dialect or "duckdb").tokenize(sql)
    except (SqlglotError, ValueError):
        return []
    return [(t.start, t.end + 1, t.text) for t in tokens]


def _offset(sql: str, line: int, col: int) -> int | None:
    lines = sql.split("\n")
    if not 1 <= line <= len(lines) or col < 1:
        return None
    return sum(len(text) + 1 for text in lines[:line - 1]) + min(col, len(lines[line - 1]) + 1) - 1


def _located(exc: tv.InvalidPredicateError, sql: str,
             dialect: str | None) -> tuple[int, int] | None:
    """Start offset and width of what the error is about in ``sql``, if known."""
    tokens = _tokens(sql, dialect)
    if exc.line is not None and exc.col is not None and exc.sql == sql:
        start = _offset(sql, exc.line, exc.col)
        if start is None:
            return None
        width = next((end - s for s, end, _ in tokens if s == start), 1)
        return start, width
    first = str(exc).split("\n", 1)[0]
    for pattern in _NAMED:
        m = pattern.search(first)
        if m is None:
            continue
        name = m.group(1).lower()
        for start, end, text in tokens:
            if text.lower() == name:
                return start, end - start
        return None
    return None


def sql_error_lines(exc: tv.InvalidPredicateError, sql: str | None = None, *,
                    dialect: str | None = None) -> list[str] | None:
    """The lines to print for ``exc`` raised by the statement ``sql`` (default: the one
    the error carries): its message without the parser's own excerpt, ``LINE n: ...``
    and a caret line; None when the position is unknown."""
    sql = sql if sql is not None else exc.sql
    if not sql:
        return None
    found = _located(exc, sql, dialect)
    if found is None:
        return None
    start, width = found
    line_no = sql.count("\n", 0, start) + 1
    line_start = sql.rfind("\n", 0, start) + 1
    line_end = sql.find("\n", start)
    text = sql[line_start: len(sql) if line_end < 0 else line_end]
    col = start - line_start
    width = max(1, min(width, len(text) - col))
    prefix = f"LINE {line_no}: "
    # the message, less the excerpt (indented lines) the parser's error carries
    message = [line for line in str(exc).split("\n") if line.strip() and not line.startswith("  ")]
    shown = text.replace("\t", " ").rstrip()
    if len(shown) > _WIDTH:
        lo = max(0, min(col - _WIDTH // 2, len(shown) - _WIDTH))
        width = min(width, _WIDTH - (col - lo))
        left = "..." if lo else ""
        shown = left + shown[lo:lo + _WIDTH] + ("..." if lo + _WIDTH < len(shown) else "")
        col += len(left) - lo
    return [message[0], f"{prefix}{shown}", " " * (len(prefix) + col) + "^" * width,
            *message[1:]]
