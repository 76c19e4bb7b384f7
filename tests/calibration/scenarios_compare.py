"""Calibration of compare's verdicts: seeded experiments with known truth (issue 13).

Each row measures one stated error rate or power of :func:`perfstats.compare` (see
its docstring): the false ``ship`` rate under A/A, under a regression beyond a
guardrail's margin and with three arms, the power at the planned ``required_n``,
small arms, daily peeking with ``sequential=True`` and heavy-tailed and
time-correlated latency. Errors are spelled as raw frames often spell them: an
``error`` column holding ``""`` for a success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from perfstats import compare

ALPHA = 0.05
METRICS = ("latency", "error_rate", "tokens", "cost_per_request")
#: guardrail margins wide enough that 2,000 requests per arm can show them, so the
#: A/A and multi-arm rows measure the primary's false positives, not a blocked guardrail
WIDE = {"error_rate": 0.03, "tokens": 0.1, "cost_per_request": 0.2}

Arm = dict[str, float]


def _latency(
    rng: np.random.Generator, n: int, dist: str, sigma: float
) -> np.ndarray[Any, np.dtype[np.float64]]:
    if dist == "pareto":  # Lomax tail index 2.5 (finite variance of the log), x 400 ms
        return 400.0 * (1.0 + rng.pareto(2.5, n))
    return rng.lognormal(np.log(800.0), sigma, n)


def experiment(
    rng: np.random.Generator,
    arms: dict[str, Arm],
    *,
    dist: str = "lognormal",
    sigma: float = 0.5,
    drift: bool = False,
) -> pd.DataFrame:
    """Requests of each arm; per-arm multipliers ``lat``, ``tok``, ``cost`` and an
    error probability ``err`` (default 2 %). ``drift``: latency shares one AR(1)
    level over time (phi = 0.9 per 50 requests) and a daily cycle, as real traffic."""
    parts = []
    for name, a in arms.items():
        n = int(a["n"])
        lat = _latency(rng, n, dist, sigma) * a.get("lat", 1.0)
        err = rng.random(n) < a.get("err", 0.02)
        parts.append(
            pd.DataFrame(
                {
                    "variant": name,
                    "latency_ms": lat,
                    "error": np.where(err, "timeout", ""),
                    "input_tokens": rng.integers(200, 800, n) * a.get("tok", 1.0),
                    "output_tokens": rng.integers(50, 250, n) * a.get("tok", 1.0),
                    "cost_usd": rng.gamma(2.0, 0.001, n) * a.get("cost", 1.0),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    n = len(frame)
    frame["timestamp"] = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(
        np.arange(n) * 20, unit="s"
    )
    if drift:
        steps = n // 50 + 1
        level = np.zeros(steps)
        shocks = rng.normal(0.0, 0.1, steps)
        for i in range(1, steps):
            level[i] = 0.9 * level[i - 1] + shocks[i]
        hours = frame["timestamp"].dt.hour.to_numpy()
        cycle = 0.3 * np.sin(2 * np.pi * hours / 24)
        frame["latency_ms"] *= np.exp(level[np.arange(n) // 50] + cycle)
    return frame


def sessions(
    rng: np.random.Generator, n: int, *, lat: float = 1.0, mean_length: float = 20.0
) -> pd.DataFrame:
    """``n`` requests in time order, in sessions of consecutive requests (geometric
    lengths, mean ``mean_length``) that each keep one arm (control or v2, 50/50) and
    one latency level (log-normal, sigma 0.3): assignment by user, whose requests
    arrive together and share their conditions. ``lat``: v2's latency multiplier;
    the ``session_id`` column names each request's session."""
    starts = np.flatnonzero(rng.random(n) < 1.0 / mean_length)
    session = np.zeros(n, dtype=np.int64)
    session[starts] = 1
    session = np.cumsum(session)
    k = int(session[-1]) + 1
    v2 = (rng.random(k) < 0.5)[session]
    level = rng.normal(0.0, 0.3, k)[session]
    latency = (
        rng.lognormal(np.log(800.0), 0.5, n) * np.exp(level) * np.where(v2, lat, 1.0)
    )
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-03-01", tz="UTC")
            + pd.to_timedelta(np.arange(n) * 20, unit="s"),
            "session_id": session.astype(str),
            "variant": np.where(v2, "v2", "control"),
            "latency_ms": latency,
            "error": np.where(rng.random(n) < 0.02, "timeout", ""),
            "input_tokens": rng.integers(200, 800, n),
            "output_tokens": rng.integers(50, 250, n),
            "cost_usd": rng.gamma(2.0, 0.001, n),
        }
    )


def _rate(
    replications: int,
    rng: np.random.Generator,
    trial: Callable[[np.random.Generator], bool],
) -> float:
    return float(np.mean([trial(rng) for _ in range(replications)]))


def _ships(c: Any) -> bool:
    return any(v == "ship" for v in c.verdicts.values())


def aa_sessions_rate(replications: int, seed: int, n: int = 4000) -> float:
    """False ``ship`` rate of an A/A whose arms are assigned by session (see
    :func:`sessions`); its own generator, so the other rows keep their draws."""

    def trial(r: np.random.Generator) -> bool:
        return _ships(compare(sessions(r, n), metrics=METRICS, margins=WIDE))

    return _rate(replications, np.random.default_rng([seed, 1]), trial)


def calibration_rows(replications: int, seed: int) -> list[dict[str, object]]:
    """Seeded simulations with known truth; one row per (decision, scenario)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []

    def row(scenario: str, nominal: float, direction: str, measured: float, note: str,
            reps: int = replications, decision: str = "compare ship") -> None:  # fmt: skip
        rows.append(
            {
                "decision": decision,
                "scenario": scenario,
                "nominal": nominal,
                "direction": direction,
                "measured": measured,
                "replications": reps,
                "note": note,
            }
        )

    n = 2000

    def aa(r: np.random.Generator, dist: str = "lognormal", sigma: float = 0.5,
           drift: bool = False) -> bool:  # fmt: skip
        ev = experiment(r, {"control": {"n": n}, "v2": {"n": n}}, dist=dist,
                        sigma=sigma, drift=drift)  # fmt: skip
        return _ships(compare(ev, metrics=METRICS, margins=WIDE))

    row("A/A, 2,000 per arm", ALPHA, "<=", _rate(replications, rng, aa),
        "no metric differs; wide guardrail margins so only the primary can err")  # fmt: skip
    row("A/A, lognormal sigma 1.5", ALPHA, "<=",
        _rate(replications, rng, lambda r: aa(r, sigma=1.5)), "heavy-tailed latency")  # fmt: skip
    row("A/A, Pareto latency", ALPHA, "<=",
        _rate(replications, rng, lambda r: aa(r, dist="pareto")),
        "Lomax tail index 2.5")  # fmt: skip
    row("A/A, autocorrelated latency", ALPHA, "<=",
        _rate(replications, rng, lambda r: aa(r, drift=True)),
        "AR(1) level and daily cycle shared by both arms")  # fmt: skip

    row("A/A, sessions keep their arm and latency level (session_id)", ALPHA, "<=",
        aa_sessions_rate(replications, seed),
        "4,000 requests in sessions of ~20 consecutive requests (assignment by "
        "user); compare finds the unit and clusters its variance by it")  # fmt: skip

    def regression_guardrail(r: np.random.Generator) -> bool:
        ev = experiment(r, {"control": {"n": n},
                            "v2": {"n": n, "lat": 1.03, "tok": 0.85}})  # fmt: skip
        c = compare(ev, metrics=METRICS, primary=("tokens",), margins=WIDE)
        return _ships(c)

    row("+3% latency regression, latency a guardrail (margin 2%)", ALPHA, "<=",
        _rate(replications, rng, regression_guardrail),
        "primary tokens truly 15% better; 2,000 per arm")  # fmt: skip

    def regression_primary(r: np.random.Generator) -> bool:
        ev = experiment(r, {"control": {"n": n}, "v2": {"n": n, "lat": 1.03}})
        return _ships(compare(ev, metrics=METRICS, margins=WIDE))

    row("+3% latency regression, latency the primary", ALPHA, "<=",
        _rate(replications, rng, regression_primary), "2,000 per arm")  # fmt: skip

    def at_margin_errors(r: np.random.Generator) -> bool:
        ev = experiment(r, {"control": {"n": 10_000},
                            "v2": {"n": 10_000, "lat": 0.8, "err": 0.025}})  # fmt: skip
        return _ships(
            compare(ev, metrics=METRICS, margins={**WIDE, "error_rate": 0.005})
        )

    row("error-rate guardrail exactly at its margin (+0.5 points)", ALPHA, "<=",
        _rate(replications, rng, at_margin_errors),
        "latency truly 20% better; 2% -> 2.5% errors; 10,000 per arm")  # fmt: skip

    def at_margin_cost(r: np.random.Generator) -> bool:
        ev = experiment(r, {"control": {"n": n},
                            "v2": {"n": n, "lat": 0.8, "cost": 1.05}})  # fmt: skip
        return _ships(
            compare(ev, metrics=METRICS, margins={**WIDE, "cost_per_request": 0.05})
        )

    row("cost guardrail exactly at its margin (+5%)", ALPHA, "<=",
        _rate(replications, rng, at_margin_cost), "latency truly 20% better")  # fmt: skip

    def three_arms(r: np.random.Generator) -> bool:
        ev = experiment(r, {"control": {"n": n}, "a": {"n": n}, "b": {"n": n},
                            "c": {"n": n}})  # fmt: skip
        return _ships(compare(ev, metrics=METRICS, margins=WIDE))

    row("3 treatment arms, all A/A: any ship", ALPHA, "<=",
        _rate(replications, rng, three_arms), "family-wise error over arms and metrics",
        decision="compare family-wise error")  # fmt: skip

    # power at the product's own required_n: latency truly 5% better (the MDE),
    # guardrails unchanged, 4 metrics under Holm
    pilot = compare(
        experiment(rng, {"control": {"n": 50_000}, "v2": {"n": 50_000}}),
        metrics=METRICS, margins={"error_rate": 0.02, "cost_per_request": 0.1},
    )  # fmt: skip
    planned = int(pilot.table["required_n"].max())

    def powered(r: np.random.Generator) -> bool:
        ev = experiment(r, {"control": {"n": planned},
                            "v2": {"n": planned, "lat": 0.95}})  # fmt: skip
        c = compare(ev, metrics=METRICS,
                    margins={"error_rate": 0.02, "cost_per_request": 0.1})  # fmt: skip
        return _ships(c)

    row(f"power at required_n ({planned} per arm), latency 5% better", 0.8, ">=",
        _rate(replications, rng, powered),
        "P(ship) when sample_size_met on all 4 metrics under Holm",
        decision="compare power")  # fmt: skip

    def small(r: np.random.Generator) -> bool:
        ev = experiment(
            r, {"control": {"n": 19, "err": 0.0}, "v2": {"n": 19, "err": 0.0}}
        )
        c = compare(ev)
        t = c.table.set_index("metric")
        lo, hi = t.loc["error_rate", ["difference_low", "difference_high"]]
        degenerate = (
            not (hi - lo > 0.1) or t[["lift_low", "lift_high"]].eq(-1).all(axis=1).any()
        )
        return bool(degenerate or c.verdicts["v2"] != "keep running")

    row("19 requests per arm, no errors: degenerate interval or a verdict", 0.0, "<=",
        _rate(replications, rng, small), "must keep running with real intervals",
        decision="compare small arms")  # fmt: skip

    def peeking(r: np.random.Generator, sequential: bool) -> bool:
        ev = experiment(r, {"control": {"n": 14 * 300}, "v2": {"n": 14 * 300}})
        ev = ev.sort_values("timestamp")
        day = np.arange(len(ev)) // 600
        for d in range(14):
            c = compare(
                ev[day <= d], metrics=METRICS, margins=WIDE, sequential=sequential
            )
            if _ships(c):
                return True
        return False

    reps = max(4, replications // 4)
    row("A/A, 14 daily looks, sequential=True: any ship", ALPHA, "<=",
        _rate(reps, rng, lambda r: peeking(r, True)),
        "confidence sequences; 300 requests per arm per day", reps=reps,
        decision="compare sequential")  # fmt: skip
    return rows
