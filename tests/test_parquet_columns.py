"""The C++ Parquet page decoder (perfstats.io._parquet_columns) against pyarrow, the oracle:
the same values for every writer option it handles, None (so summarize reads the row
group with pyarrow) for what it does not, and no crash on damaged bytes."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perfstats import _core, summarize
from perfstats.io._parquet_columns import _CODECS, ParquetColumns

N = 7_000


def _table(seed: int = 0, *, nulls: bool = False, unit: str = "ns") -> pa.Table:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-03-01", tz="UTC").value
    ts = start + np.sort(rng.integers(0, 2 * 86_400 * 10**9, N))
    lat = rng.lognormal(6.0, 1.0, N)
    endpoint = np.where(rng.random(N) < 0.2, "/api/chat-v2", "/api/chat")
    ts_mask = lat_mask = key_mask = None
    if nulls:
        lat_mask = rng.random(N) < 0.05
        key_mask = rng.random(N) < 0.05
        ts_mask = np.zeros(N, dtype=bool)
        ts_mask[4_321] = True
    stamps = pa.array(ts, type=pa.timestamp("ns", tz="UTC"), mask=ts_mask)
    if unit != "ns":
        stamps = stamps.cast(pa.timestamp(unit, tz="UTC"), safe=False)
    return pa.table(
        {
            "timestamp": stamps,
            "endpoint": pa.array(endpoint, mask=key_mask).dictionary_encode(),
            "latency_ms": pa.array(lat, mask=lat_mask),
        }
    )


def _read_all(path: Path) -> list[dict[str, Any]]:
    """What the decoder reads of every row group (None where it declines)."""
    meta = pq.ParquetFile(path).metadata
    out = []
    with ParquetColumns(path, meta) as columns:
        for r in range(meta.num_row_groups):
            n = meta.row_group(r).num_rows
            ts = np.full(n, -7, np.int64)
            keys = np.full(n, -7, np.int32)
            lat = np.full(n, -7.0)
            out.append(
                {
                    "first_null": columns.int64(r, "timestamp", ts),
                    "ts": ts,
                    "dictionary": columns.strings(r, "endpoint", keys),
                    "keys": keys,
                    "read_latency": columns.float64(r, "latency_ms", lat),
                    "latency": lat,
                }
            )
    return out


def _check_against_pyarrow(path: Path, expect_read: bool) -> None:
    pf = pq.ParquetFile(path)
    for r, got in enumerate(_read_all(path)):
        table = pf.read_row_group(r)
        if not expect_read:
            assert got["first_null"] is None
            assert got["dictionary"] is None
            assert got["read_latency"] is False
            continue
        stamps = table.column("timestamp").combine_chunks()
        raw = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False)
        nulls = stamps.is_null().to_numpy(zero_copy_only=False)
        first = int(np.flatnonzero(nulls)[0]) if nulls.any() else len(raw)
        assert got["first_null"] == first
        assert np.array_equal(got["ts"][~nulls], raw[~nulls])
        keys = table.column("endpoint").combine_chunks()
        if not pa.types.is_dictionary(keys.type):
            keys = keys.dictionary_encode()
        values = keys.dictionary.to_pylist()
        assert got["dictionary"] is not None
        decoded = [None if i < 0 else got["dictionary"][i] for i in got["keys"]]
        assert decoded == [
            None if v is None else values[v] for v in keys.indices.to_pylist()
        ]
        lat = table.column("latency_ms").combine_chunks()
        want = lat.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        assert got["read_latency"] is True
        np.testing.assert_array_equal(got["latency"], want)  # NaN where null


WRITER_OPTIONS = [
    dict(compression=c, use_dictionary=d, data_page_version=v, data_page_size=s)
    for c, d, v, s in itertools.product(
        ["none", "snappy", "zstd"], [True, False], ["1.0", "2.0"], [None, 2_000]
    )
]


@pytest.mark.parametrize(
    "options", WRITER_OPTIONS, ids=lambda o: "-".join(map(str, o.values()))
)
@pytest.mark.parametrize("nulls", [False, True])
def test_decoder_equals_pyarrow(
    tmp_path: Path, options: dict[str, Any], nulls: bool
) -> None:
    table = _table(1, nulls=nulls)
    if not options["use_dictionary"]:
        options = {
            **options,
            "use_dictionary": ["endpoint"],
        }  # the key stays a dictionary
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=3_000, **options)
    if options["data_page_size"]:
        assert pq.ParquetFile(path).metadata.row_group(0).num_rows == 3_000
    _check_against_pyarrow(path, expect_read=True)


@pytest.mark.parametrize("unit", ["ms", "us"])
def test_decoder_reads_other_units_and_float32(tmp_path: Path, unit: str) -> None:
    table = _table(2, unit=unit)
    table = table.set_column(2, "latency_ms", table.column(2).cast(pa.float32()))
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=2_500)
    _check_against_pyarrow(path, expect_read=True)


def test_decoder_declines_what_it_does_not_handle(tmp_path: Path) -> None:
    table = _table(3)
    path = tmp_path / "gzip.parquet"
    pq.write_table(table, path, compression="gzip")
    _check_against_pyarrow(path, expect_read=False)
    # delta-encoded timestamps, byte-stream-split latencies and plain (not dictionary) keys
    path = tmp_path / "encodings.parquet"
    pq.write_table(
        table.set_column(1, "endpoint", table.column(1).cast(pa.string())),
        path,
        use_dictionary=False,
        column_encoding={
            "timestamp": "DELTA_BINARY_PACKED",
            "latency_ms": "BYTE_STREAM_SPLIT",
            "endpoint": "PLAIN",
        },
    )
    _check_against_pyarrow(path, expect_read=False)


def test_key_column_whose_dictionary_overflowed_is_declined(tmp_path: Path) -> None:
    # A writer falls back to plain pages once the dictionary page is full: those row
    # groups are left to pyarrow, and summarize still equals the DataFrame path.
    rng = np.random.default_rng(4)
    table = _table(4)
    users = pa.array([f"user-{i}" for i in rng.integers(0, 5_000, N)])
    table = table.set_column(1, "endpoint", users)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, dictionary_pagesize_limit=2_000, row_group_size=3_500)
    encodings = pq.ParquetFile(path).metadata.row_group(0).column(1).encodings
    assert "PLAIN" in encodings
    assert all(g["dictionary"] is None for g in _read_all(path))
    from_path = summarize(path, by="endpoint", every="1h")
    from_frame = summarize(pd.read_parquet(path), by="endpoint", every="1h")
    pd.testing.assert_frame_equal(from_path.table, from_frame.table, check_exact=True)


def _frames_equal(path: Path, by: str = "endpoint", every: str = "1h") -> None:
    from_path = summarize(path, by=by, every=every)
    from_frame = summarize(pd.read_parquet(path), by=by, every=every)
    pd.testing.assert_frame_equal(from_path.table, from_frame.table, check_exact=True)
    for key, metrics in from_frame.sketches.items():
        for metric, sketch in metrics.items():
            assert from_path.sketches[key][metric].to_bytes() == sketch.to_bytes()


@pytest.mark.parametrize("writer", ["polars", "duckdb", "pandas-v2-zstd"])
def test_summarize_files_of_other_writers(tmp_path: Path, writer: str) -> None:
    frame = _table(5).to_pandas()
    frame["endpoint"] = frame["endpoint"].astype(str)
    path = tmp_path / f"{writer}.parquet"
    if writer == "polars":
        pl = pytest.importorskip("polars")
        pl.from_pandas(frame).write_parquet(path, row_group_size=2_000)
    elif writer == "duckdb":
        duckdb = pytest.importorskip("duckdb")
        with duckdb.connect() as con:
            con.register("frame", frame)
            con.execute(f"COPY frame TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 2048)")
    else:
        frame["endpoint"] = frame["endpoint"].astype("category")
        frame.to_parquet(path, compression="zstd", data_page_version="2.0")
    assert all(
        g["dictionary"] is not None for g in _read_all(path)
    )  # the decoder read it
    _frames_equal(path)


def _chunk_bytes(path: Path, column: int) -> tuple[bytes, int, int]:
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(0).column(column)
    start = (
        chunk.dictionary_page_offset
        if chunk.has_dictionary_page
        else chunk.data_page_offset
    )
    data = path.read_bytes()[start : start + chunk.total_compressed_size]
    codec = _CODECS[chunk.compression]
    return data, codec, meta.row_group(0).num_rows


@pytest.mark.parametrize("compression", ["none", "snappy", "zstd"])
def test_damaged_chunks_raise_and_never_crash(tmp_path: Path, compression: str) -> None:
    # Truncations at every length and random byte changes: each call returns or raises
    # ValueError (malformed) or NotImplementedError (unsupported), and never writes past
    # the output (a guard array after it stays untouched).
    path = tmp_path / "t.parquet"
    pq.write_table(
        _table(6, nulls=True), path, compression=compression, data_page_size=3_000
    )
    rng = np.random.default_rng(7)
    for column, physical in ((0, 2), (1, 6), (2, 5)):
        data, codec, n = _chunk_bytes(path, column)
        cases = [data[:k] for k in range(0, len(data), max(1, len(data) // 400))]
        for _ in range(400):
            damaged = bytearray(data)
            for at in rng.integers(0, len(data), rng.integers(1, 4)):
                damaged[at] = int(rng.integers(0, 256))
            cases.append(bytes(damaged))
        failures = 0
        for case in cases:
            guard = np.zeros(n + 16, np.int64 if physical == 2 else np.float64)
            try:
                if physical == 2:
                    _core.parquet_read_int64(case, codec, n, 1, guard[:n])
                elif physical == 6:
                    keys = np.zeros(n + 16, np.int32)
                    _core.parquet_read_dictionary(case, codec, n, 1, keys[:n])
                    assert not keys[n:].any()
                else:
                    _core.parquet_read_double(case, physical, codec, n, 1, guard[:n])
            except (ValueError, NotImplementedError):
                failures += 1
            assert not guard[n:].any()
        assert failures > len(cases) // 4  # truncated chunks are refused, not misread


def _damage(path: Path, row_group: int) -> None:
    """Overwrites bytes inside the first Snappy page of row group `row_group`'s timestamps."""
    chunk = pq.ParquetFile(path).metadata.row_group(row_group).column(0)
    start = chunk.data_page_offset
    raw = bytearray(path.read_bytes())
    raw[start + 40 : start + 200] = b"\xff" * 160
    path.write_bytes(bytes(raw))


def test_damaged_file_names_file_and_row_group(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(_table(8), path, row_group_size=1_000, use_dictionary=["endpoint"])
    _damage(path, 2)
    with pytest.raises(ValueError, match=r"t\.parquet: row group 2"):
        summarize(path, by="endpoint", every="1h")


@pytest.mark.parametrize("damaged, bad_row", [(5, 1_234), (1, 5_678)])
def test_errors_are_reported_in_row_order(
    tmp_path: Path, damaged: int, bad_row: int
) -> None:
    # Row groups are decoded two at a time, so a later one may fail first; the error
    # reported is still the one earliest in the file.
    table = _table(9)
    lat = table.column("latency_ms").to_numpy().copy()
    lat[bad_row] = -5.0
    table = table.set_column(2, "latency_ms", pa.array(lat))
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=1_000, use_dictionary=["endpoint"])
    _damage(path, damaged)
    expected = (
        rf"'latency_ms' has 1 negative.*row {bad_row} "
        if bad_row // 1_000 < damaged
        else rf"row group {damaged}: "
    )
    with pytest.raises(ValueError, match=expected):
        summarize(path, by="endpoint", every="1h")


def test_bad_arguments_are_refused() -> None:
    out = np.zeros(3, np.int64)
    with pytest.raises(TypeError, match="contiguous buffer of bytes"):
        _core.parquet_read_int64(np.zeros(4, np.int32), 0, 3, 0, out)
    with pytest.raises(TypeError, match="writeable contiguous int64"):
        _core.parquet_read_int64(b"", 0, 3, 0, np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="num_values entries"):
        _core.parquet_read_int64(b"", 0, 4, 0, out)
    with pytest.raises(ValueError, match="ends after 0 of 3 values"):
        _core.parquet_read_int64(b"", 0, 3, 0, out)
    with pytest.raises(NotImplementedError, match="nested"):
        _core.parquet_read_int64(b"", 0, 3, 2, out)
    assert _core.parquet_read_int64(b"", 0, 0, 0, out[:0]) == 0
    assert not _core.parquet_codec_available(2)  # gzip: left to pyarrow


def test_window_codes_write_into_the_callers_array() -> None:
    # The streamed summary reuses its code arrays; a wrong one is refused, not resized.
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
