"""Change points in the mean of a series: which deploy made it slower.

E-divisive means (Matteson and James, 2014), as Apache Otava (Hunter) and MongoDB
use on CI performance data, searches for the split where the energy distance
between the data before and after peaks, strongest first. Every candidate is
kept only if a Welch t-test between its two adjacent segments is significant.
The test counts ``n (1 - rho) / (1 + rho)`` effective observations per segment,
``rho`` the lag-1 autocorrelation of the noise estimated from the first
differences, so drifting or autocorrelated telemetry is not cut into pieces.
Nothing is random: the same input always gives the same answer.

``model="linear"``, the default of :func:`detect_changepoints` when no method is
named, fits a least-squares line to every segment instead, so a change of slope (a
leak, a growing queue) is a change point too: binary segmentation on the
piecewise-linear cost, with the number of changes set by the BIC of Gaussian noise
of unknown variance and an AR(1) effective sample size. :func:`detect_regressions`
stays on the mean model (E-divisive), made for step changes in CI performance data.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from perfstats import _core
from perfstats._display import Table, View
from perfstats._optional import require
from perfstats._result import Result
from perfstats._validate import renamed_keyword

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "ChangePoint",
    "ChangePoints",
    "detect_changepoints",
    "detect_regressions",
]

Method = Literal["edivisive", "binseg", "pelt"]
Model = Literal["mean", "linear"]
_METHODS = ("edivisive", "binseg", "pelt")
_MODELS = ("mean", "linear")


@dataclass(frozen=True, repr=False)
class ChangePoint(Result):
    """One change in the mean of a series.

    Attributes
    ----------
    index : int
        Position of the first observation after the change (0-based).
    time : object or None
        ``timestamps[index]`` when timestamps were given, else None.
    mean_before, mean_after : float
        Means of the segments that end and start at ``index`` (units of the data).
    relative_change : float
        ``(mean_after - mean_before) / abs(mean_before)``; +-inf when the mean
        before is 0 and the mean after is not.
    pvalue : float
        Two-sided p-value of the Welch t-test between the two segments, with
        autocorrelation-adjusted sample sizes when that option is on; with
        ``model="linear"`` the Chow F-test of one line against two.
    slope_before, slope_after : float
        Least-squares slopes of the two segments per observation (units of the
        data per step); 0 with ``model="mean"``.
    """

    index: int
    time: Any
    mean_before: float
    mean_after: float
    relative_change: float
    pvalue: float
    slope_before: float = 0.0
    slope_after: float = 0.0

    _one_line = True

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)

    def _view(self) -> View:
        return View("ChangePoint", self.to_dict())


_COLUMNS = [
    "index",
    "time",
    "mean_before",
    "mean_after",
    "relative_change",
    "pvalue",
    "slope_before",
    "slope_after",
]


class ChangePoints(Result, Sequence[ChangePoint]):
    """The change points of one series, in order of position.

    A sequence of :class:`ChangePoint`; also keeps the series so it can plot it.
    """

    def __init__(
        self,
        values: npt.NDArray[np.float64],
        timestamps: npt.NDArray[Any] | None,
        changepoints: Sequence[ChangePoint],
        options: dict[str, Any],
    ) -> None:
        self.values = values
        self.timestamps = timestamps
        self.changepoints: tuple[ChangePoint, ...] = tuple(changepoints)
        self.options = dict(options)

    def __len__(self) -> int:
        return len(self.changepoints)

    def __iter__(self) -> Iterator[ChangePoint]:
        return iter(self.changepoints)

    def __getitem__(self, i: Any) -> Any:
        return self.changepoints[i]

    @property
    def indices(self) -> npt.NDArray[np.int64]:
        """Positions of the change points (0-based)."""
        return np.array([c.index for c in self.changepoints], dtype=np.int64)

    def segments(self) -> list[tuple[int, int]]:
        """Half-open ``(start, end)`` positions of the segments between changes."""
        edges = [0, *(c.index for c in self.changepoints), len(self.values)]
        return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]

    def to_dict(self) -> dict[str, Any]:
        """Options, series length and one dict per change point."""
        return {
            "n": len(self.values),
            "options": dict(self.options),
            "changepoints": [c.to_dict() for c in self.changepoints],
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per change point (needs pandas)."""
        pandas = require("pandas", "ChangePoints.to_frame")
        frame: pd.DataFrame = pandas.DataFrame(
            [c.to_dict() for c in self.changepoints], columns=_COLUMNS
        )
        return frame

    def _view(self) -> View:
        linear = self.options.get("model", "mean") == "linear"
        columns = _COLUMNS if linear else _COLUMNS[:6]
        if all(c.time is None for c in self.changepoints):
            columns = [c for c in columns if c != "time"]
        rows = [
            [
                f"{c.relative_change:+.1%}" if k == "relative_change" else v
                for k, v in ((k, c.to_dict()[k]) for k in columns)
            ]
            for c in self.changepoints
        ]
        fields = {
            "n": len(self.values),
            **{k: v for k, v in self.options.items() if not isinstance(v, dict)},
            "changes": len(self),
        }
        names = ["change" if k == "relative_change" else k for k in columns]
        tables = {"changes": Table(names, rows)} if rows else {}
        return View("ChangePoints", fields, tables)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the series, each segment's fit and a line at every change.

        The fit is the segment's mean, or its least-squares line with
        ``model="linear"``.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure's Axes when omitted.

        Returns
        -------
        matplotlib Axes
        """
        plt = require("matplotlib.pyplot", "ChangePoints.plot")
        if ax is None:
            _, ax = plt.subplots()
        x: npt.NDArray[Any] = (
            self.timestamps
            if self.timestamps is not None
            else np.arange(len(self.values))
        )
        ax.plot(x, self.values, lw=1, color="0.4", label="values")
        linear = self.options.get("model") == "linear"
        for k, (a, b) in enumerate(self.segments()):
            if b > a:
                seg = self.values[a:b]
                if linear and b - a >= 2:
                    steps = np.arange(b - a, dtype=np.float64)
                    slope, intercept = np.polyfit(steps, seg, 1)
                    fit = intercept + slope * steps
                else:
                    fit = np.full(b - a, float(np.mean(seg)))
                ax.plot(
                    x[a:b],
                    fit,
                    color="C0",
                    lw=2,
                    label=("segment line" if linear else "segment mean")
                    if k == 0
                    else None,
                )
        for k, c in enumerate(self.changepoints):
            ax.axvline(
                x[c.index],
                color="C3",
                ls="--",
                lw=1,
                label="change point" if k == 0 else None,
            )
        ax.legend(loc="best")
        return ax


def _series(
    values: Any, timestamps: Any
) -> tuple[npt.NDArray[np.float64], npt.NDArray[Any] | None]:
    if timestamps is None and hasattr(values, "index") and hasattr(values, "to_numpy"):
        timestamps = values.index.to_numpy()  # a pandas Series: its index is the time
        values = values.to_numpy()
    if isinstance(values, str | bytes):
        raise TypeError("values must be an array of numbers, got a string")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"values must be an array of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got {arr.ndim} dimensions")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"values[{bad[0]}] is {arr[bad[0]]}; drop or fill gaps first")
    ts: npt.NDArray[Any] | None = None
    if timestamps is not None:
        ts = np.asarray(timestamps)
        if ts.ndim != 1 or len(ts) != len(arr):
            raise ValueError(
                f"timestamps must be one-dimensional with {len(arr)} entries, "
                f"got shape {ts.shape}"
            )
    return np.ascontiguousarray(arr), ts


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _time(ts: npt.NDArray[Any] | None, i: int) -> Any:
    if ts is None:
        return None
    v = ts[i]
    return (
        v.item()
        if isinstance(v, np.generic)
        and not isinstance(v, np.datetime64 | np.timedelta64)
        else v
    )


def detect_changepoints(
    values: Any,
    timestamps: Any = None,
    *,
    method: Method | None = None,
    model: Model | None = None,
    min_size: int = 10,
    alpha: float | None = None,
    autocorrelation: bool = True,
    penalty: float | None = None,
    max_changepoints: int | None = None,
    pvalue: float | None = None,
) -> ChangePoints:
    """Find the points where the mean (or the trend) of a series changes.

    Parameters
    ----------
    values : array-like of float or pandas Series
        The metric in time order (any unit: ms, tokens/s, $). No NaN or inf. A
        pandas Series brings its index as the timestamps.
    timestamps : array-like, optional
        One time per value; each change point reports ``timestamps[index]``.
    method : {"edivisive", "binseg", "pelt"}, optional
        ``"edivisive"`` (the default for ``model="mean"``): E-divisive means,
        exact, O(n log n) per segment. ``"binseg"`` (the default and only method
        for ``model="linear"``): binary segmentation, the fastest. ``"pelt"``:
        PELT on the change in mean with a penalty of
        ``penalty * sigma**2 * log(n)``; exact for its cost but close to O(n^2)
        on long series with few changes.
    model : {"mean", "linear"}, optional
        ``"linear"`` (the default when no method is given): a least-squares
        line per segment, so changes of slope count as well as steps. Binary
        segmentation splits while a split lowers the BIC
        ``n log(RSS / n) + k * penalty * log(n)`` of Gaussian noise with
        unknown variance; each change is then moved to its best place between
        its neighbours and changes are dropped while that lowers the BIC, with
        ``n`` replaced by ``n (1 - rho) / (1 + rho)`` when ``autocorrelation``
        is on (``rho`` the lag-1 autocorrelation of the residuals, estimated
        again after each round of drops until no change drops). ``alpha``
        does not apply; p-values are Chow F-tests of one line against two.
        ``"mean"`` (the default when a method is given): a piecewise-constant
        mean tested by Welch t-tests, for step changes as in CI performance
        data (what :func:`detect_regressions` uses).
    min_size : int, default 10
        Fewest observations in a segment (>= 2; >= 3 for ``model="linear"``).
    alpha : float, default 0.001
        ``model="mean"``: a change is kept when the two-sided Welch t-test
        between its adjacent segments gives a p-value below this (a low default:
        many candidate splits are tested).
    autocorrelation : bool, default True
        Mean model: shrink each segment to its effective size
        ``n (1 - rho) / (1 + rho)`` before testing, with
        ``rho = 1 + 2 corr(d[t], d[t-1])`` clamped to [0, 0.999], ``d`` the
        first differences (the AR(1) identity) and corr the robust
        Gnanadesikan-Kettenring correlation from MADs, so a level shift (one
        outlying difference) does not move it. Linear model: the BIC counts
        ``n (1 - rho) / (1 + rho)`` observations, ``rho`` from the residuals.
        Turn off only for independent observations (e.g. one benchmark run per
        commit).
    penalty : float, optional
        PELT: cost of one change in units of ``sigma**2 * log(n)`` (default 2,
        the BIC of a mean and a location). ``model="linear"``: cost of one change
        in the BIC in units of ``log(n)`` (default 3: a location, an intercept
        and a slope).
    max_changepoints : int, optional
        Keep at most this many changes (the most significant; with
        ``model="linear"`` the first splits of the binary segmentation).
    pvalue : float, optional
        Deprecated name of `alpha` (a DeprecationWarning; passing both is a
        TypeError).

    Returns
    -------
    ChangePoints
        A sequence of :class:`ChangePoint`, in order of position.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> latency_ms = np.r_[rng.normal(100, 5, 200), rng.normal(120, 5, 200)]
    >>> cps = detect_changepoints(latency_ms, model="mean")
    >>> [c.index for c in cps]
    [200]
    >>> round(cps[0].relative_change, 2)
    0.2

    A queue that starts to grow: the mean barely moves at first, the slope does.

    >>> steps = np.arange(300.0)
    >>> depth = np.where(steps < 200, 0.0, 0.5 * (steps - 200)) + rng.normal(0, 1, 300)
    >>> trend = detect_changepoints(depth)
    >>> [(c.index, round(c.slope_before, 1), round(c.slope_after, 1)) for c in trend]
    [(199, 0.0, 0.5)]
    """
    arr, ts = _series(values, timestamps)
    if model is None:
        model = "linear" if method is None else "mean"
    if model not in _MODELS:
        raise ValueError(f"model must be one of {_MODELS}, got {model!r}")
    if method is None:
        method = "binseg" if model == "linear" else "edivisive"
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if model == "linear" and method != "binseg":
        raise ValueError(f"model='linear' needs method='binseg', got {method!r}")
    min_size = _check_int("min_size", min_size, 3 if model == "linear" else 2)
    alpha = renamed_keyword("alpha", alpha, "pvalue", pvalue, 0.001)
    if not isinstance(alpha, int | float | np.floating) or not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    if penalty is None:
        penalty = 3.0 if model == "linear" else 2.0
    if not isinstance(penalty, int | float | np.floating) or not (
        math.isfinite(penalty) and penalty > 0
    ):
        raise ValueError(f"penalty must be finite and > 0, got {penalty!r}")
    limit = (
        0
        if max_changepoints is None
        else _check_int("max_changepoints", max_changepoints, 1)
    )
    raw = _core.detect_changepoints(
        arr,
        method=method,
        model=model,
        min_size=min_size,
        pvalue=float(alpha),
        penalty=float(penalty),
        max_changepoints=limit,
        autocorrelation=bool(autocorrelation),
    )
    cps = [
        ChangePoint(
            index=int(i),
            time=_time(ts, int(i)),
            mean_before=float(b),
            mean_after=float(a),
            relative_change=float(r),
            pvalue=float(p),
            slope_before=float(sb),
            slope_after=float(sa),
        )
        for i, b, a, r, p, sb, sa in zip(
            raw["index"],
            raw["mean_before"],
            raw["mean_after"],
            raw["relative_change"],
            raw["pvalue"],
            raw["slope_before"],
            raw["slope_after"],
            strict=True,
        )
    ]
    options = {
        "method": method,
        "model": model,
        "min_size": min_size,
        "pvalue": float(alpha),
        "autocorrelation": bool(autocorrelation),
        "penalty": float(penalty),
        "max_changepoints": max_changepoints,
    }
    return ChangePoints(arr, ts, cps, options)


def detect_regressions(
    series: Any,
    timestamps: Any = None,
    *,
    direction: Literal["increase", "decrease"] = "increase",
    min_change: float = 0.05,
    method: Method = "edivisive",
    min_size: int = 10,
    alpha: float | None = None,
    autocorrelation: bool = True,
    penalty: float = 2.0,
    pvalue: float | None = None,
) -> ChangePoints:
    """Change points that make a metric worse by at least a given fraction.

    Runs :func:`detect_changepoints` and keeps the changes in the bad direction
    whose relative size is at least ``min_change``.

    Parameters
    ----------
    series : array-like of float or pandas Series
        The metric in time order (e.g. p95 latency per build, in ms).
    timestamps : array-like, optional
        One time per value.
    direction : {"increase", "decrease"}, default "increase"
        Which way is worse: ``"increase"`` for latency, errors or cost,
        ``"decrease"`` for throughput.
    min_change : float, default 0.05
        Smallest relative change reported (0.05 = 5 %), >= 0.
    method, min_size, alpha, autocorrelation, penalty, pvalue
        As in :func:`detect_changepoints` (``pvalue``: the deprecated name of `alpha`).

    Returns
    -------
    ChangePoints
        Only the regressions; means and p-values are those of the full
        segmentation.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> ms = np.r_[rng.normal(50, 2, 150), rng.normal(40, 2, 150),
    ...            rng.normal(48, 2, 150)]
    >>> [c.index for c in detect_changepoints(ms)]
    [150, 300]
    >>> [c.index for c in detect_regressions(ms, direction="increase")]
    [300]
    """
    if direction not in ("increase", "decrease"):
        raise ValueError(
            f"direction must be 'increase' or 'decrease', got {direction!r}"
        )
    if not isinstance(min_change, int | float | np.floating) or not (
        math.isfinite(min_change) and min_change >= 0
    ):
        raise ValueError(f"min_change must be finite and >= 0, got {min_change!r}")
    found = detect_changepoints(
        series,
        timestamps,
        method=method,
        min_size=min_size,
        alpha=renamed_keyword("alpha", alpha, "pvalue", pvalue, 0.001),
        autocorrelation=autocorrelation,
        penalty=penalty,
    )
    sign = 1.0 if direction == "increase" else -1.0
    kept = [c for c in found if sign * c.relative_change >= min_change]
    options = {**found.options, "direction": direction, "min_change": float(min_change)}
    return ChangePoints(found.values, found.timestamps, kept, options)
