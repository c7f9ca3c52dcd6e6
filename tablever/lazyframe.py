"""A snapshot as a polars LazyFrame: its files scanned by polars, deletion vectors applied."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tablever.arrays import empty_table
from tablever.schema import ROW_ID

if TYPE_CHECKING:
    import polars

    from tablever.snapshot import Snapshot

__all__ = ["lazy_frame"]


def lazy_frame(snap: Snapshot, *, with_row_id: bool = False) -> polars.LazyFrame:
    """A polars LazyFrame over the snapshot's files, deletion vectors applied."""
    import polars as pl

    schema = snap.schema
    target = pl.from_arrow(empty_table(schema)).schema  # type: ignore[union-attr]
    plan = snap.read_plan()
    parts = []
    clean: list[Any] = []

    def flush() -> None:
        if clean:
            parts.append(_scan(pl, [r.path for r in clean], [r for r in clean], with_row_id,
                               target=target, names=schema.names))
            clean.clear()

    for r in plan.files:
        if r.deleted is None:
            if clean and (clean[-1].columns, clean[-1].renames) != (r.columns, r.renames):
                flush()
            clean.append(r)
            continue
        flush()
        lf = _scan(pl, [r.path], [r], with_row_id, keep_pos=True, names=schema.names)
        pos = _position_name(r.columns)
        lf = lf.filter(~pl.col(pos).is_in(pl.Series(r.deleted).implode())).drop(pos)
        parts.append(lf)
    flush()
    names = list(schema.names) + ([ROW_ID] if with_row_id else [])
    if not parts:
        empty = pl.DataFrame(schema=target)
        if with_row_id:
            empty = empty.with_columns(pl.lit(None, dtype=pl.Int64).alias(ROW_ID))
        return empty.lazy()
    lf = pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else parts[0]
    exprs = []
    for name in names:
        dtype = pl.Int64 if name == ROW_ID else target[name]
        if name in lf.collect_schema().names():
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return lf.select(exprs)


def _position_name(columns: Sequence[str]) -> str:
    """A name for the row-position column that no column of the file has (tables created
    before the ``__tv_`` prefix was reserved may hold one)."""
    name = "__tv_pos"
    while name in columns:
        name += "_"
    return name


def _scan(pl: Any, paths: list[str], reads: list[Any], with_row_id: bool,
          keep_pos: bool = False, target: Any = None, names: Sequence[str] = ()) -> Any:
    if len(paths) > 1:
        # Files written before a column was widened hold the narrower type: scan them
        # all as the version's types (polars would take the first file's)
        cols = reads[0].columns
        if (target is not None and hasattr(pl, "ScanCastOptions") and not reads[0].renames
                and all(c in target or c == ROW_ID for c in cols)):
            schema = {c: pl.Int64 if c == ROW_ID else target[c] for c in cols}
            lf = pl.scan_parquet(paths, schema=schema, cast_options=pl.ScanCastOptions(
                integer_cast="upcast", float_cast="upcast"))
        else:
            lf = pl.scan_parquet(paths)
    else:
        lf = pl.scan_parquet(paths[0])
    if reads[0].renames:  # format 2: this file's columns under the version's names
        r = reads[0]
        keep = [pl.col(src).alias(n) for n in names
                if (src := r.source(n)) is not None and src in r.columns]
        lf = lf.select(keep + ([pl.col(ROW_ID)] if ROW_ID in r.columns else []))
    pos = _position_name(reads[0].columns)
    if with_row_id or keep_pos:
        lf = lf.with_row_index(pos)
    if with_row_id:
        has_phys = ROW_ID in reads[0].columns
        if has_phys:
            lf = lf.with_columns(pl.col(ROW_ID).cast(pl.Int64))
        else:
            starts = []
            offset = 0
            for r in reads:
                starts.append((offset, r.first_row_id))
                offset += r.rows
            expr: Any = None
            for off, first in starts:  # outermost test: the largest offset
                val = pl.col(pos).cast(pl.Int64) - off + first
                expr = val if expr is None else pl.when(pl.col(pos) >= off).then(val).otherwise(expr)
            lf = lf.with_columns(expr.alias(ROW_ID))
    elif ROW_ID in reads[0].columns:
        lf = lf.drop(ROW_ID)
    if (with_row_id or keep_pos) and not keep_pos:
        lf = lf.drop(pos)
    return lf
