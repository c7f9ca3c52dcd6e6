"""Random DDL and DML through ``Warehouse.sql``, checked against plain DuckDB.

A Hypothesis state machine runs each statement twice: through ``tv.Warehouse.sql`` and,
in a transaction, on plain tables in an in-memory DuckDB database (the reference).
After every step the reference's table is saved for each new version
(``ref_<t>_v<n>``), and EVERY version of every table, dropped or not, must read with the
columns, DuckDB types, nullability and rows of its saved copy, through SQL
(``VERSION AS OF n``, ``DESCRIBE``) and ``as_of(n).to_arrow()``. When DuckDB refuses a
statement, tablever must raise a ``TableverError`` and leave every table as it was.

The few places where tablever refuses on purpose what DuckDB runs (documented in
docs/sql.md) are named in :class:`Refusal`: the statement must then fail with that class,
and the reference rolls back.

The suite runs a few short examples; ``make fuzz-sql`` runs the long profile
(``SQL_MODEL_EXAMPLES``, default 2000, of 30 steps each). ``SQL_MODEL_TRACE=1`` prints
each statement and how both sides took it; ``SQL_MODEL_SHRINK=0`` reports a failing
sequence without shrinking it.

ALTER TABLE's column changes (ADD, ALTER TYPE, RENAME and DROP COLUMN) are drawn from
:data:`COLUMN_CHANGES`.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import tablever as tv
from tablever.errors import (
    DuplicateKeyError,
    InvalidPredicateError,
    SchemaMismatchError,
    TableExistsError,
    TableverError,
)

EXAMPLES = int(os.environ.get("SQL_MODEL_EXAMPLES", "0"))
NAMES = ("a", "b", "c")
# DuckDB type -> the types it widens to, as ALTER COLUMN ... TYPE allows it
WIDER = {"SMALLINT": ["INTEGER", "BIGINT"], "INTEGER": ["BIGINT"], "FLOAT": ["DOUBLE"]}
TYPES = ["INTEGER", "BIGINT", "SMALLINT", "DOUBLE", "FLOAT", "VARCHAR", "BOOLEAN", "DATE",
         "DECIMAL(9,2)", "TIMESTAMP", "TIMESTAMPTZ", "INTEGER[]"]
COLUMN_NAMES = ["s", "x", "n", "d", "f", "Flag"]


def _base(sql_type: str) -> str:
    """The kind of a DuckDB type name, as DESCRIBE or CREATE TABLE spell it."""
    if sql_type.endswith("[]"):
        return "LIST"
    if sql_type in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
        return "TIMESTAMPTZ"
    return sql_type.split("(")[0]


def _cased(draw: Any, name: str) -> str:
    """A name as a user may write it: DuckDB matches names in any case, quoted or not."""
    return str(draw(st.sampled_from([name, name.upper(), name.lower(), f'"{name.upper()}"'])))


@dataclass(frozen=True)
class Col:
    name: str
    type: str
    not_null: bool


@dataclass(frozen=True)
class Refusal:
    """tablever refuses this statement on purpose (docs/sql.md says why), where DuckDB
    runs it: ``applies`` is asked, after DuckDB ran it, whether the case is the one."""

    error: type[TableverError]
    applies: Callable[[], bool]


# ------------------------------------------------------------------- values and SQL

def _literal(draw: Any, sql_type: str, *, valid_only: bool = False) -> str:
    """A literal for a column of ``sql_type``, of any literal type DuckDB's INSERT may
    cast to it (and, unless ``valid_only``, some it cannot)."""
    base = _base(sql_type)
    good: dict[str, list[str]] = {
        "INTEGER": ["0", "1", "-3", "42", "'7'", "2.5", "NULL"],
        "BIGINT": ["0", "5", "-9", "'12'", "3000000000", "NULL"],
        "SMALLINT": ["0", "2", "-7", "'3'", "1.5", "NULL"],
        "DOUBLE": ["1.5", "'2.25'", "3", "'NaN'", "'-inf'", "0.1", "NULL"],
        "FLOAT": ["1.5", "'0.25'", "-2", "NULL"],
        "VARCHAR": ["'abc'", "''", "42", "1.5", "TRUE", "'O''Brien'", "NULL"],
        "BOOLEAN": ["TRUE", "FALSE", "'false'", "1", "NULL"],
        "DATE": ["'2024-02-03'", "DATE '2023-01-01'", "NULL"],
        "DECIMAL": ["1.005", "'3.14'", "7", "-0.5", "NULL"],
        "TIMESTAMP": ["'2024-01-02 03:04:05'", "TIMESTAMP '2020-02-29 12:00:00'", "NULL"],
        "TIMESTAMPTZ": ["'2024-01-02 03:04:05+02'", "TIMESTAMPTZ '2020-02-29 12:00:00Z'",
                        "'2024-06-01 00:00:00'", "NULL"],
        "LIST": ["[1, 2]", "'[3]'", "[]", "[NULL, 4]", "NULL"],
    }
    bad: dict[str, list[str]] = {
        "INTEGER": ["'x'", "3000000000"], "BIGINT": ["'1.2.3'"],
        "SMALLINT": ["100000"], "DOUBLE": ["'abc'"], "FLOAT": ["'one'"],
        "BOOLEAN": ["'maybe'"], "DATE": ["'2024-13-01'", "5"],
        "DECIMAL": ["12345678.9"], "TIMESTAMP": ["'yesterday-ish'"], "VARCHAR": [],
        "TIMESTAMPTZ": ["'2024-02-30 00:00:00+00'"], "LIST": ["['x']"],
    }
    pool = good[base] + ([] if valid_only else bad[base])
    return str(draw(st.sampled_from(pool)))


def _from_i(draw: Any, sql_type: str) -> str:
    """An expression of ``sql_type`` over a ``range`` column ``i`` (sometimes NULL,
    sometimes out of range for its type)."""
    base = _base(sql_type)
    exprs = {
        "INTEGER": ["CAST(i AS INTEGER)", "CAST(i * 7 % 5 AS INTEGER)", "CAST(i AS INTEGER) - 3"],
        "BIGINT": ["i", "i * 1000000007", "-i"],
        "SMALLINT": ["CAST(i AS SMALLINT)", "CAST(i * 1000 AS SMALLINT)"],
        "DOUBLE": ["i / 4", "i * 0.5", "CAST(i AS DOUBLE) / 3"],
        "FLOAT": ["CAST(i AS FLOAT) / 8"],
        "VARCHAR": ["'s' || i", "CAST(i % 3 AS VARCHAR)"],
        "BOOLEAN": ["i % 2 = 0"],
        "DATE": ["DATE '2024-01-01' + CAST(i AS INTEGER)"],
        "DECIMAL": ["CAST(i * 0.25 AS DECIMAL(9,2))"],
        "TIMESTAMP": ["TIMESTAMP '2024-01-01 00:00:00' + to_hours(i)"],
        "TIMESTAMPTZ": ["TIMESTAMPTZ '2024-01-01 00:00:00+05' + to_hours(i)"],
        "LIST": ["[CAST(i AS INTEGER), NULL]", "CAST([] AS INTEGER[])"],
    }
    expr = str(draw(st.sampled_from(exprs[base])))
    if draw(st.booleans()):
        expr = f"CASE WHEN i % 3 = 0 THEN NULL ELSE {expr} END"
    return expr


def _predicate(draw: Any, cols: list[Col], depth: int = 0) -> str:
    col = draw(st.sampled_from(cols))
    kind = draw(st.sampled_from(["null", "cmp", "cmp", "mod"] + (["and", "or", "not"]
                                                                  if depth < 2 else [])))
    if kind == "null":
        return f"{col.name} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if _base(col.type) == "LIST":
        return f"len({col.name}) {draw(st.sampled_from(['=', '>']))} {draw(st.integers(0, 2))}"
    if kind == "mod" and col.type in ("INTEGER", "BIGINT", "SMALLINT"):
        return f"{col.name} % 2 = {draw(st.integers(0, 1))}"
    if kind in ("cmp", "mod"):
        value = _literal(draw, col.type, valid_only=True)
        if value == "NULL":
            value = {"VARCHAR": "'abc'", "BOOLEAN": "TRUE", "DATE": "DATE '2024-01-05'",
                     "TIMESTAMP": "TIMESTAMP '2024-01-01 05:00:00'",
                     "TIMESTAMPTZ": "TIMESTAMPTZ '2024-01-01 05:00:00+00'"}.get(_base(col.type), "1")
        op = draw(st.sampled_from(["=", "<", ">=", "<>"]))
        return f"{col.name} {op} {value}"
    if kind == "not":
        return f"NOT ({_predicate(draw, cols, depth + 1)})"
    left, right = _predicate(draw, cols, depth + 1), _predicate(draw, cols, depth + 1)
    return f"({left}) {kind.upper()} ({right})"


def _row_expr(draw: Any, col: Col, cols: list[Col]) -> str:
    """A SET value for ``col``: a literal, an expression over the row, or another column."""
    base = _base(col.type)
    own = {
        "INTEGER": f"{col.name} + 1", "BIGINT": f"{col.name} * 2", "SMALLINT": f"{col.name} * 300",
        "DOUBLE": f"{col.name} / 2", "FLOAT": f"{col.name} * 2", "VARCHAR": f"upper({col.name})",
        "BOOLEAN": f"NOT {col.name}", "DATE": f"{col.name} + 1",
        "DECIMAL": f"{col.name} * 2", "TIMESTAMP": f"{col.name} + INTERVAL 1 HOUR",
        "TIMESTAMPTZ": f"{col.name} - INTERVAL 1 DAY", "LIST": f"list_append({col.name}, 1)",
    }[base]
    other = draw(st.sampled_from(cols)).name
    return str(draw(st.sampled_from([_literal(draw, col.type), own, other, "DEFAULT"])))


def _rows(draw: Any, cols: list[Col]) -> str:
    n = draw(st.integers(1, 3))
    valid = draw(st.integers(0, 4)) > 0  # one statement in five may hold a misfit
    return ", ".join("(" + ", ".join(_literal(draw, c.type, valid_only=valid) for c in cols)
                     + ")" for _ in range(n))


def _columns_def(draw: Any) -> list[Col]:
    cols = [Col("k", draw(st.sampled_from(["INTEGER", "BIGINT", "SMALLINT"])),
                draw(st.booleans()))]
    for name in draw(st.lists(st.sampled_from(COLUMN_NAMES), min_size=1, max_size=3,
                              unique=True)):
        cols.append(Col(name, draw(st.sampled_from(TYPES)), draw(st.integers(0, 4)) == 0))
    return cols


def _ddl(cols: list[Col]) -> str:
    return ", ".join(f"{c.name} {c.type}{' NOT NULL' if c.not_null else ''}" for c in cols)


# ---------------------------------------------------------- ALTER TABLE column changes
# Each builds the part of ``ALTER TABLE t ...`` after the table name for a table of
# ``cols``, and says which deliberate refusal applies (None: tablever must do what DuckDB
# does). The model reads a table's columns from the reference's DESCRIBE after each
# statement, so each kind of change is one function registered in COLUMN_CHANGES.

ColumnChange = Callable[[Any, list[Col]], "tuple[str, type[TableverError] | None]"]


def _add_column(draw: Any, cols: list[Col]) -> tuple[str, type[TableverError] | None]:
    names = [*COLUMN_NAMES, "extra", "k"]
    free = [n for n in names if n.lower() not in {c.name.lower() for c in cols}]
    name = draw(st.sampled_from(free if free and draw(st.integers(0, 3)) else names))
    sql_type = draw(st.sampled_from(TYPES))
    if draw(st.integers(0, 3)) == 0:
        # tables have no column defaults: refused (docs/sql.md, CREATE TABLE constraints)
        return (f"ADD COLUMN {name} {sql_type} DEFAULT {_literal(draw, sql_type, valid_only=True)}",
                InvalidPredicateError)
    exists = "IF NOT EXISTS " if draw(st.booleans()) else ""
    return f"ADD COLUMN {exists}{_cased(draw, name)} {sql_type}", None


def _alter_type(draw: Any, cols: list[Col]) -> tuple[str, type[TableverError] | None]:
    widenable = [c for c in cols if c.type in WIDER]
    if not widenable:
        return _add_column(draw, cols)
    col = draw(st.sampled_from(widenable))
    wider = draw(st.sampled_from(WIDER[col.type]))
    verb = draw(st.sampled_from(["TYPE", "SET DATA TYPE"]))
    return f"ALTER COLUMN {_cased(draw, col.name)} {verb} {wider}", None


def _rename_column(draw: Any, cols: list[Col]) -> tuple[str, type[TableverError] | None]:
    col = draw(st.sampled_from(cols))
    names = [*COLUMN_NAMES, "extra", "k", "renamed"]
    free = [n for n in names if n.lower() not in {c.name.lower() for c in cols}]
    # now and then a name in use: DuckDB refuses, and so must tablever
    new = draw(st.sampled_from(free if free and draw(st.integers(0, 4)) else names))
    return f"RENAME COLUMN {_cased(draw, col.name)} TO {new}", None


def _drop_column(draw: Any, cols: list[Col]) -> tuple[str, type[TableverError] | None]:
    if draw(st.integers(0, 5)) == 0:  # a column that is not there, with or without IF EXISTS
        exists = "IF EXISTS " if draw(st.booleans()) else ""
        return f"DROP COLUMN {exists}nosuch", None
    col = draw(st.sampled_from(cols))  # the last one left: DuckDB refuses, so must tablever
    return f"DROP COLUMN {_cased(draw, col.name)}", None


COLUMN_CHANGES: dict[str, ColumnChange] = {
    "add column": _add_column,
    "alter column type": _alter_type,
    "rename column": _rename_column,
    "drop column": _drop_column,
}


# ------------------------------------------------------------------------- the model

def _normal(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


class SqlModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = tempfile.mkdtemp(prefix="tv-sql-model-")
        self.wh = tv.Warehouse(os.path.join(self.root, "wh"))
        self.ref = duckdb.connect()
        self.scratch = duckdb.connect()
        for conn in (self.ref, self.scratch):
            conn.execute("SET TimeZone = 'UTC'")  # as tablever's SQL runs
        # table -> per version: (its saved copy in the reference, its columns)
        self.versions: dict[str, list[tuple[str, list[Col]]]] = {}
        self.live: dict[str, list[Col]] = {}  # tables that exist (not dropped)
        self.drops: set[tuple[str, int]] = set()
        self.expected: dict[str, pa.Table] = {}  # saved copy -> its rows, ordered

    def teardown(self) -> None:
        self.ref.close()
        self.scratch.close()
        tv.clear_caches()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---------------------------------------------------------------- bookkeeping

    def _describe(self, name: str) -> list[Col]:
        rows = self.ref.execute(f"DESCRIBE {name}").fetchall()
        return [Col(r[0], r[1], r[2] == "NO") for r in rows]

    def _latest(self) -> dict[str, int]:
        return {t: self.wh.table(t, dropped=True).latest().version
                for t in self.wh.tables(dropped=True)}

    def _exists(self, name: str) -> bool:
        return bool(self.ref.execute(
            "SELECT 1 FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall())

    def _save(self, table: str, version: int, *, empty: bool = False) -> None:
        """Save the reference's ``table`` as the copy of ``version``; a dropped table's
        version is the previous version's columns without rows."""
        vers = self.versions.setdefault(table, [])
        assert len(vers) == version, f"{table}: version {version} after {len(vers)} versions"
        copy = f"ref_{table}_v{version}"
        if self._exists(table):
            src, cols = table, self._describe(table)
        else:
            (src, cols), empty = vers[-1], True
            self.drops.add((table, version))
        self.ref.execute(f"CREATE TABLE {copy} AS SELECT * FROM {src}"
                         + (" LIMIT 0" if empty else ""))
        vers.append((copy, cols))

    def _record(self, before: dict[str, int]) -> None:
        """Save a reference copy for each version the last statement made."""
        for table, last in self._latest().items():
            first = before.get(table, -1) + 1
            if table not in before:
                assert last in (0, 1), f"CREATE TABLE {table} made versions 0..{last}"
                self._save(table, 0, empty=last == 1)
                first = 1
            for v in range(first, last + 1):
                self._save(table, v)
        self.live = {t: self._describe(t) for t in self.versions if self._exists(t)}

    def _source(self, draw: Any, *, old: bool) -> tuple[str, str, list[Col]] | None:
        """A table read by a statement: (tablever SQL, reference SQL, its columns), at
        an old version (``VERSION AS OF n``) or, if ``old`` is False, possibly latest."""
        options = [(t, v) for t, vers in self.versions.items() for v in range(len(vers))
                   if (t, v) not in self.drops]
        if not old:
            options += [(t, None) for t in self.live]
        if not options:
            return None
        table, v = draw(st.sampled_from(sorted(options, key=str)))
        if v is None:
            return table, table, self.live[table]
        copy, cols = self.versions[table][v]
        return f"{table} VERSION AS OF {v}", copy, cols

    def run(self, tv_sql: str, ref_sql: str | None = None, *,
            refusal: Refusal | None = None) -> None:
        """Run one statement on both sides; both run it or both refuse it."""
        ref_sql = tv_sql if ref_sql is None else ref_sql
        before = self._latest()
        self.ref.execute("BEGIN")
        try:
            ref_out = self.ref.execute(ref_sql).fetchall()
            ref_err: Exception | None = None
        except duckdb.Error as exc:
            ref_err, ref_out = exc, []
        try:
            got = self.wh.sql(tv_sql)
            tv_err: TableverError | None = None
        except TableverError as exc:
            tv_err = exc
        if os.environ.get("SQL_MODEL_TRACE"):  # each statement and how it went
            print(tv_sql, "->", type(tv_err).__name__ if tv_err else "ok", "|", ref_err)
        if ref_err is not None:
            self.ref.execute("ROLLBACK")
            assert tv_err is not None, f"DuckDB refused {ref_sql!r} ({ref_err}); tablever ran it"
            assert self._latest() == before, f"{tv_sql!r} failed but committed"
            return
        if tv_err is not None:
            self.ref.execute("ROLLBACK")
            deliberate = (refusal is not None and isinstance(tv_err, refusal.error)
                          and refusal.applies())
            assert deliberate, f"DuckDB ran {ref_sql!r}; tablever refused it: {tv_err!r}"
            assert self._latest() == before, f"{tv_sql!r} failed but committed"
            return
        self.ref.execute("COMMIT")
        if tv_sql.startswith(("INSERT", "DELETE", "UPDATE", "MERGE")):
            assert got.to_pylist() == [{"count": ref_out[0][0]}], (tv_sql, got, ref_out)
        self._record(before)

    # ---------------------------------------------------------------------- rules

    def _new_name(self, draw: Any) -> str:
        """Mostly a name no table has had (CREATE of a taken name is mostly refused)."""
        free = [n for n in NAMES if n not in self.versions]
        return str(draw(st.sampled_from(free if free and draw(st.integers(0, 3)) else NAMES)))

    @rule(data=st.data())
    def create_table(self, data: Any) -> None:
        draw = data.draw
        name = self._new_name(draw)
        cols = _columns_def(draw)
        form = draw(st.sampled_from(["", "IF NOT EXISTS ", "OR REPLACE "]))
        create = "CREATE OR REPLACE TABLE" if form == "OR REPLACE " else "CREATE TABLE"
        rest = "IF NOT EXISTS " if form == "IF NOT EXISTS " else ""
        sql = f"{create} {rest}{name} ({_ddl(cols)})"
        self._create(name, sql, sql, replace=bool(form == "OR REPLACE "),
                     new_columns=lambda: cols)

    @rule(data=st.data())
    def create_table_as(self, data: Any) -> None:
        draw = data.draw
        name = self._new_name(draw)
        source = self._source(draw, old=True) if draw(st.booleans()) else None
        if source is not None:
            tv_src, ref_src, cols = source
            where = f" WHERE {_predicate(draw, cols)}" if draw(st.booleans()) else ""
            tv_q, ref_q = f"SELECT * FROM {tv_src}{where}", f"SELECT * FROM {ref_src}{where}"
        else:
            cols = _columns_def(draw)
            n = draw(st.integers(0, 6))
            items = ", ".join(f"CAST({_from_i(draw, c.type)} AS {c.type}) AS {c.name}"
                              for c in cols)
            tv_q = ref_q = f"SELECT {items} FROM range({n}) r(i)"
        replace = draw(st.integers(0, 3)) == 0
        create = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"

        def new_columns() -> list[Col]:
            rows = self.ref.execute(f"DESCRIBE {ref_q}").fetchall()
            return [Col(r[0], r[1], False) for r in rows]

        self._create(name, f"{create} {name} AS {tv_q}", f"{create} {name} AS {ref_q}",
                     replace=replace, new_columns=new_columns)

    def _create(self, name: str, tv_sql: str, ref_sql: str, *, replace: bool,
                new_columns: Callable[[], list[Col]]) -> None:
        if name in self.versions and name not in self.live:
            # the dropped table's history is kept under its name (docs/sql.md, DROP TABLE)
            refusal: Refusal | None = Refusal(TableExistsError, lambda: True)
        elif replace and name in self.live:
            # CREATE OR REPLACE keeps the history, so the columns must stay the same
            old = self.live[name]
            refusal = Refusal(SchemaMismatchError, lambda: new_columns() != old)
        else:
            refusal = None
        self.run(tv_sql, ref_sql, refusal=refusal)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def insert(self, data: Any) -> None:
        draw = data.draw
        name = draw(st.sampled_from(sorted(self.live)))
        cols = self.live[name]
        target = _cased(draw, name)
        form = draw(st.sampled_from(["values", "columns", "by name", "range", "table"]))
        position = "BY POSITION " if draw(st.integers(0, 3)) == 0 else ""
        if form == "values":
            self.run(f"INSERT INTO {target} {position}VALUES {_rows(draw, cols)}")
        elif form == "columns":
            some = draw(st.permutations(cols))[: draw(st.integers(1, len(cols)))]
            names = ", ".join(_cased(draw, c.name) for c in some)
            self.run(f"INSERT INTO {target} {position}({names}) VALUES {_rows(draw, list(some))}")
        elif form == "by name":
            some = draw(st.permutations(cols))[: draw(st.integers(1, len(cols)))]
            items = ", ".join(f"{_from_i(draw, c.type)} AS {c.name}" for c in some)
            n = draw(st.integers(0, 5))
            self.run(f"INSERT INTO {target} BY NAME SELECT {items} FROM range({n}) r(i)")
        elif form == "range":
            items = ", ".join(_from_i(draw, c.type) for c in cols)
            n = draw(st.integers(0, 40))
            self.run(f"INSERT INTO {target} {position}SELECT {items} FROM range({n}) r(i)")
        else:
            source = self._source(draw, old=False)
            assert source is not None
            tv_src, ref_src, _ = source
            self.run(f"INSERT INTO {target} {position}SELECT * FROM {tv_src}",
                     f"INSERT INTO {target} {position}SELECT * FROM {ref_src}")

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def delete(self, data: Any) -> None:
        name = data.draw(st.sampled_from(sorted(self.live)))
        where = f" WHERE {_predicate(data.draw, self.live[name])}" if data.draw(
            st.integers(0, 5)) else ""
        self.run(f"DELETE FROM {_cased(data.draw, name)}{where}")

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def update(self, data: Any) -> None:
        draw = data.draw
        name = draw(st.sampled_from(sorted(self.live)))
        cols = self.live[name]
        targets = draw(st.lists(st.sampled_from(cols), min_size=1, max_size=2,
                                unique_by=lambda c: c.name))
        sets = ", ".join(f"{_cased(draw, c.name)} = {_row_expr(draw, c, cols)}" for c in targets)
        where = f" WHERE {_predicate(draw, cols)}" if draw(st.booleans()) else ""
        self.run(f"UPDATE {_cased(draw, name)} SET {sets}{where}")

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def merge(self, data: Any) -> None:
        draw = data.draw
        name = draw(st.sampled_from(sorted(self.live)))
        cols = self.live[name]
        source = self._source(draw, old=False) if draw(st.booleans()) else None
        if source is not None and "k" in {c.name for c in source[2]}:
            tv_src, ref_src, src_cols = source
            tv_using, ref_using = f"(SELECT * FROM {tv_src})", f"(SELECT * FROM {ref_src})"
        else:
            src_cols = cols
            n = draw(st.integers(1, 8))
            items = ", ".join(f"{_from_i(draw, c.type) if c.name != 'k' else 'i % 6'} AS {c.name}"
                              for c in cols)
            tv_using = ref_using = f"(SELECT {items} FROM range({n}) r(i))"
        shared = [c for c in cols if c.name in {s.name for s in src_cols} and c.name != "k"]
        whens = []
        if draw(st.booleans()):
            cond = f" AND {_predicate(draw, [Col('s.' + c.name, c.type, False) for c in src_cols])}" \
                if draw(st.booleans()) else ""
            if shared and draw(st.booleans()):
                sets = ", ".join(
                    f"{_cased(draw, c.name)} = {draw(st.sampled_from(['s.' + c.name] * 3 + ['DEFAULT']))}"
                    for c in shared)
                whens.append(f"WHEN MATCHED{cond} THEN UPDATE SET {sets}")
            else:
                whens.append(f"WHEN MATCHED{cond} THEN DELETE")
        if draw(st.booleans()) or not whens:
            insert = draw(st.sampled_from(["BY NAME", "*", "BY POSITION", "values"]))
            if insert == "values":
                common = [c for c in cols if c.name in {s.name for s in src_cols}]
                insert = (f"({', '.join(c.name for c in common)}) "
                          f"VALUES ({', '.join('s.' + c.name for c in common)})")
            whens.append(f"WHEN NOT MATCHED THEN INSERT {insert}")
        target = _cased(draw, name)
        tail = f" AS s ON {target}.k = s.k " + " ".join(whens)

        def duplicates() -> bool:
            # a target row two source rows match: the SQL standard's error, which
            # DuckDB does not raise (docs/sql.md, MERGE)
            return bool(self.ref.execute(
                f"SELECT 1 FROM {name} JOIN {ref_using} AS s ON {name}.k = s.k "
                f"GROUP BY {name}.rowid HAVING count(*) > 1").fetchall())

        self.run(f"MERGE INTO {target} USING {tv_using}{tail}",
                 f"MERGE INTO {target} USING {ref_using}{tail}",
                 refusal=Refusal(DuplicateKeyError, duplicates))

    @precondition(lambda self: self.live)
    @rule(data=st.data(), change=st.sampled_from(sorted(COLUMN_CHANGES)))
    def alter_table(self, data: Any, change: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.live)))
        tail, refused = COLUMN_CHANGES[change](data.draw, self.live[name])
        refusal = Refusal(refused, lambda: True) if refused is not None else None
        self.run(f"ALTER TABLE {_cased(data.draw, name)} {tail}", refusal=refusal)

    @precondition(lambda self: self.versions)
    @rule(data=st.data())
    def drop_table(self, data: Any) -> None:
        name = data.draw(st.sampled_from(sorted(self.versions)))
        exists = "IF EXISTS " if data.draw(st.booleans()) else ""
        self.run(f"DROP TABLE {exists}{_cased(data.draw, name)}")

    @precondition(lambda self: self.versions)
    @rule(data=st.data())
    def restore(self, data: Any) -> None:
        name = data.draw(st.sampled_from(sorted(self.versions)))
        choices = [v for v in range(len(self.versions[name])) if (name, v) not in self.drops]
        v = data.draw(st.sampled_from(choices))
        copy, cols = self.versions[name][v]
        before = self._latest()
        self.wh.table(name, dropped=True).restore(v)
        self.ref.execute(f"DROP TABLE IF EXISTS {name}")
        self.ref.execute(f"CREATE TABLE {name} ({_ddl(cols)})")
        self.ref.execute(f"INSERT INTO {name} SELECT * FROM {copy}")
        self._record(before)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), how=st.sampled_from(["compact", "maintain"]))
    def compact(self, data: Any, how: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.live)))
        before = self._latest()
        table = tv.open(self.wh.table(name).location)
        if how == "compact":
            tv.compact(table, min_input_files=data.draw(st.integers(1, 2)))
        else:
            tv.maintain(table)
        self._record(before)

    @rule()
    def reopen(self) -> None:
        tv.clear_caches()
        self.wh = tv.Warehouse(os.path.join(self.root, "wh"))

    # ------------------------------------------------------------------ the check

    def _ordered(self, rows: pa.Table) -> pa.Table:
        self.scratch.register("rows", rows)
        try:
            return self.scratch.sql("SELECT * FROM rows ORDER BY ALL").to_arrow_table()
        finally:
            self.scratch.unregister("rows")

    def _rows(self, copy: str) -> pa.Table:
        if copy not in self.expected:
            self.expected[copy] = self.ref.sql(
                f"SELECT * FROM {copy} ORDER BY ALL").to_arrow_table()
        return self.expected[copy]

    @invariant()
    def every_version_reads_as_the_reference(self) -> None:
        assert sorted(self.wh.tables()) == sorted(self.live)
        for name, vers in self.versions.items():
            table = self.wh.table(name, dropped=True)
            assert table.latest().version == len(vers) - 1, (name, len(vers))
            for v, (copy, cols) in enumerate(vers):
                want = self._rows(copy)
                got = self.wh.sql(f"SELECT * FROM {name} VERSION AS OF {v} ORDER BY ALL")
                where = f"{name} version {v}"
                assert got.schema.names == want.schema.names, where
                assert got.schema.types == want.schema.types, (where, got.schema, want.schema)
                assert [_normal(r) for r in got.to_pylist()] == [
                    _normal(r) for r in want.to_pylist()], where
                described = self.wh.sql(f"DESCRIBE {name} VERSION AS OF {v}").to_pylist()
                assert [Col(r["column_name"], r["column_type"], r["null"] == "NO")
                        for r in described] == cols, where
                arrow = table.as_of(v).to_arrow()
                assert arrow.schema.names == want.schema.names, where
                ordered = self._ordered(arrow)
                assert [_normal(r) for r in ordered.to_pylist()] == [
                    _normal(r) for r in want.to_pylist()], where
        for name in self.live:
            want = self.ref.sql(f"SELECT * FROM {name} ORDER BY ALL").to_arrow_table()
            got = self.wh.sql(f"SELECT * FROM {name} ORDER BY ALL")
            assert [_normal(r) for r in got.to_pylist()] == [
                _normal(r) for r in want.to_pylist()], name


SqlModel.TestCase.settings = settings(
    max_examples=EXAMPLES or 6,
    stateful_step_count=30 if EXAMPLES else 14,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    # SQL_MODEL_SHRINK=0: report the first failing sequence as found (shrinking a long
    # one can take minutes)
    phases=[p for p in Phase if p is not Phase.shrink or os.environ.get("SQL_MODEL_SHRINK") != "0"],
)
TestSqlModel = SqlModel.TestCase
