"""The report as one self-contained HTML page: inline CSS, charts as inline SVG, no
scripts and nothing fetched from the network."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from perfstats._display import column_header
from perfstats._display import format_cell as _fmt
from perfstats.report.table_text import checks_lines, meta_line, table_rows

if TYPE_CHECKING:
    import pandas as pd

    from perfstats.report.document import Report

__all__ = ["render_html"]


def render_html(report: Report) -> str:
    """The whole page."""
    esc = html.escape
    nav = "".join(
        f"<a href='#{esc(s.key)}'>{esc(s.title)}</a>" for s in report.sections
    )
    items = "".join(
        f"<li class='{esc(f.severity)}'><span class='sev'>{esc(f.severity)}</span> "
        f"{esc(f.title)}<details><summary>numbers</summary>"
        f"<div class='table'>{_html_numbers(f.numbers)}</div></details></li>"
        for f in report.findings
    )
    checks = "".join(
        f"<p class='note'>{esc(line)}</p>"
        for line in checks_lines(len(report.findings), report.checks)
    )
    body = [
        f"<header><h1>{esc(report.title)}</h1>"
        f"<p class='meta'>{esc(meta_line(report.meta, report.generated_at))}</p>"
        f"<nav>{nav}</nav></header>",
        "<section id='findings'><h2>Findings</h2>"
        + (f"<ol class='findings'>{items}</ol>" if items else "")
        + f"{checks}</section>",
    ]
    for s in report.sections:
        parts = [f"<section id='{esc(s.key)}'><h2>{esc(s.title)}</h2>"]
        parts += [f"<p class='note'>{esc(n)}</p>" for n in s.notes]
        for i, c in enumerate(s.charts):
            parts.append(
                f"<figure class='chart'>{c.svg(f'{s.key}-{i}')}<figcaption>{esc(c.title)}"
                "</figcaption></figure>"
            )
        for name, t in s.tables.items():
            parts.append(
                f"<h3>{esc(name.replace('_', ' '))}</h3>"
                f"<div class='table'>{_html_table(t)}</div>"
            )
        parts.append("</section>")
        body.append("".join(parts))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(report.title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _html_table(t: pd.DataFrame) -> str:
    esc = html.escape
    header, rows = table_rows(t)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + f"<th>{esc(row[0])}</th>"
        + "".join(f"<td>{esc(c)}</td>" for c in row[1:])
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_numbers(numbers: dict[str, Any]) -> str:
    esc = html.escape
    return (
        "<table class='numbers'>"
        + "".join(
            f"<tr><th>{esc(column_header(k))}</th><td>{esc(_fmt(k, v))}</td></tr>"
            for k, v in numbers.items()
        )
        + "</table>"
    )


# Wide tables scroll inside their own box (.table) so the page body never scrolls
# sideways, down to a 390 px phone screen (tests/test_report.py checks both widths).
_CSS = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;
margin:0 auto;max-width:1100px;padding:0 1.5rem 3rem;color:#1d2330;line-height:1.45;
overflow-wrap:anywhere}
section,header,figure,details{min-width:0;max-width:100%}
header{border-bottom:2px solid #dde3ec;margin-bottom:1rem}
h1{margin:1.2rem 0 .2rem}h2{border-bottom:1px solid #dde3ec;padding-bottom:.2rem;
margin-top:2.2rem}h3{font-size:1rem;margin:1.2rem 0 .4rem;color:#3b4557}
.meta{color:#5b6477;font-size:.92rem}nav a{margin-right:1rem;font-size:.92rem}
ol.findings{padding-left:1.6rem}ol.findings li{margin:.35rem 0}
.sev{display:inline-block;min-width:4.6rem;font-size:.75rem;text-transform:uppercase;
font-weight:600;border-radius:3px;padding:0 .3rem;margin-right:.3rem;text-align:center}
li.critical .sev{background:#c62828;color:#fff}li.warning .sev{background:#f9a825}
li.info .sev{background:#dfe7f3}details{display:inline;margin-left:.4rem;font-size:.85rem}
summary{cursor:pointer;color:#3b6fb6;display:inline}
table{border-collapse:collapse;font-size:.85rem;font-variant-numeric:tabular-nums}
th,td{padding:.2rem .6rem;border-bottom:1px solid #e6eaf0;text-align:right;
white-space:nowrap}
thead th{background:#f3f6fa}tbody th{text-align:left;font-weight:500;white-space:nowrap}
.table{overflow-x:auto;max-width:100%}.note{color:#3b4557;font-size:.92rem}
figure.chart{margin:1rem 0}figure.chart svg{width:100%;height:auto}
figcaption{font-size:.85rem;color:#5b6477;text-align:center}
details[open]{display:block;margin:.3rem 0 .5rem 0}
@media (max-width:600px){body{padding:0 .6rem 2rem}h1{font-size:1.4rem}
.sev{min-width:0}ol.findings{padding-left:1.2rem}}
"""
