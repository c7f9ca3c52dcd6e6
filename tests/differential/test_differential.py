"""The fast profile of the differential test against DuckDB (tests/differential/model.py):
a few fixed seeds, a bounded number of steps each. ``make fuzz`` runs new seeds for longer."""

from __future__ import annotations

import pytest

from tests.differential.model import Stats, run_seed

SEEDS = [1, 2, 3, 4]
STEPS = 15


@pytest.mark.parametrize("seed", SEEDS)
def test_tablever_agrees_with_duckdb(seed: int) -> None:
    stats = Stats()
    failure = run_seed(seed, STEPS, shrink_budget=10.0, stats=stats)
    if failure is not None:
        pytest.fail(failure.report(), pytrace=False)
    assert stats.steps == STEPS and stats.checks > STEPS
