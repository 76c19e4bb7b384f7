"""The alerts' state between runs: a local SQLite file (alert states, notification
groups, the outbox of notifications) and the lock that keeps two runs apart."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["RunLock", "StateCorruptError", "StateFile", "StateLockedError"]

APP = "perfstats-alerts"
SCHEMA = "1"

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    value REAL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    active_since REAL NOT NULL,
    fired_at REAL,
    resolved_at REAL,
    acked_by TEXT,
    acked_at REAL
);
CREATE TABLE IF NOT EXISTS groups (
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    route TEXT NOT NULL,
    group_labels TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_flush REAL,
    notified TEXT NOT NULL,
    PRIMARY KEY (receiver, group_key)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    receiver TEXT NOT NULL,
    integration INTEGER NOT NULL,
    type TEXT NOT NULL,
    group_key TEXT NOT NULL,
    notification TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at REAL
);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    comment TEXT NOT NULL,
    created_by TEXT NOT NULL
);
"""


class StateCorruptError(ValueError):
    """The state file is not a readable perfstats alerts state; it was moved aside."""


class StateLockedError(RuntimeError):
    """Another run holds the state's lock."""


class RunLock:
    """An exclusive, non-blocking lock on ``<state>.lock`` (``flock``), released by
    the operating system if the process dies, so a crashed run never blocks the next."""

    def __init__(self, state_path: Path) -> None:
        self.path = Path(str(state_path) + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateLockedError(
                f"another perfstats alert run holds {self.path}; this run sends nothing"
            ) from None
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import fcntl

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _move_aside(path: Path, reason: str) -> StateCorruptError:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    k = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{k}")
        k += 1
    os.replace(path, target)
    for suffix in ("-wal", "-shm", "-journal"):
        side = Path(str(path) + suffix)
        if side.exists():
            os.replace(side, Path(str(target) + suffix))
    return StateCorruptError(
        f"alerts state file {path} is corrupted ({reason}); it was moved to {target} "
        "and kept for inspection. The next run starts a new state: alerts that were "
        "firing will notify again."
    )


class StateFile:
    """An open state database (``with StateFile(path) as db``); checks the file on
    opening and moves a corrupted one aside with :class:`StateCorruptError`."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self.create = create
        self.conn: sqlite3.Connection

    def __enter__(self) -> StateFile:
        existed = self.path.exists() and self.path.stat().st_size > 0
        if not existed and not self.create:
            self.conn = sqlite3.connect(":memory:", isolation_level=None)
            self.conn.executescript(_DDL)
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        except sqlite3.OperationalError as exc:
            raise OSError(f"cannot read alerts state {self.path}: {exc}") from None
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {check and check[0]}")
            # Inspect and create under the write lock: a run creating the file at the
            # same moment finishes first, so a new file is never taken for a foreign one.
            conn.execute("BEGIN IMMEDIATE")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if tables and "meta" not in tables:
                raise sqlite3.DatabaseError("no perfstats alerts tables")
            if "meta" in tables:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                if meta.get("app") != APP:
                    raise sqlite3.DatabaseError("not a perfstats alerts state")
                if meta.get("schema") != SCHEMA:
                    conn.close()
                    raise ValueError(
                        f"alerts state {self.path} has schema {meta.get('schema')!r}; "
                        f"this perfstats reads schema {SCHEMA}"
                    )
                for (labels,) in conn.execute("SELECT labels FROM alerts"):
                    json.loads(labels)
            for statement in _DDL.split(";"):
                if statement.strip():
                    conn.execute(statement)
            if "meta" not in tables:
                conn.execute("INSERT INTO meta VALUES ('app', ?)", (APP,))
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA,))
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            # Locked, busy, unreadable, disk full: the file may be fine; keep it there.
            conn.close()
            raise OSError(f"cannot read alerts state {self.path}: {exc}") from None
        except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
            conn.close()
            raise _move_aside(self.path, str(exc).splitlines()[0]) from None
        # WAL with synchronous=NORMAL: a crash of the process keeps every committed
        # transaction; a power cut may lose the last ones (then a notification may be
        # sent again: at least once), never corrupt the file.
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            pass  # another process holds the file: keep its journal mode this time
        conn.execute("PRAGMA synchronous=NORMAL")
        self.conn = conn
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.conn.close()

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
