"""Where everything of a table lives under its root: every path and file-name pattern.

The one place that spells the on-disk layout (docs/format.md describes it)::

    data/ab/<sha256>.parquet            data files, named by the SHA-256 of their bytes
    deletes/ab/<sha256>.parquet         deletion vectors, the same way
    _tablever/log/<version:020d>.json   one commit per version
    _tablever/checkpoints/<version:020d>.parquet
    _tablever/tags/<name>.json, _tablever/runs/<run id>.json
    _tablever/expired/<expired ms:020d>-<16 hex>.json
    _tablever/iceberg/...               Iceberg metadata over the data files (an export)
"""

from __future__ import annotations

import re

__all__ = [
    "CKPT_DIR", "CKPT_NAME", "COMMIT_NAME", "DATA_DIR", "DELETES_DIR", "EXPIRED_DIR",
    "EXPIRED_NAME", "ICEBERG_DIR", "LOG_DIR", "META", "ROOTS", "RUNS_DIR", "STORED", "TAGS_DIR",
    "checkpoint_path", "commit_path", "content_path", "expired_path", "run_path", "tag_path",
]

DATA_DIR = "data"
DELETES_DIR = "deletes"
META = "_tablever"
LOG_DIR = f"{META}/log"
CKPT_DIR = f"{META}/checkpoints"
TAGS_DIR = f"{META}/tags"
RUNS_DIR = f"{META}/runs"
EXPIRED_DIR = f"{META}/expired"
ICEBERG_DIR = f"{META}/iceberg"  # tv.export_iceberg's default folder (docs/iceberg.md)
ROOTS = (DATA_DIR, DELETES_DIR, META)  # nothing of a table lives elsewhere

COMMIT_NAME = re.compile(r"^([0-9]{20})\.json\Z")  # [0-9]: \d takes any digit
CKPT_NAME = re.compile(r"^([0-9]{20})\.parquet\Z")
EXPIRED_NAME = re.compile(r"^[0-9]{20}-[0-9a-f]{16}\.json\Z")
STORED = re.compile(r"(?:data|deletes)/[0-9a-f]{2}/[0-9a-f]{64}\.parquet")


def commit_path(version: int) -> str:
    return f"{LOG_DIR}/{version:020d}.json"


def checkpoint_path(version: int) -> str:
    return f"{CKPT_DIR}/{version:020d}.parquet"


def content_path(folder: str, sha256: str) -> str:
    """Where bytes with this SHA-256 live in ``data`` or ``deletes``."""
    return f"{folder}/{sha256[:2]}/{sha256}.parquet"


def tag_path(name: str) -> str:
    return f"{TAGS_DIR}/{name}.json"


def run_path(run_id: str) -> str:
    return f"{RUNS_DIR}/{run_id}.json"


def expired_path(expired_ms: int, token: str) -> str:
    return f"{EXPIRED_DIR}/{expired_ms:020d}-{token}.json"
