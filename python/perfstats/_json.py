"""One conversion of result values to JSON-ready scalars, shared by every result object."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_scalar(v: Any) -> Any:
    """A JSON-ready scalar: NaN/inf -> None, NumPy scalars -> Python, times -> ISO text."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if v is None or isinstance(v, str):
        return v
    if hasattr(v, "isoformat"):
        try:
            return None if v != v else v.isoformat()
        except (TypeError, ValueError):
            return str(v)
    return str(v)


def json_ready(v: Any) -> Any:
    """``v`` with every scalar through :func:`json_scalar`, recursively through dicts,
    lists and tuples (tuples become lists), so ``json.dumps(..., allow_nan=False)``
    never fails on a result.

    Examples
    --------
    >>> json_ready({"ci": (0.1, float("inf")), "n": np.int64(3)})
    {'ci': [0.1, None], 'n': 3}
    """
    if isinstance(v, dict):
        return {str(k): json_ready(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_ready(x) for x in v]
    if isinstance(v, np.ndarray):
        return [json_ready(x) for x in v.tolist()]
    return json_scalar(v)
