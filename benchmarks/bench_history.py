"""History store: append and query one year of hourly windows x 200 groups, in the
embedded SQLite store and in PostgreSQL (a temporary server on 127.0.0.1).

A daily job appends one batch a day: the summary (``summarize(..., every="1h")``) of
that day's events, 24 windows x 200 groups (10 requests per window, so the sketches are
small, as most hourly per-group sketches are). Measured: the time per daily append, the
store's size, and queries: a week hourly by group, a month daily by group, the whole
year daily by group and the whole year in one window per group, and the week-over-week
tests, and retention. Each timed query and retention pass also records the CPU seconds
of its process (``cpu_s``: the cores are shared, and wall times include waiting for
one). ``PERFSTATS_BENCH_HISTORY_DAYS`` (default 365) and ``..._GROUPS`` (200) scale it;
the previous results are kept under ``previous``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import load_average, write_results
from perfstats import summarize
from perfstats.history import History

DAYS = int(os.environ.get("PERFSTATS_BENCH_HISTORY_DAYS", "365"))
GROUPS = int(os.environ.get("PERFSTATS_BENCH_HISTORY_GROUPS", "200"))
PER_WINDOW = 10
START = pd.Timestamp("2025-01-01", tz="UTC")


def day_events(day: int) -> pd.DataFrame:
    rng = np.random.default_rng(day)
    n = 24 * GROUPS * PER_WINDOW
    return pd.DataFrame(
        {
            "timestamp": START
            + pd.Timedelta(days=day)
            + pd.to_timedelta(np.sort(rng.uniform(0, 86_400, n)), unit="s"),
            "endpoint": pd.Categorical.from_codes(
                rng.integers(0, GROUPS, n), [f"/api/{g:03d}" for g in range(GROUPS)]
            ),
            "latency_ms": rng.lognormal(np.log(600), 0.7, n),
            "success": rng.random(n) > 0.02,
            "cost_usd": rng.uniform(0.001, 0.01, n),
        }
    )


@contextmanager
def postgres() -> Iterator[str | None]:
    """A throw-away PostgreSQL server (None when PostgreSQL is not installed)."""
    import glob

    found = shutil.which("pg_ctl")
    bindirs = [str(Path(found).resolve().parent)] if found else []
    bindirs += sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bindirs:
        yield None
        return
    bindir = Path(bindirs[-1])
    data = Path(tempfile.mkdtemp(prefix="perfstats-bench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = data / "db"
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(db), "-A", "trust", "-U", "bench"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(db),
            "-o",
            opts,
            "-l",
            str(data / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://bench@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(db), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(data, ignore_errors=True)


#: CPU seconds of this process per timed step (the machine's cores are shared: wall
#: times include waiting for a core; CPU times compare runs at different loads).
CPU: dict[str, float] = {}


def timed(fn: Any, name: str | None = None) -> tuple[float, Any]:
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    if name is not None:
        CPU[name] = time.process_time() - c
    return time.perf_counter() - t, out


def day_summary(day: int) -> Any:
    return summarize(day_events(day), by="endpoint", every="1h")


def run_backend(url: str, size: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with History(url) as h:
        times = []
        for day in range(DAYS):  # summaries made one day at a time (memory), untimed
            s = day_summary(day)
            dt_, _ = timed(lambda s=s, day=day: h.append(s, batch=f"day-{day}"))
            times.append(dt_)
        out["append_day_s"] = {
            "median": float(np.median(times)),
            "max": float(np.max(times)),
            "total": float(np.sum(times)),
        }
        # the daily job re-run: replaces its batch
        out["reappend_day_s"], _ = timed(lambda: h.append(s, batch=f"day-{DAYS - 1}"))
        out["store_bytes"] = size()
        end = START + pd.Timedelta(days=DAYS)
        queries = {
            "week_hourly_by_group": (end - pd.Timedelta(days=7), end, "1h"),
            "month_daily_by_group": (end - pd.Timedelta(days=28), end, "1d"),
            "all_daily_by_group": (None, None, "1d"),
            "all_one_window_by_group": (None, None, None),
        }
        for name, (a, b, every) in queries.items():
            t, s = timed(
                lambda a=a, b=b, every=every: h.summary(
                    a, b, by="endpoint", every=every
                ),
                f"query_{name}",
            )
            out[f"query_{name}_s"] = t
            out[f"query_{name}_rows"] = len(s.table)
        if DAYS >= 14:
            out["week_over_week_s"], _ = timed(
                lambda: h.week_over_week(end), "week_over_week"
            )
        out["retain_90d_s"], merged = timed(
            lambda: h.retain("90d", now=end), "retain_90d"
        )
        out["retain_rows_merged"] = merged
        out["store_bytes_after_retain"] = size()
        out["query_all_daily_after_retain_s"], _ = timed(
            lambda: h.summary(by="endpoint", every="1d"), "query_all_daily_after_retain"
        )
    out["cpu_s"] = dict(CPU)
    return out


def one_backend(kind: str) -> Any:
    """Append and query with one backend (``sqlite`` or ``postgresql``)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "history.sqlite"

            def sqlite_size() -> int:
                return sum(p.stat().st_size for p in Path(d).glob("history.sqlite*"))

            return run_backend(str(path), sqlite_size)
    with postgres() as url:
        if url is None:
            return "not installed"
        import psycopg

        def pg_size() -> int:
            with psycopg.connect(url) as c:
                row = c.execute(
                    "SELECT pg_database_size(current_database())"
                ).fetchone()
                return int(row[0]) if row else -1

        return run_backend(url, pg_size)


def main() -> None:
    """Both backends, each in its own process at the same time (the machine's cores are
    shared: their times include that contention; see the load averages)."""
    one = os.environ.get("PERFSTATS_BENCH_HISTORY_ONE")
    if one:
        print("RESULT " + json.dumps(one_backend(one)))
        return
    t, _ = timed(lambda: day_summary(0))
    results: dict[str, Any] = {
        "days": DAYS,
        "groups": GROUPS,
        "windows": DAYS * 24 * GROUPS,
        "requests_per_window": PER_WINDOW,
        "summarize_one_day_s": t,
        "load_before": load_average(),
    }
    root = Path(__file__).resolve().parents[1]
    procs = {
        kind: subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_history"],
            cwd=root,
            env={**os.environ, "PERFSTATS_BENCH_HISTORY_ONE": kind},
            stdout=subprocess.PIPE,
            text=True,
        )
        for kind in ("sqlite", "postgresql")
    }
    for kind, proc in procs.items():
        out, _ = proc.communicate()
        lines = [x for x in out.splitlines() if x.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"the {kind} benchmark failed (exit {proc.returncode})")
        results[kind] = json.loads(lines[-1].removeprefix("RESULT "))
    results["load_after"] = load_average()
    # the previous run's results are kept beside the new ones (before/after a change)
    previous = root / "benchmarks" / "results" / "history.json"
    if previous.exists():
        before = json.loads(previous.read_text())
        before.pop("previous", None)
        results["previous"] = before
    write_results("history", results)


if __name__ == "__main__":
    main()
