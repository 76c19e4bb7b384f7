"""perfstats.dask.compare equals perfstats.compare on the same events: the same
verdicts, reasons, unit, warnings and table, order statistics (quantile estimates
and their bounds) exactly, means and p-values to 1e-10 (merged sums add in another
order), with the dependence between requests carried: clustered by a unit (CR1 from
per-unit sums, quantile design effects from units' counts below the quantile) and
Newey-West over time (exact up to 20,000 requests per contrast; above, on time bins,
within a bound of compare's count blocks)."""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import perfstats
from perfstats.analysis.comparison import MetricSample, quantile_ranks

dd = pytest.importorskip("dask.dataframe", reason="perfstats.dask needs dask")
distributed = pytest.importorskip("distributed", reason="the cluster tests need it")
import dask  # noqa: E402

import perfstats.dask as psd  # noqa: E402
import perfstats.dask.comparison as dask_comparison  # noqa: E402

# columns whose values come from exact counts or order statistics
EXACT = [
    "variant", "metric", "role", "margin", "n", "n_baseline", "required_n",
    "sample_size_met", "verdict",
]  # fmt: skip
ORDER_STATS = ["mean", "mean_baseline", "relative_lift", "lift_low", "lift_high"]
QUANTILE_METRICS = ["latency_p50", "latency_p95", "latency_p99"]


def make_events(n: int, seed: int) -> pd.DataFrame:
    """Three arms (v1 20 % faster, v2 as control) and unassigned requests, failures,
    missing latencies, tokens and partly unknown costs."""
    rng = np.random.default_rng(seed)
    variant = rng.choice(["control", "v1", "v2"], n, p=[0.4, 0.3, 0.3]).astype(object)
    variant[rng.random(n) < 0.01] = None
    latency = rng.lognormal(np.log(700), 0.8, n) * np.where(variant == "v1", 0.8, 1.0)
    latency[rng.random(n) < 0.005] = np.nan
    cost = rng.gamma(2.0, 0.001, n)
    cost[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-03-01", tz="UTC")
            + pd.to_timedelta(np.sort(rng.integers(0, 6 * 3600 * 10**9, n)), "ns"),
            "variant": variant,
            "latency_ms": latency,
            "success": rng.random(n) > 0.03,
            "input_tokens": rng.integers(10, 2000, n).astype(np.float64),
            "output_tokens": rng.integers(1, 500, n).astype(np.float64),
            "cost_usd": cost,
        }
    )


def make_user_events(n: int, seed: int) -> pd.DataFrame:
    """Arms assigned by user (600 users who keep their speed), as make_events."""
    rng = np.random.default_rng(seed)
    ev = make_events(n, seed).dropna(subset=["latency_ms"]).reset_index(drop=True)
    users = rng.integers(0, 600, len(ev))
    speed = rng.lognormal(0.0, 0.5, 600)
    arms = np.array(["control", "v1", "v2"], dtype=object)[users % 3]
    return ev.assign(
        user_id=np.char.add("u", users.astype(str)),
        variant=arms,
        latency_ms=ev["latency_ms"].to_numpy() * speed[users],
    )


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    """15,000 events: every contrast has at most 20,000 requests (exact Newey-West)."""
    return make_events(15_000, seed=11)


@pytest.fixture(scope="module")
def user_events() -> pd.DataFrame:
    return make_user_events(12_000, seed=12)


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory: pytest.TempPathFactory, events: pd.DataFrame) -> Path:
    """The events in 6 Parquet files of unequal size."""
    return _parquet(tmp_path_factory.mktemp("compare"), events)


@pytest.fixture(scope="module")
def user_parquet_dir(
    tmp_path_factory: pytest.TempPathFactory, user_events: pd.DataFrame
) -> Path:
    return _parquet(tmp_path_factory.mktemp("compare_users"), user_events)


def _parquet(root: Path, events: pd.DataFrame) -> Path:
    cuts = [0, 700, 4500, 4501, 8000, 11000, len(events)]
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        events.iloc[a:b].to_parquet(root / f"part-{i:03d}.parquet", index=False)
    return root


def assert_same_comparison(got: Any, want: Any) -> None:
    assert got.verdicts == want.verdicts
    assert got.reasons == want.reasons
    assert got.baseline == want.baseline and got.by == want.by
    assert got.unit == want.unit
    assert got.warnings == want.warnings
    assert got.missing == want.missing
    assert (got.srm is None) == (want.srm is None)
    if want.srm is not None:
        assert got.srm.to_dict() == want.srm.to_dict()
    assert list(got.table.columns) == list(want.table.columns)
    assert len(got.table) == len(want.table) > 0
    pd.testing.assert_frame_equal(got.table[EXACT], want.table[EXACT], check_exact=True)
    quantile = want.table["metric"].isin(QUANTILE_METRICS).to_numpy()
    for col in want.table.columns:
        if col in EXACT:
            continue
        a = got.table[col].to_numpy(dtype=float)
        b = want.table[col].to_numpy(dtype=float)
        if col in ORDER_STATS:  # from the same order statistics: bit for bit
            np.testing.assert_array_equal(a[quantile], b[quantile], err_msg=col)
        # 1e-10: t_sf of a statistic over the dependence factor, both to 1e-15
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=0, err_msg=col)


CASES: list[dict[str, Any]] = [
    {},  # defaults: latency primary, error rate, tokens, cost guardrails
    {
        "primary": ["latency_p95"],
        "guardrails": ["error_rate", "latency_p99"],
        "metrics": ["latency_p50", "latency"],
        "baseline": "v2",
        "planned_split": {"control": 0.4, "v1": 0.3, "v2": 0.3},
    },
    {"sequential": True, "confidence": 0.9, "margins": {"tokens": 0.01}},
]


@pytest.mark.parametrize("data", ["requests", "users"])
@pytest.mark.parametrize("options", CASES, ids=["defaults", "quantiles", "sequential"])
def test_compare_on_cluster_equals_compare(
    client: Any,
    parquet_dir: Path,
    user_parquet_dir: Path,
    options: dict[str, Any],
    data: str,
) -> None:
    """Without a unit column: Newey-West over time (contrasts of <= 20,000
    requests: the same code on gathered times); with user_id: clustered."""
    root = parquet_dir if data == "requests" else user_parquet_dir
    want = perfstats.compare(pd.read_parquet(root), **options)
    got = psd.compare(dd.read_parquet(str(root)), split_every=3, **options)
    assert want.unit == (
        "clustered by user_id"
        if data == "users"
        else perfstats.analysis.comparison.INDEPENDENT
    )
    assert_same_comparison(got, want)


def test_clustered_quantiles_use_the_design_effect_as_one_machine(
    user_events: pd.DataFrame,
) -> None:
    """Users who keep their speed: the p50 bounds widen by the design effect (so
    the ranks gathered must cover the wider bounds), as in compare."""
    options = {"primary": ["latency_p50"], "metrics": ["latency_p50"]}
    want = perfstats.compare(user_events, **options)
    plain = perfstats.compare(user_events, unit=None, **options)
    width = lambda c: float(c.table.lift_high[0] - c.table.lift_low[0])  # noqa: E731
    assert width(want) > 1.5 * width(plain)
    with dask.config.set(scheduler="sync"):
        got = psd.compare(dd.from_pandas(user_events, npartitions=4), **options)
    assert_same_comparison(got, want)


def test_unit_choice_and_crossed_units_as_one_machine(
    user_events: pd.DataFrame,
) -> None:
    """unit='auto' skips a user_id seen in two arms (a warning) and clusters by a
    clean session_id; an explicit crossed unit clusters with a warning; a unit
    column with a gap is the same error; pre_period is refused on Dask."""
    ev = user_events.iloc[:6000].copy()
    ev["session_id"] = np.char.add(ev["user_id"].to_numpy().astype(str), "-s")
    ev.loc[ev.index[:40], "user_id"] = "u-shared"  # in every arm
    ddf = dd.from_pandas(ev, npartitions=3)
    with dask.config.set(scheduler="sync"):
        for options in ({}, {"unit": "user_id"}, {"unit": None}):
            want = perfstats.compare(ev, metrics=["latency", "error_rate"], **options)
            got = psd.compare(ddf, metrics=["latency", "error_rate"], **options)
            assert want.warnings or options.get("unit", "auto") is None
            assert_same_comparison(got, want)
        gap = ev.assign(session_id=ev["session_id"].where(ev.index != ev.index[5]))
        with pytest.raises(ValueError) as one:
            perfstats.compare(gap, unit="session_id")
        with pytest.raises(ValueError) as many:
            psd.compare(dd.from_pandas(gap, npartitions=3), unit="session_id")
        assert str(many.value) == str(one.value)
        with pytest.raises(ValueError, match="not supported on Dask yet"):
            psd.compare(ddf, pre_period=ev)


def test_newey_west_above_20000_requests_as_one_machine() -> None:
    """Above 20,000 requests per contrast compare sums the contrast in 20,000
    equal-duration time bins of the events' span, which merge: Dask's factor from
    per-partition bin sums equals compare's (to rounding), the whole comparison
    equals compare's, and the factor matters (> 5 % on the width)."""
    from perfstats.analysis.comparison import _contrast, _time_ratio, time_bin_index
    from perfstats.stats.moments import Moments

    for seed in range(4):
        rng = np.random.default_rng(seed)
        n = 40_000
        t = np.sort(rng.integers(0, 6 * 3600 * 10**9, n))
        frac = t / t.max()
        arm = rng.random(n) < 0.2 + 0.6 * frac  # treatment's share grows
        x = rng.lognormal(6.5 + 0.4 * np.sin(frac * 6), 0.6)
        a, b = x[arm], x[~arm]
        when = np.concatenate([t[arm], t[~arm]])
        order = np.argsort(when, kind="stable")
        span = (int(t.min()), int(t.max()))
        bins = time_bin_index(when, span)[order]
        one = max(1.0, _time_ratio(_contrast("latency", a, b, 1.0)[order], bins))
        parts = (dask_comparison._Arm(), dask_comparison._Arm())
        for part, vals, at in ((parts[0], a, t[arm]), (parts[1], b, t[~arm])):
            part.moments["latency"] = Moments(np.log(vals))
            part.bins["latency"] = dask_comparison._binned(at, np.log(vals), span)
        dep = dask_comparison._binned_dependence("latency", *parts)
        assert dep.ratio is not None
        many = max(1.0, dep.ratio(1.0))
        assert one > 1.1  # the dependence matters here
        assert many == pytest.approx(one, rel=1e-9), (seed, one, many)

    # end to end: v1's share grows over the day while latency drifts for all
    rng = np.random.default_rng(13)
    ev = make_events(44_000, seed=13).dropna(subset=["variant"])
    frac = np.linspace(0.0, 1.0, len(ev))
    ev = ev.assign(
        variant=np.where(rng.random(len(ev)) < 0.2 + 0.6 * frac, "v1", "control"),
        latency_ms=ev["latency_ms"].to_numpy() * np.exp(0.4 * np.sin(6 * frac)),
    )
    want = perfstats.compare(ev)
    with dask.config.set(scheduler="sync"):
        got = psd.compare(dd.from_pandas(ev, npartitions=4))
    assert_same_comparison(got, want)
    half = lambda c: np.log1p(c.table.lift_high) - np.log1p(c.table.lift_low)  # noqa: E731
    lat = (want.table["metric"] == "latency").to_numpy()
    ok = ev[ev["success"] & (ev["latency_ms"] > 0)]
    logs = {
        arm: MetricSample.of(g["latency_ms"].to_numpy(), "latency")
        for arm, g in ok.groupby("variant")
    }
    independent = perfstats.analysis.comparison.compare_samples(
        ev["variant"].astype("string").value_counts(),
        lambda arm: {"latency": logs[arm]},
        metrics=["latency"],
    )
    assert float(half(want)[lat][0]) > 1.05 * float(half(independent)[0])  # it matters


def test_ties_missing_columns_and_tiny_arms_as_one_machine(
    events: pd.DataFrame,
) -> None:
    """Arms of equal size keep compare's order (value_counts: first appearance among
    equals), an arm with one latency is listed as too small, absent columns missing."""
    ev = events.drop(columns=["input_tokens", "output_tokens"]).iloc[:4000].copy()
    ev["variant"] = np.where(np.arange(len(ev)) % 2 == 0, "b", "a")
    ev.loc[ev.index[-1], "variant"] = "c"
    ev.loc[ev.index[-3], "variant"] = "c"
    ev.loc[ev.index[-3], "latency_ms"] = np.nan
    options = {"metrics": ["latency", "error_rate", "tokens", "latency_p99"]}
    want = perfstats.compare(ev, **options)
    with dask.config.set(scheduler="sync"):
        got = psd.compare(dd.from_pandas(ev, npartitions=5), **options)
    assert "latency (c)" in want.missing and "tokens" in want.missing
    assert_same_comparison(got, want)


def test_second_pass_widens_a_range_that_missed(
    events: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value range that misses ranks compare reads is detected and gathered again,
    wider: the order statistics stay exact."""
    real = dask_comparison._value_range
    calls: list[int] = []

    def narrow(
        sketch: Any, n: int, lo: int, hi: int, widen: int
    ) -> tuple[float, float]:
        calls.append(widen)
        if widen == 0:
            mid = float(sketch.quantile(0.5))
            return mid, mid  # holds at most a few values
        return real(sketch, n, lo, hi, widen)

    monkeypatch.setattr(dask_comparison, "_value_range", narrow)
    options = {"primary": ["latency_p50"], "metrics": ["latency_p50"]}
    want = perfstats.compare(events, **options)
    with dask.config.set(scheduler="sync"):
        got = psd.compare(dd.from_pandas(events, npartitions=4), **options)
    assert 0 in calls and 1 in calls
    assert_same_comparison(got, want)


def test_quantile_ranks_cover_every_rank_compare_reads() -> None:
    """Every order statistic compare reads (estimate, interval, p-value bisection at
    both roles) lies within quantile_ranks: a sample that holds only those ranks
    gives the same comparison."""
    rng = np.random.default_rng(3)
    arms = {"control": rng.lognormal(6, 0.7, 3000), "v1": rng.lognormal(5.9, 0.7, 2500)}
    read: list[int] = []

    def windowed(values: np.ndarray, q: float) -> MetricSample:
        x = np.sort(values)
        lo, hi = quantile_ranks(x.size, q, 0.95)

        def order(k: int) -> float:
            read.append(k)
            assert lo <= k <= hi, (k, lo, hi)
            return float(x[k - 1])

        full = MetricSample.of(values, "latency_p95")
        return MetricSample(
            full.size, full.total, full.average, full.variance, full.low, full.high,
            order=order, quantile=full.quantile,
        )  # fmt: skip

    for metric, q in [("latency_p95", 0.95), ("latency_p50", 0.5)]:
        frame = pd.DataFrame(
            {
                "timestamp": pd.Timestamp("2026-01-01", tz="UTC"),
                "variant": np.repeat(list(arms), [a.size for a in arms.values()]),
                "latency_ms": np.concatenate(list(arms.values())),
            }
        )
        want = perfstats.compare(frame, primary=[metric], metrics=[metric])
        got = perfstats.analysis.comparison.compare_samples(
            frame["variant"].astype("string").value_counts(),
            lambda arm, q=q, metric=metric: {metric: windowed(arms[arm], q)},
            primary=[metric],
            metrics=[metric],
        )
        pd.testing.assert_frame_equal(got.table, want.table, check_exact=True)
    assert len(set(read)) > 20  # the bisection read many ranks, all inside


def test_compare_refuses_bad_input(events: pd.DataFrame) -> None:
    ddf = dd.from_pandas(events, npartitions=2)
    with pytest.raises(TypeError, match=r"dask\.dataframe\.DataFrame"):
        psd.compare(events)
    with pytest.raises(ValueError, match="no 'arm' column"):
        psd.compare(ddf, by="arm")
    with pytest.raises(ValueError, match="alpha"):
        psd.compare(ddf, alpha=2.0)
    with pytest.raises(ValueError, match="unknown metric 'p42'"):
        psd.compare(ddf, metrics=["p42"])
    with pytest.raises(ValueError, match="split_every"):
        psd.compare(ddf, split_every=1)
    with (
        dask.config.set(scheduler="sync"),
        pytest.raises(ValueError, match="at least two variant values"),
    ):
        psd.compare(dd.from_pandas(events.assign(variant="x"), npartitions=2))


def test_without_latency_the_quantiles_are_missing_as_one_machine(
    events: pd.DataFrame,
) -> None:
    ev = events.drop(columns=["latency_ms"]).iloc[:6000]
    options = {
        "metrics": ["error_rate", "tokens", "latency_p95"],
        "primary": ["error_rate"],
        "guardrails": ["tokens"],
    }
    want = perfstats.compare(ev, **options)
    with dask.config.set(scheduler="sync"):
        got = psd.compare(dd.from_pandas(ev, npartitions=3), **options)
    assert "latency_p95" in want.missing
    assert_same_comparison(got, want)


def _slow(frame: pd.DataFrame) -> pd.DataFrame:
    time.sleep(0.25)
    return frame


def test_worker_killed_mid_compare_is_recovered(client: Any, parquet_dir: Path) -> None:
    """A worker killed during pass 1: Dask reruns its tasks on a new one; the
    comparison (with the quantiles' second pass) is unchanged."""
    options = {"primary": ["latency_p99"], "metrics": ["latency_p99", "error_rate"]}
    want = perfstats.compare(pd.read_parquet(parquet_dir), **options)
    ddf = dd.read_parquet(str(parquet_dir)).repartition(npartitions=24)
    ddf = ddf.map_partitions(_slow, meta=ddf._meta)
    pids = list(client.run(os.getpid).values())
    assert len(pids) == 2
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        job = pool.submit(psd.compare, ddf, **options)
        deadline = time.monotonic() + 20
        while not client.processing() or not any(client.processing().values()):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        time.sleep(0.5)
        assert not job.done()
        os.kill(pids[0], signal.SIGKILL)
        got = job.result(timeout=90)
    assert_same_comparison(got, want)
    client.wait_for_workers(2, timeout=30)
    assert pids[0] not in client.run(os.getpid).values()


def test_arm_labels_spelled_alike_are_one_arm_as_one_machine(
    events: pd.DataFrame,
) -> None:
    """compare reads arms as strings: 1 and "1" are one arm, on both paths."""
    ev = events.iloc[:3000].copy()
    arms = np.array([1, "1", 2, "control"], dtype=object)
    ev["variant"] = arms[np.arange(len(ev)) % 4]
    want = perfstats.compare(ev, metrics=["latency", "latency_p50"])
    with dask.config.set(scheduler="sync"):
        got = psd.compare(
            dd.from_pandas(ev, npartitions=3), metrics=["latency", "latency_p50"]
        )
    assert set(want.table["variant"]) == {"1", "2"}
    assert_same_comparison(got, want)
