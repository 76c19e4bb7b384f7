"""Per-unit metrics of an experiment and its pre-period, for CUPED in :func:`compare`.

Builds, for each randomisation unit (a user, a session), the sum and count of a
metric's per-request values in the experiment and in the pre-period, and hands them to
:func:`perfstats.stats.cuped.cuped` (means per request are ratio metrics: delta method).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from perfstats.analysis.summary import events_frame
from perfstats.io.events import as_events
from perfstats.io.failure import failed as failed_requests
from perfstats.stats.cuped import Cuped, cuped

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CUPED_METRICS", "split_pre_period", "unit_fit"]

#: The metrics of :func:`compare` that CUPED adjusts: means and rates per request.
#: Latency quantiles are compared per request, unadjusted.
CUPED_METRICS = ("latency", "error_rate", "tokens", "cost_per_request")


def _time(value: Any, what: str) -> pd.Timestamp:
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"pre_period {what} {value!r} is not a time: {exc}") from None
    if pd.isna(ts):
        raise ValueError(f"pre_period {what} is missing (NaT)")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts


def split_pre_period(
    frame: pd.DataFrame, pre_period: Any, unit: str, by: str
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``(experiment frame, pre-period frame or None)``, checked for CUPED.

    ``pre_period`` is None (no pre-period: the unit checks only), events (an
    :class:`~perfstats.io.events.Events` or DataFrame) or a ``(start, end)`` pair of
    times: then the pre-period is the rows of ``frame`` with ``start <= timestamp <
    end``, the experiment the rows at or after ``end`` (earlier rows are left out).
    """
    if not isinstance(unit, str) or unit not in frame.columns:
        found = ", ".join(map(str, frame.columns))
        raise ValueError(
            f"unit={unit!r}: the events have no such column; the columns are: {found}"
        )
    pre: pd.DataFrame | None = None
    if isinstance(pre_period, tuple):
        if len(pre_period) != 2:
            raise ValueError(
                f"pre_period must be events or a (start, end) pair, got {len(pre_period)} items"
            )
        start, end = _time(pre_period[0], "start"), _time(pre_period[1], "end")
        if not start < end:
            raise ValueError(f"pre_period start {start} is not before its end {end}")
        ts = frame["timestamp"]
        if getattr(ts.dt, "tz", None) is None:
            start, end = start.tz_localize(None), end.tz_localize(None)
        pre = frame[((ts >= start) & (ts < end)).to_numpy()]
        frame = frame[(ts >= end).to_numpy()]
        if frame.empty:
            raise ValueError(
                f"no events at or after the pre_period end {end}: nothing to compare"
            )
    elif pre_period is not None:
        try:
            pre = events_frame(pre_period)
        except TypeError as exc:
            raise TypeError(
                f"pre_period must be events (Events or DataFrame) or a (start, end) "
                f"pair of times: {exc}"
            ) from None
        # the same canonical dtypes as the experiment's events (compare reads them
        # through as_events): an integer user_id is then text in both
        pre = events_frame(as_events(pre))
        if unit not in pre.columns:
            found = ", ".join(map(str, pre.columns))
            raise ValueError(
                f"pre_period events have no unit column {unit!r}; their columns are: {found}"
            )
    if pre is not None and pre.empty:
        raise ValueError(
            "pre_period has no events: CUPED needs the units' pre-period requests "
            "(pass pre_period=None to cluster by the unit without adjustment)"
        )
    units = frame[unit]
    nulls = int(units.isna().sum())
    if nulls:
        raise ValueError(
            f"{nulls} request(s) have no {unit!r}: every request needs its unit for a "
            "per-unit analysis"
        )
    arms = frame[by].astype("string")
    spread = arms.groupby(units.to_numpy(), sort=False).nunique(dropna=True)
    shared = spread[spread > 1]
    if len(shared):
        examples = ", ".join(map(repr, list(shared.index[:3])))
        raise ValueError(
            f"{len(shared)} {unit} value(s) appear in more than one {by} arm "
            f"(e.g. {examples}): a per-unit comparison needs each unit in one arm"
        )
    return frame, pre


def _request_values(
    frame: pd.DataFrame, metric: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]] | None:
    """Per-request values of ``metric`` on the scale :func:`compare` tests (log ms for
    latency) and which requests count, aligned with ``frame``'s rows; None when the
    columns are missing. Same definitions as compare's per-request values."""
    cols = frame.columns
    bad = failed_requests(frame)
    if metric == "latency":
        if "latency_ms" not in cols:
            return None
        lat = frame["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
        keep = np.isfinite(lat) & (lat > 0)
        if bad is not None:
            keep &= ~bad
        return np.log(np.where(keep, lat, 1.0)), keep
    if metric == "error_rate":
        if bad is None:
            return None
        return bad.astype(np.float64), np.ones(len(frame), dtype=bool)
    if metric == "tokens":
        parts = [c for c in ("input_tokens", "output_tokens") if c in cols]
        if not parts:
            return None
        val = np.asarray(
            sum(frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in parts),
            dtype=np.float64,
        )
    elif metric == "cost_per_request":
        if "cost_usd" not in cols:
            return None
        val = frame["cost_usd"].to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        raise ValueError(
            f"CUPED: unsupported metric {metric!r}; one of {CUPED_METRICS}"
        )
    keep = ~np.isnan(val)
    return np.where(keep, val, 0.0), keep


def _sums(frame: pd.DataFrame, metric: str, unit: str) -> pd.DataFrame | None:
    """Per unit: ``sum`` of the metric's values and ``count`` of requests that count."""
    import pandas as pd

    got = _request_values(frame, metric)
    if got is None:
        return None
    val, keep = got
    parts = pd.DataFrame(
        {"sum": np.where(keep, val, 0.0), "count": keep.astype(np.float64)},
        index=frame.index,
    )
    return parts.groupby(frame[unit].to_numpy(), sort=False).sum()


def unit_fit(
    variant: pd.DataFrame,
    baseline: pd.DataFrame,
    pre: pd.DataFrame | None,
    metric: str,
    unit: str,
) -> Cuped | None:
    """The per-unit (delta-method) comparison of ``metric``, variant against baseline,
    adjusted by each unit's pre-period value of the same metric when ``pre`` is given
    (units without pre-period requests get the pooled pre-period mean). None when
    the columns are missing or an arm has fewer than 2 units with requests."""
    import pandas as pd

    a, b = _sums(variant, metric, unit), _sums(baseline, metric, unit)
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return None
    if a["count"].sum() <= 0 or b["count"].sum() <= 0:
        return None
    post = pd.concat([a, b])
    treated = np.r_[np.ones(len(a), dtype=bool), np.zeros(len(b), dtype=bool)]
    x = m = None
    if pre is not None:  # no pre-period values of this metric: every unit lacks one
        before = _sums(pre, metric, unit)
        if before is None:
            before = pd.DataFrame({"sum": [], "count": []})
        aligned = before.reindex(post.index, fill_value=0.0)
        x, m = aligned["sum"].to_numpy(), aligned["count"].to_numpy()
    return cuped(
        post["sum"].to_numpy(),
        treated,
        x,
        y_count=post["count"].to_numpy(),
        x_count=m,
    )
