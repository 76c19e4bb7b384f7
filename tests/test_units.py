"""compare's one randomisation-unit parameter (issue 13): ``unit="auto"``/a column/None,
clustered (CR1) variances without a pre-period, CUPED by the unit with one, and the
warnings about units seen in more than one arm.

Oracles: statsmodels' cluster-robust OLS (CR1) and perfstats.cuped (checked against
statsmodels' HC2 OLS in tests/test_cuped.py); the small-sample factors between the
two paths are written out below.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perfstats import compare, cuped
from perfstats.analysis.comparison import INDEPENDENT, _effect


def user_events(
    n: int = 3000,
    users: int = 120,
    *,
    seed: int = 0,
    leak: float = 0.0,
    lat: float = 1.0,
    start: str = "2026-03-01",
) -> pd.DataFrame:
    """Requests of users with a persistent speed (a user's requests are alike); odd
    users in v2, even users in control, each request in the other arm with
    probability ``leak`` (0: units stay in one arm; 0.5: a coin per request). The
    v2 arm's latency is multiplied by ``lat``."""
    rng = np.random.default_rng(seed)
    speed = rng.lognormal(0.0, 0.5, users)
    u = rng.integers(0, users, n)
    v2 = (u % 2 == 1) ^ (rng.random(n) < leak)
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp(start, tz="UTC")
            + pd.to_timedelta(np.arange(n) * 20, unit="s"),
            "user_id": [f"u{i}" for i in u],
            "variant": np.where(v2, "v2", "control"),
            "latency_ms": 800.0 * speed[u] * rng.lognormal(0, 0.3, n)
            * np.where(v2, lat, 1.0),
            "success": rng.random(n) > 0.02,
        }
    )  # fmt: skip


def _cluster_ols_se(ok: pd.DataFrame) -> float:
    import statsmodels.api as sm

    x = sm.add_constant((ok.variant == "v2").to_numpy(dtype=float))
    fit = sm.OLS(np.log(ok.latency_ms.to_numpy()), x).fit(
        cov_type="cluster",
        cov_kwds={"groups": pd.factorize(ok.user_id)[0]},
        use_t=True,
    )
    return float(fit.bse[1])


def test_cuped_per_unit_se_and_clustered_cr1_se_agree_up_to_stated_factors() -> None:
    """The two variance paths of compare on the same data (latency, log scale).

    With S the sum over users of their squared summed contributions to the
    difference of arm means (S_a, S_b per arm), G users, G_a = G_b = G / 2 per arm
    and N requests:

    - compare's CR1 (clustered path): var = G / (G - 1) * S * q, where q = (va + vb)
      / s0 is the independent variance with Welch's ddof over the one with ddof 0
      (q = 1 + O(1 / N)); statsmodels' CR1 has (N - 1) / (N - 2) instead of q;
    - cuped's per-unit delta method, no covariate (HC2 = Welch over units):
      var = G_a / (G_a - 1) * S_a + G_b / (G_b - 1) * S_b = G / (G - 2) * S.

    So var_cuped / var_cr1 = (G - 1) / (G - 2) / q exactly (1.0085 at G = 120):
    the per-unit analysis without a pre-period is the clustered one, which is
    why compare has no separate per-unit mode.
    """
    ev = user_events(seed=1)
    ok = ev[ev.success]
    y = np.log(ok.latency_ms.to_numpy())
    v2 = (ok.variant == "v2").to_numpy()
    codes = pd.factorize(ok.user_id)[0]
    a, b = ok.latency_ms.to_numpy()[v2], ok.latency_ms.to_numpy()[~v2]
    groups = np.concatenate([codes[v2], codes[~v2]]).astype(np.intp)
    eff = _effect("latency", a, b, 0.95, False, 5000.0, None, groups)
    assert eff.variance_factor() > 2  # users' requests are alike: no clamp at 1
    se_cr1 = eff._gap_se(0.0)[1]

    la, lb = y[v2], y[~v2]
    va, vb = la.var(ddof=1) / la.size, lb.var(ddof=1) / lb.size
    s0 = la.var() / la.size + lb.var() / lb.size
    q = (va + vb) / s0
    n = y.size
    assert se_cr1**2 == pytest.approx(
        _cluster_ols_se(ok) ** 2 * (n - 2) / (n - 1) * q, rel=1e-9
    )

    per_user = pd.DataFrame({"u": codes, "y": y, "t": v2}).groupby("u")
    sums, counts = per_user["y"].sum(), per_user["y"].size()
    treated = per_user["t"].first().to_numpy(dtype=bool)
    g, g_a = treated.size, int(treated.sum())
    assert g_a == g - g_a  # balanced: the factor below is exact
    fit = cuped(sums.to_numpy(), treated, y_count=counts.to_numpy(dtype=float))
    assert fit.difference == pytest.approx(la.mean() - lb.mean(), rel=1e-12)
    assert fit.se**2 == pytest.approx(se_cr1**2 * (g - 1) / (g - 2) / q, rel=1e-9)


def test_explicit_unit_clusters_even_when_units_cross_arms() -> None:
    """One request in ten goes to the other arm: every user is in both arms. CR1 of
    the pooled contrast sums each user's contributions of both arms, which stays
    valid with clusters spanning the arms: compare agrees with statsmodels'
    cluster-robust OLS on the same clusters (same tolerance and reason as the
    sticky case in test_comparison.py), and warns."""
    import statsmodels.api as sm

    ev = user_events(seed=2, leak=0.1)
    c = compare(ev, unit="user_id")
    assert c.unit == "clustered by user_id"
    (warning,) = c.warnings
    assert " user_id values appear in more than one variant (u0, u1," in warning
    assert "clustered by user_id all the same" in warning
    assert warning in repr(c) and c.to_dict()["warnings"] == [warning]
    ok = ev[ev.success]
    x = sm.add_constant((ok.variant == "v2").to_numpy(dtype=float))
    fit = sm.OLS(np.log(ok.latency_ms.to_numpy()), x).fit(
        cov_type="cluster",
        cov_kwds={"groups": pd.factorize(ok.user_id)[0]},
        use_t=True,
    )
    row = c.table.set_index("metric").loc["latency"]
    assert row["pvalue"] == pytest.approx(fit.pvalues[1], rel=5e-3)
    np.testing.assert_allclose(
        row[["lift_low", "lift_high"]].to_numpy(dtype=float),
        np.expm1(fit.conf_int()[1]),
        rtol=5e-3,
    )
    # "auto" does not cluster by a column whose units cross arms
    auto = compare(ev)
    assert auto.unit == INDEPENDENT
    (warning,) = auto.warnings
    assert "unit='auto' does not cluster by user_id" in warning


def test_unit_field_says_which_unit_and_how() -> None:
    pre, post = user_events(seed=3), user_events(seed=4, start="2026-03-08")
    assert compare(post).unit == "clustered by user_id"
    assert compare(post, unit=None).unit == INDEPENDENT
    assert compare(post.drop(columns="user_id")).unit == INDEPENDENT
    sessions = post.rename(columns={"user_id": "session_id"})
    assert compare(sessions).unit == "clustered by session_id"
    c = compare(post, pre_period=pre)  # "auto" with a pre-period: CUPED by user_id
    assert c.unit == "CUPED by user_id" and c.cuped is not None
    d = c.to_dict()
    assert d["unit"] == "CUPED by user_id" and "cuped" in d
    assert "unit" in repr(c) and "CUPED by user_id" in repr(c)
    assert compare(post).cuped is None and "cuped" not in compare(post).to_dict()


@pytest.mark.parametrize(
    ("frame", "args", "message"),
    [
        ("plain", {"unit": None}, "pre_period needs a randomisation unit"),
        ("no_unit", {}, "unit='auto' found no user_id or session_id column"),
        ("crossed", {}, r"user_id value\(s\) appear in more than one variant"),
        ("crossed", {"unit": "user_id"}, r"appear in more than one variant"),
        ("plain", {"unit": "account"}, "unit='account': the events have no such"),
    ],
)
def test_pre_period_needs_a_unit_that_stays_in_one_arm(
    frame: str, args: dict[str, object], message: str
) -> None:
    pre = user_events(seed=6)
    post = {
        "plain": user_events(seed=7, start="2026-03-08"),
        "no_unit": user_events(seed=7, start="2026-03-08").drop(columns="user_id"),
        "crossed": user_events(seed=7, leak=0.5, start="2026-03-08"),
    }[frame]
    with pytest.raises(ValueError, match=message):
        compare(post, pre_period=pre, **args)  # type: ignore[arg-type]


def test_explicit_unit_errors_name_the_column() -> None:
    ev = user_events(500, seed=8)
    with pytest.raises(ValueError, match=r"unit='account'.*columns are: timestamp"):
        compare(ev, unit="account")
    ev.loc[[3, 9], "user_id"] = None
    with pytest.raises(ValueError, match=r"'user_id' is empty in 2 row.*first row 3"):
        compare(ev, unit="user_id")
    assert compare(ev).unit == INDEPENDENT  # "auto" skips a column with gaps


def test_report_ab_section_says_the_unit_and_warns_about_crossed_sessions() -> None:
    from perfstats import build_report

    ev = user_events(2000, seed=9)
    sec = build_report(ev, sla_target_ms=2000.0).section("ab")
    assert any("Randomisation unit: clustered by user_id" in n for n in sec.notes)
    crossed = user_events(2000, seed=9, leak=0.5).rename(
        columns={"user_id": "session_id"}
    )
    sec = build_report(crossed, sla_target_ms=2000.0).section("ab")
    assert any("Randomisation unit: none found" in n for n in sec.notes)
    (f,) = [f for f in sec.findings if f.kind == "crossed_units"]
    assert f.numbers["unit"] == "session_id"


def test_integer_unit_ids_match_between_the_experiment_and_its_pre_period() -> None:
    """compare reads its events through as_events (an integer user_id becomes text);
    a pre-period DataFrame goes the same way, so its users are found."""
    pre, post = user_events(seed=10), user_events(seed=11, start="2026-03-08")
    number = {"user_id": lambda f: f["user_id"].str[1:].astype(int)}
    c = compare(post.assign(**number), pre_period=pre.assign(**number))
    assert (c.cuped["units_without_pre"] == 0).all(), c.cuped
