"""Reading data files (Parquet, CSV/TSV, JSON Lines, compressed or not) with one type per
kind, and schema specs (``"id:int64,ts:timestamp[us,UTC]"``): the library's, so that the
command line keeps no logic of its own.

Example:
    >>> from tablever.inputs import parse_schema
    >>> parse_schema("id:int64,label:string").names
    ['id', 'label']
"""

from __future__ import annotations

import contextlib
import os
import re
import zoneinfo
from typing import Any

import pyarrow as pa

from tablever.errors import InvalidValueError, SchemaMismatchError, TableverError
from tablever.schema import canonical_types


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())

__all__ = ["parse_schema", "parse_type", "read_input"]


# --- schema specs and input files ---------------------------------------------------


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside brackets: ``a:int64,ts:timestamp[us,UTC]`` is two parts."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(<":
            depth += 1
        elif ch in "])>":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


_TIMESTAMP = re.compile(r"^timestamp\[\s*(\w+)\s*(?:,\s*(?:tz\s*=\s*)?([^\]]+?)\s*)?\]$")
_DECIMAL = re.compile(r"^decimal(128|256)?\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_LIST = re.compile(r"^(list|large_list)<(.+)>$")
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")


def parse_type(text: str) -> pa.DataType:
    """An Arrow type from its name: ``int64``, ``string``, ``float64``, ``bool``,
    ``date32``, ``timestamp[us]``, ``timestamp[us,UTC]``, ``decimal(10,2)``,
    ``list<string>``, or any other ``pyarrow.type_for_alias`` name."""
    text = text.strip()
    if m := _TIMESTAMP.match(text):
        unit, tz = m.group(1), m.group(2)
        if unit not in ("s", "ms", "us", "ns"):
            raise ValueError(f"timestamp unit must be s, ms, us or ns, not {unit!r}")
        if tz and not _OFFSET.match(tz):
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {tz!r}") from exc
        return pa.timestamp(unit, tz=tz)
    if m := _DECIMAL.match(text):
        precision, scale = int(m.group(2)), int(m.group(3))
        wide = m.group(1) == "256" or precision > 38
        return pa.decimal256(precision, scale) if wide else pa.decimal128(precision, scale)
    if m := _LIST.match(text):
        inner = parse_type(m.group(2))
        return pa.list_(inner) if m.group(1) == "list" else pa.large_list(inner)
    return pa.type_for_alias(text)


def parse_schema(spec: str) -> pa.Schema:
    """``"id:int64,label:string,ts:timestamp[us,UTC]"`` as an Arrow schema."""
    fields = []
    for part in _split_top(spec):
        name, sep, type_text = part.partition(":")
        if not sep or not name.strip() or not type_text.strip():
            raise InvalidValueError(f"schema spec: expected NAME:TYPE, got {part!r}")
        try:
            fields.append(pa.field(name.strip(), parse_type(type_text)))
        except (ValueError, TypeError, pa.ArrowException) as exc:
            raise InvalidValueError(f"schema spec: column {name.strip()!r}: {exc}") from exc
    return pa.schema(fields)


_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")
_KINDS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
          ".jsonl": "json", ".ndjson": "json", ".json": "json"}


def _input_kind(file: str) -> str:
    name = file.lower()
    for ext in _COMPRESSED:
        name = name.removesuffix(ext)
    kind = _KINDS.get(os.path.splitext(name)[1])
    if kind is None:
        raise InvalidValueError(
            f"cannot tell the format of {file}: name it .parquet, .csv, .tsv or .jsonl"
        )
    return kind


def _castable(src: pa.DataType, dst: pa.DataType) -> bool:
    """JSON carries only a few types: widen numbers, parse times; anything else is left
    for the library to report as a schema mismatch."""
    t = pa.types
    if t.is_null(src):
        return True
    if t.is_integer(src):
        return t.is_integer(dst) or t.is_floating(dst) or t.is_decimal(dst)
    if t.is_floating(src):
        return t.is_floating(dst) or t.is_decimal(dst)
    if t.is_temporal(dst):
        return t.is_string(src) or t.is_large_string(src) or t.is_temporal(src)
    return False


def _narrow(table: pa.Table, types: dict[str, pa.DataType]) -> pa.Table:
    for i, f in enumerate(table.schema):
        if types.get(f.name) == pa.float32():
            table = table.set_column(i, f.name, _exact_cast(f.name, table.column(i),
                                                            pa.float32()))
    return table


def _coerce(data: pa.Table, schema: pa.Schema) -> pa.Table:
    for i, field in enumerate(data.schema):
        idx = schema.get_field_index(field.name)
        if idx < 0 or field.type == schema.field(idx).type:
            continue
        target = schema.field(idx).type
        if _castable(field.type, target):
            # On failure the column stays as read: the library names it and both types.
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                data = data.set_column(i, field.name, _exact_cast(field.name,
                                                                  data.column(i), target))
    return data


def _exact_cast(name: str, col: Any, target: pa.DataType) -> Any:
    """``col`` cast to ``target`` without a silent loss: a number too large for a float32
    column is an error (not infinity), and a float into a decimal column goes by its
    text, so that digits the column cannot keep are refused rather than rounded."""
    import pyarrow.compute as pc

    if pa.types.is_decimal(target) and pa.types.is_floating(col.type):
        return col.cast(pa.string()).cast(target)
    out = col.cast(target)
    if pa.types.is_floating(target) and target.bit_width < 64 and (
            pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
        wide = col.cast(pa.float64())
        lost = pc.and_(pc.is_finite(wide), pc.invert(pc.is_finite(out.cast(pa.float64()))))
        if pc.any(lost).as_py():
            raise SchemaMismatchError(
                f"column {name!r}: a value is out of the range of {target}; store it in a "
                "float64 column", [name])
    return out


def read_input(file: str, schema: pa.Schema | None = None) -> pa.Table:
    """Rows of a Parquet, CSV/TSV or JSON Lines file (compressed or not), by extension,
    with one type per kind (:func:`tablever.schema.canonical_types`: timestamps in
    microseconds, integers as int64) for the columns the table does not have yet.

    Text formats carry no (or few) types: given the table's ``schema``, its columns are
    parsed as the table's types, so ``1`` lands in a float column and ISO strings in a
    timestamp column (read to the nanosecond, so that the append, not the parser, says
    when a value is finer than the table keeps).
    """
    data = _read_raw(file, schema)
    return canonical_types(data, keep=schema.names if schema is not None else ())


def _read_raw(file: str, schema: pa.Schema | None) -> pa.Table:
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson

    from tablever.write import read_parquet

    kind = _input_kind(file)
    if not os.path.isfile(file):
        raise InvalidValueError(f"no such file: {file}")
    try:
        if kind == "parquet":
            return read_parquet(file, threads=True)
        if kind in ("csv", "tsv"):
            types = {}
            if schema is not None:
                types = {f.name: f.type for f in schema if not pa.types.is_nested(f.type)}
            fine = {n: pa.timestamp("ns", tz=t.tz) if pa.types.is_timestamp(t) else t
                    for n, t in types.items()}
            parse = pcsv.ParseOptions(delimiter="\t" if kind == "tsv" else ",")
            # float32 columns are parsed as float64 first, so that a value out of their
            # range is refused (by _exact_cast) instead of read as infinity
            fine = {n: pa.float64() if t == pa.float32() else t for n, t in fine.items()}
            try:
                table = pcsv.read_csv(file, parse_options=parse,
                                      convert_options=pcsv.ConvertOptions(column_types=fine))
                return _narrow(table, types)
            except pa.ArrowInvalid:
                if fine == types:
                    raise
                # a time outside the nanosecond range (1677-2262): parse in the table's unit
                return pcsv.read_csv(file, parse_options=parse,
                                     convert_options=pcsv.ConvertOptions(column_types=types))
        data = pjson.read_json(file)
        return data if schema is None else _coerce(data, schema)
    except pa.ArrowException as exc:
        raise TableverError(f"cannot read {file}: {_one_line(exc)}") from exc
