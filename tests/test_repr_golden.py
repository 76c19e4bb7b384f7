"""Golden files of the text and HTML displays of results made from fixed inputs
(iminuit's practice): a change in how a result prints is a visible diff under
``tests/golden/``. Regenerate with ``PERFSTATS_UPDATE_GOLDEN=1 pytest tests/test_repr_golden.py``
and review the diff."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import perfstats as ps
from perfstats.analysis.costs import ModelPrice, PriceTable
from perfstats.analysis.findings import Finding
from perfstats.record.recorder import EndpointStats
from perfstats.stats.detectors import RobustZScore
from perfstats.stats.linear_model import LinearModel
from perfstats.stats.scoring.nab import NabFileScore, NabScore
from perfstats.stats.scoring.tcpd import tcpd_f1

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PERFSTATS_UPDATE_GOLDEN") == "1"

A = [12.0, 14.0, 11.0, 13.0, 12.5]
B = [15.0, 17.0, 16.0, 18.0, 14.5]

X = np.arange(12.0)
Y = 3.0 + 0.5 * X + np.sin(X)  # fixed, not random: the golden text must not move
STEP = np.r_[np.full(20, 1.0), np.full(20, 2.0)] + np.tile([0.0, 0.01], 20)
SPIKE = np.r_[10.0 + np.sin(np.arange(30.0)), 40.0, 10.0 + np.sin(np.arange(9.0))]


def _sketch() -> ps.QuantileSketch:
    s = ps.QuantileSketch()
    s.add(np.arange(1.0, 1001.0))
    return s


def _histogram() -> ps.Histogram:
    h = ps.Histogram([1000, 2000])
    h.add([500.0, 1500.0, 1500.0, 2500.0])
    return h


def _endpoint_stats() -> EndpointStats:
    stats = EndpointStats(count=4, errors=1)
    stats.latency.add([120.0, 180.0, 250.0, 900.0])
    return stats


def _events(days: int = 3, seed: int = 7) -> Any:
    """Hourly requests of two endpoints, two variants and two models, latency rising
    slowly; seeded, so the golden files hold fixed numbers."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    n = days * 24 * 20
    ts = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, days * 86400, n)), unit="s"
    )
    day = np.arange(n) / n * days
    return pd.DataFrame(
        {
            "timestamp": ts,
            "endpoint": np.where(np.arange(n) % 3 == 0, "/chat", "/search"),
            "variant": np.where(np.arange(n) % 2 == 0, "A", "B"),
            "model": np.where(np.arange(n) % 4 == 0, "gpt-4o", "gpt-4o-mini"),
            "latency_ms": (200.0 + 5.0 * day) * rng.lognormal(0.0, 0.3, n),
            "input_tokens": rng.integers(100, 1000, n).astype(float),
            "output_tokens": rng.integers(10, 200, n).astype(float),
            "success": rng.uniform(size=n) > 0.02,
            "user_id": [f"u{i % 50}" for i in range(n)],
        }
    )


def _spiky_events() -> Any:
    """Four days of :func:`_events` with every request of hour 70 five times slower."""
    events = _events(days=4)
    hour = (events["timestamp"] - events["timestamp"].iloc[0]).dt.total_seconds()
    events.loc[(hour // 3600) == 70, "latency_ms"] *= 5.0
    return events


_PRICES = PriceTable(
    (
        ModelPrice("gpt-4o-mini", r"gpt-4o-mini.*", 0.15, 0.6, 0.075, "2026-01-01"),
        ModelPrice("gpt-4o", r"gpt-4o.*", 2.5, 10.0, 1.25, "2026-01-01"),
    ),
    as_of="2026-01-01",
)

#: name -> a function making a result from fixed inputs
CASES: dict[str, Callable[[], Any]] = {
    "welch_t_test": lambda: ps.welch_t_test(A, B),
    "welch_t_test_log": lambda: ps.welch_t_test(A, B, log=True, alternative="less"),
    "mann_whitney_u": lambda: ps.mann_whitney_u(A, B),
    "srm_test": lambda: ps.srm_test([100_000, 102_000], [1, 1]),
    "moments": lambda: ps.Moments([1.0, 2.0, 3.0, 4.5]),
    "moments_empty": lambda: ps.Moments(),
    "quantile_sketch": _sketch,
    "histogram": _histogram,
    "linear_model": lambda: LinearModel(X, Y, names=["x"]),
    "prediction": lambda: LinearModel(X, Y).predict([12.0, 13.0]),
    "trend": lambda: ps.fit_trend(X, Y),
    "changepoints": lambda: ps.detect_changepoints(STEP, np.arange(40) * 60),
    "changepoint": lambda: ps.detect_changepoints(STEP)[0],
    "anomaly_result": lambda: RobustZScore(window=10).detect(SPIKE),
    "anomaly_event": lambda: RobustZScore(window=10).detect(SPIKE).events()[0],
    "nab_score": lambda: NabScore(
        score=41.5,
        raw=3.2,
        null=-10.0,
        perfect=22.0,
        threshold=4.0,
        profile="standard",
        weights={"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0},
        per_file={
            "a.csv": NabFileScore(2.1, 1, 90, 2, 0, 93, 1),
            "b.csv": NabFileScore(1.1, 1, 50, 0, 1, 52, 2),
        },
    ),
    "nab_file_score": lambda: NabFileScore(2.1, 1, 90, 2, 0, 93, 1),
    "tcpd_f1": lambda: tcpd_f1({"a": [10, 20], "b": [11]}, [10, 30]),
    "summary": lambda: ps.summarize(_events(), by="endpoint"),
    "comparison": lambda: ps.compare(_events(), by="variant", baseline="A"),
    "comparison_cuped": lambda: ps.compare(
        _events(),
        by="variant",
        baseline="A",
        metrics=["latency", "error_rate", "tokens"],
        unit="user_id",
        pre_period=("2026-01-01", "2026-01-02"),
    ),
    "cuped": lambda: ps.cuped(Y, np.arange(12) % 2 == 0, X),
    "cost_report": lambda: ps.costs(_events(), _PRICES, budget=5.0),
    "price_table": lambda: _PRICES,
    "metric_trend": lambda: ps.trend(
        _events(days=10), "latency_p50", every="1d", budget=260.0
    ),
    "events": lambda: ps.read_events(_events(days=1)),
    "exposures": lambda: ps.exposures(
        _events(days=1), by="variant", planned={"A": 0.5, "B": 0.5}
    ),
    "endpoint_stats": _endpoint_stats,
    "finding": lambda: Finding(
        "warning", 2.5, "sla_miss", "p99 above 5 s on /chat", {"p99_ms": 6100.0}, "sla"
    ),
    "hdr_histogram_data": lambda: ps.HdrHistogramData.empty(3, 1, 3_600_000),
    "metric_anomalies": lambda: ps.anomalies(
        _spiky_events(), "latency_p95", detector=RobustZScore(window=12)
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_display_matches_golden_files(name: str) -> None:
    result = CASES[name]()
    outputs = {
        "txt": repr(result),
        "html": result._repr_html_(),
        "json": result.to_json(),
    }
    for suffix, text in outputs.items():
        path = GOLDEN / f"{name}.{suffix}"
        if UPDATE:
            path.write_text(text + "\n", encoding="utf-8")
        assert path.exists(), (
            f"no golden file {path.name}; run with PERFSTATS_UPDATE_GOLDEN=1"
        )
        assert text + "\n" == path.read_text(encoding="utf-8"), f"{path.name} differs"


@pytest.mark.parametrize("name", sorted(CASES))
def test_json_is_strict_and_holds_to_dict(name: str) -> None:
    result = CASES[name]()
    doc = json.loads(result.to_json())
    assert set(doc) == set(result.to_dict())
    pd = pytest.importorskip("pandas")
    assert isinstance(result.to_frame(), pd.DataFrame)


#: results of the stats layer, which must print without pandas installed
STATS_CASES = [
    "welch_t_test",
    "cuped",
    "mann_whitney_u",
    "srm_test",
    "moments",
    "quantile_sketch",
    "histogram",
    "linear_model",
    "prediction",
    "trend",
    "changepoints",
    "changepoint",
    "anomaly_result",
    "anomaly_event",
    "nab_score",
    "tcpd_f1",
]


def test_stats_results_print_without_pandas() -> None:
    """The stats layer needs no pandas: its results are made and shown (text, HTML,
    JSON) with pandas blocked, in a child process so the block cannot leak. (Blocked
    after ``import perfstats``: the report module imports pandas at import time.)"""
    code = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import test_repr_golden as g
sys.modules["pandas"] = None  # from here on, any import of pandas raises ImportError
for name in {STATS_CASES!r}:
    r = g.CASES[name]()
    for text, suffix in ((repr(r), "txt"), (r._repr_html_(), "html"), (r.to_json(), "json")):
        assert text + "\\n" == (g.GOLDEN / f"{{name}}.{{suffix}}").read_text("utf-8"), name
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
