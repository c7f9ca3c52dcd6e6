"""tv.create / tv.open: version 0, the on-disk layout, and the errors around them."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv
from tablever.format.commit import canonical_json

pytestmark = pytest.mark.storages  # each test on the local disk and on S3


@pytest.mark.disk
def test_create_writes_version_zero(path: str, schema: pa.Schema) -> None:
    t = tv.create(path, schema=schema, properties={"owner": "ml"}, message="new events")
    s = t.latest()
    assert (s.version, s.operation, s.message, s.num_rows, s.parent_id) == (
        0, "create", "new events", 0, None
    )
    assert s.schema == schema
    assert s.to_arrow().num_rows == 0 and s.to_arrow().schema == schema
    assert t.properties == {"owner": "ml"}
    assert t.name == "events"
    assert t.location == os.path.abspath(path)


@pytest.mark.disk
def test_commit_file_is_canonical_json_with_content_id(path: str, schema: pa.Schema) -> None:
    tv.create(path, schema=schema)
    raw = (Path(path) / "_tablever" / "log" / ("0" * 20 + ".json")).read_bytes()
    body = json.loads(raw)
    assert canonical_json(body) == raw
    for key in ("format", "version", "id", "parent_id", "timestamp_ms", "txn", "operation",
                "message", "author", "properties", "provenance", "schema", "actions",
                "summary"):
        assert key in body, key
    commit_id = body.pop("id")
    assert commit_id == hashlib.sha256(canonical_json(body)).hexdigest()
    assert tv.open(path).latest().id == commit_id
    assert body["format"] == 1


def test_schema_may_come_from_a_table_whose_rows_are_not_added(
    path: str, schema: pa.Schema, batch: Callable[..., pa.Table]
) -> None:
    t = tv.create(path, schema=batch([1, 2]))
    assert t.latest().version == 0 and t.schema == schema


def test_create_with_data_appends_it_as_version_one(
    path: str, schema: pa.Schema, batch: Callable[..., pa.Table]
) -> None:
    t = tv.create(path, schema=schema, data=batch([1, 2, 3]))
    assert t.latest().version == 1
    assert t.latest().to_arrow().column("id").to_pylist() == [1, 2, 3]


def test_create_on_existing_table_fails(path: str, schema: pa.Schema) -> None:
    tv.create(path, schema=schema)
    with pytest.raises(tv.TableExistsError):
        tv.create(path, schema=pa.schema([("other", pa.int8())]))
    assert tv.open(path).schema == schema


def test_concurrent_creates_exactly_one_wins(path: str) -> None:
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            tv.create(path, schema=pa.schema([(f"c{i}", pa.int64())]))
            outcomes.append("won")
        except tv.TableExistsError:
            outcomes.append("exists")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["exists"] * 5 + ["won"]
    assert tv.open(path).latest().version == 0


def test_open_missing_table(tmp_path: Path) -> None:
    with pytest.raises(tv.TableNotFoundError) as info:
        tv.open(tmp_path / "nope")
    assert isinstance(info.value, FileNotFoundError)
    assert "nope" in str(info.value)


@pytest.mark.parametrize(
    ("schema", "column"),
    [
        (pa.schema([("_row_id", pa.int64())]), "_row_id"),
        (pa.schema([("a", pa.int64()), ("a", pa.string())]), "a"),
    ],
)
def test_invalid_schemas(path: str, schema: pa.Schema, column: str) -> None:
    with pytest.raises(tv.SchemaMismatchError) as info:
        tv.create(path, schema=schema)
    assert column in info.value.columns
    assert not Path(path, "_tablever", "log").exists()


def test_create_needs_a_schema(path: str) -> None:
    with pytest.raises(tv.SchemaMismatchError):
        tv.create(path)
    with pytest.raises(tv.SchemaMismatchError):
        tv.create(path, schema=pa.schema([]))


def test_provenance_is_captured(path: str, schema: pa.Schema) -> None:
    prov = tv.create(path, schema=schema).latest().provenance
    for key in ("tablever_version", "python", "user", "host"):
        assert key in prov, key
    assert prov["tablever_version"] == tv.__version__


def test_same_data_gives_same_files_and_fingerprint_in_two_tables(
    tmp_path: Path, schema: pa.Schema, batch: Callable[..., pa.Table]
) -> None:
    a = tv.create(tmp_path / "a", schema=schema).append(batch(list(range(100))))
    b = tv.create(tmp_path / "b", schema=schema).append(batch(list(range(100))))
    assert a.fingerprint == b.fingerprint
    assert a.files == b.files
    assert a.id != b.id  # different histories (txn, time), same content


def test_a_resumed_create_adds_its_rows_once(tmp_path: Path) -> None:
    rows = pa.table({"id": pa.array([1, 2, 3], pa.int64())})
    path = tmp_path / "t"
    tv.create(path, schema=rows.schema)  # as if a create's rows were never committed
    t = tv.create(path, schema=rows.schema, data=rows, resume=True)
    assert t.latest().version == 1 and t.latest().num_rows == 3
    with pytest.raises(tv.TableExistsError):  # version 0 is not all it holds any more
        tv.create(path, schema=rows.schema, data=rows, resume=True)
    with pytest.raises(tv.TableExistsError):  # other properties: not the same create
        tv.create(tmp_path / "u", schema=rows.schema)
        tv.create(tmp_path / "u", schema=rows.schema, data=rows, resume=True,
                  properties={"vacuum.grace": "1h"})
    assert t.latest().num_rows == 3


def test_racing_creates_commit_the_rows_once(tmp_path: Path) -> None:
    rows = pa.table({"id": pa.array(range(1000), pa.int64())})
    path = tmp_path / "t"
    outcomes: list[str] = []

    def create() -> None:
        try:
            tv.create(path, schema=rows.schema, data=rows, resume=True)
            outcomes.append("created")
        except tv.TableverError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t = tv.open(path)
    assert t.latest().num_rows == 1000 and t.latest().version == 1
    assert outcomes.count("created") == 1 and len(outcomes) == 4, outcomes
