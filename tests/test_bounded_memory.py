"""Appending a stream, compacting and reading in batches hold memory bounded by the size
of a data file, not of the table: each scenario runs in a fresh process on N and on 2N
rows, and the peak of pyarrow's memory pools must not grow with N (a path that holds
the whole stream, table or snapshot would double). Not timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv
from tablever.write import MAX_ROWS_PER_FILE

ROOT = Path(__file__).resolve().parent.parent
N = 2 * MAX_ROWS_PER_FILE + 300_000  # more than the two files a stream may hold

SCRIPT = r"""
import json, resource, sys
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tablever as tv

scenario, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
schema = pa.schema([("id", pa.int64()), ("x", pa.float64()), ("s", pa.string())])
held = {"max_pulled_ahead": 0}
written = [0]

def batch(start, k):
    ids = pa.array(np.arange(start, start + k, dtype=np.int64))
    text = pc.binary_join_element_wise("a fairly ordinary sentence, row ", ids.cast(pa.string()), "")
    return pa.record_batch([ids, pc.multiply(ids, 0.5), text], schema=schema)

def reader(pulled=[0]):
    def gen():
        for start in range(0, n, 50_000):
            k = min(50_000, n - start)
            pulled[0] += k
            held["max_pulled_ahead"] = max(held["max_pulled_ahead"], pulled[0] - written[0])
            yield batch(start, k)
    return pa.RecordBatchReader.from_batches(schema, gen())

def progress(step, done, total):
    written[0] = done

if scenario == "append":
    t = tv.create(path, schema=schema)
    t.append(reader(), progress=progress)
    assert t.latest().num_rows == n
elif scenario == "small":
    t = tv.create(path, schema=schema)
    for start in range(0, n, 100_000):
        t.append(batch(start, min(100_000, n - start)))
elif scenario == "compact":
    s = tv.compact(tv.open(path))
    assert s.num_rows == n and len(s.data_files) < 10
elif scenario == "read":
    rows, last = 0, -1
    for b in tv.open(path).latest().to_batches(65_536):
        col = b.column("id").to_numpy()
        assert col[0] > last and bool(np.all(col[1:] > col[:-1]))  # in row order
        last = int(col[-1])
        rows += b.num_rows
    assert rows == n
held["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(held))
"""
ROW_BYTES = 60  # about: int64, float64 and a ~40-byte string


def _run(scenario: str, path: Path, n: int) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, scenario, str(path), str(n)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def peaks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, int]]:
    """Peak RSS of each step on N and on 2N rows, each in a process of its own."""
    out: dict[str, list[int]] = {}
    for n in (N, 2 * N):
        root = tmp_path_factory.mktemp(f"n{n}")
        for scenario, table in [("append", "streamed"), ("read", "streamed"),
                                ("small", "small"), ("compact", "small")]:
            out.setdefault(scenario, []).append(_run(scenario, root / table, n)["rss"])
    return {k: (v[0], v[1]) for k, v in out.items()}


@pytest.mark.parametrize("scenario", ["append", "compact", "read"])
def test_peak_memory_does_not_grow_with_the_table(
    scenario: str, peaks: dict[str, tuple[int, int]]
) -> None:
    small, large = peaks[scenario]
    # Holding the extra N rows would add at least N * ROW_BYTES (about 140 MB; holding
    # the stream added 170 MB); a bounded path adds allocator noise only (up to 40 MB
    # seen for compaction, which runs more groups).
    assert large - small < 0.5 * N * ROW_BYTES, (small, large)


def test_append_of_a_stream_holds_at_most_two_files_ahead(tmp_path: Path) -> None:
    got = _run("append", tmp_path / "t", N)
    # rows pulled from the stream but not yet encoded: the file being written, the one
    # being filled, and a batch
    assert 0 < got["max_pulled_ahead"] <= 2 * MAX_ROWS_PER_FILE + 50_000


def test_a_stream_gives_the_files_of_the_same_rows_in_one_table(tmp_path: Path) -> None:
    rows = pa.table({"id": pa.array(range(2_500_000), pa.int64())})
    a = tv.create(tmp_path / "a", schema=rows.schema)
    b = tv.create(tmp_path / "b", schema=rows.schema)
    batches = rows.to_batches(max_chunksize=100_000)
    sa = a.append(pa.RecordBatchReader.from_batches(rows.schema, batches))
    sb = b.append(pa.Table.from_batches(batches))
    assert [f.rows for f in sa.data_files] == [MAX_ROWS_PER_FILE, MAX_ROWS_PER_FILE, 402_848]
    assert sa.fingerprint == sb.fingerprint
    assert sa.content_hash == sb.content_hash
    assert sa.to_arrow().equals(rows)
    assert [f.first_row_id for f in sa.data_files] == [0, MAX_ROWS_PER_FILE, 2 * MAX_ROWS_PER_FILE]


def test_a_stream_with_a_bad_batch_commits_nothing(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64())])
    t = tv.create(tmp_path / "t", schema=schema)

    def gen():  # type: ignore[no-untyped-def]
        yield pa.record_batch([pa.array(range(10), pa.int64())], schema=schema)
        raise pa.ArrowInvalid("the source failed")

    with pytest.raises(tv.TableverError, match="the source failed"):
        t.append(pa.RecordBatchReader.from_batches(schema, gen()))
    assert t.latest().version == 0 and t.latest().num_rows == 0
    wrong = pa.schema([("id", pa.string())])
    with pytest.raises(tv.SchemaMismatchError):
        t.append(pa.RecordBatchReader.from_batches(wrong, iter([])))
    assert t.latest().version == 0


def test_an_empty_stream_commits_nothing_unless_allowed(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64())])
    t = tv.create(tmp_path / "t", schema=schema)
    assert t.append(pa.RecordBatchReader.from_batches(schema, iter([]))).version == 0
    s = t.append(pa.RecordBatchReader.from_batches(schema, iter([])), allow_empty=True)
    assert s.version == 1 and s.num_rows == 0


def test_a_folder_of_parquet_files_streams_in(tmp_path: Path) -> None:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    folder = tmp_path / "in"
    folder.mkdir()
    parts = [pa.table({"id": pa.array(range(i * 1000, (i + 1) * 1000), pa.int64()),
                       "s": [f"v{j}" for j in range(1000)]}) for i in range(3)]
    for i, part in enumerate(parts):
        pq.write_table(part, folder / f"part-{i}.parquet")
    t = tv.create(tmp_path / "t", schema=parts[0].schema)
    seen: list[tuple[str, int, int]] = []
    reader = ds.dataset(folder).scanner().to_reader()
    s = t.append(reader, progress=lambda step, done, total: seen.append((step, done, total)))
    assert s.to_arrow().sort_by("id").equals(pa.concat_tables(parts))
    assert seen[0] == ("write", 0, 0) and seen[-1] == ("write", 3000, 0)
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)
