"""The tablever story on a local warehouse folder.

An ``events`` table of labelled examples grows over several appends; v1.0 is tagged,
v2.0 filters out low-confidence labels; a tiny model is trained on each tagged version
and linked to it; v2.0 is locked; the lock reproduces the same rows and the same accuracy.
Then a pipeline of stages derives train/val and label counts from ``events``; new labels
arrive, ``tablever status`` shows what is stale, and ``repro`` re-runs only that.

Run it with ``make demo`` (or ``python examples/demo.py --warehouse demo-warehouse``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table as RichTable

import tablever as tv

console = Console(width=120)
LABELS = ["cat", "dog", "bird"]


def make_batch(rng: np.random.Generator, start: int, n: int, *, noisy: bool = True) -> pa.Table:
    """Synthetic labelled events: two features, a label, and a labeller confidence."""
    label_idx = rng.integers(0, len(LABELS), n)
    centers = np.array([[0.0, 0.0], [3.0, 0.5], [0.5, 3.0]])
    features = centers[label_idx] + rng.normal(0, 1.0, (n, 2))
    confidence = 0.3 + 0.7 * rng.beta(4.0, 1.5, n)
    if noisy:
        # Low-confidence labels are mostly wrong, and wrong the same way (a confused
        # labeller): that bias is what filtering them out removes.
        wrong = (confidence < 0.7) & (rng.uniform(0, 1, n) < 0.8)
        label_idx = np.where(wrong, (label_idx + 1) % len(LABELS), label_idx)
    return pa.table(
        {
            "id": pa.array(np.arange(start, start + n), pa.int64()),
            "x1": features[:, 0],
            "x2": features[:, 1],
            "label": pa.array([LABELS[i] for i in label_idx], pa.string()),
            "confidence": confidence,
        }
    )


def train_and_score(train: pa.Table, test: pa.Table) -> float:
    """Nearest-centroid classifier in plain numpy: fit on ``train``, accuracy on ``test``."""
    def xy(t: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        x = np.column_stack([t.column("x1").to_numpy(), t.column("x2").to_numpy()])
        y = np.array([LABELS.index(v) for v in t.column("label").to_pylist()])
        return x, y

    x, y = xy(train)
    centroids = np.stack([x[y == k].mean(axis=0) for k in range(len(LABELS))])
    tx, ty = xy(test)
    pred = np.argmin(((tx[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    return float((pred == ty).mean())


def print_log(table: tv.Table) -> None:
    tags: dict[int, list[str]] = {}
    for name, snap in table.tags().items():
        tags.setdefault(snap.version, []).append(name)
    runs: dict[int, int] = {}
    for run in table.runs():
        runs[run.version] = runs.get(run.version, 0) + 1
    out = RichTable(title=f"log of {table.name}")
    for col in ("version", "id", "operation", "rows ±", "total", "message", "tags", "runs"):
        out.add_column(col)
    for s in table.history():
        change = f"+{s.summary['added_rows']}/-{s.summary['deleted_rows']}"
        out.add_row(
            str(s.version), s.id[:12], s.operation, change, str(s.num_rows), s.message,
            ", ".join(tags.get(s.version, [])), str(runs.get(s.version, "")),
        )
    console.print(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warehouse", default="demo-warehouse")
    args = parser.parse_args()
    wh = Path(args.warehouse)
    if wh.exists():
        shutil.rmtree(wh)
    wh.mkdir(parents=True)
    rng = np.random.default_rng(42)

    console.rule("[bold]1. an events table, several appends")
    events = tv.create(wh / "events", schema=make_batch(rng, 0, 0).schema,
                       properties={"owner": "ml-platform"})
    next_id = 0
    for day in range(1, 4):
        s = events.append(make_batch(rng, next_id, 10_000), message=f"labels from day {day}")
        next_id += 10_000
        console.print(f"v{s.version}: +{s.summary['added_rows']} rows ({s.message})")
    v1 = events.tag("v1.0", message="first training set")
    console.print(f"tagged [bold]v1.0[/] = version {v1.version}, id {v1.id[:12]}, "
                  f"{v1.num_rows} rows")

    console.rule("[bold]2. more data, then filter low-confidence labels")
    events.append(make_batch(rng, next_id, 10_000), message="labels from day 4")
    v2 = events.filter("confidence >= 0.7",
                       message="filtered low-quality labels (confidence < 0.7)")
    events.tag("v2.0", message="clean training set")
    console.print(f"v2.0 = version {v2.version}: -{v2.summary['deleted_rows']} rows "
                  f"({v2.message}); {v2.num_rows} rows remain")
    d = events.diff("v1.0", "v2.0")
    console.print(f"diff v1.0 -> v2.0: {d.summary}")
    console.print("files rewritten by the filter: 0 (deletion vectors only); "
                  f"vectors live: {len(v2.deletion_vectors)}")

    console.rule("[bold]3. train on each version, link the runs")
    test = make_batch(np.random.default_rng(7), 1_000_000, 5_000, noisy=False)
    for tag, run_id in (("v1.0", "run-1"), ("v2.0", "run-2")):
        snap = events.as_of(tag)
        acc = train_and_score(snap.to_arrow(), test)
        events.link_run(run_id, ref=tag, model="nearest-centroid", metrics={"accuracy": acc},
                        params={"features": ["x1", "x2"]})
        console.print(f"{run_id} trained on {tag} ({snap.num_rows} rows): accuracy {acc:.4f}")

    console.rule("[bold]4. lock v2.0 and reproduce the run from the lock")
    lock_path = events.as_of("v2.0").lock(wh / "training-data.lock")
    pinned = tv.from_lock(lock_path)  # checks id, fingerprint, rows, schema; re-hashes files
    acc = train_and_score(pinned.to_arrow(), test)
    original = {r.run_id: r for r in events.runs()}["run-2"].metrics["accuracy"]
    same_rows = pinned.to_arrow().equals(events.as_of("v2.0").to_arrow())
    console.print(f"lock {lock_path}: version {pinned.version}, id {pinned.id[:12]}, "
                  f"{pinned.num_rows} rows")
    console.print(f"same rows as v2.0: {same_rows}; accuracy {acc:.4f} "
                  f"(run-2 logged {original:.4f}): reproduced = {acc == original}")

    console.rule("[bold]5. time travel")
    old = events.as_of("v1.0")
    console.print(f"as_of('v1.0'): {old.num_rows} rows; latest: {events.latest().num_rows} rows")
    by_label = old.sql("SELECT label, count(*) AS n FROM t GROUP BY label ORDER BY label")
    console.print(f"v1.0 labels: {by_label.to_pylist()}")
    print_log(events)
    pipeline(wh, events, rng, next_id + 10_000)


def pipeline(wh: Path, events: tv.Table, rng: np.random.Generator, next_id: int) -> None:
    """Act two: derived tables, what goes stale when the input changes, and repro."""
    import subprocess
    import sys

    import pyarrow.compute as pc

    console.rule("[bold]6. a pipeline: stages, status, repro")
    root = wh.resolve()

    @tv.stage(inputs={"events": f"{root}/events"},
              outputs=[f"{root}/train", f"{root}/val"], params={"val_every": 7})
    def prepare(events: tv.Snapshot, params: dict) -> dict:
        rows = events.to_arrow()
        is_val = pa.array(rows["id"].to_numpy() % params["val_every"] == 0)  # stable by id
        return {f"{root}/train": rows.filter(pc.invert(is_val)),
                f"{root}/val": rows.filter(is_val)}

    @tv.stage(inputs={"train": f"{root}/train"}, outputs=[f"{root}/label_counts"])
    def count_labels(train: tv.Snapshot, params: dict) -> dict:
        return {f"{root}/label_counts": train.sql(
            "SELECT label, count(*) AS n FROM t GROUP BY label ORDER BY label")}

    @tv.stage(inputs={"events": f"{root}/events@v1.0"}, outputs=[f"{root}/baseline"])
    def baseline(events: tv.Snapshot, params: dict) -> dict:
        return {f"{root}/baseline": events.sql("SELECT avg(x1) AS x1, avg(x2) AS x2 FROM t")}

    stages = (prepare, count_labels, baseline)
    for run in tv.repro(*stages):
        console.print(f"  {run}")
    console.print("new labels arrive:")
    events.append(make_batch(rng, next_id, 5_000), message="labels from day 5")
    status = subprocess.run([sys.executable, "-m", "tablever", "status", str(wh)],
                            capture_output=True, text=True, check=True)
    console.print("$ tablever status " + str(wh))
    for line in status.stdout.splitlines():
        console.print(f"  {line}")
    console.print("repro re-runs only what depends on the change:")
    for run in tv.repro(*stages):
        console.print(f"  {run}")
    train = tv.open(wh / "train").latest()
    console.print(f"train v{train.version}: {train.num_rows} rows, built from "
                  + ", ".join(f"{i.location.rsplit('/', 1)[-1]} v{i.version}"
                              for i in train.inputs))


if __name__ == "__main__":
    main()
