"""summarize(path) and read_events(path) against pandas.read_parquet (pyarrow), the oracle,
over files of every writer and option telemetry meets: pyarrow, polars and DuckDB; no,
Snappy, Zstandard, gzip, LZ4 and Brotli compression; data pages v1 and v2; dictionary on
and off; nulls nowhere, in latencies or in keys; small pages and row groups; categorical
keys; s/ms/us/ns timestamps; float32 and integer latencies. Counts, tables and sketches
must be equal bit for bit.

By default a seeded subset of 14 combinations runs (a few seconds); `pytest -m slow` runs
240 more.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perfstats import read_events, summarize
from perfstats.io import parquet as parquet_module

N = 2_500
START = pd.Timestamp("2026-03-01", tz="UTC").value
CODECS = [
    c
    for c in ("none", "snappy", "zstd", "gzip", "lz4", "brotli")
    if c == "none" or pa.Codec.is_available(c)
]
NULLS = ("none", "latency", "key")
LATENCY = ("float64", "float32", "int64")
UNITS = ("ns", "us", "ms", "s")


def _table(seed: int, *, nulls: str, unit: str, latency: str) -> pa.Table:
    rng = np.random.default_rng(seed)
    ts = START + np.sort(rng.integers(0, 5 * 3_600 * 10**9, N))
    stamps = pa.array(ts, pa.timestamp("ns", tz="UTC"))
    if unit != "ns":
        stamps = stamps.cast(pa.timestamp(unit, tz="UTC"), safe=False)
    lat = rng.lognormal(6.0, 1.0, N)
    lat_mask = rng.random(N) < 0.05 if nulls == "latency" else None
    key_mask = rng.random(N) < 0.05 if nulls == "key" else None
    if latency == "int64":
        lat_array = pa.array(np.round(lat).astype(np.int64), mask=lat_mask)
    else:
        lat_array = pa.array(lat.astype(latency), mask=lat_mask)
    keys = rng.choice(["/api/chat", "/api/chat-v2", "/embed"], N, p=[0.6, 0.3, 0.1])
    return pa.table(
        {
            "timestamp": stamps,
            "endpoint": pa.array(keys, mask=key_mask).dictionary_encode(),
            "latency_ms": lat_array,
            "success": pa.array(rng.random(N) > 0.03),
            "output_tokens": pa.array(rng.integers(1, 500, N)),
        }
    )


def _write(path: Path, table: pa.Table, writer: str, case: dict[str, Any]) -> None:
    codec = case["codec"]
    if writer == "pyarrow":
        pq.write_table(
            table,
            path,
            compression=codec,
            use_dictionary=case["dictionary"],
            data_page_version=case["page"],
            data_page_size=500 if case["small"] else None,
            row_group_size=700 if case["small"] else None,
        )
    elif writer == "polars":
        pl = pytest.importorskip("polars")
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if case["dictionary"]:  # polars' Categorical: uint32 dictionary indices
            frame = frame.with_columns(pl.col("endpoint").cast(pl.Categorical))
        frame.write_parquet(
            path,
            compression="uncompressed" if codec == "none" else codec,
            row_group_size=700 if case["small"] else None,
            data_page_size=500 if case["small"] else None,
        )
    else:
        duckdb = pytest.importorskip("duckdb")
        frame = table.to_pandas()
        with duckdb.connect() as con:
            con.register("frame", frame)
            size = 2_048 if case["small"] else 122_880
            name = "uncompressed" if codec == "none" else codec
            con.execute(
                f"COPY frame TO '{path}' (FORMAT parquet, COMPRESSION {name}, "
                f"ROW_GROUP_SIZE {size})"
            )


def _cases() -> list[dict[str, Any]]:
    out = []
    for (
        writer,
        codec,
        page,
        dictionary,
        nulls,
        small,
        unit,
        latency,
    ) in itertools.product(
        ("pyarrow", "polars", "duckdb"),
        CODECS,
        ("1.0", "2.0"),
        (True, False),
        NULLS,
        (False, True),
        UNITS,
        LATENCY,
    ):
        if writer != "pyarrow" and page == "2.0":
            continue  # the page version is pyarrow's option
        if writer == "duckdb" and codec in ("lz4", "none"):
            continue  # DuckDB names these otherwise / writes lz4_raw
        if writer == "polars" and unit == "s":
            continue  # polars has no seconds unit
        out.append(
            dict(
                writer=writer,
                codec=codec,
                page=page,
                dictionary=dictionary,
                nulls=nulls,
                small=small,
                unit=unit,
                latency=latency,
            )
        )
    return out


ALL = _cases()
FAST = random.Random(11).sample(ALL, 14)
SLOW = random.Random(12).sample(ALL, 240)  # of about 1,500: a few minutes


def _check(tmp_path: Path, case: dict[str, Any], seed: int) -> None:
    table = _table(
        seed, nulls=case["nulls"], unit=case["unit"], latency=case["latency"]
    )
    path = tmp_path / "events.parquet"
    _write(path, table, case["writer"], case)
    frame = pd.read_parquet(path)
    for by, every in (("endpoint", "1h"), ("endpoint", None), (None, "20min")):
        from_path = summarize(path, by=by, every=every)
        from_frame = summarize(frame, by=by, every=every)
        pd.testing.assert_frame_equal(
            from_path.table, from_frame.table, check_exact=True
        )
        assert from_path.sketches.keys() == from_frame.sketches.keys()
        for key, metrics in from_frame.sketches.items():
            for metric, sketch in metrics.items():
                assert from_path.sketches[key][metric].to_bytes() == sketch.to_bytes()
    # read_events refuses (or with errors="skip" skips) rows without a latency
    events = read_events(path, errors="skip").frame
    frame = frame[frame["latency_ms"].notna()]
    assert len(events) == len(frame)
    np.testing.assert_array_equal(
        events["latency_ms"].to_numpy(np.float64, na_value=np.nan),
        frame["latency_ms"].to_numpy(np.float64, na_value=np.nan),
    )
    np.testing.assert_array_equal(
        events["timestamp"].astype("datetime64[ns, UTC]").to_numpy(),
        frame["timestamp"].astype("datetime64[ns, UTC]").to_numpy(),
    )
    assert (
        events["endpoint"]
        .astype(object)
        .where(events["endpoint"].notna(), None)
        .tolist()
        == frame["endpoint"]
        .astype(object)
        .where(frame["endpoint"].notna(), None)
        .tolist()
    )


def _id(case: dict[str, Any]) -> str:
    return "-".join(str(v) for v in case.values())


@pytest.mark.parametrize("case", FAST, ids=_id)
def test_path_equals_pandas_read_parquet(tmp_path: Path, case: dict[str, Any]) -> None:
    _check(tmp_path, case, seed=len(_id(case)))


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=_id)
def test_path_equals_pandas_read_parquet_many(
    tmp_path: Path, case: dict[str, Any]
) -> None:
    _check(tmp_path, case, seed=len(_id(case)))


# -- regressions of issue 11 -----------------------------------------------------------


@pytest.mark.parametrize("every", ["1h", None])
def test_timestamp_beyond_nanoseconds_names_file_and_row(
    tmp_path: Path, every: str | None
) -> None:
    # Item 5: ms data in the year 3000 once raised pyarrow's raw ArrowInvalid (streamed)
    # or was read without a word; like read_events, it is an error naming the row.
    ms = START // 10**6 + np.arange(3_000) * 1_000
    ms[1_717] = np.datetime64("3000-01-01", "ms").astype(np.int64)
    table = pa.table(
        {
            "timestamp": pa.array(ms, pa.timestamp("ms", tz="UTC")),
            "endpoint": pa.array(["/a", "/b"] * 1_500).dictionary_encode(),
            "latency_ms": np.linspace(1.0, 9.0, 3_000),
        }
    )
    path = tmp_path / "y3k.parquet"
    pq.write_table(table, path, row_group_size=1_000)
    with pytest.raises(ValueError, match=r"y3k\.parquet: timestamp at row 1717 \(3000"):
        summarize(path, by="endpoint", every=every)
    with pytest.raises(ValueError, match=r"row 1717"):
        read_events(path)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_polars_categorical_with_nulls(tmp_path: Path, compression: str) -> None:
    # Item 7: polars writes uint32 dictionary indices; filling their nulls with -1 was an
    # OverflowError.
    pl = pytest.importorskip("polars")
    n = 3_000
    frame = pl.DataFrame(
        {
            "timestamp": pl.Series(START + np.arange(n) * 10**9).cast(
                pl.Datetime("ns", "UTC")
            ),
            "endpoint": pl.Series(
                [None if i % 7 == 0 else ("/a" if i % 2 else "/b") for i in range(n)],
                dtype=pl.Categorical,
            ),
            "latency_ms": np.linspace(1.0, 9.0, n),
        }
    )
    path = tmp_path / "polars.parquet"
    frame.write_parquet(path, row_group_size=1_000, compression=compression)
    from_path = summarize(path, by="endpoint", every="1h")
    from_frame = summarize(pd.read_parquet(path), by="endpoint", every="1h")
    pd.testing.assert_frame_equal(from_path.table, from_frame.table, check_exact=True)
    assert from_path.table["count"].tolist() == [1286, 1285, 429]  # /a, /b, missing


def test_many_tiny_row_groups_are_read_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Item 14: one read per one-row row group cost 25-38 s for 20,000 of them; small row
    # groups are now read several at a time, each with its own dictionary.
    rng = np.random.default_rng(3)
    path = tmp_path / "tiny.parquet"
    schema = pa.schema(
        [
            ("timestamp", pa.timestamp("ns", tz="UTC")),
            ("endpoint", pa.dictionary(pa.int32(), pa.string())),
            ("latency_ms", pa.float64()),
        ]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for g in range(300):
            n = int(rng.integers(1, 4))
            names = rng.choice(["/a", "/b", "/c"], n)
            writer.write_table(
                pa.table(
                    {
                        "timestamp": pa.array(
                            START + g * 60 * 10**9 + np.arange(n), schema[0].type
                        ),
                        "endpoint": pa.array(names).dictionary_encode(),
                        "latency_ms": rng.lognormal(6.0, 1.0, n),
                    },
                    schema=schema,
                )
            )
    reads: list[int] = []
    monkeypatch.setattr(parquet_module, "BATCH_ROWS", 50)
    real_open = parquet_module.open_file

    def counting_open(p: Any, footer: Any = None) -> Any:
        pf = real_open(p, footer)
        read = pf.read_row_groups

        def read_row_groups(groups: list[int], **kw: Any) -> Any:
            reads.append(len(groups))
            return read(groups, **kw)

        pf.read_row_groups = read_row_groups
        return pf

    monkeypatch.setattr(parquet_module, "open_file", counting_open)
    from_path = summarize(path, by="endpoint", every="1h")
    from_frame = summarize(pd.read_parquet(path), by="endpoint", every="1h")
    pd.testing.assert_frame_equal(from_path.table, from_frame.table, check_exact=True)
    assert sum(reads) == 300 and len(reads) < 300 // 10


def test_window_codes_write_into_the_callers_array() -> None:
    # The streamed summary reuses its code arrays; a wrong one is refused, not resized.
    from perfstats import _core

    hour = 3_600_000_000_000
    ts = np.array([0, 5, 10, hour + 1], dtype=np.int64)
    keys = np.array([0, 1, 0, 1], dtype=np.int32)
    out = np.full(4, -1, np.int32)
    codes, counts = _core.window_codes(keys, 2, ts, 0, hour, 2, threads=1, out=out)
    assert codes is out
    np.testing.assert_array_equal(out, [0, 2, 0, 3])  # key * windows + window
    np.testing.assert_array_equal(counts, [2, 0, 1, 1])
    for wrong in (np.zeros(4, np.int64), np.zeros(3, np.int32), [0, 0, 0, 0]):
        with pytest.raises(TypeError, match="writeable contiguous int32"):
            _core.window_codes(keys, 2, ts, 0, hour, 2, out=wrong)
