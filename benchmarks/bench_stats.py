"""Welch t-test and Moments on 10 million doubles against SciPy and NumPy."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy import stats

import perfstats as ps
from benchmarks.common import best_time, write_results

N = 10_000_000


def _lre(x: float, exact: float) -> float:
    return 15.0 if x == exact else min(15.0, -math.log10(abs(x - exact) / abs(exact)))


def _digits_on_offset_data() -> dict[str, float]:
    """Digits of the SD of 1e9 + noise (exact rational SD of the doubles as oracle)."""
    rng = np.random.default_rng(7)
    x = 1e9 + rng.normal(0.0, 1e-3, 20_000)
    fr = [Fraction(float(v)) for v in x]
    mean = sum(fr, Fraction(0)) / len(fr)
    var = sum(((v - mean) ** 2 for v in fr), Fraction(0)) / (len(fr) - 1)
    exact_sd = math.sqrt(var)
    return {
        "perfstats_sd_digits": _lre(ps.Moments(x).std(), exact_sd),
        "numpy_sd_digits": _lre(float(np.std(x, ddof=1)), exact_sd),
    }


def main() -> None:
    rng = np.random.default_rng(0)
    a = rng.lognormal(3.0, 1.0, N)
    b = rng.lognormal(3.01, 1.0, N)

    ours = ps.welch_t_test(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert math.isclose(ours.pvalue, float(ref.pvalue), rel_tol=1e-9)
    t_ours = best_time(lambda: ps.welch_t_test(a, b), repeat=5)
    t_scipy = best_time(lambda: stats.ttest_ind(a, b, equal_var=False), repeat=5)

    t_moments = best_time(lambda: ps.Moments(a), repeat=7)
    t_numpy = best_time(lambda: (np.mean(a), np.var(a)), repeat=7)

    write_results(
        "stats",
        {
            "welch_t_test_2x10M": {
                "perfstats_s": t_ours,
                "scipy_ttest_ind_welch_s": t_scipy,
                "speedup_vs_scipy": t_scipy / t_ours,
                "target": ">= 3x",
            },
            "moments_10M": {
                "perfstats_moments_s": t_moments,
                "numpy_mean_plus_var_s": t_numpy,
                "speedup_vs_numpy": t_numpy / t_moments,
                "target": ">= 1x",
                "note": "perfstats also computes skewness, kurtosis, min, max, sum",
            },
            "accuracy_1e9_plus_noise": _digits_on_offset_data(),
        },
    )


if __name__ == "__main__":
    main()
