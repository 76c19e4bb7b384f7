"""The Recorder writing through the history store (SQLite and PostgreSQL through the
``history_url`` fixture): batches from the writer thread, retries that never count
twice, failures reported and not raised, a kill -9 mid-write, a forked child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import perfstats
from perfstats.history import History
from perfstats.record import HistorySink, Recorder

PYTHON_DIR = str(Path(perfstats.__file__).resolve().parents[1])  # package under test


def _batch_counts(url: str) -> dict[str, int]:
    """Events stored per batch id, read with SQL straight from the store."""
    with History(url) as h, h._db.read():
        rows = h._db.execute("SELECT batch, SUM(count) FROM windows GROUP BY batch")
    return {str(b): int(n) for b, n in rows}


def _total(url: str) -> int:
    return sum(_batch_counts(url).values())


def test_threads_write_every_span_through_a_history_object(history_url: str) -> None:
    # the History is opened here and written from the recorder's writer thread
    store = History(history_url)
    n_threads, per_thread = 4, 500

    def work(t: int) -> None:
        for i in range(per_thread):
            try:
                with rec.span("chat", endpoint=f"/e{i % 2}") as s:
                    s.set(input_tokens=t)
                    if i % 10 == 0:
                        raise KeyError("boom")
            except KeyError:
                pass

    with Recorder(store, batch_size=300, flush_interval=0.05) as rec:
        pool = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
    c = rec.counters()
    total = n_threads * per_thread
    assert c["written"] == total and c["failed"] == 0 and c["sink_errors"] == 0
    table = store.summary(every=None).table
    assert table["count"].to_dict() == {"/e0": total // 2, "/e1": total // 2}
    assert int(table["errors"].sum()) == total // 10
    assert sum(_batch_counts(history_url).values()) == total
    store.close()


def test_a_store_url_string_is_a_history_sink(history_url: str) -> None:
    with Recorder(history_url) as rec:
        for _ in range(7):
            with rec.span("embed"):  # no endpoint: stored under an unknown group
                pass
    assert isinstance(rec._sink, HistorySink)
    assert _total(history_url) == 7
    with History(history_url) as h:
        assert h.groups() == ["endpoint"]


class FlakyHistory(History):
    """A History whose appends fail as scripted: ``"before"`` raises before the
    transaction, ``"after"`` commits and then raises (a lost acknowledgement)."""

    def __init__(self, url: str, script: list[str]) -> None:
        super().__init__(url)
        self.script = script
        self.down = False
        self.calls: list[str | None] = []

    def append_events(self, events: Any, **kw: Any) -> str:
        step = self.script.pop(0) if self.script else "before" if self.down else "ok"
        self.calls.append(kw.get("batch"))
        if step == "before":
            raise ConnectionError("server closed the connection")
        out = super().append_events(events, **kw)
        if step == "after":
            raise ConnectionError("connection lost before the commit was acknowledged")
        return out


def test_a_failed_batch_is_written_again_once_under_the_same_id(
    history_url: str,
) -> None:
    store = FlakyHistory(history_url, ["before", "after"])
    rec = Recorder(store, batch_size=1000, flush_interval=3600)
    for _ in range(100):
        with rec.span("chat", endpoint="/a"):
            pass
    rec.flush()  # fails before the commit: held, not lost, not raised
    c = rec.counters()
    assert (c["written"], c["retrying"], c["sink_errors"]) == (0, 100, 1)
    assert "server closed" in c["last_error"]
    assert _total(history_url) == 0
    rec.flush()  # commits, then fails: still held
    assert rec.counters()["retrying"] == 100 and _total(history_url) == 100
    rec.flush()  # written again under the same id: replaces, does not add
    c = rec.counters()
    assert (c["written"], c["retrying"], c["failed"]) == (100, 0, 0)
    assert _total(history_url) == 100
    for _ in range(50):
        with rec.span("chat", endpoint="/a"):
            pass
    rec.close()
    assert len(set(store.calls)) == 2 and store.calls[0] == store.calls[2]
    assert sorted(_batch_counts(history_url).values()) == [50, 100]
    assert _total(history_url) == 150 == rec.counters()["written"]
    store.close()


def test_spans_wait_in_the_buffer_while_the_store_is_down(history_url: str) -> None:
    store = FlakyHistory(history_url, [])
    store.down = True
    rec = Recorder(store, batch_size=10, buffer_size=25, flush_interval=3600)
    for _ in range(10):
        with rec.span("chat", endpoint="/a"):
            pass
    rec.flush()  # this batch is held for a retry ...
    for _ in range(30):  # ... and these wait in the buffer, 5 of them dropped
        with rec.span("chat", endpoint="/a"):
            pass
    rec.flush()
    c = rec.counters()
    assert (c["retrying"], c["pending"], c["dropped"]) == (10, 25, 5)
    assert c["failed"] == 0 and c["sink_errors"] >= 2
    store.down = False
    rec.flush()  # the store is back: the held batch first, then the buffer
    c = rec.counters()
    assert (c["written"], c["retrying"], c["pending"], c["failed"]) == (35, 0, 0, 0)
    rec.close()
    assert _total(history_url) == 35
    assert len(_batch_counts(history_url)) == 4  # 10 + 10 + 10 + 5
    store.close()


def test_a_store_that_keeps_failing_is_reported_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Down(History):
        def append_events(self, events: Any, **kw: Any) -> str:
            raise OSError("database is unreachable")

    class Rejects(History):
        def append_events(self, events: Any, **kw: Any) -> str:
            raise ValueError("bad batch")

    for cls, retried in ((Down, True), (Rejects, False)):
        store = cls(tmp_path / f"{cls.__name__}.sqlite")
        rec = Recorder(store, batch_size=5, flush_interval=0.01)
        for _ in range(12):
            with rec.span("chat"):
                pass
        rec.flush()
        time.sleep(0.05)
        if not retried:  # bad data is given up at once, not retried forever
            assert rec.counters()["failed"] == 12
        rec.close()
        c = rec.counters()
        assert (c["written"], c["failed"], c["retrying"]) == (0, 12, 0)
        assert c["sink_errors"] >= (2 if retried else 3)
        assert c["last_error"].startswith("OSError" if retried else "ValueError")
        store.close()
    assert "the sink failed" in caplog.text


def test_history_sink_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="every"):
        HistorySink(tmp_path / "h.sqlite", every="soon")
    with pytest.raises(ValueError, match="by"):
        HistorySink(tmp_path / "h.sqlite", by=[])
    with pytest.raises(TypeError, match="store"):
        HistorySink(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown scheme"):
        Recorder("mysql://db/x.sqlite")
    shown = repr(HistorySink("sqlite:///" + str(tmp_path / "h.db"), every="1h"))
    assert "every='1h'" in shown


KILL_CHILD = """
import sys
from perfstats.record import Recorder
rec = Recorder(sys.argv[1], batch_size=10_000, flush_interval=3600)  # flush() only
print("ready", flush=True)
while True:
    for i in range(100):
        with rec.span("chat", endpoint=f"/e{i % 7}") as s:
            s.set(input_tokens=i)
    rec.flush()
"""


def test_kill_9_mid_write_leaves_the_store_consistent(history_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR}
    History(history_url).close()  # the tables exist before the child starts
    child = subprocess.Popen(
        [sys.executable, "-c", KILL_CHILD, history_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_batch_counts(history_url)) < 8:
            time.sleep(0.05)
        time.sleep(0.013)  # most likely inside a write now
    finally:
        os.kill(child.pid, signal.SIGKILL)
        _, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, err
    counts = _batch_counts(history_url)
    assert len(counts) >= 8
    assert set(counts.values()) == {100}  # whole batches only
    assert _total(history_url) == 100 * len(counts)
    if not history_url.startswith("postgresql"):
        with History(history_url) as h, h._db.read():
            assert h._db.execute("PRAGMA integrity_check") == [("ok",)]
    # the killed writer left no lock behind: another recorder writes at once
    with Recorder(history_url) as rec, rec.span("after"):
        pass
    assert rec.counters()["written"] == 1
    assert _total(history_url) == 100 * len(counts) + 1


def test_a_forked_child_opens_its_own_connection(history_url: str) -> None:
    code = """
    import os, sys
    from perfstats.history import History
    from perfstats.record import Recorder
    url = sys.argv[1]
    by_url = Recorder(url, flush_interval=60)
    store = History(url)
    by_object = Recorder(store, flush_interval=60)
    with by_url.span("parent", endpoint="/url"):
        pass
    by_url.flush()  # the parent's connection is open before the fork
    pid = os.fork()
    if pid == 0:
        for _ in range(5):
            with by_url.span("child", endpoint="/url"):
                pass
            with by_object.span("child", endpoint="/object"):
                pass
        by_object.close()
        print(by_object.counters()["failed"], by_object.counters()["last_error"])
        sys.stdout.flush()
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    with by_url.span("parent", endpoint="/url"):
        pass
    by_url.close()
    by_object.close()
    c = by_url.counters()
    print(os.waitstatus_to_exitcode(status), c["sink_errors"], c["last_error"])
    """
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), history_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, out.stdout + out.stderr
    child_line, parent_line = lines
    # a History object cannot follow a fork: its spans are reported as failed
    assert child_line.startswith("5 RuntimeError: this history store connection was")
    assert "give the Recorder the store's URL" in child_line
    # the child's own connection left the parent's session alone
    assert parent_line == "0 0 None"
    with History(history_url) as h:
        table = h.summary(every=None).table
    assert table["count"].to_dict() == {"/url": 7}


DIE_IN_TRANSACTION = """
import os, signal, sys
from perfstats.history import History
from perfstats.record import Recorder
store = History(sys.argv[1])
insert = store._db.executemany
inserts = []

def insert_then_die(sql, rows):
    insert(sql, rows)  # the 4th batch's rows are written, not committed
    inserts.append(1)
    if len(inserts) == 4:
        os.kill(os.getpid(), signal.SIGKILL)

store._db.executemany = insert_then_die
rec = Recorder(store, batch_size=100, flush_interval=3600)
for _ in range(6):
    for i in range(100):
        with rec.span("chat", endpoint=f"/e{i % 7}"):
            pass
    rec.flush()
"""


def test_killed_inside_the_transaction_the_batch_is_absent(history_url: str) -> None:
    """Deterministic: the writer dies after inserting a batch's rows and before
    the commit; the store holds exactly the three batches committed before."""
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR}
    out = subprocess.run(
        [sys.executable, "-c", DIE_IN_TRANSACTION, history_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == -signal.SIGKILL, out.stderr
    counts = _batch_counts(history_url)
    assert sorted(counts.values()) == [100, 100, 100]
    with History(history_url) as h:
        assert len(h.batches()) == 3
    with Recorder(history_url) as rec, rec.span("after"):
        pass
    assert _total(history_url) == 301


def test_one_history_shared_by_threads_runs_one_transaction_at_a_time(
    history_url: str,
) -> None:
    import pandas as pd

    store = History(history_url)
    errors: list[BaseException] = []

    def frame(k: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "timestamp": pd.date_range(
                    "2026-01-01", periods=20, freq="min", tz="UTC"
                )
                + pd.Timedelta(hours=k),
                "endpoint": "/a",
                "latency_ms": [100.0 + k] * 20,
                "success": True,
            }
        )

    def appender(t: int) -> None:
        try:
            for k in range(8):
                store.append_events(frame(k), every="1h", batch=f"t{t}-{k}")
                store.summary(every=None)
        except BaseException as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=appender, args=(t,)) for t in range(3)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    store.close()
    assert errors == []
    assert _total(history_url) == 3 * 8 * 20


def test_a_history_sink_flushes_every_minute_unless_told(tmp_path: Path) -> None:
    with Recorder(tmp_path / "h.sqlite") as rec:
        assert rec.flush_interval == 60.0
    with Recorder(tmp_path / "h.sqlite", flush_interval=5) as rec:
        assert rec.flush_interval == 5.0
    with Recorder(tmp_path / "e.jsonl") as rec:
        assert rec.flush_interval == 1.0


def test_a_url_sink_reconnects_after_a_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(tmp_path / "h.sqlite")
    sink = HistorySink(url)
    first = sink._store
    real = History.append_events
    failures = [ConnectionError("server closed the connection")]

    def flaky(self: History, events: Any, **kw: Any) -> str:
        if failures:
            raise failures.pop()
        return real(self, events, **kw)

    monkeypatch.setattr(History, "append_events", flaky)
    rec = Recorder(sink, flush_interval=3600)
    with rec.span("chat", endpoint="/a"):
        pass
    rec.flush()
    assert sink._store is None and rec.counters()["retrying"] == 1
    real_init = History.__init__
    refused = [ValueError("cannot connect to history store: connection refused")]

    def refuse_once(self: History, url: Any) -> None:
        if refused:
            raise refused.pop()
        real_init(self, url)

    monkeypatch.setattr(History, "__init__", refuse_once)
    rec.flush()  # the reconnect fails: still held (not given up as bad data)
    c = rec.counters()
    assert (c["retrying"], c["failed"]) == (1, 0)
    assert c["last_error"].startswith("ConnectionError: cannot reopen")
    rec.flush()  # a new connection, the same batch id
    assert sink._store is not None and sink._store is not first
    rec.close()
    assert rec.counters()["written"] == 1 and _batch_counts(url) != {}
    assert sum(_batch_counts(url).values()) == 1


def test_closing_a_history_in_a_forked_child_keeps_the_parents_session(
    history_url: str,
) -> None:
    code = """
    import os, sys
    import pandas as pd
    from perfstats.history import History
    h = History(sys.argv[1])
    ev = pd.DataFrame({"timestamp": pd.Timestamp("2026-01-01", tz="UTC"),
                       "endpoint": ["/a"], "latency_ms": [1.0], "success": [True]})
    h.append_events(ev, batch="before")
    pid = os.fork()
    if pid == 0:
        h.close()
        os._exit(0)
    os.waitpid(pid, 0)
    h.append_events(ev, batch="after")  # the parent's connection still works
    print(len(h.batches()))
    h.close()
    """
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), history_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"
