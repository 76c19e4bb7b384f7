"""The perfstats report: ranked findings and sections of request telemetry, written as
self-contained HTML, Markdown, JSON, CSV or the Prometheus text exposition format.

A report is a list of sections, each made by a *section function* that takes the
:class:`ReportContext` (the events plus lazily computed, shared analyses) and returns a
:class:`Section` or ``None`` when the data do not allow it. :data:`DEFAULT_SECTIONS`
holds overview, latency and SLA, phases, errors, cost, variants, the A/B comparison,
trend with forecast, anomalies and run history; pass ``sections=[*DEFAULT_SECTIONS, my_section]``
to :func:`build_report` to add one. Findings come from the sections and are ranked by severity, then by
how far they are from fine.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from perfstats._display import Table, View
from perfstats._files import atomic_write
from perfstats._json import json_scalar as _clean
from perfstats._result import Result
from perfstats.analysis.findings import Finding, rank
from perfstats.analysis.summary import Summary
from perfstats.io.events import as_events
from perfstats.report.context import ReportContext, Section, SectionFunction
from perfstats.report.context import index_labels as _index_labels
from perfstats.report.html import render_html
from perfstats.report.markdown import render_markdown
from perfstats.report.prometheus import render_prometheus
from perfstats.report.sections import DEFAULT_SECTIONS, report_checks
from perfstats.report.table_text import meta_line

if TYPE_CHECKING:
    import pandas as pd

    from perfstats.analysis.costs import CostReport

__all__ = ["FORMATS", "Format", "Report", "build_report", "format_for"]

Format = Literal["html", "md", "json", "csv", "prom"]
#: Output formats and the file suffixes that select them.
FORMATS: dict[str, tuple[str, ...]] = {
    "html": (".html", ".htm"),
    "md": (".md", ".markdown"),
    "json": (".json",),
    "csv": (".csv",),
    "prom": (".prom",),
}


@dataclass(repr=False)
class Report(Result):
    """A built report: metadata, ranked findings and sections. See :func:`build_report`."""

    title: str
    generated_at: dt.datetime
    meta: dict[str, Any]
    findings: list[Finding]
    sections: list[Section]
    summary: Summary
    cost: CostReport | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)

    # -- plain data --
    def section(self, key: str) -> Section:
        """The section with this key (KeyError when the report has none)."""
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(
            f"no section {key!r}; the report has {[s.key for s in self.sections]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: metadata, findings and every section's tables."""
        return {
            "title": self.title,
            "generated_at": self.generated_at.isoformat(),
            "meta": {k: _clean(v) for k, v in self.meta.items()},
            "findings": [f.to_dict() for f in self.findings],
            "checks": [dict(c) for c in self.checks],
            "sections": [
                {
                    "key": s.key,
                    "title": s.title,
                    "notes": s.notes,
                    "tables": {name: _records(t) for name, t in s.tables.items()},
                }
                for s in self.sections
            ],
        }

    def to_frame(self) -> pd.DataFrame:
        """The ranked findings, one row each: ``severity``, ``kind``, ``title``,
        ``section``, ``score``."""
        import pandas as pd

        columns = ["severity", "kind", "title", "section", "score"]
        return pd.DataFrame(
            [{k: f.to_dict()[k] for k in columns} for f in self.findings],
            columns=columns,
        )

    def _view(self) -> View:
        # A summary, not the whole page: its CSS would restyle the notebook around it.
        fields = {
            "generated": meta_line(self.meta, self.generated_at),
            "sections": ", ".join(s.title for s in self.sections),
        }
        findings = Table(
            ["severity", "finding"],
            [[f.severity, f.title] for f in self.findings],
            labels=[str(i) for i in range(1, len(self.findings) + 1)],
        )
        return View(
            f"Report: {self.title}",
            fields,
            {"findings": findings} if self.findings else {},
            notes=["to_html() gives the full page"],
        )

    def to_csv(self) -> str:
        """Every number of every table, long format: ``section, table, row, column,
        value`` (findings as section ``findings``)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["section", "table", "row", "column", "value"])
        for i, f in enumerate(self.findings, 1):
            w.writerow(["findings", f.kind, i, "title", f.title])
            w.writerow(["findings", f.kind, i, "severity", f.severity])
            for k, v in f.numbers.items():
                w.writerow(["findings", f.kind, i, k, _csv_value(v)])
        for s in self.sections:
            for name, t in s.tables.items():
                for label, (_, r) in zip(_index_labels(t), t.iterrows(), strict=True):
                    for col, v in r.items():
                        w.writerow([s.key, name, label, col, _csv_value(v)])
        return buf.getvalue()

    def to_markdown(self) -> str:
        """The report as Markdown (tables as pipe tables, no charts)."""
        return render_markdown(self)

    def to_html(self) -> str:
        """A self-contained HTML page: inline CSS, charts as inline SVG, no scripts
        and nothing fetched from the network."""
        return render_html(self)

    def to_prometheus(self) -> str:
        """Gauges in the Prometheus text exposition format (for the node exporter's
        textfile collector): per group latency quantiles, error rate, SLA compliance,
        phase tail shares; spend per model; budget; findings per severity."""
        return render_prometheus(self)

    def render(self, format: Format = "html") -> str:
        """The report as text in ``format`` (html, md, json, csv or prom)."""
        renderers: dict[str, Callable[[], str]] = {
            "html": self.to_html,
            "md": self.to_markdown,
            "json": self.to_json,
            "csv": self.to_csv,
            "prom": self.to_prometheus,
        }
        if format not in renderers:
            raise ValueError(f"format must be one of {list(renderers)}, got {format!r}")
        return renderers[format]()

    def write(
        self, path: str | os.PathLike[str], *, format: Format | None = None
    ) -> Path:
        """Write the report atomically (temporary file, then rename); ``format``
        defaults to the one the file suffix names."""
        fmt = format or format_for(path)
        return atomic_write(path, self.render(fmt))


def format_for(path: str | os.PathLike[str]) -> Format:
    """The output format a file name's suffix names.

    Examples
    --------
    >>> format_for("out/report.md"), format_for("metrics.prom")
    ('md', 'prom')
    """
    suffix = Path(path).suffix.lower()
    for fmt, suffixes in FORMATS.items():
        if suffix in suffixes:
            return fmt  # type: ignore[return-value]
    raise ValueError(
        f"cannot tell the format from the file name {str(path)!r}; use a suffix "
        f"({', '.join(s for v in FORMATS.values() for s in v)}) or pass the format"
    )


def build_report(
    events: Any,
    *,
    by: str = "endpoint",
    budget: float | None = None,
    budget_period: Literal["day", "month"] = "month",
    sla_target_ms: float = 5000.0,
    sla_objective: float = 0.99,
    prices: Any = None,
    history: Sequence[dict[str, Any]] = (),
    planned_split: Mapping[str, float] | None = None,
    sections: Sequence[SectionFunction] = DEFAULT_SECTIONS,
    history_trend: Any = None,
    title: str = "perfstats report",
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Analyse request events into a report: ranked findings, then sections.

    Parameters
    ----------
    events : Events, DataFrame or anything :func:`perfstats.read_events` reads
        The request telemetry (``timestamp`` required; other columns as available).
    by : str, default "endpoint"
        Column the per-group numbers are split by.
    budget : float, optional
        Budget in USD per ``budget_period``; adds the budget status.
    budget_period : {"day", "month"}
    sla_target_ms : float, default 5000
        Latency a request must stay within.
    sla_objective : float, default 0.99
        Share of requests that must stay within ``sla_target_ms``; groups below it
        are findings.
    prices : optional
        Price table for :func:`perfstats.costs`.
    history : sequence of dict
        Earlier runs (:func:`perfstats.history.load_runs`) for the across-runs section.
    history_trend : MetricTrend, optional
        Trend of p99 latency over a history store's earlier days
        (:meth:`perfstats.history.History.trend`), stated in the across-runs section.
    planned_split : mapping of str to float, optional
        Intended traffic share per variant (``{"control": 0.9, "treatment": 0.1}``);
        enables the A/B section's sample-ratio check.
    sections : sequence of callables
        Section functions, in order (default :data:`DEFAULT_SECTIONS`). Each takes
        the :class:`ReportContext` and returns a :class:`Section` or None to leave it
        out.
    title : str
    progress : callable, optional
        Called with the name of each section before it is built.

    Returns
    -------
    Report

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> n = 2000
    >>> ev = pd.DataFrame({
    ...     "timestamp": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
    ...     "endpoint": np.where(rng.random(n) < 0.5, "/a", "/b"),
    ...     "queue_ms": rng.exponential(20, n),
    ...     "processing_ms": rng.lognormal(np.log(900), 0.6, n),
    ... })
    >>> ev["latency_ms"] = ev["queue_ms"] + ev["processing_ms"]
    >>> report = build_report(ev, sla_target_ms=2000)
    >>> [s.key for s in report.sections]
    ['overview', 'latency', 'phases']
    >>> report.findings[0].kind, report.findings[0].numbers["group"]
    ('sla_miss', '/a')
    """
    if not isinstance(by, str) or not by:
        raise TypeError(f"by must be a column name, got {by!r}")
    if not (math.isfinite(sla_target_ms) and sla_target_ms > 0):
        raise ValueError(
            f"sla_target_ms must be a positive number, got {sla_target_ms}"
        )
    if not 0 < sla_objective <= 1:
        raise ValueError(f"sla_objective must be in (0, 1], got {sla_objective}")
    ev = as_events(events)
    if len(ev.frame) == 0:
        raise ValueError("events are empty: nothing to report")
    ctx = ReportContext(
        events=ev,
        by=by,
        sla_target_ms=float(sla_target_ms),
        sla_objective=float(sla_objective),
        budget=budget,
        budget_period=budget_period,
        prices=prices,
        history=list(history),
        planned_split=None if planned_split is None else dict(planned_split),
        history_trend=history_trend,
    )
    built: list[Section] = []
    for fn in sections:
        if progress is not None:
            progress(getattr(fn, "__name__", "section").removesuffix("_section"))
        sec = fn(ctx)
        if sec is not None:
            built.append(sec)
    findings = rank([f for s in built for f in s.findings])
    ts = ev.frame["timestamp"]
    meta = {
        "source": ev.source,
        "requests": len(ev.frame),
        "start": ts.min(),
        "end": ts.max(),
        "by": by,
        "sla_target_ms": float(sla_target_ms),
        "sla_objective": float(sla_objective),
        "budget_usd": budget,
        "budget_period": budget_period if budget is not None else None,
    }
    return Report(
        title=title,
        generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
        meta=meta,
        findings=findings,
        sections=built,
        summary=ctx.summary,
        cost=ctx.cost if any(s.key == "cost" for s in built) else None,
        # which checks ran and why the others did not (known for the default sections)
        checks=report_checks(ctx, [s.key for s in built])
        if set(DEFAULT_SECTIONS) <= set(sections)
        else [],
    )


def _records(t: pd.DataFrame) -> list[dict[str, Any]]:
    names = [n or "index" for n in t.index.names]
    out = []
    for label, (_, r) in zip(t.index.tolist(), t.iterrows(), strict=True):
        key = label if isinstance(label, tuple) else (label,)
        rec: dict[str, Any] = {
            str(n): _clean(k) for n, k in zip(names, key, strict=True)
        }
        rec.update({str(c): _clean(v) for c, v in r.items()})
        out.append(rec)
    return out


def _csv_value(v: Any) -> Any:
    c = _clean(v)
    return "" if c is None else repr(c) if isinstance(c, float) else c
