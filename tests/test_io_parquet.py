"""One Parquet path (issue 12): read_events and summarize (whole and streamed) read
Parquet through perfstats.io.parquet, so a damaged or out-of-range file fails with the
same message naming the file and row in all of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perfstats import read_events, summarize
from perfstats.io import parquet
from perfstats.io.schema import NS_PER_UNIT, TIME_UNITS


def _file(tmp_path: Path, stamps_us: list[int]) -> Path:
    n = len(stamps_us)
    table = pa.table(
        {
            "timestamp": pa.array(stamps_us, pa.timestamp("us", tz="UTC")),
            "endpoint": pa.array(["/a"] * n).dictionary_encode(),
            "latency_ms": np.linspace(1.0, 2.0, n),
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path, row_group_size=4)
    return path


def test_a_timestamp_beyond_nanoseconds_is_named_alike_everywhere(
    tmp_path: Path,
) -> None:
    start = 1_767_225_600_000_000  # 2026-01-01 in us
    stamps = [start + i for i in range(10)]
    stamps[6] = 10_000_000_000_000_000  # year 2286: no ns timestamp holds it
    path = _file(tmp_path, stamps)
    messages = []
    for read in (lambda: summarize(path), lambda: summarize(path, every="1h")):
        with pytest.raises(ValueError, match="outside the range") as err:
            read()
        messages.append(str(err.value))
    assert len(set(messages)) == 1, messages  # the whole and the streamed read
    assert str(path) in messages[0] and "row 6" in messages[0]
    # read_events names the row too, and can skip it (a row-level problem)
    with pytest.raises(ValueError, match=r"row 6, column 'timestamp'") as err:
        read_events(path)
    assert str(path) in str(err.value)
    ev = read_events(path, errors="skip")
    assert len(ev) == 9 and ev.skipped["row"].tolist() == [6]


def test_read_row_groups_yields_ns_timestamps_codes_and_floats(tmp_path: Path) -> None:
    start = 1_767_225_600_000_000
    path = _file(tmp_path, [start + i for i in range(10)])
    pf = parquet.open_file(path)
    got = parquet.read_row_groups(
        pf,
        path,
        [1, 2],
        4,
        6,
        ["timestamp", "endpoint", "latency_ms"],
        key="endpoint",
        floats="latency_ms",
    )
    assert got.timestamps is not None and got.timestamps.dtype == np.int64
    np.testing.assert_array_equal(got.timestamps, (start + np.arange(4, 10)) * 1000)
    assert got.dictionary == ["/a"] and got.key_codes is not None
    np.testing.assert_array_equal(got.key_codes, np.zeros(6))
    np.testing.assert_array_equal(got.floats, np.linspace(1.0, 2.0, 10)[4:])


def test_one_unit_table() -> None:
    assert TIME_UNITS == {u: ns / 1e6 for u, ns in NS_PER_UNIT.items()}
    assert TIME_UNITS == {"s": 1e3, "ms": 1.0, "us": 1e-3, "ns": 1e-6}


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the footer parses: pyarrow's (an open without metadata) and the bounded
    reader's."""
    calls = {"pyarrow": 0, "bounded": 0}
    real_open, real_groups = parquet._open, parquet.row_groups

    def counted_open(path: object, metadata: object) -> object:
        calls["pyarrow"] += metadata is None
        return real_open(path, metadata)  # type: ignore[arg-type]

    def counted_groups(path: object) -> object:
        calls["bounded"] += 1
        return real_groups(path)  # type: ignore[arg-type]

    monkeypatch.setattr(parquet, "_open", counted_open)
    monkeypatch.setattr(parquet, "row_groups", counted_groups)
    return calls


@pytest.mark.parametrize(
    "every", [None, "1h", "1s"], ids=["whole", "streamed", "sparse-span-whole"]
)
def test_summarize_parses_the_footer_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: str | None
) -> None:
    start = 1_767_225_600_000_000
    stamps = [start + i * 1_000_000 for i in range(40)]
    if every == "1s":
        stamps[-1] = (
            start + 10**15
        )  # decades away: windows numbered only where rows are
    path = _file(tmp_path, stamps)
    calls = _counting(monkeypatch)
    s = summarize(path, by="endpoint", every=every)
    assert int(s.table["count"].sum()) == 40
    assert calls == {"pyarrow": 1, "bounded": 1}
    calls.update(pyarrow=0, bounded=0)
    assert len(read_events(path)) == 40
    assert calls == {"pyarrow": 1, "bounded": 1}


def test_read_events_reads_a_recorder_folder_while_it_records(tmp_path: Path) -> None:
    # issue 17: a Recorder's Parquet sink is a folder of part files; read_events reads
    # it in name order, also while the recorder is still writing parts
    import threading

    from perfstats import Recorder

    path = tmp_path / "events.parquet"
    rec = Recorder(path, batch_size=7, flush_interval=0.01)
    n_spans = 400
    stop = threading.Event()

    def record() -> None:
        for i in range(n_spans):
            with rec.span("chat", endpoint=f"/e{i % 3}") as s:
                s.set(i=i)
            if i % 50 == 0:
                stop.wait(0.01)

    writer = threading.Thread(target=record)
    try:
        writer.start()
        seen = []
        while writer.is_alive() or not seen:
            if parquet.part_files(path):
                seen.append(len(read_events(path)))  # whole parts only, never torn
        writer.join()
        rec.flush()
        assert seen == sorted(seen) and seen[-1] <= n_spans
        assert len(read_events(path)) == n_spans  # the recorder still open
        # a part still being written by another writer (no temporary name): its
        # footer is incomplete, so it is skipped with a warning naming it
        whole = parquet.part_files(path)[0].read_bytes()
        partial = path / "part-zz-being-written.parquet"
        partial.write_bytes(whole[: len(whole) // 2])
        with pytest.warns(parquet.SkippedPartWarning, match="part-zz-being-written"):
            assert len(read_events(path)) == n_spans
        partial.unlink()
        with rec.span("chat", endpoint="/late"):
            pass
    finally:
        stop.set()
        writer.join()
        rec.close()
    ev = read_events(path)
    assert len(ev) == n_spans + 1
    # parts in name order: one process's parts are numbered in the order written
    order = ev.frame["i"].dropna().astype(int).tolist()
    assert order == list(range(n_spans))
    assert ev.frame["endpoint"].iloc[-1] == "/late"


def test_a_folder_without_parts_or_as_another_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without Parquet part files"):
        read_events(tmp_path)
    with pytest.raises(ValueError, match="is a directory"):
        read_events(tmp_path, format="csv")
