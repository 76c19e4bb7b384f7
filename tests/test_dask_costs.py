"""perfstats.dask.costs equals perfstats.costs on the same events: counts, groups,
their order, statuses and the times budget levels were reached exactly; spend sums
to 1e-12 (added in another order)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import perfstats
from perfstats.analysis.costs import CostReport, costs_partial, load_prices

dd = pytest.importorskip("dask.dataframe", reason="perfstats.dask needs dask")
distributed = pytest.importorskip("distributed", reason="the cluster tests need it")
import dask  # noqa: E402

import perfstats.dask as psd  # noqa: E402

MODELS = np.array(["gpt-4o", "gpt-4o-mini", "mystery-llm", None], dtype=object)


def make_events(n: int, seed: int) -> pd.DataFrame:
    """Priced, unpriced and missing models, missing token counts (some with a
    recorded cost), endpoints, users, over 40 days."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-03", tz="UTC")
    ev = pd.DataFrame(
        {
            "timestamp": start
            + pd.to_timedelta(np.sort(rng.integers(0, 40 * 86400 * 10**9, n)), "ns"),
            "model": MODELS[rng.choice(4, n, p=[0.5, 0.3, 0.15, 0.05])],
            "endpoint": rng.choice(["/chat", "/embed", "/search"], n),
            "user_id": rng.choice([f"user-{i:03d}" for i in range(300)], n),
            "input_tokens": rng.integers(1, 5000, n).astype(float),
            "output_tokens": rng.integers(1, 500, n).astype(float),
            "cost_usd": np.where(rng.random(n) < 0.5, rng.gamma(2, 0.001, n), np.nan),
        }
    )
    no_tokens = rng.random(n) < 0.02
    ev.loc[no_tokens, ["input_tokens", "output_tokens"]] = np.nan
    return ev


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return make_events(20_000, seed=5)


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory: pytest.TempPathFactory, events: pd.DataFrame) -> Path:
    root = tmp_path_factory.mktemp("costs")
    cuts = [0, 500, 7000, 7001, 13000, len(events)]
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        events.iloc[a:b].to_parquet(root / f"part-{i:03d}.parquet", index=False)
    return root


def assert_same_frame(got: pd.DataFrame, want: pd.DataFrame, name: str) -> None:
    """Index, columns and every non-float value exactly; floats to 1e-12, the time
    the budget would run out (projected from the spend) to the microsecond."""
    pd.testing.assert_index_equal(got.index, want.index, exact=True, obj=name)
    pd.testing.assert_index_equal(got.columns, want.columns, obj=name)
    for col in want.columns:
        a, b = got[col], want[col]
        if col == "projected_100":  # a time from the rounded spend and run rate
            assert a.isna().equals(b.isna()), (name, col)
            gap = (a[b.notna()] - b[b.notna()]).abs()
            assert (gap <= pd.Timedelta(microseconds=1)).all(), (name, col, gap)
        elif pd.api.types.is_float_dtype(b.dtype):
            assert a.dtype == b.dtype, (name, col)
            np.testing.assert_allclose(
                a, b, rtol=1e-12, atol=0, err_msg=f"{name}.{col}"
            )
        else:
            pd.testing.assert_series_equal(a, b, check_exact=True, obj=f"{name}.{col}")


def assert_same_report(got: CostReport, want: CostReport) -> None:
    np.testing.assert_allclose(got.total_usd, want.total_usd, rtol=1e-12)
    assert got.requests == want.requests
    assert got.unknown_requests == want.unknown_requests
    assert got.unpriced == want.unpriced
    assert list(got.unpriced) == list(want.unpriced)
    assert got.warnings == want.warnings
    assert got.missing == want.missing
    assert got.prices_as_of == want.prices_as_of
    assert got.budget_period == want.budget_period
    for name in ("by_model", "by_endpoint", "by_user", "by_day", "daily_by_model"):
        assert_same_frame(getattr(got, name), getattr(want, name), name)
    assert (got.budget is None) == (want.budget is None)
    if want.budget is not None:
        assert got.budget is not None
        assert_same_frame(got.budget, want.budget, "budget")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"budget": 2.2, "budget_period": "day"},
        {"budget": 30.0, "use_recorded": True},
    ],
    ids=["no budget", "daily budget", "monthly budget, recorded costs"],
)
def test_costs_on_cluster_equal_costs(
    client: Any, parquet_dir: Path, options: dict[str, Any]
) -> None:
    want = perfstats.costs(pd.read_parquet(parquet_dir), **options)
    got = psd.costs(dd.read_parquet(str(parquet_dir)), split_every=2, **options)
    if "budget" in options:
        assert want.budget is not None
        reached = want.budget[[c for c in want.budget if c.startswith("reached")]]
        assert reached.notna().sum().sum() >= 4  # levels were crossed
    assert_same_report(got, want)


def test_budget_level_reached_exactly_at_a_minute_boundary() -> None:
    """Costs of $1: a level is reached exactly (not by rounding) on the last event of
    a minute, and several events share a timestamp; the times match one machine."""
    ts = pd.Timestamp("2026-02-01", tz="UTC") + pd.to_timedelta(
        np.repeat(np.arange(0, 12 * 60, 20), 2), "s"
    )
    ev = pd.DataFrame({"timestamp": ts, "model": "m", "cost_usd": 1.0})
    for budget in (6.0, 12.0, 40.0):
        want = perfstats.costs(ev, budget=budget, budget_period="day")
        with dask.config.set(scheduler="sync"):
            got = psd.costs(dd.from_pandas(ev, npartitions=5), budget=budget,
                            budget_period="day")  # fmt: skip
        assert_same_report(got, want)


def test_partials_merge_in_any_order(events: pd.DataFrame) -> None:
    """Merged partials of consecutive slices give costs' report (budget aside)."""
    table = load_prices()
    parts = [
        costs_partial(events.iloc[a:b], table) for a, b in [(0, 9000), (9000, 20_000)]
    ]
    want = perfstats.costs(events, table)
    assert_same_report(parts[0].merge(parts[1]).finish(table, None), want)


def test_costs_refuses_bad_input(events: pd.DataFrame) -> None:
    ddf = dd.from_pandas(events, npartitions=2)
    with pytest.raises(TypeError, match=r"dask\.dataframe\.DataFrame"):
        psd.costs(events)
    with pytest.raises(ValueError, match="budget must be a positive"):
        psd.costs(ddf, budget=-1.0)
    with pytest.raises(ValueError, match="budget_period"):
        psd.costs(ddf, budget_period="week")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="costs needs model"):
        psd.costs(dd.from_pandas(events[["timestamp", "endpoint"]], npartitions=2))
    with pytest.raises(ValueError, match="split_every"):
        psd.costs(ddf, split_every=1)
