"""Headless Chromium for the page's tests and screenshots: the system's (Debian package
``chromium``), driven by Playwright, with no network of its own."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    """The Chromium binary to use: /usr/bin/chromium, else one on PATH, else None."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def browser() -> Iterator[Any]:
    """A Playwright browser context on the system Chromium with a fresh profile."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    assert path is not None, "no Chromium: apt-get install -y chromium"
    profile = tempfile.mkdtemp(prefix="tablever-ui-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=path, headless=True,
                args=ARGS,  # Playwright passes the fresh profile as --user-data-dir
                viewport={"width": 1280, "height": 900},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
