"""The two moves every perfstats.dask analysis makes: one task per partition that
reads it and reduces it to a small mergeable object (so raw rows never move between
workers, and a worker holds one partition at a time), and a tree of merges over those
objects, `split_every` at a time, of which only the root comes back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from perfstats._optional import require


def _boxed(frame: Any, func: Callable[..., Any], *args: Any) -> Any:
    """`func(frame, *args)` in a one-element Series: map_partitions wants pandas
    objects back, and a function of the partition fuses with its reading into one
    task."""
    import pandas as pd

    return pd.Series([func(frame, *args)], dtype=object)


def per_partition(ddf: Any, func: Callable[..., Any], *args: Any) -> list[Any]:
    """One delayed ``func(partition, *args)`` (boxed in a Series) per partition of
    `ddf`, in partition order. `args` may hold delayed objects (computed once)."""
    import pandas as pd

    blocks = ddf.map_partitions(
        _boxed,
        func,
        *args,
        meta=pd.Series([], dtype=object),
        enforce_metadata=False,
        align_dataframes=False,
    )
    return list(blocks.to_delayed())


def _node(merge: Callable[..., Any], *nodes: Any) -> Any:
    """A node of the merge tree: `merge` of its children, unboxed from their Series."""
    import pandas as pd

    return merge(*[n.iloc[0] if isinstance(n, pd.Series) else n for n in nodes])


def tree(parts: list[Any], merge: Callable[..., Any], split_every: int) -> Any:
    """The delayed merge tree over `parts` (left to right, so first appearances keep
    their order): `split_every` children per node, ``merge(*children)`` at each."""
    delayed = require("dask", "perfstats.dask").delayed
    level = list(parts)
    if len(level) == 1:
        return delayed(_node, pure=True)(merge, level[0])
    while len(level) > 1:
        level = [
            delayed(_node, pure=True)(merge, *level[i : i + split_every])
            for i in range(0, len(level), split_every)
        ]
    return level[0]


def check_frame(ddf: Any, split_every: Any, caller: str) -> None:
    """TypeError/ValueError unless `ddf` is a Dask DataFrame and `split_every` an
    int >= 2."""
    dd = require("dask.dataframe", caller)
    if not isinstance(ddf, dd.DataFrame):
        raise TypeError(
            f"ddf must be a dask.dataframe.DataFrame, got {type(ddf).__name__}; use "
            f"{caller.replace('.dask', '')} for pandas DataFrames"
        )
    if isinstance(split_every, bool) or not isinstance(split_every, int):
        raise TypeError(f"split_every must be an int, got {split_every!r}")
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
