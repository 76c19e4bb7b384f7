"""anomalies: the anomaly detectors run on a metric of request events per time window."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from perfstats._display import Table, View
from perfstats._json import json_scalar
from perfstats._time import parse_duration
from perfstats.io.events import as_events_or_path
from perfstats.stats.detectors import (
    AnomalyResult,
    EwmaZScore,
    RobustZScore,
    RollingZScore,
    SeasonalLevelDetector,
    SeasonalZScore,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "MetricAnomalies",
    "anomalies",
    "count_aware_metric",
    "default_detector",
    "default_min_count",
    "metric_limits",
]

Detector = (
    RollingZScore | RobustZScore | EwmaZScore | SeasonalZScore | SeasonalLevelDetector
)
Side = Literal["high", "low", "both"]

#: Past days in the seasonal profile of the default detector.
SEASONS = 7


def default_detector(
    every: str, values: Any = None, *, threshold: float = 3.0
) -> SeasonalZScore | RobustZScore:
    """The detector :func:`anomalies` uses when none is given.

    For windows that divide a day into two or more, :class:`SeasonalZScore` with a
    daily period and a 7-day profile: request telemetry follows a daily cycle, so a
    detector without one flags every afternoon peak and misses a spike at night; the
    seasonal profile is the median of the same window on the last 7 days and the
    residual scale a MAD, so earlier incidents do not mask later ones. It works on the
    log scale (changes in latency, tokens and cost are multiplicative) when every
    finite value in `values` is positive. For windows of a day or longer, where no
    daily cycle is visible, :class:`RobustZScore` over the last 14 windows (median
    and MAD, for the same robustness to earlier outliers and heavy tails).

    Examples
    --------
    >>> default_detector("1h", [120.0, 130.0])
    SeasonalZScore(period=24, window=7, threshold=3, log=True, min_periods=24)
    >>> default_detector("1D")
    RobustZScore(window=14, threshold=3, min_periods=7)
    """
    import pandas as pd

    step = parse_duration(every)
    per_day = pd.Timedelta(days=1) / step
    if per_day >= 2 and float(per_day).is_integer():
        arr = np.asarray([] if values is None else values, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        log = bool(finite.size > 0 and (finite > 0).all())
        return SeasonalZScore(int(per_day), SEASONS, threshold=threshold, log=log)
    return RobustZScore(14, threshold=threshold, min_periods=7)


def anomalies(
    events: Any,
    metric: str = "latency_p95",
    *,
    every: str = "1h",
    detector: Detector | None = None,
    sla_target_ms: float = 5000.0,
    threshold: float = 3.0,
    min_count: int | None = None,
) -> MetricAnomalies:
    """Anomalous windows of one metric of request events.

    The metric is aggregated per window by :func:`perfstats.metric_series` (empty
    windows are NaN gaps, or 0 for counts and sums) and scored by `detector`, each
    window against a baseline of earlier windows only.

    **Count-aware default.** A window's p95 or error rate is an estimate from its own
    requests: the p95 of 20 requests at night is far noisier than that of 200 at
    noon, so one scale for all hours pages at night (issue 13 measured 3.5 alerts a
    week, 87 % of them at 21:00-03:00). Without a `detector`, for a latency or phase
    percentile or a rate (``error_rate``, ``sla_compliance``) and windows that divide
    a day, each window is scored on a scale ``y`` (log of the quantile; Anscombe's
    ``arcsin sqrt((k + 3/8) / (n + 3/4))`` of a rate of ``k`` in ``n``) as::

        z = (y - profile) / sqrt(s_b^2 (1 + pi / (2 m)) + se^2 + se_profile^2)

    - ``profile``: median of ``y`` at the same time of day on the last 7 days
      (``m >= 3`` of them scored);
    - ``se^2``: the sampling variance of ``y`` given the window's count ``n``. For a
      rate ``1 / (4 n + 2)``. For the ``q`` quantile, the sketch's value is the
      order statistic of rank ``k = floor(q (n - 1)) + 1``, whose probability level
      is ``Beta(k, n + 1 - k)``: read through the quantile function of the pooled
      sketch of the previous 7 days, it gives the sampling distribution of the
      window's log quantile; ``se^2`` is its twice-semivariance on the side the value
      lies on (the quantile of few requests reaches further up than down);
    - ``se_profile^2 = (pi / 2) * sum(se_j^2) / m^2`` (a median of m values);
    - ``s_b^2``: the between-window variance sampling does not explain, the
      ``s >= 0`` that makes the median of the last week's squared standardised
      residuals that of a chi-square with one degree of freedom (a median: earlier
      incidents do not count).

    Each window is scored twice: alone, and pooled with the two windows before it
    (their sketches merged, their counts summed), so a sustained shift of quiet hours
    is seen within three windows. A test needs `min_count` requests; where both run,
    each runs at half the nominal rate (Bonferroni) and ``score`` is the
    normal-equivalent of ``2 * min(p_1, p_3)``, so ``|score| >= threshold`` flags a
    clean window with probability at most ``erfc(threshold / sqrt 2)``: 0.27 % at 3,
    at most 0.45 flagged hours a week, evenly over the day (the calibration suite
    measures 0.1-0.2 % with 25 % of 2-sigma flags in the 25 % of hours at night; a
    x1.5 p95 step of 3 hours holding >= 100 requests is flagged within them >= 90 %
    of the time). Windows with requests but too few for either test are not scored
    nor alerted on (``too_few``; "too few requests" in
    :meth:`MetricAnomalies.to_frame`). The pooled test can keep flagging up to two
    windows after a short incident ends (their pool still holds it). ``lower`` and
    ``upper`` are the one-window band. The model assumes windows independent around
    the profile: autocorrelated between-window noise raises the rate.

    Bands are clipped to the metric's range: rates within [0, 1], every other
    metric at or above 0.

    Parameters
    ----------
    events : perfstats.io.events.Events, pandas.DataFrame or Summary
        Events in the canonical schema, or their :class:`~perfstats.Summary` by no
        group with the same `every` (see :func:`perfstats.metric_series`).
    metric : str, default "latency_p95"
        Any metric :func:`perfstats.metric_series` knows.
    every : str, default "1h"
        Window length (pandas duration).
    detector : RollingZScore, RobustZScore, EwmaZScore, SeasonalZScore or SeasonalLevelDetector, optional
        Default: the count-aware score above for percentiles and rates with windows
        that divide a day; else :func:`default_detector` (seasonal with a daily
        period for sub-daily windows, robust otherwise). A given detector sees the
        values only, not their counts.
    sla_target_ms : float, default 5000
        SLA target behind ``sla_compliance``.
    threshold : float, default 3.0
        Nominal standard deviations of the count-aware default (flag rate
        ``erfc(threshold / sqrt 2)``); a given `detector` carries its own.
    min_count : int, optional
        Requests a window (or a pool of three) needs to be scored by the count-aware
        default (default :func:`default_min_count`: 40 for p95, 200 for p99, 10 for
        rates).

    Returns
    -------
    MetricAnomalies
        The detector's result (an :class:`~perfstats.stats.detectors.AnomalyResult`) with the
        window starts as timestamps, plus :meth:`MetricAnomalies.incidents`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from perfstats import anomalies
    >>> rng = np.random.default_rng(0)
    >>> ts = pd.date_range("2026-01-01", periods=14 * 24 * 60, freq="min", tz="UTC")
    >>> hour = ts.hour.to_numpy()
    >>> lat = rng.lognormal(np.log(300 + 100 * np.sin(2 * np.pi * hour / 24)), 0.3)
    >>> lat[(ts >= "2026-01-12 03:00") & (ts < "2026-01-12 05:00")] *= 2.5
    >>> events = pd.DataFrame({"timestamp": ts, "latency_ms": lat})
    >>> found = anomalies(events)  # default: count-aware seasonal, 3 sigma
    >>> found.incidents()[["start", "end", "windows"]]  # the pooled test lags 2 h
                          start                       end  windows
    0 2026-01-12 03:00:00+00:00 2026-01-12 07:00:00+00:00        4
    >>> from perfstats.stats.detectors import SeasonalZScore
    >>> strict = anomalies(events, detector=SeasonalZScore(24, 7, threshold=5, log=True))
    >>> strict.incidents()[["start", "end", "windows"]]
                          start                       end  windows
    0 2026-01-12 03:00:00+00:00 2026-01-12 05:00:00+00:00        2
    >>> strict.open
    False
    """
    from perfstats.analysis.summary import Summary

    events = as_events_or_path(events, keep=(Summary,))
    from perfstats.analysis.series import metric_series
    from perfstats.stats.detectors import positive_number

    thr = positive_number("threshold", threshold)
    if min_count is not None and (
        isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1
    ):
        raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
    if detector is None and count_aware_metric(metric):
        import pandas as pd

        per_day = pd.Timedelta(days=1) / parse_duration(every)
        if per_day >= 2 and float(per_day).is_integer():
            series, data = _sampled(events, metric, every, sla_target_ms)
            need = default_min_count(metric) if min_count is None else min_count
            result, too_few = _count_aware(
                data, period=int(per_day), seasons=SEASONS, threshold=thr,
                min_count=need,
            )  # fmt: skip
            result.timestamps = np.asarray(list(series.index))
            return MetricAnomalies(
                result, metric=metric, every=every, series=series,
                counts=data.counts, too_few=too_few,
            )  # fmt: skip
    series = metric_series(events, metric, every=every, sla_target_ms=sla_target_ms)
    values = series.to_numpy(dtype=np.float64)
    if detector is None:
        detector = default_detector(every, values, threshold=thr)
    elif not isinstance(
        detector,
        (
            RollingZScore,
            RobustZScore,
            EwmaZScore,
            SeasonalZScore,
            SeasonalLevelDetector,
        ),
    ):
        raise TypeError(
            "detector must be a perfstats.stats.detectors detector (RollingZScore, "
            f"RobustZScore, EwmaZScore, SeasonalZScore, SeasonalLevelDetector), "
            f"got {type(detector).__name__}"
        )
    result = detector.detect(values, timestamps=list(series.index))
    return MetricAnomalies(result, metric=metric, every=every, series=series)


def _is_rate(metric: str) -> bool:
    return metric in RATE_METRICS or metric.endswith("_rate")


class MetricAnomalies(AnomalyResult):
    """An :class:`~perfstats.stats.detectors.AnomalyResult` of a metric series (from
    :func:`anomalies`), with ``metric``, ``every``, the ``series`` and incidents in
    time.

    ``counts`` holds the requests behind each window's value and ``too_few`` marks
    windows with requests but fewer than the minimum count (not scored, never
    alerted on); both are None when the detector did not use counts. ``lower`` and
    ``upper`` are clipped to the metric's range (rates within [0, 1], every other
    metric at or above 0).
    """

    def __init__(
        self,
        result: AnomalyResult,
        *,
        metric: str,
        every: str,
        series: Any,
        counts: npt.NDArray[np.float64] | None = None,
        too_few: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        low, high = (0.0, 1.0) if _is_rate(metric) else (0.0, math.inf)
        super().__init__(
            values=result.values,
            score=result.score,
            is_anomaly=result.is_anomaly,
            expected=result.expected,
            lower=np.clip(result.lower, low, high),
            upper=np.clip(result.upper, low, high),
            threshold=result.threshold,
            detector=result.detector,
            timestamps=result.timestamps,
        )
        self.metric = metric
        self.every = every
        self.series = series
        self.counts = counts
        self.too_few = too_few

    def to_frame(self) -> pd.DataFrame:
        """The per-window columns (indexed by window start), with ``count`` and
        ``note`` ("too few requests" where a window was not scored for that) when
        counts were used."""
        frame = super().to_frame()
        if self.counts is not None and self.too_few is not None:
            frame["count"] = self.counts
            frame["note"] = np.where(self.too_few, "too few requests", "")
        return frame

    @property
    def open(self) -> bool:
        """Whether the last window is anomalous (the incident is still going on)."""
        return bool(len(self) > 0 and self.is_anomaly[-1])

    def incidents(self, side: Side = "both") -> pd.DataFrame:
        """The incidents as a table, one row per run of anomalous windows.

        Parameters
        ----------
        side : {"both", "high", "low"}
            Keep incidents whose peak lies above the expected value ("high": slower,
            more errors, more spend), below it, or both.

        Returns
        -------
        pandas.DataFrame
            ``start`` (first window's start), ``end`` (last window's end), ``peak``
            (start of the window with the largest ``|score|``), ``peak_value`` and
            ``expected`` there (metric units), ``peak_score``, ``windows`` and
            ``open`` (the incident reaches the last window).
        """
        import pandas as pd

        if side not in ("both", "high", "low"):
            raise ValueError(f"side must be 'both', 'high' or 'low', got {side!r}")
        step = parse_duration(self.every)
        rows = []
        for e in self.events():
            if side == "high" and not e.peak_score > 0:
                continue
            if side == "low" and not e.peak_score < 0:
                continue
            rows.append(
                {
                    "start": e.start_time,
                    "end": e.end_time + step,
                    "peak": e.peak_time,
                    "peak_value": float(self.values[e.peak]),
                    "expected": float(self.expected[e.peak]),
                    "peak_score": e.peak_score,
                    "windows": e.end - e.start + 1,
                    "open": e.end == len(self) - 1,
                }
            )
        columns = [
            "start", "end", "peak", "peak_value", "expected", "peak_score",
            "windows", "open",
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form: metric, window, open flag, settings, windows with too
        few requests (None when counts were not used) and incidents (times as ISO
        strings, numbers as floats, NaN as None)."""
        out = {
            "metric": self.metric,
            "every": self.every,
            "open": self.open,
            **super().to_dict(),
            "n_too_few": None
            if self.too_few is None
            else int(np.count_nonzero(self.too_few)),
        }
        out["incidents"] = [
            {k: json_scalar(v) for k, v in row.items()}
            for row in self.incidents().to_dict(orient="records")
        ]
        return out

    def _view(self) -> View:
        base = super()._view()
        fields = {
            "metric": self.metric,
            "every": self.every,
            "open": self.open,
            **base.fields,
        }
        if self.too_few is not None:
            fields["too few requests"] = int(np.count_nonzero(self.too_few))
        incidents = self.incidents()
        shown = incidents.head(self._SHOWN_EVENTS)
        rows = [list(r) for r in shown.itertuples(index=False, name=None)]
        more = len(incidents) - len(shown)
        return View(
            "MetricAnomalies",
            fields,
            {"incidents": Table(list(shown.columns), rows)} if rows else {},
            notes=[f"... and {more} more incidents"] if more > 0 else [],
        )

    def plot(
        self,
        ax: Axes | None = None,
        *,
        limits: tuple[float | None, float | None] | None = None,
    ) -> Axes:
        """The series, its expected band (clipped to the metric's range: 0 to 1 for a
        rate, from 0 up for the others, unless ``limits`` says otherwise) and the
        incidents; returns the Axes."""
        if limits is None:
            limits = metric_limits(self.metric)
        ax = super().plot(ax, limits=limits)
        ax.set_ylabel(self.metric)
        ax.set_title(f"{self.metric} every {self.every}: {self.detector}")
        ax.figure.autofmt_xdate()
        return ax


# ---- count-aware scoring ------------------------------------------------------------

#: Rate metrics: fractions of a window's requests, scored on the binomial scale.
RATE_METRICS: frozenset[str] = frozenset({"error_rate", "sla_compliance"})
#: Median of the chi-square distribution with one degree of freedom.
_CHI2_1_MEDIAN = 0.454936423119572
#: Seasons a profile needs before a window is scored.
_MIN_SEASONS = 3


def metric_limits(metric: str) -> tuple[float | None, float | None]:
    """The range a metric's values can take: ``(0, 1)`` for a rate or share of
    requests, ``(0, None)`` for the others (durations, counts, tokens, money).

    Examples
    --------
    >>> metric_limits("error_rate"), metric_limits("latency_p95")
    ((0.0, 1.0), (0.0, None))
    """
    if metric in RATE_METRICS or metric.endswith(("_rate", "_share", "compliance")):
        return 0.0, 1.0
    return 0.0, None


def count_aware_metric(metric: str) -> bool:
    """Whether :func:`anomalies` scores `metric` count-aware by default: a latency or
    phase percentile (``latency_p95``, ``processing_ms_p99``) or a rate of requests
    (``error_rate``, ``sla_compliance``)."""
    return metric in RATE_METRICS or _percentile(metric) is not None


def default_min_count(metric: str) -> int:
    """Requests a window (or a pool of three) needs before :func:`anomalies` scores
    `metric` there.

    For the ``q`` quantile, ``max(10, ceil(2 / (1 - q)))`` (40 for p95, 200 for p99):
    at least two requests expected above the quantile, so that its sampling
    distribution (an order statistic near the top) is close enough to normal for a
    3-sigma rule. For rates 10.

    Examples
    --------
    >>> default_min_count("latency_p95"), default_min_count("error_rate")
    (40, 10)
    """
    pct = _percentile(metric)
    if pct is None:
        return 10
    return max(10, math.ceil(2.0 / (1.0 - pct[1]) - 1e-9))


def _percentile(metric: str) -> tuple[str, float] | None:
    """(sketch name, q) of a percentile metric, else None."""
    from perfstats.analysis.series import PERCENTILE_METRIC

    match = PERCENTILE_METRIC.match(metric)
    if match is None:
        return None
    q = float(match["pct"]) / 100.0
    if not 0.0 < q < 1.0:
        return None
    column = match["column"]
    if column == "latency":
        return "latency_ms", q
    if column.endswith("_ms"):
        return column, q
    return None


def _norm_isf2(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``x`` with ``erfc(x / sqrt 2) = p`` (two-sided normal critical value), p > 0."""
    from perfstats._thresholds import erfc

    lo = np.zeros_like(p)
    hi = np.full_like(p, 40.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = erfc(mid / math.sqrt(2.0)) > p
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return 0.5 * (lo + hi)


def _two_sided_p(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    from perfstats._thresholds import erfc

    return erfc(np.abs(z) / math.sqrt(2.0))


def _lagged(x: npt.NDArray[np.float64], lags: Sequence[int]) -> npt.NDArray[np.float64]:
    """``out[t, j] = x[t - lags[j]]`` (NaN before the start)."""
    out = np.full((x.size, len(lags)), np.nan)
    for j, lag in enumerate(lags):
        if lag < x.size:
            out[lag:, j] = x[: x.size - lag]
    return out


def _between_variance(
    r2: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    window: int,
    min_residuals: int,
    step: int,
) -> npt.NDArray[np.float64]:
    """``s >= 0`` with ``median(r2_j / (s b_j + a_j)) = chi2_1 median`` over the
    windows ``j`` in ``[t - window, t - 1]``, for ``t`` every `step` windows (a cycle's
    start) and held for the cycle (NaN with fewer than `min_residuals` of them): the
    between-window variance the sampling variance ``a`` does not explain, estimated
    robustly (a median, so earlier incidents do not count). Memory ``O(n / step *
    window)``."""
    starts = np.arange(0, r2.size, step)
    idx = starts[:, None] - np.arange(1, window + 1)[None, :]
    inside = idx >= 0
    safe = np.where(inside, idx, 0)
    R = np.where(inside, r2[safe], np.nan)
    A = np.where(inside, a[safe], np.nan)
    B = np.where(inside, b[safe], np.nan)
    R = np.where(np.isnan(A) | np.isnan(B), np.nan, R)
    have = np.count_nonzero(~np.isnan(R), axis=1)
    out = np.full(r2.size, np.nan)
    rows = np.flatnonzero(have >= min_residuals)
    if rows.size == 0:
        return out
    R, A, B = R[rows], A[rows], B[rows]

    n_ok = have[rows]
    lower_mid = ((n_ok - 1) // 2)[:, None]
    upper_mid = (n_ok // 2)[:, None]

    def stat(s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        with np.errstate(invalid="ignore"):  # 0 * inf where no profile: NaN
            ordered = np.sort(R / (s[:, None] * B + A), axis=1)  # NaN sorts last
        lo_v = np.take_along_axis(ordered, lower_mid, axis=1)[:, 0]
        hi_v = np.take_along_axis(ordered, upper_mid, axis=1)[:, 0]
        med: npt.NDArray[np.float64] = 0.5 * (lo_v + hi_v)
        return med

    lo = np.zeros(rows.size)
    hi = np.nanmax(R, axis=1) / np.nanmin(B, axis=1) * 10.0 + 1e-300
    zero = stat(lo) <= _CHI2_1_MEDIAN
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        big = stat(mid) > _CHI2_1_MEDIAN
        lo = np.where(big, mid, lo)
        hi = np.where(big, hi, mid)
    per_start = np.full(starts.size, np.nan)
    per_start[rows] = np.where(zero, 0.0, 0.5 * (lo + hi))
    out[:] = np.repeat(per_start, step)[: r2.size]
    return out


@dataclass(frozen=True)
class _Sampled:
    """Per-window inputs of the count-aware score."""

    values: npt.NDArray[np.float64]  # metric units
    counts: npt.NDArray[np.float64]  # requests behind each value
    sketches: list[
        Any
    ]  # per window: its QuantileSketch of the metric's column, or None
    q: float  # the quantile (NaN for rates)
    kind: str  # "log" (quantiles) or "rate"


def _sampled(
    events: Any, metric: str, every: str, sla_target_ms: float
) -> tuple[Any, _Sampled]:
    """The metric series (as :func:`~perfstats.metric_series`) with counts and the
    sampling half-width of each window's value."""
    import pandas as pd

    from perfstats.analysis.summary import DEFAULT_QUANTILES, summarize

    step = parse_duration(every)
    pct = _percentile(metric)
    quantiles = list(DEFAULT_QUANTILES)
    if pct is not None and pct[0] == "latency_ms" and pct[1] not in quantiles:
        quantiles.append(pct[1])
    from perfstats.analysis.summary import Summary

    if isinstance(events, Summary):  # e.g. from perfstats.dask: its windows must match
        summary = events
        grouped = [b for b in summary.by if b != "window_start"]
        if summary.every is None or pd.Timedelta(summary.every) != step or grouped:
            raise ValueError(
                f"the summary must be ungrouped with every={every!r}, got "
                f"by={list(summary.by)}, every={summary.every!r}"
            )
    else:
        summary = summarize(
            events, every=every, quantiles=quantiles, sla_target_ms=sla_target_ms
        )
    table = summary.table
    keys = list(summary.sketches)
    n_win = len(keys)
    values = np.full(n_win, np.nan)
    counts = np.zeros(n_win)
    own: list[Any] = [None] * n_win
    q = math.nan
    if pct is not None:
        name, q = pct
        for i, key in enumerate(keys):
            sk = summary.sketches[key].get(name)
            if sk is None or sk.count <= 0:
                continue
            values[i], counts[i], own[i] = sk.quantile(q), float(sk.count), sk
        if not any(name in s for s in summary.sketches.values()):
            raise ValueError(f"metric {metric!r} needs a {name!r} column")
        kind = "log"
        q = pct[1]
    else:
        if metric not in table.columns:
            raise ValueError(f"metric {metric!r} is not available for these events")
        values = table[metric].to_numpy(dtype=np.float64, na_value=np.nan)
        if metric == "error_rate":
            counts = table["count"].to_numpy(dtype=np.float64)
        else:  # sla_compliance: requests with a known latency
            counts = np.array(
                [float(summary.sketches[k]["latency_ms"].count) for k in keys]
            )
        kind = "rate"
    starts = table.index.get_level_values("window_start")
    windows = pd.date_range(starts.min(), starts.max(), freq=step, name="window_start")
    pos = windows.get_indexer(starts)
    full_values = np.full(windows.size, np.nan)
    full_counts = np.zeros(windows.size)
    full_own: list[Any] = [None] * windows.size
    full_values[pos], full_counts[pos] = values, counts
    for at, sk in zip(pos.tolist(), own, strict=True):
        full_own[at] = sk
    series = pd.Series(full_values, index=windows, name=metric, dtype=np.float64)
    return series, _Sampled(full_values, full_counts, full_own, q, kind)


#: Draws of the order statistic per window size (the semivariances' Monte Carlo error
#: is about 3 % of them).
_DRAWS = 2000


def _semivariances(pool: Any, q: float, n: float) -> tuple[float, float]:
    """Variance of the log ``q`` quantile of `n` requests drawn from the distribution
    of `pool`, above and below its median: the sketch's quantile is the order
    statistic of rank ``k = floor(q (n - 1)) + 1``, whose probability level is
    ``Beta(k, n + 1 - k)``; its draws (seeded by `n`) are read through the pool's
    quantile function."""
    k = math.floor(q * (n - 1.0)) + 1.0  # the sketch's rank (1-based), see quantile()
    rng = np.random.default_rng(int(n))
    u = rng.beta(k, n + 1.0 - k, _DRAWS)
    values = pool.quantile(u)
    if not (values > 0).all():
        return math.nan, math.nan
    g = np.log(values)
    center = float(np.median(g))
    dev = g - center
    up = float(np.mean(np.where(dev > 0, dev, 0.0) ** 2)) * 2.0
    down = float(np.mean(np.where(dev < 0, dev, 0.0) ** 2)) * 2.0
    return up, down


def _order_statistic_variances(
    data: _Sampled, period: int, seasons: int, *, pools: _Sampled
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Sampling variance of each window's log quantile, above and below.

    The ``q`` quantile of ``n`` requests is an order statistic: its probability
    level is ``Beta(k, n + 1 - k)`` distributed with ``k = floor(q (n - 1)) + 1``
    (the binomial law of its rank). Read through the quantile function of the pooled sketch of the
    previous ``seasons`` cycles (every window of them, thousands of requests: no
    look-ahead, and stable where a window's own 20 requests are not), it gives the
    sampling distribution of the window's log quantile, whose twice-semivariances
    above and below its median are the variances used (the quantile of few requests
    is skewed: it reaches further up than down). NaN in the first cycle.
    """
    x, n, q = data.values, data.counts, data.q
    size = x.size
    v_up = np.full(size, np.nan)
    v_down = np.full(size, np.nan)
    cycles = -(-size // period)
    daily: list[Any] = []
    for c in range(cycles):
        merged = None
        for sk in pools.sketches[c * period : (c + 1) * period]:
            if sk is None:
                continue
            merged = sk.copy() if merged is None else merged.merge(sk)
        daily.append(merged)
    for c in range(1, cycles):
        pool = None
        for sk in daily[max(0, c - seasons) : c]:
            if sk is None:
                continue
            pool = sk.copy() if pool is None else pool.merge(sk)
        if pool is None or pool.count < 2:
            continue
        rows = np.arange(c * period, min((c + 1) * period, size))
        rows = rows[n[rows] > 0]
        for count in np.unique(n[rows]):
            semi = _semivariances(pool, q, float(count))
            at = rows[n[rows] == count]
            v_up[at], v_down[at] = semi
    return v_up, v_down


def _pooled3(data: _Sampled) -> _Sampled:
    """The same metric over each window and the two before it (requests pooled: the
    sketches merged, a rate's counts summed)."""
    x, n = data.values, data.counts
    size = x.size
    n3 = n + np.concatenate(([0.0], n[:-1])) + np.concatenate(([0.0, 0.0], n[:-2]))
    if data.kind == "rate":
        k = np.where(n > 0, np.nan_to_num(x) * n, 0.0)
        k3 = k + np.concatenate(([0.0], k[:-1])) + np.concatenate(([0.0, 0.0], k[:-2]))
        with np.errstate(divide="ignore", invalid="ignore"):
            x3 = np.where(n3 > 0, k3 / n3, np.nan)
        return _Sampled(x3, n3, [None] * size, data.q, data.kind)
    x3 = np.full(size, np.nan)
    merged: list[Any] = [None] * size
    for t in range(size):
        pool = None
        for sk in data.sketches[max(0, t - 2) : t + 1]:
            if sk is not None:
                pool = sk.copy() if pool is None else pool.merge(sk)
        if pool is not None and pool.count > 0:
            merged[t] = pool
            x3[t] = pool.quantile(data.q)
    return _Sampled(x3, n3, merged, data.q, data.kind)


@dataclass(frozen=True)
class _Scored:
    """One series scored against its seasonal profile."""

    z: npt.NDArray[np.float64]
    prof: npt.NDArray[np.float64]  # y scale
    var_up: npt.NDArray[np.float64]  # variance of y - prof above and below the profile
    var_down: npt.NDArray[np.float64]


def _score(
    data: _Sampled, *, period: int, seasons: int, min_count: int,
    pools: _Sampled | None = None,
) -> _Scored:  # fmt: skip
    """z-scores of one series: ``(y - profile) / sqrt(s_b^2 (1 + pi / (2 m)) + se^2 +
    se_profile^2)`` with ``se`` the side the value lies on; windows with fewer than
    `min_count` requests are NaN. `pools` gives the sketches whose daily pools serve
    the order statistics (default `data`'s own)."""
    x, n = data.values, data.counts
    ok = (n >= min_count) & np.isfinite(x)
    if data.kind == "log":
        ok &= x > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(ok, np.log(np.where(x > 0, x, 1.0)), np.nan)
        v_up, v_down = _order_statistic_variances(
            data, period, seasons, pools=pools or data
        )
    else:  # Anscombe's arcsine transform: variance 1 / (4 n + 2) for any rate
        k = np.round(np.where(ok, x * n, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(ok, np.arcsin(np.sqrt((k + 0.375) / (n + 0.75))), np.nan)
            v_up = v_down = 1.0 / (4.0 * n + 2.0)
    v_up = np.where(ok, v_up, np.nan)
    v_down = np.where(ok, v_down, np.nan)
    v = 0.5 * (v_up + v_down)
    lags = [period * s for s in range(1, seasons + 1)]
    Y, V = _lagged(y, lags), _lagged(v, lags)
    m = np.count_nonzero(~np.isnan(Y), axis=1).astype(np.float64)
    profiled = m >= min(_MIN_SEASONS, seasons)
    prof = np.full(x.size, np.nan)
    vsum = np.full(x.size, np.nan)
    if profiled.any():
        prof[profiled] = np.nanmedian(Y[profiled], axis=1)
        vsum[profiled] = np.nansum(V[profiled], axis=1)
    # variance of a median of m values ~ (pi / 2) * variance of their mean
    with np.errstate(divide="ignore", invalid="ignore"):
        a_prof = 0.5 * math.pi * vsum / m**2
        b = 1.0 + 0.5 * math.pi / m
    r = y - prof
    a = np.where(r > 0, v_up, v_down) + a_prof  # the side the value lies on
    s_b = _between_variance(r * r, a, b, period * seasons, period, period)
    with np.errstate(invalid="ignore", divide="ignore"):
        base = s_b * b + a_prof
        z = r / np.sqrt(base + np.where(r > 0, v_up, v_down))
    z = np.where(np.isfinite(z), z, np.nan)
    return _Scored(z, prof, base + v_up, base + v_down)


def _count_aware(
    data: _Sampled,
    *,
    period: int,
    seasons: int,
    threshold: float,
    min_count: int,
) -> tuple[AnomalyResult, npt.NDArray[np.bool_]]:
    """Score each window, and the pool of it and the two before, against their
    seasonal baselines with count-aware scales; combine the two by Bonferroni."""
    x, n = data.values, data.counts
    one = _score(data, period=period, seasons=seasons, min_count=min_count)
    three = _score(
        _pooled3(data), period=period, seasons=seasons, min_count=min_count,
        pools=data,
    )  # fmt: skip
    z1, z3 = one.z, three.z
    has1, has3 = np.isfinite(z1), np.isfinite(z3) & (n > 0)
    p1 = _two_sided_p(np.nan_to_num(z1))
    p3 = _two_sided_p(np.nan_to_num(z3))
    both = has1 & has3
    p = np.where(
        both, np.minimum(1.0, 2.0 * np.minimum(p1, p3)), np.where(has1, p1, p3)
    )
    use3 = has3 & (~has1 | (p3 < p1))
    winner = np.where(use3, z3, z1)
    scored = has1 | has3
    with np.errstate(invalid="ignore"):
        mag = np.where(
            p > 1e-300, _norm_isf2(np.maximum(p, 1e-300)),
            np.sqrt(np.maximum(winner**2 - 2.0 * math.log(2.0), 0.0)),
        )  # fmt: skip
    score = np.where(scored, np.sign(winner) * mag, np.nan)
    flag = scored & (np.abs(score) >= threshold)
    # the one-window band: each of the two tests runs at half the nominal rate
    crit = float(_norm_isf2(np.array([0.5 * math.erfc(threshold / math.sqrt(2))]))[0])
    prof = one.prof
    with np.errstate(invalid="ignore"):
        lo_y = prof - crit * np.sqrt(one.var_down)
        hi_y = prof + crit * np.sqrt(one.var_up)
    if data.kind == "log":
        expected, lower, upper = np.exp(prof), np.exp(lo_y), np.exp(hi_y)
    else:
        top = 0.5 * math.pi
        expected = np.sin(prof) ** 2
        lower = np.sin(np.clip(lo_y, 0.0, top)) ** 2
        upper = np.sin(np.clip(hi_y, 0.0, top)) ** 2
    too_few = (n > 0) & ~scored & (n < min_count)
    result = AnomalyResult(
        values=x,
        score=score,
        is_anomaly=flag,
        expected=expected,
        lower=lower,
        upper=upper,
        threshold=threshold,
        detector=(
            f"CountAwareSeasonal(period={period}, seasons={seasons}, "
            f"threshold={threshold:g}, min_count={min_count}, "
            f"scale={'log' if data.kind == 'log' else 'arcsine'})"
        ),
    )
    return result, too_few
