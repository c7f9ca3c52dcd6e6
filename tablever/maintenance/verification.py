"""Verify: re-hash every file of every retained version and check the log end to end.

Checks, each problem naming the file at fault:

- every commit file parses and its id matches its content (``from_json``);
- the hash chain: each retained version's parent is the version before it (across an
  expired stretch: the id the expiry recorded), and each summary matches its state;
- every stretch of retained versions after an expired one has its checkpoint, and it
  agrees with the commit it embeds and the ids it lists;
- every other checkpoint agrees with the state the log rebuilds;
- tags and runs point at retained versions with the right id;
- every data file and deletion vector a retained version needs exists, has the
  recorded size and SHA-256 (each file hashed once);
- unexpected files under ``data/``, ``deletes/`` and ``_tablever/``.

Unreferenced files (vacuum's work) are listed as ``orphans``, not problems.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tablever.errors import CorruptLogError, TableverError
from tablever.format.commit import Commit, DataFile, DeleteVector
from tablever.format.layout import ROOTS, checkpoint_path, commit_path, run_path, tag_path
from tablever.format.state import TableState, apply, empty_state
from tablever.maintenance.retained import CONTENT_FILE, meta_kind, runs, survey
from tablever.storage import TMP_PREFIX, Storage

if TYPE_CHECKING:
    from tablever.table import Table

__all__ = ["Report", "verify"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of :func:`verify`. ``ok`` when there are no problems; orphans
    (unreferenced files that vacuum removes) are not problems."""

    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    versions_checked: int = 0
    files_checked: int = 0
    bytes_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "orphans": list(self.orphans),
            "versions_checked": self.versions_checked,
            "files_checked": self.files_checked,
            "bytes_checked": self.bytes_checked,
        }


@dataclass(slots=True)
class _Need:
    """A file some retained version reads."""

    sha256: str
    size: int | None  # bytes recorded for data files; None for deletion vectors
    version: int  # the first retained version that needs it
    kind: str  # "data file" | "deletion vector"


Totals = tuple[int, int, int]  # live rows, files, bytes


def _totals(state: TableState) -> Totals:
    return state.num_rows, len(state.files), state.total_bytes


def _step(prev: TableState, c: Commit, totals: Totals) -> Totals:
    """The totals after ``c`` (already applied without error) from those before it:
    O(actions), where summing the new state would be O(live files) per version."""
    rows, files, nbytes = totals
    removed = set(c.actions.remove)
    for key in removed:
        f = prev.files[key]
        files, nbytes, rows = files - 1, nbytes - f.bytes, rows - prev.live_rows(key)
    for f in c.actions.add:
        files, nbytes, rows = files + 1, nbytes + f.bytes, rows + f.rows
    for dv in {d.key: d for d in c.actions.deletes}.values():
        old = None if dv.key in removed else prev.deletes.get(dv.key)
        rows -= dv.rows - (old.rows if old else 0)
    return rows, files, nbytes


def _summary_problems(c: Commit, totals: Totals, where: str) -> list[str]:
    problems = []
    for key, actual in zip(("total_rows", "total_files", "total_bytes"), totals, strict=True):
        if c.summary.get(key) != actual:
            problems.append(f"{where}: summary says {key}={c.summary.get(key)} but the state has {actual}")
    return problems


def _same_state(a: TableState, b: TableState) -> bool:
    return (
        a.id == b.id
        and dict(a.files) == dict(b.files)
        and dict(a.deletes) == dict(b.deletes)
        and a.next_row_id == b.next_row_id
        and dict(a.schema) == dict(b.schema)
        and dict(a.properties) == dict(b.properties)
    )


def _hash(storage: Storage, path: str) -> tuple[str | None, int, str | None]:
    """(sha256, size, error) of one file."""
    h = hashlib.sha256()
    size = 0
    try:
        for chunk in storage.chunks(path):
            h.update(chunk)
            size += len(chunk)
    except FileNotFoundError:
        return None, 0, "missing"
    except OSError as exc:
        return None, 0, f"unreadable ({exc})"
    return h.hexdigest(), size, None


def verify(table: Table, *, progress: Progress | None = None) -> Report:
    """Re-hash every file of every retained version and check the log; never raises for
    what it finds (a problem list instead), never modifies anything.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.table({"x": [1]}))
        >>> _ = t.append(pa.table({"x": [1, 2]}))
        >>> r = tv.verify(t)
        >>> r.ok, r.problems, r.files_checked
        (True, [], 1)
    """
    log = table.log
    storage = table.storage
    problems: list[str] = []
    try:
        s = survey(log)
    except TableverError as exc:  # an unreadable expiry record: nothing else can be judged
        return Report([str(exc)])
    retained = set(s.retained)
    commits: dict[int, Commit] = {}
    for v in s.retained:
        try:
            commits[v] = log.read_commit(v)
        except FileNotFoundError:
            problems.append(f"{commit_path(v)}: missing (deleted while verifying?)")
        except TableverError as exc:
            problems.append(str(exc))
    if s.retained:
        missing = [v for v in range(s.retained[-1]) if v not in retained and v not in s.expired]
        for v in missing:
            problems.append(f"{commit_path(v)}: missing from the log (version {v} was never expired)")

    needs: dict[str, _Need] = {}

    def need(path: str, sha: str, size: int | None, version: int, kind: str) -> None:
        old = needs.get(path)
        if old is None:
            needs[path] = _Need(sha, size, version, kind)
        elif old.sha256 != sha:
            problems.append(f"{path}: versions {old.version} and {version} record different SHA-256s")

    def collect(version: int, files: Iterable[DataFile], vectors: Iterable[DeleteVector]) -> None:
        # Files enter a state only through a commit's add or deletes: the first state of
        # a stretch plus each commit's actions cover every state of the stretch.
        for f in files:
            need(f.path, f.sha256, f.bytes, version, "data file")
        for d in vectors:
            need(d.path, d.sha256, None, version, "deletion vector")

    checked = 0
    checkpoints = set(s.checkpoints)
    for stretch in runs(s.retained):
        state = _start(log, stretch[0], commits, s.expired, checkpoints, problems)
        if state is None:
            continue
        checked += 1
        collect(state.version, state.files.values(), state.deletes.values())
        totals = _totals(state)
        problems += _summary_problems(state.commit, totals, commit_path(state.version))
        if state.version == 0 and 0 in checkpoints:
            problems += _check_checkpoint(log, state)
        for v in stretch[1:]:
            c = commits.get(v)
            if c is None:
                break  # reported above; the rest of the stretch cannot be rebuilt
            try:
                prev, state = state, apply(state, c)
            except CorruptLogError as exc:
                problems.append(f"{commit_path(v)}: {exc}")
                break
            checked += 1
            collect(v, c.actions.add, c.actions.deletes)
            totals = _step(prev, c, totals)
            problems += _summary_problems(c, totals, commit_path(v))
            if v in checkpoints:
                problems += _check_checkpoint(log, state)

    problems += _check_refs(table, retained, commits)
    files_checked, bytes_checked = _check_files(storage, needs, problems, progress)
    orphans = _walk(storage, needs, s.leftover_meta(), problems)
    return Report(problems, orphans, checked, files_checked, bytes_checked)


def _start(
    log: Any, first: int, commits: Mapping[int, Commit], expired: Mapping[int, Any],
    checkpoints: set[int], problems: list[str],
) -> TableState | None:
    """The state at the first version of a stretch of retained versions."""
    c = commits.get(first)
    if first == 0:
        if c is None:
            return None
        try:
            return empty_state(c)
        except CorruptLogError as exc:
            problems.append(f"{commit_path(0)}: {exc}")
            return None
    if first - 1 not in expired:
        return None  # a missing commit, already reported
    if first not in checkpoints:
        problems.append(
            f"{checkpoint_path(first)}: missing, and version {first} cannot be rebuilt "
            f"without it (version {first - 1} was expired)"
        )
        return None
    try:
        state, history = log.read_checkpoint(first, cached=False)
    except (TableverError, OSError) as exc:
        problems.append(f"{checkpoint_path(first)}: {exc}")
        return None
    where = checkpoint_path(first)
    if c is not None and c.id != state.id:
        problems.append(f"{where}: embeds a commit whose id differs from {commit_path(first)}")
    gone = expired[first - 1]
    if state.commit.parent_id != gone.id:
        problems.append(
            f"{where}: version {first}'s parent_id does not match the id recorded for "
            f"expired version {first - 1}"
        )
    for h in history:
        other = commits.get(h.version)
        if other is not None and other.id != h.id:
            problems.append(f"{where}: lists version {h.version} with a different id than the log")
    return state


def _check_checkpoint(log: Any, state: TableState) -> list[str]:
    where = checkpoint_path(state.version)
    try:
        ck, _ = log.read_checkpoint(state.version, cached=False)
    except FileNotFoundError:
        return []  # removed meanwhile
    except (TableverError, OSError) as exc:
        return [f"{where}: {exc}"]
    if not _same_state(ck, state):
        return [f"{where}: does not match the state the log rebuilds for version {state.version}"]
    return []


def _check_refs(table: Table, retained: set[int], commits: Mapping[int, Commit]) -> list[str]:
    problems = []
    catalog = table.catalog
    for name in catalog.tag_names():
        where = tag_path(name)
        try:
            rec = catalog.read_tag(name)
        except (TableverError, OSError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        if rec.version not in retained:
            problems.append(f"{where}: tag {name!r} points at version {rec.version}, not retained")
        elif rec.version in commits and commits[rec.version].id != rec.id:
            problems.append(f"{where}: tag {name!r} records a different id than version {rec.version}")
    for run_id in catalog.run_ids():
        where = run_path(run_id)
        try:
            run = catalog.read_run(run_id)
        except (TableverError, OSError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        if run.version not in retained:
            problems.append(f"{where}: run {run_id!r} points at version {run.version}, not retained")
        elif run.snapshot_id and run.version in commits and (
            commits[run.version].id != run.snapshot_id
        ):
            problems.append(f"{where}: run {run_id!r} records a different id than version {run.version}")
    return problems


def _check_files(
    storage: Storage, needs: Mapping[str, _Need], problems: list[str],
    progress: Progress | None,
) -> tuple[int, int]:
    paths = sorted(needs)
    total = len(paths)
    if progress:
        progress("verify", 0, total)
    done = 0
    nbytes = 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        for path, (sha, size, error) in zip(paths, pool.map(lambda p: _hash(storage, p), paths), strict=True):
            n = needs[path]
            done += 1
            nbytes += size
            if error is not None:
                problems.append(f"{path}: {n.kind} {error} (needed by version {n.version})")
            elif n.size is not None and size != n.size:
                problems.append(
                    f"{path}: {n.kind} holds {size} bytes, the log says {n.size} "
                    f"(needed by version {n.version})"
                )
            elif sha != n.sha256:
                problems.append(
                    f"{path}: {n.kind} does not match its SHA-256 (expected {n.sha256[:12]}, "
                    f"got {(sha or '')[:12]}; needed by version {n.version})"
                )
            if progress and (done == total or done % 64 == 0):
                progress("verify", done, total)
    return done, nbytes


def _walk(
    storage: Storage, needs: Mapping[str, _Need], leftover: list[str], problems: list[str]
) -> list[str]:
    orphans: list[str] = []
    leftover_set = set(leftover)
    for root in ROOTS:
        for info in storage.walk(root):
            path = info.path
            name = path.rsplit("/", 1)[-1]
            if path in needs:
                continue
            if name.startswith(TMP_PREFIX) or CONTENT_FILE.match(path) or path in leftover_set:
                orphans.append(path)
                continue
            if meta_kind(path) is None:
                problems.append(f"{path}: unexpected file")
    return sorted(orphans)
