"""summarize: latency percentiles, SLA compliance, errors, tokens and cost per group."""

from __future__ import annotations

import decimal
import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from perfstats import _core
from perfstats._display import View
from perfstats._errors import Arg, ArgumentError, UnknownNameError
from perfstats._json import json_scalar
from perfstats._result import Result
from perfstats._time import parse_duration as _window
from perfstats.io import parquet
from perfstats.io.events import as_events_or_path
from perfstats.io.failure import failed as failed_requests
from perfstats.io.schema import FIXED_COLUMNS
from perfstats.stats.intervals import wilson_interval
from perfstats.stats.quantile_sketch import QuantileSketch

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "DEFAULT_SCORE_BANDS",
    "DEFAULT_SLA_BUCKETS_MS",
    "PartialSummary",
    "Summary",
    "summarize",
    "summarize_partial",
]

#: Upper-inclusive SLA bucket bounds in ms: <=1 s, <=2 s, <=5 s, <=10 s, <=30 s, >30 s.
DEFAULT_SLA_BUCKETS_MS: tuple[float, ...] = (1000.0, 2000.0, 5000.0, 10000.0, 30000.0)
#: Lower bounds of score bands for scores in [0, 1]; below the last is "poor".
DEFAULT_SCORE_BANDS: dict[str, float] = {"excellent": 0.9, "good": 0.7, "fair": 0.5}
DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99, 0.999)

# Columns with a fixed meaning; any other bool column is an outcome, any other numeric
# column a score.
_KNOWN = FIXED_COLUMNS


def _pct_name(q: float) -> str:
    """``p<100 q>`` with every digit of ``q``'s shortest decimal form, so distinct
    quantiles get distinct names (0.9999999999 is p99.99999999, not p100).

    Examples
    --------
    >>> [_pct_name(q) for q in (0.5, 0.999, 0.9999999999, 1e-07)]
    ['p50', 'p99.9', 'p99.99999999', 'p0.00001']
    """
    text = format((decimal.Decimal(repr(float(q))) * 100).normalize(), "f")
    return f"p{text}"


def _sla_name(bound: float) -> str:
    return f"le_{bound / 1000:g}s" if bound >= 1000 else f"le_{bound:g}ms"


def events_frame(events: Any) -> pd.DataFrame:
    """The canonical DataFrame behind `events` (an :class:`~perfstats.io.events.Events` or a
    DataFrame already in the canonical schema), checked where analyses rely on it."""
    import pandas as pd

    frame = getattr(events, "frame", events)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"events must be a pandas DataFrame or perfstats Events, got {type(events).__name__}"
        )
    if "timestamp" not in frame.columns:
        source = getattr(events, "source", "events")
        found = ", ".join(str(c) for c in frame.columns) or "none"
        raise ValueError(
            f"{source}: no 'timestamp' column; the columns found are: {found} "
            "(map one of them to 'timestamp')"
        )
    if not pd.api.types.is_datetime64_any_dtype(frame["timestamp"]):
        raise TypeError(
            "column 'timestamp' must be datetime64; read the data with "
            "perfstats.read_events to parse and convert it"
        )
    missing = np.flatnonzero(frame["timestamp"].isna().to_numpy())
    if missing.size:
        # NaT would be dropped by some analyses and counted by others
        raise ArgumentError(
            f"timestamp at row {int(missing[0])} is missing (NaT), {missing.size} "
            "row(s) in all; read the events with {0} to skip and count them",
            Arg("read_events(..., errors='skip')", "--errors skip"),
            field="timestamp",
        )
    _check_ms_columns(frame)
    return frame


def _check_ms_columns(frame: pd.DataFrame) -> None:
    """Raises naming the column and first row of a non-numeric, negative or infinite
    duration (``*_ms``); NaN is "not applicable" and fine."""
    import pandas as pd

    for col in [c for c in frame.columns if c.endswith("_ms")]:
        values = frame[col]
        if not pd.api.types.is_numeric_dtype(values):
            raise TypeError(f"column {col!r} must be numeric (ms), got {values.dtype}")
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = _bad_ms(arr)
        if bad is not None:
            row = int(np.argmax(bad))
            raise ValueError(
                f"column {col!r} has {int(bad.sum())} negative or infinite value(s); "
                f"the first is row {row} ({arr[row]})"
            )


# Fixed-meaning columns summarize computes from (besides timestamp, latency and the
# keys), and the others, which it never reads unless it groups by them.
_USED_KNOWN = ("success", "error", "input_tokens", "output_tokens", "cost_usd")
_UNUSED = FIXED_COLUMNS - {"timestamp", "endpoint", "latency_ms", *_USED_KNOWN}


def _check_parquet_path(path: str | os.PathLike[str]) -> None:
    if os.fspath(path).lower().endswith((".csv", ".tsv", ".json", ".jsonl", ".arrow")):
        raise ValueError(
            f"summarize reads Parquet paths only, got {os.fspath(path)!r}; read other "
            "files with perfstats.read_events"
        )
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:  # pragma: no cover - pyarrow is in the test venv
        raise ImportError(
            "summarizing a Parquet path needs pyarrow: pip install 'perfstats[pandas]'"
        ) from exc


def _read_parquet_columns(footer: parquet.Footer, by: list[str]) -> pd.DataFrame:
    """The columns of the Parquet file whose footer is `footer` that summarize uses (no
    identifier or unused text columns decoded), read by
    :func:`perfstats.io.parquet.read_frame`."""
    names = footer.file.schema_arrow.names
    wanted = [c for c in names if c not in _UNUSED or c in by]
    return parquet.read_frame(footer.path, wanted, footer=footer)


_NO_KEY = object()  # the dictionary entry of missing keys while streaming


@dataclass
class _RowGroup:
    """One Parquet row group as the streamed summary needs it (see _stream_parquet)."""

    n: int
    nat: int | None = None  # row (in the group) of the first missing timestamp
    latency: npt.NDArray[np.float64] | None = None
    bad: npt.NDArray[np.bool_] | None = None  # negative or infinite latencies
    codes: npt.NDArray[np.integer[Any]] | None = None  # key index x n_windows + window
    dictionary: list[Any] = field(default_factory=list)  # key values, in index order
    counts: npt.NDArray[np.int64] | None = None  # rows per code
    rest: Any = None  # pyarrow Table of the other columns summarize uses, or None
    buffer: Any = None  # the codes' array to hand back for reuse, or None
    later: Exception | None = None  # raised once these rows are added
    time_range: tuple[int, int] | None = None  # first and last timestamp (ns)


@dataclass
class _Streamed:
    """What one pass over a Parquet file's row groups yields for :func:`summarize`."""

    columns: list[str]  # every column of the file
    codes: (
        npt.NDArray[np.int64] | None
    )  # group code per row, kept only if `frame` needs it
    counts: npt.NDArray[np.int64]  # rows per code
    n_total: int
    labels: list[npt.NDArray[Any]]
    names: list[str]
    latency: tuple[list[_core.QuantileSketch], npt.NDArray[np.float64]]
    frame: pd.DataFrame  # the other columns summarize computes from, whole
    time_range: tuple[int, int] | None = None  # first and last timestamp read (ns)


def _bad_ms(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_] | None:
    """Mask of negative or infinite values, or None when there are none (two
    NaN-ignoring reductions, no mask, in the common case)."""
    if len(values) == 0 or (
        np.fmin.reduce(values) >= 0 and np.fmax.reduce(values) < np.inf
    ):
        return None
    bad = np.isinf(values) | (values < 0)
    return bad if bad.any() else None


class _NotStreamed(Exception):
    """The file is readable but its data break an assumption of the streamed path (its
    footer statistics do not bound its timestamps): summarize reads it whole instead."""


def _stream_parquet(
    footer: parquet.Footer,
    by: list[str],
    every: str | None,
    edges: list[float],
    relative_accuracy: float,
) -> _Streamed | None:
    """Window codes, rows per group and latency sketches of the Parquet file of `footer`,
    one row group (or a batch of small ones) at a time on a few threads, each decoding its
    row group with pyarrow and then adding it to the sketches in row order; only per-group
    state stays in memory. None when the file does not have the shape this handles
    (windows, at most one dictionary-encoded key, integer timestamps with row-group
    statistics that bound them, a numeric latency column); summarize then reads the file
    whole."""
    try:
        return _stream_parquet_checked(footer, by, every, edges, relative_accuracy)
    except _NotStreamed:
        return None


def _stream_parquet_checked(
    footer: parquet.Footer,
    by: list[str],
    every: str | None,
    edges: list[float],
    relative_accuracy: float,
) -> _Streamed | None:
    import concurrent.futures
    import queue
    import threading

    import pandas as pd
    import pyarrow as pa

    path = footer.path
    name = os.fspath(path)
    schema = footer.file.schema_arrow
    meta = footer.metadata
    names = list(schema.names)
    keys = [c for c in by if c in names]
    if (
        every is None
        or meta.num_rows == 0
        or len(keys) > 1
        or "timestamp" not in names
        or "latency_ms" not in names
        or not pa.types.is_timestamp(schema.field("timestamp").type)
        or not (
            pa.types.is_floating(schema.field("latency_ms").type)
            or pa.types.is_integer(schema.field("latency_ms").type)
        )
        or (keys and not pa.types.is_dictionary(schema.field(keys[0]).type))
    ):
        return None
    # The window grid from the row groups' statistics of the timestamp column. They are
    # only a hint: each row group's timestamps are checked against them, and a file whose
    # statistics do not bound its data is read whole.
    ends = parquet.footer_time_range(footer)
    if ends is None:
        return None
    lo, hi = ends
    ns = np.iinfo(np.int64)
    if lo is None or hi is None or lo <= ns.min or hi > ns.max:
        return None  # the whole read names the timestamp out of range
    step = _window(every).value
    origin = lo // step * step
    n_windows = (hi - origin) // step + 1
    if n_windows > max(4096, 2 * meta.num_rows):
        return (
            None  # mostly empty windows: the whole read's cost is bounded by the rows
        )

    core = ["timestamp", "latency_ms", *keys]
    wanted = [c for c in names if c not in _UNUSED or c in by]
    rest = [
        c for c in wanted if c not in core and (c not in _KNOWN or c in _USED_KNOWN)
    ]
    if any(c.endswith("_ms") for c in rest):
        rest.append("latency_ms")  # the phases' tail shares need every latency
    columns = [c for c in wanted if c in core or c in rest]

    rows = [meta.row_group(r).num_rows for r in range(meta.num_row_groups)]
    # Consecutive row groups read together until they hold BATCH_ROWS rows.
    batches: list[list[int]] = []
    held = parquet.BATCH_ROWS
    for r, n_r in enumerate(rows):
        if held >= parquet.BATCH_ROWS:
            batches.append([])
            held = 0
        batches[-1].append(r)
        held += n_r
    starts = np.concatenate([[0], np.cumsum(rows)]).tolist()  # first row of each group
    most = max(starts[b[-1] + 1] - starts[b[0]] for b in batches)
    free: queue.SimpleQueue[Any] = queue.SimpleQueue()
    local = threading.local()  # each pool thread's own reader and scratch array

    def prepare(b: int) -> _RowGroup:
        """Batch b decoded, checked and given window codes keyed by its own dictionary's
        indices (on a pool thread; pyarrow and the window pass release the GIL)."""
        batch = batches[b]
        first = starts[batch[0]]
        # a ParquetFile is not safe to read from two threads at once: one per thread
        if getattr(local, "file", None) is None:
            local.file = parquet.open_file(path, footer)
        try:
            got = parquet.read_row_groups(
                local.file,
                path,
                batch,
                first,
                starts[batch[-1] + 1] - first,
                columns,
                key=keys[0] if keys else None,
                floats="latency_ms",
                bounds=(lo, hi),
                scratch=local,
            )
        except parquet.OutsideStatistics as e:
            raise _NotStreamed from e  # the statistics do not bound the data
        n, table, later = got.n, got.table, got.later
        if got.nat is not None:
            return _RowGroup(n, nat=got.nat)
        ts, key_idx, lat = got.timestamps, got.key_codes, got.floats
        dictionary = got.dictionary
        assert ts is not None and lat is not None
        n_raw = len(dictionary) + 1  # the last key number: a missing key
        out = None
        if n_raw * n_windows <= np.iinfo(np.int32).max:
            # codes arrays are handed back for reuse once added: a fresh one for every
            # row group costs page faults
            try:
                out = free.get_nowait()
            except queue.Empty:
                out = np.empty(most, np.int32)
        codes, chunk_counts = _core.window_codes(
            key_idx,
            n_raw,
            ts,
            origin,
            step,
            n_windows,
            threads=1,
            out=None if out is None else out[:n],
        )
        return _RowGroup(
            n,
            latency=lat,
            bad=_bad_ms(lat),
            codes=codes,
            dictionary=dictionary,
            counts=chunk_counts,
            rest=table.select(rest) if rest else None,
            buffer=out,
            later=later,
            time_range=got.time_range,
        )

    ids: dict[Any, int] = {}  # key value -> key number, in order of first appearance
    counts = np.zeros(0, dtype=np.int64)
    builder = _core.GroupedSketchBuilder(
        n_windows, relative_accuracy, 4096, list(edges)
    )
    all_codes = np.empty(meta.num_rows, dtype=np.int64) if rest else None
    kept: list[Any] = []
    seen: list[tuple[int, int]] = []  # each batch's first and last timestamp

    def consume(b: int, group: _RowGroup) -> None:
        """Batch b into the builder and the counts; called in row order."""
        nonlocal counts
        n, offset = group.n, starts[batches[b][0]]
        if n == 0:
            return
        if group.nat is not None:
            raise ValueError(
                f"{name}: timestamp at row {offset + group.nat} is missing (NaT)"
            )
        lat, codes, chunk_counts = group.latency, group.codes, group.counts
        assert lat is not None and codes is not None and chunk_counts is not None
        if group.bad is not None:
            row = int(np.argmax(group.bad))
            total = int(group.bad.sum())
            # the message counts them all: the later row groups' latencies are read
            later = list(range(batches[b][-1] + 1, meta.num_row_groups))
            if later:
                try:
                    more = parquet.open_file(path, footer).read_row_groups(
                        later, columns=["latency_ms"]
                    )
                except (OSError, pa.ArrowException) as e:
                    raise ValueError(f"{name}: {e}") from e
                rest_bad = _bad_ms(
                    parquet.float_values(parquet.one_array(more.column(0)))
                )
                total += 0 if rest_bad is None else int(rest_bad.sum())
            raise ValueError(
                f"column 'latency_ms' has {total} negative or infinite value(s); "
                f"the first is row {offset + row} ({lat[row]})"
            )
        if keys:
            d = len(group.dictionary)
            numbers = [ids.setdefault(v, len(ids)) for v in group.dictionary]
            if chunk_counts[d * n_windows :].any():  # rows with a missing key
                numbers.append(ids.setdefault(_NO_KEY, len(ids)))
            lut = np.array(numbers, dtype=np.int64)
            if np.array_equal(lut, np.arange(len(lut))):
                chunk_counts = chunk_counts[: len(lut) * n_windows]
            else:  # this dictionary numbers the keys differently: renumber
                codes = lut[codes // n_windows] * n_windows + codes % n_windows
                chunk_counts = np.bincount(codes, minlength=len(ids) * n_windows)
        n_keys = max(len(ids), 1)
        if len(chunk_counts) > len(counts):
            counts = np.concatenate(
                [counts, np.zeros(len(chunk_counts) - len(counts), np.int64)]
            )
        counts[: len(chunk_counts)] += chunk_counts
        builder.grow(n_keys * n_windows)
        builder.add(codes, lat, offset)
        if all_codes is not None:
            all_codes[offset : offset + n] = codes
            kept.append(group.rest)
        if group.buffer is not None:
            free.put(group.buffer)
        if group.time_range is not None:
            seen.append(group.time_range)
        if group.later is not None:
            raise group.later

    # Pool threads each decode a batch and then, when all earlier ones are in, add it to
    # the builder (the sums depend on the order): while one adds, the others decode.
    turn = threading.Condition()
    next_turn = 0
    failed = False

    def decode_and_consume(b: int) -> None:
        nonlocal next_turn, failed
        if failed:  # an earlier batch's error ends the read
            return
        group: _RowGroup | None = None
        error: Exception | None = None
        try:
            group = prepare(b)
        except Exception as e:  # raised in turn: the first error in row order wins
            error = e
        with turn:
            turn.wait_for(lambda: next_turn == b or failed)
            if failed:
                return
        try:
            if error is not None:
                raise error
            assert group is not None
            consume(b, group)
        except BaseException:
            with turn:
                failed = True
                turn.notify_all()
            raise
        with turn:
            next_turn += 1
            turn.notify_all()

    # the machine's cores, bounded: more threads decode further ahead, and each holds a
    # decoded batch in memory
    with concurrent.futures.ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        futures = [pool.submit(decode_and_consume, b) for b in range(len(batches))]
        for future in futures:
            future.result()  # the first error in row order, if any

    n_keys = max(len(ids), 1)
    n_total = n_keys * n_windows
    builder.grow(n_total)
    sketches, hist = builder.finish()
    counts = np.concatenate([counts, np.zeros(n_total - len(counts), np.int64)])
    labels: list[npt.NDArray[Any]] = []
    out_names: list[str] = []
    if keys:
        values = [v for v in ids if v is not _NO_KEY]
        if _NO_KEY in ids:  # missing keys form the last group, as in _group_codes
            order = np.array([ids[v] for v in values] + [ids[_NO_KEY]], dtype=np.int64)
            src = (order[:, None] * n_windows + np.arange(n_windows)).ravel()
            counts = counts[src]
            hist = hist[src]
            sketches = [sketches[i] for i in src]
            if all_codes is not None:
                lut_codes = np.empty(n_total, dtype=np.int64)
                lut_codes[src] = np.arange(n_total)
                all_codes = lut_codes[all_codes]
            values.append(None)
        key_labels = np.empty(len(values), dtype=object)
        key_labels[:] = values
        labels.append(key_labels)
        out_names.append(keys[0])
    starts = pd.to_datetime(origin + step * np.arange(n_windows), utc=True)
    labels.append(np.asarray(starts, dtype=object))
    out_names.append("window_start")
    frame: pd.DataFrame = (
        pa.concat_tables(kept).to_pandas(split_blocks=True, self_destruct=True)
        if kept
        else pd.DataFrame(index=pd.RangeIndex(meta.num_rows))
    )
    return _Streamed(
        columns=names,
        codes=all_codes,
        counts=counts,
        n_total=n_total,
        labels=labels,
        names=out_names,
        latency=(sketches, hist),
        frame=frame,
        time_range=(
            (min(a for a, _ in seen), max(b for _, b in seen)) if seen else None
        ),
    )


@dataclass(repr=False)
class Summary(Result):
    """Result of :func:`summarize`: one row per group (and time window).

    Attributes
    ----------
    table : pandas.DataFrame
        The numbers; see :func:`summarize` for the columns.
    by : list of str
        Grouping columns (``window_start`` is added when ``every`` was given).
    sketches : dict
        ``{group key tuple: {metric: QuantileSketch}}`` for latency and every phase, to
        merge with later runs or other workers.
    missing : dict of str to str
        Metrics that could not be computed, with the reason.
    """

    table: pd.DataFrame
    by: list[str]
    every: str | None
    sla_target_ms: float
    sla_buckets_ms: tuple[float, ...]
    quantiles: tuple[float, ...]
    sketches: dict[tuple[Any, ...], dict[str, QuantileSketch]] = field(repr=False)
    missing: dict[str, str] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The summary table (a copy)."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: settings, one record per group, and what was missing."""

        records = [
            {k: json_scalar(v) for k, v in row.items()}
            for row in self.table.reset_index().to_dict(orient="records")
        ]
        return {
            "by": self.by,
            "every": self.every,
            "sla_target_ms": self.sla_target_ms,
            "sla_buckets_ms": list(self.sla_buckets_ms),
            "quantiles": list(self.quantiles),
            "groups": records,
            "missing": self.missing,
        }

    #: groups listed in the display; the rest are counted in a note
    _SHOWN_GROUPS = 50

    def _view(self) -> View:
        every = "" if self.every is None else f" every {self.every}"
        shown = self.table.head(self._SHOWN_GROUPS)
        notes = [f"not computed: {k} ({v})" for k, v in self.missing.items()]
        if len(self.table) > len(shown):
            notes.insert(0, f"... and {len(self.table) - len(shown)} more groups")
        brief = ["count", "error_rate", "latency_p50", "latency_p99"]
        return View(
            f"Summary by {', '.join(self.by) or 'nothing'}{every}",
            {"groups": len(self.table), "sla_target_ms": self.sla_target_ms},
            {"groups": shown} if len(shown.columns) else {},
            notes=notes,
            text_columns={"groups": brief},
        )

    def plot(self, ax: Axes | None = None, *, metric: str = "latency") -> Axes:
        """Latency percentiles per group (bars), or over time when ``every`` was given.

        Returns the matplotlib Axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        cols = [
            f"{metric}_{_pct_name(q)}" for q in self.quantiles if q in (0.5, 0.9, 0.99)
        ]
        cols = [c for c in cols if c in self.table]
        if not cols:
            raise ValueError(f"no {metric} percentiles to plot")
        table = self.table
        if self.every is not None:
            groups = [b for b in self.by if b != "window_start"]
            col = cols[-1]
            if groups:
                from perfstats._display import group_label

                for key, part in table.groupby(level=groups, observed=True):
                    times = part.index.get_level_values("window_start")
                    label = group_label(key if isinstance(key, tuple) else (key,))
                    ax.plot(times, part[col], label=label)
                ax.legend(fontsize="small")
            else:
                ax.plot(table.index.get_level_values("window_start"), table[col])
            ax.set_ylabel(f"{col} (ms)")
            import matplotlib.dates as mdates

            # dates that do not overlap: "Jun 02", "03", ... with the month once
            locator = mdates.AutoDateLocator(maxticks=10)  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(
                mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
            )
        else:
            table[cols].plot.bar(ax=ax)
            ax.set_ylabel("latency (ms)")
        ax.set_title("Latency percentiles")
        return ax


_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_NAT = np.iinfo(np.int64).min


def _timestamps_ns(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """The ``timestamp`` column as int64 ns since the epoch (UTC), from any datetime64
    unit (s, ms, us, ns), with or without a time zone. Raises ValueError naming the row
    of a missing timestamp (NaT), or of one outside the range of ns timestamps
    (1677-09-21 to 2262-04-11), instead of letting the unit conversion wrap it."""
    column = frame["timestamp"]
    array = column.array
    unit = getattr(column.dtype, "unit", None)  # DatetimeTZDtype
    if unit is None and isinstance(column.dtype, np.dtype):
        unit = np.datetime_data(column.dtype.str)[0]
    if not hasattr(array, "asi8") or unit not in _NS_PER_UNIT:
        raw: npt.NDArray[np.int64] = column.to_numpy(dtype="datetime64[ns]").view(
            np.int64
        )
        factor = 1
    else:
        raw = np.asarray(array.asi8, dtype=np.int64)
        factor = _NS_PER_UNIT[unit]
    if len(raw) and np.min(raw) == _NAT:
        row = int(np.argmax(raw == _NAT))
        raise ValueError(f"timestamp at row {row} is missing (NaT)")
    if factor != 1 and len(raw):
        limit = np.iinfo(np.int64).max // factor
        bad = (raw > limit) | (raw < -limit)
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(
                f"timestamp at row {row} ({column.iloc[row]}) is outside the range "
                "of nanosecond timestamps (1677-09-21 to 2262-04-11) that windows "
                "and rates are computed in"
            )
        raw = raw * factor
    return raw


#: Dense group codes (every key x window combination, present or not) while there are at
#: most max(_DENSE_FACTOR x rows, _DENSE_MIN) of them; beyond that only the combinations
#: that occur are numbered, so memory and time follow the data, not the time span.
_DENSE_FACTOR = 2
_DENSE_MIN = 1 << 16


def _sparse_span(footer: parquet.Footer, step: int) -> bool:
    """Whether the Parquet file's time span holds far more `step` windows than it has
    rows (one stray timestamp decades away): the streamed read numbers every window of
    the span, so such a file is read whole and only the windows that occur are kept."""
    try:
        ends = parquet.footer_time_range(footer)
        rows = footer.metadata.num_rows
    except Exception:  # damaged or unusual files: the streamed read reports them
        return False
    if ends is None:
        return False
    n_windows = (ends[1] - ends[0]) // step + 1
    return bool(n_windows > max(_DENSE_FACTOR * rows, _DENSE_MIN))


@dataclass
class _Groups:
    """Group codes of the rows and how each code maps back to its labels."""

    codes: npt.NDArray[np.integer[Any]]  # per row
    counts: npt.NDArray[np.int64]  # rows per code
    n_total: int
    labels: list[npt.NDArray[Any]]  # values of each key level (no window level)
    names: list[str]  # key names, then "window_start" with windows
    # Per level (keys, then the window), the level index of each code; None when the
    # codes are dense (row-major over the level sizes).
    layout: list[npt.NDArray[np.int64]] | None = None
    origin: int = 0  # window grid (ns), with windows
    step: int = 0
    n_windows: int = 0

    def level_codes(self, pos: npt.NDArray[np.int64]) -> list[npt.NDArray[np.int64]]:
        if self.layout is not None:
            return [lv[pos] for lv in self.layout]
        sizes = [len(lv) for lv in self.labels]
        if self.step:
            sizes.append(self.n_windows)
        return [np.asarray(c, dtype=np.int64) for c in np.unravel_index(pos, sizes)]

    def window_start_ns(self, pos: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        w = self.level_codes(pos)[-1]
        return (
            np.uint64(self.origin % 2**64) + w.astype(np.uint64) * np.uint64(self.step)
        ).view(np.int64)

    def index(self, pos: npt.NDArray[np.int64]) -> pd.Index[Any]:
        import pandas as pd

        if not self.names:
            return pd.RangeIndex(len(pos))
        level_codes = self.level_codes(pos)
        arrays: list[Any] = [
            lv[c] for lv, c in zip(self.labels, level_codes, strict=False)
        ]
        if self.step:
            starts = pd.to_datetime(self.window_start_ns(pos), utc=True)
            arrays.append(np.asarray(starts, dtype=object))
        index: pd.Index[Any] = pd.MultiIndex.from_arrays(arrays, names=self.names)
        if len(self.names) == 1:
            index = index.get_level_values(0)
        return index


def _compact(
    codes: npt.NDArray[np.int64],
    layout: list[npt.NDArray[np.int64]],
    size: int,
    level: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], list[npt.NDArray[np.int64]]]:
    """Codes numbering only the (code, level) pairs that occur, sorted, with the
    layout extended by the new level."""
    uniq, inv = np.unique(codes * size + level, return_inverse=True)
    new = [lv[uniq // size] for lv in layout] + [uniq % size]
    return inv.astype(np.int64).ravel(), new


def _group_codes(frame: pd.DataFrame, by: list[str], every: str | None) -> _Groups:
    """Group codes (int32 or int64) per row, the rows per code and the labels: dense
    over every key x window combination while that is small next to the data, else
    numbering only the combinations that occur (sparse windows)."""
    import pandas as pd

    n_rows = len(frame)
    bound = max(_DENSE_FACTOR * n_rows, _DENSE_MIN)
    # None: one group so far (all zeros). A single categorical key keeps its narrow codes
    # (int8 for a few endpoints) until the C++ window pass widens them.
    codes: npt.NDArray[np.integer[Any]] | None = None
    owned = False
    layout: list[npt.NDArray[np.int64]] | None = None  # set once compacted
    n_total = 1
    labels: list[npt.NDArray[Any]] = []
    names: list[str] = []
    for col in by:
        series = frame[col]
        c: npt.NDArray[np.integer[Any]]
        if isinstance(
            series.dtype, pd.CategoricalDtype
        ):  # codes as they are: no hashing
            c = np.asarray(series.array.codes)  # a view: .cat.codes copies
            values = np.asarray(series.cat.categories, dtype=object)
        else:
            c, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
            values = np.asarray(uniques, dtype=object)
        if (c < 0).any():  # missing keys form their own group
            c = np.where(c < 0, len(values), c).astype(np.int64)
            values = np.concatenate([values, np.array([None], dtype=object)])
        if codes is None:
            codes = c  # may be a view of the frame's own codes: never updated in place
            n_total = len(values)
        elif layout is None and n_total * len(values) <= bound:
            if not owned:  # a fresh int64 array, so updating in place saves temporaries
                codes = codes.astype(np.int64)
                owned = True
            codes *= len(values)
            codes += c
            n_total *= len(values)
        else:  # too many combinations to number them all: number those that occur
            if layout is None:
                first = codes.astype(np.int64)
                layout = [np.arange(n_total, dtype=np.int64)]
                if len(labels) > 1:
                    layout = [
                        np.asarray(x, dtype=np.int64)
                        for x in np.unravel_index(
                            np.arange(n_total), [len(lv) for lv in labels]
                        )
                    ]
                codes = first
            codes, layout = _compact(
                codes.astype(np.int64), layout, len(values), c.astype(np.int64)
            )
            n_total = len(layout[0])
            owned = True
        labels.append(values)
        names.append(col)
    counts: npt.NDArray[np.int64]
    if every is not None:
        step = _window(every).value
        ts = _timestamps_ns(frame)
        lo, hi = int(ts.min()), int(ts.max())
        origin = lo // step * step
        if origin < _NAT:
            raise ValueError(
                f"timestamp at row {int(np.argmin(ts))} reaches too far back for "
                f"windows of {every!r}"
            )
        n_windows = (hi - origin) // step + 1
        names.append("window_start")
        if layout is None and n_total * n_windows <= bound:
            # one C++ pass for codes = key * windows + window and the rows per code
            # (no 10M-row temporaries, no separate bincount)
            codes, counts = _core.window_codes(
                codes, n_total, ts, origin, step, n_windows
            )
            return _Groups(
                codes,
                counts,
                n_total * n_windows,
                labels,
                names,
                origin=origin,
                step=step,
                n_windows=n_windows,
            )
        # sparse windows: each row's window number, and only the (key, window) pairs
        # that occur numbered (unsigned: the offsets may exceed int64 for wide spans)
        window = (
            (ts.view(np.uint64) - np.uint64(origin % 2**64)) // np.uint64(step)
        ).astype(np.int64)
        if codes is None:
            uniq, inv = np.unique(window, return_inverse=True)
            codes, layout = inv.astype(np.int64).ravel(), [uniq]
        else:
            if layout is None:
                layout = [
                    np.asarray(x, dtype=np.int64)
                    for x in np.unravel_index(
                        np.arange(n_total), [len(lv) for lv in labels]
                    )
                ]
            base = codes.astype(np.int64)
            order = np.lexsort((window, base))
            b, w = base[order], window[order]
            new = np.ones(len(b), dtype=bool)
            new[1:] = (b[1:] != b[:-1]) | (w[1:] != w[:-1])
            group = np.cumsum(new) - 1
            inv = np.empty(len(b), dtype=np.int64)
            inv[order] = group
            first = order[new]
            layout = [lv[base[first]] for lv in layout] + [window[first]]
            codes = inv
        n_codes = len(layout[-1])
        counts = np.bincount(codes, minlength=n_codes).astype(np.int64)
        return _Groups(
            codes,
            counts,
            n_codes,
            labels,
            names,
            layout=layout,
            origin=origin,
            step=step,
            n_windows=n_windows,
        )
    wide: npt.NDArray[np.int64] = (
        np.zeros(n_rows, dtype=np.int64)
        if codes is None
        else codes.astype(np.int64, copy=False)
    )
    counts = np.bincount(wide, minlength=n_total)
    return _Groups(wide, counts, n_total, labels, names, layout=layout)


def summarize(
    events: Any,
    *,
    by: str | Sequence[str] | None = ("endpoint",),
    every: str | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    sla_target_ms: float = 5000.0,
    sla_buckets_ms: Sequence[float] = DEFAULT_SLA_BUCKETS_MS,
    score_bands: Mapping[str, Mapping[str, float]] | None = None,
    relative_accuracy: float = 0.01,
    confidence: float = 0.95,
) -> Summary:
    """Per-group latency, SLA, error, token and cost statistics of request events.

    Parameters
    ----------
    events : perfstats.io.events.Events, pandas.DataFrame or path
        Events in the canonical schema (see :func:`perfstats.read_events`), or the path
        of a Parquet file in that schema, of which only the columns used here are read.
        Only ``timestamp`` is required; every metric whose columns exist is computed and
        the rest are listed in ``Summary.missing``. With ``every`` and at most one
        categorical grouping column, a Parquet file's timestamps, keys and latencies
        are never held in memory whole, however large the file; the result equals that
        of the same file read into a DataFrame, bit for bit. Any other input goes
        through :func:`perfstats.as_events` (text timestamps are parsed as
        :func:`perfstats.read_events` parses them).
    by : str or list of str or None, default "endpoint"
        Grouping columns. A name that is not a column raises a ValueError listing
        the columns, except ``endpoint``: events without one are summarized
        ungrouped, and ``missing`` says so.
    every : str, optional
        Time window as a pandas duration ("1h", "15min", "1d"); adds ``window_start``.
        Only windows holding events are rows, and memory and time follow the rows, not
        the time span (one stray timestamp decades away adds one row).
    quantiles : sequence of float
        Latency percentiles to report (from :class:`QuantileSketch`, 1% relative error).
    sla_target_ms : float, default 5000
        ``sla_compliance`` is the share of requests with latency <= this.
    sla_buckets_ms : sequence of float
        Upper-inclusive SLA bucket bounds in ms; shares in ``le_<bound>`` columns plus a
        ``gt_<last>`` overflow column (exact counts, not sketch estimates).
    score_bands : mapping, optional
        ``{score column: {band: lower bound}}``; scores within [0, 1] default to
        :data:`DEFAULT_SCORE_BANDS`.
    relative_accuracy : float, default 0.01
        Accuracy of the latency sketches.
    confidence : float, default 0.95
        Level of the Wilson intervals of error and outcome rates.

    Returns
    -------
    Summary
        ``table`` columns: ``count``, ``throughput_rps`` (requests per second over the
        window, or over the data's time span), ``error_rate`` with
        ``error_rate_low``/``error_rate_high``, ``latency_mean`` and
        ``latency_p50``... (ms), SLA bucket shares, ``sla_compliance``; per phase
        ``<phase>_p50``/``<phase>_p99`` (ms) and ``<phase>_tail_share`` (the phase's
        share of the latency of requests at or above the group's p99) with
        ``tail_driver`` naming the largest; ``input_tokens``/``output_tokens`` (sums and
        ``_mean``), ``cost_usd`` and ``cost_per_request``; for each outcome column a
        rate with its interval; for each score column the share in each band.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from perfstats import summarize
    >>> rng = np.random.default_rng(0)
    >>> events = pd.DataFrame({
    ...     "timestamp": pd.date_range("2026-01-01", periods=1000, freq="s", tz="UTC"),
    ...     "endpoint": np.where(rng.random(1000) < 0.5, "/a", "/b"),
    ...     "latency_ms": rng.lognormal(np.log(800), 0.5, 1000),
    ...     "success": rng.random(1000) > 0.01,
    ... })
    >>> s = summarize(events, by="endpoint")
    >>> s.table["count"].tolist()
    [473, 527]
    >>> bool((s.table["latency_p50"] > 600).all())
    True
    """
    events = as_events_or_path(events)
    import pandas as pd

    by_list = [by] if isinstance(by, str) else list(by or [])
    qs, buckets = _checked_levels(quantiles, sla_buckets_ms)
    # exact upper-inclusive counts at the SLA bounds and the SLA target, in C++
    edges = sorted({*buckets, float(sla_target_ms)})

    streamed: _Streamed | None = None
    source_path = events if isinstance(events, (str, os.PathLike)) else None
    try:
        if isinstance(events, (str, os.PathLike)):
            _check_parquet_path(events)
            if every is not None:
                _window(every)  # a bad window is reported before the file is read
            footer = parquet.read_footer(events)  # parsed once, passed to every read
            if every is None or _sparse_span(footer, _window(every).value):
                streamed = None  # the whole-file read numbers only windows that occur
            else:
                streamed = _stream_parquet(
                    footer, by_list, every, edges, relative_accuracy
                )
            if streamed is None:
                events = _read_parquet_columns(footer, by_list)
        if streamed is not None:
            frame = streamed.frame
            _check_ms_columns(frame)
            columns = streamed.columns
        else:
            frame = events_frame(events)
            columns = list(frame.columns)
    except ValueError as err:
        # a damaged file's errors name it, wherever in the read they arise
        if (
            source_path is None
            or isinstance(err, ArgumentError)
            or os.fspath(source_path) in str(err)
        ):
            raise
        raise ValueError(f"{os.fspath(source_path)}: {err}") from err
    missing: dict[str, str] = {}
    for col in [c for c in by_list if c not in columns]:
        if col != "endpoint":
            # a typo must not quietly give an ungrouped summary; only the default
            # grouping is optional (noted below when the events have no endpoint)
            raise UnknownNameError(col, [str(c) for c in columns], Arg("by=", "--by"))
        missing[f"by {col}"] = f"no {col!r} column; not grouped by it"
    by_list = [c for c in by_list if c in columns]

    groups: _Groups
    if streamed is not None:
        step = _window(every).value if every is not None else 0
        starts = streamed.labels[-1]
        groups = _Groups(
            streamed.codes if streamed.codes is not None else np.zeros(0, np.int64),
            streamed.counts,
            streamed.n_total,
            streamed.labels[:-1],
            streamed.names,
            origin=int(starts[0].value) if len(starts) else 0,
            step=step,
            n_windows=len(starts),
        )
        codes: npt.NDArray[np.integer[Any]] | None = streamed.codes
        ts_ns = None
    else:
        if len(frame) == 0:
            raise ValueError("events are empty: nothing to summarize")
        ts_ns = _timestamps_ns(frame)  # refuses NaT and out-of-range values by row
        groups = _group_codes(frame, by_list, every)
        codes = groups.codes
    row_counts, n_total = groups.counts, groups.n_total
    counts = row_counts.astype(np.float64)
    present = np.flatnonzero(counts)
    pos = present  # rows of the output, in code order (sorted keys, then time)
    cols: dict[str, npt.NDArray[Any]] = {"count": counts[pos].astype(np.int64)}

    # The window pass returns int32 codes when they fit (less memory traffic in C++);
    # np.bincount wants int64, converted once on first use.
    wide: list[npt.NDArray[np.int64]] = []

    def group_codes() -> npt.NDArray[np.integer[Any]]:
        if codes is None:  # pragma: no cover - streamed codes are kept when needed
            raise AssertionError("no group codes kept for a per-row column")
        return codes

    def per_group(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if not wide:
            wide.append(group_codes().astype(np.int64, copy=False))
        out = np.bincount(wide[0], weights=weights, minlength=n_total)
        return out[pos].astype(np.float64)

    # throughput
    if every is not None:
        window_s = groups.step / 1e9
        span_s = np.full(len(pos), window_s)
        ends = (
            (int(ts_ns.min()), int(ts_ns.max()))
            if ts_ns is not None
            # the timestamps read, not the footer's statistics (which may be edited)
            else streamed.time_range
            if streamed is not None
            else None
        )
        if ends is not None:
            # Partial windows: the data cover [first event, last event]; a window
            # reaching past either end has only its covered seconds (at least 1 ms, so
            # a window holding one instant is not infinitely fast) as the denominator.
            t_first, t_last = ends
            w_start = groups.window_start_ns(pos).astype(np.float64)
            w_end = w_start + groups.step
            covered_ns = np.minimum(w_end, t_last) - np.maximum(w_start, t_first)
            span_s = np.clip(covered_ns, 1e6, groups.step) / 1e9
            cols["covered_s"] = span_s
            cols["partial"] = span_s < window_s
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["throughput_rps"] = np.where(
                span_s > 0, cols["count"] / span_s, np.nan
            )
    else:
        ts = (
            ts_ns
            if ts_ns is not None
            else frame["timestamp"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        )
        first = np.full(n_total, np.iinfo(np.int64).max)
        last = np.full(n_total, np.iinfo(np.int64).min)
        np.minimum.at(first, group_codes(), ts)
        np.maximum.at(last, group_codes(), ts)
        span_s = (last[pos] - first[pos]) / 1e9
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["throughput_rps"] = np.where(
                span_s > 0, cols["count"] / span_s, np.nan
            )

    # errors
    failed = failed_requests(frame)  # one definition: perfstats.io.failure
    if failed is None:
        missing["error_rate"] = "no 'success' or 'error' column"
    if failed is not None:
        errors = per_group(failed.astype(np.float64))
        cols["errors"] = errors.astype(np.int64)
        cols["error_rate"] = errors / counts[pos]
        lo, hi = wilson_interval(errors, counts[pos], confidence=confidence)
        cols["error_rate_low"], cols["error_rate_high"] = lo, hi

    sketches: dict[int, dict[str, QuantileSketch]] = {int(g): {} for g in pos}

    def sketch_column(
        name: str,
        values: npt.NDArray[np.float64] | None,
        boundaries: Sequence[float] = (),
    ) -> tuple[list[_core.QuantileSketch], npt.NDArray[np.float64]]:
        """The present groups' sketches (C++ objects, for one-call quantile tables) and
        their counts between `boundaries`; the wrapped sketches go to `sketches`. The
        latency sketches of a streamed file come with it (`values` None)."""
        if values is None and streamed is not None:
            cores, bucket_counts = streamed.latency
        else:
            builder = _core.GroupedSketchBuilder(
                n_total, relative_accuracy, 4096, list(boundaries)
            )
            builder.add(group_codes(), values, 0)
            cores, bucket_counts = builder.finish()
        present = [cores[g] for g in pos]
        for g, core in zip(pos, present, strict=True):
            sketches[int(g)][name] = QuantileSketch._wrap(core)
        return present, bucket_counts[pos]

    # latency
    if "latency_ms" in columns:
        lat: npt.NDArray[np.float64] | None = None
        if "latency_ms" in frame.columns:
            lat = frame["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
        lat_sketches, hist = sketch_column(
            "latency_ms", None if streamed is not None else lat, edges
        )
        qtab = _core.quantiles_of(lat_sketches, np.array(qs)).reshape(len(pos), len(qs))
        cols["latency_mean"] = np.array([s.mean for s in lat_sketches])
        for j, q in enumerate(qs):
            cols[f"latency_{_pct_name(q)}"] = qtab[:, j]
        n_known = hist.sum(axis=1)
        cum = np.cumsum(hist, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            below: npt.NDArray[np.float64] | float = 0.0
            for b in buckets:
                at_or_below = cum[:, edges.index(b)]
                cols[_sla_name(b)] = (at_or_below - below) / n_known
                below = at_or_below
            cols[f"gt_{_sla_name(buckets[-1])[3:]}"] = (n_known - below) / n_known
            cols["sla_compliance"] = cum[:, edges.index(float(sla_target_ms))] / n_known
        # phases and their share of the tail
        phases = [c for c in frame.columns if c.endswith("_ms") and c != "latency_ms"]
        if phases and lat is not None:
            known = ~np.isnan(lat)
            p99 = _core.quantiles_of(lat_sketches, np.array([0.99]))[:, 0]
            threshold = np.full(n_total, np.inf)
            threshold[pos] = p99
            tail = known & (lat >= threshold[group_codes()])
            tail_latency = per_group(np.where(tail, lat, 0.0))
            shares = []
            for ph in phases:
                v = frame[ph].to_numpy(dtype=np.float64, na_value=np.nan)
                ph_sketches, _ = sketch_column(ph, v)
                ph_q = _core.quantiles_of(ph_sketches, np.array([0.5, 0.99]))
                ph_q = ph_q.reshape(len(pos), 2)
                cols[f"{ph}_p50"], cols[f"{ph}_p99"] = ph_q[:, 0], ph_q[:, 1]
                if (
                    ph == "ttft_ms"
                ):  # overlaps processing/delivery: not a share of the sum
                    continue
                with np.errstate(divide="ignore", invalid="ignore"):
                    share = (
                        per_group(np.where(tail & ~np.isnan(v), v, 0.0)) / tail_latency
                    )
                cols[f"{ph}_tail_share"] = share
                shares.append((ph, share))
            if shares:
                stack = np.nan_to_num(np.vstack([s for _, s in shares]), nan=-1.0)
                names_ = np.array([p for p, _ in shares], dtype=object)
                cols["tail_driver"] = names_[np.argmax(stack, axis=0)]
        else:
            missing["phases"] = "no phase columns (*_ms other than latency_ms)"
    else:
        missing["latency"] = "no 'latency_ms' column"

    # tokens and cost
    for col in ("input_tokens", "output_tokens"):
        if col in frame.columns:
            v = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
            ok = ~np.isnan(v)
            cols[col] = per_group(np.where(ok, v, 0.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                cols[f"{col}_mean"] = cols[col] / per_group(ok.astype(np.float64))
        else:
            missing[col] = f"no {col!r} column"
    if "cost_usd" in frame.columns:
        v = frame["cost_usd"].to_numpy(dtype=np.float64, na_value=np.nan)
        known = ~np.isnan(v)
        n_known = per_group(known.astype(np.float64))
        # unknown costs are not $0: sum and mean over the known ones, NaN when none
        total = per_group(np.where(known, v, 0.0))
        cols["cost_usd"] = np.where(n_known > 0, total, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["cost_per_request"] = np.where(n_known > 0, total / n_known, np.nan)
        cols["cost_unknown"] = (counts[pos] - n_known).astype(np.int64)
        n_unknown = int(len(v) - known.sum())
        if n_unknown:
            missing["cost_usd unknown"] = (
                f"{n_unknown} of {len(v)} requests have no cost_usd: cost_usd sums "
                "the known costs (NaN when none is known), cost_per_request averages "
                "them, cost_unknown counts the rest"
            )
    else:
        missing["cost_usd"] = (
            "no 'cost_usd' column (perfstats.analysis.costs derives it from tokens)"
        )

    # outcomes and scores
    bands = dict(score_bands or {})
    for col in frame.columns:
        if col in _KNOWN or col.endswith("_ms") or col in by_list:
            continue
        series = frame[col]
        if pd.api.types.is_bool_dtype(series):
            known_rows = series.notna().to_numpy()
            hits = series.fillna(False).to_numpy(dtype=bool)
            n = per_group(known_rows.astype(np.float64))
            k = per_group(hits.astype(np.float64))
            with np.errstate(divide="ignore", invalid="ignore"):
                cols[f"{col}_rate"] = k / n
            lo, hi = wilson_interval(k, n, confidence=confidence)
            cols[f"{col}_rate_low"], cols[f"{col}_rate_high"] = lo, hi
        elif pd.api.types.is_numeric_dtype(series):
            v = series.to_numpy(dtype=np.float64, na_value=np.nan)
            ok = ~np.isnan(v)
            col_bands = bands.get(col)
            if col_bands is None:
                if ok.any() and (v[ok].min() < 0 or v[ok].max() > 1):
                    missing[f"{col} bands"] = "scores outside [0, 1]; pass score_bands"
                    continue
                col_bands = DEFAULT_SCORE_BANDS
            order = sorted(col_bands.items(), key=lambda kv: -kv[1])
            n = per_group(ok.astype(np.float64))
            upper = np.inf
            for band, lower in order:
                inside = ok & (v >= lower) & (v < upper)
                with np.errstate(divide="ignore", invalid="ignore"):
                    cols[f"{col}_{band}"] = per_group(inside.astype(np.float64)) / n
                upper = lower
            with np.errstate(divide="ignore", invalid="ignore"):
                cols[f"{col}_poor"] = (
                    per_group((ok & (v < upper)).astype(np.float64)) / n
                )
                cols[f"{col}_mean"] = per_group(np.where(ok, v, 0.0)) / n

    # index
    index = groups.index(pos)
    table = pd.DataFrame(cols, index=index)
    keys = (
        [tuple(row) if isinstance(row, tuple) else (row,) for row in index]
        if groups.names
        else [() for _ in pos]
    )
    return Summary(
        table=table,
        by=groups.names,
        every=every,
        sla_target_ms=float(sla_target_ms),
        sla_buckets_ms=buckets,
        quantiles=qs,
        sketches={k: sketches[int(g)] for k, g in zip(keys, pos, strict=True)},
        missing=missing,
    )


# ---- mergeable partial summaries (scale-out: perfstats.dask) ----------------------------


def _checked_levels(
    quantiles: Sequence[float], sla_buckets_ms: Sequence[float]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``quantiles`` and ``sla_buckets_ms`` as floats, checked as summarize checks
    them (quantiles in [0, 1] and distinct, buckets strictly increasing)."""
    qs = tuple(float(q) for q in quantiles)
    for q in qs:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantiles must be in [0, 1], got {q}")
    if len({_pct_name(q) for q in qs}) != len(qs):
        twice = sorted({q for q in qs if qs.count(q) > 1})
        raise ValueError(f"quantiles must be distinct, got {twice} more than once")
    buckets = tuple(float(b) for b in sla_buckets_ms)
    if any(b2 <= b1 for b1, b2 in itertools.pairwise(buckets)) or not buckets:
        raise ValueError(f"sla_buckets_ms must be strictly increasing, got {buckets}")
    return qs, buckets


def _summary_settings(
    by: str | Sequence[str] | None,
    every: str | None,
    quantiles: Sequence[float],
    sla_target_ms: float,
    sla_buckets_ms: Sequence[float],
    score_bands: Mapping[str, Mapping[str, float]] | None,
    relative_accuracy: float,
    confidence: float,
) -> dict[str, Any]:
    """The options of :func:`summarize`, checked as it checks them."""
    by_list = [by] if isinstance(by, str) else list(by or [])
    qs, buckets = _checked_levels(quantiles, sla_buckets_ms)
    if every is not None:
        _window(every)
    return {
        "by": by_list,
        "every": every,
        "quantiles": qs,
        "sla_target_ms": float(sla_target_ms),
        "sla_buckets_ms": buckets,
        "edges": sorted({*buckets, float(sla_target_ms)}),
        "score_bands": {k: dict(v) for k, v in (score_bands or {}).items()},
        "relative_accuracy": float(relative_accuracy),
        "confidence": float(confidence),
    }


@dataclass
class PartialSummary:
    """What :func:`summarize` counts, for part of the events, kept mergeable: rows,
    errors, token, cost, outcome and score sums, latency and phase sketches and exact
    SLA bucket counts per group (and window), keyed by the groups' labels so parts
    holding different groups merge. ``summarize_partial(a).merge(summarize_partial(b))
    .finish()`` equals ``summarize(concat([a, b]))`` bucket for bucket (sums up to
    their rounding). Built by :func:`summarize_partial`; pickles compactly (sketches
    as bytes) to travel between workers. Treat it as immutable: a merged partial
    shares the sketches of groups that only one part held (merging copies those it
    adds to), and so does the Summary that :meth:`finish` makes.
    """

    settings: dict[str, Any]
    columns: list[str]  # the events' columns, in their order
    names: list[str]  # grouping columns present (no window_start)
    categories: list[list[Any] | None]  # per key, the categorical order, if any
    keys: list[npt.NDArray[Any]]  # per key, each group's label
    windows: npt.NDArray[np.int64] | None  # each group's window start (ns)
    counts: npt.NDArray[np.int64]
    sums: dict[str, npt.NDArray[np.float64]]  # per-group sums, by name
    sketches: dict[str, list[_core.QuantileSketch]]  # latency and phases
    hist: npt.NDArray[np.float64]  # latency counts between the SLA edges
    first: npt.NDArray[np.int64]  # each group's first and last timestamp (ns)
    last: npt.NDArray[np.int64]
    kinds: dict[str, str]  # outcome and score columns: "outcome" or "score"
    score_range: dict[str, tuple[float, float]]  # min and max of known scores
    n_rows: int = 0
    n_cost_known: int = 0

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["sketches"] = {
            k: [s.to_bytes() for s in v] for k, v in self.sketches.items()
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["sketches"] = {
            k: [_core.QuantileSketch.from_bytes(b) for b in v]
            for k, v in state["sketches"].items()
        }
        self.__dict__.update(state)

    @property
    def n_groups(self) -> int:
        """Groups (and windows) held."""
        return len(self.counts)

    def merge(self, *others: PartialSummary) -> PartialSummary:
        """A new partial summary of this one's events and `others`' (none is changed).

        Examples
        --------
        >>> import pandas as pd
        >>> from perfstats.analysis.summary import summarize_partial
        >>> ev = pd.DataFrame({"timestamp": pd.to_datetime([0, 1, 2], unit="s"),
        ...                    "endpoint": ["/a", "/b", "/a"],
        ...                    "latency_ms": [10.0, 20.0, 30.0]})
        >>> part = summarize_partial(ev.iloc[:2]).merge(summarize_partial(ev.iloc[2:]))
        >>> part.finish().table["count"].tolist()
        [2, 1]
        """
        import pandas as pd

        parts = [self, *others]
        for p in parts[1:]:
            if p.settings != self.settings or p.columns != self.columns:
                raise ValueError(
                    "partial summaries merge only with the same options and columns"
                )
        parts = [p for p in parts if p.n_groups] or [self]
        if len(parts) == 1:
            return _copy_partial(parts[0])
        base = parts[0]
        keys = [
            np.concatenate([p.keys[i] for p in parts]) for i in range(len(self.names))
        ]
        windows = (
            np.concatenate([p.windows for p in parts if p.windows is not None])
            if self.windows is not None
            else None
        )
        levels: list[Any] = list(keys)
        if windows is not None:
            levels.append(windows)
        n_all = sum(p.n_groups for p in parts)
        if levels:
            frame = pd.DataFrame({i: lv for i, lv in enumerate(levels)})
            codes = (
                frame.groupby(list(frame.columns), sort=False, dropna=False)
                .ngroup()
                .to_numpy(dtype=np.int64)
            )
        else:
            codes = np.zeros(n_all, dtype=np.int64)
        n = int(codes.max()) + 1
        firsts = np.full(n, -1, dtype=np.int64)
        firsts[codes[::-1]] = np.arange(n_all - 1, -1, -1)  # first row of each group

        def add(arrays: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
            whole = np.concatenate(arrays)
            if whole.ndim == 1:
                return np.bincount(codes, weights=whole, minlength=n)
            out = np.zeros((n, whole.shape[1]))
            np.add.at(out, codes, whole)
            return out

        first = np.full(n, np.iinfo(np.int64).max)
        last = np.full(n, np.iinfo(np.int64).min)
        np.minimum.at(first, codes, np.concatenate([p.first for p in parts]))
        np.maximum.at(last, codes, np.concatenate([p.last for p in parts]))
        # A group held by one part keeps that part's sketch (shared, never changed:
        # merge changes only sketches it copied); the others merge into a copy.
        shared = np.bincount(codes, minlength=n) > 1
        sketches: dict[str, list[_core.QuantileSketch]] = {}
        for name in base.sketches:
            flat = [s for p in parts for s in p.sketches[name]]
            merged: list[Any] = [flat[i] for i in firsts.tolist()]
            for g in np.flatnonzero(shared).tolist():
                merged[g] = merged[g].__copy__()
            rest = np.ones(n_all, dtype=bool)
            rest[firsts] = False
            for i in np.flatnonzero(rest).tolist():
                merged[codes[i]].merge(flat[i])
            sketches[name] = merged
        score_range = {}
        for col in self.kinds:
            ranges = [p.score_range[col] for p in parts if col in p.score_range]
            if ranges:
                score_range[col] = (
                    min(r[0] for r in ranges),
                    max(r[1] for r in ranges),
                )
        # partitions read with their own categories: sorted order, as for other keys
        categories = [
            cats if all(p.categories[i] == cats for p in parts) else None
            for i, cats in enumerate(base.categories)
        ]
        return PartialSummary(
            settings=self.settings,
            columns=self.columns,
            names=self.names,
            categories=categories,
            keys=[k[firsts] for k in keys],
            windows=None if windows is None else windows[firsts],
            counts=add([p.counts for p in parts]).astype(np.int64),
            sums={k: add([p.sums[k] for p in parts]) for k in base.sums},
            sketches=sketches,
            hist=add([p.hist for p in parts]),
            first=first,
            last=last,
            kinds=self.kinds,
            score_range=score_range,
            n_rows=sum(p.n_rows for p in [self, *others]),
            n_cost_known=sum(p.n_cost_known for p in [self, *others]),
        )

    def finish(self) -> Summary:
        """The :class:`Summary` of all the events merged into this partial summary."""
        import pandas as pd

        st = self.settings
        if self.n_rows == 0:
            raise ValueError("events are empty: nothing to summarize")
        every = st["every"]
        qs: tuple[float, ...] = st["quantiles"]
        buckets: tuple[float, ...] = st["sla_buckets_ms"]
        edges: list[float] = st["edges"]
        columns = self.columns
        # output order: sorted keys (categorical order; missing last), then time
        ranks: list[npt.NDArray[np.int64]] = []
        for labels, cats in zip(self.keys, self.categories, strict=True):
            isna = np.asarray(pd.isna(labels), dtype=bool)
            rank = np.empty(len(labels), dtype=np.int64)
            if cats is not None:
                lookup = {v: i for i, v in enumerate(cats)}
                rank[~isna] = [lookup[v] for v in labels[~isna]]
                rank[isna] = len(cats)
            else:
                codes, uniques = pd.factorize(labels[~isna], sort=True)
                rank[~isna] = codes
                rank[isna] = len(uniques)
            ranks.append(rank)
        sort_keys: list[Any] = [] if self.windows is None else [self.windows]
        sort_keys += ranks[::-1]
        order = (
            np.lexsort(sort_keys) if sort_keys else np.arange(self.n_groups)
        ).astype(np.int64)
        counts = self.counts[order].astype(np.float64)
        cols: dict[str, npt.NDArray[Any]] = {"count": counts.astype(np.int64)}

        def s(name: str) -> npt.NDArray[np.float64]:
            return self.sums[name][order]

        missing: dict[str, str] = {}
        for col in [c for c in st["by"] if c not in columns]:
            missing[f"by {col}"] = f"no {col!r} column; not grouped by it"
        names = list(self.names)
        if every is not None:
            names.append("window_start")
            step = _window(every).value
            window_s = step / 1e9
            w_start = self.windows[order].astype(np.float64)  # type: ignore[index]
            t_first, t_last = int(self.first.min()), int(self.last.max())
            covered_ns = np.minimum(w_start + step, t_last) - np.maximum(
                w_start, t_first
            )
            span_s = np.clip(covered_ns, 1e6, step) / 1e9
            cols["covered_s"] = span_s
            cols["partial"] = span_s < window_s
        else:
            span_s = (self.last[order] - self.first[order]) / 1e9
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["throughput_rps"] = np.where(
                span_s > 0, cols["count"] / span_s, np.nan
            )
        if "errors" in self.sums:
            errors = s("errors")
            cols["errors"] = errors.astype(np.int64)
            cols["error_rate"] = errors / counts
            lo, hi = wilson_interval(errors, counts, confidence=st["confidence"])
            cols["error_rate_low"], cols["error_rate_high"] = lo, hi
        else:
            missing["error_rate"] = "no 'success' or 'error' column"
        sketch_map: dict[str, list[_core.QuantileSketch]] = {
            k: [v[g] for g in order] for k, v in self.sketches.items()
        }
        if "latency_ms" in columns:
            lat = sketch_map["latency_ms"]
            qtab = _core.quantiles_of(lat, np.array(qs)).reshape(len(order), len(qs))
            cols["latency_mean"] = np.array([x.mean for x in lat])
            for j, q in enumerate(qs):
                cols[f"latency_{_pct_name(q)}"] = qtab[:, j]
            hist = self.hist[order]
            n_known = hist.sum(axis=1)
            cum = np.cumsum(hist, axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                below: npt.NDArray[np.float64] | float = 0.0
                for b in buckets:
                    at_or_below = cum[:, edges.index(b)]
                    cols[_sla_name(b)] = (at_or_below - below) / n_known
                    below = at_or_below
                cols[f"gt_{_sla_name(buckets[-1])[3:]}"] = (n_known - below) / n_known
                cols["sla_compliance"] = (
                    cum[:, edges.index(st["sla_target_ms"])] / n_known
                )
            phases = [c for c in columns if c.endswith("_ms") and c != "latency_ms"]
            if phases:
                shares = []
                tail_latency = (
                    s("tail:latency_ms") if "tail:latency_ms" in self.sums else None
                )
                for ph in phases:
                    ph_q = _core.quantiles_of(sketch_map[ph], np.array([0.5, 0.99]))
                    ph_q = ph_q.reshape(len(order), 2)
                    cols[f"{ph}_p50"], cols[f"{ph}_p99"] = ph_q[:, 0], ph_q[:, 1]
                    if ph == "ttft_ms" or tail_latency is None:
                        continue
                    with np.errstate(divide="ignore", invalid="ignore"):
                        share = s(f"tail:{ph}") / tail_latency
                    cols[f"{ph}_tail_share"] = share
                    shares.append((ph, share))
                if shares:
                    stack = np.nan_to_num(np.vstack([x for _, x in shares]), nan=-1.0)
                    names_ = np.array([p for p, _ in shares], dtype=object)
                    cols["tail_driver"] = names_[np.argmax(stack, axis=0)]
                if tail_latency is None:
                    missing["phase tail shares"] = (
                        "need the groups' p99 first: see perfstats.dask.summarize"
                    )
            else:
                missing["phases"] = "no phase columns (*_ms other than latency_ms)"
        else:
            missing["latency"] = "no 'latency_ms' column"
        for col in ("input_tokens", "output_tokens"):
            if col in columns:
                cols[col] = s(col)
                with np.errstate(divide="ignore", invalid="ignore"):
                    cols[f"{col}_mean"] = cols[col] / s(f"{col}:n")
            else:
                missing[col] = f"no {col!r} column"
        if "cost_usd" in columns:
            n_known = s("cost_usd:n")
            total = s("cost_usd")
            cols["cost_usd"] = np.where(n_known > 0, total, np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                cols["cost_per_request"] = np.where(
                    n_known > 0, total / n_known, np.nan
                )
            cols["cost_unknown"] = (counts - n_known).astype(np.int64)
            n_unknown = self.n_rows - self.n_cost_known
            if n_unknown:
                missing["cost_usd unknown"] = (
                    f"{n_unknown} of {self.n_rows} requests have no cost_usd: cost_usd "
                    "sums the known costs (NaN when none is known), cost_per_request "
                    "averages them, cost_unknown counts the rest"
                )
        else:
            missing["cost_usd"] = (
                "no 'cost_usd' column (perfstats.analysis.costs derives it from tokens)"
            )
        bands = st["score_bands"]
        for col, kind in self.kinds.items():
            with np.errstate(divide="ignore", invalid="ignore"):
                if kind == "outcome":
                    n = s(f"{col}:n")
                    k = s(f"{col}:k")
                    cols[f"{col}_rate"] = k / n
                    lo, hi = wilson_interval(k, n, confidence=st["confidence"])
                    cols[f"{col}_rate_low"], cols[f"{col}_rate_high"] = lo, hi
                    continue
                col_bands = bands.get(col)
                if col_bands is None:
                    low, high = self.score_range.get(col, (0.0, 1.0))
                    if low < 0 or high > 1:
                        missing[f"{col} bands"] = (
                            "scores outside [0, 1]; pass score_bands"
                        )
                        continue
                    col_bands = DEFAULT_SCORE_BANDS
                n = s(f"{col}:n")
                for band, _ in sorted(col_bands.items(), key=lambda kv: -kv[1]):
                    cols[f"{col}_{band}"] = s(f"{col}:{band}") / n
                cols[f"{col}_poor"] = s(f"{col}:poor") / n
                cols[f"{col}_mean"] = s(f"{col}:sum") / n
        if names:
            arrays: list[Any] = [k[order] for k in self.keys]
            if every is not None:
                starts = pd.to_datetime(self.windows[order], utc=True)  # type: ignore[index]
                arrays.append(np.asarray(starts, dtype=object))
            index: pd.Index[Any] = pd.MultiIndex.from_arrays(arrays, names=names)
            if len(names) == 1:
                index = index.get_level_values(0)
            keys = [tuple(row) if isinstance(row, tuple) else (row,) for row in index]
        else:
            index = pd.RangeIndex(len(order))
            keys = [() for _ in order]
        sketches = {
            key: {m: QuantileSketch._wrap(v[i]) for m, v in sketch_map.items()}
            for i, key in enumerate(keys)
        }
        return Summary(
            table=pd.DataFrame(cols, index=index),
            by=names,
            every=every,
            sla_target_ms=st["sla_target_ms"],
            sla_buckets_ms=buckets,
            quantiles=qs,
            sketches=sketches,
            missing=missing,
        )


def _copy_partial(part: PartialSummary) -> PartialSummary:
    """A copy of `part` whose sketches and arrays are its own."""
    import copy

    out = copy.copy(part)
    out.sketches = {k: [s.__copy__() for s in v] for k, v in part.sketches.items()}
    out.sums = {k: v.copy() for k, v in part.sums.items()}
    return out


def _group_keys(part: PartialSummary) -> list[tuple[Any, ...]]:
    """Each group's labels (and window start, ns) as a hashable tuple; missing labels
    as None so they match whatever missing value a part holds."""
    import pandas as pd

    levels: list[list[Any]] = [
        [None if pd.isna(v) else v for v in k.tolist()] for k in part.keys
    ]
    if part.windows is not None:
        levels.append(part.windows.tolist())
    if not levels:
        return [() for _ in range(part.n_groups)]
    return list(zip(*levels, strict=True))


def summarize_partial(
    events: Any,
    *,
    by: str | Sequence[str] | None = ("endpoint",),
    every: str | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    sla_target_ms: float = 5000.0,
    sla_buckets_ms: Sequence[float] = DEFAULT_SLA_BUCKETS_MS,
    score_bands: Mapping[str, Mapping[str, float]] | None = None,
    relative_accuracy: float = 0.01,
    confidence: float = 0.95,
    tail_of: PartialSummary | None = None,
) -> PartialSummary:
    """The mergeable state of :func:`summarize` over part of the events (one partition
    of a Dask DataFrame, one file, one day ...); merge the parts with
    :meth:`PartialSummary.merge` and :meth:`PartialSummary.finish` them into the
    :class:`Summary` that ``summarize`` gives on all the events at once.

    Parameters
    ----------
    events : perfstats.io.events.Events or pandas.DataFrame
        Part of the events, in the canonical schema; may be empty.
    by, every, quantiles, sla_target_ms, sla_buckets_ms, score_bands, relative_accuracy, confidence
        As for :func:`summarize`, the same for every part.
    tail_of : PartialSummary, optional
        All the events' partial summary: with it, the sums behind the phases' tail
        shares (phase time of the requests at or above their group's p99 latency, ms)
        are added, which need every group's p99 first.

    Returns
    -------
    PartialSummary

    Examples
    --------
    >>> import pandas as pd
    >>> from perfstats import summarize
    >>> ev = pd.DataFrame({"timestamp": pd.to_datetime([0, 60, 120], unit="s"),
    ...                    "latency_ms": [100.0, 250.0, 900.0]})
    >>> whole = summarize(ev, by=None)
    >>> parts = summarize_partial(ev[:1], by=None).merge(summarize_partial(ev[1:], by=None))
    >>> parts.finish().table.equals(whole.table)
    True
    """
    import pandas as pd

    settings = _summary_settings(
        by,
        every,
        quantiles,
        sla_target_ms,
        sla_buckets_ms,
        score_bands,
        relative_accuracy,
        confidence,
    )
    frame = events_frame(events)
    columns = [str(c) for c in frame.columns]
    for col in settings["by"]:
        if col not in columns and col != "endpoint":  # as summarize: a typo is an error
            raise UnknownNameError(col, columns, Arg("by=", "--by"))
    names = [c for c in settings["by"] if c in columns]
    categories: list[list[Any] | None] = [
        list(frame[c].cat.categories)
        if isinstance(frame[c].dtype, pd.CategoricalDtype)
        else None
        for c in names
    ]
    kinds: dict[str, str] = {}
    for col in frame.columns:
        if col in _KNOWN or str(col).endswith("_ms") or col in names:
            continue
        if pd.api.types.is_bool_dtype(frame[col]):
            kinds[str(col)] = "outcome"
        elif pd.api.types.is_numeric_dtype(frame[col]):
            kinds[str(col)] = "score"
    bands: dict[str, dict[str, float]] = settings["score_bands"]
    phases = [c for c in columns if c.endswith("_ms") and c != "latency_ms"]
    edges: list[float] = settings["edges"]
    accuracy: float = settings["relative_accuracy"]

    if len(frame) == 0:
        return PartialSummary(
            settings=settings,
            columns=columns,
            names=names,
            categories=categories,
            keys=[np.zeros(0, dtype=object) for _ in names],
            windows=np.zeros(0, np.int64) if every is not None else None,
            counts=np.zeros(0, np.int64),
            sums={k: np.zeros(0) for k in _sum_names(frame, kinds, bands, tail_of)},
            sketches={
                m: []
                for m in (["latency_ms", *phases] if "latency_ms" in columns else [])
            },
            hist=np.zeros((0, len(edges) + 1)),
            first=np.zeros(0, np.int64),
            last=np.zeros(0, np.int64),
            kinds=kinds,
            score_range={},
        )

    ts_ns = _timestamps_ns(frame)
    groups = _group_codes(frame, names, every)
    codes = groups.codes
    n_total = groups.n_total
    pos = np.flatnonzero(groups.counts)
    wide = codes.astype(np.int64, copy=False)

    def per_group(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.bincount(wide, weights=weights, minlength=n_total)
        return out[pos].astype(np.float64)

    first = np.full(n_total, np.iinfo(np.int64).max)
    last = np.full(n_total, np.iinfo(np.int64).min)
    np.minimum.at(first, wide, ts_ns)
    np.maximum.at(last, wide, ts_ns)
    sums: dict[str, npt.NDArray[np.float64]] = {}
    if "success" in frame.columns:
        failed = ~frame["success"].fillna(False).to_numpy(dtype=bool)
        sums["errors"] = per_group(failed.astype(np.float64))
    elif "error" in frame.columns:
        failed = (
            frame["error"].notna().to_numpy()
            & (frame["error"].astype(str) != "").to_numpy()
        )
        sums["errors"] = per_group(failed.astype(np.float64))

    sketches: dict[str, list[_core.QuantileSketch]] = {}
    hist = np.zeros((len(pos), len(edges) + 1))

    def sketch(
        values: npt.NDArray[np.float64], boundaries: Sequence[float] = ()
    ) -> tuple[list[_core.QuantileSketch], npt.NDArray[np.float64]]:
        builder = _core.GroupedSketchBuilder(n_total, accuracy, 4096, list(boundaries))
        builder.add(codes, values, 0)
        cores, bucket_counts = builder.finish()
        return [cores[g] for g in pos], bucket_counts[pos]

    if "latency_ms" in columns:
        lat = frame["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
        sketches["latency_ms"], hist = sketch(lat, edges)
        if phases and tail_of is not None:
            # the requests at or above their group's p99 (of all the events)
            p99s = _core.quantiles_of(tail_of.sketches["latency_ms"], np.array([0.99]))
            lookup = dict(zip(_group_keys(tail_of), p99s[:, 0].tolist(), strict=True))
            mine = _partial_keys(groups, pos)
            threshold = np.full(n_total, np.inf)
            threshold[pos] = [lookup.get(k, np.inf) for k in mine]
            tail = ~np.isnan(lat) & (lat >= threshold[wide])
            sums["tail:latency_ms"] = per_group(np.where(tail, lat, 0.0))
        for ph in phases:
            v = frame[ph].to_numpy(dtype=np.float64, na_value=np.nan)
            sketches[ph], _ = sketch(v)
            if tail_of is not None and ph != "ttft_ms":
                sums[f"tail:{ph}"] = per_group(np.where(tail & ~np.isnan(v), v, 0.0))
    for col in ("input_tokens", "output_tokens"):
        if col in frame.columns:
            v = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
            ok = ~np.isnan(v)
            sums[col] = per_group(np.where(ok, v, 0.0))
            sums[f"{col}:n"] = per_group(ok.astype(np.float64))
    n_cost_known = 0
    if "cost_usd" in frame.columns:
        v = frame["cost_usd"].to_numpy(dtype=np.float64, na_value=np.nan)
        known = ~np.isnan(v)
        n_cost_known = int(known.sum())
        sums["cost_usd:n"] = per_group(known.astype(np.float64))
        sums["cost_usd"] = per_group(np.where(known, v, 0.0))
    score_range: dict[str, tuple[float, float]] = {}
    for col, kind in kinds.items():
        series = frame[col]
        if kind == "outcome":
            sums[f"{col}:n"] = per_group(series.notna().to_numpy().astype(np.float64))
            hits = series.fillna(False).to_numpy(dtype=bool)
            sums[f"{col}:k"] = per_group(hits.astype(np.float64))
            continue
        v = series.to_numpy(dtype=np.float64, na_value=np.nan)
        ok = ~np.isnan(v)
        if ok.any():
            score_range[col] = (float(v[ok].min()), float(v[ok].max()))
        col_bands = bands.get(col, DEFAULT_SCORE_BANDS)
        upper = np.inf
        for band, lower in sorted(col_bands.items(), key=lambda kv: -kv[1]):
            inside = ok & (v >= lower) & (v < upper)
            sums[f"{col}:{band}"] = per_group(inside.astype(np.float64))
            upper = lower
        sums[f"{col}:poor"] = per_group((ok & (v < upper)).astype(np.float64))
        sums[f"{col}:n"] = per_group(ok.astype(np.float64))
        sums[f"{col}:sum"] = per_group(np.where(ok, v, 0.0))

    level_codes = groups.level_codes(pos) if names or every is not None else []
    return PartialSummary(
        settings=settings,
        columns=columns,
        names=names,
        categories=categories,
        keys=[lv[c] for lv, c in zip(groups.labels, level_codes, strict=False)],
        windows=groups.window_start_ns(pos) if every is not None else None,
        counts=groups.counts[pos].astype(np.int64),
        sums=sums,
        sketches=sketches,
        hist=np.asarray(hist, dtype=np.float64),
        first=first[pos],
        last=last[pos],
        kinds=kinds,
        score_range=score_range,
        n_rows=len(frame),
        n_cost_known=n_cost_known,
    )


def _partial_keys(groups: _Groups, pos: npt.NDArray[np.int64]) -> list[tuple[Any, ...]]:
    """The hashable key of each present group, as :func:`_group_keys` makes them."""
    import pandas as pd

    levels: list[list[Any]] = []
    if groups.labels:
        level_codes = groups.level_codes(pos)
        levels = [
            [None if pd.isna(v) else v for v in lv[c].tolist()]
            for lv, c in zip(groups.labels, level_codes, strict=False)
        ]
    if groups.step:
        levels.append(groups.window_start_ns(pos).tolist())
    if not levels:
        return [() for _ in pos]
    return list(zip(*levels, strict=True))


def _sum_names(
    frame: pd.DataFrame,
    kinds: Mapping[str, str],
    bands: Mapping[str, Mapping[str, float]],
    tail_of: PartialSummary | None,
) -> list[str]:
    """The names of the sums :func:`summarize_partial` keeps for `frame`'s columns (so
    an empty part has the same ones)."""
    names: list[str] = []
    if "success" in frame.columns or "error" in frame.columns:
        names.append("errors")
    phases = [c for c in frame.columns if str(c).endswith("_ms") and c != "latency_ms"]
    if "latency_ms" in frame.columns and phases and tail_of is not None:
        names.append("tail:latency_ms")
        names += [f"tail:{ph}" for ph in phases if ph != "ttft_ms"]
    for col in ("input_tokens", "output_tokens"):
        if col in frame.columns:
            names += [col, f"{col}:n"]
    if "cost_usd" in frame.columns:
        names += ["cost_usd:n", "cost_usd"]
    for col, kind in kinds.items():
        if kind == "outcome":
            names += [f"{col}:n", f"{col}:k"]
            continue
        col_bands = bands.get(col, DEFAULT_SCORE_BANDS)
        names += [f"{col}:{band}" for band in col_bands]
        names += [f"{col}:poor", f"{col}:n", f"{col}:sum"]
    return names
