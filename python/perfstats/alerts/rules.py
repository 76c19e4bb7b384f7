"""Evaluation of alerting rules on events, or on the windows of a history store: which
alerts are active now, with labels, annotations and the value behind them. Calls the
public analyses only."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any

from perfstats.alerts.config import Rule

__all__ = ["Sample", "evaluate_rule", "evaluate_rules", "render_template"]

#: How far back of its end a history store is read by default (``lookback``).
DEFAULT_LOOKBACK = "28d"

_COMPARE = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_TEMPLATE = re.compile(r"\{\{\s*\$(labels\.([A-Za-z_][A-Za-z0-9_]*)|value)\s*\}\}")


@dataclass(frozen=True)
class Sample:
    """One alert a rule finds active in this evaluation (Prometheus's active alert),
    or, with ``unknown=True``, one whose value could not be known (a window without
    data): such an alert keeps its state, neither firing nor resolving."""

    rule: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    value: float = math.nan
    unknown: bool = False


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "unknown"
    return f"{v:.4g}"


def render_template(text: str, labels: dict[str, str], value: float) -> str:
    """Prometheus-style annotation text: ``{{ $labels.NAME }}`` and ``{{ $value }}``.

    Examples
    --------
    >>> render_template("p95 of {{ $labels.endpoint }} is {{ $value }} ms",
    ...                 {"endpoint": "/chat"}, 812.25)
    'p95 of /chat is 812.2 ms'
    """

    def sub(m: re.Match[str]) -> str:
        if m.group(2) is not None:
            return labels.get(m.group(2), "")
        return _fmt(value)

    return _TEMPLATE.sub(sub, text)


def _groups(
    frame: Any, by: tuple[str, ...], rule: Rule
) -> list[tuple[dict[str, str], Any]]:
    if not by:
        return [({}, frame)]
    missing = [c for c in by if c not in frame.columns]
    if missing:
        raise ValueError(
            f"rule {rule.alert}: events have no column(s) {', '.join(missing)} to group by"
        )
    out = []
    for key, part in frame.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        out.append(({c: str(k) for c, k in zip(by, key, strict=True)}, part))
    return out


def _evaluations(rule: Rule, frame: Any) -> list[tuple[dict[str, str], bool, float]]:
    """(group labels, active, value) per group, all at the data's last window: a
    group without requests there is 0 for counts and sums, unknown otherwise."""
    groups = _groups(frame, rule.by, rule)
    if rule.kind == "metric" and rule.by:
        from perfstats.analysis.series import metric_series

        s = metric_series(
            frame, rule.metric, every=rule.every, by=list(rule.by),
            sla_target_ms=rule.sla_target_ms,
        )  # fmt: skip
        last = s.groupby(level=list(range(len(rule.by))), sort=True, dropna=False).tail(
            1
        )
        out = []
        for key, v in last.items():
            keys = tuple(key) if isinstance(key, tuple) else (key,)
            labels = {c: str(k) for c, k in zip(rule.by, keys[:-1], strict=True)}
            out.append((labels, *_compare(rule, float(v))))
        return out
    if rule.kind == "anomaly" and rule.by:
        import pandas as pd

        end = pd.Timestamp(frame["timestamp"].max()).floor(_freq(rule.every))
        out = []
        for labels, part in groups:
            if pd.Timestamp(part["timestamp"].max()).floor(_freq(rule.every)) < end:
                out.append((labels, False, math.nan))  # no data in the last window
            else:
                out.append((labels, *_value(rule, part)))
        return out
    return [(labels, *_value(rule, part)) for labels, part in groups]


def _history_evaluations(
    rule: Rule, history: Any, lookback: str, now: Any
) -> list[tuple[dict[str, str], bool, float]]:
    """As :func:`_evaluations`, on the windows of a history store that start in the
    ``lookback`` before ``now`` (default: the end of the store's last window), rolled
    up per the rule's ``every`` and ``by``: the stored sketches merge bucket for bucket,
    so every value is the one the raw events of those windows give."""
    import pandas as pd

    from perfstats.analysis.series import metric_series

    if rule.kind == "budget":
        raise ValueError(
            f"rule {rule.alert}: a budget rule prices requests, and a history store "
            "keeps no requests: evaluate it on events"
        )
    try:
        span = pd.Timedelta(_freq(lookback))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"lookback must be a duration like '28d', got {lookback!r}"
        ) from exc
    if now is None:
        rng = history.time_range()
        if rng is None:
            raise ValueError(f"rule {rule.alert}: the history store is empty")
        end = rng[1]
    else:
        end = (
            pd.Timestamp(now, unit="s", tz="UTC")
            if isinstance(now, (int, float))
            else pd.Timestamp(now)
        )
    # whole windows: the first one starts on the rule's grid
    start = (end - span).floor(_freq(rule.every))
    by = list(rule.by)
    s = history.summary(
        start, end, by=by, every=rule.every, sla_target_ms=rule.sla_target_ms
    )
    if rule.kind == "metric" or not by:
        if not by:
            return [({}, *_value(rule, s))]
        series = metric_series(
            s, rule.metric, every=rule.every, by=by, sla_target_ms=rule.sla_target_ms
        )
        last = series.groupby(level=list(range(len(by))), sort=True, dropna=False).tail(
            1
        )
        out = []
        for key, v in last.items():
            keys = tuple(key) if isinstance(key, tuple) else (key,)
            labels = {c: str(k) for c, k in zip(by, keys[:-1], strict=True)}
            out.append((labels, *_compare(rule, float(v))))
        return out
    out = []
    for labels, part in _split_summary(s, by):
        last_window = (
            part.table.index.max()
            == s.table.index.get_level_values("window_start").max()
        )
        if rule.kind == "anomaly" and not last_window:
            out.append((labels, False, math.nan))  # no data in the last window
        else:
            out.append((labels, *_value(rule, part)))
    return out


def _split_summary(summary: Any, by: list[str]) -> list[tuple[dict[str, str], Any]]:
    """One :class:`~perfstats.Summary` by window per group of a grouped one, in the
    groups' order (sorted, as :func:`_groups` sorts them)."""
    import dataclasses

    table = summary.table
    keys: dict[tuple[Any, ...], list[int]] = {}
    for i, key in enumerate(table.index):
        keys.setdefault(tuple(key[:-1]), []).append(i)
    sketch_keys = list(summary.sketches)
    out = []
    for group in sorted(keys, key=lambda k: tuple(str(v) for v in k)):
        rows = keys[group]
        part = table.iloc[rows].copy()
        part.index = part.index.get_level_values("window_start")
        sub = dataclasses.replace(
            summary,
            table=part,
            by=["window_start"],
            sketches={
                (sketch_keys[i][-1],): summary.sketches[sketch_keys[i]] for i in rows
            },
        )
        out.append(({c: str(k) for c, k in zip(by, group, strict=True)}, sub))
    return out


def _freq(every: str) -> str:
    return re.sub(r"(?<=\d)\s*d(?![a-z])", "D", every.strip())


def _compare(rule: Rule, v: float) -> tuple[bool, float]:
    if math.isnan(v):
        return False, v
    assert rule.threshold is not None
    return bool(_COMPARE[rule.op](v, rule.threshold)), v


def _value(rule: Rule, part: Any) -> tuple[bool, float]:
    """(active, value) of a rule on one group's events; value NaN = unknown."""
    if rule.kind == "metric":
        from perfstats.analysis.series import metric_series

        s = metric_series(
            part, rule.metric, every=rule.every, sla_target_ms=rule.sla_target_ms
        )
        v = float(s.iloc[-1]) if len(s) else math.nan
        if math.isnan(v):
            return False, v
        assert rule.threshold is not None
        return bool(_COMPARE[rule.op](v, rule.threshold)), v
    if rule.kind == "anomaly":
        from perfstats.analysis.metric_anomalies import anomalies

        found = anomalies(
            part, rule.metric, every=rule.every, sla_target_ms=rule.sla_target_ms
        )
        if len(found) == 0:
            return False, math.nan
        score = float(found.score[-1])
        if not found.open:
            return False, score
        side_ok = {"high": score > 0, "low": score < 0, "both": True}[rule.side]
        return bool(side_ok), score
    if rule.kind == "budget":
        from perfstats.analysis.costs import costs

        assert rule.threshold is not None
        report = costs(
            part, rule.prices, budget=rule.threshold, budget_period=rule.budget_period
        )
        if report.budget is None or len(report.budget) == 0:
            return False, math.nan
        share = float(report.budget["share"].iloc[-1])
        return bool(share >= rule.level), share
    # trend: the forecast (band or mean) crosses the threshold within the horizon
    from perfstats.analysis.metric_trend import trend

    assert rule.threshold is not None
    higher = rule.op in (">", ">=")
    t = trend(
        part,
        rule.metric,
        every=rule.every,
        budget=rule.threshold,
        horizon=rule.horizon,
        higher_is_worse=higher,
    )
    when = t.band_crossing if rule.bound == "band" else t.crossing
    if when is None:
        return False, math.nan
    last = t.series.index[-1]
    days = (when - last).total_seconds() / 86400.0
    return True, max(days, 0.0)


def evaluate_rule(
    rule: Rule, events: Any, *, lookback: str = DEFAULT_LOOKBACK, now: Any = None
) -> list[Sample]:
    """The active alerts of one rule on `events` (one per ``by`` group at most).

    The metric, anomaly and budget kinds look at the last window (or budget period)
    of the data (a metric or budget that is unknown there, such as a percentile of a
    window without requests, gives a Sample with ``unknown=True``); the trend kind fires when the forecast crosses `threshold` within
    `horizon` (value: days from the last window to the crossing).

    Parameters
    ----------
    rule : Rule
    events : perfstats.io.events.Events, pandas.DataFrame or perfstats.history.History
        The events, or a history store: then its windows that start in the
        `lookback` before `now` are read, rolled up per the rule's ``every`` and
        ``by`` (the values are those of the raw events of those windows: the
        stored sketches merge bucket for bucket). Budget rules need events.
    lookback : str, default "28d"
        How much of a history store to read (ignored for events): the anomaly
        kind's profile needs 7 days, the trend kind as many as its fit should see.
    now : float, datetime or str, optional
        End of what is read of a history store (Unix seconds or a time); default the
        end of its last window. Ignored for events.

    Returns
    -------
    list of Sample

    Examples
    --------
    >>> import pandas as pd
    >>> from perfstats.alerts import Rule
    >>> events = pd.DataFrame({
    ...     "timestamp": pd.to_datetime(["2026-01-01 00:10", "2026-01-01 00:20",
    ...                                  "2026-01-01 00:30"], utc=True),
    ...     "endpoint": ["/a", "/b", "/b"],
    ...     "latency_ms": [100.0, 900.0, 1100.0],
    ... })
    >>> rule = Rule("Slow", "metric", metric="latency_mean", every="1h",
    ...             by=("endpoint",), threshold=500.0, labels={"severity": "page"})
    >>> [(s.labels, s.value) for s in evaluate_rule(rule, events)]
    [({'endpoint': '/b', 'severity': 'page', 'alertname': 'Slow'}, 1000.0)]
    """
    from perfstats.analysis.summary import events_frame
    from perfstats.history import History

    if isinstance(events, History):
        found = _history_evaluations(rule, events, lookback, now)
    else:
        found = _evaluations(rule, events_frame(events))
    out = []
    for labels, active, value in found:
        full = {**labels, **rule.labels, "alertname": rule.alert}
        if math.isnan(value) and rule.kind in ("metric", "budget", "anomaly"):
            out.append(Sample(rule.alert, full, {}, value, unknown=True))
            continue
        if not active:
            continue
        notes = {
            k: render_template(v, full, value) for k, v in rule.annotations.items()
        }
        out.append(Sample(rule.alert, full, notes, value))
    return out


def evaluate_rules(
    rules: tuple[Rule, ...] | list[Rule],
    events: Any,
    *,
    lookback: str = DEFAULT_LOOKBACK,
    now: Any = None,
) -> tuple[list[Sample], dict[str, str]]:
    """Active alerts of every rule, and the rules that could not be evaluated (name ->
    reason): their alerts keep their state rather than resolve on missing evidence.
    `events`, `lookback` and `now` as in :func:`evaluate_rule`."""
    samples: list[Sample] = []
    errors: dict[str, str] = {}
    for rule in rules:
        try:
            samples += evaluate_rule(rule, events, lookback=lookback, now=now)
        except (ValueError, TypeError, KeyError) as exc:
            errors[rule.alert] = (
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            )
    return samples, errors
