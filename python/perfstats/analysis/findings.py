"""Findings: ranked statements with the numbers behind them, computed from analyses.

A finding says what is wrong or notable (an SLA miss, an error burst, a budget overrun),
how bad (``severity`` and ``score``) and every number it rests on. The report renders
them; they are computed here, from the analyses' results, so a script can have them
without building a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfstats._json import json_scalar as _clean

__all__ = ["SEVERITY_ORDER", "Finding", "rank"]

#: Severities from the most to the least urgent.
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One ranked statement with the numbers behind it.

    Attributes
    ----------
    severity : {"critical", "warning", "info"}
    score : float
        Orders findings of one severity (larger first): how far from fine.
    kind : str
        ``sla_miss``, ``tail_driver``, ``error_outlier``, ``error_burst``,
        ``cost_concentration``, ``budget`` ...
    title : str
        The statement, with its key numbers.
    numbers : dict
        Every number the statement rests on (units in the key names).
    section : str
        Key of the section it comes from.
    """

    severity: str
    score: float
    kind: str
    title: str
    numbers: dict[str, Any]
    section: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "severity": self.severity,
            "kind": self.kind,
            "title": self.title,
            "section": self.section,
            "score": _clean(self.score),
            "numbers": {k: _clean(v) for k, v in self.numbers.items()},
        }


def rank(findings: list[Finding]) -> list[Finding]:
    """Findings by severity, then by score (larger first)."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), -f.score))
