"""The first hour with the command line: the story a new user runs (CSV on day 1, Parquet
on day 2, tag, filter, diff, SQL, lock, maintain twice) through the real ``tablever``
script, and what broke or confused on the way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import tablever as tv
import tablever.operations
from tablever.cli import app
from tests.test_cli import cli, fails, ok, ok_json

UTC = timezone.utc
DAY1 = """id,label,confidence,ts
1,cat,0.98,2024-05-01T09:00:00.000000Z
2,dog,0.55,2024-05-01T09:05:00.000000Z
3,cat,0.91,2024-05-01T09:10:00.000000Z
"""


def _day2(path: Path) -> Path:
    pq.write_table(pa.table({
        "id": [4, 5], "label": ["bird", "dog"], "confidence": [0.3, 0.88],
        "ts": pa.array([datetime(2024, 5, 2, 10, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC")),
    }), path)
    return path


def _script() -> list[str]:
    exe = Path(sys.executable).with_name("tablever")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tablever"]


def run(cwd: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    done = subprocess.run([*_script(), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    if code == 1:
        assert done.stderr.startswith("error: "), done.stderr
        # one line, or for an error in SQL also its line and a caret (tests/test_cli_sql_errors)
        assert done.stderr.count("\n") == 1 or "\nLINE " in done.stderr, done.stderr
    return done


# --- the story, through the real script -------------------------------------------------


def test_the_story_through_the_tablever_script(tmp_path: Path) -> None:
    (tmp_path / "day1.csv").write_text(DAY1)
    _day2(tmp_path / "day2.parquet")
    out = run(tmp_path, "create", "wh/events", "--from", "day1.csv", "-m", "day 1 labels").stdout
    assert out.startswith("created ") and "version 1" in out and "3 rows" in out
    out = run(tmp_path, "append", "wh/events", "day2.parquet", "-m", "day 2 labels").stdout
    assert out.startswith("version 2 ") and "5 total" in out
    assert "tagged version 2" in run(tmp_path, "tag", "wh/events", "v1.0").stdout
    out = run(tmp_path, "filter", "wh/events", "confidence >= 0.7", "-m", "drop low").stdout
    assert out.startswith("version 3 ") and "\u22122 rows, 3 total" in out
    assert "filter" in run(tmp_path, "log", "wh/events").stdout
    diff = json.loads(run(tmp_path, "diff", "wh/events", "v1.0", "latest", "--json").stdout)
    assert diff["summary"]["removed"] == 2
    rows = json.loads(run(tmp_path, "sql", "SELECT label, count(*) AS n FROM events GROUP BY 1 "
                          "ORDER BY 1", "-C", "wh", "--json").stdout)
    assert rows == [{"label": "cat", "n": 2}, {"label": "dog", "n": 1}]
    assert "locked version 3" in run(tmp_path, "lock", "wh/events", "-o", "data.lock").stdout
    out = run(tmp_path, "read", "--lock", "data.lock", "-o", "train.parquet").stdout
    assert out.startswith("wrote 3 rows of version 3")
    first = run(tmp_path, "maintain", "wh/events")
    assert not first.stdout.startswith("\n") and "would" not in first.stdout
    second = json.loads(run(tmp_path, "maintain", "wh/events", "--json").stdout)
    assert second["compact_version"] is None and second["compacted_files"] == 0
    assert run(tmp_path, "compact", "wh/events").stdout == "nothing to compact\n"
    out = run(tmp_path, "verify", "wh/events").stdout
    assert out.startswith("ok: ") and out[-1] == "\n" and out.count("\n") == 1
    # the README's command-line block names the same verbs
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for verb in ("create", "append", "tag", "filter", "log", "show", "diff"):
        assert f"tablever {verb} " in readme
    run(tmp_path, "show", "wh/events", "v1.0")
    # moving the project keeps the lock working
    shutil.move(str(tmp_path), str(tmp_path.with_name(tmp_path.name + "-moved")))
    moved = tmp_path.with_name(tmp_path.name + "-moved")
    assert "wrote 3 rows" in run(moved, "read", "--lock", "data.lock", "-o", "again.csv").stdout


# --- 1. CSV then Parquet ------------------------------------------------------------------


def test_a_table_made_from_csv_takes_the_next_days_parquet(tmp_path: Path) -> None:
    (tmp_path / "day1.csv").write_text(DAY1)
    t = str(tmp_path / "t")
    created = ok_json("create", t, "--from", str(tmp_path / "day1.csv"))
    assert {c["name"]: c["type"] for c in created["schema"]}["ts"] == "timestamp[us, tz=UTC]"
    ok("append", t, str(_day2(tmp_path / "day2.parquet")), "-m", "day 2")
    ok("append", t, str(_day2(tmp_path / "day2.parquet")), "-m", "again", "--merge-schema")
    assert tv.open(t).latest().num_rows == 7


def test_a_csv_with_fractions_of_a_second_on_a_seconds_table_says_so(tmp_path: Path) -> None:
    t = str(tmp_path / "t")
    ok("create", t, "--schema", "id:int64,ts:timestamp[s,UTC]")
    (tmp_path / "f.csv").write_text("id,ts\n1,2024-05-01T09:00:00.5Z\n")
    err = fails("append", t, str(tmp_path / "f.csv"), "-m", "half a second")
    assert "'ts'" in err and "round them to seconds" in err and "Arrow" not in err
    (tmp_path / "g.csv").write_text("id,ts\n1,2024-05-01T09:00:01Z\n")
    ok("append", t, str(tmp_path / "g.csv"), "-m", "whole seconds")
    assert tv.open(t).latest().num_rows == 1


def test_nanoseconds_in_a_new_table_from_parquet_name_the_column(tmp_path: Path) -> None:
    pq.write_table(pa.table({"ts": pa.array([1], pa.timestamp("ns"))}), tmp_path / "ns.parquet")
    err = fails("create", str(tmp_path / "t"), "--from", str(tmp_path / "ns.parquet"))
    assert "'ts'" in err and "--schema" in err
    assert not (tmp_path / "t").exists()


# --- 3. interrupted create, Ctrl-C --------------------------------------------------------


def test_an_interrupted_create_is_finished_by_running_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "day1.csv").write_text(DAY1)
    t = str(tmp_path / "t")

    def stop(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(tablever.operations, "append", stop)
        result = cli("create", t, "--from", str(tmp_path / "day1.csv"), "-m", "day 1")
    assert result.exit_code == 130
    assert result.stderr.count("\n") == 1
    assert "interrupted: version 0" in result.stderr and "rerun" in result.stderr
    assert tv.open(t).latest().num_rows == 0
    out = ok("create", t, "--from", str(tmp_path / "day1.csv"), "-m", "day 1")
    assert "version 1" in out
    s = tv.open(t).latest()
    assert (s.version, s.num_rows, s.message) == (1, 3, "day 1")
    fails("create", t, "--from", str(tmp_path / "day1.csv"))  # now it is a real table


def test_ctrl_c_on_a_write_says_nothing_was_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = str(tmp_path / "t")
    ok("create", t, "--schema", "id:int64")

    def stop(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tv.Table, "delete", stop)
    result = cli("delete", t, "id = 1", "-m", "m")
    assert result.exit_code == 130 and result.stderr == "interrupted: nothing committed\n"


# --- 4. sql caps what it prints -----------------------------------------------------------


def test_sql_prints_at_most_50_rows_and_says_how_many_it_did_not(tmp_path: Path) -> None:
    wh = tv.Warehouse(tmp_path / "wh")
    wh.create("big", schema=pa.schema([("id", pa.int64())])).append(
        pa.table({"id": list(range(120))}), message="m")
    out = ok("sql", "SELECT id FROM big", "-C", str(tmp_path / "wh"))
    assert "70 more rows not shown" in out
    assert "\u2502 49 " in out and "\u2502 50 " not in out
    out = ok("sql", "SELECT id FROM big", "-C", str(tmp_path / "wh"), "-n", "3")
    assert "\u2502 2 " in out and "\u2502 3 " not in out and "not shown" not in out
    assert len(ok_json("sql", "SELECT id FROM big", "-C", str(tmp_path / "wh"))) == 120
    out = ok("read", str(tmp_path / "wh" / "big"))
    assert "70 more rows not shown" in out


# --- 5. -C pointed at a table -------------------------------------------------------------


def test_sql_with_C_at_a_table_says_to_give_its_warehouse(tmp_path: Path) -> None:
    wh = tv.Warehouse(tmp_path / "wh")
    wh.create("t", schema=pa.schema([("id", pa.int64())]))
    for where in ("wh/t", "wh/t/_tablever"):
        err = fails("sql", "SELECT * FROM t", "-C", str(tmp_path / where))
        assert "-C wants the warehouse folder" in err and f"-C {tmp_path / 'wh'}" in err
    err = fails("log", str(tmp_path / "wh"))
    assert "warehouse holding t" in err
    err = fails("log", str(tmp_path / "wh" / "t" / "_tablever"))
    assert "inside the table" in err


# --- 7. read -o refuses to clobber --------------------------------------------------------


def test_read_o_refuses_a_table_folder_and_an_existing_file(tmp_path: Path) -> None:
    t = tmp_path / "t"
    tv.create(t, schema=pa.schema([("id", pa.int64())])).append(pa.table({"id": [1]}),
                                                               message="m")
    err = fails("read", str(t), "-o", str(t / "out.csv"))
    assert "inside the table" in err and not (t / "out.csv").exists()
    ok("read", str(t), "-o", str(tmp_path / "out.csv"))
    (tmp_path / "out.csv").write_text("keep me")
    assert "--force" in fails("read", str(t), "-o", str(tmp_path / "out.csv"))
    assert (tmp_path / "out.csv").read_text() == "keep me"
    assert "wrote 1 row " in ok("read", str(t), "-o", str(tmp_path / "out.csv"), "--force")
    assert tv.verify(tv.open(t)).ok


# --- 8. output ----------------------------------------------------------------------------


def test_usage_errors_exit_2_and_a_blank_message_is_one(tmp_path: Path) -> None:
    assert CliRunner().invoke(app, []).exit_code == 2
    t = str(tmp_path / "t")
    ok("create", t, "--schema", "id:int64")
    (tmp_path / "a.csv").write_text("id\n1\n")
    for args in (["append", t, str(tmp_path / "a.csv")], ["delete", t, "id = 1"],
                 ["filter", t, "id = 1"]):
        fails(*args, "-m", "", code=2)
        fails(*args, "-m", "  ", code=2)
    assert tv.open(t).latest().version == 0


def test_verbs_are_listed_in_the_order_of_the_story() -> None:
    out = CliRunner(env={"COLUMNS": "120"}).invoke(app, ["--help"]).stdout
    positions = [out.index(f"\u2502 {verb} ") for verb in ("create", "append", "tag", "log",
                                                            "diff", "read", "sql", "maintain")]
    assert positions == sorted(positions)


def test_counts_say_one_file_and_one_version(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    t.append(pa.table({"id": [1, 2]}), message="m")
    t.append(pa.table({"id": [3]}), message="m")
    out = ok("compact", str(tmp_path / "t"), "--dry-run")
    assert out == "would compact 2 files (" + out.split("(")[1].split(")")[0] + ") into 1 file\n"
    out = ok("verify", str(tmp_path / "t"))
    assert "3 versions, 2 files" in out and "0 unreferenced files" in out
    out = ok("maintain", str(tmp_path / "t"), "--dry-run")
    assert "would compact" in out and "compacted" not in out and "2 files, 3 rows" in out


def test_runs_print_nothing_for_absent_fields(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    t.link_run("run-1")
    assert "null" not in ok("runs", str(tmp_path / "t"))


# --- 9. messages --------------------------------------------------------------------------


def test_expire_dry_run_says_the_default_age_held_the_versions(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    for i in range(4):
        t.append(pa.table({"id": [i]}), message="m")
    out = ok("expire", str(tmp_path / "t"), "--keep-last", "2", "--dry-run")
    assert out.startswith("would expire 0 versions (versions younger than "
                          "retention.older_than, 90d, are kept")


# --- 10. verbs the library had ------------------------------------------------------------


@pytest.fixture
def events(tmp_path: Path) -> str:
    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64()), ("label", pa.string())]))
    t.append(pa.table({"id": [1, 2, 3], "label": ["a", "b", "c"]}), message="m")
    t.tag("v1.0")
    return str(tmp_path / "t")


def test_upsert_and_overwrite(events: str, tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text("id,label\n2,B\n4,d\n")
    out = ok("upsert", events, str(tmp_path / "u.csv"), "--on", "id", "-m", "fix 2, add 4")
    assert out.startswith("version 2 ") and "4 total" in out
    rows = tv.open(events).latest().to_arrow().sort_by("id").to_pylist()
    assert rows[1] == {"id": 2, "label": "B"} and len(rows) == 4
    (tmp_path / "o.jsonl").write_text('{"id": 9, "label": "z"}\n')
    out = ok("overwrite", events, str(tmp_path / "o.jsonl"), "-m", "start over")
    assert "1 total" in out
    assert tv.open(events).as_of("v1.0").num_rows == 3


def test_changes(events: str) -> None:
    ok("delete", events, "id = 1", "-m", "drop 1")
    feed = ok_json("changes", events, "v1.0")
    assert [(r["id"], r["_change"]) for r in feed] == [(1, "delete")]
    assert "changes: 1 of 1 rows" in ok("changes", events, "v1.0")


def test_tag_delete(events: str) -> None:
    assert "deleted tag v1.0" in ok("tag", events, "v1.0", "-d")
    assert ok_json("tags", events) == []
    assert "v1.0" in fails("tag", events, "v1.0", "--delete")


def test_ls_lists_a_warehouse(tmp_path: Path) -> None:
    wh = tv.Warehouse(tmp_path / "wh")
    wh.create("a", schema=pa.schema([("id", pa.int64())]))
    wh.create("b", schema=pa.schema([("id", pa.int64())]))
    assert [r["table"] for r in ok_json("ls", str(tmp_path / "wh"))] == ["a", "b"]
    assert "a " in ok("ls", str(tmp_path / "wh"))
    assert "is a table" in fails("ls", str(tmp_path / "wh" / "a"))


def test_dry_run_on_delete_filter_update_counts_and_commits_nothing(events: str) -> None:
    out = ok_json("delete", events, "id >= 2", "-m", "m", "--dry-run")
    assert out["rows"] == 2 and [r["id"] for r in out["sample"]] == [2, 3]
    out = ok_json("filter", events, "id >= 2", "-m", "m", "--dry-run")
    assert out["rows"] == 1 and out["sample"][0]["id"] == 1
    out = ok_json("update", events, "--set", "label='x'", "--where", "id = 3", "-m", "m",
                  "--dry-run")
    assert out["rows"] == 1
    assert ok("delete", events, "id >= 2", "-m", "m", "--dry-run").startswith(
        "would delete 2 rows of 3 in version 1; nothing committed")
    assert tv.open(events).latest().version == 1
    fails("delete", events, "nosuch > 1", "-m", "m", "--dry-run")


def test_log_since_and_until(events: str) -> None:
    versions = [e["version"] for e in ok_json("log", events, "--since", "1h")]
    assert versions == [1, 0]
    assert ok_json("log", events, "--until", "2000-01-01") == []
    assert ok_json("log", events, "--since", "2000-01-01T00:00:00Z", "-n", "1")[0]["version"] == 1
    fails("log", events, "--since", "yesterday", code=2)


@pytest.mark.parametrize(("name", "text"), [
    ("big.jsonl", '{"p": 0.12, "f": 1e300}\n'),
    ("big.csv", "p,f\n0.12,1e300\n"),
    ("digits.jsonl", '{"p": 0.129, "f": 1.5}\n'),
    ("digits.csv", "p,f\n0.129,1.5\n"),
])
def test_text_input_is_never_cast_with_a_loss(tmp_path: Path, name: str, text: str) -> None:
    import tablever as tv

    t = tv.create(tmp_path / "t", schema=pa.schema([("p", pa.decimal128(10, 2)),
                                                    ("f", pa.float32())]))
    (tmp_path / name).write_text(text)
    out = run(tmp_path, "append", "t", name, "-m", "day 2", code=1)
    assert "error" in out.stderr and ("'f'" in out.stderr or "'p'" in out.stderr or
                                      "decimal" in out.stderr.lower())
    assert t.latest().version == 0


def test_show_reads_only_the_files_of_the_rows_it_prints(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import tablever as tv
    import tablever.readers as readers
    from tablever.cli import app

    t = tv.create(tmp_path / "t", schema=pa.schema([("id", pa.int64())]))
    for k in range(6):
        t.append(pa.table({"id": pa.array(range(k * 20, k * 20 + 20), pa.int64())}))
    read: list[int] = []
    real = readers.read_arrow.__wrapped__  # type: ignore[attr-defined]

    def counting(snap: object, files: list[object], *args: object) -> object:
        read.append(len(files))
        return real(snap, files, *args)

    monkeypatch.setattr(readers, "read_arrow", counting)
    out = CliRunner().invoke(app, ["show", str(tmp_path / "t"), "-n", "10"])
    assert out.exit_code == 0, out.output
    assert read == [1]  # the first file holds the 10 rows shown, of 6


def test_shell_completion_completes_verbs(tmp_path: Path) -> None:
    shown = run(tmp_path, "--show-completion", "bash")
    assert "_tablever_completion" in shown.stdout and "complete " in shown.stdout
    env = {**os.environ, "_TABLEVER_COMPLETE": "complete_bash",
           "COMP_WORDS": "tablever cr", "COMP_CWORD": "1"}
    done = subprocess.run(_script(), cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == ["create"]
