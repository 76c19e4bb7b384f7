"""Calibration of the trend decisions against their stated rates (issue 13, item 6).

A small run of ``scenarios_trend.calibration_rows``; ``make calibrate`` runs the same
scenarios with many more replications.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from scenarios_trend import calibration_rows  # noqa: E402

REPLICATIONS = 150
SEED = 20261206
KEYS = {"decision", "scenario", "nominal", "direction", "measured", "replications", "note"}


def _tolerance(nominal: float, n: int) -> float:
    return 3.0 * math.sqrt(nominal * (1.0 - nominal) / n)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return calibration_rows(REPLICATIONS, SEED)


def test_rows_follow_the_convention(rows: list[dict[str, object]]) -> None:
    assert len(rows) == 14
    for row in rows:
        assert set(row) == KEYS and row["direction"] in ("<=", ">=")
        assert row["replications"] == REPLICATIONS


def test_each_rate_within_its_binomial_tolerance(rows: list[dict[str, object]]) -> None:
    for row in rows:
        nominal, measured = float(row["nominal"]), float(row["measured"])  # type: ignore[arg-type]
        tol = _tolerance(nominal, REPLICATIONS)
        if row["direction"] == "<=":
            assert measured <= nominal + tol, row
        else:
            assert measured >= nominal - tol, row


def test_bands_are_not_needlessly_wide(rows: list[dict[str, object]]) -> None:
    """A band of infinite width would pass the one-sided check: the 95 % band and
    CI must not cover far more than 95 % either."""
    for row in rows:
        if row["direction"] == ">=" and "covers" in str(row["decision"]):
            assert float(row["measured"]) <= 0.995, row  # type: ignore[arg-type]
