"""summarize against exact pandas/NumPy computations and statsmodels' Wilson interval."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from perfstats import summarize, wilson_interval

matplotlib.use("Agg")


def make_events(n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    queue = rng.exponential(50, n)
    processing = rng.lognormal(np.log(600), 0.6, n)
    delivery = rng.exponential(30, n)
    slow = rng.random(n) < 0.02
    queue[slow] += rng.exponential(5000, slow.sum())  # queueing drives the tail
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-03-01", tz="UTC")
            + pd.to_timedelta(np.sort(rng.uniform(0, 6 * 3600, n)), unit="s"),
            "endpoint": pd.Categorical(
                rng.choice(["/api/chat", "/api/embed"], n, p=[0.7, 0.3])
            ),
            "model": rng.choice(["small", "large"], n),
            "latency_ms": queue + processing + delivery,
            "queue_ms": queue,
            "processing_ms": processing,
            "delivery_ms": delivery,
            "input_tokens": rng.integers(10, 2000, n).astype(float),
            "output_tokens": rng.integers(1, 800, n).astype(float),
            "cost_usd": rng.uniform(0, 0.01, n),
            "success": rng.random(n) > 0.03,
            "cache_hit": rng.random(n) < 0.4,
            "quality_score": rng.beta(5, 2, n),
        }
    )


def test_counts_errors_and_wilson_interval_match_oracles() -> None:
    ev = make_events()
    s = summarize(ev, by="endpoint")
    g = ev.groupby("endpoint", observed=True)
    np.testing.assert_array_equal(s.table["count"], g.size())
    err = g["success"].apply(lambda x: (~x).sum())
    np.testing.assert_array_equal(s.table["errors"], err)
    lo, hi = proportion_confint(err, g.size(), alpha=0.05, method="wilson")
    np.testing.assert_allclose(s.table["error_rate_low"], lo, rtol=1e-12)
    np.testing.assert_allclose(s.table["error_rate_high"], hi, rtol=1e-12)
    np.testing.assert_allclose(
        s.table["input_tokens"], g["input_tokens"].sum(), rtol=1e-12
    )
    np.testing.assert_allclose(s.table["cost_usd"], g["cost_usd"].sum(), rtol=1e-12)


def test_latency_percentiles_within_sketch_accuracy() -> None:
    ev = make_events()
    s = summarize(ev, by=["endpoint", "model"], relative_accuracy=0.01)
    for (ep, model), row in s.table.iterrows():
        lat = ev.loc[(ev.endpoint == ep) & (ev.model == model), "latency_ms"].to_numpy()
        for q in (0.5, 0.9, 0.99, 0.999):
            exact = np.quantile(lat, q, method="lower")
            assert abs(row[f"latency_p{100 * q:g}"] - exact) <= 0.01 * exact
        assert row["latency_mean"] == pytest.approx(lat.mean(), rel=1e-12)


def test_sla_buckets_are_exact_and_upper_inclusive() -> None:
    ev = make_events(5000)
    ev.loc[:9, "latency_ms"] = 1000.0  # exactly on a bound: belongs to <= 1 s
    s = summarize(ev, by=None, sla_target_ms=2000)
    lat = ev["latency_ms"].to_numpy()
    row = s.table.iloc[0]
    assert row["le_1s"] == np.mean(lat <= 1000)
    assert row["le_2s"] == np.mean((lat > 1000) & (lat <= 2000))
    assert row["gt_30s"] == np.mean(lat > 30000)
    assert row["sla_compliance"] == np.mean(lat <= 2000)
    shares = [c for c in s.table.columns if c.startswith(("le_", "gt_"))]
    assert row[shares].sum() == pytest.approx(1.0, abs=1e-12)


def test_tail_share_names_the_phase_that_drives_p99() -> None:
    ev = make_events()
    s = summarize(ev, by="endpoint")
    assert set(s.table["tail_driver"]) == {"queue_ms"}
    for ep, row in s.table.iterrows():
        part = ev[ev.endpoint == ep]
        tail = part[part.latency_ms >= row["latency_p99"]]
        expected = tail.queue_ms.sum() / tail.latency_ms.sum()
        assert row["queue_ms_tail_share"] == pytest.approx(expected, rel=1e-12)


def test_hourly_windows_match_pandas_resampling() -> None:
    ev = make_events()
    s = summarize(ev, by="endpoint", every="1h")
    expected = ev.groupby(
        ["endpoint", pd.Grouper(key="timestamp", freq="1h")], observed=True
    ).size()
    got = s.table["count"]
    assert list(got.to_numpy()) == list(expected.to_numpy())
    assert got.index.names == ["endpoint", "window_start"]
    # full windows: count per hour; the first and last (partial) over covered time
    full = ~s.table["partial"].to_numpy()
    np.testing.assert_allclose(s.table["throughput_rps"][full], got[full] / 3600.0)
    covered = s.table["covered_s"].to_numpy()
    np.testing.assert_allclose(
        s.table["throughput_rps"][~full], got[~full] / covered[~full]
    )


def test_outcomes_and_score_bands() -> None:
    ev = make_events()
    s = summarize(ev, by=None)
    row = s.table.iloc[0]
    k = ev.cache_hit.sum()
    assert row["cache_hit_rate"] == k / len(ev)
    lo, hi = wilson_interval(k, len(ev))
    assert (row["cache_hit_rate_low"], row["cache_hit_rate_high"]) == (lo, hi)
    q = ev.quality_score
    assert row["quality_score_excellent"] == np.mean(q >= 0.9)
    assert row["quality_score_good"] == np.mean((q >= 0.7) & (q < 0.9))
    assert row["quality_score_poor"] == np.mean(q < 0.5)


def test_only_timestamp_still_summarizes_and_says_what_is_missing() -> None:
    ev = make_events(100)[["timestamp"]]
    s = summarize(ev)
    assert s.table["count"].tolist() == [100]
    assert {"by endpoint", "latency", "error_rate", "cost_usd"} <= set(s.missing)
    assert "not computed" in repr(s)


def test_tokens_without_latency() -> None:
    ev = make_events(100).drop(columns=["latency_ms"])
    s = summarize(ev, by="model")
    assert "input_tokens_mean" in s.table and "latency_p99" not in s.table


@pytest.mark.parametrize("bad", [-1.0, np.inf])
def test_invalid_latency_names_column_and_row(bad: float) -> None:
    ev = make_events(50)
    ev.loc[7, "queue_ms"] = bad
    with pytest.raises(ValueError, match=r"'queue_ms'.*row 7"):
        summarize(ev)


def test_bad_inputs() -> None:
    ev = make_events(50)
    with pytest.raises(ValueError, match="timestamp"):
        summarize(ev.drop(columns=["timestamp"]))
    # text timestamps are parsed as read_events parses them (issue 12: one way in)
    as_text = summarize(ev.assign(timestamp=ev.timestamp.astype(str)))
    pd.testing.assert_frame_equal(as_text.table, summarize(ev).table)
    with pytest.raises(ValueError, match="timestamp"):
        summarize(ev.assign(timestamp=["not a time"] * len(ev)))
    with pytest.raises(ValueError, match="empty"):
        summarize(ev.iloc[:0])
    with pytest.raises(TypeError):
        summarize([1, 2, 3])


def test_missing_latencies_are_not_counted_in_percentiles() -> None:
    ev = make_events(1000)
    ev.loc[::2, "latency_ms"] = np.nan
    s = summarize(ev, by=None)
    lat = ev.latency_ms.dropna().to_numpy()
    assert s.sketches[()]["latency_ms"].count == lat.size
    assert s.table["count"].iloc[0] == 1000


def test_sketches_merge_across_runs() -> None:
    ev = make_events()
    first, second = ev.iloc[:8000], ev.iloc[8000:]
    a = summarize(first, by="endpoint").sketches
    b = summarize(second, by="endpoint").sketches
    whole = summarize(ev, by="endpoint").sketches
    for key in whole:
        merged = a[key]["latency_ms"].copy().merge(b[key]["latency_ms"])
        assert np.array_equal(
            merged.buckets()[1], whole[key]["latency_ms"].buckets()[1]
        )


def test_outputs() -> None:
    s = summarize(make_events(2000), by="endpoint", every="2h")
    d = json.loads(s.to_json())
    assert d["by"] == ["endpoint", "window_start"] and len(d["groups"]) == len(s.table)
    assert "<table" in s._repr_html_()
    ax = s.plot()
    assert ax.get_ylabel().startswith("latency_p99")
    ax2 = summarize(make_events(500), by="endpoint").plot()
    assert len(ax2.patches) > 0


@pytest.mark.parametrize("every", ["1d", "1D", "2h", "30min"])
def test_window_spellings_match_pandas_without_deprecation_warnings(every: str) -> None:
    # pandas 3 deprecates the "d" unit; summarize accepts it and warns nothing.
    ev = make_events(3000)
    s = summarize(ev, by=None, every=every)
    freq = every.replace("d", "D")
    expected = ev.groupby(pd.Grouper(key="timestamp", freq=freq)).size()
    assert list(s.table["count"]) == [c for c in expected if c > 0]


def test_invalid_window() -> None:
    with pytest.raises(ValueError, match="positive duration"):
        summarize(make_events(10), every="0h")
    with pytest.raises(ValueError, match="duration"):
        summarize(make_events(10), every="soon")


@pytest.mark.parametrize(
    ("by", "every"),
    [("endpoint", "1h"), (["endpoint", "model"], None), (None, "30min")],
)
def test_parquet_path_equals_dataframe_read_from_it(
    tmp_path: Path, by: str | list[str] | None, every: str | None
) -> None:
    events = make_events(5000, seed=3)
    events["user_id"] = np.arange(len(events)).astype(
        str
    )  # not read: unused by summarize
    events.loc[events.index[::97], "latency_ms"] = np.nan
    path = tmp_path / "events.parquet"
    events.to_parquet(path, index=False)
    from_frame = summarize(pd.read_parquet(path), by=by, every=every)
    for source in (path, str(path)):
        from_path = summarize(source, by=by, every=every)
        pd.testing.assert_frame_equal(
            from_path.table, from_frame.table, check_exact=True
        )
        assert from_path.missing == from_frame.missing
        assert from_path.sketches.keys() == from_frame.sketches.keys()
        for key, metrics in from_frame.sketches.items():
            for metric, sketch in metrics.items():
                assert from_path.sketches[key][metric].to_bytes() == sketch.to_bytes()


def test_path_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    make_events(100).to_csv(path, index=False)
    with pytest.raises(ValueError, match="read_events"):
        summarize(path)
    with pytest.raises(FileNotFoundError):
        summarize(tmp_path / "absent.parquet")


@pytest.mark.parametrize("missing", [0.0, 0.05])
def test_windows_with_many_and_missing_keys_match_pandas(missing: float) -> None:
    # 300 categories: int16 codes reach the C++ window pass as they are (int64 once
    # missing keys are given their own group); timestamps before 1970 floor like pandas.
    rng = np.random.default_rng(11)
    n = 30_000
    names = [f"/api/{i}" for i in range(300)]
    endpoint = pd.Categorical(rng.choice(names, n), categories=names)
    endpoint[rng.random(n) < missing] = np.nan
    ev = pd.DataFrame(
        {
            "timestamp": pd.Timestamp("1969-12-31 20:07", tz="UTC")
            + pd.to_timedelta(rng.uniform(0, 9 * 3600, n), unit="s"),
            "endpoint": endpoint,
            "latency_ms": rng.lognormal(6, 1, n),
        }
    )
    assert ev["endpoint"].cat.codes.dtype == np.int16
    s = summarize(ev, by="endpoint", every="15min")
    keys = ev["endpoint"].astype(object).fillna("<missing>")
    window = ev["timestamp"].dt.floor("15min")
    g = ev.groupby([keys, window])["latency_ms"]
    sizes = g.size().to_dict()
    exact = g.quantile(0.5, interpolation="lower").to_dict()
    got = s.table
    assert len(got) == len(sizes)
    # the missing key forms the last group
    assert pd.isna(got.index.get_level_values("endpoint")[-1]) == (missing > 0)
    for (ep, start), row in got.iterrows():
        key = ("<missing>" if pd.isna(ep) else ep, start)
        assert row["count"] == sizes[key]
        ref = exact[key]
        assert abs(row["latency_p50"] - ref) <= 0.01 * ref


def test_missing_timestamp_with_windows_names_the_row() -> None:
    ev = make_events(100)
    ev.loc[42, "timestamp"] = pd.NaT
    with pytest.raises(ValueError, match="row 42 is missing"):
        summarize(ev, by="endpoint", every="1h")


@pytest.mark.parametrize("bad", [-1.0, -np.inf, np.inf])
def test_invalid_phase_after_missing_values_names_the_first_bad_row(bad: float) -> None:
    ev = make_events(50)
    ev["queue_ms"] = np.nan  # NaN is "not applicable": never an error
    assert summarize(ev).table["count"].sum() == 50
    ev.loc[[30, 45], "queue_ms"] = bad
    with pytest.raises(ValueError, match=r"'queue_ms' has 2 negative.*row 30 "):
        summarize(ev)


def test_parquet_path_with_many_row_groups_keeps_row_order(tmp_path: Path) -> None:
    # row groups are decoded in parallel; their rows must come back in file order
    events = make_events(20_000, seed=4).sample(frac=1.0, random_state=1)
    path = tmp_path / "events.parquet"
    events.to_parquet(path, index=False, row_group_size=1_500)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(path).num_row_groups == 14
    from_frame = summarize(pd.read_parquet(path), by="endpoint", every="1h")
    from_path = summarize(path, by="endpoint", every="1h")
    pd.testing.assert_frame_equal(from_path.table, from_frame.table, check_exact=True)
    for key, metrics in from_frame.sketches.items():
        for metric, sketch in metrics.items():
            assert from_path.sketches[key][metric].to_bytes() == sketch.to_bytes()


def test_parquet_path_with_different_dictionaries_per_row_group(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    events = make_events(6_000, seed=6)[["timestamp", "latency_ms"]]
    path = tmp_path / "events.parquet"
    rng = np.random.default_rng(2)
    schema = pa.schema(
        [
            ("endpoint", pa.dictionary(pa.int8(), pa.string())),
            ("timestamp", pa.timestamp("ns", tz="UTC")),
            ("latency_ms", pa.float64()),
        ]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for part in range(6):  # each row group its own dictionary, in its own order
            rows = events.iloc[part * 1000 : (part + 1) * 1000]
            names = [f"/api/{(part + k) % 7}" for k in range(3)]
            if part % 2:
                names.reverse()
            idx = rng.integers(0, 3, len(rows)).astype(np.int8)
            endpoint = pa.DictionaryArray.from_arrays(
                pa.array(idx, mask=rng.random(len(rows)) < 0.1), pa.array(names)
            )
            writer.write_table(
                pa.table(
                    {
                        "endpoint": endpoint,
                        "timestamp": pa.array(rows["timestamp"]),
                        "latency_ms": pa.array(rows["latency_ms"]),
                    }
                )
            )
    chunks = pq.read_table(path).column("endpoint").chunks
    assert len({tuple(c.dictionary.to_pylist()) for c in chunks}) > 1
    from_frame = summarize(pd.read_parquet(path), by="endpoint", every="1h")
    from_path = summarize(path, by="endpoint", every="1h")
    pd.testing.assert_frame_equal(from_path.table, from_frame.table, check_exact=True)


def _streamed_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if summarize falls back to reading the Parquet file whole."""
    import perfstats.analysis.summary as summary_module

    def refuse(*args: object) -> None:
        raise AssertionError("read whole instead of row group by row group")

    monkeypatch.setattr(summary_module, "_read_parquet_columns", refuse)


def test_streamed_parquet_equals_dataframe_for_other_units_types_and_nulls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # millisecond timestamps, float32 latencies with nulls, integer tokens with nulls,
    # phases (the tail shares need every latency) and many small row groups
    import pyarrow as pa
    import pyarrow.parquet as pq

    events = make_events(7_000, seed=8)
    events["timestamp"] = events["timestamp"].dt.floor("ms")
    events.loc[events.index[::50], "input_tokens"] = np.nan
    table = pa.Table.from_pandas(events, preserve_index=False)
    table = table.set_column(
        table.schema.get_field_index("timestamp"),
        "timestamp",
        table.column("timestamp").cast(pa.timestamp("ms", tz="UTC")),
    )
    lat = events["latency_ms"].astype(np.float32).to_numpy()
    mask = np.zeros(len(lat), dtype=bool)
    mask[::61] = True
    table = table.set_column(
        table.schema.get_field_index("latency_ms"),
        "latency_ms",
        pa.array(lat, mask=mask),
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path, row_group_size=999)
    from_frame = summarize(pd.read_parquet(path), by="endpoint", every="20min")
    _streamed_only(monkeypatch)
    from_path = summarize(path, by="endpoint", every="20min")
    pd.testing.assert_frame_equal(from_path.table, from_frame.table, check_exact=True)
    assert from_path.missing == from_frame.missing
    for key, metrics in from_frame.sketches.items():
        for metric, sketch in metrics.items():
            assert from_path.sketches[key][metric].to_bytes() == sketch.to_bytes()
    assert from_path.table["count"].sum() == len(events)


@pytest.mark.parametrize("bad", [-1.0, np.inf])
def test_streamed_parquet_names_the_row_in_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: float
) -> None:
    events = make_events(5_000, seed=9)[["timestamp", "endpoint", "latency_ms"]]
    events.loc[[2_345, 2_346, 4_999], "latency_ms"] = bad  # row groups 2 and 4
    path = tmp_path / "events.parquet"
    events.to_parquet(path, index=False, row_group_size=1_000)
    with pytest.raises(ValueError, match=r"'latency_ms' has 3 negative.*row 2345 "):
        summarize(pd.read_parquet(path), every="1h")
    _streamed_only(monkeypatch)
    with pytest.raises(ValueError, match=r"'latency_ms' has 3 negative.*row 2345 "):
        summarize(path, every="1h")


def test_streamed_parquet_names_a_missing_timestamp_in_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = make_events(3_000, seed=10)[["timestamp", "endpoint", "latency_ms"]]
    events.loc[2_222, "timestamp"] = pd.NaT
    path = tmp_path / "events.parquet"
    events.to_parquet(path, index=False, row_group_size=1_000)
    with pytest.raises(ValueError, match="row 2222 is missing"):
        summarize(pd.read_parquet(path), every="1h")
    _streamed_only(monkeypatch)
    with pytest.raises(ValueError, match="row 2222 is missing"):
        summarize(path, every="1h")


def test_grouped_sketch_builder_counts_and_chunks() -> None:
    from perfstats import _core

    rng = np.random.default_rng(12)
    n, groups = 40_001, 6
    codes = rng.integers(0, groups, n).astype(np.int32)
    values = rng.lognormal(5.0, 2.0, n)
    values[::11] = np.nan
    bounds = [50.0, 500.0]
    whole = _core.GroupedSketchBuilder(groups, 0.01, 1024, bounds)
    whole.add(codes, values)
    sketches, counts = whole.finish()
    split = _core.GroupedSketchBuilder(groups, 0.01, 1024, bounds)
    for start in range(0, n, 7_777):
        split.add(codes[start : start + 7_777], values[start : start + 7_777], start)
    split_sketches, split_counts = split.finish()
    np.testing.assert_array_equal(split_counts, counts)
    known = ~np.isnan(values)
    expected = np.zeros((groups, 3))
    np.add.at(
        expected,
        (codes[known], np.searchsorted(bounds, values[known], side="left")),
        1.0,
    )
    np.testing.assert_array_equal(counts, expected)
    for g, (a, b) in enumerate(zip(sketches, split_sketches, strict=True)):
        assert a.to_bytes() == b.to_bytes()
        mine = values[known & (codes == g)]
        assert a.count == len(mine)
        assert a.min == mine.min() and a.max == mine.max()
        assert a.sum == pytest.approx(math.fsum(mine), rel=1e-15)
    with pytest.raises(ValueError, match="row 9 "):
        bad = values[:10].copy()
        bad[9] = np.inf
        _core.GroupedSketchBuilder(groups).add(codes[:10], bad)


@pytest.mark.parametrize("max_buckets", [16, 4096])
def test_grouped_sketch_builder_counts_values_at_boundaries_exactly(
    max_buckets: int,
) -> None:
    # The builder reads most exact counts off the sketch buckets; values on, just below and
    # just above the boundaries (in long runs of one group, with coarsening at 16 buckets)
    # must still land in the right (upper-inclusive) bucket.
    from perfstats import _core

    rng = np.random.default_rng(31)
    bounds = [1000.0, 2000.0, 5000.0, 10000.0, 30000.0]
    near = np.concatenate(
        [[b, np.nextafter(b, 0.0), np.nextafter(b, np.inf), b * 1.004] for b in bounds]
    )
    n = 30_000
    codes = np.repeat(rng.integers(0, 3, n // 1500), 1500).astype(np.int32)
    values = rng.lognormal(np.log(800.0), 1.0, n)
    pick = rng.random(n) < 0.2
    values[pick] = rng.choice(near, pick.sum())
    values[::97] = np.nan
    values[5_000] = 1e9  # coarsens group codes[5_000] mid-run at 16 buckets
    b = _core.GroupedSketchBuilder(3, 0.01, max_buckets, bounds)
    for start in range(0, n, 4_096):
        b.add(codes[start : start + 4_096], values[start : start + 4_096], start)
    sketches, counts = b.finish()
    known = ~np.isnan(values)
    expected = np.zeros((3, len(bounds) + 1))
    np.add.at(
        expected,
        (codes[known], np.searchsorted(bounds, values[known], side="left")),
        1.0,
    )
    np.testing.assert_array_equal(counts, expected)
    if max_buckets == 16:
        assert sketches[codes[5_000]].relative_accuracy > 0.01


@pytest.mark.parametrize("every", [None, "1h"])
def test_nat_timestamps_are_refused_not_dropped(every: str | None) -> None:
    events = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(
                ["2026-01-01T00:00Z", None, "2026-01-01T00:02Z"], utc=True
            ),
            "latency_ms": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(ValueError, match=r"timestamp at row 1 is missing \(NaT\)"):
        summarize(events, by=None, every=every)


def test_missing_timestamp_column_lists_the_columns_found(tmp_path: Path) -> None:
    from perfstats.io import read_events

    path = tmp_path / "e.csv"
    path.write_text("time,latency_ms\n2026-01-01T00:00Z,1\n")
    with pytest.raises(
        ValueError, match=r"e\.csv: no 'timestamp' column; the columns found are: time"
    ):
        summarize(read_events(path), by=None)
