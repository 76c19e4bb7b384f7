"""Change points: energy statistic and t-tests against NumPy/SciPy, detection, API."""

from __future__ import annotations

import itertools
import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from perfstats import (
    ChangePoint,
    ChangePoints,
    _core,
    detect_changepoints,
    detect_regressions,
)

METHODS = ["edivisive", "binseg", "pelt"]


def energy_naive(x: np.ndarray, tau: int) -> float:
    """Matteson and James' q(tau) with U-statistic within-sample means, O(n^2)."""
    a, b = x[:tau], x[tau:]
    m, k = len(a), len(b)
    cross = np.abs(a[:, None] - b[None, :]).mean()
    within_a = np.abs(a[:, None] - a[None, :]).sum() / (m * (m - 1))
    within_b = np.abs(b[:, None] - b[None, :]).sum() / (k * (k - 1))
    return m * k / (m + k) * (2 * cross - within_a - within_b)


@pytest.mark.parametrize("n", [4, 7, 50, 301])
def test_energy_statistic_matches_the_quadratic_definition(n: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.standard_t(3, size=n) * 40 + 1000  # heavy tails, large offset
    x[n // 3 :] += 25
    x[5 % n] = x[0]  # a tie
    q = _core.energy_statistic(x)
    assert q.shape == (n + 1,)
    expected = np.array([energy_naive(x, t) for t in range(2, n - 1)])
    # Fenwick sums against direct sums: rounding of O(n^2) terms, far below 1e-9.
    np.testing.assert_allclose(q[2 : n - 1], expected, rtol=1e-9, atol=1e-9)
    assert np.all(q[:2] == 0) and np.all(q[n - 1 :] == 0)


def test_reported_segments_match_numpy_and_scipy_welch() -> None:
    rng = np.random.default_rng(11)
    x = np.r_[rng.normal(10, 1, 80), rng.normal(10.6, 2, 60), rng.normal(9.5, 1, 90)]
    cps = detect_changepoints(x, model="mean", alpha=0.05, autocorrelation=False)
    assert len(cps) >= 1
    edges = [0, *(int(c.index) for c in cps), len(x)]
    for k, c in enumerate(cps):
        before, after = x[edges[k] : edges[k + 1]], x[edges[k + 1] : edges[k + 2]]
        assert c.mean_before == pytest.approx(before.mean(), rel=1e-12)
        assert c.mean_after == pytest.approx(after.mean(), rel=1e-12)
        assert c.relative_change == pytest.approx(
            (after.mean() - before.mean()) / abs(before.mean()), rel=1e-12
        )
        ref = stats.ttest_ind(after, before, equal_var=False)
        # Boost.Math and SciPy Student-t tails: agree to ~1e-12 relative here.
        assert c.pvalue == pytest.approx(ref.pvalue, rel=1e-9)
        assert c.pvalue < 0.05


def test_autocorrelation_shrinks_the_sample_sizes() -> None:
    rng = np.random.default_rng(5)
    e = np.zeros(400)
    for i in range(1, 400):  # AR(1), phi = 0.6
        e[i] = 0.6 * e[i - 1] + rng.normal()
    x = e + np.r_[np.zeros(200), np.full(200, 2.0)]
    (c,) = detect_changepoints(x, model="mean")
    assert abs(c.index - 200) <= 10
    # Oracle: rho from the robust lag-1 correlation of the differences (NumPy and
    # SciPy's MAD), then Welch's test with n (1 - rho) / (1 + rho) a side (SciPy t).
    d = np.diff(x)
    s_plus = stats.median_abs_deviation(d[1:] + d[:-1])
    s_minus = stats.median_abs_deviation(d[1:] - d[:-1])
    r = (s_plus**2 - s_minus**2) / (s_plus**2 + s_minus**2)
    rho = float(np.clip(1 + 2 * r, 0, 0.999))
    # The noise has rho = 0.6; a MAD-based correlation is noisy (about 37 % efficient)
    # and 1 + 2r doubles its error, so only a loose range is a fair check.
    assert 0.3 < rho < 0.9
    a, b = x[: c.index], x[c.index :]
    shrink = (1 - rho) / (1 + rho)
    na, nb = len(a) * shrink, len(b) * shrink
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    t = (b.mean() - a.mean()) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    assert c.pvalue == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-9)
    # Without the correction the same noise yields spurious extra changes.
    assert len(detect_changepoints(x, model="mean", autocorrelation=False)) > 1


@pytest.mark.parametrize("model", ["mean", "linear"])
def test_autocorrelated_noise_alone_is_not_split(model: str) -> None:
    false_with, false_without = 0, 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        e = np.zeros(500)
        for i in range(1, 500):
            e[i] = 0.7 * e[i - 1] + rng.normal()
        false_with += len(detect_changepoints(e, model=model))  # type: ignore[arg-type]
        false_without += len(
            detect_changepoints(e, model=model, autocorrelation=False)  # type: ignore[arg-type]
        )
    assert false_with <= 4 < 20 <= false_without


@pytest.mark.parametrize("method", METHODS)
def test_finds_a_single_shift(method: str) -> None:
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(100, 5, 300), rng.normal(110, 5, 300)]
    (c,) = detect_changepoints(x, method=method)  # type: ignore[arg-type]
    assert abs(c.index - 300) <= 5
    assert c.relative_change == pytest.approx(0.1, abs=0.02)
    assert c.pvalue < 1e-10


@pytest.mark.parametrize("method", METHODS)
def test_finds_several_shifts_on_every_method(method: str) -> None:
    rng = np.random.default_rng(2)
    levels = [0.0, 3.0, 1.0, 4.0, 0.5]
    x = np.concatenate([rng.normal(m, 1, 150) for m in levels])
    found = detect_changepoints(x, method=method).indices  # type: ignore[arg-type]
    assert len(found) == 4
    np.testing.assert_allclose(found, [150, 300, 450, 600], atol=5)


@pytest.mark.parametrize("method", METHODS)
def test_rarely_fires_on_white_noise(method: str) -> None:
    false = 0
    for seed in range(20):
        x = np.random.default_rng(100 + seed).normal(size=500)
        false += len(detect_changepoints(x, method=method))  # type: ignore[arg-type]
    # pvalue 0.001 per test, a few tests per series, selection of the best split:
    # a handful of false alarms over 20 series is the expected order, not dozens.
    assert false <= 4


def test_step_without_noise_is_exact_and_constant_has_none() -> None:
    x = np.r_[np.full(40, 2.0), np.full(40, 3.0)]
    for method in METHODS:
        (c,) = detect_changepoints(x, method=method)  # type: ignore[arg-type]
        assert (c.index, c.mean_before, c.mean_after, c.pvalue) == (40, 2.0, 3.0, 0.0)
        assert len(detect_changepoints(np.full(100, 7.0), method=method)) == 0  # type: ignore[arg-type]


def test_zero_baseline_gives_infinite_relative_change() -> None:
    x = np.r_[np.zeros(30), np.ones(30)]
    (c,) = detect_changepoints(x)
    assert c.relative_change == np.inf


def test_short_and_empty_series_have_no_change() -> None:
    assert len(detect_changepoints([])) == 0
    assert len(detect_changepoints([1.0, 5.0, 1.0], model="mean", min_size=2)) == 0
    assert len(detect_changepoints([1.0, 5.0, 1.0, 2.0, 3.0], min_size=3)) == 0
    assert len(detect_changepoints(np.r_[np.zeros(9), np.ones(10)])) == 0


def test_max_changepoints_keeps_the_most_significant() -> None:
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(m, 1, 100) for m in (0, 10, 11.5, 0)])
    assert len(detect_changepoints(x)) == 3
    (c,) = detect_changepoints(x, max_changepoints=1)
    assert c.index in (100, 300)


def test_timestamps_and_pandas_series() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(6)
    x = np.r_[rng.normal(1, 0.1, 50), rng.normal(2, 0.1, 50)]
    times = pd.date_range("2026-01-01", periods=100, freq="h")
    (c,) = detect_changepoints(x, times)
    assert c.time == times[c.index]
    (s,) = detect_changepoints(pd.Series(x, index=times))
    assert s.time == times[s.index]
    (r,) = detect_changepoints(x, list(range(1000, 1100)))
    assert r.time == 1000 + r.index and isinstance(r.time, int)


def test_detect_regressions_keeps_only_bad_changes() -> None:
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.normal(m, 1, 120) for m in (50, 40, 48, 48.8)])
    assert [c.index for c in detect_changepoints(x)][:2] == [120, 240]
    worse_up = detect_regressions(x, direction="increase", min_change=0.05)
    assert [c.index for c in worse_up] == [240]
    worse_down = detect_regressions(x, direction="decrease", min_change=0.05)
    assert [c.index for c in worse_down] == [120]
    assert len(detect_regressions(x, direction="increase", min_change=0.5)) == 0
    assert worse_up.options["direction"] == "increase"


@pytest.mark.parametrize(
    ("values", "kwargs", "error", "match"),
    [
        ([1.0, np.nan, 2.0], {}, ValueError, r"values\[1\]"),
        ([1.0, 2.0, np.inf], {}, ValueError, r"values\[2\]"),
        (np.zeros((3, 3)), {}, ValueError, "one-dimensional"),
        (["a", "b"], {}, TypeError, "numbers"),
        ("abc", {}, TypeError, "string"),
        (np.zeros(30), {"min_size": 1}, ValueError, "min_size"),
        (np.zeros(30), {"min_size": 2.5}, TypeError, "min_size"),
        (np.zeros(30), {"alpha": 0.0}, ValueError, "alpha"),
        (np.zeros(30), {"alpha": float("nan")}, ValueError, "alpha"),
        (np.zeros(30), {"penalty": -1.0}, ValueError, "penalty"),
        (np.zeros(30), {"method": "magic"}, ValueError, "method"),
        (np.zeros(30), {"model": "cubic"}, ValueError, "model"),
        (np.zeros(30), {"model": "linear", "method": "pelt"}, ValueError, "binseg"),
        (np.zeros(30), {"model": "linear", "min_size": 2}, ValueError, "min_size"),
        (np.zeros(30), {"max_changepoints": 0}, ValueError, "max_changepoints"),
        (np.zeros(30), {"timestamps": np.arange(29)}, ValueError, "timestamps"),
    ],
)
def test_bad_input_is_rejected_clearly(
    values: Any, kwargs: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        detect_changepoints(values, **kwargs)


def test_bad_regression_options() -> None:
    with pytest.raises(ValueError, match="direction"):
        detect_regressions(np.zeros(30), direction="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_change"):
        detect_regressions(np.zeros(30), min_change=-0.1)


def test_core_rejects_non_finite_values_itself() -> None:
    with pytest.raises(ValueError, match="not finite"):
        _core.detect_changepoints(
            np.array([1.0, np.nan] * 20),
            method="edivisive",
            min_size=5,
            pvalue=0.001,
            penalty=2.0,
            max_changepoints=0,
            autocorrelation=True,
        )


def test_result_object_renders() -> None:
    pd = pytest.importorskip("pandas")
    x = np.r_[np.full(20, 1.0), np.full(20, 2.0)] + np.tile([0.0, 0.01], 20)
    cps = detect_changepoints(x, np.arange(40) * 60)
    assert isinstance(cps, ChangePoints) and isinstance(cps[0], ChangePoint)
    text = repr(cps)
    assert re.search(r"changes +1\n", text) and re.search(r"\n +20 +1,200 ", text)
    assert "+99.5%" in text and re.search(r"model +linear\n", text)
    assert "slope_before" in text
    assert "<td>20</td>" in cps._repr_html_()
    assert repr(cps[0]).startswith("ChangePoint(index=20, time=1200, ")
    d = cps.to_dict()
    assert d["n"] == 40 and d["changepoints"][0]["index"] == 20
    assert d["changepoints"][0]["time"] == 1200
    frame = cps.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["index"]) == [20] and frame["pvalue"].iloc[0] < 1e-50
    assert cps.segments() == [(0, 20), (20, 40)]
    assert len(detect_changepoints(np.zeros(40)).to_frame()) == 0


def test_plot_returns_axes() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.r_[np.full(20, 1.0), np.full(20, 2.0)]
    ax = detect_changepoints(x).plot()
    assert len(ax.lines) == 1 + 2 + 1  # series, two segment means, one change line
    _fig, given_ax = plt.subplots()
    assert detect_changepoints(x, np.arange(40.0)).plot(ax=given_ax) is given_ax
    times = np.arange("2026-01-01", 40, dtype="datetime64[m]")
    assert len(detect_changepoints(x, times).plot().lines) == 4  # datetime axis too
    plt.close("all")


def test_threads_get_the_same_answers() -> None:
    # The core runs with the GIL released; concurrent calls must not interfere.
    rng = np.random.default_rng(9)
    series = [
        np.r_[rng.normal(0, 1, 3000), rng.normal(0.5 + i / 10, 1, 3000)]
        for i in range(4)
    ]
    expected = [list(detect_changepoints(s).indices) for s in series]
    got: list[list[int]] = [[] for _ in series]

    def work(i: int) -> None:
        for _ in range(3):
            got[i] = list(detect_changepoints(series[i]).indices)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        min_size=0,
        max_size=120,
    ),
    st.sampled_from(METHODS),
    st.integers(2, 15),
)
def test_segments_respect_min_size_and_are_deterministic(
    values: list[float], method: str, min_size: int
) -> None:
    cps = detect_changepoints(values, method=method, min_size=min_size, alpha=0.2)  # type: ignore[arg-type]
    idx = list(cps.indices)
    edges = [0, *idx, len(values)]
    assert len(values) >= 2 * min_size or not idx
    if idx:
        assert all(b - a >= min_size for a, b in itertools.pairwise(edges))
    assert all(0 <= c.pvalue < 0.2 for c in cps)
    again = detect_changepoints(values, method=method, min_size=min_size, alpha=0.2)  # type: ignore[arg-type]
    assert list(again.indices) == idx


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 1e4), st.floats(-1e5, 1e5))
def test_affine_rescaling_does_not_move_change_points(
    seed: int, scale: float, shift: float
) -> None:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(m, 1, 60) for m in rng.normal(0, 2, 3)])
    base = list(detect_changepoints(x).indices)
    assert list(detect_changepoints(x * scale + shift).indices) == base
    q = _core.energy_statistic(x)
    np.testing.assert_allclose(
        _core.energy_statistic(x * scale + shift), q * scale, rtol=1e-6, atol=1e-9
    )


# ---- piecewise-linear model -------------------------------------------------------


def ramps(
    slopes: list[float], each: int, sigma: float, seed: int, jump: float = 0.0
) -> np.ndarray:
    """Piecewise-linear path with the given slope per step on each segment."""
    rng = np.random.default_rng(seed)
    steps = np.concatenate([np.full(each, s) for s in slopes])
    level = np.concatenate([[0.0], np.cumsum(steps[:-1])])
    level += jump * (np.arange(len(steps)) // each)
    return level + rng.normal(0.0, sigma, len(steps))


def polyfit_rss(x: np.ndarray, a: int, b: int) -> float:
    t = np.arange(a, b, dtype=np.float64)
    coef = np.polyfit(t, x[a:b], 1)
    return float(np.sum((x[a:b] - np.polyval(coef, t)) ** 2))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        min_size=3,
        max_size=80,
    ),
    st.data(),
)
def test_linear_cost_matches_numpy_polyfit_residuals(
    values: list[float], data: Any
) -> None:
    x = np.asarray(values)
    a = data.draw(st.integers(0, len(x) - 3))
    b = data.draw(st.integers(a + 3, len(x)))
    want = polyfit_rss(x, a, b)
    # Both are least squares in double precision; polyfit goes through an SVD of the
    # Vandermonde matrix, we through centred two-pass sums: agreement to ~1e-9 of
    # the total sum of squares, which bounds the cancellation in either.
    tss = float(np.sum((x[a:b] - x[a:b].mean()) ** 2))
    assert _core.linear_segment_cost(x, a, b) == pytest.approx(
        want, abs=1e-9 * tss + 1e-12
    )


def test_linear_cost_edges_and_errors() -> None:
    x = np.arange(10.0) * 3 - 7
    assert _core.linear_segment_cost(x, 0, 10) == pytest.approx(0.0, abs=1e-20)
    assert _core.linear_segment_cost(x, 3, 5) == 0.0
    with pytest.raises(ValueError, match="start"):
        _core.linear_segment_cost(x, 5, 3)
    with pytest.raises(ValueError, match="end"):
        _core.linear_segment_cost(x, 0, 11)


def test_linear_model_finds_known_slope_changes() -> None:
    x = ramps([0.0, 0.2, -0.1, 0.05], 250, 1.0, seed=21)
    cps = detect_changepoints(x)
    assert cps.options["model"] == "linear" and cps.options["method"] == "binseg"
    assert len(cps) == 3
    for c, truth in zip(cps, [250, 500, 750], strict=True):
        # A kink is located to about (sigma / slope change)^(2/3) ~ 5-10 steps.
        assert abs(c.index - truth) <= 20
    # Reported slopes and means against NumPy on the reported segments.
    edges = [0, *(c.index for c in cps), len(x)]
    for k, c in enumerate(cps):
        a, b, e = edges[k], edges[k + 1], edges[k + 2]
        before = np.polyfit(np.arange(a, b, dtype=float), x[a:b], 1)[0]
        after = np.polyfit(np.arange(b, e, dtype=float), x[b:e], 1)[0]
        assert c.slope_before == pytest.approx(before, rel=1e-9, abs=1e-12)
        assert c.slope_after == pytest.approx(after, rel=1e-9, abs=1e-12)
        assert c.mean_before == pytest.approx(x[a:b].mean(), rel=1e-12)
    # True slopes; the standard error of a slope over 250 steps is ~0.0009.
    assert [c.slope_after for c in cps] == pytest.approx([0.2, -0.1, 0.05], abs=0.01)


def test_linear_model_p_values_are_chow_tests() -> None:
    x = ramps([0.05, -0.05], 150, 1.0, seed=22, jump=1.0)
    (c,) = detect_changepoints(x)
    a, b, e = 0, c.index, len(x)
    pooled = polyfit_rss(x, a, e)
    separate = polyfit_rss(x, a, b) + polyfit_rss(x, b, e)
    df = e - a - 4
    f = (pooled - separate) / 2 / (separate / df)
    # Boost.Math and SciPy F tails agree to ~1e-12 relative; the RSS to ~1e-12.
    assert c.pvalue == pytest.approx(stats.f.sf(f, 2, df), rel=1e-6)


def test_a_trend_is_one_segment_for_the_linear_model_only() -> None:
    rng = np.random.default_rng(23)
    x = 0.02 * np.arange(600.0) + rng.normal(0.0, 1.0, 600)
    assert len(detect_changepoints(x)) == 0
    # The mean model cuts a clean trend into steps.
    assert len(detect_changepoints(x, model="mean", autocorrelation=False)) > 1


def test_linear_model_finds_steps_too_and_caps_changes() -> None:
    rng = np.random.default_rng(24)
    x = np.r_[rng.normal(0, 1, 200), rng.normal(3, 1, 200), rng.normal(1, 1, 200)]
    assert [c.index for c in detect_changepoints(x)] == [200, 400]
    (c,) = detect_changepoints(x, max_changepoints=1)
    assert c.index == 200


def test_detect_regressions_stays_on_the_mean_model() -> None:
    rng = np.random.default_rng(25)
    ms = np.r_[rng.normal(50, 2, 150), rng.normal(60, 2, 150)]
    found = detect_regressions(ms)
    assert found.options["model"] == "mean"
    assert found.options["method"] == "edivisive"
    assert [c.index for c in found] == [150]


def test_linear_plot_draws_segment_lines() -> None:
    import matplotlib

    matplotlib.use("Agg")
    x = ramps([0.0, 0.3], 60, 0.5, seed=26)
    cps = detect_changepoints(x)
    ax = cps.plot()
    labels = [line.get_label() for line in ax.lines]
    assert "segment line" in labels


def test_default_settings_clear_the_tcpd_bars_on_the_series_we_have(
    shared_data: Path,
) -> None:
    # The bars (mean F1 >= 0.75, mean cover >= 0.70) with default settings,
    # scored by TCPDBench's own metrics (checked against its test vectors in
    # test_tcpd_scoring.py). Multi-column series: union of the columns' changes.
    from perfstats.stats.scoring import tcpd_cover, tcpd_f1

    root = shared_data / "changepoint/tcpd"
    annotations = json.loads((root / "annotations.json").read_text())
    f1s, covers = [], []
    for name, ann in sorted(annotations.items()):
        data = json.loads((root / "datasets" / name / f"{name}.json").read_text())
        found = sorted(
            {
                c.index
                for column in data["series"]
                for c in detect_changepoints(np.asarray(column["raw"], dtype=float))
            }
        )
        merged: list[int] = []
        for i in found:
            if not merged or i - merged[-1] >= 10:
                merged.append(i)
        f1s.append(tcpd_f1(ann, merged).f1)
        covers.append(tcpd_cover(ann, merged, n_obs=int(data["n_obs"])))
    assert np.mean(f1s) >= 0.75
    assert np.mean(covers) >= 0.70


def test_pvalue_is_a_deprecated_name_of_alpha() -> None:
    # issue 12: one vocabulary (alpha); the old keyword gives the same answer, warned
    rng = np.random.default_rng(7)
    x = np.r_[rng.normal(0, 1, 60), rng.normal(3, 1, 60)]
    new = detect_changepoints(x, model="mean", alpha=0.05, autocorrelation=False)
    with pytest.warns(DeprecationWarning, match="pvalue= is deprecated"):
        old = detect_changepoints(x, model="mean", pvalue=0.05, autocorrelation=False)
    assert [c.index for c in old] == [c.index for c in new]
    with pytest.warns(DeprecationWarning, match="pvalue= is deprecated"):
        reg = detect_regressions(x, pvalue=0.05, autocorrelation=False)
    assert [c.index for c in reg] == [
        c.index for c in detect_regressions(x, alpha=0.05, autocorrelation=False)
    ]
    with pytest.raises(ValueError, match="alpha"):
        detect_changepoints(x, alpha=0.0)
    with pytest.raises(TypeError, match="not both"):
        detect_changepoints(x, alpha=0.05, pvalue=0.05)
