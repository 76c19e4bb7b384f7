"""summarize by endpoint x hour over 10 million events read from Parquet, against pandas
groupby(...).quantile and DuckDB's quantile_cont on the same file.

All three start from the file: read, group, and produce p50/p90/p99 per endpoint and hour.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import best_time, write_results
from perfstats import summarize

N = 10_000_000
QS = [0.5, 0.9, 0.99]


def make_file(path: Path) -> None:
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2026-01-01", tz="UTC").value
    ts = start + np.sort(rng.integers(0, 30 * 86400 * 10**9, N))
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(ts, utc=True),
            "endpoint": pd.Categorical.from_codes(
                (rng.random(N) < 0.1).astype(np.int8), ["/api/chat", "/api/chat-v2"]
            ),
            "latency_ms": rng.lognormal(np.log(800), 1.0, N),
        }
    )
    frame.to_parquet(path, index=False)


def ours(path: Path) -> pd.DataFrame:
    # summarize reads the Parquet file itself (only the columns it uses)
    return summarize(path, by="endpoint", every="1h", quantiles=QS).table


def with_pandas(path: Path) -> pd.DataFrame:
    events = pd.read_parquet(path)
    hour = events["timestamp"].dt.floor("1h")
    return events.groupby([events["endpoint"], hour], observed=True)[
        "latency_ms"
    ].quantile(QS)


def with_duckdb(path: Path) -> Any:
    import duckdb

    con = duckdb.connect()
    return con.execute(
        f"""SELECT endpoint, epoch(date_trunc('hour', timestamp::TIMESTAMPTZ)) AS hour, count(*),
            quantile_cont(latency_ms, {QS}) FROM read_parquet('{path}')
            GROUP BY ALL"""
    ).fetchall()


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.parquet"
        make_file(path)
        t_ours = best_time(lambda: ours(path), repeat=3)
        t_pandas = best_time(lambda: with_pandas(path), repeat=1)
        t_duck = best_time(lambda: with_duckdb(path), repeat=3)
        t_read = best_time(lambda: pd.read_parquet(path), repeat=3)
        groups = len(ours(path))
    results = {
        "data": f"{N:,} events, 2 endpoints x 720 hours, Parquet",
        "groups": groups,
        "seconds": {
            "perfstats_read_and_summarize": t_ours,
            "pandas_read_and_groupby_quantile": t_pandas,
            "duckdb_quantile_cont": t_duck,
            "read_parquet_alone": t_read,
        },
        "speedup": {"vs_pandas": t_pandas / t_ours, "vs_duckdb": t_duck / t_ours},
    }
    write_results("summary", results)
    return results


if __name__ == "__main__":
    main()
