"""tablever: a row-level time-travel table store for versioned datasets.

Example:
    >>> import pyarrow as pa, tablever as tv, tempfile, os
    >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "events"),
    ...               schema=pa.schema([("id", pa.int64()), ("label", pa.string())]))
    >>> _ = t.append(pa.table({"id": [1, 2], "label": ["cat", "dog"]}), message="first labels")
    >>> _ = t.tag("v1.0")
    >>> t.as_of("v1.0").num_rows
    2
"""

from __future__ import annotations

import os
from typing import Any, overload

from tablever import lineage
from tablever.caches import clear_caches
from tablever.catalog import Run
from tablever.copying import CopyReport, copy
from tablever.errors import (
    AmbiguousRefError,
    ColumnInUseError,
    ColumnNotFoundError,
    CommitConflictError,
    CorruptLogError,
    DuplicateKeyError,
    ExportError,
    IntegrityError,
    InvalidNameError,
    InvalidPredicateError,
    InvalidValueError,
    NameTakenError,
    RefNotFoundError,
    SchemaMismatchError,
    TableDroppedError,
    TableExistsError,
    TableNotFoundError,
    TableverError,
    UnsupportedFormatError,
)
from tablever.format.refs import Ref
from tablever.iceberg import IcebergExport, export_iceberg
from tablever.lineage import Diff
from tablever.maintenance import (
    MaintenanceReport,
    Report,
    compact,
    expire,
    maintain,
    vacuum,
    verify,
)
from tablever.reproduce import from_lock, split_from_lock
from tablever.snapshot import Snapshot
from tablever.stages import Stage, StageRun, Stale, repro, stage, status
from tablever.stages import graph as lineage_graph
from tablever.table import Table, create, open_table
from tablever.version import __version__
from tablever.warehouse import Warehouse

__all__ = [
    "CopyReport",
    "copy",
    "clear_caches",
    "lineage",
    "AmbiguousRefError",
    "ColumnInUseError",
    "ColumnNotFoundError",
    "CommitConflictError",
    "CorruptLogError",
    "Diff",
    "DuplicateKeyError",
    "ExportError",
    "IcebergExport",
    "IntegrityError",
    "InvalidNameError",
    "InvalidValueError",
    "NameTakenError",
    "InvalidPredicateError",
    "MaintenanceReport",
    "RefNotFoundError",
    "Report",
    "Run",
    "SchemaMismatchError",
    "Snapshot",
    "Stage",
    "StageRun",
    "Stale",
    "Table",
    "TableDroppedError",
    "TableExistsError",
    "TableNotFoundError",
    "TableverError",
    "UnsupportedFormatError",
    "Warehouse",
    "__version__",
    "compact",
    "create",
    "expire",
    "export_iceberg",
    "from_lock",
    "split_from_lock",
    "maintain",
    "open",
    "lineage_graph",
    "repro",
    "stage",
    "status",
    "vacuum",
    "verify",
]


@overload
def open(  # noqa: A001 - tv.open is the documented verb
    location: str | os.PathLike[str], *, fs: Any = None, max_retries: int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Table: ...
@overload
def open(  # noqa: A001
    location: str | os.PathLike[str], *, version: Ref, fs: Any = None,
    max_retries: int | None = None, storage_options: dict[str, Any] | None = None,
) -> Snapshot: ...
def open(  # noqa: A001
    location: str | os.PathLike[str], *, version: Ref = None, fs: Any = None,
    max_retries: int | None = None, storage_options: dict[str, Any] | None = None,
) -> Table | Snapshot:
    """Open an existing table; TableNotFoundError if there is none at ``location``.

    With ``version`` (any ref ``Table.as_of`` takes: a version number, a tag, a
    snapshot-id prefix, a time), the snapshot it names, as Delta Lake and Lance users
    write ``open(path, version=3)``.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "events")
        >>> t = tv.create(path, schema=pa.schema([("id", pa.int64())]))
        >>> _ = t.append(pa.table({"id": [1, 2]}), message="first rows")
        >>> tv.open(path).latest().version, tv.open(path, version=0).num_rows
        (1, 0)
    """
    table = open_table(location, fs=fs, max_retries=max_retries,
                       storage_options=storage_options)
    return table if version is None else table.as_of(version)
