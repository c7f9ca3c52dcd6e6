"""The small interface every benchmarked system implements.

A method a system lacks raises :class:`Unsupported` with a reason; the worker reports the
step as ``unsupported: <reason>`` rather than skipping it. Versions are opaque tokens
returned by ``current_version`` (an int for most systems, a snapshot id for Iceberg).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pyarrow as pa

AGG_SQL = (
    "SELECT label, count(*) AS n, avg(confidence) AS mean_conf, max(ts) AS last_ts "
    "FROM {src} GROUP BY label ORDER BY label"
)


class Unsupported(Exception):
    """The system has no such operation (reported, never skipped)."""


class System:
    name = "?"
    #: False when ``compact`` is unsupported (the compaction table is then not built)
    compacts = True
    #: a one-line description of how each step is done, shown in the JSON results
    notes: dict[str, str] = {}

    def __init__(self, root: Path) -> None:
        self.root = root  # a fresh, empty working folder owned by this system
        self.root.mkdir(parents=True, exist_ok=True)

    # -- writes ---------------------------------------------------------------------
    def create(self, data: pa.Table) -> None:
        """Create the table with ``data`` as its first commit (the large append)."""
        raise NotImplementedError

    def append(self, data: pa.Table) -> None:
        raise NotImplementedError

    def delete(self, predicate: str) -> None:
        """Delete rows where the SQL predicate is true."""
        raise Unsupported("no row-level delete")

    def filter_out_label(self, label: str) -> None:
        """Remove every row with ``label`` (a row-level filter, one commit)."""
        self.delete(f"label = '{label}'")

    def compact(self) -> None:
        raise Unsupported("no compaction")

    def expire_vacuum(self) -> None:
        """Expire every version but the latest, then delete the files only they used."""
        raise Unsupported("no expire/vacuum")

    def maintain(self) -> None:
        """The system's routine upkeep of a table written by another process."""
        raise Unsupported("run on tablever only")

    # -- reads ----------------------------------------------------------------------
    def current_version(self) -> Any:
        raise Unsupported("no versions")

    def read(self, version: Any = None) -> pa.Table:
        """Open the table afresh (at ``version``; None = latest) and read it to Arrow."""
        raise NotImplementedError

    def aggregate(self, version: Any = None) -> pa.Table:
        """Open afresh and run ``AGG_SQL`` with DuckDB over the version."""
        raise NotImplementedError

    def lookup(self, row_id: int) -> pa.Table:
        """Open afresh and fetch the row(s) with ``id = row_id``."""
        raise NotImplementedError

    def live_files(self) -> list[str]:
        """Absolute paths of the latest version's Parquet data files (opened afresh)."""
        raise Unsupported("no Parquet file list")

    def open_version(self, version: Any) -> int:
        """Open the table afresh at ``version`` and return its row count (no scan)."""
        raise Unsupported("no time travel")

    def warm_imports(self) -> None:
        """Import the system's library (a new process times ``open_version`` without
        the import)."""

    def close(self) -> None:
        pass

    # -- helpers --------------------------------------------------------------------
    def disk_bytes(self) -> int:
        return dir_bytes(self.root)


def dir_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(FileNotFoundError):  # a file vacuumed meanwhile
                total += os.stat(os.path.join(dirpath, f)).st_size
    return total


def to_arrow(result: Any) -> pa.Table:
    """A DuckDB relation or result as a pyarrow Table, across DuckDB 1.4 and 2.x."""
    for attr in ("to_arrow_table", "fetch_arrow_table"):
        fn = getattr(result, attr, None)
        if fn is not None:
            return fn()
    out = result.arrow()
    return out.read_all() if isinstance(out, pa.RecordBatchReader) else out
