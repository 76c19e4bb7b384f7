"""The report as gauges in the Prometheus text exposition format (for the node
exporter's textfile collector)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from perfstats.analysis.findings import SEVERITY_ORDER

if TYPE_CHECKING:
    from perfstats.report.document import Report

__all__ = ["render_prometheus"]

_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def _label_name(name: str) -> str:
    out = _LABEL_NAME.sub("_", name)
    if not out or out[0].isdigit():
        out = "_" + out
    return "label" + out if out.startswith("__") else out


def _label_value(value: Any) -> str:
    """Escaped per the exposition format: backslash, double quote and line feed."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_prometheus(report: Report) -> str:
    """Per group latency quantiles, error rate, SLA compliance, phase tail shares;
    spend per model; budget; findings per severity."""
    metrics: dict[str, tuple[str, list[tuple[dict[str, str], float]]]] = {}

    def add(name: str, help_: str, labels: dict[str, Any], value: Any) -> None:
        try:
            x = float(value)
        except (TypeError, ValueError):
            return
        if not math.isfinite(x):
            return
        entry = metrics.setdefault(name, (help_, []))
        entry[1].append(({k: str(v) for k, v in labels.items()}, x))

    s = report.summary
    t = s.table
    names = [_label_name(n) for n in s.by]
    for key, (_, r) in zip(s.sketches, t.iterrows(), strict=True):
        g = dict(zip(names, key, strict=True))
        add("perfstats_requests", "Requests in the report's data.", g, r["count"])
        if "throughput_rps" in r:
            add(
                "perfstats_throughput_rps",
                "Requests per second over the data's span.",
                g,
                r["throughput_rps"],
            )
        if "error_rate" in r:
            add("perfstats_error_rate", "Share of failed requests.", g, r["error_rate"])
        for q in s.quantiles:
            col = f"latency_p{100 * q:g}"
            if col in r:
                add(
                    "perfstats_latency_ms",
                    "Latency quantile in milliseconds.",
                    {**g, "quantile": f"{q:g}"},
                    r[col],
                )
        if "sla_compliance" in r:
            add(
                "perfstats_sla_compliance",
                "Share of requests within the SLA target (perfstats_sla_target_ms).",
                g,
                r["sla_compliance"],
            )
        for col in t.columns:
            m = re.fullmatch(r"(.+_ms)_p(50|99)", col)
            if m:
                add(
                    "perfstats_phase_latency_ms",
                    "Phase duration quantile in milliseconds.",
                    {
                        **g,
                        "phase": m.group(1),
                        "quantile": "0.5" if m.group(2) == "50" else "0.99",
                    },
                    r[col],
                )
            m = re.fullmatch(r"(.+_ms)_tail_share", col)
            if m:
                add(
                    "perfstats_phase_tail_share",
                    "Phase share of the latency of requests at or above p99.",
                    {**g, "phase": m.group(1)},
                    r[col],
                )
    add(
        "perfstats_sla_target_ms",
        "SLA latency target in milliseconds.",
        {},
        s.sla_target_ms,
    )
    cost = report.cost
    if cost is not None:
        add(
            "perfstats_cost_usd_total",
            "Spend over the report's data in USD.",
            {},
            cost.total_usd,
        )
        for name, r in cost.by_model.iterrows():
            add(
                "perfstats_model_cost_usd",
                "Spend per model in USD.",
                {"model": name},
                r["cost_usd"],
            )
            add(
                "perfstats_model_cost_share",
                "Model share of spend.",
                {"model": name},
                r["cost_share"],
            )
            add(
                "perfstats_model_request_share",
                "Model share of requests.",
                {"model": name},
                r["request_share"],
            )
        if cost.budget is not None and len(cost.budget):
            last = cost.budget.iloc[-1]
            lab = {"period": str(cost.budget.index[-1])}
            add(
                "perfstats_budget_usd",
                "Budget of the current period in USD.",
                lab,
                last["budget_usd"],
            )
            add(
                "perfstats_budget_spend_usd",
                "Spend of the current period in USD.",
                lab,
                last["spend_usd"],
            )
            add(
                "perfstats_budget_projected_usd",
                "Spend projected to the end of the current period in USD.",
                lab,
                last["projected_usd"],
            )
    for sev in SEVERITY_ORDER:
        add(
            "perfstats_findings",
            "Findings of the report per severity.",
            {"severity": sev},
            sum(f.severity == sev for f in report.findings),
        )
    end = report.meta["end"]
    add(
        "perfstats_data_end_timestamp_seconds",
        "Time of the last event (Unix seconds).",
        {},
        end.timestamp(),
    )
    add(
        "perfstats_report_timestamp_seconds",
        "When the report was made (Unix seconds).",
        {},
        report.generated_at.timestamp(),
    )
    lines = []
    for name, (help_, samples) in metrics.items():
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} gauge")
        for labels, x in samples:
            text = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{text}}} {x!r}" if text else f"{name} {x!r}")
    return "\n".join(lines) + "\n"
