"""Calibration of compare's verdicts against their stated error rates (issue 13).

A small run of ``scenarios_compare.calibration_rows``; ``make calibrate`` runs the same
scenarios with many more replications (and the ``slow`` test here with 200).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from scenarios_compare import calibration_rows

SEED = 20261207
Check = Callable[[Mapping[str, object]], None]


def test_compare_meets_its_stated_rates(check_calibration_row: Check) -> None:
    rows = calibration_rows(10, SEED)
    assert {r["decision"] for r in rows} >= {
        "compare ship", "compare family-wise error", "compare power",
        "compare small arms", "compare sequential",
    }  # fmt: skip
    for row in rows:
        check_calibration_row(row)


@pytest.mark.slow
def test_compare_meets_its_stated_rates_many_replications(
    check_calibration_row: Check,
) -> None:
    for row in calibration_rows(200, SEED + 1):
        check_calibration_row(row)
