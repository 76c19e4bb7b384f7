"""Calibration of the history store's week-over-week tests (scenarios_history.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from scenarios_history import calibration_rows


def test_week_over_week_error_rates(
    check_calibration_row: Callable[[Mapping[str, object]], None],
) -> None:
    for row in calibration_rows(replications=100, seed=20260316):
        check_calibration_row(row)
