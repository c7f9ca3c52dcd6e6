"""Table properties: known policy keys are validated before anything is written."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv

SCHEMA = pa.schema([("x", pa.int64())])


@pytest.mark.parametrize(
    ("props", "named"),
    [
        ({"checkpoint_interval": 0}, "checkpoint_interval"),
        ({"retention.older_than": "soon"}, "retention.older_than"),
        ({"retention.keep_last": -1}, "retention.keep_last"),
        ({"compact.target_file_bytes": "big"}, "compact.target_file_bytes"),
        ({"vacuum.grace": 5}, "vacuum.grace"),
    ],
)
def test_bad_policy_is_refused_at_create_and_set(tmp_path: Path, props: dict[str, object],
                                                 named: str) -> None:
    with pytest.raises(tv.InvalidNameError, match=named):
        tv.create(tmp_path / "a", schema=SCHEMA, properties=props)
    assert not (tmp_path / "a" / "_tablever" / "log").exists()
    t = tv.create(tmp_path / "b", schema=SCHEMA)
    with pytest.raises(tv.InvalidNameError, match=named):
        t.set_properties(props)
    assert t.latest().version == 0 and t.properties == {}


def test_properties_are_set_and_kept_per_version(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA, properties={"owner": "ml", "vacuum.grace": "2h"})
    t.set_properties({"checkpoint_interval": 5, "vacuum.grace": "30m"})
    assert t.properties == {"owner": "ml", "vacuum.grace": "30m", "checkpoint_interval": 5}
    for i in range(5):
        t.append(pa.table({"x": [i]}))
    assert 5 in t.log.list_checkpoints()
    assert tv.open(tmp_path / "t").properties["vacuum.grace"] == "30m"
