"""perfstats.datasets.llm_app: the documented properties and incidents hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from perfstats.datasets import LLM_APP_MODELS, llm_app, llm_app_incidents
from perfstats.io.events import read_events

# Published list prices, USD per million tokens (input, cached input, output), as
# on the providers' pricing pages: an oracle independent of the bundled table.
PUBLISHED = {
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "o1": (15.00, 7.50, 60.00),
}


@pytest.fixture(scope="module")
def month() -> pd.DataFrame:
    return llm_app()


def _outside_incidents(frame: pd.DataFrame, days: int = 30) -> np.ndarray:
    keep = np.ones(len(frame), dtype=bool)
    for row in llm_app_incidents(days).itertuples():
        keep &= ~((frame["timestamp"] >= row.start) & (frame["timestamp"] < row.end))
    return keep


def test_deterministic_by_seed() -> None:
    a = llm_app(days=1, seed=7, requests_per_day=300)
    b = llm_app(days=1, seed=7, requests_per_day=300)
    c = llm_app(days=1, seed=8, requests_per_day=300)
    pd.testing.assert_frame_equal(a, b)
    assert not a["latency_ms"].equals(c["latency_ms"])


def test_size_schema_and_order(month: pd.DataFrame) -> None:
    # 30 days from Sunday 2025-06-01: 21 weekdays at rate 1, 9 weekend days at 0.7,
    # scaled so that an average week has requests_per_day per day.
    expected = 10_000 * (21 + 9 * 0.7) / ((5 + 2 * 0.7) / 7)
    assert abs(len(month) - expected) < 5 * np.sqrt(expected)
    back = read_events(month).frame  # already canonical: nothing changes
    assert back.equals(month) and back.dtypes.equals(month.dtypes)
    assert month["timestamp"].is_monotonic_increasing
    assert month["timestamp"].min() >= pd.Timestamp("2025-06-01", tz="UTC")
    assert month["timestamp"].max() < pd.Timestamp("2025-07-01", tz="UTC")


def test_phases_add_up_and_are_valid(month: pd.DataFrame) -> None:
    phases = month[["queue_ms", "processing_ms", "delivery_ms"]].sum(axis=1)
    np.testing.assert_allclose(month["latency_ms"], phases, rtol=1e-12)
    assert (month[["queue_ms", "processing_ms", "delivery_ms"]] > 0).all().all()
    ok = month["success"]
    assert (month.loc[ok, "ttft_ms"] < month.loc[ok, "latency_ms"]).all()
    assert month.loc[~ok, "ttft_ms"].isna().all()
    assert (month.loc[~ok, "output_tokens"] == 0).all()
    assert (month["cached_input_tokens"] <= month["input_tokens"]).all()
    assert (month["cache_hit"] == (month["cached_input_tokens"] > 0)).all()


def test_rollout_split_and_variants(month: pd.DataFrame) -> None:
    v2 = (month["endpoint"] == "/api/chat-v2").to_numpy()
    assert stats.binomtest(int(v2.sum()), len(month), 0.1).pvalue > 1e-3
    assert ((month["variant"] == "treatment").to_numpy() == v2).all()


def test_model_mix(month: pd.DataFrame) -> None:
    counts = month["model"].value_counts()
    observed = [counts[m] for m in LLM_APP_MODELS]
    shares = [LLM_APP_MODELS[m]["share"] for m in LLM_APP_MODELS]
    assert stats.chisquare(observed, np.array(shares) * len(month)).pvalue > 1e-3


def test_error_rates_per_endpoint_outside_incidents(month: pd.DataFrame) -> None:
    calm = month[_outside_incidents(month)]
    for endpoint, rate in (("/api/chat", 0.015), ("/api/chat-v2", 0.010)):
        sub = calm[calm["endpoint"] == endpoint]
        failures = int((~sub["success"]).sum())
        assert stats.binomtest(failures, len(sub), rate).pvalue > 1e-3, endpoint
    kinds = set(month["error"].dropna().astype(str))
    assert kinds == {"rate_limit", "timeout", "upstream_5xx", "content_filter"}
    timeouts = month[month["error"] == "timeout"]
    np.testing.assert_allclose(
        timeouts["queue_ms"] + timeouts["processing_ms"], 30_000.0, rtol=1e-12
    )


def test_cost_matches_published_prices(month: pd.DataFrame) -> None:
    p = np.array([PUBLISHED[str(m)] for m in month["model"]])
    cached = month["cached_input_tokens"].to_numpy()
    want = (
        (month["input_tokens"].to_numpy() - cached) * p[:, 0]
        + cached * p[:, 1]
        + month["output_tokens"].to_numpy() * p[:, 2]
    ) / 1e6
    np.testing.assert_allclose(month["cost_usd"], want, rtol=1e-12)


def test_daily_seasonality(month: pd.DataFrame) -> None:
    hours = month["timestamp"].dt.hour.value_counts()
    # intensity 1 + 0.6 cos(2 pi (h - 15) / 24): 1.6 at 15:00 against 0.4 at 03:00
    assert 3.0 < hours[15] / hours[3] < 5.0


def test_heavy_tail(month: pd.DataFrame) -> None:
    lat = month.loc[month["model"] == "gpt-4o-mini", "latency_ms"]
    p50, p99 = np.percentile(lat, [50, 99])
    assert p99 / p50 > 3.5


def test_slow_latency_trend(month: pd.DataFrame) -> None:
    ok = month[
        month["success"] & _outside_incidents(month) & (month["model"] == "gpt-4o")
    ]
    day = (ok["timestamp"] - pd.Timestamp("2025-06-01", tz="UTC")).dt.days
    ratio = (
        ok.loc[day >= 25, "processing_ms"].median()
        / ok.loc[day < 5, "processing_ms"].median()
    )
    # +1 % per day: the medians of days 25-29 and 0-4 differ by 1.275 / 1.025
    assert ratio == pytest.approx(1.275 / 1.025, rel=0.05)


def test_incidents_are_where_documented(month: pd.DataFrame) -> None:
    incidents = llm_app_incidents(30).set_index("kind")
    assert list(incidents.index) == [
        "cost_spike",
        "latency_spike",
        "error_burst",
        "queue_saturation",
    ]
    ts = month["timestamp"]

    def window(kind: str, shift_days: int = 0) -> pd.Series:
        row = incidents.loc[kind]
        shift = pd.Timedelta(days=shift_days)
        return (ts >= row["start"] - shift) & (ts < row["end"] - shift)

    chat = month["endpoint"] == "/api/chat"
    ok = month["success"]
    spike = month.loc[window("latency_spike") & chat & ok, "processing_ms"].median()
    before = month.loc[window("latency_spike", 1) & chat & ok, "processing_ms"].median()
    assert spike / before > 2.3
    v2 = month.loc[window("latency_spike") & ~chat & ok, "processing_ms"].median()
    v2_before = month.loc[
        window("latency_spike", 1) & ~chat & ok, "processing_ms"
    ].median()
    assert v2 / v2_before < 1.5  # v2 was not affected

    burst = ~month.loc[window("error_burst"), "success"]
    assert burst.mean() > 0.2

    queue = month.loc[window("queue_saturation"), "queue_ms"].median()
    assert (
        queue > 1500
        and month.loc[window("queue_saturation", 1), "queue_ms"].median() < 100
    )

    gpt4o = month["model"] == "gpt-4o"
    tokens = month.loc[window("cost_spike") & gpt4o & ok, "input_tokens"].median()
    usual = month.loc[window("cost_spike", 1) & gpt4o & ok, "input_tokens"].median()
    assert tokens / usual > 4


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="days"):
        llm_app(days=0)
    with pytest.raises(ValueError, match="requests_per_day"):
        llm_app(days=1, requests_per_day=-5)
    with pytest.raises(ValueError, match="days"):
        llm_app_incidents(days=1.5)  # type: ignore[arg-type]


def test_start_and_short_runs() -> None:
    f = llm_app(days=1, seed=0, requests_per_day=200, start="2024-03-05T00:00:00+01:00")
    assert f["timestamp"].min() >= pd.Timestamp("2024-03-04T23:00Z")
    assert f["timestamp"].max() < pd.Timestamp("2024-03-05T23:00Z")
    inc = llm_app_incidents(1, start="2024-03-05")
    assert (inc["start"].dt.date == pd.Timestamp("2024-03-05").date()).all()
