"""The documentation runs: module doctests and the README quickstart."""

from __future__ import annotations

import doctest
import os
import re
from pathlib import Path

import pytest

import tablever

ROOT = Path(__file__).resolve().parent.parent


def _modules_with_examples() -> list[str]:
    """Every tablever module whose docstrings hold an example."""
    out = []
    for path in sorted((ROOT / "tablever").rglob("*.py")):
        if ">>> " in path.read_text():
            parts = path.relative_to(ROOT).with_suffix("").parts
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


@pytest.mark.parametrize("name", _modules_with_examples())
def test_doctests(name: str) -> None:
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, raise_on_error=False, verbose=False)
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


# --- every python example of the pages the command line and SQL own ------------------------

_RAISES = re.compile(r"^# (\w+Error)\b")


def _python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.S)


def _run_block(code: str, namespace: dict[str, object], where: str) -> None:
    """Run ``code``; a line followed by a ``# SomeError: ...`` comment must raise it."""
    lines = code.splitlines()
    chunk: list[str] = []
    for i, line in enumerate(lines):
        m = _RAISES.match(lines[i + 1]) if i + 1 < len(lines) else None
        if m is None:
            chunk.append(line)
            continue
        exec(compile("\n".join(chunk), where, "exec"), namespace)
        chunk = []
        error = getattr(tablever, m.group(1), None) or __builtins__[m.group(1)]  # type: ignore[index]
        with pytest.raises(error):
            exec(compile(line, where, "exec"), namespace)
    exec(compile("\n".join(chunk), where, "exec"), namespace)


def _story(tmp_path: Path) -> None:
    """The README's table: wh/events with tags v1.0 and v2.0."""
    import pyarrow as pa

    t = tablever.create(tmp_path / "wh" / "events", schema=pa.schema([
        ("id", pa.int64()), ("label", pa.string()), ("confidence", pa.float64())]))
    t.append(pa.table({"id": [1, 2, 3], "label": ["cat", "dog", "cat"],
                       "confidence": [0.9, 0.4, 0.8]}), message="day 1 labels")
    t.tag("v1.0")
    t.filter("confidence >= 0.7", message="drop low-confidence labels")
    t.tag("v2.0")


@pytest.mark.parametrize("page", ["docs/sql.md", "docs/ml.md", "docs/iceberg.md"])
def test_python_examples_run_as_written(page: str, tmp_path: Path) -> None:
    blocks = _python_blocks(page)
    assert blocks
    _story(tmp_path)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace: dict[str, object] = {}
        for i, block in enumerate(blocks):
            _run_block(block, namespace, f"{page} example {i + 1}")
    finally:
        os.chdir(cwd)
