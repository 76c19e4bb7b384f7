"""The report's sections: each a plain function of the :class:`ReportContext` that
returns a :class:`Section` (notes, tables, charts and its findings) or None when the data
do not allow it. :data:`DEFAULT_SECTIONS` lists them in order."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from perfstats._display import format_ms as _ms
from perfstats._display import format_pct as _pct
from perfstats._display import group_label
from perfstats.analysis.findings import (
    Finding,
    burst_findings,
    crossed_units_finding,
    error_bursts,
    error_outliers,
    sla_misses,
    tail_drivers,
)
from perfstats.analysis.summary import summarize
from perfstats.io.failure import error_present
from perfstats.report.charts import Chart
from perfstats.report.context import ReportContext, Section, SectionFunction
from perfstats.report.context import index_labels as _index_labels

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "ANOMALY_METRICS",
    "ANOMALY_MIN_DAYS",
    "ANOMALY_THRESHOLD",
    "DEFAULT_SECTIONS",
    "TREND_HORIZON",
    "TREND_MIN_DAYS",
    "ab_section",
    "anomalies_section",
    "cost_section",
    "errors_section",
    "history_section",
    "latency_section",
    "merge_incidents",
    "overview_section",
    "phases_section",
    "report_checks",
    "tokens_section",
    "trend_section",
    "variants_section",
]


def overview_section(ctx: ReportContext) -> Section:
    """Size, time range and the headline numbers over all events."""
    import pandas as pd

    frame = ctx.frame
    row = ctx.overall.table.iloc[0]
    ts = frame["timestamp"]
    rows: dict[str, Any] = {
        "requests": len(frame),
        "start": ts.min(),
        "end": ts.max(),
        "days": (ts.max() - ts.min()).total_seconds() / 86400.0,
    }
    if ctx.by in frame.columns:
        rows[f"{ctx.by} values"] = int(frame[ctx.by].nunique())
    for col in (
        "throughput_rps",
        "error_rate",
        "latency_p50",
        "latency_p99",
        "sla_compliance",
        "cost_usd",
    ):
        if col in row.index:
            rows[col] = row[col]
    sec = Section("overview", "Overview")
    sec.tables["overview"] = pd.DataFrame({"value": pd.Series(rows, dtype=object)})
    if len(ctx.events.skipped):
        sec.notes.append(
            f"{len(ctx.events.skipped)} invalid row(s) were skipped when reading: "
            + ", ".join(f"{k} ({v})" for k, v in ctx.events.skipped_by_reason().items())
        )
    for name, why in ctx.summary.missing.items():
        sec.notes.append(f"Not computed: {name} ({why}).")
    hourly = ctx.hourly.table

    def draw(ax: Axes) -> None:
        _time_lines(ax, hourly, "count", ctx.by)
        ax.set_ylabel("requests per hour")

    sec.charts.append(Chart("Requests per hour", draw))
    return sec


def _time_lines(ax: Axes, table: pd.DataFrame, column: str, by: str) -> None:
    """One line per group of an hourly summary table."""
    import matplotlib.dates as mdates
    import pandas as pd

    if isinstance(table.index, pd.MultiIndex):
        for key, part in table.groupby(level=by, observed=True):
            times = part.index.get_level_values("window_start")
            label = group_label(key if isinstance(key, tuple) else (key,))
            ax.plot(times, part[column].to_numpy(), lw=0.9, label=label)
        ax.legend(fontsize="small", loc="upper left")
    else:
        ax.plot(table.index, table[column].to_numpy(), lw=0.9)
    locator = mdates.AutoDateLocator(maxticks=10)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.tick_params(axis="x", labelsize="small")
    ax.grid(alpha=0.3)


#: Most panels a small-multiples chart draws (the groups with the most requests).
MAX_PANELS = 8


def _hourly_panels(
    title: str,
    table: pd.DataFrame,
    column: str,
    by: str,
    *,
    ylabel: str,
    reference: float | None = None,
    band: tuple[str, str] | None = None,
    percent: bool = False,
) -> Chart:
    """Small multiples of an hourly summary table: one panel per group (the
    :data:`MAX_PANELS` largest), a shared time axis, the optional ``band`` columns
    (an interval) shaded, and a log scale when the values span more than 20x, so a
    spike does not flatten the others and nothing is cut at an axis limit."""
    import pandas as pd

    if isinstance(table.index, pd.MultiIndex):
        sizes = table.groupby(level=by, observed=True)["count"].sum()
        keys = list(sizes.sort_values(ascending=False, kind="stable").index)
        parts = [
            (group_label(k if isinstance(k, tuple) else (k,)), table.xs(k, level=by))
            for k in keys[:MAX_PANELS]
        ]
        if len(keys) > MAX_PANELS:
            title += f"; the {MAX_PANELS} largest of {len(keys)} groups"
    else:
        parts = [("all", table)]
    values = table[column].to_numpy(dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    log = (
        not percent
        and len(positive) > 1
        and float(positive.max()) > 20 * float(positive.min())
    )

    def draw_panels(axes: Any) -> None:
        import matplotlib.dates as mdates

        for ax, (label, part) in zip(axes, parts, strict=True):
            times = part.index.get_level_values("window_start")
            if band is not None:
                ax.fill_between(
                    times,
                    part[band[0]].to_numpy(dtype=float),
                    part[band[1]].to_numpy(dtype=float),
                    color="C0",
                    alpha=0.25,
                    lw=0,
                    step="mid",
                )
            ax.plot(times, part[column].to_numpy(dtype=float), lw=0.9, color="C0")
            if reference is not None:
                ax.axhline(reference, color="k", ls="--", lw=0.8)
            if log:
                from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

                ax.set_yscale("log")
                ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
            elif percent:
                from matplotlib.ticker import PercentFormatter

                ax.set_ylim(bottom=0)
                ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            else:
                ax.set_ylim(bottom=0)
            ax.set_ylabel(ylabel, fontsize="small")
            ax.set_title(label, fontsize="small", loc="left")
            ax.tick_params(labelsize="small")
            ax.grid(alpha=0.3)
        locator = mdates.AutoDateLocator(maxticks=10)  # type: ignore[no-untyped-call]
        axes[-1].xaxis.set_major_locator(locator)
        formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        axes[-1].xaxis.set_major_formatter(formatter)

    return Chart(
        title,
        None,
        height=0.8 + 1.5 * len(parts),
        panels=len(parts),
        draw_panels=draw_panels,
    )


def latency_section(ctx: ReportContext) -> Section | None:
    """Latency percentiles and SLA buckets per group; SLA compliance misses."""
    table = ctx.summary.table
    if "latency_p99" not in table:
        return None
    pcols = [c for c in table.columns if re.fullmatch(r"latency_p[\d.]+", c)]
    bcols = [c for c in table.columns if c.startswith(("le_", "gt_"))]
    sec = Section("latency", "Latency and SLA")
    sec.tables["latency"] = table[["count", *pcols, "latency_mean", "sla_compliance"]]
    sec.tables["sla_buckets"] = table[bcols]
    sec.notes.append(
        f"Percentiles in ms from quantile sketches (1% relative error). SLA target "
        f"{_ms(ctx.sla_target_ms)}, objective {_pct(ctx.sla_objective)} of requests "
        f"within it; bucket shares are exact."
    )
    sec.findings += sla_misses(
        ctx.summary, sla_target_ms=ctx.sla_target_ms, sla_objective=ctx.sla_objective
    )

    def draw_buckets(ax: Axes) -> None:
        left = np.zeros(len(table))
        labels = _index_labels(table)
        from matplotlib import colormaps

        colors = colormaps["RdYlGn_r"](np.linspace(0.05, 0.95, len(bcols)))
        for col, color in zip(bcols, colors, strict=True):
            vals = table[col].to_numpy(dtype=float)
            ax.barh(labels, vals, left=left, color=color, label=col)
            left += vals
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of requests")
        ax.legend(
            fontsize="small",
            ncol=len(bcols),
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            frameon=False,
        )

    hourly = ctx.hourly.table
    sec.charts.append(Chart("SLA buckets", draw_buckets, height=0.6 + 0.5 * len(table)))
    sec.charts.append(
        _hourly_panels(
            "p99 latency per hour, one panel per group (dashed: SLA target)",
            hourly,
            "latency_p99",
            ctx.by,
            ylabel="p99 (ms)",
            reference=ctx.sla_target_ms,
        )
    )
    return sec


def phases_section(ctx: ReportContext) -> Section | None:
    """Phase percentiles and each phase's share of the tail; which phase drives p99."""
    table = ctx.summary.table
    shares = [c for c in table.columns if c.endswith("_tail_share")]
    if not shares or "tail_driver" not in table:
        return None
    phases = [c[: -len("_tail_share")] for c in shares]
    pcols = [c for c in table.columns if re.fullmatch(r".+_ms_p(50|99)", c)]
    sec = Section("phases", "Phases")
    sec.tables["phase_percentiles"] = table[pcols]
    sec.tables["tail_share"] = table[[*shares, "tail_driver"]]
    sec.notes.append(
        "Tail share: each phase's part of the total latency of the requests at or "
        "above their group's p99."
    )
    sec.findings += tail_drivers(ctx.summary, sla_target_ms=ctx.sla_target_ms)

    p50 = {ph: f"{ph}_p50" for ph in phases if f"{ph}_p50" in table}
    two = len(p50) == len(phases)

    def draw(ax: Axes) -> None:
        groups = _index_labels(table)
        pos = np.arange(len(table), dtype=float)
        rows: list[tuple[str, np.ndarray, Any]] = []
        if two:  # each phase's part of the sum of the phases' medians
            med = table[[p50[ph] for ph in phases]].to_numpy(dtype=float)
            total = np.nansum(med, axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                rows.append(("p50", np.nan_to_num(med / total), pos - 0.2))
        tail = np.column_stack(
            [table[f"{ph}_tail_share"].to_numpy(dtype=float) for ph in phases]
        )
        rows.append(("p99", np.nan_to_num(tail), pos + 0.2 if two else pos))
        height = 0.38 if two else 0.7
        for which, shares, y in rows:
            left = np.zeros(len(table))
            for i, ph in enumerate(phases):
                ax.barh(
                    y,
                    shares[:, i],
                    height=height,
                    left=left,
                    color=f"C{i}",
                    label=ph if which == "p99" else None,
                )
                left += shares[:, i]
        if two:
            ticks = np.concatenate([pos - 0.2, pos + 0.2])
            names = [f"{g} p50" for g in groups] + [f"{g} p99" for g in groups]
            ax.set_yticks(ticks, names, fontsize="small")
        else:
            ax.set_yticks(pos, groups)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel(
            "share of latency: p50 = phase medians, p99 = requests at or above p99"
        )
        ax.legend(
            fontsize="small",
            ncol=len(phases),
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            frameon=False,
        )

    sec.charts.append(
        Chart(
            "Phase shares at p50 and in the p99 tail"
            if two
            else "Phase shares of the p99 tail",
            draw,
            0.8 + (0.8 if two else 0.5) * len(table),
        )
    )
    return sec


def errors_section(ctx: ReportContext) -> Section | None:
    """Error rates per group with Wilson intervals, error types, groups failing more
    than the rest, and error bursts: runs of hours whose (Bonferroni-corrected)
    interval lies above twice the overall rate."""

    table = ctx.summary.table
    if "error_rate" not in table:
        return None
    overall = float(ctx.overall.table["error_rate"].iloc[0])
    sec = Section("errors", "Errors")
    sec.tables["error_rate"] = table[
        ["count", "errors", "error_rate", "error_rate_low", "error_rate_high"]
    ]
    frame = ctx.frame
    if "error" in frame.columns and ctx.by in frame.columns:
        types = (
            frame.loc[error_present(frame["error"]), [ctx.by, "error"]]
            .astype(str)
            .value_counts()
            .unstack(fill_value=0)
        )
        if not types.empty:
            sec.tables["error_types"] = types
    hourly = ctx.hourly.table
    n_hours = len(hourly)
    sec.notes.append(
        f"Overall error rate {_pct(overall)}; intervals are 95% Wilson intervals. A "
        "group is an outlier when its interval lies above that of all other groups "
        "together; an hour is part of a burst when its Wilson interval at "
        f"confidence 1 - 0.05/{n_hours} (Bonferroni over the {n_hours} group-hours) "
        "lies entirely above twice the overall rate."
    )
    sec.findings += error_outliers(ctx.summary)
    bursts = error_bursts(ctx.hourly, overall, alpha=0.05)
    if len(bursts):
        sec.tables["error_bursts"] = bursts
    sec.findings += burst_findings(bursts, overall)

    band = (
        ("error_rate_low", "error_rate_high")
        if {"error_rate_low", "error_rate_high"} <= set(hourly.columns)
        else None
    )
    sec.charts.append(
        _hourly_panels(
            "Error rate per hour with its 95% Wilson interval, one panel per group "
            "(dashed: overall rate)",
            hourly,
            "error_rate",
            ctx.by,
            ylabel="error rate",
            reference=overall,
            band=band,
            percent=True,
        )
    )
    return sec


def cost_section(ctx: ReportContext) -> Section | None:
    """Spend per model, endpoint and day; model concentration; budget status."""
    cost = ctx.cost
    if cost is None:
        return None
    sec = Section("cost", "Cost")
    sec.notes.append(
        f"Total ${cost.total_usd:,.2f} over {cost.requests:,} requests; prices as of "
        f"{cost.prices_as_of or 'unknown'}."
    )
    for m in cost.missing:
        sec.notes.append(f"Not computed: {m}.")
    if cost.unpriced:
        sec.notes.append(f"Models without a price: {cost.unpriced}.")
    for w in cost.warnings:
        sec.notes.append(f"Warning: {w}.")
    if cost.unknown_requests:
        sec.findings.append(
            Finding(
                severity="warning",
                score=cost.unknown_requests / max(cost.requests, 1),
                kind="unknown_cost",
                title=(
                    f"{cost.unknown_requests:,} of {cost.requests:,} requests have no "
                    "known cost: spend shown is a lower bound"
                    + (
                        f" (unpriced: {', '.join(cost.unpriced)})"
                        if cost.unpriced
                        else ""
                    )
                ),
                numbers={
                    "unknown_requests": cost.unknown_requests,
                    "requests": cost.requests,
                },
                section="cost",
            )
        )
    cols = ["requests", "cost_usd", "unpriced", "cost_share", "request_share"]
    if not cost.by_model.empty:
        by_model = cost.by_model[cols].copy()
        by_model["cost_per_request"] = by_model["cost_usd"] / by_model["requests"]
        sec.tables["cost_by_model"] = by_model
        for name, r in cost.by_model.iterrows():
            cs, rs = float(r["cost_share"]), float(r["request_share"])
            if cs >= 0.2 and rs > 0 and cs / rs >= 1.5:
                sec.findings.append(
                    Finding(
                        severity="info",
                        score=cs / rs,
                        kind="cost_concentration",
                        title=(
                            f"{name} takes {_pct(cs)} of spend for {_pct(rs)} of calls "
                            f"(${float(r['cost_usd']):,.2f}, "
                            f"{cs / rs:.1f}x its share of calls)"
                        ),
                        numbers={
                            "model": str(name),
                            "cost_share": cs,
                            "request_share": rs,
                            "cost_usd": float(r["cost_usd"]),
                            "requests": int(r["requests"]),
                        },
                        section="cost",
                    )
                )
    if not cost.by_endpoint.empty:
        sec.tables["cost_by_endpoint"] = cost.by_endpoint[cols]
    if cost.budget is not None and len(cost.budget):
        budget = cost.budget
        sec.tables["budget"] = budget
        last = budget.iloc[-1]
        period = str(budget.index[-1])
        over = budget[budget["share"] >= 1.0]
        spend, limit = float(last["spend_usd"]), float(last["budget_usd"])
        projected = float(last["projected_usd"])
        share = spend / limit
        if share >= 1.0 or (np.isfinite(projected) and projected > limit):
            severity = "critical"
        elif share >= 0.8 or len(over):
            severity = "warning"
        else:
            severity = "info"
        title = (
            f"Budget {period}: ${spend:,.2f} of ${limit:,.2f} per "
            f"{cost.budget_period} spent ({_pct(share)}, {last['status']}); "
            + (
                f"projected ${projected:,.2f} by the end of the {cost.budget_period}"
                if np.isfinite(projected)
                else f"no projection: {last.get('projection', 'too little data')}"
            )
        )
        if len(over):
            title += f"; {len(over)} of {len(budget)} periods over budget"
        sec.findings.append(
            Finding(
                severity=severity,
                score=max(share, projected / limit),
                kind="budget",
                title=title,
                numbers={
                    "period": period,
                    "spend_usd": spend,
                    "budget_usd": limit,
                    "share": share,
                    "projected_usd": projected,
                    "periods_over_budget": len(over),
                    "periods": len(budget),
                },
                section="cost",
            )
        )
    if not cost.daily_by_model.empty:

        def draw(ax: Axes) -> None:
            cost.plot(ax=ax)
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))

        sec.charts.append(Chart("Spend per day by model", draw))
    return sec


def variants_section(ctx: ReportContext) -> Section | None:
    """Descriptive numbers per variant when the events have two or more variants.

    Significance tests and verdicts belong to the A/B comparison section (``compare``),
    which is added to the report's sections when that analysis exists.
    """
    if (
        not ctx.has("variant")
        or ctx.frame["variant"].nunique() < 2
        or ctx.by == "variant"
    ):
        return None
    s = summarize(ctx.events, by="variant", sla_target_ms=ctx.sla_target_ms)
    cols = [
        c
        for c in (
            "count",
            "latency_p50",
            "latency_p99",
            "sla_compliance",
            "error_rate",
            "error_rate_low",
            "error_rate_high",
            "cost_per_request",
        )
        if c in s.table
    ]
    table = s.table[cols].copy()
    table.insert(1, "request_share", table["count"] / table["count"].sum())
    sec = Section("variants", "Variants")
    sec.tables["variants"] = table
    sec.notes.append(
        "Descriptive numbers per variant (95% Wilson intervals for error rates); no "
        "significance test is made here."
    )
    return sec


def ab_section(ctx: ReportContext) -> Section | None:
    """A/B comparison of the variants (:func:`perfstats.compare`) when the events
    have two or more: relative lift with its CI, Holm-adjusted p-value and verdict per
    metric, the overall verdict per variant, and the sample-ratio check when the
    planned split is known."""
    from perfstats.analysis.comparison import INDEPENDENT, compare

    if not ctx.has("variant") or ctx.frame["variant"].nunique() < 2:
        return None
    comp = compare(ctx.events, by="variant", planned_split=ctx.planned_split)
    if comp.table.empty:
        return None
    sec = Section("ab", "A/B comparison")
    cols = [
        "variant", "metric", "role", "margin", "n", "n_baseline", "mean",
        "mean_baseline", "relative_lift", "lift_low", "lift_high", "pvalue_adjusted",
        "required_n", "sample_size_met", "verdict",
    ]  # fmt: skip
    sec.tables["comparison"] = comp.table[cols].set_index(["variant", "metric"])
    overall = {
        v: {"verdict": d, "reason": comp.reasons[v]} for v, d in comp.verdicts.items()
    }
    import pandas as pd

    sec.tables["verdicts"] = pd.DataFrame.from_dict(overall, orient="index")
    for unit in ("user_id", "session_id"):  # the columns compare's unit="auto" tries
        crossed = crossed_units_finding(ctx.frame, by="variant", unit=unit)
        if crossed is not None:
            sec.findings.append(crossed)
    sec.notes.append(
        f"Randomisation unit: {comp.unit} (the variances of the mean and rate tests "
        "account for a unit's requests being alike)."
        if comp.unit != INDEPENDENT
        else f"Randomisation unit: none found ({comp.unit}): no user_id or "
        "session_id column whose every value stays in one arm."
    )
    sec.notes.append(
        f"Each variant against {comp.baseline!r}. Latency is the primary metric "
        "(Welch t on the log scale: lifts are ratios of geometric means); error rate, "
        "tokens and cost are guardrails with non-inferiority margins (0.5 points, 5 %, "
        "5 %; latency 2 %); latency p50/p95/p99 are shown with distribution-free "
        "intervals. Ship: latency significantly better and every guardrail shown "
        "within its margin; roll back: a metric significantly worse beyond its "
        "margin; no difference: every metric shown within its margin; Holm over all "
        "arms and metrics, so each verdict is wrong at most 5 % of the time. "
        "Negative lifts are improvements (every metric is better when lower)."
    )
    if comp.srm is None:
        sec.notes.append(
            "No planned split given (--split on the command line, "
            "build_report(planned_split=...) in Python): the sample-ratio check was "
            "not made."
        )
    else:
        sec.tables["sample_ratio"] = pd.DataFrame([comp.srm.to_dict()])
        if comp.srm.mismatch:
            counts = ctx.frame["variant"].astype("string").value_counts()
            sec.findings.append(
                Finding(
                    severity="critical",
                    score=-math.log10(max(comp.srm.pvalue, 1e-300)),
                    kind="ab_sample_ratio",
                    title=(
                        "A/B sample ratio mismatch: observed "
                        + ", ".join(f"{k} {int(n):,}" for k, n in counts.items())
                        + " against the planned "
                        + ", ".join(
                            f"{k} {w:.0%}" for k, w in (ctx.planned_split or {}).items()
                        )
                        + f" (chi-square p = {comp.srm.pvalue:.2g}): the assignment "
                        "is broken and no A/B result can be trusted"
                    ),
                    numbers={
                        **{f"requests_{k}": int(n) for k, n in counts.items()},
                        **{
                            f"planned_share_{k}": w
                            for k, w in (ctx.planned_split or {}).items()
                        },
                        "chi2": comp.srm.statistic,
                        "pvalue": comp.srm.pvalue,
                    },
                    section="ab",
                )
            )
    rows: list[dict[Any, Any]] = comp.table.to_dict(orient="records")
    for r in rows:
        if r["verdict"] not in ("better", "worse"):
            continue
        sec.findings.append(
            Finding(
                severity="warning" if r["verdict"] == "worse" else "info",
                score=abs(float(r["relative_lift"])),
                kind="ab_metric",
                title=(
                    f"{r['variant']} is {r['verdict']} than {comp.baseline} on {r['metric']}: "
                    f"{100 * r['relative_lift']:+.1f}% (95% CI "
                    f"{100 * r['lift_low']:+.1f}% to {100 * r['lift_high']:+.1f}%, "
                    f"Holm-adjusted p = {r['pvalue_adjusted']:.2g}, "
                    f"n = {r['n']:,} vs {r['n_baseline']:,})"
                ),
                numbers={
                    "variant": r["variant"],
                    "baseline": comp.baseline,
                    "metric": r["metric"],
                    "relative_lift": float(r["relative_lift"]),
                    "lift_low": float(r["lift_low"]),
                    "lift_high": float(r["lift_high"]),
                    "pvalue_adjusted": float(r["pvalue_adjusted"]),
                    "n": int(r["n"]),
                    "n_baseline": int(r["n_baseline"]),
                },
                section="ab",
            )
        )
    for variant, verdict in comp.verdicts.items():
        sec.findings.append(
            Finding(
                severity="warning" if verdict == "roll back" else "info",
                score=1.0,
                kind="ab_verdict",
                title=(
                    f"A/B verdict for {variant}: {verdict.upper()} "
                    f"({comp.reasons[variant]})"
                ),
                numbers={
                    "variant": variant,
                    "baseline": comp.baseline,
                    "verdict": verdict,
                },
                section="ab",
            )
        )

    def draw(ax: Axes) -> None:
        comp.plot(ax=ax)
        ax.grid(alpha=0.3, axis="x")

    sec.charts.append(
        Chart(
            f"Relative change vs {comp.baseline} with 95% CI (green better, red worse)",
            draw,
            height=max(2.4, 0.6 + 0.45 * len(comp.table)),
        )
    )
    return sec


#: Days of daily windows the trend section needs, and how far it forecasts.
TREND_MIN_DAYS = 7
TREND_HORIZON = "14D"


def trend_section(ctx: ReportContext) -> Section | None:
    """Daily p95 latency with its linear trend and 95% forecast band
    (:func:`perfstats.trend`); findings when it is rising significantly and when
    the band crosses the SLA target within the horizon."""
    import pandas as pd

    from perfstats.analysis.metric_trend import trend

    if not ctx.has("latency_ms"):
        return None
    ts = ctx.frame["timestamp"]
    if (ts.max() - ts.min()) < pd.Timedelta(days=TREND_MIN_DAYS):
        return None
    sec = Section("trend", "Trend and forecast")
    try:
        tr = trend(
            ctx.events,
            "latency_p95",
            every="1D",
            budget=ctx.sla_target_ms,
            horizon=TREND_HORIZON,
        )
    except ValueError as err:  # too few days with data, or a degenerate fit
        sec.notes.append(f"No trend: {err}.")
        return sec
    frame = tr.to_frame()
    table = frame.rename(columns={"value": "latency_p95", "mean": "trend"})
    table.index = pd.Index(
        pd.DatetimeIndex(frame.index).strftime("%Y-%m-%d"), name="day"
    )
    sec.tables["p95_per_day"] = table
    slope, se = tr.slope_per_day, tr.fit.slope_se
    base = float(tr.fit.predict([0.0]).mean[0])
    relative = slope / base if base > 0 else math.nan
    crossing = tr.band_crossing
    last = tr.series.dropna().index[-1]
    noise = "independent" if tr.fit.errors == "iid" else "AR(1)"
    sec.notes.append(
        f"Daily p95 latency, trend over {tr.fit.nobs} days ({tr.fit.scale} scale, "
        f"{noise} noise): {slope:+.1f} ± {se:.1f} ms/day ({100 * relative:+.2f}%/day of the "
        f"first day's fitted value), slope p = {tr.fit.slope_pvalue:.2g}: "
        f"{tr.direction}. The band is the 95% prediction interval of a day's p95; "
        f"the forecast reaches {TREND_HORIZON.lower()} past the last day."
    )
    sec.notes.extend(f"Trend warning: {w}" for w in tr.warnings)
    numbers = {
        "slope_ms_per_day": slope,
        "slope_se_ms_per_day": se,
        "slope_pvalue": tr.fit.slope_pvalue,
        "relative_slope_per_day": relative,
        "sla_target_ms": ctx.sla_target_ms,
        "last_day": last,
        "last_day_p95_ms": float(tr.series.dropna().iloc[-1]),
    }
    if crossing is not None:
        days = (crossing - last) / pd.Timedelta(days=1)
        already = days <= 0
        last_p95 = numbers["last_day_p95_ms"]
        if not already:
            what = (
                f"may reach the SLA target of {_ms(ctx.sla_target_ms)} by "
                f"{crossing:%Y-%m-%d %H:%M} UTC ({days:.1f} days after the last day, "
                "upper 95% prediction band)"
            )
        elif last_p95 >= ctx.sla_target_ms:
            what = (
                f"is already above the SLA target of {_ms(ctx.sla_target_ms)} "
                f"({_ms(last_p95)} on {last:%Y-%m-%d})"
            )
        else:
            what = (
                f"is within the 95% band of the SLA target of {_ms(ctx.sla_target_ms)}"
                f" already ({_ms(last_p95)} on {last:%Y-%m-%d})"
            )
        sec.findings.append(
            Finding(
                severity="warning",
                score=1.0 + 14.0 / max(days, 0.5),
                kind="trend_crossing",
                title=(
                    f"Daily p95 latency {what}; trend {slope:+.0f} ± {se:.0f} ms/day "
                    f"({tr.direction})"
                ),
                numbers={**numbers, "crossing": crossing, "days_ahead": days},
                section="trend",
            )
        )
    elif tr.direction == "degrading":
        sec.findings.append(
            Finding(
                severity="info",
                score=abs(relative) * 100,
                kind="trend",
                title=(
                    f"Daily p95 latency is rising {slope:+.0f} ± {se:.0f} ms/day "
                    f"({100 * relative:+.2f}%/day, p = {tr.fit.slope_pvalue:.2g}); "
                    f"its 95% band stays below {_ms(ctx.sla_target_ms)} for "
                    f"the next {TREND_HORIZON.lower()}"
                ),
                numbers=numbers,
                section="trend",
            )
        )

    def draw(ax: Axes) -> None:
        tr.plot(ax=ax)
        _rename_legend(ax, {"budget": "SLA target"})
        ax.set_ylabel("p95 latency per day (ms)")
        ax.grid(alpha=0.3)

    sec.charts.append(
        Chart("Daily p95 latency, trend and 95% forecast band (red: SLA target)", draw)
    )
    return sec


#: Token columns the tokens section reads.
TOKEN_COLUMNS = ("input_tokens", "output_tokens")
#: Shortest span (days) over which the tokens section fits hourly token trends.
TOKEN_TREND_MIN_DAYS = 1.0


def tokens_section(ctx: ReportContext) -> Section | None:
    """Input and output tokens per group, per-hour throughput (requests and tokens)
    and the hourly token trends (:func:`perfstats.trend`, AR(1) noise when the hours
    are autocorrelated); a finding when tokens per hour rise significantly. Made for
    every trace with token counts, so a trace without latency still gets checked."""
    import pandas as pd

    from perfstats.analysis.metric_trend import trend

    cols = [c for c in TOKEN_COLUMNS if ctx.has(c)]
    if not cols:
        return None
    frame = ctx.frame
    sec = Section("tokens", "Tokens and throughput")
    keys = frame[ctx.by] if ctx.has(ctx.by) else pd.Series("all", index=frame.index)
    grouped = frame[cols].groupby(keys.astype(str).to_numpy())
    parts = {"requests": grouped.size()}
    for c in cols:
        g = grouped[c]
        parts[f"{c}_total"] = g.sum(min_count=1)
        parts[f"{c}_mean"] = g.mean()
        parts[f"{c}_p50"] = g.quantile(0.5)
        parts[f"{c}_p99"] = g.quantile(0.99)
    table = pd.DataFrame(parts)
    table.index.name = ctx.by if ctx.has(ctx.by) else "group"
    sec.tables["tokens"] = table
    hourly = frame.set_index("timestamp")[cols].resample("1h").sum(min_count=0)
    hourly.insert(0, "requests", frame.set_index("timestamp").resample("1h").size())
    stats = pd.DataFrame(
        {
            "mean": hourly.mean(),
            "p50": hourly.median(),
            "p99": hourly.quantile(0.99),
            "max": hourly.max(),
        }
    )
    stats.index.name = "per hour"
    sec.tables["per_hour"] = stats
    busiest = hourly["requests"].idxmax()
    sec.notes.append(
        f"Throughput over {len(hourly)} hours: {hourly['requests'].mean():,.0f} "
        f"requests per hour on average, {int(hourly['requests'].max()):,} at most "
        f"({busiest:%Y-%m-%d %H:00} UTC). Token counts are as recorded; missing "
        "counts are left out, not counted as 0."
    )
    span = (frame["timestamp"].max() - frame["timestamp"].min()) / pd.Timedelta(days=1)
    if span < TOKEN_TREND_MIN_DAYS:
        sec.notes.append(
            f"No token trend: {span:.2f} days of data; it needs "
            f"{TOKEN_TREND_MIN_DAYS:g}."
        )
    else:
        for c in cols:
            try:
                tr = trend(ctx.events, c, every="1h", horizon="1d")
            except ValueError as err:
                sec.notes.append(f"No {c} trend: {err}.")
                continue
            slope, se = tr.slope_per_day, tr.fit.slope_se
            level = float(hourly[c].mean())
            relative = slope / level if level > 0 else math.nan
            noise = "independent" if tr.fit.errors == "iid" else "AR(1)"
            sec.notes.append(
                f"{c} per hour: trend {slope:+,.0f} ± {se:,.0f} tokens/hour per day "
                f"({100 * relative:+.1f}%/day of the mean hour; {noise} noise), "
                f"p = {tr.fit.slope_pvalue:.2g}: {tr.direction}."
            )
            sec.notes.extend(f"{c} trend warning: {w}" for w in tr.warnings)
            if tr.direction == "degrading":
                sec.findings.append(
                    Finding(
                        severity="info",
                        score=abs(relative) * 100,
                        kind="token_trend",
                        title=(
                            f"{c.replace('_', ' ').capitalize()} per hour are rising "
                            f"{100 * relative:+.1f}%/day ({slope:+,.0f} ± {se:,.0f} "
                            f"tokens/hour per day, p = {tr.fit.slope_pvalue:.2g})"
                        ),
                        numbers={
                            "metric": c,
                            "slope_tokens_per_hour_per_day": slope,
                            "slope_se": se,
                            "slope_pvalue": tr.fit.slope_pvalue,
                            "relative_slope_per_day": relative,
                            "mean_tokens_per_hour": level,
                        },
                        section="tokens",
                    )
                )

    def draw(ax: Axes) -> None:
        x = pd.DatetimeIndex(hourly.index).tz_convert(None)
        for c in cols:
            ax.plot(x, hourly[c].to_numpy(dtype=float), label=c.replace("_", " "))
        ax.set_ylabel("tokens per hour")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)

    sec.charts.append(Chart("Tokens per hour", draw))
    return sec


def _rename_legend(ax: Axes, names: dict[str, str]) -> None:
    """Relabel legend entries drawn by a result's ``plot`` in the report's words."""
    for artist in [*ax.lines, *ax.collections, *ax.patches]:
        label = str(artist.get_label())
        for old, new in names.items():
            if old in label:
                artist.set_label(label.replace(old, new))
    if ax.get_legend() is not None:
        ax.legend(fontsize="small")


#: Metrics the anomalies section scans (hourly), with the columns each needs, and the
#: |score| an hour must exceed: 5 robust standard deviations, since 4 metrics x 24 hours
#: a day at the detectors' default of 3 would flag a few ordinary hours every week.
ANOMALY_METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("latency_p50", ("latency_ms",)),
    ("latency_p95", ("latency_ms",)),
    ("error_rate", ("success", "error")),
    # per request: an hour's total follows the traffic, and a prompt that grew 3x
    # in a quiet hour hides in the day's swing of the total (issue 14's cost spike)
    ("input_tokens_mean", ("input_tokens",)),
    ("output_tokens", ("output_tokens",)),
)
ANOMALY_THRESHOLD = 5.0
ANOMALY_MIN_DAYS = 3


def merge_incidents(table: pd.DataFrame) -> pd.DataFrame:
    """One row per incident of one quantity: overlapping incidents of metrics of the
    same family (``latency_p50`` and ``latency_p95``: one slow-down seen by two
    percentiles) become one row, spanning both, with the strongest one's peak and its
    metric first in ``metric`` (``"latency_p50, latency_p95"``).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.Timestamp("2025-06-13 14:00", tz="UTC")
    >>> h = pd.Timedelta(hours=1)
    >>> rows = pd.DataFrame({"metric": ["latency_p50", "latency_p95", "error_rate"],
    ...     "start": [t, t + h, t], "end": [t + 2 * h, t + 3 * h, t + h],
    ...     "peak": [t, t + h, t], "peak_value": [6.5e3, 3.1e4, 0.2],
    ...     "expected": [2.4e3, 1.1e4, 0.02], "peak_score": [20.7, 9.8, 7.0],
    ...     "windows": [2, 2, 1], "open": [False, False, False]})
    >>> m = merge_incidents(rows)
    >>> m["metric"].tolist(), m["windows"].tolist(), str(m["end"].iloc[0].time())
    (['latency_p50, latency_p95', 'error_rate'], [3, 1], '17:00:00')
    """
    import pandas as pd

    if table.empty:
        return table
    family = table["metric"].map(_metric_family)
    merged = []
    for _, part in table.groupby(family, sort=False):
        part = part.sort_values("start", kind="stable")
        run: list[pd.Series] = []
        end = None
        for _, row in part.iterrows():
            if run and end is not None and row["start"] < end:
                run.append(row)
                end = max(end, row["end"])
                continue
            if run:
                merged.append(_merged_row(run))
            run, end = [row], row["end"]
        merged.append(_merged_row(run))
    return pd.DataFrame(merged, columns=table.columns).reset_index(drop=True)


def _metric_family(metric: str) -> str:
    """``latency`` for ``latency_p95``, ``queue_ms`` for ``queue_ms_p99``, else the
    metric itself."""
    m = re.fullmatch(r"(.+)_p[\d.]+", metric)
    return m.group(1) if m else metric


def _merged_row(rows: list[pd.Series]) -> pd.Series:
    if len(rows) == 1:
        return rows[0]
    best = max(rows, key=lambda r: float(r["peak_score"]))
    out = best.copy()
    names = [str(best["metric"])]
    names += sorted({str(r["metric"]) for r in rows} - {names[0]})
    out["metric"] = ", ".join(names)
    out["start"] = min(r["start"] for r in rows)
    out["end"] = max(r["end"] for r in rows)
    steps = [(r["end"] - r["start"]) / int(r["windows"]) for r in rows]
    out["windows"] = round((out["end"] - out["start"]) / min(steps))
    out["open"] = any(bool(r["open"]) for r in rows)
    return out


def anomalies_section(ctx: ReportContext) -> Section | None:
    """Hourly incidents of latency, errors and tokens (:func:`perfstats.anomalies`
    with a seasonal detector: each hour against the same hour on the last 7 days),
    high side only; a finding per incident, critical when it is still open."""
    import pandas as pd

    from perfstats.analysis.metric_anomalies import anomalies, default_detector

    ts = ctx.frame["timestamp"]
    if (ts.max() - ts.min()) < pd.Timedelta(days=ANOMALY_MIN_DAYS):
        return None
    found = []
    for metric, needs in ANOMALY_METRICS:
        if not any(ctx.has(c) for c in needs):
            continue
        from perfstats.analysis.series import metric_series

        series = metric_series(ctx.events, metric, every="1h")
        detector = default_detector(
            "1h", series.to_numpy(dtype=float), threshold=ANOMALY_THRESHOLD
        )
        found.append(anomalies(ctx.events, metric, every="1h", detector=detector))
    if not found:
        return None
    sec = Section("anomalies", "Anomalies")
    parts = []
    for res in found:
        inc = res.incidents("high")
        inc.insert(0, "metric", res.metric)
        parts.append(inc)
    table = merge_incidents(pd.concat(parts, ignore_index=True)).sort_values(
        "peak_score", ascending=False, kind="stable"
    )
    sec.notes.append(
        f"Each hour of {', '.join(r.metric for r in found)} is scored against the "
        "median of the same hour on the last 7 days plus the recent level, in robust "
        f"standard deviations (MAD), on the log scale where values are positive; "
        f"incidents are runs of hours above {ANOMALY_THRESHOLD:g}. Only rises are "
        "listed. An incident is open when it reaches the last hour of the data. "
        "The first days, while the profiles fill, are not scored."
    )
    if table.empty:
        sec.notes.append("No incidents.")
    else:
        labels = [
            f"{m} {t:%Y-%m-%d %H:%M}"
            for m, t in zip(table["metric"], table["start"], strict=True)
        ]
        sec.tables["incidents"] = table.set_index(pd.Index(labels, name="incident"))
    for r in table.head(10).to_dict(orient="records"):
        is_open = bool(r["open"])
        unit = (
            _ms
            if r["metric"].startswith("latency")
            else (
                _pct
                if r["metric"] == "error_rate"
                else (lambda v: f"{v:,.0f} tokens per request")
                if r["metric"] == "input_tokens_mean"
                else (lambda v: f"{v:,.0f}")
            )
        )
        sec.findings.append(
            Finding(
                severity="critical" if is_open else "warning",
                score=float(r["peak_score"]),
                kind="anomaly",
                title=(
                    f"{'Open' if is_open else 'Anomaly'}: {r['metric']} "
                    f"{r['start']:%Y-%m-%d %H:%M}-"
                    + ("now" if is_open else f"{r['end']:%H:%M}")
                    + f" UTC ({r['windows']} h), peak {unit(r['peak_value'])} at "
                    f"{r['peak']:%H:%M} against {unit(r['expected'])} expected "
                    f"({r['peak_score']:.1f} robust SD)"
                ),
                numbers={str(k): v for k, v in r.items()},
                section="anomalies",
            )
        )
    for res in found:

        def draw(ax: Axes, res: Any = res) -> None:
            res.plot(ax=ax)
            ax.set_title("")
            ax.grid(alpha=0.3)

        sec.charts.append(
            Chart(
                f"{res.metric} per hour, expected band (blue) and incidents (red)",
                draw,
                height=2.6,
            )
        )
    return sec


def history_section(ctx: ReportContext) -> Section | None:
    """p99 latency and error rate of earlier runs (from ``--history``) and this one."""
    import pandas as pd

    if not ctx.history:
        return None
    rows = []
    runs = [*ctx.history, {"generated_at": "this run", "groups": None}]
    current = ctx.summary.to_dict()["groups"]
    for run in runs:
        groups = run["groups"] if run["groups"] is not None else current
        by = run.get("by", ctx.summary.by)
        for g in groups:
            label = group_label(tuple(g.get(b) for b in by))
            rows.append(
                {
                    "run": run["generated_at"],
                    "group": label,
                    "count": g.get("count"),
                    "latency_p99": g.get("latency_p99"),
                    "error_rate": g.get("error_rate"),
                }
            )
    table = pd.DataFrame(rows).set_index(["run", "group"])
    sec = Section("history", "Across runs")
    sec.tables["runs"] = table
    sec.notes.append(f"{len(ctx.history)} earlier run(s) from the history directory.")
    tr = ctx.history_trend
    if tr is not None:
        days = int(tr.series.notna().sum())
        sec.notes.append(
            f"Stored history, {days} day(s) before this run, all groups: p99 latency "
            f"is {tr.direction} ({tr.slope_per_day:+.3g} ms/day at the "
            "last day; History.trend)."
        )
    if "latency_p99" in ctx.summary.table:
        wide = table["latency_p99"].unstack("group")
        order = [r["generated_at"] for r in runs]
        wide = wide.reindex(order)

        def draw(ax: Axes) -> None:
            x = np.arange(len(wide))
            for col in wide.columns:
                ax.plot(x, wide[col].to_numpy(dtype=float), marker="o", label=str(col))
            ax.set_xticks(
                x,
                [str(r)[:16] for r in wide.index],
                rotation=20,
                ha="right",
                fontsize="small",
            )
            ax.set_ylabel("p99 latency (ms)")
            ax.legend(fontsize="small")
            ax.grid(alpha=0.3)

        sec.charts.append(Chart("p99 latency across runs", draw))
    return sec


#: The sections of a report, in order. Each is a plain function of the
#: :class:`ReportContext` returning a :class:`Section` (or None when the data do not
#: allow it) with its findings; add more to this tuple.
DEFAULT_SECTIONS: tuple[SectionFunction, ...] = (
    overview_section,
    latency_section,
    phases_section,
    errors_section,
    tokens_section,
    cost_section,
    variants_section,
    ab_section,
    trend_section,
    anomalies_section,
    history_section,
)


def report_checks(ctx: ReportContext, built: Sequence[str]) -> list[dict[str, Any]]:
    """Which checks of the default sections ran on these events and, for each that
    did not, why: a report must not say "within limits" of a check it never made.

    ``built`` holds the keys of the sections that were built. Returns one dict per
    check: ``check`` (its name), ``ran`` (bool) and ``why`` (the reason it did not
    run, "" when it ran).
    """
    import pandas as pd

    ts = ctx.frame["timestamp"]
    days = (ts.max() - ts.min()) / pd.Timedelta(days=1) if len(ts) else 0.0
    latency = ctx.has("latency_ms") and bool(ctx.frame["latency_ms"].notna().any())
    no_latency = (
        "no latency_ms column" + _latency_hint(ctx)
        if not ctx.has("latency_ms")
        else "no latency_ms values"
    )
    out: list[dict[str, Any]] = []

    def add(name: str, ran: bool, why: str) -> None:
        out.append({"check": name, "ran": ran, "why": "" if ran else why})

    add(
        f"grouping by {ctx.by}",
        ctx.has(ctx.by),
        f"no {ctx.by} column: all requests are one group",
    )
    add(
        "latency percentiles and SLA",
        "latency" in built,
        f"{no_latency}: percentiles and SLA compliance not computed",
    )
    add(
        "phase breakdown",
        "phases" in built,
        "no phase duration columns (queue_ms, processing_ms ...)"
        if not ctx.events.phases
        else f"{no_latency}: tail shares need the total latency",
    )
    add(
        "error rates",
        "errors" in built,
        "no success or error column: failures not counted",
    )
    add(
        "token usage",
        "tokens" in built,
        "no input_tokens or output_tokens column",
    )
    add(
        "cost and budget",
        "cost" in built,
        "no cost_usd column, and no model column to price the tokens",
    )
    add(
        "A/B comparison",
        "ab" in built,
        "no variant column with two or more variants",
    )
    add(
        "latency trend and forecast",
        "trend" in built,
        no_latency
        if not latency
        else f"{days:.1f} days of data; the trend needs {TREND_MIN_DAYS}",
    )
    watched = [m for m, needs in ANOMALY_METRICS if any(ctx.has(c) for c in needs)]
    add(
        "anomalies (" + ", ".join(watched) + ")" if watched else "anomalies",
        "anomalies" in built,
        f"{days:.1f} days of data; anomalies need {ANOMALY_MIN_DAYS}"
        if watched
        else "no latency, error or token column to watch",
    )
    return out


def _latency_hint(ctx: ReportContext) -> str:
    """A numeric column whose name suggests a latency, named with how to map it."""
    for c in ctx.events.scores:
        if re.search(r"latency|duration|elapsed|response.?time", c, re.IGNORECASE):
            return (
                f" (is {c!r} the latency? map it: --columns {c}=latency_ms, or "
                f"columns={{{c!r}: 'latency_ms'}} in Python; add --units/units= "
                "if it is not in ms)"
            )
    return ""
