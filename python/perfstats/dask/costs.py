"""perfstats.dask.costs: :func:`perfstats.costs` over a Dask DataFrame.

Each partition is priced and added up where it lies into a
:class:`~perfstats.analysis.costs.CostPartial` (requests, known spend, unknown and
unpriced counts, per-group sums of every breakdown, per-minute spend); the partials
merge in a tree and the root is finished into the report by the same code as
:func:`perfstats.costs`. With a budget, the time each level was first reached needs
the running spend in time order: the merged per-minute spend names the minute (or
two) where each level is crossed, and a second pass brings back only the events of
those minutes (timestamp and cost), which are added in time order to the spend
before them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from perfstats._optional import require
from perfstats.analysis.costs import (
    CostPartial,
    CostReport,
    PriceTable,
    budget_crossings,
    budget_minutes,
    costs_partial,
    load_prices,
    request_costs,
)
from perfstats.dask._tree import check_frame, per_partition, tree

__all__ = ["costs"]


def _part(
    frame: Any, table: PriceTable, budget_period: str, use_recorded: bool
) -> CostPartial:
    return costs_partial(
        frame, table, budget_period=budget_period,  # type: ignore[arg-type]
        use_recorded=use_recorded,
    )  # fmt: skip


def _merge(*parts: CostPartial) -> CostPartial:
    return parts[0].merge(*parts[1:])


_NS_PER_MINUTE = 60_000_000_000


def _events_in(
    frame: Any,
    table: PriceTable,
    use_recorded: bool,
    ranges: list[tuple[int, int]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Pass 2 over one partition: the time (ns, UTC) and cost of its events in the
    minute ranges, in the events' order (only those events are priced)."""
    pd = require("pandas", "perfstats.dask.costs")

    if pd.api.types.is_datetime64_any_dtype(frame["timestamp"]):
        frame = frame[_within(_ns(frame["timestamp"]), ranges)]
    events, cost = request_costs(frame, table, use_recorded=use_recorded)
    t = _ns(events["timestamp"])
    keep = _within(t, ranges)
    return t[keep], cost[keep]


def _ns(ts: Any) -> npt.NDArray[np.int64]:
    """Times as ns since the epoch, UTC."""
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert(None)
    out: npt.NDArray[np.int64] = ts.to_numpy().astype("datetime64[ns]").astype(np.int64)
    return out


def _within(
    t: npt.NDArray[np.int64], ranges: list[tuple[int, int]]
) -> npt.NDArray[np.bool_]:
    keep = np.zeros(t.size, dtype=bool)
    for first, last in ranges:
        keep |= (t >= first) & (t < last + _NS_PER_MINUTE)
    return keep


def _concat(
    *parts: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def costs(
    ddf: Any,
    prices: str | Path | Mapping[str, Any] | PriceTable | None = None,
    *,
    budget: float | None = None,
    budget_period: Literal["day", "month"] = "month",
    use_recorded: bool = False,
    split_every: int = 8,
) -> CostReport:
    """:func:`perfstats.costs` of the events of a Dask DataFrame.

    The same report as :func:`perfstats.costs` on the same events in one process:
    requests, token sums, unknown and unpriced counts, groups and their order,
    budget statuses and the times each level was reached are exact; spend sums
    (total, per group, per period, projections) are added in another order and may
    differ in their last bits (about 1e-15 relative; the projected time the budget
    runs out by nanoseconds; spends that tie to rounding may sort in another
    order). One pass over the data; with a `budget`, a second one that
    brings back only the events of the minutes in which a level was crossed.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        Events in the canonical schema (as for :func:`perfstats.costs`).
    prices, budget, budget_period, use_recorded
        As for :func:`perfstats.costs`.
    split_every : int, default 8
        Partial results merged per task of the tree (at least 2).

    Returns
    -------
    CostReport

    Examples
    --------
    >>> import dask, dask.dataframe as dd, pandas as pd
    >>> import perfstats, perfstats.dask
    >>> ev = pd.DataFrame({
    ...     "timestamp": pd.date_range("2025-01-01", periods=6, freq="h", tz="UTC"),
    ...     "model": ["gpt-4o", "gpt-4o-mini"] * 3,
    ...     "input_tokens": [1_000_000] * 6, "output_tokens": [10_000] * 6})
    >>> with dask.config.set(scheduler="sync"):
    ...     report = perfstats.dask.costs(dd.from_pandas(ev, npartitions=3),
    ...                                   budget=5.0, budget_period="day")
    >>> round(report.total_usd, 4), report.budget["reached_100"].iloc[0].hour
    (8.268, 2)
    >>> report.by_model.equals(perfstats.costs(ev).by_model)
    True
    """
    dask = require("dask", "perfstats.dask.costs")
    check_frame(ddf, split_every, "perfstats.dask.costs")
    table = prices if isinstance(prices, PriceTable) else load_prices(prices)
    from perfstats.analysis.costs import costs as one_machine

    # options and columns checked here (on the empty frame), not on a worker
    one_machine(
        ddf._meta, table, budget=budget, budget_period=budget_period,
        use_recorded=use_recorded,
    )  # fmt: skip
    (total,) = dask.compute(
        tree(
            per_partition(ddf, _part, table, budget_period, use_recorded),
            _merge,
            split_every,
        )
    )
    reached: dict[tuple[Any, float], Any] | None = None
    if budget is not None and total.minutes is not None:
        where = budget_minutes(total.minutes, float(budget), budget_period)
        reached = {}
        if where:
            ranges = sorted({(a, b) for a, b, _ in where.values()})
            ((times, cost),) = dask.compute(
                tree(
                    per_partition(ddf, _events_in, table, use_recorded, ranges),
                    _concat,
                    split_every,
                )
            )
            reached = budget_crossings(where, times, cost, float(budget))
    report: CostReport = total.finish(table, budget, reached)
    return report
