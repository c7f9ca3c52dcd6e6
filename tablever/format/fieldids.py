"""Column field ids (format 2): a column's identity apart from its name.

A format-2 schema gives each column an integer ``id`` and records ``last_column_id``
(the highest id ever given: a new column, even one re-added under a dropped column's
name, gets the next one) and ``name_mapping``: the ids given at the upgrade, by the
names columns had then. Data files written since carry the id of each of their columns
(``DataFile.field_ids``, and ``PARQUET:field_id`` in the file); files written before
the upgrade have none and map by name through ``name_mapping``, which is exact because a
format-1 table never renamed or dropped a column.

:func:`file_columns` is the one mapping from a data file's columns to a version's
columns that every read path applies. All of it is pure: schemas are the JSON objects
the log stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tablever.format.commit import DataFile

__all__ = [
    "FIELD_ID_KEY",
    "ROW_ID_FIELD_ID",
    "carry_ids",
    "dropped",
    "file_columns",
    "has_ids",
    "ids_by_name",
    "legacy_ids",
    "renamed",
    "renamed_between",
    "renames",
    "sum_applies",
    "table_stats",
    "union",
    "upgraded",
]

FIELD_ID_KEY = b"PARQUET:field_id"  # the Arrow field metadata Parquet stores ids under
# The id a format-2 data file gives its physical ``_row_id`` column: the one Iceberg
# reserves for row lineage's ``_row_id``, never a column id of a table.
ROW_ID_FIELD_ID = 2147483540


def has_ids(schema: Mapping[str, Any]) -> bool:
    """Whether ``schema`` (a stored schema object) is a format-2 schema with field ids."""
    return "last_column_id" in schema


def ids_by_name(schema: Mapping[str, Any]) -> dict[str, int]:
    """Column name -> field id (empty for a format-1 schema)."""
    return {f["name"]: f["id"] for f in schema["fields"] if "id" in f}


def upgraded(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with field ids 1..n in column order (the format-2 upgrade); a schema
    that has ids already is returned as it is."""
    if has_ids(schema):
        return dict(schema)
    fields = [{**f, "id": i} for i, f in enumerate(schema["fields"], start=1)]
    return {**schema, "fields": fields, "last_column_id": len(fields),
            "name_mapping": {f["name"]: f["id"] for f in fields}}


def carry_ids(new: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """The schema object ``new`` (as :func:`tablever.schema.schema_to_dict` gives it,
    without ids) with the ids of ``base``'s columns of the same names, and the next
    free ids for its new columns. Unchanged when ``base`` has no ids."""
    if not has_ids(base) or has_ids(new):
        return dict(new)
    known = ids_by_name(base)
    last = int(base["last_column_id"])
    fields = []
    for f in new["fields"]:
        fid = known.get(f["name"])
        if fid is None:
            last += 1
            fid = last
        fields.append({**f, "id": fid})
    return {**new, "fields": fields, "last_column_id": last,
            "name_mapping": dict(base["name_mapping"])}


def legacy_ids(old: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """A schema of a version from before the upgrade (``old``, without ids) in the ids
    of format-2 ``base``: the ids ``name_mapping`` gives their names, which are the ids
    the files of that version map to. A name the mapping lacks (a column a format-1
    restore took away before the upgrade) gets a new id, added to the mapping."""
    if has_ids(old) or not has_ids(base):
        return dict(old)
    mapping = dict(base["name_mapping"])
    last = int(base["last_column_id"])
    fields = []
    for f in old["fields"]:
        if f["name"] not in mapping:
            last += 1
            mapping[f["name"]] = last
        fields.append({**f, "id": mapping[f["name"]]})
    return {**old, "fields": fields, "last_column_id": last, "name_mapping": mapping}


def renamed(schema: Mapping[str, Any], old: str, new: str) -> dict[str, Any]:
    """``schema`` (with ids) with column ``old`` named ``new``; its id stays."""
    fields = [{**f, "name": new} if f["name"] == old else dict(f) for f in schema["fields"]]
    return {**schema, "fields": fields}


def dropped(schema: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``schema`` (with ids) without column ``name``; its id is never given again."""
    return {**schema, "fields": [dict(f) for f in schema["fields"] if f["name"] != name]}


def _file_ids(f: DataFile, schema: Mapping[str, Any]) -> dict[int, str]:
    """Field id -> the column's name in file ``f``."""
    if f.field_ids is not None:
        return {fid: name for name, fid in f.field_ids.items()}
    mapping = schema.get("name_mapping", {})
    return {mapping[name]: name for name in f.stats if name in mapping}


def file_columns(f: DataFile, schema: Mapping[str, Any]) -> dict[str, str | None]:
    """For each column of ``schema`` (a version's stored schema), the column of data
    file ``f`` that holds its values, or None when the file has none (the column reads
    as NULL in its rows). By field id when the schema has ids (through ``name_mapping``
    for files written before the upgrade), else by name."""
    if not has_ids(schema):
        return {c["name"]: c["name"] if c["name"] in f.stats else None
                for c in schema["fields"]}
    by_id = _file_ids(f, schema)
    return {c["name"]: by_id.get(c["id"]) for c in schema["fields"]}


def renames(f: DataFile, schema: Mapping[str, Any]) -> tuple[tuple[str, str | None], ...]:
    """The entries of :func:`file_columns` that a read by name would get wrong: a column
    stored under another name, or a column the file holds under this name that is not
    this column (dropped and re-added). Empty when reading by name is exact."""
    if not has_ids(schema):
        return ()
    return tuple((name, src) for name, src in file_columns(f, schema).items()
                 if src != name and (src is not None or name in f.stats))


def table_stats(f: DataFile, schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The statistics of ``f`` under the column names of ``schema`` (columns the file
    lacks are left out, as the log leaves them out)."""
    return {name: f.stats[src] for name, src in file_columns(f, schema).items()
            if src is not None and src in f.stats}


def sum_applies(f: DataFile, schema: Mapping[str, Any], row_id: str = "_row_id") -> bool:
    """Whether the content-hash sum stored for ``f`` (computed over the file's own
    columns, by their names in the file) is the sum of its rows under ``schema``: every
    column of the file is a column of ``schema`` under the same name."""
    columns = file_columns(f, schema)
    held = {src for src in columns.values() if src is not None}
    return not renames(f, schema) and all(
        name == row_id or (name in held and columns.get(name) == name) for name in f.stats)


def union(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of two versions' schemas (``b``'s first, then those of ``a`` that
    ``b`` lacks): what a diff between them shows. With field ids a column renamed from
    ``a`` to ``b`` is one column (under ``b``'s name), and a column of ``a`` whose name
    ``b`` gave to another column is left out; without ids columns match by name."""
    if not has_ids(a) and not has_ids(b):
        names = {f["name"] for f in b["fields"]}
        return {"fields": [*b["fields"], *(f for f in a["fields"] if f["name"] not in names)]}
    base = b if has_ids(b) else a
    a, b = legacy_ids(a, base), legacy_ids(b, base)
    ids = {f["id"] for f in b["fields"]}
    names = {f["name"] for f in b["fields"]}
    extra = [f for f in a["fields"] if f["id"] not in ids and f["name"] not in names]
    return {**b, "fields": [*b["fields"], *extra],
            "last_column_id": max(int(a["last_column_id"]), int(b["last_column_id"]))}


def renamed_between(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, str]:
    """Columns of ``a`` that ``b`` holds under another name (by field id): old -> new."""
    if not has_ids(a) and not has_ids(b):
        return {}
    base = b if has_ids(b) else a
    new = {f["id"]: f["name"] for f in legacy_ids(b, base)["fields"]}
    return {f["name"]: new[f["id"]] for f in legacy_ids(a, base)["fields"]
            if f["id"] in new and new[f["id"]] != f["name"]}
