"""An error in SQL prints the statement's line and a caret under the wrong token, on their
own lines, as DuckDB does (``LINE 1: SELECT nosuch ...`` then ``^^^^^^``), through the
real ``tablever`` script."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tablever as tv
from tests.test_cli_first_hour import run


@pytest.fixture()
def wh(tmp_path: Path) -> Path:
    t = tv.create(tmp_path / "wh" / "events", schema=pa.schema(
        [("id", pa.int64()), ("label", pa.string())]))
    t.append(pa.table({"id": [1, 2], "label": ["cat", "dog"]}), message="two rows")
    return tmp_path


def _stderr(cwd: Path, *args: str) -> list[str]:
    done = run(cwd, *args, code=1)
    assert done.stdout == ""
    return done.stderr.rstrip("\n").split("\n")


def _duckdb_pointer(sql: str) -> list[str]:
    """The ``LINE n: ...`` and caret lines DuckDB itself prints for ``sql`` over a table
    ``events`` with the same columns."""
    conn = duckdb.connect()
    conn.execute("CREATE TABLE events (id BIGINT, label VARCHAR)")
    with pytest.raises(duckdb.Error) as info:
        conn.execute(sql)
    lines = str(info.value).split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("LINE "))
    return lines[at:at + 2]


@pytest.mark.parametrize("sql", [
    "SELECT nosuch FROM events",
    "SELECT id, label FROM events WHERE lable = 'cat'",
    "SELECT id,\n       nosuch\nFROM events",
    "SELECT id, count(*) FROM events",
])
def test_binder_error_points_where_duckdb_does(wh: Path, sql: str) -> None:
    lines = _stderr(wh, "sql", sql, "-C", "wh")
    assert lines[0].startswith("error: invalid SQL: "), lines
    assert lines[1:3] == _duckdb_pointer(sql), lines
    assert len(lines) == 3


def test_syntax_error_points_at_the_token(wh: Path) -> None:
    lines = _stderr(wh, "sql", "SELECT id FROM events WHERE label = 'cat' ORDER id", "-C", "wh")
    assert re.fullmatch(r"error: invalid SQL at line 1, column 43: .*", lines[0]), lines
    assert lines[1] == "LINE 1: SELECT id FROM events WHERE label = 'cat' ORDER id"
    assert lines[2] == " " * len("LINE 1: SELECT id FROM events WHERE label = 'cat' ") + "^^^^^"
    assert len(lines) == 3

    # on the second line of a statement, an unterminated string
    lines = _stderr(wh, "sql", "SELECT id\nFROM events WHERE label = 'cat", "-C", "wh")
    assert lines[0] == "error: invalid SQL at line 2, column 27: unterminated '"
    assert lines[1:] == ["LINE 2: FROM events WHERE label = 'cat",
                         "                                  ^"]


def test_a_predicate_error_points_too(wh: Path) -> None:
    lines = _stderr(wh, "delete", "wh/events", "id > 1 AND nosuch = 2", "-m", "typo")
    assert lines == [
        "error: predicate 'id > 1 AND nosuch = 2' names unknown column(s) nosuch; columns are: "
        "id, label",
        "LINE 1: id > 1 AND nosuch = 2",
        "                   ^^^^^^",
    ]
    assert tv.open(wh / "wh" / "events").latest().version == 1  # nothing committed


def test_without_a_position_the_error_stays_one_line(wh: Path) -> None:
    lines = _stderr(wh, "sql", "SELECT * FROM nope", "-C", "wh")
    assert lines == ["error: no table at 'nope' (tables here: events)"]


def test_a_long_line_is_shown_around_the_caret(wh: Path) -> None:
    before = ", ".join(f"id + {i} AS c{i}" for i in range(30))
    after = ", ".join(f"id AS d{i}" for i in range(20))
    sql = f"SELECT {before}, nosuch, {after} FROM events"
    lines = _stderr(wh, "sql", sql, "-C", "wh")
    assert lines[0] == ('error: invalid SQL: Binder Error: Referenced column "nosuch" not found '
                        "in FROM clause!")
    assert lines[1].startswith("LINE 1: ...") and lines[1].endswith("...")
    assert len(lines[1]) == len("LINE 1: ") + 3 + 100 + 3
    caret = lines[2].index("^")
    assert lines[1][caret:caret + 6] == "nosuch" and lines[2].strip() == "^^^^^^"
    shown = lines[1][len("LINE 1: ..."):-3]
    assert shown in sql  # a window of the statement itself
