"""DROP TABLE is a commit: the table leaves the warehouse's list, its history stays
readable by version and time, and restoring a version brings it back."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

import tablever as tv


@pytest.fixture()
def wh(tmp_path: Path) -> tv.Warehouse:
    w = tv.Warehouse(tmp_path / "wh")
    t = w.create("events", data=pa.table({"id": pa.array([1, 2, 3], pa.int64())}))
    t.append(pa.table({"id": pa.array([4], pa.int64())}))
    w.create("other", data=pa.table({"id": pa.array([9], pa.int64())}))
    return w


def test_drop_table_keeps_the_history_and_restore_brings_it_back(wh: tv.Warehouse) -> None:
    before = wh.table("events").latest()
    time.sleep(0.01)
    stamp = before.timestamp.isoformat()
    assert wh.sql("DROP TABLE events").to_pylist() == [{"count": 1}]
    assert wh.tables() == ["other"] and wh.tables(dropped=True) == ["events", "other"]
    assert wh.sql("SHOW TABLES").column(0).to_pylist() == ["other"]
    t = wh.table("events", dropped=True)
    snap = t.latest()
    assert snap.operation == "drop" and snap.num_rows == 0 and t.dropped == snap.version
    # the history reads by version and by time
    assert wh.sql("SELECT count(*) AS n FROM events VERSION AS OF 2").to_pylist() == [{"n": 4}]
    assert wh.sql(f"SELECT count(*) AS n FROM events TIMESTAMP AS OF '{stamp}'"
                  ).to_pylist() == [{"n": 4}]
    # reading or writing it as it is now says it was dropped, and how to get it back
    for query in ("SELECT * FROM events", "INSERT INTO events VALUES (5)",
                  "DELETE FROM events", "MERGE INTO events USING other ON true "
                  "WHEN MATCHED THEN DELETE"):
        with pytest.raises(tv.TableDroppedError, match="dropped at version 3.*restore"):
            wh.sql(query)
    with pytest.raises(tv.TableDroppedError):
        wh.table("events")
    with pytest.raises(tv.TableExistsError, match="was dropped"):
        wh.sql("CREATE TABLE events (id BIGINT)")
    with pytest.raises(tv.TableDroppedError):
        wh.sql("DROP TABLE events")
    assert wh.sql("DROP TABLE IF EXISTS events").to_pylist() == [{"count": 0}]
    assert wh.table("events", dropped=True).latest().version == 3  # nothing more committed
    # tablever restore of a version from before the drop undoes it
    back = t.restore(2)
    assert back.num_rows == 4 and t.dropped is None and wh.tables() == ["events", "other"]
    assert wh.sql("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 4}]


def test_drop_refusals(wh: tv.Warehouse) -> None:
    with pytest.raises(tv.TableNotFoundError, match="nope"):
        wh.sql("DROP TABLE nope")
    assert wh.sql("DROP TABLE IF EXISTS nope").to_pylist() == [{"count": 0}]
    for query in ("DROP VIEW events", "DROP SCHEMA main", "DROP TABLE events CASCADE"):
        with pytest.raises(tv.TableverError, match="DROP"):
            wh.sql(query)
    assert wh.tables() == ["events", "other"]


def test_python_and_cli_drop(wh: tv.Warehouse) -> None:
    from typer.testing import CliRunner

    from tablever.cli import app

    wh.drop("other")
    assert wh.tables() == ["events"]
    out = CliRunner().invoke(app, ["restore", f"{wh.path}/other", "1"])
    assert out.exit_code == 0, out.output
    assert wh.tables() == ["events", "other"]
