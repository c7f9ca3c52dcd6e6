"""Property tests: random histories checked against an in-memory model at every version.

Each example builds a fresh table in its own temporary folder, runs a random sequence of
operations, checks the latest snapshot after every step, then reopens the table and
checks every version (and the diff between consecutive versions) against the model.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tablever as tv

QUICK = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- issue 2: appends and tags, read back by every kind of ref ------------------------

tag_names = st.from_regex(r"\Av[0-9](\.[0-9])?\Z")
append_step = st.tuples(
    st.just("append"), st.lists(st.one_of(st.none(), st.text(max_size=4)), max_size=6)
)
tag_step = st.tuples(st.just("tag"), tag_names)


def _read(s: tv.Snapshot) -> list[tuple[int, int, str | None]]:
    t = s.to_arrow(with_row_id=True)
    return sorted(zip(t.column("_row_id").to_pylist(), t.column("n").to_pylist(),
                      t.column("s").to_pylist(), strict=True))


@settings(max_examples=40, **QUICK)  # type: ignore[arg-type]
@given(steps=st.lists(st.one_of(append_step, tag_step), min_size=1, max_size=12))
def test_every_version_reads_back_exactly_the_rows_appended_up_to_it(
    steps: list[tuple[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t")
        t = tv.create(path, schema=pa.schema([("n", pa.int64()), ("s", pa.string())]))
        model: list[list[tuple[int, int, str | None]]] = [[]]  # version -> rows
        tags: dict[str, int] = {}
        for kind, arg in steps:
            if kind == "append":
                start = len(model[-1])
                new = [(start + i, start + i, text) for i, text in enumerate(arg)]
                s = t.append(pa.table({"n": pa.array([r[1] for r in new], pa.int64()),
                                       "s": pa.array(arg, pa.string())}))
                if new:
                    model.append(model[-1] + new)
                assert s.version == len(model) - 1
            elif arg in tags:
                try:
                    t.tag(arg)
                except tv.InvalidNameError:
                    pass
                else:
                    raise AssertionError(f"tag {arg!r} was created twice")
            else:
                t.tag(arg)
                tags[arg] = len(model) - 1

        again = tv.open(path)
        assert again.latest().version == len(model) - 1
        for version, want in enumerate(model):
            s = again.as_of(version)
            assert _read(s) == want
            assert s.num_rows == len(want) == s.summary["total_rows"]
            for ref in (s.id[:12], s.id[:6], s.timestamp, s.timestamp.isoformat()):
                same = again.as_of(ref)
                assert same.version == version, ref
                assert _read(same) == want
        for name, version in tags.items():
            assert again.as_of(name).version == version
            assert _read(again.as_of(name)) == model[version]
        assert sorted(again.tags()) == sorted(tags)


# --- issue 3: row-level changes against a model -----------------------------------------

Row = dict[str, Any]  # id, g, v
Truth = bool | None  # SQL three-valued logic


def _cmp(a: Any, b: Any, op: Callable[[Any, Any], bool]) -> Truth:
    return None if a is None or b is None else op(a, b)


def _and(a: Truth, b: Truth) -> Truth:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: Truth, b: Truth) -> Truth:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


PREDICATES: list[tuple[str, Callable[[Row, int], Truth]]] = [
    ("g = {k}", lambda r, k: _cmp(r["g"], k, lambda a, b: a == b)),
    ("g < {k}", lambda r, k: _cmp(r["g"], k, lambda a, b: a < b)),
    ("v > {q}", lambda r, k: _cmp(r["v"], k / 4, lambda a, b: a > b)),
    ("id % 3 = {m}", lambda r, k: r["id"] % 3 == k % 3),
    ("g IS NULL", lambda r, k: r["g"] is None),
    ("g >= {k} AND v < 0.5", lambda r, k: _and(_cmp(r["g"], k, lambda a, b: a >= b),
                                               _cmp(r["v"], 0.5, lambda a, b: a < b))),
    ("g = {k} OR v IS NULL", lambda r, k: _or(_cmp(r["g"], k, lambda a, b: a == b),
                                              r["v"] is None)),
    ("NOT (g = {k})", lambda r, k: (lambda x: None if x is None else not x)(
        _cmp(r["g"], k, lambda a, b: a == b))),
]

ASSIGNMENTS: list[tuple[dict[str, str], Callable[[Row, int], Row]]] = [
    ({"g": "{k}"}, lambda r, k: {"g": k}),
    ({"g": "NULL"}, lambda r, k: {"g": None}),
    ({"v": "v + 1"}, lambda r, k: {"v": None if r["v"] is None else r["v"] + 1}),
    ({"g": "g + 1", "v": "{k}"},
     lambda r, k: {"g": None if r["g"] is None else r["g"] + 1, "v": float(k)}),
]

values = st.tuples(st.one_of(st.none(), st.integers(0, 4)),
                   st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])))
pred = st.tuples(st.integers(0, len(PREDICATES) - 1), st.integers(0, 4))
appends = st.tuples(st.just("append"), st.lists(values, max_size=5))
nonempty_appends = st.tuples(st.just("append"), st.lists(values, min_size=1, max_size=5))
restores = st.tuples(st.just("restore"), st.integers(0, 1000))
# Appends and restores weigh double: gaps in row ids (a restore, or a whole file deleted,
# then an append) are where readers that compute _row_id from file offsets go wrong.
row_ops = st.one_of(
    appends,
    nonempty_appends,
    restores,
    restores,
    st.tuples(st.just("delete"), pred),
    st.tuples(st.just("filter"), pred),
    st.tuples(st.just("update"), st.tuples(st.integers(0, len(ASSIGNMENTS) - 1), pred)),
    st.tuples(st.just("upsert"),
              st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 50)), values),
                       max_size=4)),
    st.tuples(st.just("overwrite"), st.lists(values, max_size=3)),
)
SCHEMA = pa.schema([("id", pa.int64()), ("g", pa.int64()), ("v", pa.float64())])


def _sql(template: str, k: int) -> str:
    return template.format(k=k, q=repr(k / 4), m=k % 3)


def _arrow(rows: list[Row]) -> pa.Table:
    return pa.table({c: [r[c] for r in rows] for c in SCHEMA.names}, schema=SCHEMA)


def _items(rows: dict[int, Row]) -> set[tuple[int, int, int | None, float | None]]:
    return {(rid, r["id"], r["g"], r["v"]) for rid, r in rows.items()}


def _snapshot_items(t: pa.Table) -> list[tuple[int, int, int | None, float | None]]:
    cols = [t.column(c).to_pylist() for c in ("_row_id", "id", "g", "v")]
    return sorted(zip(*cols, strict=True))


class Model:
    """What the table should hold: rows by _row_id, and the two counters."""

    def __init__(self) -> None:
        self.rows: dict[int, Row] = {}
        self.next_row_id = 0
        self.next_id = 0
        self.versions: list[dict[int, Row]] = [{}]

    def fresh(self, g: int | None, v: float | None) -> tuple[int, Row]:
        rid, row = self.next_row_id, {"id": self.next_id, "g": g, "v": v}
        self.next_row_id += 1
        self.next_id += 1
        return rid, row

    def commit(self) -> None:
        self.versions.append({rid: dict(r) for rid, r in self.rows.items()})


def _apply(t: tv.Table, m: Model, kind: str, arg: Any) -> bool:
    """Run one operation on the table and the model; True if it should commit."""
    if kind in ("append", "overwrite"):
        fresh = [m.fresh(g, v) for g, v in arg]
        data = _arrow([r for _, r in fresh])
        if kind == "append":
            t.append(data)
            m.rows.update(fresh)
            return bool(fresh)
        had = bool(m.rows)
        t.overwrite(data)
        m.rows = dict(fresh)
        return bool(fresh) or had
    if kind in ("delete", "filter"):
        (i, k) = arg
        template, truth = PREDICATES[i]
        if kind == "delete":
            t.delete(_sql(template, k))
            gone = [rid for rid, r in m.rows.items() if truth(r, k) is True]
        else:
            t.filter(_sql(template, k))
            gone = [rid for rid, r in m.rows.items() if truth(r, k) is not True]
        for rid in gone:
            del m.rows[rid]
        return bool(gone)
    if kind == "update":
        a, (i, k) = arg
        template, truth = PREDICATES[i]
        sets, effect = ASSIGNMENTS[a]
        t.update({c: _sql(e, k) for c, e in sets.items()}, where=_sql(template, k))
        hit = [rid for rid, r in m.rows.items() if truth(r, k) is True]
        for rid in hit:
            m.rows[rid] = {**m.rows[rid], **effect(m.rows[rid], k)}
        return bool(hit)
    if kind == "upsert":
        by_key = {r["id"]: rid for rid, r in m.rows.items()}
        live = sorted(by_key)
        source: list[Row] = []
        seen: set[int] = set()
        for pick, (g, v) in arg:
            key = live[pick % len(live)] if pick is not None and live else m.next_id
            if key in seen:
                continue
            seen.add(key)
            if key == m.next_id:
                m.next_id += 1
            source.append({"id": key, "g": g, "v": v})
        t.upsert(_arrow(source), on=["id"])
        for row in source:
            if row["id"] in by_key:
                m.rows[by_key[row["id"]]] = row  # replaced in place: same _row_id
            else:
                m.rows[m.next_row_id] = row
                m.next_row_id += 1
        return bool(source)
    assert kind == "restore"
    target = (len(m.versions) - 1 - arg) % len(m.versions)  # small args: undo recent commits
    t.restore(target)
    m.rows = {rid: dict(r) for rid, r in m.versions[target].items()}
    return True


@settings(max_examples=60, **QUICK)  # type: ignore[arg-type]
@given(ops=st.lists(row_ops, min_size=3, max_size=12))
# Found by this test: polars gave the second file the first file's row-id offset.
@example(ops=[("append", [(None, None)]), ("append", [(1, 0.5)]), ("restore", 1),
              ("append", [(None, None)])])
# Found by this test: a restore to a smaller deletion vector wrote deleted_rows < 0.
@example(ops=[("append", [(0, 0.0), (1, 0.0), (2, 0.0)]), ("delete", (0, 0)),
              ("delete", (0, 1)), ("restore", 1)])
def test_row_level_changes_match_the_model_at_every_version(ops: list[tuple[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t")
        t = tv.create(path, schema=SCHEMA)
        m = Model()
        for kind, arg in ops:
            if _apply(t, m, kind, arg):
                m.commit()
            latest = t.latest()
            assert latest.version == len(m.versions) - 1, (kind, arg)
            got = _snapshot_items(latest.to_arrow(with_row_id=True))
            assert got == sorted(_items(m.rows)), (kind, arg)
            assert latest.num_rows == len(m.rows) == latest.summary["total_rows"]

        again = tv.open(path)
        assert again.latest().version == len(m.versions) - 1
        for version, rows in enumerate(m.versions):
            s = again.as_of(version)
            want = sorted(_items(rows))
            assert _snapshot_items(s.to_arrow(with_row_id=True)) == want, version
            lazy = s.lazy(with_row_id=True).collect().to_arrow()
            assert _snapshot_items(lazy) == want, version
            duck = s.relation(with_row_id=True).fetchall()  # id, g, v, _row_id
            assert sorted((r[3], r[0], r[1], r[2]) for r in duck) == want, version
            if version:
                d = again.diff(version - 1, version)
                before = _items(m.versions[version - 1])
                assert set(_snapshot_items(d.added)) == _items(rows) - before, version
                assert set(_snapshot_items(d.removed)) == before - _items(rows), version
