"""QuantileSketch against exact order statistics (numpy.quantile, method="lower")."""

from __future__ import annotations

import copy
import json
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from perfstats import QuantileSketch, _core

FIXTURES = Path(__file__).resolve().parent / "fixtures"
QS = np.array(
    [0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]
)


def assert_within_bound(sketch: QuantileSketch, data: np.ndarray) -> None:
    """Every estimate is within relative_accuracy * |exact| of the exact lower quantile."""
    exact = np.quantile(data, QS, method="lower")
    got = sketch.quantile(QS)
    # 1e-12 covers the rounding of bucket boundaries to doubles (~1e-16 relative).
    bound = sketch.relative_accuracy * (1 + 1e-12) * np.abs(exact)
    bad = np.abs(got - exact) > bound
    assert not bad.any(), f"q={QS[bad]} got={got[bad]} exact={exact[bad]}"


positive = st.floats(
    min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False
)
real = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
accuracy = st.sampled_from([0.001, 0.005, 0.01, 0.02, 0.05, 0.1])


@settings(max_examples=200, deadline=None)
@given(data=hnp.arrays(np.float64, st.integers(1, 400), elements=positive), a=accuracy)
def test_relative_error_bound_on_positive_data(data: np.ndarray, a: float) -> None:
    s = QuantileSketch(a)
    s.add(data)
    scale = _core.QuantileSketch.scale_for_accuracy(a)
    width = _core.QuantileSketch.bucket_index(data.max(), scale) - (
        _core.QuantileSketch.bucket_index(data.min(), scale)
    )
    # the requested accuracy holds whenever the range fits max_buckets at its scale
    assert (s.relative_accuracy <= a) == (width < s.max_buckets)
    assert_within_bound(s, data)


@settings(max_examples=200, deadline=None)
@given(data=hnp.arrays(np.float64, st.integers(1, 300), elements=real), a=accuracy)
def test_relative_error_bound_with_negatives_and_zeros(
    data: np.ndarray, a: float
) -> None:
    s = QuantileSketch(a)
    s.add(data)
    assert_within_bound(s, data)
    assert s.count == data.size
    assert s.min == data.min() and s.max == data.max()
    assert s.zero_count == np.count_nonzero(data == 0)


@settings(max_examples=100, deadline=None)
@given(
    value=positive,
    n=st.integers(1, 50),
    ties=hnp.arrays(
        np.float64, st.integers(1, 50), elements=st.sampled_from([1.0, 2.0])
    ),
)
def test_single_all_equal_and_tied_values(
    value: float, n: int, ties: np.ndarray
) -> None:
    same = QuantileSketch()
    same.add(np.full(n, value))
    assert np.all(same.quantile(QS) == value)  # clamped to [min, max] = [value, value]
    tied = QuantileSketch()
    tied.add(ties)
    assert_within_bound(tied, ties)


def test_huge_dynamic_range() -> None:
    data = np.geomspace(1e-9, 1e12, 100_001)
    s = QuantileSketch(0.01)
    s.add(data)
    assert_within_bound(s, data)


def test_bounded_memory_lowers_the_scale_and_keeps_every_quantile() -> None:
    data = np.geomspace(1e-9, 1e12, 10_000)
    s = QuantileSketch(0.001, max_buckets=256)
    s.add(data)
    assert s.scale < QuantileSketch(0.001).scale
    assert s.relative_accuracy > 0.001
    assert s.buckets()[1].size <= 256
    assert_within_bound(s, data)  # at the accuracy it reports


@settings(max_examples=100, deadline=None)
@given(
    data=hnp.arrays(np.float64, st.integers(2, 300), elements=real),
    cut=st.floats(0, 1),
    max_buckets=st.sampled_from([16, 64, 4096]),
)
def test_merge_equals_concatenation_bucket_for_bucket(
    data: np.ndarray, cut: float, max_buckets: int
) -> None:
    k = int(cut * data.size)
    whole = QuantileSketch(0.005, max_buckets=max_buckets)
    whole.add(data)
    a = QuantileSketch(0.005, max_buckets=max_buckets)
    a.add(data[:k])
    b = QuantileSketch(0.005, max_buckets=max_buckets)
    b.add(data[k:])
    merged = a.copy().merge(b)
    assert merged.scale == whole.scale
    for negative in (False, True):
        mo, mc = merged.buckets(negative=negative)
        wo, wc = whole.buckets(negative=negative)
        np.testing.assert_array_equal(np.trim_zeros(mc), np.trim_zeros(wc))
        if wc.any():
            assert mo + np.argmax(mc > 0) == wo + np.argmax(wc > 0)
    assert (merged.count, merged.min, merged.max) == (whole.count, whole.min, whole.max)
    assert merged.sum == pytest.approx(whole.sum, rel=1e-12, abs=1e-300)
    # order of merges does not matter
    assert b.copy().merge(a) == merged


def test_merge_across_scales_downscales_the_finer_one() -> None:
    rng = np.random.default_rng(1)
    x = rng.lognormal(5, 1, 10_000)
    fine, coarse = QuantileSketch(0.001), QuantileSketch(0.05)
    fine.add(x[:5000])
    coarse.add(x[5000:])
    merged = fine.copy().merge(coarse)
    assert merged.scale == coarse.scale
    expected = QuantileSketch(0.05)
    expected.add(x)
    assert np.array_equal(merged.buckets()[1], expected.buckets()[1])
    assert_within_bound(merged, x)


def test_weights_equal_repetition() -> None:
    values = np.array([3.0, 1.0, 2.0, 250.0])
    counts = np.array([2, 0, 5, 1])
    weighted = QuantileSketch()
    weighted.add(values, weights=counts.astype(float))
    repeated = QuantileSketch()
    repeated.add(np.repeat(values, counts))
    assert weighted == repeated


def test_strided_and_non_float64_input_match_contiguous() -> None:
    x = np.random.default_rng(2).lognormal(3, 2, 5001)
    base = QuantileSketch()
    base.add(x[::3].copy())
    strided = QuantileSketch()
    strided.add(x[::3])
    assert strided == base
    ints = QuantileSketch()
    ints.add(np.arange(1, 100, dtype=np.int32))
    floats = QuantileSketch()
    floats.add(np.arange(1, 100, dtype=np.float64))
    assert ints == floats


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise_and_add_nothing(bad: float) -> None:
    s = QuantileSketch()
    s.add([1.0, 2.0])
    before = s.copy()
    with pytest.raises(ValueError, match=r"2 non-finite .* index 1 "):
        s.add([5.0, bad, 7.0, bad])
    with pytest.raises(ValueError, match="non-finite"):
        s.add(bad)
    with pytest.raises(ValueError, match="weights contain 1 negative"):
        s.add([1.0, 2.0], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="length"):
        s.add([1.0, 2.0], weights=[1.0])
    assert s == before


def test_wrong_types_raise_type_error() -> None:
    s = QuantileSketch()
    with pytest.raises(TypeError, match="values must be numeric"):
        s.add(["a", "b"])
    with pytest.raises(TypeError, match="values must be numeric"):
        s.add(np.array(["2024-01-01"], dtype="datetime64[ns]"))
    with pytest.raises(ValueError, match="one-dimensional"):
        s.add(np.ones((2, 2)))
    with pytest.raises(TypeError):
        s.merge("not a sketch")  # type: ignore[arg-type]


@pytest.mark.parametrize("a", [0.0, 1.0, -0.1, float("nan"), 1e-9])
def test_invalid_accuracy(a: float) -> None:
    with pytest.raises(ValueError, match="relative_accuracy"):
        QuantileSketch(a)


def test_empty_sketch_is_nan_everywhere() -> None:
    s = QuantileSketch()
    assert s.count == 0 and s.sum == 0
    for value in (s.min, s.max, s.mean, s.quantile(0.5), s.cdf(1.0)):
        assert np.isnan(value)
    assert np.isnan(s.quantile([0.1, 0.9])).all()
    assert "count=0" in repr(s)


@pytest.mark.parametrize("q", [-0.01, 1.01, float("nan")])
def test_quantile_level_out_of_range(q: float) -> None:
    s = QuantileSketch()
    s.add([1.0])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        s.quantile(q)


def test_cdf_bound_against_exact_ecdf() -> None:
    x = np.sort(np.random.default_rng(3).lognormal(0, 2, 50_000))
    s = QuantileSketch(0.02)
    s.add(x)
    a = s.relative_accuracy

    def ecdf(t: float) -> float:
        return float(np.searchsorted(x, t, side="right") / x.size)

    for t in np.geomspace(x.min() / 2, x.max() * 2, 200):
        assert ecdf(t / (1 + a)) <= s.cdf(t) + 1e-15
        assert s.cdf(t) <= ecdf(t / (1 - a)) + 1e-15
    assert s.cdf(x.max()) == 1.0 and s.cdf(x.min() / 2) == 0.0


def test_bytes_and_pickle_round_trip() -> None:
    s = QuantileSketch(0.01)
    s.add(np.random.default_rng(4).normal(0, 100, 10_000))
    for restored in (
        QuantileSketch.from_bytes(s.to_bytes()),
        pickle.loads(pickle.dumps(s)),
        copy.deepcopy(s),
    ):
        assert restored == s
        assert restored is not s
        np.testing.assert_array_equal(restored.quantile(QS), s.quantile(QS))


def test_copy_is_independent() -> None:
    s = QuantileSketch()
    s.add([1.0])
    c = s.copy()
    c.add([2.0])
    assert s.count == 1 and c.count == 2


def _fixture_data() -> tuple[np.ndarray, np.ndarray]:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_fixtures", FIXTURES / "make_fixtures.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    values, weights = module.sketch_fixture_data()
    return values, weights


def test_version_1_fixtures_still_read() -> None:
    values, weights = _fixture_data()
    s = QuantileSketch.from_bytes((FIXTURES / "quantile_sketch_v1.bin").read_bytes())
    expected = QuantileSketch(0.01)
    expected.add(values)
    assert s == expected
    w = QuantileSketch.from_bytes(
        (FIXTURES / "quantile_sketch_weighted_v1.bin").read_bytes()
    )
    expected_w = QuantileSketch(0.02, max_buckets=64)
    expected_w.add(values, weights)
    assert w == expected_w and w.scale < 5
    empty = QuantileSketch.from_bytes(
        (FIXTURES / "quantile_sketch_empty_v1.bin").read_bytes()
    )
    assert empty == QuantileSketch() and empty.count == 0


def test_every_truncation_and_bit_flip_is_a_value_error() -> None:
    data = (FIXTURES / "quantile_sketch_weighted_v1.bin").read_bytes()
    for n in range(len(data)):
        with pytest.raises(ValueError):
            QuantileSketch.from_bytes(data[:n])
    rng = np.random.default_rng(5)
    for pos in rng.integers(0, len(data), 300):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(ValueError):
            QuantileSketch.from_bytes(bytes(flipped))


def _with_crc(body: bytes) -> bytes:
    import zlib

    return body + zlib.crc32(body).to_bytes(4, "little")


@pytest.mark.parametrize(
    "body",
    [
        b"PSQS\x02",  # future version
        b"PSQS\x01\x07",  # unknown flags
        b"PSQS\x01\x01\x0c\x0c\x80\x20",  # truncated after max_buckets
        # a store claiming 2^40 buckets: rejected before allocating anything
        b"PSQS\x01\x01\x0c\x0c\x80\x20"
        + b"\x00" * 32
        + b"\x00"
        + b"\x00\x80\x80\x80\x80\x80\x20",
    ],
)
def test_hostile_headers_with_valid_checksums(body: bytes) -> None:
    with pytest.raises(ValueError, match="QuantileSketch"):
        QuantileSketch.from_bytes(_with_crc(body))


def test_separate_sketches_filled_in_threads_match_one() -> None:
    rng = np.random.default_rng(6)
    chunks = [rng.lognormal(6, 1.5, 400_000) for _ in range(4)]
    sketches = [QuantileSketch() for _ in chunks]
    threads = [
        threading.Thread(target=s.add, args=(c,))
        for s, c in zip(sketches, chunks, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged = sketches[0].copy()
    for s in sketches[1:]:
        merged.merge(s)
    single = QuantileSketch()
    single.add(np.concatenate(chunks))
    assert np.array_equal(merged.buckets()[1], single.buckets()[1])
    assert merged.count == single.count


def test_display() -> None:
    s = QuantileSketch()
    s.add(np.arange(1.0, 1001.0))
    assert repr(s).startswith("QuantileSketch(count=1000, min=1, p50=")
    html = s._repr_html_()
    assert "<table" in html and "p99.9" in html


def test_llmperf_leaderboard_runs(shared_data: Path) -> None:
    """Real per-request LLM latencies: sketches agree with exact quantiles and the
    published summaries (which are NumPy linear percentiles over successful requests)."""
    root = shared_data / "llm" / "llmperf_leaderboard" / "raw_data"
    runs = sorted((root / "individual").glob("*.json"))
    assert len(runs) >= 10
    for path in runs:
        rows = json.loads(path.read_text())
        ok = [r for r in rows if r.get("error_code") in (None, "")]
        e2e = np.array([r["end_to_end_latency_s"] for r in ok], dtype=float)
        s = QuantileSketch(0.01)
        s.add(e2e)
        assert_within_bound(s, e2e)
        summary = json.loads((root / "summary" / path.name).read_text())
        key = "results_end_to_end_latency_s_"
        assert s.min == summary[key + "min"] and s.max == summary[key + "max"]
        assert s.mean == pytest.approx(summary[key + "mean"], rel=1e-12)
        for p in (50, 90, 99):
            published = summary[f"{key}quantiles_p{p}"]
            lo, hi = (
                np.quantile(e2e, p / 100, method="lower"),
                np.quantile(e2e, p / 100, method="higher"),
            )
            assert lo <= published <= hi  # the published figure brackets the rank
            assert abs(s.quantile(p / 100) - lo) <= s.relative_accuracy * lo


def test_quantiles_of_many_sketches_equal_each_sketchs_quantiles() -> None:
    from perfstats import _core

    rng = np.random.default_rng(8)
    data = [rng.lognormal(k, 1.0, 1000) * (-1 if k == 3 else 1) for k in range(5)]
    sketches = []
    for values in data:
        s = QuantileSketch(0.01)
        s.add(values)
        sketches.append(s)
    sketches.append(QuantileSketch(0.01))  # empty: NaN
    q = np.array([0.0, 0.5, 0.99, 1.0])
    table = _core.quantiles_of([s._core for s in sketches], q)
    assert table.shape == (6, 4)
    for row, s, values in zip(table, sketches, data, strict=False):
        np.testing.assert_array_equal(row, s.quantile(q))
        exact = np.quantile(values, q, method="lower")
        assert row[0] == values.min() and row[-1] == values.max()
        assert (np.abs(row - exact) <= 0.01 * np.abs(exact)).all()
    assert np.isnan(table[-1]).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _core.quantiles_of([sketches[0]._core], np.array([1.5]))
