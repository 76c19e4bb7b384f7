"""Outputs of a :class:`~perfstats.budgets.core.BudgetCheck` for CI systems: Markdown
for a job summary and JUnit XML (one test case per rule and group)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from perfstats.budgets.core import STATUSES, BudgetCheck

__all__ = ["to_junit_xml", "to_markdown", "to_text"]

_ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "insufficient data": "❔"}


def _cell(s: object) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def to_markdown(result: BudgetCheck, title: str = "perfstats check") -> str:
    """A Markdown table of the rules, for a CI job summary ($GITHUB_STEP_SUMMARY).

    Examples
    --------
    >>> from perfstats.budgets import BudgetCheck
    >>> print(to_markdown(BudgetCheck([{"rule": "r", "group": "all", "status": "pass",
    ...     "value": "1", "limit": "<= 2", "evidence": "e"}])).splitlines()[2])
    | rule | group | status | value | limit | evidence |
    """
    counts = ", ".join(f"{result.count(s)} {s}" for s in STATUSES)
    lines = [
        f"### {title}",
        "",
        "| rule | group | status | value | limit | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for r in result.rows:
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    r["rule"],
                    r["group"],
                    f"{_ICON.get(r['status'], '')} {r['status']}",
                    r["value"],
                    r["limit"],
                    r["evidence"],
                )
            )
            + " |"
        )
    lines += ["", counts, ""]
    return "\n".join(lines)


def to_text(result: BudgetCheck, *, quiet: bool = False) -> str:
    """The terminal table: rule, group, value, limit, result (PASS/WARN/FAIL/
    INSUFFICIENT DATA), evidence; ``quiet`` shows only rows that do not pass."""
    head = ("check", "group", "value", "limit", "result", "evidence")
    body = [
        (
            r["rule"],
            r["group"],
            r["value"],
            r["limit"],
            r["status"].upper(),
            r["evidence"],
        )
        for r in result.rows
        if not (quiet and r["status"] == "pass")
    ]
    table = [head, *body]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    out = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    line = f"{result.count('pass')} passed, {result.count('fail')} failed"
    extra = [
        f"{result.count(s)} {label}"
        for s, label in (
            ("warn", "warned"),
            ("insufficient data", "with insufficient data"),
        )
        if result.count(s)
    ]
    out.append(line + ("; " + ", ".join(extra) if extra else ""))
    return "\n".join(out)


def to_junit_xml(result: BudgetCheck, suite: str = "perfstats check") -> str:
    """JUnit XML (testsuites / testsuite / testcase with failure or skipped): one test
    case per rule and group; "fail" is a failure, "insufficient data" skipped, "warn"
    passes with its evidence in system-out.

    Examples
    --------
    >>> from perfstats.budgets import BudgetCheck
    >>> x = to_junit_xml(BudgetCheck([{"rule": "r", "group": "all", "status": "fail",
    ...     "value": "3", "limit": "<= 2", "evidence": "e"}]))
    >>> "<failure" in x
    True
    """
    n = len(result.rows)
    root = ET.Element(
        "testsuites",
        name=suite,
        tests=str(n),
        failures=str(result.count("fail")),
        errors="0",
        skipped=str(result.count("insufficient data")),
    )
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(n),
        failures=str(result.count("fail")),
        errors="0",
        skipped=str(result.count("insufficient data")),
        time="0",
    )
    for r in result.rows:
        tc = ET.SubElement(
            ts,
            "testcase",
            classname=f"{suite}.{r['rule']}",
            name=f"{r['rule']} [{r['group']}]",
            time="0",
        )
        msg = f"{r['value']} (limit {r['limit']}): {r['evidence']}"
        if r["status"] == "fail":
            f = ET.SubElement(tc, "failure", message=msg, type="BudgetExceeded")
            f.text = msg
        elif r["status"] == "insufficient data":
            ET.SubElement(tc, "skipped", message=f"insufficient data: {r['evidence']}")
        else:
            out = ET.SubElement(tc, "system-out")
            out.text = f"{r['status']}: {msg}"
    ET.indent(root)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + ET.tostring(root, encoding="unicode")
        + "\n"
    )
