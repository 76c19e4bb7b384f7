"""Fixed-boundary histograms for SLA buckets and Prometheus / OpenTelemetry exports."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from perfstats import _core
from perfstats._display import Table, View
from perfstats._result import Result
from perfstats._validate import float_array

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["Histogram"]

# Recommended ExplicitBucketBoundaries of the OpenTelemetry GenAI semantic conventions
# (docs/gen-ai/gen-ai-metrics.md); durations in seconds, token usage in tokens.
_GEN_AI_DURATION = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96,
    81.92,
)  # fmt: skip
_PRESETS: dict[str, tuple[float, ...]] = {
    "gen_ai.client.operation.duration": _GEN_AI_DURATION,
    "gen_ai.server.request.duration": _GEN_AI_DURATION,
    "gen_ai.client.token.usage": (
        1.0,
        4.0,
        16.0,
        64.0,
        256.0,
        1024.0,
        4096.0,
        16384.0,
        65536.0,
        262144.0,
        1048576.0,
        4194304.0,
        16777216.0,
        67108864.0,
    ),
    "gen_ai.server.time_per_output_token": (
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.3,
        0.4,
        0.5,
        0.75,
        1.0,
        2.5,
    ),
    "gen_ai.server.time_to_first_token": (
        0.001,
        0.005,
        0.01,
        0.02,
        0.04,
        0.06,
        0.08,
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        2.5,
        5.0,
        7.5,
        10.0,
    ),
}


def _edge_text(x: float) -> str:
    """Shortest faithful text for a boundary or count (integers without '.0')."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else repr(float(x))


class Histogram(Result):
    """Weighted counts in fixed buckets with upper-inclusive (``le``) boundaries.

    Bucket 0 is ``(-inf, b[0]]``, bucket ``i`` is ``(b[i-1], b[i]]`` and the last,
    ``(b[-1], +inf)``, catches the overflow: ``n`` boundaries give ``n + 1`` buckets,
    exactly as Prometheus ``le`` buckets and OpenTelemetry explicit-bucket histograms
    count them. Histograms with equal boundaries merge exactly.

    Parameters
    ----------
    boundaries : array-like of float
        Finite, strictly increasing bucket upper bounds, in the unit of the values
        (for example milliseconds). May be empty (one bucket holds everything).

    Raises
    ------
    ValueError
        If a boundary is NaN or infinite, or not greater than the one before it; the
        message names its index.

    Notes
    -----
    Thread safety: one object may be shared by threads. Every method takes the object's
    own lock (adds release the GIL but hold the lock), so concurrent ``add``, ``merge``,
    queries and ``to_bytes`` see whole updates only and lose no count; ``a.merge(a)``
    adds the object to itself. Separate objects are filled in parallel.

    Examples
    --------
    >>> h = Histogram(boundaries=[1000, 2000, 5000])
    >>> h.add([250.0, 1000.0, 1500.0, 2000.0, 9000.0])
    >>> h.counts
    array([2., 2., 0., 1.])
    >>> h.cumulative  # Prometheus-style: observations <= each boundary, then +Inf
    array([2., 4., 4., 5.])
    >>> float(h.fractions[0])
    0.4
    """

    PRESETS: ClassVar[Mapping[str, tuple[float, ...]]] = MappingProxyType(_PRESETS)
    """Named boundary sets: the OpenTelemetry GenAI recommended bucket boundaries."""

    __slots__ = ("_h",)

    def __init__(self, boundaries: npt.ArrayLike) -> None:
        self._h = _core.Histogram(_as_1d_float(boundaries, "boundaries"))

    @classmethod
    def preset(cls, name: str) -> Histogram:
        """An empty histogram with the named boundaries of :attr:`PRESETS`.

        Parameters
        ----------
        name : str
            An OpenTelemetry GenAI metric name: ``"gen_ai.client.operation.duration"``
            (seconds), ``"gen_ai.client.token.usage"`` (tokens),
            ``"gen_ai.server.request.duration"``,
            ``"gen_ai.server.time_per_output_token"`` or
            ``"gen_ai.server.time_to_first_token"`` (seconds).

        Examples
        --------
        >>> h = Histogram.preset("gen_ai.client.token.usage")
        >>> h.boundaries[:4]
        array([ 1.,  4., 16., 64.])
        """
        try:
            boundaries = _PRESETS[name]
        except KeyError:
            known = ", ".join(sorted(_PRESETS))
            raise ValueError(
                f"unknown preset {name!r}; known presets: {known}"
            ) from None
        return cls(boundaries)

    # ---- filling ----------------------------------------------------------------
    def add(self, values: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> None:
        """Add one value or a 1-D array of values, optionally weighted.

        Parameters
        ----------
        values : float or 1-D array-like of float
            Finite values. Contiguous float64 NumPy arrays are read without a copy.
        weights : float or 1-D array-like of float, optional
            Finite, non-negative weights (default 1 each): one per value, or a single
            weight for all of them.

        Raises
        ------
        ValueError
            If any value is NaN or infinite, or any weight negative, NaN or infinite;
            the message says how many and where the first is. Nothing is added then.
        """
        if np.ndim(values) == 0:
            if weights is not None and np.ndim(weights) != 0:
                raise ValueError("a single value takes a single weight, got an array")
            weight = 1.0 if weights is None else _scalar(weights, "weights")
            self._h.add_one(_scalar(values, "values"), weight)
            return
        v = _as_1d_float(values, "values")
        w = None
        if weights is not None:
            w = _as_1d_float(np.atleast_1d(weights), "weights")
            if w.size == 1 and v.size != 1:
                w = np.full(v.size, w[0])  # one weight for every value
        self._h.add(v, w)

    def merge(self, other: Histogram) -> None:
        """Add the counts of `other`, which must have identical boundaries.

        Raises
        ------
        ValueError
            If the boundaries differ.
        """
        if not isinstance(other, Histogram):
            raise TypeError(f"other must be a Histogram, got {type(other).__name__}")
        self._h.merge(other._h)

    # ---- contents ---------------------------------------------------------------
    @property
    def boundaries(self) -> npt.NDArray[np.float64]:
        """Bucket upper bounds (``n`` values; the overflow bucket has none)."""
        return self._h.boundaries

    @property
    def counts(self) -> npt.NDArray[np.float64]:
        """Weight in each bucket (``n + 1`` values, the overflow bucket last)."""
        return self._h.counts

    @property
    def fractions(self) -> npt.NDArray[np.float64]:
        """Share of the total weight in each bucket; all NaN while empty."""
        counts = self._h.counts
        total = float(counts.sum())
        if total == 0.0:
            return np.full_like(counts, np.nan)
        return counts / total

    @property
    def cumulative(self) -> npt.NDArray[np.float64]:
        """Weight at or below each boundary, then the total (Prometheus ``le``)."""
        return np.cumsum(self._h.counts)

    @property
    def count(self) -> float:
        """Total weight (the number of values when unweighted)."""
        return self._h.count

    @property
    def sum(self) -> float:
        """Weighted sum of the values, in their unit."""
        return self._h.sum

    @property
    def mean(self) -> float:
        """Weighted mean of the values; NaN while empty."""
        count = self._h.count
        return self._h.sum / count if count > 0 else float("nan")

    @property
    def min(self) -> float:
        """Smallest value added with positive weight; NaN while empty."""
        return self._h.min

    @property
    def max(self) -> float:
        """Largest value added with positive weight; NaN while empty."""
        return self._h.max

    def labels(self) -> list[str]:
        """A text label for each bucket, ``"(-inf, b0]"`` to ``"(b[-1], +inf)"``."""
        edges = ["-inf", *(_edge_text(b) for b in self._h.boundaries)]
        labels = [f"({lo}, {hi}]" for lo, hi in itertools.pairwise(edges)]
        return [*labels, f"({edges[-1]}, +inf)"]

    def to_dict(self) -> dict[str, Any]:
        """Plain Python contents (lists and floats), e.g. for JSON."""
        return {
            "boundaries": self._h.boundaries.tolist(),
            "counts": self._h.counts.tolist(),
            "count": self.count,
            "sum": self.sum,
            "min": self.min,
            "max": self.max,
        }

    # ---- serialization, copying, comparison --------------------------------------
    def to_bytes(self) -> bytes:
        """Compact, versioned, checksummed bytes; see :meth:`from_bytes`."""
        return self._h.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Histogram:
        """Rebuild a histogram from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            If the bytes are truncated, corrupted, of a newer format version or not a
            serialized histogram.

        Examples
        --------
        >>> h = Histogram([1, 2])
        >>> h.add([0.5, 1.5, 1.5])
        >>> Histogram.from_bytes(h.to_bytes()) == h
        True
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        new = cls.__new__(cls)
        new._h = _core.Histogram.from_bytes(bytes(data))
        return new

    @classmethod
    def merge_serialized(
        cls, payloads: Iterable[bytes | bytearray | memoryview]
    ) -> Histogram:
        """The merge of many serialized histograms, read and merged in one call (in
        C++, without the GIL): equal to ``from_bytes`` of the first merged with
        ``from_bytes`` of each of the others in order, every payload validated as
        :meth:`from_bytes` validates it.

        Raises
        ------
        ValueError
            When `payloads` is empty, or one is unreadable or has other boundaries
            (the message names its index).
        TypeError
            When an item is not bytes-like (named by its index).

        Examples
        --------
        >>> a, b = Histogram([1, 2]), Histogram([1, 2])
        >>> a.add([0.5]); b.add([1.5, 2.5])
        >>> Histogram.merge_serialized([a.to_bytes(), b.to_bytes()]).counts.tolist()
        [1.0, 1.0, 1.0]
        """
        new = cls.__new__(cls)
        new._h = _core.Histogram.merge_serialized(payloads)
        return new

    def merge_bytes(self, payloads: Iterable[bytes | bytearray | memoryview]) -> None:
        """Merge many serialized histograms (same boundaries) into this one, in order:
        the same as :meth:`merge` of :meth:`from_bytes` of each payload, in one call
        (in C++, without the GIL). ValueError naming the index of an unreadable
        payload, or one with other boundaries, leaves the histogram unchanged.

        Examples
        --------
        >>> a, b = Histogram([1, 2]), Histogram([1, 2])
        >>> b.add([1.5])
        >>> a.merge_bytes([b.to_bytes(), b.to_bytes()])
        >>> a.counts.tolist()
        [0.0, 2.0, 0.0]
        """
        self._h.merge_bytes(payloads)

    def copy(self) -> Histogram:
        """An independent copy."""
        new = type(self).__new__(type(self))
        new._h = self._h.copy()
        return new

    def __copy__(self) -> Histogram:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> Histogram:
        return self.copy()

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (_from_bytes, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return bool(self._h == other._h)

    __hash__ = None  # type: ignore[assignment]

    # ---- display ----------------------------------------------------------------
    _one_line = True
    _repr_fields = ("boundaries", "counts")

    def _view(self) -> View:
        buckets = Table(
            ["count", "share", "cumulative"],
            list(
                zip(
                    self._h.counts.tolist(),
                    self.fractions.tolist(),
                    self.cumulative.tolist(),
                    strict=True,
                )
            ),
            labels=self.labels(),
            index_name="bucket",
        )
        return View("Histogram", self.to_dict(), {"buckets": buckets}, digits=15)

    def to_frame(self) -> pd.DataFrame:
        """One row per bucket: its label, upper bound (``inf`` for the overflow
        bucket), count, fraction and cumulative count (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "bucket": self.labels(),
                "le": [*self._h.boundaries.tolist(), float("inf")],
                "count": self._h.counts,
                "fraction": self.fractions,
                "cumulative": self.cumulative,
            }
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Bar chart of the bucket counts, one labelled bar per bucket.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new figure's axes by default.

        Returns
        -------
        matplotlib.axes.Axes
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Histogram.plot needs matplotlib: pip install 'perfstats[plot]'"
            ) from err
        if ax is None:
            _, ax = plt.subplots()
        positions = np.arange(len(self._h.counts))
        ax.bar(positions, self._h.counts)
        ax.set_xticks(positions, self.labels(), rotation=45, ha="right")
        ax.set_xlabel("bucket (upper-inclusive)")
        ax.set_ylabel("count")
        return ax


def _from_bytes(data: bytes) -> Histogram:
    """Unpickling hook (module level so pickles do not depend on class internals)."""
    return Histogram.from_bytes(data)


def _scalar(x: npt.ArrayLike, name: str) -> float:
    if isinstance(x, str | bytes) or np.asarray(x).dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a number, got {x!r}")
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number, got {x!r}") from err


def _as_1d_float(x: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """`x` as 1-D float64 (no copy when it already is one); clear errors otherwise."""
    return float_array(x, name)
