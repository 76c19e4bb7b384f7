"""Record request telemetry inside an application, cheaply and without blocking it.

A :class:`Recorder` times spans (``with rec.span("chat") as s:``), puts each
finished span in a bounded in-memory buffer and returns at once; a background
thread writes the buffer in batches to a sink in the canonical event schema of
:mod:`perfstats.io`.

Sinks
-----
* ``"events.jsonl"``: JSON lines, appended one batch per ``write()`` of complete
  lines, so ``read_events`` reads the file while it grows. A torn last line (a
  process killed inside a write) is cut off when a recorder next opens the file.
* ``"events.parquet"``: a *directory* of Parquet files, one complete file per
  batch (``part-<pid>-<start>-<n>.parquet``), each written under a hidden name and
  renamed into place, so a reader (or a process killed at any instant) only ever
  sees complete files. Read it with :func:`read_recorded` (or pyarrow, DuckDB,
  polars, Spark, which all read such a directory). A single Parquet file cannot be
  appended without rewriting its footer, which a kill can tear.
* a callable: called with each batch as a list of dicts, one per event, the
  ``timestamp`` in integer nanoseconds since the Unix epoch (UTC).
* a history store: a :class:`perfstats.history.History`, a store URL
  (``"postgresql://..."``, ``"sqlite:///path"``, a ``.sqlite``/``.db`` path) or a
  :class:`~perfstats.record.HistorySink` (to choose ``by`` and ``every``). Each batch
  is one store batch with an id of its own; a batch whose write failed is kept and
  written again under the same id when the writer next wakes (the store replaces a
  batch id it holds, so a retry never counts twice), up to ``buffer_size`` events
  held; the events of batches given up are counted in ``failed``.
* any other object with an ``append(events)`` method and not itself callable:
  called from the writer thread with each batch as canonical
  :class:`perfstats.io.Events`.

Columns written: ``timestamp`` (start, UTC), ``operation`` (the span name),
``latency_ms``, one ``<phase>_ms`` per phase, ``success`` and ``error`` (the
exception type), ``span_id`` and ``parent_id`` (``"<pid>.<n>"``), the span's
attributes (``endpoint``, ``model``, ``variant`` ...) and whatever ``s.set()`` adds.
A span reads only the monotonic clock; its ``timestamp`` is its start on that clock
plus the offset to the wall clock the writer measured at its last wake (at most
``flush_interval`` earlier), so a step of the wall clock shows from the next wake.

Exit and fork: buffered spans are written at interpreter exit (``atexit``) and
when a ``multiprocessing`` child ends; a forked child starts with an empty buffer
and its own writer thread (its parent writes what was buffered before the fork).
A process ended by ``os._exit`` or a signal loses at most its unwritten buffer.

Never blocking: when the buffer is full a finished span is dropped and counted;
the counts (recorded, written, dropped, sampled out, sink errors) are in
:meth:`Recorder.counters` and, for file sinks, in ``<sink>.counters.json`` next to
the data, rewritten atomically after every batch.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import itertools
import json
import logging
import math
import multiprocessing.util
import os
import random
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

import numpy as np

from perfstats._result import Result
from perfstats.stats.quantile_sketch import QuantileSketch

if TYPE_CHECKING:
    from perfstats.io import Events

__all__ = ["EndpointStats", "Recorder", "Span", "read_recorded"]

_log = logging.getLogger("perfstats.record")

F = TypeVar("F", bound=Callable[..., Any])

# The span running in the current thread or task: parent of the next span. asyncio
# tasks copy the context, so concurrent tasks each see their own parent.
_current: ContextVar[Span | None] = ContextVar("perfstats_record_span", default=None)


@runtime_checkable
class HistoryLike(Protocol):
    """A store that takes batches of canonical events (the history store)."""

    def append(self, events: Events) -> Any:  # pragma: no cover - protocol
        """Store one batch of events."""


class _Sink(Protocol):
    def write(self, records: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...

    def reopen(self) -> None: ...

    def counters_path(self) -> Path | None: ...


# ---------------------------------------------------------------------------------
# Spans
# ---------------------------------------------------------------------------------


# name, attributes, clock offset (epoch ns - perf_counter ns), t0, t1
# (perf_counter ns; the start is t0 + offset), phases, fields, error, span id,
# parent id
_Event = tuple[
    str,
    dict[str, Any],
    int,
    int,
    int,
    "tuple[str | int, ...] | None",
    "dict[str, Any] | None",
    "str | None",
    int,
    int,
]

_FIELDS = 10  # items of one event in the buffer
_new = object.__new__
_perf_ns = time.perf_counter_ns


class Span:
    """One timed block; returned by :meth:`Recorder.span`.

    Use it as a context manager. Inside it :meth:`phase` marks where a phase
    begins (the previous phase ends there, the last one ends with the span) and
    :meth:`set` adds columns. An exception leaving the block sets
    ``success=False`` and ``error`` to the exception type, then propagates.
    """

    # The hot path (Recorder.span, __enter__, __exit__) reads one clock per end,
    # makes no dict copy and calls no other Python function: a span is built by
    # Recorder.span without __init__, and the event is made from it in the
    # writer thread (epoch timestamps, phases, ids as text).
    __slots__ = (
        "_rec",
        "_token",
        "attrs",
        "error",
        "fields",
        "name",
        "parent",
        "phases",
        "span_id",
        "t0",
        "t1",
    )

    def __init__(self, rec: Recorder, name: str, attrs: dict[str, Any]) -> None:
        self._rec = rec
        self.name = name
        self.attrs = attrs
        self.fields: dict[str, Any] | None = None
        # name, perf_counter ns, name, ns ... (a tuple of atoms: untracked by the GC)
        self.phases: tuple[str | int, ...] | None = None
        self.error: str | None = None
        self.span_id = 0
        self.parent = 0
        self.t0 = self.t1 = 0

    def __enter__(self) -> Span:
        parent = _current.get()
        self.parent = 0 if parent is None else parent.span_id
        self.span_id = next(self._rec._ids)
        self._token = _current.set(self)
        self.t0 = _perf_ns()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        t1 = _perf_ns()
        _current.reset(self._token)
        rec = self._rec
        buf = rec._buf
        if len(buf) >= rec._limit:
            with rec._lock:
                rec._dropped += 1
            return
        # The event's fields go flat into the buffer (one atomic extend), not as a
        # tuple: a tuple holding a dict stays tracked by the garbage collector, and
        # a buffer of tracked tuples made every collection walk all of them (a
        # third of the cost of a span). The items here are not tracked.
        buf.extend(
            (
                self.name,
                self.attrs,
                rec._clock_offset,
                self.t0,
                t1,
                self.phases,
                self.fields,
                None if exc_type is None else exc_type.__name__,
                self.span_id,
                self.parent,
            )
        )
        if len(buf) >= rec._wake_at and not rec._wake.is_set():
            rec._wake.set()

    def _event(self) -> _Event:
        """The event of a span whose ``t0``/``t1`` are epoch nanoseconds."""
        return (
            self.name,
            self.attrs,
            0,
            self.t0,
            self.t1,
            self.phases,
            self.fields,
            self.error,
            self.span_id,
            self.parent,
        )

    def phase(self, name: str) -> None:
        """Start phase ``name`` now (written as ``<name>_ms``); repeats add up."""
        t = _perf_ns()
        if self.phases is None:
            self.phases = (name, t)
        else:
            self.phases += (name, t)

    def first_token(self) -> None:
        """Mark the first output token: ``ttft_ms`` is the time since the start."""
        self.set(ttft_ms=(_perf_ns() - self.t0) / 1e6)

    def set(self, **fields: Any) -> None:
        """Add or overwrite columns of this event (``input_tokens=``, ``success=``)."""
        if self.fields is None:
            self.fields = fields
        else:
            self.fields.update(fields)


class _NoSpan:
    """A sampled-out span: times nothing, keeps its children sampled out too."""

    __slots__ = ("_token",)
    span_id = -1

    def __enter__(self) -> _NoSpan:
        self._token = _current.set(cast(Span, self))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _current.reset(self._token)

    def phase(self, name: str) -> None:
        """Do nothing (the span is sampled out)."""

    def first_token(self) -> None:
        """Do nothing (the span is sampled out)."""

    def set(self, **fields: Any) -> None:
        """Do nothing (the span is sampled out)."""


# ---------------------------------------------------------------------------------
# Sinks
# ---------------------------------------------------------------------------------


def _iso(ns: int, cache: dict[int, str] | None = None) -> str:
    sec, frac = divmod(ns, 1_000_000_000)
    head = None if cache is None else cache.get(sec)
    if head is None:
        head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        if cache is not None:
            cache[sec] = head
    return f"{head}.{frac:09d}Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v
        for k, v in record.items()
    }


class _JsonlSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._encode = json.JSONEncoder(default=_json_default, allow_nan=False).encode
        self.reopen()

    def reopen(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._cut_torn_line()

    def _cut_torn_line(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with self.path.open("rb") as fh:
            fh.seek(max(0, size - 1))
            if fh.read(1) == b"\n":
                return
            # the tail after the last newline is a record a killed writer tore
            step, end = 1 << 16, size
            while end > 0:
                start = max(0, end - step)
                fh.seek(start)
                chunk = fh.read(end - start)
                i = chunk.rfind(b"\n")
                if i >= 0:
                    os.truncate(self.path, start + i + 1)
                    return
                end = start
            os.truncate(self.path, 0)

    def write(self, records: list[dict[str, Any]]) -> None:
        seconds: dict[int, str] = {}  # a batch spans few distinct seconds
        for r in records:
            r["timestamp"] = _iso(r["timestamp"], seconds)
        encode = self._encode
        try:
            text = "".join([encode(r) + "\n" for r in records])
        except ValueError:  # NaN or inf in a field: JSON has no such numbers
            text = "".join([encode(_finite(r)) + "\n" for r in records])
        data = memoryview(text.encode("utf-8"))
        while data:  # a regular file takes it in one write; loop for safety
            n = os.write(self._fd, data)
            data = data[n:]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def counters_path(self) -> Path | None:
        return self.path.with_name(self.path.name + ".counters.json")


class _ParquetDirSink:
    def __init__(self, path: Path) -> None:
        if path.exists() and not path.is_dir():
            raise ValueError(
                f"{path} is a file; a Parquet sink is a directory of part files "
                "(pass a new path, or a .jsonl path to append to one file)"
            )
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa, self._pq = pa, pq
        # pyarrow registers an atexit hook on its first write; do that now, since
        # the last batch may be written from our own atexit hook, when it cannot
        pq.write_table(pa.table({"x": [1]}), pa.BufferOutputStream())
        self.path = path
        self.reopen()

    def reopen(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._prefix = f"part-{os.getpid()}-{time.time_ns()}"
        self._n = 0

    def write(self, records: list[dict[str, Any]]) -> None:
        pa = self._pa
        columns: dict[str, list[Any]] = {}
        for i, r in enumerate(records):
            for k, v in r.items():
                col = columns.get(k)
                if col is None:
                    col = columns[k] = [None] * len(records)
                col[i] = v
        ts = pa.array(columns.pop("timestamp"), type=pa.int64()).cast(
            pa.timestamp("ns", tz="UTC")
        )
        arrays = {"timestamp": ts}
        for k, values in columns.items():
            if k.endswith("_ms") or k == "latency_ms":
                arrays[k] = pa.array(
                    [math.nan if v is None else float(v) for v in values],
                    type=pa.float64(),
                )
            else:
                try:
                    arrays[k] = pa.array(values)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    arrays[k] = pa.array(
                        [None if v is None else str(v) for v in values],
                        type=pa.string(),
                    )
        table = pa.table(arrays)
        self._n += 1
        name = f"{self._prefix}-{self._n:06d}.parquet"
        tmp = self.path / f".{name}.tmp"  # hidden: readers skip dot files
        self._pq.write_table(table, tmp)
        os.replace(tmp, self.path / name)

    def close(self) -> None:
        pass

    def counters_path(self) -> Path | None:
        return self.path / "_counters.json"


class _CallableSink:
    def __init__(self, fn: Callable[[list[dict[str, Any]]], Any]) -> None:
        self.fn = fn

    def write(self, records: list[dict[str, Any]]) -> None:
        self.fn(records)

    def close(self) -> None:
        pass

    def reopen(self) -> None:
        pass

    def counters_path(self) -> Path | None:
        return None


class _HistorySink(_CallableSink):
    def __init__(self, store: HistoryLike) -> None:
        def append(records: list[dict[str, Any]]) -> None:
            import pandas as pd

            from perfstats.io import read_events

            frame = pd.DataFrame.from_records(records)
            frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ns", utc=True)
            store.append(read_events(frame))

        super().__init__(append)


class _KeyedSink(Protocol):
    """A sink that stores a batch under a key, replacing a batch of the same key:
    a failed batch can be written again without counting twice."""

    idempotent: bool

    def write(self, records: list[dict[str, Any]], key: str) -> None: ...

    def close(self) -> None: ...

    def reopen(self) -> None: ...

    def counters_path(self) -> Path | None: ...


def _make_sink(sink: Any) -> _Sink | _KeyedSink:
    from perfstats.history import History, is_store_url
    from perfstats.record.history_sink import HistorySink

    if isinstance(sink, HistorySink):
        return sink
    if isinstance(sink, (str, os.PathLike)):
        path = Path(sink)
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            return _JsonlSink(path)
        if suffix in (".parquet", ".pq"):
            return _ParquetDirSink(path)
        if is_store_url(sink):
            return HistorySink(sink)
        raise ValueError(
            f"sink {str(sink)!r}: the name must end in .jsonl, .parquet (a "
            "directory of part files) or .sqlite, or be a sqlite:// or "
            "postgresql:// URL (a history store)"
        )
    if isinstance(sink, History):
        return HistorySink(sink)
    if isinstance(sink, HistoryLike) and not callable(sink):
        return _HistorySink(sink)
    if callable(sink):
        return _CallableSink(sink)
    raise TypeError(
        "sink must be a .jsonl or .parquet path, a history store (History, "
        "HistorySink or store URL), a callable taking a list of dicts, or an "
        f"object with append(events); got {type(sink).__name__}"
    )


# ---------------------------------------------------------------------------------
# Live statistics
# ---------------------------------------------------------------------------------


@dataclass(repr=False)
class EndpointStats(Result):
    """Live statistics of one endpoint, from the events written so far.

    Attributes
    ----------
    count : int
        Events recorded (sampled in and not dropped).
    errors : int
        Events with ``success`` false.
    latency : QuantileSketch
        Latency in ms (``latency.quantile(0.99)``).
    """

    count: int = 0
    errors: int = 0
    latency: QuantileSketch = field(default_factory=QuantileSketch)

    _one_line = True

    @property
    def error_rate(self) -> float:
        """Fraction of events that failed (NaN when there are none)."""
        return self.errors / self.count if self.count else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Counts, error rate and latency p50/p90/p99 (ms) as plain values."""
        qs = {
            f"p{int(q * 100)}_ms": (
                self.latency.quantile(q) if self.count else math.nan
            )
            for q in (0.5, 0.9, 0.99)
        }
        return {
            "count": self.count,
            "errors": self.errors,
            "error_rate": self.error_rate,
            **qs,
        }


# ---------------------------------------------------------------------------------
# The recorder
# ---------------------------------------------------------------------------------

_LIVE: weakref.WeakSet[Recorder] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for rec in list(_LIVE):
        rec.close()


def _close_at_child_exit(rec: Recorder) -> None:
    multiprocessing.util.Finalize(rec, rec.close, exitpriority=100)


def _after_fork_in_child() -> None:
    for rec in list(_LIVE):
        rec._restart_in_child()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Recorder:
    """Time spans in an application and write them as canonical events.

    Parameters
    ----------
    sink : str, Path, History, HistorySink or callable
        Where batches go: a ``.jsonl`` file, a ``.parquet`` directory of part
        files, a history store (a :class:`~perfstats.history.History`, its URL
        or a :class:`~perfstats.record.HistorySink`), a callable taking a list
        of event dicts, or an object with an ``append(events)`` method (see the
        module docstring).
    sample_rate : float
        Fraction of top-level spans recorded, in (0, 1]. Each span is kept with
        this probability (independently, from ``seed``); its child spans follow
        its decision, so a trace is recorded whole or not at all. Sampled-out
        spans cost almost nothing and are counted in ``counters()["sampled_out"]``.
    buffer_size : int
        Finished spans held in memory before new ones are dropped (and counted).
        Under concurrent threads the buffer may exceed it by at most one span per
        thread.
    batch_size : int
        The writer wakes when this many spans wait ...
    flush_interval : float, optional
        ... or after this many seconds. Default 1 s; 60 s for a history store,
        where every batch adds rows (one per window and group it touches).
    attributes : mapping, optional
        Columns added to every event (``service``, ``region`` ...).
    seed : int, optional
        Seed of the sampling coin.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> rec = Recorder(path)
    >>> with rec.span("chat", endpoint="/api/chat", model="m1") as s:
    ...     s.phase("queue")
    ...     s.phase("processing")
    ...     s.set(input_tokens=120, output_tokens=40)
    >>> rec.close()
    >>> from perfstats import read_events
    >>> ev = read_events(path)
    >>> ev.frame[["endpoint", "input_tokens", "success"]].values.tolist()
    [['/api/chat', 120.0, True]]
    >>> sorted(c for c in ev.frame.columns if c.endswith("_ms"))
    ['latency_ms', 'processing_ms', 'queue_ms']
    """

    def __init__(
        self,
        sink: Any,
        *,
        sample_rate: float = 1.0,
        buffer_size: int = 100_000,
        batch_size: int = 10_000,
        flush_interval: float | None = None,
        attributes: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        if not (isinstance(sample_rate, (int, float)) and 0.0 < sample_rate <= 1.0):
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
        for name, value in (("buffer_size", buffer_size), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if flush_interval is not None and not (
            isinstance(flush_interval, (int, float)) and flush_interval > 0
        ):
            raise ValueError(
                f"flush_interval must be > 0 seconds, got {flush_interval!r}"
            )
        self._sink = _make_sink(sink)
        if flush_interval is None:
            flush_interval = 60.0 if getattr(self._sink, "idempotent", False) else 1.0
        self.sample_rate = float(sample_rate)
        self.buffer_size = buffer_size
        self.batch_size = min(batch_size, buffer_size)
        self.flush_interval = float(flush_interval)
        self.attributes = dict(attributes or {})
        self._random = random.Random(seed).random
        self._closed = False
        self._start_fresh()
        _LIVE.add(self)
        # A multiprocessing child leaves by os._exit, skipping atexit, but runs its
        # Finalize callbacks first; they must be registered after its fork.
        multiprocessing.util.register_after_fork(self, _close_at_child_exit)

    # -- state that a forked child must not share -------------------------------

    def _start_fresh(self) -> None:

        self._pid = os.getpid()
        self._ids = itertools.count(1)
        # events flat, _FIELDS items each (see Span.__exit__)
        self._buf: list[Any] = []
        self._limit = self.buffer_size * _FIELDS
        self._wake_at = self.batch_size * _FIELDS
        self._lock = threading.Lock()  # counters
        self._write_lock = threading.Lock()  # one batch at a time
        self._wake = threading.Event()
        self._stop = False
        self._dropped = 0
        self._sampled_out = 0
        self._written = 0
        self._sink_errors = 0
        self._failed = 0
        self._last_error: str | None = None
        # batches of a keyed sink whose write failed, oldest first, written again
        # under the same key before newer ones
        self._held: deque[tuple[str, list[dict[str, Any]]]] = deque()
        self._held_events = 0
        self._run_id = uuid.uuid4().hex[:16]
        self._batch_no = itertools.count(1)
        self._set_clock()
        self._stats: dict[str, EndpointStats] = {}
        self._stats_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name="perfstats-recorder", daemon=True
        )
        self._thread.start()

    def _restart_in_child(self) -> None:
        if self._closed:
            return
        # The parent writes what its buffer held; the child starts empty, with its
        # own writer thread and its own file handle or part-file names.
        self._sink.reopen()
        self._start_fresh()

    # -- hot path -------------------------------------------------------------

    def span(self, name: str, **attributes: Any) -> Span:
        """A span named ``name`` (written as ``operation``) with these columns.

        Its parent is the span open in the same thread or asyncio task. A new
        thread starts without one; run its target in
        ``contextvars.copy_context().run`` to nest its spans under the caller's.

        Examples
        --------
        >>> rec = Recorder(lambda batch: None)
        >>> with rec.span("chat", endpoint="/api/chat") as outer:
        ...     with rec.span("retrieve") as inner:
        ...         pass
        >>> inner.parent == outer.span_id
        True
        >>> rec.close()
        """
        if self.sample_rate < 1.0:
            parent = _current.get()
            if (parent is None and self._random() >= self.sample_rate) or (
                parent is not None and parent.span_id == -1
            ):
                with self._lock:
                    self._sampled_out += 1
                return cast(Span, _NoSpan())
        s = _new(Span)  # Span.__init__ without its call: the hot path
        s._rec = self
        s.name = name
        s.attrs = attributes
        s.phases = s.fields = None
        return s

    def _put(self, event: _Event) -> None:
        buf = self._buf
        if len(buf) >= self._limit:
            with self._lock:
                self._dropped += 1
            return
        buf.extend(event)
        if len(buf) >= self._wake_at and not self._wake.is_set():
            self._wake.set()

    def timed(self, name: str | None = None, **attributes: Any) -> Callable[[F], F]:
        """Decorator: time every call of a sync or async function as a span.

        Examples
        --------
        >>> rec = Recorder(lambda batch: None)
        >>> @rec.timed("embed", endpoint="/api/embed")
        ... def embed(text):
        ...     return len(text)
        >>> embed("hello")
        5
        >>> rec.close()
        """

        def decorate(fn: F) -> F:
            label = name or str(getattr(fn, "__qualname__", "call"))
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def awrapper(*args: Any, **kwargs: Any) -> Any:
                    with self.span(label, **attributes):
                        return await cast(Callable[..., Awaitable[Any]], fn)(
                            *args, **kwargs
                        )

                return cast(F, awrapper)

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.span(label, **attributes):
                    return fn(*args, **kwargs)

            return cast(F, wrapper)

        return decorate

    # -- writer -----------------------------------------------------------------

    def _set_clock(self) -> None:
        # spans read only the monotonic clock; their start in epoch time is
        # t0 + this offset, taken again at each wake so a clock step is followed
        self._clock_offset = time.time_ns() - time.perf_counter_ns()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._set_clock()
            self._drain()
            if self._stop:
                return

    def _drain(self) -> None:
        with self._write_lock:
            if self._held and not self._write_held():
                return  # the sink still fails: new spans wait in the buffer
            buf = self._buf
            while buf:
                # whole events only: an extend is atomic, so the length is a
                # multiple of _FIELDS whenever the writer looks
                n = min(len(buf), self._wake_at) // _FIELDS * _FIELDS
                flat = buf[:n]
                # only this thread removes, and only from the front: spans that
                # finish meanwhile extend the end (each step holds the GIL)
                del buf[:n]
                self._write(flat)
                if self._held:  # the sink failed: the rest waits for the next wake
                    return

    def _records(
        self, flat: list[Any]
    ) -> tuple[list[dict[str, Any]], dict[str, tuple[list[float], list[bool]]]]:
        """The events as dicts, and per endpoint their latencies and successes."""
        pid = self._pid
        base = self.attributes
        out = []
        groups: dict[str, tuple[list[float], list[bool]]] = {}
        events = zip(*(flat[i::_FIELDS] for i in range(_FIELDS)), strict=True)
        for name, attrs, offset, t0, t1, phases, fields, error, sid, parent in events:
            latency = (t1 - t0) / 1e6
            r: dict[str, Any] = {
                "timestamp": t0 + offset,
                "operation": name,
                **base,
                **attrs,
                "latency_ms": latency,
            }
            if phases:
                names = cast("tuple[str, ...]", phases[::2])
                ends = [*cast("tuple[int, ...]", phases[1::2]), t1]
                for ph, t, t_next in zip(names, ends, ends[1:], strict=False):
                    key = ph + "_ms"
                    r[key] = r.get(key, 0.0) + (t_next - t) / 1e6
            if fields:
                r.update(fields)
            if error is not None:
                r["success"] = False
                r["error"] = error
            else:
                r.setdefault("success", True)
            r["span_id"] = f"{pid}.{sid}"
            r["parent_id"] = f"{pid}.{parent}" if parent else None
            out.append(r)
            ep = r.get("endpoint")
            group = name if ep is None or ep == "" else ep  # 0 is an endpoint
            if type(group) is not str:
                group = str(group)
            g = groups.get(group)
            if g is None:
                g = groups[group] = ([], [])
            g[0].append(latency)
            g[1].append(bool(r["success"]))
        return out, groups

    def _write(self, flat: list[Any]) -> None:
        """Write the events of ``flat`` (``_FIELDS`` items each) as one batch."""
        records, groups = self._records(flat)
        self._update_stats(groups)
        sink = self._sink
        if getattr(sink, "idempotent", False):
            key = f"recorder-{self._run_id}-{next(self._batch_no)}"
            with self._lock:
                self._held.append((key, records))
                self._held_events += len(records)
            self._write_held()
            self._write_counters()
            return
        try:
            cast(_Sink, sink).write(records)
        except Exception as exc:
            self._sink_failed(exc, len(records))
        else:
            with self._lock:
                self._written += len(records)
        self._write_counters()

    def _sink_failed(self, exc: Exception, lost: int) -> None:
        with self._lock:
            self._sink_errors += 1
            self._failed += lost
            first = self._last_error is None
            self._last_error = f"{type(exc).__name__}: {exc}"
        if first:
            _log.warning(
                "perfstats Recorder: the sink failed (%s); events of "
                "failed batches are counted in counters()['failed']",
                self._last_error,
            )

    def _write_held(self) -> bool:
        """Write the held batches, oldest first, until one fails; True when all went.

        A batch the sink refuses for good (ValueError, TypeError: bad data;
        RuntimeError: a store that cannot follow a fork) is given up at once; on
        any other error (the store is down, locked, the connection broke) it stays
        held and is written again, under the same key, at the next wake.
        """
        sink = cast(_KeyedSink, self._sink)
        while self._held:
            key, records = self._held[0]
            try:
                sink.write(records, key)
            except (ValueError, TypeError, RuntimeError) as exc:
                self._sink_failed(exc, 0)
                self._give_up_held(self._held_events - len(records))
                continue
            except Exception as exc:
                self._sink_failed(exc, 0)
                return False
            with self._lock:
                self._held.popleft()
                self._held_events -= len(records)
                self._written += len(records)
        return True

    def _give_up_held(self, keep: int) -> None:
        """Drop the oldest held batches until at most ``keep`` events are held."""
        while self._held and self._held_events > keep:
            _, records = self._held.popleft()
            with self._lock:
                self._held_events -= len(records)
                self._failed += len(records)

    def _update_stats(self, groups: dict[str, tuple[list[float], list[bool]]]) -> None:
        with self._stats_lock:
            for key, (lat, ok) in groups.items():
                st = self._stats.get(key)
                if st is None:
                    st = self._stats[key] = EndpointStats()
                st.latency.add(np.asarray(lat, dtype=np.float64))
                st.count += len(lat)
                st.errors += len(ok) - sum(ok)

    def _write_counters(self) -> None:
        path = self._sink.counters_path()
        if path is None:
            return
        try:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.counters()))
            os.replace(tmp, path)
        except OSError as exc:
            with self._lock:
                self._last_error = f"counters file: {type(exc).__name__}: {exc}"

    # -- public -----------------------------------------------------------------

    def flush(self) -> None:
        """Write every buffered span now (blocks until the sink has them)."""
        self._drain()

    def close(self) -> None:
        """Flush, stop the writer thread and close the sink. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.buffer_size = self._limit = 0  # spans finished after close: dropped
        self._stop = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self._drain()
        with self._write_lock:
            if self._held:  # the sink failed once more just now: give up
                self._give_up_held(0)
                with self._lock:
                    self._failed += len(self._buf) // _FIELDS
                    self._buf.clear()
        self._write_counters()
        self._sink.close()
        _LIVE.discard(self)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def counters(self) -> dict[str, Any]:
        """Spans written, dropped (buffer full), sampled out, lost to sink errors.

        ``pending`` spans are in the buffer; ``failed`` spans were in batches the
        sink raised on (``sink_errors`` failed writes; ``last_error`` says why);
        ``retrying`` spans are in batches a history store sink failed to take, held
        to be written again (under the same batch id) when the writer next wakes.
        """
        with self._lock:
            return {
                "pid": self._pid,
                "written": self._written,
                "pending": len(self._buf) // _FIELDS,
                "retrying": self._held_events,
                "dropped": self._dropped,
                "sampled_out": self._sampled_out,
                "failed": self._failed,
                "sink_errors": self._sink_errors,
                "last_error": self._last_error,
            }

    def stats(self, *, flush: bool = True) -> dict[str, EndpointStats]:
        """Live per-endpoint counts, error rates and latency sketches.

        Parameters
        ----------
        flush : bool
            Write the buffer first so the statistics include every finished span;
            without it they cover the batches written so far.

        Returns
        -------
        dict of str to EndpointStats
            Keyed by ``endpoint`` (the span name when a span has none); copies.
        """
        if flush:
            self.flush()
        with self._stats_lock:
            out = {}
            for k, st in self._stats.items():
                out[k] = EndpointStats(st.count, st.errors, st.latency.copy())
            return out

    def __repr__(self) -> str:
        c = self.counters()
        return (
            f"Recorder(written={c['written']}, pending={c['pending']}, "
            f"dropped={c['dropped']}, sampled_out={c['sampled_out']}, "
            f"failed={c['failed']})"
        )


def read_recorded(path: str | os.PathLike[str]) -> Events:
    """Read what a :class:`Recorder` wrote (a JSON lines file or a Parquet folder).

    The part files of a Parquet folder may have different columns (``set()``
    adds columns per span); they are unified, missing values being null.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.parquet"
    >>> with Recorder(path) as rec:
    ...     with rec.span("chat", endpoint="/a"):
    ...         pass
    >>> len(read_recorded(path))
    1
    """
    from perfstats.io import read_events

    p = Path(path)
    if not p.is_dir():
        return read_events(p)
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(
        f
        for f in p.iterdir()
        if f.suffix == ".parquet" and not f.name.startswith((".", "_"))
    )
    if not parts:
        raise ValueError(f"{p}: no Parquet part files")
    tables = [pq.read_table(f) for f in parts]
    table = pa.concat_tables(tables, promote_options="permissive")
    return read_events(table)
