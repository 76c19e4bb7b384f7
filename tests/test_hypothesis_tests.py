"""Hypothesis tests against scipy.stats, statsmodels and NIST's certified ANOVA F."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower

import perfstats as ps
from perfstats import Moments

ALTERNATIVES = ["two-sided", "less", "greater"]
# Relative agreement with SciPy demanded everywhere below. Both sides evaluate the same
# closed forms in double precision (Boost.Math vs SciPy's special functions), so they
# differ by a few hundred ulps at worst; 1e-10 leaves room and still catches any
# formula or tail mistake.
REL = 1e-10


def close(ours: float, ref: float, rel: float = REL) -> bool:
    if math.isinf(ref) or math.isnan(ref):
        return ours == ref or (math.isnan(ours) and math.isnan(ref))
    return abs(ours - ref) <= rel * abs(ref) + 1e-300


def check_ttest(
    r: ps.TTestResult, s: Any, confidence: float, shift: float = 0.0
) -> None:
    """Compare with a SciPy result; `shift` turns SciPy's one-sample interval of the
    mean into ours of mean - mu."""
    ci = s.confidence_interval(confidence)
    ci = type(ci)(ci.low - shift, ci.high - shift)
    assert close(r.statistic, float(s.statistic)), (r.statistic, s.statistic)
    assert close(r.pvalue, float(s.pvalue)), (r.pvalue, s.pvalue)
    assert close(r.df, float(s.df)), (r.df, s.df)
    # CI ends sit at difference +- half-width and can be near 0: compare them on the
    # scale of the half-width.
    scale = abs(float(ci.high) - float(ci.low)) if np.isfinite(ci.high - ci.low) else 0
    for ours, ref in zip(r.ci, (float(ci.low), float(ci.high)), strict=True):
        if math.isinf(ref):
            assert ours == ref
        else:
            assert abs(ours - ref) <= REL * max(abs(ref), scale, r.std_error)


def samples(rng: np.random.Generator, t_target: float, offset: float) -> tuple:
    """Two normal samples shifted so that Welch's t is near t_target, then offset.

    The oracle sees (x + offset) - offset, the exact doubles we test, so any
    disagreement is ours."""
    na, nb = (int(v) for v in rng.integers(2, 400, 2))
    a = rng.normal(0.0, rng.uniform(0.01, 3.0), na)
    b = rng.normal(0.0, rng.uniform(0.01, 3.0), nb)
    se = math.sqrt(a.var(ddof=1) / na + b.var(ddof=1) / nb)
    a = a + t_target * se + offset
    b = b + offset
    return a, b, a - offset, b - offset


@pytest.mark.parametrize("offset", [0.0, 1e9])
@pytest.mark.parametrize(
    ("ours", "equal_var"), [(ps.welch_t_test, False), (ps.student_t_test, True)]
)
def test_two_sample_t_tests_match_scipy(
    ours: Callable[..., ps.TTestResult], equal_var: bool, offset: float
) -> None:
    rng = np.random.default_rng(10 if equal_var else 11)
    for i in range(60):
        t_target = rng.uniform(-40, 40) if i % 3 else rng.uniform(-3, 3)
        a, b, a0, b0 = samples(rng, t_target, offset)
        for alternative in ALTERNATIVES:
            confidence = [0.95, 0.9, 0.999][i % 3]
            s = stats.ttest_ind(a0, b0, equal_var=equal_var, alternative=alternative)
            if s.pvalue < 1e-300:
                continue
            r = ours(a, b, alternative=alternative, confidence=confidence)
            check_ttest(r, s, confidence)
            # Summaries give the same answer as the arrays.
            rm = ours(
                Moments(a), Moments(b), alternative=alternative, confidence=confidence
            )
            assert close(rm.statistic, r.statistic, 1e-13)
            assert close(rm.pvalue, r.pvalue, 1e-12)


def test_far_tail_pvalues_keep_their_relative_accuracy() -> None:
    rng = np.random.default_rng(12)
    smallest = 1.0
    for _ in range(40):
        n = int(rng.integers(300, 3000))
        a = rng.normal(0.0, 1.0, n)
        b = rng.normal(0.0, 1.0, n)
        se = math.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n)
        a += rng.uniform(30, 40) * se
        s = stats.ttest_ind(a, b, equal_var=False)
        if not s.pvalue > 1e-300:
            continue
        r = ps.welch_t_test(a, b)
        assert close(r.pvalue, float(s.pvalue)), (r.pvalue, s.pvalue)
        g = ps.welch_t_test(a, b, alternative="greater")
        assert close(g.pvalue, float(s.pvalue) / 2)
        smallest = min(smallest, r.pvalue)
    assert smallest < 1e-200  # the tail was really reached


def test_one_sample_and_paired_match_scipy() -> None:
    rng = np.random.default_rng(13)
    for i in range(40):
        n = int(rng.integers(2, 300))
        offset = [0.0, 1e9][i % 2]
        x = rng.normal(0.0, rng.uniform(0.01, 2.0), n)
        y = x + rng.normal(rng.uniform(-1, 1), rng.uniform(0.01, 1.0), n)
        x0, y0 = (x + offset) - offset, (y + offset) - offset
        mu = float(rng.uniform(-0.5, 0.5))
        for alternative in ALTERNATIVES:
            conf = [0.95, 0.8][i % 2]
            s = stats.ttest_1samp(x0, mu, alternative=alternative)
            r = ps.one_sample_t_test(x0, mu, alternative=alternative, confidence=conf)
            check_ttest(r, s, conf, shift=mu)
            s = stats.ttest_rel(x0, y0, alternative=alternative)
            r = ps.paired_t_test(
                x + offset, y + offset, alternative=alternative, confidence=conf
            )
            check_ttest(r, s, conf)


def test_log_scale_compares_geometric_means() -> None:
    rng = np.random.default_rng(14)
    a = rng.lognormal(4.0, 0.5, 400)
    b = rng.lognormal(4.1, 0.6, 300)
    r = ps.welch_t_test(a, b, log=True)
    s = stats.ttest_ind(np.log(a), np.log(b), equal_var=False)
    check_ttest(r, s, 0.95)
    gmean_ratio = stats.gmean(a) / stats.gmean(b)
    assert r.ratio == pytest.approx(gmean_ratio, rel=1e-12)
    assert r.relative_lift == pytest.approx(gmean_ratio - 1, rel=1e-11)
    ci = s.confidence_interval(0.95)
    assert r.ratio_ci == pytest.approx((math.exp(ci.low), math.exp(ci.high)), rel=1e-10)
    assert r.relative_lift_ci[0] == pytest.approx(math.exp(ci.low) - 1, rel=1e-10)
    s1 = stats.ttest_1samp(np.log(a), math.log(50.0))
    check_ttest(ps.one_sample_t_test(a, 50.0, log=True), s1, 0.95, math.log(50.0))
    sp = stats.ttest_rel(np.log(a[:300]), np.log(b))
    check_ttest(ps.paired_t_test(a[:300], b, log=True), sp, 0.95)
    assert ps.welch_t_test(a, b).ratio is None


def test_relative_lift_is_growthbooks_delta_method() -> None:
    rng = np.random.default_rng(15)
    a = rng.normal(110.0, 20.0, 500)
    b = rng.normal(100.0, 25.0, 700)
    r = ps.welch_t_test(a, b, confidence=0.9)
    # GrowthBook frequentist relative effect: (mean_t - mean_c) / mean_c with
    # var = var_t / (n_t mean_c^2) + var_c mean_t^2 / (n_c mean_c^4), and the same
    # t quantile as the absolute interval.
    ma, mb = a.mean(), b.mean()
    var = a.var(ddof=1) / (500 * mb**2) + b.var(ddof=1) * ma**2 / (700 * mb**4)
    crit = stats.t.ppf(0.95, r.df)
    assert r.relative_lift == pytest.approx(ma / mb - 1, rel=1e-12)
    lo, hi = r.relative_lift_ci
    assert lo == pytest.approx(ma / mb - 1 - crit * math.sqrt(var), rel=1e-10)
    assert hi == pytest.approx(ma / mb - 1 + crit * math.sqrt(var), rel=1e-10)
    assert ps.welch_t_test(a, b, alternative="greater").relative_lift_ci[1] == math.inf
    # Paired: the covariance of the pairs enters the delta method.
    p = ps.paired_t_test(a[:500], b[:500])
    ca = np.cov(a[:500], b[:500])
    mb5, ma5 = b[:500].mean(), a.mean()
    pv = (
        ca[0, 0] / mb5**2 + ma5**2 * ca[1, 1] / mb5**4 - 2 * ma5 * ca[0, 1] / mb5**3
    ) / 500
    crit = stats.t.ppf(0.975, 499)
    assert p.relative_lift_ci[1] - p.relative_lift == pytest.approx(
        crit * math.sqrt(pv), rel=1e-9
    )


def test_hedges_g() -> None:
    rng = np.random.default_rng(16)
    a = rng.normal(1.0, 2.0, 30)
    b = rng.normal(0.0, 1.5, 20)
    sp = math.sqrt((29 * a.var(ddof=1) + 19 * b.var(ddof=1)) / 48)
    j = 1 - 3 / (4 * 48 - 1)  # Hedges (1981) correction, df = 48
    expected = (a.mean() - b.mean()) / sp * j
    assert ps.welch_t_test(a, b).hedges_g == pytest.approx(expected, rel=1e-12)
    assert ps.student_t_test(a, b).hedges_g == pytest.approx(expected, rel=1e-12)
    d = a[:20] - b
    g = ps.paired_t_test(a[:20], b).hedges_g
    assert g == pytest.approx(d.mean() / d.std(ddof=1) * (1 - 3 / (4 * 19 - 1)))


def test_atmwtagt_pooled_t_squared_is_the_certified_f(shared_data: Path) -> None:
    text = (shared_data / "nist" / "anova" / "AtmWtAgt.dat").read_text()
    f_cert = float(re.search(r"Between Instrument\s+1\s+\S+\s+\S+\s+(\S+)", text)[1])  # type: ignore[index]
    rows = [line.split() for line in text.splitlines()[60:] if line.strip()]
    a = np.array([float(r[0]) for r in rows])
    b = np.array([float(r[1]) for r in rows])
    assert len(a) == len(b) == 24
    r = ps.student_t_test(a, b)
    lre = -math.log10(abs(r.statistic**2 - f_cert) / f_cert)
    assert lre >= 9  # certified to 15 digits; 7 constant leading digits in the data
    assert r.statistic == pytest.approx(3.99333614510386, rel=1e-9)
    assert r.df == 46


def test_mann_whitney_matches_scipy_asymptotic() -> None:
    rng = np.random.default_rng(17)
    for i in range(30):
        na, nb = (int(v) for v in rng.integers(1, 300, 2))
        # Rounded values make ties common.
        a = np.round(rng.normal(0.2 * (i % 4), 1.0, na), i % 3)
        b = np.round(rng.normal(0.0, 1.0, nb), i % 3)
        if np.all(np.concatenate([a, b]) == a[0]):
            continue
        for alternative in ALTERNATIVES:
            for continuity in (True, False):
                s = stats.mannwhitneyu(
                    a,
                    b,
                    alternative=alternative,
                    use_continuity=continuity,
                    method="asymptotic",
                )
                r = ps.mann_whitney_u(
                    a, b, alternative=alternative, use_continuity=continuity
                )
                assert r.statistic == float(s.statistic)
                assert close(r.pvalue, float(s.pvalue)), (r.pvalue, s.pvalue)
    # A far tail.
    a = np.arange(2000.0)
    s = stats.mannwhitneyu(a + 1500, a, method="asymptotic")
    assert close(ps.mann_whitney_u(a + 1500, a).pvalue, float(s.pvalue))


def test_srm_matches_scipy_chisquare() -> None:
    obs = np.array([50_210.0, 49_500.0, 25_100.0])
    w = np.array([2.0, 2.0, 1.0])
    s = stats.chisquare(obs, obs.sum() * w / w.sum())
    r = ps.srm_test(obs, w)
    assert close(r.statistic, float(s.statistic)) and close(r.pvalue, float(s.pvalue))
    assert r.df == 2 and not r.mismatch
    big = ps.srm_test([100_000, 102_000])
    assert big.mismatch and big.pvalue < 1e-5
    s2 = stats.chisquare([100_000, 102_000])
    assert close(big.pvalue, float(s2.pvalue))
    assert "mismatch   True" in repr(big) and big.to_dict()["mismatch"] is True
    for bad, match in [
        (([1, -1], None), r"observed_counts\[1\]"),
        (([1, 2], [1, 0]), r"expected_weights\[1\]"),
        (([1, 2], [1]), "length"),
        (([5],), "at least 2"),
        (([0, 0],), "all be 0"),
    ]:
        with pytest.raises(ValueError, match=match):
            ps.srm_test(*bad)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_power_and_sample_size_match_statsmodels(alternative: str) -> None:
    sm_alt = {"two-sided": "two-sided", "less": "smaller", "greater": "larger"}
    analysis = TTestIndPower()
    effect = -3.0 if alternative == "less" else 3.0
    for sd, n_a, n_b in [(10.0, 50, 50), (7.0, 20, 80), (20.0, 400, 200), (5.0, 3, 2)]:
        ours = ps.power(effect, sd, n_a, n_b, 0.05, alternative=alternative)
        ref = analysis.power(
            effect / sd, n_a, 0.05, ratio=n_b / n_a, alternative=sm_alt[alternative]
        )
        assert close(ours, float(ref), 1e-9), (ours, ref)
    for ratio in (1.0, 0.5, 3.0):
        n = ps.required_sample_size(
            effect, 10.0, 0.05, 0.8, ratio, alternative=alternative
        )
        ref = analysis.solve_power(
            effect / 10.0, None, 0.05, 0.8, ratio, alternative=sm_alt[alternative]
        )
        assert n == pytest.approx(float(ref), rel=1e-6)  # statsmodels' root tolerance
        achieved = ps.power(effect, 10.0, n, ratio * n, alternative=alternative)
        assert achieved == pytest.approx(0.8, rel=1e-12)


def test_bad_input_raises_clear_errors() -> None:
    a, b = [1.0, 2.0, 3.0], [2.0, 3.0, 5.0]
    with pytest.raises(ValueError, match="alternative"):
        ps.welch_t_test(a, b, alternative="two_sided")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        ps.welch_t_test(a, b, confidence=95)
    with pytest.raises(ValueError, match="sample a needs a count of at least 2"):
        ps.welch_t_test([1.0], b)
    with pytest.raises(ValueError, match="standard error"):
        ps.student_t_test([1.0, 1.0], [2.0, 2.0])
    with pytest.raises(ValueError, match=r"b\[1\] must be finite, got nan"):
        ps.welch_t_test(a, [1.0, math.nan])
    with pytest.raises(ValueError, match=r"a\[2\] must be finite, got inf"):
        ps.paired_t_test([1.0, 2.0, math.inf], b)
    with pytest.raises(ValueError, match=r"positive values: b\[0\]"):
        ps.welch_t_test(a, [0.0, 1.0], log=True)
    with pytest.raises(TypeError, match="raw values"):
        ps.welch_t_test(Moments(a), b, log=True)
    with pytest.raises(TypeError, match="raw pairs"):
        ps.paired_t_test(Moments(a), b)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same length"):
        ps.paired_t_test(a, [1.0, 2.0])
    with pytest.raises(ValueError, match="mu > 0"):
        ps.one_sample_t_test(a, -1.0, log=True)
    with pytest.raises(ValueError, match="mu must be finite"):
        ps.one_sample_t_test(a, math.inf)
    with pytest.raises(ValueError, match="every value is tied"):
        ps.mann_whitney_u([1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        ps.mann_whitney_u([], [1.0])
    with pytest.raises(ValueError, match=r"a\[0\] is NaN"):
        ps.mann_whitney_u([math.nan], [1.0])
    with pytest.raises(ValueError, match="sd must be finite and > 0"):
        ps.power(1.0, 0.0, 10, 10)
    with pytest.raises(ValueError, match="n_b must be finite and >= 2"):
        ps.power(1.0, 1.0, 10, 1)
    with pytest.raises(ValueError, match="alpha"):
        ps.power(1.0, 1.0, 10, 10, 1.5)
    with pytest.raises(ValueError, match="power must be in"):
        ps.required_sample_size(1.0, 1.0, power=1.0)
    with pytest.raises(ValueError, match="effect must be nonzero"):
        ps.required_sample_size(0.0, 1.0)
    with pytest.raises(ValueError, match="not reached"):
        ps.required_sample_size(-1.0, 1.0, alternative="greater")
    with pytest.raises(TypeError, match="real numbers"):
        ps.welch_t_test(["x", "y"], b)


def test_result_objects_print_and_convert() -> None:
    r = ps.welch_t_test([12.0, 14.0, 11.0, 13.0], [15.0, 17.0, 16.0, 18.0])
    d = r.to_dict()
    assert d["test"] == "Welch" and d["df"] == r.df and d["ci"] == r.ci
    assert d["ratio"] is None
    text = repr(r)
    assert text.startswith("Welch t-test (two-sided)\n  statistic ")
    assert "-4.38178" in text and "df " in text
    html = r._repr_html_()
    assert "<b>Welch t-test (two-sided)</b>" in html and ">pvalue</th>" in html
    m = ps.mann_whitney_u([1.0, 2.0], [3.0, 4.0])
    assert repr(m).startswith("Mann-Whitney U test\n  statistic    0")
    assert m.to_dict()["statistic"] == 0.0 and "<table" in m._repr_html_()
    assert "Sample-ratio mismatch" in ps.srm_test([10, 12])._repr_html_()


def test_power_and_sample_size_for_huge_standardized_effects() -> None:
    # Near-constant data (an sd of 1e-16 from rounding) gave a noncentral t with
    # nc ~ 1e13: Boost's series raised RuntimeError, which crashed compare().
    # Both sides of the shortcut (|nc| >= 40 |c|: 117 one-sided, 172 two-sided at df 2),
    # where statsmodels (SciPy's nct) gives a number (it returns NaN at some effects).
    for alt, sm_alt, effects in (
        ("greater", "larger", (5.0, 50.0, 100.0, 150.0, 200.0)),
        ("two-sided", "two-sided", (5.0, 40.0, 100.0, 171.0, 173.0, 200.0)),
    ):
        for effect in effects:
            ours = ps.power(effect, 1.0, 2, 2, alpha=0.05, alternative=alt)
            expected = TTestIndPower().power(
                effect, 2, 0.05, ratio=1.0, alternative=sm_alt
            )
            assert ours == pytest.approx(expected, abs=1e-12), (alt, effect)
    assert ps.power(1e13, 1.0, 2, 2, alpha=0.05, alternative="greater") == 1.0
    assert ps.power(-1e13, 1.0, 2, 2, alpha=0.05, alternative="greater") == 0.0
    assert ps.power(-1e13, 1.0, 2, 2, alpha=0.05, alternative="two-sided") == 1.0
    n = ps.required_sample_size(1e5, 1.0, alpha=0.025, power=0.9, alternative="greater")
    assert n == 2.0
    # compare() on a constant latency (log sd 8.9e-16 after rounding) and one failure
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=400, freq="s", tz="UTC"),
            "latency_ms": 100.0,
            "variant": ["a", "b"] * 200,
            "success": [True] * 399 + [False],
        }
    )
    c = ps.compare(
        ps.read_events(frame), baseline="a", metrics=["latency", "error_rate"]
    )
    assert set(c.table["metric"]) == {"latency", "error_rate"}
