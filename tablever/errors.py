"""The one error tree of tablever.

Every error a user can cause is a subclass of :class:`TableverError` and names the
thing that was wrong. Third-party errors are wrapped with ``raise ... from exc``.

::

    TableverError
    ├── TableNotFoundError     (also FileNotFoundError)
    │   └── TableDroppedError  (a dropped table, read without a version; ``version``)
    ├── TableExistsError
    ├── RefNotFoundError       (also LookupError; names the ref and the closest tags)
    ├── AmbiguousRefError      (also LookupError)
    ├── InvalidNameError       (also ValueError; a name that is not allowed)
    │   ├── NameTakenError     (a tag or run id that exists; ``kind``, ``name``)
    │   └── InvalidValueError  (an argument or property value that is not allowed)
    ├── SchemaMismatchError    (also ValueError; names each offending column)
    │   ├── ColumnNotFoundError (no column of that name in the version)
    │   └── ColumnInUseError   (a column a table property or the schema still needs)
    ├── InvalidPredicateError  (also ValueError; bad SQL predicate or query, with position)
    ├── DuplicateKeyError      (also ValueError; upsert source repeats a key)
    ├── CommitConflictError    (lost the race after retries; safe to rerun)
    ├── IntegrityError         (a file's bytes do not match its hash)
    ├── ExportError            (a version another format cannot express, or its old export)
    ├── CorruptLogError        (unreadable or hostile commit, checkpoint or path)
    └── UnsupportedFormatError (a table written in a newer format; ``format``)
"""

from __future__ import annotations

__all__ = [
    "AmbiguousRefError",
    "ColumnInUseError",
    "ColumnNotFoundError",
    "CommitConflictError",
    "CorruptLogError",
    "DuplicateKeyError",
    "ExportError",
    "IntegrityError",
    "NameTakenError",
    "InvalidNameError",
    "InvalidValueError",
    "InvalidPredicateError",
    "RefNotFoundError",
    "SchemaMismatchError",
    "TableDroppedError",
    "TableExistsError",
    "TableNotFoundError",
    "TableverError",
    "UnsupportedFormatError",
]


class TableverError(Exception):
    """Root of every error tablever raises for a user's input or a table's state."""


class TableNotFoundError(TableverError, FileNotFoundError):
    """No table at the given location."""

    def __init__(self, location: str, available: list[str] | None = None) -> None:
        self.location = location
        self.available = list(available or [])
        msg = f"no table at {location!r}"
        if self.available:
            msg += f" (tables here: {', '.join(self.available)})"
        super().__init__(msg)

    def __str__(self) -> str:
        return str(self.args[0])


class TableDroppedError(TableNotFoundError):
    """The table was dropped (at ``version``): its earlier versions still read."""

    def __init__(self, name: str, location: str, version: int) -> None:
        super().__init__(location)
        self.version = version
        self.args = (
            f"table {name!r} was dropped at version {version}: its earlier versions still "
            f"read (VERSION AS OF {version - 1}), and restoring one brings it back "
            f"(tablever restore {location} {version - 1})",)


class TableExistsError(TableverError):
    """A table already exists at the location given to ``create``."""


class RefNotFoundError(TableverError, LookupError):
    """A ref (tag, version, id prefix or time) resolves to no retained snapshot."""

    def __init__(self, ref: object, message: str, closest: list[str] | None = None) -> None:
        self.ref = ref
        self.closest = list(closest or [])
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class AmbiguousRefError(TableverError, LookupError):
    """A snapshot-id prefix matches more than one snapshot."""

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidNameError(TableverError, ValueError):
    """A table, tag or run name is not allowed."""


class NameTakenError(InvalidNameError):
    """A tag or run id that already exists (``kind`` is ``"tag"`` or ``"run"``)."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        self.kind, self.name = kind, name
        super().__init__(message)


class InvalidValueError(InvalidNameError):
    """An argument or table property whose value is not allowed (a duration, a size,
    a mode, a message that is not a string, properties that are not JSON values)."""


class SchemaMismatchError(TableverError, ValueError):
    """Data does not fit the table's schema; ``columns`` names each offending column."""

    def __init__(self, message: str, columns: list[str] | None = None) -> None:
        self.columns = list(columns or [])
        super().__init__(message)


class ColumnNotFoundError(SchemaMismatchError):
    """A schema change names a column the version does not have (``columns``: it)."""


class ColumnInUseError(SchemaMismatchError):
    """A column cannot be dropped: a table property (``partition_by``) names it, or it
    is the table's last column."""


class InvalidPredicateError(TableverError, ValueError):
    """A SQL predicate, expression or query is invalid; carries the position if known."""

    def __init__(
        self, message: str, *, sql: str | None = None, line: int | None = None,
        col: int | None = None,
    ) -> None:
        self.sql = sql
        self.line = line
        self.col = col
        super().__init__(message)


class DuplicateKeyError(TableverError, ValueError):
    """The data given to ``upsert`` holds the same key more than once."""


class CommitConflictError(TableverError):
    """Another writer changed what this operation depends on; rerunning is safe."""


class IntegrityError(TableverError):
    """A file's bytes (or a snapshot's identity) do not match what the log recorded."""


class ExportError(TableverError):
    """A version cannot be written in another format (Iceberg metadata), or an earlier
    export in the target folder is unreadable."""


class CorruptLogError(TableverError):
    """A commit, checkpoint or path in the log is unreadable, inconsistent or hostile."""


class UnsupportedFormatError(TableverError):
    """A commit written in a format this tablever cannot read (a newer release wrote
    it); ``format`` is its number. Reading on could misread the table, so nothing is read."""

    def __init__(self, fmt: object, where: str) -> None:
        self.format = fmt
        super().__init__(
            f"{where}: the table uses format {fmt!r}, which this tablever cannot read "
            "(it reads formats 1 and 2): upgrade tablever to read it")
