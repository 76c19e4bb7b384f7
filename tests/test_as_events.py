"""One way in (issue 12): every analysis starts with ``as_events``, so a raw DataFrame
(text timestamps, text latencies, error spellings) works everywhere exactly as its
``read_events`` version does, and a broken one fails the same way everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import perfstats
from perfstats import as_events, read_events

N = 24 * 12  # twelve days of hourly requests


def raw_frame() -> pd.DataFrame:
    rng = np.random.default_rng(12)
    ts = pd.date_range("2026-03-01", periods=N, freq="1h", tz="UTC")
    return pd.DataFrame(
        {
            # text timestamps with an offset, as a CSV or a log would give them
            "timestamp": [t.strftime("%Y-%m-%dT%H:%M:%S+00:00") for t in ts],
            "endpoint": rng.choice(["/a", "/b"], N),
            "variant": rng.choice(["control", "treatment"], N),
            "model": rng.choice(["gpt-4o", "gpt-4o-mini"], N),
            "latency_ms": [f"{v:.3f}" for v in rng.lognormal(5.0, 0.4, N)],
            "error": rng.choice(
                ["", "ok", "timeout", "none"], N, p=[0.5, 0.3, 0.1, 0.1]
            ),
            "input_tokens": rng.integers(10, 500, N).astype(float),
            "output_tokens": rng.integers(10, 200, N).astype(float),
        }
    )


ANALYSES: dict[str, Callable[[Any], Any]] = {
    "summarize": lambda ev: perfstats.summarize(ev, by="endpoint", every="1d").table,
    "metric_series": lambda ev: perfstats.metric_series(ev, "latency_p50", every="6h"),
    "compare": lambda ev: (
        perfstats.compare(ev, metrics=["latency", "error_rate"]).table
    ),
    "costs": lambda ev: perfstats.costs(ev).total_usd,
    "trend": lambda ev: perfstats.trend(ev, "latency_p50", regime=False).series,
    "anomalies": lambda ev: perfstats.anomalies(
        ev, "latency_p50", every="6h"
    ).to_frame(),
    "metric_changepoints": lambda ev: [
        c.index for c in perfstats.metric_changepoints(ev, "latency_p50", every="6h")
    ],
    "build_report": lambda ev: [f.title for f in perfstats.build_report(ev).findings],
}


def _same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b)
    else:
        assert a == b


def test_as_events_parses_text_and_keeps_canonical_frames() -> None:
    raw = raw_frame()
    ev = as_events(raw)
    assert str(ev.frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert ev.frame["latency_ms"].dtype == np.float64
    canonical = ev.frame
    assert as_events(canonical).frame is canonical  # no copy of a canonical frame
    assert as_events(ev) is ev


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_every_analysis_takes_the_raw_frame_as_read_events_reads_it(name: str) -> None:
    raw = raw_frame()
    _same(ANALYSES[name](raw), ANALYSES[name](read_events(raw)))


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_every_analysis_fails_the_same_way_on_a_bad_timestamp(name: str) -> None:
    raw = raw_frame()
    raw.loc[5, "timestamp"] = "yesterday-ish"
    with pytest.raises(ValueError) as expected:
        read_events(raw)
    with pytest.raises(ValueError) as got:
        ANALYSES[name](raw)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("column", ["input_tokens", "output_tokens", "cost_usd"])
def test_a_canonical_frame_with_a_negative_value_is_not_waved_through(
    column: str,
) -> None:
    # the no-copy path must not skip read_events' checks: costs of a frame with a
    # negative token count raised before as_events and must still raise
    frame = read_events(raw_frame()).frame.assign(cost_usd=0.01)
    frame.loc[3, column] = -1.0
    with pytest.raises(ValueError, match=rf"row 3, column '{column}'"):
        as_events(frame)
    with pytest.raises(ValueError, match=rf"row 3, column '{column}'"):
        perfstats.costs(frame)
