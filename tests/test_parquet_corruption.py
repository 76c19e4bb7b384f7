"""Hostile Parquet files: summarize(path) and read_events(path) never crash and never answer
what pyarrow would not. Every damaged file gives a clean ValueError/NotImplementedError
naming the file, or the answer of pandas.read_parquet (pyarrow) on it.

Runs that could kill the interpreter (a file shrinking under the reader, damaged bytes fed
to the decoders) run in a child process, so a crash is a failed test, not a dead suite.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import perfstats
from perfstats import read_events, summarize

START = pd.Timestamp("2026-03-01", tz="UTC").value


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(perfstats.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _child(
    code: str, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
        check=False,
    )


def _events(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ts = START + np.sort(rng.integers(0, 3 * 3_600 * 10**9, n))
    return pa.table(
        {
            "timestamp": pa.array(ts, pa.timestamp("ns", tz="UTC")),
            "endpoint": pa.array(
                np.where(rng.random(n) < 0.3, "/b", "/a")
            ).dictionary_encode(),
            "latency_ms": rng.lognormal(6.0, 1.0, n),
            "success": rng.random(n) > 0.02,
        }
    )


# -- a file that shrinks while it is read (issue 11, item 3) ---------------------------

_SHRINKING = """
    import json, sys, threading, time
    import numpy as np
    from perfstats import summarize

    path, runs = sys.argv[1], int(sys.argv[2])
    data = open(path, "rb").read()
    expected = summarize(path, by="endpoint", every="1h").table
    stop = threading.Event()

    def rewrite():  # an export job rewriting the file, truncating it first
        rng = np.random.default_rng(1)
        while not stop.is_set():
            with open(path, "r+b") as f:
                f.truncate(int(rng.integers(0, len(data))))
            time.sleep(float(rng.uniform(0, 0.002)))
            with open(path, "wb") as f:
                f.write(data)
            time.sleep(float(rng.uniform(0, 0.05)))  # whole most of the time

    writer = threading.Thread(target=rewrite)
    writer.start()
    outcomes = {"same": 0, "error": 0, "unclean": []}
    try:
        for _ in range(runs):
            try:
                table = summarize(path, by="endpoint", every="1h").table
            except Exception as e:
                if isinstance(e, (ValueError, NotImplementedError)) and path in str(e):
                    outcomes["error"] += 1
                else:
                    outcomes["unclean"].append(repr(e))
            else:
                if table.equals(expected):
                    outcomes["same"] += 1
                else:
                    outcomes["unclean"].append("a different answer")
    finally:
        stop.set()
        writer.join()
    print(json.dumps(outcomes))
"""


def test_file_shrinking_while_read_is_a_clean_error(tmp_path: Path) -> None:
    # With a memory map, a page of the file that is gone when touched is SIGBUS: the
    # process dies (5 of 22 runs in the review). Read with pread, it is a short read.
    path = tmp_path / "events.parquet"
    pq.write_table(_events(400_000), path, row_group_size=50_000, compression="none")
    done = _child(_SHRINKING, str(path), "40")
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])  # -7: SIGBUS
    outcomes = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcomes["unclean"] == []
    assert outcomes["error"] > 0  # the file did shrink under some reads


# -- a dictionary index equal to the dictionary's size (item 4) ------------------------


def _bad_dictionary_index(path: Path) -> None:
    """A file whose last 1,000 keys point one past the dictionary (one byte changed)."""
    n = 3_000
    table = pa.table(
        {
            "timestamp": pa.array(
                START + np.arange(n) * 10**9, pa.timestamp("ns", tz="UTC")
            ),
            "endpoint": pa.array(
                ["/a"] * 1_000 + ["/b"] * 1_000 + ["/c"] * 1_000
            ).dictionary_encode(),
            "latency_ms": np.linspace(1.0, 100.0, n),
        }
    )
    pq.write_table(table, path, compression="none")
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(1)
    end = chunk.dictionary_page_offset + chunk.total_compressed_size
    raw = bytearray(path.read_bytes())
    # the chunk ends with three RLE runs of 1,000 indices (0, 1, 2), each value one byte
    assert raw[end - 1] == 2
    raw[end - 1] = 3
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("every", ["1h", None])
def test_dictionary_index_past_the_dictionary_is_refused(
    tmp_path: Path, every: str | None
) -> None:
    path = tmp_path / "keys.parquet"
    _bad_dictionary_index(path)
    with pytest.raises(pa.ArrowException):  # what pyarrow says of it
        pd.read_parquet(path)
    # not a phantom `nan` group of 1,000 rows
    with pytest.raises(
        ValueError, match=r"keys\.parquet: row group 0: column 'endpoint'"
    ):
        summarize(path, by="endpoint", every=every)
    with pytest.raises(ValueError, match=r"keys\.parquet"):
        read_events(path)


# -- footer statistics that do not bound the data (item 11) -----------------------------


def _edit_timestamp_statistic(path: Path, which: str, to: int) -> None:
    """Replaces the row group's min or max timestamp statistic in the footer."""
    stats = pq.ParquetFile(path).metadata.row_group(0).column(0).statistics
    old = stats.min_raw if which == "min" else stats.max_raw
    raw = path.read_bytes()
    footer_len = struct.unpack("<i", raw[-8:-4])[0]
    start = len(raw) - 8 - footer_len
    footer = raw[start:]
    assert footer.count(struct.pack("<q", old)) >= 1
    footer = footer.replace(struct.pack("<q", old), struct.pack("<q", to))
    path.write_bytes(raw[:start] + footer)


@pytest.mark.parametrize(
    "which, shift_hours",
    [("max", -2), ("min", 2), ("min", -20), ("min", -24 * 365 * 300)],
)
def test_edited_footer_statistic_gives_pyarrows_answer(
    tmp_path: Path, which: str, shift_hours: int
) -> None:
    # Statistics narrower than the data once made a readable file refused ("outside the
    # window grid"); wider ones (300 years) made the grid as large as the span, and 20
    # hours wider gave the first window a coverage from the statistics, not the data.
    path = tmp_path / "stats.parquet"
    pq.write_table(_events(5_000), path)
    stats = pq.ParquetFile(path).metadata.row_group(0).column(0).statistics
    old = stats.min_raw if which == "min" else stats.max_raw
    _edit_timestamp_statistic(path, which, old + shift_hours * 3_600 * 10**9)
    frame = pd.read_parquet(path)  # pyarrow reads it
    from_path = summarize(path, by="endpoint", every="1h")
    from_frame = summarize(frame, by="endpoint", every="1h")
    pd.testing.assert_frame_equal(from_path.table, from_frame.table, check_exact=True)


# -- the corruption suite -------------------------------------------------------------

_CORRUPTION = """
    import json, sys
    import numpy as np, pandas as pd
    from perfstats import read_events, summarize

    source, scratch, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    data = open(source, "rb").read()
    rng = np.random.default_rng(seed)
    footer_len = int.from_bytes(data[-8:-4], "little")
    footer = len(data) - 8 - footer_len
    cases = []
    for at in sorted(rng.choice(len(data), size=count, replace=False)):
        cases.append(("truncate", int(at), data[: int(at)]))
    for _ in range(count):
        damaged = bytearray(data)
        for at in rng.integers(0, len(data), int(rng.integers(1, 4))):
            damaged[at] = int(rng.integers(0, 256))
        cases.append(("flip", int(at), bytes(damaged)))
    for _ in range(count):  # the footer: metadata, statistics, offsets, lengths
        damaged = bytearray(data)
        at = int(rng.integers(footer, len(data) - 8))
        damaged[at] = int(rng.integers(0, 256))
        cases.append(("footer", at, bytes(damaged)))

    def outcome(fn):
        try:
            return "ok", fn()
        except Exception as e:
            return "error", e

    bad = []
    seen = {"same": 0, "clean error": 0}
    for kind, at, raw in cases:
        with open(scratch, "wb") as f:
            f.write(raw)
        status, frame = outcome(lambda: pd.read_parquet(scratch))
        oracle = {}
        if status == "ok":
            for every in ("1h", None):
                oracle[every] = outcome(
                    lambda: summarize(frame, by="endpoint", every=every).table
                )
        for every in ("1h", None):
            got = outcome(lambda: summarize(scratch, by="endpoint", every=every).table)
            want = oracle.get(every)
            if got[0] == "ok":
                if want is not None and want[0] == "ok" and got[1].equals(want[1]):
                    seen["same"] += 1
                else:
                    bad.append([kind, at, every, f"answered; pyarrow path gave {want}"])
            elif not isinstance(got[1], (ValueError, NotImplementedError)):
                bad.append([kind, at, every, repr(got[1])])
            elif (want is None or want[0] == "ok") and scratch not in str(got[1]):
                bad.append([kind, at, every, f"file not named: {got[1]!r}"])
            else:
                seen["clean error"] += 1
        got = outcome(lambda: read_events(scratch))
        if got[0] == "error" and not (
            isinstance(got[1], (ValueError, NotImplementedError))
            and scratch in str(got[1])
        ):
            bad.append([kind, at, "read_events", repr(got[1])])
    print(json.dumps({"bad": bad, "seen": seen}))
"""


def _corruption_run(tmp_path: Path, seed: int, count: int) -> None:
    source = tmp_path / "source.parquet"
    pq.write_table(
        _events(3_000, seed),
        source,
        row_group_size=1_000,
        data_page_size=4_000,
        compression=["snappy", "zstd", "none"][seed % 3],
    )
    done = _child(
        _CORRUPTION,
        str(source),
        str(tmp_path / "damaged.parquet"),
        str(seed),
        str(count),
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["bad"] == [], report["bad"][:10]
    assert report["seen"]["clean error"] > 0


def test_damaged_files_give_a_clean_error_or_pyarrows_answer(tmp_path: Path) -> None:
    # Fast: 3 x 12 truncations, byte flips and footer edits of one small file.
    _corruption_run(tmp_path, seed=0, count=12)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=False,
    reason="open finding of the larger run (seed 2): a footer edit damaging the time "
    "zone name in the Arrow schema metadata: pandas.read_parquet raises, summarize's "
    "streamed read (which reads the timestamps as UTC integers) answers",
)
@pytest.mark.parametrize("seed", range(1, 7))
def test_damaged_files_many(tmp_path: Path, seed: int) -> None:
    _corruption_run(tmp_path, seed=seed, count=120)


def _damage(path: Path, row_group: int) -> None:
    """Overwrites bytes inside the first Snappy page of row group `row_group`'s timestamps."""
    chunk = pq.ParquetFile(path).metadata.row_group(row_group).column(0)
    start = chunk.data_page_offset
    raw = bytearray(path.read_bytes())
    raw[start + 40 : start + 200] = b"\xff" * 160
    path.write_bytes(bytes(raw))


def test_damaged_file_names_file_and_row_group(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(_events(7_000, 8), path, row_group_size=1_000)
    _damage(path, 2)
    with pytest.raises(ValueError, match=r"t\.parquet: row group 2"):
        summarize(path, by="endpoint", every="1h")


@pytest.mark.parametrize("damaged, bad_row", [(5, 1_234), (1, 5_678)])
def test_errors_are_reported_in_row_order(
    tmp_path: Path, damaged: int, bad_row: int
) -> None:
    # Row groups are decoded two at a time, so a later one may fail first; the error
    # reported is still the one earliest in the file.
    table = _events(7_000, 9)
    lat = table.column("latency_ms").to_numpy().copy()
    lat[bad_row] = -5.0
    table = table.set_column(2, "latency_ms", pa.array(lat))
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=1_000)
    _damage(path, damaged)
    expected = (
        rf"'latency_ms' has 1 negative.*row {bad_row} "
        if bad_row // 1_000 < damaged
        else rf"row group {damaged}: "
    )
    with pytest.raises(ValueError, match=expected):
        summarize(path, by="endpoint", every="1h")


# -- footer metadata that pyarrow's accessors abort on ---------------------------------


def _chunk_type_edited(tmp_path: Path) -> Path:
    """A file whose first timestamp chunk declares an unknown physical type (its schema
    says INT64): pyarrow's ``metadata.row_group(0).column(0)`` aborts the process."""
    path = tmp_path / "chunk_type.parquet"
    pq.write_table(_events(3_000, 3), path, row_group_size=1_000)
    raw = bytearray(path.read_bytes())
    start = len(raw) - 8 - int.from_bytes(raw[-8:-4], "little")
    first = raw.index(b"\x09timestamp", start)  # the schema element's name
    at = raw.index(b"\x09timestamp", first + 1)  # the chunk's path_in_schema
    raw[raw.rindex(b"\x15\x04", start, at) + 1] = 0x7E  # type: INT64 -> 63
    path.write_bytes(bytes(raw))
    return path


def test_chunk_type_contradicting_the_schema_is_a_clean_error(tmp_path: Path) -> None:
    path = _chunk_type_edited(tmp_path)
    done = _child(
        """
        import sys
        from perfstats import read_events, summarize
        for call in (lambda: summarize(sys.argv[1], by="endpoint", every="1h"),
                     lambda: summarize(sys.argv[1]), lambda: read_events(sys.argv[1])):
            try:
                call()
                print("answered")
            except ValueError as e:
                print("clean", sys.argv[1] in str(e))
        """,
        str(path),
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.split() == ["clean", "True"] * 3


def test_footer_reader_matches_pyarrow_statistics(tmp_path: Path) -> None:
    from perfstats.io._parquet_footer import chunk_types, timestamp_ranges

    path = tmp_path / "t.parquet"
    table = _events(5_000, 4)
    pq.write_table(table, path, row_group_size=700)
    meta = pq.ParquetFile(path).metadata
    k = [meta.schema.column(i).path for i in range(meta.num_columns)].index("timestamp")
    want = []
    for r in range(meta.num_row_groups):
        stats = meta.row_group(r).column(k).statistics
        want.append((meta.row_group(r).num_rows, (stats.min_raw, stats.max_raw)))
    assert timestamp_ranges(path) == want
    types = chunk_types(path)
    assert types is not None and len(types) == meta.num_row_groups
    assert types[0][("timestamp",)] == "INT64"


def test_footer_reader_answers_or_says_none_on_any_damage(tmp_path: Path) -> None:
    from perfstats.io._parquet_footer import chunk_types, timestamp_ranges

    path = tmp_path / "t.parquet"
    pq.write_table(_events(2_000, 5), path, row_group_size=500)
    data = path.read_bytes()
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    rng = np.random.default_rng(9)
    damaged_path = tmp_path / "d.parquet"
    for _ in range(400):
        raw = bytearray(data)
        for at in rng.integers(footer, len(data), int(rng.integers(1, 4))):
            raw[at] = int(rng.integers(0, 256))
        damaged_path.write_bytes(bytes(raw[: int(rng.integers(footer, len(raw) + 1))]))
        for read in (timestamp_ranges, chunk_types):
            got = read(damaged_path)
            assert got is None or isinstance(got, list)
