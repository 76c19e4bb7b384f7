"""Fixtures of the calibration suite (see _tolerance.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _tolerance import check_row


@pytest.fixture
def check_calibration_row() -> Callable[[Mapping[str, object]], None]:
    """``check_calibration_row(row)`` asserts one row of ``calibration_rows`` within the
    binomial tolerance of its replications."""
    return check_row
