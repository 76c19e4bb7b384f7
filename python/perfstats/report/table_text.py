"""Tables and metadata as display text, shared by the HTML, Markdown and CSV renderers."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from perfstats._display import column_header
from perfstats._display import format_cell as _fmt
from perfstats._display import format_ms as _ms
from perfstats._display import format_pct as _pct
from perfstats.report.context import index_labels as _index_labels

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["checks_lines", "meta_line", "table_rows"]


def meta_line(meta: dict[str, Any], generated: dt.datetime) -> str:
    start, end = meta["start"], meta["end"]
    parts = [
        f"{meta['requests']:,} requests from {meta['source']}",
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
        f"by {meta['by']}",
        f"SLA {_ms(meta['sla_target_ms'])} for {_pct(meta['sla_objective'])}",
    ]
    if meta.get("budget_usd") is not None:
        parts.append(f"budget ${meta['budget_usd']:,.2f}/{meta['budget_period']}")
    parts.append(f"generated {generated:%Y-%m-%d %H:%M} UTC")
    return "; ".join(parts)


def table_rows(t: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a report table as display text: units in the headers (or
    in the row labels of a key-value table), cells by :func:`format_cell`."""
    index_name = " / ".join(str(n) for n in t.index.names if n) or ""
    by_row = list(t.columns) == ["value"]  # a key-value table: format by row name
    header = [
        index_name,
        *[str(c) if by_row else column_header(str(c)) for c in t.columns],
    ]
    rows = []
    for label, (_, r) in zip(_index_labels(t), t.iterrows(), strict=True):
        shown = column_header(label) if by_row else label
        rows.append(
            [shown, *[_fmt(label if by_row else str(c), v) for c, v in r.items()]]
        )
    return header, rows


def checks_lines(findings: int, checks: list[dict[str, Any]]) -> list[str]:
    """What the findings rest on, in plain sentences: never "every check is within
    its limits" when some checks could not run."""
    ran = [c["check"] for c in checks if c["ran"]]
    skipped = [c for c in checks if not c["ran"]]
    out = []
    if not findings:
        if skipped:
            out.append(
                "No findings among the checks that ran; "
                f"{len(skipped)} of {len(checks)} checks could not run (below)."
            )
        else:
            out.append("No findings: every check is within its limits.")
    if checks:
        out.append("Checked: " + (", ".join(ran) if ran else "nothing") + ".")
    out += [f"Not checked: {c['check']}: {c['why']}." for c in skipped]
    return out
