"""The check gate's stated false-failure rate and power (scenarios_check.py); ``make
calibrate`` runs the same scenarios with many more replications."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from scenarios_check import calibration_rows

Check = Callable[[Mapping[str, object]], None]


def test_check_gate_meets_its_stated_rates(check_calibration_row: Check) -> None:
    rows = calibration_rows(60, 15)
    assert {r["decision"] for r in rows} == {
        "check regression p95 false fail",
        "check regression p95 power",
    }
    for row in rows:
        check_calibration_row(row)
