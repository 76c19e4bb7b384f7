"""Point anomaly detection on telemetry series: 3-sigma, robust, EWMA and seasonal rules.

Every detector scores a value against a baseline built from earlier values only (the
current point never inflates its own baseline) and flags it when ``|score| > threshold``.
Each works in batch (:meth:`detect`) or streaming (:meth:`update`), with identical
results. Shared rules:

- NaN is a gap: the point is not scored (score NaN, not flagged) and does not enter the
  baseline. Infinite values raise ``ValueError``.
- Until the baseline holds ``min_periods`` values the score, expected value and band are
  NaN and nothing is flagged.
- ``score = (value - expected) / scale``. When the scale is 0 (a constant baseline) the
  score is 0 for a value equal to the baseline and +-inf for any other value, so any
  departure from a flat line is flagged and nothing is divided by zero.

Example
-------
>>> import numpy as np
>>> from perfstats.stats.detectors import RobustZScore
>>> latency_ms = np.array([20.0, 21, 19, 20, 22, 20, 21, 19, 95, 20, 21])
>>> result = RobustZScore(5).detect(latency_ms)
>>> result.events()
[AnomalyEvent(start=8, end=8, peak=8, peak_score=50.58...)]
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from perfstats import _core, _thresholds
from perfstats._display import Table, View
from perfstats._result import Result
from perfstats._validate import float_array

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "AnomalyEvent",
    "AnomalyPoint",
    "AnomalyResult",
    "EwmaZScore",
    "RobustZScore",
    "RollingZScore",
    "SeasonalLevelDetector",
    "SeasonalZScore",
    "anomaly_likelihood",
    "empirical_tail_score",
]


class AnomalyPoint(NamedTuple):
    """One streamed point: its score, flag and the band it was judged against."""

    score: float
    is_anomaly: bool
    expected: float
    lower: float
    upper: float


@dataclass(frozen=True, repr=False)
class AnomalyEvent(Result):
    """An incident: a run of flagged points (row indices, ``end`` inclusive).

    ``peak`` is the row with the largest ``|score|`` and ``peak_score`` its signed score;
    the ``*_time`` fields hold the matching timestamps when the series had them.
    """

    start: int
    end: int
    peak: int
    peak_score: float
    start_time: Any = None
    end_time: Any = None
    peak_time: Any = None

    _one_line = True

    def _view(self) -> View:
        fields = {
            "start": self.start,
            "end": self.end,
            "peak": self.peak,
            "peak_score": self.peak_score,
        }
        if self.start_time is not None:
            fields |= {
                "start_time": self.start_time,
                "end_time": self.end_time,
                "peak_time": self.peak_time,
            }
        return View("AnomalyEvent", fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (timestamps as strings)."""
        out: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "peak": self.peak,
            "peak_score": self.peak_score,
        }
        if self.start_time is not None:
            out.update(
                start_time=str(self.start_time),
                end_time=str(self.end_time),
                peak_time=str(self.peak_time),
            )
        return out


class AnomalyResult(Result):
    """Per-point output of a detector over one series.

    Attributes
    ----------
    values, score, expected, lower, upper : numpy.ndarray of float64
        The series, its scores (in standard deviations), the baseline and the band
        ``expected -+ threshold * scale`` in the units of the values (for
        :class:`RollingZScore` and :class:`RobustZScore` the finite-sample
        ``critical`` value that gives `threshold` its nominal rate replaces it).
    is_anomaly : numpy.ndarray of bool
    timestamps : numpy.ndarray or None
    threshold : float
    """

    def __init__(
        self,
        *,
        values: npt.NDArray[np.float64],
        score: npt.NDArray[np.float64],
        is_anomaly: npt.NDArray[np.bool_],
        expected: npt.NDArray[np.float64],
        lower: npt.NDArray[np.float64],
        upper: npt.NDArray[np.float64],
        threshold: float,
        detector: str,
        timestamps: npt.NDArray[Any] | None = None,
    ) -> None:
        self.values = values
        self.score = score
        self.is_anomaly = is_anomaly
        self.expected = expected
        self.lower = lower
        self.upper = upper
        self.threshold = threshold
        self.detector = detector
        self.timestamps = timestamps

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def events(self, *, max_gap: int = 0) -> list[AnomalyEvent]:
        """Merge flagged points into incidents.

        Parameters
        ----------
        max_gap : int, default 0
            Flagged points separated by at most this many unflagged rows belong to the
            same incident (0: only consecutive rows merge).
        """
        if (
            isinstance(max_gap, bool)
            or not isinstance(max_gap, Integral)
            or max_gap < 0
        ):
            raise ValueError(f"max_gap must be an integer >= 0, got {max_gap!r}")
        flagged = np.flatnonzero(self.is_anomaly)
        if flagged.size == 0:
            return []
        breaks = np.flatnonzero(np.diff(flagged) > max_gap + 1)
        starts = np.concatenate(([0], breaks + 1))
        ends = np.concatenate((breaks, [flagged.size - 1]))
        out = []
        for a, b in zip(starts, ends, strict=True):
            rows = flagged[a : b + 1]
            peak = int(rows[np.argmax(np.abs(self.score[rows]))])
            start, end = int(rows[0]), int(rows[-1])
            ts = self.timestamps
            out.append(
                AnomalyEvent(
                    start=start,
                    end=end,
                    peak=peak,
                    peak_score=float(self.score[peak]),
                    start_time=None if ts is None else ts[start],
                    end_time=None if ts is None else ts[end],
                    peak_time=None if ts is None else ts[peak],
                )
            )
        return out

    def to_frame(self) -> pd.DataFrame:
        """The per-point columns as a pandas DataFrame (indexed by timestamp if any)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_frame() needs pandas: pip install 'perfstats[pandas]'"
            ) from exc
        index = (
            pd.Index(self.timestamps, name="timestamp")
            if self.timestamps is not None
            else pd.RangeIndex(len(self))
        )
        return pd.DataFrame(
            {
                "value": self.values,
                "score": self.score,
                "is_anomaly": self.is_anomaly,
                "expected": self.expected,
                "lower": self.lower,
                "upper": self.upper,
            },
            index=index,
        )

    def plot(
        self,
        ax: Axes | None = None,
        *,
        limits: tuple[float | None, float | None] = (None, None),
    ) -> Axes:
        """Draw the series, the expected band and the incidents; return the Axes.

        ``limits`` is the range the metric can take (``(0, 1)`` for a rate, ``(0,
        None)`` for a duration): the band is clipped to it, so it never shows values
        the metric cannot have."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "plot() needs matplotlib: pip install 'perfstats[plot]'"
            ) from exc
        if ax is None:
            _, ax = plt.subplots()
        x: Any = (
            self.timestamps if self.timestamps is not None else np.arange(len(self))
        )
        lo, hi = limits
        ax.fill_between(
            x,
            np.clip(self.lower, lo, hi),
            np.clip(self.upper, lo, hi),
            color="C0",
            alpha=0.2,
            label="expected band",
        )
        ax.plot(x, self.expected, color="C0", linewidth=0.8, label="expected")
        ax.plot(x, self.values, color="k", linewidth=0.8, label="value")
        for i, event in enumerate(self.events()):
            ax.axvspan(
                x[event.start],
                x[event.end],
                color="C3",
                alpha=0.25,
                label="incident" if i == 0 else None,
            )
        rows = np.flatnonzero(self.is_anomaly)
        ax.scatter(x[rows], self.values[rows], color="C3", s=12, zorder=3)
        ax.set_title(self.detector)
        ax.legend(loc="best", fontsize="small")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form: the settings, counts and incidents."""
        return {
            "detector": self.detector,
            "threshold": self.threshold,
            "n": len(self),
            "n_scored": int(np.count_nonzero(~np.isnan(self.score))),
            "n_anomalies": int(np.count_nonzero(self.is_anomaly)),
            "events": [e.to_dict() for e in self.events()],
        }

    #: incidents listed in the display; the rest are counted in a note
    _SHOWN_EVENTS = 20

    def _view(self) -> View:
        d = self.to_dict()
        events = self.events()
        fields = {
            "detector": self.detector,
            "threshold": self.threshold,
            "points": d["n"],
            "scored": d["n_scored"],
            "flagged": d["n_anomalies"],
            "incidents": len(events),
        }
        shown = events[: self._SHOWN_EVENTS]
        timed = self.timestamps is not None
        columns = ["start", "end", "peak", "peak_score"] + ["start_time"] * timed
        rows = [
            [e.start, e.end, e.peak, e.peak_score] + [e.start_time] * timed
            for e in shown
        ]
        more = len(events) - len(shown)
        return View(
            type(self).__name__,
            fields,
            {"incidents": Table(columns, rows)} if rows else {},
            notes=[f"... and {more} more incidents"] if more > 0 else [],
        )


def _int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def positive_number(name: str, value: object) -> float:
    """`value` as a positive finite float; TypeError or ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return v


def _min_periods(value: int | None, lowest: int) -> int:
    return 0 if value is None else _int("min_periods", value, lowest)


def _series(values: object) -> npt.NDArray[np.float64]:
    return float_array(values, "values")  # type: ignore[arg-type]


class _Detector:
    """Shared batch/streaming plumbing; subclasses build `_core` detectors.

    Thread safety: each `_core` detector takes its own lock in ``update``, ``detect`` and
    ``reset``, so a detector shared by threads is never torn (the interleaving of their
    updates is whatever the threads make it).
    """

    _stream: Any

    def _make(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def threshold(self) -> float:
        """|score| above which a point is flagged."""
        return float(self._stream.threshold)

    @property
    def min_periods(self) -> int:
        """Baseline values needed before points are scored."""
        return int(self._stream.min_periods)

    def detect(
        self, values: npt.ArrayLike, timestamps: Sequence[Any] | None = None
    ) -> AnomalyResult:
        """Score a whole series from a fresh baseline (the streaming state is untouched).

        Parameters
        ----------
        values : array_like of float
            The series, in any unit; NaN marks a gap.
        timestamps : sequence, optional
            One label per value, carried into events, frames and plots.
        """
        arr = _series(values)
        ts = None
        if timestamps is not None:
            ts = np.asarray(timestamps)
            if ts.shape != arr.shape:
                raise ValueError(
                    f"timestamps has {ts.shape[0] if ts.ndim else 0} entries, "
                    f"values has {arr.shape[0]}"
                )
        score, expected, lower, upper, flag = self._make().detect(arr)
        self._recalibrate(arr, score, expected, lower, upper, flag)
        return AnomalyResult(
            values=arr,
            score=score,
            is_anomaly=flag,
            expected=expected,
            lower=lower,
            upper=upper,
            threshold=self.threshold,
            detector=repr(self),
            timestamps=ts,
        )

    def update(self, value: float) -> AnomalyPoint:
        """Score one new value against the streaming baseline, then add it."""
        if isinstance(value, bool) or not isinstance(value, Real | np.floating):
            raise TypeError(f"value must be a real number, got {type(value).__name__}")
        score, expected, lower, upper, flag = self._stream.update(float(value))
        return AnomalyPoint(score, bool(flag), expected, lower, upper)

    def reset(self) -> None:
        """Forget the streaming baseline."""
        self._stream.reset()

    def _recalibrate(
        self,
        values: npt.NDArray[np.float64],
        score: npt.NDArray[np.float64],
        expected: npt.NDArray[np.float64],
        lower: npt.NDArray[np.float64],
        upper: npt.NDArray[np.float64],
        flag: npt.NDArray[np.bool_],
    ) -> None:
        """Hook for detectors whose flags depend on the baseline's size (in place)."""


class _Calibrated(_Detector):
    """A window detector whose ``threshold`` keeps its nominal two-sided rate.

    The C++ rule flags ``|score| > c`` with ``c`` the finite-sample critical value of
    the full window; warm-up points (fewer values than ``window``) and the
    ``"empirical"`` calibration are re-judged here, in batch and streaming alike.
    """

    _args: tuple[int, float, int]
    _calibration: str

    def _critical_at(self, m: int) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def _setup(self, calibration: str) -> None:
        if calibration not in ("normal", "empirical"):
            raise ValueError(
                f"calibration must be 'normal' or 'empirical', got {calibration!r}"
            )
        self._calibration = calibration
        self._count = 0
        self._history: list[float] = []
        self._stream = self._make()

    @property
    def threshold(self) -> float:
        """Nominal |score| in standard deviations: the flag rate is that of a
        standard normal beyond it (0.27 % at 3)."""
        return self._args[1]

    @property
    def calibration(self) -> str:
        """``"normal"`` (finite-sample critical values) or ``"empirical"``."""
        return self._calibration

    @property
    def nominal_rate(self) -> float:
        """Two-sided flag rate the threshold stands for: ``erfc(threshold / sqrt 2)``."""
        return _thresholds.nominal_rate(self.threshold)

    @property
    def critical(self) -> float:
        """|score| above which a point with a full baseline is flagged (``"normal"``
        calibration; the band half-width in scales)."""
        return self._critical_at(self._args[0])

    def _cpp_threshold(self) -> float:
        if self._calibration == "empirical":
            return self._args[1]
        return self.critical

    def _judge(self, m: int, score: float, expected: float) -> tuple[bool, float]:
        """(flag, critical) of one point whose baseline holds `m` values."""
        if self._calibration == "normal":
            c = self._critical_at(m)
            return bool(abs(score) > c), c
        # conformal: p = (1 + k) / (n + 1), k of n earlier |scores| at least this one
        hist = self._history
        n = len(hist)
        allowed = math.floor(self.nominal_rate * (n + 1) + 1e-9) - 1
        if allowed < 0 or math.isnan(score):
            c = math.inf
        else:
            c = hist[n - 1 - allowed]
        a = abs(score)
        flag = not math.isnan(a) and n - bisect.bisect_left(hist, a) <= allowed
        if not math.isnan(a):
            bisect.insort(hist, a)
        return flag, c

    def _recalibrate(
        self,
        values: npt.NDArray[np.float64],
        score: npt.NDArray[np.float64],
        expected: npt.NDArray[np.float64],
        lower: npt.NDArray[np.float64],
        upper: npt.NDArray[np.float64],
        flag: npt.NDArray[np.bool_],
    ) -> None:
        window = self._args[0]
        valid = ~np.isnan(values)
        before = np.concatenate(([0], np.cumsum(valid)[:-1]))
        count = np.minimum(before, window)
        base = self._cpp_threshold()
        todo = ~np.isnan(expected)
        if self._calibration == "normal":
            todo &= count < window
        saved = self._history
        self._history = []
        try:
            for i in np.flatnonzero(todo):
                half = upper[i] - expected[i]
                hit, c = self._judge(int(count[i]), float(score[i]), expected[i])
                flag[i] = hit and not math.isnan(score[i])
                scale = half / base if half > 0 else 0.0
                lower[i] = expected[i] - c * scale if scale > 0 else expected[i]
                upper[i] = expected[i] + c * scale if scale > 0 else expected[i]
        finally:
            self._history = saved

    def update(self, value: float) -> AnomalyPoint:
        """Score one new value against the streaming baseline, then add it."""
        if isinstance(value, bool) or not isinstance(value, Real | np.floating):
            raise TypeError(f"value must be a real number, got {type(value).__name__}")
        score, expected, lower, upper, flag = self._stream.update(float(value))
        m = min(self._count, self._args[0])
        if not math.isnan(value):
            self._count += 1
        if math.isnan(expected) or (
            self._calibration == "normal" and m == self._args[0]
        ):
            return AnomalyPoint(score, bool(flag), expected, lower, upper)
        half = upper - expected
        hit, c = self._judge(m, score, expected)
        scale = half / self._cpp_threshold() if half > 0 else 0.0
        return AnomalyPoint(
            score,
            hit and not math.isnan(score),
            expected,
            expected - c * scale if scale > 0 else expected,
            expected + c * scale if scale > 0 else expected,
        )

    def reset(self) -> None:
        """Forget the streaming baseline."""
        self._stream.reset()
        self._count = 0
        self._history = []


class RollingZScore(_Calibrated):
    """The classic 3-sigma rule on a trailing window, at its nominal rate.

    The baseline is the mean and sample standard deviation (ddof = 1) of the last
    ``window`` valid values before the current one; ``score = (x - mean) / sd``.
    A baseline of ``m`` estimated values makes that score wider than a standard normal
    (``score / sqrt(1 + 1/m)`` is Student's t with ``m - 1`` degrees of freedom for iid
    normal data), so the raw rule ``|score| > 3`` flags 0.87 % of clean points at
    ``window=24``. Here ``threshold`` keeps its meaning: a point is flagged when
    ``|score| > critical``, with ``critical = t_{m-1}^{-1}(1 - p/2) * sqrt(1 + 1/m)``
    and ``p = erfc(threshold / sqrt 2)`` (0.27 % at 3). With the default
    ``calibration="normal"`` the flag rate on iid normal data is exactly ``p`` at every
    window and during warm-up; heavy tails raise it (1.2 % for t(5) noise at
    ``window=24``). ``calibration="empirical"`` flags instead when the conformal
    p-value of ``|score|`` among all earlier scores, ``(1 + k) / (n + 1)``, is ``<= p``:
    the rate is then at most ``p`` for any exchangeable noise, heavy tails included,
    but nothing can be flagged before ``1/p - 1`` points were scored (370 at 3 sigma).
    ``lower``/``upper`` are ``expected -+ critical * sd``.

    Outliers inflate the standard deviation and mask each other; prefer
    :class:`RobustZScore` for heavy tails.

    Parameters
    ----------
    window : int
        Values in the baseline (>= 2).
    threshold : float, default 3.0
        Nominal standard deviations: flag rate ``erfc(threshold / sqrt 2)``.
    min_periods : int, optional
        Baseline values needed before scoring (2 to ``window``; default ``window``).
    calibration : {"normal", "empirical"}, default "normal"

    Examples
    --------
    >>> RollingZScore(4).detect([1.0, 2, 1, 2, 1, 9]).score.round(2).tolist()
    [nan, nan, nan, nan, -0.87, 12.99]
    >>> round(RollingZScore(24).critical, 3)  # 3 sigma against 24 values
    3.431
    """

    def __init__(
        self,
        window: int,
        *,
        threshold: float = 3.0,
        min_periods: int | None = None,
        calibration: str = "normal",
    ) -> None:
        self._args = (
            _int("window", window, 2),
            positive_number("threshold", threshold),
            _min_periods(min_periods, 2),
        )
        self._setup(calibration)

    def _critical_at(self, m: int) -> float:
        return _thresholds.t_critical(self._args[1], max(m, 2))

    def _make(self) -> Any:
        w, _, mp = self._args
        return _core.RollingZScore(w, self._cpp_threshold(), mp)

    def __repr__(self) -> str:
        w, t, _ = self._args
        cal = "" if self._calibration == "normal" else ", calibration='empirical'"
        return (
            f"RollingZScore(window={w}, threshold={t:g}, "
            f"min_periods={self.min_periods}{cal})"
        )


class RobustZScore(_Calibrated):
    """Rolling median and MAD: a 3-sigma rule that outliers cannot mask.

    ``score = (x - median) / scale`` with ``scale = 1.4826 * MAD`` of the last
    ``window`` valid values (an estimate of the standard deviation for normal data);
    when more than half the window holds one value (MAD = 0, common in quantised
    telemetry) it falls back to ``1.2533 *`` the mean absolute deviation from the median.

    The median and MAD of a short window are noisy, so the raw rule ``|score| > 3``
    flags 1.96 % of clean normal points at ``window=24``. Here ``threshold`` keeps its
    meaning: a point is flagged when ``|score| > critical``, the finite-sample critical
    value with two-sided rate ``p = erfc(threshold / sqrt 2)`` (0.27 % at 3) for iid
    normal data against ``m`` baseline values, found by a seeded simulation of the
    baseline (4.16 at ``window=24``, 3.25 at 100; computed once per size). Heavy tails
    raise the rate (about 1 % for t(5) noise); ``calibration="empirical"`` flags instead
    when the conformal p-value of ``|score|`` among all earlier scores is ``<= p``: at
    most ``p`` for any exchangeable noise, but nothing is flagged before ``1/p - 1``
    points were scored (370 at 3 sigma). ``lower``/``upper`` are
    ``expected -+ critical * scale``.

    The median and MAD are read in O(log window) per point from a sorted copy of the
    window. Up to 4,096 points that copy is one array and a new point costs O(log
    window) comparisons plus one memmove of the span it crosses (the fastest choice at
    these sizes); above, it is a tiered vector of circular blocks of about
    ``sqrt(window)`` values and a new point costs O(sqrt(window)). Results are the same
    either way.

    Parameters
    ----------
    window : int
        Values in the baseline (>= 1; with one value there is no spread and any
        departure is flagged).
    threshold : float, default 3.0
        Nominal robust standard deviations: flag rate ``erfc(threshold / sqrt 2)``.
    min_periods : int, optional
        Baseline values needed before scoring (1 to ``window``; default ``window``).
    calibration : {"normal", "empirical"}, default "normal"

    Examples
    --------
    >>> RobustZScore(8).detect([1.0, 2, 1, 2, 1, 2, 1, 2, 1, 9]).is_anomaly.tolist()
    [False, False, False, False, False, False, False, False, False, True]
    >>> [round(RobustZScore(w).critical, 1) for w in (4, 8, 24)]  # 3 sigma
    [31.0, 8.5, 4.2]
    """

    def __init__(
        self,
        window: int,
        *,
        threshold: float = 3.0,
        min_periods: int | None = None,
        calibration: str = "normal",
    ) -> None:
        self._args = (
            _int("window", window, 1),
            positive_number("threshold", threshold),
            _min_periods(min_periods, 1),
        )
        self._setup(calibration)

    def _critical_at(self, m: int) -> float:
        return _thresholds.robust_critical(self._args[1], m)

    def _make(self) -> Any:
        w, _, mp = self._args
        return _core.RobustZScore(w, self._cpp_threshold(), mp)

    def __repr__(self) -> str:
        w, t, _ = self._args
        cal = "" if self._calibration == "normal" else ", calibration='empirical'"
        return (
            f"RobustZScore(window={w}, threshold={t:g}, "
            f"min_periods={self.min_periods}{cal})"
        )


class EwmaZScore(_Detector):
    """Exponentially weighted mean and variance (half-life in valid points).

    ``alpha = 1 - 2**(-1/halflife)``; ``m += alpha * (x - m)`` and
    ``v = (1 - alpha) * (v + alpha * (x - m_old)**2)``, as pandas
    ``ewm(halflife, adjust=False, ignore_na=True)`` with ``var(bias=True)``.

    Parameters
    ----------
    halflife : float
        Points after which a value's weight halves (> 0).
    threshold : float, default 3.0
    min_periods : int, optional
        Values needed before scoring (>= 2; default ``max(2, ceil(halflife))``).

    Examples
    --------
    >>> EwmaZScore(2.0).detect([1.0, 2, 1, 2, 1, 9]).is_anomaly.tolist()
    [False, False, False, False, False, True]
    """

    def __init__(
        self, halflife: float, *, threshold: float = 3.0, min_periods: int | None = None
    ) -> None:
        self._args = (
            positive_number("halflife", halflife),
            positive_number("threshold", threshold),
            _min_periods(min_periods, 2),
        )
        self._stream = self._make()

    def _make(self) -> Any:
        return _core.EwmaZScore(*self._args)

    def __repr__(self) -> str:
        h, t, _ = self._args
        return f"EwmaZScore(halflife={h:g}, threshold={t:g}, min_periods={self.min_periods})"


class SeasonalZScore(_Detector):
    """Robust z-score of what a seasonal profile and the recent level do not explain.

    The profile at phase ``i % period`` is the median of the last ``window`` valid
    values at that phase (the same hour on recent days); the residual ``x - profile`` is
    compared with the median and MAD of the last ``window * period`` residuals (the
    median tracks level shifts). Phases follow positions, NaN gaps included.

    Parameters
    ----------
    period : int
        Points per season (>= 2), e.g. 288 for 5-minute data with a daily cycle.
    window : int
        Past seasons in the profile (>= 1).
    threshold : float, default 3.0
    log : bool, default False
        Work on log(values) (values must be > 0): for latency, tokens and cost, where
        changes are multiplicative. ``expected``/``lower``/``upper`` stay in value units.
    min_periods : int, optional
        Residuals needed before scoring (default ``period``).

    Examples
    --------
    >>> day = [10.0, 50, 90, 50] * 6
    >>> day[21] = 400.0
    >>> SeasonalZScore(4, 3, log=True).detect(day).events()
    [AnomalyEvent(start=21, end=21, peak=21, peak_score=inf)]
    """

    def __init__(
        self,
        period: int,
        window: int,
        *,
        threshold: float = 3.0,
        log: bool = False,
        min_periods: int | None = None,
    ) -> None:
        if not isinstance(log, bool | np.bool_):
            raise TypeError(f"log must be a bool, got {type(log).__name__}")
        self._args = (
            _int("period", period, 2),
            _int("window", window, 1),
            positive_number("threshold", threshold),
            bool(log),
            _min_periods(min_periods, 1),
        )
        self._stream = self._make()

    def _make(self) -> Any:
        return _core.SeasonalZScore(*self._args)

    def __repr__(self) -> str:
        p, w, t, lg, _ = self._args
        return (
            f"SeasonalZScore(period={p}, window={w}, threshold={t:g}, log={lg}, "
            f"min_periods={self.min_periods})"
        )


def _probability(name: str, value: object) -> float:
    v = positive_number(name, value)
    if not v < 1.0:
        raise ValueError(f"{name} must be a probability in (0, 1), got {value}")
    return v


class SeasonalLevelDetector(_Detector):
    """Departures from the seasonal profile or from the recent level, one alert per incident.

    The general-purpose detector for a metric with a cycle (5-minute points with a daily
    cycle: ``period=288``) whose level also moves. Every point is asked:

    - *level*: its 3-sigma score against the last ``seasons * period`` values (a week
      of a daily cycle), as :class:`RollingZScore`;
    - *season*: its robust score against the median of the same phase over the last
      ``seasons`` cycles, net of the recent level, as :class:`SeasonalZScore`;
    - *value*: how rare is the value itself among the last ``history`` values?
    - *usual for the time of day*: is it within the range of the values at the same
      phase, give or take ``tolerance`` positions, over the last ``seasons`` cycles?

    The level and season answers are calibrated by their rank among that question's own
    last ``history`` answers (the conformal p-value ``(1 + k) / (n + 1)`` when ``k`` of
    ``n`` earlier answers are at least as large, as in :func:`empirical_tail_score`), so
    scales and heavy tails stop mattering and one threshold suits every series. The
    value's own two-sided p-value among the ``m`` values held is
    ``v = min(1, 2 * (1 + min(a, b)) / (m + 1))`` when ``a`` of them are at least and
    ``b`` at most the value. Then:

    - a new high or low (``v = 2 / (m + 1)``, the chance that the last of ``m + 1``
      exchangeable values is the largest or the smallest) counts with p-value ``v``;
    - the level p-value is raised to at least ``0.1 * v``: a value the history has often
      been beyond is no level anomaly, however far it is from this week's level (a return
      to an earlier level, a repeated spike);
    - a value usual for the time of day has level and season p-values 1: a daily job
      that wanders by a few points is learnt after one cycle.

    With ``p`` the smallest of the level, season and novelty p-values,
    ``|score| = max(0, 1 - p * (m + 1) ** 0.05)``, in [0, 1): the factor (1.6 at 10,000
    values) makes one threshold a little stricter for a long history than for a short
    one, whose ranks cannot reach as far out. The sign of ``score`` is the side of
    ``expected`` the value is on (NaN during warm-up and at gaps). A point is flagged
    when ``|score| >= threshold`` *and* it is more surprising than every point in the
    previous ``refractory`` positions: a burst of equally surprising points alerts once,
    a worsening incident alerts again.
    ``expected``/``lower``/``upper`` are the seasonal 3-sigma band once it exists, the
    level band before.

    A p-value among ``n`` earlier answers is at least ``1 / (n + 1)``, so no point can
    reach ``threshold`` before several hundred points have been scored (about 700 at the
    default): this detector is for series of weeks, not hours.

    On the Numenta Anomaly Benchmark series in ``../shared/data/nab`` this scores 69.0
    (standard profile) where :class:`RollingZScore` scores 37.8; see
    ``benchmarks/bench_nab.py``.

    Parameters
    ----------
    period : int
        Points per cycle (>= 2): 288 for 5-minute points and a daily cycle, 24 for hourly.
    seasons : int, default 7
        Cycles in the seasonal profile; the level window is ``seasons * period`` points.
    threshold : float, default 0.998
        Surprise (0 < threshold < 1) at which a point is flagged; about
        ``(1 - threshold) / (m + 1) ** 0.05`` of ordinary points reach it before the
        refractory rule.
    history : int, optional
        Earlier answers each point is ranked among (default 10,000: tail probabilities
        resolve to 1e-4).
    refractory : int, optional
        Positions a new alert must out-surprise (default ``period``).
    min_periods : int, optional
        Values the level baseline needs before scoring (2 to ``seasons * period``;
        default ``min(100, seasons * period)``).
    tolerance : int, optional
        Positions either side of the same phase whose earlier values make a value usual
        (0 to ``period - 1``; default 20 minutes of a daily cycle, at least one position:
        ``min(period - 1, max(1, (period + 36) // 72))``, 4 for 5-minute points, 1 for
        hourly ones).

    Examples
    --------
    Forty days of hourly values with a daily cycle, and three hours 8 units high:

    >>> rng = np.random.default_rng(0)
    >>> day = np.tile(np.sin(np.linspace(0, 2 * np.pi, 24, endpoint=False)), 40)
    >>> values = 100 + 20 * day + rng.normal(0, 1, day.size)
    >>> values[900:903] += 8
    >>> result = SeasonalLevelDetector(24).detect(values)
    >>> result.events()  # 900 is within what 11:00-13:00 took before; 901 is not
    [AnomalyEvent(start=901, end=901, peak=901, peak_score=0.998354)]
    """

    def __init__(
        self,
        period: int,
        seasons: int = 7,
        *,
        threshold: float = 0.998,
        history: int | None = None,
        refractory: int | None = None,
        min_periods: int | None = None,
        tolerance: int | None = None,
    ) -> None:
        period = _int("period", period, 2)
        seasons = _int("seasons", seasons, 1)
        self._args = (
            period,
            seasons,
            _probability("threshold", threshold),
            10_000 if history is None else _int("history", history, 1),
            period if refractory is None else _int("refractory", refractory, 1),
            _min_periods(min_periods, 2),
            _default_tolerance(period)
            if tolerance is None
            else _int("tolerance", tolerance, 0),
        )
        if self._args[5] > period * seasons:
            raise ValueError(
                f"min_periods must be <= seasons * period = {period * seasons}, "
                f"got {min_periods}"
            )
        if self._args[6] >= period:
            raise ValueError(f"tolerance must be < period = {period}, got {tolerance}")
        self._stream = self._make()

    def _make(self) -> Any:
        return _core.SeasonalLevelDetector(*self._args)

    @property
    def period(self) -> int:
        """Points per cycle."""
        return self._args[0]

    @property
    def refractory(self) -> int:
        """Positions a new alert must out-surprise."""
        return self._args[4]

    @property
    def tolerance(self) -> int:
        """Positions either side of the same phase that make a value usual."""
        return self._args[6]

    def __repr__(self) -> str:
        p, s, t, h, r, _, w = self._args
        return (
            f"SeasonalLevelDetector(period={p}, seasons={s}, threshold={t:g}, "
            f"history={h}, refractory={r}, min_periods={self.min_periods}, "
            f"tolerance={w})"
        )


def _default_tolerance(period: int) -> int:
    """SeasonalLevelDetector's phase tolerance: 1/72 of a cycle (20 minutes of a day),
    rounded half up, at least 1 and below ``period``."""
    return min(period - 1, max(1, (period + 36) // 72))


def _trailing_sums(v: npt.NDArray[np.float64], w: int) -> npt.NDArray[np.float64]:
    """``out[t] = sum(v[max(0, t - w + 1) : t + 1])``, causal and without drift.

    Prefix sums restart every ``w`` values, so a window sum is one chunk's suffix plus
    the next chunk's prefix: its rounding error is bounded by the values of the two
    chunks it spans, not by the whole history, and it depends on no later value.
    """
    m = v.size
    k = -(-m // w)
    padded = np.zeros(k * w)
    padded[:m] = v
    prefix = np.cumsum(padded.reshape(k, w), axis=1)
    out = prefix.copy()
    out[1:] += prefix[:-1, -1:] - prefix[:-1]
    return out.reshape(-1)[:m]


_erfc = np.frompyfunc(math.erfc, 1, 1)


def anomaly_likelihood(
    scores: npt.ArrayLike,
    *,
    window: int = 8640,
    short_window: int = 10,
    learning_period: int = 288,
    min_std: float = 0.0173,
) -> npt.NDArray[np.float64]:
    """Numenta's anomaly likelihood: how unusual the recent raw scores are, in [0, 1].

    Raw detector scores are not comparable across series (a robust z-score of 50 is
    routine on a quantised series and rare on a smooth one), so one alert threshold
    cannot serve many series. This transform judges each series' scores against its
    own history (Ahmad, Lavin, Purdy and Agha, "Unsupervised real-time anomaly detection
    for streaming data", Neurocomputing 262 (2017), eqs. 3-6; NAB's ``numenta``
    detector)::

        a_t     = |score_t|
        mu_t    = mean of a over the last `window` points (t included)
        sigma_t = max(sample std of the same points, min_std)
        m_t     = mean of a over the last `short_window` points
        L_t     = 1 - Q((m_t - mu_t) / sigma_t),   Q = normal upper tail

    so ``L_t`` near 1 means the short-run scores sit far above what this series usually
    produces; ``1 - L_t`` is the probability of a short-run mean at least that high
    under a normal model of the long-run scores. Every value uses the present and the
    past only (no look-ahead): changing later scores never changes earlier outputs.

    Conventions: NaN scores (warm-up, gaps) give NaN and are skipped by both windows
    (windows count valid scores). An infinite score (a departure from a constant
    baseline) gets ``L_t = 1`` and enters the windows as the largest finite ``|score|``
    seen so far (0 before any). The first ``learning_period`` valid points give 0.5
    (no information), as Numenta's implementation does.

    Parameters
    ----------
    scores : array_like of float
        Raw detector scores, e.g. ``detector.detect(values).score`` (sign ignored).
    window : int, default 8640
        Long window (valid points) for the mean and spread of the raw scores (Numenta's
        ``historicWindowSize``: 30 days of 5-minute data).
    short_window : int, default 10
        Short window for the recent mean (Numenta's ``averagingWindow``).
    learning_period : int, default 288
        Valid points answered with 0.5 while the history builds up.
    min_std : float, default 0.0173
        Floor of ``sigma_t`` (Numenta's variance floor 0.0003), so a flat history of
        scores does not divide by zero.

    Returns
    -------
    numpy.ndarray of float64
        ``L_t`` per point: 0.5 during learning, NaN where the score is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> raw = np.abs(rng.normal(size=600))
    >>> raw[500:503] = 6.0
    >>> lik = anomaly_likelihood(raw, window=300, short_window=3, learning_period=100)
    >>> bool(lik[502] > 0.9999), bool(lik[400] < 0.99)
    (True, True)
    """
    s = np.asarray(scores)
    if s.dtype.kind not in "iuf":
        raise TypeError(f"scores must be real numbers, got dtype {s.dtype}")
    if s.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got {s.ndim} dimensions")
    w = _int("window", window, 2)
    ws = _int("short_window", short_window, 1)
    learn = _int("learning_period", learning_period, 0)
    if ws > w:
        raise ValueError(f"short_window must be <= window, got {ws} > {w}")
    floor = positive_number("min_std", min_std)
    a = np.abs(s.astype(np.float64))
    out = np.full(a.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(a))
    if valid.size == 0:
        return out
    v = a[valid]
    infinite = np.isinf(v)
    if infinite.any():
        finite_max = np.maximum.accumulate(np.where(infinite, 0.0, v))
        v = np.where(infinite, finite_max, v)
    idx = np.arange(1, v.size + 1, dtype=np.float64)
    n_long = np.minimum(idx, w)
    s1 = _trailing_sums(v, w)
    s2 = _trailing_sums(v * v, w)
    mean = s1 / n_long
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.maximum(s2 - s1 * mean, 0.0) / (n_long - 1)
    sigma = np.maximum(np.sqrt(np.nan_to_num(var, nan=0.0)), floor)
    recent = _trailing_sums(v, ws) / np.minimum(idx, ws)
    z = (recent - mean) / sigma
    lik = 1.0 - 0.5 * _erfc(z / math.sqrt(2.0)).astype(np.float64)
    lik[infinite] = 1.0
    lik[:learn] = 0.5
    out[valid] = lik
    return out


def empirical_tail_score(scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Calibrate raw scores by their rank among the series' own earlier scores.

    For each point, the conformal p-value of ``a_t = |score_t|`` against the earlier
    valid ``|score|`` values ``a_1 .. a_{t-1}`` of the same series (Vovk, Gammerman and
    Shafer, *Algorithmic Learning in a Random World*, 2005, ch. 2)::

        p_t     = (1 + #{s < t : a_s >= a_t}) / t        (t = 1, 2, ... valid points)
        score_t = 1 - p_t                                 in [0, 1)

    If the series so far were exchangeable, ``P(p_t <= alpha) <= alpha``, so the output
    means the same on every series whatever the scale or tail of the raw scores: one
    threshold then suits a whole corpus. Only earlier points are used (no look-ahead);
    the first valid point scores 0, and a point that beats its whole history of ``n``
    points scores ``n / (n + 1)``. NaN scores give NaN and are left out of the history;
    +-inf ranks above every finite score (ties with inf count as >=).

    Time O(n sqrt n) (blocks of about sqrt n points, each searched in and merged into
    the sorted history; a few seconds per million points), memory O(n).

    Parameters
    ----------
    scores : array_like of float
        Raw detector scores, e.g. ``detector.detect(values).score`` (sign ignored).

    Returns
    -------
    numpy.ndarray of float64
        ``1 - p_t`` per point; NaN where the score is NaN.

    Examples
    --------
    >>> empirical_tail_score([1.0, 3.0, 2.0, np.nan, -5.0, 0.5]).round(3).tolist()
    [0.0, 0.5, 0.333, nan, 0.75, 0.0]
    """
    s = np.asarray(scores)
    if s.dtype.kind not in "iuf":
        raise TypeError(f"scores must be real numbers, got dtype {s.dtype}")
    if s.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got {s.ndim} dimensions")
    a = np.abs(s.astype(np.float64))
    out = np.full(a.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(a))
    x = a[valid]
    m = x.size
    at_least = np.empty(m)  # earlier values >= the current one
    block = max(64, math.isqrt(m))
    history = np.empty(0)
    for start in range(0, m, block):
        part = x[start : start + block]
        earlier = history.size - np.searchsorted(history, part, side="left")
        # within the block: pairs (j < i) with part[j] >= part[i]
        ge = part[np.newaxis, :] >= part[:, np.newaxis]
        at_least[start : start + part.size] = earlier + np.tril(ge, -1).sum(axis=1)
        ordered = np.sort(part)
        history = np.insert(history, np.searchsorted(history, ordered), ordered)
    out[valid] = 1.0 - (1.0 + at_least) / np.arange(1, m + 1)
    return out
