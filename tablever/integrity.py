"""Integrity: data files checked against their SHA-256 before a read trusts them, and
the diagnosis of a failed read (which file is missing or damaged)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from typing import IO

from tablever.errors import IntegrityError
from tablever.format.commit import DataFile
from tablever.format.state import TableState
from tablever.storage import Storage, is_verified, mark_verified
from tablever.write import record_file_schema

# Data files up to this size are read whole (one read): for their check (the hash and the
# footer from memory), and by compaction to decode them; larger ones go in chunks.
_WHOLE_READ = 8 << 20

__all__ = ["check_hash", "check_present", "diagnose", "ensure_verified", "hash_file",
           "read_verified"]


def ensure_verified(storage: Storage, files: Sequence[DataFile]) -> list[str]:
    """Check data files against their SHA-256 before a read trusts them; returns the
    local path readers scan for each (:meth:`Storage.local_path`).

    Each file is hashed the first time this process reads it (unless this process wrote
    it), and again whenever its size, modification or change time, or inode differ from
    when it last matched; so a data file modified on disk is an IntegrityError naming
    it, never wrong rows. On a remote file system the local copy readers scan is checked
    as it is fetched (:meth:`Storage.local_path`).
    """
    todo: list[tuple[DataFile, str, os.stat_result]] = []

    def local(f: DataFile) -> str:
        try:
            return storage.local_path(f.path, sha256=f.sha256)
        except FileNotFoundError as exc:
            raise IntegrityError(f"data file {f.path} is missing") from exc
        except IntegrityError as exc:
            raise IntegrityError(f"data file {exc}") from exc

    paths = storage.fetch_all(local, list(files))
    for f, full in zip(files, paths, strict=True):
        st = _unverified(f, full)
        if st is not None:
            todo.append((f, full, st))
    if not todo:
        return paths

    def check(item: tuple[DataFile, str, os.stat_result]) -> None:
        f, full, st = item
        on_disk = full == storage.disk_path(f.path)  # readers scan the file itself
        if on_disk and f.bytes <= _WHOLE_READ:
            _read_checked(storage, f, full, st)
            return
        if on_disk:
            problems = check_hash(storage, f.path, f.sha256)
            if problems:
                raise IntegrityError(f"data file {problems[0]}")
        else:  # a local copy of a remote file: a damaged one is fetched again (checked)
            try:
                same = _hash_path(full) == f.sha256
            except OSError:
                same = False
            if not same:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(full)
                full = local(f)
                st = os.stat(full)
        mark_verified(full, f.sha256, st)
        record_file_schema(full)

    if len(todo) == 1:
        check(todo[0])
    else:
        from concurrent.futures import ThreadPoolExecutor

        # Two threads (the machine's cores; reading and hashing release the GIL), each
        # given a share of the files at once: a task per file cost more in handing out
        # and waiting than hashing a small file does.
        def check_all(share: list[tuple[DataFile, str, os.stat_result]]) -> None:
            for item in share:
                check(item)

        shares = [todo[i::2] for i in range(2)] if len(todo) > 64 else [[x] for x in todo]
        with ThreadPoolExecutor(max_workers=2) as pool:
            for _ in pool.map(check_all, shares):
                pass
    return paths


def read_verified(storage: Storage, f: DataFile) -> tuple[str, bytes | None]:
    """:func:`ensure_verified` for one file, also handing back its bytes when it is a
    small file on this disk: read once, for its check (when it needs one) and for the
    reader, which decodes them from memory."""
    full = storage.disk_path(f.path)
    if full is None or f.bytes > _WHOLE_READ:
        return ensure_verified(storage, [f])[0], None
    st = _unverified(f, full)
    if st is None:
        return full, _read(storage, f)
    return full, _read_checked(storage, f, full, st)


def _unverified(f: DataFile, full: str) -> os.stat_result | None:
    """The stat of ``full`` when it must be hashed before a read trusts it, None when it
    matched since it last changed; a missing file or one of the wrong size is an
    IntegrityError."""
    try:
        st = os.stat(full)
    except FileNotFoundError as exc:
        raise IntegrityError(f"data file {f.path} is missing") from exc
    if is_verified(full, f.sha256, st):
        return None
    if st.st_size != f.bytes:
        raise IntegrityError(
            f"data file {f.path} has {st.st_size} bytes, the log recorded {f.bytes}"
        )
    return st


def _read(storage: Storage, f: DataFile) -> bytes:
    try:
        return storage.read_bytes(f.path)
    except FileNotFoundError as exc:
        raise IntegrityError(f"data file {f.path} is missing") from exc
    except OSError as exc:
        raise IntegrityError(f"data file {f.path} is unreadable ({exc})") from exc


def _read_checked(storage: Storage, f: DataFile, full: str, st: os.stat_result) -> bytes:
    """A small data file on this disk read once: hashed, and its footer parsed, from
    memory; marked verified when it matches."""
    data = _read(storage, f)
    problems = check_hash(storage, f.path, f.sha256, data=data)
    if problems:
        raise IntegrityError(f"data file {problems[0]}")
    mark_verified(full, f.sha256, st)
    record_file_schema(full, data)
    return data


def _digest(stream: IO[bytes]) -> str:
    h = hashlib.sha256()
    while chunk := stream.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


def _hash_path(path: str) -> str:
    with open(path, "rb") as fh:
        return _digest(fh)


def hash_file(storage: Storage, path: str) -> str:
    h = hashlib.sha256()
    for chunk in storage.chunks(path):
        h.update(chunk)
    return h.hexdigest()


def check_hash(storage: Storage, path: str, sha: str, *, data: bytes | None = None) -> list[str]:
    """The problems of the file ``path`` against its SHA-256 (none: it matches); with
    ``data``, of those bytes, already read from it."""
    try:
        actual = hashlib.sha256(data).hexdigest() if data is not None else hash_file(storage, path)
    except FileNotFoundError:
        return [f"{path} is missing"]
    except OSError as exc:
        return [f"{path} is unreadable ({exc})"]
    if actual != sha:
        return [f"{path} does not match its SHA-256 (expected {sha[:12]}, got {actual[:12]})"]
    return []


def check_present(storage: Storage, state: TableState) -> None:
    """IntegrityError unless every live data file exists with its logged size, and
    every deletion vector exists (for answers taken from the log alone; a read also
    checks the bytes). Locally one stat per file; on object storage one listing,
    not a request per file."""
    sizes = storage.sizes(
        [f.path for f in state.files.values()] + [d.path for d in state.deletes.values()])
    for f in state.files.values():
        size = sizes.get(f.path)
        if size is None:
            raise IntegrityError(f"data file {f.path} is missing")
        if size != f.bytes:
            raise IntegrityError(
                f"data file {f.path} has {size} bytes, the log recorded {f.bytes}"
            )
    for dv in state.deletes.values():
        if sizes.get(dv.path) is None:
            raise IntegrityError(f"deletion vector {dv.path} is missing")


def diagnose(
    storage: Storage, state: TableState, exc: BaseException | None,
    files: Sequence[DataFile] | None = None,
) -> IntegrityError | None:
    """After a failed read: an IntegrityError naming the missing or damaged files of
    ``files`` (default: all), or None if they are intact.

    Sizes are always checked; files are re-hashed unless ``exc`` is a mistake in the
    user's SQL (a typo must not cost a full re-hash). Files named in ``exc``'s
    message are checked first, and alone if any of them is bad.
    """
    from tablever.query.engine import is_user_sql_error

    chosen = list(state.files.values()) if files is None else list(files)
    keys = {f.key for f in chosen}
    items: list[tuple[str, int | None, str]] = [(f.path, f.bytes, f.sha256) for f in chosen]
    items += [(d.path, None, d.sha256) for d in list(state.deletes.values()) if d.key in keys]
    rehash = exc is None or not is_user_sql_error(exc)
    text = str(exc) if exc is not None else ""
    named = [i for i in items if i[0] in text]
    for group in ([named, items] if named else [items]):
        problems = []
        for path, size, sha in group:
            try:
                actual = storage.size(path)
            except FileNotFoundError:
                problems.append(f"{path} is missing")
                continue
            if size is not None and actual != size:
                problems.append(f"{path} holds {actual} bytes, the log says {size}")
            elif rehash:
                problems += check_hash(storage, path, sha)
        if problems:
            return IntegrityError(f"cannot read version {state.version}: " + "; ".join(problems))
    return None
