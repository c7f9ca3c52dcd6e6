"""Model-based differential test: random operations on a tablever table and on DuckDB.

A seeded driver applies random operations to a tablever table and, in parallel, runs the
same SQL on plain DuckDB tables (one per retained version, each with a ``_rid`` column
holding the row id tablever should give the row). After every step each retained
version is read back on every path and compared with its reference: rows as multisets,
Arrow types exactly, errors as errors. DuckDB is the reference (docs/api.md, "Semantics:
DuckDB is the reference").
"""

from __future__ import annotations

import datetime as dt
import math
import random
import shutil
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

import tablever as tv

# --- Deliberate differences from DuckDB (docs/api.md, "Deliberate differences") ------
# 1. filter(p) has no DuckDB statement: it is DELETE ... WHERE NOT coalesce(p, false).
FILTER_SQL = "DELETE FROM cur WHERE NOT coalesce(({p}), false)"
# 2. append does not cast by DuckDB's rules: the driver appends only rows already in the
#    table's exact types, so the reference INSERT never casts either.
# 3. upsert replaces every row holding a key with the one new row, which keeps the
#    smallest of their row ids (docs/api.md, "Row-level semantics", Upsert): modelled in
#    Model._reference as a DELETE of the keys and an INSERT of the new rows.
# 4. A predicate whose evaluation fails only for some values (a string that is no number
#    compared with a number column) may raise in tablever where DuckDB, skipping rows by
#    the statistics of its own storage, never evaluates it; when both answer, the rows
#    are the same. Accepted only for the row-dependent predicates of BAD, and only as an
#    InvalidPredicateError that DuckDB's conversion error caused.
ROW_DEPENDENT = ("i = 'abc'", "f = 'x'")


def row_dependent(text: str, exc: BaseException) -> bool:
    return (isinstance(exc, tv.InvalidPredicateError) and any(p in text for p in ROW_DEPENDENT)
            and isinstance(exc.__cause__, duckdb.ConversionException))
# ----------------------------------------------------------------------------------

STRUCT = pa.struct([("a", pa.int64()), ("b", pa.string())])
KINDS: dict[str, tuple[pa.DataType, str]] = {
    "i": (pa.int64(), "pa.int64()"),
    "f": (pa.float64(), "pa.float64()"),
    "s": (pa.string(), "pa.string()"),
    "ns": (pa.timestamp("ns"), "pa.timestamp('ns')"),
    "nz": (pa.timestamp("ns", tz="UTC"), "pa.timestamp('ns', tz='UTC')"),
    "us": (pa.timestamp("us"), "pa.timestamp('us')"),
    "tz": (pa.timestamp("us", tz="UTC"), "pa.timestamp('us', tz='UTC')"),
    "d": (pa.decimal128(10, 2), "pa.decimal128(10, 2)"),
    "l": (pa.list_(pa.int64()), "pa.list_(pa.int64())"),
    "st": (STRUCT, "pa.struct([('a', pa.int64()), ('b', pa.string())])"),
}
ROW_ID = pa.field("_row_id", pa.int64())
BIG = 2**63 - 1
INTS = [0, 1, -1, 2, 3, 5, 7, BIG, -BIG, 10**18, 10**18 + 1, 2**62 + 1, 2**53 + 1, None]
FLOATS = [0.0, -0.0, 1.5, 2.5, -3.25, math.nan, math.inf, -math.inf, 9007199254740992.0,
          1e18, 1e300, None]
STRINGS = ["", "a", "abc", "ABC", "é", "😀", "it's", '"q"', "%_", "zz", "naïve ☃", "\\", None]
NS_2024 = 1_704_067_200 * 10**9
NANOS = [NS_2024, NS_2024 + 1, NS_2024 + 1_501, 1_700_000_000_000_001_501, 0, -1,
         946_684_800 * 10**9, None]
DECIMALS = [Decimal(x) for x in ("0.00", "1.25", "-1.00", "2.50", "99999999.99",
                                 "-99999999.99", "100.00", "0.01")] + [None]
LISTS: list[Any] = [None, [], [1, 2], [3], [None, 3], [BIG], [1, 2, 3]]
STRUCTS: list[Any] = [None, {"a": 1, "b": "x"}, {"a": None, "b": None}, {"a": 5, "b": "😀"},
                      {"a": -BIG, "b": ""}]


def ts_literal(ns: int, digits: int = 9) -> str:
    """``ns`` nanoseconds since the epoch as ``YYYY-MM-DD HH:MM:SS.fffffffff``."""
    sec, frac = divmod(ns, 10**9)
    base = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=sec)
    return f"{base:%Y-%m-%d %H:%M:%S}.{frac:09d}"[: 20 + digits]


def pool(kind: str) -> list[Any]:
    """Values a column of ``kind`` is drawn from (timestamps as epoch integers)."""
    if kind in ("ns", "nz"):
        return NANOS
    if kind in ("us", "tz"):
        return [None if v is None else v // 1000 for v in NANOS]
    return {"i": INTS, "f": FLOATS, "s": STRINGS, "d": DECIMALS, "l": LISTS,
            "st": STRUCTS}[kind]


def literal(rng: random.Random, kind: str) -> str:
    """A SQL literal for a value of ``kind`` (often one the rows hold)."""
    v = rng.choice([x for x in pool(kind) if x is not None])
    if kind in ("i", "d"):
        return str(v)
    if kind == "f":
        return f"'{v}'::DOUBLE" if not math.isfinite(v) else repr(v)
    if kind == "s":
        return "'" + v.replace("'", "''") + "'"
    if kind in ("ns", "nz"):
        return rng.choice([f"TIMESTAMP_NS '{ts_literal(v)}'", f"'{ts_literal(v)}'",
                           f"TIMESTAMP '{ts_literal(v, 6)}'"])
    if kind in ("us", "tz"):
        return rng.choice([f"TIMESTAMP '{ts_literal(v * 1000, 6)}'",
                           f"'{ts_literal(v * 1000, 6)}+00'", f"'{ts_literal(v * 1000, 3)}'"])
    return "NULL"


# --- random predicates and SET expressions ---------------------------------------

def templates(c: str, k: str, lit: str, rng: random.Random) -> list[str]:
    """Predicates over column ``c`` of kind ``k``; ``lit`` is a literal of that kind."""
    if k == "i":
        return [f"{c} = {lit}", f"{c} > 2.5", f"{c} < 3.5", f"{c} = 1e18", f"{c} <= 1e18",
                f"{c} IN (1, 2, 1e18)", f"{c} BETWEEN -5 AND 5", f"{c} > {lit}",
                f"{c} % 3 = 1", f"abs({c}) > 100", f"{c} >= 1000000000000000001",
                f"{c} = 4611686018427387904.5", f"{c} > '5'", f"{c} IN ({lit}, 3)",
                f"{c} = 9.223372036854776e18", f"CAST({c} AS DOUBLE) = 1e18",
                f"coalesce({c}, 0) = 0"]
    if k == "f":
        return [f"f = {lit}", "f = 9007199254740993", "f > 2.5", "f >= 9007199254740993",
                "f > 1e300", "isnan(f)", "f = 'inf'::DOUBLE", "f < 0", f"f <> {lit}",
                "f IN (1.5, 2.5)", "f * 2 > 3", "f BETWEEN -1 AND 1e18", "f = 1e18"]
    if k == "s":
        return [f"s = {lit}", "s LIKE '%é%'", "s LIKE 'a%'", "length(s) > 2",
                "lower(s) = 'abc'", "s IN ('', 'zz')", f"s > {lit}", "coalesce(s, 'z') = 'z'",
                "s = 'it''s'", "s LIKE '%\\%%' ESCAPE '\\'", "s || '!' = '!'"]
    if k == "d":
        return [f"d = {lit}", "d > 2.5", "d = 1e2", "d > 12345678.9", "d IN (0.01, -1)",
                "d < 1.255", "abs(d) >= 1", "d = 2.5"]
    if k == "l":
        return ["list_contains(l, 3)", "len(l) > 1", "l[1] = 1", "l = [1, 2]",
                "list_contains(l, 9223372036854775807)", "len(l) = 0"]
    if k == "st":
        return ["st.a > 0", "st.b = 'x'", "st.a IS NULL", "struct_extract(st, 'a') = 1",
                "st.b LIKE '%😀%'", "st.a < -1e18"]
    other = literal(rng, k)
    return [f"{c} = {lit}", f"{c} > {lit}", f"{c} <= {lit}", f"{c} BETWEEN {lit} AND {other}",
            f"{c} > TIMESTAMP '2024-01-01'", f"{c} IN ({lit}, {other})", f"year({c}) = 2024"]


# Predicates DuckDB refuses: the first seven whatever the rows, the last two only when it
# evaluates the cast of the string literal for some row.
BAD = ["nope = 1", "s + 1 > 0", "length(i) > 1", "l / 2 > 0", "st.zz = 1", "count(*) > 1",
       "id >", "i = 'abc'", "f = 'x'"]


def atom(rng: random.Random, kinds: list[str]) -> str:
    """One predicate over a column of the schema (``id`` and ``i`` are both int64)."""
    if rng.random() < 0.04:
        return rng.choice(BAD)
    c = rng.choice(["id", *kinds])
    k = "i" if c == "id" else c
    if rng.random() < 0.12:
        return rng.choice([f"{c} IS NULL", f"{c} IS NOT NULL"])
    return rng.choice(templates(c, k, literal(rng, k), rng))


def predicate(rng: random.Random, kinds: list[str], depth: int = 0) -> str:
    r = rng.random()
    if depth < 2 and r < 0.2:
        op = rng.choice(["AND", "OR"])
        return f"({predicate(rng, kinds, depth + 1)}) {op} ({predicate(rng, kinds, depth + 1)})"
    if depth < 2 and r < 0.27:
        return f"NOT ({predicate(rng, kinds, depth + 1)})"
    return atom(rng, kinds)


def set_expr(rng: random.Random, c: str, kinds: list[str]) -> str:
    k = "i" if c == "id" else c
    others = {
        "i": [f"{c} + 1", f"{c} / 2", "'2.5'", "' 7 '", f"{c} * 2", "NULL", f"-{c}",
              "2.5", "'1e3'", f"{c} // 3", "'abc'", "1e18"],
        "f": ["f * 2", "f / 0", "'nan'", "'inf'", "NULL", "f + 0.5", "'1e400'", "1e308 * 10"],
        "s": ["s || '!'", "'2.5'", "upper(s)", "'☃'", "NULL", "s || s"],
        "d": ["d * 2", "d + 0.005", "'3.145'", "1e3", "round(d, 1)", "NULL", "d * 1e7"],
        "l": ["list_append(l, 1)", "'[4, 5]'", "[1, NULL]", "NULL", "list_concat(l, l)",
              "'x'"],
        "st": ["{'a': 7, 'b': 'x'}", "'{a: 9, b: y}'", "struct_pack(a := st.a + 1, b := st.b)",
               "NULL", "{'a': 1}"],
    }
    for ts in ("ns", "nz", "us", "tz"):
        others[ts] = [literal(rng, ts), "'2024-01-01 12:00:00.123456789'",
                      f"{ts} + INTERVAL 1 SECOND", "NULL", "'2024-02-30'",
                      "TIMESTAMP_NS '2024-02-29 00:00:00.000000001'"]
    cross = {"i": [("length(s)", "s"), ("CAST(f AS BIGINT)", "f"), ("st.a", "st"), ("d", "d")],
             "f": [("i", "i"), ("d", "d")], "d": [("i", "i"), ("f", "f")],
             "s": [("CAST(i AS VARCHAR)", "i"), ("tz", "tz"), ("ns", "ns"), ("d", "d"),
                   ("l", "l"), ("st", "st"), ("nz", "nz")],
             "ns": [("tz", "tz"), ("nz", "nz"), ("us", "us"), ("s", "s")],
             "nz": [("ns", "ns"), ("tz", "tz")], "us": [("ns", "ns"), ("tz", "tz")],
             "tz": [("ns", "ns"), ("us", "us"), ("nz", "nz")]}
    usable = [e for e, need in cross.get(k, []) if need in kinds]
    return rng.choice(others[k] + usable)


def value_expr(rng: random.Random, c: str) -> str:
    """A constant for column ``c`` in ``INSERT ... VALUES``, not always of its type."""
    k = "i" if c == "id" else c
    odd = {"i": ["'2.5'", "' 7 '", "2.5", "'1e3'", "'x'"], "f": ["'nan'", "'-inf'", "3"],
           "s": ["42", "TIMESTAMP '2024-01-01 12:00:00'", "2.50"], "d": ["'3.145'", "1e3"],
           "l": ["'[4, 5]'", "[1, NULL]", "[]"], "st": ["{'a': 7, 'b': 'x'}", "'{a: 9, b: y}'"],
           "ns": ["'2024-01-01 12:00:00.123456789'"], "nz": ["'2024-01-01 12:00:00.5+02'"],
           "us": ["DATE '2024-02-29'"], "tz": ["'2024-01-01 12:00:00'"]}
    r = rng.random()
    if r < 0.1:
        return "NULL"
    if r < 0.4 or k in ("l", "st"):
        return rng.choice(odd[k])
    return literal(rng, k)


def random_rows(rng: random.Random, schema: pa.Schema, ids: list[int]) -> pa.Table:
    cols: dict[str, pa.Array] = {"id": pa.array(ids, pa.int64())}
    for f in schema:
        if f.name != "id":
            cols[f.name] = pa.array([rng.choice(pool(f.name)) for _ in ids], f.type)
    return pa.table(cols, schema=schema)


# --- canonical rows ----------------------------------------------------------------

def _key(v: Any, signed_zero: bool) -> Any:
    if isinstance(v, float):
        if math.isnan(v):
            return ("nan",)
        return ("f", struct.pack(">d", v if signed_zero or v != 0 else 0.0))
    if isinstance(v, list):
        return ("l", tuple(_key(x, signed_zero) for x in v))
    if isinstance(v, dict):
        return ("d", tuple((k, _key(x, signed_zero)) for k, x in v.items()))
    return (type(v).__name__, v)


def rows_of(table: pa.Table, signed_zero: bool = True) -> Counter[Any]:
    """The rows of ``table`` as a multiset of hashable keys (timestamps exact to the ns).
    ``signed_zero=False`` for answers that may hold either zero: DuckDB holds -0.0 = 0.0,
    so ``min(f)`` over both returns the one it meets first."""
    cols = []
    for c, f in zip(table.columns, table.schema, strict=True):
        cols.append((pc.cast(c, pa.int64()) if pa.types.is_timestamp(f.type) else c).to_pylist())
    return Counter(tuple(_key(v, signed_zero) for v in row) for row in zip(*cols, strict=True))


def describe(rows: Counter[Any], limit: int = 3) -> str:
    return "; ".join(repr(r) for r in sorted(rows.elements(), key=repr)[:limit])


class Mismatch(AssertionError):
    """tablever and the DuckDB reference disagree; ``check`` names the kind of check."""

    def __init__(self, check: str, detail: str) -> None:
        self.check = check
        super().__init__(f"{check}: {detail}")


def plain(schema: pa.Schema) -> pa.Schema:
    """``schema`` without metadata and nullability (``_row_id`` is NOT NULL on some paths
    and nullable on others; the docs promise neither)."""
    return pa.schema([f.with_nullable(True) for f in schema])


def same_rows(check: str, got: pa.Table, want: pa.Table, schema: pa.Schema | None) -> None:
    if schema is not None and not plain(got.schema).equals(plain(schema)):
        raise Mismatch(check, f"schema {got.schema} != {schema}")
    signed = "aggregates" not in check
    g, w = rows_of(got, signed), rows_of(want, signed)
    if g != w:
        raise Mismatch(check, f"extra rows [{describe(g - w)}], missing rows [{describe(w - g)}]")


def py(v: Any) -> str:
    """``v`` as Python source (floats that repr cannot write back, Decimals)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "math.nan" if math.isnan(v) else ("-" if v < 0 else "") + "math.inf"
    if isinstance(v, list):
        return "[" + ", ".join(py(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {py(x)}" for k, x in v.items()) + "}"
    return f"Decimal('{v}')" if isinstance(v, Decimal) else repr(v)


# --- operations ----------------------------------------------------------------------

@dataclass
class Op:
    """One step: ``kind`` with its concrete arguments, replayable on its own."""

    kind: str
    data: pa.Table | None = None
    pred: str | None = None
    sets: dict[str, str] | None = None
    version: int | None = None
    keep: int | None = None
    check_seed: int = 0
    refused: bool = False  # DuckDB refused it when it last ran

    def code(self) -> str:
        """The step as a line of Python against ``t`` (a table) and ``wh`` (its warehouse)."""
        line = self._code()
        return f"with suppress(tv.TableverError): {line}" if self.refused else line

    def _code(self) -> str:
        if self.data is not None:
            cols = []
            for f in self.data.schema:
                col = self.data.column(f.name)
                vals = (pc.cast(col, pa.int64()) if pa.types.is_timestamp(f.type) else col)
                src = py(vals.to_pylist())
                cols.append(f"{f.name!r}: pa.array({src}, {KINDS.get(f.name, ('', 'pa.int64()'))[1]})")
            rows = "pa.table({" + ", ".join(cols) + "})"
            return f"t.append({rows})" if self.kind == "append" else f"t.upsert({rows}, on=['id'])"
        return {
            "delete": f"t.delete({self.pred!r})",
            "filter": f"t.filter({self.pred!r})",
            "update": f"t.update({self.sets!r}, where={self.pred!r})",
            "sql_delete": f"wh.sql({self.sql()!r})",
            "sql_update": f"wh.sql({self.sql()!r})",
            "sql_insert": f"wh.sql({self.sql()!r})",
            "partition": f"t.set_properties({{'partition_by': {self.pred!r}}})",
            "restore": f"t.restore({self.version})",
            "compact": "tv.compact(t)",
            "expire": f"tv.expire(t, older_than='0s', keep_last={self.keep}); "
                      "tv.vacuum(t, grace='0s')",
            "reopen": "t = tv.open(t.location)",
        }[self.kind]

    def sql(self, table: str = "t") -> str:
        if self.kind == "sql_insert":
            return f"INSERT INTO {table} VALUES {self.pred}"
        if self.kind in ("delete", "sql_delete"):
            return f"DELETE FROM {table} WHERE {self.pred}"
        sets = ", ".join(f"{c} = {e}" for c, e in (self.sets or {}).items())
        return f"UPDATE {table} SET {sets}" + (f" WHERE {self.pred}" if self.pred else "")


# --- the model -------------------------------------------------------------------------

@dataclass
class Stats:
    steps: int = 0
    checks: int = 0


@dataclass
class Model:
    """A tablever table and its DuckDB reference, stepped together."""

    root: Path | str  # a folder, or a location such as s3://bucket/prefix
    schema: pa.Schema
    every_version: bool = True
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self.table = tv.create(f"{str(self.root).rstrip('/')}/t", schema=self.schema)
        self.wh = tv.Warehouse(self.root)
        self.db = duckdb.connect()
        self.q("SET TimeZone = 'UTC'")
        self.db.register("empty_src", self.with_rid(self.schema.empty_table(), 0))
        self.q("CREATE TABLE cur AS SELECT * FROM empty_src")
        self.db.unregister("empty_src")
        self.next_rid = 0
        self.partition = ""
        self.versions: list[int] = []
        self.save(self.table.latest().version)

    @property
    def kinds(self) -> list[str]:
        return [n for n in self.schema.names if n != "id"]

    def q(self, sql: str) -> list[Any]:
        """Run ``sql`` on the reference and fetch every row of its answer."""
        return self.db.execute(sql).fetchall()

    def with_rid(self, rows: pa.Table, first: int) -> pa.Table:
        rids = pa.array(range(first, first + rows.num_rows), pa.int64())
        return rows.append_column("_rid", rids)

    def save(self, version: int) -> None:
        self.q(f"CREATE OR REPLACE TABLE v{version} AS SELECT * FROM cur")
        self.versions.append(version)

    def ref(self, version: int, with_rid: bool = False) -> pa.Table:
        cols = "*" if with_rid else "* EXCLUDE (_rid)"
        return self.db.sql(f"SELECT {cols} FROM v{version}").to_arrow_table()

    def ref_cur(self) -> pa.Table:
        return self.db.sql("SELECT * FROM cur").to_arrow_table()

    def duck(self, sql: str, version: int) -> pa.Table:
        """``sql`` on the reference of ``version``, named ``t`` (without ``_rid``)."""
        self.q(f"CREATE OR REPLACE TEMP VIEW t AS SELECT * EXCLUDE (_rid) FROM v{version}")
        return self.db.sql(sql).to_arrow_table()

    # ---- stepping

    def reference(self, op: Op) -> int | None:
        """Apply ``op`` to ``cur``; returns the rows it changes or None if DuckDB refuses."""
        self.q("BEGIN")
        try:
            n = self._reference(op)
        except duckdb.Error:
            self.q("ROLLBACK")
            return None
        self.q("COMMIT")
        return n

    def _reference(self, op: Op) -> int:
        if op.kind == "append":
            assert op.data is not None
            return self.insert(op.data)
        if op.kind == "sql_insert":
            self.q("CREATE OR REPLACE TEMP TABLE ins AS SELECT * EXCLUDE (_rid) FROM cur LIMIT 0")
            self.q(op.sql("ins"))
            return self.insert(self.db.sql("SELECT * FROM ins").to_arrow_table())
        if op.kind == "partition":
            self.partition = op.pred or ""
            return 1
        if op.kind == "upsert":
            assert op.data is not None
            ids = op.data.column("id").to_pylist()
            self.db.register("src", op.data)
            found = dict(self.q(
                "SELECT id, min(_rid) FROM cur WHERE id IN (SELECT id FROM src) GROUP BY id"))
            rids = []
            for i in ids:
                if i not in found:
                    found[i] = self.next_rid
                    self.next_rid += 1
                rids.append(found[i])
            self.q("DELETE FROM cur WHERE id IN (SELECT id FROM src)")
            self.db.register("src", op.data.append_column("_rid", pa.array(rids, pa.int64())))
            self.q("INSERT INTO cur SELECT * FROM src")
            return op.data.num_rows
        if op.kind == "filter":
            return self._count(FILTER_SQL.format(p=op.pred))
        if op.kind in ("delete", "sql_delete", "update", "sql_update"):
            return self._count(op.sql("cur"))
        if op.kind == "restore":
            if op.version not in self.versions:
                raise duckdb.CatalogException(f"no version {op.version}")
            self.q("DELETE FROM cur")
            self.q(f"INSERT INTO cur SELECT * FROM v{op.version}")
        return 0

    def insert(self, rows: pa.Table) -> int:
        """Append ``rows`` to ``cur`` with the row ids an append hands out: in stored
        order, which is partition by partition, ascending, NULL last (docs/api.md)."""
        if self.partition:
            values = rows.column(self.partition)
            if pa.types.is_timestamp(values.type):
                values = pc.cast(values, pa.int64())
            keys = values.to_pylist()
            order = sorted(range(rows.num_rows),
                           key=lambda i: (keys[i] is None, 0 if keys[i] is None else keys[i]))
            rows = rows.take(pa.array(order, pa.int64()))
        self.db.register("src", self.with_rid(rows.cast(self.schema), self.next_rid))
        self.q("INSERT INTO cur SELECT * FROM src")
        self.next_rid += rows.num_rows
        return rows.num_rows

    def _count(self, sql: str) -> int:
        rows = self.q(sql)
        return int(rows[0][0]) if rows else 0

    def step(self, op: Op) -> None:
        t = self.table
        before = t.latest().version
        expected = self.reference(op)
        op.refused = expected is None
        try:
            result = self._apply(op)
        except Mismatch:
            raise
        except tv.TableverError as exc:
            if expected is not None and not row_dependent(op.code(), exc):
                raise Mismatch(f"{op.kind} raised", f"{type(exc).__name__}: {exc}") from exc
            if t.latest().version != before:
                raise Mismatch(f"{op.kind} failed but committed", str(exc)) from exc
            return
        except Exception as exc:  # anything else is a tablever bug, never DuckDB's answer
            raise Mismatch(f"{op.kind} raised non-TableverError",
                           f"{type(exc).__name__}: {exc}") from exc
        if expected is None:
            raise Mismatch(f"{op.kind} accepted what DuckDB refuses", op.code())
        now = t.latest().version
        commits = {"append": expected > 0, "upsert": expected > 0, "delete": expected > 0,
                   "filter": expected > 0, "update": expected > 0, "sql_delete": expected > 0,
                   "sql_update": expected > 0, "sql_insert": expected > 0, "partition": True,
                   "restore": None, "compact": result is not None,
                   "expire": False, "reopen": False}[op.kind]
        if commits is not None and commits != (now != before):
            raise Mismatch(f"{op.kind} commit", f"expected a commit: {commits}, {before} -> {now}")
        if op.kind.startswith("sql_") and result.column(0)[0].as_py() != expected:
            raise Mismatch(f"{op.kind} count", f"{result.column(0)[0]} != {expected}")
        if now == before and rows_of(self.ref_cur()) != rows_of(self.ref(before, True)):
            raise Mismatch(f"{op.kind} commit", f"rows changed, no commit: {op.code()}")
        if now != before:
            if now != before + 1:
                raise Mismatch("version numbers", f"{before} -> {now}")
            self.save(now)

    def _apply(self, op: Op) -> Any:
        t = self.table
        if op.kind == "append":
            return t.append(op.data)
        if op.kind == "upsert":
            return t.upsert(op.data, on=["id"])
        if op.kind in ("delete", "filter"):
            return getattr(t, op.kind)(op.pred)
        if op.kind == "update":
            return t.update(op.sets or {}, where=op.pred)
        if op.kind == "partition":
            return t.set_properties({"partition_by": op.pred})
        if op.kind in ("sql_delete", "sql_update", "sql_insert"):
            return self.wh.sql(op.sql())
        if op.kind == "restore":
            return t.restore(op.version)
        if op.kind == "compact":
            return tv.compact(t)
        if op.kind == "expire":
            gone = tv.expire(t, older_than="0s", keep_last=op.keep)
            tv.vacuum(t, grace="0s")
            keep = sorted(self.versions)[-(op.keep or 1):]
            if sorted(gone) != sorted(set(self.versions) - set(keep)):
                raise Mismatch("expire", f"expired {gone}, retained were {self.versions}")
            for v in gone:
                self.q(f"DROP TABLE v{v}")
            self.versions = keep
            return gone
        self.table = tv.open(t.location)
        return None

    # ---- checking

    def _expect(self, check: str, got: Callable[[], pa.Table], sql: str | None, version: int,
                want: Callable[[], pa.Table] | None = None, schema: pa.Schema | None = None,
                ) -> None:
        """``got()`` must equal DuckDB's answer: the same rows, or an error for an error."""
        self.stats.checks += 1
        try:
            expected = want() if want is not None else self.duck(sql or "", version)
        except duckdb.Error:
            try:
                got()
            except tv.TableverError:
                return
            except Exception as exc:
                raise Mismatch(check, f"raised {type(exc).__name__}: {exc}") from exc
            raise Mismatch(check, f"DuckDB refuses {sql!r}, tablever answers") from None
        try:
            answer = got()
        except Exception as exc:
            if row_dependent(f"{check} {sql or ''}", exc):
                return
            raise Mismatch(check, f"v{version} {sql or ''}: {type(exc).__name__}: {exc}") from exc
        same_rows(f"{check} v{version} {sql or ''}", answer, expected,
                  schema if schema is not None else expected.schema)

    def check(self, op: Op) -> None:
        rng = random.Random(op.check_seed)
        t = self.table
        history = sorted(s.version for s in t.history())
        if history != sorted(self.versions):
            raise Mismatch("history", f"{history} != {sorted(self.versions)}")
        latest = history[-1]
        full = set(history) if self.every_version else {latest, rng.choice(history)}
        for v in history:
            self.check_version(t.as_of(v), v, v in full, rng)
        a, b = rng.choice(history), rng.choice(history)
        self.check_diff(a, b)
        if len(history) > 1 and history[-2] == latest - 1:
            self.check_changes(latest - 1, latest)

    def check_version(self, s: tv.Snapshot, v: int, full: bool, rng: random.Random) -> None:
        schema = self.schema
        rid_schema = schema.append(ROW_ID)
        self._expect("to_arrow()", s.to_arrow, None, v, lambda: self.ref(v), schema)
        self._expect("to_arrow(with_row_id)", lambda: s.to_arrow(with_row_id=True), None, v,
                     lambda: self.ref(v, True).rename_columns(rid_schema.names), rid_schema)
        self.stats.checks += 1
        if s.num_rows != self.ref(v).num_rows:
            raise Mismatch("num_rows", f"v{v}: {s.num_rows} != {self.ref(v).num_rows}")
        if not full:
            return
        p = predicate(rng, self.kinds)
        where = f"SELECT * FROM t WHERE {p}"
        self._expect("to_arrow(where)", lambda: s.to_arrow(where=p), where, v, schema=schema)
        polars_schema = pl.DataFrame(schema.empty_table()).schema

        def polars(df: pl.DataFrame) -> pa.Table:
            if df.schema != polars_schema:
                raise Mismatch("polars schema", f"v{v}: {df.schema} != {polars_schema}")
            return df.to_arrow().cast(schema)

        self._expect("to_polars()", lambda: polars(s.to_polars()), None, v,
                     lambda: self.ref(v), schema)
        self._expect("lazy().collect()", lambda: polars(s.lazy().collect()), None, v,
                     lambda: self.ref(v), schema)
        self._expect("relation()", lambda: s.relation().to_arrow_table(), "SELECT * FROM t", v)
        self._expect("sql(*)", lambda: s.sql("SELECT * FROM t"), "SELECT * FROM t", v)
        self._expect("sql(where)", lambda: s.sql(f"SELECT count(*) AS n FROM t WHERE {p}"),
                     f"SELECT count(*) AS n FROM t WHERE {p}", v)
        aggs = ["count(*) AS n"]
        for c in ["id", *self.kinds]:
            aggs += [f"count({c}) AS n_{c}", f"min({c}) AS lo_{c}", f"max({c}) AS hi_{c}"]
            if c in ("id", "i", "d"):
                aggs.append(f"sum({c}) AS sum_{c}")
        agg = "SELECT " + ", ".join(aggs) + " FROM t"
        self._expect("sql(aggregates)", lambda: s.sql(agg), agg, v)
        at = agg.replace("FROM t", f"FROM t VERSION AS OF {v}")
        self._expect("Warehouse.sql(aggregates)", lambda: self.wh.sql(at), agg, v)

    def check_diff(self, a: int, b: int) -> None:
        self.stats.checks += 1
        names = [*self.schema.names, "_row_id"]
        ra, rb = (self.ref(v, True).rename_columns(names) for v in (a, b))
        d = self.table.diff(a, b, on=["id"])
        ka, kb = rows_of(ra), rows_of(rb)
        rid_schema = self.schema.append(ROW_ID)
        for part, got, want in (("added", d.added, kb - ka), ("removed", d.removed, ka - kb)):
            if not plain(got.schema).equals(rid_schema) or rows_of(got) != want:
                raise Mismatch(f"diff.{part}", f"diff({a}, {b}): got [{describe(rows_of(got))}]"
                               f" schema {got.schema}, want [{describe(want)}]")
        self.db.register("added", d.added)
        self.db.register("removed", d.removed)
        distinct = " OR ".join(f"r.{c} IS DISTINCT FROM a.{c}" for c in self.kinds) or "false"
        want_counts = self.q(
            "SELECT (SELECT count(*) FROM added a WHERE NOT EXISTS "
            "  (SELECT 1 FROM removed r WHERE r.id = a.id)),"
            " (SELECT count(*) FROM removed r WHERE NOT EXISTS "
            "  (SELECT 1 FROM added a WHERE r.id = a.id)),"
            f" (SELECT count(*) FROM removed r JOIN added a ON r.id = a.id WHERE {distinct})"
        )[0]
        got_counts = (d.summary["inserted"], d.summary["deleted"], d.summary["updated"])
        if tuple(want_counts or ()) != got_counts:
            raise Mismatch("diff(on=id)", f"diff({a}, {b}) inserted/deleted/updated "
                           f"{got_counts} != {want_counts}")

    def check_changes(self, a: int, b: int) -> None:
        self.stats.checks += 1
        feed = self.table.changes(a, b)
        names = [*self.schema.names, "_row_id"]
        ka, kb = (rows_of(self.ref(v, True).rename_columns(names)) for v in (a, b))
        for kind, want in (("insert", kb - ka), ("delete", ka - kb)):
            got = feed.filter(pc.equal(feed.column("_change"), kind)).select(names)
            if rows_of(got) != want:
                raise Mismatch("changes", f"changes({a}, {b}) {kind}: got "
                               f"[{describe(rows_of(got))}], want [{describe(want)}]")


# --- the driver -------------------------------------------------------------------------

def random_schema(rng: random.Random) -> pa.Schema:
    kinds = [k for k in KINDS if rng.random() < 0.55] or ["i", "s"]
    return pa.schema([("id", pa.int64())] + [(k, KINDS[k][0]) for k in kinds])


def next_op(rng: random.Random, m: Model, next_id: list[int]) -> Op:
    kinds = m.kinds
    kind = rng.choices(
        ["append", "upsert", "delete", "filter", "update", "sql_delete", "sql_update",
         "sql_insert", "restore", "compact", "expire", "reopen", "partition"],
        [6, 3, 3, 2, 4, 1, 2, 2, 1, 1, 1, 1, 1])[0]
    seed = rng.randrange(2**32)
    if kind in ("append", "upsert"):
        held = [i for i in m.ref(m.versions[-1]).column("id").to_pylist() if i is not None]
        n = rng.randint(0, 6) if kind == "append" else rng.randint(1, 4)
        ids: list[Any] = []
        for _ in range(n):
            r = rng.random()
            if held and r < 0.4:
                ids.append(rng.choice(held))
            elif kind == "append" and r < 0.5:
                ids.append(rng.choice([None, BIG, -BIG]))
            else:
                next_id[0] += 1
                ids.append(next_id[0])
        if kind == "upsert":
            ids = list(dict.fromkeys(i for i in ids if i is not None)) or [next_id[0] + 1]
        return Op(kind, data=random_rows(rng, m.schema, ids), check_seed=seed)
    if kind in ("delete", "filter", "sql_delete"):
        return Op(kind, pred=predicate(rng, kinds), check_seed=seed)
    if kind in ("update", "sql_update"):
        cols = rng.sample(["id", *kinds], k=min(len(kinds) + 1, rng.choice([1, 1, 2])))
        sets = {c: set_expr(rng, c, kinds) for c in cols}
        pred = predicate(rng, kinds) if rng.random() < 0.8 else None
        return Op(kind, sets=sets, pred=pred, check_seed=seed)
    if kind == "sql_insert":
        values = ", ".join(
            "(" + ", ".join(value_expr(rng, c) for c in ["id", *kinds]) + ")"
            for _ in range(rng.randint(1, 3)))
        return Op(kind, pred=values, check_seed=seed)
    if kind == "partition":
        usable = [c for c in ["id", *kinds] if c in ("id", "i", "s", "ns", "nz", "us", "tz")]
        return Op(kind, pred=rng.choice(["", "id", *usable]), check_seed=seed)
    if kind == "restore":
        return Op(kind, version=rng.choice(m.versions), check_seed=seed)
    if kind == "expire":
        return Op(kind, keep=rng.randint(1, 4), check_seed=seed)
    return Op(kind, check_seed=seed)


@dataclass
class Failure:
    seed: int
    schema: pa.Schema
    ops: list[Op]
    error: Mismatch

    def report(self) -> str:
        lines = [f"seed {self.seed}: {self.error}", "minimal reproduction:",
                 "import math, pyarrow as pa, tablever as tv",
                 "from contextlib import suppress",
                 "from decimal import Decimal",
                 f"t = tv.create('wh/t', schema=pa.schema({self.schema_src()}))",
                 "wh = tv.Warehouse('wh')"]
        lines += [op.code() for op in self.ops]
        return "\n".join([*lines, f"# then fails: {self.error.check}"])

    def schema_src(self) -> str:
        return "[" + ", ".join(f"({f.name!r}, {KINDS.get(f.name, ('', 'pa.int64()'))[1]})"
                               for f in self.schema) + "]"


def replay(schema: pa.Schema, ops: list[Op], every_version: bool = True,
           stats: Stats | None = None) -> Mismatch | None:
    """Run ``ops`` in a fresh table; the first disagreement, or None."""
    with tempfile.TemporaryDirectory() as tmp:
        m = Model(Path(tmp), schema, every_version, stats or Stats())
        try:
            for op in ops:
                m.stats.steps += 1
                m.step(op)
                m.check(op)
        except Mismatch as exc:
            return exc
        finally:
            m.db.close()
    return None


def shrink(schema: pa.Schema, ops: list[Op], error: Mismatch, budget: float) -> list[Op]:
    """Drop steps while the same kind of check still fails (within ``budget`` seconds)."""
    deadline = time.monotonic() + budget
    i = len(ops) - 2
    while i >= 0 and time.monotonic() < deadline:
        trial = ops[:i] + ops[i + 1:]
        found = replay(schema, trial)
        if found is not None and found.check == error.check:
            ops = trial
        i -= 1
    return ops


def run_seed(seed: int, steps: int, every_version: bool = True, shrink_budget: float = 60.0,
             stats: Stats | None = None, location: str | None = None) -> Failure | None:
    """``steps`` random operations from ``seed``; a shrunk Failure on a disagreement.
    ``location`` puts the table there (an ``s3://`` prefix, say) instead of a temp
    folder."""
    rng = random.Random(seed)
    schema = random_schema(rng)
    ops: list[Op] = []
    stats = stats or Stats()
    next_id = [0]
    with tempfile.TemporaryDirectory() as tmp:
        m = Model(location or Path(tmp), schema, every_version, stats)
        try:
            for _ in range(steps):
                ops.append(next_op(rng, m, next_id))
                stats.steps += 1
                m.step(ops[-1])
                m.check(ops[-1])
        except Mismatch as exc:
            error = exc
        else:
            return None
        finally:
            m.db.close()
            shutil.rmtree(tmp, ignore_errors=True)
    return Failure(seed, schema, shrink(schema, ops, error, shrink_budget), error)

