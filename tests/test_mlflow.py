"""tablever.mlflow against a real local MLflow tracking store (SQLite), not a mock.

MLflow (``mlflow-skinny`` with SQLAlchemy and Alembic for the SQLite store) is part of
the ``dev`` extra, so these tests always run: a missing MLflow is an error, not a skip.
"""

from __future__ import annotations

import doctest
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402
import pyarrow as pa  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

import tablever as tv  # noqa: E402
import tablever.mlflow as tvm  # noqa: E402
from tests.conftest import SCHEMA, make_batch  # noqa: E402


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow SQLite store (creating one takes seconds: do it once)."""
    root = tmp_path_factory.mktemp("mlflow-template")
    db = root / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def tracking(tmp_path: Path, template_db: Path) -> Iterator[str]:
    """A fresh SQLite tracking store under tmp_path, set as the tracking URI."""
    db = tmp_path / "mlflow.db"
    shutil.copy(template_db, db)
    uri = f"sqlite:///{db}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield uri
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)


@pytest.fixture
def events(tmp_path: Path) -> tv.Table:
    t = tv.create(tmp_path / "events", schema=SCHEMA)
    t.append(make_batch(list(range(10))), message="first ten")
    t.tag("v1.0")
    t.append(make_batch(list(range(10, 25))), message="more")
    return t


def test_log_snapshot_records_params_dataset_input_and_back_link(
    tracking: str, events: tv.Table
) -> None:
    s = events.as_of("v1.0")
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        tvm.log_snapshot(s)
        mlflow.log_metric("acc", 0.91)
    run_id = run.info.run_id
    got = MlflowClient().get_run(run_id)  # read back from the store

    assert {k: v for k, v in got.data.params.items() if k.startswith("tablever.")} == {
        "tablever.events.table": events.location,
        "tablever.events.version": "1",
        "tablever.events.id": s.id,
        "tablever.events.fingerprint": s.fingerprint,
        "tablever.events.rows": "10",
        "tablever.events.content_hash": s.content_hash,
    }

    (inp,) = got.inputs.dataset_inputs
    assert inp.dataset.name == "events@v1"
    assert inp.dataset.digest == s.fingerprint[:12]
    assert inp.dataset.source_type == "tablever"
    assert json.loads(inp.dataset.source) == {
        "uri": events.location, "version": 1, "snapshot_id": s.id,
    }
    assert json.loads(inp.dataset.profile) == {
        "num_rows": 10, "fingerprint": s.fingerprint, "content_hash": s.content_hash,
    }
    assert [c["name"] for c in json.loads(inp.dataset.schema)["mlflow_colspec"]] == [
        "id", "label", "confidence",
    ]
    assert {(t.key, t.value) for t in inp.tags} == {("mlflow.data.context", "training")}
    # the source loads the exact rows back
    loaded = mlflow.data.get_source(inp).load()
    assert loaded.equals(s.to_arrow())

    (link,) = events.runs("v1.0")
    assert link.run_id == run_id and link.version == 1 and link.snapshot_id == s.id
    assert link.params == {"lr": "0.1"}
    assert link.artifact_uri == got.info.artifact_uri
    assert events.runs(2) == []


def test_calling_again_after_training_copies_the_final_metrics(
    tracking: str, events: tv.Table
) -> None:
    s = events.latest()
    with mlflow.start_run() as run:
        tvm.log_snapshot(s, model="classifier")
        assert events.runs(s.version)[0].metrics == {}
        mlflow.log_metric("acc", 0.87)
        tvm.log_snapshot(s)
    (link,) = events.runs(s.version)
    assert link.run_id == run.info.run_id
    assert link.metrics == {"acc": 0.87} and link.model == "classifier"
    assert len(MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs) == 1


def test_a_run_given_by_id_without_an_active_run(tracking: str, events: tv.Table) -> None:
    client = MlflowClient()
    exp = client.create_experiment("offline")
    run = client.create_run(exp)
    s = events.as_of(1)
    tvm.log_snapshot(s, run.info.run_id, table=events, name="train")
    assert mlflow.active_run() is None
    got = client.get_run(run.info.run_id)
    assert got.data.params["tablever.train.version"] == "1"
    assert got.inputs.dataset_inputs[0].dataset.name == "train"
    assert [r.run_id for r in events.runs(1)] == [run.info.run_id]


def test_two_tables_on_one_run(tracking: str, events: tv.Table, tmp_path: Path) -> None:
    labels = tv.create(tmp_path / "labels", schema=pa.schema([("id", pa.int64())]))
    ls = labels.append(pa.table({"id": [1, 2]}))
    with mlflow.start_run() as run:
        tvm.log_snapshot(events.latest())
        tvm.log_snapshot(ls, run)
    got = MlflowClient().get_run(run.info.run_id)
    assert got.data.params["tablever.events.version"] == "2"
    assert got.data.params["tablever.labels.rows"] == "2"
    assert sorted(i.dataset.name for i in got.inputs.dataset_inputs) == [
        "events@v2", "labels@v1",
    ]
    assert [r.run_id for r in labels.runs()] == [run.info.run_id]


def test_a_run_links_to_one_version_of_a_table(tracking: str, events: tv.Table) -> None:
    with mlflow.start_run():
        tvm.log_snapshot(events.as_of(1))
        with pytest.raises(tv.InvalidNameError, match="already linked to version 1"):
            tvm.log_snapshot(events.as_of(2), name="other")


def test_the_module_doctest_runs(tracking: str) -> None:
    try:
        result = doctest.testmod(tvm, raise_on_error=False, verbose=False)
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    assert result.attempted > 0 and result.failed == 0
