"""The table property ``compression``: the Parquet codec of the data files written."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import tablever as tv
from tests.conftest import SCHEMA, make_batch, table_files


def _codecs(t: tv.Table) -> set[str]:
    out = set()
    for f in t.latest().data_files:
        meta = pq.read_metadata(t.storage.full(f.path))
        out.update(meta.row_group(0).column(i).compression for i in range(meta.num_columns))
    return out


def test_data_files_are_snappy_by_default(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    t.append(make_batch(list(range(100))))
    assert _codecs(t) == {"SNAPPY"}


@pytest.mark.parametrize("value, parquet", [("zstd", "ZSTD"), ("lz4", "LZ4"),
                                            ("none", "UNCOMPRESSED")])
def test_every_write_uses_the_codec_of_the_property(
    tmp_path: Path, value: str, parquet: str
) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA, properties={"compression": value})
    t.append(make_batch(list(range(50))))
    t.append(make_batch(list(range(50, 100))))
    t.update({"label": "'u'"}, where="id < 10")
    t.upsert(make_batch([5, 500]), on=["id"])
    assert _codecs(t) == {parquet}
    assert tv.compact(t) is not None
    assert _codecs(t) == {parquet}
    assert t.latest().num_rows == 101


def test_changing_it_applies_to_new_files_and_compaction_converts(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    t.append(make_batch(list(range(40))))
    snappy_hash = t.latest().content_hash
    t.set_properties({"compression": "zstd"})
    t.append(make_batch(list(range(40, 80))))
    assert _codecs(t) == {"SNAPPY", "ZSTD"}
    tv.compact(t)
    assert _codecs(t) == {"ZSTD"}
    # the content hash is about rows, not bytes; the old version reads as before
    assert t.as_of(1).content_hash == snappy_hash
    assert t.as_of(1).num_rows == 40 and t.latest().num_rows == 80


@pytest.mark.parametrize("bad", ["gzip", "ZSTD", "", 3, None])
def test_an_unknown_codec_is_refused_and_changes_nothing(tmp_path: Path, bad: object) -> None:
    with pytest.raises(tv.InvalidNameError, match="compression"):
        tv.create(tmp_path / "new", schema=SCHEMA, properties={"compression": bad})
    assert not (tmp_path / "new" / "_tablever" / "log").exists() or not any(
        (tmp_path / "new" / "_tablever" / "log").iterdir()
    )
    t = tv.create(tmp_path / "t", schema=SCHEMA)
    before = table_files(tmp_path / "t")
    with pytest.raises(tv.InvalidNameError, match="compression"):
        t.set_properties({"compression": bad})
    assert table_files(tmp_path / "t") == before
    assert "compression" not in t.latest().properties


def test_dictionary_pages_only_for_repetitive_strings(tmp_path: Path) -> None:
    import pyarrow as pa

    n = 6000
    rows = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "label": [("cat", "dog", "bird")[i % 3] for i in range(n)],
        "note": [f"free text number {i}" for i in range(n)],
        "blob": pa.array([bytes([i % 2]) * 4 for i in range(n)], pa.binary()),
    })
    t = tv.create(tmp_path / "t", schema=rows.schema)
    t.append(rows)
    (f,) = t.latest().data_files
    group = pq.read_metadata(t.storage.full(f.path)).row_group(0)
    with_dict = {group.column(i).path_in_schema: group.column(i).has_dictionary_page
                 for i in range(group.num_columns)}
    assert with_dict == {"id": False, "label": True, "note": False, "blob": True}
    # a function of the rows: the same rows in another table are the same file
    u = tv.create(tmp_path / "u", schema=rows.schema)
    assert u.append(rows).data_files[0].sha256 == t.latest().data_files[0].sha256
    assert t.latest().to_arrow().equals(rows)
