"""perfstats on a Dask cluster: :func:`summarize` over a Dask DataFrame, one partial
summary per partition merged in a tree, equal to :func:`perfstats.summarize` on the
same events; :func:`compare` (:mod:`perfstats.dask.comparison`) equal to
:func:`perfstats.compare`; :func:`costs` (:mod:`perfstats.dask.costs`) equal to
:func:`perfstats.costs`; :func:`metric_series` and :func:`anomalies` from the summary.

The same code runs on a laptop (Dask's threads), a ``distributed.LocalCluster`` or a
real cluster (Kubernetes, YARN, SSH): whatever ``dask.distributed.Client`` is active
runs the tasks. Only per-group state travels between workers (sketches as a few hundred
bytes each), never rows; costs' second pass gathers the events of the minutes where a
budget level is crossed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from perfstats._optional import require
from perfstats.analysis.metric_anomalies import Detector, MetricAnomalies
from perfstats.analysis.metric_anomalies import anomalies as _anomalies
from perfstats.analysis.series import metric_series as _metric_series
from perfstats.analysis.summary import (
    DEFAULT_QUANTILES,
    DEFAULT_SLA_BUCKETS_MS,
    PartialSummary,
    Summary,
    summarize_partial,
)
from perfstats.dask._tree import check_frame, per_partition, tree
from perfstats.dask.comparison import compare
from perfstats.dask.costs import costs

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "anomalies",
    "compare",
    "costs",
    "merge_partials",
    "metric_series",
    "summarize",
]


def merge_partials(*parts: PartialSummary) -> PartialSummary:
    """One partial summary of all `parts` (a node of the merge tree).

    Examples
    --------
    >>> import pandas as pd
    >>> from perfstats.analysis.summary import summarize_partial
    >>> ev = pd.DataFrame({"timestamp": pd.to_datetime([0, 1], unit="s"),
    ...                    "latency_ms": [5.0, 7.0]})
    >>> merge_partials(summarize_partial(ev[:1], by=None),
    ...                summarize_partial(ev[1:], by=None)).n_rows
    2
    """
    if not parts:
        raise ValueError("merge_partials needs at least one partial summary")
    return parts[0].merge(*parts[1:])


def _summary_part(
    frame: pd.DataFrame, options: dict[str, Any], tail_of: PartialSummary | None
) -> PartialSummary:
    """A partition's partial summary (one task per partition, fused with its read)."""
    return summarize_partial(frame, tail_of=tail_of, **options)


def summarize(
    ddf: Any,
    *,
    by: str | Sequence[str] | None = ("endpoint",),
    every: str | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    sla_target_ms: float = 5000.0,
    sla_buckets_ms: Sequence[float] = DEFAULT_SLA_BUCKETS_MS,
    score_bands: Mapping[str, Mapping[str, float]] | None = None,
    relative_accuracy: float = 0.01,
    confidence: float = 0.95,
    split_every: int = 8,
) -> Summary:
    """:func:`perfstats.summarize` of the events of a Dask DataFrame.

    Each partition is summarized where it lies into a :class:`~perfstats.analysis.
    summary.PartialSummary` (per-group counts, sums, latency sketches and exact SLA
    bucket counts); the partials are merged in a tree, `split_every` at a time, and
    only the root is brought back. The result equals ``perfstats.summarize`` of the
    whole data in one process: the same groups and windows, the same sketches bucket
    for bucket, counts, SLA shares, quantiles and rates; floating sums (latency mean,
    cost) may differ in their last bit, being added in another order. With phase
    columns (``*_ms``) a second pass over the data adds the phases' tail shares,
    which need every group's p99 first.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        Events in the canonical schema (e.g. ``dask.dataframe.read_parquet`` over
        many files), with ``timestamp`` as datetime64.
    by, every, quantiles, sla_target_ms, sla_buckets_ms, score_bands, relative_accuracy, confidence
        As for :func:`perfstats.summarize`.
    split_every : int, default 8
        Partial summaries merged per task of the tree (at least 2).

    Returns
    -------
    Summary

    Examples
    --------
    >>> import dask, dask.dataframe as dd, numpy as np, pandas as pd
    >>> import perfstats, perfstats.dask
    >>> rng = np.random.default_rng(1)
    >>> events = pd.DataFrame({
    ...     "timestamp": pd.date_range("2026-01-01", periods=2000, freq="s"),
    ...     "endpoint": rng.choice(["/a", "/b"], 2000),
    ...     "latency_ms": rng.lognormal(5, 0.5, 2000),
    ... })
    >>> ddf = dd.from_pandas(events, npartitions=4)
    >>> with dask.config.set(scheduler="sync"):
    ...     s = perfstats.dask.summarize(ddf, by="endpoint", every="10min")
    >>> s.table["latency_p99"].equals(
    ...     perfstats.summarize(events, by="endpoint", every="10min").table["latency_p99"])
    True
    """
    dask = require("dask", "perfstats.dask.summarize")
    check_frame(ddf, split_every, "perfstats.dask.summarize")
    options: dict[str, Any] = {
        "by": by,
        "every": every,
        "quantiles": quantiles,
        "sla_target_ms": sla_target_ms,
        "sla_buckets_ms": sla_buckets_ms,
        "score_bands": score_bands,
        "relative_accuracy": relative_accuracy,
        "confidence": confidence,
    }
    # options checked here, not on a worker
    summarize_partial(ddf._meta, **options)
    (total,) = dask.compute(
        tree(per_partition(ddf, _summary_part, options, None), merge_partials,
             split_every)
    )  # fmt: skip
    phases = [c for c in total.columns if c.endswith("_ms") and c != "latency_ms"]
    if phases and "latency_ms" in total.columns and total.n_rows:
        # the tail shares need every group's p99: a second pass with them
        first = dask.delayed(total, traverse=False)
        (total,) = dask.compute(
            tree(per_partition(ddf, _summary_part, options, first), merge_partials,
                 split_every)
        )  # fmt: skip
    result: Summary = total.finish()
    return result


def _series_quantiles(metric: str) -> tuple[float, ...]:
    """The default quantiles, plus the latency percentile `metric` names (if any)."""
    import decimal
    import re

    match = re.fullmatch(r"latency_p(\d+(?:\.\d+)?)", metric)
    if match is None:
        return DEFAULT_QUANTILES
    q = float(decimal.Decimal(match[1]) / 100)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"percentile of {metric!r} must be within 0-100")
    return DEFAULT_QUANTILES if q in DEFAULT_QUANTILES else (*DEFAULT_QUANTILES, q)


def metric_series(
    ddf: Any,
    metric: str = "latency_p95",
    *,
    every: str = "1h",
    by: str | Sequence[str] | None = None,
    sla_target_ms: float = 5000.0,
) -> pd.Series[float]:
    """:func:`perfstats.metric_series` of the events of a Dask DataFrame: the
    windows summarized on the cluster by :func:`summarize`, the series made from
    that summary (the same values as on one machine, sums up to their rounding).

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        Events in the canonical schema.
    metric, every, by, sla_target_ms
        As for :func:`perfstats.metric_series`.

    Returns
    -------
    pandas.Series

    Examples
    --------
    >>> import dask, dask.dataframe as dd, pandas as pd
    >>> events = pd.DataFrame({
    ...     "timestamp": pd.to_datetime(
    ...         ["2026-01-01 00:10", "2026-01-01 00:40", "2026-01-01 02:05"], utc=True),
    ...     "latency_ms": [100.0, 300.0, 250.0]})
    >>> with dask.config.set(scheduler="sync"):
    ...     s = metric_series(dd.from_pandas(events, npartitions=2), "count")
    >>> s.tolist()
    [2.0, 0.0, 1.0]
    """
    if not isinstance(metric, str) or not metric:
        raise TypeError(f"metric must be a metric name, got {metric!r}")
    summary = summarize(
        ddf,
        by=by,
        every=every,
        quantiles=_series_quantiles(metric),
        sla_target_ms=sla_target_ms,
    )
    return _metric_series(
        summary, metric, every=every, by=by, sla_target_ms=sla_target_ms
    )


def anomalies(
    ddf: Any,
    metric: str = "latency_p95",
    *,
    every: str = "1h",
    detector: Detector | None = None,
    sla_target_ms: float = 5000.0,
) -> MetricAnomalies:
    """:func:`perfstats.anomalies` of the events of a Dask DataFrame: the windows
    summarized on the cluster by :func:`summarize`, the detector run on the series
    here (a few thousand windows, not the events).

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        Events in the canonical schema.
    metric, every, detector, sla_target_ms
        As for :func:`perfstats.anomalies`.

    Returns
    -------
    MetricAnomalies

    Examples
    --------
    >>> import dask, dask.dataframe as dd, numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ts = pd.date_range("2026-01-01", periods=9 * 24 * 60, freq="min", tz="UTC")
    >>> lat = rng.lognormal(np.log(300), 0.3, len(ts))
    >>> lat[(ts >= "2026-01-09 03:00") & (ts < "2026-01-09 05:00")] *= 3
    >>> ddf = dd.from_pandas(pd.DataFrame({"timestamp": ts, "latency_ms": lat}),
    ...                      npartitions=6)
    >>> with dask.config.set(scheduler="sync"):
    ...     found = anomalies(ddf)
    >>> found.incidents()["start"].astype(str).tolist()[:1]
    ['2026-01-09 03:00:00+00:00']
    """
    if not isinstance(metric, str) or not metric:
        raise TypeError(f"metric must be a metric name, got {metric!r}")
    summary = summarize(
        ddf,
        by=None,
        every=every,
        quantiles=_series_quantiles(metric),
        sla_target_ms=sla_target_ms,
    )
    return _anomalies(
        summary,
        metric,
        every=every,
        detector=detector,
        sla_target_ms=sla_target_ms,
    )
