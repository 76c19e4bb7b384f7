"""Parsing and evaluation of budgets files (see the package docstring)."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfstats._display import View
from perfstats._result import Result

if TYPE_CHECKING:
    import pandas as pd

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "STATUSES",
    "BudgetCheck",
    "Budgets",
    "Rule",
    "evaluate_budgets",
    "load_budgets",
    "parse_budgets",
    "quantile_shift_test",
]

#: Status of a rule, best to worst; "insufficient data" is neither pass nor fail.
STATUSES = ("pass", "warn", "fail", "insufficient data")

#: Ceiling keys of a ``[[budget]]`` table -> (metric, unit).
_CEILINGS: dict[str, tuple[str, str]] = {
    "error_rate_max": ("error_rate", "fraction"),
    "tokens_per_request_max": ("tokens_per_request", "tokens"),
    "cost_per_request_max": ("cost_per_request", "USD"),
    "spend_per_day_max": ("spend_per_day", "USD"),
    "spend_per_month_max": ("spend_per_month", "USD"),
}
_LATENCY_KEY = re.compile(r"^latency_p(\d{1,2}(?:\.\d+)?)_ms_max$")
_SELECTORS = ("endpoint", "model")
_BUDGET_KEYS = {
    *_SELECTORS,
    *_CEILINGS,
    "sla_ms",
    "sla_compliance_min",
    "warn_levels",
    "min_requests",
    "name",
}
_REGRESSION_KEYS = {*_SELECTORS, "metric", "margin", "min_requests", "name"}
_FORECAST_KEYS = {
    *_SELECTORS,
    "metric",
    "ceiling",
    "within_days",
    "every",
    "name",
}
_DEFAULT_KEYS = {"alpha", "warn_levels", "sla_ms", "min_requests"}
_TOP_KEYS = {"defaults", "budget", "regression", "forecast"}

#: Default warning levels: a share of the limit used (50 %, 80 %, 90 %).
DEFAULT_WARN_LEVELS = (0.5, 0.8, 0.9)


@dataclass(frozen=True)
class Rule:
    """One rule of a budgets file.

    ``kind`` is "ceiling" (value must stay <= limit), "floor" (>= limit), "regression"
    (against a baseline; ``limit`` is the practical margin) or "forecast" (a warning
    when the trend's prediction band reaches ``limit`` within ``within_days``).
    ``where`` maps a column (endpoint, model) to a value or "*" (each value).
    """

    kind: str
    metric: str
    limit: float
    where: Mapping[str, str] = field(default_factory=dict)
    warn_levels: tuple[float, ...] = DEFAULT_WARN_LEVELS
    min_requests: int | None = None
    sla_ms: float | None = None
    within_days: float = 14.0
    every: str = "1d"
    name: str = ""
    source: str = ""  # "perf.toml [[budget]] #1 latency_p99_ms_max"

    @property
    def title(self) -> str:
        if self.name and (
            self.kind not in ("ceiling", "floor") or self.source.startswith("-")
        ):
            return self.name
        prefix = f"{self.name}: " if self.name else ""
        if self.kind == "regression":
            return f"{self.metric} regression"
        if self.kind == "forecast":
            return f"{self.metric} forecast"
        return prefix + self.metric


@dataclass(frozen=True)
class Budgets:
    """A parsed budgets file: its rules and the family-wise ``alpha`` of the
    regression rules."""

    rules: tuple[Rule, ...]
    alpha: float = 0.05
    source: str = "<budgets>"


def _fail(where: str, msg: str) -> ValueError:
    return ValueError(f"{where}: {msg}")


def _number(
    tbl: Mapping[str, Any],
    key: str,
    where: str,
    *,
    low: float = 0.0,
    high: float = math.inf,
    strict_low: bool = True,
) -> float:
    v = tbl[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _fail(where, f"key {key!r} must be a number, got {v!r}")
    ok = (v > low if strict_low else v >= low) and v <= high
    if not ok:
        bound = f"> {low:g}" if strict_low else f">= {low:g}"
        if math.isfinite(high):
            bound += f" and <= {high:g}"
        raise _fail(where, f"key {key!r} must be {bound}, got {v!r}")
    return float(v)


def _levels(v: Any, where: str) -> tuple[float, ...]:
    if not isinstance(v, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < 1 for x in v
    ):
        raise _fail(
            where, f"key 'warn_levels' must be a list of fractions in (0, 1), got {v!r}"
        )
    return tuple(sorted(float(x) for x in v))


def _selectors(tbl: Mapping[str, Any], where: str) -> dict[str, str]:
    out = {}
    for k in _SELECTORS:
        if k in tbl:
            if not isinstance(tbl[k], str) or not tbl[k]:
                raise _fail(where, f'key {k!r} must be a non-empty string or "*"')
            out[k] = tbl[k]
    return out


def _check_keys(tbl: Any, allowed: set[str], where: str) -> None:
    if not isinstance(tbl, dict):
        raise _fail(where, "must be a table")
    unknown = sorted(set(tbl) - allowed)
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r}; allowed: {sorted(allowed)}")


def parse_budgets(text: str, source: str = "<budgets>") -> Budgets:
    """Parse the TOML text of a budgets file (see :func:`load_budgets`).

    Raises
    ------
    ValueError
        Naming ``source`` and the TOML line (syntax) or table and key (content).

    Examples
    --------
    >>> b = parse_budgets('[[budget]]\\nendpoint = "*"\\nlatency_p99_ms_max = 2000')
    >>> [(r.kind, r.metric, r.limit, dict(r.where)) for r in b.rules]
    [('ceiling', 'latency_p99', 2000.0, {'endpoint': '*'})]
    """
    from perfstats.analysis.comparison import DEFAULT_MARGINS, METRICS

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: invalid TOML: {exc}") from None
    _check_keys(doc, _TOP_KEYS, source)
    defaults = doc.get("defaults", {})
    _check_keys(defaults, _DEFAULT_KEYS, f"{source} [defaults]")
    dwhere = f"{source} [defaults]"
    alpha = (
        _number(defaults, "alpha", dwhere, high=0.5) if "alpha" in defaults else 0.05
    )
    dlevels = (
        _levels(defaults["warn_levels"], dwhere)
        if "warn_levels" in defaults
        else DEFAULT_WARN_LEVELS
    )
    dsla = _number(defaults, "sla_ms", dwhere) if "sla_ms" in defaults else None
    dmin = (
        int(_number(defaults, "min_requests", dwhere, low=1, strict_low=False))
        if "min_requests" in defaults
        else None
    )
    rules: list[Rule] = []
    for section in ("budget", "regression", "forecast"):
        tables = doc.get(section, [])
        if not isinstance(tables, list):
            raise _fail(
                source, f"{section!r} must be an array of tables: [[{section}]]"
            )
        for i, tbl in enumerate(tables, 1):
            where = f"{source} [[{section}]] #{i}"
            allowed = {
                "budget": _BUDGET_KEYS,
                "regression": _REGRESSION_KEYS,
                "forecast": _FORECAST_KEYS,
            }[section]
            if section == "budget" and isinstance(tbl, dict):
                allowed = allowed | {k for k in tbl if _LATENCY_KEY.match(k)}
            _check_keys(tbl, allowed, where)
            sel = _selectors(tbl, where)
            name = str(tbl.get("name", ""))
            mreq = (
                int(_number(tbl, "min_requests", where, low=1, strict_low=False))
                if "min_requests" in tbl
                else dmin
            )
            if section == "budget":
                levels = (
                    _levels(tbl["warn_levels"], where)
                    if "warn_levels" in tbl
                    else dlevels
                )
                sla = _number(tbl, "sla_ms", where) if "sla_ms" in tbl else dsla
                found = False
                for key in tbl:
                    m = _LATENCY_KEY.match(key)
                    if m:
                        q = float(m.group(1))
                        if not 0 < q < 100:
                            raise _fail(
                                where, f"key {key!r}: percentile must be in (0, 100)"
                            )
                        metric = f"latency_p{m.group(1)}"
                    elif key in _CEILINGS:
                        metric = _CEILINGS[key][0]
                    elif key == "sla_compliance_min":
                        if sla is None:
                            raise _fail(
                                where,
                                "key 'sla_compliance_min' needs 'sla_ms' here or in [defaults]",
                            )
                        lim = _number(tbl, key, where, high=1.0)
                        rules.append(
                            Rule(
                                "floor",
                                "sla_compliance",
                                lim,
                                sel,
                                levels,
                                mreq,
                                sla,
                                name=name,
                                source=f"{where} {key}",
                            )
                        )
                        found = True
                        continue
                    else:
                        continue
                    high = 1.0 if metric == "error_rate" else math.inf
                    lim = _number(tbl, key, where, high=high)
                    rules.append(
                        Rule(
                            "ceiling",
                            metric,
                            lim,
                            sel,
                            levels,
                            mreq,
                            sla,
                            name=name,
                            source=f"{where} {key}",
                        )
                    )
                    found = True
                if not found:
                    raise _fail(
                        where,
                        "no limit given (e.g. latency_p99_ms_max, error_rate_max, sla_compliance_min)",
                    )
            elif section == "regression":
                if "metric" not in tbl:
                    raise _fail(where, "key 'metric' is missing")
                metric = tbl["metric"]
                if metric not in METRICS:
                    raise _fail(
                        where,
                        f"key 'metric': unknown {metric!r}; choose from {sorted(METRICS)}",
                    )
                margin = (
                    _number(tbl, "margin", where, low=0.0, strict_low=False)
                    if "margin" in tbl
                    else DEFAULT_MARGINS[metric]
                )
                rules.append(
                    Rule(
                        "regression",
                        metric,
                        margin,
                        sel,
                        (),
                        mreq,
                        name=name,
                        source=f"{where} metric",
                    )
                )
            else:
                for k in ("metric", "ceiling"):
                    if k not in tbl:
                        raise _fail(where, f"key {k!r} is missing")
                if not isinstance(tbl["metric"], str):
                    raise _fail(where, "key 'metric' must be a string")
                ceiling = _number(tbl, "ceiling", where)
                days = (
                    _number(tbl, "within_days", where) if "within_days" in tbl else 14.0
                )
                every = str(tbl.get("every", "1d"))
                rules.append(
                    Rule(
                        "forecast",
                        tbl["metric"],
                        ceiling,
                        sel,
                        (),
                        mreq,
                        within_days=days,
                        every=every,
                        name=name,
                        source=f"{where} ceiling",
                    )
                )
    if not rules:
        raise _fail(
            source, "no rules: add [[budget]], [[regression]] or [[forecast]] tables"
        )
    return Budgets(tuple(rules), alpha, source)


def load_budgets(path: str | Path) -> Budgets:
    """Read a budgets TOML file.

    Format (every table optional, at least one rule)::

        [defaults]
        alpha = 0.05             # family-wise error rate of all regression rules
        warn_levels = [0.5, 0.8, 0.9]   # warn at these shares of a limit
        sla_ms = 1000            # target of sla_compliance_min
        min_requests = 100       # fewer requests: "insufficient data"

        [[budget]]               # ceilings and floors
        endpoint = "*"           # each endpoint; or a name; absent: all traffic
        model = "*"              # optional, likewise
        latency_p95_ms_max = 1500          # any latency_pNN_ms_max
        error_rate_max = 0.01
        sla_compliance_min = 0.99
        tokens_per_request_max = 4000
        cost_per_request_max = 0.02        # USD
        spend_per_day_max = 50             # USD, the last day in the data
        spend_per_month_max = 1200

        [[regression]]           # against --baseline
        endpoint = "*"
        metric = "latency_p95"   # any metric of perfstats.compare
        margin = 0.05            # practical margin (relative; error_rate absolute)

        [[forecast]]
        metric = "latency_p95"   # any metric of perfstats.trend
        ceiling = 2000
        within_days = 14

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file.

    Returns
    -------
    Budgets

    Raises
    ------
    ValueError
        Naming the file and the TOML line, or the table and key, of the problem.
    OSError
        When the file cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "perf.toml"
    >>> _ = p.write_text('[[budget]]\\nerror_rate_max = 0.01\\n')
    >>> load_budgets(p).rules[0].metric
    'error_rate'
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"no such budgets file: {p}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not UTF-8 text") from None
    return parse_budgets(text, str(p))


# ---- evaluation -----------------------------------------------------------------------


class BudgetCheck(Result):
    """Result of :func:`evaluate_budgets`: one row per (rule, group).

    Attributes
    ----------
    rows : list of dict
        ``rule``, ``group``, ``status`` (one of :data:`STATUSES`), ``value``,
        ``limit`` (display text), ``evidence`` (why), ``kind``, ``metric``,
        ``measured`` and ``threshold`` (numbers, NaN when unknown), ``source``.
    alpha : float
        Family-wise error rate of the regression rules.
    """

    __slots__ = ("alpha", "rows")
    _title = "Budget check"

    def __init__(self, rows: Sequence[Mapping[str, Any]], alpha: float = 0.05):
        self.rows = [dict(r) for r in rows]
        self.alpha = alpha

    def count(self, status: str) -> int:
        """Rows with ``status``."""
        return sum(r["status"] == status for r in self.rows)

    @property
    def passed(self) -> bool:
        """No rule failed (warnings and insufficient data do not fail)."""
        return self.count("fail") == 0

    def exit_code(self, *, strict: bool = False) -> int:
        """0 every rule holds, 1 a rule failed (or, ``strict``, warned)."""
        bad = self.count("fail") + (self.count("warn") if strict else 0)
        return 1 if bad else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "counts": {s: self.count(s) for s in STATUSES},
            "rules": self.rows,
        }

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.rows)

    def _view(self) -> View:
        import pandas as pd

        cols = ["rule", "group", "status", "value", "limit", "evidence"]
        return View(
            self._title,
            {s: self.count(s) for s in STATUSES},
            {"rules": pd.DataFrame(self.rows, columns=cols)},
        )


def _groups(
    frame: pd.DataFrame, where: Mapping[str, str]
) -> list[tuple[str, pd.DataFrame | None, str]]:
    """(label, rows or None, reason) of each group a rule applies to."""
    sub = frame
    each: list[str] = []
    fixed: list[str] = []
    for col, val in where.items():
        if col not in frame.columns:
            return [("all", None, f"the events have no {col!r} column")]
        if val == "*":
            each.append(col)
        else:
            sub = sub[sub[col].astype(str) == val]
            fixed.append(f"{col}={val}")
    if not each:
        label = ", ".join(fixed) or "all"
        if not len(sub):
            return [(label, None, "no requests")]
        return [(label, sub, "")]
    out: list[tuple[str, pd.DataFrame | None, str]] = []
    for key, g in sub.groupby([sub[c].astype(str) for c in each], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        parts = fixed + [f"{c}={k}" for c, k in zip(each, key, strict=True)]
        out.append((", ".join(parts), g, ""))
    if not out:
        out.append((", ".join(fixed) or "all", None, "no requests"))
    return out


def _latencies(g: pd.DataFrame) -> Any:
    """Latencies of the successful requests (all when failures are unknown)."""
    import numpy as np

    from perfstats.io.failure import failed

    if "latency_ms" not in g:
        return np.empty(0)
    lat = g["latency_ms"].to_numpy(dtype=float)
    f = failed(g)
    if f is not None:
        lat = lat[~f]
    return lat[np.isfinite(lat)]


def _min_n(rule: Rule) -> int:
    if rule.min_requests is not None:
        return rule.min_requests
    m = re.match(r"latency_p(\d+(?:\.\d+)?)$", rule.metric)
    if m:  # at least 5 requests above the quantile
        return max(20, math.ceil(5 / (1 - float(m.group(1)) / 100)))
    return 20


def _measure(rule: Rule, g: pd.DataFrame) -> tuple[float, int, str]:
    """(value, requests it rests on, reason when unknown)."""
    import numpy as np

    from perfstats.io.failure import failed

    metric = rule.metric
    if metric.startswith("latency_p") or metric == "sla_compliance":
        if "latency_ms" not in g:
            return math.nan, 0, "no latency_ms column"
        lat = g["latency_ms"].to_numpy(dtype=float)
        lat = lat[np.isfinite(lat)]
        if metric == "sla_compliance":
            assert rule.sla_ms is not None
            return (
                (float(np.mean(lat <= rule.sla_ms)) if lat.size else math.nan),
                lat.size,
                "",
            )
        q = float(metric[len("latency_p") :]) / 100
        # the nearest-rank quantile ("inverted_cdf"): an observed latency
        v = float(np.quantile(lat, q, method="inverted_cdf")) if lat.size else math.nan
        return v, lat.size, ""
    if metric == "error_rate":
        f = failed(g)
        if f is None:
            return math.nan, 0, "no success or error column"
        return (float(f.mean()) if f.size else math.nan), int(f.size), ""
    if metric == "tokens_per_request":
        cols = [c for c in ("input_tokens", "output_tokens") if c in g]
        if not cols:
            return math.nan, 0, "no input_tokens/output_tokens columns"
        t = g[cols].to_numpy(dtype=float).sum(axis=1)
        t = t[np.isfinite(t)]
        return (float(t.mean()) if t.size else math.nan), t.size, ""
    if metric == "cost_per_request":
        if "cost_usd" not in g:
            return math.nan, 0, "no cost_usd column"
        c = g["cost_usd"].to_numpy(dtype=float)
        c = c[np.isfinite(c)]
        return (float(c.mean()) if c.size else math.nan), c.size, ""
    if metric in ("spend_per_day", "spend_per_month"):
        if "cost_usd" not in g or "timestamp" not in g:
            return math.nan, 0, "no cost_usd and timestamp columns"
        import pandas as pd

        ts = pd.to_datetime(g["timestamp"], utc=True)
        per = ts.dt.floor("D") if metric == "spend_per_day" else ts.dt.strftime("%Y-%m")
        last = per == per.max()
        c = g.loc[last.to_numpy(), "cost_usd"].to_numpy(dtype=float)
        known = np.isfinite(c)
        if not known.any():
            return math.nan, 0, "no known cost in the last period"
        note = (
            ""
            if known.all()
            else f"{int((~known).sum())} requests without a known cost"
        )
        return float(c[known].sum()), int(known.sum()), note
    raise ValueError(f"{rule.source}: unknown metric {metric!r}")


def _fmt(metric: str, v: float) -> str:
    if not math.isfinite(v):
        return "unknown"
    if metric.startswith("latency_p"):
        return f"{v:,.0f} ms"
    if metric in ("error_rate", "sla_compliance"):
        return f"{100 * v:.3f}%"
    if metric == "tokens_per_request":
        return f"{v:,.1f} tokens"
    if metric == "cost_per_request":
        return f"${v:.5f}"
    if metric.startswith("spend"):
        return f"${v:,.2f}"
    return f"{v:.6g}"


def _threshold_row(rule: Rule, label: str, g: pd.DataFrame) -> dict[str, Any]:
    v, n, note = _measure(rule, g)
    op = "<=" if rule.kind == "ceiling" else ">="
    row = _row(
        rule, label, "insufficient data", v, f"{op} {_fmt(rule.metric, rule.limit)}"
    )
    need = 1 if rule.metric.startswith("spend") else _min_n(rule)
    if not math.isfinite(v) or n < need:
        row["evidence"] = note or f"{n} requests, the rule needs at least {need}"
        return row
    row["value"] = _fmt(rule.metric, v)
    if rule.kind == "ceiling":
        used = v / rule.limit
        failed = v > rule.limit
    else:  # a floor: the share of the allowed shortfall used (an error budget)
        room = 1.0 - rule.limit
        used = (1.0 - v) / room if room > 0 else (0.0 if v >= rule.limit else math.inf)
        failed = v < rule.limit
    crossed = [lv for lv in rule.warn_levels if used >= lv]
    row["status"] = "fail" if failed else ("warn" if crossed else "pass")
    row["evidence"] = (
        f"{used:.0%} of the {'limit' if rule.kind == 'ceiling' else 'error budget'} used, {n:,} requests"
    )
    if crossed and not failed:
        row["evidence"] += f" (warning level {crossed[-1]:.0%})"
    if note:
        row["evidence"] += f"; {note}"
    return row


def _row(
    rule: Rule, group: str, status: str, measured: float, limit: str
) -> dict[str, Any]:
    return {
        "rule": rule.title,
        "group": group,
        "status": status,
        "value": _fmt(rule.metric, measured),
        "limit": limit,
        "evidence": "",
        "kind": rule.kind,
        "metric": rule.metric,
        "measured": measured,
        "threshold": rule.limit,
        "source": rule.source,
    }


def _hypergeom_sf(a: int, total: int, above: int, drawn: int) -> float:
    """P(X >= a), X hypergeometric: ``drawn`` of ``total`` items, ``above`` marked."""
    lo, hi = max(a, 0, drawn + above - total), min(above, drawn)
    if lo > hi:
        return 0.0 if a > hi else 1.0

    def logpmf(k: int) -> float:
        return (
            math.lgamma(above + 1)
            - math.lgamma(k + 1)
            - math.lgamma(above - k + 1)
            + math.lgamma(total - above + 1)
            - math.lgamma(drawn - k + 1)
            - math.lgamma(total - above - drawn + k + 1)
            - math.lgamma(total + 1)
            + math.lgamma(drawn + 1)
            + math.lgamma(total - drawn + 1)
        )

    return min(1.0, sum(math.exp(logpmf(k)) for k in range(lo, hi + 1)))


def quantile_shift_test(
    baseline: Any, current: Any, q: float
) -> tuple[float, float, int, int]:
    """One-sided distribution-free test that the q-quantile of ``current`` is above
    that of ``baseline`` (Mood's test generalised to a quantile): the requests of
    each run above the pooled q-quantile, Fisher's exact test of the 2 x 2 table.

    Returns (p-value, relative lift of the sample quantiles, requests above in the
    baseline, in the current run). Exact under "same distribution" (an A/A pair).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> b = rng.lognormal(6, 0.5, 2000)
    >>> p, lift, _, _ = quantile_shift_test(b, 1.3 * rng.lognormal(6, 0.5, 2000), 0.95)
    >>> p < 0.001, bool(0.2 < lift < 0.45)  # sample p95s: 1.3 x with noise
    (True, True)
    """
    import numpy as np

    b = np.asarray(baseline, dtype=float)
    c = np.asarray(current, dtype=float)
    pooled = float(np.quantile(np.concatenate([b, c]), q, method="inverted_cdf"))
    kb, kc = int((b > pooled).sum()), int((c > pooled).sum())
    p = _hypergeom_sf(kc, b.size + c.size, kb + kc, c.size)
    qb = float(np.quantile(b, q, method="inverted_cdf"))
    qc = float(np.quantile(c, q, method="inverted_cdf"))
    lift = qc / qb - 1.0 if qb > 0 else math.nan
    return p, lift, kb, kc


def _regression_rows(
    rules: Sequence[Rule],
    frame: pd.DataFrame,
    baseline: pd.DataFrame | None,
    alpha: float,
) -> list[dict[str, Any]]:
    import numpy as np
    import pandas as pd

    from perfstats.analysis.comparison import compare, holm

    rows: list[dict[str, Any]] = []
    tested: list[
        tuple[int, float]
    ] = []  # (row index, unadjusted p of "worse beyond margin")
    for rule in rules:
        lim = (
            f"+{rule.limit:.3f} absolute, significant"
            if rule.metric == "error_rate"
            else f"+{rule.limit:.0%}, significant"
        )
        if baseline is None:
            for label, _, _ in _groups(frame, rule.where):
                rows.append(_row(rule, label, "insufficient data", math.nan, lim))
                rows[-1]["evidence"] = "no baseline with per-request data given"
            continue
        base_groups = {lbl: g for lbl, g, _ in _groups(baseline, rule.where)}
        for label, g, reason in _groups(frame, rule.where):
            row = _row(rule, label, "insufficient data", math.nan, lim)
            row["value"] = "unknown"
            rows.append(row)
            b = base_groups.get(label)
            if g is None or b is None:
                row["evidence"] = reason or "no baseline requests for this group"
                continue
            need = rule.min_requests or 100
            if len(g) < need or len(b) < need:
                row["evidence"] = (
                    f"{len(g)} current and {len(b)} baseline requests, the rule needs {need} each"
                )
                continue
            qm = re.match(r"latency_p(\d+(?:\.\d+)?)$", rule.metric)
            if qm:
                lat_b = _latencies(b)
                lat_c = _latencies(g)
                if lat_b.size < need or lat_c.size < need:
                    row["evidence"] = "too few successful requests with a latency"
                    continue
                p, lift, kb, kc = quantile_shift_test(
                    lat_b, lat_c, float(qm.group(1)) / 100
                )
                row["value"] = f"{lift:+.1%}" if math.isfinite(lift) else "unknown"
                row["measured"] = lift
                row["_p"] = p
                row["_n"] = (lat_b.size, lat_c.size)
                row["_ci"] = (math.nan, math.nan)
                row["_big"] = bool(lift > rule.limit)
                row["_extra"] = (
                    f"{kb} baseline / {kc} current requests above the pooled quantile"
                )
                tested.append((len(rows) - 1, p))
                continue
            both = pd.concat(
                [b.assign(_arm="baseline"), g.assign(_arm="current")], ignore_index=True
            )
            try:
                c = compare(
                    both,
                    by="_arm",
                    baseline="baseline",
                    metrics=[rule.metric],
                    primary=[rule.metric],
                    guardrails=[],
                    margins={rule.metric: rule.limit},
                    alpha=alpha,
                    min_requests=need,
                )
            except ValueError as exc:
                row["evidence"] = str(exc)
                continue
            if rule.metric in c.missing or not len(c.table):
                row["evidence"] = c.missing.get(rule.metric, "metric not measured")
                continue
            r = c.table.iloc[0]
            # one arm and one metric: the "worse beyond the margin" p is unadjusted here
            p = float(r["pvalue_worse_adjusted"])
            if rule.metric == "error_rate":
                shift = float(r["difference"])
                row["value"] = f"{shift:+.4f}"
                row["measured"] = shift
            else:
                shift = float(r["relative_lift"])
                row["value"] = f"{shift:+.1%}" if math.isfinite(shift) else "unknown"
                row["measured"] = shift
            if not math.isfinite(p):
                row["evidence"] = "no test possible (" + str(r.get("verdict", "")) + ")"
                continue
            row["_p"] = p
            row["_big"] = True  # the test itself is of "worse by more than the margin"
            row["_extra"] = ""
            row["_n"] = (len(b), len(g))
            row["_ci"] = (float(r["lift_low"]), float(r["lift_high"]))
            tested.append((len(rows) - 1, p))
    if tested:
        adj = holm([p for _, p in tested])
        for (i, _), pa in zip(tested, adj, strict=True):
            row = rows[i]
            nb, ng = row.pop("_n")
            lo, hi = row.pop("_ci")
            row.pop("_p")
            big = row.pop("_big")
            extra = row.pop("_extra")
            row["status"] = "fail" if (pa < alpha and big) else "pass"
            what = "worse by more than the margin" if not extra else "worse"
            parts = [
                f"p = {pa:.3g} that it is not {what} (Holm over {len(tested)} "
                f"regression tests, alpha {alpha:g})"
            ]
            if extra:
                parts.append(("beyond" if big else "within") + " the margin")
                parts.append(extra)
            if np.isfinite(lo):
                parts.append(f"lift CI [{lo:+.1%}, {hi:+.1%}]")
            parts.append(f"{nb:,} baseline / {ng:,} current requests")
            row["evidence"] = "; ".join(parts)
    return rows


def _forecast_rows(rule: Rule, frame: pd.DataFrame) -> list[dict[str, Any]]:
    from perfstats.analysis.metric_trend import trend

    rows = []
    lim = f"< {rule.limit:g} within {rule.within_days:g} d"
    for label, g, reason in _groups(frame, rule.where):
        row = _row(rule, label, "insufficient data", math.nan, lim)
        row["value"] = "unknown"
        rows.append(row)
        if g is None:
            row["evidence"] = reason
            continue
        try:
            tr = trend(
                g,
                rule.metric,
                every=rule.every,
                budget=rule.limit,
                horizon=f"{rule.within_days:g}d",
            )
        except ValueError as exc:
            row["evidence"] = str(exc).splitlines()[0]
            continue
        band = tr.band_crossing
        row["value"] = f"{tr.slope_per_day:+.4g}/day"
        row["measured"] = float(tr.slope_per_day)
        if band is None:
            row["status"] = "pass"
            row["evidence"] = (
                f"the {tr.level:.0%} forecast band stays below {rule.limit:g} for {rule.within_days:g} days"
            )
        else:
            row["status"] = "warn"  # a forecast never fails the gate
            row["evidence"] = (
                f"the {tr.level:.0%} forecast band reaches {rule.limit:g} on {band:%Y-%m-%d %H:%M}"
            )
    return rows


def evaluate_budgets(
    budgets: Budgets, events: Any, baseline: Any | None = None
) -> BudgetCheck:
    """Evaluate every rule of ``budgets`` on ``events``.

    Statuses and their error rates:

    - ceilings and floors: "fail" when the measured value is beyond the limit, "warn"
      when it uses at least the lowest of ``warn_levels`` of the limit (of the allowed
      shortfall for a floor); latency percentiles are nearest-rank quantiles of the
      requests with a latency; too few requests (default: 5 above the percentile, at
      least 20) is "insufficient data", never a pass or a fail.
    - regression rules, Holm's correction over all regression tests of the file:
      latency quantiles (latency_pNN, successful requests) "fail" only when the
      current run is significantly worse (one-sided, distribution-free
      :func:`quantile_shift_test`) *and* its sample quantile is above the baseline's
      by more than the margin. Other metrics "fail" when significantly worse by more
      than the margin (the one-sided tests of :func:`perfstats.compare`: Welch t for
      means, Farrington-Manning for the error rate). P(any false fail) <= ``alpha``
      on A/A pairs of runs. Power against a true +10 % p95 with a 5 % margin, alpha
      0.05: >= 0.80 with 2,000 requests per run, >= 0.50 with 1,000, >= 0.25 with
      500, little with 200 (seeded simulation: ``tests/calibration/scenarios_check.py``).
      Each side needs ``min_requests`` (default 100).
    - forecast rules: "warn" (never "fail") when the prediction band of
      :func:`perfstats.trend` reaches the ceiling within ``within_days``.

    Parameters
    ----------
    budgets : Budgets
        From :func:`load_budgets` or :func:`parse_budgets`.
    events : perfstats.io.events.Events or pandas.DataFrame
        The current run's requests.
    baseline : perfstats.io.events.Events or pandas.DataFrame, optional
        The baseline's requests; regression rules are "insufficient data" without.

    Returns
    -------
    BudgetCheck

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ev = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=400,
    ...                                              freq="s", tz="UTC"),
    ...                    "endpoint": rng.choice(["a", "b"], 400),
    ...                    "latency_ms": rng.lognormal(6, 0.3, 400),
    ...                    "success": rng.random(400) > 0.01})
    >>> b = parse_budgets('[[budget]]\\nendpoint = "*"\\nerror_rate_max = 0.05')
    >>> res = evaluate_budgets(b, ev)
    >>> [(r["group"], r["status"]) for r in res.rows]
    [('endpoint=a', 'pass'), ('endpoint=b', 'pass')]
    >>> res.exit_code()
    0
    """
    from perfstats.analysis.summary import events_frame

    frame = events_frame(events)
    base = None if baseline is None else events_frame(baseline)
    rows: list[dict[str, Any]] = []
    for rule in budgets.rules:
        if rule.kind in ("ceiling", "floor"):
            for label, g, reason in _groups(frame, rule.where):
                if g is None:
                    row = _row(
                        rule,
                        label,
                        "insufficient data",
                        math.nan,
                        f"{'<=' if rule.kind == 'ceiling' else '>='} {_fmt(rule.metric, rule.limit)}",
                    )
                    row["evidence"] = reason
                    rows.append(row)
                else:
                    rows.append(_threshold_row(rule, label, g))
        elif rule.kind == "forecast":
            rows.extend(_forecast_rows(rule, frame))
    regs = [r for r in budgets.rules if r.kind == "regression"]
    if regs:
        rows.extend(_regression_rows(regs, frame, base, budgets.alpha))
    return BudgetCheck(rows, budgets.alpha)
