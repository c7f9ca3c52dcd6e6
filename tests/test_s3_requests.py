"""Requests per operation on S3, counted by the test server (a real S3 server, moto).

What docs/storage.md promises: opening reads the newest checkpoint and the commits
after it, found by listing from a known key, not by listing the whole log; a commit is
one conditional PUT plus a PUT per new file; a read fetches only the files its plan
needs, and nothing again once they are in the local cache; an object is read with one
GET (no HEAD before it).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv
from tablever.format.layout import CKPT_DIR, LOG_DIR

SCHEMA = pa.schema([("id", pa.int64())])


def one(i: int) -> pa.Table:
    return pa.table({"id": pa.array([i], pa.int64())})


@pytest.fixture()
def made(s3_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TABLEVER_CACHE_DIR", str(tmp_path / "cache"))

    def make(commits: int) -> tv.Table:
        t = tv.create(f"s3://tables/{uuid.uuid4().hex}/t", schema=SCHEMA,
                      storage_options=s3_server.options,
                      properties={"checkpoint_interval": 10})
        for i in range(commits):
            t.append(one(i))
        return t

    return make


def test_a_commit_is_one_conditional_put_plus_its_data(made: Any, s3_server: Any) -> None:
    t = made(3)
    with s3_server.recording() as log:
        t.append(pa.table({"id": pa.array([7, 8], pa.int64())}))
    kinds = log.kinds()
    assert kinds["PUT-IF-ABSENT"] == 1 and kinds["PUT"] == 1, kinds  # commit + data file
    assert [r.key.rsplit("/", 1)[-1] for r in log.of("PUT-IF-ABSENT")] == [
        "00000000000000000004.json"]
    assert kinds["LIST"] == 0 and kinds["GET"] == 0 and kinds["POST"] == 0, kinds
    assert kinds["HEAD"] <= 2, kinds  # is anyone ahead of the version this writer knows?


@pytest.mark.parametrize("commits", [25, 45])
def test_opening_reads_the_newest_checkpoint_and_the_commits_after_it(
    made: Any, s3_server: Any, commits: int
) -> None:
    location = made(commits).location
    newest = commits // 10 * 10
    tv.clear_caches()
    with s3_server.recording() as log:
        t = tv.open(location, storage_options=s3_server.options)
        assert t.latest().version == commits
    got = sorted(r.key.split("/_tablever/", 1)[1] for r in log.of("GET"))
    assert got == [f"{CKPT_DIR.split('/', 1)[1]}/{newest:020d}.parquet"] + [
        f"log/{v:020d}.json" for v in range(newest + 1, commits + 1)]
    log_lists = [r for r in log.of("LIST") if r.query["prefix"][0].endswith(f"/{LOG_DIR}/")]
    assert len(log_lists) == 1
    assert log_lists[0].query["start-after"][0].endswith(f"{newest:020d}.json")
    assert log.kinds()["LIST"] <= 3 and log.kinds()["HEAD"] <= 1, log.kinds()


def test_a_read_fetches_the_files_its_plan_needs_once(made: Any, s3_server: Any) -> None:
    t = made(6)
    snap = t.latest()
    with s3_server.recording() as log:
        assert snap.to_arrow(where="id = 4").num_rows == 1  # stats prune 5 of 6 files
    data = [r for r in log.of("GET") if "/data/" in r.path]
    assert len(data) == 1
    with s3_server.recording() as log:
        assert snap.to_arrow().num_rows == 6
    data = sorted(r.key for r in log.of("GET") if "/data/" in r.path)
    assert len(data) == 5 and len(set(data)) == 5  # the other five, each once
    with s3_server.recording() as log:
        assert snap.to_arrow().num_rows == 6
        assert t.as_of(snap.version).sql("SELECT sum(id) AS s FROM t").column(0)[0].as_py() == 15
    assert not [r for r in log if "/data/" in r.path]  # the local cache holds them
    assert log.kinds()["HEAD"] + log.kinds()["GET"] <= 4 and log.kinds()["PUT"] == 0


def test_verify_rehashes_each_object_with_one_get(made: Any, s3_server: Any) -> None:
    t = made(4)
    with s3_server.recording() as log:
        assert tv.verify(t).ok
    data = [r for r in log.of("GET") if "/data/" in r.path]
    assert sorted(r.key for r in data) == sorted({r.key for r in data})
    assert len(data) == 4 and log.kinds()["HEAD"] <= 2, log.kinds()
    assert log.kinds()["GET-RANGE"] == 0


def test_vacuum_lists_and_deletes_without_reading_data(made: Any, s3_server: Any) -> None:
    t = made(4)
    t.overwrite(one(100))
    tv.expire(t, older_than="0s", keep_last=1)
    time.sleep(t.storage.mtime_resolution + 0.05)
    with s3_server.recording() as log:
        removed = tv.vacuum(t, grace="0s")
    assert len(removed) == 4
    assert not [r for r in log if "/data/" in r.path and r.kind in ("GET", "GET-RANGE")]
    deleted = [r.key for r in log.of("DELETE")]
    assert len(deleted) == 4, log.kinds()
    assert log.kinds()["LIST"] <= 10, log.kinds()
