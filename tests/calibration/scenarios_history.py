"""Calibration of the history store's week-over-week comparison
(:meth:`perfstats.history.History.week_over_week`).

Stated rates (docstring of ``History.compare``): with independent requests, the chance
that any (group, metric) row is flagged ``significant`` when nothing changed is at most
``alpha`` = 0.05 (Holm over every row). The known-effect row measures the power to flag
a 15% rise of latency with ~2,000 requests a week (stated: at least 0.8)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfstats.history import History

WEEK_START = pd.Timestamp("2026-02-02", tz="UTC")  # a Monday


def _events(
    rng: np.random.Generator,
    per_day: int,
    sigma: float,
    error_p: float,
    lift: float,
    groups: tuple[str, ...],
) -> pd.DataFrame:
    n = 14 * per_day * len(groups)
    offsets = rng.uniform(0, 14 * 86_400, n)
    current = offsets >= 7 * 86_400
    lat = rng.lognormal(np.log(600), sigma, n) * np.where(current, 1.0 + lift, 1.0)
    return pd.DataFrame(
        {
            "timestamp": WEEK_START + pd.to_timedelta(offsets, unit="s"),
            "endpoint": rng.choice(list(groups), n),
            "latency_ms": lat,
            "success": rng.random(n) >= error_p,
        }
    )


def _rate(
    replications: int,
    seed: int,
    *,
    per_day: int,
    sigma: float,
    error_p: float,
    lift: float = 0.0,
    groups: tuple[str, ...] = ("/a",),
    metric: str | None = None,
) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(replications):
        ev = _events(rng, per_day, sigma, error_p, lift, groups)
        with History("sqlite://:memory:") as h:
            h.append_events(ev, every="1d")
            table = h.week_over_week(WEEK_START + pd.Timedelta(days=14))
        if metric is not None:
            table = table[table["metric"] == metric]
        hits += bool(table["significant"].any())
    return hits / replications


def calibration_rows(replications: int, seed: int) -> list[dict[str, object]]:
    """Seeded simulations with known truth; one row per (decision, scenario)."""
    decision = "history week-over-week: any row significant"
    rows: list[dict[str, object]] = []
    for scenario, kw, nominal, direction, note in [
        (
            "A/A, lognormal latency, 2% errors, 300 requests/day, 1 group",
            {"per_day": 300, "sigma": 0.6, "error_p": 0.02},
            0.05,
            "<=",
            "family-wise false alarm over latency and error rate",
        ),
        (
            "A/A, heavy-tailed latency (sigma 1.5), 5% errors, 3 groups x 40/day",
            {
                "per_day": 40,
                "sigma": 1.5,
                "error_p": 0.05,
                "groups": ("/a", "/b", "/c"),
            },
            0.05,
            "<=",
            "small counts; Holm over 6 rows",
        ),
        (
            "latency +15%, 300 requests/day, 1 group",
            {
                "per_day": 300,
                "sigma": 0.6,
                "error_p": 0.02,
                "lift": 0.15,
                "metric": "latency",
            },
            0.8,
            ">=",
            "power of the log-latency Welch test on stored moments",
        ),
    ]:
        rows.append(
            {
                "decision": decision,
                "scenario": scenario,
                "nominal": nominal,
                "direction": direction,
                "measured": _rate(replications, seed, **kw),  # type: ignore[arg-type]
                "replications": replications,
                "note": note,
            }
        )
        seed += 1
    return rows
