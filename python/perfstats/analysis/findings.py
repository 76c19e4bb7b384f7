"""Findings: ranked statements with the numbers behind them, computed from analyses.

A finding says what is wrong or notable (an SLA miss, an error burst, a budget overrun),
how bad (``severity`` and ``score``) and every number it rests on. The report renders
them; they are computed here, from the analyses' results, so a script can have them
without building a report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from perfstats._display import View, table_labels
from perfstats._display import format_ms as _ms
from perfstats._display import format_pct as _pct
from perfstats._json import json_scalar as _clean
from perfstats._result import Result
from perfstats.stats.intervals import wilson_interval

if TYPE_CHECKING:
    import pandas as pd

    from perfstats.analysis.summary import Summary

__all__ = [
    "SEVERITY_ORDER",
    "Finding",
    "burst_findings",
    "crossed_units",
    "crossed_units_finding",
    "crossed_units_message",
    "error_bursts",
    "error_outliers",
    "rank",
    "sla_misses",
    "tail_drivers",
]

#: Severities from the most to the least urgent.
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, repr=False)
class Finding(Result):
    """One ranked statement with the numbers behind it.

    Attributes
    ----------
    severity : {"critical", "warning", "info"}
    score : float
        Orders findings of one severity (larger first): how far from fine.
    kind : str
        ``sla_miss``, ``tail_driver``, ``error_outlier``, ``error_burst``,
        ``cost_concentration``, ``budget`` ...
    title : str
        The statement, with its key numbers.
    numbers : dict
        Every number the statement rests on (units in the key names).
    section : str
        Key of the section it comes from.
    """

    severity: str
    score: float
    kind: str
    title: str
    numbers: dict[str, Any]
    section: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "severity": self.severity,
            "kind": self.kind,
            "title": self.title,
            "section": self.section,
            "score": _clean(self.score),
            "numbers": {k: _clean(v) for k, v in self.numbers.items()},
        }

    def _view(self) -> View:
        fields = {
            "severity": self.severity,
            "kind": self.kind,
            "section": self.section,
            "score": self.score,
            **self.numbers,
        }
        return View(f"Finding: {self.title}", fields)


def rank(findings: list[Finding]) -> list[Finding]:
    """Findings by severity, then by score (larger first)."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), -f.score))


def sla_misses(
    summary: Summary, *, sla_target_ms: float, sla_objective: float
) -> list[Finding]:
    """A warning per group whose share of requests within ``sla_target_ms`` (ms) is
    below ``sla_objective`` (a share in (0, 1]), scored by how far below."""
    table = summary.table
    out = []
    for label, (_, r) in zip(table_labels(table), table.iterrows(), strict=True):
        comp = float(r["sla_compliance"])
        if comp < sla_objective:
            out.append(
                Finding(
                    severity="warning",
                    score=(sla_objective - comp) / max(1e-9, 1 - sla_objective),
                    kind="sla_miss",
                    title=(
                        f"{label}: {_pct(comp)} of requests within "
                        f"{_ms(sla_target_ms)}, below the "
                        f"{_pct(sla_objective)} objective (p99 "
                        f"{_ms(float(r['latency_p99']))})"
                    ),
                    numbers={
                        "group": label,
                        "sla_compliance": comp,
                        "sla_objective": sla_objective,
                        "sla_target_ms": sla_target_ms,
                        "latency_p99_ms": float(r["latency_p99"]),
                        "requests": int(r["count"]),
                    },
                    section="latency",
                )
            )
    return out


def tail_drivers(summary: Summary, *, sla_target_ms: float) -> list[Finding]:
    """Per group, the phase with the largest share of the latency of the requests at or
    above the group's p99 (info, scored by p99 / ``sla_target_ms``)."""
    table = summary.table
    out: list[Finding] = []
    if "tail_driver" not in table:
        return out
    for label, (_, r) in zip(table_labels(table), table.iterrows(), strict=True):
        driver = str(r["tail_driver"])
        share = float(r.get(f"{driver}_tail_share", np.nan))
        p99 = float(r["latency_p99"])
        if not math.isfinite(share):
            continue
        out.append(
            Finding(
                severity="info",
                score=p99 / sla_target_ms,
                kind="tail_driver",
                title=(
                    f"{driver} drives the p99 of {label}: {_pct(share)} of the latency "
                    f"of requests at or above p99 ({_ms(p99)})"
                ),
                numbers={
                    "group": label,
                    "phase": driver,
                    "tail_share": share,
                    "latency_p99_ms": p99,
                    f"{driver}_p99_ms": float(r.get(f"{driver}_p99", np.nan)),
                },
                section="phases",
            )
        )
    return out


def error_outliers(summary: Summary) -> list[Finding]:
    """A warning per group whose 95 % Wilson interval of the error rate lies entirely
    above that of all other groups together."""
    table = summary.table
    out: list[Finding] = []
    if len(table) < 2 or "errors" not in table:
        return out
    counts = table["count"].to_numpy(dtype=float)
    errs = table["errors"].to_numpy(dtype=float)
    for i, (label, (_, r)) in enumerate(
        zip(table_labels(table), table.iterrows(), strict=True)
    ):
        n_rest, k_rest = counts.sum() - counts[i], errs.sum() - errs[i]
        if n_rest <= 0:
            continue
        rest_lo, rest_hi = wilson_interval(k_rest, n_rest)
        if float(r["error_rate_low"]) > float(rest_hi):
            out.append(
                Finding(
                    severity="warning",
                    score=float(r["error_rate"]) / max(k_rest / n_rest, 1e-12),
                    kind="error_outlier",
                    title=(
                        f"{label} fails more often than the rest: "
                        f"{_pct(float(r['error_rate']))} (95% CI "
                        f"{_pct(float(r['error_rate_low']))}-"
                        f"{_pct(float(r['error_rate_high']))}) against "
                        f"{_pct(k_rest / n_rest)} ({_pct(float(rest_lo))}-"
                        f"{_pct(float(rest_hi))}) for the other groups"
                    ),
                    numbers={
                        "group": label,
                        "error_rate": float(r["error_rate"]),
                        "error_rate_low": float(r["error_rate_low"]),
                        "error_rate_high": float(r["error_rate_high"]),
                        "rest_error_rate": k_rest / n_rest,
                        "rest_error_rate_low": float(rest_lo),
                        "rest_error_rate_high": float(rest_hi),
                        "requests": int(r["count"]),
                    },
                    section="errors",
                )
            )
    return out


def _episodes(flags: np.ndarray[Any, Any]) -> list[tuple[int, int]]:
    """Runs of consecutive True as (first, last) positions."""
    out: list[tuple[int, int]] = []
    start = None
    for i, f in enumerate(flags.tolist()):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


def error_bursts(
    windowed: Summary, overall_rate: float, *, alpha: float = 0.05
) -> pd.DataFrame:
    """Error bursts: runs of consecutive windows of one group whose Wilson interval at
    confidence ``1 - alpha / windows`` (Bonferroni over all group-windows, so a burst is
    not just the luckiest of many windows) lies entirely above twice ``overall_rate``.

    ``windowed`` is a summary with ``every=``; the result has one row per burst (index
    ``group``; start, end, requests, errors, error rate and its 95 % interval), the
    bursts with the most errors first.
    """
    import pandas as pd

    hourly = windowed.table
    columns = [
        "start", "end", "requests", "errors",
        "error_rate", "error_rate_low", "error_rate_high",
    ]  # fmt: skip
    if "errors" not in hourly or len(hourly) == 0:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="group"))
    step = pd.Timedelta(windowed.every) if windowed.every is not None else None
    confidence = 1 - alpha / max(1, len(hourly))
    h_lo, _ = wilson_interval(
        hourly["errors"].to_numpy(dtype=float),
        hourly["count"].to_numpy(dtype=float),
        confidence=confidence,
    )
    flagged = np.asarray(h_lo) > 2 * overall_rate
    bursts: list[dict[str, Any]] = []
    group_levels = [n for n in hourly.index.names if n != "window_start"]
    times = hourly.index.get_level_values("window_start")
    keys = (
        table_labels(hourly.droplevel("window_start"))
        if group_levels
        else [""] * len(hourly)
    )
    keys_arr = np.array(keys, dtype=object)
    for key in dict.fromkeys(keys):
        pos = np.flatnonzero(keys_arr == key)
        for first, last in _episodes(flagged[pos]):
            rows = pos[first : last + 1]
            n = float(hourly["count"].to_numpy()[rows].sum())
            k = float(hourly["errors"].to_numpy()[rows].sum())
            lo, hi = wilson_interval(k, n)
            end = times[rows[-1]]
            bursts.append(
                {
                    "group": key,
                    "start": times[rows[0]],
                    "end": end + step if step is not None else end,
                    "requests": int(n),
                    "errors": int(k),
                    "error_rate": k / n,
                    "error_rate_low": float(lo),
                    "error_rate_high": float(hi),
                }
            )
    bursts.sort(key=lambda b: -b["errors"])
    if not bursts:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="group"))
    return pd.DataFrame(bursts).set_index("group")


def burst_findings(
    bursts: pd.DataFrame, overall_rate: float, *, top: int = 5
) -> list[Finding]:
    """A warning for each of the ``top`` bursts of :func:`error_bursts`."""
    out = []
    for group, b in bursts.head(top).iterrows():
        numbers = {"group": group, **{str(k): v for k, v in b.items()}}
        numbers["overall_error_rate"] = overall_rate
        out.append(
            Finding(
                severity="warning",
                score=float(b["error_rate"]) / max(overall_rate, 1e-12),
                kind="error_burst",
                title=(
                    f"Error burst on {group or 'all requests'} "
                    f"{b['start']:%Y-%m-%d %H:%M}-{b['end']:%H:%M} UTC: "
                    f"{_pct(b['error_rate'])} of {int(b['requests']):,} requests failed "
                    f"(95% CI {_pct(b['error_rate_low'])}-{_pct(b['error_rate_high'])})"
                    f" against {_pct(overall_rate)} overall"
                ),
                numbers=numbers,
                section="errors",
            )
        )
    return out


def crossed_units(
    frame: pd.DataFrame, *, by: str = "variant", unit: str = "user_id"
) -> list[str]:
    """Units seen in more than one arm: the ``unit`` values (as text, sorted) whose
    rows carry two or more distinct ``by`` values. Rows missing either are ignored;
    an empty list when either column is absent.

    A unit in two arms means the assignment is not sticky per unit (a coin per
    request): its requests are counted in both arms and the arms are not
    independent samples.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"variant": ["a", "b", "a", "b", "a"],
    ...                    "user_id": ["u1", "u1", "u2", "u3", "u3"]})
    >>> crossed_units(ev)
    ['u1', 'u3']
    """
    if by not in frame.columns or unit not in frame.columns:
        return []
    sub = frame[[by, unit]].dropna()
    if sub.empty:
        return []
    sub = sub.astype({by: "string", unit: "string"})
    arms = sub.groupby(unit, observed=True, sort=False)[by].nunique()
    return sorted(str(u) for u in arms.index[arms.to_numpy() > 1])


def crossed_units_message(
    crossed: list[str], *, by: str = "variant", unit: str = "user_id", shown: int = 5
) -> str:
    """The warning for :func:`crossed_units`: how many, and the first ``shown``."""
    examples = ", ".join(crossed[:shown])
    more = "" if len(crossed) <= shown else f" and {len(crossed) - shown:,} more"
    return (
        f"{len(crossed):,} {unit} value{'s' if len(crossed) != 1 else ''} "
        f"appear{'' if len(crossed) != 1 else 's'} in more than one {by} "
        f"({examples}{more}): the assignment is not sticky per {unit}, so their "
        "requests count in several arms and the arms are not independent"
    )


def crossed_units_finding(
    frame: pd.DataFrame, *, by: str = "variant", unit: str = "user_id"
) -> Finding | None:
    """A warning when units appear in more than one arm (None when none do),
    scored by their share of the units.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"variant": ["a", "b", "a"], "user_id": ["u1", "u1", "u2"]})
    >>> crossed_units_finding(ev).numbers["crossed_units"]
    1
    """
    crossed = crossed_units(frame, by=by, unit=unit)
    if not crossed:
        return None
    n_units = int(frame[unit].dropna().nunique())
    return Finding(
        severity="warning",
        score=len(crossed) / max(n_units, 1),
        kind="crossed_units",
        title=crossed_units_message(crossed, by=by, unit=unit),
        numbers={
            "crossed_units": len(crossed),
            "units": n_units,
            "examples": ", ".join(crossed[:5]),
            "by": by,
            "unit": unit,
        },
        section="ab",
    )
