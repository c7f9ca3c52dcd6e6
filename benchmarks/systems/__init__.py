"""One module per system, each a :class:`~benchmarks.systems.base.System` subclass.

Modules import their engine lazily, so listing systems needs only the standard library.
"""

from __future__ import annotations

import importlib

from benchmarks.systems.base import System

MODULES = {
    "tablever": "benchmarks.systems.tablever_sys",
    "delta": "benchmarks.systems.delta_sys",
    "iceberg": "benchmarks.systems.iceberg_sys",
    "lance": "benchmarks.systems.lance_sys",
    "ducklake": "benchmarks.systems.ducklake_sys",
    "raw": "benchmarks.systems.raw_sys",
}
ALL = list(MODULES)


def load(name: str) -> type[System]:
    cls: type[System] = importlib.import_module(MODULES[name]).SYSTEM
    return cls
