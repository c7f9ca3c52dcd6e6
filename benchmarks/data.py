"""Seeded synthetic data, generated once and shared by every system.

An ML events table: ``id`` int64 (unique, increasing in append order), ``user_id`` int64,
``label`` string (10 classes), ``confidence`` float64 uniform in [0, 1), ``ts``
timestamp[us, UTC] (increasing with ``id``), ``text`` string (a sentence plus the id, so
values are unique). The runner writes the batches as uncompressed Arrow IPC files; each
worker reads the same files, so every system ingests byte-identical Arrow data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

LABELS = ["cat", "dog", "bird", "fish", "horse", "cow", "sheep", "goat", "frog", "noise"]
FILTERED_LABEL = "noise"  # the "filter by label" step removes this class
DELETE_PREDICATE = "confidence < 0.05"  # the 5% delete: uniform column, touches every file
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("user_id", pa.int64()),
        ("label", pa.string()),
        ("confidence", pa.float64()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("text", pa.string()),
    ]
)
_WORDS = [
    "the",
    "a",
    "model",
    "label",
    "image",
    "sample",
    "frame",
    "user",
    "click",
    "view",
    "shows",
    "contains",
    "blurry",
    "clear",
    "outdoor",
    "indoor",
    "night",
    "day",
    "person",
    "animal",
    "vehicle",
    "text",
    "token",
    "noisy",
    "clean",
    "crop",
    "resized",
    "annotated",
    "reviewed",
    "flagged",
    "rotated",
    "bright",
    "dark",
    "small",
    "large",
    "centered",
    "partial",
]
_T0_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z


def make_rows(start_id: int, n: int, seed: int) -> pa.Table:
    """Rows with ids ``start_id .. start_id + n - 1``; the same arguments give the same rows."""
    import numpy as np
    import pyarrow.compute as pc

    rng = np.random.default_rng([seed, start_id])
    ids = np.arange(start_id, start_id + n, dtype=np.int64)
    pool_rng = np.random.default_rng(seed)
    pool = [
        " ".join(pool_rng.choice(_WORDS, size=int(pool_rng.integers(4, 12)))) for _ in range(4096)
    ]
    weights = np.array([14, 13, 12, 11, 10, 10, 9, 8, 5, 8], dtype=np.float64)
    label_idx = rng.choice(len(LABELS), size=n, p=weights / weights.sum())
    text = pc.binary_join_element_wise(
        pa.array(pool).take(pa.array(rng.integers(0, len(pool), size=n))),
        pc.cast(pa.array(ids), pa.string()),
        " #",
    )
    ts = _T0_US + ids * 1_000 + rng.integers(0, 1_000, size=n)
    return pa.table(
        [
            pa.array(ids),
            pa.array(rng.integers(0, 100_000, size=n, dtype=np.int64)),
            pa.array(LABELS, pa.string()).take(pa.array(label_idx)),
            pa.array(rng.random(n)),
            pa.array(ts, pa.timestamp("us", tz="UTC")),
            text,
        ],
        schema=SCHEMA,
    )


@dataclass(frozen=True)
class DataSpec:
    """Where the shared batches are and what they contain (read by every worker)."""

    large: str  # IPC file with the large append (rows rows)
    small: str  # IPC file with n_small * small_rows rows, appended 1,000 at a time
    compact_src: str  # IPC file with the rows of the compaction table (n_compact_files parts)
    rows: int
    small_rows: int
    n_small: int
    compact_rows: int
    n_compact_files: int
    lookup_id: int  # an id that survives both deletes
    delete_one_id: int  # the row removed by the one-row delete
    seed: int

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> DataSpec:
        return cls(**json.loads(Path(path).read_text()))


def write_ipc(table: pa.Table, path: Path) -> None:
    with ipc.new_file(str(path), table.schema) as w:
        w.write_table(table, max_chunksize=1 << 20)


def read_ipc(path: str) -> pa.Table:
    with ipc.open_file(path) as r:  # memory mapped would keep the file open; read it all
        return r.read_all()


def generate(
    out: Path,
    *,
    rows: int,
    small_rows: int = 1_000,
    n_small: int = 200,
    compact_rows: int | None = None,
    n_compact_files: int = 200,
    seed: int = 42,
) -> DataSpec:
    """Write the shared batches under ``out`` and return their spec."""
    import pyarrow.compute as pc

    out.mkdir(parents=True, exist_ok=True)
    compact_rows = rows if compact_rows is None else compact_rows
    large = make_rows(0, rows, seed)
    small = make_rows(rows, small_rows * n_small, seed)
    compact = make_rows(0, compact_rows, seed + 1)
    write_ipc(large, out / "large.arrow")
    write_ipc(small, out / "small.arrow")
    write_ipc(compact, out / "compact.arrow")

    def surviving(at: int) -> int:
        part = large.slice(at, 1000)
        keep = pc.and_(
            pc.greater_equal(part["confidence"], 0.05),
            pc.not_equal(part["label"], FILTERED_LABEL),
        )
        return int(part.filter(keep)["id"][0].as_py())

    spec = DataSpec(
        large=str(out / "large.arrow"),
        small=str(out / "small.arrow"),
        compact_src=str(out / "compact.arrow"),
        rows=rows,
        small_rows=small_rows,
        n_small=n_small,
        compact_rows=compact_rows,
        n_compact_files=n_compact_files,
        lookup_id=surviving(int(rows * 0.61)),
        delete_one_id=surviving(int(rows * 0.37)),
        seed=seed,
    )
    spec.save(out / "spec.json")
    return spec
