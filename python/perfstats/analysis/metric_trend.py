"""Trend of a metric over time: polynomial + seasonal fit, forecasts, crossings."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from perfstats import _core
from perfstats.stats.linear_model import (
    Interval,
    Prediction,
    _as_float_array,
    _check_interval,
    _FittedCoefficients,
    _fmt,
    _optional_weights,
)

Direction = Literal["improving", "stable", "degrading"]

__all__ = ["MetricTrend", "Trend", "fit_trend", "trend"]

_GRID = 4096  # points scanned for a threshold crossing before bisection


def fit_trend(
    t: ArrayLike,
    y: ArrayLike,
    *,
    degree: int = 1,
    seasonal_period: float | None = None,
    harmonics: int = 0,
    weights: ArrayLike | None = None,
    higher_is_worse: bool = True,
    alpha: float = 0.05,
) -> Trend:
    """Least-squares trend of `y` over time `t`.

    Fits ``y = b0 + b1 t + ... + b_d t^d + sum_h (s_h sin(2 pi h t / P) +
    c_h cos(2 pi h t / P))`` by ordinary (or weighted) least squares. Internally time is
    centred and scaled and the fit uses pivoting QR refined in extended precision;
    above 20,000 rows a double-precision fast path is kept when its proven error bound
    is below 2^-36 relative (noisy, well-conditioned data), else the same refinement
    runs. Coefficients are reported for powers of the caller's `t`, converted in
    extended precision, so epoch-second times lose no accuracy.

    Parameters
    ----------
    t : array_like, shape (n,)
        Observation times in any unit (seconds, days, ...); need not be sorted.
    y : array_like, shape (n,)
        Metric values, e.g. p95 latency in ms.
    degree : int, default 1
        Polynomial degree in time, at least 1.
    seasonal_period : float, optional
        Period of the seasonal terms, in units of `t` (86400 for daily seasonality of
        epoch seconds). Needs ``harmonics >= 1``.
    harmonics : int, default 0
        Number of Fourier sin/cos pairs of the seasonal period.
    weights : array_like, shape (n,), optional
        Positive inverse-variance weights (weighted least squares).
    higher_is_worse : bool, default True
        Whether an increasing metric is "degrading" (latency, error rate). Set False for
        throughput-like metrics.
    alpha : float, default 0.05
        Significance level of the slope test behind `Trend.direction`.

    Returns
    -------
    Trend

    Raises
    ------
    ValueError
        On NaN or infinite values, fewer rows than coefficients + 1, a single distinct
        time, or a rank-deficient design (e.g. a seasonal period that aliases the
        sampling), naming the cause.

    Examples
    --------
    >>> import numpy as np
    >>> from perfstats import fit_trend
    >>> t = np.arange(12.0)  # hours
    >>> p95 = 200.0 + 1.5 * t + np.array([0.4, -0.4, -0.4, 0.4] * 3)  # ms
    >>> trend = fit_trend(t, p95)
    >>> print(f"{trend.coefficients[1]:.3f} ms/h, {trend.direction}")
    1.500 ms/h, degrading
    >>> mean, lower, upper = trend.predict([14.0], interval="prediction")
    >>> print(f"{mean[0]:.1f} [{lower[0]:.1f}, {upper[0]:.1f}]")
    221.0 [219.8, 222.2]
    >>> when = trend.time_to_threshold(225.0)  # upper 95% band reaches 225 ms
    >>> print(f"{when:.2f} h")
    15.79 h
    """
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)):
        raise TypeError(f"degree must be an int, got {degree!r}")
    if isinstance(harmonics, bool) or not isinstance(harmonics, (int, np.integer)):
        raise TypeError(f"harmonics must be an int, got {harmonics!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    period = 0.0 if seasonal_period is None else float(seasonal_period)
    if seasonal_period is not None and not (period > 0.0 and math.isfinite(period)):
        raise ValueError(
            f"seasonal_period must be positive and finite, got {seasonal_period!r}"
        )
    ta = _as_float_array(t, "t", (1,))
    ya = _as_float_array(y, "y", (1,))
    if ta.shape[0] != ya.shape[0]:
        raise ValueError(f"t has {ta.shape[0]} rows but y has {ya.shape[0]}")
    core = _core.TrendModel(
        ta, ya, int(degree), period, int(harmonics), _optional_weights(weights)
    )
    return Trend(core, ta, ya, seasonal_period, higher_is_worse, alpha)


class Trend(_FittedCoefficients):
    """A fitted trend (from `fit_trend`): coefficients, tests, predictions, forecasts.

    Coefficients are named ``intercept, t, t^2, ..., sin1, cos1, ...`` and apply to the
    caller's `t`. `direction` tests the slope of the polynomial part at the last
    observed time (seasonal terms excluded).
    """

    def __init__(
        self,
        core: Any,
        t: NDArray[Any],
        y: NDArray[Any],
        seasonal_period: float | None,
        higher_is_worse: bool,
        alpha: float,
    ) -> None:
        self._fit = core
        self._t = t
        self._y = y
        self._names = list(core.names)
        self._seasonal_period = seasonal_period
        self._higher_is_worse = bool(higher_is_worse)
        self._alpha = float(alpha)

    @property
    def degree(self) -> int:
        """Polynomial degree in time."""
        return sum(1 for n in self._names if n == "t" or n.startswith("t^"))

    @property
    def harmonics(self) -> int:
        """Number of seasonal sin/cos pairs."""
        return sum(1 for n in self._names if n.startswith("sin"))

    @property
    def seasonal_period(self) -> float | None:
        """Seasonal period in units of t, or None."""
        return self._seasonal_period

    @property
    def residuals(self) -> NDArray[Any]:
        """Observed minus fitted values, in input order (unweighted), in units of y.

        Recomputed from the fitted data on each access (in extended precision) rather
        than kept with the fit.
        """
        return np.asarray(self._fit.residuals(self._t, self._y))

    @property
    def t_last(self) -> float:
        """Latest observed time."""
        return float(self._fit.t_max)

    @property
    def slope(self) -> float:
        """Slope of the polynomial part at `t_last`, in units of y per unit of t."""
        return float(self._fit.slope_at(self.t_last)[0])

    @property
    def slope_se(self) -> float:
        """Standard error of `slope`."""
        return float(self._fit.slope_at(self.t_last)[1])

    @property
    def slope_pvalue(self) -> float:
        """Two-sided p-value of the hypothesis that the slope at `t_last` is zero."""
        return float(self._fit.slope_at(self.t_last)[3])

    @property
    def direction(self) -> Direction:
        """ "degrading", "improving" or "stable" from the slope test at level `alpha`.

        A significant increase is "degrading" when ``higher_is_worse`` (latency), a
        significant decrease when not (throughput).
        """
        est, _, _, p = self._fit.slope_at(self.t_last)
        if not p < self._alpha or est == 0.0:
            return "stable"
        rising = est > 0.0
        return "degrading" if rising == self._higher_is_worse else "improving"

    def predict(
        self,
        t_new: ArrayLike,
        *,
        interval: Interval = "confidence",
        level: float = 0.95,
    ) -> Prediction:
        """Fitted mean at times `t_new` with a two-sided interval.

        ``interval="confidence"`` bounds the mean trend, ``"prediction"`` a new
        observation; both match statsmodels ``get_prediction().summary_frame()``
        (``mean_ci_*`` and ``obs_ci_*``). Unpacks as ``mean, lower, upper``.
        """
        _check_interval(interval, level)
        ta = _as_float_array(t_new, "t_new", (0, 1)).reshape(-1)
        # The standard errors are an array the band does not need: computed on request.
        mean, _, lower, upper = self._fit.predict(ta, interval, level, False)

        def standard_error() -> NDArray[Any]:
            return np.asarray(self._fit.predict(ta, interval, level)[1])

        return Prediction(ta, mean, lower, upper, standard_error, interval, level)

    def _step(self) -> float:
        diffs = np.diff(np.unique(self._t))
        return float(np.median(diffs))

    def forecast(
        self,
        horizon: int,
        *,
        step: float | None = None,
        interval: Interval = "prediction",
        level: float = 0.95,
    ) -> Prediction:
        """Predictions at the `horizon` times ``t_last + step * (1 .. horizon)``.

        `step` defaults to the median spacing of the observed times.
        """
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)):
            raise TypeError(f"horizon must be an int, got {horizon!r}")
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        dt = self._step() if step is None else float(step)
        if not (dt > 0.0 and math.isfinite(dt)):
            raise ValueError(f"step must be positive and finite, got {step!r}")
        times = self.t_last + dt * np.arange(1, horizon + 1, dtype=np.float64)
        return self.predict(times, interval=interval, level=level)

    def time_to_threshold(
        self,
        threshold: float,
        *,
        level: float = 0.95,
        max_horizon: float | None = None,
    ) -> float | None:
        """First time at or after `t_last` when the prediction band crosses `threshold`.

        With ``higher_is_worse`` the upper bound of the two-sided `level` prediction
        interval is compared with the budget (it is reached when upper >= threshold);
        otherwise the lower bound (lower <= threshold). Returns the time in units of `t`
        (`t_last` when the band already crosses), or None when it does not cross within
        `max_horizon` after `t_last` (default: the span of the observed times, since
        extrapolating further is rarely defensible). The band is scanned on a grid of
        4096 points and the first crossing refined by bisection.
        """
        thr = float(threshold)
        if not math.isfinite(thr):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        _check_interval("prediction", level)
        span = float(self._fit.t_max - self._fit.t_min)
        horizon = span if max_horizon is None else float(max_horizon)
        if not (horizon > 0.0 and math.isfinite(horizon)):
            raise ValueError(
                f"max_horizon must be positive and finite, got {max_horizon!r}"
            )
        sign = 1.0 if self._higher_is_worse else -1.0

        def excess(times: NDArray[Any]) -> NDArray[Any]:
            _, _, lower, upper = self._fit.predict(times, "prediction", level)
            bound = upper if self._higher_is_worse else lower
            return sign * (np.asarray(bound) - thr)

        grid = self.t_last + horizon * np.linspace(0.0, 1.0, _GRID)
        hit = np.flatnonzero(excess(grid) >= 0.0)
        if hit.size == 0:
            return None
        i = int(hit[0])
        if i == 0:
            return self.t_last
        lo, hi = float(grid[i - 1]), float(grid[i])
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if mid <= lo or mid >= hi:
                break
            if excess(np.array([mid]))[0] >= 0.0:
                hi = mid
            else:
                lo = mid
        return hi

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary (coefficients, fit statistics, slope test), for JSON."""
        slope, se, _, p = self._fit.slope_at(self.t_last)
        return {
            "degree": self.degree,
            "seasonal_period": self._seasonal_period,
            "harmonics": self.harmonics,
            **self._coefficient_dict(),
            "t_last": self.t_last,
            "slope": float(slope),
            "slope_se": float(se),
            "slope_pvalue": float(p),
            "higher_is_worse": self._higher_is_worse,
            "alpha": self._alpha,
            "direction": self.direction,
        }

    def _header(self) -> list[tuple[str, str]]:
        season = (
            "none"
            if self._seasonal_period is None
            else f"period {self._seasonal_period:g}, {self.harmonics} harmonic(s)"
        )
        return [
            ("nobs", str(self.nobs)),
            ("degree", str(self.degree)),
            ("seasonal", season),
            ("R²", _fmt(self.r_squared)),
            ("residual SE", _fmt(self.residual_std_error)),
            ("slope at t_last", f"{_fmt(self.slope)} ± {_fmt(self.slope_se)}"),
            ("direction", self.direction),
        ]

    def __repr__(self) -> str:
        head = ", ".join(f"{k}={v}" for k, v in self._header())
        return f"Trend({head})\n" + self._table_text()

    def _repr_html_(self) -> str:
        return self._table_html("Trend", self._header())

    def plot(self, ax: Any = None, *, level: float = 0.95, horizon: int = 0) -> Any:
        """Data, fitted trend and its `level` prediction band; returns the Axes.

        `horizon` extends the curve that many median steps past `t_last`. Needs
        matplotlib (``pip install perfstats[plot]``).
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Trend.plot needs matplotlib: pip install 'perfstats[plot]'"
            ) from err
        if ax is None:
            _, ax = plt.subplots()
        end = self.t_last + (self._step() * horizon if horizon > 0 else 0.0)
        grid = np.linspace(float(self._fit.t_min), end, 512)
        band = self.predict(grid, interval="prediction", level=level)
        ax.scatter(self._t, self._y, s=6, color="0.4", label="observed")
        ax.plot(grid, band.mean, color="C0", label="trend")
        ax.fill_between(
            grid,
            band.lower,
            band.upper,
            color="C0",
            alpha=0.2,
            label=f"{level:.0%} prediction band",
        )
        ax.set_xlabel("t")
        ax.legend()
        return ax


# ---- trend of a metric of request events ------------------------------------------

#: Metrics for which a rise is an improvement (``higher_is_worse=False``).
_HIGHER_IS_BETTER = ("count", "throughput_rps", "sla_compliance")
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
    level: float = 0.95,
    higher_is_worse: bool | None = None,
    alpha: float = 0.05,
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
    level : float, default 0.95
        Level of the two-sided prediction band.
    higher_is_worse : bool, optional
        Whether a rising metric is "degrading"; by default True except for
        ``count``, ``throughput_rps`` and ``sla_compliance``.
    alpha : float, default 0.05
        Significance level of the slope test behind ``direction``.

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
    >>> print(f"{tr.slope_per_day:.0f} ms/day")
    8 ms/day
    >>> tr.crossing.floor("D")
    Timestamp('2026-02-02 00:00:00+0000', tz='UTC')
    """

    from perfstats.analysis.series import metric_series
    from perfstats.analysis.summary import _window

    step = _window(every)
    ahead = _window(horizon, "horizon")
    if budget is not None and not (
        isinstance(budget, (int, float, np.integer, np.floating))
        and not isinstance(budget, bool)
        and math.isfinite(float(budget))
    ):
        raise ValueError(f"budget must be a finite number, got {budget!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    period_days = None
    if seasonal_period is not None:
        period_days = _window(seasonal_period, "seasonal_period") / _ONE_DAY
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
    fit = fit_trend(
        t,
        observed.to_numpy(dtype=np.float64),
        degree=degree,
        seasonal_period=period_days,
        harmonics=harmonics if period_days is not None else 0,
        higher_is_worse=higher_is_worse,
        alpha=alpha,
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
        level=float(level),
    )


class MetricTrend:
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

    def time_to_threshold(self, budget: float | None = None) -> Any:
        """When the prediction band first crosses `budget` (default: the trend's
        budget), as a UTC Timestamp; the last window's start when it already
        crosses there; None when it does not cross within the horizon.

        The upper bound is compared when higher is worse, else the lower bound.
        """
        thr = self.budget if budget is None else budget
        if thr is None:
            raise ValueError("no budget: pass one here or to trend(budget=...)")
        t = self.fit.time_to_threshold(
            float(thr), level=self.level, max_horizon=self._horizon_days
        )
        return None if t is None else self._time(t)

    @property
    def crossing(self) -> Any:
        """:meth:`time_to_threshold` of the budget, or None (also without a budget)."""
        return None if self.budget is None else self.time_to_threshold()

    def to_frame(self) -> Any:
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
        """JSON-ready dict: settings, direction, slope, crossing, fit and forecast."""
        crossing = self.crossing
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
            "fit": self.fit.to_dict(),
            "forecast": {
                "window_start": [t.isoformat() for t in self._time(ahead.x)],
                "mean": ahead.mean.tolist(),
                "lower": ahead.lower.tolist(),
                "upper": ahead.upper.tolist(),
            },
        }

    def _lines(self) -> list[tuple[str, str]]:
        crossing = self.crossing
        rows = [
            ("windows", f"{int(self.series.notna().sum())} of {len(self.series)}"),
            ("direction", self.direction),
            (
                "slope",
                f"{_fmt(self.slope_per_day)} ± {_fmt(self.fit.slope_se)} per day",
            ),
        ]
        if self.budget is not None:
            when = (
                f"not within {self._horizon_days:g} days"
                if crossing is None
                else f"{crossing:%Y-%m-%d %H:%M} UTC"
            )
            rows.append((f"crosses {_fmt(self.budget)}", when))
        return rows

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v}" for k, v in self._lines())
        return f"MetricTrend({self.metric} every {self.every}: {body})"

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self._lines()
        )
        return (
            f"<div class='perfstats-trend'><p>Trend of {html.escape(self.metric)} "
            f"every {html.escape(self.every)}</p><table>{rows}</table></div>"
        )

    def plot(self, ax: Any = None) -> Any:
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
                self.budget, color="C3", lw=1, label=f"budget {_fmt(self.budget)}"
            )
            crossing = self.crossing
            if crossing is not None:
                ax.axvline(crossing, color="C3", ls=":", lw=1)
        ax.set_ylabel(self.metric)
        ax.legend(fontsize="small")
        ax.figure.autofmt_xdate()
        return ax
