"""metric_series: one metric of request events per time window, gaps kept explicit."""

from __future__ import annotations

import decimal
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from perfstats._time import parse_duration
from perfstats.analysis.summary import DEFAULT_QUANTILES, Summary, summarize
from perfstats.io.events import as_events_or_path

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ADDITIVE_METRICS", "metric_series"]

#: Metrics that are sums or counts over a window: an empty window has the value 0 (no
#: requests, no tokens, no spend). Every other metric is a statistic of the requests in
#: the window and is NaN where the window has none.
ADDITIVE_METRICS: frozenset[str] = frozenset(
    {
        "count",
        "errors",
        "throughput_rps",
        "input_tokens",
        "output_tokens",
        "tokens",
        "cost_usd",
    }
)

#: A percentile metric name, ``<column>_p<percent>`` (``latency_p95``).
PERCENTILE_METRIC = re.compile(r"^(?P<column>[a-z0-9_]+?)_p(?P<pct>\d+(?:\.\d+)?)$")


#: Most windows (x groups) a dense timeline may have: beyond it the span is set by a few
#: outlying timestamps, not by the data, and filling it would exhaust memory.
MAX_TIMELINE_WINDOWS = 2_000_000


def _check_timeline(
    starts: pd.Index[Any], step: pd.Timedelta, n_groups: int, every: str
) -> None:
    """ValueError naming the outlying timestamps when every window from the first to
    the last event (per group) would exceed :data:`MAX_TIMELINE_WINDOWS`."""
    first, last = starts.min(), starts.max()
    n_windows = (last - first) // step + 1
    if n_windows * n_groups <= MAX_TIMELINE_WINDOWS:
        return
    import pandas as pd

    present = np.unique(pd.DatetimeIndex(starts).as_unit("ns").asi8)
    gaps = np.diff(present)
    k = int(np.argmax(gaps)) if len(gaps) else 0
    before = pd.Timestamp(present[k], tz="UTC")
    after = pd.Timestamp(present[k + 1], tz="UTC") if len(gaps) else before
    raise ValueError(
        f"a timeline of every {every!r} from {first} to {last} needs "
        f"{n_windows:,} windows x {n_groups} group(s), more than "
        f"{MAX_TIMELINE_WINDOWS:,}: the largest gap in the data runs from the window "
        f"at {before} to the one at {after}; drop the outlying timestamp(s) on one "
        "side of it or use a longer every"
    )


def _check_summary(
    summary: Summary,
    step: pd.Timedelta,
    by: str | Sequence[str] | None,
    sla_target_ms: float,
    metric: str,
) -> None:
    """ValueError when a summary given for events was made with other windows,
    groups or (for ``sla_compliance``) SLA target than asked for."""
    if summary.every is None or parse_duration(summary.every) != step:
        raise ValueError(
            f"the summary has windows of {summary.every!r}, not the {step} asked for; "
            "summarize with the same every"
        )
    by_list = [by] if isinstance(by, str) else list(by or [])
    if [n for n in summary.by if n != "window_start"] != by_list:
        raise ValueError(
            f"the summary is grouped by {summary.by[:-1]}, not {by_list}; summarize "
            "with the same by"
        )
    if metric == "sla_compliance" and summary.sla_target_ms != float(sla_target_ms):
        raise ValueError(
            f"the summary's sla_target_ms is {summary.sla_target_ms}, not "
            f"{sla_target_ms}"
        )


def metric_series(
    events: Any,
    metric: str = "latency_p95",
    *,
    every: str = "1h",
    by: str | Sequence[str] | None = None,
    sla_target_ms: float = 5000.0,
) -> pd.Series[float]:
    """One metric of request events per time window, from :func:`perfstats.summarize`.

    Parameters
    ----------
    events : perfstats.io.events.Events, pandas.DataFrame or Summary
        Events in the canonical schema (``timestamp`` required), or their
        :class:`~perfstats.Summary` with the same `every` and `by` (from
        :func:`perfstats.dask.summarize` on a cluster, say); latency percentiles not
        in its table are read from its sketches.
    metric : str, default "latency_p95"
        Any column of the :func:`~perfstats.summarize` table (``count``,
        ``throughput_rps``, ``error_rate``, ``sla_compliance``, ``cost_usd``,
        ``cost_per_request``, ``cache_hit_rate`` ...), any latency percentile
        ``latency_p<q>`` (``latency_p75``, ``latency_p99.9``), any phase percentile
        ``<phase>_p<q>`` (``processing_ms_p95``), or ``tokens`` (input plus output
        tokens). Latency and phases are in ms, rates are fractions, cost is in USD.
    every : str, default "1h"
        Window length as a pandas duration ("15min", "1h", "1d"). Windows are aligned
        to multiples of `every` since the Unix epoch (UTC), as in ``summarize``.
    by : str or list of str, optional
        Grouping columns; each group gets every window of the data's time range.
    sla_target_ms : float, default 5000
        SLA target behind ``sla_compliance``.

    Returns
    -------
    pandas.Series
        Float values named `metric`, indexed by ``window_start`` (UTC), or by the
        grouping columns then ``window_start`` when `by` is given. Every window from
        the first to the last event is present: in a window without requests, sums
        and counts (:data:`ADDITIVE_METRICS`) are 0 and every other metric is NaN, an
        explicit gap.

    Raises
    ------
    ValueError
        For an unknown metric, or one the events lack the columns for (naming them);
        when the timeline would need more than :data:`MAX_TIMELINE_WINDOWS` windows
        (naming the span, the window count and the largest gap, where an outlying
        timestamp sits).

    Examples
    --------
    >>> import pandas as pd
    >>> from perfstats import metric_series
    >>> events = pd.DataFrame({
    ...     "timestamp": pd.to_datetime(
    ...         ["2026-01-01 00:10", "2026-01-01 00:40", "2026-01-01 02:05"], utc=True),
    ...     "latency_ms": [100.0, 300.0, 250.0],
    ... })
    >>> metric_series(events, "latency_p50", every="1h").round(-1).tolist()
    [100.0, nan, 250.0]
    >>> metric_series(events, "count", every="1h").tolist()
    [2.0, 0.0, 1.0]
    """
    events = as_events_or_path(events, keep=(Summary,))
    import pandas as pd

    if not isinstance(metric, str) or not metric:
        raise TypeError(f"metric must be a metric name, got {metric!r}")
    step = parse_duration(every)
    quantiles = list(DEFAULT_QUANTILES)
    phase: tuple[str, float] | None = None
    match = PERCENTILE_METRIC.match(metric)
    if match is not None:
        q = float(decimal.Decimal(match["pct"]) / 100)  # p99.99999999 exactly
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"percentile of {metric!r} must be within 0-100")
        if match["column"] == "latency":
            if q not in quantiles:
                quantiles.append(q)
        elif match["column"].endswith("_ms"):
            phase = (match["column"], q)
    if isinstance(events, Summary):
        summary = events
        _check_summary(summary, step, by, sla_target_ms, metric)
        if (
            match is not None
            and match["column"] == "latency"
            and metric not in summary.table
        ):
            phase = ("latency_ms", float(decimal.Decimal(match["pct"]) / 100))
    else:
        summary = summarize(
            events,
            by=by,
            every=every,
            quantiles=quantiles,
            sla_target_ms=sla_target_ms,
        )
    table = summary.table
    group_names = [n for n in summary.by if n != "window_start"]
    if phase is not None:
        column, q = phase
        if not any(column in s for s in summary.sketches.values()):
            raise ValueError(f"metric {metric!r} needs a {column!r} column")
        values = np.array(
            [
                s[column].quantile(q) if column in s else np.nan
                for s in summary.sketches.values()
            ],
            dtype=np.float64,
        )
    elif metric == "tokens":
        parts = [c for c in ("input_tokens", "output_tokens") if c in table]
        if not parts:
            raise ValueError(
                "metric 'tokens' needs an 'input_tokens' or 'output_tokens' column"
            )
        values = np.add.reduce([table[c].to_numpy(dtype=np.float64) for c in parts])
    elif metric in table.columns and metric != "tail_driver":
        values = table[metric].to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        reasons = "; ".join(f"{k}: {v}" for k, v in summary.missing.items())
        numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
        raise ValueError(
            f"unknown metric {metric!r} for these events; available: "
            f"{', '.join(numeric + ['tokens'] * ('input_tokens' in table))}"
            + (f" (not computed: {reasons})" if reasons else "")
        )
    series = pd.Series(values, index=table.index, name=metric, dtype=np.float64)
    starts = table.index.get_level_values("window_start")
    n_groups = len(dict.fromkeys(key[:-1] for key in table.index)) if group_names else 1
    _check_timeline(starts, step, n_groups, every)
    windows = pd.date_range(starts.min(), starts.max(), freq=step, name="window_start")
    full: pd.Index[Any]
    if group_names:
        groups = dict.fromkeys(key[:-1] for key in table.index)  # in table order
        full = pd.MultiIndex.from_tuples(
            [(*g, w) for g in groups for w in windows],
            names=[*group_names, "window_start"],
        )
    else:
        full = windows
    fill = 0.0 if metric in ADDITIVE_METRICS else np.nan
    return series.reindex(full, fill_value=fill)
