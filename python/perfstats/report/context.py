"""What section functions read (:class:`ReportContext`) and what they return
(:class:`Section`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from perfstats._display import group_label
from perfstats._display import table_labels as index_labels
from perfstats.analysis.findings import Finding
from perfstats.analysis.summary import Summary, summarize
from perfstats.io.events import Events
from perfstats.report.charts import Chart

if TYPE_CHECKING:
    import pandas as pd

    from perfstats.analysis.costs import CostReport

__all__ = ["ReportContext", "Section", "SectionFunction", "index_labels"]


@dataclass
class Section:
    """A titled part of the report: notes, tables, charts and its findings."""

    key: str
    title: str
    notes: list[str] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    charts: list[Chart] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass
class ReportContext:
    """What section functions read: the events, the options, and shared analyses
    computed once on first use (``summary``, ``overall``, ``hourly``, ``cost``)."""

    events: Events
    by: str
    sla_target_ms: float
    sla_objective: float
    budget: float | None
    budget_period: Literal["day", "month"]
    prices: Any
    history: list[dict[str, Any]]
    planned_split: dict[str, float] | None = None
    #: Trend of p99 latency over a history store's days before this run
    #: (:meth:`perfstats.history.History.trend`), for the across-runs section.
    history_trend: Any = None

    @property
    def frame(self) -> pd.DataFrame:
        """The canonical events DataFrame."""
        return self.events.frame

    def has(self, *columns: str) -> bool:
        """Whether every named column is present."""
        return all(c in self.frame.columns for c in columns)

    @functools.cached_property
    def summary(self) -> Summary:
        """:func:`summarize` by the report's grouping column."""
        return summarize(self.events, by=self.by, sla_target_ms=self.sla_target_ms)

    @functools.cached_property
    def overall(self) -> Summary:
        """:func:`summarize` over all events (one row)."""
        return summarize(self.events, by=None, sla_target_ms=self.sla_target_ms)

    @functools.cached_property
    def hourly(self) -> Summary:
        """:func:`summarize` by the grouping column and hour."""
        return summarize(
            self.events, by=self.by, every="1h", sla_target_ms=self.sla_target_ms
        )

    @functools.cached_property
    def cost(self) -> CostReport | None:
        """:func:`perfstats.costs`, or None when there is neither a model with
        tokens nor a recorded cost."""
        from perfstats.analysis.costs import costs

        tokens = self.has("input_tokens") or self.has("output_tokens")
        if not ((self.has("model") and tokens) or self.has("cost_usd")):
            return None
        return costs(
            self.events,
            self.prices,
            budget=self.budget,
            budget_period=self.budget_period,
        )

    @property
    def groups(self) -> list[str]:
        """Group labels of :attr:`summary`, in table order."""
        return [group_label(k) for k in self.summary.sketches]


SectionFunction = Callable[[ReportContext], Section | None]
