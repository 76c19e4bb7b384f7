"""perfstats.Histogram against numpy.histogram with right-closed bins; its format."""

from __future__ import annotations

import copy
import math
import pickle
import random
import struct
import threading
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfstats import Histogram

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SETTINGS = settings(max_examples=120, derandomize=True, deadline=None)


def le_counts(
    values: npt.ArrayLike,
    boundaries: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]:
    """Oracle: numpy.histogram on negated data, so that its half-open [a, b) bins become
    upper-inclusive (a, b] bins; the outer edges are -inf and +inf so nothing escapes.
    numpy's last bin is closed on both sides, which after negation is (-inf, b0]."""
    b = np.asarray(boundaries, dtype=np.float64)
    edges = np.concatenate(([-np.inf], -b[::-1], [np.inf]))
    counts, _ = np.histogram(
        -np.asarray(values, dtype=np.float64), edges, weights=weights
    )
    return np.asarray(counts[::-1], dtype=np.float64)


finite = st.floats(allow_nan=False, allow_infinity=False)
boundaries_st = st.lists(finite, max_size=40, unique=True).map(sorted)
values_st = st.lists(finite, max_size=60)


@st.composite
def filled(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    """Boundaries plus values that often hit a boundary exactly."""
    b = draw(boundaries_st)
    v = draw(values_st)
    if b:
        v += draw(st.lists(st.sampled_from(b), max_size=20))
    return b, v


# ---- bucket semantics against the oracle
def test_boundary_values_fall_in_the_bucket_they_close() -> None:
    h = Histogram(boundaries=[1000, 2000, 5000, 10000, 30000])
    h.add([1000, 2000, 5000, 10000, 30000])
    np.testing.assert_array_equal(h.counts, [1, 1, 1, 1, 1, 0])
    h.add([np.nextafter(30000.0, np.inf), -1e300])
    np.testing.assert_array_equal(h.counts, [2, 1, 1, 1, 1, 1])


@SETTINGS
@given(filled())
def test_counts_match_numpy_right_closed(data: tuple[list[float], list[float]]) -> None:
    b, v = data
    h = Histogram(b)
    h.add(v)
    np.testing.assert_array_equal(h.counts, le_counts(v, b))
    # Prometheus cumulative buckets: observations <= each boundary, then the total.
    arr = np.asarray(v, dtype=np.float64)
    expected = [np.count_nonzero(arr <= x) for x in b] + [len(v)]
    np.testing.assert_array_equal(h.cumulative, expected)
    assert h.count == len(v)
    if v:
        assert h.min == min(v)
        assert h.max == max(v)


@SETTINGS
@given(filled(), st.randoms(use_true_random=False))
def test_weighted_counts_match_numpy(
    data: tuple[list[float], list[float]], rnd: random.Random
) -> None:
    b, v = data
    v = [x for x in v if abs(x) < 1e300]  # keep value * weight finite for the sum
    w = [rnd.choice([0.0, 1e-300, 0.5, 3.0, 1e6 * rnd.random()]) for _ in v]
    h = Histogram(b)
    h.add(v, weights=w)
    # numpy takes differences of a cumulative sum of the weights, so each of its bins
    # carries rounding of order eps * total weight; ours sum per bucket.
    np.testing.assert_allclose(
        h.counts, le_counts(v, b, w), rtol=1e-12, atol=1e-12 * sum(w) + 1e-300
    )
    assert h.sum == pytest.approx(math.fsum(x * y for x, y in zip(v, w, strict=True)))


def test_scalar_and_array_adds_agree() -> None:
    rng = np.random.default_rng(1)
    v = rng.lognormal(np.log(800), 1.0, 500)
    a, b = Histogram([100, 800, 3000]), Histogram([100, 800, 3000])
    a.add(v)
    for x in v:
        b.add(float(x))
    np.testing.assert_array_equal(a.counts, b.counts)
    assert (a.min, a.max) == (b.min, b.max)
    # The array path sums in four lanes: same value up to rounding.
    assert a.sum == pytest.approx(b.sum, rel=1e-13)
    a.add(5.0, weights=2.5)
    np.testing.assert_array_equal(a.counts - b.counts, [2.5, 0, 0, 0])
    a.add([1.0, 2.0], weights=0.5)  # one weight for all
    np.testing.assert_array_equal(a.counts - b.counts, [3.5, 0, 0, 0])


def test_accepts_lists_ints_and_strided_arrays() -> None:
    base = np.arange(20, dtype=np.float64)
    strided = base[::2]
    assert not strided.flags.c_contiguous
    a, b = Histogram([4, 9]), Histogram([4, 9])
    a.add(strided)
    b.add(list(range(0, 20, 2)))
    assert a == b
    b.add(np.arange(3, dtype=np.int32))
    np.testing.assert_array_equal(b.counts - a.counts, [3, 0, 0])


def test_contiguous_float64_input_is_not_copied() -> None:
    values = np.ones(1_000_000)  # 8 MB: a copy would show up in the peak
    h = Histogram([0.5, 2.0])
    tracemalloc.start()
    try:
        h.add(values)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        h.add(values.astype(np.float32))  # control: this one must be converted
        _, converted_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # other threads of the process (a server a test left running) allocate too; a copy
    # of the input would add 8 MB
    assert peak < 2_000_000
    assert converted_peak > 4_000_000
    assert h.count == 2_000_000


def test_threads_filling_separate_histograms_match_one() -> None:
    rng = np.random.default_rng(3)
    chunks = [rng.lognormal(np.log(800), 1.0, 200_000) for _ in range(4)]
    boundaries = [100, 500, 1000, 2000, 5000]
    parts = [Histogram(boundaries) for _ in chunks]
    threads = [
        threading.Thread(target=p.add, args=(c,))
        for p, c in zip(parts, chunks, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged = Histogram(boundaries)
    for p in parts:
        merged.merge(p)
    np.testing.assert_array_equal(
        merged.counts, le_counts(np.concatenate(chunks), boundaries)
    )


# ---- bad input
@pytest.mark.parametrize(
    ("boundaries", "index"),
    [([1, 2, 2], 2), ([1, float("nan")], 1), ([float("-inf"), 0], 0), ([5, 3], 1)],
)
def test_bad_boundaries_name_the_index(boundaries: list[float], index: int) -> None:
    with pytest.raises(ValueError, match=rf"boundaries\[{index}\]"):
        Histogram(boundaries)


def test_non_numeric_or_multidimensional_input_is_rejected() -> None:
    with pytest.raises(TypeError, match="boundaries"):
        Histogram(["1", "2"])
    with pytest.raises(ValueError, match="one-dimensional"):
        Histogram([[1, 2]])
    h = Histogram([1])
    with pytest.raises(TypeError, match="values"):
        h.add("1.5")
    with pytest.raises(ValueError, match="one-dimensional"):
        h.add(np.ones((2, 2)))
    with pytest.raises(ValueError, match="length"):
        h.add([1, 2, 3], weights=[1, 2])
    assert h.count == 0


def test_nan_and_inf_add_nothing_and_say_where() -> None:
    h = Histogram([1, 2])
    h.add([0.5, 1.5])
    before = h.copy()
    with pytest.raises(ValueError, match=r"2 of 5 .* index 1"):
        h.add([0.1, np.nan, 0.2, np.inf, 0.3])
    with pytest.raises(ValueError, match=r"weights: 1 of 3 .* index 2"):
        h.add([0.1, 0.2, 0.3], weights=[1, 1, -1])
    with pytest.raises(ValueError, match="finite"):
        h.add(float("-inf"))
    with pytest.raises(ValueError, match="weight"):
        h.add(1.0, weights=float("nan"))
    assert h == before


def test_merge_requires_equal_boundaries() -> None:
    h = Histogram([1, 2])
    with pytest.raises(ValueError, match="boundaries"):
        h.merge(Histogram([1, 3]))
    with pytest.raises(TypeError):
        h.merge([1, 2])  # type: ignore[arg-type]


def test_empty_histogram() -> None:
    h = Histogram([1, 2])
    assert h.count == 0
    assert h.sum == 0
    assert all(math.isnan(x) for x in (h.min, h.max, h.mean))
    assert np.isnan(h.fractions).all()
    np.testing.assert_array_equal(h.cumulative, [0, 0, 0])
    single = Histogram([])
    single.add([-3.0, 7.0])
    np.testing.assert_array_equal(single.counts, [2])


# ---- merging
@SETTINGS
@given(filled(), values_st, st.integers(0, 3))
def test_merge_equals_concatenation(
    data: tuple[list[float], list[float]], more: list[float], order: int
) -> None:
    b, v = data
    v = [x for x in v if abs(x) < 1e300]
    more = [x for x in more if abs(x) < 1e300]
    a, c, whole = Histogram(b), Histogram(b), Histogram(b)
    a.add(v)
    c.add(more)
    whole.add(v + more)
    if order % 2:
        a, c = c, a
    a.merge(c)
    np.testing.assert_array_equal(a.counts, whole.counts)
    np.testing.assert_array_equal(a.counts, le_counts(v + more, b))
    if v + more:
        assert (a.min, a.max) == (min(v + more), max(v + more))
    else:
        assert math.isnan(a.min)
        assert math.isnan(a.max)
    assert a.sum == pytest.approx(whole.sum, rel=1e-9, abs=1e-280)


# ---- bytes, pickle, copy
@SETTINGS
@given(filled(), st.booleans())
def test_bytes_and_pickle_round_trip(
    data: tuple[list[float], list[float]], weighted: bool
) -> None:
    b, v = data
    v = [x for x in v if abs(x) < 1e300]
    h = Histogram(b)
    h.add(v, weights=[0.25 + i for i in range(len(v))] if weighted else None)
    assert Histogram.from_bytes(h.to_bytes()) == h
    assert Histogram.from_bytes(bytearray(h.to_bytes())) == h
    assert pickle.loads(pickle.dumps(h)) == h


@settings(max_examples=30, derandomize=True, deadline=None)
@given(filled())
def test_every_truncation_and_bit_flip_is_rejected(
    data: tuple[list[float], list[float]],
) -> None:
    b, v = data
    h = Histogram(b[:8])
    h.add(v[:20])
    blob = h.to_bytes()
    for n in range(len(blob)):
        with pytest.raises(ValueError):
            Histogram.from_bytes(blob[:n])
    for i in range(len(blob)):
        for bit in range(8):
            corrupt = bytearray(blob)
            corrupt[i] ^= 1 << bit
            with pytest.raises(ValueError):
                Histogram.from_bytes(bytes(corrupt))


def _forge(payload: bytes) -> bytes:
    """A buffer with a valid header and CRC around `payload`: only the content checks
    stand between it and the histogram."""
    body = b"PSHG\x01" + payload
    return body + struct.pack("<I", zlib.crc32(body))


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_varint(2**60), "cannot fit"),  # would allocate 8 EB
        (_varint(2) + struct.pack("<2d", 2.0, 1.0), "strictly increasing"),
        (_varint(1) + struct.pack("<d", math.nan), "finite"),
        (_varint(0) + b"\x07", "encoding"),
        (_varint(0) + b"\x00" + _varint(2**53 + 1), "2\\*\\*53"),
        (_varint(0) + b"\x01" + struct.pack("<d", -1.0), "count of bucket 0"),
        # one value in bucket 0 of (-inf, 1] but min/max claim 5
        (
            _varint(1)
            + struct.pack("<d", 1.0)
            + b"\x00\x01\x00"
            + struct.pack("<3d", 5, 5, 5),
            "disagree",
        ),
        # nothing counted, yet a min and max
        (_varint(0) + b"\x00\x00" + struct.pack("<3d", 0, 1, 1), "empty"),
        (
            _varint(0)
            + b"\x00\x00"
            + struct.pack("<3d", 0, math.inf, -math.inf)
            + b"\x00",
            "trailing",
        ),
    ],
)
def test_hostile_bytes_with_a_valid_checksum_are_rejected(
    payload: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Histogram.from_bytes(_forge(payload))


def test_forged_empty_buffer_is_the_empty_histogram() -> None:
    # The same framing as above, accepted: the forging helper itself is right.
    empty = _forge(
        _varint(0) + b"\x00\x00" + struct.pack("<3d", 0, math.inf, -math.inf)
    )
    assert Histogram.from_bytes(empty) == Histogram([])


def test_random_bytes_and_wrong_types_are_rejected() -> None:
    rng = np.random.default_rng(5)
    for n in (0, 3, 9, 40, 400):
        with pytest.raises(ValueError):
            Histogram.from_bytes(rng.bytes(n))
    with pytest.raises(TypeError):
        Histogram.from_bytes("PSHG")  # type: ignore[arg-type]


def test_copies_are_independent() -> None:
    h = Histogram([1])
    h.add([0.5, 2.0])
    for c in (h.copy(), copy.copy(h), copy.deepcopy(h)):
        assert c == h
        c.add(0.0)
        assert c != h
    assert h != "a histogram"
    with pytest.raises(TypeError):
        hash(h)


# ---- committed fixtures of format version 1
def test_reads_fixture_v1_sla() -> None:
    h = Histogram.from_bytes((FIXTURES / "histogram_v1.bin").read_bytes())
    np.testing.assert_array_equal(h.boundaries, [1000, 2000, 5000, 10000, 30000])
    # 250 1000 | 1000.5 1999 2000 | 4999 5000 | 5001 | 12000 30000 | 30001 99999
    np.testing.assert_array_equal(h.counts, [2, 3, 2, 1, 2, 2])
    assert (h.count, h.sum, h.min, h.max) == (12, 193249.5, 250, 99999)


def test_reads_fixture_v1_weighted() -> None:
    h = Histogram.from_bytes((FIXTURES / "histogram_v1_weighted.bin").read_bytes())
    np.testing.assert_array_equal(
        h.boundaries, Histogram.PRESETS["gen_ai.client.operation.duration"]
    )
    expected = np.zeros(15)
    expected[[0, 1, 6, 14]] = [0.5, 2.0, 1.25, 3.0]  # 0.005, 0.02, 0.5, 100 s
    np.testing.assert_array_equal(h.counts, expected)
    assert h.sum == pytest.approx(
        0.005 * 0.5 + 0.02 * 2 + 0.5 * 1.25 + 100 * 3, rel=1e-15
    )
    assert (h.min, h.max) == (0.005, 100.0)


def test_reads_fixture_v1_empty() -> None:
    h = Histogram.from_bytes((FIXTURES / "histogram_v1_empty.bin").read_bytes())
    assert h.boundaries.size == 0
    np.testing.assert_array_equal(h.counts, [0])


@pytest.mark.parametrize(
    "name", ["histogram_v1.bin", "histogram_v1_weighted.bin", "histogram_v1_empty.bin"]
)
def test_writer_still_produces_the_v1_fixture_bytes(name: str) -> None:
    # If the format version is ever bumped, keep the fixtures and the reading tests
    # above, and change this test to the new writer's fixtures.
    blob = (FIXTURES / name).read_bytes()
    assert Histogram.from_bytes(blob).to_bytes() == blob


# ---- presets
def test_presets_are_the_semconv_recommended_boundaries() -> None:
    # OpenTelemetry semantic conventions, docs/gen-ai/gen-ai-metrics.md.
    duration = [
        0.01,
        0.02,
        0.04,
        0.08,
        0.16,
        0.32,
        0.64,
        1.28,
        2.56,
        5.12,
        10.24,
        20.48,
        40.96,
        81.92,
    ]
    tokens = [
        1,
        4,
        16,
        64,
        256,
        1024,
        4096,
        16384,
        65536,
        262144,
        1048576,
        4194304,
        16777216,
        67108864,
    ]
    np.testing.assert_array_equal(
        Histogram.preset("gen_ai.client.operation.duration").boundaries, duration
    )
    np.testing.assert_array_equal(
        Histogram.preset("gen_ai.client.token.usage").boundaries, tokens
    )
    for name in Histogram.PRESETS:
        assert Histogram.preset(name).counts.size == len(Histogram.PRESETS[name]) + 1
    with pytest.raises(ValueError, match="known presets"):
        Histogram.preset("gen_ai.nope")


# ---- display
def test_repr_html_and_plot() -> None:
    h = Histogram([1000, 2000])
    h.add([500, 1500, 1500, 2500])
    assert repr(h) == "Histogram(boundaries=[1000, 2000], counts=[1, 2, 1])"
    page = h._repr_html_()
    assert "(-inf, 1000]" in page
    assert "(2000, +inf)" in page
    assert "50.0%" in page  # the share of the middle bucket
    assert h.to_dict()["counts"] == [1.0, 2.0, 1.0]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert h.plot(ax=ax) is ax
    assert [p.get_height() for p in ax.patches] == [1, 2, 1]
    plt.close(fig)


# ---- issue 11: edited blobs, overflow, threads ------------------------------------------


def _edit_tail(blob: bytes, sum_: float, min_: float, max_: float) -> bytes:
    body = blob[:-4][:-24] + struct.pack("<ddd", sum_, min_, max_)
    return body + struct.pack("<I", zlib.crc32(body))


def test_sum_inconsistent_with_count_min_max_is_refused() -> None:
    h = Histogram([1.0, 10.0])
    h.add([2.0, 3.0, 4.0])
    blob = h.to_bytes()
    assert Histogram.from_bytes(_edit_tail(blob, 9.0, 2.0, 4.0)) == h
    for bad in (1e300, -1e300, 1.0, 13.0, float("nan")):
        with pytest.raises(ValueError, match="sum"):
            Histogram.from_bytes(_edit_tail(blob, bad, 2.0, 4.0))


def test_edited_blobs_are_refused_or_consistent() -> None:
    rng = np.random.default_rng(31)
    h = Histogram([0.0, 1.0, 10.0, 100.0])
    h.add(rng.lognormal(1, 2, 500))
    blob = h.to_bytes()
    values = [1e300, -1e300, 0.0, -1.0, 0.5, 5.0, 50.0, 500.0, h.sum, h.min, h.max]
    accepted = 0
    for s_ in values:
        for lo in values:
            for hi in values:
                try:
                    got = Histogram.from_bytes(_edit_tail(blob, s_, lo, hi))
                except ValueError:
                    continue
                accepted += 1
                assert got.min <= got.max
                lo, hi = got.count * got.min, got.count * got.max
                assert lo - 1e-6 * abs(lo) <= got.sum <= hi + 1e-6 * abs(hi)
    assert accepted >= 1


def test_sum_overflows_to_inf() -> None:
    h = Histogram([1.0])
    h.add(np.array([1e308, 1e308]))
    assert h.sum == np.inf
    assert Histogram.from_bytes(h.to_bytes()).sum == np.inf


def test_from_bytes_core_reads_a_strided_view() -> None:
    h = Histogram([1.0, 2.0])
    h.add([0.5, 1.5])
    blob = h.to_bytes()
    spread = np.zeros(2 * len(blob), dtype=np.uint8)
    spread[::2] = np.frombuffer(blob, dtype=np.uint8)
    assert Histogram.from_bytes(memoryview(spread)[::2]) == h
    from perfstats import _core

    assert _core.Histogram.from_bytes(memoryview(spread)[::2]) == h._h
