"""The one I/O seam: every byte tablever reads or writes goes through :class:`Storage`.

A :class:`Storage` is a table root on a ``pyarrow.fs`` file system. On a local disk it
uses ``os`` directly (temp file + ``os.link`` is the put-if-absent primitive, with
fsyncs for durability); other file systems go through ``pyarrow.fs``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import pyarrow.fs as pafs

from tablever import caches
from tablever.errors import IntegrityError, TableverError

__all__ = ["FileInfo", "Storage", "fault_point", "TMP_PREFIX", "is_verified", "mark_verified"]

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


class Storage:
    """A table root on a file system, addressed with relative '/' paths."""

    def __init__(self, location: str | os.PathLike[str], fs: pafs.FileSystem | None = None,
                 storage_options: Mapping[str, Any] | None = None):
        loc = os.fspath(location)
        self.storage_options = dict(storage_options or {})
        self._puts: Any = None  # the conditional-put client of an object store
        self._cache: str | None = None  # the folder of local copies (remote files only)
        if fs is None and loc.startswith("s3://"):
            from tablever.objectstore import s3_file_system

            fs, loc = s3_file_system(loc, self.storage_options)
        elif fs is None and "://" in loc and not loc.startswith("file://"):
            try:
                fs, path = pafs.FileSystem.from_uri(loc)
            except Exception as exc:  # pyarrow raises ArrowInvalid and friends
                raise TableverError(f"cannot open file system for {loc!r}: {exc}") from exc
            loc = path
        elif loc.startswith("file://"):
            loc = loc[len("file://") :]
        self.is_local = fs is None or isinstance(fs, pafs.LocalFileSystem)
        self.fs = fs or pafs.LocalFileSystem()
        # pyarrow's file systems name paths without a leading '/' (a sub-tree's too)
        self.root = os.path.abspath(loc) if self.is_local else loc.strip("/")

    @property
    def uri(self) -> str:
        return self.root if self.is_local else f"{self.fs.type_name}://{self.root}"

    def full(self, rel: str) -> str:
        """The path of ``rel`` on this storage's file system (``self.fs``). Only this
        module uses it: engines get :meth:`local_path`, everything else a method here."""
        if self.is_local:
            return os.path.join(self.root, *rel.split("/")) if rel else self.root
        return posixpath.join(self.root, rel) if rel else self.root

    def child(self, rel: str) -> Storage:
        """The storage rooted at ``rel`` below this one, on the same file system."""
        return Storage(self.full(rel), None if self.is_local else self.fs,
                       self.storage_options)

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
            with self.fs.open_input_stream(self.full(rel)) as src, open(tmp, "wb") as out:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            if sha256 is not None and digest.hexdigest() != sha256:
                raise IntegrityError(f"{rel} does not match its SHA-256")
            os.replace(tmp, dest)
        except OSError as exc:
            if _not_found(exc):
                raise FileNotFoundError(errno.ENOENT, "not found", rel) from exc
            raise
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
            key = hashlib.sha256(f"{self.fs.type_name}:{self.root}".encode()).hexdigest()[:24]
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
    def mtime_resolution(self) -> float:
        """Seconds by which a file's modification time may lag the write (S3 keeps whole
        seconds): a file written after time T may show any time from T minus this."""
        return 0.0 if self.disk_path("") is not None else 1.0

    def mtime(self, rel: str) -> float:
        """The file's modification time in seconds (FileNotFoundError if absent)."""
        if self.is_local:
            return os.stat(self.full(rel)).st_mtime
        info = self.fs.get_file_info(self.full(rel))
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(errno.ENOENT, "not found", rel)
        return info.mtime.timestamp() if info.mtime else 0.0

    def fetch_all(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]``, overlapped on a few threads where each read waits
        on a remote file system; in order, one by one, on a local disk."""
        if self.is_local or len(items) <= 4:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(fn, items))

    # --- reading ------------------------------------------------------------------

    def read_bytes(self, rel: str) -> bytes:
        if self.is_local:
            with open(self.full(rel), "rb") as f:
                return f.read()
        try:
            with self.fs.open_input_stream(self.full(rel)) as f:
                return bytes(f.read())
        except FileNotFoundError:
            raise
        except OSError as exc:
            if _not_found(exc):
                raise FileNotFoundError(errno.ENOENT, str(exc), rel) from exc
            raise

    def open_read(self, rel: str) -> IO[bytes]:
        if self.is_local:
            return open(self.full(rel), "rb")
        return self.fs.open_input_file(self.full(rel))  # type: ignore[return-value]

    def exists(self, rel: str) -> bool:
        if self.is_local:
            return os.path.exists(self.full(rel))
        return bool(self.fs.get_file_info(self.full(rel)).type != pafs.FileType.NotFound)

    def is_dir(self, rel: str) -> bool:
        if self.is_local:
            return os.path.isdir(self.full(rel))
        return bool(self.fs.get_file_info(self.full(rel)).type == pafs.FileType.Directory)

    def size(self, rel: str) -> int:
        """Bytes of the file ``rel``; FileNotFoundError if there is none."""
        if self.is_local:
            return os.stat(self.full(rel)).st_size
        info = self.fs.get_file_info(self.full(rel))
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(self.full(rel))
        return int(info.size or 0)

    def list_names(self, rel: str) -> list[str]:
        """Names directly inside directory ``rel`` (empty if it does not exist)."""
        if self.is_local:
            try:
                return os.listdir(self.full(rel))
            except (FileNotFoundError, NotADirectoryError):
                return []
        sel = pafs.FileSelector(self.full(rel), allow_not_found=True)
        return [posixpath.basename(i.path) for i in self.fs.get_file_info(sel)]

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
        sel = pafs.FileSelector(self.full(rel), recursive=True, allow_not_found=True)
        for info in self.fs.get_file_info(sel):
            if info.type == pafs.FileType.File:
                relpath = posixpath.relpath(info.path, self.root)
                mtime = info.mtime.timestamp() if info.mtime else 0.0
                yield FileInfo(relpath, int(info.size or 0), mtime)

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
            return os.path.join(self.fs.base_path, self.full(rel).lstrip("/"))
        return None

    def write_file(self, rel: str, data: bytes, *, durable: bool = True) -> None:
        """Write ``data`` at ``rel`` atomically (readers see all of it or nothing)."""
        if self.is_local:
            tmp = self._write_local_tmp(self.full(rel), data, durable)
            os.replace(tmp, self.full(rel))
            if durable:
                _fsync_dir(os.path.dirname(self.full(rel)))
            return
        self.fs.create_dir(posixpath.dirname(self.full(rel)), recursive=True)
        with self.fs.open_output_stream(self.full(rel)) as f:
            f.write(data)

    def put_if_absent(self, rel: str, data: bytes, *, fault: str = "commit") -> bool:
        """Create ``rel`` with ``data`` only if absent; False if it already existed."""
        full = self.disk_path(rel)
        if full is None:
            if self.fs.type_name == "s3":
                from tablever.objectstore import put_if_absent

                if self._puts is None:
                    from tablever.objectstore import conditional_store

                    self._puts = conditional_store(self.root, self.storage_options)
                fault_point(f"{fault}.before_temp")
                return put_if_absent(self._puts, self.root, rel, data)
            raise TableverError(
                f"put-if-absent is not available on {self.fs.type_name}: committing to this "
                "file system is not supported (tables on s3:// and on a local disk are)"
            )
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

    def makedirs(self, rel: str) -> None:
        if self.is_local:
            os.makedirs(self.full(rel), exist_ok=True)
        else:
            self.fs.create_dir(self.full(rel), recursive=True)

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
        with contextlib.suppress(FileNotFoundError):
            if self.is_local:
                os.unlink(self.full(rel))
            else:
                self.fs.delete_file(self.full(rel))
