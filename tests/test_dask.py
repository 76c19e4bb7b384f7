"""perfstats.dask: summaries of Dask DataFrames on a 2-process LocalCluster equal the
single-machine summarize, sketch for sketch, even when a worker dies mid-job; partial
summaries merge in any order; core objects pickle compactly."""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import pickle
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import perfstats
from perfstats.analysis.summary import PartialSummary, summarize_partial

dd = pytest.importorskip("dask.dataframe", reason="perfstats.dask needs dask")
distributed = pytest.importorskip("distributed", reason="the cluster tests need it")
import dask  # noqa: E402

import perfstats.dask as psd  # noqa: E402

EPS = float(np.finfo(float).eps)
# Floating sums added in another order may differ in their last bits: the sketches'
# sums are compensated (a few ulps), the per-group sums of cost, scores and the tail's
# latency are plain (bincount), whose reassociation error is at most n * eps of the
# sum of n positive values (Higham, Accuracy and Stability, 4.2).
COMPENSATED = ("latency_mean",)
PLAIN = ("cost_usd", "cost_per_request", "quality_mean")


def make_events(n: int, seed: int) -> pd.DataFrame:
    """Events with every kind of column summarize reads: string and categorical keys
    with missing values, failures, tokens, costs partly unknown, phases, an outcome
    and a score, heavy-tailed latencies and some missing ones."""
    rng = np.random.default_rng(seed)
    endpoint = rng.choice(["/chat", "/embed", "/search"], n).astype(object)
    endpoint[rng.random(n) < 0.01] = None
    latency = rng.lognormal(np.log(600), 1.0, n)
    latency[rng.random(n) < 0.005] = np.nan
    queue = latency * rng.uniform(0.0, 0.3, n)
    cost = rng.gamma(2.0, 0.001, n)
    cost[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-03-01", tz="UTC")
            + pd.to_timedelta(np.sort(rng.integers(0, 6 * 3600 * 10**9, n)), "ns"),
            "endpoint": endpoint,
            "model": pd.Categorical(
                rng.choice(["small", "large"], n), categories=["small", "large"]
            ),
            "latency_ms": latency,
            "queue_ms": queue,
            "success": rng.random(n) > 0.03,
            "input_tokens": rng.integers(10, 2000, n).astype(np.float64),
            "output_tokens": rng.integers(1, 500, n).astype(np.float64),
            "cost_usd": cost,
            "cached": rng.random(n) < 0.2,
            "quality": rng.beta(5, 2, n),
        }
    )


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return make_events(40_000, seed=7)


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory: pytest.TempPathFactory, events: pd.DataFrame) -> Path:
    """The events in 8 Parquet files (partitions of unequal size)."""
    root = tmp_path_factory.mktemp("events")
    cuts = [0, 1000, 6000, 6001, 15000, 22000, 30000, 39000, len(events)]
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        events.iloc[a:b].to_parquet(root / f"part-{i:03d}.parquet", index=False)
    return root


def _key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(None if pd.isna(v) else v for v in key)


def assert_same_summary(got: perfstats.Summary, want: perfstats.Summary) -> None:
    """Every group, window and column equal; floating sums to a few ulps; every sketch
    equal bucket for bucket (scale, offsets, counts, zeros, count, min and max)."""
    assert got.by == want.by
    assert got.missing == want.missing
    pd.testing.assert_index_equal(got.table.index, want.table.index, exact=True)
    assert list(got.table.columns) == list(want.table.columns)
    for col in want.table.columns:
        a, b = got.table[col], want.table[col]
        if col in COMPENSATED:
            np.testing.assert_allclose(a, b, rtol=4 * EPS, err_msg=col)
        elif col in PLAIN or col.endswith("_tail_share"):
            n = int(want.table["count"].max())
            np.testing.assert_allclose(a, b, rtol=2 * n * EPS, err_msg=col)
        else:
            pd.testing.assert_series_equal(a, b, check_exact=True, obj=col)
    # keys as in the index: a missing label is a NaN, which equals no other NaN
    assert [_key(k) for k in got.sketches] == [_key(k) for k in want.sketches]
    for got_metrics, (key, metrics) in zip(
        got.sketches.values(), want.sketches.items(), strict=True
    ):
        assert list(got_metrics) == list(metrics)
        for name, want_sketch in metrics.items():
            g = got_metrics[name]
            assert g.scale == want_sketch.scale, (key, name)
            for negative in (False, True):
                go, gc = g.buckets(negative=negative)
                wo, wc = want_sketch.buckets(negative=negative)
                assert go == wo and np.array_equal(gc, wc), (key, name)
            assert (g.count, g.zero_count, g.min, g.max) == (
                want_sketch.count,
                want_sketch.zero_count,
                want_sketch.min,
                want_sketch.max,
            )
            np.testing.assert_allclose(g.sum, want_sketch.sum, rtol=4 * EPS)


# ---- partial summaries, no cluster -----------------------------------------------------


@pytest.mark.parametrize(
    ("by", "every"),
    [
        (["endpoint"], None),
        (["endpoint", "model"], "15min"),
        (None, "1h"),
        (["model"], None),
    ],
)
def test_merged_partials_equal_summarize(
    events: pd.DataFrame, by: list[str] | None, every: str | None
) -> None:
    cuts = [0, 7, 5000, 5000, 12345, 33333, len(events)]
    parts = [
        summarize_partial(events.iloc[a:b], by=by, every=every)
        for a, b in itertools.pairwise(cuts)
    ]
    # merged in an order other than the rows'
    merged = (
        parts[3].merge(parts[0], parts[5]).merge(parts[1].merge(parts[2], parts[4]))
    )
    # phases' tail shares need a second pass with the groups' p99s
    tails = [
        summarize_partial(events.iloc[a:b], by=by, every=every, tail_of=merged)
        for a, b in itertools.pairwise(cuts)
    ]
    got = tails[0].merge(*tails[1:]).finish()
    assert_same_summary(got, perfstats.summarize(events, by=by, every=every))


def test_unknown_grouping_column_is_an_error_in_partials_as_in_summarize(
    events: pd.DataFrame,
) -> None:
    for run in (summarize_partial, perfstats.summarize):
        with pytest.raises(ValueError, match="no_such_column"):
            run(events, by=["endpoint", "no_such_column"], every="30min")


def test_partials_without_second_pass_say_tail_shares_are_missing(
    events: pd.DataFrame,
) -> None:
    got = summarize_partial(events[:100]).merge(summarize_partial(events[100:200]))
    summary = got.finish()
    assert "queue_ms_tail_share" not in summary.table
    assert "phase tail shares" in summary.missing


def test_partial_rejects_other_options(events: pd.DataFrame) -> None:
    a = summarize_partial(events[:10], every="1h")
    b = summarize_partial(events[10:20], every="15min")
    with pytest.raises(ValueError, match="same options"):
        a.merge(b)


def test_empty_partials_merge_and_all_empty_refuses(events: pd.DataFrame) -> None:
    empty = summarize_partial(events.iloc[:0], every="1h")
    full = summarize_partial(events, every="1h")
    assert empty.n_groups == 0
    assert_same_summary(
        empty.merge(full, empty).finish(),
        summarize_partial(events, every="1h").finish(),
    )
    with pytest.raises(ValueError, match="events are empty"):
        empty.merge(empty).finish()


def test_partial_pickles_compactly(events: pd.DataFrame) -> None:
    part = summarize_partial(events, by=["endpoint", "model"], every="1h")
    data = pickle.dumps(part)
    back = pickle.loads(data)
    assert isinstance(back, PartialSummary)
    assert_same_summary(back.finish(), part.finish())
    sketch_bytes = sum(len(s.to_bytes()) for v in part.sketches.values() for s in v)
    # the sketches travel as their serialized bytes plus a little framing per sketch
    n_sketches = sum(len(v) for v in part.sketches.values())
    assert len(data) < sketch_bytes + 64 * n_sketches + 20_000


# ---- pickles of the core objects -------------------------------------------------------


def test_core_objects_pickle_compactly() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(6, 1, 100_000)
    sketch = perfstats.QuantileSketch()
    sketch.add(values)
    hist = perfstats.Histogram([100.0, 1000.0, 10000.0])
    hist.add(values)
    moments = perfstats.Moments()
    moments.add(values)
    for obj in (sketch, hist, moments):
        data = pickle.dumps(obj)
        back = pickle.loads(data)
        assert back == obj
        assert back.to_bytes() == obj.to_bytes()
        # the serialized form plus the class reference, never the values
        assert len(data) < len(obj.to_bytes()) + 200, type(obj).__name__
    assert len(pickle.dumps(sketch)) < 4000  # 100k values, ~1 % accuracy


def test_summary_and_results_pickle(events: pd.DataFrame) -> None:
    summary = perfstats.summarize(events, by="endpoint", every="1h")
    back = pickle.loads(pickle.dumps(summary))
    assert_same_summary(back, summary)
    assert len(pickle.dumps(summary)) < 200_000
    cmp = perfstats.compare(events.assign(variant=np.where(events.index % 2, "a", "b")))
    back_cmp = pickle.loads(pickle.dumps(cmp))
    pd.testing.assert_frame_equal(back_cmp.table, cmp.table)
    ttest = perfstats.welch_t_test(
        events.latency_ms[:500].dropna(), events.latency_ms[500:1000].dropna()
    )
    assert pickle.loads(pickle.dumps(ttest)).pvalue == ttest.pvalue


# ---- on the cluster ---------------------------------------------------------------------


def test_summarize_on_cluster_equals_summarize(
    client: Any, parquet_dir: Path, events: pd.DataFrame
) -> None:
    ddf = dd.read_parquet(str(parquet_dir))
    assert ddf.npartitions == 8
    want_frame = pd.read_parquet(parquet_dir)
    for by, every in [(["endpoint", "model"], "15min"), ("endpoint", None)]:
        got = psd.summarize(ddf, by=by, every=every, split_every=3)
        assert_same_summary(got, perfstats.summarize(want_frame, by=by, every=every))


def test_summarize_refuses_bad_input(events: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match=r"dask\.dataframe\.DataFrame"):
        psd.summarize(events)
    ddf = dd.from_pandas(events, npartitions=2)
    with pytest.raises(ValueError, match="quantiles"):
        psd.summarize(ddf, quantiles=[1.5])
    with pytest.raises(ValueError, match="every"):
        psd.summarize(ddf, every="soon")
    with pytest.raises(ValueError, match="split_every"):
        psd.summarize(ddf, split_every=1)
    with (
        dask.config.set(scheduler="sync"),
        pytest.raises(ValueError, match="timestamp at row"),
    ):
        psd.summarize(dd.from_pandas(events.assign(timestamp=pd.NaT), npartitions=2))


def _slow(frame: pd.DataFrame) -> pd.DataFrame:
    time.sleep(0.25)
    return frame


def test_worker_killed_mid_job_is_recovered(client: Any, parquet_dir: Path) -> None:
    want = perfstats.summarize(pd.read_parquet(parquet_dir), every="30min")
    # 24 slow partitions on 2 one-thread workers: ~3 s, time to kill one
    ddf = dd.read_parquet(str(parquet_dir)).repartition(npartitions=24)
    ddf = ddf.map_partitions(_slow, meta=ddf._meta)
    pids = list(client.run(os.getpid).values())
    assert len(pids) == 2
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        job = pool.submit(psd.summarize, ddf, every="30min")
        deadline = time.monotonic() + 20
        while not client.processing() or not any(client.processing().values()):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        time.sleep(0.5)
        assert not job.done()
        os.kill(pids[0], signal.SIGKILL)
        got = job.result(timeout=60)
    assert_same_summary(got, want)
    client.wait_for_workers(2, timeout=30)
    assert pids[0] not in client.run(os.getpid).values()


# ---- series and anomalies ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "by"),
    [
        ("latency_p95", None),
        ("latency_p75", ["endpoint"]),  # not a default quantile: from the sketches
        ("queue_ms_p99", None),
        ("error_rate", ["model"]),
        ("count", None),
        ("tokens", None),
    ],
)
def test_metric_series_equals_one_machine(
    events: pd.DataFrame, metric: str, by: list[str] | None
) -> None:
    ddf = dd.from_pandas(events, npartitions=5)
    with dask.config.set(scheduler="sync"):
        got = psd.metric_series(ddf, metric, every="20min", by=by)
    pd.testing.assert_series_equal(
        got, perfstats.metric_series(events, metric, every="20min", by=by)
    )


def test_metric_series_of_a_summary_refuses_other_options(
    events: pd.DataFrame,
) -> None:
    summary = perfstats.summarize(events, by=None, every="1h")
    with pytest.raises(ValueError, match="windows of '1h'"):
        perfstats.metric_series(summary, "count", every="30min")
    with pytest.raises(ValueError, match="grouped by"):
        perfstats.metric_series(summary, "count", every="1h", by="endpoint")
    with pytest.raises(ValueError, match="sla_target_ms"):
        perfstats.metric_series(
            summary, "sla_compliance", every="1h", sla_target_ms=1000.0
        )


def test_anomalies_equal_one_machine() -> None:
    rng = np.random.default_rng(11)
    ts = pd.date_range("2026-01-01", periods=9 * 24 * 60, freq="min", tz="UTC")
    hour = ts.hour.to_numpy()
    lat = rng.lognormal(np.log(300 + 100 * np.sin(2 * np.pi * hour / 24)), 0.3)
    lat[(ts >= "2026-01-09 05:00") & (ts < "2026-01-09 07:00")] *= 2.5
    events = pd.DataFrame({"timestamp": ts, "latency_ms": lat})
    with dask.config.set(scheduler="sync"):
        got = psd.anomalies(dd.from_pandas(events, npartitions=7))
    want = perfstats.anomalies(events)
    pd.testing.assert_frame_equal(got.incidents(), want.incidents())
    pd.testing.assert_series_equal(got.series, want.series)
    assert "2026-01-09 05:00:00+00:00" in got.incidents()["start"].astype(str).tolist()


def test_fitted_models_pickle_as_their_inputs() -> None:
    """The core's least-squares models have no serialized form: LinearModel and Trend
    pickle their inputs and refit, giving the same fit bit for bit."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(200, 2))
    y = x @ [1.5, -2.0] + rng.normal(size=200)
    model = perfstats.LinearModel(x, y, names=["a", "b"], weights=rng.random(200) + 1)
    back = pickle.loads(pickle.dumps(model))
    assert back.names == model.names
    assert np.array_equal(back.coefficients, model.coefficients)
    assert np.array_equal(back.standard_errors, model.standard_errors)
    t = np.arange(80.0)
    e = np.zeros(80)
    for i in range(1, 80):
        e[i] = 0.6 * e[i - 1] + rng.normal()
    trend = perfstats.fit_trend(t, 100 + 0.3 * t + e, seasonal_period=24, harmonics=1)
    again = pickle.loads(pickle.dumps(trend))
    assert again.to_dict() == trend.to_dict()
    assert np.array_equal(again.coefficients, trend.coefficients)
    ts = pd.date_range("2026-01-01", periods=5 * 24 * 60, freq="min", tz="UTC")
    events = pd.DataFrame(
        {"timestamp": ts, "latency_ms": rng.lognormal(5, 0.3, len(ts))}
    )
    metric = perfstats.trend(events, every="1h")
    assert pickle.loads(pickle.dumps(metric)).to_dict() == metric.to_dict()


def test_partials_with_different_categories_sort_their_keys(
    events: pd.DataFrame,
) -> None:
    """Parts whose categorical key has other categories (files written apart) merge;
    the keys are then sorted like any other, the numbers are the same."""
    a = events[:20_000].assign(
        model=events.model[:20_000].cat.set_categories(["small", "large", "xl"])
    )
    b = events[20_000:].assign(
        model=events.model[20_000:].cat.reorder_categories(["large", "small"])
    )
    got = summarize_partial(a, by="model").merge(summarize_partial(b, by="model"))
    summary = got.finish()
    assert list(summary.table.index) == ["large", "small"]
    want = perfstats.summarize(
        events.assign(model=events.model.astype(str)), by="model"
    )
    assert summary.table["count"].tolist() == want.table["count"].tolist()
    assert summary.table["latency_p99"].tolist() == want.table["latency_p99"].tolist()


def test_perfstats_dask_imports_without_loading_dask() -> None:
    """perfstats.dask and its compare/costs load dask only when called (a child
    process, so this run's imports do not count)."""
    import subprocess
    import sys

    code = (
        "import sys, perfstats.dask, perfstats.dask.costs, perfstats.dask.comparison\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(perfstats.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
