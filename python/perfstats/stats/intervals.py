"""Confidence intervals for rates (error rate, SLA compliance, outcome rates)."""

from __future__ import annotations

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
