"""The canonical event schema: column names and dtypes, time units (one table), and the
coercion of raw columns into canonical ones with a record of each invalid cell.

The failure definition (what counts as a failed request) is in :mod:`perfstats.io.failure`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from perfstats._errors import Arg, ArgumentError, braces
from perfstats._optional import require

if TYPE_CHECKING:
    import pandas as pd


#: Nanoseconds in each accepted time unit: the one unit table (Arrow's and NumPy's unit
#: names; the spellings accepted in sources are in :data:`UNIT_ALIASES`).
NS_PER_UNIT: dict[str, int] = {
    "s": 1_000_000_000,
    "ms": 1_000_000,
    "us": 1_000,
    "ns": 1,
}
#: Factor from each accepted time unit to milliseconds.
TIME_UNITS: dict[str, float] = {u: ns / 1_000_000 for u, ns in NS_PER_UNIT.items()}
#: Spellings of the time units (in sources, column suffixes and Parquet's logical types).
UNIT_ALIASES: dict[str, str] = {
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "ms": "ms",
    "msec": "ms",
    "millis": "ms",
    "milliseconds": "ms",
    "us": "us",
    "µs": "us",
    "μs": "us",
    "usec": "us",
    "micros": "us",
    "microseconds": "us",
    "ns": "ns",
    "nsec": "ns",
    "nanos": "ns",
    "nanoseconds": "ns",
}

CATEGORY_COLUMNS = ("endpoint", "variant", "model", "error")
STRING_COLUMNS = ("user_id", "session_id")
COUNT_COLUMNS = ("input_tokens", "output_tokens", "cached_input_tokens", "steps")

#: Canonical column names and their dtypes (``*_ms`` phase columns are float64 too).
CANONICAL_COLUMNS: dict[str, str] = {
    "timestamp": "datetime64[ns, UTC]",
    "endpoint": "category",
    "variant": "category",
    "model": "category",
    "latency_ms": "float64",
    "queue_ms": "float64",
    "processing_ms": "float64",
    "delivery_ms": "float64",
    "ttft_ms": "float64",
    "input_tokens": "float64",
    "output_tokens": "float64",
    "cached_input_tokens": "float64",
    "cost_usd": "float64",
    "success": "bool",
    "error": "category",
    "steps": "float64",
    "user_id": "string",
    "session_id": "string",
}

#: Canonical columns with a fixed meaning (all but the phase durations ``*_ms`` other
#: than ``latency_ms``): an analysis treats any other boolean column as an outcome and any
#: other numeric column as a score.
FIXED_COLUMNS: frozenset[str] = frozenset(
    c for c in CANONICAL_COLUMNS if c == "latency_ms" or not c.endswith("_ms")
)

SKIPPED_COLUMNS = ["row", "line", "column", "reason", "value"]
_UNITS_TS_MS = Arg('units={"timestamp": "ms"}', "--units timestamp=ms")
_ORIGIN = Arg("origin=", "--origin TIME")

# Year 2000 to 2100 as epoch values: the ranges for s, ms, us and ns are disjoint, so
# a numeric timestamp column lying wholly inside one of them has an unambiguous unit.
_EPOCH_LO_S, _EPOCH_HI_S = 946_684_800.0, 4_102_444_800.0

_DURATION_RE = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf(?:inity)?|nan)\s*"
    r"([A-Za-zµμ]*)\s*$",
    re.IGNORECASE,
)
_TRUE = {"true", "t", "yes", "y", "1", "ok", "success"}
_FALSE = {"false", "f", "no", "n", "0", "error", "failure", "fail"}


def pandas_module() -> Any:
    return require("pandas", "perfstats.io")


def pyarrow_module() -> Any:
    return require("pyarrow", "reading this source")


def string_dtype() -> Any:
    pdm = pandas_module()
    try:
        return pdm.StringDtype(na_value=np.nan)
    except TypeError:  # pragma: no cover - pandas < 2.3
        return pdm.StringDtype()


def normalize_unit(unit: object, *, what: str) -> str:
    if not isinstance(unit, str) or unit.strip().lower() not in UNIT_ALIASES:
        raise ValueError(
            f"unknown time unit {unit!r} for {what}; use one of s, ms, us, ns"
        )
    return UNIT_ALIASES[unit.strip().lower()]


def unit_from_name(name: str) -> str | None:
    """The unit a column name states in its suffix (``elapsed_s`` -> ``s``)."""
    match = re.search(r"[_\-.\s\[(]([A-Za-zµμ]+)\)?\]?$", name)
    if match is None:
        return None
    return UNIT_ALIASES.get(match.group(1).lower())


@dataclass(frozen=True)
class Problem:
    """One invalid record found while reading."""

    row: int | None
    line: int | None
    column: str
    reason: str
    value: str


def is_bool_dtype(dtype: Any) -> bool:
    return str(dtype) in ("bool", "boolean")


def is_numeric_dtype(dtype: Any) -> bool:
    pdm = pandas_module()
    return bool(pdm.api.types.is_numeric_dtype(dtype))


@dataclass
class Raw:
    """A source's table as read, before canonical conversion, with what its reader
    found wrong and how to name its records in messages."""

    frame: pd.DataFrame
    source: str
    problems: list[Problem] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    lines: list[int] | None = None  # file line of each record, where known
    rows: list[int] | None = None  # source record number of each row, if not its index
    row_label: str = "row"  # what a record is called in messages: row or element
    find_lines: Callable[[int], list[int] | None] | None = None  # lines, found lazily


class Checker:
    """Collects invalid cells per column as (mask, reason) pairs."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.found: list[tuple[str, np.ndarray[Any, np.dtype[np.bool_]], str, Any]] = []

    def flagged(self, column: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Cells of a column flagged so far."""
        out = np.zeros(self.n, dtype=bool)
        for col, mask, _, _ in self.found:
            if col == column:
                out |= mask
        return out

    def flag(self, column: str, mask: Any, reason: str, values: Any) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.found.append((column, mask, reason, values))


def coerce_duration_ms(
    values: pd.Series, column: str, unit: str, check: Checker, *, required: bool
) -> pd.Series:
    """A duration column in ms; text may carry its own unit (``"1.5 s"``)."""
    pdm = pandas_module()
    factor = TIME_UNITS[unit]
    dtype = values.dtype
    missing = values.isna().to_numpy()
    if is_bool_dtype(dtype):
        check.flag(column, ~missing, "boolean where a duration was expected", values)
        out = np.full(len(values), np.nan)
    elif pdm.api.types.is_numeric_dtype(dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
        if factor != 1.0:
            out = out * factor
    else:
        obj = _plain_objects(values)
        plain = pdm.to_numeric(obj, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        out = plain * factor
        bad_unit = np.zeros(len(values), dtype=bool)
        bad_text = np.zeros(len(values), dtype=bool)
        # only text that is not a plain number goes through the unit parser
        pending = np.flatnonzero(~missing & np.isnan(plain))
        texts = obj.to_numpy()
        for i in pending:
            v = texts[i]
            if isinstance(v, float):  # a NaN number stays NaN
                continue
            m = _DURATION_RE.match(str(v))
            if m is None:
                bad_text[i] = True
                continue
            suffix = m.group(2).lower()
            if suffix and suffix not in UNIT_ALIASES:
                bad_unit[i] = True
                continue
            f = TIME_UNITS[UNIT_ALIASES[suffix]] if suffix else factor
            out[i] = float(m.group(1)) * f
        check.flag(column, bad_unit, "unknown time unit", values)
        check.flag(column, bad_text, "not a duration", values)
        missing = missing | bad_unit | bad_text
    with np.errstate(invalid="ignore"):
        check.flag(column, ~missing & np.isnan(out), "not a number", values)
        check.flag(column, np.isinf(out), "non-finite duration", values)
        check.flag(column, out < 0, "negative duration", values)
    if required:
        check.flag(column, missing, "missing value", values)
    return _same_or_new(values, out, column)


def _same_or_new(
    values: pd.Series, out: np.ndarray[Any, Any], column: str
) -> pd.Series:
    """`values` itself when it already is this float64 data (no copy), else `out`."""
    pdm = pandas_module()
    if values.dtype == np.float64 and out is not None:
        current = values.to_numpy()
        if current is out or np.shares_memory(current, out):
            return values
    result: pd.Series = pdm.Series(out, index=values.index, name=column)
    return result


_BAD = "\x00not a plain value"


def _plain_objects(values: pd.Series, *, numbers: bool = True) -> pd.Series:
    """`values` as objects where anything but text and real numbers (or, if not
    `numbers`, text and datetimes) becomes a marker no parser accepts: dicts, lists,
    bytes, complex numbers, booleans."""
    obj = values.astype(object)
    arr = obj.to_numpy()
    import datetime as _dt

    kinds: tuple[type, ...] = (
        (str, int, float, np.integer, np.floating)
        if numbers
        else (str, _dt.datetime, np.datetime64)
    )
    odd = [
        i
        for i, v in enumerate(arr)
        if v is not None
        and not (isinstance(v, float) and v != v)
        and (isinstance(v, (bool, np.bool_)) or not isinstance(v, kinds))
    ]
    if odd:
        arr = arr.copy()
        arr[odd] = _BAD
        obj = obj.copy()
        obj[:] = arr
    return obj


def coerce_count(values: pd.Series, column: str, check: Checker) -> pd.Series:
    pdm = pandas_module()
    missing = values.isna().to_numpy()
    if is_bool_dtype(values.dtype):
        check.flag(column, ~missing, "boolean where a count was expected", values)
        out = np.full(len(values), np.nan)
    elif pdm.api.types.is_numeric_dtype(values.dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        num = pdm.to_numeric(_plain_objects(values), errors="coerce")
        out = num.to_numpy(dtype=np.float64, na_value=np.nan)
        check.flag(column, ~missing & np.isnan(out), "not a number", values)
    with np.errstate(invalid="ignore"):
        check.flag(column, np.isinf(out), "non-finite value", values)
        check.flag(column, out < 0, "negative value", values)
    return _same_or_new(values, out, column)


def coerce_timestamp(
    values: pd.Series,
    unit: str | None,
    origin: Any,
    timezone: str | None,
    check: Checker,
    units_used: dict[str, str],
) -> pd.Series:
    pdm = pandas_module()
    column = "timestamp"
    dtype = values.dtype
    zone = timezone or "UTC"
    if isinstance(dtype, pdm.DatetimeTZDtype) or pdm.api.types.is_datetime64_dtype(
        dtype
    ):
        ts = values
        if getattr(ts.dt, "tz", None) is None:
            ts = _localize(ts, zone, check, values)
        out = _in_ns_range(ts.dt.tz_convert("UTC"), check, values)
        check.flag(column, values.isna().to_numpy(), "missing timestamp", values)
        typed: pd.Series = out
        return typed
    if pdm.api.types.is_numeric_dtype(dtype) and not is_bool_dtype(dtype):
        return _numeric_timestamp(values, unit, origin, zone, check, units_used)
    if unit is not None:
        raise ValueError(
            f"units['timestamp']={unit!r} applies to numeric timestamps; this "
            f"column holds {dtype}"
        )
    return _text_timestamp(values, timezone, check)


def _numeric_timestamp(
    values: pd.Series,
    unit: str | None,
    origin: Any,
    timezone: str,
    check: Checker,
    units_used: dict[str, str],
) -> pd.Series:
    """Epoch values, or offsets from `origin`. Without an origin the values must look
    like epoch times (2000-2100) in their unit, or origin='unix' must say they are:
    offsets from the start of a trace would otherwise be dated 1970."""
    pdm = pandas_module()
    column = "timestamp"
    num = values.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(num)
    unix = isinstance(origin, str) and origin.strip().lower() in ("unix", "epoch")
    if unit is None:
        unit = _guess_epoch_unit(num[finite]) if origin is None or unix else None
        if unit is None:
            raise ArgumentError(
                "timestamp is numeric but its unit is not stated; pass {0} "
                "(or s, us, ns)" + (" and {1} for offsets" if origin is None else ""),
                _UNITS_TS_MS,
                _ORIGIN,
                field="timestamp",
            )
    elif origin is None and finite.any() and _guess_epoch_unit(num[finite]) != unit:
        lo, hi = float(num[finite].min()), float(num[finite].max())
        raise ArgumentError(
            f"timestamp is numeric in {unit} ({lo:g} .. {hi:g}), which is not a Unix "
            "epoch time in 2000-2100: pass {0} (the time of offset 0), or "
            "{1} if the values are epoch times",
            _ORIGIN,
            Arg("origin='unix'", "--origin unix"),
            field="timestamp",
        )
    units_used[column] = unit
    base = 0
    if origin is not None and not unix:
        try:
            o = pdm.Timestamp(origin)
            o = o.tz_localize(timezone) if o.tzinfo is None else o
        except (ValueError, TypeError) as exc:
            raise ArgumentError(
                "{0} is not a time (or 'unix'): " + braces(str(exc)),
                Arg(f"origin={origin!r}", f"--origin {origin}"),
                field="timestamp",
            ) from exc
        if o is pdm.NaT:
            raise ArgumentError(
                "{0} is not a time (or 'unix')",
                Arg(f"origin={origin!r}", f"--origin {origin}"),
                field="timestamp",
            )
        base = int(o.tz_convert("UTC").as_unit("ns").value)
    scale = NS_PER_UNIT[unit]
    limit = 9.2e18
    with np.errstate(invalid="ignore", over="ignore"):
        ns_float = num * scale + base
        ok = finite & (np.abs(ns_float) < limit)
    # The offset is scaled on its own and the origin added in integers: adding a
    # 1.7e18 ns origin in float64 would leave 2**8 ns of rounding noise on every time
    # (00:58:56.999000064 for a whole millisecond).
    if values.dtype.kind in "iu":
        ints = values.to_numpy()
        ns = np.where(ok, ints, 0).astype(np.int64) * np.int64(scale)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            scaled = np.round(np.where(ok, num, 0.0) * scale)
        ns = np.where(ok, scaled, 0).astype(np.int64)
    ns = np.where(ok, ns + np.int64(base), 0)
    check.flag(column, ~np.isfinite(num), "missing or non-finite timestamp", values)
    check.flag(column, finite & ~ok, "timestamp out of range", values)
    out = pdm.Series(ns.view("datetime64[ns]"), index=values.index)
    out = out.where(ok).dt.tz_localize("UTC")
    result: pd.Series = out.astype("datetime64[ns, UTC]")
    return result


# An ISO 8601 time of day followed by a UTC offset (Z, +hh, +hhmm or +hh:mm).
_OFFSET_RE = (
    r"(?:T|\s)\d\d(?::?\d\d){0,2}(?:[.,]\d+)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)\s*$"
)


def _text_timestamp(
    values: pd.Series, timezone: str | None, check: Checker
) -> pd.Series:
    """ISO 8601 text (or datetime objects). Values with a UTC offset are instants,
    whatever their offsets; values without one are local times in `timezone` (UTC
    when None). A column holding both is suspect unless `timezone` was stated: its
    values without an offset are then invalid rows, as their zone is a guess."""
    import datetime as _dt

    pdm = pandas_module()
    column = "timestamp"
    obj = _plain_objects(values, numbers=False)
    arr = obj.to_numpy()
    missing = obj.isna().to_numpy()
    is_str = np.array([isinstance(v, str) for v in arr], dtype=bool)
    aware = np.zeros(len(arr), dtype=bool)
    if is_str.any():
        text = pdm.Series(arr[is_str], dtype=object)
        aware[is_str] = text.str.contains(_OFFSET_RE, regex=True).to_numpy(dtype=bool)
    objects = np.flatnonzero(~is_str & ~missing)
    for i in objects:
        if isinstance(arr[i], _dt.datetime) and arr[i].tzinfo is not None:
            aware[i] = True
    naive = ~aware & ~missing
    result = pdm.Series(
        np.full(len(arr), np.datetime64("NaT"), dtype="datetime64[ns]"),
        index=values.index,
    ).dt.tz_localize("UTC")

    def parse(mask: np.ndarray[Any, np.dtype[np.bool_]], utc: bool) -> pd.Series:
        """The values under `mask` as ns times (UTC when `utc`, else naive);
        unparsable ones NaT, ones beyond 1677-2262 flagged."""
        part = obj[mask]
        strings = is_str[mask]
        dtype = "datetime64[ns, UTC]" if utc else "datetime64[ns]"
        out = pdm.Series(pdm.NaT, index=part.index, dtype=dtype)
        if strings.any():
            # ISO 8601 only: day-first or month-first text is ambiguous: invalid
            try:
                parsed = pdm.to_datetime(
                    part[strings].astype(str),
                    errors="coerce",
                    format="ISO8601",
                    utc=utc,
                )
            except (ValueError, TypeError) as exc:  # offsets where none were seen
                raise _OffsetFound from exc
            if not utc and not pdm.api.types.is_datetime64_dtype(parsed.dtype):
                raise _OffsetFound
            out[strings] = _in_ns_range(parsed, check, values)
        for label, v in part[~strings].items():
            try:
                t = pdm.Timestamp(v)
                t = t.tz_convert("UTC") if utc else t
                one = pdm.Series([t], index=[label])
                out[label] = _in_ns_range(one, check, values).iloc[0]
            except (ValueError, TypeError, OverflowError):
                pass  # stays NaT: reported as unparsable
        typed: pd.Series = out
        return typed

    local = None
    for _attempt in range(2):
        if not naive.any():
            break
        try:
            local = parse(naive, utc=False)
            break
        except _OffsetFound:
            # an offset the pattern missed: sort the text one value at a time
            for i in np.flatnonzero(naive & is_str):
                t = pdm.to_datetime(arr[i], errors="coerce", format="ISO8601")
                if isinstance(t, pdm.Timestamp) and t.tzinfo is not None:
                    aware[i] = True
            naive = ~aware & ~missing
    if aware.any():
        result[aware] = parse(aware, utc=True)
    if local is not None:
        local = _localize(local, timezone or "UTC", check, values)
        result[naive] = _in_ns_range(local.dt.tz_convert("UTC"), check, values)
        if aware.any() and timezone is None:
            check.flag(
                column,
                naive & result.notna().to_numpy(),  # unparsable ones say so
                "timestamp without a UTC offset in a column of timestamps with one "
                "(pass timezone= to read such values as local times)",
                values,
            )
    bad = result.isna().to_numpy() & ~check.flagged(column)
    check.flag(column, missing, "missing timestamp", values)
    check.flag(column, bad & ~missing, "unparsable timestamp", values)
    typed: pd.Series = result.astype("datetime64[ns, UTC]")
    return typed


class _OffsetFound(Exception):
    """Text taken for a local time carries a UTC offset after all."""


def _localize(
    naive: pd.Series, timezone: str, check: Checker, values: pd.Series
) -> pd.Series:
    """Naive local times in `timezone` as aware times. A time the clocks skipped (DST
    gap) or passed twice (DST overlap) names no single instant: each is an invalid
    row with its reason, never a guess."""
    local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    lost = (local.isna() & naive.notna()).to_numpy()
    if lost.any():
        shifted = naive.dt.tz_localize(
            timezone, ambiguous="NaT", nonexistent="shift_forward"
        )
        gap = lost & shifted.notna().to_numpy()
        positions = values.index.get_indexer(naive.index)
        for mask, reason in (
            (gap, "nonexistent local time (DST gap)"),
            (lost & ~gap, "ambiguous local time (DST overlap)"),
        ):
            full = np.zeros(len(values), dtype=bool)
            full[positions[mask]] = True
            check.flag("timestamp", full, reason, values)
    typed: pd.Series = local
    return typed


_NS_LO = -(2**63) + 1
_NS_HI = 2**63 - 1


def _in_ns_range(ts: pd.Series, check: Checker, values: pd.Series) -> pd.Series:
    """Timestamps (aware or naive, any unit) as ns; values beyond 1677-2262 are
    flagged and become NaT."""
    unit = ts.dt.unit
    per = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    wall = ts.dt.tz_localize(None) if ts.dt.tz is not None else ts
    raw = wall.to_numpy(dtype=f"datetime64[{unit}]").view(np.int64)
    missing = ts.isna().to_numpy()
    lo, hi = _NS_LO // per + 1, _NS_HI // per - 1
    outside = ~missing & ((raw < lo) | (raw > hi))
    if outside.any():
        mask = np.zeros(len(values), dtype=bool)
        positions = values.index.get_indexer(ts.index[outside])
        mask[positions] = True
        check.flag("timestamp", mask, "timestamp out of range", values)
        ts = ts.where(~outside)
    typed: pd.Series = ts.dt.as_unit("ns")
    return typed


def _guess_epoch_unit(finite: np.ndarray[Any, np.dtype[np.float64]]) -> str | None:
    if finite.size == 0:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    for unit, scale in (("s", 1.0), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if _EPOCH_LO_S * scale <= lo and hi <= _EPOCH_HI_S * scale:
            return unit
    return None


def coerce_text(values: pd.Series) -> pd.Series:
    """Text with missing kept missing; integral numbers print without ``.0``."""
    pdm = pandas_module()
    if pdm.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values.astype(string_dtype())
    obj = values.astype(object)
    mask = obj.isna()

    def text(v: Any) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        return str(v)

    out = obj.where(mask, obj.map(text, na_action="ignore"))
    result: pd.Series = pdm.Series(out, index=values.index, dtype=string_dtype())
    return result


def coerce_category(values: pd.Series, column: str) -> pd.Series:
    if str(values.dtype) == "category":
        cats = values.cat.categories
        if len(cats) == 0 or cats.inferred_type == "string":
            # bincount, not remove_unused_categories: that sorts every code
            codes = values.cat.codes.to_numpy()
            used = np.bincount(codes[codes >= 0], minlength=len(cats)) > 0
            out_cat = values
            if not used.all():
                out_cat = out_cat.cat.remove_categories(list(cats[~used]))
            kept = [str(c) for c in out_cat.cat.categories]
            if kept != sorted(kept):
                out_cat = out_cat.cat.reorder_categories(sorted(kept))
            return out_cat
    out: pd.Series = coerce_text(values).astype("category")
    return out


def coerce_boolean(values: pd.Series, column: str, check: Checker) -> pd.Series:
    pdm = pandas_module()
    if str(values.dtype) == "bool":
        return values
    missing = values.isna().to_numpy()
    if str(values.dtype) == "boolean":
        return values.astype("boolean")
    if pdm.api.types.is_numeric_dtype(values.dtype):
        num = values.to_numpy(dtype=np.float64, na_value=np.nan)
        out = num == 1
        bad = ~missing & (num != 0) & (num != 1)
    else:
        text = values.astype(object).where(~missing, "").astype(str).str.strip()
        lower = text.str.lower().to_numpy(dtype=object)
        out = np.isin(lower, list(_TRUE))
        bad = ~missing & ~out & ~np.isin(lower, list(_FALSE))
    check.flag(column, bad, "not a boolean", values)
    if missing.any():
        arr = pdm.array(out, dtype="boolean")
        arr[missing] = pdm.NA
        nullable: pd.Series = pdm.Series(arr, index=values.index, name=column)
        return nullable
    result: pd.Series = pdm.Series(out, index=values.index, name=column)
    return result


def is_object_bools(values: pd.Series) -> bool:
    if values.dtype != object:
        return False
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, bool) for v in present)
