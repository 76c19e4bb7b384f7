"""Linear trend with 95% prediction intervals on 1M points vs statsmodels and NumPy."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import statsmodels.api as sm
from scipy import stats

from benchmarks.common import write_results
from perfstats import fit_trend

N = 1_000_000
LEVEL = 0.95
PAUSE = 0.3  # seconds of quiet before each timed call


def _data() -> tuple[np.ndarray, np.ndarray]:
    # A day of per-request latencies at epoch-second timestamps, with a slow drift.
    rng = np.random.default_rng(20261123)
    t = 1.7e9 + np.sort(rng.uniform(0.0, 86_400.0, N))
    y = 250.0 + 1e-4 * (t - t[0]) + rng.lognormal(0.0, 0.5, N) * 20.0
    return t, y


# Each library is timed to its own result holding the band: our Prediction (mean, lower
# and upper arrays) and statsmodels' summary frame. The *_as_array variants add the copy
# into one (n, 3) array, the form the agreement check compares; both figures are written.


def perfstats_band(t: np.ndarray, y: np.ndarray) -> Any:
    return fit_trend(t, y).predict(t, interval="prediction", level=LEVEL)


def perfstats_array(band: Any) -> np.ndarray:
    return np.column_stack([band.mean, band.lower, band.upper])


def statsmodels_band(t: np.ndarray, y: np.ndarray) -> Any:
    x = sm.add_constant(t)
    return sm.OLS(y, x).fit().get_prediction(x).summary_frame(alpha=1 - LEVEL)


def statsmodels_array(frame: Any) -> np.ndarray:
    return frame[["mean", "obs_ci_lower", "obs_ci_upper"]].to_numpy()


def numpy_band(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    # lstsq for the coefficients, then the textbook prediction band.
    x = np.column_stack([np.ones_like(t), t])
    beta, _, _, _ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    df = t.size - 2
    s2 = resid @ resid / df
    xtx_inv = np.linalg.pinv(x.T @ x)
    se = np.sqrt(s2 * (1.0 + np.einsum("ij,jk,ik->i", x, xtx_inv, x)))
    q = stats.t.ppf(0.5 + LEVEL / 2, df)
    mean = x @ beta
    return np.column_stack([mean, mean - q * se, mean + q * se])


def interleaved_best(
    contenders: dict[str, Callable[[], object]], rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall and best process CPU time (seconds) of each contender over `rounds`
    rounds that call every contender once, after one warm-up call of each. Taking turns
    gives all of them the same machine load and allocator state (glibc returns or keeps
    freed pages depending on what ran before). Each call starts after a pause of
    `PAUSE` s: OpenBLAS worker threads spin for a while after a call, and would
    otherwise take a core from (and add CPU time to) whoever runs next."""
    for fn in contenders.values():
        fn()
    wall = dict.fromkeys(contenders, float("inf"))
    cpu = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, fn in contenders.items():
            time.sleep(PAUSE)
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            c1, w1 = time.process_time(), time.perf_counter()
            wall[name] = min(wall[name], w1 - w0)
            cpu[name] = min(cpu[name], c1 - c0)
    return wall, cpu


def main() -> None:
    t, y = _data()
    ours = perfstats_array(perfstats_band(t, y))
    contenders: dict[str, Callable[[], object]] = {
        "perfstats": lambda: perfstats_band(t, y),
        "statsmodels": lambda: statsmodels_band(t, y),
        "perfstats_as_array": lambda: perfstats_array(perfstats_band(t, y)),
        "statsmodels_as_array": lambda: statsmodels_array(statsmodels_band(t, y)),
        "numpy_lstsq": lambda: numpy_band(t, y),
    }
    load = os.getloadavg()[0]
    times, cpu = interleaved_best(contenders, rounds=15)
    agreement = {
        name: float(np.max(np.abs(ours - other) / np.abs(other)))
        for name, other in (
            ("statsmodels", statsmodels_array(statsmodels_band(t, y))),
            ("numpy_lstsq", numpy_band(t, y)),
        )
    }

    def ratios(of: dict[str, float]) -> dict[str, float]:
        return {
            "statsmodels": of["statsmodels"] / of["perfstats"],
            "statsmodels_as_array": of["statsmodels_as_array"]
            / of["perfstats_as_array"],
            "numpy_lstsq": of["numpy_lstsq"] / of["perfstats_as_array"],
        }

    write_results(
        "trend",
        {
            "task": f"linear trend + {LEVEL:.0%} prediction interval at every point",
            "n": N,
            "timed_to": "each library's own result (Prediction; summary_frame); "
            "*_as_array adds the copy into one (n, 3) array",
            "load_average_1min": load,
            "seconds": times,
            "speedup_vs": ratios(times),
            "cpu_seconds": cpu,
            "cpu_speedup_vs": ratios(cpu),
            "max_relative_difference_vs": agreement,
        },
    )


if __name__ == "__main__":
    main()
