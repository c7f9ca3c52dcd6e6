"""The screenshot script runs and writes real images (docs/ holds the committed ones)."""

from __future__ import annotations

from pathlib import Path

from tests.ui.test_page import context  # noqa: F401 - skips or fails as the page tests do


def test_screenshots_are_made(tmp_path: Path, context: object) -> None:  # noqa: F811
    from tests.ui.screenshots import shoot

    written = shoot(tmp_path, context)
    assert [p.name for p in written] == ["ui-version.png", "ui-diff.png", "ui-sql.png",
                                         "ui-narrow.png"]
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
