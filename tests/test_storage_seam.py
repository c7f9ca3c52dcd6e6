"""Every read path on a non-local ``pyarrow.fs`` file system gives the local rows.

The table is written on the local disk, then opened a second time through a
``SubTreeFileSystem`` (which tablever cannot treat as a local path): whatever a read
needs must come through ``Storage``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

import tablever as tv

SCHEMA = pa.schema([
    ("id", pa.int64()), ("label", pa.string()), ("x", pa.float64()),
    ("ns", pa.timestamp("ns")), ("l", pa.list_(pa.int64())),
])


def rows(ids: range) -> pa.Table:
    return pa.table({
        "id": pa.array(list(ids), pa.int64()),
        "label": pa.array([f"l{i % 3}" for i in ids]),
        "x": pa.array([i / 4 for i in ids], pa.float64()),
        "ns": pa.array([1_700_000_000_000_000_001 + i for i in ids], pa.timestamp("ns")),
        "l": pa.array([[i, i + 1] for i in ids], pa.list_(pa.int64())),
    }, schema=SCHEMA)


@pytest.fixture()
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[tv.Table, tv.Table]:
    monkeypatch.setenv("TABLEVER_CACHE_DIR", str(tmp_path / "cache"))
    local = tv.create(tmp_path / "wh" / "t", schema=SCHEMA)
    local.append(rows(range(0, 50)), message="one")
    local.append(rows(range(50, 120)), message="two")
    local.delete("id % 7 = 0")
    local.update({"label": "upper(label)"}, where="id > 100")
    local.tag("v1")
    local.append(rows(range(120, 130)))
    fs = pafs.SubTreeFileSystem(str(tmp_path / "wh"), pafs.LocalFileSystem())
    remote = tv.open("t", fs=fs)
    assert not remote.storage.is_local
    return local, remote


def canon(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: repr(sorted(r.items())))


def test_every_read_path_gives_the_local_rows(pair: tuple[tv.Table, tv.Table]) -> None:
    local, remote = pair
    for ref in (1, 2, 3, "v1", -1):
        a, b = local.as_of(ref), remote.as_of(ref)
        assert a.id == b.id
        assert b.to_arrow().equals(a.to_arrow())
        assert b.to_arrow(with_row_id=True).equals(a.to_arrow(with_row_id=True))
        assert b.to_arrow(columns=["id", "l"]).equals(a.to_arrow(columns=["id", "l"]))
        for where in ("id > 60", "list_contains(l, 9)", "label = 'L1'"):
            assert canon(b.to_arrow(where=where)) == canon(a.to_arrow(where=where))
        assert b.to_polars().equals(a.to_polars())
        assert b.lazy().collect().equals(a.lazy().collect())
        assert canon(b.relation().to_arrow_table()) == canon(a.relation().to_arrow_table())
        q = "SELECT label, count(*) AS n, sum(x) AS s FROM t GROUP BY label ORDER BY label"
        assert b.sql(q).equals(a.sql(q))
        assert b.content_hash == a.content_hash
        b.verify()
    assert remote.diff(1, -1).summary == local.diff(1, -1).summary
    assert canon(remote.diff(1, -1, on=["id"]).updated) == canon(local.diff(1, -1, on=["id"]).updated)
    assert canon(remote.changes(0, 5)) == canon(local.changes(0, 5))
    assert tv.verify(remote).ok


def test_writes_and_maintenance_on_a_non_local_file_system(
    pair: tuple[tv.Table, tv.Table],
) -> None:
    local, remote = pair
    before = remote.latest().to_arrow()
    snap = tv.compact(remote)
    assert snap is not None and snap.operation == "compact"
    assert canon(snap.to_arrow()) == canon(before)
    remote.delete("id < 10")
    assert local.latest().num_rows == remote.latest().num_rows == before.num_rows - 8
    tv.expire(remote, older_than="0s", keep_last=1)
    gone = tv.vacuum(remote, grace="0s")
    assert gone
    assert tv.verify(local).ok and tv.verify(remote).ok
    assert canon(local.as_of("v1").to_arrow()) == canon(remote.as_of("v1").to_arrow())


def test_a_damaged_remote_file_is_an_integrity_error(
    pair: tuple[tv.Table, tv.Table], tmp_path: Path,
) -> None:
    _, remote = pair
    snap = remote.latest()
    victim = tmp_path / "wh" / "t" / snap.files[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(tv.IntegrityError, match=snap.files[0]):
        snap.to_arrow()
    with pytest.raises(tv.IntegrityError):
        snap.sql("SELECT count(x) FROM t")


def test_a_warehouse_on_a_non_local_file_system(pair: tuple[tv.Table, tv.Table],
                                                tmp_path: Path) -> None:
    local, _ = pair
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    wh = tv.Warehouse("wh", fs=fs)
    assert wh.tables() == ["t"]
    q = "SELECT count(*) AS n, max(id) AS m FROM t VERSION AS OF 'v1'"
    assert wh.sql(q).equals(tv.Warehouse(tmp_path / "wh").sql(q))
    wh.sql("DELETE FROM t WHERE id = 1")
    assert local.latest().num_rows == wh.table("t").latest().num_rows


def test_a_damaged_local_copy_is_fetched_again(pair: tuple[tv.Table, tv.Table],
                                                tmp_path: Path) -> None:
    local, remote = pair
    snap = remote.latest()
    expected = local.latest().to_arrow(where="id > 0")
    assert snap.to_arrow(where="id > 0").equals(expected)  # the copies are fetched
    copy = Path(remote.storage.local_path(snap.files[0]))
    assert copy.is_relative_to(tmp_path / "cache")
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    copy.write_bytes(bytes(data))
    tv.clear_caches()  # a new process: nothing is known to match yet
    again = tv.open("t", fs=remote.storage.fs).latest()
    assert again.to_arrow(where="id > 0").equals(expected)
    assert again.to_arrow().equals(local.latest().to_arrow())


def test_a_sub_tree_root_may_start_with_a_slash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                ) -> None:
    monkeypatch.setenv("TABLEVER_CACHE_DIR", str(tmp_path / "cache"))
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    t = tv.create("/t2", schema=SCHEMA, fs=fs)
    t.append(rows(range(5)))
    t.delete("id = 1")
    assert t.latest().sql("SELECT count(*) AS n FROM t").column(0)[0].as_py() == 4
    report = tv.verify(t)
    assert report.ok and not report.orphans, report.problems
