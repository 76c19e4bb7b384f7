"""CUPED (perfstats.stats.cuped) and compare's per-unit analysis (unit=, pre_period=).

Oracles: statsmodels OLS with the centred covariate and HC2 errors, SciPy's Welch test,
the textbook delta-method variance of a ratio, and compare's own per-request tests
(per-unit analysis of one request per unit must reproduce them).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from perfstats import compare
from perfstats.stats.cuped import cuped

sm = pytest.importorskip("statsmodels.api")
stats = pytest.importorskip("scipy.stats")


def _ols(y: np.ndarray, t: np.ndarray, x: np.ndarray | None) -> tuple[float, float]:
    cols = [np.ones_like(y), t.astype(float)]
    if x is not None:
        cols.append(x - x.mean())
    fit = sm.OLS(y, np.column_stack(cols)).fit(cov_type="HC2")
    return float(fit.params[1]), float(fit.bse[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adjusted_difference_and_se_equal_ols_with_centred_covariate(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    x = rng.gamma(3.0, 40.0, n)
    t = rng.random(n) < 0.35  # unequal arms
    y = 20 + 0.7 * x + rng.normal(0, 10 + 15 * t, n) - 4 * t  # unequal variances
    r = cuped(y, t, x)
    est, se = _ols(y, t, x)
    assert r.difference == pytest.approx(est, abs=1e-10)
    assert r.se == pytest.approx(se, abs=1e-10)
    slope = sm.OLS(y, np.column_stack([t, ~t, x]).astype(float)).fit().params[2]
    assert r.theta == pytest.approx(slope, abs=1e-10)
    # the adjusted arm means are centred on the pooled covariate mean
    assert r.mean_control == pytest.approx(
        y[~t].mean() - r.theta * (x[~t].mean() - x.mean()), abs=1e-10
    )
    assert 0.5 < r.variance_reduction < 1


def test_units_without_pre_period_get_the_pooled_mean() -> None:
    rng = np.random.default_rng(5)
    n = 400
    x = rng.normal(50, 10, n)
    t = np.arange(n) % 2 == 0
    y = x + rng.normal(0, 3, n) + 2 * t
    gone = rng.random(n) < 0.2
    xm = np.where(gone, np.nan, x)
    r = cuped(y, t, xm)
    est, se = _ols(y, t, np.where(gone, x[~gone].mean(), x))
    assert (r.difference, r.se) == pytest.approx((est, se), abs=1e-10)
    assert r.units_without_pre == int(gone.sum())


def test_without_covariate_it_is_welch() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(10, 2, 40), rng.normal(11, 5, 90)
    r = cuped(np.r_[a, b], np.r_[np.ones(40, bool), np.zeros(90, bool)])
    gap, se, df = r.contrast()
    w = stats.ttest_ind(a, b, equal_var=False)
    assert gap / se == pytest.approx(w.statistic, abs=1e-10)
    assert df == pytest.approx(w.df, rel=1e-10)
    assert r.pvalue() == pytest.approx(w.pvalue, abs=1e-9)
    assert r.theta == 0 and r.variance_reduction == pytest.approx(0.0, abs=1e-12)
    assert r.critical(0.95) == pytest.approx(stats.t.ppf(0.975, w.df), abs=1e-9)


def test_ratio_metric_variance_is_the_delta_method() -> None:
    rng = np.random.default_rng(11)
    n = 500
    counts = rng.poisson(6, n) + 1.0
    sums = counts * rng.lognormal(3, 0.5, n) + rng.normal(0, 5, n)
    t = rng.random(n) < 0.5
    r = cuped(sums, t, y_count=counts)
    for g, mean, var in (
        (t, r.mean_treatment, r.covariance[0][0]),
        (~t, r.mean_control, r.covariance[1][1]),
    ):
        y, c = sums[g], counts[g]
        ratio = y.sum() / c.sum()
        cyc = np.cov(y, c, ddof=1)
        textbook = (cyc[0, 0] - 2 * ratio * cyc[0, 1] + ratio**2 * cyc[1, 1]) / (
            g.sum() * c.mean() ** 2
        )
        assert mean == pytest.approx(ratio, rel=1e-12)
        assert var == pytest.approx(textbook, rel=1e-10)


def test_ratio_with_one_request_per_unit_is_the_plain_metric() -> None:
    rng = np.random.default_rng(12)
    n = 200
    x, t = rng.normal(5, 1, n), rng.random(n) < 0.5
    y = x + rng.normal(0, 1, n)
    ones = np.ones(n)
    plain, ratio = cuped(y, t, x), cuped(y, t, x, y_count=ones, x_count=ones)
    assert ratio.difference == pytest.approx(plain.difference, abs=1e-10)
    assert ratio.se == pytest.approx(plain.se, abs=1e-10)


def test_ratio_covariate_is_pooled_linearised_pre_mean() -> None:
    """The ratio covariate of a unit is P + (x - P m) / mean(m): its estimate equals the
    OLS of the linearised metric on it (a unit without pre-period requests gets P)."""
    rng = np.random.default_rng(13)
    n = 300
    speed = rng.lognormal(0, 0.5, n)
    m = rng.poisson(4, n).astype(float)
    xs = np.array(
        [speed[i] * rng.lognormal(0, 0.3, int(k)).sum() for i, k in enumerate(m)]
    )
    c = rng.poisson(5, n) + 1.0
    t = rng.random(n) < 0.5
    ys = np.array(
        [speed[i] * rng.lognormal(0, 0.3, int(k)).sum() for i, k in enumerate(c)]
    )
    r = cuped(ys, t, xs, y_count=c, x_count=m)
    p = xs.sum() / m.sum()
    w = p + (xs - p * m) / m.mean()
    z = np.empty(n)
    for g in (t, ~t):
        ratio = ys[g].sum() / c[g].sum()
        z[g] = ratio + (ys[g] - ratio * c[g]) / c[g].mean()
    est, se = _ols(z, t, w)
    assert (r.difference, r.se) == pytest.approx((est, se), abs=1e-10)
    assert r.units_without_pre == int((m == 0).sum())
    assert r.variance_reduction > 0.3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"treated": [1, 0, 1, 0]}, "treated must be booleans"),
        ({"treated": [True, False, False, False]}, ">= 2 units"),
        ({"x": [1.0, 2.0]}, "x has 2 values"),
        ({"y_count": [1, 1, -1, 1]}, "y_count must be finite and >= 0"),
        ({"y": [1.0, np.nan, 1.0, 2.0]}, "y has NaN"),
        ({"x": [1.0, 2, 3, 4], "x_count": [1, 0, np.inf, 1]}, "x_count must be"),
    ],
)
def test_bad_arrays_name_the_argument(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"y": [1.0, 2.0, 3.0, 5.0], "treated": [True, False] * 2}
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=message):
        cuped(**args)  # type: ignore[arg-type]


# ---------------------------------------------------------------- compare, per unit


def _experiment(
    seed: int, users: int = 300, per_user: float = 8.0, effect: float = 1.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pre-period, experiment) requests of users with a persistent speed, token use and
    error propensity; the 'v2' arm's latency is multiplied by ``effect``."""
    rng = np.random.default_rng(seed)
    speed = rng.lognormal(0, 0.5, users)
    talk = rng.lognormal(0, 0.5, users)
    flaky = rng.beta(1, 30, users)
    arm = np.where(np.arange(users) % 2 == 0, "control", "v2")

    def period(start: str, eff: float) -> pd.DataFrame:
        k = rng.poisson(per_user, users)
        u = np.repeat(np.arange(users), k)
        n = u.size
        lat = 500 * speed[u] * rng.lognormal(0, 0.3, n)
        lat = lat * np.where(arm[u] == "v2", eff, 1.0)
        return pd.DataFrame(
            {
                "timestamp": pd.Timestamp(start, tz="UTC")
                + pd.to_timedelta(rng.permutation(n), unit="s"),
                "user_id": [f"u{i}" for i in u],
                "variant": arm[u],
                "latency_ms": lat,
                "success": rng.random(n) > flaky[u],
                "input_tokens": rng.poisson(300 * talk[u]),
                "output_tokens": rng.poisson(100 * talk[u]),
                "cost_usd": 1e-5 * rng.poisson(400 * talk[u]),
            }
        )

    return period("2026-02-01", 1.0), period("2026-02-08", effect)


def test_one_request_per_unit_without_a_shared_pre_period_is_welch() -> None:
    """One request per unit and a pre-period sharing no unit (no covariate): the
    per-unit delta-method tests are Welch's t-tests on the requests (SciPy)."""
    from scipy import stats

    _, post = _experiment(1, users=600, per_user=1.0)
    # successes only: a failed request would be a unit with no latency (count 0)
    post = post[post["success"]].assign(
        request_id=np.arange(int(post["success"].sum()))
    )
    pre = post.assign(request_id=-1 - post["request_id"])
    metrics = ["latency", "tokens", "cost_per_request"]
    per_unit = compare(post, metrics=metrics, unit="request_id", pre_period=pre)
    assert per_unit.unit == "CUPED by request_id"
    assert (per_unit.cuped["theta"] == 0).all()
    assert (per_unit.cuped["units_without_pre"] == len(post)).all()
    v2 = (post["variant"] == "v2").to_numpy()
    values = {
        "latency": np.log(post["latency_ms"].to_numpy()),
        "tokens": (post["input_tokens"] + post["output_tokens"]).to_numpy(float),
        "cost_per_request": post["cost_usd"].to_numpy(),
    }
    got = per_unit.table.set_index("metric")["pvalue"]
    for metric, x in values.items():
        want = stats.ttest_ind(x[v2], x[~v2], equal_var=False).pvalue
        assert got[metric] == pytest.approx(want, rel=1e-9), metric


def test_cuped_shrinks_the_intervals_and_says_so() -> None:
    pre, post = _experiment(2)
    plain = compare(post, unit="user_id")
    adj = compare(post, unit="user_id", pre_period=pre)
    t = adj.cuped.set_index("metric")
    assert set(t.index) == {"latency", "error_rate", "tokens", "cost_per_request"}
    # error propensity varies little between users next to 8 requests' binomial noise
    assert (t["variance_reduction"].drop("error_rate") > 0.5).all(), t
    assert t.loc["error_rate", "variance_reduction"] > 0
    assert (t["theta"] > 0).all()
    assert (t["units"] == 150).all() and (t["units_baseline"] == 150).all()
    for r in (plain, adj):  # error rate: the interval of the difference of rates
        r.table["width"] = (r.table.lift_high - r.table.lift_low).where(
            r.table.metric != "error_rate",
            r.table.difference_high - r.table.difference_low,
        )
    assert (adj.table["width"][:4] < plain.table["width"][:4]).all()  # not quantiles
    d = adj.to_dict()
    assert d["unit"] == "CUPED by user_id"
    assert plain.to_dict()["unit"] == "clustered by user_id" and plain.cuped is None
    assert {"theta", "variance_reduction", "units_without_pre"} <= set(d["cuped"][0])
    text = repr(adj)
    assert "CUPED" in text and "variance_reduction" in text and "user_id" in text
    assert "cuped" not in plain.to_dict()  # no CUPED table without a pre-period


def test_pre_period_as_times_equals_pre_period_as_events() -> None:
    pre, post = _experiment(3)
    both = pd.concat([pre, post], ignore_index=True)
    by_events = compare(post, unit="user_id", pre_period=pre)
    by_times = compare(
        both,
        unit="user_id",
        pre_period=("2026-02-01", pd.Timestamp("2026-02-08", tz="UTC")),
    )
    pd.testing.assert_frame_equal(by_times.table, by_events.table)
    pd.testing.assert_frame_equal(by_times.cuped, by_events.cuped)


def test_units_without_pre_period_are_counted() -> None:
    pre, post = _experiment(4)
    gone = {"u0", "u1", "u2", "u3", "u4"}
    pre = pre[~pre["user_id"].isin(gone)]
    c = compare(post, unit="user_id", pre_period=pre, metrics=["latency"])
    assert c.cuped.loc[0, "units_without_pre"] == 5
    assert c.cuped.loc[0, "variance_reduction"] > 0.2


def test_a_pre_period_sharing_no_unit_adjusts_nothing() -> None:
    pre, post = _experiment(5)
    pre = pre.assign(user_id="other" + pre["user_id"])
    c = compare(post, unit="user_id", pre_period=pre, metrics=["latency"])
    assert c.cuped.loc[0, "units_without_pre"] == 300
    assert c.cuped.loc[0, "theta"] == 0
    assert c.cuped.loc[0, "variance_reduction"] == pytest.approx(0.0, abs=1e-12)
    (warning,) = c.warnings
    assert warning.startswith("pre_period shares no user_id with the experiment")


def test_units_in_two_arms_are_an_error_naming_how_many() -> None:
    pre, post = _experiment(6)
    post.loc[post.index[:3], "user_id"] = "u1"  # u1 is a v2 user; first rows vary
    post.loc[post.index[:3], "variant"] = ["control", "v2", "control"]
    with pytest.raises(
        ValueError, match=r"1 user_id value\(s\) appear in more than one"
    ):
        compare(post, unit="user_id", pre_period=pre)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unit": "account"}, "unit='account': the events have no such column"),
        (
            {"pre_period": "PRE_NO_UNIT"},
            "pre_period events have no unit column 'user_id'",
        ),
        ({"pre_period": "PRE_EMPTY"}, "pre_period has no events"),
        ({"unit": None}, "pre_period needs a randomisation unit"),
        ({"pre_period": ("2026-01-01", "2026-01-02")}, "pre_period has no events"),
        ({"pre_period": ("2026-03-01", "2026-02-01")}, "is not before its end"),
        ({"pre_period": ("2026-01-01", "2026-03-01")}, "no events at or after"),
        ({"pre_period": ("yesterday", "2026-03-01")}, "pre_period start 'yesterday'"),
        ({"pre_period": ("2026-01-01",)}, "a \\(start, end\\) pair"),
    ],
)
def test_hostile_pre_period_and_unit_input(
    change: dict[str, object], message: str
) -> None:
    pre, post = _experiment(7, users=40)
    args: dict[str, object] = {"unit": "user_id", "pre_period": pre}
    args.update(change)
    if isinstance(args["pre_period"], str) and args["pre_period"] == "PRE_NO_UNIT":
        args["pre_period"] = pre.drop(columns="user_id")
    elif isinstance(args["pre_period"], str):
        args["pre_period"] = pre.iloc[:0]
    with pytest.raises(ValueError, match=message):
        compare(post, **args)  # type: ignore[arg-type]


def test_requests_without_a_unit_are_an_error() -> None:
    pre, post = _experiment(8, users=40)
    post.loc[post.index[5], "user_id"] = None
    with pytest.raises(ValueError, match="1 request\\(s\\) have no 'user_id'"):
        compare(post, unit="user_id", pre_period=pre)


def test_sequential_mode_uses_units_and_stays_wider() -> None:
    pre, post = _experiment(9)
    fixed = compare(post, unit="user_id", pre_period=pre, metrics=["latency"])
    seq = compare(
        post, unit="user_id", pre_period=pre, metrics=["latency"], sequential=True
    )
    w = lambda r: float(r.table.lift_high[0] - r.table.lift_low[0])  # noqa: E731
    assert w(seq) > w(fixed)
    assert math.isfinite(w(seq))


def test_zero_failures_per_unit_keep_a_nondegenerate_error_interval() -> None:
    """No failures in either arm: the per-unit variance is 0, but the guardrail's
    interval keeps the binomial width of that many requests (issue 13, item 5)."""
    pre, post = _experiment(10, users=40)
    pre, post = pre.assign(success=True), post.assign(success=True)
    c = compare(post, unit="user_id", pre_period=pre, metrics=["latency", "error_rate"])
    row = c.table.set_index("metric").loc["error_rate"]
    n = row["n"] + row["n_baseline"]
    assert row["difference_low"] < -1.0 / n and row["difference_high"] > 1.0 / n
    assert row["pvalue_adjusted"] > 1e-6  # not shown within 0.5 points by fiat


def test_required_n_follows_the_design_effect() -> None:
    """A user's requests are alike: the per-unit analysis needs more requests than the
    per-request formula says (clustered: the design effect), CUPED fewer than
    the clustered analysis without it."""
    pre, post = _experiment(11)
    need = {
        name: float(compare(post, metrics=["latency"], **kw).table["required_n"][0])
        for name, kw in (
            ("request", {"unit": None}),
            ("unit", {"unit": "user_id"}),
            ("cuped", {"unit": "user_id", "pre_period": pre}),
        )
    }
    assert need["unit"] > 3 * need["request"], need
    assert need["cuped"] < 0.5 * need["unit"], need


def test_three_arms_each_against_the_baseline_with_its_own_units() -> None:
    pre, post = _experiment(12, users=300)
    third = post["user_id"].str[1:].astype(int) % 3 == 0
    post.loc[third & (post["variant"] == "v2"), "variant"] = "v3"
    c = compare(post, unit="user_id", pre_period=pre, metrics=["latency"])
    t = c.cuped.set_index("variant")
    users = post.groupby("variant")["user_id"].nunique()
    assert t.loc["v2", "units"] == users["v2"] and t.loc["v3", "units"] == users["v3"]
    assert (t["units_baseline"] == users["control"]).all()
    assert set(c.verdicts) == {"v2", "v3"}


def test_pre_period_of_the_wrong_type_names_the_argument() -> None:
    _, post = _experiment(13, users=40)
    with pytest.raises(TypeError, match="pre_period must be events"):
        compare(post, unit="user_id", pre_period="last-week.parquet")
