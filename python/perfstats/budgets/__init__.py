"""Budgets: a TOML file of ceilings, floors, regression and forecast rules, evaluated
on request events into one pass / warn / fail / insufficient-data row per rule.

See :func:`load_budgets` for the file format and :func:`evaluate_budgets` for the
decisions and their stated error rates. ``perfstats check --budgets FILE`` is the
command-line gate built on them.
"""

from perfstats.budgets.core import (
    STATUSES,
    BudgetCheck,
    Budgets,
    evaluate_budgets,
    load_budgets,
    parse_budgets,
    quantile_shift_test,
)
from perfstats.budgets.output import to_junit_xml, to_markdown, to_text

__all__ = [
    "STATUSES",
    "BudgetCheck",
    "Budgets",
    "evaluate_budgets",
    "load_budgets",
    "parse_budgets",
    "quantile_shift_test",
    "to_junit_xml",
    "to_markdown",
    "to_text",
]
