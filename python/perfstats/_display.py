"""Display text shared by results, findings and the report: one number format per
quantity (durations, shares, money, counts) and group labels."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "View",
    "column_header",
    "format_cell",
    "format_ms",
    "format_number",
    "format_pct",
    "format_value",
    "group_label",
    "render_html",
    "render_text",
    "table_labels",
]


def format_ms(v: float) -> str:
    """A duration given in ms, always shown in ms (as in the tables), with thousands
    separators; two decimals below 10 ms.

    Examples
    --------
    >>> format_ms(850.0), format_ms(12_345.0), format_ms(2.5)
    ('850 ms', '12,345 ms', '2.50 ms')
    """
    if not math.isfinite(v):
        return "-" if math.isnan(v) else f"{v} ms"
    return f"{v:,.0f} ms" if abs(v) >= 10 else f"{v:.2f} ms"


def format_number(x: float) -> str:
    """A plain number in the one format of tables and findings: thousands separators
    and no exponent from 0.001 up (4 significant digits, integers whole), an exponent
    only for smaller magnitudes (p-values).

    Examples
    --------
    >>> format_number(10_240.0), format_number(3.14159), format_number(0.0123456)
    ('10,240', '3.142', '0.01235')
    >>> format_number(2.5e-07), format_number(0.0), format_number(-1234.5)
    ('2.5e-07', '0', '-1,234')
    """
    if not math.isfinite(x):
        return "-" if math.isnan(x) else str(x)
    a = abs(x)
    if a == 0 or (x.is_integer() and a < 1e15):
        return f"{int(x):,}"
    if a >= 1000:
        return f"{x:,.0f}"
    if a < 0.001:
        return f"{x:.2g}"
    decimals = max(0, 3 - math.floor(math.log10(a)))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def column_header(column: str) -> str:
    """A table column's header with its unit: ``latency_p99 (ms)``; shares, money and
    counts carry theirs in the cells (``12.3%``, ``$4.20``, ``1,024``).

    Examples
    --------
    >>> column_header("latency_p99"), column_header("queue_ms_p50"), column_header("count")
    ('latency_p99 (ms)', 'queue_ms_p50 (ms)', 'count')
    """
    if _is_ms(column.lower()) and "(" not in column:
        return f"{column} (ms)"
    return column


def _is_ms(c: str) -> bool:
    return (
        (c.startswith("latency") or "_ms" in c)
        and "_per_" not in c
        and not _is_share(c)
    )


def _is_share(c: str) -> bool:
    return any(
        w in c for w in ("rate", "share", "compliance", "objective")
    ) or c.startswith(("le_", "gt_"))


def format_pct(v: float) -> str:
    """A share as a percentage, two decimals below 10 %.

    Examples
    --------
    >>> format_pct(0.0123), format_pct(0.5)
    ('1.23%', '50.0%')
    """
    return f"{100 * v:.2f}%" if v < 0.1 else f"{100 * v:.1f}%"


def group_label(key: tuple[Any, ...]) -> str:
    """The text a group key is shown and stored under: its parts joined with ``" | "``.

    Examples
    --------
    >>> group_label(("/api/chat",)), group_label(("/a", "gpt-4o")), group_label(())
    ('/api/chat', '/a | gpt-4o', '')
    """
    return " | ".join(str(k) for k in key)


def format_cell(column: str, v: Any) -> str:
    """Display text of a table cell, chosen by the column's name: shares in %, money
    in $, durations in ms (the unit in the header, :func:`column_header`), other
    numbers by :func:`format_number`.

    Examples
    --------
    >>> format_cell("latency_p99", 10_118.4), format_cell("slope", 10_240.0)
    ('10,118', '10,240')
    >>> format_cell("error_rate", 0.12), format_cell("cost_usd", 3.5)
    ('12.0%', '$3.50')
    """
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if hasattr(v, "strftime") and not isinstance(v, str):
        try:
            return "-" if v != v else f"{v:%Y-%m-%d %H:%M}"
        except (TypeError, ValueError):
            return str(v)
    if isinstance(v, (bool, np.bool_)) or isinstance(v, str):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if not isinstance(v, (float, np.floating)):
        return str(v)
    x = float(v)
    if not math.isfinite(x):
        return str(x)
    c = column.lower()
    if _is_share(c):
        return format_pct(x)
    if "usd" in c or "cost" in c:
        return f"${x:,.4f}" if abs(x) < 1 else f"${x:,.2f}"
    if _is_ms(c):
        return f"{x:,.0f}" if abs(x) >= 10 else f"{x:.2f}"
    return format_number(x)


def table_labels(table: Any) -> list[str]:
    """Display labels of a result table's rows: group labels of its index, or "all" for
    an ungrouped one-row table."""
    import pandas as pd

    if isinstance(table.index, pd.RangeIndex) and len(table) == 1:
        return ["all"]  # an ungrouped summary
    return [
        group_label(k if isinstance(k, tuple) else (k,)) for k in table.index.tolist()
    ]


@dataclass(frozen=True)
class View:
    """What a result shows: a title, named fields, named tables and notes (warnings,
    caveats), rendered alike as text (:func:`render_text`) and HTML
    (:func:`render_html`)."""

    title: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    notes: Sequence[str] = ()


def format_value(v: Any) -> str:
    """Display text of a field value: 6 significant digits, intervals in brackets,
    NaN and None as "-".

    Examples
    --------
    >>> format_value(0.123456789), format_value((1.5, float("inf"))), format_value(None)
    ('0.123457', '[1.5, inf]', '-')
    """
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}" if abs(int(v)) >= 10_000 else str(int(v))
    if isinstance(v, (float, np.floating)):
        return "-" if math.isnan(v) else f"{float(v):.6g}"
    if isinstance(v, tuple):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    return str(v)


def _table_text(table: pd.DataFrame) -> str:
    labels = table_labels(table)
    header = [
        " / ".join(str(n) for n in table.index.names if n),
        *(column_header(str(c)) for c in table.columns),
    ]
    rows = [
        [label, *(format_cell(str(c), v) for c, v in r.items())]
        for label, (_, r) in zip(labels, table.iterrows(), strict=True)
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    ]
    for row in rows:
        lines.append(
            "  ".join(
                x.rjust(w) if i else x.ljust(w)
                for i, (x, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(line.rstrip() for line in lines)


def render_text(view: View) -> str:
    """A view as plain text: the title, one aligned ``name  value`` line per field,
    each table under its name, then the notes."""
    lines = [view.title]
    if view.fields:
        width = max(len(k) for k in view.fields)
        lines += [
            f"  {k.ljust(width)}  {format_value(v)}" for k, v in view.fields.items()
        ]
    for name, table in view.tables.items():
        lines.append(f"  {name}:")
        lines += ["    " + line for line in _table_text(table).splitlines()]
    lines += [f"  note: {n}" for n in view.notes]
    return "\n".join(lines)


def _html_table(table: pd.DataFrame) -> str:
    esc = html.escape
    labels = table_labels(table)
    index_name = " / ".join(str(n) for n in table.index.names if n)
    head = f"<th>{esc(index_name)}</th>" + "".join(
        f"<th>{esc(column_header(str(c)))}</th>" for c in table.columns
    )
    body = "".join(
        f"<tr><th>{esc(label)}</th>"
        + "".join(f"<td>{esc(format_cell(str(c), v))}</td>" for c, v in r.items())
        + "</tr>"
        for label, (_, r) in zip(labels, table.iterrows(), strict=True)
    )
    return (
        "<div style='overflow-x:auto'><table class='perfstats'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def render_html(view: View) -> str:
    """A view as an HTML fragment for a notebook: a caption, a table of the fields,
    each table (scrolling sideways when wide), then the notes."""
    esc = html.escape
    parts = [f"<div class='perfstats-result'><b>{esc(view.title)}</b>"]
    if view.fields:
        rows = "".join(
            f"<tr><th style='text-align:left'>{esc(k)}</th>"
            f"<td style='text-align:right'>{esc(format_value(v))}</td></tr>"
            for k, v in view.fields.items()
        )
        parts.append(f"<table class='perfstats'>{rows}</table>")
    for name, table in view.tables.items():
        parts.append(f"<div><i>{esc(name)}</i></div>{_html_table(table)}")
    parts += [f"<p class='note'>{esc(n)}</p>" for n in view.notes]
    parts.append("</div>")
    return "".join(parts)
