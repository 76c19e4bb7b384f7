"""Calibration of compare with CUPED (``pre_period=``, by ``user_id``): seeded experiments
randomised by user, with per-user persistent speed, token use and error propensity.

Rows: the false ``ship`` rate under A/A (latency alone, and with the guardrails; and
clustered by user without a pre-period, beside the per-request tests, which ignore that
a user's requests are alike), under a
guardrail (tokens) truly worse by its margin, and the power at a true latency
improvement with CUPED, whose note gives the same experiments' power without CUPED
(clustered by user, no pre-period): the gain CUPED measures. A last row checks that a
pre-period uncorrelated with the experiment costs no power beyond noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from perfstats import compare

ALPHA = 0.05
METRICS = ("latency", "error_rate", "tokens", "cost_per_request")
WIDE = {"error_rate": 0.03, "tokens": 0.1, "cost_per_request": 0.2}
USERS = 400
PER_USER = 10.0


def experiment(
    rng: np.random.Generator,
    *,
    lat: float = 1.0,
    tok: float = 1.0,
    persistent: bool = True,
    users: int = USERS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pre-period, experiment) requests, ~``PER_USER`` per user and period; half the
    users in "v2", whose experiment latency and tokens are multiplied by ``lat``, ``tok``.
    ``persistent=False`` redraws every user's traits between the periods."""
    arm = rng.permutation(np.repeat(np.array(["control", "v2"]), users // 2))

    def traits() -> tuple[Any, Any, Any]:
        return (
            rng.normal(0.0, 0.5, users),  # log speed
            rng.normal(0.0, 0.4, users),  # log talkativeness
            rng.beta(1.0, 30.0, users),  # error propensity (mean 3 %)
        )

    first = traits()
    frames = []
    for day, (lat_x, tok_x) in enumerate(((1.0, 1.0), (lat, tok))):
        speed, talk, flaky = first if persistent or day == 1 else traits()
        k = rng.poisson(PER_USER, users)
        u = np.repeat(np.arange(users), k)
        n = u.size
        v2 = arm[u] == "v2"
        tokens_in = rng.poisson(300.0 * np.exp(talk[u])) * np.where(v2, tok_x, 1.0)
        tokens_out = rng.poisson(100.0 * np.exp(talk[u])) * np.where(v2, tok_x, 1.0)
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": pd.Timestamp("2026-03-01", tz="UTC")
                    + pd.Timedelta(days=7 * day)
                    + pd.to_timedelta(np.arange(n), unit="s"),
                    "user_id": u,
                    "variant": arm[u],
                    "latency_ms": 800.0
                    * np.exp(speed[u] + rng.normal(0.0, 0.3, n))
                    * np.where(v2, lat_x, 1.0),
                    "success": rng.random(n) > flaky[u],
                    "input_tokens": tokens_in,
                    "output_tokens": tokens_out,
                    "cost_usd": 2e-6 * (tokens_in + 3 * tokens_out),
                }
            )
        )
    return frames[0], frames[1]


def _ships(c: Any) -> bool:
    return any(v == "ship" for v in c.verdicts.values())


def power_pair(
    replications: int, seed: int, *, lat: float = 0.93, persistent: bool = True
) -> tuple[float, float]:
    """P(ship) with and without CUPED on the same experiments (latency alone)."""
    rng = np.random.default_rng(seed)
    with_pre = without = 0
    for _ in range(replications):
        pre, post = experiment(rng, lat=lat, persistent=persistent)
        kw: dict[str, Any] = {"metrics": ["latency"], "unit": "user_id"}
        with_pre += _ships(compare(post, pre_period=pre, **kw))
        without += _ships(compare(post, **kw))
    return with_pre / replications, without / replications


def calibration_rows(replications: int, seed: int) -> list[dict[str, object]]:
    """Seeded simulations with known truth; one row per (decision, scenario)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []

    def row(scenario: str, nominal: float, direction: str, measured: float,
            note: str, decision: str = "compare ship (CUPED)") -> None:  # fmt: skip
        rows.append(
            {
                "decision": decision,
                "scenario": scenario,
                "nominal": nominal,
                "direction": direction,
                "measured": measured,
                "replications": replications,
                "note": note,
            }
        )

    def rate(trial: Any) -> float:
        return float(np.mean([trial() for _ in range(replications)]))

    def aa_latency() -> bool:
        pre, post = experiment(rng)
        return _ships(
            compare(post, metrics=["latency"], unit="user_id", pre_period=pre)
        )

    row("A/A, latency primary alone", ALPHA, "<=", rate(aa_latency),
        f"{USERS} users, ~{PER_USER:.0f} requests each per period; persistent users")  # fmt: skip

    per_request: list[bool] = []

    def aa_unit() -> bool:
        post = experiment(rng)[1]
        per_request.append(_ships(compare(post, metrics=["latency"], unit=None)))
        return _ships(compare(post, metrics=["latency"], unit="user_id"))

    measured = rate(aa_unit)
    row("A/A, latency alone, clustered by user (no pre-period)", ALPHA, "<=",
        measured,
        "the per-request tests (unit=None) on the same experiments: "
        f"{np.mean(per_request):.3f}: a user's requests are alike, so they are not "
        "independent observations", decision="compare ship (clustered)")  # fmt: skip

    def aa_all() -> bool:
        pre, post = experiment(rng)
        c = compare(post, metrics=METRICS, margins=WIDE, unit="user_id", pre_period=pre)
        return _ships(c)

    row("A/A, latency primary and 3 guardrails", ALPHA, "<=", rate(aa_all),
        "wide guardrail margins, so only the primary can err")  # fmt: skip

    def peeking() -> bool:  # the same experiment looked at after each of 7 days
        pre, post = experiment(rng)
        post = post.iloc[rng.permutation(len(post))]
        return any(
            _ships(
                compare(post.iloc[: len(post) * day // 7], metrics=["latency"],
                        unit="user_id", pre_period=pre, sequential=True)
            )
            for day in range(1, 8)
        )  # fmt: skip

    row("A/A, 7 daily looks, sequential=True: any ship", ALPHA, "<=", rate(peeking),
        "confidence sequence over users, CUPED at every look")  # fmt: skip

    def tokens_at_margin() -> bool:
        pre, post = experiment(rng, lat=0.8, tok=1.1)
        c = compare(post, metrics=METRICS, margins=WIDE, unit="user_id", pre_period=pre)
        return _ships(c)

    row("tokens guardrail exactly at its margin (+10%)", ALPHA, "<=",
        rate(tokens_at_margin), "latency truly 20% better; CUPED on tokens per request")  # fmt: skip

    sub = int(rng.integers(1 << 30))
    cuped, plain = power_pair(replications, sub)
    row("latency 7% better: power with CUPED", 0.8, ">=", cuped,
        f"same experiments without CUPED (clustered by user, no pre-period): {plain:.3f}",
        decision="compare power (CUPED)")  # fmt: skip

    # power at the product's own required_n (requests per arm, design effect of CUPED
    # included): latency truly 5 % better, the default minimum detectable effect
    pre, post = experiment(rng, users=8000)
    pilot = compare(post, metrics=["latency"], unit="user_id", pre_period=pre)
    per_user = float(pilot.table["n"][0]) / float(pilot.cuped["units"][0])
    planned = 2 * int(np.ceil(float(pilot.table["required_n"][0]) / per_user))

    def powered() -> bool:
        pre, post = experiment(rng, lat=0.95, users=planned)
        c = compare(post, metrics=["latency"], unit="user_id", pre_period=pre)
        return _ships(c)

    row(f"power at required_n with CUPED ({planned} users), latency 5% better", 0.8,
        ">=", rate(powered), "required_n (successful requests per arm) from an 8,000-user pilot",
        decision="compare power (CUPED)")  # fmt: skip

    sub = int(rng.integers(1 << 30))
    cuped, plain = power_pair(replications, sub, lat=0.9, persistent=False)
    row("pre-period uncorrelated (traits redrawn), latency 10% better", plain, ">=",
        cuped, "nominal: the power of the same experiments without CUPED",
        decision="compare power (CUPED)")  # fmt: skip
    return rows
