"""Provenance on every commit (inside and outside a git work tree), and linked runs."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tablever as tv
from tests.conftest import SCHEMA, make_batch

APPEND = """
import sys, tablever as tv
from tests.conftest import make_batch
t = tv.open(sys.argv[1])
t.append(make_batch([int(sys.argv[2])]), message="from a subprocess")
"""
ROOT = Path(__file__).resolve().parent.parent


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def _append_from(cwd: Path, table: str, row: int) -> dict[str, Any]:
    """Append one row in a subprocess running in ``cwd``; the new commit's provenance."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GIT_CEILING_DIRECTORIES": str(cwd.parent)}
    env.pop("TABLEVER_AUTHOR", None)
    subprocess.run([sys.executable, "-c", APPEND, table, str(row)], cwd=cwd, env=env,
                   check=True, capture_output=True, text=True, timeout=120)
    return tv.open(table).latest().provenance


def _static_fields_are_correct(p: dict[str, Any]) -> None:
    assert p["tablever_version"] == tv.__version__
    assert p["python"] == platform.python_version()
    assert p["host"] == socket.gethostname()
    assert isinstance(p["user"], str) and p["user"]


def test_inside_a_git_work_tree_the_commit_and_dirtiness_are_recorded(tmp_path: Path) -> None:
    repo = tmp_path / "code"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("print('v1')\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    table = str(tmp_path / "events")
    tv.create(table, schema=SCHEMA)

    clean = _append_from(repo, table, 1)
    _static_fields_are_correct(clean)
    assert clean["git_commit"] == head and len(head) == 40
    assert clean["git_dirty"] is False

    (repo / "notes.txt").write_text("untracked files do not make the tree dirty\n")
    assert _append_from(repo, table, 2)["git_dirty"] is False

    (repo / "train.py").write_text("print('v2, not committed')\n")
    dirty = _append_from(repo, table, 3)
    assert dirty["git_commit"] == head and dirty["git_dirty"] is True

    _git(repo, "commit", "-q", "-am", "second")
    again = _append_from(repo, table, 4)
    assert again["git_commit"] == _git(repo, "rev-parse", "HEAD") != head
    assert again["git_dirty"] is False


def test_outside_a_git_work_tree_there_is_no_git_key(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    table = str(tmp_path / "events")
    tv.create(table, schema=SCHEMA)
    p = _append_from(plain, table, 1)
    _static_fields_are_correct(p)
    assert "git_commit" not in p and "git_dirty" not in p


def test_provenance_is_stored_in_the_commit_file(filled: tv.Table) -> None:
    raw = json.loads(
        (Path(filled.location) / "_tablever/log/00000000000000000002.json").read_text()
    )
    assert raw["provenance"] == filled.latest().provenance
    assert raw["provenance"]["tablever_version"] == tv.__version__


def test_author_override_is_the_user(table: tv.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLEVER_AUTHOR", "ci-bot")
    s = table.append(make_batch([1]))
    assert s.author == "ci-bot"


WRITES = {
    "append": lambda t: t.append(make_batch([50]), provenance=False),
    "delete": lambda t: t.delete("id = 1", provenance=False),
    "filter": lambda t: t.filter("id > 2", provenance=False),
    "update": lambda t: t.update({"label": "'x'"}, where="id = 3", provenance=False),
    "upsert": lambda t: t.upsert(make_batch([4, 60]), on=["id"], provenance=False),
    "overwrite": lambda t: t.overwrite(make_batch([7]), provenance=False),
    "restore": lambda t: t.restore(1, provenance=False),
    "set_properties": lambda t: t.set_properties({"owner": "ml"}, provenance=False),
}


@pytest.mark.parametrize("verb", sorted(WRITES))
def test_every_write_can_turn_provenance_off(filled: tv.Table, verb: str) -> None:
    assert filled.latest().provenance  # on by default
    s = WRITES[verb](filled)
    assert s.version == 3 and s.operation == verb.replace("_", "-")
    assert s.provenance == {}
    assert s.author  # the author is not part of the automatic provenance
    assert tv.open(filled.location).as_of(3).provenance == {}


def test_create_can_turn_provenance_off(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=SCHEMA, data=make_batch([1]), provenance=False)
    assert [s.provenance for s in t.history()] == [{}, {}]


# --- linked runs ----------------------------------------------------------------------------


def test_linked_runs_show_on_their_version(filled: tv.Table) -> None:
    filled.tag("v1.0", 1)
    run = filled.link_run(
        "run-17", ref="v1.0", model="classifier-v3", metrics={"acc": 0.87},
        params={"lr": 0.01}, artifact_uri="s3://models/run-17",
    )
    filled.link_run("run-18", model="classifier-v4")
    assert run.version == 1 and run.snapshot_id == filled.as_of(1).id
    (on_v1,) = tv.open(filled.location).runs("v1.0")
    assert on_v1.run_id == "run-17" and on_v1.model == "classifier-v3"
    assert on_v1.metrics == {"acc": 0.87} and on_v1.params == {"lr": 0.01}
    assert on_v1.artifact_uri == "s3://models/run-17"
    assert [r.run_id for r in filled.runs(2)] == ["run-18"]
    assert filled.runs(2)[0].artifact_uri is None
    assert [r.run_id for r in filled.runs()] == ["run-17", "run-18"]


def test_a_run_is_linked_once_unless_forced(filled: tv.Table) -> None:
    filled.link_run("run-1", ref=1)
    with pytest.raises(tv.InvalidNameError, match="already linked"):
        filled.link_run("run-1", ref=2)
    filled.link_run("run-1", ref=2, force=True)
    assert [r.version for r in filled.runs()] == [2]


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", ".hidden", "x" * 200])
def test_run_ids_are_checked(filled: tv.Table, bad: str) -> None:
    with pytest.raises(tv.InvalidNameError):
        filled.link_run(bad)
