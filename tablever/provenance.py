"""Provenance captured on every commit: who, where, with which code."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import threading
import time
from typing import Any

__all__ = ["author", "capture"]

_lock = threading.Lock()
_static: dict[str, Any] | None = None
_git_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_GIT_TTL = 5.0


def author() -> str:
    env = os.environ.get("TABLEVER_AUTHOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def _static_part() -> dict[str, Any]:
    global _static
    if _static is None:
        from tablever.version import __version__

        _static = {
            "tablever_version": __version__,
            "python": platform.python_version(),
            "user": author(),
            "host": socket.gethostname(),
        }
    return _static


def _git(cwd: str) -> dict[str, Any]:
    now = time.monotonic()
    with _lock:
        hit = _git_cache.get(cwd)
        if hit and now - hit[0] < _GIT_TTL:
            return hit[1]
    out: dict[str, Any] = {}
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if sha.returncode == 0:
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=cwd, capture_output=True, text=True, timeout=10,
            )
            out = {"git_commit": sha.stdout.strip(), "git_dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        out = {}
    with _lock:
        _git_cache[cwd] = (now, out)
    return out


def capture() -> dict[str, Any]:
    """Provenance for a commit made now by this process."""
    info = dict(_static_part())
    try:
        cwd = os.getcwd()
    except OSError:
        return info
    info.update(_git(cwd))
    return info
