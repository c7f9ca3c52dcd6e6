"""Lineage between tables (inputs recorded on commits), status, and stages with repro."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import tablever as tv
from tablever import stages as stages_mod

X = pa.schema([("x", pa.int64())])


def xs(*values: int) -> pa.Table:
    return pa.table({"x": pa.array(values, pa.int64())})


@pytest.fixture()
def wh(tmp_path: Path) -> tv.Warehouse:
    return tv.Warehouse(tmp_path / "wh")


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stages_mod, "_REGISTRY", {})


def test_every_write_verb_records_its_inputs_and_they_survive_reopen_and_compaction(
    wh: tv.Warehouse,
) -> None:
    events = wh.create("events", data=xs(1, 2, 3))
    labels = wh.create("labels", data=xs(7))
    t = wh.create("t", schema=X)
    src = [events.latest(), labels.latest()]
    made = [
        t.append(xs(1, 2, 3), inputs=src),
        t.delete("x = 1", inputs=src[:1]),
        t.update({"x": "x + 10"}, where="x = 2", inputs=src[1:]),
        t.upsert(xs(3, 4), on=["x"], inputs=src),
        t.filter("x > 3", inputs=src),
        t.overwrite(xs(5), inputs=src[:1]),
    ]
    expected = [[(s.location, s.version, s.id, s.fingerprint) for s in given]
                for given in (src, src[:1], src[1:], src, src, src[:1])]
    got = [[(i.location, i.version, i.id, i.fingerprint) for i in s.inputs] for s in made]
    assert got == expected
    t.append(xs(6))
    t.append(xs(7))
    compacted = tv.compact(t)
    assert compacted is not None and compacted.inputs == []  # derived from nothing new
    again = tv.open(t.location)
    assert [[(i.location, i.version) for i in again.as_of(s.version).inputs] for s in made] == [
        [(a, b) for a, b, _, _ in e] for e in expected]


def test_capture_records_what_was_read_but_not_the_table_itself(wh: tv.Warehouse) -> None:
    events = wh.create("events", data=xs(1, 2, 3))
    events.append(xs(4))
    train = wh.create("train", data=xs(0))
    with tv.lineage.capture() as seen:
        old = events.as_of(1).to_polars()
        train.latest().to_arrow()  # its own version: not an input of itself
        snap = train.append(pa.Table.from_pandas(old.to_pandas(), preserve_index=False))
    assert [(i.location, i.version) for i in snap.inputs] == [(events.location, 1)]
    assert {(i.location, i.version) for i in seen} == {(events.location, 1),
                                                        (train.location, 1)}
    after = train.append(xs(9))  # outside the block: nothing recorded
    assert after.inputs == []


def test_bad_inputs_are_refused_and_change_nothing(wh: tv.Warehouse) -> None:
    t = wh.create("t", data=xs(1))
    before = t.latest().id
    for bad in ("wh/events", [3], [object()]):
        with pytest.raises(tv.InvalidValueError, match="input"):
            t.append(xs(2), inputs=bad)
    assert t.latest().id == before


def _pipeline(wh: tv.Warehouse, calls: list[str]) -> list[tv.Stage]:
    root = wh.path

    @tv.stage(inputs={"raw": f"{root}/raw"}, outputs=[f"{root}/clean"])
    def clean(raw: tv.Snapshot, params: dict[str, Any]) -> dict[str, Any]:
        calls.append("clean")
        rows = raw.to_arrow()
        return {f"{root}/clean": rows.filter(pc.field("x") >= 0)}

    @tv.stage(inputs={"clean": f"{root}/clean"},
              outputs=[f"{root}/train", f"{root}/val"], params={"cut": 5})
    def split(clean: tv.Snapshot, params: dict[str, Any]) -> dict[str, Any]:
        calls.append("split")
        rows = clean.to_arrow()
        return {f"{root}/train": rows.filter(pc.field("x") < params["cut"]),
                f"{root}/val": rows.filter(pc.field("x") >= params["cut"])}

    @tv.stage(inputs={"labels": f"{root}/labels@v1"}, outputs=[f"{root}/label_stats"])
    def stats(labels: tv.Snapshot, params: dict[str, Any]) -> dict[str, Any]:
        calls.append("stats")
        return {f"{root}/label_stats": pa.table({"n": [labels.num_rows]})}

    return [split, stats, clean]  # repro orders them by what they read


def test_repro_runs_only_the_stages_downstream_of_a_change(wh: tv.Warehouse) -> None:
    raw = wh.create("raw", data=xs(-1, 1, 2, 6, 8))
    labels = wh.create("labels", data=xs(1, 2))
    labels.tag("v1")
    calls: list[str] = []
    pipeline = _pipeline(wh, calls)
    first = tv.repro(*pipeline)
    assert calls == ["clean", "stats", "split"] or calls == ["stats", "clean", "split"]
    assert all(r.ran for r in first)
    assert tv.open(f"{wh.path}/train").latest().num_rows == 2
    assert tv.open(f"{wh.path}/val").latest().num_rows == 2
    val = tv.open(f"{wh.path}/val").latest()
    assert val.properties["stage"] == "split" and val.properties["stage.params"] == '{"cut":5}'
    assert [i.location for i in val.inputs] == [tv.open(f"{wh.path}/clean").location]
    assert tv.status(wh.path) == []

    calls.clear()
    assert [r.ran for r in tv.repro(*pipeline)] == [False, False, False]
    assert calls == []

    labels.append(xs(3))  # the stage reads labels@v1: still up to date
    raw.append(xs(3, 9))
    stale = {s.table.rsplit("/", 1)[-1]: s for s in tv.status(wh.path)}
    # the stats stage pinned labels@v1: stale only when the tag moves
    assert set(stale) == {"clean"} and stale["clean"].rows_added == 2
    lines: list[str] = []
    runs = {r.stage: r for r in tv.repro(*pipeline, echo=lines.append)}
    assert sorted(calls) == ["clean", "split"]
    assert not runs["stats"].ran and runs["stats"].reason == "up to date"
    assert "input raw changed (version 1 -> 2)" in runs["clean"].reason
    assert runs["split"].reason.startswith("input clean changed")
    assert len(lines) == 3 and any("stats: skipped (up to date)" in ln for ln in lines)
    assert tv.open(f"{wh.path}/train").latest().num_rows == 3
    labels.tag("v1", force=True)  # the pinned ref moves: now that stage is stale
    assert [s.table.rsplit("/", 1)[-1] for s in tv.status(wh.path)] == ["label_stats"]
    assert [r.stage for r in tv.repro(*pipeline) if r.ran] == ["stats"]


def test_a_changed_param_reruns_the_stage(wh: tv.Warehouse) -> None:
    wh.create("raw", data=xs(1, 6))
    labels = wh.create("labels", data=xs(1))
    labels.tag("v1")
    calls: list[str] = []
    split, stats, clean = _pipeline(wh, calls)
    tv.repro(clean, split)
    changed = tv.stage(inputs=split.inputs, outputs=split.outputs, params={"cut": 2},
                       name="split")(split.fn)
    calls.clear()
    (run,) = tv.repro(changed)
    assert run.ran and run.reason.startswith("params changed") and calls == ["split"]
    assert tv.open(f"{wh.path}/train").latest().num_rows == 1


def test_a_failing_stage_commits_nothing(wh: tv.Warehouse) -> None:
    wh.create("raw", data=xs(1))
    out_a = wh.create("a", data=xs(0))
    out_b = wh.create("b", data=xs(0))
    before = (out_a.latest().id, out_b.latest().id)

    @tv.stage(inputs={"raw": f"{wh.path}/raw"}, outputs=[out_a.location, out_b.location])
    def broken(raw: tv.Snapshot, params: dict[str, Any]) -> dict[str, Any]:
        # the second output does not fit its table: neither may be committed
        return {out_a.location: xs(1), out_b.location: pa.table({"y": ["z"]})}

    with pytest.raises(tv.SchemaMismatchError):
        tv.repro(broken)

    @tv.stage(inputs={"raw": f"{wh.path}/raw"}, outputs=[out_a.location], name="raises")
    def raises(raw: tv.Snapshot, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        tv.repro(raises)

    @tv.stage(inputs={"raw": f"{wh.path}/raw"}, outputs=[out_a.location], name="wrong")
    def wrong(raw: tv.Snapshot, params: dict[str, Any]) -> dict[str, Any]:
        return {"elsewhere": xs(1)}

    with pytest.raises(tv.TableverError, match="nothing was committed"):
        tv.repro(wrong)
    assert (tv.open(out_a.location).latest().id, tv.open(out_b.location).latest().id) == before


def test_stage_definitions_are_checked(wh: tv.Warehouse) -> None:
    with pytest.raises(tv.InvalidValueError, match="outputs"):
        tv.stage(inputs={"a": "x"}, outputs="y")
    with pytest.raises(tv.InvalidValueError, match="inputs"):
        tv.stage(inputs={"a": 3}, outputs=["y"])  # type: ignore[dict-item]
    with pytest.raises(tv.InvalidValueError, match="JSON"):
        tv.stage(inputs={}, outputs=["y"], params={"f": object()})
    with pytest.raises(tv.InvalidValueError, match="no stage"):
        tv.repro("missing")


STAGES_FILE = '''
import pyarrow.compute as pc
import tablever as tv

WH = {wh!r}

@tv.stage(inputs={{"raw": f"{{WH}}/raw"}}, outputs=[f"{{WH}}/clean"])
def clean(raw, params):
    return {{f"{{WH}}/clean": raw.to_arrow().filter(pc.field("x") >= 0)}}

@tv.stage(inputs={{"clean": f"{{WH}}/clean"}}, outputs=[f"{{WH}}/train"], params={{"cut": 5}})
def train(clean, params):
    return {{f"{{WH}}/train": clean.to_arrow().filter(pc.field("x") < params["cut"])}}
'''


def test_the_command_line_repro_status_and_lineage(wh: tv.Warehouse, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    raw = wh.create("raw", data=xs(-1, 1, 7))
    script = tmp_path / "stages.py"
    script.write_text(STAGES_FILE.format(wh=wh.path))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tablever", *args], capture_output=True,
                              text=True, timeout=120)

    first = cli("repro", str(script))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["clean: ran (no run of it in " + f"{wh.path}/clean)",
                                         "train: ran (no run of it in " + f"{wh.path}/train)"]
    again = cli("repro", str(script))
    assert again.stdout.splitlines() == ["clean: skipped (up to date)",
                                         "train: skipped (up to date)"]
    assert cli("status", wh.path).stdout.strip() == "everything is up to date"
    raw.append(xs(3))
    stale = json.loads(cli("status", wh.path, "--json").stdout)
    assert [(s["table"].rsplit("/", 1)[-1], s["rows_added"]) for s in stale] == [("clean", 1)]
    only = cli("repro", str(script), "clean", "--json")
    assert [(r["stage"], r["ran"]) for r in json.loads(only.stdout)] == [("clean", True)]
    # train is now stale: its input clean has a new version
    assert [s["table"].rsplit("/", 1)[-1] for s in json.loads(cli("status", wh.path, "--json").stdout)] == ["train"]
    graph = json.loads(cli("lineage", f"{wh.path}/clean", "1", "--json").stdout)
    edges = {(e["from"]["location"].rsplit("/", 1)[-1], e["from"]["version"],
              e["to"]["location"].rsplit("/", 1)[-1], e["to"]["version"]) for e in graph["edges"]}
    assert edges == {("raw", 1, "clean", 1), ("clean", 1, "train", 1)}
    mermaid = cli("lineage", f"{wh.path}/clean", "1", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR") and mermaid.count("-->") == 2
    dot = cli("lineage", f"{wh.path}/clean", "1", "--format", "dot").stdout
    assert dot.startswith("digraph lineage {") and dot.count("->") == 2
    text = cli("lineage", f"{wh.path}/clean", "1").stdout
    assert "derived from" in text and "used by" in text
    missing = cli("repro", str(tmp_path / "none.py"))
    assert missing.returncode != 0 and "no file" in missing.stderr


def test_sql_writes_record_the_versions_they_read(wh: tv.Warehouse) -> None:
    events = wh.create("events", data=xs(1, 2, 3))
    events.tag("v1")
    events.append(xs(4))
    wh.sql("CREATE TABLE train AS SELECT x FROM events VERSION AS OF 'v1' WHERE x > 1")
    train = wh.table("train")
    assert [(i.location, i.version) for i in train.latest().inputs] == [(events.location, 1)]
    wh.sql("INSERT INTO train SELECT x FROM events WHERE x = 4")
    assert [(i.location, i.version) for i in wh.table("train").latest().inputs] == [
        (events.location, 2)]
    wh.sql("INSERT INTO train SELECT x + 100 FROM train")  # a table is not its own input
    assert wh.table("train").latest().inputs == []
    wh.sql("INSERT INTO train VALUES (5)")
    assert wh.table("train").latest().inputs == []


def test_the_pipelines_page_runs(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import re

    page = (Path(__file__).resolve().parent.parent / "docs" / "pipelines.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert len(blocks) == 3
    scope: dict[str, Any] = {}
    for code in blocks:
        exec(compile(code, "docs/pipelines.md", "exec"), scope)  # noqa: S102 - the page's code
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["[('events', 1)]", "[('events', 1)]"]
    assert sum("built from" in line for line in out) == 3  # train, val, big
    assert [line.split(":")[0] for line in out[-4:]] == ["split", "stats", "split", "stats"]
    assert out[-2:] == ["split: skipped (up to date)", "stats: skipped (up to date)"]
