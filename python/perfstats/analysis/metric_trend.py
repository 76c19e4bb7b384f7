"""Trend of a metric of request events over time: windows the events, fits
:func:`perfstats.fit_trend` and reads forecasts and budget crossings in days."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from perfstats._display import View, format_value
from perfstats._result import Result
from perfstats._time import parse_duration
from perfstats._validate import renamed_keyword
from perfstats.io.events import as_events_or_path
from perfstats.stats.linear_model import Prediction
from perfstats.stats.trend import Direction, Errors, Scale, Trend, fit_trend

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["MetricTrend", "trend"]

# ---- trend of a metric of request events ------------------------------------------

#: Metrics for which a rise is an improvement (``higher_is_worse=False``).
_HIGHER_IS_BETTER = ("count", "throughput_rps", "sla_compliance")
#: Metric names fitted on the log scale by ``trend(scale="auto")``.
_LOG_METRICS = ("latency", "_ms", "ttft", "cost", "spend")
_DAY = 86400.0
_ONE_DAY = np.timedelta64(86400, "s")


def trend(
    events: Any,
    metric: str = "latency_p95",
    *,
    every: str = "1d",
    degree: int = 1,
    seasonal_period: str | None = None,
    harmonics: int = 1,
    budget: float | None = None,
    horizon: str = "7d",
    confidence: float | None = None,
    higher_is_worse: bool | None = None,
    alpha: float = 0.05,
    errors: Errors = "auto",
    scale: Scale = "auto",
    regime: bool = True,
    level: float | None = None,
) -> MetricTrend:
    """Trend of one metric of request events, with a forecast and a budget crossing.

    The metric is aggregated per window by :func:`perfstats.metric_series`, windows
    without data are left out, and :func:`fit_trend` is fitted with time in days since
    the first window.

    Parameters
    ----------
    events : perfstats.io.events.Events or pandas.DataFrame
        Events in the canonical schema.
    metric : str, default "latency_p95"
        Any metric :func:`perfstats.metric_series` knows (latency in ms).
    every : str, default "1d"
        Window length (pandas duration).
    degree : int, default 1
        Polynomial degree in time.
    seasonal_period : str, optional
        Period of seasonal terms as a duration ("1d" for a daily cycle of hourly
        windows, "7d" for a weekly one); needs windows shorter than half the period.
    harmonics : int, default 1
        Fourier pairs of the seasonal period (ignored without one).
    budget : float, optional
        Threshold in the metric's unit (an SLA target of p95 latency in ms, a daily
        spend in USD ...) whose crossing by the forecast band is reported.
    horizon : str, default "7d"
        How far past the last window to forecast and to look for the crossing.
    confidence : float, default 0.95
        Confidence level of the two-sided prediction band.
    higher_is_worse : bool, optional
        Whether a rising metric is "degrading"; by default True except for
        ``count``, ``throughput_rps`` and ``sla_compliance``.
    alpha : float, default 0.05
        Significance level of the slope test behind ``direction``.
    errors : {"auto", "iid", "ar1"}, default "auto"
        Noise model, as in :func:`fit_trend`: "auto" fits AR(1) noise by feasible
        GLS when the windows' residuals are positively autocorrelated.
    scale : {"auto", "linear", "log"}, default "auto"
        "auto" fits log(metric) for latency-, duration- and cost-like metrics (names
        holding ``latency``, ``_ms``, ``ttft``, ``cost`` or ``spend``) when every
        window is > 0, whose noise is multiplicative; other metrics as
        :func:`fit_trend` ``scale="auto"`` decides (log when all values are > 0 and
        the residual spread grows with the level).
    regime : bool, default True
        Fit only the windows since the last change point that
        :func:`perfstats.detect_changepoints` finds (``regime_start`` says where).
        Stated rates with it (AR(1) noise phi = 0.6, 30-90 days, seeded simulation in
        ``tests/calibration/scenarios_trend.py``): band coverage of the next 7 days
        at least 93 %, slope CI at least 92 %, a flat series called trending at most
        8 % (about 5 % of such series are cut at a spurious change and the cut
        selects the data; pass ``regime=False`` for the 5 % of :func:`fit_trend`);
        a series that levels off below the budget, or a level shift below it, is
        said to cross within 14 days at most 5 % of the time.
    level : float, optional
        Deprecated name of `confidence` (a DeprecationWarning; passing both is a
        TypeError).

    Returns
    -------
    MetricTrend

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from perfstats import trend
    >>> rng = np.random.default_rng(0)
    >>> ts = pd.date_range("2026-01-01", periods=20 * 24 * 12, freq="5min", tz="UTC")
    >>> day = (ts - ts[0]) / pd.Timedelta(days=1)
    >>> events = pd.DataFrame({  # latency grows 2 % per day
    ...     "timestamp": ts,
    ...     "latency_ms": rng.lognormal(np.log(400.0), 0.3, len(ts)) * (1 + 0.02 * day),
    ... })
    >>> tr = trend(events, "latency_p50", budget=700.0, horizon="30d")
    >>> tr.direction
    'degrading'
    >>> tr.fit.scale  # a latency: fitted on the log scale
    'log'
    >>> print(f"{tr.slope_per_day:.0f} ms/day")  # at the last day
    10 ms/day
    >>> tr.crossing.floor("D")  # the forecast median reaches 700 ms
    Timestamp('2026-02-01 00:00:00+0000', tz='UTC')
    """
    from perfstats.analysis.summary import Summary

    events = as_events_or_path(events, keep=(Summary,))

    from perfstats.analysis.series import metric_series

    step = parse_duration(every)
    ahead = parse_duration(horizon, "horizon")
    if budget is not None and not (
        isinstance(budget, (int, float, np.integer, np.floating))
        and not isinstance(budget, bool)
        and math.isfinite(float(budget))
    ):
        raise ValueError(f"budget must be a finite number, got {budget!r}")
    confidence = renamed_keyword("confidence", confidence, "level", level, 0.95)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    period_days = None
    if seasonal_period is not None:
        period_days = parse_duration(seasonal_period, "seasonal_period") / _ONE_DAY
    series = metric_series(events, metric, every=every)
    observed = series.dropna()
    needed = degree + 1 + (2 * harmonics if period_days is not None else 0) + 1
    if len(observed) < needed:
        raise ValueError(
            f"{metric} has {len(observed)} window(s) of {every} with data; a trend of "
            f"degree {degree}{' with seasonal terms' if period_days else ''} needs "
            f"at least {needed}: use shorter windows or more data"
        )
    origin = observed.index[0]
    t = np.asarray((observed.index - origin) / _ONE_DAY, dtype=np.float64)
    if higher_is_worse is None:
        higher_is_worse = metric not in _HIGHER_IS_BETTER
    values = observed.to_numpy(dtype=np.float64)
    if (
        scale == "auto"
        and any(h in metric for h in _LOG_METRICS)
        and bool(np.all(values > 0.0))
    ):
        scale = "log"
    fit = fit_trend(
        t,
        values,
        degree=degree,
        seasonal_period=period_days,
        harmonics=harmonics if period_days is not None else 0,
        higher_is_worse=higher_is_worse,
        alpha=alpha,
        errors=errors,
        scale=scale,
        regime=regime,
    )
    return MetricTrend(
        metric=metric,
        every=every,
        fit=fit,
        series=series,
        origin=origin,
        step_days=step / _ONE_DAY,
        horizon_days=ahead / _ONE_DAY,
        budget=None if budget is None else float(budget),
        level=float(confidence),
    )


class MetricTrend(Result):
    """Result of :func:`trend`: the fitted :class:`Trend`, the series, the forecast.

    Attributes
    ----------
    metric, every : str
        What was aggregated, per which window.
    fit : Trend
        The fit, with time ``t`` in days since `origin`.
    series : pandas.Series
        The metric per window (NaN gaps included), from :func:`metric_series`.
    origin : pandas.Timestamp
        The first window with data (``t = 0``).
    budget : float or None
        Threshold in the metric's unit.
    level : float
        Level of the prediction band.

    `crossing` is when the forecast crosses the budget ("now" only when the observed
    recent level is there), `band_crossing` when its prediction band reaches it;
    `regime_start` and `warnings` come from the fit.
    """

    def __init__(
        self,
        *,
        metric: str,
        every: str,
        fit: Trend,
        series: Any,
        origin: Any,
        step_days: float,
        horizon_days: float,
        budget: float | None,
        level: float,
    ) -> None:
        self.metric = metric
        self.every = every
        self.fit = fit
        self.series = series
        self.origin = origin
        self.budget = budget
        self.level = level
        self._step_days = step_days
        self._horizon_days = horizon_days

    def _time(self, days: Any) -> Any:
        import pandas as pd

        return self.origin + pd.to_timedelta(np.asarray(days) * _DAY, unit="s")

    @property
    def direction(self) -> Direction:
        """ "degrading", "improving" or "stable" (slope test at the last window)."""
        return self.fit.direction

    @property
    def slope_per_day(self) -> float:
        """Slope of the polynomial part at the last window, in metric units per day."""
        return self.fit.slope

    @property
    def horizon(self) -> Any:
        """How far past the last window the forecast reaches (a Timedelta)."""
        import pandas as pd

        return pd.Timedelta(seconds=self._horizon_days * _DAY)

    @property
    def forecast(self) -> Prediction:
        """Prediction band at the windows after the last one, up to the horizon;
        ``x`` in days since `origin`."""
        n = max(1, math.floor(self._horizon_days / self._step_days + 1e-9))
        return self.fit.forecast(n, step=self._step_days, level=self.level)

    def time_to_threshold(
        self, budget: float | None = None, *, bound: Literal["mean", "band"] = "mean"
    ) -> Any:
        """When the forecast crosses `budget` (default: the trend's budget), as a
        UTC Timestamp, or None when it does not within the horizon.

        ``bound="mean"``: the last window's start only when the observed recent
        level is already at or above the budget, else when the forecast mean
        reaches it. ``bound="band"``: when the prediction band reaches it (the
        upper bound when higher is worse, else the lower); see
        :meth:`Trend.time_to_threshold`.
        """
        thr = self.budget if budget is None else budget
        if thr is None:
            raise ValueError("no budget: pass one here or to trend(budget=...)")
        t = self.fit.time_to_threshold(
            float(thr), level=self.level, max_horizon=self._horizon_days, bound=bound
        )
        return None if t is None else self._time(t)

    @property
    def crossing(self) -> Any:
        """When the forecast mean crosses the budget (:meth:`time_to_threshold`),
        or None (also without a budget)."""
        return None if self.budget is None else self.time_to_threshold()

    @property
    def band_crossing(self) -> Any:
        """When the prediction band reaches the budget, or None."""
        return None if self.budget is None else self.time_to_threshold(bound="band")

    @property
    def regime_start(self) -> Any:
        """Start of the first window of the fitted regime when earlier windows were
        left out at a detected change point, else None."""
        start = self.fit.regime_start
        return None if start is None else self._time(start)

    @property
    def warnings(self) -> tuple[str, ...]:
        """The fit's diagnostic sentences (see :attr:`Trend.warnings`)."""
        return self.fit.warnings

    def to_frame(self) -> pd.DataFrame:
        """One row per window, observed then forecast: ``value`` (NaN in gaps and the
        forecast), the fitted or forecast ``mean`` and the prediction band
        ``lower``/``upper``, and ``forecast`` (bool)."""
        import pandas as pd

        days = np.asarray(
            (self.series.index - self.origin) / _ONE_DAY, dtype=np.float64
        )
        past = self.fit.predict(days, interval="prediction", level=self.level)
        ahead = self.forecast
        index = self.series.index.append(
            pd.DatetimeIndex(self._time(ahead.x), name="window_start")
        )
        return pd.DataFrame(
            {
                "value": np.concatenate(
                    [
                        self.series.to_numpy(dtype=np.float64),
                        np.full(len(ahead), np.nan),
                    ]
                ),
                "mean": np.concatenate([past.mean, ahead.mean]),
                "lower": np.concatenate([past.lower, ahead.lower]),
                "upper": np.concatenate([past.upper, ahead.upper]),
                "forecast": np.r_[np.zeros(len(past), bool), np.ones(len(ahead), bool)],
            },
            index=index,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: settings, direction, slope, crossings, regime, warnings,
        fit and forecast."""
        crossing, band, regime = self.crossing, self.band_crossing, self.regime_start
        ahead = self.forecast
        return {
            "metric": self.metric,
            "every": self.every,
            "origin": self.origin.isoformat(),
            "windows": len(self.series),
            "windows_with_data": int(self.series.notna().sum()),
            "direction": self.direction,
            "slope_per_day": self.slope_per_day,
            "budget": self.budget,
            "level": self.level,
            "horizon_days": self._horizon_days,
            "crossing": None if crossing is None else crossing.isoformat(),
            "band_crossing": None if band is None else band.isoformat(),
            "regime_start": None if regime is None else regime.isoformat(),
            "warnings": list(self.warnings),
            "fit": self.fit.to_dict(),
            "forecast": {
                "window_start": [t.isoformat() for t in self._time(ahead.x)],
                "mean": ahead.mean.tolist(),
                "lower": ahead.lower.tolist(),
                "upper": ahead.upper.tolist(),
            },
        }

    def _view(self) -> View:
        def when(t: Any) -> str:
            if t is None:
                return f"not within {self._horizon_days:g} days"
            return f"{t:%Y-%m-%d %H:%M} UTC"

        fields: dict[str, Any] = {
            "windows": f"{int(self.series.notna().sum())} of {len(self.series)}",
            "direction": self.direction,
            "slope per day": self.slope_per_day,
            "slope SE per day": self.fit.slope_se,
        }
        if self.budget is not None:
            budget = format_value(self.budget)
            fields[f"crosses {budget}"] = when(self.crossing)
            fields[f"band reaches {budget}"] = when(self.band_crossing)
        if self.regime_start is not None:
            fields["regime since"] = when(self.regime_start)
        return View(
            f"MetricTrend: {self.metric} every {self.every}",
            fields,
            warnings=self.warnings,
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Series, fitted trend, forecast band and budget line; returns the Axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "MetricTrend.plot needs matplotlib: pip install 'perfstats[plot]'"
            ) from err
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        frame = self.to_frame()
        past = frame[~frame["forecast"]]
        ahead = frame.loc[frame["forecast"] | (frame.index == past.index[-1])]
        ax.plot(past.index, past["value"], marker=".", color="0.3", label=self.metric)
        ax.plot(past.index, past["mean"], color="C0", label="trend")
        ax.fill_between(
            past.index, past["lower"], past["upper"], color="C0", alpha=0.12, lw=0
        )
        ax.plot(ahead.index, ahead["mean"], color="C1", ls="--", label="forecast")
        ax.fill_between(
            ahead.index,
            ahead["lower"],
            ahead["upper"],
            color="C1",
            alpha=0.25,
            lw=0,
            label=f"{self.level:.0%} prediction band",
        )
        if self.budget is not None:
            ax.axhline(
                self.budget,
                color="C3",
                lw=1,
                label=f"budget {format_value(self.budget)}",
            )
            crossing = self.crossing
            if crossing is not None:
                ax.axvline(crossing, color="C3", ls=":", lw=1)
        ax.set_ylabel(self.metric)
        ax.legend(fontsize="small")
        ax.figure.autofmt_xdate()
        return ax
