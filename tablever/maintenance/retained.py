"""What the log retains: versions, expired records, checkpoints, and the files they need.

One retention clock: a version is retained when its commit file exists and no expire
record names it. Everything vacuum may delete is computed from this survey.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tablever.errors import CorruptLogError, InvalidNameError
from tablever.format.commit import check_name
from tablever.format.layout import (
    CKPT_DIR,
    CKPT_NAME,
    COMMIT_NAME,
    EXPIRED_DIR,
    EXPIRED_NAME,
    ICEBERG_DIR,
    LOG_DIR,
    RUNS_DIR,
    TAGS_DIR,
    checkpoint_path,
    commit_path,
)
from tablever.log import ExpiredVersion, Log

__all__ = [
    "CONTENT_FILE",
    "Survey",
    "referenced_paths",
    "runs",
    "survey",
]

CONTENT_FILE = re.compile(r"^(data|deletes)/([0-9a-f]{2})/([0-9a-f]{64})\.parquet\Z")
"""A content-addressed data file or deletion vector: ``<dir>/<h2>/<sha256>.parquet``."""


@dataclass(frozen=True, slots=True)
class Survey:
    """The log as it stands: retained versions, expired ones and checkpoints."""

    present: tuple[int, ...]  # versions with a commit file (ascending)
    retained: tuple[int, ...]  # present and not recorded as expired
    expired: Mapping[int, ExpiredVersion]
    checkpoints: tuple[int, ...]

    @property
    def latest(self) -> int:
        return self.retained[-1] if self.retained else -1

    def leftover_meta(self) -> list[str]:
        """Commit files and checkpoints of expired versions (an interrupted expire's)."""
        out = [commit_path(v) for v in self.present if v in self.expired]
        out += [checkpoint_path(c) for c in self.checkpoints if c in self.expired]
        return out


def survey(log: Log) -> Survey:
    present = tuple(log.list_versions())
    expired = log.read_expired()
    retained = tuple(v for v in present if v not in expired)
    return Survey(present, retained, expired, tuple(log.list_checkpoints()))


def runs(versions: Sequence[int]) -> list[list[int]]:
    """Consecutive stretches of ``versions`` (ascending)."""
    out: list[list[int]] = []
    for v in versions:
        if out and out[-1][-1] + 1 == v:
            out[-1].append(v)
        else:
            out.append([v])
    return out


def referenced_paths(log: Log, versions: Sequence[int]) -> set[str]:
    """Every data file and deletion vector any of ``versions`` reads.

    Each stretch of consecutive versions costs one state load (nearest checkpoint plus
    replay) and one commit read per version: files only enter a state through a
    commit's ``add`` or ``deletes``, so the union over a stretch is the first state's
    files plus what the later commits add. The parent chain is checked on the way.
    """
    paths: set[str] = set()
    for stretch in runs(versions):
        state, _ = log.load_state(stretch[0])
        paths.update(f.path for f in state.files.values())
        paths.update(d.path for d in state.deletes.values())
        prev = state.id
        for v in stretch[1:]:
            c = log.read_commit(v)
            if c.parent_id != prev:
                raise CorruptLogError(f"{commit_path(v)}: parent_id does not match version {v - 1}")
            paths.update(f.path for f in c.actions.add)
            paths.update(d.path for d in c.actions.deletes)
            prev = c.id
    return paths


def meta_kind(path: str) -> str | None:
    """``commit`` / ``checkpoint`` / ``tag`` / ``run`` / ``expired`` / ``iceberg`` for a known file
    under ``_tablever/``, else None."""
    head, _, name = path.rpartition("/")
    if head == LOG_DIR and COMMIT_NAME.match(name):
        return "commit"
    if head == CKPT_DIR and CKPT_NAME.match(name):
        return "checkpoint"
    if head in (TAGS_DIR, RUNS_DIR) and name.endswith(".json"):
        try:  # names stored by earlier versions (one trailing newline) count too
            check_name(name[:-5], existing=True)
        except InvalidNameError:
            return None
        return "tag" if head == TAGS_DIR else "run"
    if head == EXPIRED_DIR and EXPIRED_NAME.match(name):
        return "expired"
    if path.startswith(f"{ICEBERG_DIR}/"):
        return "iceberg"  # an export's files: not the table's, never judged
    return None
