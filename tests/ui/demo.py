"""A demo-like warehouse for the page's tests and screenshots: an ``events`` table
with appends, an expired stretch, tags, a filter, an update, a restore and linked runs,
and a second table, ``labels``."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

import tablever as tv

LABELS = ["cat", "dog", "bird"]


def batch(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    return pa.table({
        "id": pa.array(np.arange(start, start + n), pa.int64()),
        "x1": rng.normal(0, 1, n),
        "label": pa.array([LABELS[i] for i in rng.integers(0, 3, n)], pa.string()),
        "confidence": np.round(0.3 + 0.7 * rng.uniform(0, 1, n), 3),
    })


def build(root: str | os.PathLike[str]) -> tv.Warehouse:
    """Versions of ``events``: 0-1 expired, 2-4 appends (4 tagged v1.0), 5 filter
    (v2.0), 6 update, 7 restore of 5, 8 an append with a new column; runs on v1.0 and v2.0."""
    rng = np.random.default_rng(3)
    wh = tv.Warehouse(root)
    events = wh.create("events", schema=batch(rng, 0, 0).schema, message="create events")
    for day in range(1, 5):
        events.append(batch(rng, (day - 1) * 200, 200), message=f"labels from day {day}")
        if day == 2:
            tv.expire(events, older_than="0s", keep_last=1)
    events.tag("v1.0", message="first training set")
    events.filter("confidence >= 0.5", message="drop low-confidence labels")
    events.tag("v2.0", message="clean training set")
    events.update({"label": "'cat'"}, where="id < 5", message="relabel the first ids")
    events.restore("v2.0", message="undo the relabel")
    extra = batch(rng, 10_000, 3)
    extra = extra.append_column("source", pa.array(["manual"] * 3, pa.string()))
    events.append(extra, message="rows from the manual review", schema_mode="merge")
    events.link_run("run-1", ref="v1.0", model="nearest-centroid",
                    metrics={"accuracy": 0.81}, params={"features": "x1"})
    events.link_run("run-2", ref="v2.0", model="nearest-centroid",
                    metrics={"accuracy": 0.87, "f1": 0.85},
                    artifact_uri="mlflow-artifacts:/1/run-2/artifacts")
    labels = wh.create("labels", schema=pa.schema([("name", pa.string())]))
    labels.append(pa.table({"name": LABELS}), message="label names",
                  inputs=[events.as_of("v2.0")])  # lineage: made from events v2.0
    return wh
