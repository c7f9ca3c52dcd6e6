"""The ``tablever`` command line: every verb's happy path and its bad inputs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

import tablever as tv
from tablever.cli import app

SCHEMA = pa.schema([
    ("id", pa.int64()), ("label", pa.string()), ("confidence", pa.float64()),
    ("ts", pa.timestamp("us", tz="UTC")),
])
SPEC = "id:int64,label:string,confidence:float64,ts:timestamp[us,UTC]"


def rows(ids: list[int], labels: list[str], conf: list[float]) -> pa.Table:
    ts = [datetime(2024, 1, i, tzinfo=timezone.utc) for i in ids]
    return pa.table({"id": ids, "label": labels, "confidence": conf, "ts": ts}, schema=SCHEMA)


def cli(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def ok_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def fails(*args: str, code: int = 1) -> str:
    """Run a command that must fail cleanly; return its stderr."""
    result = cli(*args)
    assert result.exit_code == code, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    if code == 1:
        lines = result.stderr.rstrip().splitlines()
        assert lines[0].startswith("error: "), result.stderr
        if len(lines) > 1:  # an error in SQL: its line, a caret under the wrong token
            assert len(lines) >= 3 and re.fullmatch(r"LINE \d+: .*", lines[1]), result.stderr
            assert re.fullmatch(r" +\^+", lines[2]), result.stderr
            assert all(line.startswith("hint: ") for line in lines[3:]), result.stderr
        assert result.stdout == ""
    return result.stderr


@pytest.fixture
def events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """v0 create, v1 ids 1-3 (tag v1.0, run-17), v2 ids 4-5, v3 drops conf < 0.7 (v2.0)."""
    monkeypatch.setenv("TABLEVER_AUTHOR", "tester")
    path = str(tmp_path / "events")
    t = tv.create(path, schema=SCHEMA, message="new table", properties={"owner": "ml"})
    t.append(rows([1, 2, 3], ["cat", "dog", "cat"], [1.0, 0.5, 0.95]), message="day 1")
    t.tag("v1.0", message="first release")
    t.append(rows([4, 5], ["bird", "cat"], [0.3, 0.8]), message="day 2")
    t.delete("confidence < 0.7", message="drop low confidence")
    t.tag("v2.0")
    t.link_run("run-17", "v1.0", model="clf", metrics={"acc": 0.87})
    return path


def latest_version(path: str) -> int:
    return tv.open(path).latest().version


def ids_at(path: str, ref: str | None = None) -> list[int]:
    args = ["read", path] + ([ref] if ref else []) + ["--format", "json"]
    return sorted(r["id"] for r in json.loads(ok(*args)))


def log_line(out: str, version: int) -> list[str]:
    """The non-empty cells of the ``log`` row for ``version`` (columns are 2+ spaces apart)."""
    for line in out.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] == str(version) and len(cells) > 5:
            return cells
    raise AssertionError(f"no row for version {version} in:\n{out}")


# --- create -------------------------------------------------------------------------


def test_create_from_schema_spec(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    out = ok_json("create", path, "--schema", SPEC, "-m", "empty", "--property", "owner=ml",
                  "--property", "retention.keep_last=10")
    assert out["version"] == 0 and out["num_rows"] == 0 and out["message"] == "empty"
    assert out["properties"] == {"owner": "ml", "retention.keep_last": 10}
    types = {f["name"]: f["type"] for f in out["schema"]}
    assert types == {"id": "int64", "label": "string", "confidence": "double",
                     "ts": "timestamp[us, tz=UTC]"}
    assert tv.open(path).latest().schema == SCHEMA


@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl"])
def test_create_from_file_makes_version_1(tmp_path: Path, ext: str) -> None:
    data = pa.table({"id": [1, 2, 3], "label": ["cat", "dog", "cat"]})
    src = tmp_path / f"day1.{ext}"
    if ext == "parquet":
        pq.write_table(data, src)
    elif ext == "csv":
        src.write_text("id,label\n1,cat\n2,dog\n3,cat\n")
    else:
        src.write_text("".join(json.dumps(r) + "\n" for r in data.to_pylist()))
    path = str(tmp_path / "t")
    out = ok("create", path, "--from", str(src))
    assert "version 1" in out and "3 rows" in out
    assert json.loads(ok("read", path, "--json")) == data.to_pylist()
    assert [e["version"] for e in ok_json("log", path)] == [1, 0]


def test_create_needs_exactly_one_source(tmp_path: Path) -> None:
    assert "--from" in fails("create", str(tmp_path / "t"), code=2)
    src = tmp_path / "a.csv"
    src.write_text("id\n1\n")
    fails("create", str(tmp_path / "t"), "--from", str(src), "--schema", "id:int64", code=2)
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    "spec", ["id:int65", "id", "ts:timestamp[xs]", "ts:timestamp[us,Mars/Base]"]
)
def test_create_bad_schema_spec_is_a_usage_error(tmp_path: Path, spec: str) -> None:
    assert "--schema" in fails("create", str(tmp_path / "t"), "--schema", spec, code=2)


def test_create_over_an_existing_table_fails(events: str) -> None:
    assert "already exists" in fails("create", events, "--schema", "id:int64")
    assert latest_version(events) == 3


# --- append -------------------------------------------------------------------------


def test_append_csv_is_parsed_with_the_table_types(events: str, tmp_path: Path) -> None:
    src = tmp_path / "day3.csv"
    src.write_text("id,label,confidence,ts\n6,cat,1,2024-01-06T00:00:00Z\n")
    out = ok("append", events, str(src), "-m", "day 3")
    assert out.startswith("version 4 (") and "+1/\u22120 rows, 4 total" in out and "day 3" in out
    (row,) = json.loads(ok("read", events, "--where", "id = 6", "--json"))
    assert row == {"id": 6, "label": "cat", "confidence": 1.0, "ts": "2024-01-06T00:00:00+00:00"}


def test_append_jsonl_with_properties(events: str, tmp_path: Path) -> None:
    src = tmp_path / "day3.jsonl"
    src.write_text('{"id": 6, "label": null, "confidence": 1, "ts": "2024-01-06T00:00:00Z"}\n')
    out = ok_json("append", events, str(src), "-m", "day 3", "--property", "source=crawler")
    assert out["committed"] and out["version"] == 4 and out["num_rows"] == 4
    assert out["properties"] == {"source": "crawler"}
    assert ids_at(events) == [1, 3, 5, 6]


def test_schema_mismatched_append_leaves_the_latest_unchanged(events: str, tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("id,label,extra\n9,x,1\n")
    err = fails("append", events, str(src), "-m", "bad")
    assert "'extra'" in err and "'confidence'" in err and "'ts'" in err
    assert latest_version(events) == 3
    assert ids_at(events) == [1, 3, 5]


def test_append_merge_schema_adds_the_column(events: str, tmp_path: Path) -> None:
    src = tmp_path / "more.csv"
    src.write_text("id,label,confidence,ts,source\n9,x,0.9,2024-01-09T00:00:00Z,web\n")
    ok("append", events, str(src), "-m", "new column", "--merge-schema")
    shown = ok_json("show", events)
    assert shown["version"] == 4
    assert shown["schema"][-1] == {"name": "source", "type": "string", "nullable": True}
    assert ok_json("show", events, "v1.0")["schema"] == ok_json("show", events, "3")["schema"]


def test_append_of_an_empty_file_commits_nothing(events: str, tmp_path: Path) -> None:
    src = tmp_path / "empty.csv"
    src.write_text("id,label,confidence,ts\n")
    assert "nothing to commit" in ok("append", events, str(src), "-m", "nothing")
    assert latest_version(events) == 3


@pytest.mark.parametrize(("name", "content", "needle"), [
    ("missing.csv", None, "no such file"),
    ("data.xlsx", "x", "cannot tell the format"),
    ("broken.parquet", "not parquet", "cannot read"),
])
def test_append_bad_input_file(events: str, tmp_path: Path, name: str, content: str | None,
                               needle: str) -> None:
    src = tmp_path / name
    if content is not None:
        src.write_text(content)
    assert needle in fails("append", events, str(src), "-m", "x")
    assert latest_version(events) == 3


def test_append_needs_a_message(events: str, tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("id,label,confidence,ts\n")
    assert "--message" in fails("append", events, str(src), code=2)


# --- log, show ----------------------------------------------------------------------


def test_log_shows_tags_and_runs_next_to_their_versions(events: str) -> None:
    out = ok("log", events)
    v3, v2, v1, v0 = (log_line(out, v) for v in (3, 2, 1, 0))
    assert v3[3:] == ["delete", "+0/\u22122", "3", "drop low confidence", "v2.0"]
    assert v2[3:] == ["append", "+2/\u22120", "5", "day 2"]
    assert v1[3:] == ["append", "+3/\u22120", "3", "day 1", "v1.0", "1"]
    assert v0[3:] == ["create", "+0/\u22120", "0", "new table"]
    t = tv.open(events)
    assert v1[1] == t.as_of(1).short_id and len(v1[1]) == 12


def test_log_json(events: str) -> None:
    log = ok_json("log", events)
    assert [e["version"] for e in log] == [3, 2, 1, 0]
    by_version = {e["version"]: e for e in log}
    assert by_version[1]["tags"] == ["v1.0"] and by_version[1]["runs"] == ["run-17"]
    assert by_version[3]["tags"] == ["v2.0"] and by_version[3]["num_rows"] == 3
    assert by_version[3]["summary"]["deleted_rows"] == 2
    assert by_version[3]["properties"] == {"predicate": "confidence < 0.7"}
    assert by_version[0]["parent_id"] is None
    assert by_version[1]["parent_id"] == by_version[0]["id"]
    assert [e["version"] for e in ok_json("log", events, "-n", "2")] == [3, 2]


def test_log_verbose_adds_author_provenance_and_properties(events: str) -> None:
    out = ok("log", events, "-v")
    assert "tester" in out and "predicate=confidence < 0.7" in out and "owner=ml" in out
    prov = tv.open(events).latest().provenance
    assert f"python {prov['python']}" in out and f"tablever {tv.__version__}" in out
    assert f"host {prov['host']}" in out


def test_show_summary_schema_tags_runs_and_rows(events: str) -> None:
    s = tv.open(events).as_of("v1.0")
    out = ok("show", events, "v1.0")
    for needle in (s.id, s.fingerprint, "first release", "run-17", "acc=0.87",
                   "timestamp[us, tz=UTC]", "day 1", "tester", "3 rows"):
        assert needle in out, needle
    assert f"{s.parent_id[:12]} (v0)" in out  # type: ignore[index]
    shown = ok_json("show", events, "v1.0")
    assert shown["version"] == 1 and shown["num_rows"] == 3 and shown["tags"] == ["v1.0"]
    assert [r["run_id"] for r in shown["runs"]] == ["run-17"]
    assert shown["runs"][0]["metrics"] == {"acc": 0.87}
    assert [r["id"] for r in shown["head"]] == [1, 2, 3]
    assert shown["num_files"] == 1 and shown["bytes"] > 0 and shown["fingerprint"] == s.fingerprint


def test_show_rows_limit(events: str) -> None:
    assert "first 2 of 3 rows" in ok("show", events, "-n", "2")
    assert len(ok_json("show", events, "-n", "2")["head"]) == 2
    assert ok_json("show", events, "-n", "0")["head"] == []


def test_refs_by_version_tag_id_prefix_time_and_negative(events: str) -> None:
    t = tv.open(events)
    s1 = t.as_of(1)
    after_v1 = (s1.timestamp + timedelta(microseconds=500)).isoformat()
    for ref in ("1", "v1.0", s1.short_id, s1.id[:8], after_v1):
        assert ok_json("show", events, ref, "-n", "0")["version"] == 1, ref
    assert json.loads(ok("show", events, "--json", "--", "-3"))["version"] == 1


def test_a_tag_named_like_a_number_wins_over_the_version(events: str) -> None:
    ok("tag", events, "2", "v2.0")
    assert ok_json("show", events, "2")["version"] == 3
    assert ok_json("show", events, "1")["version"] == 1


@pytest.mark.parametrize("argv", [
    ["show", "{path}", "nope"], ["read", "{path}", "nope"], ["diff", "{path}", "nope"],
    ["runs", "{path}", "nope"], ["verify", "{path}", "nope"], ["restore", "{path}", "nope"],
    ["tag", "{path}", "x", "nope"], ["link-run", "{path}", "r1", "--ref", "nope"],
])
def test_unknown_ref_is_one_line_naming_it(events: str, argv: list[str]) -> None:
    err = fails(*(a.replace("{path}", events) for a in argv))
    assert "'nope'" in err and "v1.0" in err
    assert latest_version(events) == 3


def test_unknown_version_and_close_tag(events: str) -> None:
    assert "no version 99" in fails("show", events, "99")
    assert "closest tags: v1.0" in fails("show", events, "v1.1")


def test_missing_table(tmp_path: Path) -> None:
    assert "no table at" in fails("log", str(tmp_path / "nowhere"))


# --- tags and runs ------------------------------------------------------------------


def test_tag_and_tags(events: str) -> None:
    out = ok("tag", events, "mid", "2", "-m", "halfway")
    assert out.strip() == f"tagged version 2 ({tv.open(events).as_of(2).short_id}) as mid"
    tags = {t["name"]: t for t in ok_json("tags", events)}
    assert {n: t["version"] for n, t in tags.items()} == {"v1.0": 1, "mid": 2, "v2.0": 3}
    assert tags["mid"]["message"] == "halfway" and tags["mid"]["author"] == "tester"
    assert log_line(ok("log", events), 2)[7] == "mid"
    assert "halfway" in ok("tags", events)


@pytest.mark.parametrize("name", ["../x", "a/b", "x" * 129, ".hidden", "a..b"])
def test_invalid_tag_name(events: str, name: str) -> None:
    assert "invalid tag name" in fails("tag", events, name)
    assert set(tv.open(events).tags()) == {"v1.0", "v2.0"}


def test_existing_tag_needs_force(events: str) -> None:
    assert "already exists" in fails("tag", events, "v1.0", "2")
    assert tv.open(events).as_of("v1.0").version == 1
    ok("tag", events, "v1.0", "2", "--force")
    assert tv.open(events).as_of("v1.0").version == 2


def test_link_run_parses_metrics_and_params(events: str) -> None:
    run = ok_json("link-run", events, "run-18", "--ref", "v2.0", "--model", "clf-v2",
                  "--metric", "acc=0.91", "--metric", "epochs=3", "--metric", "note=best",
                  "--param", "lr=0.001", "--param", "layers=[64, 32]", "--param", "opt=adam",
                  "--artifact-uri", "s3://models/18")
    assert run["version"] == 3 and run["model"] == "clf-v2"
    assert run["metrics"] == {"acc": 0.91, "epochs": 3, "note": "best"}
    assert run["params"] == {"lr": 0.001, "layers": [64, 32], "opt": "adam"}
    assert run["artifact_uri"] == "s3://models/18"
    assert [r["run_id"] for r in ok_json("runs", events)] == ["run-17", "run-18"]
    assert [r["run_id"] for r in ok_json("runs", events, "v2.0")] == ["run-18"]
    assert log_line(ok("log", events), 3)[8] == "1"
    out = ok("runs", events)
    assert "acc=0.91" in out and "layers=[64, 32]" in out and "s3://models/18" in out


def test_link_run_twice_needs_force(events: str) -> None:
    assert "already linked" in fails("link-run", events, "run-17")
    ok("link-run", events, "run-17", "--ref", "3", "--force")
    assert [r["version"] for r in ok_json("runs", events)] == [3]


def test_link_run_bad_pairs_and_names(events: str) -> None:
    assert "KEY=VALUE" in fails("link-run", events, "r1", "--metric", "acc", code=2)
    assert "invalid run id" in fails("link-run", events, "../r1")


# --- row changes --------------------------------------------------------------------


def test_delete_filter_update_restore(events: str) -> None:
    out = ok("delete", events, "id = 5", "-m", "drop 5")
    assert out.startswith("version 4 (") and "+0/\u22121 rows, 2 total" in out
    assert ids_at(events) == [1, 3]
    out = ok("filter", events, "label = 'cat' AND id > 1", "-m", "keep 3")
    assert "+0/\u22121 rows, 1 total" in out and ids_at(events) == [3]
    out = ok("update", events, "--set", "label='CAT'", "--set", "confidence=0.5",
             "--where", "id = 3", "-m", "relabel")
    assert "update: +1/\u22121 rows, 1 total" in out
    assert json.loads(ok("read", events, "--json", "--columns", "label,confidence")) == [
        {"label": "CAT", "confidence": 0.5}]
    restored = ok_json("restore", events, "v2.0", "-m", "back to v2.0")
    t = tv.open(events)
    assert restored["version"] == 7 and restored["fingerprint"] == t.as_of("v2.0").fingerprint
    assert restored["message"] == "back to v2.0" and ids_at(events) == [1, 3, 5]


def test_write_that_changes_nothing(events: str) -> None:
    assert "nothing to commit" in ok("delete", events, "id = 42", "-m", "nothing")
    assert "nothing to commit" in ok("filter", events, "id > 0", "-m", "nothing")
    assert ok_json("delete", events, "id = 42", "-m", "nothing")["committed"] is False
    assert latest_version(events) == 3


@pytest.mark.parametrize("argv", [
    ["delete", "{path}", "nosuch > 1", "-m", "x"],
    ["delete", "{path}", "id >", "-m", "x"],
    ["filter", "{path}", "label = ", "-m", "x"],
    ["update", "{path}", "--set", "nosuch=1", "-m", "x"],
    ["update", "{path}", "--set", "label='x'", "--where", "bogus(", "-m", "x"],
    ["read", "{path}", "--where", "nosuch = 1"],
])
def test_bad_predicate_fails_and_commits_nothing(events: str, argv: list[str]) -> None:
    fails(*(a.replace("{path}", events) for a in argv))
    assert latest_version(events) == 3


def test_set_property(events: str) -> None:
    out = ok("set-property", events, "checkpoint_interval=50", "retention.older_than=90d",
             "-m", "policy")
    assert "version 4" in out and "checkpoint_interval" in out and "90d" in out
    props = tv.open(events).properties
    assert props["checkpoint_interval"] == 50 and props["retention.older_than"] == "90d"
    assert props["owner"] == "ml"
    assert "KEY=VALUE" in fails("set-property", events, "oops", code=2)


# --- diff ---------------------------------------------------------------------------


def test_diff_counts_then_samples(events: str) -> None:
    out = ok("diff", events, "v1.0", "v2.0")
    assert out.index("added") < out.index("removed") < out.index("_row_id")
    assert "diff version 1 \u2192 3" in out and "bird" not in out  # 4 came and went
    d = ok_json("diff", events, "v1.0", "v2.0")
    assert (d["a"], d["b"], d["summary"]) == (1, 3, {"added": 1, "removed": 1})
    assert [r["id"] for r in d["added"]] == [5] and [r["id"] for r in d["removed"]] == [2]
    assert d["removed"][0]["_row_id"] == 1
    assert ok_json("diff", events, "1", "-n", "0")["added"] == []


def test_diff_on_key_reports_updates_with_changed_columns(events: str) -> None:
    ok("update", events, "--set", "label='CAT'", "--where", "id = 1", "-m", "relabel")
    d = ok_json("diff", events, "v2.0", "--on", "id")
    assert d["summary"] == {"added": 1, "removed": 1, "inserted": 0, "deleted": 0, "updated": 1}
    assert d["updated"] == [{"key": {"id": 1}, "_row_id": 0, "changed": ["label"],
                             "before": {"label": "cat"}, "after": {"label": "CAT"}}]
    assert "label: cat \u2192 CAT" in ok("diff", events, "v2.0", "--on", "id")
    assert "nosuch" in fails("diff", events, "v2.0", "--on", "nosuch")


# --- read, verify -------------------------------------------------------------------


def test_read_formats(events: str, tmp_path: Path) -> None:
    csv = ok("read", events, "v1.0", "--format", "csv", "--columns", "id,label")
    assert csv.splitlines() == ['"id","label"', '1,"cat"', '2,"dog"', '3,"cat"']
    jsonl = ok("read", events, "--format", "jsonl", "--where", "id > 1", "--columns", "id")
    assert jsonl.splitlines() == ['{"id": 3}', '{"id": 5}']
    assert json.loads(ok("read", events, "-f", "json", "-n", "1")) == [
        {"id": 1, "label": "cat", "confidence": 1.0, "ts": "2024-01-01T00:00:00+00:00"}]
    target = tmp_path / "v1.parquet"
    assert "wrote 3 rows of version 1" in ok("read", events, "v1.0", "-o", str(target))
    assert pq.read_table(target).equals(tv.open(events).as_of("v1.0").to_arrow())
    table_out = ok("read", events, "v1.0")
    assert "version 1: 3 of 3 rows" in table_out and "dog" in table_out


def test_read_usage_errors(events: str) -> None:
    assert "-o" in fails("read", events, "--format", "parquet", code=2)
    assert "xml" in fails("read", events, "--format", "xml", code=2)
    assert "nosuch" in fails("read", events, "--columns", "id,nosuch")


def test_verify_ok_then_tampered(events: str) -> None:
    out = ok("verify", events, "v1.0")
    assert out.startswith("ok: version 1 (") and "1 data files" in out
    assert ok_json("verify", events)["ok"] is True
    s = tv.open(events).as_of("v1.0")
    victim = Path(events) / s.files[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    err = fails("verify", events, "v1.0")
    assert s.files[0] in err and "SHA-256" in err


# --- output hygiene and entry points ------------------------------------------------


def test_user_text_is_never_rich_markup(events: str, tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("id,label,confidence,ts\n7,[bold]x[/],1,2024-01-07T00:00:00Z\n")
    ok("append", events, str(src), "-m", "[red]not red[/red]")
    assert "[red]not red[/red]" in ok("log", events)
    assert "[bold]x[/]" in ok("show", events)


@pytest.mark.parametrize("argv", [
    ["log"], ["show"], ["tags"], ["runs"], ["diff", "v1.0"], ["read"], ["verify"],
])
def test_json_output_is_only_json(events: str, argv: list[str]) -> None:
    result = cli(argv[0], events, *argv[1:], "--json")
    assert result.exit_code == 0
    json.loads(result.stdout)
    assert result.stderr == ""


def test_version_and_help() -> None:
    assert ok("--version").strip() == f"tablever {tv.__version__}"
    out = ok("--help")
    for verb in ("create", "append", "log", "show", "tag", "tags", "runs", "link-run", "delete",
                 "filter", "update", "restore", "diff", "read", "verify", "set-property"):
        assert verb in out


def test_python_m_tablever_end_to_end(events: str) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "tablever", "log", events, "--json"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert [e["version"] for e in json.loads(done.stdout)] == [3, 2, 1, 0]
    bad = subprocess.run([sys.executable, "-m", "tablever", "show", events, "v9"],
                         capture_output=True, text=True, env=env, check=False)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    assert "'v9'" in bad.stderr and "Traceback" not in bad.stderr
