"""anomalies: the anomaly detectors run on a metric of request events per time window."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

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

__all__ = ["MetricAnomalies", "anomalies", "default_detector"]

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

    from perfstats.analysis.summary import _window

    step = _window(every)
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
) -> MetricAnomalies:
    """Anomalous windows of one metric of request events.

    The metric is aggregated per window by :func:`perfstats.metric_series` (empty
    windows are NaN gaps, or 0 for counts and sums) and scored by `detector`, each
    window against a baseline of earlier windows only.

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
        Default: :func:`default_detector` (seasonal with a daily period for sub-daily
        windows, robust otherwise).
    sla_target_ms : float, default 5000
        SLA target behind ``sla_compliance``.

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
    >>> found = anomalies(events)  # default: SeasonalZScore(24, 7, log=True)
    >>> found.incidents()[["start", "end", "windows"]]  # 3 sigma: one false alarm
                          start                       end  windows
    0 2026-01-07 06:00:00+00:00 2026-01-07 07:00:00+00:00        1
    1 2026-01-12 03:00:00+00:00 2026-01-12 05:00:00+00:00        2
    >>> from perfstats.stats.detectors import SeasonalZScore
    >>> strict = anomalies(events, detector=SeasonalZScore(24, 7, threshold=5, log=True))
    >>> strict.incidents()[["start", "end", "windows"]]
                          start                       end  windows
    0 2026-01-12 03:00:00+00:00 2026-01-12 05:00:00+00:00        2
    >>> strict.open
    False
    """
    from perfstats.analysis.series import metric_series

    series = metric_series(events, metric, every=every, sla_target_ms=sla_target_ms)
    values = series.to_numpy(dtype=np.float64)
    if detector is None:
        detector = default_detector(every, values)
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


class MetricAnomalies(AnomalyResult):
    """An :class:`~perfstats.stats.detectors.AnomalyResult` of a metric series (from
    :func:`anomalies`), with ``metric``, ``every``, the ``series`` and incidents in
    time."""

    def __init__(
        self, result: AnomalyResult, *, metric: str, every: str, series: Any
    ) -> None:
        super().__init__(
            values=result.values,
            score=result.score,
            is_anomaly=result.is_anomaly,
            expected=result.expected,
            lower=result.lower,
            upper=result.upper,
            threshold=result.threshold,
            detector=result.detector,
            timestamps=result.timestamps,
        )
        self.metric = metric
        self.every = every
        self.series = series

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

        from perfstats.analysis.summary import _window

        if side not in ("both", "high", "low"):
            raise ValueError(f"side must be 'both', 'high' or 'low', got {side!r}")
        step = _window(self.every)
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
        """Plain-Python form: metric, window, open flag, settings and incidents."""
        return {
            "metric": self.metric,
            "every": self.every,
            "open": self.open,
            **super().to_dict(),
        }

    def __repr__(self) -> str:
        base = super().__repr__().removeprefix("AnomalyResult(")
        state = ", open" if self.open else ""
        return f"MetricAnomalies({self.metric} every {self.every}{state}: {base}"

    def _repr_html_(self) -> str:
        head = (
            f"<p>Anomalies of <b>{html.escape(self.metric)}</b> every "
            f"{html.escape(self.every)}{' (open)' if self.open else ''}</p>"
        )
        return head + super()._repr_html_()

    def plot(self, ax: Any = None) -> Any:
        """The series, its expected band and the incidents; returns the Axes."""
        ax = super().plot(ax)
        ax.set_ylabel(self.metric)
        ax.set_title(f"{self.metric} every {self.every}: {self.detector}")
        ax.figure.autofmt_xdate()
        return ax
