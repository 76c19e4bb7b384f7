"""QuantileSketch: mergeable percentiles with a guaranteed relative error."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from perfstats import _core
from perfstats._display import View
from perfstats._result import Result

ArrayLike = npt.ArrayLike
_REPR_QUANTILES = (0.5, 0.9, 0.99, 0.999)


def as_float_array(values: ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """Return `values` as something the core views as float64 without copying.

    Float64 arrays pass through untouched (any stride); integer and float arrays of other
    widths are converted; anything else (strings, datetimes, objects) is a TypeError
    naming the argument.
    """
    arr = np.asarray(values)
    if arr.dtype == np.float64:
        return arr
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be numeric, got an array of dtype {arr.dtype}")
    return arr.astype(np.float64)


class QuantileSketch(Result):
    """Mergeable quantile sketch with a guaranteed relative error.

    Values fall into logarithmic buckets on the OpenTelemetry exponential-histogram grid:
    bucket ``i`` covers ``(base**i, base**(i+1)]`` with ``base = 2**(2**-scale)``. The
    sketch picks the coarsest scale whose accuracy meets ``relative_accuracy``, so every
    quantile ``q̂`` it returns is within ``relative_accuracy * |q|`` of the exact value
    ``q`` of rank ``floor(q * (count - 1))`` — ``numpy.quantile(x, q,
    method="lower")``. Zero and negative values are kept (a zero count and a mirrored
    store); ``count``, ``sum``, ``min`` and ``max`` are exact. Values keep their unit:
    add milliseconds, get milliseconds back.

    Memory is bounded by ``max_buckets`` per sign. A range wider than that lowers the
    scale (halving the resolution) instead of dropping values; ``relative_accuracy``
    then reports the accuracy actually achieved. Merging two sketches gives exactly the
    sketch of the concatenated data.

    Thread safety: one object may be shared by threads. Every method takes the object's
    own lock (adds release the GIL but hold the lock), so concurrent ``add``, ``merge``,
    queries and ``to_bytes`` see whole updates only and lose no count; ``a.merge(a)``
    adds the object to itself. Separate objects are filled in parallel.

    Parameters
    ----------
    relative_accuracy : float, default 0.01
        Largest acceptable relative error of a quantile, in (0, 1).
    max_buckets : int, default 4096
        Upper bound on buckets per sign (8 bytes each).

    Examples
    --------
    >>> import numpy as np
    >>> from perfstats import QuantileSketch
    >>> latency_ms = np.random.default_rng(0).lognormal(np.log(800), 1.0, 100_000)
    >>> sketch = QuantileSketch(relative_accuracy=0.01)
    >>> sketch.add(latency_ms)
    >>> p99 = sketch.quantile(0.99)
    >>> exact = np.quantile(latency_ms, 0.99, method="lower")
    >>> bool(abs(p99 - exact) <= 0.01 * exact)
    True
    >>> sketch.count
    100000.0
    """

    __slots__ = ("_core",)

    def __init__(
        self, relative_accuracy: float = 0.01, *, max_buckets: int = 4096
    ) -> None:
        self._core = _core.QuantileSketch(relative_accuracy, max_buckets)

    @classmethod
    def _wrap(cls, core: _core.QuantileSketch) -> QuantileSketch:
        sketch = cls.__new__(cls)
        sketch._core = core
        return sketch

    # ---- filling -----------------------------------------------------------------------

    def add(self, values: float | ArrayLike, weights: ArrayLike | None = None) -> None:
        """Add one value or a 1-D array of values, optionally weighted.

        Parameters
        ----------
        values : float or array-like
            Finite numbers in any unit (e.g. milliseconds). A contiguous or strided
            float64 NumPy array is read in place, without a copy.
        weights : float or array-like, optional
            Non-negative finite weights: one per value, or a single weight for all of
            them (as NumPy broadcasting would; float weights allowed).

        Raises
        ------
        ValueError
            If any value is NaN or infinite, or a weight is negative or non-finite; the
            message says how many and where the first is, and nothing is added.

        Examples
        --------
        >>> s = QuantileSketch()
        >>> s.add(12.5)
        >>> s.add([10.0, 20.0], weights=[2.0, 0.5])
        >>> s.count
        3.5
        """
        v = as_float_array(values, "values")
        w = None if weights is None else as_float_array(weights, "weights")
        if v.ndim == 0 and (w is None or w.ndim == 0):
            self._core.add_value(float(v), 1.0 if w is None else float(w))
            return
        if w is not None and w.ndim == 0 and v.ndim == 1:
            w = np.broadcast_to(
                w, v.shape
            )  # one weight for every value (a stride-0 view)
        self._core.add_array(v.reshape(-1) if v.ndim == 0 else v, w)

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """Add every value of `other` into this sketch; returns self.

        Sketches at different scales merge by downscaling the finer one, so the result
        equals the sketch of the concatenated data. This sketch keeps its ``max_buckets``.

        Examples
        --------
        >>> a, b = QuantileSketch(), QuantileSketch()
        >>> a.add([1.0, 2.0]); b.add([3.0])
        >>> a.merge(b).count
        3.0
        """
        if not isinstance(other, QuantileSketch):
            raise TypeError(
                f"can only merge a QuantileSketch, got {type(other).__name__}"
            )
        self._core.merge(other._core)
        return self

    # ---- queries -----------------------------------------------------------------------

    @overload
    def quantile(self, q: float) -> float: ...
    @overload
    def quantile(
        self, q: Iterable[float] | npt.NDArray[Any]
    ) -> npt.NDArray[np.float64]: ...

    def quantile(self, q: float | Iterable[float] | npt.NDArray[Any]) -> Any:
        """Estimated quantile(s), in the unit of the values added.

        Parameters
        ----------
        q : float or array-like of float
            Quantile levels in [0, 1] (0.99 is p99).

        Returns
        -------
        float or numpy.ndarray
            Within ``relative_accuracy * |exact|`` of ``numpy.quantile(values, q,
            method="lower")``; ``q=0`` and ``q=1`` return ``min`` and ``max`` exactly.
            NaN for an empty sketch.

        Examples
        --------
        >>> s = QuantileSketch(0.01)
        >>> s.add(np.arange(1.0, 101.0))
        >>> s.quantile([0.0, 1.0]).tolist()
        [1.0, 100.0]
        """
        arr = np.asarray(q, dtype=np.float64)
        out = self._core.quantiles(arr.reshape(-1))
        return float(out[0]) if arr.ndim == 0 else out.reshape(arr.shape)

    @overload
    def cdf(self, x: float) -> float: ...
    @overload
    def cdf(self, x: Iterable[float] | npt.NDArray[Any]) -> npt.NDArray[np.float64]: ...

    def cdf(self, x: float | Iterable[float] | npt.NDArray[Any]) -> Any:
        """Fraction of the weight at or below `x` (e.g. SLA compliance for a target).

        A bucket counts as at-or-below `x` when its representative value is. With
        ``a = relative_accuracy`` and ``F`` the exact empirical CDF, for ``x > 0``:
        ``F(x / (1 + a)) <= cdf(x) <= F(x / (1 - a))``; exact below ``min`` (0) and at or
        above ``max`` (1). NaN for an empty sketch.

        Examples
        --------
        >>> s = QuantileSketch()
        >>> s.add([100.0, 200.0, 4000.0, 9000.0])
        >>> s.cdf(5000.0)  # share of requests within a 5 s SLA, in ms
        0.75
        """
        arr = np.asarray(x, dtype=np.float64)
        out = np.array([self._core.cdf(float(v)) for v in arr.reshape(-1)])
        return float(out[0]) if arr.ndim == 0 else out.reshape(arr.shape)

    @property
    def count(self) -> float:
        """Total weight added (the number of values when unweighted)."""
        return self._core.count

    @property
    def sum(self) -> float:
        """Weighted sum of the values (compensated summation), in their unit."""
        return self._core.sum

    @property
    def mean(self) -> float:
        """Weighted mean of the values; NaN when empty."""
        return self._core.mean

    @property
    def min(self) -> float:
        """Smallest value added (exact); NaN when empty."""
        return self._core.min

    @property
    def max(self) -> float:
        """Largest value added (exact); NaN when empty."""
        return self._core.max

    @property
    def zero_count(self) -> float:
        """Weight of values equal to zero."""
        return self._core.zero_count

    @property
    def scale(self) -> int:
        """Current OpenTelemetry exponential-histogram scale (base = 2**(2**-scale))."""
        return self._core.scale

    @property
    def relative_accuracy(self) -> float:
        """Relative error bound at the current scale: (base - 1) / (base + 1)."""
        return self._core.relative_accuracy

    @property
    def max_buckets(self) -> int:
        """Bucket limit per sign."""
        return self._core.max_buckets

    @property
    def nbytes(self) -> int:
        """Bytes of memory the sketch holds, bucket arrays included."""
        return self._core.memory_bytes

    def buckets(self, *, negative: bool = False) -> tuple[int, npt.NDArray[np.float64]]:
        """Index of the first bucket and the dense counts of the positive (or negative,
        by magnitude) store: counts[j] belongs to bucket ``offset + j``."""
        offset, counts = self._core.buckets(negative)
        return int(offset), counts

    @classmethod
    def from_buckets(
        cls,
        *,
        scale: int,
        positive_offset: int = 0,
        positive_counts: ArrayLike = (),
        negative_offset: int = 0,
        negative_counts: ArrayLike = (),
        zero_count: float = 0.0,
        count: float | None = None,
        sum: float | None = None,
        min: float | None = None,
        max: float | None = None,
        max_buckets: int = 4096,
    ) -> QuantileSketch:
        """Build a sketch from exponential-histogram buckets (OpenTelemetry layout).

        Missing ``count`` is the total of the buckets; missing ``min``/``max`` are the
        outer bucket edges; missing ``sum`` is estimated from bucket midpoints.

        Examples
        --------
        >>> s = QuantileSketch.from_buckets(scale=0, positive_offset=3,
        ...                                 positive_counts=[1, 0, 2])
        >>> s.count, s.max
        (3.0, 64.0)
        """
        nan = float("nan")
        core = _core.QuantileSketch.from_buckets(
            scale,
            positive_offset,
            as_float_array(np.asarray(positive_counts, dtype=float), "positive_counts"),
            negative_offset,
            as_float_array(np.asarray(negative_counts, dtype=float), "negative_counts"),
            float(zero_count),
            nan if count is None else float(count),
            nan if sum is None else float(sum),
            nan if min is None else float(min),
            nan if max is None else float(max),
            max_buckets,
        )
        return cls._wrap(core)

    # ---- serialization and copies ----------------------------------------------------

    def to_bytes(self) -> bytes:
        """Compact versioned binary form (varint counts, CRC-32 checked).

        Examples
        --------
        >>> s = QuantileSketch(); s.add([1.0, 2.0, 3.0])
        >>> QuantileSketch.from_bytes(s.to_bytes()) == s
        True
        """
        return self._core.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> QuantileSketch:
        """Read a sketch written by :meth:`to_bytes` (any earlier format version).

        Raises
        ------
        ValueError
            For truncated, corrupted or otherwise invalid data.
        """
        return cls._wrap(_core.QuantileSketch.from_bytes(data))

    @classmethod
    def merge_serialized(
        cls, payloads: Iterable[bytes | bytearray | memoryview]
    ) -> QuantileSketch:
        """The merge of many serialized sketches, read and merged in one call.

        Equal to ``from_bytes`` of the first merged with ``from_bytes`` of each of the
        others in order, with every payload validated as :meth:`from_bytes` validates
        it; the reading and merging run in C++ without the GIL (a store rolling up
        thousands of windows per group).

        Parameters
        ----------
        payloads : iterable of bytes-like
            At least one :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            When `payloads` is empty or one is unreadable (the message names its index).
        TypeError
            When an item is not bytes-like (named by its index).

        Examples
        --------
        >>> a, b = QuantileSketch(), QuantileSketch()
        >>> a.add([1.0, 2.0]); b.add([3.0])
        >>> QuantileSketch.merge_serialized([a.to_bytes(), b.to_bytes()]) == a.merge(b)
        True
        """
        return cls._wrap(_core.QuantileSketch.merge_serialized(payloads))

    def merge_bytes(
        self, payloads: Iterable[bytes | bytearray | memoryview]
    ) -> QuantileSketch:
        """Merge many serialized sketches into this one, in order; returns self.

        The same as ``self.merge(QuantileSketch.from_bytes(p))`` for each payload,
        bit for bit, in one call (in C++, without the GIL, under this sketch's lock).
        When a payload is unreadable, ValueError names its index and the sketch is
        unchanged.

        Examples
        --------
        >>> a, b = QuantileSketch(), QuantileSketch()
        >>> a.add([1.0, 2.0]); b.add([3.0])
        >>> a.merge_bytes([b.to_bytes(), b.to_bytes()]).count
        4.0
        """
        self._core.merge_bytes(payloads)
        return self

    def copy(self) -> QuantileSketch:
        """An independent copy."""
        return self._wrap(self._core.__copy__())

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> QuantileSketch:
        return self.copy()

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (QuantileSketch.from_bytes, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        return bool(self._core == other._core)

    __hash__ = None  # type: ignore[assignment]

    # ---- display -----------------------------------------------------------------------

    def _summary(self) -> dict[str, float]:
        qs = self.quantile(np.array(_REPR_QUANTILES))
        out = {"count": self.count, "min": self.min}
        out.update(
            {
                f"p{100 * q:g}": float(v)
                for q, v in zip(_REPR_QUANTILES, qs, strict=True)
            }
        )
        out["max"] = self.max
        return out

    def to_dict(self) -> dict[str, Any]:
        """Count, min, the 50th to 99.9th percentiles and max (units of the values),
        with the accuracy and grid scale actually reached."""
        return {
            **self._summary(),
            "relative_accuracy": self.relative_accuracy,
            "scale": self.scale,
        }

    _one_line = True

    def _view(self) -> View:
        return View("QuantileSketch", self.to_dict())
