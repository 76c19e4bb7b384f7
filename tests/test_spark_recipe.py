"""The Spark recipe of README-dask.md: ``mapInPandas`` builds one partial summary per
batch, ``treeReduce`` merges them, and the result equals perfstats.summarize on the same
events, sketch for sketch. Runs where PySpark and a Java runtime are installed."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import perfstats
from perfstats.analysis.summary import summarize_partial

pyspark_sql = pytest.importorskip(
    "pyspark.sql", reason="the Spark recipe needs pyspark"
)
if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
    pytest.skip("the Spark recipe needs a Java runtime", allow_module_level=True)

pytestmark = [
    pytest.mark.slow,  # a Spark session takes 30-70 s to start and run on 2 cores
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
]


def test_spark_map_in_pandas_recipe_equals_summarize() -> None:
    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers need this venv

    def partials(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """The recipe's mapInPandas function: one pickled partial summary per batch
        (defined here so Spark pickles it by value, not by this module's name)."""
        for frame in batches:
            part = summarize_partial(frame, by=["endpoint"], every="1h")
            yield pd.DataFrame({"partial": [pickle.dumps(part)]})

    spark: Any = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    try:
        rng = np.random.default_rng(4)
        n = 20_000
        events = pd.DataFrame(
            {
                "timestamp": pd.Timestamp("2026-01-01")
                + pd.to_timedelta(np.sort(rng.integers(0, 6 * 3600 * 10**6, n)), "us"),
                "endpoint": rng.choice(["/a", "/b", "/c"], n),
                "latency_ms": rng.lognormal(6.0, 1.0, n),
                "success": rng.random(n) > 0.02,
            }
        )
        sdf = spark.createDataFrame(events).repartition(4)
        total = (
            sdf.mapInPandas(partials, "partial binary")
            .rdd.map(lambda row: pickle.loads(row.partial))
            .treeReduce(lambda a, b: a.merge(b))
        )
        got = total.finish()
    finally:
        spark.stop()
    want = perfstats.summarize(events, by="endpoint", every="1h")
    pd.testing.assert_index_equal(got.table.index, want.table.index)
    for col in want.table.columns:
        if col == "latency_mean":  # compensated sums added in another order
            np.testing.assert_allclose(got.table[col], want.table[col], rtol=1e-15)
        else:
            pd.testing.assert_series_equal(got.table[col], want.table[col], obj=col)
    for key, metrics in want.sketches.items():
        g, w = got.sketches[key]["latency_ms"], metrics["latency_ms"]
        (g_offset, g_counts), (w_offset, w_counts) = g.buckets(), w.buckets()
        assert g_offset == w_offset and np.array_equal(g_counts, w_counts), key
        assert (g.scale, g.count, g.min, g.max) == (w.scale, w.count, w.min, w.max)
