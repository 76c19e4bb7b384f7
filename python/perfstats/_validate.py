"""Checks of arguments shared by every layer (layer 0: imports nothing of perfstats)."""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["check_interval", "float_array", "optional_weights", "renamed_keyword"]

T = TypeVar("T")


def renamed_keyword(
    new: str, value: T | None, old: str, old_value: T | None, default: T
) -> T:
    """The value of the keyword `new` (`default` when neither it nor its former name was
    passed), or the value passed under its former name `old` with a DeprecationWarning;
    both at once is a TypeError. Both keywords default to None in the signature so that
    "not passed" can be told from "passed the default".

    Examples
    --------
    >>> renamed_keyword("alpha", None, "pvalue", None, 0.001)
    0.001
    >>> renamed_keyword("alpha", 0.05, "pvalue", None, 0.001)
    0.05
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     renamed_keyword("alpha", None, "pvalue", 0.01, 0.001)
    0.01
    >>> renamed_keyword("alpha", 0.05, "pvalue", 0.01, 0.001)
    Traceback (most recent call last):
    ...
    TypeError: pass alpha= or its deprecated name pvalue=, not both
    """
    if old_value is None:
        return default if value is None else value
    if value is not None:
        raise TypeError(f"pass {new}= or its deprecated name {old}=, not both")
    warnings.warn(
        f"{old}= is deprecated, pass {new}= (the same meaning)",
        DeprecationWarning,
        stacklevel=3,
    )
    return old_value


def float_array(
    values: npt.ArrayLike, name: str, ndim: tuple[int, ...] = (1,)
) -> npt.NDArray[np.float64]:
    """`values` as a contiguous float64 array of an allowed dimension (no copy when it
    already is one), the one coercer of every statistic. Booleans are rejected: a
    statistic of True/False is almost always a mistake (pass ``x.astype(float)``).

    Examples
    --------
    >>> float_array([1, 2], "x")
    array([1., 2.])
    >>> float_array([True, False], "x")
    Traceback (most recent call last):
    ...
    TypeError: x must hold real numbers, got dtype bool (booleans: pass x.astype(float))
    """
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        raise TypeError(
            f"{name} must hold real numbers, got dtype bool "
            "(booleans: pass x.astype(float))"
        )
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim not in ndim:
        if ndim == (1,):
            raise ValueError(
                f"{name} must be one-dimensional, got {arr.ndim} dimensions"
            )
        allowed = " or ".join(str(d) for d in ndim)
        raise ValueError(f"{name} must have {allowed} dimension(s), got {arr.ndim}")
    out: npt.NDArray[np.float64] = np.ascontiguousarray(arr, dtype=np.float64)
    return out


def optional_weights(weights: npt.ArrayLike | None) -> npt.NDArray[Any] | None:
    """None, or `weights` as a 1-D float64 array (see :func:`float_array`)."""
    return None if weights is None else float_array(weights, "weights", (1,))


def check_interval(interval: str, level: float) -> None:
    """ValueError unless `interval` is "confidence" or "prediction" and `level` is in
    (0, 1)."""
    if interval not in ("confidence", "prediction"):
        raise ValueError(
            f"interval must be 'confidence' or 'prediction', got {interval!r}"
        )
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
