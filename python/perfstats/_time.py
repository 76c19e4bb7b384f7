"""Durations as the analyses take them ("1h", "30min", "1d"): layer 0, shared by
summarize, metric_series, trend and anomalies."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["duration_text", "parse_duration"]

_DAY_UNIT = re.compile(r"(?<=\d)\s*d(?![a-z])")


def duration_text(text: str) -> str:
    """`text` with the day unit spelled "D": pandas 3 deprecates "1d" but not "1D".

    Examples
    --------
    >>> duration_text(" 7d ")
    '7D'
    """
    return _DAY_UNIT.sub("D", text.strip())


def parse_duration(every: object, name: str = "every") -> pd.Timedelta:
    """`every` (a duration string such as ``"1h"``) as a positive pandas Timedelta;
    TypeError or ValueError naming the keyword `name` otherwise.

    Examples
    --------
    >>> parse_duration("90min")
    Timedelta('0 days 01:30:00')
    """
    import pandas as pd

    if not isinstance(every, str):
        raise TypeError(f"{name} must be a duration string such as '1h', got {every!r}")
    try:
        step = pd.Timedelta(duration_text(every))
    except ValueError as err:
        raise ValueError(
            f"{name} must be a duration such as '1h', got {every!r}"
        ) from err
    if step <= pd.Timedelta(0):
        raise ValueError(f"{name} must be a positive duration, got {every!r}")
    return step
