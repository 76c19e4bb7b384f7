"""Moments against NumPy/SciPy, exact rationals and NIST StRD certified values."""

from __future__ import annotations

import copy
import math
import pickle
import re
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from perfstats import Moments, lag1_autocorrelation, long_run_variance_ratio

NIST_FILES = ["Lew", "Lottery", "Mavro", "Michelso", "NumAcc1", "NumAcc2", "PiDigits"]


def lre(x: float, certified: float) -> float:
    """NIST log relative error, capped at 15 (digits of agreement)."""
    if x == certified:
        return 15.0
    if certified == 0:
        return min(15.0, -math.log10(abs(x)))
    return min(15.0, -math.log10(abs(x - certified) / abs(certified)))


def read_univ(path: Path) -> tuple[dict[str, float], np.ndarray]:
    text = path.read_text()
    cert = {
        "mean": float(re.search(r"ybar:\s+(\S+)", text).group(1)),  # type: ignore[union-attr]
        "std": float(re.search(r"\bs:\s+(\S+)", text).group(1)),  # type: ignore[union-attr]
        "r1": float(re.search(r"r\(1\):\s+(\S+)", text).group(1)),  # type: ignore[union-attr]
    }
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Data: Y")) + 2
    return cert, np.array([float(v) for line in lines[start:] for v in line.split()])


def exact_mean_std(x: np.ndarray) -> tuple[float, float]:
    """Mean and sample SD by exact rational arithmetic on the parsed doubles."""
    fr = [Fraction(float(v)) for v in x]
    mean = sum(fr, Fraction(0)) / len(fr)
    var = sum(((v - mean) ** 2 for v in fr), Fraction(0)) / (len(fr) - 1)
    # sqrt of a Fraction, correctly rounded enough for an LRE: scale to integers.
    scale = 10**40
    root = math.isqrt(var.numerator * scale**2 // var.denominator)
    return float(mean), root / scale


@pytest.mark.parametrize("name", NIST_FILES)
def test_nist_univariate_certified_digits(shared_data: Path, name: str) -> None:
    cert, x = read_univ(shared_data / "nist" / "univ" / f"{name}.dat")
    m = Moments(x)
    assert lre(m.mean, cert["mean"]) >= 14
    assert lre(m.std(), cert["std"]) >= 13
    # NIST's own values carry 15 digits; Michelso/Mavro data limit the best to ~13.4.
    assert lre(lag1_autocorrelation(x), cert["r1"]) >= 13


def numacc(offset: int) -> np.ndarray:
    """NIST NumAcc2-4 by their published construction: offset+0.2, then 500 pairs of
    offset+0.1 and offset+0.3 (mean offset+0.2, SD 0.1, r1 -0.999)."""
    head = [f"{offset}.2"] + [f"{offset}.{d}" for _ in range(500) for d in (1, 3)]
    return np.array([float(s) for s in head])


@pytest.mark.parametrize("offset", [1, 1_000_000, 10_000_000])
def test_numacc_matches_exact_arithmetic_on_the_doubles(offset: int) -> None:
    x = numacc(offset)
    m = Moments(x)
    cert_mean, cert_std = offset + 0.2, 0.1
    exact_mean, exact_std = exact_mean_std(x)
    # Where the decimals are not doubles, the bar is what exact arithmetic reaches.
    assert lre(m.mean, cert_mean) >= min(14.0, lre(exact_mean, cert_mean) - 0.3)
    assert lre(m.std(), cert_std) >= min(13.0, lre(exact_std, cert_std) - 0.3)
    # And against the exact answer for these doubles, nearly every digit.
    assert lre(m.std(), exact_std) >= 13
    fr = [Fraction(float(v)) for v in x]
    mu = sum(fr, Fraction(0)) / len(fr)
    d = [v - mu for v in fr]
    exact_r1 = float(
        sum(p * q for p, q in zip(d[1:], d[:-1], strict=False)) / sum(v * v for v in d)
    )
    r1 = lag1_autocorrelation(x)
    assert lre(r1, exact_r1) >= 13
    assert lre(r1, -0.999) >= min(13.0, lre(exact_r1, -0.999) - 0.3)


def test_numacc_bars_for_3_and_4() -> None:
    # The stated bars: NumAcc3 9.5 and NumAcc4 8.3 digits of the SD.
    assert lre(Moments(numacc(1_000_000)).std(), 0.1) >= 9.5 - 0.3
    assert lre(Moments(numacc(10_000_000)).std(), 0.1) >= 8.3 - 0.3


def test_matches_numpy_and_scipy_on_random_data() -> None:
    rng = np.random.default_rng(1)
    x = rng.lognormal(3.0, 1.0, 12_345)
    m = Moments(x)
    assert m.count == 12_345 and m.size == 12_345
    assert m.mean == pytest.approx(np.mean(x), rel=1e-14)
    assert m.variance() == pytest.approx(np.var(x, ddof=1), rel=1e-13)
    assert m.variance(ddof=0) == pytest.approx(np.var(x), rel=1e-13)
    assert m.std() == pytest.approx(np.std(x, ddof=1), rel=1e-13)
    assert m.skewness == pytest.approx(stats.skew(x), rel=1e-12)
    assert m.kurtosis == pytest.approx(stats.kurtosis(x), rel=1e-12)
    assert m.min == x.min() and m.max == x.max()
    assert m.sum == pytest.approx(math.fsum(x), rel=1e-15)


def test_huge_offset_keeps_the_digits_of_the_noise() -> None:
    rng = np.random.default_rng(2)
    x = 1e9 + rng.normal(0.0, 1e-3, 5000)
    exact_mean, exact_std = exact_mean_std(x)
    m = Moments(x)
    assert lre(m.mean, exact_mean) >= 15
    assert lre(m.std(), exact_std) >= 12
    # A naive sum(x^2) - sum(x)^2/n loses every digit here; streaming must not.
    s = Moments()
    for v in x[:500]:
        s.add(v)
    assert s.std() == pytest.approx(exact_mean_std(x[:500])[1], rel=1e-8)


def test_weights_are_frequency_weights() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(100.0, 5.0, 300)
    w = rng.integers(0, 5, 300).astype(float)
    m = Moments(x, weights=w)
    rep = np.repeat(x, w.astype(int))
    assert m.count == w.sum()
    assert m.mean == pytest.approx(np.average(x, weights=w), rel=1e-14)
    assert m.variance() == pytest.approx(np.var(rep, ddof=1), rel=1e-12)
    assert m.skewness == pytest.approx(stats.skew(rep), rel=1e-10)
    assert m.kurtosis == pytest.approx(stats.kurtosis(rep), rel=1e-10)
    assert m.min == rep.min() and m.max == rep.max()
    assert m.sum == pytest.approx(rep.sum(), rel=1e-14)


def test_streaming_equals_batch() -> None:
    rng = np.random.default_rng(4)
    x = rng.gamma(2.0, 3.0, 2000)
    s = Moments()
    for v in x:
        s.add(float(v))
    b = Moments(x)
    for name in ("count", "mean", "skewness", "kurtosis", "min", "max", "sum"):
        assert getattr(s, name) == pytest.approx(getattr(b, name), rel=1e-12), name
    assert s.variance() == pytest.approx(b.variance(), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        min_size=2,
        max_size=3000,
    ),
    st.integers(0, 3000),
)
def test_merge_equals_the_summary_of_the_union(values: list[float], cut: int) -> None:
    x = np.array(values)
    cut = min(cut, len(x))
    merged = Moments(x[:cut]).merge(Moments(x[cut:]))
    whole = Moments(x)
    assert merged.count == whole.count
    assert merged.min == whole.min and merged.max == whole.max
    scale = max(1.0, float(np.max(np.abs(x))))
    assert merged.mean == pytest.approx(whole.mean, rel=1e-12, abs=1e-12 * scale)
    var = whole.variance(ddof=0)
    assert merged.variance(ddof=0) == pytest.approx(var, rel=1e-9, abs=1e-12 * scale**2)
    # Oracle: NumPy's two-pass variance.
    assert var == pytest.approx(np.var(x), rel=1e-9, abs=1e-12 * scale**2)


def test_bad_values_name_the_position_and_add_nothing() -> None:
    m = Moments([1.0, 2.0])
    before = m.copy()
    x = np.arange(5000.0)
    x[3001] = np.nan
    x[4000] = np.inf
    with pytest.raises(ValueError, match=r"values\[3001\] must be finite, got nan"):
        m.add(x)
    assert m == before
    with pytest.raises(ValueError, match=r"values\[1\] must be finite, got -inf"):
        m.add([0.0, -np.inf])
    with pytest.raises(
        ValueError, match=r"weights\[2\] must be finite and >= 0, got -1"
    ):
        m.add([1.0, 2.0, 3.0], weights=[1.0, 1.0, -1.0])
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        m.add([1.0], weights=[np.nan])
    with pytest.raises(ValueError, match="weights must have the length of values"):
        m.add([1.0, 2.0], weights=[1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        m.add(np.ones((2, 2)))
    with pytest.raises(TypeError, match="real numbers"):
        m.add(["a", "b"])
    with pytest.raises(TypeError, match="real numbers"):
        m.add(np.array([1 + 2j]))
    with pytest.raises(TypeError, match="Moments"):
        m.merge([1.0])  # type: ignore[arg-type]
    assert m == before


def test_empty_and_tiny_summaries() -> None:
    e = Moments()
    assert e.count == 0 and e.size == 0
    assert math.isnan(e.mean) and math.isnan(e.variance()) and math.isnan(e.min)
    assert e.sum == 0.0
    one = Moments([5.0])
    assert one.mean == 5.0 and math.isnan(one.variance()) and one.variance(ddof=0) == 0
    assert math.isnan(one.skewness) and math.isnan(one.kurtosis)
    assert Moments([]).count == 0
    assert Moments().merge(one) == one and one.copy().merge(Moments()) == one


def test_serialization_pickle_copy_and_equality() -> None:
    m = Moments(np.random.default_rng(5).normal(size=100))
    assert Moments.from_bytes(m.to_bytes()) == m
    assert pickle.loads(pickle.dumps(m)) == m
    c = copy.copy(m)
    d = copy.deepcopy(m)
    assert c == m and d == m
    c.add(1.0)
    assert c != m and d == m
    assert Moments() == Moments() and m != "m"
    with pytest.raises(TypeError):
        hash(m)


def test_damaged_bytes_are_rejected() -> None:
    data = bytearray(Moments([1.0, 2.0, 3.0]).to_bytes())
    with pytest.raises(ValueError):
        Moments.from_bytes(bytes(data[:-1]))
    data[10] ^= 0xFF
    with pytest.raises(ValueError):
        Moments.from_bytes(bytes(data))
    with pytest.raises(ValueError):
        Moments.from_bytes(b"")
    with pytest.raises(TypeError):
        Moments.from_bytes("PSMO")  # type: ignore[arg-type]


def test_repr_html_and_dict() -> None:
    m = Moments([1.0, 2.0, 3.0])
    assert repr(m) == "Moments(count=3, mean=2, std=1, min=1, max=3)"
    html = m._repr_html_()
    assert "<table" in html and ">variance<" in html and ">kurtosis<" in html
    d = m.to_dict()
    assert d["variance"] == 1.0 and d["skewness"] == 0.0 and d["sum"] == 6.0


def test_adds_release_the_gil_and_threads_give_the_same_answer() -> None:
    rng = np.random.default_rng(6)
    chunks = [rng.normal(i, 1.0, 200_000) for i in range(4)]
    results: list[Moments] = [Moments() for _ in chunks]

    def work(i: int) -> None:
        for _ in range(3):
            results[i] = Moments(chunks[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r, c in zip(results, chunks, strict=True):
        assert r == Moments(c)


def test_lag1_autocorrelation_errors() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        lag1_autocorrelation([1.0])
    with pytest.raises(ValueError, match="constant"):
        lag1_autocorrelation([2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match=r"values\[1\]"):
        lag1_autocorrelation([2.0, np.nan, 2.0])


def test_format_v1_fixture_still_reads_and_is_still_written() -> None:
    # Written by format version 1; changing what it holds must bump the version.
    fixture = (Path(__file__).parent / "fixtures" / "moments_v1.bin").read_bytes()
    x = np.array([1e9 + 0.25, 1e9 - 0.5, 1e9 + 0.125, 1e9 + 4.0])
    m = Moments.from_bytes(fixture)
    assert m.mean == pytest.approx(np.mean(x - 1e9) + 1e9, rel=1e-15)
    assert m.variance() == pytest.approx(np.var(x - 1e9, ddof=1), rel=1e-14)
    assert m == Moments(x)
    assert Moments(x).to_bytes() == fixture


# ---- issue 11: edited blobs, strides, scalars ---------------------------------------------

# Offsets of the fields after magic (4), version (1) and the size varint (1 byte when < 128).
_FIELDS = (
    "weight",
    "mean",
    "mean_lo",
    "m2",
    "m3",
    "m4",
    "min",
    "max",
    "sum_hi",
    "sum_lo",
)


def _with_crc(body: bytes) -> bytes:
    import zlib

    return body + zlib.crc32(body).to_bytes(4, "little")


def _edit(blob: bytes, field: str, value: float) -> bytes:
    import struct

    off = 6 + 8 * _FIELDS.index(field)
    body = blob[:-4]
    return _with_crc(body[:off] + struct.pack("<d", value) + body[off + 8 :])


def _assert_consistent(m: Moments) -> None:
    assert m.size > 0 or m.count == 0
    if m.count == 0:
        return
    scale = max(abs(m.min), abs(m.max))
    assert m.min - 1e-12 * scale <= m.mean <= m.max + 1e-12 * scale
    m2 = m._impl.m2
    assert m2 >= 0 and m._impl.m4 >= 0
    with np.errstate(over="ignore"):
        spread = np.float64(m.max) - np.float64(m.min)
        assert m2 <= m.count * spread**2 * (1 + 1e-9) + 1e-300
        lo, hi = np.float64(m.count) * m.min, np.float64(m.count) * m.max
    if np.isfinite(lo) and np.isfinite(hi):
        assert lo - 1e-9 * abs(lo) <= m.sum <= hi + 1e-9 * abs(hi)


def _samples() -> list[Moments]:
    rng = np.random.default_rng(21)
    return [
        Moments([3.0]),
        Moments(rng.normal(10, 2, 50)),
        Moments(rng.lognormal(0, 1, 20), weights=rng.uniform(0, 2, 20)),
        Moments([-5.0, 5.0, 1e6]),
    ]


def test_mean_outside_min_max_is_refused() -> None:
    blob = Moments([1.0, 2.0, 3.0]).to_bytes()
    with pytest.raises(ValueError, match="mean"):
        Moments.from_bytes(_edit(blob, "mean", 10.0))
    with pytest.raises(ValueError, match="M2"):
        Moments.from_bytes(_edit(blob, "m2", 1e300))
    with pytest.raises(ValueError, match="sum"):
        Moments.from_bytes(_edit(blob, "sum_hi", -1e300))


def test_edited_blobs_with_recomputed_crc_are_refused_or_consistent() -> None:
    hostile = [1e300, -1e300, 1.8e19, 0.0, -1.0, 1.0, 7.0, 1e-300, -0.5]
    accepted = rejected = 0
    for m in _samples():
        blob = m.to_bytes()
        for field in _FIELDS:
            for v in hostile:
                try:
                    got = Moments.from_bytes(_edit(blob, field, v))
                except ValueError:
                    rejected += 1
                    continue
                accepted += 1
                _assert_consistent(got)
    assert accepted > 0 and rejected > 0


def test_from_bytes_reads_a_strided_view() -> None:
    m = Moments([1.0, 2.0, 4.0])
    blob = m.to_bytes()
    spread = np.zeros(2 * len(blob), dtype=np.uint8)
    spread[::2] = np.frombuffer(blob, dtype=np.uint8)
    assert Moments.from_bytes(memoryview(spread)[::2]) == m


def test_fixture_still_loads_consistently() -> None:
    fixture = Path(__file__).resolve().parent / "fixtures" / "moments_v1.bin"
    _assert_consistent(Moments.from_bytes(fixture.read_bytes()))


def test_scalar_value_with_scalar_weight_is_a_one_element_array() -> None:
    a = Moments().add(np.float64(2.5), weights=np.float64(3.0))
    b = Moments().add(np.array([2.5]), weights=np.array([3.0]))
    assert a == b and a.count == 3.0
    c = Moments().add([1.0, 2.0, 4.0], weights=2.0)  # one weight for every value
    d = Moments().add([1.0, 2.0, 4.0], weights=[2.0, 2.0, 2.0])
    assert c == d


def test_sum_overflows_to_inf_not_nan_and_round_trips() -> None:
    m = Moments([1e308, 1e308])
    with np.errstate(over="ignore"):
        assert m.sum == np.sum(np.array([1e308, 1e308])) == np.inf  # as numpy.sum
    assert m.mean == 1e308  # the mean itself is representable
    one = Moments()
    for _ in range(3):
        one.add(1e308)
    assert one.sum == np.inf
    back = Moments.from_bytes(m.to_bytes())
    assert back.sum == np.inf and back == m
    neg = Moments([-1e308, -1e308])
    assert neg.sum == -np.inf


# ---- long_run_variance_ratio: Newey-West with the Newey-West (1994) bandwidth ------


def _nw94_bandwidth(x: np.ndarray) -> float:
    """Newey and West (1994), Bartlett kernel, written out independently: pre-bandwidth
    4 (n/100)^(2/9), s0 = g0 + 2 sum g_j, s1 = 2 sum j g_j, S = 1.1447 ((s1/s0)^2 n)^(1/3)."""
    n = x.size
    pre = int(4 * (n / 100) ** (2 / 9))
    g = [float(np.dot(x[j:], x[: n - j])) for j in range(pre + 1)]
    s0 = g[0] + 2 * sum(g[1:])
    s1 = 2 * sum(j * g[j] for j in range(1, pre + 1))
    return 1.1447 * ((s1 / s0) ** 2 * n) ** (1 / 3)


@pytest.mark.parametrize("kind", ["iid", "ma5", "ar0.7"])
def test_long_run_variance_ratio_matches_statsmodels_hac(kind: str) -> None:
    from statsmodels.stats.sandwich_covariance import S_hac_simple

    rng = np.random.default_rng(11)
    e = rng.normal(size=3000)
    if kind == "ma5":
        e = np.convolve(e, np.ones(5), "same")
    elif kind == "ar0.7":
        for i in range(1, e.size):
            e[i] += 0.7 * e[i - 1]
    x = e - e.mean()
    ratio, bandwidth = long_run_variance_ratio(x)
    assert bandwidth == pytest.approx(_nw94_bandwidth(x), rel=1e-12)
    lags = math.ceil(bandwidth) - 1
    expected = S_hac_simple(
        x, nlags=lags, weights_func=lambda m: 1 - np.arange(m + 1) / bandwidth
    )[0, 0] / float(x @ x)
    assert ratio == pytest.approx(expected, rel=1e-10)
    # and the ratio estimates the true long-run / marginal variance ratio
    truth = {"iid": 1.0, "ma5": 5.0, "ar0.7": (1 + 0.7) / (1 - 0.7)}[kind]
    assert 0.6 * truth < ratio < 1.2 * truth


def test_long_run_variance_ratio_edges() -> None:
    assert long_run_variance_ratio([1.0, -1.0]) == (1.0, 0.0)
    assert long_run_variance_ratio(np.zeros(50)) == (1.0, 0.0)
    with pytest.raises(ValueError, match=r"contrast\[2\]"):
        long_run_variance_ratio([0.1, 0.2, np.nan, 0.3])
    with pytest.raises(ValueError, match="1-D"):
        long_run_variance_ratio(np.zeros((3, 3)))
    ratio, bandwidth = long_run_variance_ratio(np.repeat([1.0, -1.0], 500), max_lag=10)
    assert bandwidth <= 11.0 and ratio > 1.0
