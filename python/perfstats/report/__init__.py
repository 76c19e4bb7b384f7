"""Rendering only: the report's context and sections, and the HTML, Markdown, JSON, CSV
and Prometheus text renderers. Findings are computed in :mod:`perfstats.analysis.findings`.

Layer rule: ``perfstats.report`` imports ``perfstats.analysis``, ``perfstats.io``,
``perfstats.stats`` and the shared private modules, never the CLI; see ARCHITECTURE.md.
"""

from __future__ import annotations

from perfstats.analysis.findings import Finding
from perfstats.report.charts import Chart
from perfstats.report.context import ReportContext, Section
from perfstats.report.document import FORMATS, Report, build_report, format_for
from perfstats.report.sections import DEFAULT_SECTIONS

__all__ = [
    "DEFAULT_SECTIONS",
    "FORMATS",
    "Chart",
    "Finding",
    "Report",
    "ReportContext",
    "Section",
    "build_report",
    "format_for",
]
