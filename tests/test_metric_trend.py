"""perfstats.trend: the fit against statsmodels on the same series, the forecast band,
the budget crossing as a timestamp, and the llm_app sample's known slow trend."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from perfstats import MetricTrend, datasets, metric_series, trend

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return datasets.llm_app(days=30, seed=2, requests_per_day=3000)


@pytest.fixture(scope="module")
def tr(sample: pd.DataFrame) -> MetricTrend:
    # least squares on the linear scale over all days, as the statsmodels oracle fits
    return trend(
        sample,
        "latency_p95",
        every="1d",
        budget=15_500.0,
        horizon="14d",
        errors="iid",
        scale="linear",
        regime=False,
    )


def _days(index: pd.DatetimeIndex, origin: pd.Timestamp) -> np.ndarray:
    return np.asarray((index - origin) / pd.Timedelta(days=1), dtype=float)


def test_fit_and_band_match_statsmodels(sample: pd.DataFrame, tr: MetricTrend) -> None:
    series = metric_series(sample, "latency_p95", every="1D").dropna()
    pd.testing.assert_series_equal(tr.series.dropna(), series)
    t = _days(series.index, series.index[0])
    ols = sm.OLS(series.to_numpy(), sm.add_constant(t)).fit()
    np.testing.assert_allclose(tr.fit.coefficients, ols.params, rtol=1e-10)
    np.testing.assert_allclose(tr.fit.standard_errors, ols.bse, rtol=1e-8)
    frame = tr.to_frame()
    ahead = frame[frame["forecast"]]
    assert len(ahead) == 14 and ahead["value"].isna().all()
    assert (ahead.index[0] - series.index[-1]) == pd.Timedelta(days=1)
    x = _days(frame.index, series.index[0])
    ref = ols.get_prediction(sm.add_constant(x)).summary_frame(alpha=0.05)
    np.testing.assert_allclose(frame["mean"], ref["mean"], rtol=1e-10)
    np.testing.assert_allclose(frame["lower"], ref["obs_ci_lower"], rtol=1e-9)
    np.testing.assert_allclose(frame["upper"], ref["obs_ci_upper"], rtol=1e-9)


def test_crossing_is_where_the_statsmodels_band_reaches_the_budget(
    tr: MetricTrend,
) -> None:
    when = tr.band_crossing
    assert isinstance(when, pd.Timestamp) and str(when.tz) == "UTC"
    origin = tr.series.dropna().index[0]
    series = tr.series.dropna()
    ols = sm.OLS(series.to_numpy(), sm.add_constant(_days(series.index, origin))).fit()

    def upper(days: float) -> float:
        pred = ols.get_prediction(np.array([[1.0, days]]))
        return float(pred.summary_frame(alpha=0.05)["obs_ci_upper"].iloc[0])

    t = (when - origin) / pd.Timedelta(days=1)
    assert t > _days(series.index, origin)[-1]  # in the future: not already crossed
    assert upper(t) == pytest.approx(15_500.0, rel=1e-9)
    assert upper(t - 1e-3) < 15_500.0
    assert tr.time_to_threshold(1e9, bound="band") is None  # never within the horizon
    assert tr.time_to_threshold(10.0) == series.index[-1]  # already above: now
    assert tr.crossing is None  # the mean forecast stays below within 14 days


def test_sample_processing_trend_is_degrading_at_one_percent_a_day(
    sample: pd.DataFrame,
) -> None:
    # llm_app slows processing by 1 % of its day-0 value per day.
    for metric in ("processing_ms_p50", "latency_p95"):
        r = trend(sample, metric)
        assert r.direction == "degrading", metric
        relative = r.slope_per_day / float(r.fit.predict([0.0]).mean[0])
        assert 0.006 < relative < 0.014, (metric, relative)
    assert trend(sample, "throughput_rps").direction == "stable"


def test_seasonal_hourly_trend(sample: pd.DataFrame) -> None:
    r = trend(sample, "throughput_rps", every="1h", seasonal_period="1D", harmonics=2)
    assert r.fit.harmonics == 2 and r.fit.seasonal_period == 1.0
    # the daily arrival cycle (about 4:1) dominates the hourly throughput
    assert r.fit.r_squared > 0.5


def test_outputs(tr: MetricTrend) -> None:
    d = json.loads(json.dumps(tr.to_dict()))
    assert d["direction"] == tr.direction and d["crossing"] is None
    assert d["band_crossing"] == tr.band_crossing.isoformat()
    assert len(d["forecast"]["mean"]) == 14
    assert repr(tr).startswith("MetricTrend: latency_p95 every 1d\n")
    assert "crosses 15500" in repr(tr) and "band reaches 15500" in repr(tr)
    assert ">band reaches 15500<" in tr._repr_html_()
    assert json.loads(tr.to_json()) == json.loads(json.dumps(tr.to_dict()))
    ax = tr.plot()
    assert ax.get_ylabel() == "latency_p95" and len(ax.lines) >= 4


def test_no_budget_and_bad_input(sample: pd.DataFrame) -> None:
    r = trend(sample, "error_rate", horizon="3d")
    assert r.crossing is None
    with pytest.raises(ValueError, match="no budget"):
        r.time_to_threshold()
    with pytest.raises(ValueError, match="budget must be a finite number"):
        trend(sample, budget=float("nan"))
    with pytest.raises(ValueError, match="horizon must be a positive duration"):
        trend(sample, horizon="-1D")
    with pytest.raises(ValueError, match="needs at least 3"):
        trend(sample.head(50), every="1D")
    with pytest.raises(ValueError, match="confidence"):
        trend(sample, confidence=1.0)
    # the former keyword still works, with a deprecation warning (issue 12)
    with pytest.warns(DeprecationWarning, match="level= is deprecated"):
        with pytest.raises(ValueError, match="confidence"):
            trend(sample, level=1.0)
    with pytest.raises(TypeError, match="not both"):
        trend(sample, confidence=0.9, level=0.9)
