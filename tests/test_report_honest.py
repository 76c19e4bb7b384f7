"""An honest report (issue 14): findings say which checks ran and which could not
and why; token-only traces get token, throughput and trend checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perfstats import datasets
from perfstats.cli import main
from perfstats.report import build_report

ALL_CLEAR = "every check is within its limits"


def token_trace(days: float, growth_per_day: float, seed: int) -> pd.DataFrame:
    """Requests over `days` with lognormal token counts whose mean grows by
    `growth_per_day` (relative) per day; no latency, no errors, no model."""
    rng = np.random.default_rng(seed)
    n = int(days * 24 * 40)
    t = np.sort(rng.uniform(0, days * 86_400.0, n))
    scale = 1.0 + growth_per_day * t / 86_400.0
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(t, unit="s"),
            "input_tokens": np.round(rng.lognormal(6.0, 0.8, n) * scale),
            "output_tokens": np.round(rng.lognormal(4.5, 0.7, n)),
        }
    )


def test_token_only_trace_says_what_was_not_checked() -> None:
    report = build_report(token_trace(4, 0.0, seed=1))
    md, page = report.to_markdown(), report.render("html")
    assert ALL_CLEAR not in md and ALL_CLEAR not in page
    checks = {c["check"]: c for c in report.checks}
    latency = checks["latency percentiles and SLA"]
    assert not latency["ran"] and "no latency_ms column" in latency["why"]
    assert not checks["error rates"]["ran"]
    assert checks["token usage"]["ran"]
    assert "Not checked: latency percentiles and SLA: no latency_ms column" in md
    assert "Not checked: latency percentiles and SLA" in page
    assert json.loads(report.to_json())["checks"] == report.checks
    tokens = report.section("tokens")
    assert {"tokens", "per_hour"} <= set(tokens.tables)
    per_hour = tokens.tables["per_hour"]
    assert per_hour.loc["requests", "mean"] == pytest.approx(40, rel=0.15)


def test_rising_input_tokens_are_a_finding_and_flat_ones_are_not() -> None:
    rising = build_report(token_trace(6, 0.3, seed=2))
    kinds = [(f.kind, f.numbers.get("metric")) for f in rising.findings]
    assert ("token_trend", "input_tokens") in kinds
    assert ("token_trend", "output_tokens") not in kinds
    flat = build_report(token_trace(6, 0.0, seed=3))
    assert not [f for f in flat.findings if f.kind == "token_trend"]


def test_full_sample_runs_every_check_and_may_say_all_clear() -> None:
    report = build_report(datasets.llm_app(days=8, seed=0))
    not_run = [c for c in report.checks if not c["ran"]]
    assert [c["check"] for c in not_run] == ["A/B comparison"] or not not_run
    md = report.to_markdown()
    assert "Checked: grouping by endpoint, latency percentiles and SLA" in md


def test_cli_on_a_trace_shaped_like_the_azure_llm_trace(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = shared_data / "llm" / "azure_llm_2023" / "AzureLLMInferenceTrace_conv.csv"
    if not src.exists():
        pytest.skip(f"{src} not present")
    out = tmp_path / "azure.json"
    argv = [
        "report",
        str(src),
        "--columns",
        "TIMESTAMP=timestamp,ContextTokens=input_tokens,GeneratedTokens=output_tokens",
        "-o",
        str(out),
    ]
    assert main(argv) == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    checks = {c["check"]: c for c in doc["checks"]}
    assert checks["token usage"]["ran"]
    assert not checks["latency percentiles and SLA"]["ran"]
    assert any(s["key"] == "tokens" for s in doc["sections"])
    raw = pd.read_csv(src)
    assert doc["meta"]["requests"] == len(raw)
    # times keep the file's resolution (100 ns), no float noise
    assert doc["meta"]["start"].startswith(
        raw["TIMESTAMP"].min().replace(" ", "T")[:26]
    )


def test_a_latency_under_another_name_is_pointed_out() -> None:
    frame = token_trace(1, 0.0, seed=4).assign(duration=5.0)
    report = build_report(frame)
    why = next(
        c["why"] for c in report.checks if c["check"] == "latency percentiles and SLA"
    )
    assert "--columns duration=latency_ms" in why
    assert "columns={'duration': 'latency_ms'}" in why
