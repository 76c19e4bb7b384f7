"""Rendering only: the report's context, sections, and the HTML, Markdown, JSON, CSV and
Prometheus text renderers.

Layer rule: ``perfstats.report`` imports ``perfstats.analysis``, ``perfstats.io``,
``perfstats.stats`` and the shared private modules, never the CLI; see ARCHITECTURE.md.
"""

from __future__ import annotations

from perfstats.report.report import (
    DEFAULT_SECTIONS,
    FORMATS,
    Chart,
    Finding,
    Report,
    ReportContext,
    Section,
    build_report,
    format_for,
)

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
