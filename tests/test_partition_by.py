"""The table property ``partition_by``: one partition per data file, pruned for free."""

from __future__ import annotations

import datetime as dt
import doctest
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import tablever as tv
import tablever.query.predicate as predicate
from tablever.format.commit import DataFile
from tablever.partitioning import file_partition, split_by_partition

SCHEMA = pa.schema([
    ("id", pa.int64()), ("label", pa.string()), ("day", pa.date32()), ("score", pa.float64()),
])
DAYS = [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]

def batch(ids: list[int], labels: list[str | None] | None = None) -> pa.Table:
    """Rows with labels a, b, c cycling (unless given) and days alternating."""
    return pa.table({
        "id": ids,
        "label": labels if labels is not None else ["abc"[i % 3] for i in ids],
        "day": [DAYS[i % 2] for i in ids],
        "score": [i / 10 for i in ids],
    }, schema=SCHEMA)


def partitions(files: list[DataFile], *columns: str) -> list[tuple[Any, ...]]:
    """Each file's one value per column (None for NULL); fails on a mixed file."""
    out = []
    for f in files:
        values = []
        for c in columns:
            st = f.stats.get(c, {"nulls": f.rows})
            if st["nulls"] == f.rows:
                values.append(None)
            else:
                assert st["nulls"] == 0 and st["min"] == st["max"], (f.path, c, st)
                values.append(st["min"])
        out.append(tuple(values))
    return out


def by_id(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: r["id"])


@pytest.fixture
def parted(tmp_path: Path) -> tv.Table:
    return tv.create(tmp_path / "t", schema=SCHEMA, properties={"partition_by": "label"})


@pytest.fixture
def pruned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many files each stats pruning kept (reads and deletes prune through it)."""
    kept: list[int] = []
    real = predicate.prune

    def counting(tree: Any, files: Any, schema: Any, *, stored: Any) -> list[DataFile]:
        out = real(tree, files, schema, stored=stored)
        kept.append(len(out))
        return out

    monkeypatch.setattr(predicate, "prune", counting)
    yield kept


def test_append_writes_one_file_per_partition_with_row_id_ranges(parted: tv.Table) -> None:
    data = batch(list(range(30)))
    s = parted.append(data)
    assert partitions(s.data_files, "label") == [("a",), ("b",), ("c",)]
    assert [f.rows for f in s.data_files] == [10, 10, 10]
    # Row ids stay ranges (no physical column): handed out in stored order, a then b then c.
    assert [f.first_row_id for f in s.data_files] == [0, 10, 20]
    got = s.to_arrow(with_row_id=True)
    assert got.column("_row_id").to_pylist() == list(range(30))
    assert [r["label"] for r in got.to_pylist()] == ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    assert by_id(got.drop_columns(["_row_id"])) == data.to_pylist()
    # within a partition the input order is kept
    assert got.column("id").to_pylist()[:4] == [0, 3, 6, 9]
    assert s.summary["next_row_id"] == 30 and s.summary["total_files"] == 3


def test_where_on_the_partition_reads_only_its_files(
    parted: tv.Table, pruned: list[int]
) -> None:
    parted.append(batch(list(range(30))))
    s = parted.append(batch(list(range(30, 60))))
    assert len(s.data_files) == 6
    want = [r for r in batch(list(range(60))).to_pylist() if r["label"] == "a"]
    assert by_id(s.to_arrow(where="label = 'a'")) == want
    assert pruned == [2]
    # The other partitions' files can vanish: the pruned read does not touch them.
    for f in s.data_files:
        if f.stats["label"]["min"] != "a":
            os.remove(os.path.join(parted.location, f.path))
    assert by_id(s.to_arrow(where="label = 'a' AND id >= 0")) == want
    with pytest.raises(tv.IntegrityError):
        s.to_arrow()


def test_without_partition_by_every_file_is_read(tmp_path: Path, pruned: list[int]) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    t.append(batch(list(range(30))))
    s = t.append(batch(list(range(30, 60))))
    assert len(s.data_files) == 2
    assert len(s.to_arrow(where="label = 'a'")) == 20
    assert pruned == [2]


def test_delete_on_the_partition_touches_only_its_files(
    parted: tv.Table, pruned: list[int]
) -> None:
    parted.append(batch(list(range(30))))
    s1 = parted.append(batch(list(range(30, 60))))
    a_files = {f.key for f in s1.data_files if f.stats["label"]["min"] == "a"}
    s2 = parted.delete("label = 'a' AND id % 2 = 0")
    assert pruned == [2]  # the delete's predicate ran over the two files of 'a' only
    assert {d.key for d in s2.state.commit.actions.deletes} == a_files
    assert not s2.state.commit.actions.remove
    assert s2.summary["deleted_rows"] == 10
    s3 = parted.delete("label = 'b'")  # a whole partition: its files go, no vector written
    assert not s3.state.commit.actions.deletes
    assert {k[0] for k in s3.state.commit.actions.remove} == {
        f.path for f in s1.data_files if f.stats["label"]["min"] == "b"
    }
    left = by_id(s3.to_arrow())
    assert left == [r for r in batch(list(range(60))).to_pylist()
                    if r["label"] == "c" or (r["label"] == "a" and r["id"] % 2)]


def test_null_is_a_partition_of_its_own(parted: tv.Table) -> None:
    s = parted.append(batch([1, 2, 3, 4, 5], labels=[None, "b", None, "a", "b"]))
    assert partitions(s.data_files, "label") == [("a",), ("b",), (None,)]  # NULL last
    assert [f.rows for f in s.data_files] == [1, 2, 2]
    assert s.to_arrow(where="label IS NULL").column("id").to_pylist() == [1, 3]
    assert sorted(s.to_arrow(where="label IS NOT NULL").column("id").to_pylist()) == [2, 4, 5]


def test_multi_column_partitions(tmp_path: Path, pruned: list[int]) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA, properties={"partition_by": "label, day"})
    data = batch(list(range(24)))
    s = t.append(data)
    assert partitions(s.data_files, "label", "day") == [
        (lab, day.isoformat()) for lab in "abc" for day in DAYS
    ]
    assert sum(f.rows for f in s.data_files) == 24
    got = s.to_arrow(where="day = DATE '2024-01-02'")
    assert by_id(got) == [r for r in data.to_pylist() if r["day"] == DAYS[1]]
    assert pruned == [3]
    assert len(s.to_arrow(where="label = 'c' AND day = DATE '2024-01-01'")) == 4
    assert pruned[-1] == 1
    # a JSON list of names means the same
    t2 = tv.create(tmp_path / "t2", schema=SCHEMA, properties={"partition_by": ["label", "day"]})
    assert [f.sha256 for f in t2.append(data).data_files] == [f.sha256 for f in s.data_files]


def test_row_ids_are_stable_and_old_versions_read_exactly(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    v1 = t.append(batch(list(range(12))))
    before = v1.to_arrow(with_row_id=True)
    assert len(v1.data_files) == 1
    t.set_properties({"partition_by": "label"})
    v3 = t.append(batch(list(range(12, 24))))
    assert [f.first_row_id for f in v3.data_files[1:]] == [12, 16, 20]
    assert partitions(v3.data_files[1:], "label") == [("a",), ("b",), ("c",)]
    v4 = t.delete("label = 'b'")
    v5 = tv.compact(t)
    assert v5 is not None
    ids = {}
    for s in (v3, v4, v5):
        got = s.to_arrow(with_row_id=True)
        assert len(set(got.column("_row_id").to_pylist())) == got.num_rows  # unique
        for r in got.to_pylist():
            assert ids.setdefault(r["_row_id"], r) == r  # a row keeps its id across versions
    assert by_id(v5.to_arrow()) == [r for r in batch(list(range(24))).to_pylist()
                                    if r["label"] != "b"]
    again = t.as_of(1)
    assert again.to_arrow(with_row_id=True).equals(before)
    assert again.fingerprint == v1.fingerprint and again.content_hash == v1.content_hash


def test_compaction_keeps_partitions_apart(parted: tv.Table) -> None:
    for start in (0, 30, 60):
        parted.append(batch(list(range(start, start + 30))))
    before = parted.latest().to_arrow(with_row_id=True)
    assert len(parted.latest().data_files) == 9
    s = tv.compact(parted)
    assert s is not None
    assert sorted(partitions(s.data_files, "label")) == [("a",), ("b",), ("c",)]
    assert by_id(s.to_arrow(with_row_id=True)) == by_id(before)
    assert tv.compact(parted) is None


def test_compaction_splits_files_written_before_partition_by(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    t.append(batch(list(range(30))))
    t.append(batch(list(range(30, 60))))
    t.set_properties({"partition_by": "label"})
    t.append(batch(list(range(60, 90))))
    s0 = t.latest()
    assert [file_partition(f, ["label"]) is None for f in s0.data_files] == [True, True] + [False] * 3
    before = s0.to_arrow(with_row_id=True)
    s = tv.compact(t)  # splits the old files and merges them with their partitions
    assert s is not None
    assert sorted(partitions(s.data_files, "label")) == [("a",), ("b",), ("c",)]
    assert by_id(s.to_arrow(with_row_id=True)) == by_id(before)
    assert tv.compact(t) is None  # one run reaches the fixed point
    assert t.as_of(s0.version).to_arrow(with_row_id=True).equals(before)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("nope", "unknown column"),
        ("label,nope", "unknown column"),
        ("score", "score \\(double\\) cannot be"),
        ("tags", "tags \\(list<item: string>\\) cannot be"),
        ("label,label", "named twice: label"),
        ("label,,day", "empty column name"),
        (5, "expected a column name"),
    ],
)
def test_bad_partition_by_is_refused_and_changes_nothing(
    tmp_path: Path, value: object, problem: str
) -> None:
    schema = SCHEMA.append(pa.field("tags", pa.list_(pa.string())))
    with pytest.raises(tv.InvalidNameError, match=f"partition_by.*{problem}") as err:
        tv.create(tmp_path / "a", schema=schema, properties={"partition_by": value})
    assert isinstance(err.value, tv.TableverError)
    assert not (tmp_path / "a" / "_tablever" / "log").exists()
    t = tv.create(tmp_path / "b", schema=schema, properties={"owner": "ml"})
    with pytest.raises(tv.InvalidNameError, match=f"partition_by.*{problem}"):
        t.set_properties({"partition_by": value})
    assert t.latest().version == 0 and t.properties == {"owner": "ml"}


def test_set_partition_by_applies_to_new_writes_and_empty_turns_it_off(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    old = t.append(batch(list(range(9)))).data_files[0]
    s = t.set_properties({"partition_by": "label"})
    assert s.operation == "set-properties" and t.properties == {"partition_by": "label"}
    s = t.append(batch(list(range(9, 18))))
    assert s.data_files[0] == old and old.stats["label"] == {"nulls": 0, "min": "a", "max": "c"}
    assert partitions(s.data_files[1:], "label") == [("a",), ("b",), ("c",)]
    t.set_properties({"partition_by": ""})
    s = t.append(batch(list(range(18, 27))))
    assert len(s.data_files) == 5 and s.data_files[-1].stats["label"]["max"] == "c"
    assert s.data_files[-1].stats["label"]["min"] == "a"
    assert len(s.to_arrow()) == 27


def test_partition_on_a_column_added_later(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    t.append(pa.table({"id": [1, 2]}))
    with pytest.raises(tv.InvalidNameError, match="unknown column"):
        t.set_properties({"partition_by": "label"})
    t.append(pa.table({"id": [3, 4, 5], "label": ["x", "y", "x"]}), schema_mode="merge")
    t.set_properties({"partition_by": "label"})
    s = t.append(pa.table({"id": [6, 7], "label": ["y", "x"]}))
    # the first file predates the column: it is the NULL partition
    assert file_partition(s.data_files[0], ["label"]) == (("null",),)
    assert partitions(s.data_files[2:], "label") == [("x",), ("y",)]
    assert sorted(s.to_arrow(where="label = 'x'").column("id").to_pylist()) == [3, 5, 7]


def test_restore_to_a_schema_without_the_partition_column(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    t.append(pa.table({"id": [1]}))
    t.append(pa.table({"id": [2, 3], "label": ["x", "y"]}), schema_mode="merge")
    t.set_properties({"partition_by": "label"})
    t.restore(1)  # the schema has no label again; the property stays
    s = t.append(pa.table({"id": [4, 5]}))  # every row is in the NULL partition
    assert [f.rows for f in s.data_files] == [1, 2] and s.num_rows == 3
    assert sorted(s.to_arrow().column("id").to_pylist()) == [1, 4, 5]


def test_create_with_data_is_partitioned(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA, data=batch(list(range(6))),
                  properties={"partition_by": "label"})
    assert partitions(t.latest().data_files, "label") == [("a",), ("b",), ("c",)]


def test_partitioning_doctests() -> None:
    import tablever.partitioning

    result = doctest.testmod(tablever.partitioning, raise_on_error=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_split_by_partition_is_deterministic_and_keeps_row_order() -> None:
    t = pa.table({"k": pa.array([3, None, 1, 3, 1, None], pa.int32()), "v": list("abcdef")})
    parts = split_by_partition(t, ["k"])
    assert [p.to_pydict() for p in parts] == [
        {"k": [1, 1], "v": ["c", "e"]}, {"k": [3, 3], "v": ["a", "d"]},
        {"k": [None, None], "v": ["b", "f"]},
    ]
    assert split_by_partition(t, ["missing"]) == [t]
    assert split_by_partition(t.slice(0, 0), ["k"]) == []
    grouped = t.take([2, 4, 0, 3])
    assert [p.column("v").to_pylist() for p in split_by_partition(grouped, ["k"])] == [
        ["c", "e"], ["a", "d"]
    ]


def test_overwrite_is_partitioned(parted: tv.Table) -> None:
    parted.append(batch(list(range(6))))
    s = parted.overwrite(batch(list(range(6, 12))))
    assert partitions(s.data_files, "label") == [("a",), ("b",), ("c",)]
    assert [f.first_row_id for f in s.data_files] == [6, 8, 10]


def test_update_and_upsert_are_partitioned(parted: tv.Table) -> None:
    parted.append(batch(list(range(6))))
    s = parted.update({"label": "'z'"}, where="label = 'a'")
    assert partitions(s.data_files, "label")[-1:] == [("z",)]
    s = parted.upsert(batch([1, 2, 100], labels=["q", "r", "q"]), on=["id"])
    assert sorted(partitions(s.data_files[-2:], "label")) == [("q",), ("r",)]
    ids = s.to_arrow(with_row_id=True)
    assert len(set(ids.column("_row_id").to_pylist())) == ids.num_rows == 7


def test_cli_create_with_partition_by_property(tmp_path: Path) -> None:
    from tablever.cli import app

    src = tmp_path / "rows.csv"
    src.write_text("id,label\n1,cat\n2,dog\n3,cat\n")
    path = str(tmp_path / "t")
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(app, ["create", path, "--from", str(src),
                                 "--property", "partition_by=label"])
    assert result.exit_code == 0, (result.output, result.exception)
    s = tv.open(path).latest()
    assert s.properties == {} and tv.open(path).properties == {"partition_by": "label"}
    assert partitions(s.data_files, "label") == [("cat",), ("dog",)]
    bad = runner.invoke(app, ["create", str(tmp_path / "u"), "--from", str(src),
                              "--property", "partition_by=nope"])
    assert bad.exit_code == 1 and "partition_by" in bad.stderr and "nope" in bad.stderr
    assert not (tmp_path / "u" / "_tablever").exists()
