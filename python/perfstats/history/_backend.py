"""Connections of the history store: SQLite (embedded, default) and PostgreSQL.

Both speak the same SQL (written with ``?`` placeholders; PostgreSQL's ``%s`` is
substituted) and the same transaction rule: a writer holds the store's write lock for
the whole of its transaction, so two writers never interleave and a killed writer's
transaction is rolled back by the database, never half applied.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from perfstats._optional import require

#: Version of the stored format, kept in the ``schema_version`` table. A store written by
#: a later version is refused with the version it holds.
STORE_SCHEMA_VERSION = 1

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS batches (
        batch TEXT PRIMARY KEY,
        appended_at TEXT NOT NULL,
        source TEXT NOT NULL,
        compacted INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS windows (
        window_start BIGINT NOT NULL,
        window_ns BIGINT NOT NULL,
        grp TEXT NOT NULL,
        batch TEXT NOT NULL,
        count BIGINT NOT NULL,
        errors BIGINT,
        input_tokens DOUBLE PRECISION,
        output_tokens DOUBLE PRECISION,
        cost_usd DOUBLE PRECISION,
        cost_unknown BIGINT NOT NULL,
        data {blob} NOT NULL,
        PRIMARY KEY (window_start, window_ns, grp, batch)
    )""",
    "CREATE INDEX IF NOT EXISTS windows_batch ON windows (batch)",
]


def redact_url(text: str) -> str:
    """``text`` with any password replaced by ``***`` (for messages and reprs).

    Examples
    --------
    >>> redact_url("postgresql://ci:s3cret@db:5432/perf?sslmode=require&password=x")
    'postgresql://ci:***@db:5432/perf?sslmode=require&password=***'
    """
    text = re.sub(r"(://[^/@:]*:)[^@/]*@", r"\1***@", text)
    return re.sub(r"(password=)[^&\s]*", r"\1***", text)


def is_store_url(text: str | os.PathLike[str]) -> bool:
    """Whether ``text`` names a history store (a ``sqlite:``/``postgresql:`` URL or a
    ``.sqlite``/``.db`` file) rather than a directory of ``run-*.json`` files."""
    s = os.fspath(text)
    return s.startswith(("sqlite:", "postgresql:", "postgres:")) or s.endswith(
        (".sqlite", ".sqlite3", ".db")
    )


class Backend:
    """One open connection to a store, with the write-lock transaction of its kind.

    The connection may be used from any thread (a Recorder appends from its writer
    thread), one transaction at a time: :meth:`write` and :meth:`read` hold
    ``lock`` for the whole transaction. It cannot follow a ``fork``: in the child
    :meth:`write` and :meth:`read` raise RuntimeError (open a new History there)
    and :meth:`close` leaves the parent's connection open.
    """

    kind: str
    blob: str
    lock: threading.RLock
    pid: int

    def _opened(self) -> None:
        self.lock = threading.RLock()
        self.pid = os.getpid()

    def _check_process(self) -> None:
        if os.getpid() != self.pid:
            raise RuntimeError(
                "this history store connection was opened before fork: open a "
                "new History in the child process"
            )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def delete_windows(self, keys: Sequence[Sequence[Any]]) -> None:
        """Delete the windows rows of these ``(window_start, window_ns, grp, batch)``
        keys (inside :meth:`write`)."""
        self.executemany(
            "DELETE FROM windows WHERE window_start = ? AND window_ns = ? "
            "AND grp = ? AND batch = ?",
            keys,
        )

    def stream(
        self, sql: str, params: Sequence[Any] = (), size: int = 10_000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of a query in chunks of up to ``size`` (inside :meth:`read`), so a
        query over a year of windows does not hold every row at once."""
        raise NotImplementedError

    @contextmanager
    def write(self) -> Iterator[None]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    @contextmanager
    def read(self) -> Iterator[None]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    def close(self) -> None:
        raise NotImplementedError

    def compact(self) -> None:
        """Give back the space of a large write (after :meth:`History.retain`)."""

    def init(self) -> None:
        """Create the tables of an empty store; refuse a store of another version."""
        with self.write():
            for sql in _SCHEMA:
                self.execute(sql.replace("{blob}", self.blob))
            rows = self.execute("SELECT version FROM schema_version")
            if not rows:
                self.execute(
                    "INSERT INTO schema_version (version) VALUES (?)",
                    (STORE_SCHEMA_VERSION,),
                )
                return
        version = int(rows[0][0])
        if version != STORE_SCHEMA_VERSION:
            raise ValueError(
                f"history store holds format version {version}; this perfstats reads "
                f"version {STORE_SCHEMA_VERSION}"
            )


class SQLiteBackend(Backend):
    """One SQLite file in WAL mode: readers run beside the one writer, and
    ``BEGIN IMMEDIATE`` takes the write lock before anything is read, so concurrent
    appends from several processes queue (up to ``timeout`` seconds) instead of
    failing or losing an update."""

    kind = "sqlite"
    blob = "BLOB"

    def __init__(self, path: str, timeout: float = 120.0) -> None:
        if path != ":memory:":
            parent = Path(path).parent
            if not parent.is_dir():
                raise ValueError(f"history store {path}: no directory {parent}")
            if Path(path).is_dir():
                raise ValueError(f"history store {path} is a directory, not a file")
        self._opened()
        try:
            self.conn = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        except sqlite3.DatabaseError as exc:
            raise ValueError(
                f"history store {path} is not a SQLite file: {exc}"
            ) from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def stream(
        self, sql: str, params: Sequence[Any] = (), size: int = 10_000
    ) -> Iterator[list[tuple[Any, ...]]]:
        cur = self.conn.execute(sql, tuple(params))
        try:
            while rows := cur.fetchmany(size):
                yield rows
        finally:
            cur.close()

    @contextmanager
    def write(self) -> Iterator[None]:
        self._check_process()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[None]:
        self._check_process()
        with self.lock:
            self.conn.execute("BEGIN")  # one snapshot for every query of the read
            try:
                yield
            finally:
                self.conn.execute("COMMIT")

    def close(self) -> None:
        if os.getpid() != self.pid:
            # a forked child's copy: closing it could end the parent's session
            # (PostgreSQL: a Terminate on the shared socket)
            return
        with self.lock:  # after a transaction another thread is in
            self.conn.close()

    def compact(self) -> None:
        # a retain pass writes every merged row through the WAL file: fold it into
        # the database file and truncate it, so the WAL does not keep that size
        with self.lock:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class PostgresBackend(Backend):
    """A PostgreSQL database through psycopg 3. A writer takes one transaction-level
    advisory lock for its whole transaction (writers queue; readers are not blocked),
    and reads run in one REPEATABLE READ snapshot."""

    kind = "postgresql"
    blob = "BYTEA"

    def __init__(self, url: str) -> None:
        psycopg = require("psycopg", "the PostgreSQL history store")
        self._opened()
        try:
            self.conn = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise ValueError(
                f"cannot connect to history store {redact_url(url)}: {exc}"
            ) from exc

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(self._sql(sql), tuple(params))
        rows: list[tuple[Any, ...]] = cur.fetchall() if cur.description else []
        return rows

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self._sql(sql), rows)

    def stream(
        self, sql: str, params: Sequence[Any] = (), size: int = 10_000
    ) -> Iterator[list[tuple[Any, ...]]]:
        # a server-side cursor (inside the read transaction): rows arrive in chunks
        with self.conn.cursor(name="perfstats_stream") as cur:
            cur.itersize = size
            cur.execute(self._sql(sql), tuple(params))
            while rows := cur.fetchmany(size):
                yield rows

    def delete_windows(self, keys: Sequence[Sequence[Any]]) -> None:
        # a retention pass deletes a million rows: COPY their keys into a temporary
        # table and delete with one join, not a statement per row
        with self.conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS perfstats_gone (window_start BIGINT, "
                "window_ns BIGINT, grp TEXT, batch TEXT) ON COMMIT DELETE ROWS"
            )
            with cur.copy(
                "COPY perfstats_gone (window_start, window_ns, grp, batch) FROM STDIN"
            ) as copy:
                for key in keys:
                    copy.write_row(key)
            cur.execute(
                "DELETE FROM windows w USING perfstats_gone g WHERE "
                "w.window_start = g.window_start AND w.window_ns = g.window_ns "
                "AND w.grp = g.grp AND w.batch = g.batch"
            )
            cur.execute("DELETE FROM perfstats_gone")

    @contextmanager
    def write(self) -> Iterator[None]:
        self._check_process()
        with self.lock, self.conn.transaction():
            # serializes writers, and the creation of the tables too
            self.conn.execute("SELECT pg_advisory_xact_lock(7215816)")
            yield

    @contextmanager
    def read(self) -> Iterator[None]:
        self._check_process()
        with self.lock, self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield

    def close(self) -> None:
        if os.getpid() != self.pid:
            # a forked child's copy: closing it could end the parent's session
            # (PostgreSQL: a Terminate on the shared socket)
            return
        with self.lock:  # after a transaction another thread is in
            self.conn.close()


def open_backend(url: str | os.PathLike[str]) -> Backend:
    """The connection for ``url``: ``postgresql://...`` (or ``postgres://``),
    ``sqlite:///path``, ``sqlite://:memory:`` or a plain file path (SQLite)."""
    text = os.fspath(url)
    if text.startswith(("postgresql:", "postgres:")):
        backend: Backend = PostgresBackend(text)
    elif text.startswith("sqlite:"):
        path = text.removeprefix("sqlite:")
        path = path.removeprefix("//")
        if not path:
            raise ValueError(f"history URL {text} names no file")
        backend = SQLiteBackend(path)
    elif "://" in text:
        raise ValueError(
            f"history URL {redact_url(text)}: unknown scheme (use sqlite:///path or "
            "postgresql://...)"
        )
    else:
        backend = SQLiteBackend(text)
    try:
        backend.init()
    except BaseException:
        backend.close()
        raise
    return backend
