"""``tablever VERB --help`` reads cleanly: flags alone, options with a placeholder that says
what they take (``--where SQL``), arguments by name, and no type placeholders such as
``<bool>`` or ``<str>``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

from tablever.cli import app

_TYPE_PLACEHOLDER = re.compile(r"<(bool|str|int|float|list\[[^\]]*\]|[a-z ]+ range|path)>")


def _verbs() -> Iterator[tuple[list[str], Any]]:
    """Every command of the tree, as the words that name it (the root is ``[]``)."""
    root = typer.main.get_command(app)
    todo: list[tuple[list[str], Any]] = [([], root)]
    while todo:
        words, cmd = todo.pop()
        yield words, cmd
        subs = getattr(cmd, "commands", {})
        todo.extend(([*words, name], sub) for name, sub in subs.items())


VERBS = sorted(_verbs(), key=lambda v: v[0])


def _help(words: list[str]) -> str:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, [*words, "--help"])
    assert result.exit_code == 0, (words, result.output, result.exception)
    return result.stdout


def _row(text: str, option: str) -> str:
    """The help row of ``option`` (its long name, else its first name)."""
    rows = [line for line in text.splitlines() if "│" in line
            and re.search(rf"(^|[\s│]){re.escape(option)}(\s|,|$)", line)]
    assert rows, f"{option} is not in the help:\n{text}"
    return rows[0]


def test_every_verb_is_covered() -> None:
    names = {" ".join(words) for words, _ in VERBS}
    assert {"", "create", "append", "sql", "read", "log", "maintain", "set-property"} <= names
    assert len(names) > 25


@pytest.mark.parametrize("words,cmd", VERBS, ids=[" ".join(w) or "tablever" for w, _ in VERBS])
def test_help_shows_names_and_placeholders_not_types(words: list[str], cmd: Any) -> None:
    text = _help(words)
    assert not _TYPE_PLACEHOLDER.search(text), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "<" not in usage, usage
    ctx = cmd.context_class(cmd, info_name="tablever")
    for param in cmd.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if isinstance(param, TyperArgument):
            assert param.metavar, f"{words}: argument {param.name} has no metavar"
            assert param.metavar in usage, usage
            words = _row(text, param.metavar).strip("│ ").split()
            assert words[:2] in (["*", param.metavar], [param.metavar, *(param.help or "").split()[:1]])
            continue
        assert isinstance(param, TyperOption)
        longest = max(param.opts, key=len)
        row = _row(text, longest)
        if param.is_flag or param.count:
            # the names, then straight the help text
            words = row.strip("│ ").split()
            while words and (words[0] == "*" or words[0].startswith("-")):
                words.pop(0)
            assert words and param.help and words[0] == param.help.split()[0], row
        else:
            assert param.metavar, f"{words}: {longest} takes a value but has no metavar"
            assert re.fullmatch(r"[A-Z][A-Z0-9_,=]*", param.metavar), param.metavar
            assert re.search(rf"\s{re.escape(param.metavar)}(\s|$)", row), row


def test_flag_rows_hold_no_placeholder() -> None:
    row = _row(_help(["append"]), "--merge-schema")
    assert re.fullmatch(r"[│\s]*--merge-schema\s+Add new columns.*", row), row
    row = _row(_help(["sql"]), "--json")
    assert re.fullmatch(r"[│\s]*--json\s+Same as --format json\.\s*│?", row), row


def test_options_show_what_they_take() -> None:
    text = _help(["read"])
    for option, metavar in [("--where", "SQL"), ("--columns", "COLS"), ("--output", "FILE"),
                            ("--limit", "N"), ("--lock", "FILE"), ("--format", "FMT")]:
        assert re.search(rf"{option}\s+(-\w\s+)?{metavar}\s", _row(text, option)), option
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "tablever read [OPTIONS] [PATH] [REF]" in usage
    text = _help(["set-property"])
    assert "tablever set-property [OPTIONS] PATH KEY=VALUE..." in text


def test_help_through_the_script() -> None:
    done = subprocess.run([sys.executable, "-m", "tablever", "create", "--help"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert not _TYPE_PLACEHOLDER.search(done.stdout), done.stdout
    assert "Usage: tablever create [OPTIONS] PATH" in done.stdout
    assert re.search(r"--from\s+FILE\s", done.stdout)
    assert re.search(r"--property\s+KEY=VALUE\s", done.stdout)
    assert re.search(r"--json\s+Print machine-readable JSON", done.stdout)
