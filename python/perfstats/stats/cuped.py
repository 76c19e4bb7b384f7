"""CUPED: variance reduction of a two-arm difference by a pre-period covariate.

The arithmetic on per-unit arrays (Deng, Xu, Kohavi and Walker 2013): the difference of
the arms' means of a per-unit metric ``y`` adjusted by the same units' pre-period value
``x``, ``theta`` being the within-arm regression slope of ``y`` on ``x`` pooled over the
two arms. That is exactly the coefficient of the arm indicator in the least-squares fit
``y ~ 1 + arm + (x - mean(x))``, and the standard error is that fit's heteroskedasticity-
consistent HC2 error, which includes the uncertainty of ``theta`` and with no covariate
equals Welch's. Ratio metrics (a mean per request of units with many requests: sums
``y`` over counts ``y_count``) are linearised first by the delta method, as Deng et al.
(2013, appendix) and GrowthBook's gbstats do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from perfstats._result import Result
from perfstats._special import t_sf

__all__ = ["Cuped", "cuped"]

_F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, repr=False)
class Cuped(Result):
    """Outcome of :func:`cuped`: adjusted means of both arms and their covariance.

    Attributes
    ----------
    mean_treatment, mean_control : float
        Adjusted means of each arm (the metric's unit: a per-unit value, or a mean per
        request for a ratio metric), centred on the pooled pre-period mean, so their
        difference is the adjusted effect.
    unadjusted_treatment, unadjusted_control : float
        The arms' plain means (ratio metrics: sum of ``y`` over sum of ``y_count``).
    covariance : tuple of tuple of float
        2 x 2 covariance (HC2) of (mean_treatment, mean_control).
    theta : float
        Regression slope of the metric on its pre-period value, pooled within arms
        (0 when there is no covariate or it is constant).
    variance_reduction : float
        ``1 - var(adjusted difference) / var(unadjusted difference)``: 0.3 means the
        variance fell by 30 % (negative when the covariate is noise).
    units_treatment, units_control : int
        Units in each arm.
    units_without_pre : int
        Units with no pre-period data, given the pooled pre-period mean.
    df_parts : tuple of float
        Each arm's share of the variance of the difference (for Welch's degrees of
        freedom in :meth:`contrast`).
    """

    mean_treatment: float
    mean_control: float
    unadjusted_treatment: float
    unadjusted_control: float
    covariance: tuple[tuple[float, float], tuple[float, float]]
    theta: float
    variance_reduction: float
    units_treatment: int
    units_control: int
    units_without_pre: int
    df_parts: tuple[float, float]

    _title = "CUPED (pre-period adjusted difference)"

    @property
    def difference(self) -> float:
        """Adjusted difference of the means, treatment minus control."""
        return self.mean_treatment - self.mean_control

    @property
    def se(self) -> float:
        """Standard error of :attr:`difference`."""
        return self.contrast()[1]

    def contrast(
        self, scale: float = 1.0, shift: float = 0.0
    ) -> tuple[float, float, float]:
        """``(mean_treatment - scale * mean_control - shift, its standard error, df)``.

        ``scale = 1 + margin`` tests a relative margin exactly; ``df`` is Welch-
        Satterthwaite's from the arms' residual variances.
        """
        (vaa, vab), (_, vbb) = self.covariance
        gap = self.mean_treatment - scale * self.mean_control - shift
        var = vaa + scale * scale * vbb - 2.0 * scale * vab
        se = math.sqrt(max(var, 0.0))
        pa, pb = self.df_parts[0], scale * scale * self.df_parts[1]
        den = (pa * pa / (self.units_treatment - 1) if pa else 0.0) + (
            pb * pb / (self.units_control - 1) if pb else 0.0
        )
        df = (pa + pb) ** 2 / den if den > 0 else math.inf
        return gap, se, df

    def pvalue(self) -> float:
        """Two-sided p-value of "no difference" (Welch t on the adjusted difference)."""
        gap, se, df = self.contrast()
        if se == 0:
            return 1.0 if gap == 0 else 0.0
        return min(1.0, 2.0 * t_sf(abs(gap) / se, df))

    def critical(self, confidence: float) -> float:
        """Two-sided Student t quantile of the difference at ``confidence``."""
        df = self.contrast()[2]
        target = (1.0 - confidence) / 2.0
        lo, hi = 0.0, 1.0
        while t_sf(hi, df) > target:
            lo, hi = hi, 2.0 * hi
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if t_sf(mid, df) > target else (lo, mid)
        return hi

    def log_ratio(self) -> tuple[float, float]:
        """``log(mean_treatment / mean_control)`` and its delta-method standard error
        (NaN unless both means are positive)."""
        a, b = self.mean_treatment, self.mean_control
        if not (a > 0 and b > 0):
            return math.nan, math.nan
        (vaa, vab), (_, vbb) = self.covariance
        var = vaa / (a * a) + vbb / (b * b) - 2.0 * vab / (a * b)
        return math.log(a / b), math.sqrt(max(var, 0.0))

    def to_dict(self) -> dict[str, Any]:
        """The fields and the adjusted difference with its standard error."""
        return {
            "difference": self.difference,
            "se": self.se,
            "mean_treatment": self.mean_treatment,
            "mean_control": self.mean_control,
            "unadjusted_treatment": self.unadjusted_treatment,
            "unadjusted_control": self.unadjusted_control,
            "theta": self.theta,
            "variance_reduction": self.variance_reduction,
            "units_treatment": self.units_treatment,
            "units_control": self.units_control,
            "units_without_pre": self.units_without_pre,
        }


def _array(values: npt.ArrayLike, name: str, n: int | None) -> _F64:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numbers: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if n is not None and arr.size != n:
        raise ValueError(f"{name} has {arr.size} values, y has {n}")
    return arr


def _linearise(
    sums: _F64, counts: _F64, groups: list[npt.NDArray[np.bool_]], name: str
) -> _F64:
    """Delta-method values of a ratio of sums: within each group, the ratio R plus
    (sum - R count) / mean count, whose mean is R and whose sample variance over n is
    the delta-method variance of R."""
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError(f"{name}_count must be finite and >= 0")
    out = np.empty_like(sums)
    for g in groups:
        total = float(counts[g].sum())
        if total <= 0:
            raise ValueError(f"{name}_count: an arm has no requests (all counts 0)")
        ratio = float(sums[g].sum()) / total
        out[g] = ratio + (sums[g] - ratio * counts[g]) / (total / g.sum())
    return out


def cuped(
    y: npt.ArrayLike,
    treated: npt.ArrayLike,
    x: npt.ArrayLike | None = None,
    *,
    y_count: npt.ArrayLike | None = None,
    x_count: npt.ArrayLike | None = None,
) -> Cuped:
    """CUPED-adjusted difference of two arms' means of a per-unit metric.

    Parameters
    ----------
    y : array_like
        One value per unit (user, session) in the experiment period; with ``y_count``,
        the unit's *sum* of a per-request metric (ms, tokens, USD, failures).
    treated : array_like of bool
        True for the units of the treatment arm, False for the control arm.
    x : array_like, optional
        The same metric of the same unit in the pre-period (same unit as ``y``);
        NaN marks a unit with no pre-period data, which gets the pooled pre-period
        mean. With ``x_count``, the unit's pre-period sum. None: no adjustment (the
        plain, or delta-method, difference with a Welch standard error).
    y_count, x_count : array_like, optional
        Requests behind ``y`` and ``x`` per unit (ratio metrics: the mean per request
        is sum over count, analysed by the delta method). A unit with
        ``x_count == 0`` has no pre-period data: its linearised covariate is the
        pooled pre-period mean.

    Returns
    -------
    Cuped
        Adjusted means, their HC2 covariance, ``theta`` and the variance reduction.

    Notes
    -----
    ``theta`` is the slope of ``y`` on ``x`` within arms, pooled over both; the
    difference and its standard error are the coefficient of ``treated`` and its HC2
    error in the least-squares fit ``y ~ 1 + treated + (x - mean(x))`` (statsmodels
    ``OLS(...).fit(cov_type="HC2")``), which accounts for estimating ``theta``; with
    no covariate they are Welch's. Tests use Welch-Satterthwaite degrees of freedom
    from the arms' HC2 residuals. The covariate of a ratio metric is the pooled-linearised pre-period mean
    ``P + (x - P x_count) / mean(x_count)`` (P: pooled pre-period ratio), a function of
    pre-period data only, so the adjustment cannot bias the difference; it differs
    from gbstats' per-arm ratios only in second-order terms.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(100, 20, 2000)                # each user's pre-period metric
    >>> treated = np.arange(2000) % 2 == 0
    >>> y = x + rng.normal(0, 5, 2000) - 2 * treated # the change lowers it by 2
    >>> r = cuped(y, treated, x)
    >>> round(r.difference, 1), round(r.se, 2), round(r.theta, 2)
    (-2.2, 0.22, 1.0)
    >>> round(cuped(y, treated).se, 2)               # without the pre-period
    0.92
    >>> round(r.variance_reduction, 2)
    0.94
    """
    yv = _array(y, "y", None)
    n = yv.size
    t = np.asarray(treated)
    if t.shape != (n,):
        raise ValueError(f"treated has shape {t.shape}, y has {n} values")
    if t.dtype != np.bool_:
        raise TypeError(f"treated must be booleans, got dtype {t.dtype}")
    groups = [t, ~t]
    na, nb = int(t.sum()), int(n - t.sum())
    if na < 2 or nb < 2:
        raise ValueError(
            f"each arm needs >= 2 units, got {na} treated and {nb} control"
        )
    if not np.all(np.isfinite(yv)):
        raise ValueError("y has NaN or infinite values")
    z = (
        yv
        if y_count is None
        else _linearise(yv, _array(y_count, "y_count", n), groups, "y")
    )

    w: _F64 | None = None
    without = 0
    if x is not None:
        xv = _array(x, "x", n)
        if x_count is None:
            missing = np.isnan(xv)
            if np.any(np.isinf(xv)):
                raise ValueError("x has infinite values")
            without = int(missing.sum())
            if without < n:
                w = np.where(missing, float(xv[~missing].mean()), xv)
        else:
            m = _array(x_count, "x_count", n)
            if np.any(m < 0) or not np.all(np.isfinite(m)):
                raise ValueError("x_count must be finite and >= 0")
            if not np.all(np.isfinite(xv)):
                raise ValueError("x has NaN or infinite values (use x_count = 0)")
            without = int((m == 0).sum())
            if without < n:
                pooled = float(xv.sum() / m.sum())
                w = pooled + (xv - pooled * m) / float(m.mean())
        if w is not None and np.ptp(w) == 0:
            w = None

    cols = [t.astype(np.float64), (~t).astype(np.float64)]
    if w is not None:
        cols.append(w - w.mean())
    design = np.column_stack(cols)
    q, r = np.linalg.qr(design)
    if w is not None and abs(r[2, 2]) <= 1e-12 * abs(r).max():
        design, q, r = design[:, :2], q[:, :2], r[:2, :2]  # covariate = arm indicator
        w = None
    coef = np.linalg.solve(r, q.T @ z)
    resid = z - design @ coef
    lev = np.einsum("ij,ij->i", q, q)
    omega = resid * resid / np.maximum(1.0 - lev, 1e-300)
    rinv = np.linalg.inv(r)
    bread = rinv @ rinv.T  # (X'X)^-1
    meat = design.T @ (design * omega[:, None])
    cov = bread @ meat @ bread
    theta = float(coef[2]) if w is not None else 0.0

    var_adj = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    var_plain = sum(float(np.var(z[g], ddof=1)) / int(g.sum()) for g in groups)
    reduction = 1.0 - var_adj / var_plain if var_plain > 0 else 0.0
    parts = (float(omega[t].sum()) / na**2, float(omega[~t].sum()) / nb**2)
    return Cuped(
        mean_treatment=float(coef[0]),
        mean_control=float(coef[1]),
        unadjusted_treatment=float(z[t].mean()),
        unadjusted_control=float(z[~t].mean()),
        covariance=(
            (float(cov[0, 0]), float(cov[0, 1])),
            (float(cov[1, 0]), float(cov[1, 1])),
        ),
        theta=theta,
        variance_reduction=reduction,
        units_treatment=na,
        units_control=nb,
        units_without_pre=without,
        df_parts=parts,
    )
