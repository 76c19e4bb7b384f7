"""Calibration of the trend decisions against their stated rates (issue 13, item 6).

A small run of ``scenarios_trend.calibration_rows``; ``make calibrate`` runs the same
scenarios with many more replications.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from scenarios_trend import calibration_rows

REPLICATIONS = 150
SEED = 20261206
KEYS = {
    "decision",
    "scenario",
    "nominal",
    "direction",
    "measured",
    "replications",
    "note",
}


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return calibration_rows(REPLICATIONS, SEED)


def test_rows_follow_the_convention(rows: list[dict[str, object]]) -> None:
    assert len(rows) == 19
    for row in rows:
        assert set(row) == KEYS and row["direction"] in ("<=", ">=")
        assert row["replications"] == REPLICATIONS


def test_each_rate_within_its_binomial_tolerance(
    rows: list[dict[str, object]],
    check_calibration_row: Callable[[Mapping[str, object]], None],
) -> None:
    for row in rows:
        check_calibration_row(row)


def test_bands_are_not_needlessly_wide(rows: list[dict[str, object]]) -> None:
    """A band of infinite width would pass the one-sided check: the 95 % band and
    CI must not cover far more than 95 % either."""
    for row in rows:
        if row["direction"] == ">=" and "covers" in str(row["decision"]):
            assert float(row["measured"]) <= 0.995, row  # type: ignore[arg-type]
