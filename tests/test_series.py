"""metric_series against pandas groupby on the same windows, gaps and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perfstats import metric_series


def _events(seed: int = 0, n: int = 6000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 48 * 3600, n)), unit="s"
    )
    keep = ~((ts.day == 1) & (ts.hour >= 10) & (ts.hour < 13))  # three empty hours
    ev = pd.DataFrame(
        {
            "timestamp": ts,
            "endpoint": np.where(rng.random(n) < 0.3, "/b", "/a"),
            "latency_ms": rng.lognormal(np.log(500), 0.6, n),
            "queue_ms": rng.exponential(30.0, n),
            "success": rng.random(n) > 0.03,
            "input_tokens": rng.integers(10, 500, n).astype(float),
            "output_tokens": rng.integers(10, 300, n).astype(float),
            "cost_usd": rng.uniform(0, 0.01, n),
        }
    )
    return ev[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return _events()


def _hourly(ev: pd.DataFrame) -> pd.core.groupby.DataFrameGroupBy:
    return ev.groupby(ev["timestamp"].dt.floor("1h"))


def test_counts_sums_and_rates_match_pandas(events: pd.DataFrame) -> None:
    g = _hourly(events)
    windows = pd.date_range(
        events["timestamp"].min().floor("1h"), events["timestamp"].max(), freq="1h"
    )
    count = metric_series(events, "count")
    assert count.index.equals(pd.DatetimeIndex(windows, name="window_start"))
    np.testing.assert_array_equal(count, g.size().reindex(windows, fill_value=0))
    err = metric_series(events, "error_rate")
    expected = 1.0 - g["success"].mean().reindex(windows)
    np.testing.assert_allclose(err, expected, rtol=1e-12)
    cost = metric_series(events, "cost_usd")
    np.testing.assert_allclose(cost, g["cost_usd"].sum().reindex(windows, fill_value=0))
    tokens = metric_series(events, "tokens")
    both = (events["input_tokens"] + events["output_tokens"]).groupby(
        events["timestamp"].dt.floor("1h")
    )
    np.testing.assert_array_equal(tokens, both.sum().reindex(windows, fill_value=0))
    rps = metric_series(events, "throughput_rps")
    # the first and last windows are covered from the first event / to the last one
    covered = np.full(len(windows), 3600.0)
    t0, t1 = events["timestamp"].min(), events["timestamp"].max()
    covered[0] = (windows[0] + pd.Timedelta("1h") - t0).total_seconds()
    covered[-1] = (t1 - windows[-1]).total_seconds()
    np.testing.assert_allclose(rps, count / covered)


def test_empty_windows_are_explicit_gaps(events: pd.DataFrame) -> None:
    p95 = metric_series(events, "latency_p95")
    gap = p95.index[(p95.index.hour >= 10) & (p95.index.hour < 13)]
    gap = gap[gap < p95.index[0] + pd.Timedelta(days=1)]
    assert len(gap) == 3 and p95[gap].isna().all()
    assert p95.drop(gap).notna().all()
    assert (metric_series(events, "count")[gap] == 0).all()


@pytest.mark.parametrize("metric", ["latency_p95", "latency_p75", "queue_ms_p90"])
def test_percentiles_within_sketch_accuracy(events: pd.DataFrame, metric: str) -> None:
    column, pct = metric.rsplit("_p", 1)
    column = "latency_ms" if column == "latency" else column
    q = float(pct) / 100
    got = metric_series(events, metric).dropna()
    g = _hourly(events)[column]
    # The sketch is 1% relative-accurate on some sample between the neighbouring order
    # statistics of rank q (n ~ 125 per hour): compare with that bracket, widened by 1%.
    low = g.quantile(q, interpolation="lower").reindex(got.index)
    high = g.quantile(q, interpolation="higher").reindex(got.index)
    assert ((got >= 0.99 * low - 1e-9) & (got <= 1.01 * high + 1e-9)).all()


def test_by_gives_every_group_every_window(events: pd.DataFrame) -> None:
    s = metric_series(events, "error_rate", by="endpoint", every="6h")
    assert s.index.names == ["endpoint", "window_start"]
    wide = s.unstack("endpoint")
    assert list(wide.columns) == ["/a", "/b"] and len(wide) == 8
    part = events[events["endpoint"] == "/b"]
    exp = 1 - part.groupby(part["timestamp"].dt.floor("6h"))["success"].mean()
    np.testing.assert_allclose(wide["/b"], exp.reindex(wide.index), rtol=1e-12)


def test_unknown_or_missing_metric_names_what_is_available() -> None:
    ev = _events(n=500)[["timestamp", "latency_ms"]]
    with pytest.raises(ValueError, match=r"unknown metric 'nope'.*latency_p95"):
        metric_series(ev, "nope")
    with pytest.raises(ValueError, match="no 'success' or 'error' column"):
        metric_series(ev, "error_rate")
    with pytest.raises(ValueError, match="needs a 'queue_ms' column"):
        metric_series(ev, "queue_ms_p50")
    with pytest.raises(ValueError, match="'tokens' needs"):
        metric_series(ev, "tokens")
    with pytest.raises(ValueError, match="within 0-100"):
        metric_series(ev, "latency_p150")


@pytest.mark.parametrize(
    ("every", "error"), [("0h", ValueError), ("soon", ValueError), (3600, TypeError)]
)
def test_bad_every(every: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="every"):
        metric_series(_events(n=100), "count", every=every)  # type: ignore[arg-type]
