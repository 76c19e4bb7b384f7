"""The report as Markdown: pipe tables, no charts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from perfstats.report.table_text import checks_lines, meta_line, table_rows

if TYPE_CHECKING:
    import pandas as pd

    from perfstats.report.document import Report

__all__ = ["render_markdown"]


def render_markdown(report: Report) -> str:
    """The report as Markdown (tables as pipe tables, no charts)."""
    out = [f"# {report.title}", "", meta_line(report.meta, report.generated_at), ""]
    out += ["## Findings", ""]
    for i, f in enumerate(report.findings, 1):
        out.append(f"{i}. **{f.severity}** {_md_escape(f.title)}")
    if report.findings:
        out.append("")
    out += [
        _md_escape(line) + "\n"
        for line in checks_lines(len(report.findings), report.checks)
    ]
    out.append("")
    for s in report.sections:
        out += [f"## {s.title}", ""]
        out += [_md_escape(n) + "\n" for n in s.notes]
        for name, t in s.tables.items():
            out += [f"### {name.replace('_', ' ')}", "", _md_table(t), ""]
    return "\n".join(out).rstrip() + "\n"


def _md_escape(text: str) -> str:
    # Intraword underscores and ">" mid-line are literal in CommonMark; these are not.
    return re.sub(r"([\\`*|<\[\]])", r"\\\1", text)


def _md_table(t: pd.DataFrame) -> str:
    header, rows = table_rows(t)
    lines = [
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "|" + "|".join(["---", *["---:"] * (len(header) - 1)]) + "|",
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
