"""Change points of a metric of request events: :func:`perfstats.detect_changepoints`
on the metric's windowed series (:func:`perfstats.metric_series`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from perfstats._display import group_label
from perfstats.analysis.series import metric_series
from perfstats.io.events import as_events_or_path
from perfstats.stats.changepoints import ChangePoints, detect_changepoints

__all__ = ["metric_changepoints"]


def metric_changepoints(
    events: Any,
    metric: str = "latency_p95",
    *,
    every: str = "1h",
    by: str | None = None,
    sla_target_ms: float = 5000.0,
    **options: Any,
) -> ChangePoints | dict[str, ChangePoints]:
    """Where a metric of request events changes level (or slope), window by window.

    Windows without requests (a NaN metric) are left out, so a change point's time is
    the start of the first window with data after the change.

    Parameters
    ----------
    events : perfstats.io.Events or pandas.DataFrame
        Events in the canonical schema (``timestamp`` required).
    metric : str, default "latency_p95"
        Any metric of :func:`perfstats.metric_series` (latencies in ms, rates as
        fractions, cost in USD).
    every : str, default "1h"
        Window length ("15min", "1h", "1d").
    by : str, optional
        A grouping column: one :class:`~perfstats.ChangePoints` per group, in a dict
        keyed by the group's value.
    sla_target_ms : float, default 5000
        SLA target behind ``sla_compliance``.
    **options
        Passed to :func:`perfstats.detect_changepoints` (``method``, ``model``,
        ``min_size``, ``pvalue``, ``autocorrelation``, ``penalty``,
        ``max_changepoints``).

    Returns
    -------
    ChangePoints, or dict of str to ChangePoints when ``by`` is given.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from perfstats.analysis.metric_changepoints import metric_changepoints
    >>> rng = np.random.default_rng(0)
    >>> ts = pd.date_range("2026-01-01", periods=96 * 60, freq="min", tz="UTC")
    >>> latency = rng.lognormal(np.log(np.where(ts < "2026-01-03", 400, 600)), 0.2)
    >>> cps = metric_changepoints(pd.DataFrame({"timestamp": ts, "latency_ms": latency}),
    ...                           "latency_p50", every="1h", model="mean")
    >>> [str(c.time) for c in cps]
    ['2026-01-03 00:00:00+00:00']
    """
    from perfstats.analysis.summary import Summary

    events = as_events_or_path(events, keep=(Summary,))
    series = metric_series(
        events, metric, every=every, by=by, sla_target_ms=sla_target_ms
    )
    if by is None:
        return _detect(series, options)
    out: dict[str, ChangePoints] = {}
    for key, part in series.groupby(level=by, observed=True, sort=True):
        label = group_label(key if isinstance(key, tuple) else (key,))
        out[label] = _detect(part.droplevel(by), options)
    return out


def _detect(series: Any, options: dict[str, Any]) -> ChangePoints:
    present = series[np.isfinite(series.to_numpy(dtype=float))]
    if len(present) == 0:
        raise ValueError(f"{series.name} has no window with a value: nothing to test")
    return detect_changepoints(present, **options)
