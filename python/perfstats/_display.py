"""Display text shared by results, findings and the report: one number format per
quantity (durations, shares, money, counts) and group labels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["format_cell", "format_ms", "format_pct", "group_label", "table_labels"]


def format_ms(v: float) -> str:
    """A duration given in ms, in s from one second up.

    Examples
    --------
    >>> format_ms(850.0), format_ms(12_345.0)
    ('850 ms', '12.35 s')
    """
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms"


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
    """Display text of a table cell, chosen by the column's name."""
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
    if any(
        w in c for w in ("rate", "share", "compliance", "objective")
    ) or c.startswith(("le_", "gt_")):
        return format_pct(x)
    if "usd" in c or "cost" in c:
        return f"${x:,.4f}" if abs(x) < 1 else f"${x:,.2f}"
    if c.startswith("latency") or "_ms" in c:
        return f"{x:,.0f}" if abs(x) >= 10 else f"{x:.2f}"
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.4g}"


def table_labels(table: Any) -> list[str]:
    """Display labels of a result table's rows: group labels of its index, or "all" for
    an ungrouped one-row table."""
    import pandas as pd

    if isinstance(table.index, pd.RangeIndex) and len(table) == 1:
        return ["all"]  # an ungrouped summary
    return [
        group_label(k if isinstance(k, tuple) else (k,)) for k in table.index.tolist()
    ]
