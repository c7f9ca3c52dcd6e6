"""MLflow integration (``pip install 'tablever[mlflow]'``): log which snapshot a run used.

:func:`log_snapshot` records a snapshot on an MLflow run three ways:

- **params** ``tablever.<name>.{table, version, id, fingerprint, rows, content_hash}``
  (``<name>`` is the table's folder name unless ``name=`` is given);
- a **dataset input** (``mlflow.data``): a metadata-only dataset named
  ``<table>@v<version>`` whose source (type ``tablever``) is the table location, version
  and snapshot id, whose digest is the first 12 hex digits of the fingerprint, and whose
  profile holds the row count, fingerprint and content hash;
- a **back-link** on the table: ``table.link_run(run_id, ref=version, ...)`` with the
  run's MLflow params, metrics (as logged so far) and artifact URI, so ``t.runs("v2.0")``
  and ``tablever runs`` list the run.

Calling it again for the same run and snapshot (for example after training, to copy the
final metrics into the link) updates the link; linking a run to a second version of the
same table is an error.

Importing this module registers the ``tablever`` dataset source with MLflow, so
``mlflow.data.get_source(dataset_input).load()`` returns the snapshot's rows as a
``pyarrow.Table`` (checked against the recorded snapshot id). It is deliberately not an
``mlflow.dataset_source`` entry point: that would import tablever whenever any program
imports ``mlflow.data``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

try:
    import mlflow
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.data.dataset_source_registry import register_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag, Param
    from mlflow.tracking import MlflowClient
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "tablever.mlflow needs MLflow: pip install 'tablever[mlflow]' (mlflow-skinny)"
    ) from exc

from tablever.errors import InvalidValueError
from tablever.format.commit import check_name

if TYPE_CHECKING:
    from tablever.snapshot import Snapshot
    from tablever.table import Table

__all__ = ["SOURCE_TYPE", "TableverDatasetSource", "log_snapshot", "snapshot_dataset"]

SOURCE_TYPE = "tablever"
_PARAM_PREFIX = "tablever."


class TableverDatasetSource(DatasetSource):
    """An MLflow dataset source: one version of a tablever table."""

    def __init__(self, uri: str, version: int, snapshot_id: str) -> None:
        self.uri = uri
        self.version = int(version)
        self.snapshot_id = snapshot_id

    @staticmethod
    def _get_source_type() -> str:
        return SOURCE_TYPE

    def load(self) -> pa.Table:
        """The snapshot's rows (checked against the recorded snapshot id)."""
        import tablever as tv
        from tablever.errors import IntegrityError

        snap = tv.open(self.uri).as_of(self.version)
        if snap.id != self.snapshot_id:
            raise IntegrityError(
                f"version {self.version} of {self.uri} has id {snap.id[:12]}, the MLflow "
                f"dataset recorded {self.snapshot_id[:12]}"
            )
        return snap.to_arrow()

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False  # built explicitly by snapshot_dataset, never guessed from a string

    @classmethod
    def _resolve(cls, raw_source: Any) -> TableverDatasetSource:
        raise NotImplementedError("build tablever sources with tablever.mlflow.snapshot_dataset")

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "version": self.version, "snapshot_id": self.snapshot_id}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> TableverDatasetSource:
        return cls(source_dict["uri"], source_dict["version"], source_dict["snapshot_id"])


register_dataset_source(TableverDatasetSource)  # type: ignore[arg-type]  # MLflow registers classes


class _SnapshotDataset(MetaDataset):
    """A metadata-only MLflow dataset with a profile (rows, fingerprint, content hash)."""

    def __init__(self, source: TableverDatasetSource, name: str, digest: str,
                 schema: Any, profile: Mapping[str, Any]) -> None:
        self._profile = dict(profile)
        super().__init__(source=source, name=name, digest=digest, schema=schema)

    @property
    def profile(self) -> dict[str, Any]:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        config: dict[str, str] = super().to_dict()
        config["profile"] = json.dumps(self._profile, sort_keys=True)
        return config


def _mlflow_schema(schema: pa.Schema) -> Any:
    """An ``mlflow.types.Schema`` when every column has a scalar MLflow type, else None."""
    from mlflow.types import ColSpec, DataType, Schema

    specs: list[Any] = []
    for f in schema:
        t = f.type
        if pa.types.is_boolean(t):
            dtype = DataType.boolean
        elif pa.types.is_integer(t):
            dtype = DataType.integer if t.bit_width <= 32 and pa.types.is_signed_integer(t) \
                else DataType.long
        elif pa.types.is_floating(t):
            dtype = DataType.double if t.bit_width == 64 else DataType.float
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            dtype = DataType.string
        elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
            dtype = DataType.binary
        elif pa.types.is_timestamp(t) or pa.types.is_date(t):
            dtype = DataType.datetime
        else:
            return None
        specs.append(ColSpec(type=dtype, name=f.name, required=not f.nullable))
    return Schema(specs)


def snapshot_dataset(snapshot: Snapshot, *, name: str | None = None,
                     table: Table | None = None) -> MetaDataset:
    """The MLflow dataset (``mlflow.data``) describing ``snapshot``; nothing is read."""
    table_name = table.name if table is not None else _table(snapshot).name
    source = TableverDatasetSource(snapshot.location, snapshot.version, snapshot.id)
    profile = {
        "num_rows": snapshot.num_rows,
        "fingerprint": snapshot.fingerprint,
        "content_hash": snapshot.content_hash,
    }
    return _SnapshotDataset(
        source,
        name=name or f"{table_name}@v{snapshot.version}",
        digest=snapshot.fingerprint[:12],
        schema=_mlflow_schema(snapshot.schema),
        profile=profile,
    )


def _table(snapshot: Snapshot) -> Table:
    from tablever.table import open_table

    return open_table(snapshot.location)


def _run_id(run: Any) -> str:
    if run is None:
        active = mlflow.active_run() or mlflow.start_run()
        return str(active.info.run_id)
    if isinstance(run, str):
        return run
    info = getattr(run, "info", None)
    if info is not None and isinstance(getattr(info, "run_id", None), str):
        return str(info.run_id)
    raise InvalidValueError(f"run must be an MLflow run id or run, got {type(run).__name__}")


def log_snapshot(
    snapshot: Snapshot,
    run: Any = None,
    *,
    table: Table | None = None,
    name: str | None = None,
    model: str | None = None,
    context: str = "training",
) -> None:
    """Log ``snapshot`` on an MLflow run and link the run back to the snapshot.

    ``run`` is a run id or an MLflow ``Run``/``ActiveRun``; None means the active run
    (one is started, as ``mlflow.log_param`` would, when none is active). ``table`` is the
    snapshot's table (opened from ``snapshot.location`` when None). ``name`` names the
    dataset and the param group (``tablever.<name>.*``; default: the table's name), so two
    tables, or two uses of one table, can be logged on one run.

    Example:
        >>> import mlflow, pyarrow as pa, tablever as tv, tempfile, os
        >>> from tablever.mlflow import log_snapshot
        >>> root = tempfile.mkdtemp()
        >>> _ = mlflow.set_tracking_uri("sqlite:///" + os.path.join(root, "mlflow.db"))
        >>> t = tv.create(os.path.join(root, "events"), schema=pa.schema([("x", pa.int64())]))
        >>> s = t.append(pa.table({"x": [1, 2, 3]}))
        >>> with mlflow.start_run() as run:
        ...     log_snapshot(s)
        >>> mlflow.get_run(run.info.run_id).data.params["tablever.events.version"]
        '1'
        >>> [r.run_id for r in t.runs(1)] == [run.info.run_id]
        True
    """
    table = table if table is not None else _table(snapshot)
    label = check_name(name if name is not None else table.name, "dataset name")
    run_id = _run_id(run)
    check_name(run_id, "run id")
    client = MlflowClient()
    prefix = f"{_PARAM_PREFIX}{label}."
    values = {
        "table": snapshot.location,
        "version": str(snapshot.version),
        "id": snapshot.id,
        "fingerprint": snapshot.fingerprint,
        "rows": str(snapshot.num_rows),
        "content_hash": snapshot.content_hash,
    }
    client.log_batch(run_id, params=[Param(prefix + k, v) for k, v in values.items()])
    dataset = snapshot_dataset(snapshot, name=name, table=table)
    client.log_inputs(
        run_id,
        datasets=[
            DatasetInput(
                dataset._to_mlflow_entity(),
                tags=[InputTag("mlflow.data.context", context)],
            )
        ],
    )
    info = client.get_run(run_id)
    params = {k: v for k, v in info.data.params.items() if not k.startswith(_PARAM_PREFIX)}
    existing = {r.run_id: r for r in table.runs()}
    linked = existing.get(run_id)
    if linked is not None and linked.version != snapshot.version:
        raise InvalidValueError(
            f"MLflow run {run_id} is already linked to version {linked.version} of "
            f"{table.name}; a run links to one version of a table"
        )
    table.link_run(
        run_id,
        ref=snapshot.version,
        model=model if model is not None else (linked.model if linked else None),
        metrics=dict(info.data.metrics),
        params=params,
        artifact_uri=info.info.artifact_uri,
        force=linked is not None,
    )
