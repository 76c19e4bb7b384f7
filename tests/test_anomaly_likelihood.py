"""anomaly_likelihood and empirical_tail_score against direct per-point recomputations,
and causality (changing later scores never changes earlier outputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from perfstats.stats.detectors import (
    RobustZScore,
    anomaly_likelihood,
    empirical_tail_score,
)


def direct(
    scores: np.ndarray, window: int, short: int, learn: int, min_std: float
) -> np.ndarray:
    """The rule of Ahmad et al. (2017) evaluated point by point from the definitions."""
    a = np.abs(np.asarray(scores, dtype=float))
    out = np.full(a.shape, np.nan)
    history: list[float] = []
    finite_max = 0.0
    for i, x in enumerate(a):
        if np.isnan(x):
            continue
        if np.isinf(x):
            history.append(finite_max)
        else:
            finite_max = max(finite_max, x)
            history.append(x)
        if len(history) <= learn:
            out[i] = 0.5
            continue
        if np.isinf(x):
            out[i] = 1.0
            continue
        long = np.array(history[-window:])
        sd = long.std(ddof=1) if long.size > 1 else 0.0
        sigma = max(sd, min_std)
        z = (np.mean(history[-short:]) - long.mean()) / sigma
        out[i] = 1.0 - norm.sf(z) if z < 0 else norm.cdf(z)
    return out


def with_gaps(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, n) * rng.uniform(0.5, 20.0)
    x[rng.choice(n, n // 15, replace=False)] = np.nan
    x[rng.choice(n, 3, replace=False)] = np.inf
    x[100:140] = 0.0  # a flat stretch: the std floor takes over
    return x


@pytest.mark.parametrize(
    "window,short,learn,min_std",
    [(50, 5, 20, 0.0173), (8640, 10, 288, 0.0173), (7, 7, 0, 0.5), (2, 1, 0, 1e-3)],
)
def test_matches_direct_recomputation(window, short, learn, min_std):
    x = with_gaps(1500, window)
    got = anomaly_likelihood(
        x, window=window, short_window=short, learning_period=learn, min_std=min_std
    )
    want = direct(x, window, short, learn, min_std)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    # Window sums from restarted prefix sums versus a fresh two-pass std: the
    # difference is rounding of sums of at most 2 * window terms of size <= ~1e3,
    # amplified by 1/sigma >= 1/60 into z and by the normal density (<= 0.4) into L.
    np.testing.assert_allclose(got[ok], want[ok], rtol=0, atol=1e-9)
    assert ((got[ok] >= 0.0) & (got[ok] <= 1.0)).all()


def test_long_series_has_no_drift():
    # 200,000 scores with an offset of 1e4: a running (not restarted) prefix sum of the
    # squares would lose the variance (~1) entirely.
    rng = np.random.default_rng(5)
    x = 1e4 + rng.normal(size=200_000)
    got = anomaly_likelihood(x, window=500, short_window=10, learning_period=0)
    tail = x[-500:]
    z = (x[-10:].mean() - tail.mean()) / tail.std(ddof=1)
    assert got[-1] == pytest.approx(norm.cdf(z), abs=1e-7)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 300),
    cut=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
    window=st.integers(2, 60),
)
def test_changing_future_points_never_changes_past_outputs(n, cut, seed, window):
    cut = min(cut, n - 1)
    rng = np.random.default_rng(seed)
    x = rng.exponential(size=n) * rng.choice([1.0, 100.0], size=n)
    x[rng.random(n) < 0.1] = np.nan
    y = x.copy()
    y[cut:] = rng.normal(scale=1e3, size=n - cut)
    y[rng.random(n) < 0.05] = np.inf
    y[:cut] = x[:cut]
    kw = {"window": window, "short_window": min(5, window), "learning_period": 10}
    a = anomaly_likelihood(x, **kw)
    b = anomaly_likelihood(y, **kw)
    np.testing.assert_array_equal(a[:cut], b[:cut])  # bit for bit, NaN in place
    np.testing.assert_array_equal(anomaly_likelihood(x[:cut], **kw), a[:cut])


def test_learning_period_nan_and_infinite_rules():
    x = np.array([np.nan, 1.0, 2.0, np.nan, 1.0, np.inf, 1.0])
    got = anomaly_likelihood(x, window=4, short_window=1, learning_period=3)
    assert np.isnan(got[0]) and np.isnan(got[3])
    assert got[1] == got[2] == got[4] == 0.5  # the first 3 valid points
    assert got[5] == 1.0
    assert 0.0 < got[6] < 0.5  # below the recent mean (inf entered as 2.0)
    assert np.isnan(anomaly_likelihood([np.nan, np.nan])).all()
    assert anomaly_likelihood(np.array([], dtype=float)).size == 0


def test_detector_scores_become_comparable_across_scales():
    # The same anomaly on a smooth and on a quantised series: the raw robust z-scores
    # differ by orders of magnitude, the likelihoods of the spike do not.
    rng = np.random.default_rng(1)
    smooth = rng.normal(50.0, 1.0, 3000)
    quantised = np.round(rng.normal(50.0, 1.0, 3000) / 2) * 2 + 1e-3 * rng.random(3000)
    out = []
    for x in (smooth, quantised):
        x = x.copy()
        x[2500:2503] += 25.0
        raw = RobustZScore(500, min_periods=50).detect(x).score
        lik = anomaly_likelihood(raw, window=2000)
        out.append((np.nanmax(np.abs(raw[2500:2503])), lik[2500:2503].max()))
    assert out[1][0] > 100 * out[0][0]
    assert min(out[0][1], out[1][1]) > 0.999


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"window": 1}, ValueError, "window must be >= 2"),
        ({"window": 5, "short_window": 6}, ValueError, "short_window must be <="),
        ({"short_window": 0}, ValueError, "short_window must be >= 1"),
        ({"learning_period": -1}, ValueError, "learning_period"),
        ({"min_std": 0.0}, ValueError, "min_std"),
        ({"min_std": math.nan}, ValueError, "min_std"),
        ({"window": 2.5}, TypeError, "window must be an integer"),
    ],
)
def test_bad_arguments_are_named(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        anomaly_likelihood([1.0, 2.0], **kwargs)


def test_bad_scores_are_named():
    with pytest.raises(TypeError, match="scores must be real"):
        anomaly_likelihood(["a"])
    with pytest.raises(ValueError, match="one-dimensional"):
        anomaly_likelihood(np.zeros((2, 2)))


# ---- empirical_tail_score -------------------------------------------------------------


def direct_tail(scores: np.ndarray) -> np.ndarray:
    a = np.abs(np.asarray(scores, dtype=float))
    out = np.full(a.shape, np.nan)
    history: list[float] = []
    for i, x in enumerate(a):
        if np.isnan(x):
            continue
        at_least = sum(1 for h in history if h >= x)
        out[i] = 1.0 - (1 + at_least) / (len(history) + 1)
        history.append(x)
    return out


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 700, 5000])
def test_tail_score_matches_counting_earlier_scores(n):
    rng = np.random.default_rng(n)
    x = np.round(rng.standard_t(2, n), 1)  # rounding makes ties
    x[rng.random(n) < 0.05] = np.nan
    x[rng.random(n) < 0.01] = -np.inf
    got = empirical_tail_score(x)
    want = direct_tail(x)
    # both compute 1 - (1 + count) / t from the same integers: equal bit for bit
    np.testing.assert_array_equal(got, want)


def test_tail_score_is_uniform_on_exchangeable_scores():
    # Conformal validity: for i.i.d. continuous scores p_t is uniform on {1/t, ..., 1}.
    x = np.random.default_rng(9).normal(size=20_000)
    p = 1.0 - empirical_tail_score(x)[1000:]
    for alpha in (0.01, 0.05, 0.5):
        assert abs(np.mean(p <= alpha) - alpha) < 4 * math.sqrt(alpha / len(p)) + 1e-3


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 400), cut=st.integers(0, 400), seed=st.integers(0, 2**32 - 1))
def test_tail_score_is_causal(n, cut, seed):
    cut = min(cut, n)
    rng = np.random.default_rng(seed)
    x = rng.exponential(size=n)
    x[rng.random(n) < 0.1] = np.nan
    y = x.copy()
    y[cut:] = rng.normal(scale=1e3, size=n - cut)
    a, b = empirical_tail_score(x), empirical_tail_score(y)
    np.testing.assert_array_equal(a[:cut], b[:cut])
    np.testing.assert_array_equal(empirical_tail_score(x[:cut]), a[:cut])


def test_tail_score_rejects_bad_input():
    with pytest.raises(TypeError, match="scores must be real"):
        empirical_tail_score(np.array(["x"]))
    with pytest.raises(ValueError, match="one-dimensional"):
        empirical_tail_score(np.zeros((2, 2)))
