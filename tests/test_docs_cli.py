"""docs/cli.md and docs/api.md run as written.

Every ```console and ```bash block of docs/cli.md runs, in order, in one empty folder,
through the real ``tablever`` script: a ``bash`` block is a script that must succeed
(under ``set -euo pipefail``); in a ``console`` block each ``$ command`` must print
exactly the lines shown under it (stdout and stderr; ids, commit times, the folder and
the machine's provenance normalized) and exit 0, or 1 when what it prints is an
``error:``. Every ```python
block of docs/api.md runs, in order, in one namespace and one empty folder.

``python -m tests.test_docs_cli`` prints what each command of docs/cli.md prints now,
to write the page from.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = ROOT / "docs" / "cli.md"
API_MD = ROOT / "docs" / "api.md"


@dataclass(frozen=True)
class Step:
    kind: str  # "bash" (a script) or "console" (one command and what it prints)
    code: str
    shown: str  # the output shown under a console command
    line: int  # where the page holds it


def blocks(text: str, languages: tuple[str, ...]) -> list[tuple[str, str, int]]:
    """``(language, body, line)`` of each fenced block in one of ``languages``."""
    out = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        if m.group(1) in languages:
            out.append((m.group(1), m.group(2), text.count("\n", 0, m.start()) + 2))
    return out


def steps(text: str) -> list[Step]:
    out: list[Step] = []
    for lang, body, start in blocks(text, ("console", "bash")):
        if lang == "bash":
            out.append(Step("bash", body, "", start))
            continue
        lines = body.split("\n")
        i = 0
        while i < len(lines):
            line = lines[i]
            if not line.startswith("$ "):
                assert not line.strip(), f"cli.md:{start + i}: output before any command"
                i += 1
                continue
            at = start + i
            command = line[2:]
            while command.endswith("\\"):  # continued on the next line
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            i += 1
            shown = []
            while i < len(lines) and not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            out.append(Step("console", command, "\n".join(shown), at))
    return out


_HEX = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b")
# commit times (the examples' data is of 2024): as text and as epoch milliseconds
_TIME = re.compile(r"\b(?!2024)\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?")
_MS = re.compile(r'("created_ms": )\d+')
_MACHINE = [  # where the machine's names and versions show
    (re.compile(r"\b(host\s+)[\w.-]+"), r"\1<host>"),
    (re.compile(r"\b(python\s+)\d+\.\d+\.\d+\S*?(?=,|\s|$)"), r"\1<version>"),
    (re.compile(r"\b(tablever(?:_version)?\s+)\d+\.\d+\S*?(?=,|\s|$)"), r"\1<version>"),
]


def normalized(text: str, folder: str) -> str:
    text = text.replace(folder, "/tmp/doc")
    text = _HEX.sub(lambda m: "<id>" if len(m.group()) == 12 else "<hash>", text)
    text = re.sub(r"\b[0-9a-f]{2}/<hash>", "<dir>/<hash>", text)  # a data file's path
    text = _MS.sub(r"\1<ms>", _TIME.sub("<time>", text))
    for pattern, repl in _MACHINE:
        text = pattern.sub(repl, text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT), "COLUMNS": "120", "TABLEVER_AUTHOR": "alice",
            "TZ": "UTC"}


def run_step(step: Step, folder: Path, last_code: int) -> subprocess.CompletedProcess[str]:
    # ``(exit N)`` first: ``echo $?`` shows the exit code of the command before
    code = (f"set -euo pipefail\n{step.code}" if step.kind == "bash"
            else f"(exit {last_code}); {step.code}")
    return subprocess.run(["bash", "-c", code], cwd=folder, env=_env(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)


def test_every_cli_example_runs_and_prints_what_the_page_shows(tmp_path: Path) -> None:
    folder = tmp_path.resolve()
    todo = steps(CLI_MD.read_text())
    assert sum(s.kind == "console" for s in todo) > 40
    last = 0
    for step in todo:
        done = run_step(step, folder, last)
        last = done.returncode
        where = f"docs/cli.md:{step.line}: {step.code}"
        if step.kind == "bash":
            assert done.returncode == 0, (where, done.stdout)
            continue
        shown = normalized(step.shown, "/tmp/doc")
        assert normalized(done.stdout, str(folder)) == shown, where
        expected = 1 if shown.startswith("error: ") else 0
        assert done.returncode == expected, (where, done.returncode, done.stdout)


def test_api_examples_run_in_order(tmp_path: Path) -> None:
    from tests.test_docs import _run_block

    found = blocks(API_MD.read_text(), ("python",))
    assert len(found) >= 4
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace: dict[str, object] = {}
        for _, body, line in found:
            _run_block(body, namespace, f"docs/api.md:{line}")
    finally:
        os.chdir(cwd)


def test_the_runner_reads_commands_and_their_output() -> None:
    page = ("text\n```console\n$ tablever a \\\n    --b\nout 1\n\n$ echo $?\n1\n```\n"
            "```\nnot run\n```\n```bash\ntrue\n```\n")
    assert steps(page) == [Step("console", "tablever a  --b", "out 1\n", 3),
                           Step("console", "echo $?", "1\n", 7), Step("bash", "true\n", "", 14)]
    assert normalized("version 3 (edd06b5e7066) at 2026-11-26 23:35:27 \n", "/x") == (
        "version 3 (<id>) at <time>")
    assert normalized("/x/wh/events host box-1, python 3.12.1, tablever 0.2.0", "/x") == (
        "/tmp/doc/wh/events host <host>, python <version>, tablever <version>")


if __name__ == "__main__":  # print what the page's commands print now
    with tempfile.TemporaryDirectory() as tmp:
        last = 0
        for step in steps(CLI_MD.read_text()):
            done = run_step(step, Path(tmp).resolve(), last)
            last = done.returncode
            if step.kind == "console":
                out = done.stdout.replace(str(Path(tmp).resolve()), "/tmp/doc")
                print(f"$ {step.code}   [exit {done.returncode}]\n{out}")
            elif done.returncode:
                print(f"bash block at line {step.line} failed:\n{done.stdout}")
