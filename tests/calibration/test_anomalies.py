"""Calibration of the anomaly decisions against their stated rates (issue 13, item 7).

A small run of ``scenarios_anomalies.calibration_rows``; ``make calibrate`` runs the
same scenarios with many more replications.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from scenarios_anomalies import calibration_rows

REPLICATIONS = 5
SEED = 20261206


def _tolerance(nominal: float, n: int) -> float:
    return 3.0 * math.sqrt(nominal * (1.0 - nominal) / n)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return calibration_rows(REPLICATIONS, SEED)


def test_rows_follow_the_convention(rows: list[dict[str, object]]) -> None:
    keys = {
        "decision",
        "scenario",
        "nominal",
        "direction",
        "measured",
        "replications",
        "note",
    }
    assert len(rows) == 9
    for row in rows:
        assert set(row) == keys
        assert row["direction"] in ("<=", ">=")


def test_each_rate_within_its_binomial_tolerance(rows: list[dict[str, object]]) -> None:
    for row in rows:
        nominal, measured = float(row["nominal"]), float(row["measured"])  # type: ignore[arg-type]
        n = int(row["replications"])  # type: ignore[call-overload]
        tol = _tolerance(nominal, n)
        if row["direction"] == "<=":
            assert measured <= nominal + tol, row
        else:
            assert measured >= nominal - tol, row


def test_short_window_detectors_are_not_conservative_either(
    rows: list[dict[str, object]],
) -> None:
    """A detector that never flags would pass the one-sided check: the finite-sample
    critical values must give the nominal rate itself (two-sided), the conformal one
    at least half of it after its warm-up."""
    detectors = [
        r for r in rows if str(r["decision"]).startswith(("Rolling", "Robust"))
    ]
    assert len(detectors) == 4
    for row in detectors:
        nominal, measured = float(row["nominal"]), float(row["measured"])  # type: ignore[arg-type]
        tol = _tolerance(nominal, int(row["replications"]))  # type: ignore[call-overload]
        floor = nominal if "empirical" not in str(row["decision"]) else 0.5 * nominal
        assert measured >= floor - tol, row
