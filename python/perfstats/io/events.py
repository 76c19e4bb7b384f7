"""Read request telemetry from any common source into one canonical event table.

The canonical schema: one row per request or span. Every column is optional (an
analysis says which ones it needs) and columns it does not know are kept as they are.

* ``timestamp`` (datetime64[ns, UTC]): when the request started.
* ``endpoint``, ``variant``, ``model`` (category): route or operation called
  (``/api/chat``), experiment arm or rollout variant, model that served it.
* ``latency_ms`` (float64): end-to-end latency in milliseconds; required per row.
* every other ``*_ms`` column (float64, NaN = not applicable): a phase duration in
  ms, e.g. ``queue_ms``, ``processing_ms``, ``delivery_ms``, ``ttft_ms``.
* ``input_tokens``, ``output_tokens``, ``cached_input_tokens`` (a part of the input
  served from a prompt cache), ``steps``, ``cost_usd`` (float64, NaN = unknown).
* ``success`` (bool; derived from ``error`` when absent) and ``error`` (category,
  missing when the request succeeded).
* ``user_id``, ``session_id`` (pandas string dtype).
* any other boolean column (bool or nullable boolean) is an outcome (``cache_hit``,
  ``accepted``); any other numeric column is a score (``quality_score``).

Invalid rows (unparsable, missing or DST-ambiguous timestamps, negative, missing or
non-finite latencies, negative or non-finite phases, tokens and costs, durations
written with an unknown unit, malformed lines) are never dropped silently:
``errors="raise"`` raises a :class:`ValueError` naming the source, the record (its
file line where there is one) and column, ``errors="skip"``
skips them and records each one in :attr:`Events.skipped`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from perfstats._display import View
from perfstats._errors import Arg, ArgumentError, braces
from perfstats._result import Result
from perfstats.io.csv import read_csv
from perfstats.io.failure import error_present
from perfstats.io.frame import from_object, read_arrow_ipc
from perfstats.io.jsonl import read_json
from perfstats.io.parquet import read_parquet
from perfstats.io.schema import (
    CANONICAL_COLUMNS,
    CATEGORY_COLUMNS,
    COUNT_COLUMNS,
    SKIPPED_COLUMNS,
    STRING_COLUMNS,
    TIME_UNITS,
    Checker,
    Problem,
    Raw,
    coerce_boolean,
    coerce_category,
    coerce_count,
    coerce_duration_ms,
    coerce_text,
    coerce_timestamp,
    is_bool_dtype,
    is_numeric_dtype,
    is_object_bools,
    normalize_unit,
    pandas_module,
    pyarrow_module,
    unit_from_name,
)
from perfstats.io.sql import read_sql

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CANONICAL_COLUMNS",
    "TIME_UNITS",
    "Events",
    "as_events",
    "describe_columns",
    "read_events",
    "write_events",
]


_MAX_LISTED = 5


@dataclass(eq=False, repr=False)
class Events(Result):
    """Events in the canonical schema, with a record of what was skipped.

    Returned by :func:`read_events`; every analysis also accepts a plain pandas
    DataFrame (through :func:`as_events`: a canonical frame as it is, any other through
    :func:`read_events`).

    Attributes
    ----------
    frame : pandas.DataFrame
        The events, one row per request, in source order with a fresh RangeIndex.
    skipped : pandas.DataFrame
        One row per skipped record: ``row`` (0-based index of the record among the
        records parsed from the source; for a JSON array the element's index, as in
        the JSON path ``$[i]``), ``line`` (1-based file line where the record starts,
        as an editor numbers it: a CSV header is line 1, a quoted field may span
        lines; known for CSV, JSON lines and JSON arrays), ``column`` (for a
        malformed part of an OpenTelemetry document, its JSON path such as
        ``$.resourceSpans[0].scopeSpans[0].spans[2]``), ``reason`` and the
        offending ``value`` as text. Error messages name records the same way.
    source : str
        What was read (a path, ``"DataFrame"``, ``"sql"`` ...), used in messages.
    units : dict of str to str
        The unit each duration or numeric timestamp column was read in.
    """

    frame: pd.DataFrame
    skipped: pd.DataFrame
    source: str = "events"
    units: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        """Column names present."""
        return [str(c) for c in self.frame.columns]

    @property
    def phases(self) -> list[str]:
        """Phase duration columns (every ``*_ms`` column except ``latency_ms``)."""
        return [c for c in self.columns if c.endswith("_ms") and c != "latency_ms"]

    @property
    def outcomes(self) -> list[str]:
        """Boolean outcome columns other than ``success``."""
        return [
            c
            for c in self.columns
            if c not in CANONICAL_COLUMNS and is_bool_dtype(self.frame[c].dtype)
        ]

    @property
    def scores(self) -> list[str]:
        """Numeric score columns that are not canonical and not durations."""
        return [
            c
            for c in self.columns
            if c not in CANONICAL_COLUMNS
            and not c.endswith("_ms")
            and is_numeric_dtype(self.frame[c].dtype)
            and not is_bool_dtype(self.frame[c].dtype)
        ]

    def has(self, *columns: str) -> bool:
        """Whether every named column is present."""
        return all(c in self.frame.columns for c in columns)

    def skipped_by_reason(self) -> dict[str, int]:
        """How many records were skipped for each reason."""
        counts = self.skipped["reason"].value_counts(sort=True)
        return {str(k): int(v) for k, v in counts.items()}

    def to_frame(self) -> pd.DataFrame:
        """The events as a pandas DataFrame (the object itself, not a copy)."""
        return self.frame

    def to_dict(self) -> dict[str, Any]:
        """Plain summary: source, rows, columns, time range and skipped counts."""
        out: dict[str, Any] = {
            "source": self.source,
            "rows": len(self.frame),
            "columns": self.columns,
            "units": dict(self.units),
            "skipped": len(self.skipped),
            "skipped_by_reason": self.skipped_by_reason(),
        }
        if "timestamp" in self.frame.columns and len(self.frame):
            ts = self.frame["timestamp"]
            out["start"] = ts.min().isoformat()
            out["end"] = ts.max().isoformat()
        return out

    def _view(self) -> View:
        d = self.to_dict()
        fields: dict[str, Any] = {"rows": d["rows"], "source": self.source}
        if "start" in d:
            fields |= {"start": d["start"], "end": d["end"]}
        fields["columns"] = ", ".join(d["columns"])
        if self.units:
            fields["units"] = ", ".join(f"{k} {v}" for k, v in self.units.items())
        notes = []
        if d["skipped"]:
            reasons = "; ".join(f"{k}: {v}" for k, v in d["skipped_by_reason"].items())
            notes.append(f"skipped {d['skipped']} invalid rows ({reasons})")
        return View(
            "Events",
            fields,
            {"first rows": self.frame.head(10)} if len(self.frame) else {},
            notes=notes,
            text_columns={"first rows": []},
        )


_FORMATS = ("parquet", "csv", "jsonl", "json", "otlp", "arrow")
_SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zst", ".xz"):
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise ArgumentError(
        braces(f"{path}: cannot tell the format from the file name; pass ")
        + "{0} one of "
        + ", ".join(_FORMATS),
        Arg("format=", "--input-format"),
    )


def _canonicalize(
    raw: Raw,
    *,
    columns: Mapping[str, str] | None,
    units: Mapping[str, str] | None,
    origin: Any,
    timezone: str | None,
    errors: str,
) -> Events:
    pdm = pandas_module()
    frame = raw.frame
    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    if not frame.index.equals(pdm.RangeIndex(len(frame))):
        frame = frame.reset_index(drop=True)  # rows are positions from here on
    lines = raw.lines
    source = raw.source

    # ---- column mapping -----------------------------------------------------
    mapping = dict(columns or {})
    present = [str(c) for c in frame.columns]
    missing_src = [c for c in mapping if c not in present]
    if missing_src:
        raise ArgumentError(
            braces(f"{source}: ")
            + "{0}"
            + braces(
                f" maps {', '.join(map(repr, missing_src))} but the source has no "
                f"such column; the columns found are: {', '.join(present)}"
            ),
            Arg("columns=", "--columns"),
            field=missing_src[0],
        )
    targets = list(mapping.values())
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    clash = [
        t for t in targets if t in present and t not in mapping and mapping.get(t) != t
    ]
    if dupes or clash:
        raise ArgumentError(
            braces(f"{source}: ")
            + "{0} would create duplicate column(s) "
            + braces(str(sorted(set(dupes) | set(clash)))),
            Arg("columns=", "--columns"),
            field=sorted(set(dupes) | set(clash))[0],
        )
    # Units stated in a mapped column's name (`end_to_end_latency_s`) are honoured.
    implied = {
        dst: u
        for src, dst in mapping.items()
        if dst.endswith("_ms") and (u := unit_from_name(src)) is not None
    }
    frame = frame.rename(columns={k: v for k, v in mapping.items() if k != v})
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: duplicate column names {names}")

    # ---- units --------------------------------------------------------------
    used: dict[str, str] = dict(raw.units)
    stated: dict[str, str] = {}
    for col, unit in (units or {}).items():
        if col != "timestamp" and not col.endswith("_ms"):
            raise ArgumentError(
                "{0} names " + braces(repr(col)) + ": units apply to timestamp and "
                "*_ms columns",
                Arg("units=", "--units"),
                field=str(col),
            )
        if col not in names:
            raise ArgumentError(
                braces(f"{source}: ")
                + "{0} names "
                + braces(f"{col!r}, which is not a column; the columns are: ")
                + braces(", ".join(names)),
                Arg("units=", "--units"),
                field=str(col),
            )
        stated[col] = normalize_unit(unit, what=f"column {col!r}")
    for col, unit in implied.items():
        stated.setdefault(col, unit)

    n = len(frame)
    check = Checker(n)
    out: dict[str, pd.Series] = {}
    originals: dict[str, pd.Series] = {}
    for col in names:
        values = frame[col]
        originals[col] = values
        if col == "timestamp":
            ts_unit = stated.get("timestamp", used.get("timestamp"))
            out[col] = coerce_timestamp(values, ts_unit, origin, timezone, check, used)
        elif col.endswith("_ms"):
            unit = stated.get(col, "ms")
            if unit != "ms":
                used[col] = unit
            out[col] = coerce_duration_ms(
                values, col, unit, check, required=(col == "latency_ms")
            )
        elif col in CATEGORY_COLUMNS:
            out[col] = coerce_category(values, col)
        elif col in STRING_COLUMNS:
            out[col] = coerce_text(values)
        elif col in COUNT_COLUMNS or col == "cost_usd":
            out[col] = coerce_count(values, col, check)
        elif col == "success":
            out[col] = coerce_boolean(values, col, check)
        elif is_object_bools(values):
            out[col] = values.astype("boolean")
        else:
            out[col] = values
    if "success" in out and str(out["success"].dtype) == "boolean":
        succ = out["success"]
        if "error" in out:
            derived = pdm.Series(~error_present(out["error"]), index=succ.index)
            succ = succ.fillna(derived)
        else:
            check.flag(
                "success", succ.isna().to_numpy(), "missing value", frame["success"]
            )
        out["success"] = succ.fillna(False).astype(bool)
    elif "success" not in out and "error" in out:
        out["success"] = pdm.Series(~error_present(out["error"]), index=frame.index)
    # Columns that needed no conversion are the caller's arrays, not copies (pandas
    # copy-on-write keeps the caller's frame safe from later edits).
    changed = {c: v for c, v in out.items() if v is not originals.get(c)}
    if not changed:
        result = frame.copy(deep=False)
    elif len(changed) == len(out):
        result = pdm.DataFrame(out, index=frame.index)
    else:
        result = pdm.concat([v.rename(c) for c, v in out.items()], axis=1)
    if "error" in result.columns:
        err = result["error"]
        if "" in list(err.cat.categories):
            result["error"] = err.cat.remove_categories([""])

    # ---- invalid rows ---------------------------------------------------------
    problems = list(raw.problems)
    bad_rows = np.zeros(n, dtype=bool)
    first_reason: dict[int, Problem] = {}
    if check.found and lines is None and raw.find_lines is not None:
        lines = raw.find_lines(n)  # only read again when a row needs its line
    rows = raw.rows
    for col, mask, reason, values in check.found:
        idx = np.flatnonzero(mask & ~bad_rows)
        obj = values.to_numpy(dtype=object)
        for i in idx:
            first_reason[int(i)] = Problem(
                rows[int(i)] if rows is not None else int(i),
                lines[int(i)] if lines else None,
                col,
                reason,
                repr(obj[i])[:200],
            )
        bad_rows |= mask
    problems.extend(first_reason[i] for i in sorted(first_reason))
    if lines is not None:
        # source order: malformed records and invalid values interleaved
        problems.sort(key=lambda p: (p.line or 0, p.row or 0))
    if problems and errors == "raise":
        raise ArgumentError(
            braces(_describe(source, problems, raw.row_label)) + ". Fix them, or pass "
            "{0} to skip and count them",
            Arg("errors='skip'", "--errors skip"),
            field=problems[0].column or None,
        )
    skipped = _skipped_frame(problems)
    if bad_rows.any():
        result = result.loc[~bad_rows]
        for col in result.columns:
            if str(result[col].dtype) == "category":
                result[col] = result[col].cat.remove_unused_categories()
    result = result.reset_index(drop=True)
    result.attrs = {}
    return Events(frame=result, skipped=skipped, source=source, units=used)


def _skipped_frame(problems: Sequence[Problem]) -> pd.DataFrame:
    """The :attr:`Events.skipped` table of `problems`."""
    pdm = pandas_module()
    skipped: pd.DataFrame = pdm.DataFrame(
        {
            "row": pdm.array([p.row for p in problems], dtype="Int64"),
            "line": pdm.array([p.line for p in problems], dtype="Int64"),
            "column": pdm.Series([p.column for p in problems], dtype=object),
            "reason": pdm.Series([p.reason for p in problems], dtype=object),
            "value": pdm.Series([p.value for p in problems], dtype=object),
        },
        columns=SKIPPED_COLUMNS,
    )
    return skipped


def _describe(source: str, problems: Sequence[Problem], label: str = "row") -> str:
    """One message for the invalid records: each named by its file line where known
    (what an editor shows), else by its 0-based row; JSON array elements by their
    JSON path index ``$[i]`` and line."""
    parts = []
    for p in problems[:_MAX_LISTED]:
        where = []
        if label == "element" and p.row is not None:
            where.append(f"element $[{p.row}]")
        if p.line is not None:
            where.append(f"line {p.line}")
        elif label == "row" and p.row is not None:
            where.append(f"row {p.row}")
        if p.column.startswith("$"):
            where.append(f"at {p.column}")  # a JSON path
        elif p.column:
            where.append(f"column {p.column!r}")
        value = p.value if len(p.value) <= 60 else p.value[:57] + "..."
        parts.append(f"{', '.join(where)}: {p.reason} ({value})")
    more = len(problems) - _MAX_LISTED
    tail = f"; and {more} more" if more > 0 else ""
    return f"{source}: {len(problems)} invalid row(s): " + "; ".join(parts) + tail


# ---------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------


def read_events(
    source: Any,
    *,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    errors: Literal["raise", "skip"] = "raise",
    format: str | None = None,
    query: str | None = None,
    connection: Any = None,
    params: Any = None,
    origin: Any = None,
    timezone: str | None = None,
    delimiter: str | None = None,
    select: Sequence[str] | None = None,
) -> Events:
    """Read request telemetry into the canonical event schema.

    Parameters
    ----------
    source : DataFrame, Arrow table or stream, path, mapping, Events or ``"sql"``
        A pandas or polars DataFrame (or LazyFrame), a pyarrow Table, RecordBatch or
        RecordBatchReader (or any object exporting ``__arrow_c_stream__``), a mapping
        of column name to values, a path to a Parquet, CSV/TSV, JSON lines, JSON
        array, Arrow IPC or OpenTelemetry JSON trace file, a path to a folder of
        Parquet part files (as :class:`perfstats.Recorder` writes them: read in name
        order, a part still being written skipped with a warning naming it), or the
        string ``"sql"`` with ``query=``.
    columns : mapping of str to str, optional
        Source column name to canonical name, e.g. ``{"ElapsedTime": "latency_ms"}``.
        A unit suffix on the source name (``end_to_end_latency_s``) sets the unit
        of the duration unless ``units`` says otherwise.
    units : mapping of str to str, optional
        Unit of a duration (``*_ms``) or numeric ``timestamp`` column as stored in
        the source: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``. Durations default to ms.
        Numeric timestamps are epoch values (the unit is inferred when all values
        lie in 2000-2100) or, with ``origin``, offsets from it. Text durations may
        carry their own unit (``"1.5s"``, ``"250 ms"``).
    errors : {"raise", "skip"}
        What to do with invalid rows: raise a ValueError naming the source, row and
        column, or skip them and record each in :attr:`Events.skipped`.
    format : str, optional
        ``parquet``, ``csv``, ``jsonl``, ``json``, ``otlp`` or ``arrow`` when the
        file name does not say.
    query, connection, params
        For ``source="sql"``: the query, any DB-API 2.0 connection (``sqlite3``,
        ``psycopg`` ...) or a DuckDB connection (default: a fresh in-memory DuckDB,
        which reads local files: ``SELECT * FROM 'events.parquet'``), and query
        parameters.
    origin : str or datetime, optional
        Start time that numeric timestamps are offsets from, or ``"unix"`` for
        epoch values. Without it, numeric timestamps must be epoch values in
        2000-2100 in their unit; others raise (offsets would be dated 1970).
    timezone : str, optional
        Time zone of timestamps written without an offset (default: UTC). A local
        time the zone skips (DST gap) or passes twice (DST overlap) names no single
        instant: it is an invalid row. Timestamps with offsets may mix offsets (each
        is converted to UTC). In a column mixing timestamps with and without an
        offset, those without one are invalid rows unless ``timezone`` is given.
    delimiter : str, optional
        CSV field separator (default ``,``; tab for ``.tsv``).
    select : sequence of str, optional
        Keep only these columns (canonical names, after ``columns`` mapping). Parquet
        files then decode only those columns, which is much faster on wide files.

    Returns
    -------
    Events
        ``.frame`` holds the canonical DataFrame (see the module docstring for the
        dtypes: ``timestamp`` is datetime64[ns, UTC], durations are float64 ms),
        ``.skipped`` the skipped records.

    Examples
    --------
    >>> import pandas as pd
    >>> from perfstats.io.events import read_events
    >>> raw = pd.DataFrame({
    ...     "time": ["2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z", "yesterday"],
    ...     "ElapsedTime": [0.25, 1.5, 0.3],
    ... })
    >>> names = {"time": "timestamp", "ElapsedTime": "latency_ms"}
    >>> ev = read_events(raw, columns=names, units={"latency_ms": "s"}, errors="skip")
    >>> ev.frame["latency_ms"].tolist()
    [250.0, 1500.0]
    >>> ev.skipped_by_reason()
    {'unparsable timestamp': 1}
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    if timezone is not None:
        if not isinstance(timezone, str):
            raise TypeError(f"timezone must be a string, got {type(timezone).__name__}")
        try:
            pandas_module().Timestamp(0).tz_localize(timezone)
        except Exception as exc:  # pytz and zoneinfo raise different types
            raise ValueError(f"unknown time zone {timezone!r}") from exc
    if isinstance(source, Events):
        if not columns and not units:
            return source
        source = source.frame
    raw: Raw | None
    if isinstance(source, str) and source == "sql":
        raw = read_sql(query, connection, params)
    elif isinstance(source, (str, Path)):
        wanted = None
        if select is not None:
            inverse = {dst: src for src, dst in (columns or {}).items()}
            wanted = [inverse.get(c, c) for c in select]
        text_columns = [
            src
            for src in [*(columns or {}), *CATEGORY_COLUMNS, *STRING_COLUMNS]
            if (columns or {}).get(src, src) in (*CATEGORY_COLUMNS, *STRING_COLUMNS)
        ]
        raw = _read_path(Path(source), format, delimiter, wanted, text_columns)
    else:
        if query is not None or connection is not None:
            raise ValueError('query= and connection= go with read_events("sql", ...)')
        raw = from_object(source)
        if raw is None:
            raise TypeError(
                "read_events reads a DataFrame, an Arrow table or stream, a path or "
                f'"sql"; got {type(source).__name__}'
            )
    if select is not None:
        if isinstance(select, str) or not all(isinstance(c, str) for c in select):
            raise TypeError("select must be a sequence of column names")
        raw.frame = _select(raw, select, columns)
        kept = set(raw.frame.columns)
        columns = {k: v for k, v in (columns or {}).items() if k in kept}
    return _canonicalize(
        raw,
        columns=columns,
        units=units,
        origin=origin,
        timezone=timezone,
        errors=errors,
    )


def describe_columns(
    source: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    origin: Any = None,
    timezone: str | None = None,
    format: str | None = None,
    delimiter: str | None = None,
    samples: int = 3,
) -> pd.DataFrame:
    """How each column of a file will be read: a dry run of :func:`read_events`.

    Parameters
    ----------
    source : str or Path
        The events file.
    columns, units, origin, timezone, format, delimiter
        As for :func:`read_events`; invalid rows are skipped (counted by
        :func:`read_events` itself).
    samples : int
        How many sample values to show per column.

    Returns
    -------
    pandas.DataFrame
        One row per source column: ``source`` (its name in the file), ``canonical``
        (the name it is read as), ``role`` (``canonical``, ``outcome``, ``score``
        or ``unused``), ``unit`` (of durations and numeric timestamps), ``dtype``
        (after reading) and ``sample`` (the first values after reading, as text).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> text = "t,ms,host\\n1700000000,12.5,a\\n1700000001,3,b\\n"
    >>> _ = (d / "t.csv").write_text(text)
    >>> names = {"t": "timestamp", "ms": "latency_ms"}
    >>> plan = describe_columns(d / "t.csv", columns=names)
    >>> for r in plan.itertuples():
    ...     print(r.source, r.canonical or "-", r.role, r.unit or "-")
    t timestamp canonical s
    ms latency_ms canonical ms
    host - unused -
    """
    pdm = pandas_module()
    raw = _read_path(Path(source), format, delimiter, None)
    events = read_events(
        source,
        columns=columns,
        units=units,
        origin=origin,
        timezone=timezone,
        format=format,
        delimiter=delimiter,
        errors="skip",
    )
    mapping = dict(columns or {})
    frame = events.frame
    outcomes, scores = set(events.outcomes), set(events.scores)
    rows = []
    for src in [str(c) for c in raw.frame.columns]:
        name = mapping.get(src, src)
        if name in frame.columns:
            col = frame[name]
            role = (
                "canonical"
                if name in CANONICAL_COLUMNS or name.endswith("_ms")
                else "outcome"
                if name in outcomes
                else "score"
                if name in scores
                else "unused"
            )
            dtype = str(col.dtype)
            shown = [_sample_text(v) for v in col.head(samples).tolist()]
        else:
            role, dtype, shown = "unused", "", []
        rows.append(
            {
                "source": src,
                "canonical": name if role != "unused" else "",
                "role": role,
                "unit": events.units.get(
                    name, "ms" if role == "canonical" and name.endswith("_ms") else ""
                ),
                "dtype": dtype,
                "sample": ", ".join(shown),
            }
        )
    out: pd.DataFrame = pdm.DataFrame(
        rows, columns=["source", "canonical", "role", "unit", "dtype", "sample"]
    )
    return out


def _sample_text(v: Any) -> str:
    pdm = pandas_module()
    if isinstance(v, pdm.Timestamp):
        return str(v.isoformat())
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _canonical_dtypes(frame: pd.DataFrame) -> bool:
    """Whether every canonical column of `frame` already has a dtype the analyses take
    as it is (datetime timestamps, numeric durations and counts, boolean ``success``,
    text or categorical keys) and no negative or infinite count or cost: such a frame
    is used without a copy."""
    pdm = pandas_module()
    types = pdm.api.types
    for col in frame.columns:
        kind = CANONICAL_COLUMNS.get(col)
        is_ms = isinstance(col, str) and col.endswith("_ms")
        if kind is None and is_ms:
            kind = "float64"
        if kind is None:
            continue
        dtype = frame[col].dtype
        if kind.startswith("datetime64"):
            ok = types.is_datetime64_any_dtype(dtype)
        elif kind == "float64":
            ok = types.is_numeric_dtype(dtype) and not is_bool_dtype(dtype)
        elif kind == "bool":
            ok = is_bool_dtype(dtype)
        else:  # category and string columns: text of any kind
            ok = isinstance(dtype, pdm.CategoricalDtype) or types.is_string_dtype(dtype)
        if not ok:
            return False
        # counts and costs; durations (``*_ms``) are checked by the analyses that read
        # them, with the message naming the first bad row and the count of them
        if (
            kind == "float64"
            and not is_ms
            and len(frame)
            and not _plausible(frame[col])
        ):
            return False
    return True


def _plausible(values: pd.Series) -> bool:
    """No negative or infinite value (NaN is "unknown" and fine): two NaN-ignoring
    reductions, no copy of a float64 column."""
    arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(arr).all():
        return True
    return bool(np.fmin.reduce(arr) >= 0 and np.fmax.reduce(arr) < np.inf)


def as_events(data: Any, **read_options: Any) -> Events:
    """The events behind any input an analysis accepts, in the canonical schema.

    Every analysis calls this first, so one input works everywhere or fails the same
    way everywhere: an :class:`Events` is returned as it is; a pandas DataFrame whose
    canonical columns already have canonical dtypes and no negative or infinite
    counts or costs is wrapped without a copy (missing values stay missing); any other
    DataFrame (text timestamps, durations with units, ``success`` as text, a negative
    token count ...) and every other source go through :func:`read_events` with
    `read_options`, which converts or names what is wrong.

    Parameters
    ----------
    data : Events, DataFrame, path or any source :func:`read_events` reads
        The events.
    **read_options
        Keywords of :func:`read_events` (``columns``, ``units``, ``errors`` ...); given
        any, a DataFrame is always read by :func:`read_events`.

    Returns
    -------
    Events
        The events; ``frame`` is `data` itself for a canonical DataFrame.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"timestamp": ["2026-01-01T00:00:00Z"], "latency_ms": ["12"]})
    >>> ev = as_events(raw)
    >>> str(ev.frame["timestamp"].dtype), float(ev.frame["latency_ms"].iloc[0])
    ('datetime64[ns, UTC]', 12.0)
    >>> as_events(ev.frame).frame is ev.frame
    True
    """
    if isinstance(data, Events) and not read_options:
        return data
    pdm = pandas_module()
    if isinstance(data, pdm.DataFrame) and not read_options and _canonical_dtypes(data):
        return Events(frame=data, skipped=_skipped_frame([]), source="DataFrame")
    return read_events(data, **read_options)


def as_events_or_path(data: Any, keep: tuple[type, ...] = ()) -> Any:
    """`data` itself when it is a path (which :func:`perfstats.summarize` reads in its
    own way, a Parquet file streamed) or an instance of a type in `keep` (such as a
    :class:`~perfstats.Summary` an analysis takes instead of events), else
    :func:`as_events` of it.

    Examples
    --------
    >>> as_events_or_path("events.parquet")
    'events.parquet'
    """
    if isinstance(data, (str, os.PathLike)) or (keep and isinstance(data, keep)):
        return data
    return as_events(data)


def _select(
    raw: Raw, select: Sequence[str], columns: Mapping[str, str] | None
) -> pd.DataFrame:
    """The source columns behind the canonical names in ``select``."""
    inverse = {dst: src for src, dst in (columns or {}).items()}
    present = [str(c) for c in raw.frame.columns]
    missing = [c for c in select if inverse.get(c, c) not in present]
    if missing:
        raise ValueError(
            f"{raw.source}: select= names {missing}, which the source does not have; "
            f"it has {present}"
        )
    frame: pd.DataFrame = raw.frame[[inverse.get(c, c) for c in select]]
    return frame


def _read_path(
    path: Path,
    fmt: str | None,
    delimiter: str | None,
    wanted: Sequence[str] | None,
    text_columns: Sequence[str] = (),
) -> Raw:
    if fmt is not None and fmt not in _FORMATS:
        raise ValueError(f"format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        if fmt not in (None, "parquet"):
            raise ValueError(f"{path} is a directory; pass a file")
        return read_parquet(path, wanted)  # a folder of Parquet part files
    kind = fmt or _format_of(path)
    if kind == "parquet":
        return read_parquet(path, wanted)
    if kind == "arrow":
        return read_arrow_ipc(path)
    if kind == "csv":
        return read_csv(path, delimiter=delimiter, text_columns=text_columns)
    return read_json(path, fmt=kind)


# ---------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------


def _json_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, (np.floating,)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is pandas_module().NA or v is pandas_module().NaT:
        return None
    return v


def _iso(ts: pd.Series) -> list[str | None]:
    """ISO 8601 text with ns and a Z, None where missing."""
    pdm = pandas_module()
    utc = ts.astype("datetime64[ns, UTC]").dt.tz_convert(None).to_numpy()
    text = np.datetime_as_string(utc, unit="ns")
    missing = pdm.isna(utc)
    return [None if m else f"{t}Z" for t, m in zip(text, missing, strict=True)]


def _records(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    pdm = pandas_module()
    cols = [str(c) for c in frame.columns]
    arrays: list[Iterable[Any]] = []
    for c in cols:
        s = frame[c]
        if isinstance(
            s.dtype, pdm.DatetimeTZDtype
        ) or pdm.api.types.is_datetime64_dtype(s.dtype):
            arrays.append(_iso(s))
        else:
            arrays.append(s.astype(object).tolist())
    for row in zip(*arrays, strict=True):
        yield {c: _json_value(v) for c, v in zip(cols, row, strict=True)}


def write_events(
    events: Events | pd.DataFrame,
    path: str | Path,
    *,
    format: str | None = None,
) -> Path:
    """Write events as Parquet, CSV, JSON lines, Arrow IPC or an OTLP JSON trace.

    Parameters
    ----------
    events : Events or DataFrame
        Canonical events (a DataFrame goes through :func:`read_events` first).
    path : str or Path
        Output file; the format follows its suffix unless ``format`` is given.
    format : str, optional
        ``parquet``, ``csv``, ``jsonl``, ``arrow`` or ``otlp`` (an OpenTelemetry
        Collector file-exporter style export with one GenAI span per event).

    Returns
    -------
    Path
        The file written. CSV and JSON lines keep every value exactly (floats are
        written with round-trip precision, timestamps as ISO 8601 with ns).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from perfstats.datasets import llm_app
    >>> ev = read_events(llm_app(days=1, requests_per_day=50, seed=1))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> back = read_events(write_events(ev, out))
    >>> back.frame.equals(ev.frame)
    True
    """
    ev = read_events(events)
    frame = ev.frame
    path = Path(path)
    kind = format or _format_of(path)
    if kind == "json":
        kind = "jsonl"
    if kind == "parquet":
        frame.to_parquet(path, index=False)
    elif kind == "arrow":
        pa = pyarrow_module()
        import pyarrow.feather as feather

        feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False), path)
    elif kind == "csv":
        out = frame.copy()
        if "timestamp" in out.columns:
            out["timestamp"] = _iso(out["timestamp"])
        out.to_csv(path, index=False)
    elif kind == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for rec in _records(frame):
                fh.write(json.dumps(rec, allow_nan=False) + "\n")
    elif kind == "otlp":
        _write_otlp(frame, path)
    else:
        raise ValueError(f"cannot write format {kind!r}")
    return path


def _otlp_attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _write_otlp(frame: pd.DataFrame, path: Path) -> None:
    pdm = pandas_module()
    if "timestamp" not in frame.columns or "latency_ms" not in frame.columns:
        raise ValueError("an OTLP trace needs timestamp and latency_ms columns")
    start = frame["timestamp"].astype("datetime64[ns, UTC]")
    start_ns = start.dt.tz_convert(None).to_numpy().view(np.int64)
    dur_ns = np.round(frame["latency_ms"].to_numpy(dtype=np.float64) * 1e6)
    end_ns = start_ns + dur_ns.astype(np.int64)
    fields = {
        "model": "gen_ai.request.model",
        "input_tokens": "gen_ai.usage.input_tokens",
        "output_tokens": "gen_ai.usage.output_tokens",
        "cached_input_tokens": "gen_ai.usage.cache_read.input_tokens",
        "endpoint": "http.route",
        "user_id": "user.id",
        "session_id": "session.id",
        "error": "error.type",
    }
    spans = []
    cols = {c: frame[c].astype(object).tolist() for c in fields if c in frame.columns}
    for i in range(len(frame)):
        attrs = [_otlp_attr("gen_ai.operation.name", "chat")]
        for col, key in fields.items():
            if col not in cols:
                continue
            v = cols[col][i]
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pdm.NA:
                continue
            if col.endswith("_tokens"):
                v = int(v)
            attrs.append(_otlp_attr(key, v))
        model = cols.get("model", [None] * len(frame))[i] or "unknown"
        span: dict[str, Any] = {
            "traceId": f"{i + 1:032x}",
            "spanId": f"{i + 1:016x}",
            "name": f"chat {model}",
            "kind": 3,
            "startTimeUnixNano": str(int(start_ns[i])),
            "endTimeUnixNano": str(int(end_ns[i])),
            "attributes": attrs,
            "status": {},
        }
        if "error" in cols and isinstance(cols["error"][i], str):
            span["status"] = {"code": 2, "message": cols["error"][i]}
        spans.append(span)
    chunk = 1000  # the file exporter writes one export request per line
    with path.open("w", encoding="utf-8") as fh:
        for lo in range(0, max(len(spans), 1), chunk):
            doc = {
                "resourceSpans": [
                    {
                        "resource": {
                            "attributes": [_otlp_attr("service.name", "perfstats")]
                        },
                        "scopeSpans": [
                            {
                                "scope": {"name": "perfstats"},
                                "spans": spans[lo : lo + chunk],
                            }
                        ],
                    }
                ]
            }
            fh.write(json.dumps(doc) + "\n")
