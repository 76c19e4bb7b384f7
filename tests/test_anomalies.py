"""perfstats.anomalies: the detectors wired to event data, checked against the
detector run on a pandas-computed series and against llm_app's injected incidents."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from perfstats import MetricAnomalies, anomalies, build_report, datasets
from perfstats.analysis.metric_anomalies import default_detector
from perfstats.report.sections import ANOMALY_THRESHOLD, anomalies_section
from perfstats.stats.detectors import RobustZScore, SeasonalZScore

matplotlib.use("Agg")

DAYS = 40  # incidents on days 10, 16, 24 and 32: each after the 7-day profile fills
# which hourly metric shows which injected incident
SHOWN_BY = {
    "cost_spike": ["input_tokens"],
    "latency_spike": ["latency_p50", "latency_p95"],
    "error_burst": ["error_rate"],
    "queue_saturation": ["latency_p50"],
}


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return datasets.llm_app(days=DAYS, seed=1, requests_per_day=4000)


@pytest.fixture(scope="module")
def found(sample: pd.DataFrame) -> dict[str, MetricAnomalies]:
    out = {}
    for metric in ("latency_p50", "latency_p95", "error_rate", "input_tokens"):
        det = SeasonalZScore(24, 7, threshold=ANOMALY_THRESHOLD, log=True)
        if metric == "error_rate":  # hours without errors: not on the log scale
            det = SeasonalZScore(24, 7, threshold=ANOMALY_THRESHOLD)
        out[metric] = anomalies(sample, metric, detector=det)
    return out


def test_every_injected_incident_is_found(found: dict[str, MetricAnomalies]) -> None:
    truth = datasets.llm_app_incidents(DAYS)
    for row in truth.itertuples():
        for metric in SHOWN_BY[row.kind]:
            inc = found[metric].incidents("high")
            hit = inc[(inc["start"] < row.end) & (inc["end"] > row.start)]
            assert len(hit) >= 1, (row.kind, metric, inc)
            assert hit["peak_value"].iloc[0] > 1.5 * hit["expected"].iloc[0]


def test_few_false_alarms(found: dict[str, MetricAnomalies]) -> None:
    truth = datasets.llm_app_incidents(DAYS)
    false = 0
    for res in found.values():
        for inc in res.incidents("high").itertuples():
            false += not ((truth["start"] < inc.end) & (truth["end"] > inc.start)).any()
    # 4 metrics x 39 scored days x 24 h at 5 robust SD: a handful at most
    assert false <= 4


def test_same_as_the_detector_on_a_pandas_series(sample: pd.DataFrame) -> None:
    hours = sample["timestamp"].dt.floor("h")
    rate = 1.0 - sample.groupby(hours)["success"].mean()
    full = pd.date_range(rate.index.min(), rate.index.max(), freq="h")
    rate = rate.reindex(full)
    ref = SeasonalZScore(24, 7).detect(rate.to_numpy())
    got = anomalies(sample, "error_rate", detector=SeasonalZScore(24, 7))
    np.testing.assert_allclose(got.values, rate.to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(got.is_anomaly, ref.is_anomaly)
    np.testing.assert_allclose(
        got.score, ref.score, rtol=1e-9, atol=1e-12, equal_nan=True
    )
    assert list(got.timestamps) == list(full)
    flagged = got.incidents()
    assert len(flagged) == len(ref.events())
    assert (
        flagged["end"] - flagged["start"] == flagged["windows"] * pd.Timedelta("1h")
    ).all()


def _with_open_incident() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    ts = pd.date_range("2026-01-01", periods=10 * 24 * 30, freq="2min", tz="UTC")
    lat = rng.lognormal(np.log(400.0), 0.3, len(ts))
    lat[ts >= ts[-1] - pd.Timedelta("3h")] *= 4.0  # still going on at the end
    return pd.DataFrame({"timestamp": ts, "latency_ms": lat})


def test_open_incident_is_open_and_critical_in_the_report() -> None:
    ev = _with_open_incident()
    res = anomalies(ev, "latency_p95")
    assert res.open
    last = res.incidents("high").iloc[-1]
    assert bool(last["open"]) and last["end"] == ev["timestamp"].max().ceil("h")
    report = build_report(ev, sections=[anomalies_section])
    top = report.findings[0]
    assert top.severity == "critical" and top.title.startswith("Open: latency_p")
    assert top.numbers["open"] is True
    table = report.section("anomalies").tables["incidents"]
    assert table["open"].any()


def test_default_detector_follows_the_window() -> None:
    hourly = default_detector("1h", [1.0, 2.0, np.nan])
    assert isinstance(hourly, SeasonalZScore) and "period=24" in repr(hourly)
    assert "log=True" in repr(hourly)
    assert "log=False" in repr(default_detector("15min", [0.0, 1.0]))
    assert "period=96" in repr(default_detector("15min"))
    assert isinstance(default_detector("1D"), RobustZScore)
    assert isinstance(default_detector("7h"), RobustZScore)  # does not divide a day


def test_outputs_and_bad_input(found: dict[str, MetricAnomalies]) -> None:
    res = found["latency_p95"]
    d = json.loads(json.dumps(res.to_dict(), default=str))
    assert d["metric"] == "latency_p95" and d["open"] is False
    assert repr(res).startswith("MetricAnomalies\n  metric ")
    assert ">latency_p95<" in res._repr_html_()
    assert json.loads(res.to_json())["metric"] == "latency_p95"
    ax = res.plot()
    assert ax.get_ylabel() == "latency_p95"
    with pytest.raises(ValueError, match="side"):
        res.incidents("up")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="detector must be"):
        anomalies(_with_open_incident(), detector="robust")  # type: ignore[arg-type]


def test_seasonal_level_detector_plugs_in_and_keeps_the_side_of_an_incident():
    from perfstats.stats.detectors import SeasonalLevelDetector

    rng = np.random.default_rng(0)
    ts = pd.date_range("2026-01-01", periods=21 * 24 * 12, freq="5min", tz="UTC")
    hour = ts.hour.to_numpy()
    lat = rng.lognormal(np.log(300 + 100 * np.sin(2 * np.pi * hour / 24)), 0.05)
    slow = (ts >= "2026-01-18 03:00") & (ts < "2026-01-18 03:15")
    fast = (ts >= "2026-01-19 15:00") & (ts < "2026-01-19 15:15")
    lat[slow] *= 3.0
    lat[fast] /= 3.0
    events = pd.DataFrame({"timestamp": ts, "latency_ms": lat})
    found = anomalies(
        events, metric="latency_p50", every="5min", detector=SeasonalLevelDetector(288)
    )
    high = found.incidents("high")["start"].tolist()
    low = found.incidents("low")["start"].tolist()
    assert pd.Timestamp("2026-01-18 03:00", tz="UTC") in high
    assert pd.Timestamp("2026-01-19 15:00", tz="UTC") in low
    assert pd.Timestamp("2026-01-19 15:00", tz="UTC") not in high


# ---- count-aware default (issue 13, item 7) -------------------------------------------


def _cycling(days: int, seed: int, error_rate: float = 0.01) -> pd.DataFrame:
    """20-200 requests an hour, lognormal latencies (the calibration scenario)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "calibration"))
    from scenarios_anomalies import traffic

    return traffic(np.random.default_rng(seed), days=days, error_rate=error_rate)


@pytest.fixture(scope="module")
def cycling() -> pd.DataFrame:
    return _cycling(21, 3)


def test_quiet_hours_do_not_page(cycling: pd.DataFrame) -> None:
    """Issue 13: 3.5 alerts a week on clean cycling traffic, 87 % at night; the scale
    now knows each window's count. At 2 sigma (4.55 % nominal, enough flags to see
    where they fall) night hours are flagged no more often than the nominal rate."""
    default = anomalies(cycling, "latency_p95", every="1h")
    hours = pd.DatetimeIndex(default.timestamps).hour
    at_night = np.isin(hours, (21, 22, 23, 0, 1, 2))
    # two weeks scored: 0.45 flagged hours a week nominal, a quarter of them at night
    assert np.count_nonzero(default.is_anomaly & at_night) <= 1
    assert len(default.events()) <= 2
    res = anomalies(cycling, "latency_p95", every="1h", threshold=2.0)
    assert res.detector.startswith("CountAwareSeasonal")
    night = at_night & ~np.isnan(res.score)
    rate = res.is_anomaly[night].mean()
    p = 0.0455
    assert rate <= p + 3 * np.sqrt(p * (1 - p) / night.sum())


def test_windows_with_too_few_requests_are_marked_not_scored(
    cycling: pd.DataFrame,
) -> None:
    res = anomalies(cycling, "latency_p95", every="1h", min_count=150)
    assert res.counts is not None and res.too_few is not None
    frame = res.to_frame()
    few = frame["note"] == "too few requests"
    assert few.any()
    # neither the window nor its pool of three reaches 150 requests
    assert np.isnan(frame.loc[few, "score"]).all()
    assert not frame.loc[few, "is_anomaly"].any()
    assert (frame.loc[few, "count"] < 150).all()
    assert res.to_dict()["n_too_few"] == int(few.sum())
    with pytest.raises(ValueError, match="min_count"):
        anomalies(cycling, "latency_p95", min_count=0)


def test_error_rate_with_small_counts_is_count_aware(cycling: pd.DataFrame) -> None:
    res = anomalies(cycling, "error_rate", every="1h")
    assert "arcsine" in res.detector
    assert res.is_anomaly.sum() <= 1
    ok = ~np.isnan(res.lower)
    assert (res.lower[ok] >= 0).all() and (res.upper[ok] <= 1).all()


def test_a_step_in_the_p95_is_found(cycling: pd.DataFrame) -> None:
    events = cycling.copy()
    t = events["timestamp"]
    inside = (t >= "2026-01-20 10:00") & (t < "2026-01-20 13:00")
    events.loc[inside, "latency_ms"] *= 1.5
    res = anomalies(events, "latency_p95", every="1h")
    inc = res.incidents("high")
    assert ((inc["start"] <= pd.Timestamp("2026-01-20 12:00", tz="UTC"))
            & (inc["end"] > pd.Timestamp("2026-01-20 10:00", tz="UTC"))).any()  # fmt: skip


def test_bands_are_clipped_to_the_metric_range(sample: pd.DataFrame) -> None:
    """A symmetric band around a small error rate reached below 0."""
    res = anomalies(sample, "error_rate", detector=SeasonalZScore(24, 7))
    ok = ~np.isnan(res.lower)
    assert (res.lower[ok] >= 0).all() and (res.upper[ok] <= 1).all()
    lat = anomalies(sample, "latency_p50", detector=RobustZScore(24))
    ok = ~np.isnan(lat.lower)
    assert (lat.lower[ok] >= 0).all()


def test_to_json_is_strict_json(cycling: pd.DataFrame) -> None:
    x = np.full(24 * 30, 10.0)
    x[-1] = 50.0  # flat baseline: score inf
    ts = pd.date_range("2026-01-01", periods=x.size, freq="h", tz="UTC")
    flat = anomalies(
        pd.DataFrame({"timestamp": ts, "latency_ms": x}), "latency_mean",
        detector=RobustZScore(24),
    )  # fmt: skip
    assert flat.is_anomaly[-1]
    text = flat.to_json()
    assert "Infinity" not in text and "NaN" not in text
    back = json.loads(text)
    assert back["incidents"][0]["start"] == str(ts[-1].isoformat())
    assert back["events"][0]["peak_score"] is None  # inf is not JSON
    res = json.loads(anomalies(cycling).to_json())
    assert res["metric"] == "latency_p95" and res["n_too_few"] is not None
