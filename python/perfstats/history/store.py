"""History store: windowed sketches, moments and counts in SQLite or PostgreSQL.

What is stored
--------------
One row per (time window, group, batch): the window's start (ns since the epoch, UTC)
and length, the group (its columns and values, as JSON), the request count, error
count, token and cost sums, and the serialized :class:`QuantileSketch` of latency and of
every phase, with :class:`Moments` (of latency and of log latency) and an SLA
:class:`Histogram` of latency when they were given. Everything merges, so any range and
grouping is answered by merging rows: a daily roll-up of hourly windows is bucket for
bucket the sketch of the raw events of that day.

Batches: same data again, or more data
--------------------------------------
Every append is a *batch*, named by its ``batch`` id (default: a SHA-256 of the
summary's content). Appending a batch id that is already stored *replaces* that batch's
rows (a re-run of a day's job does not double-count, whatever windows it covers); a new
batch id *adds* rows, and late data for a window are merged with the earlier batches
when the window is read. The replace is one transaction: a crash or a killed process
leaves the previous state. Once :meth:`History.retain` has downsampled a batch's
windows, that batch can no longer be told apart and re-appending it raises ValueError.

Backends
--------
``History("path/to/history.sqlite")`` (or ``sqlite:///path``) is one SQLite file in WAL
mode; ``History("postgresql://user@host/db")`` a PostgreSQL database (psycopg 3,
``pip install 'perfstats[history-postgres]'``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import itertools
import json
import math
import os
import re
import struct
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from perfstats import _core
from perfstats._json import json_scalar
from perfstats.analysis.comparison import holm
from perfstats.analysis.summary import (
    DEFAULT_QUANTILES,
    DEFAULT_SLA_BUCKETS_MS,
    Summary,
    summarize,
)
from perfstats.history._backend import (
    STORE_SCHEMA_VERSION,
    Backend,
    is_store_url,
    open_backend,
    redact_url,
)
from perfstats.stats.histogram import Histogram
from perfstats.stats.hypothesis_tests import welch_t_test
from perfstats.stats.intervals import wilson_interval
from perfstats.stats.moments import Moments
from perfstats.stats.quantile_sketch import QuantileSketch

if TYPE_CHECKING:
    import pandas as pd

    from perfstats.analysis.metric_trend import MetricTrend
    from perfstats.stats.trend import Errors, Scale

__all__ = ["STORE_SCHEMA_VERSION", "History", "is_store_url"]

_NS_PER_DAY = 86_400 * 10**9
_DAY_UNIT = re.compile(r"(?<=\d)\s*d(?![a-z])")
_DOWNSAMPLED = "~downsampled"
_KINDS: dict[str, type[Any]] = {"s": QuantileSketch, "m": Moments, "h": Histogram}


def _duration_ns(text: str | dt.timedelta, name: str) -> int:
    import pandas as pd

    try:
        if isinstance(text, str):  # pandas 3 deprecates the day unit "d" (not "D")
            text = _DAY_UNIT.sub("D", text.strip())
        ns = int(pd.Timedelta(text).value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a duration like '1h' or '1d', got {text!r}"
        ) from exc
    if ns <= 0:
        raise ValueError(f"{name} must be positive, got {text!r}")
    return ns


def _time_ns(value: Any, name: str) -> int:
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a time, got {value!r}") from exc
    if pd.isna(ts):
        raise ValueError(f"{name} must be a time, got {value!r}")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)


_ENTRY = struct.Struct(">cB")  # kind (one ASCII letter), length of the metric's name
_LENGTH = struct.Struct(">I")


def _pack(objects: Mapping[tuple[str, str], Any]) -> bytes:
    """``{(kind, metric): object}`` as one blob: per object, its kind (``s`` sketch,
    ``m`` moments, ``h`` histogram; one byte), the length of the metric's UTF-8 name
    (one byte), the name, the length of its ``to_bytes()`` (4 bytes, big-endian) and
    those bytes. Version 1 of the stored format."""
    out = []
    for (kind, name), obj in sorted(objects.items()):
        raw_name = name.encode()
        if len(raw_name) > 255:
            raise ValueError(f"metric name {name[:40]!r}... is longer than 255 bytes")
        payload = obj.to_bytes()
        out += [
            _ENTRY.pack(kind.encode(), len(raw_name)),
            raw_name,
            _LENGTH.pack(len(payload)),
            payload,
        ]
    return b"".join(out)


#: Rows read and rolled up at a time (bounds the memory of a query over a year).
_CHUNK = 10_000


def _wrap(kind: str, core: Any) -> Any:
    """The public object around a ``perfstats._core`` sketch, moments or histogram."""
    if kind == "h":
        h = Histogram.__new__(Histogram)
        h._h = core
        return h
    return _KINDS[kind]._wrap(core)


def _merge_rows(
    blobs: Sequence[Any], groups: Any
) -> list[tuple[int, tuple[str, str], Any, int]]:
    """The objects of stored blobs merged per (group, kind, metric) in row order, in
    C++ (``perfstats._core.merge_packed_rows``: the blob format of :func:`_pack`, every
    payload validated as ``from_bytes`` validates it): ``(group, (kind, metric),
    object, rows that carried it)``; rows of a negative group are skipped."""
    return [
        (g, (kind, name), _wrap(kind, obj), rows)
        for g, kind, name, obj, rows in _core.merge_packed_rows(blobs, groups)
    ]


class _Acc:
    """A merge of rows: counts, sums (None: unknown) and mergeable objects."""

    __slots__ = (
        "_carried",
        "_objects",
        "cost_unknown",
        "cost_usd",
        "count",
        "errors",
        "input_tokens",
        "output_tokens",
        "rows",
    )

    def __init__(self) -> None:
        self.count = 0
        self.errors: int | None = 0
        self.input_tokens: float | None = 0.0
        self.output_tokens: float | None = 0.0
        self.cost_usd: float | None = None
        self.cost_unknown = 0
        self.rows = 0
        self._objects: dict[tuple[str, str], Any] = {}
        # rows that carried each object: moments and histograms are kept only when
        # every merged row carried them
        self._carried: dict[tuple[str, str], int] = {}

    def add_sums(
        self,
        rows: int,
        count: int,
        errors: float,
        input_tokens: float,
        output_tokens: float,
        cost_usd: float,
        cost_known: int,
        cost_unknown: int,
    ) -> None:
        """Add the sums of ``rows`` rows (NaN: some row's value unknown; ``cost_usd``
        the sum of the ``cost_known`` rows that carry a cost); their objects are added
        with :meth:`add_object`."""
        self.rows += rows
        self.count += count
        self.errors = (
            None
            if self.errors is None or math.isnan(errors)
            else self.errors + int(errors)
        )
        self.input_tokens = (
            None
            if self.input_tokens is None or math.isnan(input_tokens)
            else self.input_tokens + input_tokens
        )
        self.output_tokens = (
            None
            if self.output_tokens is None or math.isnan(output_tokens)
            else self.output_tokens + output_tokens
        )
        if cost_known:
            self.cost_usd = (self.cost_usd or 0.0) + cost_usd
        self.cost_unknown += cost_unknown

    def add_object(self, key: tuple[str, str], obj: Any, rows: int) -> None:
        """Merge ``obj``, the merge of ``rows`` rows' ``key`` object."""
        done = self._objects.get(key)
        if done is None:
            self._objects[key] = obj
        else:
            done.merge(obj)
        self._carried[key] = self._carried.get(key, 0) + rows

    def finished(self) -> dict[tuple[str, str], Any]:
        return {
            k: v
            for k, v in self._objects.items()
            if k[0] == "s" or self._carried[k] == self.rows
        }

    def values(self) -> tuple[Any, ...]:
        return (
            self.count,
            self.errors,
            self.input_tokens,
            self.output_tokens,
            self.cost_usd,
            self.cost_unknown,
            _pack(self.finished()),
        )


def _chunk_sums(
    cols: Sequence[Sequence[Any]], kid: np.ndarray, keep: np.ndarray, n: int
) -> Iterator[tuple[Any, ...]]:
    """Per key of a chunk of rows (``kid``: the key of each kept row): rows, count,
    errors, input and output tokens (NaN when a row's is unknown), the cost of the
    rows that carry one, how many carry one, and the requests of unknown cost."""

    def total(col: int) -> list[float]:
        v = np.array(cols[col], dtype=np.float64)[keep]  # None (unknown) -> NaN
        out: list[float] = np.bincount(kid, weights=v, minlength=n).tolist()
        return out

    cost = np.array(cols[7], dtype=np.float64)[keep]
    known = ~np.isnan(cost)
    return zip(
        np.bincount(kid, minlength=n).tolist(),
        total(3),
        total(4),
        total(5),
        total(6),
        np.bincount(kid, weights=np.where(known, cost, 0.0), minlength=n).tolist(),
        np.bincount(kid, weights=known, minlength=n).tolist(),
        total(8),
        strict=True,
    )


def _group_text(names: Sequence[str], key: Sequence[Any]) -> str:
    return json.dumps([[n, json_scalar(v)] for n, v in zip(names, key, strict=True)])


class History:
    """A store of windowed summaries, queried by time range and group.

    Parameters
    ----------
    url : str or path
        ``"history.sqlite"`` / ``"sqlite:///abs/path.sqlite"`` (SQLite, created when
        missing) or ``"postgresql://user@host:port/dbname"`` (PostgreSQL, tables created
        when missing).

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> from perfstats.history import History
    >>> rng = np.random.default_rng(0)
    >>> events = pd.DataFrame({
    ...     "timestamp": pd.date_range("2026-01-01", periods=4000, freq="min", tz="UTC"),
    ...     "endpoint": np.where(rng.random(4000) < 0.5, "/a", "/b"),
    ...     "latency_ms": rng.lognormal(np.log(800), 0.5, 4000),
    ...     "success": rng.random(4000) > 0.01,
    ... })
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with History(os.path.join(d, "h.sqlite")) as h:
    ...         batch = h.append_events(events, by="endpoint", every="1h")
    ...         daily = h.summary("2026-01-01", "2026-01-04", every="1d")
    >>> int(daily.table["count"].sum())
    4000
    >>> daily.by
    ['endpoint', 'window_start']
    """

    def __init__(self, url: str | os.PathLike[str]) -> None:
        #: The store's URL for display, any password replaced by ``***``.
        self.url = redact_url(os.fspath(url))
        self._db: Backend = open_backend(os.fspath(url))
        self._groups: tuple[tuple[Any, ...], list[str]] | None = None

    # ---- life cycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"History({self.url!r}, backend={self._db.kind})"

    # ---- writing ----------------------------------------------------------------------

    def append(
        self,
        summary: Summary,
        *,
        batch: str | None = None,
        moments: Mapping[tuple[Any, ...], Mapping[str, Moments]] | None = None,
        histograms: Mapping[tuple[Any, ...], Mapping[str, Histogram]] | None = None,
        source: str = "",
    ) -> str:
        """Store a windowed summary (``summarize(..., every=...)``) as one batch.

        Parameters
        ----------
        summary : Summary
            Made with ``every`` (its windows are the stored windows).
        batch : str, optional
            The batch id; default a SHA-256 of the summary's content. Re-appending a
            stored batch id replaces that batch; a new id adds to the windows.
        moments, histograms : mapping, optional
            ``{group key: {metric: Moments/Histogram}}`` with the keys of
            ``summary.sketches``, stored beside the sketches (see :meth:`append_events`).
        source : str
            What the data came from, kept with the batch.

        Returns
        -------
        str
            The batch id.
        """
        if not isinstance(summary, Summary):
            raise TypeError(
                f"summary must be a perfstats Summary, got {type(summary).__name__}"
            )
        if summary.every is None or "window_start" not in summary.by:
            raise ValueError(
                "History stores windowed summaries: summarize with every= (e.g. '1h')"
            )
        step = _duration_ns(summary.every, "summary.every")
        names = [b for b in summary.by if b != "window_start"]
        w_pos = summary.by.index("window_start")
        table = summary.table
        keys = list(summary.sketches)
        if len(keys) != len(table):
            raise ValueError("summary.sketches does not match summary.table")
        rows: list[tuple[Any, ...]] = []
        digest = hashlib.sha256()
        digest.update(json.dumps([names, summary.every]).encode())
        n_rows = len(table)

        def column(name: str, kind: type) -> list[Any]:
            """One column as Python values, None where absent or NaN (unknown)."""
            if name not in table.columns:
                return [None] * n_rows
            v = table[name].to_numpy(dtype=np.float64, na_value=np.nan)
            return [None if math.isnan(x) else kind(x) for x in v.tolist()]

        counts = table["count"].to_numpy(dtype=np.int64).tolist()
        errors = column("errors", int)
        tin, tout = column("input_tokens", float), column("output_tokens", float)
        cost = column("cost_usd", float)
        unknown = column("cost_unknown", int) if "cost_usd" in table.columns else counts
        import pandas as pd

        starts = pd.DatetimeIndex([k[w_pos] for k in keys])
        if starts.tz is None:
            starts = starts.tz_localize("UTC")
        start_ns = starts.as_unit("ns").asi8.tolist()
        group_texts: dict[tuple[Any, ...], str] = {}
        for i, key in enumerate(keys):
            group = tuple(k for j, k in enumerate(key) if j != w_pos)
            text = group_texts.get(group)
            if text is None:
                text = group_texts[group] = _group_text(names, group)
            objects: dict[tuple[str, str], Any] = {
                ("s", m): s for m, s in summary.sketches[key].items()
            }
            for m, obj in ((moments or {}).get(key) or {}).items():
                objects[("m", m)] = obj
            for m, hist in ((histograms or {}).get(key) or {}).items():
                objects[("h", m)] = hist
            row = (
                start_ns[i],
                step,
                text,
                counts[i],
                errors[i],
                tin[i],
                tout[i],
                cost[i],
                0 if unknown[i] is None else unknown[i],
                _pack(objects),
            )
            digest.update(repr(row[:-1]).encode())
            digest.update(row[-1])
            rows.append(row)
        batch_id = batch if batch is not None else "sha256:" + digest.hexdigest()
        if not isinstance(batch_id, str) or not batch_id or batch_id == _DOWNSAMPLED:
            raise ValueError(f"batch must be a non-empty string, got {batch!r}")
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        with self._db.write():
            old = self._db.execute(
                "SELECT compacted FROM batches WHERE batch = ?", (batch_id,)
            )
            if old and old[0][0]:
                raise ValueError(
                    f"batch {batch_id} was already downsampled by retain(): it cannot be "
                    "replaced any more (append the new data under a new batch id)"
                )
            self._db.execute("DELETE FROM windows WHERE batch = ?", (batch_id,))
            self._db.executemany(
                "INSERT INTO windows (window_start, window_ns, grp, batch, count, errors, "
                "input_tokens, output_tokens, cost_usd, cost_unknown, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r[0], r[1], r[2], batch_id, *r[3:]) for r in rows],
            )
            self._db.execute(
                "INSERT INTO batches (batch, appended_at, source, compacted) "
                "VALUES (?, ?, ?, 0) ON CONFLICT (batch) DO UPDATE SET "
                "appended_at = excluded.appended_at, source = excluded.source",
                (batch_id, now, source),
            )
        return batch_id

    def append_events(
        self,
        events: Any,
        *,
        by: str | Sequence[str] | None = ("endpoint",),
        every: str = "1h",
        batch: str | None = None,
        sla_buckets_ms: Sequence[float] = DEFAULT_SLA_BUCKETS_MS,
        relative_accuracy: float = 0.01,
        source: str | None = None,
    ) -> str:
        """Summarize events per ``every`` window and group and store them as one batch,
        with the Moments of latency and log latency (for the t-tests of
        :meth:`compare`) and an SLA Histogram of latency per window.

        ``events`` is an :class:`~perfstats.Events`, a DataFrame in the canonical
        schema, or a path (read with :func:`perfstats.read_events`). Returns the
        batch id.
        """
        from perfstats.analysis.summary import events_frame
        from perfstats.io.events import read_events

        if isinstance(events, (str, os.PathLike)):
            events = read_events(events)
        frame = events_frame(events)
        s = summarize(
            frame,
            by=by,
            every=every,
            sla_buckets_ms=sla_buckets_ms,
            relative_accuracy=relative_accuracy,
        )
        moments: dict[tuple[Any, ...], dict[str, Moments]] = {}
        hists: dict[tuple[Any, ...], dict[str, Histogram]] = {}
        if "latency_ms" in frame.columns:
            import pandas as pd

            names = [b for b in s.by if b != "window_start"]
            step = _duration_ns(every, "every")
            ts = frame["timestamp"]
            if ts.dt.tz is None:
                ts = ts.dt.tz_localize("UTC")
            ns = ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").array.asi8
            start = pd.to_datetime(ns // step * step, utc=True)
            lat = frame["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
            keys = [frame[n].to_numpy() for n in names] + [np.asarray(start)]
            grouped = pd.DataFrame({"i": np.arange(len(frame))}).groupby(
                [pd.Series(k) for k in keys], sort=False, dropna=False
            )
            edges = np.asarray(sla_buckets_ms, dtype=np.float64)
            for gkey, idx in grouped.indices.items():
                key = gkey if isinstance(gkey, tuple) else (gkey,)
                key = (*key[:-1], pd.Timestamp(key[-1]))
                v = lat[idx]
                v = v[~np.isnan(v)]
                if not len(v):
                    continue
                moments[key] = {"latency_ms": Moments(v)}
                if (v > 0).all():
                    moments[key]["log_latency_ms"] = Moments(np.log(v))
                h = Histogram(edges)
                h.add(v)
                hists[key] = {"latency_ms": h}
            # the summary's keys, matched by value
            lookup = {self._norm(k): k for k in s.sketches}
            moments = {
                lookup[self._norm(k)]: v
                for k, v in moments.items()
                if self._norm(k) in lookup
            }
            hists = {
                lookup[self._norm(k)]: v
                for k, v in hists.items()
                if self._norm(k) in lookup
            }
        src = source if source is not None else str(getattr(events, "source", "events"))
        return self.append(
            s, batch=batch, moments=moments, histograms=hists, source=src
        )

    @staticmethod
    def _norm(key: tuple[Any, ...]) -> str:
        return repr(
            [json_scalar(k) if not hasattr(k, "value") else int(k.value) for k in key]
        )

    # ---- reading ----------------------------------------------------------------------

    def _chunks(
        self, start: int | None, end: int | None
    ) -> Generator[list[tuple[Any, ...]], None, None]:
        """The stored rows of windows starting in ``[start, end)``, in chunks, in the
        order of the primary key (time first: a fixed merge order on every backend)."""
        sql = (
            "SELECT window_start, window_ns, grp, count, errors, input_tokens, "
            "output_tokens, cost_usd, cost_unknown, data FROM windows"
        )
        where, params = [], []
        if start is not None:
            where.append("window_start >= ?")
            params.append(start)
        if end is not None:
            where.append("window_start < ?")
            params.append(end)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY window_start, window_ns, grp, batch"
        with self._db.read():
            yield from self._db.stream(sql, params, _CHUNK)

    def groups(self) -> list[str]:
        """The group columns stored (in order of first appearance)."""
        with self._db.read():
            # every write appends or re-appends a batch: while the batches are as they
            # were, so are the groups (reading them scans every stored window)
            state = tuple(
                self._db.execute("SELECT COUNT(*), MAX(appended_at) FROM batches")[0]
            )
            if self._groups is not None and self._groups[0] == state:
                return list(self._groups[1])
            rows = self._db.execute("SELECT DISTINCT grp FROM windows")
        seen: dict[str, None] = {}
        for (text,) in rows:
            for name, _ in json.loads(text):
                seen.setdefault(name, None)
        self._groups = (state, list(seen))
        return list(seen)

    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """Start of the first window and end of the last one (UTC), None when empty."""
        import pandas as pd

        with self._db.read():
            row = self._db.execute(
                "SELECT MIN(window_start), MAX(window_start + window_ns) FROM windows"
            )[0]
        if row[0] is None:
            return None
        return pd.Timestamp(int(row[0]), tz="UTC"), pd.Timestamp(int(row[1]), tz="UTC")

    def batches(self) -> pd.DataFrame:
        """Every stored batch: id, when it was appended, its source, whether
        :meth:`retain` downsampled it, and its rows."""
        import pandas as pd

        with self._db.read():
            rows = self._db.execute(
                "SELECT b.batch, b.appended_at, b.source, b.compacted, "
                "(SELECT COUNT(*) FROM windows w WHERE w.batch = b.batch) "
                "FROM batches b ORDER BY b.appended_at, b.batch"
            )
        return pd.DataFrame(
            [(b, a, s, bool(c), int(n)) for b, a, s, c, n in rows],
            columns=["batch", "appended_at", "source", "downsampled", "rows"],
        )

    def merged(
        self,
        start: Any = None,
        end: Any = None,
        *,
        by: str | Sequence[str] | None = None,
        every: str | None = "1d",
        where: Mapping[str, Any] | None = None,
    ) -> dict[tuple[Any, ...], _Acc]:
        """The rows of windows starting in ``[start, end)`` (of the groups matching
        ``where``) merged per (group values of ``by``..., bucket start in ns) — the
        building block of :meth:`summary`."""
        import pandas as pd

        lo = None if start is None else _time_ns(start, "start")
        hi = None if end is None else _time_ns(end, "end")
        step = None if every is None else _duration_ns(every, "every")
        names = self._by(by)
        wanted = self._where(where)
        out: dict[tuple[Any, ...], _Acc] = {}
        # per stored group: the index of its key without the bucket (-1: not wanted)
        parsed: dict[str, int] = {}
        group_ids: dict[tuple[Any, ...], int] = {}
        sizes: set[int] = set()
        chunks = self._chunks(lo, hi)
        try:  # closed at once on an error: the read transaction ends
            for chunk in chunks:
                cols = list(zip(*chunk, strict=True))
                ws_col, wn_col, grp_col, blobs = cols[0], cols[1], cols[2], cols[9]
                if step is not None:
                    for wn in set(wn_col) - sizes:
                        sizes.add(wn)
                        ws = ws_col[wn_col.index(wn)]
                        if ws % wn == 0 and step % wn:
                            raise ValueError(
                                f"every={every!r} is not a multiple of the stored "
                                f"{pd.Timedelta(int(wn), unit='ns')} windows: their "
                                "requests cannot be split between roll-up windows"
                            )
                for grp in set(grp_col) - parsed.keys():
                    d = dict(json.loads(grp))
                    if all(d.get(k) == v for k, v in wanted.items()):
                        g = tuple(d.get(n) for n in names)
                        parsed[grp] = group_ids.setdefault(g, len(group_ids))
                    else:
                        parsed[grp] = -1
                gidx = np.array([parsed[g] for g in grp_col], dtype=np.int64)
                keep = gidx >= 0
                if not keep.any():
                    continue
                if step is None:
                    bnum = np.zeros(len(chunk), dtype=np.int64)
                else:
                    bnum = np.array(ws_col, dtype=np.int64) // step
                # rows -> keys (group, bucket) of this chunk; -1: a group not wanted
                lo_b = int(bnum[keep].min())
                span = int(bnum[keep].max()) - lo_b + 1
                combined = gidx[keep] * span + (bnum[keep] - lo_b)
                uniq, kid = np.unique(combined, return_inverse=True)
                row_keys = np.full(len(chunk), -1, dtype=np.int64)
                row_keys[keep] = kid
                groups_list = list(group_ids)
                local = [
                    (
                        *groups_list[c // span],
                        None if step is None else (c % span + lo_b) * step,
                    )
                    for c in uniq.tolist()
                ]
                sums = _chunk_sums(cols, kid, keep, len(local))
                accs: list[_Acc] = []
                for key, (rows, n, e, tin, tout, c, ck, cu) in zip(
                    local, sums, strict=True
                ):
                    acc = out.get(key)
                    if acc is None:
                        acc = out[key] = _Acc()
                    acc.add_sums(rows, int(n), e, tin, tout, c, int(ck), int(cu))
                    accs.append(acc)
                for j, obj_key, obj, rows in _merge_rows(blobs, row_keys):
                    accs[j].add_object(obj_key, obj, rows)
        finally:
            chunks.close()
        return out

    def _where(self, where: Mapping[str, Any] | None) -> dict[str, Any]:
        """``where`` checked against the stored group columns, values as stored."""
        if where is None:
            return {}
        if not isinstance(where, Mapping):
            raise TypeError(
                f"where must be a mapping of group column to value, got {where!r}"
            )
        stored = self.groups()
        for n in where:
            if n not in stored:
                raise ValueError(
                    f"where={{{n!r}: ...}}: the history store holds no {n!r} column "
                    f"(it has {stored})"
                )
        return {k: json_scalar(v) for k, v in where.items()}

    def _by(self, by: str | Sequence[str] | None) -> list[str]:
        if by is None:
            return self.groups()
        names = [by] if isinstance(by, str) else list(by)
        stored = self.groups()
        for n in names:
            if stored and n not in stored:
                raise ValueError(
                    f"by={n!r}: the history store holds no {n!r} column (it has {stored})"
                )
        return names

    def summary(
        self,
        start: Any = None,
        end: Any = None,
        *,
        by: str | Sequence[str] | None = None,
        every: str | None = "1d",
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        sla_target_ms: float = 5000.0,
        confidence: float = 0.95,
        where: Mapping[str, Any] | None = None,
    ) -> Summary:
        """The stored windows starting in ``[start, end)``, rolled up per ``every``
        (None: one row per group over the whole range) and group, by merging.

        Parameters
        ----------
        start, end : time, optional
            UTC unless the time has a zone; default the whole store.
        by : str or list of str, optional
            Group columns (a subset of the stored ones; default all of them).
        every : str or None, default "1d"
            Roll-up window (a multiple of the stored windows, e.g. "1d" or "7d"); windows
            are aligned on the epoch, as :func:`perfstats.summarize` aligns them.
        quantiles, sla_target_ms, confidence
            As in :func:`perfstats.summarize`.
        where : mapping, optional
            Only the groups with these values, e.g. ``{"endpoint": "/chat"}``.

        Returns
        -------
        Summary
            ``table`` with ``count``, ``errors``, ``error_rate`` (and its Wilson
            interval), ``latency_mean`` and ``latency_p50``... (ms, from the merged
            sketches), ``sla_compliance`` and SLA shares when histograms were stored,
            phase p50/p99, token and cost sums; ``sketches`` the merged sketches. A
            metric that some merged windows lack is NaN (unknown), never 0.
        """
        import pandas as pd

        names = self._by(by)
        merged = self.merged(start, end, by=names, every=every, where=where)
        if not merged:
            raise ValueError(
                f"the history store {self.url} holds no windows in [{start}, {end})"
                + (f" for {dict(where)}" if where else "")
            )
        order = sorted(
            merged,
            key=lambda k: (*((v is None, str(v)) for v in k[:-1]), k[-1] or 0),
        )
        qs = tuple(float(q) for q in quantiles)
        records: list[dict[str, Any]] = []
        sketches: dict[tuple[Any, ...], dict[str, QuantileSketch]] = {}
        index: list[tuple[Any, ...]] = []
        step_s = None if every is None else _duration_ns(every, "every") / 1e9
        q_names = [f"latency_{_pct_name(q)}" for q in qs]
        finished = [merged[key].finished() for key in order]
        # the latency quantiles of every row in one call
        lats = [objs.get(("s", "latency_ms")) for objs in finished]
        with_lat = [
            i for i, lat in enumerate(lats) if lat is not None and lat.count > 0
        ]
        q_rows: dict[int, list[float]] = {}
        if with_lat:
            qtab = _core.quantiles_of(
                [lats[i]._core for i in with_lat],  # type: ignore[union-attr]
                np.array(qs, dtype=np.float64),
            )
            table_q = qtab.reshape(len(with_lat), len(qs)).tolist()
            q_rows = dict(zip(with_lat, table_q, strict=True))
        # per set of histogram bounds: column names, position of the SLA target
        layouts: dict[tuple[float, ...], tuple[list[str], str, int | None]] = {}
        for i, key in enumerate(order):
            acc = merged[key]
            objs = finished[i]
            n = acc.count
            rec: dict[str, Any] = {"count": n}
            if step_s is not None:
                rec["throughput_rps"] = n / step_s
            rec["errors"] = acc.errors
            rec["error_rate"] = (
                np.nan if acc.errors is None or n == 0 else acc.errors / n
            )
            if i in q_rows:
                rec["latency_mean"] = lats[i].mean  # type: ignore[union-attr]
                rec.update(zip(q_names, q_rows[i], strict=True))
            hist = objs.get(("h", "latency_ms"))
            if hist is not None and hist.count > 0:
                counts = hist.counts
                bounds = tuple(hist.boundaries.tolist())
                layout = layouts.get(bounds)
                if layout is None:
                    target = float(sla_target_ms)
                    layout = layouts[bounds] = (
                        [_sla_name(b) for b in bounds],
                        f"gt_{_sla_name(bounds[-1])[3:]}",
                        bounds.index(target) if target in bounds else None,
                    )
                bucket_names, over, j_sla = layout
                fr = (counts / float(counts.sum())).tolist()
                if j_sla is not None:
                    rec["sla_compliance"] = float(
                        list(itertools.accumulate(counts.tolist()))[j_sla] / hist.count
                    )
                rec.update(zip(bucket_names, fr, strict=False))
                rec[over] = fr[-1]
            for (kind, metric), obj in objs.items():
                if kind == "s" and metric != "latency_ms" and obj.count > 0:
                    p50, p99 = obj.quantile([0.5, 0.99])
                    rec[f"{metric}_p50"], rec[f"{metric}_p99"] = float(p50), float(p99)
            rec["input_tokens"] = (
                np.nan if acc.input_tokens is None else acc.input_tokens
            )
            rec["output_tokens"] = (
                np.nan if acc.output_tokens is None else acc.output_tokens
            )
            rec["cost_usd"] = np.nan if acc.cost_usd is None else acc.cost_usd
            known = n - acc.cost_unknown
            rec["cost_per_request"] = (
                acc.cost_usd / known
                if acc.cost_usd is not None and known > 0
                else np.nan
            )
            rec["cost_unknown"] = acc.cost_unknown
            records.append(rec)
            group = tuple(key[:-1])
            if every is not None:
                group = (*group, pd.Timestamp(key[-1], tz="UTC"))
            index.append(group)
            sketches[group] = {m: o for (k, m), o in objs.items() if k == "s"}
        out_by = [*names, "window_start"] if every is not None else names
        table = pd.DataFrame(records)
        if out_by:
            table.index = pd.MultiIndex.from_tuples(index, names=out_by)
            if len(out_by) == 1:
                table.index = table.index.get_level_values(0)
        errs = table["errors"].to_numpy(dtype=np.float64, na_value=np.nan)
        lo, hi = np.full(len(table), np.nan), np.full(len(table), np.nan)
        known = ~np.isnan(errs) & (table["count"].to_numpy() > 0)
        if known.any():
            lo[known], hi[known] = wilson_interval(
                errs[known], table["count"].to_numpy()[known], confidence=confidence
            )
        pos = list(table.columns).index("error_rate") + 1
        table.insert(pos, "error_rate_high", hi)
        table.insert(pos, "error_rate_low", lo)
        if table["errors"].isna().any():
            table["errors"] = table["errors"].astype("Float64")
        missing: dict[str, str] = {}
        if "sla_compliance" not in table:
            missing["sla_compliance"] = (
                "no SLA histogram with a bound at sla_target_ms stored "
                "(History.append_events stores one)"
            )
        return Summary(
            table=table,
            by=out_by,
            every=every,
            sla_target_ms=float(sla_target_ms),
            sla_buckets_ms=tuple(DEFAULT_SLA_BUCKETS_MS),
            quantiles=qs,
            sketches=sketches,
            missing=missing,
        )

    # ---- trend ------------------------------------------------------------------------

    def trend(
        self,
        metric: str = "latency_p95",
        *,
        start: Any = None,
        end: Any = None,
        where: Mapping[str, Any] | None = None,
        every: str = "1d",
        degree: int = 1,
        seasonal_period: str | None = None,
        harmonics: int = 1,
        budget: float | None = None,
        horizon: str = "7d",
        confidence: float = 0.95,
        higher_is_worse: bool | None = None,
        alpha: float = 0.05,
        errors: Errors = "auto",
        scale: Scale = "auto",
        regime: bool = True,
    ) -> MetricTrend:
        """:func:`perfstats.trend` of the stored windows starting in ``[start, end)``
        of the groups matching ``where`` (default all of them, merged), rolled up per
        ``every``.

        The stored sketches merge bucket for bucket, so the result is that of
        :func:`perfstats.trend` on the raw events of those windows and groups (the
        same series, fit and forecast). ``sla_compliance`` needs the SLA histograms
        :meth:`append_events` stores, with a bound at 5000 ms.

        Parameters
        ----------
        metric : str, default "latency_p95"
            As in :func:`perfstats.trend` (latency in ms, rates as fractions ...).
        start, end : time, optional
            UTC unless the time has a zone; default the whole store.
        where : mapping, optional
            Only the groups with these values, e.g. ``{"endpoint": "/chat"}``.
        every : str, default "1d"
            Roll-up window, a multiple of the stored windows.
        degree, seasonal_period, harmonics, budget, horizon, confidence, higher_is_worse, \
alpha, errors, scale, regime
            As in :func:`perfstats.trend`.

        Returns
        -------
        MetricTrend

        Examples
        --------
        >>> import numpy as np, pandas as pd, tempfile, os
        >>> from perfstats.history import History
        >>> rng = np.random.default_rng(1)
        >>> ts = pd.date_range("2026-01-01", periods=30 * 96, freq="15min", tz="UTC")
        >>> days = (ts - ts[0]) / pd.Timedelta(days=1)
        >>> events = pd.DataFrame({  # p95 grows 3 % a day
        ...     "timestamp": ts, "endpoint": "/chat",
        ...     "latency_ms": rng.lognormal(np.log(400), 0.3, len(ts)) * 1.03**days,
        ... })
        >>> with tempfile.TemporaryDirectory() as d:
        ...     with History(os.path.join(d, "h.sqlite")) as h:
        ...         _ = h.append_events(events, every="1h")
        ...         tr = h.trend("latency_p95", where={"endpoint": "/chat"})
        >>> tr.direction, len(tr.series)
        ('degrading', 30)
        """
        from perfstats.analysis.metric_trend import trend

        s = self.summary(start, end, by=[], every=every, where=where)
        return trend(
            s,
            metric,
            every=every,
            degree=degree,
            seasonal_period=seasonal_period,
            harmonics=harmonics,
            budget=budget,
            horizon=horizon,
            confidence=confidence,
            higher_is_worse=higher_is_worse,
            alpha=alpha,
            errors=errors,
            scale=scale,
            regime=regime,
        )

    # ---- comparison -------------------------------------------------------------------

    def compare(
        self,
        current: tuple[Any, Any],
        baseline: tuple[Any, Any],
        *,
        by: str | Sequence[str] | None = None,
        alpha: float = 0.05,
        confidence: float = 0.95,
    ) -> pd.DataFrame:
        """Test each group's latency and error rate in ``current`` against ``baseline``
        (each a ``(start, end)`` range of stored windows).

        Latency: Welch's t-test on the stored Moments of log latency (its ``ratio`` is
        the ratio of geometric means, as :func:`perfstats.compare` reports latency);
        error rate: Welch's test on the 0/1 outcomes from the error counts (the
        unpooled two-proportion z-test for large samples). p-values are Holm-corrected
        over every row, so ``significant`` has family-wise error at most ``alpha``
        when requests are independent (day-to-day drift beyond that makes any
        week-over-week test flag more often; see the calibration suite).

        Returns
        -------
        pandas.DataFrame
            One row per (group, metric): ``baseline``, ``current`` (geometric mean
            latency in ms, or error rate), ``ratio`` (current / baseline) with
            ``ratio_low``/``ratio_high`` (latency), ``difference`` with its interval
            (error rate), ``pvalue``, ``pvalue_holm``, ``significant``, ``n_current``,
            ``n_baseline``.
        """
        import pandas as pd

        names = self._by(by)
        a = self.merged(*current, by=names, every=None)
        b = self.merged(*baseline, by=names, every=None)
        rows: list[dict[str, Any]] = []
        for key in sorted(set(a) & set(b), key=lambda k: tuple(str(v) for v in k)):
            ca, cb = a[key].finished(), b[key].finished()
            group = dict(zip(names, key[:-1], strict=True))
            ma, mb = ca.get(("m", "log_latency_ms")), cb.get(("m", "log_latency_ms"))
            if ma is not None and mb is not None and ma.count > 1 and mb.count > 1:
                r = welch_t_test(ma, mb, confidence=confidence)
                rows.append(
                    {
                        **group,
                        "metric": "latency",
                        "baseline": math.exp(mb.mean),
                        "current": math.exp(ma.mean),
                        "ratio": math.exp(r.mean_difference),
                        "ratio_low": math.exp(r.ci[0]),
                        "ratio_high": math.exp(r.ci[1]),
                        "difference": np.nan,
                        "difference_low": np.nan,
                        "difference_high": np.nan,
                        "pvalue": r.pvalue,
                        "n_current": ma.count,
                        "n_baseline": mb.count,
                    }
                )
            ea, eb = a[key].errors, b[key].errors
            na, nb = a[key].count, b[key].count
            if ea is not None and eb is not None and na > 1 and nb > 1:
                oa = Moments([0.0, 1.0], weights=[na - ea, ea])
                ob = Moments([0.0, 1.0], weights=[nb - eb, eb])
                if oa.variance() + ob.variance() > 0:
                    r = welch_t_test(oa, ob, confidence=confidence)
                    pv, lo, hi = r.pvalue, r.ci[0], r.ci[1]
                else:  # no error on either side, or all errors: nothing differs
                    pv, lo, hi = 1.0, 0.0, 0.0
                rows.append(
                    {
                        **group,
                        "metric": "error_rate",
                        "baseline": eb / nb,
                        "current": ea / na,
                        "ratio": (ea / na) / (eb / nb) if eb else np.nan,
                        "ratio_low": np.nan,
                        "ratio_high": np.nan,
                        "difference": ea / na - eb / nb,
                        "difference_low": lo,
                        "difference_high": hi,
                        "pvalue": pv,
                        "n_current": float(na),
                        "n_baseline": float(nb),
                    }
                )
        table = pd.DataFrame(rows)
        if table.empty:
            raise ValueError(
                "no group has stored windows in both ranges (current "
                f"{current}, baseline {baseline})"
            )
        table["pvalue_holm"] = holm(table["pvalue"].to_numpy(dtype=float))
        table["significant"] = table["pvalue_holm"] < alpha
        return table

    def week_over_week(
        self,
        end: Any = None,
        *,
        by: str | Sequence[str] | None = None,
        alpha: float = 0.05,
    ) -> pd.DataFrame:
        """:meth:`compare` of the 7 days before ``end`` (default: the end of the
        store's last window, rounded up to a day) with the 7 days before them."""
        return self._period_over_period(end, 7, by, alpha)

    def month_over_month(
        self,
        end: Any = None,
        *,
        by: str | Sequence[str] | None = None,
        alpha: float = 0.05,
    ) -> pd.DataFrame:
        """:meth:`compare` of the 28 days (four whole weeks, so weekdays match) before
        ``end`` with the 28 days before them."""
        return self._period_over_period(end, 28, by, alpha)

    def _period_over_period(
        self, end: Any, days: int, by: str | Sequence[str] | None, alpha: float
    ) -> pd.DataFrame:
        import pandas as pd

        if end is None:
            rng = self.time_range()
            if rng is None:
                raise ValueError(f"the history store {self.url} is empty")
            e = -(-int(rng[1].value) // _NS_PER_DAY) * _NS_PER_DAY
        else:
            e = _time_ns(end, "end")
        span = days * _NS_PER_DAY
        t = [pd.Timestamp(e - k * span, tz="UTC") for k in (0, 1, 2)]
        return self.compare((t[1], t[0]), (t[2], t[1]), by=by, alpha=alpha)

    # ---- retention --------------------------------------------------------------------

    def retain(self, keep: str = "90d", *, every: str = "1d", now: Any = None) -> int:
        """Downsample windows older than ``keep`` to ``every`` windows (hourly to daily):
        the windows of each older bucket and group, of every batch, are merged into one
        (bucket for bucket the same sketches, so later roll-ups do not change).

        Only whole buckets that end at least ``keep`` before ``now`` (default: the
        current time) are downsampled. The batches merged can no longer be replaced.
        Returns the number of rows merged away.
        """
        keep_ns = _duration_ns(keep, "keep")
        step = _duration_ns(every, "every")
        now_ns = (
            _time_ns(dt.datetime.now(dt.timezone.utc), "now")
            if now is None
            else _time_ns(now, "now")
        )
        cutoff = (now_ns - keep_ns) // step * step
        removed = 0
        with self._db.write():
            # the columns of _chunks (sums at 3-8, blob at 9), then the batch
            rows = self._db.execute(
                "SELECT window_start, window_ns, grp, count, errors, input_tokens, "
                "output_tokens, cost_usd, cost_unknown, data, batch FROM windows "
                "WHERE window_start < ? AND window_ns <= ? "
                "ORDER BY window_start, window_ns, grp, batch",
                (cutoff, step),
            )
            buckets: dict[tuple[int, str], list[int]] = {}
            for i, r in enumerate(rows):
                ws, wn = int(r[0]), int(r[1])
                if step % wn or ws % wn or (ws + wn) > (ws // step * step + step):
                    continue  # not on the grid (an imported run): left as it is
                buckets.setdefault((ws // step * step, r[2]), []).append(i)
            gone: list[tuple[Any, ...]] = []
            batches: set[str] = set()
            merged: list[tuple[int, str]] = []
            row_keys = np.full(len(rows), -1, dtype=np.int64)
            for (bucket, grp), part in buckets.items():
                if len(part) == 1 and rows[part[0]][1] == step:
                    continue  # already one window of the target size
                row_keys[part] = len(merged)
                merged.append((bucket, grp))
                for i in part:
                    r = rows[i]
                    batches.add(r[10])
                    gone.append((r[0], r[1], r[2], r[10]))
                removed += len(part) - 1
            accs = [_Acc() for _ in merged]
            for lo in range(0, len(rows), _CHUNK):  # bounds the blobs copied at once
                part_keys = row_keys[lo : lo + _CHUNK]
                sel = part_keys >= 0
                if not sel.any():
                    continue
                cols = list(zip(*rows[lo : lo + _CHUNK], strict=True))
                uniq, local = np.unique(part_keys[sel], return_inverse=True)
                sums = _chunk_sums(cols, local, sel, len(uniq))
                for j, (n_rows, n, e, tin, tout, c, ck, cu) in zip(
                    uniq.tolist(), sums, strict=True
                ):
                    accs[j].add_sums(n_rows, int(n), e, tin, tout, c, int(ck), int(cu))
                for j, obj_key, obj, n_rows in _merge_rows(cols[9], part_keys):
                    accs[j].add_object(obj_key, obj, n_rows)
            out = [
                (bucket, step, grp, _DOWNSAMPLED, *acc.values())
                for (bucket, grp), acc in zip(merged, accs, strict=True)
            ]
            self._db.delete_windows(gone)
            self._db.executemany(
                "INSERT INTO windows (window_start, window_ns, grp, batch, count, errors, "
                "input_tokens, output_tokens, cost_usd, cost_unknown, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                out,
            )
            for b in sorted(batches - {_DOWNSAMPLED}):
                self._db.execute(
                    "UPDATE batches SET compacted = 1 WHERE batch = ?", (b,)
                )
            if out:
                self._db.execute(
                    "INSERT INTO batches (batch, appended_at, source, compacted) "
                    "VALUES (?, ?, ?, 1) ON CONFLICT (batch) DO UPDATE SET "
                    "appended_at = excluded.appended_at",
                    (
                        _DOWNSAMPLED,
                        dt.datetime.now(dt.timezone.utc).isoformat(),
                        "retain()",
                    ),
                )
        self._db.compact()
        return removed

    # ---- import -----------------------------------------------------------------------

    def import_runs(self, directory: str | os.PathLike[str]) -> int:
        """Store every ``run-*.json`` of a ``--history`` directory (one batch per run,
        named ``run:<file name>``, so importing twice changes nothing). A run is one
        window from its ``data_start`` to its ``data_end`` (or at ``generated_at``
        when they are unknown); its groups' counts, errors, tokens, cost and sketches
        are stored. Returns the number of runs imported."""
        from pathlib import Path

        from perfstats.history.runs import load_runs, run_sketches

        runs = load_runs(directory)
        for run in runs:
            self._import_run(run, run_sketches(run), Path(run["path"]).name)
        return len(runs)

    def _import_run(
        self,
        run: Mapping[str, Any],
        sketches: Mapping[str, Mapping[str, QuantileSketch]],
        name: str,
    ) -> None:
        from perfstats._display import group_label

        start = _time_ns(run.get("data_start") or run["generated_at"], "data_start")
        end = _time_ns(run.get("data_end") or run["generated_at"], "data_end")
        span = max(end - start, 1)
        by = list(run["by"])
        rows = []
        for g in run["groups"]:
            key = tuple(g.get(b) for b in by)
            objects = {
                ("s", m): s for m, s in sketches.get(group_label(key), {}).items()
            }
            count = int(g["count"])
            cost = g.get("cost_usd")
            rows.append(
                (
                    start,
                    span,
                    _group_text(by, key),
                    "run:" + name,
                    count,
                    None if g.get("errors") is None else int(g["errors"]),
                    _num(g.get("input_tokens")),
                    _num(g.get("output_tokens")),
                    _num(cost),
                    count if "cost_usd" not in g else int(g.get("cost_unknown") or 0),
                    _pack(objects),
                )
            )
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        with self._db.write():
            self._db.execute("DELETE FROM windows WHERE batch = ?", ("run:" + name,))
            self._db.executemany(
                "INSERT INTO windows (window_start, window_ns, grp, batch, count, errors, "
                "input_tokens, output_tokens, cost_usd, cost_unknown, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute(
                "INSERT INTO batches (batch, appended_at, source, compacted) "
                "VALUES (?, ?, ?, 0) ON CONFLICT (batch) DO NOTHING",
                ("run:" + name, now, str(run.get("source", ""))),
            )

    # ---- views for the report ---------------------------------------------------------

    def daily_runs(
        self, *, by: Sequence[str], days: int = 14, before: Any = None
    ) -> list[dict[str, Any]]:
        """The last ``days`` days with data (before ``before``), each as a run record
        (``generated_at``, ``by``, ``groups``) for the report's across-runs section."""
        import pandas as pd

        hi = None if before is None else _time_ns(before, "before")
        names = self._by(list(by))
        try:
            s = self.summary(None, hi, by=names, every="1d")
        except ValueError:
            return []
        t = s.table.reset_index()
        runs = []
        for day, part in t.groupby("window_start", sort=True):
            groups = [
                {k: json_scalar(v) for k, v in rec.items() if k != "window_start"}
                for rec in part.to_dict(orient="records")
            ]
            runs.append(
                {
                    "generated_at": pd.Timestamp(str(day)).isoformat(),
                    "by": names,
                    "groups": groups,
                }
            )
        return runs[-days:]


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _pct_name(q: float) -> str:
    """The column name of quantile ``q``, as :func:`perfstats.summarize` names it."""
    text = format((decimal.Decimal(repr(float(q))) * 100).normalize(), "f")
    return f"p{text}"


def _sla_name(bound: float) -> str:
    """The column name of an SLA bucket bound, as :func:`perfstats.summarize` names it."""
    return f"le_{bound / 1000:g}s" if bound >= 1000 else f"le_{bound:g}ms"
