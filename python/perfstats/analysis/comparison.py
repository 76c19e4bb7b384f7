"""compare: A/B comparison of variants per metric, with Holm correction and verdicts."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from perfstats._display import View
from perfstats._errors import Arg, ArgumentError
from perfstats._errors import braces as _braces
from perfstats._json import json_scalar
from perfstats._result import Result
from perfstats._special import binom_cdf, binom_ppf, norm_sf, t_sf
from perfstats.analysis.findings import crossed_units, crossed_units_message
from perfstats.analysis.pre_period import CUPED_METRICS, split_pre_period, unit_fit
from perfstats.analysis.summary import events_frame
from perfstats.io.events import as_events
from perfstats.io.failure import failed as failed_requests
from perfstats.stats.cuped import Cuped
from perfstats.stats.hypothesis_tests import (
    SRMResult,
    required_sample_size,
    srm_test,
    welch_t_test,
)
from perfstats.stats.intervals import newcombe_difference_interval, rate_ratio_interval
from perfstats.stats.moments import Moments, long_run_variance_ratio

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "DEFAULT_MARGINS",
    "METRICS",
    "MIN_REQUESTS",
    "SEQUENTIAL_TUNING",
    "Comparison",
    "MetricSample",
    "compare",
    "compare_samples",
    "comparison_plan",
    "holm",
    "metric_values",
    "quantile_ranks",
]

#: Metric name -> how it is built from events. Every metric here is better when lower.
METRICS: dict[str, str] = {
    "latency": "latency_ms per successful request, geometric means (log scale)",
    "error_rate": "share of failed requests (perfstats.io.failure.FAILURE_DEFINITION)",
    "tokens": "input_tokens + output_tokens per request, means",
    "cost_per_request": "cost_usd per request, means",
    "latency_p50": "median latency_ms of successful requests",
    "latency_p95": "95th percentile latency_ms of successful requests",
    "latency_p99": "99th percentile latency_ms of successful requests",
}

#: Non-inferiority / equivalence margin of each metric: relative (0.02 is 2 %) except
#: ``error_rate``, an absolute difference of rates (0.005 is half a percentage point).
DEFAULT_MARGINS: dict[str, float] = {
    "latency": 0.02,
    "error_rate": 0.005,
    "tokens": 0.05,
    "cost_per_request": 0.05,
    "latency_p50": 0.05,
    "latency_p95": 0.05,
    "latency_p99": 0.05,
}

#: Requests each arm needs before :func:`compare` gives any verdict but "keep running".
MIN_REQUESTS = 100

#: Default of ``sequential_tuning``: the total sample size (both arms) at which the
#: confidence sequence is tightest, as GrowthBook's ``sequentialTuningParameter``.
SEQUENTIAL_TUNING = 5000
#: :attr:`Comparison.unit` when no randomisation unit is used.
INDEPENDENT = "independent requests, Newey-West over time"
#: Columns ``unit="auto"`` tries, in order.
_AUTO_UNITS = ("user_id", "session_id")
AUTO_UNITS = _AUTO_UNITS

_QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}
_DEFAULT_METRICS = tuple(METRICS)
_DEFAULT_PRIMARY = ("latency",)


def holm(pvalues: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def metric_values(
    frame: pd.DataFrame, metric: str, bad: npt.NDArray[np.bool_] | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]] | None:
    """One metric's per-request values, as :func:`compare` tests them.

    Parameters
    ----------
    frame : pandas.DataFrame
        Events of one arm (canonical schema).
    metric : str
        One of :data:`METRICS`.
    bad : numpy.ndarray of bool or None
        The failed requests (:func:`perfstats.io.failure.failed` of `frame`).

    Returns
    -------
    tuple of numpy.ndarray, or None
        The values: latency (ms) of successful requests with a positive latency for
        latency metrics, 1.0/0.0 per failed/ok request for error_rate, tokens or
        USD per request with a known value; and their row positions in `frame`.
        None when `frame` lacks the columns.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"latency_ms": [120.0, 0.0, 80.0, None]})
    >>> values, rows = metric_values(ev, "latency", None)
    >>> values.tolist(), rows.tolist()
    ([120.0, 80.0], [0, 2])
    """
    cols = frame.columns
    rows = np.arange(len(frame))
    if metric == "latency" or metric in _QUANTILES:
        if "latency_ms" not in cols:
            return None
        lat = frame["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
        keep = lat > 0  # False for NaN
        if bad is not None:
            keep &= ~bad
        return lat[keep], rows[keep]
    if metric == "error_rate":
        return None if bad is None else (bad.astype(np.float64), rows)
    if metric == "tokens":
        parts = [c for c in ("input_tokens", "output_tokens") if c in cols]
        if not parts:
            return None
        total = sum(frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in parts)
        arr = np.asarray(total, dtype=np.float64)
        keep = ~np.isnan(arr)
        return arr[keep], rows[keep]
    if metric == "cost_per_request":
        if "cost_usd" not in cols:
            return None
        arr = frame["cost_usd"].to_numpy(dtype=np.float64, na_value=np.nan)
        keep = ~np.isnan(arr)
        return arr[keep], rows[keep]
    raise ValueError(f"unknown metric {metric!r}; choose from {sorted(METRICS)}")


def event_times(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Request times as int64 nanoseconds since the epoch (UTC), as :func:`compare`
    orders requests in time (events_frame guarantees a complete ``timestamp``).

    Examples
    --------
    >>> import pandas as pd
    >>> event_times(pd.DataFrame({"timestamp": ["1970-01-01T00:00:01Z"]})).tolist()
    [1000000000]
    """
    import pandas as pd

    ts = pd.to_datetime(frame["timestamp"], utc=True)
    return ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)


@dataclass(frozen=True, eq=False)
class MetricSample:
    """One arm's values of one metric, reduced to what :func:`compare` uses, so that
    arms summarized elsewhere (merged partitions: ``perfstats.dask.compare``) get the
    same tests as arrays in memory.

    Attributes
    ----------
    size : int
        Number of values.
    total : float
        Their sum (error_rate: the failed requests).
    average, variance : float
        Mean and variance (ddof=1) on the test scale: of the logs for "latency",
        of the values otherwise (NaN for quantile metrics, and the variance for
        fewer than 2 values).
    low, high : float
        Smallest and largest value (raw scale).
    moments : Moments or None
        :class:`Moments` of the values on the test scale (the Welch test's input).
    order : callable or None
        Quantile metrics: ``order(k)`` is the k-th smallest value (1-based); it may
        hold only the ranks :func:`quantile_ranks` names.
    quantile : callable or None
        Quantile metrics: ``quantile(q)``, as ``numpy.quantile`` (linear).

    Examples
    --------
    >>> s = MetricSample.of([3.0, 1.0, 2.0], "latency_p50")
    >>> s.size, s.order(1), s.quantile(0.5)
    (3, 1.0, 2.0)
    """

    size: int
    total: float
    average: float
    variance: float
    low: float
    high: float
    moments: Moments | None = None
    order: Callable[[int], float] | None = None
    quantile: Callable[[float], float] | None = None

    def mean(self) -> float:
        """The mean on the test scale (``average``)."""
        return self.average

    def sum(self) -> float:
        """The sum of the values (``total``)."""
        return self.total

    @classmethod
    def of(cls, values: npt.ArrayLike, metric: str) -> MetricSample:
        """The sample of `values` (from :func:`metric_values`) for `metric`."""
        x = np.asarray(values, dtype=np.float64)
        n = int(x.size)
        low = float(x.min()) if n else math.nan
        high = float(x.max()) if n else math.nan
        if metric in _QUANTILES:
            s = np.sort(x)
            return cls(
                size=n, total=float(s.sum()), average=math.nan,
                variance=math.nan, low=low, high=high,
                order=lambda k: float(s[k - 1]),
                quantile=lambda q: float(np.quantile(s, q)),
            )  # fmt: skip
        t = np.log(x) if metric == "latency" else x
        return cls(
            size=n, total=float(x.sum()), average=float(t.mean()) if n else math.nan,
            variance=float(np.var(t, ddof=1)) if n > 1 else math.nan,
            low=low, high=high, moments=Moments(t) if n else None,
        )  # fmt: skip


def _cs_halfwidth(se: float, n_total: float, alpha: float, tuning: float) -> float:
    """Half-width of the asymptotic confidence sequence (Waudby-Smith et al. 2023,
    as in GrowthBook's gbstats) of an estimate with standard error ``se`` after
    ``n_total`` units, at level ``alpha`` (valid at every look)."""
    la = -2.0 * math.log(alpha)
    rho2 = (la + math.log(la + 1.0)) / tuning
    s2 = se * se * n_total  # variance of one unit's contribution
    nr = n_total * rho2
    return math.sqrt(s2) * math.sqrt(
        2.0
        * (nr + 1.0)
        / (n_total * n_total * rho2)
        * math.log(math.sqrt(nr + 1.0) / alpha)
    )


def _cs_pvalue(gap: float, se: float, n_total: float, tuning: float) -> float:
    """Always-valid one-sided p-value from the two-sided confidence sequence.

    ``level`` is the smallest two-sided level whose sequence puts the estimate ``gap``
    (> 0 is evidence) beyond the null value. The sequence is the boundary of a
    symmetric normal mixture M = (M+ + M-) / 2 of the one-sided mixtures; on the side
    of the evidence M- <= 1, so crossing 1 / level needs M+ >= 2 / level - 1, which
    Ville's inequality bounds by level / (2 - level): the one-sided p-value.
    """
    if not gap > 0 or not se > 0:
        return 1.0 if not gap > 0 else 0.0
    if _cs_halfwidth(se, n_total, 1.0 - 1e-12, tuning) >= gap:
        return 1.0
    lo, hi = -700.0, math.log(1.0 - 1e-12)  # log of the two-sided level
    if _cs_halfwidth(se, n_total, math.exp(lo), tuning) < gap:
        return 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _cs_halfwidth(se, n_total, math.exp(mid), tuning) < gap:
            hi = mid
        else:
            lo = mid
    level = math.exp(hi)
    return level / (2.0 - level)


@dataclass
class Dependence:
    """How the requests of one (variant, metric) contrast depend on each other, as
    :func:`compare` accounts for it; built from events in memory by
    :func:`compare`, from merged partial sums by ``perfstats.dask.compare``.

    Attributes
    ----------
    ratio : callable or None
        ``ratio(c)``: the dependence-aware over the independent variance of the
        contrast sum of ``(a_i - mean_a) / n_a - c (b_j - mean_b) / n_b`` (on the
        log scale for latency): CR1 by unit, or Newey-West over time; None: 1.
    units : float
        Randomisation units of the two arms (inf when not clustered).
    deff : tuple of float
        Design effects of the two arms' quantiles (latency_pXX), else (1, 1).
    clustered : bool
        Whether ``ratio`` is a clustered (CR1) one: required_n uses it then.

    Examples
    --------
    >>> Dependence(lambda c: 2.0, units=40.0).ratio(1.0)
    2.0
    """

    ratio: Callable[[float], float] | None = None
    units: float = math.inf
    deff: tuple[float, float] = (1.0, 1.0)
    clustered: bool = False


@dataclass
class _Effect:
    """One metric of one arm against the baseline, on its test scale.

    ``p_below(delta)``: one-sided p-value of H0 "effect >= delta" (small = evidence
    the arm is below delta, i.e. better than the margin); ``p_above(delta)``: of H0
    "effect <= delta". Deltas are relative (a fraction) except for error_rate
    (an absolute difference of rates).
    """

    metric: str
    n: int
    n_b: int
    mean: float
    mean_b: float
    lift: float
    lift_ci: tuple[float, float]
    pvalue: float  # two-sided, no difference
    a: MetricSample
    b: MetricSample
    sequential: bool
    tuning: float
    diff_ci: tuple[float, float] = (math.nan, math.nan)
    diff: float = math.nan
    #: how the requests of the two arms depend on each other (None: independent)
    dependence: Dependence | None = None
    _ratios: dict[float, float] = field(default_factory=dict)

    @property
    def deff(self) -> tuple[float, float]:
        """Design effects of the two arms' quantiles (clustered requests), else 1."""
        return (1.0, 1.0) if self.dependence is None else self.dependence.deff

    def variance_factor(self, delta: float = 0.0) -> float:
        """Factor (>= 1) on the independent variance of the test of ``delta``: the
        cluster-robust (CR1) over the independent variance of the arm contrast when
        the randomisation unit is known, else its autocorrelation in time
        (:func:`long_run_variance_ratio` of the time-ordered contributions); 1 with
        neither (see :class:`Dependence`)."""
        dep = self.dependence
        if dep is None or dep.ratio is None or self.metric in _QUANTILES:
            return 1.0
        c = 1.0 if self.metric in ("latency", "error_rate") else 1.0 + delta
        if c not in self._ratios:
            self._ratios[c] = max(1.0, dep.ratio(c))
        return self._ratios[c]

    def units(self) -> float:
        """Number of randomisation units (inf when every request is one)."""
        return math.inf if self.dependence is None else self.dependence.units

    unit_fit: Cuped | None = None  # per-unit (CUPED) analysis, when `unit` is given
    #: variance of the test over the independent per-request one (CUPED or clustering)
    design_effect: float = 1.0

    def _gap_se(self, delta: float) -> tuple[float, float, float]:
        """(estimate - null value, its standard error, Welch df) for mean metrics;
        the standard error includes :meth:`variance_factor`."""
        a, b = self.a, self.b
        if self.unit_fit is not None:
            return _unit_gap_se(self.unit_fit, self.metric, delta, a, b)
        if self.metric == "latency":
            va, vb = a.variance / a.size, b.variance / b.size
            gap = float(a.average - b.average) - math.log1p(delta)
        elif self.metric == "error_rate":
            # Wald variance from smoothed rates, so a zero count has a variance
            pa = (a.sum() + 1.0) / (a.size + 2.0)
            pb = (b.sum() + 1.0) / (b.size + 2.0)
            va, vb = pa * (1 - pa) / a.size, pb * (1 - pb) / b.size
            gap = float(a.mean() - b.mean()) - delta
        else:
            c = 1.0 + delta
            va = a.variance / a.size
            vb = c * c * b.variance / b.size
            gap = float(a.mean()) - c * float(b.mean())
        se = math.sqrt((va + vb) * self.variance_factor(delta))
        den = (va * va / (a.size - 1) if va else 0.0) + (
            vb * vb / (b.size - 1) if vb else 0.0
        )
        df = (va + vb) ** 2 / den if den > 0 else math.inf
        return gap, se, min(df, self.units() - 1.0)

    def _n_total(self) -> int:
        f = self.unit_fit
        return self.n + self.n_b if f is None else f.units_treatment + f.units_control

    def p_below(self, delta: float) -> float:
        return self._p(delta, below=True)

    def p_above(self, delta: float) -> float:
        return self._p(delta, below=False)

    def _p(self, delta: float, *, below: bool) -> float:
        if self.metric in _QUANTILES:
            return _quantile_pvalue(
                self.a, self.b, _QUANTILES[self.metric], delta, below, self.deff
            )
        gap, se, df = self._gap_se(delta)
        if not below:
            gap = -gap
        # evidence for the alternative is a negative `gap` (below) ...
        if self.sequential:
            return _cs_pvalue(-gap, se, self._n_total(), self.tuning)
        if self.metric == "error_rate" and self.unit_fit is None:
            z = _fm_score(self.a, self.b, delta) / math.sqrt(self.variance_factor())
            return norm_sf(-z) if below else norm_sf(z)
        if se == 0:
            return 0.0 if gap < 0 else 1.0
        return t_sf(-gap / se, df)


def _fm_score(a: MetricSample, b: MetricSample, delta: float) -> float:
    """Farrington-Manning score statistic of H0: p_a - p_b = delta (restricted MLE)."""
    n1, n2 = float(a.size), float(b.size)
    p1, p2 = float(a.mean()), float(b.mean())
    if delta == 0:
        p = (a.sum() + b.sum()) / (n1 + n2)
        r1 = r2 = float(p)
    else:  # Miettinen and Nurminen (1985): cubic for the restricted MLE of p_b
        k1, k2 = float(a.sum()), float(b.sum())
        n, k = n1 + n2, k1 + k2
        t3 = n
        t2 = (n1 + 2 * n2) * delta - n - k
        t1 = (k2 * delta - n - 2 * k2) * delta + k
        t0 = k2 * delta * (1 - delta)
        v = (t2 / (3 * t3)) ** 3 - t1 * t2 / (6 * t3**2) + t0 / (2 * t3)
        u = math.copysign(math.sqrt(max((t2 / (3 * t3)) ** 2 - t1 / (3 * t3), 0.0)), v)
        if u == 0:
            r2 = -t2 / (3 * t3)
        else:
            w = (math.pi + math.acos(max(-1.0, min(1.0, v / u**3)))) / 3.0
            r2 = 2 * u * math.cos(w) - t2 / (3 * t3)
        r2 = min(max(r2, 0.0), 1.0)
        r1 = min(max(r2 + delta, 0.0), 1.0)
    var = r1 * (1 - r1) / n1 + r2 * (1 - r2) / n2
    num = p1 - p2 - delta
    if var <= 0:
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def _order_ranks(n: int, q: float, miss: float, deff: float = 1.0) -> tuple[int, int]:
    """Ranks (1-based) of the lower and upper order-statistic bounds of the
    q-quantile of ``n`` values, each missing with probability <= ``miss`` (exact
    binomial ranks); 0 is "no lower bound" (0.0), n + 1 "no upper bound" (inf).
    ``deff`` > 1 (clustered requests): the ranks of ``n / deff`` independent
    requests, scaled back to ``n`` (the effective-sample-size approximation)."""
    ne = n if deff <= 1.0 else max(int(n / deff), 1)
    k = binom_ppf(1.0 - miss, ne, q) + 1  # upper: P(X_(k) >= Q) = P(Bin <= k-1)
    if ne < n:
        k = math.ceil(k * n / ne) if k <= ne else n + 1
    m = binom_ppf(miss, ne, q)  # lower: X_(j), P(X_(j) <= Q) = P(Bin >= j)
    j = m if binom_cdf(m, ne, q) > miss else m + 1
    if ne < n:
        j = math.floor((j - 1) * n / ne) + 1 if j >= 1 else 0
    return j, k


def _order_bounds(
    x: MetricSample | npt.NDArray[np.float64],
    q: float,
    miss: float,
    deff: float = 1.0,
) -> tuple[float, float]:
    """Distribution-free one-sided bounds of the q-quantile of the population of
    ``x`` (a sample, or sorted values), each missing with probability <= ``miss``
    (:func:`_order_ranks`)."""
    if not isinstance(x, MetricSample):
        x = MetricSample.of(x, "latency_p50")
    assert x.order is not None
    j, k = _order_ranks(x.size, q, miss, deff)
    upper = x.order(k) if k <= x.size else math.inf
    lower = x.order(j) if j >= 1 else 0.0
    return lower, upper


#: Least and largest error rate a quantile bound is computed at: the p-value's
#: bisection runs from _P_MIN to 1 - _P_GAP.
_P_MIN, _P_GAP = 1e-12, 1e-9


def quantile_ranks(
    n: int, q: float, confidence: float, deff: float = 1.0
) -> tuple[int, int]:
    """The ranks of the order statistics :func:`compare` may read for the q-quantile
    of an arm of `n` values: its estimate, interval at `confidence` and p-values
    (at the design effect `deff` of clustered requests).

    A distributed comparison gathers only the values of these ranks (a window of
    about 14 standard deviations of the binomial rank, O(sqrt(n)) values).

    Examples
    --------
    >>> quantile_ranks(1000, 0.5, 0.95)
    (388, 613)
    """
    h = math.floor((n - 1) * q)  # numpy's linear quantile reads h+1 and h+2
    lo, hi = max(h, 1), min(h + 3, n)
    gs = (
        1.0 - math.sqrt(1.0 - (1.0 - confidence) / 2.0),
        1.0 - math.sqrt(1.0 - _P_MIN),
        1.0 - math.sqrt(_P_GAP),
    )
    for g in gs:
        j, k = _order_ranks(n, q, g, deff)
        lo, hi = min(lo, max(j, 1), min(k, n)), max(hi, max(j, 1), min(k, n))
    return lo, hi


def _quantile_deff(
    x: npt.NDArray[np.float64], groups: npt.NDArray[np.intp] | None, q: float
) -> float:
    """Design effect (>= 1) of one arm's q-quantile: the CR1 over the independent
    variance of the mean of ``x <= its q-quantile`` over the arm's units."""
    if groups is None or x.size < 2:
        return 1.0
    ind = (x <= np.quantile(x, q)).astype(np.float64)
    dev = ind - ind.mean()
    s0 = float(dev @ dev)
    _, codes = np.unique(groups, return_inverse=True)
    g = int(codes.max()) + 1
    if g < 2 or not s0 > 0:
        return 1.0
    sums = np.bincount(codes, weights=dev)
    return max(1.0, g / (g - 1.0) * float(sums @ sums) / s0)


def _quantile_lift_ci(
    a: MetricSample,
    b: MetricSample,
    q: float,
    alpha2: float,
    deff: tuple[float, float] = (1.0, 1.0),
) -> tuple[float, float]:
    """Two-sided interval of Q_a / Q_b - 1 at level 1 - alpha2: each end from one-sided
    bounds of both arms at 1 - g with (1 - g)^2 = 1 - alpha2 / 2 (conservative)."""
    g = 1.0 - math.sqrt(1.0 - alpha2 / 2.0)
    la, ua = _order_bounds(a, q, g, deff[0])
    lb, ub = _order_bounds(b, q, g, deff[1])
    low = la / ub - 1.0 if ub > 0 and math.isfinite(ub) else -1.0
    high = ua / lb - 1.0 if lb > 0 else math.inf
    return low, high


def _quantile_pvalue(
    a: MetricSample,
    b: MetricSample,
    q: float,
    delta: float,
    below: bool,
    deff: tuple[float, float] = (1.0, 1.0),
) -> float:
    """Smallest alpha at which the conservative order-statistic bound of Q_a / Q_b
    lies below (or above) 1 + delta (bisection on alpha)."""
    c = 1.0 + delta

    def rejects(alpha: float) -> bool:
        g = 1.0 - math.sqrt(1.0 - alpha)
        la, ua = _order_bounds(a, q, g, deff[0])
        lb, ub = _order_bounds(b, q, g, deff[1])
        if below:
            return lb > 0 and ua / lb < c
        return math.isfinite(ub) and ub > 0 and la / ub > c

    if not rejects(1.0 - _P_GAP):
        return 1.0
    lo, hi = math.log(_P_MIN), math.log(1.0 - _P_GAP)
    if rejects(_P_MIN):
        return _P_MIN
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        if rejects(math.exp(mid)):
            hi = mid
        else:
            lo = mid
    return math.exp(hi)


def _effect(
    metric: str,
    a: MetricSample | npt.NDArray[np.float64],
    b: MetricSample | npt.NDArray[np.float64],
    confidence: float,
    sequential: bool,
    tuning: float,
    order: npt.NDArray[np.intp] | None = None,
    groups: npt.NDArray[np.intp] | None = None,
    dependence: Dependence | None = None,
) -> _Effect:
    """``dependence``: how the requests of ``a`` and ``b`` depend on each other
    (randomisation units or time order), which the variances account for
    (:meth:`_Effect.variance_factor`); None treats them as independent. ``a`` and
    ``b`` may be the metric's values, then ``order`` (the time order of the events
    of ``a`` then ``b``) or ``groups`` (their randomisation units) give it."""
    if not isinstance(a, MetricSample) or not isinstance(b, MetricSample):
        xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if dependence is None:
            dependence = array_dependence(metric, xa, xb, order, groups)
        a, b = MetricSample.of(xa, metric), MetricSample.of(xb, metric)
    alpha2 = 1.0 - confidence
    common: dict[str, Any] = {
        "metric": metric, "n": a.size, "n_b": b.size, "a": a, "b": b,
        "sequential": sequential, "tuning": tuning, "dependence": dependence,
    }  # fmt: skip
    if metric in _QUANTILES:
        q = _QUANTILES[metric]
        deff = (1.0, 1.0) if dependence is None else dependence.deff
        assert a.quantile is not None and b.quantile is not None
        qa, qb = a.quantile(q), b.quantile(q)
        return _Effect(
            mean=qa, mean_b=qb, lift=qa / qb - 1.0,
            lift_ci=_quantile_lift_ci(a, b, q, alpha2, deff),
            pvalue=math.nan,  # quantiles: the interval; tests only with a role
            **common,
        )  # fmt: skip
    if metric == "error_rate":
        ka, kb = float(a.sum()), float(b.sum())
        pa, pb = ka / a.size, kb / b.size
        ratio = rate_ratio_interval(ka, a.size, kb, b.size, confidence=confidence)
        eff = _Effect(
            mean=pa, mean_b=pb,
            lift=pa / pb - 1.0 if pb > 0 else math.nan,
            lift_ci=(ratio[0] - 1.0, ratio[1] - 1.0),
            pvalue=math.nan,
            diff=pa - pb,
            diff_ci=newcombe_difference_interval(ka, a.size, kb, b.size, confidence=confidence),
            **common,
        )  # fmt: skip
        k = math.sqrt(eff.variance_factor())
        eff.pvalue = min(1.0, 2 * norm_sf(abs(_fm_score(a, b, 0.0)) / k))
        if k > 1.0:
            eff.diff_ci = _widen(eff.diff, eff.diff_ci, k)
            if pb > 0:
                eff.lift_ci = _widen(eff.lift, eff.lift_ci, k, log=True)
        if sequential:
            _, se, _ = eff._gap_se(0.0)
            h = _cs_halfwidth(se, a.size + b.size, alpha2, tuning)
            eff.diff_ci = (max(pa - pb - h, -1.0), min(pa - pb + h, 1.0))
        return eff
    log = metric == "latency"
    if a.low == a.high and b.low == b.high and a.low == b.low:
        res_p, lift, ci = 1.0, (0.0 if b.low != 0 else math.nan), (math.nan, math.nan)
    else:
        assert a.moments is not None and b.moments is not None
        # Moments of the logs for latency: the lift is exp of their difference
        res = welch_t_test(
            a.moments, b.moments, alternative="two-sided", confidence=confidence
        )
        res_p, lift, ci = res.pvalue, res.relative_lift, res.relative_lift_ci
        if log:
            lift = math.expm1(res.mean_difference)
            ci = (math.expm1(res.ci[0]), math.expm1(res.ci[1]))
    eff = _Effect(
        mean=float(np.exp(a.average)) if log else float(a.mean()),
        mean_b=float(np.exp(b.average)) if log else float(b.mean()),
        lift=lift, lift_ci=ci, pvalue=res_p, **common,
    )  # fmt: skip
    k = math.sqrt(eff.variance_factor())
    if k > 1.0 and math.isfinite(res_p) and res_p < 1.0:
        df = min(res.df, eff.units() - 1.0)
        eff.pvalue = min(1.0, 2.0 * t_sf(abs(res.statistic) / k, df))
        crit = _t_isf(alpha2 / 2.0, df) / _t_isf(alpha2 / 2.0, res.df)
        eff.lift_ci = _widen(lift, ci, k * crit, log=log)
    if sequential:
        if log:
            gap, se, _ = eff._gap_se(0.0)
            d = gap
        else:  # log of the ratio of means, delta method
            ma, mb = float(a.mean()), float(b.mean())
            d = math.log(ma / mb) if ma > 0 and mb > 0 else math.nan
            se = (
                math.sqrt(
                    (a.variance / (a.size * ma * ma) + b.variance / (b.size * mb * mb))
                    * eff.variance_factor()
                )
                if ma > 0 and mb > 0
                else math.nan
            )
        if math.isfinite(d) and se > 0:
            h = _cs_halfwidth(se, a.size + b.size, alpha2, tuning)
            eff.lift_ci = (math.expm1(d - h), math.expm1(d + h))
    return eff


#: Above this many requests the Newey-West factor is computed on the sums of the
#: contrast in this many equal-duration time bins of the events' span (or, without
#: times, consecutive blocks of requests), which keeps it O(n) and mergeable.
_HAC_BLOCKS = 20_000
HAC_BLOCKS = _HAC_BLOCKS


def time_bin_index(
    times: npt.NDArray[np.int64], span: tuple[int, int]
) -> npt.NDArray[np.intp]:
    """Index (0 .. HAC_BLOCKS - 1) of each time (ns) among HAC_BLOCKS equal-duration
    bins of ``span`` (first, last time in ns), as compare bins long contrasts.

    Examples
    --------
    >>> time_bin_index(np.array([0, 5, 10]), (0, 10)).tolist()
    [0, 10000, 19999]
    """
    lo, hi = span
    width = float(hi - lo)
    if not width > 0:
        return np.zeros(times.size, dtype=np.intp)
    idx = np.floor((times - lo).astype(np.float64) / width * _HAC_BLOCKS)
    return np.clip(idx, 0, _HAC_BLOCKS - 1).astype(np.intp)


def _time_ratio(
    psi: npt.NDArray[np.float64], bins: npt.NDArray[np.intp] | None = None
) -> float:
    """Newey-West over independent variance of the sum of time-ordered ``psi``;
    for long series on the sums in time ``bins`` (:func:`time_bin_index`), else of
    consecutive blocks (their lag-0 term holds every within-bin covariance exactly;
    the kernel weighs the covariance between bins)."""
    n = psi.size
    if n <= _HAC_BLOCKS:
        return long_run_variance_ratio(psi)[0]
    if bins is not None:
        sums = np.bincount(bins, weights=psi, minlength=_HAC_BLOCKS)
    else:
        size = -(-n // _HAC_BLOCKS)
        padded = np.zeros(size * _HAC_BLOCKS)
        padded[:n] = psi
        sums = padded.reshape(_HAC_BLOCKS, size).sum(axis=1)
    s0 = float(psi @ psi)
    if not s0 > 0:
        return 1.0
    return long_run_variance_ratio(sums)[0] * float(sums @ sums) / s0


def _t_isf(p: float, df: float) -> float:
    """t with ``t_sf(t, df) == p`` (0 < p < 0.5), by bisection."""
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > p and hi < 1e12:
        hi *= 2.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if t_sf(mid, df) > p:
            lo = mid
        else:
            hi = mid
    return hi


def _unit_codes(
    frame: pd.DataFrame, unit: str | None, by: str
) -> tuple[str | None, npt.NDArray[np.intp] | None, list[str]]:
    """The randomisation unit column, each row's code in it and the warnings about
    it (units seen in more than one arm); see :func:`compare`'s ``unit``."""
    import pandas as pd

    if unit is None:
        return None, None, []
    if unit != "auto":
        _check_unit_column(frame, unit)
        crossed = crossed_units(frame, by=by, unit=unit)
        warnings = (
            [
                crossed_units_message(crossed, by=by, unit=unit)
                + f"; the variances are clustered by {unit} all the same (CR1 of "
                "the pooled contrast allows units in both arms)"
            ]
            if crossed
            else []
        )
        return unit, pd.factorize(frame[unit])[0].astype(np.intp), warnings
    warnings = []
    for col in _AUTO_UNITS:
        if col not in frame.columns:
            continue
        crossed = crossed_units(frame, by=by, unit=col)
        if crossed:
            warnings.append(
                crossed_units_message(crossed, by=by, unit=col)
                + f"; unit='auto' does not cluster by {col} (unit={col!r} would)"
            )
            continue
        if bool(frame[col].isna().any()):
            continue
        codes = pd.factorize(frame[col])[0].astype(np.intp)
        if int(codes.max(initial=-1)) + 1 < len(frame):  # some unit has 2+ requests
            return col, codes, warnings
    return None, None, warnings


def _check_unit_column(frame: pd.DataFrame, unit: str) -> None:
    """ValueError unless ``unit`` is a column of ``frame`` with no missing value."""
    if not isinstance(unit, str) or unit not in frame.columns:
        raise ValueError(
            f"unit={unit!r}: the events have no such column; the columns are: "
            + ", ".join(map(str, frame.columns))
        )
    missing = np.flatnonzero(frame[unit].isna().to_numpy())
    if missing.size:
        raise ValueError(
            f"unit: column {unit!r} is empty in {missing.size} row(s), the first "
            f"row {int(missing[0])}; every request needs its randomisation unit"
        )


def _pre_period_unit(frame: pd.DataFrame, unit: str | None) -> str:
    """The unit column a ``pre_period`` (CUPED) analysis uses."""
    if unit is None:
        raise ValueError(
            "pre_period needs a randomisation unit: unit=None says requests are "
            "independent; pass unit='auto' or the column naming each request's unit"
        )
    if unit == "auto":
        found = [c for c in _AUTO_UNITS if c in frame.columns]
        if not found:
            raise ValueError(
                "pre_period: unit='auto' found no user_id or session_id column; pass "
                "unit= naming the column of each request's unit; the columns are: "
                + ", ".join(map(str, frame.columns))
            )
        return found[0]
    return unit


def _widen(
    estimate: float, ci: tuple[float, float], k: float, *, log: bool = False
) -> tuple[float, float]:
    """``ci`` of a relative lift (or a difference) with each half-width times ``k``,
    on the log scale of ``1 + lift`` when ``log``."""
    lo, hi = ci
    if not (math.isfinite(estimate) and math.isfinite(lo) and math.isfinite(hi)):
        return ci
    if log:
        if not (lo > -1.0 and estimate > -1.0):
            return ci
        d = math.log1p(estimate)
        return (
            math.expm1(d - k * (d - math.log1p(lo))),
            math.expm1(d + k * (math.log1p(hi) - d)),
        )
    return estimate - k * (estimate - lo), estimate + k * (hi - estimate)


def _unit_gap_se(
    fit: Cuped,
    metric: str,
    delta: float,
    a: MetricSample,
    b: MetricSample,
) -> tuple[float, float, float]:
    """_Effect._gap_se of a per-unit (CUPED) fit on the metric's test scale."""
    if metric == "latency":  # fit of mean log latency: a difference of logs
        return fit.contrast(shift=math.log1p(delta))
    if metric != "error_rate":
        return fit.contrast(scale=1.0 + delta)
    gap, se, df = fit.contrast(shift=delta)
    # no pre-period removes the requests' own Bernoulli noise: the smoothed binomial
    # error is a floor, so zero or few failures never give a zero-width interval
    pa = (a.sum() + 1.0) / (a.size + 2.0)
    pb = (b.sum() + 1.0) / (b.size + 2.0)
    floor = math.sqrt(pa * (1 - pa) / a.size + pb * (1 - pb) / b.size)
    return gap, max(se, floor), df


def _with_unit_fit(
    eff: _Effect, fit: Cuped, confidence: float, sequential: bool, tuning: float
) -> _Effect:
    """``eff`` with the lift, intervals and p-value of the per-unit (CUPED) fit."""
    n = fit.units_treatment + fit.units_control
    crit = fit.critical(confidence)

    def half(se: float) -> float:
        if sequential:
            return _cs_halfwidth(se, n, 1.0 - confidence, tuning)
        return crit * se

    se_request = eff._gap_se(0.0)[1]
    eff.unit_fit = fit
    se_unit = eff._gap_se(0.0)[1]
    if se_request > 0 and math.isfinite(se_unit):
        eff.design_effect = (se_unit / se_request) ** 2
    eff.pvalue = fit.pvalue()
    d, se = (fit.difference, fit.se) if eff.metric == "latency" else fit.log_ratio()
    if eff.metric == "error_rate" and fit.se > 0:  # the ratio widened as the floor
        se *= max(1.0, se_unit / fit.se)
    eff.lift = math.expm1(d)
    eff.lift_ci = (math.expm1(d - half(se)), math.expm1(d + half(se)))
    if eff.metric == "error_rate":
        eff.diff, h = fit.difference, half(eff._gap_se(0.0)[1])
        eff.diff_ci = (max(eff.diff - h, -1.0), min(eff.diff + h, 1.0))
    return eff


def _required_n(
    eff: _Effect, role: str, mde: float, margin: float, alpha: float, power: float
) -> float:
    """Per-arm size (at the observed split) for one test of the ship family to reach
    ``power`` one-sided at ``alpha``: a primary detecting a true improvement of
    ``mde``, a guardrail showing non-inferiority within ``margin`` when unchanged;
    scaled by the design effect (clustered or CUPED variance over the independent
    one)."""
    a, b = eff.a, eff.b
    ratio = b.size / a.size
    if eff.metric in _QUANTILES:
        return math.nan
    if eff.metric == "latency":
        sd = math.sqrt(b.variance)
        effect = -math.log1p(-mde) if role == "primary" else math.log1p(margin)
    elif eff.metric == "error_rate":
        pb = float(b.mean())
        sd = math.sqrt(pb * (1 - pb))
        effect = mde * pb if role == "primary" else margin
    else:
        sd = math.sqrt(b.variance)
        effect = (mde if role == "primary" else margin) * abs(float(b.mean()))
    if not (sd > 0 and effect > 0):
        return float(MIN_REQUESTS)
    return eff.design_effect * required_sample_size(
        effect, sd, alpha=alpha, power=power, ratio=ratio, alternative="greater"
    )


@dataclass(repr=False)
class Comparison(Result):
    """Result of :func:`compare`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (variant, metric): ``role`` ("primary", "guardrail",
        "reported") and ``margin``, sizes, means (error rate: the rate; latency: the
        geometric mean; latency_pXX: the quantile), ``relative_lift`` with
        ``lift_low``/``lift_high`` (fractions: 0.05 is +5 %; for error_rate the ratio
        of rates minus 1, NaN when the baseline has no errors), ``difference`` with
        ``difference_low``/``difference_high`` (error_rate only: the difference of
        rates, Newcombe interval), ``pvalue`` (two-sided, unadjusted, no
        difference; NaN for quantiles), ``pvalue_adjusted`` (Holm-adjusted p of the row's ship
        hypothesis: superiority for a primary, non-inferiority for a guardrail),
        ``pvalue_worse_adjusted`` (Holm-adjusted p of "worse beyond the margin"),
        ``required_n`` (per-arm size, see :func:`compare`), ``sample_size_met`` and a
        ``verdict`` ("better", "non-inferior", "no difference", "worse",
        "inconclusive", or "reported" for a metric without a role). With
        ``sequential`` the intervals are confidence sequences.
    verdicts : dict of str to str
        Overall decision per variant: "ship", "roll back", "no difference" or
        "keep running" (error rates in :func:`compare`).
    reasons : dict of str to str
        Why, in one sentence per variant.
    srm : SRMResult or None
        Sample-ratio check against ``planned_split`` (None when no split was given).
    missing : dict of str to str
        Metrics not computed and why.
    sequential : bool
        Whether the tests and intervals are confidence sequences.
    unit : str
        The randomisation unit and how the variances use it: "clustered by
        <column>" (cluster-robust CR1), "CUPED by <column>" (per-unit analysis
        adjusted by a pre-period) or "independent requests, Newey-West over time"
        (see :func:`compare`).
    warnings : list of str
        What makes the comparison doubtful, e.g. units (``user_id``) seen in more
        than one arm.
    cuped : pandas.DataFrame or None
        With a ``pre_period``: one row per (variant, metric) analysed per unit:
        ``units``, ``units_baseline``, ``units_without_pre`` (given the pooled
        pre-period mean), ``theta`` and ``variance_reduction`` (1 - adjusted /
        unadjusted variance of the difference: 0.4 is 40 % less variance).
    """

    table: pd.DataFrame
    baseline: str
    by: str
    verdicts: dict[str, str]
    reasons: dict[str, str]
    srm: SRMResult | None
    missing: dict[str, str] = field(default_factory=dict)
    sequential: bool = False
    unit: str = INDEPENDENT
    warnings: list[str] = field(default_factory=list)
    cuped: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        """The per-metric table (a copy)."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the table, verdicts and sample-ratio check."""

        return {
            "by": self.by,
            "baseline": self.baseline,
            "verdicts": self.verdicts,
            "reasons": self.reasons,
            "srm": None if self.srm is None else self.srm.to_dict(),
            "metrics": [
                {k: json_scalar(v) for k, v in r.items()}
                for r in self.table.to_dict(orient="records")
            ],
            "missing": self.missing,
            "sequential": self.sequential,
            "unit": self.unit,
            "warnings": list(self.warnings),
            **(
                {}
                if self.cuped is None
                else {
                    "cuped": [
                        {k: json_scalar(v) for k, v in r.items()}
                        for r in self.cuped.to_dict(orient="records")
                    ],
                }
            ),
        }

    def _view(self) -> View:
        fields: dict[str, Any] = {"by": self.by, "baseline": self.baseline}
        if self.sequential:
            fields["sequential"] = True
        fields["unit"] = self.unit
        for variant, verdict in self.verdicts.items():
            fields[variant] = f"{verdict.upper()} - {self.reasons[variant]}"
        if self.srm is not None:
            fields["sample ratio p"] = self.srm.pvalue
        tables = {"metrics": self.table.set_index(["variant", "metric"])}
        if self.cuped is not None:
            tables["CUPED"] = self.cuped.set_index(["variant", "metric"])
        brief = [
            "role", "relative_lift", "lift_low", "lift_high", "pvalue_adjusted",
            "verdict",
        ]  # fmt: skip
        return View(
            "Comparison",
            fields,
            tables,
            notes=[f"not computed: {k} ({v})" for k, v in self.missing.items()],
            warnings=self.warnings,
            text_columns={"metrics": brief},
        )

    def plot(
        self, ax: Axes | None = None, *, metrics: Sequence[str] | None = None
    ) -> Axes:
        """Forest plot of relative lifts with their confidence intervals (in %).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw (a new figure when None).
        metrics : sequence of str, optional
            The metrics to draw (default: every row of :attr:`table`).

        Returns
        -------
        matplotlib Axes

        Notes
        -----
        A row whose lift is undefined (an error-rate ratio when the baseline has no
        errors) is labelled "undefined" on the plot instead of left empty: draw the
        rates themselves with :meth:`plot_rates`.
        """
        import matplotlib.pyplot as plt

        t = self.table
        if metrics is not None:
            unknown = sorted(set(metrics) - set(t["metric"]))
            if unknown:
                raise ValueError(
                    f"metrics: {unknown} not in this comparison; it has "
                    f"{sorted(set(t['metric']))}"
                )
            t = t[t["metric"].isin(list(metrics))]
        t = t.reset_index(drop=True)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * max(len(t), 1)))
        y = np.arange(len(t))[::-1]
        lift = 100 * t["relative_lift"].to_numpy(dtype=float)
        lo = 100 * t["lift_low"].to_numpy(dtype=float)
        hi = 100 * t["lift_high"].to_numpy(dtype=float)
        colors = [
            {"better": "tab:green", "worse": "tab:red"}.get(v, "tab:gray")
            for v in t["verdict"]
        ]
        for yi, low, high, color in zip(y, lo, hi, colors, strict=True):
            ax.plot([low, high], [yi, yi], color=color)
        ax.scatter(lift, y, c=colors, zorder=3)
        undefined = ~np.isfinite(lift)
        for yi, low in zip(y[undefined], lo[undefined], strict=True):
            # x in axes coordinates, y in data coordinates: stays on the row
            ax.text(
                0.02, yi, "ratio undefined: no errors in the baseline"
                if np.isnan(low) else f"ratio undefined, lower bound {low:+.0f} %",
                transform=ax.get_yaxis_transform(), va="center", fontsize=8,
                color="tab:gray",
            )  # fmt: skip
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(
            y, [f"{v}: {m}" for v, m in zip(t["variant"], t["metric"], strict=True)]
        )
        ax.set_xlabel(f"relative change vs {self.baseline} (%)")
        return ax

    def plot_rates(self, ax: Axes | None = None, *, confidence: float = 0.95) -> Axes:
        """Error rate of every arm with its Wilson interval (in %).

        Unlike the relative change of :meth:`plot`, a rate and its Wilson interval
        are defined for an arm without errors (0 of 150 requests: 0 % to 2.5 %), so
        every arm gets a row.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw (a new figure when None).
        confidence : float, default 0.95
            Two-sided level of the intervals.

        Returns
        -------
        matplotlib Axes

        Raises
        ------
        ValueError
            When the comparison has no ``error_rate`` metric.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> import pandas as pd
        >>> from perfstats import compare, read_events
        >>> frame = pd.DataFrame({
        ...     "timestamp": pd.date_range("2024-01-01", periods=400, freq="s", tz="UTC"),
        ...     "latency_ms": np.random.default_rng(0).lognormal(5.0, 0.5, 400),
        ...     "variant": ["a", "b"] * 200, "success": [True] * 399 + [False]})
        >>> c = compare(read_events(frame), baseline="a", metrics=["error_rate"])
        >>> ax = c.plot_rates()
        >>> [t.get_text() for t in ax.get_yticklabels()]
        ['a: 0 of 200', 'b: 1 of 200']
        """
        import matplotlib.pyplot as plt

        from perfstats.stats.intervals import wilson_interval

        rows = self.table[self.table["metric"] == "error_rate"]
        if rows.empty:
            raise ValueError(
                "plot_rates: this comparison has no error_rate metric; pass "
                "metrics=[..., 'error_rate'] to compare()"
            )
        first = rows.iloc[0]
        names = [self.baseline, *rows["variant"].astype(str)]
        n = np.array([first["n_baseline"], *rows["n"]], dtype=np.float64)
        rate = np.array([first["mean_baseline"], *rows["mean"]], dtype=np.float64)
        errors = np.rint(rate * n)
        lo, hi = wilson_interval(errors, n, confidence=confidence)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * len(names)))
        y = np.arange(len(names))[::-1]
        for yi, low, high in zip(y, lo, hi, strict=True):
            ax.plot([100 * low, 100 * high], [yi, yi], color="tab:blue")
        ax.scatter(100 * rate, y, color="tab:blue", zorder=3)
        ax.set_yticks(
            y,
            [
                f"{m}: {k:,.0f} of {t:,.0f}"
                for m, k, t in zip(names, errors, n, strict=True)
            ],
        )
        ax.set_xlim(left=0)
        ax.set_xlabel(f"error rate (%), {100 * confidence:g} % Wilson interval")
        return ax


def compare(
    events: Any,
    *,
    by: str = "variant",
    baseline: str | None = None,
    metrics: Sequence[str] = _DEFAULT_METRICS,
    planned_split: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    minimum_detectable_effect: float = 0.05,
    power: float = 0.8,
    confidence: float = 0.95,
    primary: Sequence[str] = _DEFAULT_PRIMARY,
    guardrails: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
    min_requests: int = MIN_REQUESTS,
    sequential: bool = False,
    sequential_tuning: float = SEQUENTIAL_TUNING,
    unit: str | None = "auto",
    pre_period: Any = None,
) -> Comparison:
    """Compare each variant with the baseline; verdicts with stated error rates.

    Every metric is better when lower. Each has a role: a **primary** metric (the one
    the change is meant to improve; default latency), a **guardrail** (must not get
    worse by more than its margin; default: every other metric of :data:`METRICS`
    without a quantile), or **reported** (shown with its interval, no effect on the
    verdict; default for latency_p50/p95/p99).

    Tests (one-sided, at the Holm-adjusted level unless said otherwise):

    - latency: Welch t on log latency of successful requests (lift = ratio of
      geometric means); tokens, cost: Welch t of ``mean_a - (1 + margin) mean_b``
      (relative margins tested exactly, no delta method); error_rate: Farrington-
      Manning score test of the difference of rates (absolute margin), Newcombe
      interval of the difference and MOVER-R (Wilson) interval of the ratio, which do
      not collapse on zero counts; latency_pXX: exact binomial order-statistic bounds
      of each arm's quantile, combined conservatively (distribution-free).
    - ``sequential=True`` (an experiment still running, looked at repeatedly): every
      mean/rate test and interval uses the asymptotic confidence sequence of
      Waudby-Smith et al. (2023) (as GrowthBook), valid at every look, so any number
      of looks keeps the error rates below (a one-sided test at level a uses the
      two-sided sequence at 2a / (1 + a)). ``sequential_tuning`` is the total
      sample size at which the sequence is tightest (default
      :data:`SEQUENTIAL_TUNING`, 5,000); quantile metrics cannot take a role in this
      mode. The rates hold asymptotically (Gaussian approximation of the sums).
    - Randomisation unit (``unit``, shown as ``Comparison.unit``): a user's
      requests share their conditions, so they are not independent samples. By
      default (``unit="auto"``) the unit is ``user_id``, else ``session_id``, when
      that column has no missing value and each of its values stays in one arm;
      the variance of every mean and rate test (and its interval) is then the
      cluster-robust (CR1) variance of the arm contrast, never below the
      independent one, with t on units - 1 degrees of freedom ("clustered by
      user_id"): treating requests as independent made an A/A ``ship`` 31 %
      likely (4,000 requests in sessions of ~20), clustering 4.8 %. An explicit
      column must exist and clusters even when units appear in several arms (CR1
      of the pooled contrast is valid then); ``unit=None`` (or no unit found)
      treats requests as independent, with the Newey-West variance of the
      time-ordered contrast (Bartlett kernel, Newey and West's 1994 bandwidth,
      :func:`long_run_variance_ratio`), which widens the tests when arms occupy
      different stretches of time but falls short of clustering (31 % -> 11 %
      in the case above). Units seen in more than one arm are always listed in
      ``Comparison.warnings`` (with ``"auto"``, that column is not clustered by).
      With ``pre_period`` the means and rates are instead analysed per unit with
      CUPED ("CUPED by user_id"; Deng et al. 2013): each unit's sum and count
      (ratio metrics by the delta method), adjusted by the same unit's metric in
      the pre-period, standard error HC2 (statsmodels OLS ``y ~ arm + centred
      covariate`` to 1e-10), Welch degrees of freedom over units; a unit in two
      arms is then an error. Without a covariate that per-unit standard error is
      the CR1 one up to small-sample factors, so both paths agree. The
      latency_pXX order-statistic bounds use each arm's effective sample size
      n / deff (deff: the CR1 design effect of its quantile indicator) when
      clustered, and assume independent requests otherwise.

    Verdicts and their error rates (``alpha`` is the family-wise error rate over all
    arms and metrics):

    - ``"ship"``: some primary metric is significantly better (H0 "lift >= 0"
      rejected) AND every guardrail is shown non-inferior (H0 "lift >= margin"
      rejected), with Holm's correction over all these hypotheses of all arms. P(ship
      any arm) <= ``alpha`` when no primary metric of that arm is truly better, and
      <= ``alpha`` when a guardrail is truly worse by its margin or more.
    - ``"roll back"``: some metric with a role is significantly worse *beyond its
      margin* (H0 "lift <= margin" rejected, Holm over all arms and metrics):
      P(roll back) <= ``alpha`` when every metric is within its margin. Also given on
      a sample ratio mismatch (chi-square p < 0.001), which blocks shipping.
    - ``"no difference"``: every metric with a role is shown equivalent within its
      margin (two one-sided tests; Holm over arms): P <= ``alpha`` when some metric
      truly differs by its margin or more.
    - ``"keep running"``: none of these yet, or fewer than ``min_requests`` requests
      in an arm (no verdict on too few requests).

    Parameters
    ----------
    events : perfstats.io.events.Events or pandas.DataFrame
        Events with a ``by`` column and any of latency_ms, success/error, tokens, cost.
        Failed requests follow :data:`perfstats.io.failure.FAILURE_DEFINITION`.
    by : str, default "variant"
        Column naming the arm of each request.
    baseline : str, optional
        The reference arm; default "control" when present, else the largest arm.
    metrics : sequence of str
        Any of :data:`METRICS`; metrics whose columns are missing are skipped and listed
        in ``missing``.
    planned_split : mapping of str to float, optional
        Intended traffic share per arm, e.g. ``{"control": 0.9, "v2": 0.1}``; enables
        the sample-ratio-mismatch check (chi-square, flagged below p = 0.001).
    alpha : float, default 0.05
        Family-wise error rate of each verdict (see above).
    minimum_detectable_effect : float, default 0.05
        Relative improvement of a primary metric worth detecting (5 %); sets
        ``required_n``.
    power : float, default 0.8
        ``required_n`` is the size per arm at which P(ship) >= ``power`` when a primary
        is better by ``minimum_detectable_effect`` and every guardrail is unchanged:
        each of the k tests a ship needs gets power ``1 - (1 - power) / k`` at level
        ``alpha / m`` (m: hypotheses in the ship family; Holm is never stricter than
        that). Fixed-horizon sizes: a sequential analysis needs more. Clustered
        by a unit or with CUPED, requests per arm are scaled by the design effect
        (that variance over the independent one: > 1 when a unit's requests are
        alike, < 1 when CUPED removes more), at the observed requests per unit.
    confidence : float, default 0.95
        Level of the (unadjusted, two-sided) lift intervals shown in the table.
    primary : sequence of str, default ("latency",)
        Primary metric(s); a quantile such as "latency_p95" may be one.
    guardrails : sequence of str, optional
        Guardrail metrics; default every metric of ``metrics`` that is neither primary
        nor a quantile.
    margins : mapping of str to float, optional
        Overrides of :data:`DEFAULT_MARGINS` (2 % latency, 0.5 points error rate,
        5 % tokens and cost, 5 % latency quantiles).
    min_requests : int, default 100
        Requests each arm needs before any verdict but "keep running".
    sequential : bool, default False
        Always-valid inference for an ongoing experiment (see above).
    sequential_tuning : float, default 5000
        Tuning parameter of the confidence sequence (total requests of both arms;
        with ``pre_period``: total units).
    unit : str or None, default "auto"
        Column of the randomisation unit (see above): "auto" (``user_id``, else
        ``session_id``, when each value stays in one arm), a column name (a
        ValueError naming it and listing the columns when it is absent or has
        missing values) or None (requests independent).
    pre_period : events or (start, end), optional
        CUPED by the unit (``unit=None`` is then a ValueError; "auto" takes the
        first of ``user_id``/``session_id`` present): each unit's same metric
        before the experiment adjusts its experiment value, ``theta`` pooled within
        arms (``Comparison.cuped`` shows theta and the variance reduction). Either
        events of the pre-period (an Events or DataFrame with the unit column) or a
        pair of times: rows of ``events`` with ``start <= timestamp < end`` are the
        pre-period and rows at or after ``end`` the experiment (earlier rows are
        left out). Units without pre-period requests get the pooled pre-period mean
        (gbstats gives them 0); an empty pre-period is a ValueError, one sharing
        no unit with the experiment a warning.

    Returns
    -------
    Comparison
        ``table`` with one row per (variant, metric), ``verdicts`` and ``reasons``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from perfstats import compare
    >>> rng = np.random.default_rng(1)
    >>> n = 4000
    >>> arm = np.where(rng.random(n) < 0.5, "control", "fast")
    >>> lat = rng.lognormal(np.log(800), 0.5, n) * np.where(arm == "fast", 0.8, 1.0)
    >>> events = pd.DataFrame({
    ...     "timestamp": pd.date_range("2026-01-01", periods=n, freq="s", tz="UTC"),
    ...     "variant": arm, "latency_ms": lat, "success": rng.random(n) > 0.02})
    >>> c = compare(events, planned_split={"control": 0.5, "fast": 0.5})
    >>> c.verdicts
    {'fast': 'ship'}
    >>> row = c.table.query("metric == 'latency'").iloc[0]
    >>> bool(-0.24 < row.relative_lift < -0.16)
    True

    With users who keep their speed across periods, a week before the experiment
    narrows the latency interval (CUPED):

    >>> users = rng.lognormal(0, 0.4, 400)               # persistent per-user factor
    >>> def week(start, n, effect):
    ...     u = rng.integers(0, 400, n)
    ...     arm = np.where(u % 2 == 0, "control", "fast")
    ...     lat = 800 * users[u] * rng.lognormal(0, 0.2, n)
    ...     return pd.DataFrame({
    ...         "timestamp": pd.date_range(start, periods=n, freq="min", tz="UTC"),
    ...         "user_id": u, "variant": arm,
    ...         "latency_ms": lat * np.where(arm == "fast", effect, 1.0)})
    >>> pre, post = week("2026-01-01", 4000, 1.0), week("2026-01-08", 4000, 0.97)
    >>> plain = compare(post, metrics=["latency"], unit="user_id")
    >>> c = compare(post, metrics=["latency"], unit="user_id", pre_period=pre)
    >>> plain.unit, c.unit
    ('clustered by user_id', 'CUPED by user_id')
    >>> print(c.cuped[["metric", "units", "units_without_pre"]].to_string(index=False))
     metric  units  units_without_pre
    latency    200                  0
    >>> bool(c.cuped.loc[0, "variance_reduction"] > 0.5)
    True
    >>> width = lambda r: float(r.table.lift_high[0] - r.table.lift_low[0])
    >>> bool(width(c) < 0.7 * width(plain))
    True
    """
    events = as_events(events)
    frame = events_frame(events)
    if by not in frame.columns:
        raise ValueError(f"events have no {by!r} column to compare by")
    pre_frame = None
    if pre_period is not None:
        unit = _pre_period_unit(frame, unit)
        frame, pre_frame = split_pre_period(frame, pre_period, unit, by)
    order, _, _ = comparison_plan(
        metrics, primary=primary, guardrails=guardrails, margins=margins,
        alpha=alpha, minimum_detectable_effect=minimum_detectable_effect,
        sequential=sequential, sequential_tuning=sequential_tuning,
    )  # fmt: skip
    arms = frame[by].astype("string")
    counts = arms.value_counts(dropna=True)
    unit_used: str | None = None
    unit_codes: npt.NDArray[np.intp] | None = None
    times: npt.NDArray[np.int64] | None = None

    def unit_info() -> tuple[str | None, list[str]]:
        # after compare_samples checked the arms (their errors come first)
        nonlocal unit_used, unit_codes, times
        unit_used, unit_codes, warnings = _unit_codes(frame, unit, by)
        times = None if unit_codes is not None else event_times(frame)
        return unit_used, warnings

    masks: dict[str, npt.NDArray[np.bool_]] = {}
    frames: dict[str, pd.DataFrame] = {}
    rows: dict[
        tuple[str, str], tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]
    ] = {}

    def samples(arm: str) -> dict[str, MetricSample | None]:
        masks[arm] = (arms == arm).fillna(False).to_numpy(dtype=bool)
        sub = frames[arm] = frame[masks[arm]]
        bad = failed_requests(sub)
        out: dict[str, MetricSample | None] = {}
        for metric in order:
            got = metric_values(sub, metric, bad)
            if got is not None:
                rows[(arm, metric)] = got
            out[metric] = None if got is None else MetricSample.of(got[0], metric)
        return out

    def dependence(variant: str, base: str, metric: str) -> Dependence | None:
        (a, rows_a), (b, rows_b) = rows[(variant, metric)], rows[(base, metric)]

        def pair(column: npt.NDArray[Any]) -> npt.NDArray[Any]:
            # the column's values of the compared requests, a's first
            return np.concatenate(
                [column[masks[variant]][rows_a], column[masks[base]][rows_b]]
            )

        if unit_codes is not None:
            return array_dependence(metric, a, b, None, pair(unit_codes))
        if times is None:
            return None
        when = pair(times)
        order = np.argsort(when, kind="stable")
        bins = (
            time_bin_index(when, (int(times.min()), int(times.max())))[order]
            if when.size > _HAC_BLOCKS
            else None
        )
        return array_dependence(metric, a, b, order, None, bins=bins)

    def fits(variant: str, base: str, metric: str) -> Cuped | None:
        assert pre_frame is not None and unit_used is not None
        return unit_fit(frames[variant], frames[base], pre_frame, metric, unit_used)

    return compare_samples(
        counts, samples, by=by, baseline=baseline, metrics=metrics,
        planned_split=planned_split, alpha=alpha,
        minimum_detectable_effect=minimum_detectable_effect, power=power,
        confidence=confidence, primary=primary, guardrails=guardrails,
        margins=margins, min_requests=min_requests, sequential=sequential,
        sequential_tuning=sequential_tuning, dependence=dependence,
        unit_fits=None if pre_frame is None else fits, unit_info=unit_info,
    )  # fmt: skip


def array_dependence(
    metric: str,
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    order: npt.NDArray[np.intp] | None,
    groups: npt.NDArray[np.intp] | None,
    *,
    bins: npt.NDArray[np.intp] | None = None,
) -> Dependence | None:
    """The :class:`Dependence` of the values ``a`` and ``b`` (in memory) given
    their randomisation units (``groups``, ``a``'s first) or else the time order of
    their requests (``order``; above :data:`HAC_BLOCKS` requests the time ``bins``
    of :func:`time_bin_index` in that order), as :func:`compare` computes it.

    Examples
    --------
    >>> a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])
    >>> d = array_dependence("tokens", a, b, None, np.array([0, 0, 1, 1, 2, 2, 3, 3]))
    >>> d.units, d.clustered, round(d.ratio(1.0), 3)
    (4.0, True, 1.333)
    """
    if groups is not None:
        if metric in _QUANTILES:
            q = _QUANTILES[metric]
            deff = (
                _quantile_deff(a, groups[: a.size], q),
                _quantile_deff(b, groups[a.size :], q),
            )
            return Dependence(units=_count_units(groups), deff=deff, clustered=True)
        return Dependence(
            lambda c: _cluster_ratio(_contrast(metric, a, b, c), groups),
            units=_count_units(groups),
            clustered=True,
        )
    if order is None or metric in _QUANTILES:
        return None
    return Dependence(lambda c: _time_ratio(_contrast(metric, a, b, c)[order], bins))


def _contrast(
    metric: str,
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    c: float,
) -> npt.NDArray[np.float64]:
    """Each request's contribution to the contrast of ``a`` (first) and ``b`` at
    scale ``c`` on the test scale: ``(a_i - mean_a) / n_a`` and
    ``-c (b_j - mean_b) / n_b``."""
    if metric == "latency":
        a, b = np.log(a), np.log(b)
    return np.concatenate([(a - a.mean()) / a.size, -c * (b - b.mean()) / b.size])


def _count_units(groups: npt.NDArray[np.intp]) -> float:
    return float(np.count_nonzero(np.bincount(groups)))


def _cluster_ratio(psi: npt.NDArray[np.float64], groups: npt.NDArray[np.intp]) -> float:
    """CR1 over independent variance of the sum of ``psi`` clustered by ``groups``."""
    s0 = float(psi @ psi)
    sums = np.bincount(groups, weights=psi)
    g = int(np.count_nonzero(np.bincount(groups)))
    return g / (g - 1.0) * float(sums @ sums) / s0 if g > 1 and s0 > 0 else 1.0


def comparison_plan(
    metrics: Sequence[str] = _DEFAULT_METRICS,
    *,
    primary: Sequence[str] = _DEFAULT_PRIMARY,
    guardrails: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    minimum_detectable_effect: float = 0.05,
    sequential: bool = False,
    sequential_tuning: float = SEQUENTIAL_TUNING,
) -> tuple[list[str], dict[str, str], dict[str, float]]:
    """The metrics :func:`compare` tests, in order, with their roles and margins,
    after checking the options (ValueError naming the bad one).

    Examples
    --------
    >>> order, role, margin = comparison_plan(["latency", "error_rate", "latency_p95"])
    >>> order, role["latency_p95"], margin["error_rate"]
    (['latency', 'error_rate', 'latency_p95'], 'reported', 0.005)
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0 < minimum_detectable_effect < 1:
        raise ValueError(
            f"minimum_detectable_effect must be in (0, 1), got {minimum_detectable_effect}"
        )
    if not sequential_tuning > 0:
        raise ValueError(f"sequential_tuning must be > 0, got {sequential_tuning}")
    metrics = list(metrics)
    for m in [*metrics, *primary, *(guardrails or ())]:
        if m not in METRICS:
            raise ValueError(f"unknown metric {m!r}; choose from {sorted(METRICS)}")
    margin = dict(DEFAULT_MARGINS)
    for m, v in (margins or {}).items():
        if m not in METRICS:
            raise ValueError(
                f"margins: unknown metric {m!r}; choose from {sorted(METRICS)}"
            )
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"margins[{m!r}] must be a positive number, got {v}")
        margin[m] = float(v)
    if guardrails is None:
        guardrails = [m for m in metrics if m not in primary and m not in _QUANTILES]
    overlap = set(primary) & set(guardrails)
    if overlap:
        raise ValueError(f"metrics both primary and guardrail: {sorted(overlap)}")
    role = {m: "reported" for m in metrics}
    role.update({m: "primary" for m in primary})
    role.update({m: "guardrail" for m in guardrails})
    if sequential:
        bad = [m for m, r in role.items() if m in _QUANTILES and r != "reported"]
        if bad:
            raise ValueError(
                f"sequential=True: quantile metrics cannot be primary or guardrail: {bad}"
            )
    order = [*primary, *guardrails, *[m for m in metrics if role[m] == "reported"]]
    return order, role, margin


def compare_samples(
    counts: pd.Series[int],
    samples: Callable[[str], Mapping[str, MetricSample | None]],
    *,
    by: str = "variant",
    baseline: str | None = None,
    metrics: Sequence[str] = _DEFAULT_METRICS,
    planned_split: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    minimum_detectable_effect: float = 0.05,
    power: float = 0.8,
    confidence: float = 0.95,
    primary: Sequence[str] = _DEFAULT_PRIMARY,
    guardrails: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
    min_requests: int = MIN_REQUESTS,
    sequential: bool = False,
    sequential_tuning: float = SEQUENTIAL_TUNING,
    dependence: Callable[[str, str, str], Dependence | None] | None = None,
    unit_fits: Callable[[str, str, str], Cuped | None] | None = None,
    unit_info: Callable[[], tuple[str | None, Sequence[str]]] | None = None,
) -> Comparison:
    """:func:`compare` of arms given by their sizes and per-metric samples: the
    tests, corrections and verdicts of :func:`compare` without the events (which
    ``perfstats.dask.compare`` summarizes on a cluster).

    Parameters
    ----------
    counts : pandas.Series of int
        Requests per arm, indexed by arm, largest first (as ``value_counts``).
    samples : callable
        ``samples(arm)`` maps each metric of :func:`comparison_plan` to the arm's
        :class:`MetricSample`, or None when the events lack its columns.
    by, baseline, metrics, planned_split, alpha, minimum_detectable_effect, power, confidence, primary, guardrails, margins, min_requests, sequential, sequential_tuning
        As for :func:`compare`.
    dependence : callable, optional
        ``dependence(variant, baseline, metric)``: the :class:`Dependence` of that
        contrast's requests (None or absent: independent).
    unit_fits : callable, optional
        ``unit_fits(variant, baseline, metric)``: the per-unit (CUPED) fit of a
        metric of ``perfstats.analysis.pre_period.CUPED_METRICS``, None when an arm
        has fewer than 2 units; given, those metrics are analysed per unit.
    unit_info : callable, optional
        ``unit_info()``: the randomisation unit column used (``Comparison.unit``;
        None: requests) and the warnings about it (crossed units); called once
        after the arms are checked, before any ``samples``.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(2)
    >>> lat = {"control": rng.lognormal(6, 0.5, 500), "v2": rng.lognormal(5.8, 0.5, 500)}
    >>> c = compare_samples(
    ...     pd.Series({"control": 500, "v2": 500}),
    ...     lambda arm: {"latency": MetricSample.of(lat[arm], "latency")},
    ...     metrics=["latency"])
    >>> c.verdicts
    {'v2': 'ship'}
    """
    import pandas as pd

    order, role, margin = comparison_plan(
        metrics, primary=primary, guardrails=guardrails, margins=margins,
        alpha=alpha, minimum_detectable_effect=minimum_detectable_effect,
        sequential=sequential, sequential_tuning=sequential_tuning,
    )  # fmt: skip
    if len(counts) < 2:
        raise ValueError(
            f"need at least two {by} values to compare, got {list(counts.index)}"
        )
    if baseline is None:
        baseline = "control" if "control" in counts.index else str(counts.index[0])
    if baseline not in counts.index:
        raise ValueError(
            f"baseline {baseline!r} not among {by} values {sorted(counts.index)}"
        )

    srm = None
    if planned_split is not None:
        unknown = set(planned_split) - set(counts.index)
        if unknown:
            raise ArgumentError(
                "{0} names arms with no events: "
                + _braces(
                    f"{sorted(unknown)}; the {by} values are: "
                    + ", ".join(map(str, sorted(counts.index)))
                ),
                Arg("planned_split=", "--split"),
                field=str(sorted(unknown)[0]),
            )
        names = list(planned_split)
        srm = srm_test(
            [int(counts.get(k, 0)) for k in names], [planned_split[k] for k in names]
        )

    missing: dict[str, str] = {}
    unit, warnings = (None, ()) if unit_info is None else unit_info()
    base = samples(baseline)
    variants = [str(v) for v in counts.index if v != baseline]
    effects: dict[str, list[tuple[str, _Effect]]] = {}
    for variant in variants:
        own = samples(variant)
        effects[variant] = []
        for metric in order:
            a, b = own.get(metric), base.get(metric)
            if a is None or b is None:
                missing[metric] = f"no columns for {metric} ({METRICS[metric]})"
                continue
            if a.size < 2 or b.size < 2:
                missing[f"{metric} ({variant})"] = "fewer than 2 observations in an arm"
                continue
            if unit_fits is not None and metric in CUPED_METRICS:
                eff = _effect(metric, a, b, confidence, sequential, sequential_tuning)
                fit = unit_fits(variant, baseline, metric)
                if fit is None:
                    missing[f"{metric} ({variant})"] = f"fewer than 2 {unit} in an arm"
                    continue
                eff = _with_unit_fit(
                    eff, fit, confidence, sequential, sequential_tuning
                )
                effects[variant].append((metric, eff))
                continue
            dep = None if dependence is None else dependence(variant, baseline, metric)
            eff = _effect(
                metric, a, b, confidence, sequential, sequential_tuning,
                dependence=dep,
            )  # fmt: skip
            if dep is not None and dep.clustered:  # required_n per unit
                eff.design_effect = eff.variance_factor()
            effects[variant].append((metric, eff))

    # the ship family: superiority of primaries, non-inferiority of guardrails
    ship_keys: list[tuple[str, str]] = []
    ship_p: list[float] = []
    harm_keys: list[tuple[str, str]] = []
    harm_p: list[float] = []
    tost: dict[tuple[str, str], float] = {}
    for variant, effs in effects.items():
        for metric, eff in effs:
            r = role[metric]
            if r == "reported":
                continue
            mg = margin[metric]
            ship_keys.append((variant, metric))
            ship_p.append(eff.p_below(0.0) if r == "primary" else eff.p_below(mg))
            harm_keys.append((variant, metric))
            harm_p.append(eff.p_above(mg))
            tost[(variant, metric)] = max(eff.p_below(mg), eff.p_above(-mg))
    ship_adj = dict(zip(ship_keys, holm(ship_p), strict=True)) if ship_p else {}
    harm_adj = dict(zip(harm_keys, holm(harm_p), strict=True)) if harm_p else {}
    equiv_arm = {
        v: max((tost[k] for k in tost if k[0] == v), default=1.0) for v in effects
    }
    equiv_adj = (
        dict(zip(equiv_arm, holm(list(equiv_arm.values())), strict=True))
        if equiv_arm
        else {}
    )

    m_family = max(len(ship_p), 1)
    rows: list[dict[str, Any]] = []
    verdicts: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for variant, effs in effects.items():
        if not effs:
            continue
        n_guard = sum(1 for m, _ in effs if role[m] == "guardrail")
        k = 1 + n_guard
        test_power = 1.0 - (1.0 - power) / k
        vrows: list[dict[str, Any]] = []
        for metric, eff in effs:
            r = role[metric]
            key = (variant, metric)
            need = (
                _required_n(
                    eff, r, minimum_detectable_effect, margin[metric],
                    alpha / m_family, test_power,
                )
                if r != "reported"
                else math.nan
            )  # fmt: skip
            required_n = (
                max(math.ceil(need), min_requests) if math.isfinite(need) else math.nan
            )
            if r == "reported":
                verdict = "reported"
            elif harm_adj[key] < alpha:
                verdict = "worse"
            elif r == "primary" and ship_adj[key] < alpha:
                verdict = "better"
            elif tost[key] < alpha:
                verdict = "no difference"
            elif ship_adj[key] < alpha:
                verdict = "non-inferior"
            else:
                verdict = "inconclusive"
            vrows.append(
                {
                    "variant": variant,
                    "metric": metric,
                    "role": r,
                    "margin": margin[metric] if r != "reported" else math.nan,
                    "n": eff.n,
                    "n_baseline": eff.n_b,
                    "mean": eff.mean,
                    "mean_baseline": eff.mean_b,
                    "relative_lift": eff.lift,
                    "lift_low": eff.lift_ci[0],
                    "lift_high": eff.lift_ci[1],
                    "difference": eff.diff,
                    "difference_low": eff.diff_ci[0],
                    "difference_high": eff.diff_ci[1],
                    "pvalue": eff.pvalue,
                    "pvalue_adjusted": ship_adj.get(key, math.nan),
                    "pvalue_worse_adjusted": harm_adj.get(key, math.nan),
                    "required_n": required_n,
                    "sample_size_met": bool(
                        math.isfinite(required_n) and eff.n >= required_n
                    ),
                    "verdict": verdict,
                }
            )
        rows.extend(vrows)
        n_arm = int(counts[variant])
        n_base = int(counts[baseline])
        verdicts[variant], reasons[variant] = _overall(
            vrows, srm, min(n_arm, n_base), min_requests,
            equiv_adj.get(variant, 1.0) < alpha, alpha,
        )  # fmt: skip
    columns = [
        "variant", "metric", "role", "margin", "n", "n_baseline", "mean",
        "mean_baseline", "relative_lift", "lift_low", "lift_high", "difference",
        "difference_low", "difference_high", "pvalue", "pvalue_adjusted",
        "pvalue_worse_adjusted", "required_n", "sample_size_met", "verdict",
    ]  # fmt: skip
    cuped_table = None if unit_fits is None else _cuped_table(effects)
    return Comparison(
        table=pd.DataFrame(rows, columns=columns),
        baseline=baseline,
        by=by,
        verdicts=verdicts,
        reasons=reasons,
        srm=srm,
        missing=missing,
        sequential=sequential,
        unit=(
            INDEPENDENT
            if unit is None
            else f"{'CUPED' if unit_fits is not None else 'clustered'} by {unit}"
        ),
        warnings=list(warnings) + _cuped_warnings(cuped_table, unit),
        cuped=cuped_table,
    )


def _cuped_warnings(table: pd.DataFrame | None, unit: str | None) -> list[str]:
    """A warning when the pre-period shares no unit with the experiment (CUPED then
    adjusts nothing: usually ids spelled differently in the two periods)."""
    if table is None or table.empty:
        return []
    units = table["units"] + table["units_baseline"]
    if not bool((table["units_without_pre"] >= units).all()):
        return []
    return [
        f"pre_period shares no {unit} with the experiment: CUPED adjusted nothing "
        f"(are the {unit} values spelled the same in both periods?)"
    ]


def _cuped_table(effects: dict[str, list[tuple[str, _Effect]]]) -> pd.DataFrame:
    """One row per metric analysed per unit: units, theta, variance reduction."""
    import pandas as pd

    rows = [
        {
            "variant": variant, "metric": metric,
            "units": f.units_treatment, "units_baseline": f.units_control,
            "units_without_pre": f.units_without_pre, "theta": f.theta,
            "variance_reduction": f.variance_reduction,
        }
        for variant, effs in effects.items()
        for metric, eff in effs
        if (f := eff.unit_fit) is not None
    ]  # fmt: skip
    columns = [
        "variant", "metric", "units", "units_baseline", "units_without_pre",
        "theta", "variance_reduction",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _overall(
    rows: list[dict[str, Any]],
    srm: SRMResult | None,
    n_min: int,
    min_requests: int,
    equivalent: bool,
    alpha: float,
) -> tuple[str, str]:
    if srm is not None and srm.mismatch:
        return "roll back", (
            f"sample ratio mismatch (p = {srm.pvalue:.2g}): assignment is broken, "
            "so no metric can be trusted"
        )
    if n_min < min_requests:
        return "keep running", (
            f"too few requests: {n_min} in the smallest arm, a verdict needs "
            f"{min_requests}"
        )
    tested = [r for r in rows if r["role"] != "reported"]
    worse = [r["metric"] for r in tested if r["verdict"] == "worse"]
    if worse:
        return "roll back", "significantly worse beyond the margin on " + ", ".join(
            worse
        )
    better = [r["metric"] for r in tested if r["verdict"] == "better"]
    guards = [r for r in tested if r["role"] == "guardrail"]
    unproven = [r["metric"] for r in guards if r["pvalue_adjusted"] >= alpha]
    has_primary = any(r["role"] == "primary" for r in tested)
    if better and not unproven:
        text = "significantly better on " + ", ".join(better)
        if guards:
            text += "; guardrails within their margins: " + ", ".join(
                r["metric"] for r in guards
            )
        return "ship", text
    if equivalent and tested:
        return "no difference", (
            "every metric shown equivalent within its margin: "
            + ", ".join(r["metric"] for r in tested)
        )
    if not has_primary:
        return "keep running", "no primary metric could be measured"
    if better:
        return "keep running", (
            "better on " + ", ".join(better) + ", but not yet shown within the "
            "margin on " + ", ".join(unproven)
        )
    short = [r["metric"] for r in tested if not r["sample_size_met"]]
    if short:
        return (
            "keep running",
            "no significant improvement yet; not enough data for " + (", ".join(short)),
        )
    return "keep running", "no significant improvement of a primary metric"
