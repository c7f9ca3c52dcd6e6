"""The one I/O seam: every byte tablever reads or writes goes through :class:`Storage`.

A :class:`Storage` is a table root on a ``pyarrow.fs`` file system. On a local disk it
uses ``os`` directly (temp file + ``os.link`` is the put-if-absent primitive, with
fsyncs for durability); other file systems go through ``pyarrow.fs``.
:class:`ContentSink` streams one content-addressed file out as it is encoded.

Why one module: it is the seam itself. Everything that turns a table-relative path into
bytes, a stream or a path an engine opens is here, so that no other module can tell a
local disk from object storage; split, the seam would have two sides to keep in step.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import queue
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import pyarrow.fs as pafs

from tablever import caches
from tablever.errors import IntegrityError, TableverError

__all__ = ["ArrowFiles", "ContentSink", "FileInfo", "Storage", "fault_point", "TMP_PREFIX", "is_verified", "mark_verified"]

T = TypeVar("T")
R = TypeVar("R")

# Local files whose SHA-256 this process has seen match, by (full path, sha256), with
# the (size, mtime, ctime, inode) they had then: a changed signature means check again.
_VERIFIED = caches.VERIFIED


def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def is_verified(full: str, sha256: str, st: os.stat_result) -> bool:
    return bool(_VERIFIED.get((full, sha256)) == _signature(st))


def mark_verified(full: str, sha256: str, st: os.stat_result | None = None) -> None:
    """Record that the local file ``full`` (as it is now, or as ``st`` describes it)
    holds bytes whose SHA-256 is ``sha256``."""
    sig = _signature(os.stat(full) if st is None else st)
    _VERIFIED.put((full, sha256), sig)

TMP_PREFIX = ".tmp-"
FAULT_ENV = "TABLEVER_FAULT"


def fault_point(name: str) -> None:
    """Crash here (``os._exit``) if ``TABLEVER_FAULT`` names this point; for crash tests."""
    if os.environ.get(FAULT_ENV) == name:
        os._exit(77)


def _not_found(exc: OSError) -> bool:
    """Whether a pyarrow file system's OSError says the file is not there (pyarrow
    raises a plain OSError for it on some file systems: only its text tells)."""
    if isinstance(exc, FileNotFoundError):
        return True
    text = str(exc).lower()
    return "not found" in text or "no such" in text or "does not exist" in text


def _user_cache() -> str:
    """This user's folder for local copies of remote files, readable by no one else (a
    shared temp folder: another user must not plant copies)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"tablever-cache-{uid}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if hasattr(os, "getuid") and (st.st_uid != uid or st.st_mode & 0o077 or not os.path.isdir(path)):
        raise TableverError(
            f"the cache folder {path} belongs to another user or is open to others: set "
            "TABLEVER_CACHE_DIR to a folder of your own"
        )
    return path


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str  # relative to the table root, with '/' separators
    size: int
    mtime: float  # seconds since the epoch


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_IO_THREADS = 16
_io_pool: ThreadPoolExecutor | None = None
_io_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Threads for file-system calls that wait in the kernel (creating files, fsyncs),
    started once per process: concurrent fsyncs share the file system's journal commits,
    and starting 16 threads per delete cost more than the waits they overlapped on a
    busy machine (each start waits for the GIL)."""
    global _io_pool
    with _io_lock:
        if _io_pool is None:
            _io_pool = ThreadPoolExecutor(max_workers=_IO_THREADS,
                                          thread_name_prefix="tablever-io")
        return _io_pool


def _forget_pool() -> None:
    global _io_pool, _io_lock
    _io_pool, _io_lock = None, threading.Lock()  # a forked child has no such threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _on_pool(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` on :func:`_pool`, in up to :data:`_IO_THREADS`
    contiguous chunks (one hand-off per chunk, not per item); the first error is raised
    once every chunk has finished."""
    if len(items) < 2:
        return [fn(x) for x in items]
    size = -(-len(items) // _IO_THREADS)

    def run(chunk: Sequence[T]) -> list[R]:
        return [fn(x) for x in chunk]

    futures = [_pool().submit(run, items[i:i + size]) for i in range(0, len(items), size)]
    errors = [f.exception() for f in futures]
    for exc in errors:
        if exc is not None:
            raise exc
    return [r for f in futures for r in f.result()]


class ArrowFiles:
    """The files below ``root`` on a ``pyarrow.fs`` file system (other than S3, which
    :class:`tablever.objectstore.ObjectFiles` serves, and the local disk, which
    :class:`Storage` reads itself). The same methods as ObjectFiles."""

    mtime_resolution = 1.0

    def __init__(self, fs: pafs.FileSystem, root: str) -> None:
        self.fs, self.root = fs, root.strip("/")
        self.type_name = fs.type_name

    @property
    def uri(self) -> str:
        return f"{self.type_name}://{self.root}"

    def child(self, rel: str) -> ArrowFiles:
        return ArrowFiles(self.fs, self.key(rel))

    def key(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if rel else self.root

    def _not_found(self, exc: OSError, rel: str) -> OSError:
        return FileNotFoundError(errno.ENOENT, "not found", rel) if _not_found(exc) else exc

    def read(self, rel: str) -> bytes:
        try:
            with self.fs.open_input_stream(self.key(rel)) as f:
                return bytes(f.read())
        except OSError as exc:
            raise self._not_found(exc, rel) from exc

    def chunks(self, rel: str) -> Iterator[bytes]:
        try:
            with self.fs.open_input_stream(self.key(rel)) as src:
                while chunk := src.read(1 << 20):
                    yield bytes(chunk)
        except OSError as exc:
            raise self._not_found(exc, rel) from exc

    def open(self, rel: str) -> IO[bytes]:
        return self.fs.open_input_file(self.key(rel))  # type: ignore[no-any-return]

    def info(self, rel: str) -> tuple[int, float] | None:
        info = self.fs.get_file_info(self.key(rel))
        if info.type == pafs.FileType.NotFound:
            return None
        return int(info.size or 0), info.mtime.timestamp() if info.mtime else 0.0

    def is_dir(self, rel: str) -> bool:
        return bool(self.fs.get_file_info(self.key(rel)).type == pafs.FileType.Directory)

    def names(self, rel: str) -> list[str]:
        sel = pafs.FileSelector(self.key(rel), allow_not_found=True)
        return [posixpath.basename(i.path) for i in self.fs.get_file_info(sel)]

    def files(self, rel: str, *, after: str | None = None) -> Iterator[tuple[str, int, float]]:
        sel = pafs.FileSelector(self.key(rel), recursive=True, allow_not_found=True)
        found = []
        for info in self.fs.get_file_info(sel):
            if info.type == pafs.FileType.File:
                path = posixpath.relpath(info.path, self.root)
                if after is None or path > after:
                    found.append((path, int(info.size or 0),
                                  info.mtime.timestamp() if info.mtime else 0.0))
        yield from sorted(found)

    def write(self, rel: str, data: bytes) -> None:
        self.fs.create_dir(posixpath.dirname(self.key(rel)), recursive=True)
        with self.fs.open_output_stream(self.key(rel)) as f:
            f.write(data)

    def put_if_absent(self, rel: str, data: bytes) -> bool:
        raise TableverError(
            f"put-if-absent is not available on {self.type_name}: committing to this "
            "file system is not supported (tables on s3:// and on a local disk are)"
        )

    def delete(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self.key(rel))


class Storage:
    """A table root on a file system, addressed with relative '/' paths.

    Three kinds: the local disk (``os`` directly; temp file + ``os.link`` is the
    put-if-absent, with fsyncs for durability), S3 (:class:`~tablever.objectstore.
    ObjectFiles`, one request per operation) and any other ``pyarrow.fs`` file system
    (:class:`ArrowFiles`, reads only: it has no put-if-absent).
    """

    def __init__(self, location: str | os.PathLike[str], fs: pafs.FileSystem | None = None,
                 storage_options: Mapping[str, Any] | None = None, *,
                 _remote: Any = None):
        loc = os.fspath(location)
        self.storage_options = dict(storage_options or {})
        self._cache: str | None = None  # the folder of local copies (remote files only)
        self.fs: pafs.FileSystem | None = None  # a pyarrow file system given by the caller
        self._remote: Any = _remote  # ObjectFiles or ArrowFiles; None on the local disk
        if _remote is not None:
            pass
        elif fs is None and loc.startswith("s3://"):
            from tablever.objectstore import ObjectFiles, split_location

            self._remote = ObjectFiles(*split_location(loc), self.storage_options)
        elif fs is None and "://" in loc and not loc.startswith("file://"):
            try:
                fs, loc = pafs.FileSystem.from_uri(loc)
            except Exception as exc:  # pyarrow raises ArrowInvalid and friends
                raise TableverError(f"cannot open file system for {loc!r}: {exc}") from exc
        elif loc.startswith("file://"):
            loc = loc[len("file://") :]
        if fs is not None and not isinstance(fs, pafs.LocalFileSystem):
            self.fs = fs
            if self._remote is None:
                self._remote = ArrowFiles(fs, loc)
        self.is_local = self._remote is None
        self.root = os.path.abspath(loc) if self.is_local else self._remote.key("")

    @property
    def uri(self) -> str:
        return self.root if self.is_local else str(self._remote.uri)

    def location_of(self, rel: str) -> str:
        """``rel`` as another engine names it: a local path, ``s3://bucket/key``..."""
        if self.is_local:
            return self.full(rel)
        base = str(self._remote.uri).rstrip("/")
        return f"{base}/{rel}" if rel else base

    def locator(self) -> tuple[str, pafs.FileSystem | None]:
        """(location, fs) that open this storage again (the fs for a caller's own)."""
        return (self.root, self.fs) if self.fs is not None else (self.uri, None)

    def full(self, rel: str) -> str:
        """The local path of ``rel``. Only this module uses it: engines get
        :meth:`local_path`, everything else a method here."""
        if rel and os.sep == "/" and rel[0] != "/" and "//" not in rel:  # a cheaper join
            return f"{self.root.rstrip('/')}/{rel}"
        return os.path.join(self.root, *rel.split("/")) if rel else self.root

    def child(self, rel: str) -> Storage:
        """The storage rooted at ``rel`` below this one, on the same file system."""
        if self.is_local:
            return Storage(self.full(rel), None, self.storage_options)
        return Storage(self._remote.key(rel), self.fs, self.storage_options,
                       _remote=self._remote.child(rel))

    # --- engines ------------------------------------------------------------------

    def local_path(self, rel: str, *, sha256: str | None = None) -> str:
        """A path on the local disk holding the bytes of the immutable file ``rel``:
        the one seam through which DuckDB's and polars' Parquet scans, which open files
        themselves, see any file system.

        On a local disk it is the file itself. Elsewhere it is a copy in the local cache
        (``TABLEVER_CACHE_DIR``, by default ``tablever-cache-<uid>`` in the temp folder),
        fetched once: data files and deletion vectors are content-addressed and never
        change, so a copy never goes stale. With ``sha256`` the bytes fetched are
        checked against it (IntegrityError) and the copy is known to match it.
        """
        if self.is_local:
            return self.full(rel)
        dest = self._cache_path(rel)
        if os.path.exists(dest):
            return dest
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = f"{dest}{TMP_PREFIX}{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        try:
            with open(tmp, "wb") as out:
                for chunk in self._remote.chunks(rel):
                    digest.update(chunk)
                    out.write(chunk)
            if sha256 is not None and digest.hexdigest() != sha256:
                raise IntegrityError(f"{rel} does not match its SHA-256")
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if sha256 is not None:
            mark_verified(dest, sha256)
        return dest

    def cached_path(self, rel: str) -> str | None:
        """The local path of ``rel`` if reading it needs no fetch (a local file, or a
        copy already in the cache), else None."""
        if self.is_local:
            return self.full(rel)
        dest = self._cache_path(rel)
        return dest if os.path.exists(dest) else None

    def _cache_path(self, rel: str) -> str:
        if self._cache is None:  # once per storage: it is asked for every file read
            base = os.environ.get("TABLEVER_CACHE_DIR") or _user_cache()
            key = hashlib.sha256(self.uri.encode()).hexdigest()[:24]
            self._cache = os.path.join(base, key)
        return os.path.join(self._cache, *rel.split("/"))

    def sizes(self, rels: Sequence[str]) -> dict[str, int | None]:
        """The size of each file of ``rels`` (None where it is missing): a stat each on a
        local disk, one listing of their folders elsewhere (not a request per file)."""
        if self.is_local:
            out: dict[str, int | None] = {}
            for rel in rels:
                try:
                    out[rel] = os.stat(self.full(rel)).st_size
                except FileNotFoundError:
                    out[rel] = None
            return out
        tops = {rel.split("/", 1)[0] for rel in rels}
        listed = {i.path: i.size for top in sorted(tops) for i in self.walk(top)}
        return {rel: listed.get(rel) for rel in rels}

    @property
    def round_trips(self) -> bool:
        """Whether each read is a request over a network (not a local disk's)."""
        return self.disk_path("") is None

    @property
    def mtime_resolution(self) -> float:
        """Seconds by which a file's modification time may lag the write (S3 keeps whole
        seconds): a file written after time T may show any time from T minus this."""
        return 0.0 if self.disk_path("") is not None else float(self._remote.mtime_resolution)

    def mtime(self, rel: str) -> float:
        """The file's modification time in seconds (FileNotFoundError if absent)."""
        if self.is_local:
            return os.stat(self.full(rel)).st_mtime
        info = self._remote.info(rel)
        if info is None:
            raise FileNotFoundError(errno.ENOENT, "not found", rel)
        return float(info[1])

    def fetch_all(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]``, overlapped on a few threads where each read waits
        on a remote file system; in order, one by one, on a local disk."""
        if self.is_local or len(items) <= 4:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(fn, items))

    # --- reading ------------------------------------------------------------------

    def read_bytes(self, rel: str) -> bytes:
        if self.is_local:
            with open(self.full(rel), "rb") as f:
                return f.read()
        return bytes(self._remote.read(rel))

    def chunks(self, rel: str) -> Iterator[bytes]:
        """The bytes of ``rel`` in pieces of about a megabyte (one GET on S3)."""
        if self.is_local:
            with open(self.full(rel), "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk
            return
        yield from self._remote.chunks(rel)

    def open_read(self, rel: str) -> IO[bytes]:
        """A seekable reader of ``rel`` (for Parquet footers: ranged reads remotely)."""
        if self.is_local:
            return open(self.full(rel), "rb")
        return self._remote.open(rel)  # type: ignore[no-any-return]

    def exists(self, rel: str) -> bool:
        if self.is_local:
            return os.path.exists(self.full(rel))
        return self._remote.info(rel) is not None

    def is_dir(self, rel: str) -> bool:
        if self.is_local:
            return os.path.isdir(self.full(rel))
        return bool(self._remote.is_dir(rel))

    def size(self, rel: str) -> int:
        """Bytes of the file ``rel``; FileNotFoundError if there is none."""
        if self.is_local:
            return os.stat(self.full(rel)).st_size
        info = self._remote.info(rel)
        if info is None:
            raise FileNotFoundError(errno.ENOENT, "not found", rel)
        return int(info[0])

    def list_names(self, rel: str, *, after: str | None = None) -> list[str]:
        """Names directly inside directory ``rel`` (empty if it does not exist). With
        ``after``, only names sorting after it, listed from there on S3 (the folder
        must hold files only): a long log is not listed from its start."""
        if self.is_local:
            try:
                names = os.listdir(self.full(rel))
            except (FileNotFoundError, NotADirectoryError):
                return []
        elif after is not None:
            start = f"{rel}/{after}" if rel else after
            return [p.rsplit("/", 1)[-1] for p, _s, _m in self._remote.files(rel, after=start)]
        else:
            names = list(self._remote.names(rel))
        return names if after is None else [n for n in names if n > after]

    def walk(self, rel: str) -> Iterator[FileInfo]:
        """Every file below ``rel``, recursively."""
        if self.is_local:
            base = self.full(rel)
            prefix = os.path.join(self.root, "")
            for dirpath, _dirs, files in os.walk(base):
                # one relative path per directory (os.path.relpath per file was half the cost)
                rel_dir = (dirpath[len(prefix):] if dirpath.startswith(prefix)
                           else os.path.relpath(dirpath, self.root)).replace(os.sep, "/")
                for name in files:
                    full = os.path.join(dirpath, name)
                    try:
                        st = os.lstat(full)
                    except FileNotFoundError:
                        continue
                    yield FileInfo(f"{rel_dir}/{name}" if rel_dir else name, st.st_size,
                                   st.st_mtime)
            return
        for path, size, mtime in self._remote.files(rel):
            yield FileInfo(path, size, mtime)

    # --- writing ------------------------------------------------------------------

    def _write_local_tmp(self, full: str, data: bytes, durable: bool) -> str:
        head, _ = os.path.split(full)
        tmp = os.path.join(head, f"{TMP_PREFIX}{uuid.uuid4().hex}")
        os.makedirs(head, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        return tmp

    def disk_path(self, rel: str) -> str | None:
        """The local-disk path of ``rel`` when the file system is a local disk (plain, or
        a sub-tree of one), else None."""
        if self.is_local:
            return self.full(rel)
        if isinstance(self.fs, pafs.SubTreeFileSystem) and isinstance(
                self.fs.base_fs, pafs.LocalFileSystem):
            return os.path.join(self.fs.base_path, self._remote.key(rel).lstrip("/"))
        return None

    def write_file(self, rel: str, data: bytes, *, durable: bool = True) -> None:
        """Write ``data`` at ``rel`` atomically (readers see all of it or nothing)."""
        if self.is_local:
            tmp = self._write_local_tmp(self.full(rel), data, durable)
            os.replace(tmp, self.full(rel))
            if durable:
                _fsync_dir(os.path.dirname(self.full(rel)))
            return
        self._remote.write(rel, data)

    def put_if_absent(self, rel: str, data: bytes, *, fault: str = "commit") -> bool:
        """Create ``rel`` with ``data`` only if absent; False if it already existed."""
        full = self.disk_path(rel)
        if full is None:
            fault_point(f"{fault}.before_temp")
            return bool(self._remote.put_if_absent(rel, data))
        fault_point(f"{fault}.before_temp")
        tmp = self._write_local_tmp(full, data, durable=True)
        fault_point(f"{fault}.after_fsync")
        try:
            os.link(tmp, full)
        except FileExistsError:
            return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        fault_point(f"{fault}.after_link")
        _fsync_dir(os.path.dirname(full))
        return True

    def write_once(self, rel: str, data: bytes) -> bool:
        """Store content-addressed bytes: reuse an existing copy, refreshing its time so
        that vacuum's grace period sees it as new, or write them atomically. True if
        this call wrote them. An object store cannot set a time: the bytes are put again
        (the same bytes, so readers never see a change)."""
        disk = self.disk_path(rel)
        if disk is not None:
            try:
                os.utime(disk)
                return False
            except FileNotFoundError:
                pass  # never written, or vacuumed in between: write it
        self.write_file(rel, data)
        return True

    def write_once_many(self, items: Sequence[tuple[str, bytes]]) -> list[bool]:
        """:meth:`write_once` for many small files: the same files, as durable, with
        fewer waits. On a local disk the work goes in stages, each spread over
        :func:`_pool`: every missing file is written to a temp file, then all are
        fsynced (side by side, sharing journal commits), moved into place, and each
        folder they landed in is synced once. One file at a time paid two syncs in a
        row per file (a delete's 201 vectors spent most of its time there). True for
        each file this call wrote."""
        if self.disk_path("") is None or len(items) < 2:
            return [self.write_once(rel, data) for rel, data in items]
        made: list[str] = []  # folders this call created (list.append is thread-safe)
        staged: dict[int, tuple[str, str, int]] = {}  # index -> (full, tmp, open fd)

        def write(i: int) -> None:
            rel, data = items[i]
            full = self.disk_path(rel)
            assert full is not None
            try:
                os.utime(full)
                return  # stored already: keep that copy
            except FileNotFoundError:
                pass
            head = os.path.dirname(full)
            tmp = os.path.join(head, f"{TMP_PREFIX}{uuid.uuid4().hex}")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            try:
                fd = os.open(tmp, flags, 0o644)
            except FileNotFoundError:
                os.makedirs(head, exist_ok=True)  # maybe by another thread meanwhile
                made.append(head)
                fd = os.open(tmp, flags, 0o644)
            staged[i] = (full, tmp, fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]

        def sync(i: int) -> None:
            os.fsync(staged[i][2])

        def place(i: int) -> None:
            full, tmp, _ = staged[i]
            os.replace(tmp, full)

        try:
            try:
                _on_pool(write, list(range(len(items))))
                _on_pool(sync, sorted(staged))
            finally:
                for _, _, fd in staged.values():
                    with contextlib.suppress(OSError):
                        os.close(fd)
            _on_pool(place, sorted(staged))
        except BaseException:
            for _, tmp, _ in staged.values():  # those moved into place are gone already
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise
        folders = {os.path.dirname(full) for full, _, _ in staged.values()}
        folders |= {os.path.dirname(m) for m in made}  # a new folder's own entry
        _on_pool(_fsync_dir, sorted(folders))
        return [i in staged for i in range(len(items))]

    def content_sink(self, folder: str) -> ContentSink:
        """A stream for one content-addressed file to be stored under ``folder`` (see
        :class:`ContentSink`); use it as a context manager."""
        return ContentSink(self, folder)

    def makedirs(self, rel: str) -> None:
        """Make the folder ``rel`` on a disk (object stores have no folders to make)."""
        disk = self.disk_path(rel)
        if disk is not None:
            os.makedirs(disk, exist_ok=True)

    def each(self, fn: Callable[[T], R], items: Sequence[T], threads: int = 4) -> list[R]:
        """``[fn(x) for x in items]``, run in ``threads`` contiguous chunks: for calls that
        wait on the file system (an unlink costs ~70 µs here), where a thread pool task
        per item would cost more in hand-offs than it saves."""
        if len(items) < 2 * threads:
            return [fn(x) for x in items]
        size = -(-len(items) // threads)
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            parts = list(pool.map(lambda chunk: [fn(x) for x in chunk], chunks))
        return [r for part in parts for r in part]

    def delete(self, rel: str) -> None:
        if self.is_local:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.full(rel))
        else:
            self._remote.delete(rel)


class ContentSink:
    """One content-addressed file written as a stream: each chunk is hashed (SHA-256)
    as it arrives, so the name is known when the last byte is written, with no second
    pass over the bytes and no copy of the whole file in memory on a local disk (the
    chunks go to a temp file in ``folder``). :meth:`finish` stores the file at the path
    its SHA-256 names, reusing an existing copy as :meth:`Storage.write_once` does;
    leaving the ``with`` block without finishing removes the temp file. A file-like
    object: Parquet writers write to it directly.
    """

    # Past this many bytes, hashing and writing move to a thread of their own, so the
    # encoder never waits on them (small files stay on the caller's thread).
    INLINE_BYTES = 4 << 20

    def __init__(self, storage: Storage, folder: str) -> None:
        self._storage = storage
        self._sha = hashlib.sha256()
        self.size = 0
        self.closed = False
        self._parts: list[bytes] = []  # the bytes, when they go to an object store
        self._pending: list[bytes] = []  # not yet hashed nor written
        self._tmp: str | None = None
        self._fd = -1
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        head = storage.disk_path(folder)
        if head is not None:
            os.makedirs(head, exist_ok=True)
            self._tmp = os.path.join(head, f"{TMP_PREFIX}{uuid.uuid4().hex}")
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def __enter__(self) -> ContentSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()

    def write(self, data: Any) -> int:
        chunk = bytes(data)  # Parquet writers hand over bytes: no copy
        self.size += len(chunk)
        if self._queue is None:
            self._pending.append(chunk)  # small files: one write at the end
            if self.size > self.INLINE_BYTES:
                self._queue = queue.Queue(maxsize=64)  # bounded: 64 chunks waiting
                self._thread = threading.Thread(target=self._drain, daemon=True)
                self._thread.start()
                for waiting in self._pending:
                    self._queue.put(waiting)
                self._pending = []
            return len(chunk)
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)
        return len(chunk)

    def _consume(self, chunk: bytes) -> None:
        self._sha.update(chunk)  # releases the GIL on large chunks, as os.write does
        if self._fd >= 0:
            view = memoryview(chunk)
            while view:
                view = view[os.write(self._fd, view):]
        else:
            self._parts.append(chunk)

    def _drain(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._consume(chunk)
                except BaseException as exc:  # raised on the writer's next call
                    self._error = exc

    def _join(self) -> None:
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        elif self._pending:
            pending, self._pending = self._pending, []
            self._consume(b"".join(pending))
        if self._error is not None:
            raise self._error

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True  # the writer is done; the bytes stay until finish/abort

    def finish(self, name: Callable[[str], str]) -> tuple[str, str, bool]:
        """Store the bytes at ``name(sha256)``, durably; returns (path, sha256, True if
        this call wrote them rather than finding them stored)."""
        self._join()
        sha = self._sha.hexdigest()
        rel = name(sha)
        if self._fd < 0:
            data, self._parts = b"".join(self._parts), []
            return rel, sha, self._storage.write_once(rel, data)
        fd, self._fd = self._fd, -1
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp, self._tmp = self._tmp, None
        assert tmp is not None
        full = self._storage.disk_path(rel)
        assert full is not None
        try:
            os.utime(full)  # stored already: keep that copy, as write_once does
            os.unlink(tmp)
            return rel, sha, False
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(full), exist_ok=True)
        os.replace(tmp, full)
        _fsync_dir(os.path.dirname(full))
        return rel, sha, True

    def abort(self) -> None:
        """Drop the bytes (nothing once :meth:`finish` ran)."""
        self._pending = []
        with contextlib.suppress(BaseException):
            self._join()
        self.closed = True
        self._parts = []
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None
