"""Progress of long operations on stderr: a Rich bar per step on a terminal, plain lines
when asked for elsewhere (``--progress``), nothing otherwise."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["progress_bars"]

ProgressFn = Callable[[str, int, int], None]
_LABELS = {"write": "rows"}  # what a step counts, where it is not what it is named after


@contextlib.contextmanager
def progress_bars(enabled: bool, *, force: bool = False) -> Iterator[ProgressFn | None]:
    """A ``progress(step, done, total)`` callback for the library's long operations, or
    None. On a terminal (stderr), one Rich bar per step, erased when done; elsewhere
    nothing, unless ``force`` (``--progress``): then a plain line per step at most every
    second, and its last count. Never anything when not ``enabled`` (``--json``,
    ``--quiet``)."""
    out = Console(stderr=True, highlight=False)
    if not enabled or not (out.is_terminal or force):  # nothing on a pipe or in a log
        yield None
        return
    if not out.is_terminal:
        yield _progress_lines()
        return
    with Progress(
        TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=out, transient=True,
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(_LABELS.get(step, step), total=max(total, 1))
            bars.update(tasks[step], completed=done, total=max(total, 1))

        yield update


def _progress_lines() -> ProgressFn:
    shown: dict[str, float] = {}

    def update(step: str, done: int, total: int) -> None:
        now = time.monotonic()
        if step in shown and done < total and now - shown[step] < 1.0:
            return
        shown[step] = now
        sys.stderr.write(f"{_LABELS.get(step, step)}: {done}/{total}\n")
        sys.stderr.flush()

    return update
