"""Mergeable, numerically stable moments of a sample; NIST lag-1 autocorrelation;
the long-run (HAC) variance ratio of a time-ordered series."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from perfstats import _core
from perfstats._display import View
from perfstats._result import Result
from perfstats._validate import float_array

__all__ = ["Moments", "lag1_autocorrelation", "long_run_variance_ratio"]


def _as_float_array(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """`values` (a scalar counts as one value) as a 1-D float64 array."""
    return float_array(np.atleast_1d(np.asarray(values)), name)


class Moments(Result):
    """Count, mean, variance, skewness, kurtosis, min, max and sum of a sample.

    Summaries of separate batches merge exactly (the pairwise update of Chan, Golub
    and LeVeque, extended to the third and fourth moments), so they can be computed
    per shard or per time window, stored with :meth:`to_bytes` or pickled, and combined
    later. Each batch is added with a two-pass algorithm (error-free summation for the
    mean, then centred sums), so a large common offset costs no digits: NIST StRD's
    NumAcc files keep every digit the doubles hold.

    Parameters
    ----------
    values : array_like of float, optional
        Initial values (any unit; the moments carry the same unit and its powers).
    weights : array_like of float, optional
        Frequency weights (>= 0): one per value, or a single weight for all of them.
        ``count`` is then their total.

    Notes
    -----
    ``skewness`` and ``kurtosis`` are the biased estimators of
    ``scipy.stats.skew`` and ``scipy.stats.kurtosis`` with their defaults
    (``bias=True``; kurtosis is Fisher's excess kurtosis, 0 for a normal law).

    Thread safety: one object may be shared by threads. Every method takes the object's
    own lock (adds release the GIL but hold the lock), so concurrent ``add``, ``merge``,
    queries and ``to_bytes`` see whole updates only and lose no count; ``a.merge(a)``
    adds the object to itself. Separate objects are filled in parallel.

    Examples
    --------
    >>> m = Moments([1.0, 2.0, 3.0, 4.0])
    >>> m.count, m.mean, m.variance()
    (4.0, 2.5, 1.6666666666666667)
    >>> m.merge(Moments([5.0])).max
    5.0
    >>> Moments.from_bytes(m.to_bytes()) == m
    True
    """

    __slots__ = ("_impl",)

    def __init__(
        self,
        values: npt.ArrayLike | None = None,
        *,
        weights: npt.ArrayLike | None = None,
    ) -> None:
        self._impl = _core.Moments()
        if values is not None:
            self.add(values, weights=weights)
        elif weights is not None:
            raise ValueError("weights were given without values")

    @classmethod
    def _wrap(cls, impl: _core.Moments) -> Moments:
        obj = cls.__new__(cls)
        obj._impl = impl
        return obj

    def add(
        self, values: npt.ArrayLike, *, weights: npt.ArrayLike | None = None
    ) -> Moments:
        """Add values (a scalar or a 1-D array) and return ``self``.

        A NaN or infinite value, or a negative or non-finite weight, raises
        ValueError naming the position of the first bad entry; nothing is added then.

        Examples
        --------
        >>> Moments().add([10.0, 20.0], weights=[3.0, 1.0]).mean
        12.5
        """
        x = _as_float_array(values, "values")
        w = None
        if weights is not None:
            w = _as_float_array(weights, "weights")
            if np.ndim(weights) == 0 and x.size != 1:
                w = np.full(x.size, w[0])  # one weight for every value
        self._impl.add(x, w)
        return self

    def merge(self, other: Moments) -> Moments:
        """Fold ``other`` into this summary (in place) and return ``self``.

        Examples
        --------
        >>> a, b = Moments([1.0, 2.0]), Moments([3.0, 4.0])
        >>> a.merge(b) == Moments([1.0, 2.0, 3.0, 4.0])
        True
        """
        if not isinstance(other, Moments):
            raise TypeError(f"other must be a Moments, got {type(other).__name__}")
        self._impl.merge(other._impl)
        return self

    @property
    def count(self) -> float:
        """Total weight: the number of values when unweighted."""
        return self._impl.count

    @property
    def size(self) -> int:
        """Number of values added (including any with weight 0)."""
        return self._impl.size

    @property
    def mean(self) -> float:
        """Weighted mean (NaN when empty)."""
        return self._impl.mean

    def variance(self, ddof: float = 1.0) -> float:
        """Variance ``M2 / (count - ddof)``; NaN when ``count <= ddof``.

        ``ddof=1`` (the default) is the unbiased sample variance, as
        ``numpy.var(ddof=1)``; ``ddof=0`` is the population variance.
        """
        return self._impl.variance(float(ddof))

    def std(self, ddof: float = 1.0) -> float:
        """Standard deviation ``sqrt(variance(ddof))`` (same unit as the values)."""
        return self._impl.std(float(ddof))

    @property
    def skewness(self) -> float:
        """Biased skewness ``m3 / m2**1.5`` (``scipy.stats.skew`` default)."""
        return self._impl.skewness

    @property
    def kurtosis(self) -> float:
        """Biased excess kurtosis ``m4 / m2**2 - 3`` (``scipy.stats.kurtosis``)."""
        return self._impl.kurtosis

    @property
    def min(self) -> float:
        """Smallest value of positive weight (NaN when empty)."""
        return self._impl.min

    @property
    def max(self) -> float:
        """Largest value of positive weight (NaN when empty)."""
        return self._impl.max

    @property
    def sum(self) -> float:
        """Weighted sum, accumulated with error-free transformations."""
        return self._impl.sum

    def to_bytes(self) -> bytes:
        """Versioned binary form (magic ``PSMO``, CRC-32 checked on reading)."""
        return self._impl.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Moments:
        """Read what :meth:`to_bytes` wrote; ValueError on damaged or foreign bytes."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        return cls._wrap(_core.Moments.from_bytes(bytes(data)))

    @classmethod
    def merge_serialized(
        cls, payloads: Iterable[bytes | bytearray | memoryview]
    ) -> Moments:
        """The merge of many serialized summaries, read and merged in one call (in
        C++, without the GIL): equal to ``from_bytes`` of the first merged with
        ``from_bytes`` of each of the others in order, every payload validated as
        :meth:`from_bytes` validates it. ValueError when `payloads` is empty or one is
        unreadable (naming its index); TypeError for an item that is not bytes-like.

        Examples
        --------
        >>> a, b = Moments([1.0, 2.0]), Moments([3.0])
        >>> Moments.merge_serialized([a.to_bytes(), b.to_bytes()]) == a.merge(b)
        True
        """
        return cls._wrap(_core.Moments.merge_serialized(payloads))

    def merge_bytes(
        self, payloads: Iterable[bytes | bytearray | memoryview]
    ) -> Moments:
        """Merge many serialized summaries into this one, in order; returns self. The
        same as ``self.merge(Moments.from_bytes(p))`` for each payload, bit for bit,
        in one call (in C++, without the GIL); ValueError naming the index of an
        unreadable payload leaves the summary unchanged.

        Examples
        --------
        >>> a, b = Moments([1.0, 2.0]), Moments([3.0])
        >>> a.merge_bytes([b.to_bytes()]) == Moments([1.0, 2.0, 3.0])
        True
        """
        self._impl.merge_bytes(payloads)
        return self

    def copy(self) -> Moments:
        """An independent copy."""
        return self._wrap(_core.Moments.from_bytes(self._impl.to_bytes()))

    def __copy__(self) -> Moments:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> Moments:
        return self.copy()

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (Moments.from_bytes, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Moments):
            return NotImplemented
        return bool(self._impl == other._impl)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def to_dict(self) -> dict[str, float]:
        """The summary statistics as a plain dict (``ddof=1`` for std and variance)."""
        return {
            "count": self.count,
            "mean": self.mean,
            "std": self.std(),
            "variance": self.variance(),
            "skewness": self.skewness,
            "kurtosis": self.kurtosis,
            "min": self.min,
            "max": self.max,
            "sum": self.sum,
        }

    _one_line = True
    _repr_fields = ("count", "mean", "std", "min", "max")

    def _view(self) -> View:
        return View("Moments", self.to_dict(), digits=10)


def lag1_autocorrelation(values: npt.ArrayLike) -> float:
    """Lag-1 autocorrelation as NIST StRD defines it.

    ``r1 = sum_{i>=1} (x[i] - mean)(x[i-1] - mean) / sum_i (x[i] - mean)**2``
    (dimensionless), with an accurate mean. ValueError for fewer than 2 values, a
    non-finite value (its index is named) or a constant series.

    Examples
    --------
    >>> lag1_autocorrelation([10000001.0, 10000003.0, 10000002.0])
    -0.5
    """
    return _core.lag1_autocorrelation(_as_float_array(values, "values"))


def long_run_variance_ratio(
    contrast: npt.ArrayLike, *, max_lag: int | None = None
) -> tuple[float, float]:
    """Long-run over independent variance of a sum of time-ordered contributions.

    ``contrast`` holds one centred contribution per event, in time order, whose sum is
    an estimate's error (for a difference of arm means: ``(x - mean_a) / n_a`` for an
    event of arm a, ``-(x - mean_b) / n_b`` for one of arm b). Returns the Newey-West
    (Bartlett kernel) variance of the sum with Newey and West's (1994) automatic
    bandwidth (pre-bandwidth ``4 (n / 100)^(2/9)``, as R's ``sandwich::bwNeweyWest``),
    divided by the sum of squares (the variance that treats the events as
    independent). Per-request randomisation keeps the contrast uncorrelated even when
    the metric drifts with time (both arms share the drift): the ratio is then near 1.
    Arms that occupy different stretches of time (assignment by user whose requests
    arrive together, a rollout by hour) give a ratio above 1. Bartlett weights
    under-estimate dependence whose range is comparable with the bandwidth.

    Parameters
    ----------
    contrast : array_like, shape (n,)
        Centred contributions in time order (any unit; it cancels).
    max_lag : int, optional
        Cap of the bandwidth, in events; default ``n // 4``.

    Returns
    -------
    ratio : float
        HAC variance / independent variance (>= 0; 1.0 for fewer than 3 values or
        an all-zero series).
    bandwidth : float
        The Bartlett bandwidth ``S``, in events: lag ``j`` has weight ``1 - j / S``.

    Raises
    ------
    ValueError
        On a non-finite value, naming its index.

    Examples
    --------
    >>> import numpy as np
    >>> from perfstats import long_run_variance_ratio
    >>> rng = np.random.default_rng(0)
    >>> ratio, bandwidth = long_run_variance_ratio(rng.normal(size=4000))
    >>> bool(0.8 < ratio < 1.2)
    True
    >>> runs = np.repeat(rng.normal(size=200), 20)  # runs of 20 equal values
    >>> ratio, bandwidth = long_run_variance_ratio(runs - runs.mean())
    >>> bool(ratio > 5)
    True
    """
    x = np.asarray(contrast, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"contrast must be 1-D, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"contrast[{int(bad[0])}] is {x[bad[0]]!r}, not finite")
    n = x.size
    s0 = float(x @ x)
    if n < 3 or not s0 > 0:
        return 1.0, 0.0
    cap = max(n // 4 if max_lag is None else int(max_lag), 0)
    pre = min(int(4.0 * (n / 100.0) ** (2.0 / 9.0)), n - 1)

    def acov(j: int) -> float:  # sum_i x[i] x[i + j]; no BLAS call: a threaded
        # dot product of a short vector stalls on a loaded machine
        return float(np.multiply(x[j:], x[: n - j]).sum())

    g = np.array([acov(j) for j in range(1, pre + 1)])
    sigma0 = s0 + 2.0 * float(g.sum())
    sigma1 = 2.0 * float(np.arange(1, pre + 1) @ g)
    if not sigma0 > 0:
        return 1.0, 0.0
    bandwidth = min(1.1447 * ((sigma1 / sigma0) ** 2 * n) ** (1.0 / 3.0), cap + 1.0)
    lags = min(math.ceil(bandwidth) - 1, n - 1)
    total = s0
    for j in range(1, lags + 1):
        total += 2.0 * (1.0 - j / bandwidth) * (g[j - 1] if j <= pre else acov(j))
    return max(total, 0.0) / s0, bandwidth
