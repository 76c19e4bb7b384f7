"""Calibration of compare with CUPED against its stated rates (issue 13).

A small run of ``scenarios_cuped.calibration_rows`` (``make calibrate`` runs more), and
the gain CUPED measures: more power than the clustered analysis without a pre-period on
the same experiments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from scenarios_cuped import calibration_rows, power_pair

SEED = 20261208
Check = Callable[[Mapping[str, object]], None]


def test_cuped_meets_its_stated_rates(check_calibration_row: Check) -> None:
    rows = calibration_rows(10, SEED)
    assert {r["decision"] for r in rows} == {
        "compare ship (CUPED)", "compare power (CUPED)", "compare ship (clustered)"
    }  # fmt: skip
    for row in rows:
        check_calibration_row(row)


def test_cuped_measures_a_gain_in_power() -> None:
    with_pre, without = power_pair(20, SEED + 2)
    # expected about 0.9 against 0.3 (normal approximation of the simulated design)
    assert with_pre >= without + 0.3, (with_pre, without)


@pytest.mark.slow
def test_cuped_meets_its_stated_rates_many_replications(
    check_calibration_row: Check,
) -> None:
    for row in calibration_rows(200, SEED + 1):
        check_calibration_row(row)
