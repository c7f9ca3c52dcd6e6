"""Tags and model runs: small JSON records beside the log."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tablever.errors import CorruptLogError, InvalidNameError, InvalidValueError
from tablever.format.commit import canonical_json, check_name
from tablever.format.layout import RUNS_DIR, TAGS_DIR, run_path, tag_path
from tablever.storage import Storage

__all__ = ["Run", "TagRecord", "Catalog"]


@dataclass(frozen=True, slots=True)
class TagRecord:
    name: str
    version: int
    id: str
    message: str
    created_ms: int
    author: str


@dataclass(frozen=True, slots=True)
class Run:
    """A model run linked to the snapshot it was trained on."""

    run_id: str
    version: int
    snapshot_id: str
    model: str | None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    artifact_uri: str | None = None
    created_ms: int = 0
    author: str = ""

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_ms / 1000, tz=timezone.utc)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "version": self.version,
            "snapshot_id": self.snapshot_id,
            "model": self.model,
            "metrics": dict(self.metrics),
            "params": dict(self.params),
            "artifact_uri": self.artifact_uri,
            "created_ms": self.created_ms,
            "author": self.author,
        }


def _load(storage: Storage, path: str) -> dict[str, Any]:
    try:
        d = json.loads(storage.read_bytes(path))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptLogError(f"{path}: unreadable: {exc}") from exc
    if not isinstance(d, dict):
        raise CorruptLogError(f"{path}: must be a JSON object")
    return d


def _int(d: Mapping[str, Any], key: str, path: str) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise CorruptLogError(f"{path}: bad {key!r}")
    return v


class Catalog:
    """Tags and runs of one table."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    # --- tags ---------------------------------------------------------------------

    def tag_names(self) -> list[str]:
        out = []
        for name in self.storage.list_names(TAGS_DIR):
            if name.endswith(".json"):
                stem = name[:-5]
                try:
                    out.append(check_name(stem, "tag name", existing=True))
                except InvalidNameError:
                    continue  # not ours (and never followed)
        return sorted(out)

    def read_tag(self, name: str) -> TagRecord:
        check_name(name, "tag name", existing=True)
        path = tag_path(name)
        d = _load(self.storage, path)
        try:
            rec = TagRecord(
                name=d["name"],
                version=_int(d, "version", path),
                id=str(d["id"]),
                message=str(d.get("message", "")),
                created_ms=_int(d, "created_ms", path),
                author=str(d.get("author", "")),
            )
        except KeyError as exc:
            raise CorruptLogError(f"{path}: missing field {exc}") from exc
        if rec.name != name:
            raise CorruptLogError(f"{path}: holds tag {rec.name!r}")
        return rec

    def write_tag(self, rec: TagRecord, *, force: bool) -> bool:
        """False if the tag exists and ``force`` is not set."""
        path = tag_path(rec.name)
        data = canonical_json(
            {
                "name": rec.name,
                "version": rec.version,
                "id": rec.id,
                "message": rec.message,
                "created_ms": rec.created_ms,
                "author": rec.author,
            }
        )
        self.storage.makedirs(TAGS_DIR)
        if force:
            self.storage.write_file(path, data)
            return True
        return self.storage.put_if_absent(path, data, fault="tag")

    def delete_tag(self, name: str) -> None:
        check_name(name, "tag name", existing=True)
        self.storage.delete(tag_path(name))

    # --- runs ---------------------------------------------------------------------

    def run_ids(self) -> list[str]:
        out = []
        for name in self.storage.list_names(RUNS_DIR):
            if name.endswith(".json"):
                try:
                    out.append(check_name(name[:-5], "run id", existing=True))
                except InvalidNameError:
                    continue
        return sorted(out)

    def read_run(self, run_id: str) -> Run:
        check_name(run_id, "run id", existing=True)
        path = run_path(run_id)
        d = _load(self.storage, path)
        metrics, params = d.get("metrics", {}), d.get("params", {})
        if not isinstance(metrics, dict) or not isinstance(params, dict):
            raise CorruptLogError(f"{path}: metrics and params must be objects")
        if d.get("run_id") != run_id:
            raise CorruptLogError(f"{path}: holds run {d.get('run_id')!r}")
        return Run(
            run_id=run_id,
            version=_int(d, "version", path),
            snapshot_id=str(d.get("snapshot_id", "")),
            model=d.get("model"),
            metrics=metrics,
            params=params,
            artifact_uri=d.get("artifact_uri"),
            created_ms=_int(d, "created_ms", path),
            author=str(d.get("author", "")),
        )

    def write_run(self, run: Run, *, force: bool) -> bool:
        path = run_path(run.run_id)
        try:
            data = canonical_json(run.to_dict())
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(
                f"run {run.run_id!r}: metrics and params must be JSON values: {exc}"
            ) from exc
        self.storage.makedirs(RUNS_DIR)
        if force:
            self.storage.write_file(path, data)
            return True
        return self.storage.put_if_absent(path, data, fault="run")

    def runs(self) -> list[Run]:
        return [self.read_run(r) for r in self.run_ids()]


def now_ms() -> int:
    return int(time.time() * 1000)
