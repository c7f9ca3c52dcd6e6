"""The one rule set for refs (format/refs.py), with the log passed in as functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tablever as tv
from tablever.format.refs import History, VersionInfo, resolve_ref

VERSIONS = [VersionInfo(v, f"{v:02d}" + "ab" * 31, 1_000 * (v + 1)) for v in range(5)]


def history(tags: dict[str, int], asked: list[str]) -> History:
    def note(name: str, value: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            asked.append(name)
            return value()
        return call

    return History(
        latest=note("latest", lambda: 4),
        tag=lambda name: tags.get(name),
        versions=note("versions", lambda: VERSIONS),
        tags=note("tags", lambda: tags),
        expired=note("expired", dict),
    )


@pytest.mark.parametrize(("ref", "expected", "needs"), [
    (None, (4, None), ["latest"]),
    (2, (2, None), []),
    (-1, (4, None), ["latest"]),
    ("-2", (3, None), ["latest"]),
    ("3", (3, None), []),
    ("latest", (4, None), ["latest"]),
    ("gold", (1, "gold"), []),
    ("7", (0, "7"), []),  # a tag named like a number wins
    ("02abab", (2, None), ["expired", "versions", "tags"]),
])
def test_refs_read_by_one_rule(ref: Any, expected: tuple[int, str | None],
                               needs: list[str]) -> None:
    asked: list[str] = []
    assert resolve_ref(ref, history({"gold": 1, "7": 0}, asked)) == expected
    assert asked == needs  # a tag or a version number never lists the log


def test_counting_back_past_version_zero_names_nothing() -> None:
    with pytest.raises(tv.RefNotFoundError):
        resolve_ref("-6", history({}, []))


def test_the_library_reads_refs_as_the_command_line_does(tmp_path: Path) -> None:
    t = tv.create(tmp_path / "t", schema=pa.schema([("x", pa.int64())]))
    for i in range(3):
        t.append(pa.table({"x": pa.array([i], pa.int64())}))
    assert t.as_of("-2").version == t.as_of(-2).version == 2
    t.tag("1", ref=3)
    assert t.as_of("1").version == 3 and t.as_of(1).version == 1
