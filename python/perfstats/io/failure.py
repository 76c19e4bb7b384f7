"""The one definition of a failed request, shared by every analysis and every input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FAILURE_DEFINITION", "NO_ERROR_SPELLINGS", "error_present", "failed"]

#: ``error`` values (compared stripped and case-insensitively) that mean "no error",
#: besides a missing value (None, NaN, NA).
NO_ERROR_SPELLINGS: frozenset[str] = frozenset({"", "0", "false", "none", "ok", "nan"})

_FALSE_SUCCESS = frozenset({"false", "f", "no", "n", "0", "error", "failure", "fail"})
_TRUE_SUCCESS = frozenset({"true", "t", "yes", "y", "1", "ok", "success"})

FAILURE_DEFINITION = (
    "A request failed when its `success` is false, or its `error` is non-empty. "
    "An `error` that is missing (None, NaN, NA) or one of '', '0', 'false', 'none', "
    "'ok' (stripped, any case) means no error. A missing `success` defers to "
    "`error`; with no `error` column a missing `success` counts as failed (nothing "
    "says the request succeeded). `success` given as text or numbers is read as "
    "true/t/yes/y/1/ok/success or false/f/no/n/0/error/failure/fail."
)


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.lower()


def error_present(values: Any) -> npt.NDArray[np.bool_]:
    """Whether each ``error`` value names an error (see :data:`FAILURE_DEFINITION`).

    Parameters
    ----------
    values : pandas.Series or array_like
        The ``error`` column: text, categorical, numbers or booleans.

    Returns
    -------
    numpy.ndarray of bool
        True where the value is an error.

    Examples
    --------
    >>> error_present(["", None, float("nan"), "OK", " none ", "0", "timeout"]).tolist()
    [False, False, False, False, False, False, True]
    """
    import pandas as pd

    s = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    if isinstance(s.dtype, pd.CategoricalDtype):
        # decide once per category, then look the codes up
        cats = s.cat.categories
        per_cat = error_present(pd.Series(np.asarray(cats, dtype=object), dtype=object))
        codes = s.cat.codes.to_numpy()
        out = np.zeros(len(s), dtype=bool)
        known = codes >= 0
        out[known] = per_cat[codes[known]]
        return out
    if s.dtype == bool:
        return s.to_numpy(dtype=bool).copy()
    text = _text(s)
    present = text.notna() & ~text.isin(NO_ERROR_SPELLINGS)
    return present.to_numpy(dtype=bool, na_value=False)


def _success_state(values: pd.Series) -> npt.NDArray[np.int8]:
    """1 succeeded, 0 failed, -1 unknown."""
    import pandas as pd

    if values.dtype == bool:
        return values.to_numpy(dtype=bool).astype(np.int8)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    ):
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(arr), -1, arr != 0).astype(np.int8)
    if pd.api.types.is_bool_dtype(values.dtype):  # nullable boolean
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(arr), -1, arr != 0).astype(np.int8)
    text = _text(values)
    out = np.full(len(values), -1, dtype=np.int8)
    out[text.isin(_TRUE_SUCCESS).to_numpy(dtype=bool, na_value=False)] = 1
    out[text.isin(_FALSE_SUCCESS).to_numpy(dtype=bool, na_value=False)] = 0
    return out


def failed(frame: pd.DataFrame) -> npt.NDArray[np.bool_] | None:
    """Which requests failed, by :data:`FAILURE_DEFINITION`; None without the columns.

    Parameters
    ----------
    frame : pandas.DataFrame
        Events with a ``success`` column, an ``error`` column or both.

    Returns
    -------
    numpy.ndarray of bool or None
        True for each failed request; None when the frame has neither column.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"success": [True, False, True, None],
    ...                    "error": ["", None, "timeout", "ok"]})
    >>> failed(ev).tolist()
    [False, True, True, False]
    """
    has_s, has_e = "success" in frame.columns, "error" in frame.columns
    if not has_s and not has_e:
        return None
    err = error_present(frame["error"]) if has_e else None
    if not has_s:
        assert err is not None
        return err
    state = _success_state(frame["success"])
    out: npt.NDArray[np.bool_] = state != 1 if err is None else (state == 0) | err
    return out
