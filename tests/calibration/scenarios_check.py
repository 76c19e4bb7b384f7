"""Calibration of the ``perfstats check`` regression gate (issue 15): a
``[[regression]]`` rule on latency_p95 with a 5 % margin at alpha = 0.05.

Sample sizes of a typical CI benchmark: 200, 500, 1,000 and 2,000 requests per run.
Stated rates (docstring of perfstats.budgets.evaluate_budgets):
- A/A pairs of runs (same distribution; lognormal, heavy-tailed Pareto-mixed, and a
  two-rule family for Holm): P(fail) <= 0.05.
- a true 10 % p95 regression (every latency x 1.10): P(fail) >= 0.80 at 2,000
  requests per run, >= 0.50 at 1,000, >= 0.25 at 500 (no power is claimed at 200).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfstats.budgets import evaluate_budgets, parse_budgets

ALPHA = 0.05
_ONE = parse_budgets(
    '[defaults]\nalpha = 0.05\n[[regression]]\nmetric = "latency_p95"\nmargin = 0.05\n'
)
_TWO = parse_budgets(
    '[defaults]\nalpha = 0.05\n[[regression]]\nendpoint = "*"\n'
    'metric = "latency_p95"\nmargin = 0.05\n'
)
#: sample size -> stated power against a true 10 % p95 regression
STATED_POWER = {500: 0.25, 1000: 0.50, 2000: 0.80}


def _run(rng: np.random.Generator, n: int, scale: float, tail: str) -> pd.DataFrame:
    if tail == "lognormal":
        lat = rng.lognormal(np.log(300.0), 0.5, n)
    else:  # lognormal body, 3 % Pareto tail (alpha 1.5): p95 sits near the tail
        lat = rng.lognormal(np.log(300.0), 0.4, n)
        heavy = rng.random(n) < 0.03
        lat[heavy] = 600.0 * (1.0 + rng.pareto(1.5, heavy.sum()))
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=n, freq="s", tz="UTC"),
            "endpoint": rng.choice(["/a", "/b"], n),
            "latency_ms": lat * scale,
            "success": rng.random(n) > 0.01,
        }
    )


def _fail_rate(
    reps: int, rng: np.random.Generator, n: int, scale: float, tail: str, two: bool
) -> float:
    fails = 0
    for _ in range(reps):
        res = evaluate_budgets(
            _TWO if two else _ONE,
            _run(rng, n, scale, tail),
            _run(rng, n, 1.0, tail),
        )
        fails += res.count("fail") > 0
    return fails / reps


def calibration_rows(replications: int, seed: int) -> list[dict[str, object]]:
    """Seeded simulations with known truth; one row per (decision, scenario)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for n in (200, 2000):
        for tail in ("lognormal", "heavy-tailed"):
            rows.append(
                {
                    "decision": "check regression p95 false fail",
                    "scenario": f"A/A {tail}, {n} requests per run",
                    "nominal": ALPHA,
                    "direction": "<=",
                    "measured": _fail_rate(replications, rng, n, 1.0, tail, False),
                    "replications": replications,
                    "note": "any fail of one rule is a false failure",
                }
            )
    rows.append(
        {
            "decision": "check regression p95 false fail",
            "scenario": "A/A, 2 endpoints (Holm over the family), 1000 requests per run",
            "nominal": ALPHA,
            "direction": "<=",
            "measured": _fail_rate(replications, rng, 1000, 1.0, "lognormal", True),
            "replications": replications,
            "note": "family-wise: any of the two rules failing",
        }
    )
    for n, power in STATED_POWER.items():
        rows.append(
            {
                "decision": "check regression p95 power",
                "scenario": f"true +10 % p95, {n} requests per run",
                "nominal": power,
                "direction": ">=",
                "measured": _fail_rate(replications, rng, n, 1.10, "lognormal", False),
                "replications": replications,
                "note": "margin 5 %: fails when significant and the observed lift > 5 %",
            }
        )
    return rows
