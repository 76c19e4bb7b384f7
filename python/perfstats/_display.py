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
    pass

__all__ = [
    "Table",
    "View",
    "column_header",
    "format_cell",
    "format_ms",
    "format_number",
    "format_pct",
    "format_value",
    "group_label",
    "render_html",
    "render_one_line",
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
class Table:
    """A table to show without pandas: column names, rows of cells and, optionally, a
    label per row (shown first, under ``index_name``). Cells are formatted by their
    column's name (:func:`format_cell`)."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    labels: Sequence[str] = ()
    index_name: str = ""
    #: significant digits of float cells; None formats each cell by its column's name
    digits: int | None = None


@dataclass(frozen=True)
class View:
    """What a result shows: a title, named fields, named tables (a :class:`Table`, or a
    DataFrame where pandas is already needed), notes (caveats) and warnings, rendered
    alike as text (:func:`render_text`) and HTML (:func:`render_html`)."""

    title: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    tables: Mapping[str, Any] = field(default_factory=dict)
    notes: Sequence[str] = ()
    warnings: Sequence[str] = ()
    #: the columns of a table shown in text (all when a table is not named here, none
    #: and no table when empty): a terminal is narrow, the HTML table scrolls sideways
    text_columns: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: significant digits of float fields
    digits: int = 6


def _as_table(table: Any, columns: Sequence[str] | None = None) -> Table:
    """A :class:`Table` as is; a DataFrame with its index as the row labels; only
    ``columns`` when given."""
    if isinstance(table, Table):
        if columns is None:
            return table
        keep = [i for i, c in enumerate(table.columns) if c in columns]
        return Table(
            [table.columns[i] for i in keep],
            [[row[i] for i in keep] for row in table.rows],
            table.labels,
            table.index_name,
            table.digits,
        )
    if columns is not None:
        table = table[[c for c in columns if c in table.columns]]
    return Table(
        columns=[str(c) for c in table.columns],
        rows=[list(r) for r in table.itertuples(index=False, name=None)],
        labels=table_labels(table),
        index_name=" / ".join(str(n) for n in table.index.names if n),
    )


def format_value(v: Any, digits: int = 6) -> str:
    """Display text of a field value: ``digits`` significant digits, intervals and
    lists in brackets, NaN and None as "-".

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
        return "-" if math.isnan(v) else f"{float(v):.{digits}g}"
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_value(x, digits) for x in v) + "]"
    return str(v)


def _cells(table: Table) -> tuple[list[str], list[list[str]]]:
    """Header and display text of each row, the label column first when there is one."""
    labelled = bool(table.labels)
    header = ([table.index_name] if labelled else []) + [
        column_header(str(c)) for c in table.columns
    ]
    rows = []
    for i, row in enumerate(table.rows):
        cells = [
            format_value(v, table.digits)
            if table.digits is not None and isinstance(v, (float, np.floating))
            else format_cell(str(c), v)
            for c, v in zip(table.columns, row, strict=True)
        ]
        rows.append(([str(table.labels[i])] if labelled else []) + cells)
    return header, rows


def _table_text(table: Table) -> str:
    header, rows = _cells(table)
    labelled = bool(table.labels)
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(
            x.ljust(w) if i == 0 and labelled else x.rjust(w)
            for i, (x, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in (header, *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)


def render_text(view: View) -> str:
    """A view as plain text: the title, one aligned ``name  value`` line per field,
    each table under its name, then the notes and warnings."""
    lines = [view.title]
    if view.fields:
        width = max(len(k) for k in view.fields)
        lines += [
            f"  {k.ljust(width)}  {format_value(v, view.digits)}"
            for k, v in view.fields.items()
        ]
    for name, table in view.tables.items():
        if name in view.text_columns and not view.text_columns[name]:
            continue
        lines.append(f"  {name}:")
        text = _table_text(_as_table(table, view.text_columns.get(name)))
        lines += ["    " + line for line in text.splitlines()]
    lines += [f"  note: {n}" for n in view.notes]
    lines += [f"  warning: {w}" for w in view.warnings]
    return "\n".join(lines)


def render_one_line(view: View, names: Sequence[str] = ()) -> str:
    """A view as one line, ``Title(name=value, ...)``, of the fields ``names`` (all
    when empty): the repr of small value objects (sketches, moments, histograms).

    Examples
    --------
    >>> render_one_line(View("Moments", {"count": 3, "mean": 2.0, "max": 3.0}))
    'Moments(count=3, mean=2, max=3)'
    """

    def text(v: Any) -> str:  # no thousands separators between the commas
        if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            return str(int(v))
        return format_value(v, view.digits)

    keys = names or list(view.fields)
    inner = ", ".join(f"{k}={text(view.fields[k])}" for k in keys)
    return f"{view.title}({inner})"


def _html_table(table: Table) -> str:
    esc = html.escape
    header, rows = _cells(table)
    labelled = bool(table.labels)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<th>{esc(x)}</th>" if i == 0 and labelled else f"<td>{esc(x)}</td>"
            for i, x in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        "<div style='overflow-x:auto'><table class='perfstats'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def render_html(view: View) -> str:
    """A view as an HTML fragment for a notebook: a caption, a table of the fields,
    each table (scrolling sideways when wide), then the notes and warnings."""
    esc = html.escape
    parts = [f"<div class='perfstats-result'><b>{esc(view.title)}</b>"]
    if view.fields:
        rows = "".join(
            f"<tr><th style='text-align:left'>{esc(k)}</th>"
            f"<td style='text-align:right'>{esc(format_value(v, view.digits))}</td></tr>"
            for k, v in view.fields.items()
        )
        parts.append(f"<table class='perfstats'>{rows}</table>")
    for name, table in view.tables.items():
        parts.append(f"<div><i>{esc(name)}</i></div>{_html_table(_as_table(table))}")
    parts += [f"<p class='note'>note: {esc(n)}</p>" for n in view.notes]
    parts += [f"<p class='warning'>warning: {esc(w)}</p>" for w in view.warnings]
    parts.append("</div>")
    return "".join(parts)
