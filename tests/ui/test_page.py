"""The page in a real headless Chromium, checked against the library's values."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.ui.browser import chromium_path
from tests.ui.conftest import Served


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no Chromium at /usr/bin/chromium (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def context() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {missing}")
        pytest.skip(missing)
    from tests.ui.browser import browser

    with browser() as ctx:
        yield ctx


@pytest.fixture
def page(context: Any, served: Served) -> Iterator[Any]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a Content-Security-Policy violation is a console message, not a page error
    page.on("console", lambda msg: errors.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.goto(served.url)
    page.wait_for_selector("[data-testid=detail]")
    yield page
    page.close()
    assert errors == []


def detail_of(page: Any, version: int) -> Any:
    return page.wait_for_selector(f"[data-testid=detail][data-version='{version}']")


def text(page: Any, testid: str) -> str:
    return page.inner_text(f"[data-testid=detail] [data-testid={testid}]")


def test_clicking_a_version_shows_its_detail(page: Any, served: Served) -> None:
    events = served.warehouse.table("events")
    latest = events.latest()
    detail_of(page, latest.version)  # the latest is shown first
    s = events.as_of("v2.0")
    page.click(f"#v-{s.version}")
    detail_of(page, s.version)
    assert text(page, "message") == s.message
    assert text(page, "fingerprint") == s.fingerprint
    assert text(page, "content-hash") == s.content_hash
    assert text(page, "short-id") == s.short_id
    rows = text(page, "rows")
    assert rows.startswith(f"{s.num_rows} total")
    assert f"−{s.summary['deleted_rows']} removed" in rows
    runs = events.runs(s.version)
    assert runs and page.locator("[data-testid=runs] tbody tr").count() == len(runs)
    for run in runs:
        row = page.locator(f"[data-testid=runs] tr[data-run='{run.run_id}']")
        metrics = row.locator("[data-testid=metrics]").inner_text()
        for name, value in run.metrics.items():
            assert f"{name}={value}" in metrics
    head = page.locator("[data-testid=head] tbody tr")
    first = s.head(10).to_pylist()
    assert head.count() == len(first)
    assert head.nth(0).locator("td").nth(0).inner_text() == str(first[0]["id"])


def test_the_graph_shows_every_version_tags_runs_and_the_expired_gap(
    page: Any, served: Served
) -> None:
    events = served.warehouse.table("events")
    shown = [int(v) for v in page.eval_on_selector_all(
        ".vrow", "rows => rows.map(r => r.dataset.version)")]
    assert shown == [s.version for s in events.history()]
    for name, s in events.tags().items():
        assert name in page.inner_text(f"#v-{s.version} .badges")
    for run in events.runs():
        assert run.run_id in page.inner_text(f"#v-{run.version} .badges")
    assert page.inner_text("[data-testid=gap]").startswith("2 expired versions")


def test_two_versions_diff_counts(page: Any, served: Served) -> None:
    events = served.warehouse.table("events")
    a, b = events.as_of("v1.0").version - 1, events.latest().version
    page.click(f"#v-{b}")
    detail_of(page, b)
    page.select_option("#other-select", str(a))
    counts = page.wait_for_selector("[data-testid=diff-other-counts]")
    expected = events.diff(a, b, on=["id"]).summary
    shown = {
        el.get_attribute("data-count"): int(el.inner_text().split()[0])
        for el in counts.query_selector_all("[data-count]")
    }
    assert shown == expected
    assert expected["inserted"] > 0 and expected["deleted"] > 0
    # against its parent too
    parent = page.wait_for_selector("[data-testid=diff-parent-counts]")
    added = parent.query_selector("[data-count=added]")
    assert added is not None
    assert int(added.inner_text().split()[0]) == events.diff(b - 1, b).summary["added"]


def test_shift_click_picks_the_other_side(page: Any, served: Served) -> None:
    events = served.warehouse.table("events")
    update = next(s for s in events.history() if s.operation == "update")
    page.click(f"#v-{update.version}")
    detail_of(page, update.version)
    page.click(f"#v-{update.version - 1}", modifiers=["Shift"])
    page.wait_for_selector("[data-testid=diff-other-counts]")
    d = events.diff(update.version - 1, update.version, on=["id"])
    updated = page.locator("[data-testid=diff-other-counts-updated] tbody tr")
    assert updated.count() == d.summary["updated"] > 0
    row = d.updated.to_pylist()[0]
    cells = updated.nth(0).locator("td").all_inner_texts()
    column = row["_changed"][0]
    assert cells == [str(row["id"]), column, str(row["before"][column]),
                     str(row["after"][column])]


def test_arrow_keys_move_between_versions(page: Any, served: Served) -> None:
    versions = [s.version for s in served.warehouse.table("events").history()]
    detail_of(page, versions[0])
    page.keyboard.press("ArrowDown")
    detail_of(page, versions[1])
    page.keyboard.press("ArrowDown")
    detail_of(page, versions[2])
    page.keyboard.press("ArrowUp")
    detail_of(page, versions[1])
    assert page.get_attribute(f"#v-{versions[1]}", "aria-selected") == "true"


def test_time_travel_query_in_the_sql_box(page: Any, served: Served) -> None:
    events = served.warehouse.table("events")
    query = ("SELECT label, count(*) AS n FROM events VERSION AS OF 'v1.0' "
             "GROUP BY label ORDER BY label")
    page.fill("#sql-query", query)
    page.click("#sql-run")
    table = page.wait_for_selector("[data-testid=sql-result]")
    shown = [[c.inner_text() for c in tr.query_selector_all("td")]
             for tr in table.query_selector_all("tbody tr")]
    expected = events.as_of("v1.0").sql(
        "SELECT label, count(*) AS n FROM t GROUP BY label ORDER BY label").to_pylist()
    assert shown == [[r["label"], str(r["n"])] for r in expected]
    page.fill("#sql-query", "DELETE FROM events")
    page.keyboard.press("Control+Enter")
    error = page.wait_for_selector("[data-testid=sql-error]")
    assert "not allowed" in error.inner_text()
    assert events.latest().version == served.warehouse.table("events").latest().version


def test_table_switcher(page: Any, served: Served) -> None:
    labels = served.warehouse.table("labels")
    page.select_option("#table-select", "labels")
    detail_of(page, labels.latest().version)
    assert text(page, "message") == labels.latest().message
    shown = page.eval_on_selector_all(".vrow", "rows => rows.map(r => +r.dataset.version)")
    assert shown == [s.version for s in labels.history()]


def test_lineage_links_to_the_input_version(page: Any, served: Served) -> None:
    events = served.warehouse.table("events")
    labels = served.warehouse.table("labels")
    (inp,) = labels.latest().inputs
    page.select_option("#table-select", "labels")
    detail_of(page, labels.latest().version)
    link = page.wait_for_selector(f"[data-testid=inputs] [data-input='events@{inp.version}'] a")
    assert link.inner_text() == f"events v{inp.version}"
    link.click()
    detail_of(page, inp.version)
    assert text(page, "fingerprint") == events.as_of(inp.version).fingerprint


def test_narrow_window(page: Any) -> None:
    page.set_viewport_size({"width": 380, "height": 800})
    page.wait_for_timeout(100)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    graph = page.locator("#graph").bounding_box()
    detail = page.locator("[data-testid=detail]").bounding_box()
    assert graph is not None and detail is not None
    assert detail["y"] > graph["y"]  # one column: the detail comes below the versions
