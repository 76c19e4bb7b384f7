"""fit_trend diagnostics (issue 13, item 6): AR(1) noise by feasible GLS against
statsmodels, the log scale, the regime since the last change point, lack-of-fit and
autocorrelation warnings, and "crossing now" only when the level is there."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from perfstats import fit_trend, trend


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    e = np.empty(n)
    e[0] = rng.normal() / np.sqrt(1.0 - phi**2)
    for i in range(1, n):
        e[i] = phi * e[i - 1] + rng.normal()
    return e * np.sqrt(1.0 - phi**2)


def _series(seed: int, n: int = 60, phi: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(float(n))
    return t, 500.0 + 0.5 * t + 10.0 * _ar1(rng, n, phi)


def _gls(
    t: np.ndarray, y: np.ndarray, phi: float
) -> sm.regression.linear_model.RegressionResults:
    # GLS with the continuous-time AR(1) correlation phi^|dt| (unit median step)
    corr = phi ** np.abs(t[:, None] - t[None, :])
    return sm.GLS(y, sm.add_constant(t), sigma=corr).fit()


@pytest.mark.parametrize("gaps", [False, True])
def test_ar1_fit_is_statsmodels_gls_at_its_phi(gaps: bool) -> None:
    t, y = _series(1)
    if gaps:  # days without data: the correlation decays over the gap
        keep = np.ones(t.size, bool)
        keep[[5, 6, 20, 41]] = False
        t, y = t[keep], y[keep]
    fit = fit_trend(t, y, errors="ar1")
    assert fit.errors == "ar1" and 0.2 < fit.phi < 0.95
    ref = _gls(t, y, fit.phi)
    np.testing.assert_allclose(fit.coefficients, ref.params, rtol=1e-9)
    np.testing.assert_allclose(fit.standard_errors, ref.bse, rtol=1e-8)
    np.testing.assert_allclose(fit.p_values, ref.pvalues, rtol=1e-7, atol=1e-300)
    np.testing.assert_allclose(fit.slope_pvalue, ref.pvalues[1], rtol=1e-8)
    np.testing.assert_allclose(fit.residual_std_error**2, ref.scale, rtol=1e-9)
    t_new = np.array([3.0, 30.0, 59.0])
    frame = ref.get_prediction(sm.add_constant(t_new)).summary_frame(alpha=0.05)
    mean, lower, upper = fit.predict(t_new, interval="confidence")
    np.testing.assert_allclose(mean, frame["mean"], rtol=1e-10)
    np.testing.assert_allclose(lower, frame["mean_ci_lower"], rtol=1e-9)
    np.testing.assert_allclose(upper, frame["mean_ci_upper"], rtol=1e-9)


def test_ar1_forecast_carries_the_last_residual_and_its_variance() -> None:
    t, y = _series(2)
    fit = fit_trend(t, y, errors="ar1")
    ref = _gls(t, y, fit.phi)
    h = np.arange(1.0, 8.0)
    x_new = np.column_stack([np.ones(7), t[-1] + h])
    x_last = np.array([1.0, t[-1]])
    e_last = y[-1] - x_last @ ref.params
    carry = fit.phi**h
    d = x_new - carry[:, None] * x_last
    var = ref.scale * (1 - carry**2) + np.einsum("ij,jk,ik->i", d, ref.cov_params(), d)
    from scipy import stats

    half = stats.t.ppf(0.975, ref.df_resid) * np.sqrt(var)
    mean = x_new @ ref.params + carry * e_last
    pred = fit.forecast(7)
    np.testing.assert_allclose(pred.mean, mean, rtol=1e-10)
    np.testing.assert_allclose(pred.upper - pred.mean, half, rtol=1e-8)
    np.testing.assert_allclose(pred.se, np.sqrt(var), rtol=1e-8)


def test_slope_ci_covers_where_statsmodels_hac_and_glsar_do_not() -> None:
    # 200 AR(1) series (phi = 0.6) of 30 days: our 95 % slope CI against two
    # statsmodels remedies, Newey-West HAC and iterated Cochrane-Orcutt (GLSAR).
    rng = np.random.default_rng(11)
    n, reps = 30, 200
    t = np.arange(float(n))
    x = sm.add_constant(t)
    ours = hac = glsar = 0
    for _ in range(reps):
        y = 500.0 + 0.5 * t + 10.0 * _ar1(rng, n, 0.6)
        lo, hi = fit_trend(t, y).conf_int()[1]
        ours += lo <= 0.5 <= hi
        lo, hi = sm.OLS(y, x).fit(cov_type="HAC", cov_kwds={"maxlags": 3}).conf_int()[1]
        hac += lo <= 0.5 <= hi
        model = sm.GLSAR(y, x, rho=1)
        lo, hi = model.iterative_fit(maxiter=10).conf_int()[1]
        glsar += lo <= 0.5 <= hi
    # binomial SD at 95 % and 200 reps is 1.5 points
    assert ours / reps >= 0.90
    assert ours > hac and ours > glsar, (ours, hac, glsar)


def test_independent_noise_keeps_least_squares() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(60.0)
    y = 100.0 + 0.2 * t + rng.normal(0.0, 1.0, 60)
    fit = fit_trend(t, y)
    if fit.errors == "iid":
        ref = sm.OLS(y, sm.add_constant(t)).fit()
        np.testing.assert_allclose(fit.coefficients, ref.params, rtol=1e-10)
    assert not fit.warnings and fit.diagnostics["lag1_pvalue"] > 0.01
    # forced independent noise on an autocorrelated series: a warning that says so
    t, y = _series(4, phi=0.8)
    forced = fit_trend(t, y, errors="iid")
    assert forced.errors == "iid"
    (sentence,) = [w for w in forced.warnings if "autocorrelated" in w]
    assert "errors='ar1'" in sentence
    auto = fit_trend(t, y)
    assert auto.errors == "ar1" and "fitted with AR(1) noise" in auto.warnings[0]


def test_large_series_keep_the_least_squares_path() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(30_000.0)
    y = 10.0 + 1e-4 * t + np.cumsum(rng.normal(0.0, 0.01, t.size))  # autocorrelated
    fit = fit_trend(t, y)
    assert fit.errors == "iid" and fit.warnings == () and fit.diagnostics == {}


def _saturating(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(60.0)
    return t, 1000.0 - 400.0 * np.exp(-t / 6.0) + 10.0 * _ar1(rng, 60, 0.6)


@pytest.mark.parametrize("seed", range(5))
def test_a_saturating_series_is_not_crossing_now(seed: int) -> None:
    # The issue: time_to_threshold(1050) said t_last ("now") in every run.
    t, y = _saturating(seed)
    fit = fit_trend(t, y)
    assert fit.recent_level() < 1050.0 and not fit.crossing_now(1050.0)
    assert fit.time_to_threshold(1050.0) != fit.t_last
    assert any(
        "levels off" in w or "streaks" in w or "autocorrelated" in w
        for w in fit.warnings
    )
    recent = fit_trend(t, y, regime=True)
    assert recent.regime_start is not None and recent.regime_start > 5.0
    assert recent.time_to_threshold(1050.0, max_horizon=14.0) is None
    assert any("since the change point" in w for w in recent.warnings)


def test_crossing_now_needs_the_observed_level_and_band_is_separate() -> None:
    t, y = _series(6)
    fit = fit_trend(t, y)
    level = fit.recent_level()
    assert level == pytest.approx(float(np.median(y[-3:])))
    assert fit.time_to_threshold(level - 1.0) == fit.t_last  # already there: now
    # just above the level: not now, the band may already reach it
    above = level + 5.0
    when = fit.time_to_threshold(above)
    assert when is None or when > fit.t_last
    assert fit.time_to_threshold(above, bound="band") == fit.t_last
    if when is not None:  # where the forecast mean reaches the threshold
        pred = fit.predict([when], interval="prediction").mean
        assert pred[0] == pytest.approx(above, rel=1e-9)
    with pytest.raises(ValueError, match="bound"):
        fit.time_to_threshold(above, bound="upper")  # type: ignore[arg-type]


def test_level_shift_below_the_budget_is_fitted_from_the_shift() -> None:
    rng = np.random.default_rng(7)
    t = np.arange(60.0)
    y = np.where(t < 40, 900.0, 1000.0) + 10.0 * _ar1(rng, 60, 0.6)
    fit = fit_trend(t, y, regime=True)
    assert fit.regime_start is not None and 37.0 <= fit.regime_start <= 43.0
    assert fit.nobs == int(np.sum(t >= fit.regime_start))
    assert fit.time_to_threshold(1050.0, max_horizon=14.0) is None


def test_log_scale_back_transforms_the_fit_of_log_y() -> None:
    rng = np.random.default_rng(8)
    t = np.arange(45.0)
    y = 300.0 * np.exp(0.02 * t + rng.normal(0.0, 0.15, 45))
    fit = fit_trend(t, y, scale="log", errors="iid")
    ref = sm.OLS(np.log(y), sm.add_constant(t)).fit()
    np.testing.assert_allclose(fit.coefficients, ref.params, rtol=1e-10)
    t_new = np.array([10.0, 50.0])
    frame = ref.get_prediction(sm.add_constant(t_new)).summary_frame(alpha=0.05)
    mean, lower, upper = fit.predict(t_new, interval="prediction")
    np.testing.assert_allclose(mean, np.exp(frame["mean"]), rtol=1e-10)
    np.testing.assert_allclose(lower, np.exp(frame["obs_ci_lower"]), rtol=1e-9)
    np.testing.assert_allclose(upper, np.exp(frame["obs_ci_upper"]), rtol=1e-9)
    level = np.exp(ref.params[0] + ref.params[1] * t[-1])
    assert fit.slope == pytest.approx(level * ref.params[1], rel=1e-9)
    assert fit.slope_se == pytest.approx(level * ref.bse[1], rel=1e-8)
    assert fit.to_dict()["scale"] == "log" and "scale            log" in repr(fit)
    # the automatic rule: multiplicative noise growing with the level -> log
    big = 100.0 * np.exp(0.05 * np.arange(80.0) + rng.normal(0.0, 0.3, 80))
    assert fit_trend(np.arange(80.0), big, scale="auto").scale == "log"
    additive = 100.0 + 2.0 * np.arange(80.0) + rng.normal(0.0, 5.0, 80)
    assert fit_trend(np.arange(80.0), additive, scale="auto").scale == "linear"
    with pytest.raises(ValueError, match=r"y\[3\]"):
        fit_trend(t, np.r_[y[:3], 0.0, y[4:]], scale="log")


def test_warnings_are_shown_everywhere() -> None:
    t, y = _saturating(0)
    fit = fit_trend(t, y, errors="iid")
    assert fit.warnings
    text = repr(fit)
    html = fit._repr_html_()
    d = json.loads(json.dumps(fit.to_dict()))
    for w in fit.warnings:
        assert f"warning: {w}" in text and w.split(":")[0] in html
    assert d["warnings"] == list(fit.warnings)


def test_bad_options_are_clear_errors() -> None:
    t, y = _series(9)
    with pytest.raises(ValueError, match="errors must be"):
        fit_trend(t, y, errors="hac")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scale must be"):
        fit_trend(t, y, scale="sqrt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weights"):
        fit_trend(t, y, errors="ar1", weights=np.ones_like(y))
    with pytest.raises(ValueError, match="distinct times"):
        fit_trend(np.r_[t, t[:3]], np.r_[y, y[:3]], errors="ar1")


def test_metric_trend_reports_scale_regime_and_warnings() -> None:
    rng = np.random.default_rng(10)
    ts = pd.date_range("2026-01-01", periods=60 * 24, freq="h", tz="UTC")
    day = np.asarray((ts - ts[0]) / pd.Timedelta(days=1))
    base = np.where(day < 40, 400.0, 480.0)  # a slower deploy on day 40
    events = pd.DataFrame(
        {"timestamp": ts, "latency_ms": base * rng.lognormal(0.0, 0.2, len(ts))}
    )
    tr = trend(events, "latency_p50", budget=600.0, horizon="14d")
    assert tr.fit.scale == "log"
    assert tr.regime_start is not None
    assert abs((tr.regime_start - ts[0]) / pd.Timedelta(days=1) - 40) <= 2
    assert tr.crossing is None
    d = json.loads(json.dumps(tr.to_dict()))
    assert d["regime_start"] == tr.regime_start.isoformat()
    assert d["warnings"] == list(tr.warnings) and tr.warnings
    assert "regime since" in repr(tr) and "warning" in tr._repr_html_()


def test_crossing_now_for_a_metric_where_lower_is_worse() -> None:
    rng = np.random.default_rng(12)
    t = np.arange(40.0)
    y = 900.0 - 3.0 * t + 5.0 * _ar1(rng, 40, 0.5)  # throughput falling
    fit = fit_trend(t, y, higher_is_worse=False)
    level = fit.recent_level()
    assert fit.crossing_now(level + 1.0) and not fit.crossing_now(level - 1.0)
    assert fit.time_to_threshold(level + 1.0) == fit.t_last
    when = fit.time_to_threshold(level - 20.0)
    assert when is not None and when > fit.t_last
    mean = fit.predict([when], interval="prediction").mean[0]
    assert mean == pytest.approx(level - 20.0, rel=1e-9)


# ---- regime=True cuts only at a change that is clear after the search --------------


@pytest.mark.parametrize("seed", [8, 54, 63, 78])
def test_regime_does_not_cut_a_flat_series_at_a_spurious_change(seed: int) -> None:
    """Flat AR(1) series (30 days) that detect_changepoints cuts at penalty 6: the
    short last segment was called trending (before the Wald check: each of these was
    'improving' or 'degrading'); the change is not clear, so every row is kept."""
    rng = np.random.default_rng(seed)
    t = np.arange(30.0)
    y = 500.0 + 10.0 * _ar1(rng, 30, 0.6)
    from perfstats.stats.trend import _REGIME_PENALTY, _last_regime

    assert _last_regime(t, y, None, 3, _REGIME_PENALTY)[3] is not None
    fit = fit_trend(t, y, regime=True)
    assert fit.regime_start is None
    assert fit.direction == fit_trend(t, y).direction == "stable"


def test_change_wald_is_the_least_squares_wald_without_autocorrelation() -> None:
    """With negatively correlated noise the bias-corrected phi is 0: the statistic is
    statsmodels' OLS Wald test of the step and the slope change."""
    from perfstats.stats.trend import _change_wald

    rng = np.random.default_rng(3)
    u = rng.normal(size=61)
    t = np.arange(60.0)
    y = 100.0 + 0.2 * t + 3.0 * (t >= 35) + (u[1:] - 0.6 * u[:-1])
    after = (t >= 35).astype(float)
    x = sm.add_constant(np.column_stack([t, after, after * (t - 35.0)]))
    ols = sm.OLS(y, x).fit()
    wald = ols.wald_test(np.eye(4)[2:], use_f=False, scalar=True).statistic
    assert _change_wald(t, y, 35.0, 1) == pytest.approx(float(wald), rel=1e-9)


def test_regime_still_cuts_a_clear_level_shift() -> None:
    from perfstats.stats.trend import _CHANGE_WALD, _change_wald

    rng = np.random.default_rng(5)
    t = np.arange(60.0)
    y = np.where(t < 40, 900.0, 1000.0) + 10.0 * _ar1(rng, 60, 0.6)
    assert _change_wald(t, y, 40.0, 1) > 2 * _CHANGE_WALD
    assert fit_trend(t, y, regime=True).regime_start == pytest.approx(40.0, abs=3)
