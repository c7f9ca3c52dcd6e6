"""The JSON endpoints of ``tablever ui`` against a real server, checked against the
library's own values."""

from __future__ import annotations

import httpx
import pytest

import tablever as tv
from tests.conftest import table_files
from tests.ui.conftest import Served


def get(served: Served, path: str, **params: str) -> httpx.Response:
    return httpx.get(served.url.rstrip("/") + path, params=params, timeout=60)


def test_tables_lists_the_warehouse(served: Served) -> None:
    body = get(served, "/api/tables").json()
    assert body["kind"] == "warehouse"
    assert body["tables"] == served.warehouse.tables() == ["events", "labels"]


def test_a_table_path_serves_that_table_alone(served_table: Served) -> None:
    body = get(served_table, "/api/tables").json()
    assert (body["kind"], body["tables"]) == ("table", ["events"])
    assert get(served_table, "/api/tables/labels/graph").status_code == 404


def test_graph_matches_history_tags_runs_and_expiry(served: Served) -> None:
    events = served.warehouse.table("events")
    body = get(served, "/api/tables/events/graph").json()
    history = events.history()
    assert [v["version"] for v in body["versions"]] == [s.version for s in history]
    assert [v["id"] for v in body["versions"]] == [s.id for s in history]
    assert [v["num_rows"] for v in body["versions"]] == [s.num_rows for s in history]
    by_version = {v["version"]: v for v in body["versions"]}
    assert {n: s.version for n, s in events.tags().items()} == {
        t: v["version"] for v in body["versions"] for t in v["tags"]}
    assert {r.run_id: dict(r.metrics) for r in events.runs()} == {
        r["run_id"]: r["metrics"] for v in body["versions"] for r in v["runs"]}
    restore = next(s for s in history if s.operation == "restore")
    assert by_version[restore.version]["restored_version"] == restore.properties[
        "restored_version"] == events.as_of("v2.0").version
    oldest = history[-1]
    assert by_version[oldest.version]["parent_version"] is None  # its parent expired
    expired = sorted(events.log.read_expired())
    assert [e["version"] for e in body["expired"]] == expired == [0, 1]
    assert body["gaps"] == [{"after": None, "before": oldest.version, "versions": 2}]
    for s in history[:-1]:
        assert by_version[s.version]["parent_version"] == s.version - 1


def test_version_detail_matches_the_snapshot(served: Served) -> None:
    events = served.warehouse.table("events")
    s = events.as_of("v2.0")
    body = get(served, f"/api/tables/events/versions/{s.version}", rows="5").json()
    assert body["id"] == s.id and body["fingerprint"] == s.fingerprint
    assert body["content_hash"] == s.content_hash
    assert (body["message"], body["operation"]) == (s.message, s.operation)
    assert body["num_rows"] == s.num_rows
    assert body["deleted_rows"] == s.summary["deleted_rows"]
    assert body["head"] == s.head(5).to_pylist()
    assert [c["name"] for c in body["schema"]] == s.schema.names
    assert [r["run_id"] for r in body["runs"]] == [r.run_id for r in events.runs("v2.0")]
    assert body["tags"] == ["v2.0"]
    # a tag is a ref too, and the new column of the latest version is its schema change
    assert get(served, "/api/tables/events/versions/v2.0").json()["id"] == s.id
    latest = get(served, "/api/tables/events/versions/latest").json()
    assert latest["schema_changes"]["added"] == ["source"]


def test_diff_counts_and_changes_by_key(served: Served) -> None:
    events = served.warehouse.table("events")
    update = next(s for s in events.history() if s.operation == "update")
    d = events.diff(update.version - 1, update.version, on=["id"])
    body = get(served, "/api/tables/events/diff", a=str(update.version - 1),
               b=str(update.version), on="id").json()
    assert body["summary"] == d.summary and d.summary["updated"] > 0
    changed = {u["key"]["id"]: u["changes"] for u in body["updated"]}
    for row in d.updated.to_pylist():
        assert changed[row["id"]] == [
            {"column": c, "before": row["before"][c], "after": row["after"][c]}
            for c in row["_changed"]]
    whole = get(served, "/api/tables/events/diff", a="v1.0", b="v2.0", sample="3").json()
    summary = events.diff("v1.0", "v2.0").summary
    assert whole["summary"] == summary and len(whole["removed"]) == 3


def test_sql_time_travel_with_a_row_limit(served: Served) -> None:
    events = served.warehouse.table("events")
    body = get(served, "/api/sql",
               q="SELECT count(*) AS n FROM events VERSION AS OF 'v1.0'").json()
    assert body["rows"] == [[events.as_of("v1.0").num_rows]]
    wide = get(served, "/api/sql", q="SELECT id FROM events ORDER BY id").json()
    ids = sorted(events.latest().to_arrow().column("id").to_pylist())
    assert wide["truncated"] and wide["row_limit"] == 50
    assert [r[0] for r in wide["rows"]] == ids[:50]
    few = get(served, "/api/sql", q="SELECT id FROM events ORDER BY id LIMIT 3").json()
    assert [r[0] for r in few["rows"]] == ids[:3] and not few["truncated"]


def test_sql_box_never_writes(served: Served) -> None:
    root = served.root / "events"
    before = table_files(root)
    version = served.warehouse.table("events").latest().version
    for q in ("DELETE FROM events", "INSERT INTO labels VALUES ('x')",
              "UPDATE events SET label = 'x'", "COPY events TO '/tmp/x.csv'",
              "SELECT * FROM read_csv('/etc/passwd')"):
        r = get(served, "/api/sql", q=q)
        assert r.status_code == 400, q
        assert r.json()["error"]
    assert table_files(root) == before
    assert tv.open(root).latest().version == version


def test_sql_stops_a_query_past_its_time_limit(served: Served) -> None:
    from tablever.ui.sqlbox import QueryTimeoutError, SqlBox

    box = SqlBox(str(served.root), "warehouse", timeout=3.0, max_rows=5)
    try:
        slow = ("SELECT count(*) FROM events a, events b, events c, events d "
                "WHERE a.x1 + b.x1 + c.x1 + d.x1 > 100")
        with pytest.raises(QueryTimeoutError, match="longer than 3 s"):
            box.run(slow)
        assert box.run("SELECT count(*) AS n FROM labels")["rows"] == [[3]]
    finally:
        box.stop()


@pytest.mark.parametrize(("path", "needle"), [
    ("/api/tables/nope/graph", "nope"),
    ("/api/tables/events/versions/99", "99"),
    ("/api/tables/events/versions/no-such-tag", "no-such-tag"),
    ("/api/tables/events/diff?a=0", "expired"),
    ("/api/nothing", "/api/nothing"),
])
def test_unknown_table_or_version_is_404_with_a_message(served: Served, path: str,
                                                        needle: str) -> None:
    r = httpx.get(served.url.rstrip("/") + path, timeout=60)
    assert r.status_code == 404
    assert needle in r.json()["error"]


def test_bad_arguments_are_400(served: Served) -> None:
    assert get(served, "/api/tables/events/diff").status_code == 400
    r = get(served, "/api/tables/events/diff", a="2", on="nokey")
    assert r.status_code == 400 and "nokey" in r.json()["error"]
    assert get(served, "/api/tables/events/versions/2", rows="x").status_code == 400
    assert get(served, "/api/sql", q="SELEC 1").status_code == 400


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get(served: Served, method: str) -> None:
    for path in ("/", "/api/tables", "/api/tables/events/graph", "/api/sql?q=select+1"):
        r = httpx.request(method, served.url.rstrip("/") + path, timeout=60)
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, HEAD"


def test_foreign_host_header_is_refused(served: Served) -> None:
    url = served.url.rstrip("/") + "/api/tables"
    for host in ("evil.example", f"evil.example:{served.port}", "127.0.0.1:1",
                 f"127.0.0.1.nip.io:{served.port}"):
        r = httpx.get(url, headers={"Host": host}, timeout=60)
        assert r.status_code == 403, host
    for host in (f"localhost:{served.port}", f"127.0.0.1:{served.port}"):
        assert httpx.get(url, headers={"Host": host}, timeout=60).status_code == 200


def test_page_and_assets_are_served(served: Served) -> None:
    page = httpx.get(served.url, timeout=60)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("app.js", "style.css"):
        assert httpx.get(f"{served.url}static/{asset}", timeout=60).status_code == 200


def test_every_answer_carries_a_content_security_policy(served: Served) -> None:
    # the browser tests (test_page.py) run the page under this same policy
    base = served.url.rstrip("/")
    answers = [httpx.get(base + p, timeout=60) for p in
               ("/", "/static/app.js", "/api/tables", "/api/tables/nope/graph")]
    answers.append(httpx.post(base + "/api/tables", timeout=60))
    answers.append(httpx.get(base + "/api/tables", headers={"Host": "evil.example"},
                             timeout=60))
    assert [r.status_code for r in answers] == [200, 200, 200, 404, 405, 403]
    for r in answers:
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers.get_list("content-security-policy") == [csp]


def test_runs_link_to_mlflow_only_with_an_http_tracking_uri(served: Served) -> None:
    from starlette.testclient import TestClient

    from tablever.ui.model import open_source
    from tablever.ui.server import make_app

    events = served.warehouse.table("events")
    version = events.as_of("v2.0").version
    for uri, expected in (
        ("http://mlflow.local:5000/", "http://mlflow.local:5000/#/experiments/1/runs/run-2"),
        ("sqlite:///mlflow.db", None),
    ):
        app = make_app(open_source(str(served.root)), tracking_uri=uri,
                       hosts=("testserver",))
        with TestClient(app, base_url="http://testserver:80") as client:
            body = client.get(f"/api/tables/events/versions/{version}").json()
        assert [r["mlflow_url"] for r in body["runs"]] == [expected]
    body = get(served, f"/api/tables/events/versions/{version}").json()
    assert [r["mlflow_url"] for r in body["runs"]] == [None]  # no tracking URI given
