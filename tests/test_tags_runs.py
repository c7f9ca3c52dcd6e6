"""Tags (immutable names for versions) and model runs linked to versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv

pytestmark = pytest.mark.storages  # each test on the local disk and on S3

BAD_NAMES = ["../x", "", "x" * 129, "a/b", "a\\b", "a\x00b", "..", ".x", "-x", "a..b", "a b",
             "v1\n", "v1\r\n", "\nv1"]


def test_tag_latest_or_a_ref(filled: tv.Table, path: str) -> None:
    s = filled.tag("v2.0", message="release")
    assert s.version == 2
    assert filled.tag("v1.0", 1).version == 1
    tags = tv.open(path).tags()
    assert sorted(tags) == ["v1.0", "v2.0"]
    assert (tags["v1.0"].version, tags["v2.0"].id) == (1, filled.as_of(2).id)
    assert tv.open(path).as_of("v1.0").num_rows == 10
    assert {r.name: r.message for r in filled.tag_records()}["v2.0"] == "release"


def test_tags_are_immutable_unless_forced(filled: tv.Table) -> None:
    filled.tag("v1.0", 1)
    with pytest.raises(tv.InvalidNameError, match="v1.0"):
        filled.tag("v1.0", 2)
    assert filled.as_of("v1.0").version == 1
    filled.tag("v1.0", 2, force=True)
    assert filled.as_of("v1.0").version == 2


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_tag_names(filled: tv.Table, path: str, name: str) -> None:
    with pytest.raises(tv.InvalidNameError):
        filled.tag(name)
    assert not list(Path(path, "_tablever", "tags").glob("*"))
    assert not Path(path, "_tablever", "x.json").exists()
    assert not Path(path).parent.joinpath("x.json").exists()


def test_tag_of_an_unknown_ref(filled: tv.Table) -> None:
    with pytest.raises(tv.RefNotFoundError):
        filled.tag("v9", 99)
    assert filled.tags() == {}


def test_delete_tag_keeps_the_version(filled: tv.Table) -> None:
    filled.tag("tmp", 1)
    filled.delete_tag("tmp")
    assert filled.tags() == {}
    assert filled.as_of(1).num_rows == 10
    with pytest.raises(tv.RefNotFoundError):
        filled.as_of("tmp")


@pytest.mark.disk
def test_a_tag_pointing_at_a_different_snapshot_is_detected(filled: tv.Table, path: str) -> None:
    filled.tag("v1.0", 1)
    p = Path(path, "_tablever", "tags", "v1.0.json")
    rec = json.loads(p.read_bytes())
    rec["version"] = 2  # same name, a version whose id is not the recorded one
    p.write_text(json.dumps(rec))
    with pytest.raises(tv.CorruptLogError, match="v1.0"):
        tv.open(path).as_of("v1.0")


def test_link_run_and_list_runs(filled: tv.Table, path: str) -> None:
    filled.tag("v1.0", 1)
    run = filled.link_run("run-1", ref="v1.0", model="clf-v3", metrics={"acc": 0.87},
                          params={"lr": 0.1})
    filled.link_run("run-2", model="clf-v4")
    assert (run.run_id, run.version, run.snapshot_id) == ("run-1", 1, filled.as_of(1).id)
    runs = tv.open(path).runs()
    assert [r.run_id for r in runs] == ["run-1", "run-2"]
    first: Any = runs[0]
    assert (first.model, dict(first.metrics), dict(first.params)) == (
        "clf-v3", {"acc": 0.87}, {"lr": 0.1}
    )
    assert first.created_at.tzinfo is not None
    assert [r.run_id for r in filled.runs("v1.0")] == ["run-1"]
    assert [r.run_id for r in filled.runs(2)] == ["run-2"]


def test_run_ids_are_unique_unless_forced(filled: tv.Table) -> None:
    filled.link_run("r1", 1)
    with pytest.raises(tv.InvalidNameError):
        filled.link_run("r1", 2)
    assert filled.runs()[0].version == 1
    filled.link_run("r1", 2, force=True)
    assert filled.runs()[0].version == 2


@pytest.mark.parametrize("run_id", BAD_NAMES)
def test_invalid_run_ids(filled: tv.Table, path: str, run_id: str) -> None:
    with pytest.raises(tv.InvalidNameError):
        filled.link_run(run_id)
    assert filled.runs() == []


def test_run_metrics_must_be_json(filled: tv.Table) -> None:
    with pytest.raises(tv.InvalidNameError):
        filled.link_run("r1", metrics={"acc": object()})
    assert filled.runs() == []


@pytest.mark.disk
def test_names_stored_by_earlier_versions_with_a_trailing_newline_still_count(
    filled: tv.Table, path: str
) -> None:
    """Earlier versions accepted a name plus one trailing newline (and wrote such a file):
    it is refused for new tags and runs, but an existing one is still listed, read,
    deleted, and protects its version from expire."""
    import json

    snap = filled.as_of(1)
    record = {"name": "old\n", "version": 1, "id": snap.id, "message": "", "created_ms": 1,
              "author": "x"}
    Path(path, "_tablever", "tags", "old\n.json").parent.mkdir(parents=True, exist_ok=True)
    Path(path, "_tablever", "tags", "old\n.json").write_text(json.dumps(record))
    assert "old\n" in filled.tags()
    with pytest.raises(tv.InvalidNameError):
        filled.tag("new\n")
    assert tv.verify(filled).ok  # a file of the tags folder, not a stranger
    expired = tv.expire(filled, older_than="0s", keep_last=1)
    assert 1 not in expired
    assert filled.as_of(1).id == snap.id
    filled.delete_tag("old\n")
    assert "old\n" not in filled.tags()


def test_a_taken_name_and_a_bad_value_have_their_own_errors(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("x", pa.int64())]))
    t.tag("gold")
    with pytest.raises(tv.NameTakenError) as err:
        t.tag("gold")
    assert (err.value.kind, err.value.name) == ("tag", "gold")
    assert isinstance(err.value, tv.InvalidNameError)  # what callers caught before
    t.link_run("r1")
    with pytest.raises(tv.NameTakenError) as err:
        t.link_run("r1")
    assert (err.value.kind, err.value.name) == ("run", "r1")
    with pytest.raises(tv.InvalidValueError):
        t.append(pa.table({"x": pa.array([1], pa.int64())}), message=3)  # type: ignore[arg-type]
    with pytest.raises(tv.InvalidValueError):
        t.set_properties({"retention.keep_last": "many"})
    assert t.latest().version == 0
