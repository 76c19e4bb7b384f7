"""One definition of a failed request, the same in every analysis (issue 13, item 1).

Raw frames whose ``error`` column says "no error" in each common way (``""``, None,
NaN, "0", "false", "none", "ok", any case, padded) must give the same error counts in
summarize (DataFrame and Parquet path), compare, metric_series, anomalies and
build_report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perfstats import anomalies, build_report, compare, metric_series, summarize
from perfstats.io.failure import FAILURE_DEFINITION, error_present, failed

SPELLINGS: list[object] = ["", None, np.nan, "0", "false", "none", "ok", " OK ", "None"]


def raw_frame(no_error: object, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 4000
    arm = np.where(np.arange(n) % 2 == 0, "control", "v2")
    fails = rng.random(n) < np.where(arm == "v2", 0.10, 0.02)
    error = np.array([no_error] * n, dtype=object)
    error[fails] = "timeout"
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-04-01", tz="UTC")
            + pd.to_timedelta(np.arange(n) * 90, unit="s"),
            "endpoint": "chat",
            "variant": arm,
            "latency_ms": rng.lognormal(6.5, 0.4, n),
            "error": error,
        }
    )


def truth() -> pd.Series:
    f = raw_frame("")
    return (f["error"] == "timeout").groupby(f["variant"]).sum()


def test_error_present_spellings() -> None:
    values = pd.Series([*SPELLINGS, "timeout", "500", "Error"], dtype=object)
    assert error_present(values).tolist() == [False] * len(SPELLINGS) + [True] * 3
    cat = values.astype(str).astype("category")
    assert error_present(cat).tolist() == error_present(values.astype(str)).tolist()
    assert "'ok'" in FAILURE_DEFINITION


def test_success_and_error_together() -> None:
    ev = pd.DataFrame(
        {
            "success": [True, False, None, None, "false", "yes", 1, 0],
            "error": ["", "", "ok", "boom", None, "", None, None],
        }
    )
    assert failed(ev).tolist() == [False, True, False, True, True, False, False, True]
    assert failed(ev[["success"]].iloc[:4]).tolist() == [False, True, True, True]
    assert failed(pd.DataFrame({"x": [1]})) is None


@pytest.mark.parametrize("spelling", SPELLINGS, ids=repr)
def test_every_analysis_counts_the_same_errors(
    spelling: object, tmp_path: Path
) -> None:
    expected = truth()
    frame = raw_frame(spelling)

    s = summarize(frame, by="variant").table
    assert s["errors"].to_dict() == expected.to_dict()

    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    sp = summarize(path, by="variant").table
    assert sp["errors"].to_dict() == expected.to_dict()

    c = compare(frame, metrics=("latency", "error_rate"))
    row = c.table.set_index("metric").loc["error_rate"]
    assert round(row["mean"] * row["n"]) == expected["v2"]
    assert round(row["mean_baseline"] * row["n_baseline"]) == expected["control"]

    series = metric_series(frame, "errors", every="1d")
    assert int(series.sum()) == int(expected.sum())

    rates = anomalies(frame, "error_rate", every="1h").series
    hourly = metric_series(frame, "error_rate", every="1h")
    np.testing.assert_allclose(rates.to_numpy(), hourly.to_numpy())
    counts = metric_series(frame, "count", every="1h")
    assert round(float((hourly * counts).sum())) == int(expected.sum())

    report = build_report(frame, by="variant", sections=())
    assert report.summary.table["errors"].to_dict() == (expected.to_dict())
