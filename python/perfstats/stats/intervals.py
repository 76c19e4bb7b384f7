"""Confidence intervals for rates (error rate, SLA compliance, outcome rates)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt


def wilson_interval(
    successes: npt.ArrayLike, trials: npt.ArrayLike, *, confidence: float = 0.95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Wilson score interval for a binomial proportion (no continuity correction).

    Unlike the normal (Wald) interval it stays inside [0, 1] and keeps its coverage for
    rates near 0 or 1, such as error rates. Matches
    ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.

    Parameters
    ----------
    successes, trials : array-like
        Counts (floats allowed for weighted counts); ``0 <= successes <= trials``.
    confidence : float, default 0.95
        Two-sided confidence level in (0, 1).

    Returns
    -------
    (lower, upper) : tuple of numpy.ndarray
        Bounds of the rate (a fraction, not a percentage); NaN where ``trials == 0``.

    Examples
    --------
    >>> lo, hi = wilson_interval(3, 1000)  # 3 errors in 1,000 requests
    >>> print(f"{float(lo):.5f} {float(hi):.5f}")
    0.00102 0.00878
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(k < 0) or np.any(n < 0) or np.any(k > n):
        raise ValueError("need 0 <= successes <= trials")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    lower = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    upper = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return lower, upper


def newcombe_difference_interval(
    successes_a: float,
    trials_a: float,
    successes_b: float,
    trials_b: float,
    *,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for the difference of two rates ``p_a - p_b``.

    Built from the two Wilson score intervals (Newcombe 1998, method 10), so it
    stays inside [-1, 1] and does not collapse to a point when an arm has no events
    (19 requests without an error still give a wide interval). Matches
    ``statsmodels.stats.proportion.confint_proportions_2indep(..., compare="diff",
    method="newcomb")``.

    Parameters
    ----------
    successes_a, trials_a, successes_b, trials_b : float
        Event counts and sizes of arm a and the baseline arm b.
    confidence : float, default 0.95
        Two-sided confidence level in (0, 1).

    Returns
    -------
    (lower, upper) : tuple of float
        Bounds of ``p_a - p_b`` (fractions: 0.01 is one percentage point).

    Examples
    --------
    >>> lo, hi = newcombe_difference_interval(0, 19, 0, 19)
    >>> print(f"{lo:.3f} {hi:.3f}")
    -0.168 0.168
    """
    la, ua = wilson_interval(successes_a, trials_a, confidence=confidence)
    lb, ub = wilson_interval(successes_b, trials_b, confidence=confidence)
    pa = float(successes_a) / float(trials_a)
    pb = float(successes_b) / float(trials_b)
    lower = pa - pb - float(np.hypot(pa - float(la), float(ub) - pb))
    upper = pa - pb + float(np.hypot(float(ua) - pa, pb - float(lb)))
    return lower, upper


def rate_ratio_interval(
    successes_a: float,
    trials_a: float,
    successes_b: float,
    trials_b: float,
    *,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """MOVER-R interval for the ratio of two rates ``p_a / p_b`` from Wilson limits.

    The method of variance estimates recovery for ratios (Donner and Zou 2012) with
    Wilson score limits of each rate: no collapse at zero counts (no errors in arm a
    gives a lower bound of 0, not an interval of width 0). When the baseline has no
    events the ratio is unbounded above: the upper bound is ``inf`` (and both are NaN
    when neither arm has one).

    Parameters
    ----------
    successes_a, trials_a, successes_b, trials_b : float
        Event counts and sizes of arm a and the baseline arm b.
    confidence : float, default 0.95
        Two-sided confidence level in (0, 1).

    Returns
    -------
    (lower, upper) : tuple of float
        Bounds of ``p_a / p_b`` (1.2 means 20 % more often).

    Examples
    --------
    >>> lo, hi = rate_ratio_interval(30, 1000, 20, 1000)
    >>> print(f"{lo:.2f} {hi:.2f}")
    0.86 2.61
    """
    la, ua = (
        float(v) for v in wilson_interval(successes_a, trials_a, confidence=confidence)
    )
    lb, ub = (
        float(v) for v in wilson_interval(successes_b, trials_b, confidence=confidence)
    )
    pa = float(successes_a) / float(trials_a)
    pb = float(successes_b) / float(trials_b)
    if pa == 0 and pb == 0:
        return math.nan, math.nan
    if pb == 0:
        return (la / ub if ub > 0 else 0.0), math.inf
    prod = pa * pb
    lower = (
        (prod - math.sqrt(max(prod**2 - la * ub * (2 * pa - la) * (2 * pb - ub), 0.0)))
        / (ub * (2 * pb - ub))
        if ub * (2 * pb - ub) > 0
        else 0.0
    )
    den_u = lb * (2 * pb - lb)
    upper = (
        (prod + math.sqrt(max(prod**2 - ua * lb * (2 * pa - ua) * (2 * pb - lb), 0.0)))
        / den_u
        if den_u > 0
        else math.inf
    )
    return max(lower, 0.0), upper
