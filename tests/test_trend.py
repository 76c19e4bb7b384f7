"""fit_trend against statsmodels OLS/WLS on the same polynomial + Fourier design."""

from __future__ import annotations

import json
import pickle
from fractions import Fraction
from typing import Any

import matplotlib
import numpy as np
import pytest
import statsmodels.api as sm
from exact_lls import exact_line
from hypothesis import given, settings
from hypothesis import strategies as st

from perfstats import Trend
from perfstats import fit_trend as _fit_trend

matplotlib.use("Agg")


def fit_trend(*args: Any, **kwargs: Any) -> Trend:
    # These tests check the least-squares fit against OLS oracles: independent noise
    # is forced (errors="auto" would fit AR(1) noise to the misfit of curved series);
    # the AR(1), log-scale and regime paths are tested in test_trend_diagnostics.py.
    kwargs.setdefault("errors", "iid")
    return _fit_trend(*args, **kwargs)


def _design(
    t: np.ndarray, degree: int, period: float | None, harmonics: int
) -> np.ndarray:
    cols = [t**k for k in range(degree + 1)]
    for h in range(1, harmonics + 1):
        assert period is not None
        cols += [np.sin(2 * np.pi * h * t / period), np.cos(2 * np.pi * h * t / period)]
    return np.column_stack(cols)


def _series(seed: int, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    # A latency-like series: hours, a slow drift, a daily cycle and noise.
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 96.0, size=n))
    y = (
        180.0
        + 0.4 * t
        - 0.002 * t**2
        + 6.0 * np.sin(2 * np.pi * t / 24)
        + rng.normal(0, 3, n)
    )
    return t, y


CASES = [
    (1, None, 0),
    (2, None, 0),
    (3, 24.0, 1),
    (2, 24.0, 3),
]


@pytest.mark.parametrize(("degree", "period", "harmonics"), CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_and_intervals_match_statsmodels(
    degree: int, period: float | None, harmonics: int, weighted: bool
) -> None:
    t, y = _series(degree * 10 + harmonics)
    w = np.random.default_rng(99).uniform(0.5, 2.0, size=t.size) if weighted else None
    trend = fit_trend(
        t, y, degree=degree, seasonal_period=period, harmonics=harmonics, weights=w
    )
    x = _design(t, degree, period, harmonics)
    res = (sm.WLS(y, x, weights=w) if weighted else sm.OLS(y, x)).fit()
    # statsmodels solves the raw monomial design by pinv; on t <= 96 and degree <= 3 it
    # keeps ~1e-11 relative accuracy, so 1e-8 leaves room on both sides.
    np.testing.assert_allclose(trend.coefficients, res.params, rtol=1e-8)
    np.testing.assert_allclose(trend.standard_errors, res.bse, rtol=1e-8)
    np.testing.assert_allclose(trend.t_values, res.tvalues, rtol=1e-8)
    np.testing.assert_allclose(trend.p_values, res.pvalues, rtol=1e-7, atol=1e-300)
    np.testing.assert_allclose(trend.r_squared, res.rsquared, rtol=1e-10)
    np.testing.assert_allclose(trend.residual_std_error**2, res.scale, rtol=1e-10)
    t_new = np.array([0.0, 13.5, 50.0, 96.0, 101.0, 120.0])
    for level in (0.8, 0.95, 0.999):
        frame = res.get_prediction(
            _design(t_new, degree, period, harmonics)
        ).summary_frame(alpha=1 - level)
        conf = trend.predict(t_new, interval="confidence", level=level)
        pred = trend.predict(t_new, interval="prediction", level=level)
        np.testing.assert_allclose(conf.mean, frame["mean"], rtol=1e-8)
        np.testing.assert_allclose(conf.lower, frame["mean_ci_lower"], rtol=1e-8)
        np.testing.assert_allclose(conf.upper, frame["mean_ci_upper"], rtol=1e-8)
        np.testing.assert_allclose(pred.lower, frame["obs_ci_lower"], rtol=1e-8)
        np.testing.assert_allclose(pred.upper, frame["obs_ci_upper"], rtol=1e-8)


def test_slope_test_matches_a_statsmodels_contrast() -> None:
    t, y = _series(5)
    trend = fit_trend(t, y, degree=2, seasonal_period=24.0, harmonics=1)
    res = sm.OLS(y, _design(t, 2, 24.0, 1)).fit()
    contrast = np.array([[0.0, 1.0, 2.0 * t.max(), 0.0, 0.0]])  # d/dt at t_last
    tt = res.t_test(contrast)
    np.testing.assert_allclose(trend.slope, tt.effect[0], rtol=1e-8)
    np.testing.assert_allclose(trend.slope_se, tt.sd[0, 0], rtol=1e-8)
    np.testing.assert_allclose(trend.slope_pvalue, tt.pvalue, rtol=1e-7)


def test_epoch_second_times_keep_their_digits() -> None:
    # Hourly p95 over three days starting at a 2026 epoch: the caller's-basis
    # coefficients and predictions equal those of the same fit on hours since start.
    hours = np.arange(72.0)
    y = 250.0 + 0.8 * hours + np.random.default_rng(3).normal(0.0, 2.0, 72)
    start = 1.7e9
    seconds = start + 3600.0 * hours  # exact in double
    a = fit_trend(hours, y, degree=2)
    b = fit_trend(seconds, y, degree=2)
    np.testing.assert_allclose(b.slope * 3600.0, a.slope, rtol=1e-12)
    np.testing.assert_allclose(
        b.standard_errors[2] * 3600.0**2, a.standard_errors[2], rtol=1e-11
    )
    np.testing.assert_allclose(
        b.predict(start + 3600.0 * np.array([10.0, 80.0])).mean,
        a.predict([10.0, 80.0]).mean,
        rtol=1e-13,
    )
    np.testing.assert_allclose(b.r_squared, a.r_squared, rtol=1e-13)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shift=st.sampled_from([0.0, 1e4, 1e8, 1.7e9]),
    degree=st.integers(1, 4),
)
def test_predictions_are_invariant_to_the_time_origin(
    seed: int, shift: float, degree: int
) -> None:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.choice(500, size=40, replace=False)).astype(np.float64)
    y = rng.normal(100.0, 5.0, size=40) + 0.05 * t
    a = fit_trend(t, y, degree=degree)
    b = fit_trend(t + shift, y, degree=degree)  # exact: integer times
    pa = a.predict(t[::7], interval="prediction")
    pb = b.predict(t[::7] + shift, interval="prediction")
    np.testing.assert_allclose(pb.mean, pa.mean, rtol=1e-11)
    np.testing.assert_allclose(pb.upper, pa.upper, rtol=1e-11)
    np.testing.assert_allclose(b.slope, a.slope, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize(
    ("slope", "higher_is_worse", "expected"),
    [
        (0.5, True, "degrading"),
        (-0.5, True, "improving"),
        (0.5, False, "improving"),
        (-0.5, False, "degrading"),
        (0.0, True, "stable"),
    ],
)
def test_direction_follows_the_slope_test(
    slope: float, higher_is_worse: bool, expected: str
) -> None:
    t = np.arange(100.0)
    y = 50.0 + slope * t + np.random.default_rng(11).normal(0.0, 1.0, 100)
    trend = fit_trend(t, y, higher_is_worse=higher_is_worse)
    assert trend.direction == expected
    assert (trend.slope_pvalue < 0.05) == (expected != "stable")


def test_time_to_threshold_is_where_the_upper_band_reaches_the_budget() -> None:
    t = np.arange(48.0)
    y = 200.0 + 1.0 * t + np.random.default_rng(1).normal(0.0, 2.0, 48)
    trend = fit_trend(t, y)
    when = trend.time_to_threshold(260.0, bound="band")
    assert when is not None and trend.t_last < when < trend.t_last + 47.0
    _, _, upper = trend.predict([when, when - 1e-6], interval="prediction")
    assert upper[0] == pytest.approx(260.0, rel=1e-12)
    assert upper[1] < 260.0
    # Already above: the last observed time; never within the horizon: None.
    assert trend.time_to_threshold(200.0, bound="band") == trend.t_last
    assert trend.time_to_threshold(1e6, bound="band") is None
    assert trend.time_to_threshold(260.0, max_horizon=5.0, bound="band") is None
    # A wider band crosses earlier.
    wider = trend.time_to_threshold(260.0, level=0.999, bound="band")
    assert wider is not None and wider < when


def test_time_to_threshold_uses_the_lower_band_when_lower_is_worse() -> None:
    t = np.arange(48.0)
    y = 900.0 - 3.0 * t + np.random.default_rng(2).normal(0.0, 5.0, 48)  # throughput
    trend = fit_trend(t, y, higher_is_worse=False)
    assert trend.direction == "degrading"
    when = trend.time_to_threshold(700.0, bound="band")
    assert when is not None
    _, lower, _ = trend.predict([when], interval="prediction")
    assert lower[0] == pytest.approx(700.0, rel=1e-12)


def test_forecast_steps_past_the_last_observation() -> None:
    t, y = _series(8)
    trend = fit_trend(t, y, seasonal_period=24.0, harmonics=1)
    f = trend.forecast(5, step=2.0)
    np.testing.assert_array_equal(f.x, trend.t_last + 2.0 * np.arange(1, 6))
    direct = trend.predict(f.x, interval="prediction")
    np.testing.assert_array_equal(f.mean, direct.mean)
    np.testing.assert_array_equal(f.upper, direct.upper)
    even = fit_trend(np.arange(10.0) * 3.0, np.arange(10.0))
    np.testing.assert_allclose(even.forecast(2).x, [30.0, 33.0])
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        trend.forecast(0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"t": [0.0, 1.0, np.nan, 3.0]}, ValueError, "t must be finite.*row 2"),
        ({"y": [0.0, 1.0, 2.0, np.inf]}, ValueError, "y must be finite.*row 3"),
        ({"t": [5.0, 5.0, 5.0, 5.0]}, ValueError, "single distinct value"),
        ({"degree": 0}, ValueError, "degree must be >= 1"),
        ({"degree": 1.5}, TypeError, "degree must be an int"),
        ({"harmonics": 1}, ValueError, "needs a seasonal_period"),
        ({"seasonal_period": 2.0}, ValueError, "harmonics must be >= 1"),
        (
            {"seasonal_period": -1.0, "harmonics": 1},
            ValueError,
            "seasonal_period must be positive",
        ),
        ({"degree": 3}, ValueError, "too few observations: 4 rows for 4 parameters"),
        # Integer times with period 1: sin(2 pi t) is identically zero.
        (
            {
                "t": np.arange(8.0),
                "y": np.arange(8.0) ** 0.5,
                "seasonal_period": 1.0,
                "harmonics": 1,
            },
            ValueError,
            "rank deficient",
        ),
        ({"y": [1.0, 2.0]}, ValueError, "t has 4 rows but y has 2"),
        ({"t": ["a", "b", "c", "d"]}, TypeError, "t must hold real numbers"),
        (
            {"weights": [1.0, 0.0, 1.0, 1.0]},
            ValueError,
            "weights must be positive.*row 1",
        ),
    ],
)
def test_bad_input_is_a_clear_error(
    kwargs: dict[str, object], error: type, match: str
) -> None:
    args: dict[str, object] = {"t": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 3.0, 2.0, 5.0]}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        fit_trend(**args)  # type: ignore[arg-type]


def test_predict_validates_its_arguments() -> None:
    trend = fit_trend(np.arange(10.0), np.arange(10.0) ** 1.1)
    with pytest.raises(ValueError, match="t_new must be finite"):
        trend.predict([1.0, np.nan])
    with pytest.raises(ValueError, match="level must be in"):
        trend.predict([1.0], level=0.0)
    with pytest.raises(ValueError, match="threshold must be finite"):
        trend.time_to_threshold(float("nan"))
    assert len(trend.predict(3.0)) == 1


def test_result_renders_serialises_and_plots() -> None:
    t, y = _series(4)
    trend = fit_trend(t, y, degree=2, seasonal_period=24.0, harmonics=1)
    assert isinstance(trend, Trend)
    assert trend.names == ["intercept", "t", "t^2", "sin1", "cos1"]
    text = repr(trend)
    assert text.startswith("Trend\n  nobs ")
    assert "seasonal         period 24, 1 harmonic(s)" in text
    assert "direction" in text and "sin1" in text
    assert ">sin1<" in trend._repr_html_()
    assert list(trend.to_frame().index) == trend.names
    d = json.loads(json.dumps(trend.to_dict()))
    assert d["direction"] == trend.direction and d["degree"] == 2
    assert (
        json.loads(json.dumps(trend.forecast(3).to_dict()))["interval"] == "prediction"
    )
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert trend.plot(ax, horizon=10) is ax
    assert trend.plot() is not None
    plt.close("all")


@pytest.mark.parametrize("weighted", [False, True])
def test_large_series_take_the_streaming_path_and_still_match_statsmodels(
    weighted: bool,
) -> None:
    # Above 20,000 rows the fit streams blocks of rows (blocked QR + long double
    # refinement) instead of holding the design: same answers.
    rng = np.random.default_rng(42)
    n = 60_000
    t = np.sort(rng.uniform(0.0, 720.0, n))  # a month of hours
    y = 300.0 + 0.05 * t + 8.0 * np.cos(2 * np.pi * t / 24) + rng.normal(0.0, 10.0, n)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    trend = fit_trend(t, y, degree=2, seasonal_period=24.0, harmonics=2, weights=w)
    x = _design(t, 2, 24.0, 2)
    res = (sm.WLS(y, x, weights=w) if weighted else sm.OLS(y, x)).fit()
    np.testing.assert_allclose(trend.coefficients, res.params, rtol=1e-8)
    np.testing.assert_allclose(trend.standard_errors, res.bse, rtol=1e-8)
    np.testing.assert_allclose(trend.r_squared, res.rsquared, rtol=1e-10)
    t_new = np.array([0.0, 360.0, 720.0, 800.0])
    frame = res.get_prediction(_design(t_new, 2, 24.0, 2)).summary_frame(alpha=0.05)
    mean, lower, upper = trend.predict(t_new, interval="prediction")
    np.testing.assert_allclose(mean, frame["mean"], rtol=1e-10)
    np.testing.assert_allclose(lower, frame["obs_ci_lower"], rtol=1e-8)
    np.testing.assert_allclose(upper, frame["obs_ci_upper"], rtol=1e-8)
    # se is computed on first access (the band itself does not need it)
    obs_se = np.sqrt(frame["mean_se"] ** 2 + res.scale)
    np.testing.assert_allclose(
        trend.predict(t_new, interval="prediction").se, obs_se, rtol=1e-8
    )
    np.testing.assert_allclose(trend.residuals, res.resid, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="rank deficient"):
        fit_trend(np.round(t), y, seasonal_period=1.0, harmonics=1)


# ---- large fits: the double-precision fast path and its hand-off -------------------


def test_large_noisy_fits_take_the_fast_path_and_meet_its_bound() -> None:
    # The benchmark's shape at 30,000 rows: epoch seconds, lognormal latency noise. The
    # fast path promises 2^-36 relative (internal basis: mean level and slope * 2^16);
    # the exact rational line is the oracle.
    rng = np.random.default_rng(20261130)
    n = 30_000
    t = 1.7e9 + np.sort(rng.uniform(0.0, 86_400.0, n))
    y = 250.0 + 1e-4 * (t - t[0]) + rng.lognormal(0.0, 0.5, n) * 20.0
    trend = fit_trend(t, y)
    assert not trend._fit.extended_precision
    b0, b1, rss = exact_line(t, y)
    # |internal error| <= 2^-36 ||x||, ||x|| <= 300: 4.4e-9 on the fitted mean and
    # 4.4e-9 / 2^16 s on the slope, far above what double rounding leaves (~1e-13).
    np.testing.assert_allclose(trend.slope, float(b1), rtol=2e-11)
    t_new = np.array([t[0], t[n // 2], t[-1], t[-1] + 3600.0])
    exact = [float(b0 + b1 * Fraction(x)) for x in t_new]
    np.testing.assert_allclose(trend.predict(t_new).mean, exact, rtol=2e-11)
    s2 = rss / (n - 2)
    np.testing.assert_allclose(trend.residual_std_error**2, float(s2), rtol=2e-11)
    rows = [0, 1, n // 3, n - 1]
    exact_r = [float(Fraction(y[i]) - b0 - b1 * Fraction(t[i])) for i in rows]
    np.testing.assert_allclose(trend.residuals[rows], exact_r, rtol=0, atol=1e-8)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_large_fits_name_the_row_of_a_non_finite_y(value: float) -> None:
    # Streamed fits check y through their first pass (no pass of its own).
    n = 30_000
    t = np.arange(n, dtype=float)
    y = np.ones(n) + 1e-3 * t
    y[n - 7] = value
    with pytest.raises(
        ValueError, match=f"y must be finite, got {value} at row {n - 7}"
    ):
        fit_trend(t, y)


@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1e170, 1e300])
def test_large_fits_of_huge_or_tiny_values_scale_exactly(scale: float) -> None:
    # Squares of y overflow (or underflow) in double: the streamed fit must still be
    # the exact line scaled, not NaN or noise. Powers of ten are not exact in binary,
    # so the oracle is the exact line of the scaled data itself.
    rng = np.random.default_rng(17)
    n = 30_000
    t = np.sort(rng.uniform(0.0, 1e4, n))
    y = (5.0 + 1e-3 * t + rng.normal(0.0, 1.0, n)) * scale
    trend = fit_trend(t, y)
    b0, b1, rss = exact_line(t, y)
    np.testing.assert_allclose(trend.coefficients, [float(b0), float(b1)], rtol=1e-11)
    # rss itself over- or underflows a double: compare its root, in units of `scale`
    unit = Fraction(scale) ** 2
    np.testing.assert_allclose(
        trend.residual_std_error / scale, float(rss / (n - 2) / unit) ** 0.5, rtol=1e-11
    )
    assert 0.0 < trend.r_squared < 1.0


def test_exact_large_fits_hand_off_to_extended_precision() -> None:
    # rss = 0: no relative bound on it holds in double, so the fit must be refined in
    # long double, which returns the exact line.
    t = np.arange(25_000.0)
    y = 3.0 + 0.25 * t
    trend = fit_trend(t, y)
    assert trend._fit.extended_precision
    np.testing.assert_allclose(trend.coefficients, [3.0, 0.25], rtol=1e-15, atol=0)
    np.testing.assert_allclose(trend.residuals, 0.0, atol=1e-11)


def test_nearly_exact_large_fits_hand_off_and_keep_their_digits() -> None:
    # Noise 1e-9 of the level: residuals computed in double, even from the exact line
    # in centred time, lose ~4e-10 of rss; the fit must see that its bound fails and
    # refine in long double, which meets the exact oracle.
    rng = np.random.default_rng(7)
    n = 25_000
    t = 1.7e9 + 60.0 * np.arange(n)
    y = 400.0 + 2e-5 * (t - t[0]) + rng.normal(0.0, 4e-7, n)
    trend = fit_trend(t, y)
    assert trend._fit.extended_precision
    b0, b1, rss = exact_line(t, y)
    np.testing.assert_allclose(trend.slope, float(b1), rtol=1e-12)
    s2 = float(rss / (n - 2))
    np.testing.assert_allclose(trend.residual_std_error**2, s2, rtol=1e-11)
    mid = (t[0] + t[-1]) / 2
    in_double = y - (float(b0 + b1 * Fraction(mid)) + float(b1) * (t - mid))
    assert abs(in_double @ in_double / float(rss) - 1.0) > 1e-10


def test_fits_and_bands_split_between_threads_meet_the_oracles() -> None:
    # From 200,000 rows the sweeps run on two threads: the same answers, and the error
    # a sequential sweep would raise first.
    rng = np.random.default_rng(11)
    n = 250_000
    t = np.sort(rng.uniform(0.0, 1e5, n))
    y = 40.0 - 3e-5 * t + rng.gamma(2.0, 2.0, n)
    trend = fit_trend(t, y)
    b0, b1, rss = exact_line(t, y)
    np.testing.assert_allclose(trend.coefficients, [float(b0), float(b1)], rtol=1e-11)
    np.testing.assert_allclose(
        trend.residual_std_error**2, float(rss / (n - 2)), rtol=1e-11
    )
    band = trend.predict(t, interval="prediction", level=0.9)
    res = sm.OLS(y, sm.add_constant(t)).fit()
    frame = res.get_prediction(sm.add_constant(t)).summary_frame(alpha=0.1)
    np.testing.assert_allclose(band.mean, frame["mean"], rtol=1e-10)
    np.testing.assert_allclose(band.lower, frame["obs_ci_lower"], rtol=1e-8)
    np.testing.assert_allclose(band.upper, frame["obs_ci_upper"], rtol=1e-8)
    np.testing.assert_allclose(
        band.se, np.sqrt(frame["mean_se"] ** 2 + res.scale), rtol=1e-8
    )
    copy = pickle.loads(
        pickle.dumps(trend.predict(t[:5], interval="prediction", level=0.9))
    )
    np.testing.assert_array_equal(copy.se, band.se[:5])
    np.testing.assert_array_equal(copy.upper, band.upper[:5])
    bad = t.copy()
    bad[[n - 5, n - 1]] = [np.inf, np.nan]
    with pytest.raises(
        ValueError, match=f"t_new must be finite, got inf at row {n - 5}"
    ):
        trend.predict(bad)
