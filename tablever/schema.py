"""Arrow schemas as JSON, input conversion, and the schema rules of append and merge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa

from tablever.errors import SchemaMismatchError

__all__ = [
    "ROW_ID",
    "canonical_types",
    "check_case_clashes",
    "check_scan_columns",
    "column_widening",
    "conform",
    "merge_schemas",
    "schema_from_dict",
    "schema_to_dict",
    "to_arrow_table",
]

ROW_ID = "_row_id"
SchemaMode = Literal["strict", "merge"]

_SIMPLE: dict[str, pa.DataType] = {
    "null": pa.null(),
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float16": pa.float16(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
    "large_string": pa.large_string(),
    "binary": pa.binary(),
    "large_binary": pa.large_binary(),
    "date32": pa.date32(),
    "date64": pa.date64(),
}
_SIMPLE_NAMES = {v: k for k, v in _SIMPLE.items()}


def _type_to_json(t: pa.DataType) -> Any:
    if t in _SIMPLE_NAMES:
        return _SIMPLE_NAMES[t]
    if pa.types.is_timestamp(t):
        return {"timestamp": {"unit": t.unit, "tz": t.tz}}
    if pa.types.is_time32(t) or pa.types.is_time64(t):
        return {"time": t.unit}
    if pa.types.is_duration(t):
        return {"duration": t.unit}
    if pa.types.is_decimal(t):
        return {"decimal": [t.precision, t.scale]}
    if pa.types.is_fixed_size_binary(t):
        return {"fixed_size_binary": t.byte_width}
    if pa.types.is_large_list(t):
        return {"large_list": _field_to_json(t.value_field)}
    if pa.types.is_fixed_size_list(t):
        return {"fixed_size_list": [_field_to_json(t.value_field), t.list_size]}
    if pa.types.is_list(t):
        return {"list": _field_to_json(t.value_field)}
    if pa.types.is_map(t):
        return {"map": [_type_to_json(t.key_type), _field_to_json(t.item_field)]}
    if pa.types.is_struct(t):
        return {"struct": [_field_to_json(t.field(i)) for i in range(t.num_fields)]}
    raise SchemaMismatchError(f"unsupported column type {t}")


def _type_from_json(j: Any) -> pa.DataType:
    if isinstance(j, str):
        if j not in _SIMPLE:
            raise ValueError(f"unknown type {j!r}")
        return _SIMPLE[j]
    if not isinstance(j, dict) or len(j) != 1:
        raise ValueError(f"bad type {j!r}")
    ((kind, arg),) = j.items()
    if kind == "timestamp":
        return pa.timestamp(arg["unit"], tz=arg.get("tz"))
    if kind == "time":
        return pa.time32(arg) if arg in ("s", "ms") else pa.time64(arg)
    if kind == "duration":
        return pa.duration(arg)
    if kind == "decimal":
        p, s = arg
        return pa.decimal128(p, s) if p <= 38 else pa.decimal256(p, s)
    if kind == "fixed_size_binary":
        return pa.binary(int(arg))
    if kind == "list":
        return pa.list_(_field_from_json(arg))
    if kind == "large_list":
        return pa.large_list(_field_from_json(arg))
    if kind == "fixed_size_list":
        return pa.list_(_field_from_json(arg[0]), int(arg[1]))
    if kind == "map":
        return pa.map_(_type_from_json(arg[0]), _field_from_json(arg[1]))
    if kind == "struct":
        return pa.struct([_field_from_json(f) for f in arg])
    raise ValueError(f"unknown type {kind!r}")


def _field_to_json(f: pa.Field) -> dict[str, Any]:
    return {"name": f.name, "type": _type_to_json(f.type), "nullable": f.nullable}


def _field_from_json(j: Any) -> pa.Field:
    if not isinstance(j, dict) or not isinstance(j.get("name"), str):
        raise ValueError(f"bad field {j!r}")
    return pa.field(j["name"], _type_from_json(j["type"]), nullable=bool(j.get("nullable", True)))


def schema_to_dict(schema: pa.Schema) -> dict[str, Any]:
    return {"fields": [_field_to_json(f) for f in schema]}


def schema_from_dict(d: Mapping[str, Any]) -> pa.Schema:
    """Raises ValueError/KeyError/TypeError on malformed input (the log wraps it)."""
    return pa.schema([_field_from_json(f) for f in d["fields"]])


def _plain_type(t: pa.DataType) -> pa.DataType:
    """Storage-independent form: dictionaries decoded, views made plain strings."""
    if pa.types.is_dictionary(t):
        return _plain_type(t.value_type)
    if t == pa.string_view():
        return pa.string()
    if t == pa.binary_view():
        return pa.binary()
    if pa.types.is_large_string(t):
        return pa.large_string()
    return t


def to_arrow_table(data: Any) -> pa.Table:
    """Accept a pyarrow Table/RecordBatch/reader, polars or pandas DataFrame, a dict of
    columns, or anything speaking the Arrow C stream protocol."""
    try:
        if isinstance(data, pa.Table):
            table = data
        elif isinstance(data, pa.RecordBatch):
            table = pa.Table.from_batches([data])
        elif isinstance(data, pa.RecordBatchReader):
            table = data.read_all()
        elif type(data).__module__.startswith("pandas"):
            table = pa.Table.from_pandas(data, preserve_index=False)
        elif hasattr(data, "to_arrow") and type(data).__module__.startswith("polars"):
            table = data.to_arrow()
        elif hasattr(data, "__arrow_c_stream__") or isinstance(data, dict):
            table = pa.table(data)
        else:
            raise SchemaMismatchError(
                f"cannot append a {type(data).__name__}: pass a pyarrow Table or RecordBatch, "
                "a polars or pandas DataFrame, or a dict of columns"
            )
    except SchemaMismatchError:
        raise
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise SchemaMismatchError(f"cannot convert the data to Arrow: {exc}") from exc
    table = table.replace_schema_metadata(None)
    fields = []
    for f in table.schema:
        fields.append(pa.field(f.name, _plain_type(f.type), f.nullable))
    plain = pa.schema(fields)
    if plain != table.schema:
        table = table.cast(plain)
    return table


_INT_RANK = {pa.int8(): 1, pa.int16(): 2, pa.int32(): 3, pa.int64(): 4}
_FLOAT_RANK = {pa.float16(): 1, pa.float32(): 2, pa.float64(): 3}


def logical_type(t: pa.DataType) -> pa.DataType:
    """``t`` without what only says how values are laid out: offset widths
    (``large_list``/``list``, ``large_string``/``string``, ``large_binary``/``binary``),
    string and binary views, dictionaries and list element names, at every depth.
    Two types with the same logical type hold the same values (polars hands out
    ``large_list`` and ``large_string`` where pyarrow makes ``list`` and ``string``)."""
    if pa.types.is_dictionary(t):
        return logical_type(t.value_type)
    if t in (pa.large_string(), pa.string_view()):
        return pa.string()
    if t in (pa.large_binary(), pa.binary_view()):
        return pa.binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t) or (
            pa.types.is_large_list_view(t)):
        return pa.list_(pa.field("item", logical_type(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, logical_type(f.type), f.nullable) for f in t])
    if pa.types.is_map(t):
        return pa.map_(logical_type(t.key_type), logical_type(t.item_type))
    return t


_UNIT_RANK = {"s": 0, "ms": 1, "us": 2, "ns": 3}
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


def _unit_step(src: pa.DataType, dst: pa.DataType) -> int | None:
    """How many unit steps finer ``dst`` is than ``src`` (negative: coarser) when both
    are timestamps in the same time zone; None otherwise."""
    if pa.types.is_timestamp(src) and pa.types.is_timestamp(dst) and src.tz == dst.tz:
        return _UNIT_RANK[dst.unit] - _UNIT_RANK[src.unit]
    return None


def _widens(src: pa.DataType, dst: pa.DataType) -> bool:
    """Can values of ``src`` be stored losslessly in a ``dst`` column?"""
    if src == dst or pa.types.is_null(src) or logical_type(src) == logical_type(dst):
        return True
    step = _unit_step(src, dst)
    if step is not None:
        return step >= 0  # s/ms -> us and so on (out-of-range values are reported on cast)
    if src in _INT_RANK and dst in _INT_RANK:
        return _INT_RANK[src] <= _INT_RANK[dst]
    if pa.types.is_unsigned_integer(src) and dst in _INT_RANK:
        return src.bit_width < dst.bit_width
    if src in _FLOAT_RANK and dst in _FLOAT_RANK:
        return _FLOAT_RANK[src] <= _FLOAT_RANK[dst]
    return {src, dst} <= {pa.string(), pa.large_string()} or {src, dst} <= {
        pa.binary(),
        pa.large_binary(),
    }


def _merge_widening(old: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    """The widened type for ``schema_mode="merge"``, or None if not allowed."""
    if (old, new) in ((pa.int32(), pa.int64()), (pa.int16(), pa.int64()), (pa.int8(), pa.int64()),
                      (pa.int8(), pa.int32()), (pa.int16(), pa.int32()), (pa.int8(), pa.int16())):
        return new
    if (old, new) in ((pa.float32(), pa.float64()), (pa.float16(), pa.float64()),
                      (pa.float16(), pa.float32())):
        return new
    return None


def column_widening(old: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    """``new`` if a column of type ``old`` may become ``new`` (the widenings of
    ``schema_mode="merge"``: signed integers to wider signed integers, floats to wider
    floats; integers to floats are not, int64 -> float64 loses digits), else None."""
    return _merge_widening(old, new)


# Columns DuckDB's Parquet scan adds, which a stored column of the same name (in any
# case) would hide: row positions and file numbers would silently be the user's values.
SCAN_COLUMNS = frozenset({"file_row_number", "file_index"})
RESERVED_PREFIX = "__tv_"  # tablever's own columns and names inside queries


POSITION_COLUMNS = frozenset({"__tv_file", "__tv_pos", "__tv_src"})  # row-level writes


def reserved_names(names: Sequence[str]) -> list[str]:
    """The names of ``names`` a new column cannot have (compared in any case, as SQL
    does): DuckDB's Parquet scan columns, the ``__tv_`` prefix tablever's queries use for
    their own columns, and ``_row_id`` in another case."""
    return [n for n in names if n.lower() in SCAN_COLUMNS
            or n.lower().startswith(RESERVED_PREFIX)
            or (n.lower() == ROW_ID and n != ROW_ID)]


def clashing_names(names: Sequence[str], *, positions: bool, with_row_id: bool) -> list[str]:
    """The columns of a table (possibly created before :func:`reserved_names` refused
    them) that a DuckDB scan of it would misread: the scan's own columns always,
    tablever's position columns when a row-level write selects them, ``_row_id`` in
    another case when row ids are read."""
    return [n for n in names if n.lower() in SCAN_COLUMNS
            or (positions and n.lower() in POSITION_COLUMNS)
            or (with_row_id and n.lower() == ROW_ID and n != ROW_ID)]


def check_scan_columns(names: list[str]) -> None:
    """SchemaMismatchError for reserved column names (see :func:`reserved_names`)."""
    bad = reserved_names(names)
    if bad:
        raise SchemaMismatchError(
            f"column name(s) {', '.join(map(repr, bad))} reserved: DuckDB's Parquet scan "
            "uses file_row_number and file_index, tablever the prefix '__tv_' and "
            f"{ROW_ID!r} (in any case)", bad,
        )


def check_case_clashes(names: list[str]) -> None:
    """SchemaMismatchError for column names that differ only in case (``a`` and ``A``):
    SQL and DuckDB do not tell them apart, so queries and predicates would mix them."""
    seen: dict[str, str] = {}
    clashes: list[str] = []
    for n in names:
        other = seen.setdefault(n.lower(), n)
        if other != n:
            clashes += [x for x in (other, n) if x not in clashes]
    if clashes:
        raise SchemaMismatchError(
            f"column names differ only in case: {', '.join(clashes)} "
            "(SQL does not tell them apart)", clashes,
        )


def merge_schemas(table_schema: pa.Schema, data_schema: pa.Schema) -> pa.Schema:
    """The evolved table schema for ``append(..., schema_mode="merge")``.

    New columns are added (nullable, at the end); int and float columns widen
    (int32->int64, float32->float64); anything else is a SchemaMismatchError.
    """
    bad: list[str] = []
    reasons: list[str] = []
    fields = []
    for f in table_schema:
        idx = data_schema.get_field_index(f.name)
        if idx < 0:
            fields.append(f)
            continue
        dt = data_schema.field(idx).type
        step = _unit_step(dt, f.type)
        if _widens(dt, f.type) or (step is not None and step < 0):
            fields.append(f)  # finer timestamps are cast when exact (conform says if not)
        elif (wide := _merge_widening(f.type, dt)) is not None:
            fields.append(pa.field(f.name, wide, f.nullable))
        else:
            bad.append(f.name)
            reasons.append(f"{f.name!r}: table has {f.type}, data has {dt}")
    for f in data_schema:
        if f.name == ROW_ID:
            bad.append(f.name)
            reasons.append(f"{f.name!r} is reserved")
        elif table_schema.get_field_index(f.name) < 0:
            fields.append(pa.field(f.name, f.type, nullable=True))
    if bad:
        raise SchemaMismatchError("schema cannot be merged: " + "; ".join(reasons), bad)
    merged = pa.schema(fields)
    check_case_clashes(merged.names)
    check_scan_columns([n for n in merged.names if n not in table_schema.names])  # new ones
    return merged


def conform(data: pa.Table, schema: pa.Schema, *, mode: SchemaMode = "strict") -> pa.Table:
    """``data`` with the table's column order and types; SchemaMismatchError otherwise.

    In ``strict`` mode the columns must be exactly the table's (in any order), with
    types that widen losslessly to the table's. In ``merge`` mode (used with a schema
    already merged) columns missing from the data are filled with nulls.
    """
    data_names = data.schema.names
    dupes = sorted({n for n in data_names if data_names.count(n) > 1})
    if dupes:
        raise SchemaMismatchError(f"duplicate columns in the data: {', '.join(dupes)}", dupes)
    problems: list[str] = []
    cols: list[str] = []
    extra = [n for n in data_names if schema.get_field_index(n) < 0]
    for n in extra:
        cols.append(n)
        hint = (
            " (reserved)" if n == ROW_ID
            else " (append with schema_mode='merge', or --merge-schema, to add it)"
        )
        problems.append(f"{n!r}: not in the table{hint}")
    arrays = []
    for f in schema:
        if f.name not in data_names:
            if mode == "merge" and f.nullable:
                arrays.append(pa.nulls(data.num_rows, f.type))
                continue
            cols.append(f.name)
            problems.append(f"{f.name!r}: missing from the data")
            continue
        col = data.column(f.name)
        if col.type != f.type:
            step = _unit_step(col.type, f.type)
            if not _widens(col.type, f.type) and not (step is not None and step < 0):
                cols.append(f.name)
                problems.append(f"{f.name!r}: table has {f.type}, data has {col.type}")
                continue
            try:
                col = col.cast(f.type)  # a safe cast: it refuses to drop digits or overflow
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                cols.append(f.name)
                problems.append(_cast_problem(f.name, col.type, f.type, exc))
                continue
        if not f.nullable and col.null_count:
            cols.append(f.name)
            problems.append(f"{f.name!r}: {col.null_count} nulls in a non-nullable column")
            continue
        arrays.append(col)
    if problems:
        raise SchemaMismatchError(
            "data does not match the table schema: " + "; ".join(problems), cols
        )
    return pa.Table.from_arrays(arrays, schema=schema)


def _cast_problem(name: str, src: pa.DataType, dst: pa.DataType, exc: Exception) -> str:
    step = _unit_step(src, dst)
    if step is not None and step < 0:
        unit = _UNIT_NAMES[dst.unit]
        return (
            f"{name!r}: the data holds times finer than {unit} ({src}) and the table "
            f"stores {dst}; round them to {unit} first (pyarrow.compute.floor_temporal, "
            f"polars .dt.truncate), or keep them in a table created with {src}"
        )
    if step is not None:
        return f"{name!r}: times out of the range of the table's {dst} (data has {src})"
    return f"{name!r}: table has {dst}, data has {src}: {' '.join(str(exc).split())}"


_CANONICAL_INT = (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16(), pa.uint32())


def canonical_types(data: pa.Table, *, keep: Sequence[str] = ()) -> pa.Table:
    """``data`` with one type per kind, as a new table's columns get them from a file:
    timestamps in microseconds (as pandas, polars, Spark and Delta Lake write them) and
    integers as int64. Columns named in ``keep`` stay as they are (a table has them
    already). Values of nanosecond timestamps that are not whole microseconds are a
    :class:`SchemaMismatchError` naming the column.
    """
    bad: list[str] = []
    reasons: list[str] = []
    for i, f in enumerate(data.schema):
        if f.name in keep:
            continue
        target: pa.DataType | None = None
        if pa.types.is_timestamp(f.type) and f.type.unit != "us":
            target = pa.timestamp("us", tz=f.type.tz)
        elif f.type in _CANONICAL_INT:
            target = pa.int64()
        if target is None:
            continue
        try:
            data = data.set_column(i, pa.field(f.name, target, f.nullable),
                                   data.column(i).cast(target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad.append(f.name)
            reasons.append(
                f"{f.name!r} holds times that are not whole microseconds ({f.type}): round "
                "them first, or create the table with that type (--schema "
                f"'{f.name}:timestamp[{f.type.unit}{',' + f.type.tz if f.type.tz else ''}]' "
                "then append)"
            )
    if bad:
        raise SchemaMismatchError("; ".join(reasons), bad)
    return data
