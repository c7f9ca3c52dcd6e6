"""Small shared fixtures for the behaviour tests (one file per user verb).

A module marked ``pytestmark = pytest.mark.storages`` runs each test that uses the
``path`` fixture (or ``table``/``filled``) twice: on the local disk and on S3 (a real
server, tests/s3server.py). A test that looks at files on the local disk itself is
marked ``disk`` and runs on the local disk only.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv

SCHEMA = pa.schema(
    [("id", pa.int64()), ("label", pa.string()), ("confidence", pa.float64())]
)


def make_batch(
    ids: list[int],
    labels: list[str | None] | None = None,
    confidence: list[float | None] | None = None,
) -> pa.Table:
    """Rows in the standard ``SCHEMA``; labels and confidences derive from the ids."""
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "label": pa.array(
                labels if labels is not None else [f"l{i % 3}" for i in ids], pa.string()
            ),
            "confidence": pa.array(
                confidence if confidence is not None else [(i % 10) / 10 for i in ids],
                pa.float64(),
            ),
        },
        schema=SCHEMA,
    )


def sorted_rows(table: pa.Table, key: str = "_row_id") -> list[dict[str, Any]]:
    """Rows as dicts, in ``key`` order (row order is not part of the contract)."""
    rows = table.to_pylist()
    return sorted(rows, key=lambda r: (r[key] is None, r[key]))


def table_files(root: str | os.PathLike[str], *subdirs: str) -> dict[str, int]:
    """Relative path -> size of every file below ``subdirs`` of a table root."""
    out: dict[str, int] = {}
    if str(root).startswith("s3://"):
        from tablever.storage import Storage

        storage = Storage(str(root))
        for sub in subdirs or ("data", "deletes", "_tablever"):
            out.update({i.path: i.size for i in storage.walk(sub)})
        return out
    base = Path(root)
    for sub in subdirs or ("data", "deletes", "_tablever"):
        for p in (base / sub).rglob("*"):
            if p.is_file():
                out[p.relative_to(base).as_posix()] = p.stat().st_size
    return out


@pytest.fixture(scope="session")
def schema() -> pa.Schema:
    """(id int64, label string, confidence float64)."""
    return SCHEMA


@pytest.fixture(scope="session")
def batch() -> Callable[..., pa.Table]:
    """``batch(ids, labels=None, confidence=None)`` -> a pyarrow Table in SCHEMA."""
    return make_batch


@pytest.fixture(scope="session")
def rows() -> Callable[..., list[dict[str, Any]]]:
    """``rows(arrow_table, key="_row_id")`` -> list of dicts sorted by ``key``."""
    return sorted_rows


@pytest.fixture(scope="session")
def files() -> Callable[..., dict[str, int]]:
    """``files(root, *subdirs)`` -> {relative path: size} of the files there."""
    return table_files


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "storages: run the module's tables on disk and on S3")
    config.addinivalue_line("markers", "disk: looks at files on the local disk (disk only)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    node = metafunc.definition
    if ("path" in metafunc.fixturenames and node.get_closest_marker("storages")
            and not node.get_closest_marker("disk")):
        metafunc.parametrize("path", ["disk", "s3"], indirect=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """A real S3 server on 127.0.0.1 (moto), one per test process."""
    from tests.s3server import S3Server

    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def path(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where a fresh table may be created: a local folder, or an S3 location (with the
    server's settings in the AWS environment variables) when parametrised so."""
    if getattr(request, "param", "disk") == "s3":
        server = request.getfixturevalue("s3_server")
        for key, value in server.environment.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("TABLEVER_CACHE_DIR", str(tmp_path / "cache"))
        return f"s3://tables/{uuid.uuid4().hex}/events"
    return str(tmp_path / "events")


@pytest.fixture
def table(path: str) -> tv.Table:
    """An empty table (version 0) with SCHEMA."""
    return tv.create(path, schema=SCHEMA)


@pytest.fixture
def filled(table: tv.Table) -> tv.Table:
    """Version 1: ids 0..9 in one file; version 2: ids 10..19 in another."""
    table.append(make_batch(list(range(10))), message="first ten")
    table.append(make_batch(list(range(10, 20))), message="next ten")
    return table
