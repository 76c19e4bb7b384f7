"""metric_changepoints: change points of a metric of events, per group, across gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import perfstats as ps


def _events(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2026-01-01", periods=5 * 24 * 30, freq="2min", tz="UTC")
    endpoint = np.where(rng.random(len(ts)) < 0.5, "/a", "/b")
    # /b slows from 400 to 700 ms at day 3; /a stays
    slow = (endpoint == "/b") & (ts >= "2026-01-03")
    latency = rng.lognormal(np.log(np.where(slow, 700.0, 400.0)), 0.25)
    return pd.DataFrame({"timestamp": ts, "endpoint": endpoint, "latency_ms": latency})


def test_step_found_in_the_group_that_changed() -> None:
    found = ps.metric_changepoints(
        _events(), "latency_p50", every="1h", by="endpoint", model="mean"
    )
    assert isinstance(found, dict) and set(found) == {"/a", "/b"}
    assert len(found["/a"]) == 0
    (change,) = found["/b"]
    # located within two windows of the true step (E-divisive on 15 requests an hour)
    assert abs(change.time - pd.Timestamp("2026-01-03", tz="UTC")) <= pd.Timedelta("2h")
    assert change.mean_after / change.mean_before == pytest.approx(700 / 400, rel=0.1)


def test_gaps_are_left_out_and_match_the_array_function() -> None:
    ev = _events(2)
    ev = ev[
        (ev["timestamp"] < "2026-01-02 06:00") | (ev["timestamp"] >= "2026-01-02 12:00")
    ]
    got = ps.metric_changepoints(ev, "latency_p95", every="1h", model="mean")
    series = ps.metric_series(ev, "latency_p95", every="1h").dropna()
    want = ps.detect_changepoints(series, model="mean")
    assert [c.index for c in got] == [c.index for c in want]
    assert len(got.values) == len(series) == 5 * 24 - 6


def test_a_metric_without_data_is_a_clear_error() -> None:
    ev = _events()[["timestamp"]]
    with pytest.raises(ValueError, match="latency"):
        ps.metric_changepoints(ev, "latency_p95")
