"""perfstats.costs: pricing from tokens, price files, breakdowns and budgets."""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib import resources
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from perfstats.analysis.costs import BUDGET_LEVELS, CostReport, costs, load_prices
from perfstats.datasets import llm_app

matplotlib.use("Agg")


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(
                [
                    "2025-01-01T10:00Z",
                    "2025-01-01T11:00Z",
                    "2025-01-01T12:00Z",
                    "2025-01-02T09:00Z",
                ]
            ),
            "endpoint": ["/a", "/a", "/b", "/b"],
            "user_id": ["u1", "u2", "u1", "u1"],
            "model": ["gpt-4o-2024-08-06", "gpt-4o-mini", "GPT-4O", "o1"],
            "input_tokens": [1000.0, 20000.0, 3000.0, 500.0],
            "cached_input_tokens": [400.0, 0.0, 0.0, 500.0],
            "output_tokens": [200.0, 1000.0, 0.0, 100.0],
        }
    )


# Hand-priced from the providers' published list prices (USD per 1M tokens).
ROW_COST = np.array(
    [
        (600 * 2.50 + 400 * 1.25 + 200 * 10.00) / 1e6,
        (20000 * 0.15 + 1000 * 0.60) / 1e6,
        (3000 * 2.50) / 1e6,
        (500 * 7.50 + 100 * 60.00) / 1e6,
    ]
)


def test_cost_from_tokens_with_cached_tier() -> None:
    report = costs(_frame())
    assert report.total_usd == pytest.approx(ROW_COST.sum(), rel=1e-14)
    by_model = report.by_model["cost_usd"]
    # model names are kept as recorded; each matched its family's price
    assert by_model["gpt-4o-2024-08-06"] == pytest.approx(ROW_COST[0], rel=1e-14)
    assert by_model["GPT-4O"] == pytest.approx(ROW_COST[2], rel=1e-14)
    assert by_model["o1"] == pytest.approx(ROW_COST[3], rel=1e-14)
    assert report.unpriced == {}


def test_breakdowns_against_pandas_groupby() -> None:
    frame = _frame()
    report = costs(frame)
    work = frame.assign(cost=ROW_COST)
    for by, column in (("endpoint", "endpoint"), ("user", "user_id")):
        got = report.to_frame(by)  # type: ignore[arg-type]
        want = work.groupby(column)["cost"].sum()
        np.testing.assert_allclose(got["cost_usd"].sort_index(), want.sort_index())
        assert (
            got["requests"].sort_index().tolist()
            == work.groupby(column).size().tolist()
        )
        assert got["cost_share"].sum() == pytest.approx(1.0)
        assert list(got["cost_usd"]) == sorted(got["cost_usd"], reverse=True)
    day = report.to_frame("day")
    np.testing.assert_allclose(day["cost_usd"], [ROW_COST[:3].sum(), ROW_COST[3]])
    assert [str(d.date()) for d in day.index] == ["2025-01-01", "2025-01-02"]
    assert day["input_tokens"].tolist() == [24000.0, 500.0]
    with pytest.raises(ValueError, match="by must be"):
        report.to_frame("week")  # type: ignore[arg-type]


def test_model_pattern_matching() -> None:
    table = load_prices()
    cases = {
        "gpt-4o-mini-2024-07-18": "gpt-4o-mini",
        "openai/gpt-4o": "gpt-4o",
        "gpt-4o-2024-11-20": "gpt-4o",
        "gpt-4.1-mini": "gpt-4.1-mini",
        "gpt-4.1": "gpt-4.1",
        "claude-3-5-sonnet-20241022": "claude-3-5-sonnet",
        "anthropic/claude-3-5-haiku-latest": "claude-3-5-haiku",
        "models/gemini-1.5-flash-002": "gemini-1.5-flash",
    }
    for model, family in cases.items():
        entry = table.lookup(model)
        assert entry is not None and entry.name == family, model
    assert table.lookup("gpt-4o-mini-turbo-ultra") is None
    assert table.lookup("llama-3") is None


def test_bundled_table_is_dated_and_sourced() -> None:
    path = resources.files("perfstats").joinpath("data/prices.toml")
    assert path.is_file()  # shipped as package data
    table = load_prices()
    assert len(table.models) >= 10
    for m in table.models:
        dt.date.fromisoformat(m.as_of)
        assert m.source.startswith("https://")
        assert 0 < m.cached_input <= m.input < m.output
        re.compile(m.pattern)
    dt.date.fromisoformat(table.as_of)
    assert "as of" in repr(table) and len(table.to_frame()) == len(table.models)


def test_override_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text(
        '[meta]\nas_of = "2026-01-01"\n\n'
        "[[model]]\n"
        'name = "house-llm"\npattern = "house-llm(-v\\\\d+)?"\n'
        "input = 1.0\noutput = 2.0\n\n"
        "[[model]]\n"
        'name = "gpt-4o"\ninput = 5.0\noutput = 20.0\ncached_input = 0.5\n'
    )
    table = load_prices(toml)
    assert table.lookup("house-llm-v2") is not None
    assert table.lookup("gpt-4o").input == 5.0  # yours first  # type: ignore[union-attr]
    assert table.lookup("gpt-4o-mini").input == 0.15  # type: ignore[union-attr]
    assert table.as_of == "2026-01-01"
    frame = pd.DataFrame(
        {
            "model": ["house-llm-v3", "gpt-4o"],
            "input_tokens": [1e6, 1e6],
            "output_tokens": [1e6, 0],
        }
    )
    assert costs(frame, toml).total_usd == pytest.approx(3.0 + 5.0)
    js = tmp_path / "p.json"
    js.write_text(
        json.dumps({"model": [{"name": "house-llm", "input": 4, "output": 8}]})
    )
    only = load_prices(js, bundled=False)
    assert len(only.models) == 1 and only.lookup("gpt-4o") is None
    # cached input defaults to the input price when a provider has no cache discount
    assert only.models[0].cached_input == 4.0


@pytest.mark.parametrize(
    ("content", "suffix", "match"),
    [
        (
            '[[model]]\nname = "x"\ninput = -1\noutput = 1\n',
            ".toml",
            "input must be >= 0",
        ),
        ('[[model]]\nname = "x"\ninput = 1\n', ".toml", "output must be a number"),
        (
            '[[model]]\nname = "x"\npattern = "("\ninput = 1\noutput = 1\n',
            ".toml",
            "bad pattern",
        ),
        ("[[model]]\ninput = 1\noutput = 1\n", ".toml", "no name"),
        (
            '[meta]\nper_tokens = 1000\n[[model]]\nname="x"\ninput=1\noutput=1\n',
            ".toml",
            "per 1000000",
        ),
        ("model = 3\n", ".toml", "non-empty 'model' list"),
        ("{not json", ".json", "not valid JSON"),
        ("[[model", ".toml", "not valid TOML"),
        ("x", ".yaml", ".toml or .json"),
    ],
)
def test_bad_price_files(tmp_path: Path, content: str, suffix: str, match: str) -> None:
    path = tmp_path / f"prices{suffix}"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_prices(path)


def test_unpriced_models_and_recorded_cost() -> None:
    frame = pd.DataFrame(
        {
            "model": ["llama-3", "llama-3", "gpt-4o", "mystery"],
            "input_tokens": [1e6, 1e6, 1e6, 10.0],
            "output_tokens": [0.0, 0.0, 0.0, 0.0],
            "cost_usd": [0.2, np.nan, 99.0, np.nan],
        }
    )
    report = costs(frame)
    # llama-3 falls back to its recorded cost where there is one; gpt-4o is priced
    assert report.total_usd == pytest.approx(0.2 + 2.5)
    assert report.unpriced == {"llama-3": 1, "mystery": 1}
    assert "unpriced models" in repr(report)
    assert costs(frame, use_recorded=True).total_usd == pytest.approx(0.2 + 99.0)


def test_requests_without_token_counts_are_not_free() -> None:
    frame = pd.DataFrame(
        {
            "model": ["gpt-4o", "gpt-4o", "gpt-4o"],
            "input_tokens": [1e6, np.nan, np.nan],
            "output_tokens": [np.nan, np.nan, np.nan],
            "cost_usd": [np.nan, 7.0, np.nan],
        }
    )
    report = costs(frame)
    assert report.total_usd == pytest.approx(2.5 + 7.0)
    assert report.unpriced == {}
    assert any("cost of 1 requests: no token counts" in m for m in report.missing)


def test_what_is_missing_is_said() -> None:
    only_cost = pd.DataFrame({"cost_usd": [1.0, 2.0]})
    report = costs(only_cost)
    assert report.total_usd == 3.0
    assert any("no input_tokens" in m for m in report.missing)
    assert any("spend per day" in m for m in report.missing)
    assert report.by_model.empty and report.by_day.empty
    with pytest.raises(ValueError, match="costs needs model"):
        costs(pd.DataFrame({"latency_ms": [1.0]}))


def test_daily_budget_levels_and_crossing_times() -> None:
    ts = pd.date_range("2025-03-01T00:00Z", periods=10, freq="h")
    frame = pd.DataFrame(
        {"timestamp": ts, "model": "gpt-4o", "input_tokens": 1e6, "output_tokens": 0.0}
    )  # 2.50 USD per request
    report = costs(frame, budget=20.0, budget_period="day")
    b = report.budget
    assert b is not None and list(b.index) == ["2025-03-01"]
    row = b.iloc[0]
    assert row["spend_usd"] == pytest.approx(25.0) and row["status"] == "over budget"
    # cumulative 2.5, 5, ..., 25: 50 % (10) at the 4th request, 80 % (16) at the 7th,
    # 90 % (18) at the 8th, 100 % (20) at the 8th
    assert row["reached_50"] == ts[3] and row["reached_80"] == ts[6]
    assert row["reached_90"] == ts[7] and row["reached_100"] == ts[7]
    # data up to 09:00 of a 24 h day: linear projection 25 / (9 / 24)
    assert row["projected_usd"] == pytest.approx(25.0 * 24 / 9)
    assert [lv for lv in BUDGET_LEVELS] == [0.5, 0.8, 0.9, 1.0]
    assert pd.isna(row["projected_100"])  # already over
    # 3 requests by 02:00 cost 7.50: that rate (3.75 per hour from midnight) uses up
    # 20 USD at 05:20
    early = costs(frame.iloc[:3], budget=20.0, budget_period="day")
    assert early.budget is not None
    assert early.budget["projected_100"].iloc[0] == pd.Timestamp("2025-03-01T05:20Z")
    assert "budget runs out at 2025-03-01 05:20:00+00:00" in repr(early)
    low = costs(frame.iloc[:3], budget=20.0, budget_period="day").budget
    assert low is not None and low["status"].iloc[0] == "ok"
    assert pd.isna(low["reached_50"].iloc[0])


def test_monthly_budget_over_generated_month() -> None:
    month = llm_app(days=30, seed=2, requests_per_day=2000)
    total = float(month["cost_usd"].sum())
    budget = round(total / 0.85, 2)  # spend ends at 85 % of the budget
    report = costs(month, budget=budget, budget_period="month")
    b = report.budget
    assert b is not None and list(b.index) == ["2025-06"]
    assert b["spend_usd"].iloc[0] == pytest.approx(total, rel=1e-12)
    assert b["share"].iloc[0] == pytest.approx(0.85, rel=1e-4)
    assert b["status"].iloc[0] == ">= 80%"
    cum = month["cost_usd"].cumsum().to_numpy()
    for level in (50, 80):
        first = int(np.argmax(cum >= level / 100 * budget))
        assert b[f"reached_{level}"].iloc[0] == month["timestamp"].iloc[first]
    assert pd.isna(b["reached_90"].iloc[0]) and pd.isna(b["reached_100"].iloc[0])
    text = report.to_json()
    assert json.loads(text)["budget"][0]["budget_usd"] == budget


def test_budget_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        costs(_frame(), budget=-1.0)
    with pytest.raises(ValueError, match="positive"):
        costs(_frame(), budget=float("nan"))
    with pytest.raises(TypeError, match="number"):
        costs(_frame(), budget=True)
    with pytest.raises(ValueError, match="budget_period"):
        costs(_frame(), budget=1.0, budget_period="week")  # type: ignore[arg-type]


def test_result_object_views() -> None:
    report = costs(_frame(), budget=0.01, budget_period="day")
    assert isinstance(report, CostReport)
    d = report.to_dict()
    json.dumps(d)
    assert d["total_usd"] == pytest.approx(ROW_COST.sum())
    assert len(d["by_model"]) == 4 and len(d["budget"]) == 2
    text = repr(report)
    assert text.startswith("CostReport: $0.02 over 4 requests")
    assert "budget (day) 2025-01-02" in text
    html = report._repr_html_()
    assert "<table" in html and "Budget per day" in html


@pytest.mark.parametrize("period", ["day", "month"])
def test_plot_returns_axes(period: str) -> None:
    import matplotlib.pyplot as plt

    report = costs(
        llm_app(days=3, requests_per_day=300), budget=5.0, budget_period=period
    )  # type: ignore[arg-type]
    ax = report.plot()
    assert ax.get_ylabel() == "spend per day, USD"
    assert len(ax.patches) == 3 * 3  # three models stacked on three days
    _, given = plt.subplots()
    assert report.plot(ax=given) is given
    plt.close("all")


# --- unknown is not $0 (issue 11 item 6, issue 13 item 8) ------------------------------


def test_unpriced_models_are_unknown_not_free() -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2025-03-01T00:00Z", periods=4, freq="h"),
            "model": ["gpt-4o", "gpt-4o", "mystery", "mystery"],
            "input_tokens": [1e6, 1e6, 1e6, 1e6],
            "output_tokens": [0.0, 0.0, 0.0, 0.0],
        }
    )
    report = costs(frame, budget=100.0, budget_period="day")
    row = report.by_model.loc["mystery"]
    assert np.isnan(row["cost_usd"]) and np.isnan(row["cost_share"])
    assert bool(row["unpriced"]) and row["unknown_cost_requests"] == 2
    assert not report.by_model.loc["gpt-4o", "unpriced"]
    assert report.total_usd == pytest.approx(5.0) and report.unknown_requests == 2
    assert report.warnings and "mystery" in report.warnings[0]
    assert "warning:" in repr(report)
    assert report.to_dict()["warnings"] == report.warnings
    assert report.budget is not None
    status = report.budget["status"].iloc[0]
    assert "unknown spend (2 requests)" in status
    assert report.budget["unknown_requests"].iloc[0] == 2
    # all-NaN recorded costs: unknown, not 0
    only = costs(pd.DataFrame({"cost_usd": [np.nan, np.nan]}))
    assert only.unknown_requests == 2 and only.warnings


def test_projection_uses_the_run_rate_over_the_observed_span() -> None:
    # $10/day from Jan 21 to Jan 25 (hourly requests): the run rate projects about
    # 50 + 10/day x the 6 days left = ~$110, not 50 / (25/31) = $62
    ts = pd.date_range("2026-01-21T00:00Z", "2026-01-25T23:00Z", freq="h")
    frame = pd.DataFrame({"timestamp": ts, "cost_usd": 10.0 / 24})
    report = costs(frame, budget=500.0, budget_period="month")
    assert report.budget is not None
    row = report.budget.iloc[0]
    span_s = (ts[-1] - ts[0]).total_seconds()
    left_s = (pd.Timestamp("2026-02-01T00:00Z") - ts[-1]).total_seconds()
    assert row["projected_usd"] == pytest.approx(50.0 + 50.0 / span_s * left_s)
    assert 105 < row["projected_usd"] < 115 and row["projection"] == "run rate"
    # one $10 request at 00:30 projects nothing
    one = pd.DataFrame(
        {"timestamp": [pd.Timestamp("2026-01-01T00:30Z")], "cost_usd": [10.0]}
    )
    b = costs(one, budget=100.0, budget_period="day").budget
    assert b is not None and np.isnan(b["projected_usd"].iloc[0])
    assert b["projection"].iloc[0].startswith("too little data")
    assert pd.isna(b["projected_100"].iloc[0])


def test_exact_snapshot_price_before_the_family_pattern(tmp_path: Path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text(
        "[[model]]\n"
        'name = "acme"\npattern = "acme(-\\\\d{4}-\\\\d{2}-\\\\d{2})?"\n'
        "input = 1.0\noutput = 2.0\n\n"
        "[[model]]\n"
        'name = "acme-2025-01-01"\ninput = 3.0\noutput = 4.0\n'
    )
    table = load_prices(toml)
    assert table.lookup("acme-2025-01-01").input == 3.0  # type: ignore[union-attr]
    assert table.lookup("ACME-2025-01-01").input == 3.0  # type: ignore[union-attr]
    assert table.lookup("acme-2025-02-01").input == 1.0  # type: ignore[union-attr]


def test_report_shows_unknown_costs_and_no_projection_from_too_little_data() -> None:
    from perfstats import build_report

    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2026-01-01T00:30Z", "2026-01-01T00:40Z"]),
            "endpoint": "/a",
            "latency_ms": [100.0, 200.0],
            "model": ["gpt-4o", "mystery"],
            "input_tokens": [1e6, 1e6],
            "output_tokens": [0.0, 0.0],
        }
    )
    report = build_report(frame, budget=100.0, budget_period="day")
    titles = [f.title for f in report.findings]
    assert any("1 of 2 requests have no known cost" in t for t in titles), titles
    assert any("no projection: too little data" in t for t in titles), titles
    assert "mystery" in report.to_markdown() and "nan" not in titles[0].lower()


def test_projection_interval_covers_the_final_spend_at_its_nominal_rate() -> None:
    """Seeded simulation: Poisson requests (0.01/s) with lognormal costs over a day,
    projected from the first 8 hours; the 95 % interval holds the day's final spend
    in 95 % of runs, within a 3-sigma binomial tolerance."""
    rng = np.random.default_rng(5)
    reps, hits = 200, 0
    day = 86_400.0
    for _ in range(reps):
        n = rng.poisson(0.01 * day)
        t = np.sort(rng.uniform(0, day, n))
        c = rng.lognormal(-3, 1, n)
        seen = t < 8 * 3600
        frame = pd.DataFrame(
            {
                "timestamp": pd.Timestamp("2026-01-01T00:00Z")
                + pd.to_timedelta(t[seen], unit="s"),
                "cost_usd": c[seen],
            }
        )
        b = costs(frame, budget=1e6, budget_period="day").budget
        assert b is not None
        lo, hi = b["projected_low"].iloc[0], b["projected_high"].iloc[0]
        hits += bool(lo <= c.sum() <= hi)
    rate = hits / reps
    assert abs(rate - 0.95) <= 3 * np.sqrt(0.95 * 0.05 / reps), rate
