"""QuantileSketch against exact order statistics (numpy.quantile, method="lower")."""

from __future__ import annotations

import copy
import json
import pickle
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import perfstats
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
    # sums in another order differ by rounding, bounded by the magnitudes added (with
    # cancellation the sum itself can be far smaller than that bound)
    assert abs(merged.sum - whole.sum) <= 1e-12 * float(np.sum(np.abs(data))) + 1e-300
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


# ---- issue 11: strides, edited blobs, overflow, scalars ---------------------------------


def _sample_sketches() -> list[QuantileSketch]:
    rng = np.random.default_rng(11)
    out = []
    for data in (
        np.array([1.0]),
        rng.lognormal(0, 0.01, 50),  # one bucket or a few near 1
        rng.lognormal(3, 2, 2000),
        np.concatenate(
            [-rng.lognormal(1, 1, 300), np.zeros(5), rng.lognormal(1, 1, 300)]
        ),
        -rng.lognormal(5, 1, 100),
    ):
        s = QuantileSketch()
        s.add(data)
        out.append(s)
    w = QuantileSketch()
    w.add(rng.lognormal(0, 1, 100), weights=rng.uniform(0, 3, 100))
    out.append(w)
    return out


def test_from_bytes_reads_a_strided_view_like_its_contiguous_copy() -> None:
    for s in _sample_sketches():
        blob = s.to_bytes()
        spread = np.zeros(2 * len(blob), dtype=np.uint8)
        spread[::2] = np.frombuffer(blob, dtype=np.uint8)
        assert QuantileSketch.from_bytes(memoryview(spread)[::2]) == s
        reversed_copy = np.frombuffer(blob, dtype=np.uint8)[::-1].copy()
        assert QuantileSketch.from_bytes(memoryview(reversed_copy)[::-1]) == s


def test_from_bytes_of_a_reversed_view_at_a_page_end_does_not_crash() -> None:
    # Unfixed, the reversed view's pointer is its last byte and the reader ran forward off
    # the end of the mapping: a segfault, so this runs in a child process.
    code = """
import mmap, numpy as np
from perfstats import QuantileSketch
s = QuantileSketch(); s.add([1.0, 2.0, 30.0])
blob = s.to_bytes()
page = mmap.mmap(-1, mmap.PAGESIZE)
arr = np.frombuffer(page, dtype=np.uint8)
arr[-len(blob):] = np.frombuffer(blob, dtype=np.uint8)[::-1]
view = memoryview(arr[-len(blob):][::-1])
assert QuantileSketch.from_bytes(view) == s
del view, arr
print("ok")
"""
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(perfstats.__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x[::-1],
        lambda x: x[::3],
        lambda x: np.asfortranarray(np.stack([x, x], axis=1))[:, 1],
        lambda x: np.stack([x, x], axis=1)[:, 0],  # C order: a column is strided
        lambda x: x.astype(">f8"),  # non-native byte order
        lambda x: np.require(x, requirements="C").copy().view(np.float64)[::2],
        # misaligned: float64 at an odd address
        lambda x: np.frombuffer(b"\0" + x.tobytes(), dtype=np.float64, offset=1),
    ],
)
def test_add_reads_strided_and_foreign_arrays_like_a_contiguous_copy(
    make: Callable[[np.ndarray], np.ndarray],
) -> None:
    rng = np.random.default_rng(12)
    x = rng.lognormal(2, 1, 3001)
    view = make(x)
    view.flags.writeable = False
    expected = QuantileSketch()
    expected.add(np.ascontiguousarray(view, dtype=np.float64))
    got = QuantileSketch()
    got.add(view)
    assert got == expected
    weighted, weighted_copy = QuantileSketch(), QuantileSketch()
    weighted.add(view, weights=view[::-1])
    weighted_copy.add(
        np.ascontiguousarray(view, dtype=np.float64),
        weights=np.ascontiguousarray(view[::-1], dtype=np.float64),
    )
    assert weighted == weighted_copy


def test_add_rejects_two_dimensional_values() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        QuantileSketch().add(np.ones((3, 2), order="F"))


def _f64_offsets(blob: bytes, value: float) -> list[int]:
    import struct

    packed = struct.pack("<d", value)
    return [i for i in range(len(blob) - 8) if blob[i : i + 8] == packed]


def _assert_consistent(s: QuantileSketch) -> None:
    """The invariants every sketch built by add/merge satisfies."""
    assert s.count > 0
    total = s.buckets()[1].sum() + s.buckets(negative=True)[1].sum() + s.zero_count
    assert abs(total - s.count) <= 1e-9 * s.count
    q = s.quantile(np.linspace(0, 1, 21))
    assert q[0] == s.min and q[-1] == s.max
    assert np.all(np.diff(q) >= 0)
    assert s.min <= s.max
    with np.errstate(over="ignore"):
        lo, hi = np.float64(s.count) * s.min, np.float64(s.count) * s.max
    if np.isfinite(s.sum) and np.isfinite(lo) and np.isfinite(hi):
        assert lo - 1e-9 * abs(lo) <= s.sum <= hi + 1e-9 * abs(hi)
        assert s.min - 1e-9 * abs(s.min) <= s.mean <= s.max + 1e-9 * abs(s.max)
    # min and max lie in (or within a few buckets of) the extreme non-empty buckets
    base = np.float64(2.0) ** (2.0**-s.scale)
    pos_offset, pos = s.buckets()
    neg_offset, neg = s.buckets(negative=True)
    pos_idx = pos_offset + np.flatnonzero(pos)
    neg_idx = neg_offset + np.flatnonzero(neg)
    slack = base**6
    with np.errstate(over="ignore", under="ignore"):
        _assert_extremes(s, base, slack, pos_idx, neg_idx)


def _assert_extremes(
    s: QuantileSketch,
    base: np.float64,
    slack: np.float64,
    pos_idx: np.ndarray,
    neg_idx: np.ndarray,
) -> None:
    if (
        neg_idx.size
    ):  # the lowest value is negative: |min| in the largest negative bucket
        assert (
            base ** neg_idx.max() / slack
            <= -s.min
            <= base ** (neg_idx.max() + 1) * slack
        )
    elif pos_idx.size and s.zero_count == 0:
        assert (
            base ** pos_idx.min() / slack
            <= s.min
            <= base ** (pos_idx.min() + 1) * slack
        )
    if pos_idx.size:
        assert (
            base ** pos_idx.max() / slack
            <= s.max
            <= base ** (pos_idx.max() + 1) * slack
        )
    elif neg_idx.size and s.zero_count == 0:
        assert (
            base ** neg_idx.min() / slack
            <= -s.max
            <= base ** (neg_idx.min() + 1) * slack
        )


def test_edited_blobs_with_recomputed_crc_are_refused_or_consistent() -> None:
    import struct

    hostile = [1e300, -1e300, 1.8e19, 0.0, -1.0, 1.0, 2.0, 1e-300, 5e-324, 1e15]
    accepted = rejected = 0
    for s in _sample_sketches():
        blob = s.to_bytes()
        body = blob[:-4]
        fields = {
            name: _f64_offsets(body, getattr(s, name))[:1]
            for name in ("count", "sum", "min", "max")
        }
        for name, offsets in fields.items():
            for off in offsets:
                for v in hostile + [
                    getattr(s, name) * f for f in (0.5, 0.999, 1.001, 2)
                ]:
                    edited = body[:off] + struct.pack("<d", v) + body[off + 8 :]
                    try:
                        got = QuantileSketch.from_bytes(_with_crc(edited))
                    except ValueError as err:
                        assert "QuantileSketch" in str(err)
                        rejected += 1
                        continue
                    accepted += 1
                    _assert_consistent(got)
    assert accepted > 0 and rejected > 0


def test_issue_examples_of_inconsistent_blobs_are_refused() -> None:
    import struct

    s = QuantileSketch()
    s.add(np.full(10, 1.0))
    body = s.to_bytes()[:-4]
    (count_at,) = _f64_offsets(body, 10.0)[:1]
    # min and max of -+1e300 around one bucket near 1 (quantile(0) was -1e300)
    min_at = count_at + 16
    edited = body[:min_at] + struct.pack("<dd", -1e300, 1e300) + body[min_at + 16 :]
    with pytest.raises(ValueError, match="min"):
        QuantileSketch.from_bytes(_with_crc(edited))
    # the sum far outside count * [min, max]
    edited = body[: count_at + 8] + struct.pack("<d", 1e300) + body[count_at + 16 :]
    with pytest.raises(ValueError, match="sum"):
        QuantileSketch.from_bytes(_with_crc(edited))
    # a count of 1.8e19 with sum 10 (the bucket counts say 10)
    edited = body[:count_at] + struct.pack("<d", 1.8e19) + body[count_at + 8 :]
    with pytest.raises(ValueError, match="count"):
        QuantileSketch.from_bytes(_with_crc(edited))


def test_random_edits_with_recomputed_crc_never_give_an_inconsistent_sketch() -> None:
    import struct

    rng = np.random.default_rng(13)
    for s in _sample_sketches():
        body = s.to_bytes()[:-4]
        for _ in range(300):
            edited = bytearray(body)
            pos = int(rng.integers(5, len(body) - 8))
            if rng.random() < 0.5:
                edited[pos : pos + 8] = struct.pack(
                    "<d",
                    float(rng.choice([1e300, -1e300, 1e19, -3.0, 0.5, 7.0, 1e-10])),
                )
            else:
                edited[pos] ^= 1 << int(rng.integers(0, 8))
            try:
                got = QuantileSketch.from_bytes(_with_crc(bytes(edited)))
            except ValueError:
                continue
            if got.count > 0:
                _assert_consistent(got)


def test_committed_fixture_blobs_still_load_and_stay_consistent() -> None:
    for name in ("quantile_sketch_v1.bin", "quantile_sketch_weighted_v1.bin"):
        s = QuantileSketch.from_bytes((FIXTURES / name).read_bytes())
        _assert_consistent(s)
    assert (
        QuantileSketch.from_bytes(
            (FIXTURES / "quantile_sketch_empty_v1.bin").read_bytes()
        ).count
        == 0
    )


def test_sum_overflows_to_inf_not_nan_and_round_trips() -> None:
    s = QuantileSketch()
    s.add(np.array([1e308, 1e308]))
    with np.errstate(over="ignore"):
        assert s.sum == np.sum(np.array([1e308, 1e308])) == np.inf  # as numpy.sum
    assert s.mean == np.inf
    one = QuantileSketch()
    one.add(1e308)
    one.add(1e308)
    assert one.sum == np.inf and one.mean == np.inf
    merged = QuantileSketch()
    merged.add(1e308)
    merged.merge(one)
    assert merged.sum == np.inf
    neg = QuantileSketch()
    neg.add(np.array([-1e308, -1e308, -1e308]))
    assert neg.sum == -np.inf and neg.mean == -np.inf
    back = QuantileSketch.from_bytes(s.to_bytes())
    assert back.sum == np.inf and back == s


def test_scalar_value_with_scalar_weight_is_a_one_element_array() -> None:
    a, b, c = QuantileSketch(), QuantileSketch(), QuantileSketch()
    a.add(np.float64(2.5), np.float64(3.0))
    b.add(np.array([2.5]), weights=np.array([3.0]))
    c.add(2.5, 3.0)
    assert a == b == c
    assert a.count == 3.0
    d, e = QuantileSketch(), QuantileSketch()
    d.add(np.array([1.0, 2.0, 4.0]), weights=np.float64(2.0))  # one weight for all
    e.add(np.array([1.0, 2.0, 4.0]), weights=np.array([2.0, 2.0, 2.0]))
    assert d == e
    with pytest.raises(ValueError, match="weight"):
        QuantileSketch().add(np.float64(1.0), np.float64(-1.0))


def test_grouped_fills_overflow_to_inf_not_nan() -> None:
    codes = np.zeros(6, dtype=np.int32)
    values = np.full(6, 1e308)
    builder = _core.GroupedSketchBuilder(1, 0.01)
    builder.add(codes, values, 0)
    (streamed,), _ = builder.finish()
    assert streamed.sum == np.inf
    assert streamed.mean == np.inf
    negative = _core.GroupedSketchBuilder(1, 0.01)
    negative.add(codes, -values, 0)
    (neg,), _ = negative.finish()
    assert neg.sum == -np.inf
