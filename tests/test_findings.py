"""Findings are computed from analyses, without building a report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfstats import summarize
from perfstats.analysis.findings import (
    error_bursts,
    error_outliers,
    rank,
    sla_misses,
    tail_drivers,
)


def _events(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 48 * 400
    ts = pd.date_range("2026-03-01", periods=n, freq="9s", tz="UTC")
    endpoint = np.where(rng.random(n) < 0.5, "/a", "/b")
    fail_p = np.full(n, 0.01)
    # a burst on /b from 10:00 to 12:00 of the first day: 30 % of its requests fail
    burst = (endpoint == "/b") & (ts >= "2026-03-01 10:00") & (ts < "2026-03-01 12:00")
    fail_p[burst] = 0.30
    queue = rng.exponential(30, n)
    processing = rng.lognormal(np.log(np.where(endpoint == "/a", 400, 2500)), 0.4)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "endpoint": endpoint,
            "queue_ms": queue,
            "processing_ms": processing,
            "latency_ms": queue + processing,
            "success": rng.random(n) >= fail_p,
        }
    )


def test_error_burst_found_where_it_was_put() -> None:
    ev = _events()
    overall = float(summarize(ev).table["error_rate"].iloc[0])
    bursts = error_bursts(summarize(ev, by="endpoint", every="1h"), overall)
    assert list(bursts.index) == ["/b"]
    b = bursts.iloc[0]
    assert b["start"] == pd.Timestamp("2026-03-01 10:00", tz="UTC")
    assert b["end"] == pd.Timestamp("2026-03-01 12:00", tz="UTC")
    assert b["error_rate_low"] < 0.30 < b["error_rate_high"]


def test_no_burst_in_uniform_errors() -> None:
    rng = np.random.default_rng(5)
    ev = _events(1).assign(success=lambda f: rng.random(len(f)) >= 0.01)
    overall = float(summarize(ev).table["error_rate"].iloc[0])
    assert error_bursts(summarize(ev, by="endpoint", every="1h"), overall).empty


def test_outlier_sla_and_tail_findings_match_the_summary() -> None:
    ev = _events()
    s = summarize(ev, by="endpoint", sla_target_ms=2000)
    misses = sla_misses(s, sla_target_ms=2000, sla_objective=0.99)
    below = s.table.index[s.table["sla_compliance"] < 0.99].tolist()
    assert [f.numbers["group"] for f in misses] == below == ["/b"]
    outliers = error_outliers(s)
    assert [f.numbers["group"] for f in outliers] == ["/b"]
    drivers = {
        f.numbers["group"]: f.numbers["phase"]
        for f in tail_drivers(s, sla_target_ms=2000)
    }
    assert drivers == {"/a": "processing_ms", "/b": "processing_ms"}
    ranked = rank([*tail_drivers(s, sla_target_ms=2000), *misses])
    assert [f.kind for f in ranked] == ["sla_miss", "tail_driver", "tail_driver"]
