"""The documentation runs: module doctests and the README quickstart."""

from __future__ import annotations

import doctest
import os
import re
from pathlib import Path

import pytest

import tablever
import tablever.snapshot
import tablever.table

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", [tablever, tablever.table, tablever.snapshot])
def test_doctests(module: object) -> None:
    result = doctest.testmod(module, raise_on_error=False, verbose=False)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_quickstart_runs_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quickstart\s+```python\n(.*?)```", text, re.S)
    assert block is not None
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(block.group(1), "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "{'added': 0, 'removed': 1}" in out
    assert (tmp_path / "wh" / "events" / "_tablever" / "log").is_dir()
    assert (tmp_path / "training-data.lock").is_file()
