"""docs/sql.md runs: every ```sql block, and every row of the statement reference with
the status it claims."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv

PAGE = Path(__file__).resolve().parent.parent / "docs" / "sql.md"
SCHEMA = pa.schema([("id", pa.int64()), ("label", pa.string()), ("confidence", pa.float64())])


def _warehouse(root: Path) -> tv.Warehouse:
    """The page's warehouse: events (tags v1.0, v2.0), users, staging, bad_ids."""
    wh = tv.Warehouse(root / "wh")
    events = wh.create("events", schema=SCHEMA)
    events.append(pa.table({"id": [1, 2, 3], "label": ["cat", "dog", "cat"],
                            "confidence": [0.9, 0.4, 0.8]}, schema=SCHEMA), message="day 1")
    events.tag("v1.0")
    events.filter("confidence >= 0.7", message="drop low-confidence labels")
    events.tag("v2.0")
    events.update({"label": "'lynx'"}, where="id = 3", message="relabel")
    wh.create("users", data=pa.table({"id": [1, 4], "name": ["ann", "bo"]}))
    wh.create("staging", data=pa.table({"id": [7], "label": ["owl"], "confidence": [0.75]},
                                       schema=SCHEMA))
    wh.create("bad_ids", data=pa.table({"id": [2]}))
    for _ in range(4):  # bad_ids AT (VERSION => 4)
        wh.table("bad_ids").append(pa.table({"id": [9]}))
    return wh


def _reference_rows() -> list[tuple[str, str, str]]:
    text = PAGE.read_text()
    section = text.split("## Statement reference", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 4 or cells[2] not in ("supported", "refused", "not yet"):
            continue
        example = re.fullmatch(r"`(.*)`", cells[1])
        assert example, line
        rows.append((cells[0], example.group(1), cells[2]))
    return rows


REFERENCE = _reference_rows()


def test_the_reference_covers_the_statements() -> None:
    named = " ".join(r[0] for r in REFERENCE)
    for word in ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "MERGE",
                 "COPY", "ATTACH", "PRAGMA", "SET", "EXPORT", "DESCRIBE", "SHOW", "EXPLAIN",
                 "BEGIN", "TRUNCATE", "INSTALL", "VACUUM", "table functions"):
        assert word in named, word
    statuses = {r[2] for r in REFERENCE}
    assert {"supported", "refused"} <= statuses <= {"supported", "refused", "not yet"}


@pytest.mark.parametrize(("what", "sql", "status"), REFERENCE, ids=[r[0] for r in REFERENCE])
def test_statement_reference_is_true(tmp_path: Path, what: str, sql: str, status: str) -> None:
    wh = _warehouse(tmp_path)
    versions = {name: wh.table(name).latest().version for name in wh.tables()}
    if status == "supported":
        assert isinstance(wh.sql(sql), pa.Table)
        return
    with pytest.raises(tv.TableverError) as info:
        wh.sql(sql)
    if status == "not yet":
        assert "not supported yet" in str(info.value)
    # a refused statement changes nothing
    assert {name: wh.table(name).latest().version for name in wh.tables()} == versions


def _sql_statements() -> list[str]:
    out = []
    for block in re.findall(r"```sql\n(.*?)```", PAGE.read_text(), re.S):
        parts = re.split(r";\s*\n", block.strip())
        out += [p.strip().rstrip(";") for p in parts if p.strip()]
    return out


STATEMENTS = _sql_statements()
# The page says so: a time before the table's first commit names no version.
_TOO_EARLY = re.compile(r"INTERVAL 1 (DAY|HOUR)|'2024-06-01")


def test_the_page_has_sql_examples() -> None:
    assert len(STATEMENTS) >= 10


@pytest.mark.parametrize("sql", STATEMENTS)
def test_sql_examples_run(tmp_path: Path, sql: str) -> None:
    wh = _warehouse(tmp_path)
    if _TOO_EARLY.search(sql):
        with pytest.raises(tv.RefNotFoundError):
            wh.sql(sql)
        return
    assert isinstance(wh.sql(sql), pa.Table)
