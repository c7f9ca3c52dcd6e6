"""The ``tablever`` script as a process: its exit codes, and all of its output reaching a
pipe, now that it ends without the interpreter's teardown (``tablever.cli.script``)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv


def _cmd(module: bool = False) -> list[str]:
    """The installed ``tablever`` script, or ``python -m tablever``."""
    exe = Path(sys.executable).with_name("tablever")
    return [str(exe)] if exe.exists() and not module else [sys.executable, "-m", "tablever"]


@pytest.mark.parametrize("module", [False, True], ids=["script", "python -m"])
def test_every_row_reaches_the_pipe_and_the_codes_are_kept(tmp_path: Path, module: bool) -> None:
    n = 60_000  # several megabytes of CSV: more than any pipe or stdio buffer holds
    rows = pa.table({"id": pa.array(range(n), pa.int64()),
                     "label": [f"row-{i:06d}" for i in range(n)]})
    tv.create(tmp_path / "t", rows, data=rows)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*_cmd(module), *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    done = run("read", "t", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == n and rows[-1] == {"id": str(n - 1), "label": f"row-{n - 1:06d}"}

    missing = run("log", "nope")  # a TableverError: 1, with its message
    assert missing.returncode == 1 and missing.stderr.startswith("error: "), missing.stderr
    usage = run("no-such-verb")  # a usage error: 2
    assert usage.returncode == 2 and "No such command" in usage.stderr


def test_a_closed_pipe_ends_the_script_quietly(tmp_path: Path) -> None:
    """``tablever read t | head -1``: the reader goes away; the script ends without a
    traceback about the flush at exit."""
    rows = pa.table({"id": pa.array(range(200_000), pa.int64())})
    tv.create(tmp_path / "t", rows, data=rows)
    proc = subprocess.Popen([*_cmd(), "read", "t", "--format", "csv"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip().strip(b'"') == b"id"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "terminate called" not in err, err
