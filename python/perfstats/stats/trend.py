"""Trend of a series on a time axis: polynomial + seasonal least squares with AR(1)
noise, log scale and regime options, forecasts and threshold crossings (numbers on
arrays; :func:`perfstats.trend` fits it to a metric of request events)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from perfstats import _core
from perfstats._display import View
from perfstats._validate import check_interval, float_array, optional_weights
from perfstats.stats.linear_model import (
    FittedCoefficients,
    Interval,
    Prediction,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Direction = Literal["improving", "stable", "degrading"]

__all__ = ["Direction", "Errors", "Scale", "Trend", "fit_trend"]

_GRID = 4096  # points scanned for a threshold crossing before bisection
Errors = Literal["auto", "iid", "ar1"]
Scale = Literal["auto", "linear", "log"]


# ---- diagnostics: autocorrelated noise, scale, regime, lack of fit -----------------

#: Above this many rows ``errors="auto"`` fits independent noise without testing (the
#: large-n fast path keeps its speed); aggregated telemetry (daily, hourly windows) is
#: far shorter.
_AUTO_MAX_ROWS = 20_000
_PHI_MAX = 0.95  # the AR(1) coefficient is capped here (near a unit root no band holds)
_WARN_P = 0.01  # level of the diagnostic tests that raise a warning
#: BIC penalty of a change (in units of log n) for ``regime=True``: twice
#: detect_changepoints' default of 3, since the cut selects the data the slope is
#: tested on. With the default, AR(1) noise (phi = 0.6) alone cut 30 % of 30-90 point
#: trending series (the slope CI then covered 83 %); with 6, 5 %, while a 10-SD level
#: shift is still found 99 % of the time and a saturating series 85 %.
_REGIME_PENALTY = 6.0
_LEVELS_OFF = "levels off (saturates)"


def _lag1(e: NDArray[Any]) -> float:
    """Lag-1 autocorrelation of residuals about zero (Durbin-Watson ~ 2 (1 - r))."""
    den = float(e @ e)
    return float(e[1:] @ e[:-1]) / den if den > 0.0 else 0.0


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _phi_corrected(r: float, n: int, p: int) -> float:
    """AR(1) coefficient from the lag-1 autocorrelation `r` of the residuals of a fit
    with `p` coefficients, bias corrected: E[r] ~ phi - (1 + p + (3 + p) phi) / n.
    The first-order bias of the sample autocorrelation, -(1 + 3 phi) / n, grows with
    each fitted coefficient; the p terms were checked by simulation (slope CI 94 %,
    forecast band 95 % at n = 30, phi = 0.6; 95 % at n = 90)."""
    phi = (n * r + 1.0 + p) / (n - 3.0 - p) if n > 3 + p else r
    return min(max(phi, 0.0), _PHI_MAX)


class _Ar1Fit:
    """Feasible GLS of a polynomial + Fourier trend with AR(1) noise.

    Prais-Winsten: rows are whitened with the continuous-time AR(1) correlation
    ``phi ** (dt / step)`` between neighbours ``dt`` apart (``step`` the median
    spacing), so gaps are allowed; the whitened least squares is solved by the core's
    `LinearModel` (pivoting QR, refined in extended precision) with time centred at
    `t_last`, so the slope at `t_last` is one coefficient with its exact t test.
    Exposes the attributes `Trend` reads from the core's `TrendModel`.
    """

    def __init__(
        self,
        t: NDArray[Any],
        y: NDArray[Any],
        names: list[str],
        degree: int,
        period: float,
        harmonics: int,
        phi: float,
        step: float,
    ) -> None:
        self.names = names
        self.phi = float(phi)
        self.step = float(step)
        self._degree = degree
        self._period = period
        self._harmonics = harmonics
        self.t_min = float(t.min())
        self.t_max = float(t.max())
        self._scale = max(0.5 * (self.t_max - self.t_min), 1e-300)
        order = np.argsort(t, kind="stable")
        self._t = t[order]
        self._y = y[order]
        x = self._design(self._t)
        xs, ys = self._whiten(x), self._whiten(self._y[:, None])[:, 0]
        self._lm = _core.LinearModel(xs, ys, False, None)
        self._b = np.asarray(self._lm.coefficients)
        self._v = np.asarray(self._lm.covariance)
        self.whitened_residuals = ys - xs @ self._b
        self._e_last = float(self._y[-1] - x[-1] @ self._b)
        # caller's basis: sum_k b_k ((t - c)/s)^k = sum_j a_j t^j
        p = x.shape[1]
        m = np.eye(p)
        c, s = self.t_max, self._scale
        for k in range(degree + 1):
            for j in range(k + 1):
                m[j, k] = math.comb(k, j) * (-c) ** (k - j) / s**k
        self._m = m
        self._raw: Any = None
        if degree == 1:
            # A line: the core fits the whitened columns of the caller's t as well
            # (it centres and scales them itself), so the coefficient table, its
            # t values and p-values are the core's own, however small.
            raw = x.copy()
            raw[:, 1] = self._t
            self._raw = _core.LinearModel(self._whiten(raw), ys, False, None)
            self.coefficients = np.asarray(self._raw.coefficients)
            self.covariance = np.asarray(self._raw.covariance)
        else:
            self.coefficients = m @ self._b
            self.covariance = m @ self._v @ m.T
        self.standard_errors = np.sqrt(np.diag(self.covariance))
        with np.errstate(divide="ignore", invalid="ignore"):
            self.t_values = self.coefficients / self.standard_errors
        self.residual_std_error = float(self._lm.residual_std_error)
        self.ssr = float(self._lm.ssr)
        e = self._y - x @ self._b
        sst = float(np.sum((self._y - self._y.mean()) ** 2))
        self.r_squared = 1.0 - float(e @ e) / sst if sst > 0 else math.nan
        n = self._y.shape[0]
        self.nobs = int(n)
        self.df_resid = float(self._lm.df_resid)
        self.adj_r_squared = 1.0 - (1.0 - self.r_squared) * (n - 1) / self.df_resid

    @property
    def p_values(self) -> NDArray[Any]:
        """Two-sided p-values of `t_values` on `df_resid` degrees of freedom (above
        degree 1 resolved to about 1e-16 by bisection on the core's t quantile)."""
        if self._raw is not None:
            return np.asarray(self._raw.p_values)
        return np.array([self._t_pvalue(float(v)) for v in self.t_values])

    def _t_pvalue(self, tv: float) -> float:
        if not math.isfinite(tv):
            return math.nan
        lo, hi = 0.0, 1.0
        a = abs(tv)
        # p = 1 - level where t_quantile(level) = |t| (the core's Student t on
        # df_resid, two-sided): bisection on the level.
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if mid <= lo or mid >= hi:
                break
            if self._lm.t_quantile(mid) < a:
                lo = mid
            else:
                hi = mid
        return 1.0 - 0.5 * (lo + hi)

    def _design(self, t: NDArray[Any]) -> NDArray[Any]:
        u = (t - self.t_max) / self._scale
        cols = [u**k for k in range(self._degree + 1)]
        for h in range(1, self._harmonics + 1):
            w = 2.0 * math.pi * h * t / self._period
            cols += [np.sin(w), np.cos(w)]
        return np.column_stack(cols)

    def _whiten(self, z: NDArray[Any]) -> NDArray[Any]:
        gaps = np.diff(self._t) / self.step
        rho = self.phi**gaps
        out = np.empty_like(z)
        out[0] = z[0]
        out[1:] = (z[1:] - rho[:, None] * z[:-1]) / np.sqrt(1.0 - rho**2)[:, None]
        return out

    def t_quantile(self, level: float) -> float:
        return float(self._lm.t_quantile(level))

    def residuals(self, t: NDArray[Any], y: NDArray[Any]) -> NDArray[Any]:
        return y - self._design(t) @ self._b

    def slope_at(self, t: float) -> tuple[float, float, float, float]:
        if self._degree < 1:  # pragma: no cover - fit_trend needs degree >= 1
            return 0.0, 0.0, math.nan, math.nan
        u = (t - self.t_max) / self._scale
        g = np.zeros(self._b.shape[0])
        for k in range(1, self._degree + 1):
            g[k] = k * u ** (k - 1) / self._scale
        est = float(g @ self._b)
        se = math.sqrt(max(float(g @ self._v @ g), 0.0))
        tv = est / se if se > 0 else math.nan
        p = float(self._lm.p_values[1]) if t == self.t_max else self._t_pvalue(tv)
        return est, se, tv, p

    def predict(
        self, t: NDArray[Any], interval: str, level: float, with_se: bool = True
    ) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
        x = self._design(t)
        mean = x @ self._b
        q = self.t_quantile(level)
        if interval == "confidence":
            var = np.einsum("ij,jk,ik->i", x, self._v, x)
        else:
            # After t_last: the AR(1) forecast carries phi^h of the last residual and
            # its error variance sigma^2 (1 - phi^2h) + d' V d, d = x - phi^h x_last;
            # at observed times: a new observation, sigma^2 + x' V x.
            h = np.maximum((t - self.t_max) / self.step, 0.0)
            carry = np.where(t > self.t_max, self.phi**h, 0.0)
            d = x - carry[:, None] * self._design(np.array([self.t_max]))
            mean = mean + carry * self._e_last
            s2 = self.residual_std_error**2
            var = s2 * (1.0 - carry**2) + np.einsum("ij,jk,ik->i", d, self._v, d)
        se = np.sqrt(np.maximum(var, 0.0))
        return mean, se, mean - q * se, mean + q * se


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
    errors: Errors = "auto",
    scale: Scale = "linear",
    regime: bool = False,
) -> Trend:
    """Trend of `y` over time `t`, with noise, scale, regime and fit diagnostics.

    Fits ``y = b0 + b1 t + ... + b_d t^d + sum_h (s_h sin(2 pi h t / P) +
    c_h cos(2 pi h t / P))`` by ordinary (or weighted) least squares, or by feasible
    GLS when the noise is autocorrelated (``errors``). Internally time is
    centred and scaled and the fit uses pivoting QR refined in extended precision;
    above 20,000 rows a double-precision fast path is kept when its proven error bound
    is below 2^-36 relative (noisy, well-conditioned data), else the same refinement
    runs. Coefficients are reported for powers of the caller's `t`, converted in
    extended precision, so epoch-second times lose no accuracy.

    Daily and hourly telemetry is autocorrelated: a slow day is followed by slow days.
    Least squares then keeps an unbiased slope but its intervals are too narrow (with
    AR(1) noise phi = 0.6 the 95 % band covered 90 % of new days, the slope CI 65 %,
    and a flat series was called trending 31 % of the time). ``errors="auto"`` fits
    AR(1) noise by iterated Prais-Winsten feasible GLS whenever the bias-corrected
    lag-1 autocorrelation of the residuals is positive: phi-hat from n points and p
    coefficients is biased low by about ``(1 + p + (3 + p) phi) / n``, which is added
    back (capped at 0.95). GLS rather than HAC (Newey-West) standard errors because
    HAC needs far more than 30-90 points (its slope CI covers ~80 % at n = 30, see
    tests) and gives no forecast: the AR(1) model also gives the forecast of a new
    observation, the trend plus ``phi^h`` of the last residual, whose band adds the
    AR forecast variance ``sigma^2 (1 - phi^2h)`` to that of the estimate.

    Stated rates (nominal 95 %, 30-90 daily points, measured by seeded simulation in
    ``tests/calibration/scenarios_trend.py``): the prediction band covers new
    observations of the next 7 steps 95 % of the time with independent noise (normal
    or t with 3 df) and at least 93 % with AR(1) noise phi = 0.6; the slope CI covers
    the true slope 95 % / at least 92 %; a flat series is called "degrading" or
    "improving" at most ``alpha`` (5 %) of the time; a slope of 3 noise SDs over 60
    AR(1) days is detected at least 80 % of the time.

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
    errors : {"auto", "iid", "ar1"}, default "auto"
        Noise model. "iid": least squares (matches statsmodels OLS/WLS). "ar1":
        AR(1) noise by feasible GLS (matches statsmodels GLS at the fitted phi), with
        the correlation ``phi ** (dt / step)`` across gaps (``step`` the median
        spacing); needs distinct times and no weights. "auto": "ar1" when the
        bias-corrected phi is > 0, with up to 20,000 rows and no weights; otherwise
        "iid" (longer series, typically raw per-request data, keep the least-squares
        fast path untouched). `Trend.warnings` says when the residuals are
        autocorrelated (one-sided lag-1 test, p < 0.01).
    scale : {"linear", "log", "auto"}, default "linear"
        "log" fits log(y) (all y > 0), for multiplicative noise (latency, cost):
        predictions and bands are back-transformed with exp (the band of log(y)
        gives that of y; the mean of log(y) gives the median of y). "auto" picks
        "log" when all y > 0 and the absolute residuals grow with the fitted level
        (one-sided Fisher-z test of their correlation, p < 0.05).
    regime : bool, default False
        Fit only the rows since the last change point that
        :func:`perfstats.detect_changepoints` (piecewise-linear model, BIC penalty 6
        rather than its default 3: the cut selects the data the slope is tested on;
        the default 3 when the lack-of-fit check finds that the whole series levels
        off) finds in `y` in time order, when that leaves enough rows; `Trend.regime_start` and a
        warning say where.

    A lack-of-fit check runs on up to 20,000 rows: one more polynomial degree under
    the same noise model (t test, p < 0.01: "curves" or, for a line whose curvature
    opposes its slope, "levels off") and a runs test of the (whitened) residual
    signs; each finding is a sentence in `Trend.warnings`. Stated: on a straight line
    with AR(1) noise it warns at most 2 % of the time; a series that levels off
    (60 days, 1000 - 400 exp(-t/6) ms, noise SD 10) is said to level off at least
    90 % of the time.

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
    >>> trend = fit_trend(t, p95, errors="iid")
    >>> print(f"{trend.coefficients[1]:.3f} ms/h, {trend.direction}")
    1.500 ms/h, degrading
    >>> mean, lower, upper = trend.predict([14.0], interval="prediction")
    >>> print(f"{mean[0]:.1f} [{lower[0]:.1f}, {upper[0]:.1f}]")
    221.0 [219.8, 222.2]
    >>> when = trend.time_to_threshold(225.0, bound="band")  # upper band reaches it
    >>> print(f"{when:.2f} h")
    15.79 h
    >>> print(f"{trend.time_to_threshold(225.0):.2f} h")  # the mean trend crosses it
    16.67 h

    Autocorrelated noise is fitted as AR(1) and said so:

    >>> rng = np.random.default_rng(1)
    >>> e = np.zeros(60)
    >>> for i in range(1, 60):
    ...     e[i] = 0.7 * e[i - 1] + rng.normal(0.0, 3.0)
    >>> daily = fit_trend(np.arange(60.0), 300.0 + e)
    >>> daily.errors, daily.direction
    ('ar1', 'stable')
    >>> print(daily.warnings[0][:34])
    Residuals are autocorrelated (lag-
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
    ta = float_array(t, "t", (1,))
    ya = float_array(y, "y", (1,))
    # what fit_trend was called with: a Trend pickles as these and refits (the core
    # model has no serialized form; the fit is deterministic, so it is the same fit)
    call = (
        ta.copy(),
        ya.copy(),
        {
            "degree": int(degree),
            "seasonal_period": seasonal_period,
            "harmonics": int(harmonics),
            "weights": None if weights is None else np.array(weights, dtype=float),
            "higher_is_worse": higher_is_worse,
            "alpha": alpha,
            "errors": errors,
            "scale": scale,
            "regime": regime,
        },
    )
    if ta.shape[0] != ya.shape[0]:
        raise ValueError(f"t has {ta.shape[0]} rows but y has {ya.shape[0]}")
    if errors not in ("auto", "iid", "ar1"):
        raise ValueError(f"errors must be 'auto', 'iid' or 'ar1', got {errors!r}")
    if scale not in ("auto", "linear", "log"):
        raise ValueError(f"scale must be 'auto', 'linear' or 'log', got {scale!r}")
    if weights is not None and errors == "ar1":
        raise ValueError("errors='ar1' does not combine with weights")
    degree, harmonics = int(degree), int(harmonics)
    notes: list[str] = []
    regime_start: float | None = None
    if regime:
        needed = degree + 2 * harmonics + 2
        cut = _last_regime(ta, ya, weights, needed, _REGIME_PENALTY)
        if cut[3] is None and ta.shape[0] <= _AUTO_MAX_ROWS:
            # No change at the strict penalty; a series that levels off (a
            # significant curvature against the slope, a separate test) is cut at
            # detect_changepoints' own default penalty.
            whole = fit_trend(
                ta,
                ya,
                degree=degree,
                seasonal_period=seasonal_period,
                harmonics=harmonics,
                weights=weights,
                higher_is_worse=higher_is_worse,
                alpha=alpha,
                errors=errors,
                scale=scale,
            )
            if any(_LEVELS_OFF in w for w in whole.warnings):
                cut = _last_regime(ta, ya, weights, needed, None)
        ta, ya, weights, regime_start = cut
        if regime_start is not None:
            notes.append(
                f"Fitted on the {ta.shape[0]} points since the change point at "
                f"t = {regime_start:g} (detect_changepoints); earlier data left out."
            )
    wa = optional_weights(weights)
    if scale == "log" and not bool(np.all(ya > 0.0)):
        bad = int(np.flatnonzero(~(ya > 0.0))[0])
        raise ValueError(f"scale='log' needs y > 0, got y[{bad}] = {ya[bad]!r}")
    core = _core.TrendModel(ta, ya, degree, period, harmonics, wa)
    small = ta.shape[0] <= _AUTO_MAX_ROWS
    if scale == "auto":
        scale = "log" if small and _spread_grows(core, ta, ya) else "linear"
    yfit = np.log(ya) if scale == "log" else ya
    if scale == "log":
        core = _core.TrendModel(ta, yfit, degree, period, harmonics, wa)
    fit: Any = core
    phi = 0.0
    diagnostics: dict[str, float] = {}
    if (errors == "ar1" or (errors == "auto" and small and wa is None)) and (
        ta.shape[0] >= core.nobs
    ):
        fit, phi, diagnostics = _ar1_fit(
            core, ta, yfit, degree, period, harmonics, force=errors == "ar1"
        )
        p_ac = diagnostics.get("lag1_pvalue", 1.0)
        if p_ac < _WARN_P:
            notes.append(
                "Residuals are autocorrelated (lag-1 r = "
                f"{diagnostics['lag1']:.2f}, Durbin-Watson "
                f"{diagnostics['durbin_watson']:.2f}, p = {p_ac:.2g}): fitted with "
                f"AR(1) noise, phi = {phi:.2f}; intervals account for it."
                if phi > 0.0
                else "Residuals are autocorrelated (lag-1 r = "
                f"{diagnostics['lag1']:.2f}, p = {p_ac:.2g}) but times repeat: "
                "the intervals assume independent noise and are too narrow."
            )
    elif small:
        diagnostics = _lag1_test(core.residuals(ta, yfit)[np.argsort(ta)])
        if diagnostics["lag1_pvalue"] < _WARN_P:
            notes.append(
                "Residuals are autocorrelated (lag-1 r = "
                f"{diagnostics['lag1']:.2f}, Durbin-Watson "
                f"{diagnostics['durbin_watson']:.2f}, p = "
                f"{diagnostics['lag1_pvalue']:.2g}): the intervals assume independent "
                "noise and are too narrow; use errors='ar1'."
            )
    if small:
        autocorrelated = fit is core and diagnostics.get("lag1_pvalue", 1.0) < _WARN_P
        notes.extend(
            _lack_of_fit(
                fit, ta, yfit, degree, period, harmonics, phi, runs=not autocorrelated
            )
        )
    trend = Trend(
        fit,
        ta,
        ya,
        seasonal_period,
        higher_is_worse,
        alpha,
        scale=scale,
        errors="ar1" if phi > 0.0 else "iid",
        phi=phi,
        regime_start=regime_start,
        warnings=tuple(notes),
        diagnostics=diagnostics,
    )
    trend._call = call
    return trend


def _refit_trend(t: NDArray[Any], y: NDArray[Any], options: dict[str, Any]) -> Trend:
    """The Trend that ``fit_trend(t, y, **options)`` gives (how a Trend unpickles)."""
    return fit_trend(t, y, **options)


def _last_regime(
    t: NDArray[Any],
    y: NDArray[Any],
    weights: ArrayLike | None,
    needed: int,
    penalty: float | None,
) -> tuple[NDArray[Any], NDArray[Any], ArrayLike | None, float | None]:
    """The rows since the last change point of `y` in time order (perfstats'
    `detect_changepoints`, piecewise-linear model), when it leaves enough rows."""
    from perfstats.stats.changepoints import detect_changepoints

    if t.shape[0] < 20:  # two segments of detect_changepoints' min_size
        return t, y, weights, None
    order = np.argsort(t, kind="stable")
    cps = detect_changepoints(y[order], penalty=penalty)
    if len(cps) == 0:
        return t, y, weights, None
    start = int(cps[-1].index)
    if order.shape[0] - start < max(needed, 3):
        return t, y, weights, None
    keep = np.sort(order[start:])
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[keep]
    return t[keep], y[keep], w, float(t[order[start]])


def _spread_grows(core: Any, t: NDArray[Any], y: NDArray[Any]) -> bool:
    """Multiplicative noise: all y > 0 and |residual| rises with the fitted level
    (Fisher-z test of their correlation, one-sided p < 0.05)."""
    n = y.shape[0]
    if n < 8 or not bool(np.all(y > 0.0)):
        return False
    e = np.abs(np.asarray(core.residuals(t, y)))
    fitted = y - np.asarray(core.residuals(t, y))
    if np.ptp(fitted) <= 0.0 or np.ptp(e) <= 0.0:
        return False
    r = float(np.corrcoef(e, fitted)[0, 1])
    z = math.atanh(min(max(r, -0.999999), 0.999999)) * math.sqrt(n - 3)
    return _norm_sf(z) < 0.05


def _lag1_test(e: NDArray[Any]) -> dict[str, float]:
    n = e.shape[0]
    r = _lag1(e)
    dw = float(np.sum(np.diff(e) ** 2) / (e @ e)) if float(e @ e) > 0 else math.nan
    return {
        "lag1": r,
        "durbin_watson": dw,
        # one-sided test of positive autocorrelation, r ~ N(0, 1/n) under independence
        "lag1_pvalue": _norm_sf(r * math.sqrt(n)),
    }


def _ar1_fit(
    core: Any,
    t: NDArray[Any],
    y: NDArray[Any],
    degree: int,
    period: float,
    harmonics: int,
    *,
    force: bool,
) -> tuple[Any, float, dict[str, float]]:
    """Iterated Prais-Winsten (feasible GLS) with a bias-corrected phi; the OLS core
    fit when the corrected phi is 0 (and not forced) or times repeat."""
    order = np.argsort(t, kind="stable")
    ts = t[order]
    e = np.asarray(core.residuals(t, y))[order]
    diag = _lag1_test(e)
    diffs = np.diff(ts)
    if np.any(diffs <= 0.0):
        if force:
            raise ValueError("errors='ar1' needs distinct times t")
        return core, 0.0, diag
    step = float(np.median(diffs))
    names = list(core.names)
    n, p = ts.shape[0], len(names)
    phi = _phi_corrected(diag["lag1"], n, p)
    if phi <= 0.0 and not force:
        return core, 0.0, diag
    fit: Any = core
    try:
        for _ in range(3):
            fit = _Ar1Fit(t, y, names, degree, period, harmonics, phi, step)
            r = _lag1(np.asarray(fit.residuals(ts, y[order])))
            phi = _phi_corrected(r, n, p)
            if phi <= 0.0 and not force:
                return core, 0.0, diag
        fit = _Ar1Fit(t, y, names, degree, period, harmonics, phi, step)
    except ValueError:
        # The whitened design is too ill-conditioned for the core's refinement (a
        # high degree on few points): "auto" keeps least squares, "ar1" says why.
        if force:
            raise
        return core, 0.0, diag
    diag["phi"] = phi
    return fit, phi, diag


def _runs_pvalue(e: NDArray[Any]) -> float:
    """One-sided Wald-Wolfowitz runs test of residual signs: too few runs (streaks)."""
    s = np.sign(e[e != 0.0])
    n1, n2 = int(np.sum(s > 0)), int(np.sum(s < 0))
    n = n1 + n2
    if n1 == 0 or n2 == 0 or n < 8:
        return 1.0
    runs = 1 + int(np.sum(s[1:] != s[:-1]))
    mu = 2.0 * n1 * n2 / n + 1.0
    var = 2.0 * n1 * n2 * (2.0 * n1 * n2 - n) / (n * n * (n - 1.0))
    return 1.0 - _norm_sf((runs - mu) / math.sqrt(var)) if var > 0 else 1.0


def _lack_of_fit(
    fit: Any,
    t: NDArray[Any],
    y: NDArray[Any],
    degree: int,
    period: float,
    harmonics: int,
    phi: float,
    *,
    runs: bool = True,
) -> list[str]:
    """Curvature (one more polynomial degree, same noise model) and a runs test on
    the (whitened) residual signs; sentences for those below the warning level."""
    out: list[str] = []
    n = t.shape[0]
    if n < degree + 2 * harmonics + 4:
        return out
    order = np.argsort(t, kind="stable")
    if np.any(np.diff(t[order]) <= 0.0):
        return out
    step = float(np.median(np.diff(t[order])))
    names = [*list(fit.names[: degree + 1]), f"t^{degree + 1}"]
    names += list(fit.names[degree + 1 :])
    try:
        bigger = _Ar1Fit(t, y, names, degree + 1, period, harmonics, phi, step)
    except ValueError:  # rank deficient: nothing to test
        return out
    p_curve = float(bigger._lm.p_values[degree + 1])
    if p_curve < _WARN_P:
        top = float(bigger._b[degree + 1])
        slope = float(fit.slope_at(float(fit.t_max))[0])
        shape = _LEVELS_OFF if degree == 1 and top * slope < 0.0 else "curves"
        out.append(
            f"The series {shape}: a degree-{degree + 1} term is significant "
            f"(p = {p_curve:.2g}), so the degree-{degree} trend misfits and its "
            "forecast may overshoot; fit the recent regime (regime=True) or a higher "
            "degree."
        )
    if isinstance(fit, _Ar1Fit):
        e = fit.whitened_residuals
    else:
        e = np.asarray(fit.residuals(t, y))[order]
    p_runs = _runs_pvalue(e) if runs else 1.0
    if p_runs < _WARN_P:
        out.append(
            f"The residuals run in long streaks of one sign (runs test p = "
            f"{p_runs:.2g}): the trend's shape misfits the data."
        )
    return out


class Trend(FittedCoefficients):
    """A fitted trend (from `fit_trend`): coefficients, tests, predictions, forecasts.

    Coefficients are named ``intercept, t, t^2, ..., sin1, cos1, ...`` and apply to the
    caller's `t`. `direction` tests the slope of the polynomial part at the last
    observed time (seasonal terms excluded). `errors`, `phi`, `scale` and
    `regime_start` say how it was fitted; `warnings` holds the diagnostics' findings as
    sentences (also in ``repr``, the HTML view and `to_dict`).
    """

    def __init__(
        self,
        core: Any,
        t: NDArray[Any],
        y: NDArray[Any],
        seasonal_period: float | None,
        higher_is_worse: bool,
        alpha: float,
        *,
        scale: str = "linear",
        errors: str = "iid",
        phi: float = 0.0,
        regime_start: float | None = None,
        warnings: tuple[str, ...] = (),
        diagnostics: dict[str, float] | None = None,
    ) -> None:
        self._fit = core
        self._t = t
        self._y = y
        self._yfit = np.log(y) if scale == "log" else y
        self._names = list(core.names)
        self._seasonal_period = seasonal_period
        self._higher_is_worse = bool(higher_is_worse)
        self._alpha = float(alpha)
        self._scale = scale
        self._errors = errors
        self._phi = float(phi)
        self._regime_start = regime_start
        self._warnings = tuple(warnings)
        self._diagnostics = dict(diagnostics or {})
        # set by fit_trend: its arguments, which a pickle holds instead of the core model
        self._call: tuple[NDArray[Any], NDArray[Any], dict[str, Any]] | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if self._call is None:
            raise TypeError("only a Trend made by fit_trend can be pickled")
        return (_refit_trend, self._call)

    @property
    def scale(self) -> str:
        """ "linear", or "log" when y was fitted as log(y): coefficients, residuals
        and standard errors are then of log(y); predictions, bands and `slope` are
        back-transformed to units of y (the mean of log(y) gives the median)."""
        return self._scale

    @property
    def errors(self) -> str:
        """Noise model of the fit: "iid" (least squares) or "ar1" (feasible GLS)."""
        return self._errors

    @property
    def phi(self) -> float:
        """AR(1) coefficient of the noise per median time step (0 for "iid")."""
        return self._phi

    @property
    def regime_start(self) -> float | None:
        """First time of the fitted regime when ``regime=True`` cut earlier data at
        a detected change point, else None."""
        return self._regime_start

    @property
    def warnings(self) -> tuple[str, ...]:
        """Diagnostic findings as plain sentences (autocorrelation, regime, lack of
        fit); empty when none applies."""
        return self._warnings

    @property
    def diagnostics(self) -> dict[str, float]:
        """Residual lag-1 autocorrelation ``lag1``, its one-sided p-value
        ``lag1_pvalue``, ``durbin_watson`` and the AR(1) ``phi`` when fitted."""
        return dict(self._diagnostics)

    def recent_level(self) -> float:
        """Observed recent level: the median of the last three observations (fewer
        when there are fewer), in units of y."""
        last = self._y[np.argsort(self._t, kind="stable")[-3:]]
        return float(np.median(last))

    def _level_at(self, t: float) -> float:
        mean = self._fit.predict(np.array([t]), "confidence", 0.95, False)[0]
        return float(np.asarray(mean)[0])

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
        return np.asarray(self._fit.residuals(self._t, self._yfit))

    @property
    def t_last(self) -> float:
        """Latest observed time."""
        return float(self._fit.t_max)

    @property
    def slope(self) -> float:
        """Slope of the polynomial part at `t_last`, in units of y per unit of t
        (on the log scale: the fitted median's slope, exp(f) f')."""
        est = float(self._fit.slope_at(self.t_last)[0])
        if self._scale == "log":
            est *= math.exp(self._level_at(self.t_last))
        return est

    @property
    def slope_se(self) -> float:
        """Standard error of `slope` (delta method on the log scale)."""
        se = float(self._fit.slope_at(self.t_last)[1])
        if self._scale == "log":
            se *= math.exp(self._level_at(self.t_last))
        return se

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
        (``mean_ci_*`` and ``obs_ci_*``) for least squares. With AR(1) noise a
        prediction after `t_last` is the AR forecast: the trend plus ``phi^h`` of the
        last residual (h in median steps), with variance ``sigma^2 (1 - phi^2h)``
        plus that of the estimate, so the band covers new observations at its level;
        a confidence interval bounds the trend itself. On the log scale all three are
        back-transformed (exp) and `se` is the delta-method one. Unpacks as
        ``mean, lower, upper``.
        """
        check_interval(interval, level)
        ta = float_array(t_new, "t_new", (0, 1)).reshape(-1)
        # The standard errors are an array the band does not need: computed on request.
        mean, _, lower, upper = self._fit.predict(ta, interval, level, False)
        if self._scale == "log":
            mean, lower, upper = np.exp(mean), np.exp(lower), np.exp(upper)

        def standard_error() -> NDArray[Any]:
            se = np.asarray(self._fit.predict(ta, interval, level)[1])
            return se * mean if self._scale == "log" else se

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

    def crossing_now(self, threshold: float) -> bool:
        """Whether the observed recent level (:meth:`recent_level`) is already at or
        above `threshold` (at or below when lower is worse)."""
        level = self.recent_level()
        return level >= threshold if self._higher_is_worse else level <= threshold

    def time_to_threshold(
        self,
        threshold: float,
        *,
        level: float = 0.95,
        max_horizon: float | None = None,
        bound: Literal["mean", "band"] = "mean",
    ) -> float | None:
        """When the forecast crosses `threshold`, in units of `t`, or None.

        ``bound="mean"`` (the default): `t_last` ("crossing now") only when the
        observed recent level is at or above the threshold (:meth:`crossing_now`),
        else the first time after `t_last` when the forecast mean (with AR(1) noise:
        the AR forecast) reaches it, so a series that levels off below the threshold
        is not forecast to cross. ``bound="band"``: the first time at or after
        `t_last` when the `level` prediction band reaches it (the upper bound with
        ``higher_is_worse``, else the lower); `t_last` then means the band already
        reaches the threshold, not that the metric does. None when it does not cross
        within `max_horizon` after `t_last` (default: the span of the observed times,
        since extrapolating further is rarely defensible). Scanned on a grid of 4096
        points, the first crossing refined by bisection.
        """
        thr = float(threshold)
        if not math.isfinite(thr):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        if bound not in ("mean", "band"):
            raise ValueError(f"bound must be 'mean' or 'band', got {bound!r}")
        check_interval("prediction", level)
        span = float(self._fit.t_max - self._fit.t_min)
        horizon = span if max_horizon is None else float(max_horizon)
        if not (horizon > 0.0 and math.isfinite(horizon)):
            raise ValueError(
                f"max_horizon must be positive and finite, got {max_horizon!r}"
            )
        sign = 1.0 if self._higher_is_worse else -1.0
        if bound == "mean" and self.crossing_now(thr):
            return self.t_last

        def excess(times: NDArray[Any]) -> NDArray[Any]:
            mean, lower, upper = self.predict(times, interval="prediction", level=level)
            if bound == "mean":
                value = mean
            else:
                value = upper if self._higher_is_worse else lower
            return sign * (np.asarray(value) - thr)

        grid = self.t_last + horizon * np.linspace(0.0, 1.0, _GRID)
        over = excess(grid) >= 0.0
        if bound == "mean":
            over[0] = False  # "now" is decided by the observed level above
        hit = np.flatnonzero(over)
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
            "scale": self._scale,
            "errors": self._errors,
            "phi": self._phi,
            "regime_start": self._regime_start,
            "diagnostics": self.diagnostics,
            "warnings": list(self._warnings),
        }

    def _view(self) -> View:
        season = (
            "none"
            if self._seasonal_period is None
            else f"period {self._seasonal_period:g}, {self.harmonics} harmonic(s)"
        )
        fields = {
            "nobs": self.nobs,
            "degree": self.degree,
            "seasonal": season,
            "R²": self.r_squared,
            "residual SE": self.residual_std_error,
            "slope at t_last": self.slope,
            "slope SE": self.slope_se,
            "direction": self.direction,
            "scale": self._scale,
            "noise": "iid" if self._phi == 0.0 else f"AR(1), phi {self._phi:.3g}",
        }
        return View(
            "Trend",
            fields,
            {"coefficients": self._coefficient_table()},
            warnings=self._warnings,
        )

    def plot(
        self, ax: Axes | None = None, *, level: float = 0.95, horizon: int = 0
    ) -> Axes:
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
