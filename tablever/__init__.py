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

from tablever.caches import clear_caches
from tablever.catalog import Run
from tablever.errors import (
    AmbiguousRefError,
    CommitConflictError,
    CorruptLogError,
    DuplicateKeyError,
    IntegrityError,
    InvalidNameError,
    InvalidPredicateError,
    InvalidValueError,
    NameTakenError,
    RefNotFoundError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
    TableverError,
)
from tablever.lineage import Diff, from_lock
from tablever.maintenance import (
    MaintenanceReport,
    Report,
    compact,
    expire,
    maintain,
    vacuum,
    verify,
)
from tablever.snapshot import Snapshot
from tablever.table import Table, create
from tablever.table import open_table as open  # noqa: A004 - tv.open is the documented verb
from tablever.version import __version__
from tablever.warehouse import Warehouse

__all__ = [
    "clear_caches",
    "AmbiguousRefError",
    "CommitConflictError",
    "CorruptLogError",
    "Diff",
    "DuplicateKeyError",
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
    "Table",
    "TableExistsError",
    "TableNotFoundError",
    "TableverError",
    "Warehouse",
    "__version__",
    "compact",
    "create",
    "expire",
    "from_lock",
    "maintain",
    "open",
    "vacuum",
    "verify",
]
