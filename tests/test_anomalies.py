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
    assert repr(res).startswith("MetricAnomalies(latency_p95 every 1h: ")
    assert "latency_p95" in res._repr_html_()
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
