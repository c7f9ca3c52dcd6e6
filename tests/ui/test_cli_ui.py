"""``tablever ui PATH``: prints the URL of a loopback server and serves the table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.ui.conftest import Served

ROOT = Path(__file__).resolve().parents[2]


def test_ui_serves_on_loopback_and_prints_the_url(served: Served) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tablever", "ui", str(served.root / "events"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        deadline = time.monotonic() + 30
        while True:
            try:
                body = httpx.get(found.group(0) + "api/tables", timeout=10).json()
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert body["tables"] == ["events"] and body["kind"] == "table"
    finally:
        proc.terminate()
        proc.wait(20)


def test_ui_on_a_missing_path_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tablever", "ui", str(tmp_path / "nothing")],
        capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "nothing" in done.stderr
    assert not (tmp_path / "nothing").exists()  # nothing was created
