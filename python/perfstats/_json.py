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
