"""Anomaly detectors against the pandas rolling statistics they replace.

10 million points of Gaussian noise with 0.1% spikes. RollingZScore (mean, sample
standard deviation, score, flag and band per point) is timed against pandas
``rolling(window).mean()`` plus ``.std()`` alone; RobustZScore (median, MAD, score, flag
and band) against pandas ``rolling(window).median()`` alone. Two windows: 100 points and
1,000 points, plus RobustZScore with a 100,000-point window on the first million points.
Both sides get the same float64 array in the same process.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import best_time, write_results
from perfstats import EwmaZScore, RobustZScore, RollingZScore, SeasonalZScore

N = 10_000_000
WINDOWS = (100, 1000)


def main() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(100.0, 5.0, N)
    spikes = rng.choice(N, N // 1000, replace=False)
    x[spikes] += rng.normal(0, 50, spikes.size)
    s = pd.Series(x)
    results: dict[str, Any] = {"n": N, "windows": {}}
    for w in WINDOWS:
        t_roll = best_time(lambda w=w: RollingZScore(w).detect(x), repeat=3)

        def pandas_mean_std(w: int = w) -> None:
            r = s.rolling(w)
            r.mean()
            r.std()

        t_pd = best_time(pandas_mean_std, repeat=3)
        t_rob = best_time(lambda w=w: RobustZScore(w).detect(x), repeat=2)
        t_pd_med = best_time(lambda w=w: s.rolling(w).median(), repeat=2)
        results["windows"][str(w)] = {
            "rolling_zscore_s": t_roll,
            "pandas_rolling_mean_std_s": t_pd,
            "rolling_speedup": t_pd / t_roll,
            "robust_zscore_s": t_rob,
            "pandas_rolling_median_s": t_pd_med,
            "robust_speedup": t_pd_med / t_rob,
        }
    # A long window (one day of 1-second data would be 86,400 points) on 1M points:
    # above 4,096 points the sorted window is a tiered vector (O(sqrt window) per push).
    big, xs = 100_000, s.iloc[:1_000_000]
    t_big = best_time(lambda: RobustZScore(big).detect(x[:1_000_000]), repeat=2)
    t_big_pd = best_time(lambda: xs.rolling(big).median(), repeat=2)
    results["window_100000_on_1M"] = {
        "robust_zscore_s": t_big,
        "pandas_rolling_median_s": t_big_pd,
        "robust_speedup": t_big_pd / t_big,
    }
    results["ewma_zscore_s"] = best_time(lambda: EwmaZScore(50.0).detect(x), repeat=3)
    results["pandas_ewm_mean_var_s"] = best_time(
        lambda: (s.ewm(halflife=50.0).mean(), s.ewm(halflife=50.0).var()), repeat=3
    )
    results["seasonal_zscore_288x7_s"] = best_time(
        lambda: SeasonalZScore(288, 7).detect(x), repeat=2
    )
    # Streaming: one Python call per point, on a 200,000-point slice.
    part = x[:200_000].tolist()

    def stream() -> None:
        det = RobustZScore(100)
        for v in part:
            det.update(v)

    results["robust_update_us_per_point"] = (
        best_time(stream, repeat=3) / len(part) * 1e6
    )
    results["targets"] = {"rolling_speedup": 3.0, "robust_speedup": 2.0}
    # The machine is shared: a load above the core count makes every ratio noisy.
    results["load_average_1_5_15"] = list(os.getloadavg())
    write_results("anomaly", results)
    return results


if __name__ == "__main__":
    main()
