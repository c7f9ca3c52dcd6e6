"""Iceberg v2 metadata over a table's own data files: every retained version readable by
any Iceberg reader, no data copied (``pip install 'tablever[iceberg]'``).

docs/iceberg.md describes the mapping. In short: one Iceberg snapshot per retained
version (id: the first 16 hex digits of the version's id, as a positive 63-bit number;
sequence number: version + 1), the latest on branch ``main``, each tag a tag ref. Data
manifests list each data file, with column metrics from its stats, and the sequence
number of the version that made it live;
each deletion vector becomes a position-delete file (Parquet, ``file_path``/``pos``)
written under the export folder, in a delete manifest. Format-1 Parquet files carry no
field ids: the table property ``schema.name-mapping.default`` maps column names to ids
(kept from one export to the next). A table with field ids (format 2) exports its own
ids, which its newer files carry (``_TableIds``). The physical ``_row_id`` column of
some files is mapped to an id that no schema holds, as a dropped column's, so Iceberg
readers skip it.

Everything written is named by a digest of what it holds, so a second export writes
only what is new (manifests of unchanged file groups are reused) and an export that
finds nothing new writes only the metadata file if the tags changed.

Why one module: the export is one mapping (versions, files and vectors to snapshots,
manifests and delete files), and its incremental reuse depends on every name it writes;
split, the naming rules would be spread over several files that must agree.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tablever.deletes import load_positions
from tablever.errors import ExportError, TableverError
from tablever.format.commit import DataFile, DeleteVector, FileKey, canonical_json
from tablever.format.fieldids import (
    ROW_ID_FIELD_ID,
    has_ids,
    ids_by_name,
    legacy_ids,
    table_stats,
)
from tablever.format.layout import ICEBERG_DIR
from tablever.format.state import TableState
from tablever.schema import ROW_ID, schema_from_dict
from tablever.storage import Storage

if TYPE_CHECKING:
    from tablever.table import Table

__all__ = ["IcebergExport", "export_iceberg", "snapshot_id_of"]

_MAPPING_KEY = "schema.name-mapping.default"
_HINT = "metadata/version-hint.text"
_PATH_FIELD_ID = 2147483546  # file_path of a position-delete file (Iceberg spec)
_POS_FIELD_ID = 2147483545


@dataclass(frozen=True, slots=True)
class IcebergExport:
    """What :func:`export_iceberg` did.

    Attributes:
        metadata_location: the Iceberg metadata file written (or already there).
        location: the export folder (``StaticTable.from_metadata`` opens it too).
        snapshots: tablever version -> Iceberg snapshot id, for every version exported.
        tags: tag name -> Iceberg snapshot id.
        written: paths (relative to the export folder) written by this call.
        bytes_written: their total size.
        reused: manifests and delete files found from an earlier export.
    """

    metadata_location: str
    location: str
    snapshots: Mapping[int, int]
    tags: Mapping[str, int]
    written: tuple[str, ...]
    bytes_written: int
    reused: int


def snapshot_id_of(version_id: str) -> int:
    """The Iceberg snapshot id of a tablever version id: its first 16 hex digits as a
    positive 63-bit integer (never 0)."""
    return int(version_id[:16], 16) & 0x7FFF_FFFF_FFFF_FFFF or 1


def _digest(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()[:32]


class _Group:
    """Files of one kind that became live at one version, as one manifest lists them."""

    __slots__ = ("content", "since", "keys")

    def __init__(self, content: str, since: int, keys: tuple[FileKey, ...]) -> None:
        self.content, self.since, self.keys = content, since, keys


def _field_paths(t: pa.DataType, prefix: str) -> Iterator[str]:
    """Dotted paths of the nested fields of a type, as a name mapping names them."""
    if pa.types.is_struct(t):
        for i in range(t.num_fields):
            f = t.field(i)
            yield f"{prefix}.{f.name}"
            yield from _field_paths(f.type, f"{prefix}.{f.name}")
    elif pa.types.is_map(t):
        for name, sub in (("key", t.key_type), ("value", t.item_type)):
            yield f"{prefix}.{name}"
            yield from _field_paths(sub, f"{prefix}.{name}")
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield f"{prefix}.element"
        yield from _field_paths(t.value_type, f"{prefix}.element")


def _mapping_json(ids: Mapping[str, int]) -> list[dict[str, Any]]:
    """The name mapping (Iceberg's JSON form) of dotted paths -> ids."""
    def level(prefix: str) -> list[dict[str, Any]]:
        out = []
        for path, fid in ids.items():
            head, _, name = path.rpartition(".")
            if head == prefix:
                entry: dict[str, Any] = {"field-id": fid, "names": [name]}
                children = level(path)
                if children:
                    entry["fields"] = children
                out.append(entry)
        return out

    return level("")


def _mapping_from_json(entries: Sequence[Mapping[str, Any]], prefix: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for e in entries:
        path = f"{prefix}.{e['names'][0]}" if prefix else str(e["names"][0])
        out[path] = int(e["field-id"])
        out.update(_mapping_from_json(e.get("fields") or [], path))
    return out


_NESTED_BASE = 1_000_000  # ids of nested fields of a table with field ids: above its columns


class _TableIds:
    """The Iceberg field ids of a table with field ids (format 2): each column keeps the
    table's id, in every version (versions from before the upgrade included); nested
    fields get ids from 1,000,000 on, by column id and path; ``_row_id`` the id Iceberg
    reserves for it. ``mapping`` is the name mapping Iceberg readers apply to files
    without ids (written before the upgrade, or holding nested columns): every name a
    column has in such a file. A name that would stand for two columns there (dropped and
    added again) cannot be expressed: an :class:`ExportError`."""

    def __init__(self, states: Mapping[int, TableState]) -> None:
        self.newest = states[max(states)].schema
        self._stored = {v: legacy_ids(s.schema, self.newest) for v, s in states.items()}
        keys: set[tuple[int, str]] = set()
        for stored in self._stored.values():
            for f in schema_from_dict(stored):
                fid = ids_by_name(stored)[f.name]
                keys.update((fid, p.split(".", 1)[1]) for p in _field_paths(f.type, f.name))
        self.nested = {k: _NESTED_BASE + i for i, k in enumerate(sorted(keys))}
        names: dict[str, int] = {ROW_ID: ROW_ID_FIELD_ID}
        for v, state in states.items():
            stored = self._stored[v]
            nested_cols = {f.name for f in schema_from_dict(stored)
                           if pa.types.is_nested(f.type)}
            for f in state.files.values():
                if f.field_ids is not None and not nested_cols & set(table_stats(f, stored)):
                    continue  # every column carries its id: read by id alone
                held = f.field_ids if f.field_ids is not None else {
                    n: i for n, i in stored.get("name_mapping", {}).items() if n in f.stats}
                for name, fid in held.items():
                    if names.setdefault(name, fid) != fid:
                        raise ExportError(
                            f"column name {name!r} stands for two columns in files without "
                            "field ids (dropped and added again, and nested or written "
                            "before the upgrade): Iceberg's name mapping cannot tell them "
                            "apart; expire the versions holding the older column's files, "
                            "or add the new column under another name")
        self.last = max([*self.nested.values(),
                         *(int(s["last_column_id"]) for s in self._stored.values())])
        by_id: dict[int, list[str]] = {}
        for name, fid in names.items():
            by_id.setdefault(fid, []).append(name)
        for stored in self._stored.values():
            for c in stored["fields"]:
                by_id.setdefault(c["id"], [])
        self.mapping = []
        for fid, col_names in sorted(by_id.items()):
            children = {p: i for (top, p), i in self.nested.items() if top == fid}
            entry: dict[str, Any] = {"field-id": fid, "names": sorted(col_names)}
            if children:
                entry["fields"] = _mapping_json(children)
            if entry["names"]:
                self.mapping.append(entry)

    def stored(self, state: TableState) -> Mapping[str, Any]:
        """``state``'s schema with field ids (those of the newest version's ids)."""
        return self._stored[state.version]


class _Output:
    """An Iceberg ``OutputFile`` kept in memory: its bytes go through Storage after."""

    def __new__(cls, location: str) -> Any:
        from pyiceberg.io import OutputFile

        class Buffer(OutputFile):
            value = b""

            def __len__(self) -> int:
                return len(self.value)

            def exists(self) -> bool:
                return False

            def to_input_file(self) -> Any:
                raise NotImplementedError

            def create(self, overwrite: bool = False) -> Any:
                owner = self

                class Stream(io.BytesIO):
                    def close(self) -> None:
                        if not self.closed:
                            owner.value = self.getvalue()
                        super().close()

                return Stream()

        return Buffer(location)


class _Exporter:
    def __init__(self, table: Table, out: Storage) -> None:
        self.table = table
        self.src = table.storage
        self.out = out
        self.existing = {i.path: i.size for i in out.walk("")}
        self.written: list[str] = []
        self.bytes = 0
        self.earlier = set(self.existing)  # what an earlier export wrote
        self.reused: set[str] = set()
        self.ids: dict[str, int] = {}
        self.schemas: list[tuple[pa.Schema, Any]] = []  # (arrow, iceberg)
        self.by_id: _TableIds | None = None  # a table with field ids (format 2)

    # --- writing --------------------------------------------------------------------

    def put(self, rel: str, data: bytes) -> None:
        self.out.write_file(rel, data)
        self.existing[rel] = len(data)
        self.written.append(rel)
        self.bytes += len(data)

    def note_reuse(self, rel: str) -> None:
        if rel in self.earlier:
            self.reused.add(rel)

    def loc(self, rel: str) -> str:
        return self.out.location_of(rel)

    # --- schemas --------------------------------------------------------------------

    def load_previous(self) -> None:
        """Field ids of an earlier export, so that a column keeps its id."""
        if _HINT not in self.existing:
            return
        try:
            name = self.out.read_bytes(_HINT).decode().strip()
            meta = json.loads(self.out.read_bytes(f"metadata/{name}"))
            self.ids = _mapping_from_json(json.loads(meta["properties"][_MAPPING_KEY]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ExportError(
                f"the export at {self.out.uri} holds unreadable metadata ({exc}): remove "
                "the folder to export afresh"
            ) from exc

    def schema_id(self, state: TableState) -> int:
        if self.by_id is not None:
            return self._schema_id_by_field_id(state)
        arrow = schema_from_dict(state.schema)
        arrow = pa.schema([f for f in arrow if f.name != ROW_ID])
        for i, (known, _) in enumerate(self.schemas):
            if known.equals(arrow):
                return i
        # _row_id is mapped but in no schema, as a dropped column is: Iceberg readers
        # skip a file column whose id the schema lacks (an unmapped one is an error).
        for path in [p for f in arrow for p in (f.name, *_field_paths(f.type, f.name))] + [
                ROW_ID]:
            if path not in self.ids:
                self.ids[path] = max(self.ids.values(), default=0) + 1
        return self._add_schema(state, arrow, self.ids)

    def _schema_id_by_field_id(self, state: TableState) -> int:
        """The Iceberg schema of a version of a table with field ids: its columns keep
        the table's ids (which format-2 data files carry), nested fields get theirs
        from :class:`_TableIds`."""
        assert self.by_id is not None
        stored = self.by_id.stored(state)
        arrow = pa.schema([f for f in schema_from_dict(stored) if f.name != ROW_ID])
        ids = {f["name"]: f["id"] for f in stored["fields"]}
        for i, (known, ice) in enumerate(self.schemas):
            if known.equals(arrow) and {f.name: f.field_id for f in ice.fields} == ids:
                return i
        paths = dict(ids)
        for f in arrow:
            for sub in _field_paths(f.type, f.name):
                paths[sub] = self.by_id.nested[(ids[f.name], sub.split(".", 1)[1])]
        return self._add_schema(state, arrow, paths)

    def _add_schema(self, state: TableState, arrow: pa.Schema, ids: Mapping[str, int]) -> int:
        """A new Iceberg schema for ``arrow`` with the field ``ids`` (by dotted path), and
        its index."""
        from pyiceberg.io.pyarrow import pyarrow_to_schema
        from pyiceberg.schema import Schema
        from pyiceberg.table.name_mapping import parse_mapping_from_json

        mapping = parse_mapping_from_json(json.dumps(_mapping_json(ids)))
        try:
            converted = pyarrow_to_schema(arrow, name_mapping=mapping, format_version=2)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise ExportError(
                f"version {state.version}: its schema has no Iceberg v2 equivalent ({exc})"
            ) from exc
        self.schemas.append((arrow, Schema(*converted.fields, schema_id=len(self.schemas))))
        return len(self.schemas) - 1

    def stats_of(self, f: DataFile, state: TableState) -> Mapping[str, Mapping[str, Any]]:
        """The stats of ``f`` under the names of ``state``'s columns (as its schema has them)."""
        if self.by_id is None:
            return f.stats
        return table_stats(f, self.by_id.stored(state))

    # --- files ----------------------------------------------------------------------

    def delete_file(self, f: DataFile, dv: DeleteVector) -> tuple[str, int]:
        """The position-delete file of one deletion vector: (path, size)."""
        data_loc = self.src.location_of(f.path)
        rel = f"deletes/{_digest([data_loc, dv.sha256])}.parquet"
        if rel in self.existing:
            self.note_reuse(rel)
            return rel, self.existing[rel]
        import pyarrow.parquet as pq

        pos = load_positions(self.src, dv, f.rows)
        schema = pa.schema([
            pa.field("file_path", pa.string(), nullable=False,
                     metadata={"PARQUET:field_id": str(_PATH_FIELD_ID)}),
            pa.field("pos", pa.int64(), nullable=False,
                     metadata={"PARQUET:field_id": str(_POS_FIELD_ID)}),
        ])
        rows = pa.table([pa.array([data_loc] * len(pos), pa.string()), pa.array(pos)],
                        schema=schema)
        sink = io.BytesIO()
        pq.write_table(rows, sink, compression="zstd")
        self.put(rel, sink.getvalue())
        return rel, self.existing[rel]

    def manifest(self, group: _Group, owner: int, states: Mapping[int, TableState],
                 seq: Mapping[int, int], snap_ids: Mapping[int, int],
                 schema_ids: Mapping[int, int]) -> Any:
        """The ManifestFile (list entry) of one group, written unless already there."""
        from pyiceberg.manifest import (
            DataFile as IcebergFile,
        )
        from pyiceberg.manifest import (
            DataFileContent,
            FileFormat,
            ManifestContent,
            ManifestEntry,
            ManifestEntryStatus,
            ManifestFile,
            ManifestWriterV2,
        )
        from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
        from pyiceberg.typedef import Record

        state = states[owner]
        since = group.since
        status = ManifestEntryStatus.ADDED if owner == since else ManifestEntryStatus.EXISTING
        entries = []
        for key in group.keys:
            f = state.files[key]
            if group.content == "data":
                path, size, count = self.src.location_of(f.path), f.bytes, f.rows
                content = DataFileContent.DATA
            else:
                dv = state.deletes[key]
                rel, size = self.delete_file(f, dv)
                path, count = self.loc(rel), dv.rows
                content = DataFileContent.POSITION_DELETES
            stats = self.stats_of(f, state) if group.content == "data" else {}
            entries.append((content, path, size, count, stats))
        desc = [group.content, snap_ids[since], seq[since], snap_ids[owner], int(status),
                [list(e[1:]) for e in entries], schema_ids[owner], _METRICS]
        if self.by_id is not None:  # metrics are keyed by ids: a manifest names its ids
            desc.append([[f.name, f.field_id] for f in self.schemas[schema_ids[owner]][1].fields])
        rel = f"metadata/manifest-{_digest(desc)}.avro"
        added = len(entries) if owner == since else 0
        rows = sum(e[3] for e in entries)
        kind = ManifestContent.DATA if group.content == "data" else ManifestContent.DELETES
        if rel in self.existing:
            self.note_reuse(rel)
            length = self.existing[rel]
        else:
            schema = self.schemas[schema_ids[owner]][1]
            target = _Output(self.loc(rel))
            writer_cls = ManifestWriterV2 if group.content == "data" else _delete_writer()
            with writer_cls(UNPARTITIONED_PARTITION_SPEC, schema, target, snap_ids[owner],
                            "deflate") as writer:
                for content, path, size, count, stats in entries:
                    metrics = _metrics(schema, stats, count) if stats else {}
                    datafile = IcebergFile.from_args(
                        _table_format_version=2, content=content, file_path=path,
                        file_format=FileFormat.PARQUET, partition=Record(),
                        record_count=count, file_size_in_bytes=size, **metrics)
                    writer.add_entry(ManifestEntry.from_args(
                        _table_format_version=2, status=status, snapshot_id=snap_ids[since],
                        sequence_number=seq[since], file_sequence_number=seq[since],
                        data_file=datafile))
            self.put(rel, target.value)
            length = len(target.value)
        return ManifestFile.from_args(
            _table_format_version=2, manifest_path=self.loc(rel), manifest_length=length,
            partition_spec_id=0, content=kind, sequence_number=seq[owner],
            min_sequence_number=seq[since], added_snapshot_id=snap_ids[owner],
            added_files_count=added, existing_files_count=len(entries) - added,
            deleted_files_count=0, added_rows_count=rows if added else 0,
            existing_rows_count=0 if added else rows, deleted_rows_count=0, partitions=[],
            key_metadata=None)

    def manifest_list(self, version: int, parent: int | None, snap_id: int, seq: int,
                      manifests: list[Any]) -> str:
        from pyiceberg.manifest import write_manifest_list

        desc = [snap_id, parent, seq, [m.manifest_path for m in manifests]]
        rel = f"metadata/snap-{snap_id}-{_digest(desc)}.avro"
        if rel not in self.existing:
            target = _Output(self.loc(rel))
            with write_manifest_list(2, target, snap_id, parent, seq, "deflate") as writer:
                writer.add_manifests(manifests)
            self.put(rel, target.value)
        return self.loc(rel)


_METRICS = 1  # how _metrics derives column metrics: a change renames every manifest


def _bound(t: Any, value: Any) -> Any:
    """A tablever stats bound (JSON) as the Python value Iceberg serializes for type
    ``t``, or None where there is no exact equivalent."""
    import datetime as dt

    from pyiceberg.types import (
        BooleanType,
        DateType,
        DoubleType,
        FloatType,
        IntegerType,
        LongType,
        StringType,
        TimestampType,
        TimestamptzType,
    )
    from pyiceberg.utils.datetime import date_to_days, datetime_to_micros

    if isinstance(t, (IntegerType, LongType)) and type(value) is int:
        return value
    if isinstance(t, (FloatType, DoubleType)) and type(value) in (int, float):
        return float(value)
    if isinstance(t, StringType) and isinstance(value, str):
        return value
    if isinstance(t, BooleanType) and isinstance(value, bool):
        return value
    if isinstance(t, DateType) and isinstance(value, str):
        return date_to_days(dt.date.fromisoformat(value))
    if isinstance(t, (TimestampType, TimestamptzType)) and isinstance(value, str):
        stamp = dt.datetime.fromisoformat(value)
        if (stamp.tzinfo is None) != isinstance(t, TimestampType):
            return None
        return datetime_to_micros(stamp)
    return None


def _metrics(schema: Any, stats: Mapping[str, Mapping[str, Any]], rows: int) -> dict[str, Any]:
    """Iceberg column metrics of a data file from its tablever stats: value and null
    counts of each top-level primitive column, and lower/upper bounds where tablever
    holds exact ones (Iceberg readers prune files by them)."""
    from pyiceberg.conversions import to_bytes

    values: dict[int, int] = {}
    nulls: dict[int, int] = {}
    lower: dict[int, bytes] = {}
    upper: dict[int, bytes] = {}
    for name, st in stats.items():
        try:
            field = schema.find_field(name)
        except ValueError:
            continue  # _row_id
        if not field.field_type.is_primitive or name not in {f.name for f in schema.fields}:
            continue
        values[field.field_id] = rows
        nulls[field.field_id] = int(st.get("nulls", 0))
        if "min" in st and "max" in st:
            lo, hi = _bound(field.field_type, st["min"]), _bound(field.field_type, st["max"])
            if lo is None or hi is None:
                continue
            try:
                lower[field.field_id] = to_bytes(field.field_type, lo)
                upper[field.field_id] = to_bytes(field.field_type, hi)
            except (OverflowError, ValueError, TypeError, ArithmeticError, struct.error):
                lower.pop(field.field_id, None)
    return {"value_counts": values, "null_value_counts": nulls, "lower_bounds": lower,
            "upper_bounds": upper}


def _delete_writer() -> Any:
    from pyiceberg.manifest import ManifestContent, ManifestWriterV2

    class DeleteManifestWriter(ManifestWriterV2):
        def content(self) -> ManifestContent:
            return ManifestContent.DELETES

        @property
        def _meta(self) -> dict[str, str]:
            return {
                "schema": self._schema.model_dump_json(),
                "partition-spec": "[]",
                "partition-spec-id": "0",
                "format-version": "2",
                "avro.codec": self._compression,
                "content": "deletes",
            }

    return DeleteManifestWriter


def _operation(op: str) -> str:
    if op in ("create", "append"):
        return "append"
    if op in ("delete", "filter"):
        return "delete"
    return "overwrite"


def export_iceberg(
    table: Table | str | os.PathLike[str], location: str | os.PathLike[str] | None = None
) -> IcebergExport:
    """Write Iceberg v2 metadata for every retained version of ``table``, over its own
    data files (see the module docstring and docs/iceberg.md).

    Args:
        table: a Table, or the location of one.
        location: the export folder; by default ``_tablever/iceberg`` inside the table,
            which ``verify`` and ``vacuum`` leave alone. Run again after new commits, it
            writes only what is new.

    Returns:
        An :class:`IcebergExport`: the metadata file, snapshot ids, what was written.

    Example:
        >>> import pyarrow as pa, tablever as tv, tempfile, os
        >>> from pyiceberg.table import StaticTable
        >>> t = tv.create(os.path.join(tempfile.mkdtemp(), "e"), schema=pa.table({"x": [1]}))
        >>> _ = t.append(pa.table({"x": [1, 2, 3]}))
        >>> _ = t.delete("x = 2")
        >>> out = tv.export_iceberg(t)
        >>> ice = StaticTable.from_metadata(out.location)
        >>> ice.scan().to_arrow().column("x").to_pylist()
        [1, 3]
        >>> ice.scan(snapshot_id=out.snapshots[1]).to_arrow().num_rows
        3
    """
    from tablever.table import Table, open_table

    if not isinstance(table, Table):
        table = open_table(table)
    try:
        import pyiceberg  # noqa: F401
    except ImportError as exc:
        raise TableverError(
            "exporting Iceberg metadata needs pyiceberg: pip install 'tablever[iceberg]'"
        ) from exc
    src = table.storage
    if location is None:
        out = src.child(ICEBERG_DIR)
    else:
        loc = os.fspath(location)
        out = Storage(loc, None, src.storage_options if loc.startswith("s3://") else None)
    ex = _Exporter(table, out)

    infos = table.versions()
    states = {i.version: table.as_of(i.version).state for i in infos}
    versions = sorted(states)
    if has_ids(states[versions[-1]].schema):
        ex.by_id = _TableIds(states)  # the table's own ids, whatever an export said before
    else:
        ex.load_previous()
    seq = {v: v + 1 for v in versions}
    snap_ids = {v: snapshot_id_of(states[v].id) for v in versions}
    schema_ids = {v: ex.schema_id(states[v]) for v in versions}

    added_at: dict[FileKey, int] = {}
    dv_at: dict[FileKey, tuple[str, int]] = {}
    members: dict[tuple[str, int], tuple[FileKey, ...]] = {}
    owners: dict[tuple[str, int, tuple[FileKey, ...]], int] = {}
    prev: set[FileKey] = set()
    snapshots: list[dict[str, Any]] = []
    parent: int | None = None
    for v in versions:
        state = states[v]
        for key in state.files:
            if key not in prev:
                added_at[key] = v
                dv_at.pop(key, None)
        for key, dv in state.deletes.items():
            if dv_at.get(key, ("",))[0] != dv.sha256:
                dv_at[key] = (dv.sha256, v)
        prev = set(state.files)
        _check_paths(state)
        groups: dict[tuple[str, int], list[FileKey]] = {}
        for key in state.files:
            groups.setdefault(("data", added_at[key]), []).append(key)
            if key in state.deletes:
                groups.setdefault(("deletes", dv_at[key][1]), []).append(key)
        manifests = []
        for (content, since), keys in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1])):
            ids = tuple(keys)
            if since == v:
                members[(content, v)] = ids
            owner = since if members.get((content, since)) == ids else owners.setdefault(
                (content, since, ids), v)
            manifests.append(ex.manifest(_Group(content, since, ids), owner, states, seq,
                                         snap_ids, schema_ids))
        manifests.sort(key=lambda m: int(m.content))
        listing = ex.manifest_list(v, parent, snap_ids[v], seq[v], manifests)
        summary = {"operation": _operation(state.commit.operation),
                   "tablever.version": str(v), "tablever.id": state.id,
                   "total-records": str(state.num_rows),
                   "total-data-files": str(len(state.files)),
                   "total-delete-files": str(len(state.deletes))}
        snapshots.append({"snapshot-id": snap_ids[v], "sequence-number": seq[v],
                          "timestamp-ms": state.commit.timestamp_ms, "manifest-list": listing,
                          "summary": summary, "schema-id": schema_ids[v],
                          **({"parent-snapshot-id": parent} if parent is not None else {})})
        parent = snap_ids[v]

    latest = versions[-1]
    tags = {}
    for name, snap in sorted(table.tags().items()):
        if name == "main":
            raise ExportError("a tag named 'main' would hide Iceberg's main branch: "
                              "tag that version under another name to export it")
        if snap.version in snap_ids:
            tags[name] = snap_ids[snap.version]
    refs: dict[str, Any] = {"main": {"snapshot-id": snap_ids[latest], "type": "branch"}}
    refs.update({n: {"snapshot-id": s, "type": "tag"} for n, s in tags.items()})
    first_id = table.versions()[0].id
    meta = {
        "format-version": 2,
        "table-uuid": str(uuid.UUID(hex=hashlib.sha256(
            f"{src.uri}:{first_id}".encode()).hexdigest()[:32])),
        "location": out.uri,
        "last-sequence-number": seq[latest],
        "last-updated-ms": states[latest].commit.timestamp_ms,
        "last-column-id": ex.by_id.last if ex.by_id is not None else max(ex.ids.values(),
                                                                         default=0),
        "current-schema-id": schema_ids[latest],
        "schemas": [json.loads(s.model_dump_json(by_alias=True)) for _, s in ex.schemas],
        "default-spec-id": 0,
        "partition-specs": [{"spec-id": 0, "fields": []}],
        "last-partition-id": 999,
        "default-sort-order-id": 0,
        "sort-orders": [{"order-id": 0, "fields": []}],
        "properties": {_MAPPING_KEY: json.dumps(ex.by_id.mapping if ex.by_id is not None
                                                else _mapping_json(ex.ids)),
                       "tablever.location": src.uri, "tablever.version": str(latest)},
        "current-snapshot-id": snap_ids[latest],
        "refs": refs,
        "snapshots": snapshots,
        "snapshot-log": [{"timestamp-ms": s["timestamp-ms"], "snapshot-id": s["snapshot-id"]}
                         for s in snapshots],
        "metadata-log": [],
    }
    body = json.dumps(meta, indent=1).encode()
    name = f"{latest:020d}-{hashlib.sha256(body).hexdigest()[:16]}.metadata.json"
    if f"metadata/{name}" not in ex.existing:
        ex.put(f"metadata/{name}", body)
    if ex.existing.get(_HINT) != len(name) or out.read_bytes(_HINT).decode() != name:
        ex.put(_HINT, name.encode())
    return IcebergExport(
        metadata_location=ex.loc(f"metadata/{name}"), location=out.uri,
        snapshots=dict(snap_ids), tags=tags, written=tuple(ex.written),
        bytes_written=ex.bytes, reused=len(ex.reused))


def _check_paths(state: TableState) -> None:
    """Iceberg deletes rows by file path: the same file live twice (the same bytes
    appended twice) cannot carry a deletion vector on one copy only."""
    seen: dict[str, str | None] = {}
    for key, f in state.files.items():
        dv = state.deletes.get(key)
        sha = dv.sha256 if dv else None
        if f.path in seen and (seen[f.path] is not None or sha is not None):
            raise ExportError(
                f"version {state.version}: the data file {f.path} is live twice and has "
                "deleted rows: Iceberg cannot express that; compact the table "
                "(tv.compact) and export again")
        seen[f.path] = sha
