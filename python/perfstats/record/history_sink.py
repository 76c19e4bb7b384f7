"""A :class:`~perfstats.record.Recorder` sink that writes through the history store.

Each batch the recorder's writer thread takes from its buffer is summarized per
``every`` window and ``by`` group and appended to a :class:`perfstats.history.History`
as one store *batch* whose id the recorder gives it (``recorder-<run>-<n>``, unique per
recorder and process). The store replaces a batch id it already holds, so a batch the
recorder writes again after a failure (a dropped connection, a commit whose
acknowledgement was lost) is stored once, never twice. Each append is one transaction:
a process killed during a write leaves the store as it was before that batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perfstats.history import History

__all__ = ["HistorySink"]


class HistorySink:
    """Write a Recorder's batches to a history store (SQLite or PostgreSQL).

    ``Recorder(History(url))`` and ``Recorder("postgresql://...")`` (or a ``.sqlite``
    path, or ``sqlite:///path``) make one with the defaults; make it yourself to choose
    the grouping or the window.

    Parameters
    ----------
    store : History, str or path
        An open :class:`~perfstats.history.History` (the caller keeps it and closes
        it) or a store URL (the sink opens it, reconnects after a failed write, opens
        its own connection in a forked child, and closes it with the recorder).
    by : str or sequence of str
        Group columns of the stored windows; a column a span did not set is stored as
        unknown (null), not dropped.
    every : str
        Window length (``"1m"``, ``"1h"``). Every batch adds one row per window and
        group it touches, so a long ``flush_interval`` keeps the store small
        (:meth:`History.retain` merges them later).

    Examples
    --------
    >>> import os, tempfile
    >>> from perfstats.history import History
    >>> from perfstats.record import Recorder, HistorySink
    >>> url = os.path.join(tempfile.mkdtemp(), "h.sqlite")
    >>> with Recorder(HistorySink(url, by="endpoint", every="1h")) as rec:
    ...     for _ in range(3):
    ...         with rec.span("chat", endpoint="/api/chat"):
    ...             pass
    >>> with History(url) as h:
    ...     int(h.summary(every=None).table["count"].sum())
    3
    """

    idempotent = True

    def __init__(
        self,
        store: History | str | os.PathLike[str],
        *,
        by: str | Sequence[str] = ("endpoint",),
        every: str = "1m",
    ) -> None:
        import pandas as pd

        from perfstats.history import History

        self.by = [by] if isinstance(by, str) else list(by)
        if not self.by or not all(isinstance(b, str) and b for b in self.by):
            raise ValueError(f"by must name one or more columns, got {by!r}")
        try:
            ok = pd.Timedelta(every) > pd.Timedelta(0)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                f"every must be a duration like '1m' or '1h', got {every!r}"
            )
        self.every = every
        self._url: str | None
        self._store: History | None
        if isinstance(store, History):
            self._url, self._store = None, store
        elif isinstance(store, (str, os.PathLike)):
            self._url = os.fspath(store)
            self._store = History(self._url)  # a bad URL fails here, in the caller
        else:
            raise TypeError(
                "store must be a History or a store URL, got " + type(store).__name__
            )
        self._shown = self._store.url  # any password replaced by ***
        self._pid = os.getpid()

    def write(self, records: list[dict[str, Any]], key: str) -> None:
        """Append one batch under the batch id ``key`` (replacing a stored one)."""
        import pandas as pd

        from perfstats.history import History

        if self._store is None:  # reconnect after a failure, or in a forked child
            assert self._url is not None
            try:
                self._store = History(self._url)
            except Exception as exc:  # the server is down: retried, not given up
                raise ConnectionError(
                    f"cannot reopen the history store: {exc}"
                ) from exc
        frame = pd.DataFrame.from_records(records)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ns", utc=True)
        for col in self.by:
            if col not in frame.columns:
                frame[col] = None
        try:
            self._store.append_events(
                frame, by=self.by, every=self.every, batch=key, source="Recorder"
            )
        except RuntimeError as exc:
            if self._url is None and os.getpid() != self._pid:
                raise RuntimeError(
                    f"{exc} (give the Recorder the store's URL, not a History "
                    "object, to record in forked children)"
                ) from exc
            raise
        except Exception:
            if self._url is not None:  # ours: open a new connection next time
                self._drop_store()
            raise

    def _drop_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except Exception:  # the connection is already broken
                pass

    def reopen(self) -> None:
        """In a forked child: a connection of our own (a URL), or refuse (an object)."""
        if self._url is not None:
            # the parent's connection: close() in a child leaves it to the parent
            # (see History); a new one opens at the next write
            self._drop_store()

    def close(self) -> None:
        """Close the store when the sink opened it."""
        if self._url is not None and self._store is not None:
            self._store.close()
            self._store = None

    def counters_path(self) -> None:
        """No counters file: the counters are in ``Recorder.counters()``."""
        return None

    def __repr__(self) -> str:
        return f"HistorySink({self._shown!r}, by={self.by!r}, every={self.every!r})"
