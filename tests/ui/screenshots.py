"""Screenshots of the page for docs/ (``make screenshots``): the demo-like warehouse,
served by the real server, in headless Chromium.

    python -m tests.ui.screenshots docs
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from tests.ui.browser import browser
from tests.ui.conftest import _serve
from tests.ui.demo import build


def shoot(out: Path, context: Any = None) -> list[Path]:
    """Write the page's screenshots into ``out`` (with ``context``, a browser context
    already open, else a new one)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "wh"
        wh = build(root)
        events = wh.table("events")
        for url, _ in _serve(str(root)):
            with nullcontext(context) if context is not None else browser() as ctx:
                page = ctx.new_page()
                page.set_viewport_size({"width": 1280, "height": 1000})
                page.goto(url)
                v2 = events.as_of("v2.0").version
                page.click(f"#v-{v2}")
                page.wait_for_selector(f"[data-testid=detail][data-version='{v2}']")
                page.wait_for_selector("[data-testid=diff-parent-counts]")
                written.append(out / "ui-version.png")
                page.screenshot(path=written[-1])
                update = next(s for s in events.history() if s.operation == "update")
                page.click(f"#v-{update.version}")
                page.wait_for_selector(f"[data-testid=detail][data-version='{update.version}']")
                page.wait_for_selector("[data-testid=diff-parent-counts-updated]")
                page.locator("#diff-parent").scroll_into_view_if_needed()
                written.append(out / "ui-diff.png")
                page.screenshot(path=written[-1])
                page.fill("#sql-query", "SELECT label, count(*) AS n FROM events "
                          "VERSION AS OF 'v1.0' GROUP BY label ORDER BY label")
                page.click("#sql-run")
                page.wait_for_selector("[data-testid=sql-result]")
                page.locator(".sql").scroll_into_view_if_needed()
                written.append(out / "ui-sql.png")
                page.screenshot(path=written[-1])
                page.set_viewport_size({"width": 400, "height": 860})
                page.evaluate("window.scrollTo(0, 0)")
                written.append(out / "ui-narrow.png")
                page.screenshot(path=written[-1])
    return written


def main() -> None:
    for path in shoot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(path)


if __name__ == "__main__":
    main()
