"""read_events against pandas and DuckDB reading the same telemetry files.

One million generated events (`llm_app`, 20 columns) written once as Parquet and CSV.
Peers produce a pandas DataFrame of the same columns; read_events also validates every
row and converts to the canonical dtypes, which the peers do not, so a ratio near 1 means
validation is close to free.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import best_time, write_results
from perfstats.datasets import llm_app
from perfstats.io.events import read_events, write_events

ROWS_PER_DAY = 100_000
DAYS = 10
NEEDED = ["timestamp", "endpoint", "latency_ms", "success"]


def main() -> None:
    import duckdb
    import pandas as pd

    events = llm_app(days=DAYS, seed=0, requests_per_day=ROWS_PER_DAY)
    results: dict[str, object] = {"rows": len(events), "columns": events.shape[1]}
    with tempfile.TemporaryDirectory() as tmp:
        parquet = write_events(events, Path(tmp) / "events.parquet")
        csv = write_events(events, Path(tmp) / "events.csv")
        con = duckdb.connect()
        times = {
            "parquet_all/perfstats": best_time(lambda: read_events(parquet), repeat=3),
            "parquet_all/pandas": best_time(lambda: pd.read_parquet(parquet), repeat=3),
            "parquet_all/duckdb": best_time(
                lambda: con.sql(f"SELECT * FROM '{parquet}'").df(), repeat=3
            ),
            "parquet_4cols/perfstats": best_time(
                lambda: read_events(parquet, select=NEEDED), repeat=3
            ),
            "parquet_4cols/pandas": best_time(
                lambda: pd.read_parquet(parquet, columns=NEEDED), repeat=3
            ),
            "parquet_4cols/duckdb": best_time(
                lambda: con.sql(f"SELECT {', '.join(NEEDED)} FROM '{parquet}'").df(),
                repeat=3,
            ),
            "csv/perfstats": best_time(lambda: read_events(csv), repeat=1),
            "csv/pandas": best_time(
                lambda: pd.read_csv(csv, parse_dates=["timestamp"]), repeat=1
            ),
        }
    results["seconds"] = {k: round(v, 4) for k, v in times.items()}
    ratios = {}
    for case in ("parquet_all", "parquet_4cols", "csv"):
        ours = times[f"{case}/perfstats"]
        for peer in ("pandas", "duckdb"):
            key = f"{case}/{peer}"
            if key in times:
                ratios[f"{case}: {peer} time / perfstats time"] = round(
                    times[key] / ours, 2
                )
    results["speedup"] = ratios
    write_results("io", results)


if __name__ == "__main__":
    main()
