"""compare: A/B comparison of variants per metric, with Holm correction and verdicts."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from perfstats._json import json_scalar
from perfstats.analysis.summary import events_frame
from perfstats.stats.hypothesis_tests import (
    SRMResult,
    required_sample_size,
    srm_test,
    welch_t_test,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["METRICS", "Comparison", "compare", "holm"]

#: Metric name -> (how it is built from events, whether it is compared on the log scale).
#: Every metric here is better when lower.
METRICS: dict[str, str] = {
    "latency": "latency_ms per successful request, geometric means (log scale)",
    "error_rate": "share of failed requests",
    "tokens": "input_tokens + output_tokens per request",
    "cost_per_request": "cost_usd per request",
}


def holm(pvalues: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def _metric_values(frame: pd.DataFrame, metric: str) -> npt.NDArray[np.float64] | None:
    cols = frame.columns
    if metric == "latency":
        if "latency_ms" not in cols:
            return None
        lat = frame["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
        if "success" in cols:
            lat = lat[frame["success"].fillna(False).to_numpy(dtype=bool)]
        lat = lat[~np.isnan(lat)]
        positive: npt.NDArray[np.float64] = lat[lat > 0]
        return positive
    if metric == "error_rate":
        if "success" in cols:
            return (~frame["success"].fillna(False).to_numpy(dtype=bool)).astype(
                np.float64
            )
        if "error" in cols:
            return frame["error"].notna().to_numpy().astype(np.float64)
        return None
    if metric == "tokens":
        parts = [c for c in ("input_tokens", "output_tokens") if c in cols]
        if not parts:
            return None
        total = sum(frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in parts)
        arr = np.asarray(total, dtype=np.float64)
        return arr[~np.isnan(arr)]
    if metric == "cost_per_request":
        if "cost_usd" not in cols:
            return None
        arr = frame["cost_usd"].to_numpy(dtype=np.float64, na_value=np.nan)
        return arr[~np.isnan(arr)]
    raise ValueError(f"unknown metric {metric!r}; choose from {sorted(METRICS)}")


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (variant, metric): sizes, means, ``relative_lift`` with
        ``lift_low``/``lift_high`` (fractions: 0.05 is +5%), ``pvalue`` and Holm's
        ``pvalue_adjusted``, ``required_n`` (variant size needed, at the observed
        split, to detect the minimum effect with the requested power),
        ``sample_size_met`` and a ``verdict`` ("better", "worse", "no difference",
        "inconclusive").
    verdicts : dict of str to str
        Overall decision per variant: "ship", "roll back" or "keep running".
    reasons : dict of str to str
        Why, in one sentence per variant.
    srm : SRMResult or None
        Sample-ratio check against ``planned_split`` (None when no split was given).
    """

    table: pd.DataFrame
    baseline: str
    by: str
    verdicts: dict[str, str]
    reasons: dict[str, str]
    srm: SRMResult | None
    missing: dict[str, str] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The per-metric table (a copy)."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the table, verdicts and sample-ratio check."""

        return {
            "by": self.by,
            "baseline": self.baseline,
            "verdicts": self.verdicts,
            "reasons": self.reasons,
            "srm": None if self.srm is None else self.srm.to_dict(),
            "metrics": [
                {k: json_scalar(v) for k, v in r.items()}
                for r in self.table.to_dict(orient="records")
            ],
            "missing": self.missing,
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), **kwargs)

    def __repr__(self) -> str:
        lines = [f"Comparison(by={self.by!r}, baseline={self.baseline!r})"]
        for variant, verdict in self.verdicts.items():
            lines.append(f"  {variant}: {verdict.upper()} - {self.reasons[variant]}")
        cols = ["variant", "metric", "relative_lift", "pvalue_adjusted", "verdict"]
        lines.append(
            self.table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}")
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        items = "".join(
            f"<li><b>{html.escape(v)}</b>: {html.escape(d)} ({html.escape(self.reasons[v])})</li>"
            for v, d in self.verdicts.items()
        )
        return (
            f"<div class='perfstats-comparison'><p>Compared by {html.escape(self.by)} "
            f"against {html.escape(self.baseline)}</p><ul>{items}</ul>"
            f"{self.table.to_html(index=False, float_format=lambda v: f'{v:.4g}')}</div>"
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Forest plot of relative lifts with their confidence intervals (in %)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * len(self.table)))
        t = self.table.reset_index(drop=True)
        y = np.arange(len(t))[::-1]
        lift = 100 * t["relative_lift"].to_numpy(dtype=float)
        lo = 100 * t["lift_low"].to_numpy(dtype=float)
        hi = 100 * t["lift_high"].to_numpy(dtype=float)
        colors = [
            {"better": "tab:green", "worse": "tab:red"}.get(v, "tab:gray")
            for v in t["verdict"]
        ]
        for yi, low, high, color in zip(y, lo, hi, colors, strict=True):
            ax.plot([low, high], [yi, yi], color=color)
        ax.scatter(lift, y, c=colors, zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(
            y, [f"{v}: {m}" for v, m in zip(t["variant"], t["metric"], strict=True)]
        )
        ax.set_xlabel(f"relative change vs {self.baseline} (%)")
        return ax


def compare(
    events: Any,
    *,
    by: str = "variant",
    baseline: str | None = None,
    metrics: Sequence[str] = tuple(METRICS),
    planned_split: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    minimum_detectable_effect: float = 0.05,
    power: float = 0.8,
    confidence: float = 0.95,
) -> Comparison:
    """Compare each variant with the baseline on latency, errors, tokens and cost.

    Every metric is tested with Welch's t-test (latency on the log scale, so its lift is
    the ratio of geometric means, i.e. of medians for lognormal latency; error rate on
    0/1 outcomes, the unpooled two-proportion z-test for large samples). p-values are
    Holm-corrected across the metrics of a variant. All metrics are better when lower.

    Parameters
    ----------
    events : perfstats.io.events.Events or pandas.DataFrame
        Events with a ``by`` column and any of latency_ms, success/error, tokens, cost.
    by : str, default "variant"
        Column naming the arm of each request.
    baseline : str, optional
        The reference arm; default "control" when present, else the largest arm.
    metrics : sequence of str
        Any of :data:`METRICS`; metrics whose columns are missing are skipped and listed
        in ``missing``.
    planned_split : mapping of str to float, optional
        Intended traffic share per arm, e.g. ``{"control": 0.9, "v2": 0.1}``; enables
        the sample-ratio-mismatch check (chi-square, flagged below p = 0.001).
    alpha : float, default 0.05
        Family-wise significance level after Holm's correction.
    minimum_detectable_effect : float, default 0.05
        Relative change worth detecting (5%); sets the sample size each arm needs at
        ``power``.
    power : float, default 0.8
        Power for the sample-size requirement.
    confidence : float, default 0.95
        Level of the lift intervals.

    Returns
    -------
    Comparison
        Overall verdict per variant: "roll back" when any metric is significantly worse
        (or the split is mismatched: results untrustworthy), "ship" when at least one is
        significantly better and none worse, or when nothing differs although every
        metric had the sample size to detect the minimum effect; else "keep running".

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from perfstats import compare
    >>> rng = np.random.default_rng(1)
    >>> n = 4000
    >>> arm = np.where(rng.random(n) < 0.5, "control", "fast")
    >>> lat = rng.lognormal(np.log(800), 0.5, n) * np.where(arm == "fast", 0.8, 1.0)
    >>> events = pd.DataFrame({
    ...     "timestamp": pd.date_range("2026-01-01", periods=n, freq="s", tz="UTC"),
    ...     "variant": arm, "latency_ms": lat, "success": rng.random(n) > 0.02})
    >>> c = compare(events, planned_split={"control": 0.5, "fast": 0.5})
    >>> c.verdicts
    {'fast': 'ship'}
    >>> row = c.table.query("metric == 'latency'").iloc[0]
    >>> bool(-0.24 < row.relative_lift < -0.16)
    True
    """
    import pandas as pd

    frame = events_frame(events)
    if by not in frame.columns:
        raise ValueError(f"events have no {by!r} column to compare by")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not minimum_detectable_effect > 0:
        raise ValueError(
            f"minimum_detectable_effect must be > 0, got {minimum_detectable_effect}"
        )
    arms = frame[by].astype("string")
    counts = arms.value_counts(dropna=True)
    if len(counts) < 2:
        raise ValueError(
            f"need at least two {by} values to compare, got {list(counts.index)}"
        )
    if baseline is None:
        baseline = "control" if "control" in counts.index else str(counts.index[0])
    if baseline not in counts.index:
        raise ValueError(
            f"baseline {baseline!r} not among {by} values {sorted(counts.index)}"
        )

    srm = None
    if planned_split is not None:
        unknown = set(planned_split) - set(counts.index)
        if unknown:
            raise ValueError(
                f"planned_split names arms with no events: {sorted(unknown)}"
            )
        names = list(planned_split)
        srm = srm_test(
            [int(counts.get(k, 0)) for k in names], [planned_split[k] for k in names]
        )

    missing: dict[str, str] = {}
    base_mask = (arms == baseline).fillna(False).to_numpy(dtype=bool)
    base_frame = frame[base_mask]
    rows: list[dict[str, Any]] = []
    verdicts: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for variant in [str(v) for v in counts.index if v != baseline]:
        mask = (arms == variant).fillna(False).to_numpy(dtype=bool)
        var_frame = frame[mask]
        vrows: list[dict[str, Any]] = []
        for metric in metrics:
            a = _metric_values(var_frame, metric)
            b = _metric_values(base_frame, metric)
            if a is None or b is None:
                missing[metric] = f"no columns for {metric} ({METRICS[metric]})"
                continue
            if a.size < 2 or b.size < 2:
                missing[f"{metric} ({variant})"] = "fewer than 2 observations in an arm"
                continue
            log = metric == "latency"
            if np.ptp(a) == 0 and np.ptp(b) == 0:
                if a[0] == b[0]:  # e.g. no errors in either arm: nothing to test
                    vrows.append(_constant_row(variant, metric, a, b))
                    continue
            res = welch_t_test(
                a, b, alternative="two-sided", confidence=confidence, log=log
            )
            sample = np.log(b) if log else b
            sd = float(np.std(sample, ddof=1))
            mean_b = float(np.mean(sample))
            effect = (
                math.log1p(minimum_detectable_effect)
                if log
                else (minimum_detectable_effect * abs(mean_b))
            )
            if sd > 0 and effect > 0:
                # per-arm size for the variant (a), the baseline getting its actual share
                need = required_sample_size(
                    effect, sd, alpha=alpha, power=power, ratio=b.size / a.size
                )
                required_n = math.ceil(need)
            else:
                required_n = 2
            vrows.append(
                {
                    "variant": variant,
                    "metric": metric,
                    "n": a.size,
                    "n_baseline": b.size,
                    "mean": float(np.exp(np.mean(np.log(a))))
                    if log
                    else float(a.mean()),
                    "mean_baseline": float(np.exp(mean_b)) if log else mean_b,
                    "relative_lift": res.relative_lift,
                    "lift_low": res.relative_lift_ci[0],
                    "lift_high": res.relative_lift_ci[1],
                    "pvalue": res.pvalue,
                    "required_n": required_n,
                    "sample_size_met": bool(a.size >= required_n),
                }
            )
        if not vrows:
            continue
        adjusted = holm([r_["pvalue"] for r_ in vrows])
        for row, p_adj in zip(vrows, adjusted, strict=True):
            row["pvalue_adjusted"] = float(p_adj)
            if p_adj < alpha:
                row["verdict"] = "better" if row["relative_lift"] < 0 else "worse"
            elif row["sample_size_met"]:
                row["verdict"] = "no difference"
            else:
                row["verdict"] = "inconclusive"
        rows.extend(vrows)
        verdicts[variant], reasons[variant] = _overall(vrows, srm)
    columns = [
        "variant", "metric", "n", "n_baseline", "mean", "mean_baseline", "relative_lift",
        "lift_low", "lift_high", "pvalue", "pvalue_adjusted", "required_n",
        "sample_size_met", "verdict",
    ]  # fmt: skip
    return Comparison(
        table=pd.DataFrame(rows, columns=columns),
        baseline=baseline,
        by=by,
        verdicts=verdicts,
        reasons=reasons,
        srm=srm,
        missing=missing,
    )


def _constant_row(
    variant: str, metric: str, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> dict[str, Any]:
    """Both arms constant and equal (e.g. zero errors): no difference, p = 1."""
    return {
        "variant": variant,
        "metric": metric,
        "n": a.size,
        "n_baseline": b.size,
        "mean": float(a[0]),
        "mean_baseline": float(b[0]),
        "relative_lift": 0.0 if b[0] != 0 else math.nan,
        "lift_low": math.nan,
        "lift_high": math.nan,
        "pvalue": 1.0,
        "required_n": 2,
        "sample_size_met": True,
    }


def _overall(rows: list[dict[str, Any]], srm: SRMResult | None) -> tuple[str, str]:
    if srm is not None and srm.mismatch:
        return "roll back", (
            f"sample ratio mismatch (p = {srm.pvalue:.2g}): assignment is broken, "
            "so no metric can be trusted"
        )
    worse = [r["metric"] for r in rows if r["verdict"] == "worse"]
    better = [r["metric"] for r in rows if r["verdict"] == "better"]
    if worse:
        return "roll back", "significantly worse on " + ", ".join(worse)
    if better:
        return "ship", "significantly better on " + ", ".join(
            better
        ) + ", worse on none"
    if all(r["sample_size_met"] for r in rows):
        return (
            "ship",
            "no significant difference, with enough data to detect the minimum effect",
        )
    short = [r["metric"] for r in rows if not r["sample_size_met"]]
    return "keep running", "not enough data yet for " + ", ".join(short)
