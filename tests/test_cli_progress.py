"""Progress of ``create --from``, ``append`` and ``overwrite`` on stderr: a bar on a
terminal, nothing on a pipe (unless ``--progress``), never with ``--json`` or
``--quiet``; through the real ``tablever`` script."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tablever as tv
from tests.test_cli_first_hour import _script, run

ROWS = 300_000  # three row groups


@pytest.fixture()
def big(tmp_path: Path) -> Path:
    ids = np.arange(ROWS, dtype=np.int64)
    pq.write_table(pa.table({"id": ids, "x": ids * 0.5}), tmp_path / "big.parquet")
    return tmp_path


def _on_a_terminal(cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal and stdout on a pipe: exit code, stdout and
    what the terminal received."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*_script(), *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=slave, env={**os.environ, "COLUMNS": "100"})
    os.close(slave)
    received = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        received += chunk
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    code = proc.wait(timeout=120)
    os.close(master)
    return code, out, received.decode(errors="replace")


def test_piped_output_has_no_progress(big: Path) -> None:
    done = run(big, "create", "wh/t", "--from", "big.parquet")
    assert done.stderr == ""
    assert done.stdout.startswith("created ")
    done = run(big, "append", "wh/t", "big.parquet", "-m", "again")
    assert done.stderr == ""
    assert re.fullmatch(r"version 2 \(\w{12}\) append: \+300000/−0 rows, 600000 total — again\n",
                        done.stdout)


def test_progress_on_a_pipe_when_asked(big: Path) -> None:
    done = run(big, "create", "wh/t", "--from", "big.parquet", "--progress")
    lines = done.stderr.splitlines()
    assert lines[0] == f"rows: 0/{ROWS}" and lines[-1] == f"rows: {ROWS}/{ROWS}"
    counts = [int(re.fullmatch(r"rows: (\d+)/\d+", line).group(1))  # type: ignore[union-attr]
              for line in lines]
    assert counts == sorted(counts)
    assert done.stdout.startswith("created ")  # stdout stays the summary


def test_quiet_and_json_print_no_progress(big: Path) -> None:
    done = run(big, "create", "wh/t", "--from", "big.parquet", "--quiet", "--progress")
    assert (done.stdout, done.stderr) == ("", "")
    done = run(big, "append", "wh/t", "big.parquet", "-m", "again", "-q")
    assert (done.stdout, done.stderr) == ("", "")
    assert tv.open(big / "wh" / "t").latest().num_rows == 2 * ROWS
    done = run(big, "append", "wh/t", "big.parquet", "-m", "json", "--json", "--progress")
    assert done.stderr == ""
    assert json.loads(done.stdout)["num_rows"] == 3 * ROWS


def test_a_bar_on_a_terminal(big: Path) -> None:
    code, out, terminal = _on_a_terminal(big, "create", "wh/t", "--from", "big.parquet")
    assert code == 0
    assert out.startswith("created ")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal)
    assert f"{ROWS}/{ROWS}" in plain and "rows" in plain

    code, out, terminal = _on_a_terminal(big, "append", "wh/t", "big.parquet", "-m", "x",
                                         "--json")
    assert code == 0 and json.loads(out)["num_rows"] == 2 * ROWS
    assert "rows" not in terminal  # --json: nothing on the terminal either

    code, out, terminal = _on_a_terminal(big, "overwrite", "wh/t", "big.parquet", "-m", "y")
    assert code == 0 and "overwrite" in out
    assert f"{ROWS}/{ROWS}" in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal)
