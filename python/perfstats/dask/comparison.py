"""perfstats.dask.compare: :func:`perfstats.compare` over a Dask DataFrame.

What compare needs of each arm is mergeable except the order statistics of the
latency quantiles. Pass 1 reduces each partition, per arm, to the request count and,
per metric, :class:`~perfstats.stats.moments.Moments` on the test scale (the logs of
latency) with the raw minimum and maximum, plus a latency
:class:`~perfstats.stats.quantile_sketch.QuantileSketch` when a quantile metric is
asked for; these merge exactly (counts, extremes, sketch buckets) or to rounding
(the moments' sums). Exact order statistics do not merge, so pass 2 gathers them:
compare reads only the ranks :func:`~perfstats.analysis.comparison.quantile_ranks`
names (the estimate and every bound its interval and p-value bisection can touch: a
window of about 14 binomial standard deviations, O(sqrt(n)) values); the merged
sketch turns those ranks into a value range, and each partition returns how many of
its values lie below the range and the values inside it. The k-th smallest value is
then exact, and the comparison is the one :func:`perfstats.compare` makes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from perfstats._optional import require
from perfstats.analysis.comparison import (
    METRICS,
    MIN_REQUESTS,
    SEQUENTIAL_TUNING,
    Comparison,
    MetricSample,
    compare_samples,
    comparison_plan,
    metric_values,
    quantile_ranks,
)
from perfstats.analysis.summary import events_frame
from perfstats.dask._tree import check_frame, per_partition, tree
from perfstats.io.failure import failed as failed_requests
from perfstats.stats.moments import Moments
from perfstats.stats.quantile_sketch import QuantileSketch

__all__ = ["ComparePartial", "compare"]

_QUANTILE_LEVELS = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}

#: Retries of pass 2 with a wider value range when the sketch's range missed a rank
#: (it should not: the range is padded by twice the sketch's accuracy); the last
#: retry gathers all of the arm's latencies.
_WIDEN_TRIES = 3


@dataclass
class _Arm:
    """One arm's part: its requests, per metric the Moments on the test scale and
    the raw extremes, and the sketch of its latencies (quantile metrics)."""

    rows: int = 0
    moments: dict[str, Moments] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)
    sketch: QuantileSketch | None = None

    def merge(self, other: _Arm) -> _Arm:
        out = _Arm(rows=self.rows + other.rows)
        for m in {**self.moments, **other.moments}:
            mine, theirs = self.moments.get(m), other.moments.get(m)
            merged = mine.copy() if mine is not None else Moments()
            if theirs is not None:
                merged.merge(theirs)
            out.moments[m] = merged
            out.low[m] = min(self.low.get(m, math.inf), other.low.get(m, math.inf))
            out.high[m] = max(self.high.get(m, -math.inf), other.high.get(m, -math.inf))
        if self.sketch is not None or other.sketch is not None:
            out.sketch = (
                self.sketch.copy() if self.sketch is not None else QuantileSketch()
            )
            if other.sketch is not None:
                out.sketch.merge(other.sketch)
        return out


@dataclass
class ComparePartial:
    """What pass 1 of :func:`compare` keeps of some events: per arm (in order of
    first appearance) the request count, Moments and extremes per metric, and a
    latency sketch; the metrics whose columns are absent. Merges exactly (counts,
    extremes, sketches) or to rounding (moments' sums)."""

    arms: dict[str, _Arm] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)

    def merge(self, *others: ComparePartial) -> ComparePartial:
        """A new partial of this one's events and `others'` (none is changed).

        Examples
        --------
        >>> a, b = ComparePartial({"x": _Arm(rows=2)}), ComparePartial({"y": _Arm(rows=1)})
        >>> list(a.merge(b).arms)
        ['x', 'y']
        """
        out = ComparePartial(dict(self.arms), set(self.absent))
        for other in others:
            out.absent |= other.absent
            for name, arm in other.arms.items():
                mine = out.arms.get(name)
                out.arms[name] = arm if mine is None else mine.merge(arm)
        return out


def _arm_rows(column: Any) -> dict[str, npt.NDArray[np.intp]]:
    """Row positions of each arm in order of first appearance, labelled as compare
    spells them (the column as "string"); rows without an arm are left out. One
    factorization and a stable sort, not a comparison per arm."""
    import pandas as pd

    codes, uniques = pd.factorize(column)
    labels = pd.Series(uniques).astype("string")
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes[codes >= 0], minlength=len(labels))
    start = int((codes < 0).sum())
    out: dict[str, npt.NDArray[np.intp]] = {}
    for c, label in enumerate(labels):
        rows = order[start : start + counts[c]]
        start += int(counts[c])
        if pd.isna(label):
            continue
        key = str(label)
        # two values spelled alike (1 and "1") are one arm, as in compare
        out[key] = rows if key not in out else np.sort(np.concatenate([out[key], rows]))
    return out


def _partial(
    frame: Any, by: str, order: list[str], sketch_accuracy: float | None
) -> ComparePartial:
    """Pass 1 over one partition."""
    frame = events_frame(frame)
    out = ComparePartial()
    for label, rows in _arm_rows(frame[by]).items():
        sub = frame.iloc[rows]
        bad = failed_requests(sub)
        arm = _Arm(rows=len(sub))
        for metric in order:
            if metric in _QUANTILE_LEVELS:
                continue  # the sketch below; their size is latency's
            values = metric_values(sub, metric, bad)
            if values is None:
                out.absent.add(metric)
                continue
            arm.moments[metric] = Moments(
                np.log(values) if metric == "latency" else values
            )
            if values.size:
                arm.low[metric] = float(values.min())
                arm.high[metric] = float(values.max())
        if sketch_accuracy is not None:
            values = metric_values(sub, "latency", bad)
            if values is None:
                out.absent.update(m for m in order if m in _QUANTILE_LEVELS)
            else:
                arm.sketch = QuantileSketch(sketch_accuracy)
                arm.sketch.add(values)
        out.arms[label] = arm
    return out


def _merge_partials(*parts: ComparePartial) -> ComparePartial:
    return parts[0].merge(*parts[1:])


@dataclass
class _Window:
    """The latencies of one arm within [low, high], and how many lie below low."""

    below: int
    values: list[npt.NDArray[np.float64]]


def _gather(
    frame: Any, by: str, ranges: dict[str, tuple[float, float]]
) -> dict[str, _Window]:
    """Pass 2 over one partition: per arm, the count below its range and the
    latencies inside it."""
    out: dict[str, _Window] = {}
    arms = _arm_rows(frame[by])
    for label, (low, high) in ranges.items():
        sub = frame.iloc[arms.get(label, np.zeros(0, dtype=np.intp))]
        values = metric_values(sub, "latency", failed_requests(sub))
        assert values is not None
        inside = values[(values >= low) & (values <= high)]
        out[label] = _Window(int((values < low).sum()), [inside])
    return out


def _merge_windows(*parts: dict[str, _Window]) -> dict[str, _Window]:
    out: dict[str, _Window] = {}
    for part in parts:
        for label, w in part.items():
            mine = out.get(label)
            out[label] = (
                _Window(w.below, list(w.values))
                if mine is None
                else _Window(mine.below + w.below, mine.values + w.values)
            )
    return out


def _ranks(n: int, order: list[str], confidence: float) -> tuple[int, int]:
    """The ranks (1-based) of the order statistics compare may read of an arm of
    `n` latencies, over all its quantile metrics."""
    spans = [quantile_ranks(n, _QUANTILE_LEVELS[m], confidence) for m in order]
    return min(s[0] for s in spans), max(s[1] for s in spans)


def _value_range(
    sketch: QuantileSketch, n: int, lo: int, hi: int, widen: int
) -> tuple[float, float]:
    """A value range holding the order statistics of ranks `lo` to `hi`: the
    sketch's estimates of the ranks one beyond, padded by twice its accuracy (each
    widening halves the low end and doubles the high end; the last takes all)."""
    if widen >= _WIDEN_TRIES:
        return 0.0, math.inf
    acc = 2.0 * sketch.relative_accuracy
    low = 0.0
    if lo > 2:
        low = float(sketch.quantile((lo - 2) / (n - 1))) / (1.0 + acc) / 2.0**widen
    high = math.inf
    if hi < n - 1:
        high = float(sketch.quantile(hi / (n - 1))) / (1.0 - acc) * 2.0**widen
    return low, high


def _order_sample(n: int, below: int, values: npt.NDArray[np.float64]) -> MetricSample:
    """The quantile sample of an arm of `n` latencies of which the sorted `values`
    are those of ranks ``below + 1`` to ``below + len(values)``."""
    first, last = below + 1, below + values.size

    def order(k: int) -> float:
        if not first <= k <= last:
            raise RuntimeError(
                f"order statistic {k} of {n} was not gathered (ranks {first}-{last})"
            )
        return float(values[k - first])

    def quantile(q: float) -> float:
        # numpy.quantile's "linear" method: virtual index (n - 1) q, numpy's lerp
        virtual = (n - 1) * q
        if virtual >= n - 1:
            return order(n)
        h = math.floor(virtual)
        g = virtual - h
        a, b = order(h + 1), order(h + 2)
        diff = b - a
        return b - diff * (1.0 - g) if g >= 0.5 else a + diff * g

    return MetricSample(
        size=n, total=math.nan, average=math.nan, variance=math.nan,
        low=math.nan, high=math.nan, order=order, quantile=quantile,
    )  # fmt: skip


def _mean_sample(metric: str, arm: _Arm) -> MetricSample:
    m = arm.moments[metric]
    n = int(m.count)
    if n == 0:
        return MetricSample(0, 0.0, math.nan, math.nan, math.nan, math.nan)
    total = m.sum
    # 0/1 values: numpy's mean is the exact count over n
    average = total / n if metric == "error_rate" else m.mean
    return MetricSample(
        size=n, total=total, average=average,
        variance=m.variance(1.0) if n > 1 else math.nan,
        low=arm.low[metric], high=arm.high[metric], moments=m,
    )  # fmt: skip


def compare(
    ddf: Any,
    *,
    by: str = "variant",
    baseline: str | None = None,
    metrics: Sequence[str] = tuple(METRICS),
    planned_split: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    minimum_detectable_effect: float = 0.05,
    power: float = 0.8,
    confidence: float = 0.95,
    primary: Sequence[str] = ("latency",),
    guardrails: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
    min_requests: int = MIN_REQUESTS,
    sequential: bool = False,
    sequential_tuning: float = SEQUENTIAL_TUNING,
    split_every: int = 8,
) -> Comparison:
    """:func:`perfstats.compare` of the events of a Dask DataFrame.

    The same verdicts, p-values, intervals and table as :func:`perfstats.compare`
    on the same events in one process: counts, error counts, extremes and every
    order statistic are exact; means and variances come from merged
    :class:`~perfstats.stats.moments.Moments`, equal to the one-process values up to
    the rounding of their sums (about 1e-15 relative). One pass over the data, a
    second when a latency quantile (latency_p50/p95/p99) is compared: it gathers
    only the O(sqrt(n)) latencies of each arm around the quantile that the
    order-statistic bounds read (see :mod:`perfstats.dask.comparison`).

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        Events in the canonical schema, with a ``by`` column.
    by, baseline, metrics, planned_split, alpha, minimum_detectable_effect, power, confidence, primary, guardrails, margins, min_requests, sequential, sequential_tuning
        As for :func:`perfstats.compare`.
    split_every : int, default 8
        Partial results merged per task of the tree (at least 2).

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import dask, dask.dataframe as dd, numpy as np, pandas as pd
    >>> import perfstats, perfstats.dask
    >>> rng = np.random.default_rng(1)
    >>> n = 4000
    >>> arm = np.where(rng.random(n) < 0.5, "control", "fast")
    >>> events = pd.DataFrame({
    ...     "timestamp": pd.date_range("2026-01-01", periods=n, freq="s", tz="UTC"),
    ...     "variant": arm,
    ...     "latency_ms": rng.lognormal(6.7, 0.5, n) * np.where(arm == "fast", 0.8, 1),
    ...     "success": rng.random(n) > 0.02})
    >>> with dask.config.set(scheduler="sync"):
    ...     c = perfstats.dask.compare(dd.from_pandas(events, npartitions=4))
    >>> c.verdicts
    {'fast': 'ship'}
    >>> one = perfstats.compare(events).table
    >>> bool(np.allclose(c.table["pvalue"], one["pvalue"], rtol=1e-12, equal_nan=True))
    True
    """
    dask = require("dask", "perfstats.dask.compare")
    pd = require("pandas", "perfstats.dask.compare")
    check_frame(ddf, split_every, "perfstats.dask.compare")
    if by not in ddf.columns:
        raise ValueError(f"events have no {by!r} column to compare by")
    order, _, _ = comparison_plan(
        metrics, primary=primary, guardrails=guardrails, margins=margins,
        alpha=alpha, minimum_detectable_effect=minimum_detectable_effect,
        sequential=sequential, sequential_tuning=sequential_tuning,
    )  # fmt: skip
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    events_frame(ddf._meta)  # schema checked here, not on a worker
    quantiles = [m for m in order if m in _QUANTILE_LEVELS]
    accuracy = 0.01 if quantiles else None
    (total,) = dask.compute(
        tree(per_partition(ddf, _partial, by, order, accuracy), _merge_partials,
             split_every)
    )  # fmt: skip
    arms = total.arms
    counts = pd.Series(
        [a.rows for a in arms.values()],
        index=pd.Index(list(arms), dtype="string"),
        dtype="int64",
        name="count",
    ).sort_values(ascending=False, kind="stable")
    counts.index.name = by

    gathered: dict[str, MetricSample] = {}
    need = {}
    if quantiles and total.absent.isdisjoint(quantiles):
        need = {
            k: a
            for k, a in arms.items()
            if a.sketch is not None and a.sketch.count >= 2
        }
    for widen in range(_WIDEN_TRIES + 1):
        if not need:
            break
        ranges: dict[str, tuple[float, float]] = {}
        spans: dict[str, tuple[int, int]] = {}
        for label, arm in need.items():
            assert arm.sketch is not None
            n = int(arm.sketch.count)
            spans[label] = _ranks(n, quantiles, confidence)
            ranges[label] = _value_range(arm.sketch, n, *spans[label], widen)
        (windows,) = dask.compute(
            tree(per_partition(ddf, _gather, by, ranges), _merge_windows, split_every)
        )
        missed = {}
        for label, arm in need.items():
            w = windows[label]
            values = np.sort(np.concatenate(w.values))
            lo, hi = spans[label]
            if w.below < lo and w.below + values.size >= hi:
                assert arm.sketch is not None
                gathered[label] = _order_sample(int(arm.sketch.count), w.below, values)
            else:
                missed[label] = arm
        need = missed

    def samples(label: str) -> dict[str, MetricSample | None]:
        arm = arms[label]
        out: dict[str, MetricSample | None] = {}
        for metric in order:
            if metric in total.absent:
                out[metric] = None
            elif metric in _QUANTILE_LEVELS:
                n = int(arm.sketch.count) if arm.sketch is not None else 0
                out[metric] = gathered.get(label) or MetricSample(
                    n, math.nan, math.nan, math.nan, math.nan, math.nan
                )
            else:
                out[metric] = _mean_sample(metric, arm)
        return out

    return compare_samples(
        counts, samples, by=by, baseline=baseline, metrics=metrics,
        planned_split=planned_split, alpha=alpha,
        minimum_detectable_effect=minimum_detectable_effect, power=power,
        confidence=confidence, primary=primary, guardrails=guardrails,
        margins=margins, min_requests=min_requests, sequential=sequential,
        sequential_tuning=sequential_tuning,
    )  # fmt: skip
