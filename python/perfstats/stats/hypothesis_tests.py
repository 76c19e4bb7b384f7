"""t-tests, Mann-Whitney U, sample-ratio mismatch and power for A/B comparisons.

Every test agrees with ``scipy.stats`` (statistic, p-value, degrees of freedom and
confidence interval): the sign convention is ``a - b`` and ``alternative="less"``
means a's mean is below b's. Tail probabilities come from Boost.Math complements, so
p-values far below 1e-16 keep their relative accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from perfstats import _core
from perfstats._display import View
from perfstats._result import Result
from perfstats._validate import float_array
from perfstats.stats.moments import Moments

__all__ = [
    "MannWhitneyResult",
    "SRMResult",
    "TTestResult",
    "mann_whitney_u",
    "one_sample_t_test",
    "paired_t_test",
    "power",
    "required_sample_size",
    "srm_test",
    "student_t_test",
    "welch_t_test",
]

Alternative = Literal["two-sided", "less", "greater"]
_ALTERNATIVES = ("two-sided", "less", "greater")


def _check_alternative(alternative: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}"
        )


@dataclass(frozen=True, repr=False)
class TTestResult(Result):
    """Outcome of a t-test.

    Attributes
    ----------
    test : str
        Which test ran ("Welch", "Student", "paired", "one-sample").
    statistic, df, pvalue : float
        t statistic, degrees of freedom, p-value for ``alternative``.
    mean_difference : float
        ``mean(a) - mean(b)`` (or ``mean(a) - mu``; paired: mean of ``a - b``), in
        the unit of the data; on the log scale when ``log`` is true.
    std_error : float
        Standard error of ``mean_difference``.
    ci : tuple of float
        Confidence interval of ``mean_difference`` at ``confidence`` (one-sided
        alternatives give an infinite end, as SciPy does).
    relative_lift, relative_lift_ci : float, tuple of float
        ``mean(a) / mean(b) - 1`` with its delta-method interval (GrowthBook's
        frequentist lift); with ``log`` true, the ratio of geometric means minus 1
        and the exactly transformed interval. NaN when the baseline mean is 0.
    hedges_g : float
        Standardized difference (pooled SD; SD of differences when paired) with the
        small-sample correction ``1 - 3 / (4 df - 1)``.
    alternative, confidence, log
        The options the test ran with.
    """

    test: str
    statistic: float
    df: float
    pvalue: float
    mean_difference: float
    std_error: float
    ci: tuple[float, float]
    relative_lift: float
    relative_lift_ci: tuple[float, float]
    hedges_g: float
    alternative: str
    confidence: float
    log: bool

    @property
    def ratio(self) -> float | None:
        """Ratio of geometric means ``exp(mean_difference)`` when ``log``, else None."""
        return math.exp(self.mean_difference) if self.log else None

    @property
    def ratio_ci(self) -> tuple[float, float] | None:
        """Confidence interval of :attr:`ratio` when ``log``, else None."""
        if not self.log:
            return None
        return (math.exp(self.ci[0]), math.exp(self.ci[1]))

    def to_dict(self) -> dict[str, Any]:
        """Every field (and the ratio when ``log``) as a plain dict."""
        return {
            "test": self.test,
            "statistic": self.statistic,
            "df": self.df,
            "pvalue": self.pvalue,
            "mean_difference": self.mean_difference,
            "std_error": self.std_error,
            "ci": self.ci,
            "relative_lift": self.relative_lift,
            "relative_lift_ci": self.relative_lift_ci,
            "hedges_g": self.hedges_g,
            "alternative": self.alternative,
            "confidence": self.confidence,
            "log": self.log,
            "ratio": self.ratio,
            "ratio_ci": self.ratio_ci,
        }

    def _view(self) -> View:
        d = self.to_dict()
        if not self.log:
            del d["ratio"], d["ratio_ci"]
        title = f"{self.test} t-test ({self.alternative}{', log scale' if self.log else ''})"
        return View(
            title,
            {k: v for k, v in d.items() if k not in ("test", "alternative", "log")},
        )


def _result(
    test: str, raw: dict[str, float], alternative: str, confidence: float, log: bool
) -> TTestResult:
    return TTestResult(
        test=test,
        statistic=raw["statistic"],
        df=raw["df"],
        pvalue=raw["pvalue"],
        mean_difference=raw["mean_difference"],
        std_error=raw["std_error"],
        ci=(raw["ci_low"], raw["ci_high"]),
        relative_lift=raw["relative_lift"],
        relative_lift_ci=(raw["relative_lift_ci_low"], raw["relative_lift_ci_high"]),
        hedges_g=raw["hedges_g"],
        alternative=alternative,
        confidence=float(confidence),
        log=log,
    )


def _as_float_array(x: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """`x` (a scalar counts as one value) as a 1-D float64 array."""
    return float_array(np.atleast_1d(np.asarray(x)), name)


def _values(x: npt.ArrayLike, name: str, log: bool) -> npt.NDArray[np.float64]:
    arr = _as_float_array(x, name)
    if log:
        bad = np.flatnonzero(~(arr > 0))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"log=True needs positive values: {name}[{i}] is {float(arr[i])!r}"
            )
        arr = np.log(arr)
    return arr


def _summary(x: npt.ArrayLike | Moments, name: str, log: bool) -> _core.Moments:
    if isinstance(x, Moments):
        if log:
            raise TypeError(
                f"log=True needs the raw values of {name}; for a Moments summary, "
                "summarise the log values and pass log=False"
            )
        return x._impl
    m = _core.Moments()
    try:
        m.add(_values(x, name, log), None)
    except ValueError as err:  # the core says "values[i]"; say which sample
        message = str(err)
        if message.startswith("values["):
            raise ValueError(name + message[len("values") :]) from None
        raise
    return m


def welch_t_test(
    a: npt.ArrayLike | Moments,
    b: npt.ArrayLike | Moments,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
    log: bool = False,
) -> TTestResult:
    """Welch's unequal-variance t-test of ``mean(a) - mean(b)``.

    Same as ``scipy.stats.ttest_ind(a, b, equal_var=False)``, and also accepts
    :class:`Moments` summaries (merged shards, stored history).

    Parameters
    ----------
    a, b : array_like or Moments
        The samples (e.g. latencies in ms) or their summaries; b is the baseline
        for the relative lift.
    alternative : {"two-sided", "less", "greater"}
        "less": mean(a) < mean(b) under the alternative.
    confidence : float
        Level of the intervals, in (0, 1).
    log : bool
        Test the log values (arrays only): compares geometric means, the ratio of
        medians for lognormal latency; ``ratio`` and ``relative_lift`` report it.

    Examples
    --------
    >>> r = welch_t_test([12.0, 14.0, 11.0, 13.0], [15.0, 17.0, 16.0, 18.0])
    >>> round(r.statistic, 4), round(r.df, 2), round(r.pvalue, 5)
    (-4.3818, 6.0, 0.00466)
    >>> round(r.relative_lift, 4)
    -0.2424
    """
    _check_alternative(alternative)
    raw = _core.welch_t_test(
        _summary(a, "a", log), _summary(b, "b", log), alternative, confidence, log
    )
    return _result("Welch", raw, alternative, confidence, log)


def student_t_test(
    a: npt.ArrayLike | Moments,
    b: npt.ArrayLike | Moments,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
    log: bool = False,
) -> TTestResult:
    """Student's pooled-variance t-test (``scipy.stats.ttest_ind(equal_var=True)``).

    Parameters are those of :func:`welch_t_test`.

    Examples
    --------
    >>> r = student_t_test([1.0, 2.0, 3.0], [3.0, 4.0, 5.0, 6.0])
    >>> round(r.statistic, 4), r.df
    (-2.7664, 5.0)
    """
    _check_alternative(alternative)
    raw = _core.student_t_test(
        _summary(a, "a", log), _summary(b, "b", log), alternative, confidence, log
    )
    return _result("Student", raw, alternative, confidence, log)


def one_sample_t_test(
    a: npt.ArrayLike | Moments,
    mu: float,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
    log: bool = False,
) -> TTestResult:
    """One-sample t-test of ``mean(a) - mu`` (``scipy.stats.ttest_1samp``).

    ``relative_lift`` is ``mean(a) / mu - 1``. ``ci`` is the interval of
    ``mean(a) - mu`` (SciPy's ``confidence_interval()`` is of the mean: shifted by
    ``mu``). With ``log`` true, the log values are tested against ``log(mu)``
    (mu > 0): the geometric mean against ``mu``.

    Examples
    --------
    >>> r = one_sample_t_test([101.0, 99.0, 104.0, 102.0], 100.0)
    >>> round(r.statistic, 4), r.df, round(r.relative_lift, 4)
    (1.4412, 3.0, 0.015)
    """
    _check_alternative(alternative)
    mu = float(mu)
    if log:
        if not mu > 0:
            raise ValueError(f"log=True needs mu > 0, got {mu!r}")
        mu = math.log(mu)
    raw = _core.one_sample_t_test(
        _summary(a, "a", log), mu, alternative, confidence, log
    )
    return _result("one-sample", raw, alternative, confidence, log)


def paired_t_test(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
    log: bool = False,
) -> TTestResult:
    """Paired t-test on ``a[i] - b[i]`` (``scipy.stats.ttest_rel``).

    Needs the raw pairs (a summary of the differences can go to
    :func:`one_sample_t_test` with ``mu=0``). The lift's delta-method interval
    accounts for the covariance of the pairs.

    Examples
    --------
    >>> r = paired_t_test([10.0, 12.0, 9.0, 11.0], [11.0, 14.0, 10.0, 12.0])
    >>> round(r.statistic, 4), r.df
    (-5.0, 3.0)
    """
    _check_alternative(alternative)
    if isinstance(a, Moments) or isinstance(b, Moments):
        raise TypeError(
            "paired_t_test needs the raw pairs; pass a Moments of the differences to "
            "one_sample_t_test(d, 0.0) instead"
        )
    raw = _core.paired_t_test(
        _values(a, "a", log), _values(b, "b", log), alternative, confidence, log
    )
    return _result("paired", raw, alternative, confidence, log)


@dataclass(frozen=True, repr=False)
class MannWhitneyResult(Result):
    """Outcome of :func:`mann_whitney_u`: U of sample a, normal score z, p-value."""

    statistic: float
    z: float
    pvalue: float
    alternative: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return {
            "statistic": self.statistic,
            "z": self.z,
            "pvalue": self.pvalue,
            "alternative": self.alternative,
        }

    _title = "Mann-Whitney U test"


def mann_whitney_u(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    use_continuity: bool = True,
) -> MannWhitneyResult:
    """Mann-Whitney U test, normal approximation with tie and continuity correction.

    Same as ``scipy.stats.mannwhitneyu(a, b, method="asymptotic")``; the statistic
    is U of ``a``. "greater" means a tends to be larger than b.

    Examples
    --------
    >>> r = mann_whitney_u([1.0, 2.0, 3.0, 4.0], [3.0, 5.0, 6.0, 7.0])
    >>> r.statistic, round(r.pvalue, 4)
    (1.5, 0.0814)
    """
    _check_alternative(alternative)
    raw = _core.mann_whitney_u(
        _as_float_array(a, "a"),
        _as_float_array(b, "b"),
        alternative,
        bool(use_continuity),
    )
    return MannWhitneyResult(raw["statistic"], raw["z"], raw["pvalue"], alternative)


@dataclass(frozen=True, repr=False)
class SRMResult(Result):
    """Outcome of :func:`srm_test`; ``mismatch`` is ``pvalue < threshold``."""

    statistic: float
    df: float
    pvalue: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        """True when the split is implausible under the expected weights."""
        return self.pvalue < self.threshold

    def to_dict(self) -> dict[str, Any]:
        """The fields (and ``mismatch``) as a plain dict."""
        return {
            "statistic": self.statistic,
            "df": self.df,
            "pvalue": self.pvalue,
            "threshold": self.threshold,
            "mismatch": self.mismatch,
        }

    _title = "Sample-ratio mismatch test (chi-square)"


def srm_test(
    observed_counts: npt.ArrayLike,
    expected_weights: npt.ArrayLike | None = None,
    *,
    threshold: float = 0.001,
) -> SRMResult:
    """Sample-ratio mismatch: Pearson chi-square of counts against intended weights.

    Parameters
    ----------
    observed_counts : array_like
        Units (users, requests) assigned to each arm.
    expected_weights : array_like, optional
        Intended traffic split (any positive scale); equal split by default.
    threshold : float
        p-value below which the split is flagged (GrowthBook and Eppo use 0.001).

    Examples
    --------
    >>> r = srm_test([5000, 5200], [0.5, 0.5])
    >>> round(r.statistic, 4), round(r.pvalue, 4), r.mismatch
    (3.9216, 0.0477, False)
    """
    obs = _as_float_array(observed_counts, "observed_counts")
    if expected_weights is None:
        weights = np.ones_like(obs)
    else:
        weights = _as_float_array(expected_weights, "expected_weights")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    raw = _core.srm_test(obs, weights)
    return SRMResult(raw["statistic"], raw["df"], raw["pvalue"], float(threshold))


def power(
    effect: float,
    sd: float,
    n_a: float,
    n_b: float,
    alpha: float = 0.05,
    *,
    alternative: Alternative = "two-sided",
) -> float:
    """Power of the two-sample t-test to detect a true difference ``effect``.

    ``effect`` and ``sd`` share the data's unit; the standardized effect is
    ``effect / sd``. Matches statsmodels ``TTestIndPower().power(effect / sd, n_a,
    alpha, ratio=n_b / n_a)`` (noncentral t; "greater" is statsmodels' "larger").

    Examples
    --------
    >>> round(power(5.0, 20.0, 100, 100), 4)
    0.4205
    """
    _check_alternative(alternative)
    return _core.t_test_power(
        float(effect), float(sd), float(n_a), float(n_b), float(alpha), alternative
    )


def required_sample_size(
    effect: float,
    sd: float,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    *,
    alternative: Alternative = "two-sided",
) -> float:
    """Size of group a (b gets ``ratio`` times as many) to reach ``power``.

    The exact (fractional) solution of :func:`power` = ``power``, as statsmodels
    ``TTestIndPower().solve_power(effect / sd, None, alpha, power, ratio)``; round
    it up for a plan.

    Examples
    --------
    >>> math.ceil(required_sample_size(5.0, 20.0))
    253
    """
    _check_alternative(alternative)
    return _core.required_sample_size(
        float(effect), float(sd), float(alpha), float(power), float(ratio), alternative
    )
