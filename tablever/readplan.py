"""What a reader must scan for a snapshot: plain data, shared by the pyarrow, polars
and DuckDB read paths (kept apart so the pyarrow path imports neither DuckDB nor sqlglot)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["FileRead", "ReadPlan"]


@dataclass(frozen=True, slots=True)
class FileRead:
    """One live data file as a reader sees it."""

    path: str  # full path for DuckDB / pyarrow
    rows: int
    first_row_id: int | None  # None: a physical _row_id column
    columns: tuple[str, ...]
    deleted: np.ndarray | None  # sorted int64 positions, or None
    # (table column, its column in this file or None) wherever reading by name would be
    # wrong: renamed columns, and names the file holds for a dropped column (format 2,
    # tablever.format.fieldids.renames). Empty: read the file's columns by name.
    renames: tuple[tuple[str, str | None], ...] = ()

    def source(self, name: str) -> str | None:
        """The file's column holding table column ``name``, or None (NULL here)."""
        for table_name, src in self.renames:
            if table_name == name:
                return src
        return name if name in self.columns else None


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """What to read for a snapshot: its schema and its live files, in order."""

    key: str  # unique and stable for the content of these files and vectors
    schema: pa.Schema
    files: tuple[FileRead, ...]

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]
