"""The check shared by the calibration suite: a measured rate against its stated one.

Every ``scenarios_<family>.py`` module here exposes ``calibration_rows(replications, seed)``
(seeded simulations with known truth); ``make calibrate`` runs them with many replications
and writes ``benchmarks/results/calibration.json``; ``test_<family>.py`` runs them with few
and checks each row through the ``check_calibration_row`` fixture (conftest.py).
"""

import math
from collections.abc import Mapping


def binomial_tolerance(nominal: float, replications: int, z: float = 3.0) -> float:
    """One-sided allowance for the Monte-Carlo noise of a rate measured from
    ``replications`` independent runs (z binomial standard errors, at least 1/n)."""
    return max(
        z * math.sqrt(nominal * (1.0 - nominal) / replications), 1.0 / replications
    )


def check_row(row: Mapping[str, object]) -> None:
    """Assert one calibration row: "<=" rates (false ships, false alerts) may not exceed
    the nominal rate, ">=" rates (coverage, power) may not fall below it, beyond the
    binomial tolerance of its replications."""
    nominal = float(row["nominal"])  # type: ignore[arg-type]
    measured = float(row["measured"])  # type: ignore[arg-type]
    n = int(row["replications"])  # type: ignore[call-overload]
    tol = binomial_tolerance(nominal, n)
    what = f"{row['decision']} / {row['scenario']}: measured {measured:.4f}, nominal {nominal}, n={n}"
    if row["direction"] == "<=":
        assert measured <= nominal + tol, what
    elif row["direction"] == ">=":
        assert measured >= nominal - tol, what
    else:
        raise AssertionError(f"unknown direction {row['direction']!r} in {what}")
