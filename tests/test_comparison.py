"""compare against SciPy's Welch test, statsmodels' Holm correction and planted effects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.multitest import multipletests

from perfstats import compare, welch_t_test
from perfstats.analysis.comparison import INDEPENDENT, holm


def ab_events(
    n: int = 20_000,
    *,
    split: float = 0.5,
    latency_factor: float = 1.0,
    error_b: float = 0.02,
    seed: int = 0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < split, "control", "treatment")
    b = arm == "treatment"
    lat = rng.lognormal(np.log(900), 0.6, n) * np.where(b, latency_factor, 1.0)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-02-01", periods=n, freq="s", tz="UTC"),
            "variant": arm,
            "latency_ms": lat,
            "success": rng.random(n) > np.where(b, error_b, 0.02),
            "input_tokens": rng.integers(100, 1000, n).astype(float),
            "output_tokens": rng.integers(10, 500, n).astype(float),
            "cost_usd": rng.gamma(2.0, 0.001, n),
        }
    )


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed: int) -> None:
    p = np.random.default_rng(seed).uniform(0, 0.2, 7)
    expected = multipletests(p, method="holm")[1]
    np.testing.assert_allclose(holm(p), expected, rtol=1e-15)


def test_each_metric_is_scipy_welch_and_holm_adjusted() -> None:
    ev = ab_events(latency_factor=1.03, seed=1)
    c = compare(ev)
    a, b = ev[ev.variant == "treatment"], ev[ev.variant == "control"]
    ok_a, ok_b = a[a.success], b[b.success]
    ka, kb = int((~a.success).sum()), int((~b.success).sum())
    tok_a = a.input_tokens + a.output_tokens
    tok_b = b.input_tokens + b.output_tokens

    def score(value: float, alternative: str = "two-sided") -> float:
        return float(
            sm_proportion.test_proportions_2indep(
                ka, len(a), kb, len(b), value=value, method="score",
                compare="diff", correction=False, alternative=alternative,
            ).pvalue
        )  # fmt: skip

    la, lb = np.log(ok_a.latency_ms), np.log(ok_b.latency_ms)
    raw = {
        "latency": stats.ttest_ind(la, lb, equal_var=False).pvalue,
        "error_rate": score(0.0),
        "tokens": stats.ttest_ind(tok_a, tok_b, equal_var=False).pvalue,
        "cost_per_request": stats.ttest_ind(
            a.cost_usd, b.cost_usd, equal_var=False
        ).pvalue,
    }
    t = c.table.set_index("metric")
    for metric, p in raw.items():
        assert t.loc[metric, "pvalue"] == pytest.approx(p, rel=1e-9)
    # the ship family: superiority of the primary, non-inferiority of the guardrails
    # (a relative margin m is the Welch test of a against (1 + m) b)
    one_sided = {
        "latency": stats.ttest_ind(la, lb, equal_var=False, alternative="less").pvalue,
        "error_rate": score(0.005, "smaller"),
        "tokens": stats.ttest_ind(
            tok_a, 1.05 * tok_b, equal_var=False, alternative="less"
        ).pvalue,
        "cost_per_request": stats.ttest_ind(
            a.cost_usd, 1.05 * b.cost_usd, equal_var=False, alternative="less"
        ).pvalue,
    }
    names = list(one_sided)
    np.testing.assert_allclose(
        t.loc[names, "pvalue_adjusted"],
        multipletests([one_sided[m] for m in names], method="holm")[1],
        rtol=1e-7,
    )
    gm = np.exp(np.log(ok_a.latency_ms).mean() - np.log(ok_b.latency_ms).mean()) - 1
    assert t.loc["latency", "relative_lift"] == pytest.approx(gm, rel=1e-10)
    lo, hi = t.loc["latency", ["lift_low", "lift_high"]]
    assert lo < gm < hi
    assert list(t["role"]) == ["primary"] + ["guardrail"] * 3 + ["reported"] * 3


def test_faster_variant_ships_slower_rolls_back() -> None:
    # 20k per arm: enough to show the error rate within its 0.5-point margin
    faster = compare(ab_events(40_000, latency_factor=0.85))
    assert faster.verdicts == {"treatment": "ship"}, faster.reasons
    c = compare(ab_events(latency_factor=1.15))
    assert c.verdicts == {"treatment": "roll back"}
    assert "latency" in c.reasons["treatment"]
    worse_errors = compare(ab_events(error_b=0.06))
    assert (
        worse_errors.table.set_index("metric").loc["error_rate", "verdict"] == "worse"
    )


def test_small_sample_keeps_running_and_large_aa_is_no_difference() -> None:
    small = compare(ab_events(n=300, seed=3))
    assert small.verdicts == {"treatment": "keep running"}
    assert not small.table["sample_size_met"].all()
    # Old semantics shipped an A/A test once every metric was "powered"; now nothing
    # moving is its own finding: every metric equivalent within its margin (TOST).
    aa = compare(ab_events(n=60_000, seed=4), minimum_detectable_effect=0.3)
    assert aa.verdicts == {"treatment": "no difference"}
    tested = aa.table[aa.table.role != "reported"]
    assert set(tested["verdict"]) <= {"no difference", "non-inferior"}


def test_required_sample_size_is_the_power_calculation() -> None:
    from statsmodels.stats.power import TTestIndPower

    ev = ab_events(seed=5)
    c = compare(ev, minimum_detectable_effect=0.05, power=0.8, alpha=0.05)
    t = c.table.set_index("metric")
    row = t.loc["cost_per_request"]
    base = ev.loc[ev.variant == "control", "cost_usd"]
    # guardrail: non-inferiority within 5 % when unchanged, one-sided at alpha / m
    # (m = 4 hypotheses in the ship family), power 1 - 0.2 / 4 for each of the 4 tests
    # a ship needs, so that P(ship) >= 80 % at the planned size.
    d = 0.05 * base.mean() / base.std(ddof=1)
    ratio = row["n_baseline"] / row["n"]
    expected = TTestIndPower().solve_power(
        d, alpha=0.05 / 4, power=0.95, ratio=ratio, alternative="larger"
    )
    assert row["required_n"] == int(np.ceil(expected))
    lat = t.loc["latency"]
    ok = ev[(ev.variant == "control") & ev.success]
    d_lat = -np.log(0.95) / np.log(ok.latency_ms).std(ddof=1)
    expected = TTestIndPower().solve_power(
        d_lat, alpha=0.05 / 4, power=0.95, ratio=lat["n_baseline"] / lat["n"],
        alternative="larger",
    )  # fmt: skip
    assert lat["required_n"] == max(int(np.ceil(expected)), 100)


def test_sample_ratio_mismatch_overrides_everything() -> None:
    ev = ab_events(split=0.9, latency_factor=0.8, seed=7)
    # 2,000 treatment requests show error rate and cost within 2 points and 10 %,
    # not within the default 0.5 points and 5 %
    wide = {"error_rate": 0.02, "cost_per_request": 0.1}
    ok = compare(ev, planned_split={"control": 0.9, "treatment": 0.1}, margins=wide)
    assert ok.srm is not None and not ok.srm.mismatch
    assert ok.verdicts["treatment"] == "ship"
    bad = compare(ev, planned_split={"control": 0.5, "treatment": 0.5}, margins=wide)
    assert bad.srm is not None and bad.srm.mismatch
    assert bad.verdicts["treatment"] == "roll back"
    assert "sample ratio mismatch" in bad.reasons["treatment"]


def test_missing_metrics_and_bad_input() -> None:
    ev = ab_events(2000)[["timestamp", "variant", "latency_ms"]]
    c = compare(ev)
    assert list(c.table["metric"]) == [
        "latency",
        *(f"latency_p{q}" for q in (50, 95, 99)),
    ]
    assert {"error_rate", "tokens", "cost_per_request"} <= set(c.missing)
    with pytest.raises(ValueError, match="no 'arm' column"):
        compare(ev, by="arm")
    with pytest.raises(ValueError, match="baseline 'x'"):
        compare(ev, baseline="x")
    with pytest.raises(ValueError, match="at least two"):
        compare(ev[ev.variant == "control"])
    with pytest.raises(ValueError, match="unknown metric"):
        compare(ev, metrics=["speed"])
    with pytest.raises(ValueError, match="no events"):
        compare(ev, planned_split={"control": 0.5, "other": 0.5})


def test_no_errors_in_either_arm_is_no_difference() -> None:
    ev = ab_events(5000)
    ev["success"] = True
    row = compare(ev).table.set_index("metric").loc["error_rate"]
    assert row["pvalue"] == 1.0 and row["verdict"] == "no difference"


def test_outputs() -> None:
    c = compare(ab_events(3000, latency_factor=0.9))
    d = json.loads(c.to_json())
    assert d["baseline"] == "control" and len(d["metrics"]) == 7
    assert "SHIP" in repr(c) or "KEEP RUNNING" in repr(c) or "ROLL BACK" in repr(c)
    assert "<table" in c._repr_html_()
    ax = c.plot()
    assert len(ax.get_yticklabels()) == 7


def test_plot_rates_is_each_arms_wilson_interval_even_at_zero_errors() -> None:
    # Three arms; the baseline has no failed request, so every error-rate ratio is
    # undefined (NaN), but each arm's rate has a Wilson interval (notebook 02, issue 14).
    ev = ab_events(6000, seed=3)
    ev["variant"] = np.array(["a", "b", "c"])[np.arange(len(ev)) % 3]
    ev.loc[ev["variant"] == "a", "success"] = True
    c = compare(ev, baseline="a", metrics=["latency", "error_rate"])
    rows = c.table[c.table["metric"] == "error_rate"]
    assert rows["relative_lift"].isna().all()
    ax = c.plot_rates()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    frame = ev.groupby("variant")["success"].agg(["size", "sum"])
    errors = frame["size"] - frame["sum"]
    assert labels == [f"{v}: {errors[v]:,} of {frame['size'][v]:,}" for v in "abc"]
    lo, hi = sm_proportion.proportion_confint(
        errors.to_numpy(), frame["size"].to_numpy(), alpha=0.05, method="wilson"
    )
    drawn = [line.get_xdata() for line in ax.lines]
    np.testing.assert_allclose(drawn, 100 * np.column_stack([lo, hi]), rtol=1e-9)
    assert abs(drawn[0][0]) < 1e-12 and drawn[0][1] > 0.1  # 0 of 2,000: [0, 0.19 %]
    # the forest plot: no empty rows; undefined ratios are said so on the row
    ax = c.plot(metrics=["latency"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b: latency", "c: latency"]
    ax = c.plot()
    assert sum("undefined" in t.get_text() for t in ax.texts) == 2
    with pytest.raises(ValueError, match=r"metrics.*tokens"):
        c.plot(metrics=["tokens"])
    with pytest.raises(ValueError, match="no error_rate"):
        compare(ev, baseline="a", metrics=["latency"]).plot_rates()


def test_small_arms_have_real_intervals_and_no_verdict() -> None:
    # 19 requests per arm, no errors: the old code gave "-100 % (CI -100 % to -100 %)"
    ev = ab_events(38, error_b=0.0, seed=8)
    ev["success"] = True
    c = compare(ev)
    row = c.table.set_index("metric").loc["error_rate"]
    n_a, n_b = int(row["n"]), int(row["n_baseline"])
    expected = sm_proportion.confint_proportions_2indep(
        0, n_a, 0, n_b, compare="diff", method="newcomb"
    )
    assert (row["difference_low"], row["difference_high"]) == pytest.approx(expected)
    assert row["difference_high"] - row["difference_low"] > 0.2
    assert np.isnan(row["relative_lift"])  # no errors in the baseline: no ratio
    assert c.verdicts == {"treatment": "keep running"}
    assert "too few requests" in c.reasons["treatment"]


def test_quantile_lift_is_order_statistics_with_binomial_ranks() -> None:
    ev = ab_events(6000, latency_factor=0.9, seed=9)
    c = compare(ev, confidence=0.9)
    row = c.table.set_index("metric").loc["latency_p95"]
    ok = ev[ev.success]
    a = np.sort(ok.loc[ok.variant == "treatment", "latency_ms"].to_numpy())
    b = np.sort(ok.loc[ok.variant == "control", "latency_ms"].to_numpy())
    assert row["relative_lift"] == pytest.approx(
        np.quantile(a, 0.95) / np.quantile(b, 0.95) - 1
    )
    g = 1 - np.sqrt(1 - 0.1 / 2)  # each arm's one-sided miss, combined conservatively

    def bounds(x: np.ndarray) -> tuple[float, float]:
        n = x.size
        k = int(stats.binom.ppf(1 - g, n, 0.95)) + 1  # P(X_(k) >= Q) >= 1 - g
        j = int(stats.binom.ppf(g, n, 0.95))  # P(X_(j) <= Q) >= 1 - g
        if stats.binom.cdf(j, n, 0.95) <= g:
            j += 1
        return float(x[j - 1]), float(x[k - 1])

    (la, ua), (lb, ub) = bounds(a), bounds(b)
    assert row["lift_low"] == pytest.approx(la / ub - 1)
    assert row["lift_high"] == pytest.approx(ua / lb - 1)
    assert row["role"] == "reported"
    # a quantile may be the primary metric
    tail = compare(ev, primary=("latency_p95",), margins={"error_rate": 0.03})
    t = tail.table.set_index("metric")
    assert t.loc["latency_p95", "role"] == "primary"
    assert t.loc["latency_p95", "verdict"] == "better"


def test_sequential_intervals_are_wider_and_valid_at_every_look() -> None:
    ev = ab_events(8000, latency_factor=0.9, seed=10)
    fixed = compare(ev).table.set_index("metric")
    seq = compare(ev, sequential=True).table.set_index("metric")
    for m in ("latency", "tokens", "cost_per_request"):
        assert seq.loc[m, "lift_low"] < fixed.loc[m, "lift_low"]
        assert seq.loc[m, "lift_high"] > fixed.loc[m, "lift_high"]
    assert (
        seq.loc["error_rate", "difference_high"]
        - seq.loc["error_rate", "difference_low"]
        > fixed.loc["error_rate", "difference_high"]
        - fixed.loc["error_rate", "difference_low"]
    )
    assert (
        seq.loc["latency", "pvalue_adjusted"] > fixed.loc["latency", "pvalue_adjusted"]
    )
    with pytest.raises(ValueError, match="quantile metrics cannot"):
        compare(ev, sequential=True, primary=("latency_p95",))


def test_roles_and_margins_are_checked() -> None:
    ev = ab_events(2000)
    with pytest.raises(ValueError, match="both primary and guardrail"):
        compare(ev, primary=("latency",), guardrails=("latency",))
    with pytest.raises(ValueError, match="unknown metric 'speed'"):
        compare(ev, primary=("speed",))
    with pytest.raises(ValueError, match=r"margins\['tokens'\]"):
        compare(ev, margins={"tokens": -0.1})
    with pytest.raises(ValueError, match="margins: unknown metric"):
        compare(ev, margins={"speed": 0.1})
    c = compare(ev, primary=("cost_per_request",), guardrails=("latency",))
    roles = c.table.set_index("metric")["role"].to_dict()
    assert roles["cost_per_request"] == "primary" and roles["latency"] == "guardrail"
    assert roles["tokens"] == "reported"


def test_guardrail_beyond_its_margin_blocks_ship() -> None:
    # latency 20 % better, but 3 points more errors: the old verdict shipped it
    ev = ab_events(40_000, latency_factor=0.8, error_b=0.05, seed=11)
    c = compare(ev)
    assert c.verdicts == {"treatment": "roll back"}
    assert "error_rate" in c.reasons["treatment"]


@pytest.mark.parametrize("seed", range(3))
def test_newcombe_interval_matches_statsmodels(seed: int) -> None:
    from perfstats.stats.intervals import newcombe_difference_interval

    rng = np.random.default_rng(seed)
    for _ in range(20):
        na, nb = rng.integers(1, 500, 2)
        ka, kb = rng.integers(0, na + 1), rng.integers(0, nb + 1)
        expected = sm_proportion.confint_proportions_2indep(
            ka, na, kb, nb, compare="diff", method="newcomb", alpha=0.1
        )
        got = newcombe_difference_interval(ka, na, kb, nb, confidence=0.9)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_rate_ratio_interval_covers_and_never_collapses() -> None:
    from perfstats.stats.intervals import rate_ratio_interval

    rng = np.random.default_rng(12)
    pa, pb, n = 0.03, 0.02, 400
    hits = 0
    reps = 1000
    for _ in range(reps):
        lo, hi = rate_ratio_interval(
            rng.binomial(n, pa), n, rng.binomial(n, pb), n, confidence=0.9
        )
        hits += lo <= pa / pb <= hi
    # 90 % nominal; tolerance 3 binomial standard errors of 1,000 runs
    assert hits / reps >= 0.9 - 3 * np.sqrt(0.09 / reps)
    lo, hi = rate_ratio_interval(0, 19, 2, 19)
    assert lo == 0.0 and 0.5 < hi < np.inf
    assert rate_ratio_interval(2, 19, 0, 19)[1] == np.inf


def test_distribution_functions_match_scipy() -> None:
    from perfstats._special import binom_cdf, binom_ppf, t_sf

    rng = np.random.default_rng(13)
    for _ in range(300):
        t, df = rng.normal(0, 3), rng.uniform(1, 500)
        assert t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-9, abs=1e-14)
        n = int(rng.integers(1, 5000))
        p, k = rng.uniform(0.001, 0.999), int(rng.integers(0, n + 1))
        assert binom_cdf(k, n, p) == pytest.approx(stats.binom.cdf(k, n, p), abs=1e-11)
        level = rng.uniform(1e-6, 1 - 1e-6)
        assert binom_ppf(level, n, p) == stats.binom.ppf(level, n, p)


# ---- dependent requests: clustered by the randomisation unit, or Newey-West in time --


def session_events(
    n: int, seed: int, *, lat: float = 1.0, mean_length: float = 20.0
) -> pd.DataFrame:
    """Requests in time order, in sessions (geometric lengths) that keep one arm and
    one latency level: assignment by user."""
    rng = np.random.default_rng(seed)
    session = np.cumsum(rng.random(n) < 1.0 / mean_length)
    k = int(session[-1]) + 1
    v2 = (rng.random(k) < 0.5)[session]
    level = rng.normal(0.0, 0.3, k)[session]
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-03-01", periods=n, freq="20s", tz="UTC"),
            "session_id": session.astype(str),
            "variant": np.where(v2, "v2", "control"),
            "latency_ms": rng.lognormal(np.log(800.0), 0.5, n)
            * np.exp(level)
            * np.where(v2, lat, 1.0),
            "success": rng.random(n) > 0.02,
        }
    )


def test_clustered_latency_test_is_statsmodels_cluster_robust_ols() -> None:
    import statsmodels.api as sm

    ev = session_events(3000, seed=3, lat=0.95)
    c = compare(ev, unit="session_id")
    assert c.unit == "clustered by session_id"
    row = c.table.set_index("metric").loc["latency"]
    ok = ev[ev.success]
    x = sm.add_constant((ok.variant == "v2").to_numpy(dtype=float))
    fit = sm.OLS(np.log(ok.latency_ms.to_numpy()), x).fit(
        cov_type="cluster",
        cov_kwds={"groups": ok.session_id.astype(int).to_numpy()},
        use_t=True,
    )
    # same sandwich; statsmodels' CR1 also has (N - 1) / (N - K) and df G - 1 where
    # perfstats keeps Welch's ddof: they differ by O(1/N) relative
    assert row["pvalue"] == pytest.approx(fit.pvalues[1], rel=5e-3)
    np.testing.assert_allclose(
        row[["lift_low", "lift_high"]].to_numpy(dtype=float),
        np.expm1(fit.conf_int()[1]),
        rtol=5e-3,
    )


def test_unit_is_found_when_each_session_stays_in_one_arm() -> None:
    ev = session_events(2000, seed=4)
    assert compare(ev).unit == "clustered by session_id"
    assert compare(ev, unit=None).unit == INDEPENDENT
    assert compare(ev).to_dict()["unit"] == "clustered by session_id"
    # requests randomised one by one: a user's requests span both arms, no clustering
    per_request = ab_events(4000, seed=2)
    per_request["user_id"] = np.arange(4000) % 50
    auto = compare(per_request)
    assert auto.unit == INDEPENDENT
    (warning,) = auto.warnings
    assert warning.startswith("50 user_id values appear in more than one variant")
    assert "unit='auto' does not cluster by user_id" in warning


def test_unit_errors_name_the_column_and_row() -> None:
    ev = session_events(500, seed=5)
    with pytest.raises(ValueError, match="unit='user': the events have no such column"):
        compare(ev, unit="user")
    ev.loc[7, "session_id"] = None
    with pytest.raises(
        ValueError, match=r"'session_id' is empty in 1 row.*first row 7"
    ):
        compare(ev, unit="session_id")


def test_clustering_widens_only_what_depends() -> None:
    """Sessions that keep their arm: the cluster-robust interval is wider than the
    independent one (the A/A false-ship rate fell from 31 % to 5 %, see the
    calibration row); requests randomised one by one under a shared drift: the
    Newey-West factor stays near 1, so the interval barely moves."""

    def widths(ev: pd.DataFrame) -> tuple[float, float]:
        row = compare(ev).table.set_index("metric").loc["latency"]
        ok = ev[ev.success]
        iid = welch_t_test(
            ok.latency_ms[ok.variant != "control"].to_numpy(),
            ok.latency_ms[ok.variant == "control"].to_numpy(),
            log=True,
        ).relative_lift_ci
        return row.lift_high - row.lift_low, iid[1] - iid[0]

    clustered, independent = widths(session_events(4000, seed=6))
    assert clustered > 2.0 * independent
    drift = ab_events(20_000, seed=7)
    t = np.arange(len(drift))
    drift["latency_ms"] *= np.exp(0.3 * np.sin(2 * np.pi * t / 5000))
    hac, independent = widths(drift)
    assert 1.0 <= hac / independent < 1.05


def test_clustered_quantile_bounds_use_the_effective_sample_size() -> None:
    """Sessions that keep their arm: the p50 order-statistic interval widens by the
    design effect (an A/A with p50 as the primary shipped 16 % of 300 runs with
    independent ranks, 0.3 % with these); without clustering it is unchanged."""
    from perfstats.analysis.comparison import _order_bounds

    x = np.sort(np.random.default_rng(1).lognormal(0, 1, 4000))
    assert _order_bounds(x, 0.5, 0.025, 1.0) == _order_bounds(x, 0.5, 0.025)
    lo, hi = _order_bounds(x, 0.5, 0.025, 4.0)
    lo1, hi1 = _order_bounds(x[::4], 0.5, 0.025)  # 1,000 independent requests
    assert lo <= lo1 * 1.01 and hi >= hi1 * 0.99
    ev = session_events(4000, seed=8)
    metrics = ("latency", "latency_p50")

    def width(**kw: object) -> float:
        row = compare(ev, metrics=metrics, **kw).table.set_index("metric")
        return float(
            row.loc["latency_p50", "lift_high"] - row.loc["latency_p50", "lift_low"]
        )

    assert width(unit="session_id") > 1.5 * width(unit=None)


def test_required_n_grows_with_the_design_effect() -> None:
    ev = session_events(4000, seed=9)
    clustered = compare(ev, metrics=("latency",)).table.iloc[0]
    plain = compare(ev, metrics=("latency",), unit=None).table.iloc[0]
    assert clustered.required_n > 3 * plain.required_n


def test_newey_west_factor_on_block_sums_of_long_series() -> None:
    """Above 20,000 requests the factor is computed on block sums (O(n)): it agrees
    with the full Newey-West ratio on dependent and on independent contributions."""
    from perfstats import long_run_variance_ratio
    from perfstats.analysis.comparison import _time_ratio

    rng = np.random.default_rng(12)
    runs = np.repeat(rng.normal(size=10_000), 30)
    runs -= runs.mean()
    assert _time_ratio(runs) == pytest.approx(long_run_variance_ratio(runs)[0], rel=0.1)
    iid = rng.normal(size=300_000)
    assert _time_ratio(iid) == pytest.approx(1.0, abs=0.05)
