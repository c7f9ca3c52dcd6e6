"""Row lineage: diff and change feed between versions, from row ids and deletion vectors.

(Lineage between tables, the inputs a commit records, is :mod:`tablever.upstream`;
its :func:`capture` is here too, as ``tv.lineage.capture()``.)

A row version is (data file, position). Between two snapshots, files present in only one
of them contribute all their live rows; files in both contribute the positions whose
deletion state differs. Only those rows are read, never the full tables. Pairs with the
same ``_row_id`` and identical values (a compaction or restore moved them) cancel out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from tablever.arrays import empty_table
from tablever.deletes import load_positions
from tablever.errors import IntegrityError, RefNotFoundError, SchemaMismatchError
from tablever.format.commit import DataFile
from tablever.format.fieldids import renamed_between, renames, union
from tablever.format.state import TableState
from tablever.integrity import ensure_verified
from tablever.readers import file_rows
from tablever.schema import RESERVED_PREFIX, ROW_ID, schema_from_dict
from tablever.snapshot import Snapshot
from tablever.storage import Storage
from tablever.upstream import Input, capture
from tablever.write import read_parquet

if TYPE_CHECKING:
    from tablever.table import Table

__all__ = ["Diff", "Input", "capture", "changes", "diff"]


def _unused(name: str, taken: Sequence[str]) -> str:
    """``name``, or ``name_1``, ``name_2``...: the first not in ``taken`` (tables created
    before the ``__tv_`` prefix was reserved may use it)."""
    seen = set(taken)
    out, n = name, 0
    while out in seen:
        n += 1
        out = f"{name}_{n}"
    return out


@dataclass(frozen=True)
class Diff:
    """What changed between two snapshots.

    ``added`` / ``removed``: row versions (with ``_row_id``) live only in ``b`` / ``a``.
    With ``on=keys``: ``inserted`` (new keys), ``deleted`` (gone keys) and ``updated``
    (same key, different values: key columns, ``_changed`` column names, ``before`` and
    ``after`` structs). ``schema_changes`` lists added, dropped and retyped columns.
    """

    a: int
    b: int
    added: pa.Table
    removed: pa.Table
    on: list[str] | None = None
    inserted: pa.Table | None = None
    deleted: pa.Table | None = None
    updated: pa.Table | None = None
    schema_changes: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, int]:
        out = {"added": self.added.num_rows, "removed": self.removed.num_rows}
        if self.on is not None:
            assert self.inserted is not None and self.deleted is not None
            assert self.updated is not None
            out.update(
                inserted=self.inserted.num_rows,
                deleted=self.deleted.num_rows,
                updated=self.updated.num_rows,
            )
        return out


def _file_rows(
    storage: Storage, f: DataFile, schema: pa.Schema, positions: np.ndarray,
    stored: Mapping[str, Any],
) -> pa.Table:
    """Rows at ``positions`` of one data file, in ``schema`` (``stored``: the same as the
    log stores it, whose field ids map the file's columns), with ``_row_id``."""
    (path,) = ensure_verified(storage, [f])
    try:
        raw = read_parquet(path, threads=True)
    except FileNotFoundError as exc:
        raise IntegrityError(f"data file {f.path} is missing") from exc
    except (pa.ArrowException, OSError) as exc:
        raise IntegrityError(f"data file {f.path} is unreadable: {exc}") from exc
    return file_rows(f, raw, schema, positions, renames=renames(f, stored))


def _deleted(storage: Storage, state: TableState, f: DataFile) -> np.ndarray:
    dv = state.deletes.get(f.key)
    return load_positions(storage, dv, f.rows) if dv else np.array([], dtype=np.int64)


def _row_versions(
    storage: Storage, a: TableState, b: TableState, stored: Mapping[str, Any]
) -> tuple[pa.Table, pa.Table]:
    """(added, removed) row versions from ``a`` to ``b``, in the schema ``stored`` (a
    union of both versions' schemas, :func:`tablever.format.fieldids.union`)."""
    schema = schema_from_dict(stored)
    added, removed = [], []
    for key, f in a.files.items():
        gone_a = _deleted(storage, a, f)
        if key not in b.files:
            live = np.setdiff1d(np.arange(f.rows, dtype=np.int64), gone_a)
            if len(live):
                removed.append(_file_rows(storage, f, schema, live, stored))
            continue
        if a.deletes.get(key) == b.deletes.get(key):
            continue
        gone_b = _deleted(storage, b, f)
        newly = np.setdiff1d(gone_b, gone_a)
        back = np.setdiff1d(gone_a, gone_b)
        if len(newly):
            removed.append(_file_rows(storage, f, schema, newly, stored))
        if len(back):
            added.append(_file_rows(storage, f, schema, back, stored))
    for key, f in b.files.items():
        if key in a.files:
            continue
        live = np.setdiff1d(np.arange(f.rows, dtype=np.int64), _deleted(storage, b, f))
        if len(live):
            added.append(_file_rows(storage, f, schema, live, stored))
    full = schema.append(pa.field(ROW_ID, pa.int64(), nullable=False))

    def cat(parts: list[pa.Table]) -> pa.Table:
        return pa.concat_tables(parts) if parts else empty_table(full)

    return cat(added), cat(removed)


def _cancel_moves(added: pa.Table, removed: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Drop pairs with the same ``_row_id`` and identical values (moved, not changed)."""
    if added.num_rows == 0 or removed.num_rows == 0:
        return added, removed
    import polars as pl

    pa_ = pl.from_arrow(added)
    pr = pl.from_arrow(removed)
    assert isinstance(pa_, pl.DataFrame) and isinstance(pr, pl.DataFrame)
    common = set(pa_.get_column(ROW_ID).to_list()) & set(pr.get_column(ROW_ID).to_list())
    if not common:
        return added, removed
    h = _unused(f"{RESERVED_PREFIX}h", pa_.columns)
    ha = pa_.with_columns(pl.Series(h, pa_.hash_rows(seed=7)))
    hr = pr.with_columns(pl.Series(h, pr.hash_rows(seed=7)))
    pairs = ha.select(ROW_ID, h).join(hr.select(ROW_ID, h), on=[ROW_ID, h])
    if pairs.height == 0:
        return added, removed
    keep_a = ha.join(pairs, on=[ROW_ID, h], how="anti").drop(h)
    keep_r = hr.join(pairs, on=[ROW_ID, h], how="anti").drop(h)
    return keep_a.to_arrow().cast(added.schema), keep_r.to_arrow().cast(removed.schema)


def _schema_changes(a: pa.Schema, b: pa.Schema, moved: Mapping[str, str]) -> dict[str, Any]:
    new_names = set(moved.values())
    added = [f.name for f in b if a.get_field_index(f.name) < 0 and f.name not in new_names]
    dropped = [f.name for f in a if b.get_field_index(f.name) < 0 and f.name not in moved]
    before = {moved.get(f.name, f.name): f for f in a}
    retyped = {
        f.name: [str(before[f.name].type), str(f.type)]
        for f in b
        if f.name in before and before[f.name].type != f.type
    }
    out: dict[str, Any] = {}
    if moved:
        out["renamed_columns"] = dict(moved)
    if added:
        out["added_columns"] = added
    if dropped:
        out["dropped_columns"] = dropped
    if retyped:
        out["retyped_columns"] = retyped
    return out


def diff(a: Snapshot, b: Snapshot, *, on: Sequence[str] | None = None) -> Diff:
    """Row-level difference from snapshot ``a`` to snapshot ``b``."""
    stored = union(a.state.schema, b.state.schema)
    schema = schema_from_dict(stored)
    storage = a.storage
    added, removed = _row_versions(storage, a.state, b.state, stored)
    added, removed = _cancel_moves(added, removed)
    changes = _schema_changes(a.schema, b.schema, renamed_between(a.state.schema,
                                                                  b.state.schema))
    if on is None:
        return Diff(a.version, b.version, added, removed, schema_changes=changes)
    keys = [on] if isinstance(on, str) else list(on)
    missing = [k for k in keys if k not in a.schema.names or k not in b.schema.names]
    if not keys or missing:
        raise SchemaMismatchError(
            f"diff key column(s) not in both versions: {', '.join(missing) or '(none given)'}",
            missing,
        )
    taken = sorted(set(keys) & {"_changed", "before", "after"})
    if taken:
        raise SchemaMismatchError(
            f"diff key column(s) {', '.join(taken)} would clash with the columns of "
            "Diff.updated (keys, _row_id, _changed, before, after); diff on other keys",
            taken,
        )
    inserted, deleted, updated = _by_key(added, removed, keys, schema)
    return Diff(a.version, b.version, added, removed, keys, inserted, deleted, updated, changes)


def _by_key(
    added: pa.Table, removed: pa.Table, keys: list[str], schema: pa.Schema
) -> tuple[pa.Table, pa.Table, pa.Table]:
    import polars as pl

    new = pl.from_arrow(added)
    old = pl.from_arrow(removed)
    assert isinstance(new, pl.DataFrame) and isinstance(old, pl.DataFrame)
    inserted = new.join(old.select(keys), on=keys, how="anti", nulls_equal=False)
    deleted = old.join(new.select(keys), on=keys, how="anti", nulls_equal=False)
    values = [c for c in schema.names if c not in keys]
    # the new side's other columns under reserved names: a join suffix could meet a real
    # column (``x`` and ``x__new``)
    taken = [*schema.names, ROW_ID]
    renamed: dict[str, str] = {}
    for i, c in enumerate([*values, ROW_ID]):
        renamed[c] = _unused(f"{RESERVED_PREFIX}new_{i}", [*taken, *renamed.values()])
    both = old.join(new.rename(renamed), on=keys, how="inner")
    # Compared by polars in the columns' own types (nanoseconds stay nanoseconds; a
    # Python value would round them), NULL equal to NULL and NaN to NaN, as DuckDB's
    # IS NOT DISTINCT FROM says.
    flags = both.select([
        (~pl.col(c).eq_missing(pl.col(renamed[c]))).alias(str(i)) for i, c in enumerate(values)
    ]) if values else pl.DataFrame()
    changed_lists: list[list[str]] = [
        [values[i] for i, flag in enumerate(row) if flag] for row in flags.rows()
    ] if values else [[] for _ in range(both.height)]
    mask = [bool(c) for c in changed_lists]
    before = both.select([*keys, *values])
    after = both.select([*keys, *[pl.col(renamed[c]).alias(c) for c in values]])
    updated = pl.DataFrame(
        {
            **{k: both.get_column(k) for k in keys},
            ROW_ID: both.get_column(renamed[ROW_ID]),
            "_changed": pl.Series("_changed", changed_lists, dtype=pl.List(pl.String)),
            "before": before.to_struct("before"),
            "after": after.to_struct("after"),
        }
    ).filter(pl.Series(mask, dtype=pl.Boolean))
    return inserted.to_arrow(), deleted.to_arrow(), updated.to_arrow()


def changes(table: Table, start: int, end: int) -> pa.Table:
    """Change feed: for each version in (start, end], its deleted and inserted rows."""
    if end < start:
        raise RefNotFoundError(
            end, f"changes: the end version {end} is before the start version {start}"
        )
    parts = []
    prev = table.as_of(start)
    stored: Mapping[str, Any] = prev.state.schema
    snaps = [prev]
    for v in range(start + 1, end + 1):
        try:
            snaps.append(table.as_of(v))
        except RefNotFoundError as exc:
            raise RefNotFoundError(
                v, f"changes({start}, {end}) needs every version between them, and {exc}; "
                f"diff({start}, {end}) compares the two versions without them",
            ) from exc
        stored = union(stored, snaps[-1].state.schema)
    schema = schema_from_dict(stored)
    taken = [n for n in schema.names if n in ("_change", "_version")]
    if taken:
        raise SchemaMismatchError(
            f"the change feed adds the columns _change and _version, and the table has "
            f"column(s) named {', '.join(taken)}: read the versions with diff() instead",
            taken,
        )
    storage = table.storage
    for before, after in zip(snaps, snaps[1:], strict=False):
        added, removed = _row_versions(storage, before.state, after.state, stored)
        added, removed = _cancel_moves(added, removed)
        for rows, kind in ((removed, "delete"), (added, "insert")):
            if rows.num_rows:
                rows = rows.append_column("_change", pa.array([kind] * rows.num_rows, pa.string()))
                rows = rows.append_column(
                    "_version", pa.array([after.version] * rows.num_rows, pa.int64())
                )
                parts.append(rows)
    full = schema.append(pa.field(ROW_ID, pa.int64(), nullable=False)).append(
        pa.field("_change", pa.string())
    ).append(pa.field("_version", pa.int64()))
    if not parts:
        return empty_table(full)
    return pa.concat_tables([p.cast(full) for p in parts])
