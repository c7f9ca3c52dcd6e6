"""Tables on S3, against a real S3 server (moto in server mode on 127.0.0.1).

Every verb runs on ``s3://`` and the rows are compared with the same verbs on a local
table; commits are conditional puts, so two writers racing for one version never both
win.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv


@pytest.fixture()
def s3(s3_server: Any) -> dict[str, str]:
    """Storage options for the test S3 server."""
    return dict(s3_server.options)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLEVER_CACHE_DIR", str(tmp_path / "cache"))


SCHEMA = pa.schema([("id", pa.int64()), ("label", pa.string()), ("x", pa.float64()),
                    ("l", pa.list_(pa.int64()))])


def rows(ids: range) -> pa.Table:
    return pa.table({
        "id": pa.array(list(ids), pa.int64()),
        "label": pa.array([f"l{i % 3}" for i in ids]),
        "x": pa.array([i / 4 for i in ids], pa.float64()),
        "l": pa.array([[i] for i in ids], pa.list_(pa.int64())),
    }, schema=SCHEMA)


def canon(table: pa.Table) -> list[Any]:
    return sorted(table.to_pylist(), key=repr)


def story(t: tv.Table) -> None:
    t.append(rows(range(0, 40)), message="one")
    t.append(rows(range(40, 90)), message="two")
    t.tag("v1")
    t.delete("id % 5 = 0")
    t.filter("x < 20")
    t.update({"label": "upper(label)"}, where="id > 60")
    t.upsert(rows(range(85, 95)), on=["id"])
    t.restore("v1")
    t.append(rows(range(95, 99)))
    t.link_run("run-1", ref="v1", metrics={"acc": 0.5})


def test_every_verb_on_s3_gives_the_local_rows(s3: dict[str, str], tmp_path: Path,
                                               cache: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    location = f"s3://tables/{uuid.uuid4().hex}/events"
    remote = tv.create(location, schema=SCHEMA, storage_options=s3)
    local = tv.create(tmp_path / "events", schema=SCHEMA)
    story(remote)
    story(local)
    assert remote.location == location
    assert [s.version for s in remote.history()] == [s.version for s in local.history()]
    for ref in (1, 2, "v1", 5, -1):
        a, b = local.as_of(ref), remote.as_of(ref)
        assert b.to_arrow().equals(a.to_arrow())
        assert canon(b.to_arrow(where="id > 50")) == canon(a.to_arrow(where="id > 50"))
        assert b.to_polars().equals(a.to_polars())
        assert b.lazy().collect().equals(a.lazy().collect())
        q = "SELECT label, count(*) AS n FROM t GROUP BY label ORDER BY label"
        assert b.sql(q).equals(a.sql(q))
        assert b.content_hash == a.content_hash
    assert remote.diff("v1", -1).summary == local.diff("v1", -1).summary
    assert canon(remote.changes(2, 5)) == canon(local.changes(2, 5))
    assert [r.run_id for r in remote.runs("v1")] == ["run-1"]
    lock = tmp_path / "data.lock"
    remote.as_of("v1").lock(lock)
    for key, value in s3.items():  # a lock names the location only: settings from the env
        monkeypatch.setenv(f"AWS_{key.upper()}", value)
    assert tv.from_lock(lock).id == remote.as_of("v1").id
    # reopened from the location alone
    again = tv.open(location, storage_options=s3)
    assert again.latest().id == remote.latest().id


def test_sql_and_maintenance_on_s3(s3: dict[str, str], cache: None) -> None:
    root = f"s3://tables/{uuid.uuid4().hex}"
    wh = tv.Warehouse(root, storage_options=s3)
    t = wh.create("events", schema=SCHEMA)
    for k in range(4):
        t.append(rows(range(k * 10, k * 10 + 10)))
    t.delete("id < 5")
    assert wh.tables() == ["events"]
    assert wh.sql("SELECT count(*) AS n FROM events VERSION AS OF 2").column(0)[0].as_py() == 20
    wh.sql("DELETE FROM events WHERE id = 7")
    wh.sql("INSERT INTO events VALUES (100, 'z', 1.5, [1])")
    before = canon(t.latest().to_arrow())
    assert tv.compact(t) is not None
    assert canon(t.latest().to_arrow()) == before
    tv.expire(t, older_than="0s", keep_last=1)
    time.sleep(1.1)  # S3 keeps whole seconds: vacuum keeps what is within one of its limit
    assert tv.vacuum(t, grace="0s")
    report = tv.verify(t)
    assert report.ok, report.problems
    assert canon(tv.open(f"{root}/events", storage_options=s3).latest().to_arrow()) == before


def _append_five(location: str, options: dict[str, str], cache_dir: str, k: int) -> None:
    import os

    os.environ["TABLEVER_CACHE_DIR"] = cache_dir
    t = tv.open(location, storage_options=options)
    for j in range(5):
        t.append(rows(range(k * 100 + j, k * 100 + j + 1)))


def test_four_processes_appending_to_one_s3_table_lose_no_commit(
    s3: dict[str, str], tmp_path: Path,
) -> None:
    import multiprocessing

    location = f"s3://tables/{uuid.uuid4().hex}/t"
    tv.create(location, schema=SCHEMA, storage_options=s3)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_five, args=(location, s3, str(tmp_path / "c"), k))
             for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    t = tv.open(location, storage_options=s3)
    assert t.latest().version == 20 and t.latest().num_rows == 20
    assert sorted(t.latest().to_arrow().column("id").to_pylist()) == sorted(
        k * 100 + j for k in range(4) for j in range(5))
    assert sorted(s.version for s in t.history()) == list(range(21))


def test_bad_s3_settings_are_clear_errors(s3: dict[str, str]) -> None:
    with pytest.raises(tv.TableverError, match="unknown storage option"):
        tv.create("s3://tables/x/t", schema=SCHEMA, storage_options={"endpiont": "x"})
    with pytest.raises(tv.TableverError, match="names no bucket"):
        tv.open("s3:///t", storage_options=s3)
    with pytest.raises(tv.TableNotFoundError):
        tv.open(f"s3://tables/{uuid.uuid4().hex}/none", storage_options=s3)


def test_the_storage_page_runs(s3: dict[str, str], cache: None,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    for key, value in s3.items():
        monkeypatch.setenv(f"AWS_{key.upper()}", value)
    page = (Path(__file__).resolve().parent.parent / "docs" / "storage.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "docs/storage.md", "exec"), {})  # noqa: S102 - the page's own code
    assert tv.open("s3://tables/docs/events").as_of("v1.0").num_rows == 3


def test_copy_local_to_s3_to_local_is_exact_and_incremental(
    s3: dict[str, str], tmp_path: Path, cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tv.create(tmp_path / "a", schema=SCHEMA)
    story(local)
    remote = f"s3://tables/{uuid.uuid4().hex}/events"
    first = tv.copy(local, remote, destination_options=s3)
    assert first.versions == local.latest().version + 1 and first.skipped == 0
    back = tv.copy(remote, tmp_path / "b", source_options=s3)
    assert back.versions == first.versions
    for t in (tv.open(remote, storage_options=s3), tv.open(tmp_path / "b")):
        assert [s.id for s in t.history()] == [s.id for s in local.history()]
        for s in local.history():
            other = t.as_of(s.version)
            assert (other.fingerprint, other.content_hash) == (s.fingerprint, s.content_hash)
            assert other.to_arrow().equals(s.to_arrow())
        assert set(t.tags()) == {"v1"} and [r.run_id for r in t.runs()] == ["run-1"]
    local.append(rows(range(500, 510)), message="new")
    again = tv.copy(local, remote, destination_options=s3)
    assert again.versions == 1 and again.files == 2  # the new data file and its commit
    assert tv.open(remote, storage_options=s3).latest().id == local.latest().id
    # the command line, with settings from the environment
    for key, value in s3.items():
        monkeypatch.setenv(f"AWS_{key.upper()}", value)
    from typer.testing import CliRunner

    from tablever.cli import app

    out = CliRunner().invoke(app, ["copy", remote, str(tmp_path / "c")])
    assert out.exit_code == 0, out.output
    assert tv.open(tmp_path / "c").latest().id == local.latest().id


def test_copy_refuses_another_table_and_a_diverged_one(tmp_path: Path) -> None:
    a = tv.create(tmp_path / "a", schema=SCHEMA)
    a.append(rows(range(3)))
    other = tv.create(tmp_path / "o", schema=SCHEMA)
    with pytest.raises(tv.TableverError, match="another table"):
        tv.copy(a, other.location)
    tv.copy(a, tmp_path / "b")
    b = tv.open(tmp_path / "b")
    b.append(rows(range(10, 12)), message="only in b")
    a.append(rows(range(20, 22)), message="only in a")
    with pytest.raises(tv.TableverError, match="diverged"):
        tv.copy(a, tmp_path / "b")
    assert tv.open(tmp_path / "b").latest().message == "only in b"
    with pytest.raises(tv.TableNotFoundError):
        tv.copy(tmp_path / "none", tmp_path / "x")


def test_a_commit_racing_a_vacuum_on_s3_keeps_its_file(s3: dict[str, str], cache: None) -> None:
    from tablever.maintenance.vacuuming import execute_vacuum, vacuum_plan

    t = tv.create(f"s3://tables/{uuid.uuid4().hex}/t", schema=SCHEMA, storage_options=s3)
    first = rows(range(10))
    t.append(first)
    t.overwrite(rows(range(100, 105)))
    tv.expire(t, older_than="0s", keep_last=1)
    plan = vacuum_plan(t, grace="0s")  # the first file is unreferenced now
    assert any(f.path.startswith("data/") for f in plan.delete)
    t.append(first)  # the same bytes again: the same object, put again
    execute_vacuum(t, plan)
    assert t.latest().num_rows == 15
    assert tv.verify(t).ok


def test_the_differential_test_agrees_with_duckdb_on_s3(
    s3: dict[str, str], cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.differential.model import Stats, run_seed

    for key, value in s3.items():
        monkeypatch.setenv(f"AWS_{key.upper()}", value)
    stats = Stats()
    failure = run_seed(2, 10, shrink_budget=5.0, stats=stats,
                       location=f"s3://tables/{uuid.uuid4().hex}")
    assert failure is None, failure.report()
    assert stats.steps == 10 and stats.checks > 10


def test_a_partial_copy_reads_its_versions_exactly_and_names_the_others(
    s3: dict[str, str], tmp_path: Path, cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tv.create(tmp_path / "a", schema=SCHEMA)
    story(local)  # v1 is version 2; the restore and the deletes follow
    remote = f"s3://tables/{uuid.uuid4().hex}/events"
    report = tv.copy(local, remote, destination_options=s3, refs=["v1", 5])
    part = tv.open(remote, storage_options=s3)
    assert report.versions == 2 and [v.version for v in part.versions()] == [2, 5]
    for ref in ("v1", 5):
        a, b = local.as_of(ref), part.as_of(ref)
        assert (b.id, b.fingerprint, b.content_hash) == (a.id, a.fingerprint, a.content_hash)
        assert b.to_arrow(with_row_id=True).equals(a.to_arrow(with_row_id=True))
    assert list(part.tags()) == ["v1"] and [r.run_id for r in part.runs()] == ["run-1"]
    needed = {f.path for ref in ("v1", 5) for f in (*local.as_of(ref).data_files,
                                                     *local.as_of(ref).deletion_vectors)}
    sent = {i.path for i in part.storage.walk("data")} | {i.path for i in part.storage.walk("deletes")}
    assert sent == needed  # only what those versions need
    with pytest.raises(tv.RefNotFoundError, match="not in this partial copy"):
        part.as_of(3)
    assert tv.verify(part).ok
    # it grows forward, and sends only what it lacks
    more = tv.copy(local, remote, destination_options=s3, refs=[-1])
    assert more.versions == 1 and more.skipped > 0
    assert tv.open(remote, storage_options=s3).latest().id == local.latest().id
    with pytest.raises(tv.TableverError, match="grows forward"):
        tv.copy(local, remote, destination_options=s3, refs=[1])
    with pytest.raises(tv.TableverError, match="is a partial copy"):
        tv.copy(local, remote, destination_options=s3)
    # the command line, back to a local folder
    from typer.testing import CliRunner

    from tablever.cli import app

    for key, value in s3.items():
        monkeypatch.setenv(f"AWS_{key.upper()}", value)
    out = CliRunner().invoke(app, ["copy", remote, str(tmp_path / "c"), "--ref", "v1"])
    assert out.exit_code == 0, out.output
    back = tv.open(tmp_path / "c")
    assert [v.version for v in back.versions()] == [2]
    assert back.latest().to_arrow().equals(local.as_of("v1").to_arrow())


def test_verify_rehashes_the_objects_not_the_local_copies(s3: dict[str, str], cache: None) -> None:
    t = tv.create(f"s3://tables/{uuid.uuid4().hex}/t", schema=SCHEMA, storage_options=s3)
    t.append(rows(range(10)))
    t.append(rows(range(10, 20)))
    assert t.latest().to_arrow().num_rows == 20  # both files are in the local cache now
    victim = t.latest().data_files[0].path
    t.storage.write_file(victim, b"PAR1 not the bytes that were committed PAR1")
    report = tv.verify(t)
    assert not report.ok and any(victim in p for p in report.problems), report.problems
