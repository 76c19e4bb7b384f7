"""Interop: HdrHistogram logs (upstream values, hdrh oracle), OTLP JSON, DDSketch."""

from __future__ import annotations

import base64
import json
import math
import struct
import subprocess
import sys
import zlib
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from perfstats import (
    HdrHistogramData,
    HdrInterval,
    QuantileSketch,
    read_hdrhistogram_log,
    sketch_from_ddsketch,
    sketch_from_otel,
    sketch_to_ddsketch,
    sketch_to_otel,
)

QS = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0)


def hdr_dir(shared_data: Path) -> Path:
    return shared_data / "latency" / "hdrhistogram"


def accumulate(intervals: list[HdrInterval]) -> HdrHistogramData:
    """As HdrHistogram's tests do: add every interval into ``new Histogram(3)``."""
    return reduce(
        lambda acc, i: acc.merge(i.histogram), intervals, HdrHistogramData.empty()
    )


def expanded(h: HdrHistogramData) -> np.ndarray:
    return np.repeat(h.highest_equivalent_values, h.counts).astype(np.float64)


# ---- HdrHistogram: the values upstream asserts -------------------------------------
def test_jhiccup_log_reproduces_upstream_totals_percentile_and_max(
    shared_data: Path,
) -> None:
    folder = hdr_dir(shared_data)
    reference = json.loads((folder / "reference_values.json").read_text())
    name = "jHiccup-2.0.7S.logV2.hlog"
    intervals = read_hdrhistogram_log(folder / name)
    for row in reference[name]:
        if row["range"] is None:
            chosen = intervals
            log_start = intervals[0].start_time - intervals[0].offset
            assert log_start == pytest.approx(row["start_time_sec"], abs=1e-6)
        else:
            lo, hi = row["range"]
            chosen = [i for i in intervals if lo <= i.offset <= hi]
        h = accumulate(chosen)
        assert len(chosen) == row["histograms"]
        assert h.total_count == row["total_count"]
        assert h.value_at_percentile(99.9) == row["p99_9"]
        assert h.max == row["max"]


def test_tagged_log_total_and_tag_a_equals_untagged(shared_data: Path) -> None:
    folder = hdr_dir(shared_data)
    reference = json.loads((folder / "reference_values.json").read_text())
    intervals = read_hdrhistogram_log(folder / "tagged-Log.logV2.hlog")
    total = sum(i.histogram.total_count for i in intervals)
    assert total == reference["tagged-Log.logV2.hlog"][0]["total_count_all_tags"]
    untagged = accumulate([i for i in intervals if i.tag is None])
    tag_a = accumulate([i for i in intervals if i.tag == "A"])
    assert {i.tag for i in intervals} == {None, "A"}
    np.testing.assert_array_equal(untagged.values, tag_a.values)
    np.testing.assert_array_equal(untagged.counts, tag_a.counts)


def test_every_interval_matches_the_hdrh_package(shared_data: Path) -> None:
    from hdrh.histogram import HdrHistogram

    path = hdr_dir(shared_data) / "jHiccup-2.0.7S.logV2.hlog"
    lines = [
        ln.split(",")[-1]
        for ln in path.read_text().splitlines()
        if ln and not ln.startswith(("#", '"'))
    ]
    intervals = read_hdrhistogram_log(path)
    assert len(lines) == len(intervals)
    for encoded, interval in zip(lines, intervals, strict=True):
        oracle = HdrHistogram.decode(encoded)
        ours = interval.histogram
        nonzero = [i for i in range(oracle.counts_len) if oracle.get_count_at_index(i)]
        assert ours.values.tolist() == [oracle.get_value_from_index(i) for i in nonzero]
        assert ours.counts.tolist() == [oracle.get_count_at_index(i) for i in nonzero]
        assert ours.highest_equivalent_values.tolist() == [
            oracle.get_highest_equivalent_value(oracle.get_value_from_index(i))
            for i in nonzero
        ]
        assert ours.total_count == oracle.get_total_count()
        assert ours.max == oracle.get_max_value()
        assert ours.significant_digits == oracle.significant_figures


def test_percentiles_follow_hdrhistogram_rank_rule(shared_data: Path) -> None:
    # getValueAtPercentile: the ceil(p/100 * N)-th value (1-based), highest equivalent.
    intervals = read_hdrhistogram_log(
        hdr_dir(shared_data) / "jHiccup-2.0.7S.logV2.hlog"
    )
    h = accumulate(intervals)
    values = expanded(h)
    for p in (0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100):
        rank = max(math.ceil(p / 100 * values.size), 1)
        assert h.value_at_percentile(p) == values[rank - 1], p
    assert h.value_at_percentile(0) == h.min
    with pytest.raises(ValueError, match="percentile"):
        h.value_at_percentile(101)
    assert HdrHistogramData.empty().value_at_percentile(50) == 0


def test_to_sketch_is_within_its_accuracy(shared_data: Path) -> None:
    intervals = read_hdrhistogram_log(
        hdr_dir(shared_data) / "jHiccup-2.0.7S.logV2.hlog"
    )
    h = accumulate(intervals)
    values = expanded(h)
    for accuracy, max_buckets in ((0.01, 4096), (0.002, 16384)):
        sketch = h.to_sketch(accuracy, max_buckets=max_buckets)
        a = sketch.relative_accuracy
        assert a <= accuracy  # enough buckets: no downscaling
        assert sketch.count == h.total_count
        # The guarantee, against the sketch's rank rule (numpy "lower").
        exact = np.quantile(values, QS, method="lower")
        np.testing.assert_array_less(
            np.abs(sketch.quantile(QS) - exact), a * exact + 1e-9
        )
        # And against HdrHistogram's own percentiles (a neighbouring rank rule).
        for p in (50, 90, 99, 99.9, 100):
            hdr = h.value_at_percentile(p)
            assert abs(sketch.quantile(p / 100) - hdr) <= a * hdr, (accuracy, p)
    interval = intervals[10]
    assert interval.to_sketch().count == interval.histogram.total_count
    lowest = h.to_sketch(equivalent="lowest")
    assert lowest.min == h.min


def test_hdrh_encodings_with_large_counts_and_values_decode(tmp_path: Path) -> None:
    from hdrh.histogram import HdrHistogram

    oracle = HdrHistogram(1, 2**60, 3)
    oracle.record_value(1, 2**40)  # 6+ byte LEB128 counts
    oracle.record_value(123_456_789, 3)
    oracle.record_value(2**59, 2**30)
    encoded = oracle.encode().decode()
    log = tmp_path / "big.hlog"
    # Timestamps over a year before StartTime are relative to it (HistogramLogReader).
    log.write_text(f"#[StartTime: 1000000000.0 (s)]\n0.5,1.0,9.0,{encoded}\n")
    (interval,) = read_hdrhistogram_log(log)
    ours = interval.histogram
    assert ours.total_count == oracle.get_total_count()
    assert ours.max == oracle.get_max_value()
    assert ours.counts.tolist() == [2**40, 3, 2**30]
    assert (interval.start_time, interval.offset) == (1000000000.5, 0.5)
    absolute = tmp_path / "absolute.hlog"
    absolute.write_text(f"#[StartTime: 1000000000.0]\n1000000002.0,1.0,9.0,{encoded}\n")
    (interval,) = read_hdrhistogram_log(absolute)
    assert (interval.start_time, interval.offset) == (1000000002.0, 2.0)


# ---- HdrHistogram: V0 and V1 encodings, against the Java library's own reader -------
HDR_DATA = Path(__file__).resolve().parent / "data" / "hdrhistogram"
V0_LOG = HDR_DATA / "hiccup.140623.1028.10646.hlog"
V1_LOG = HDR_DATA / "jHiccup-2.0.6.logV1.first-interval.hlog"


def _as_java_prints(intervals: list[HdrInterval]) -> dict[str, Any]:
    """Our decoding in the shape HlogDump.java prints HdrHistogram's."""
    rows = []
    for i in intervals:
        h = i.histogram
        rows.append(
            {
                "start_ms": i.start_time * 1000,
                "total_count": h.total_count,
                "max": h.max,
                "p50": h.value_at_percentile(50),
                "p99_9": h.value_at_percentile(99.9),
                "significant_digits": h.significant_digits,
                "values": [
                    [int(v), int(c)]
                    for v, c in zip(h.highest_equivalent_values, h.counts, strict=True)
                ],
            }
        )
    acc = accumulate(intervals)
    return {
        "intervals": rows,
        "histograms": len(intervals),
        "total_count": acc.total_count,
        "p99_9": acc.value_at_percentile(99.9),
        "max": acc.max,
    }


def _assert_same_as_java(ours: dict[str, Any], java: dict[str, Any]) -> None:
    for key in ("histograms", "total_count", "p99_9", "max"):
        assert ours[key] == java[key], key
    for mine, theirs in zip(ours["intervals"], java["intervals"], strict=True):
        # Java keeps whole milliseconds of the same double
        assert mine.pop("start_ms") == pytest.approx(theirs["start_ms"], abs=1.0)
        assert mine == {k: theirs[k] for k in mine}


@pytest.mark.parametrize("log", [V0_LOG, V1_LOG], ids=["V0", "V1"])
def test_v0_v1_logs_decode_as_the_java_library_reads_them(log: Path) -> None:
    # Before: "V0/V1 encodings are not supported" (issue 14).
    reference = json.loads((HDR_DATA / "java_reference.json").read_text())
    java = reference["logs"][log.name]
    intervals = read_hdrhistogram_log(log)
    _assert_same_as_java(_as_java_prints(intervals), java)
    log_start = intervals[0].start_time - intervals[0].offset
    assert log_start == pytest.approx(java["start_time_sec"], abs=1e-6)
    assert sum(len(i["values"]) for i in java["intervals"]) > 10 * len(intervals) / 2


def _java_oracle(tmp_path: Path) -> Any:
    """Compile HlogDump.java against a local HdrHistogram jar; skip when there is none."""
    import shutil

    jars = sorted(
        (Path.home() / ".m2/repository/org/hdrhistogram/HdrHistogram").glob(
            "*/HdrHistogram-*.jar"
        )
    )
    if not (shutil.which("javac") and shutil.which("java") and jars):
        pytest.skip("java, javac or an HdrHistogram jar (~/.m2) is not on this machine")
    classes = tmp_path / "classes"
    subprocess.run(
        [
            "javac",
            "-d",
            str(classes),
            "-cp",
            str(jars[-1]),
            str(HDR_DATA / "HlogDump.java"),
        ],
        check=True,
        capture_output=True,
    )

    def run(log: Path) -> dict[str, Any]:
        done = subprocess.run(
            ["java", "-cp", f"{jars[-1]}:{classes}", "HlogDump", str(log)],
            check=True,
            capture_output=True,
            text=True,
        )
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return run


def _v0_v1(
    version: int,
    counts: list[int],
    *,
    word_size: int,
    digits: int,
    lowest: int,
    highest: int,
    compressed: bool = True,
    cookie_word_size: int | None = None,
) -> str:
    """A V0 or V1 encoding as the Java library wrote them before V2 (HdrHistogram
    2.1.x AbstractHistogram.encodeIntoByteBuffer)."""
    fmt = {2: "h", 4: "i", 8: "q"}[word_size]
    payload = struct.pack(f">{len(counts)}{fmt}", *counts)
    ws = word_size if cookie_word_size is None else cookie_word_size
    if version == 1:
        header = struct.pack(
            ">Iiiiqqd", 0x1C849301 | ws << 4, len(payload), 0, digits, lowest,
            highest, 1.0,
        )  # fmt: skip
        outer = 0x1C849302 | ws << 4
    else:
        header = struct.pack(
            ">Iiqqq",
            0x1C849308 | ws << 4,
            digits,
            lowest,
            highest,
            min(sum(counts), 2**63 - 1),
        )
        outer = 0x1C849309 | ws << 4
    if not compressed:
        return base64.b64encode(header + payload).decode()
    body = zlib.compress(header + payload)
    return base64.b64encode(struct.pack(">Ii", outer, len(body)) + body).decode()


def test_v0_v1_encodings_of_every_word_size_match_the_java_library(
    tmp_path: Path,
) -> None:
    java = _java_oracle(tmp_path)
    # The two logs: the Java reader gives what java_reference.json recorded.
    for log in (V0_LOG, V1_LOG):
        _assert_same_as_java(_as_java_prints(read_hdrhistogram_log(log)), java(log))
    # Handmade V0/V1 encodings, several word sizes and layouts: random counts at
    # random buckets (zeros between), decoded by the Java reader and by ours.
    rng = np.random.default_rng(14)
    lines = []
    for k, (version, word_size, digits, lowest, highest) in enumerate(
        [
            # (Java 2.2.2 reads V0 payloads as if of 8-byte words: it throws on a V0
            # encoding of 2- or 4-byte counts, so those are not compared here.)
            (0, 8, 1, 1, 1000),
            (0, 8, 3, 1, 3_600_000_000),
            (0, 8, 2, 20_000, 3_600_000_000_000),
            (1, 2, 2, 20_000, 3_600_000_000_000),
            (1, 4, 3, 1000, 10**12),
            (1, 8, 5, 1, 10**9),
        ]
    ):
        layout_length = HdrHistogramData.empty(
            significant_digits=digits,
            lowest_discernible_value=lowest,
            highest_trackable_value=highest,
        )._layout.counts_length
        used = int(rng.integers(1, layout_length))
        top = {2: 2**15 - 1, 4: 2**31 - 1, 8: 2**40}[word_size]
        counts = np.where(rng.random(used) < 0.3, rng.integers(1, top, used), 0)
        counts[-1] = max(counts[-1], 1)
        encoded = _v0_v1(
            version, counts.tolist(), word_size=word_size, digits=digits,
            lowest=lowest, highest=highest,
        )  # fmt: skip
        lines.append(f"{k}.000,1.000,1.0,{encoded}")
    log = tmp_path / "handmade.hlog"
    start = "#[StartTime: 1438867590.285 (seconds since epoch), Thu Aug 06 2015]\n"
    log.write_text(start + "\n".join(lines) + "\n")
    _assert_same_as_java(_as_java_prints(read_hdrhistogram_log(log)), java(log))


# ---- HdrHistogram: malformed input -------------------------------------------------
def _leb128(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _v2(
    counts_payload: bytes, digits: int = 3, lowest: int = 1, highest: int = 3600
) -> str:
    header = struct.pack(
        ">Iiiiqqd", 0x1C849303, len(counts_payload), 0, digits, lowest, highest, 1.0
    )
    compressed = zlib.compress(header + counts_payload)
    blob = struct.pack(">Ii", 0x1C849304, len(compressed)) + compressed
    return base64.b64encode(blob).decode()


_SMALL = {"digits": 2, "lowest": 1, "highest": 1000}


def _write(tmp_path: Path, encoded: str) -> Path:
    path = tmp_path / "x.hlog"
    path.write_text(f"0.0,1.0,1.0,{encoded}\n")
    return path


def test_a_handmade_v2_encoding_decodes(tmp_path: Path) -> None:
    # zigzag(5) = 10, then a run of 3 zeros (zigzag(-3) = 5), then zigzag(2) = 4.
    (interval,) = read_hdrhistogram_log(_write(tmp_path, _v2(bytes([10, 5, 4]))))
    assert interval.histogram.values.tolist() == [0, 4]
    assert interval.histogram.counts.tolist() == [5, 2]
    (empty,) = read_hdrhistogram_log(_write(tmp_path, _v2(b"")))
    assert empty.histogram.total_count == 0
    assert empty.histogram.max == 0


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ("not base64!", "line 1"),
        (base64.b64encode(b"\x00" * 12).decode(), "cookie"),
        (_v2(bytes([10]), digits=7), "significant digits"),
        (_v2(bytes([10]), lowest=0), "lowest"),
        (_v2(bytes([10]), highest=1), "highest"),
        (_v2(bytes([0xFF] * 3)), "ends inside"),
        (_v2(_leb128(2 * 2**40 - 1) + bytes([2])), "beyond"),  # 2**40 empty buckets
        (_v2(b"\x02" * 5000), "beyond"),  # more buckets than 3600 needs
        (_v2(b"\x02" * 5000)[:-8], "line 1"),  # truncated base64
        # V0/V1: a word size other than 2, 4 or 8 bytes (upstream's C reader once read
        # such counts as LEB128 past the buffer)
        (_v0_v1(1, [1, 2], word_size=2, cookie_word_size=1, **_SMALL), "word size"),
        (_v0_v1(0, [1], word_size=8, cookie_word_size=6, **_SMALL), "word size"),
        # more counts than the header's range has buckets (2 digits, 1..1000: 512)
        (_v0_v1(1, [1] * 513, word_size=2, **_SMALL), "impossible"),
        (_v0_v1(0, [0] * 512 + [1], word_size=4, **_SMALL), "longer than"),
        (_v0_v1(0, [0] * 512 + [1], word_size=4, compressed=False, **_SMALL), "longer"),
        (_v0_v1(1, [3, -1], word_size=4, **_SMALL), "negative"),
        (_v0_v1(0, [2**63 - 1, 1], word_size=8, **_SMALL), "exceeds"),
        # a V1 header inside a V0 wrapper
        (_v0_v1(1, [1], word_size=2, **_SMALL).replace("HISTIg", "HISTKQ"), "V0"),
    ],
)
def test_malformed_hdr_lines_raise_value_error(
    tmp_path: Path, encoded: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        read_hdrhistogram_log(_write(tmp_path, encoded))


def test_every_byte_flip_of_an_encoding_is_an_error_or_a_histogram(
    tmp_path: Path, shared_data: Path
) -> None:
    path = hdr_dir(shared_data) / "jHiccup-2.0.7S.logV2.hlog"
    line = next(ln for ln in path.read_text().splitlines() if ln.startswith("9.132"))
    prefix, encoded = line.rsplit(",", 1)
    blob = base64.b64decode(encoded)
    for i in range(len(blob)):
        for flip in (0x01, 0x80):
            bad = bytearray(blob)
            bad[i] ^= flip
            target = tmp_path / "flip.hlog"
            target.write_text(f"{prefix},{base64.b64encode(bytes(bad)).decode()}\n")
            try:
                (interval,) = read_hdrhistogram_log(target)
            except ValueError:
                continue
            assert interval.histogram.total_count >= 0
    for n in range(len(blob)):
        with pytest.raises(ValueError):
            read_hdrhistogram_log(_write(tmp_path, base64.b64encode(blob[:n]).decode()))


# ---- OpenTelemetry -----------------------------------------------------------------
def otel_bucket(value: float, scale: int) -> int:
    """Oracle for the OTel index: bucket i holds (base**i, base**(i+1)]."""
    mantissa, exponent = math.frexp(value)
    if mantissa == 0.5:  # exact power of two: the bucket it closes
        return (
            ((exponent - 1) << scale) - 1
            if scale >= 0
            else ((exponent - 1) >> -scale) - 1
        )
    return math.ceil(math.log2(value) * 2.0**scale) - 1


def test_export_uses_the_otel_bucket_definition() -> None:
    rng = np.random.default_rng(11)
    values = np.concatenate([rng.lognormal(3, 2, 2000), 2.0 ** np.arange(-5, 9)])
    sketch = QuantileSketch(0.01)
    sketch.add(values)
    point = sketch_to_otel(sketch)
    scale = point["scale"]
    offset = point["positive"]["offset"]
    counts = [int(c) for c in point["positive"]["bucketCounts"]]
    expected: dict[int, int] = {}
    for v in values.tolist():
        k = otel_bucket(v, scale)
        expected[k] = expected.get(k, 0) + 1
    got = {offset + j: c for j, c in enumerate(counts) if c}
    assert got == expected
    assert point["count"] == "2014"
    assert all(isinstance(c, str) for c in point["positive"]["bucketCounts"])


def _mixed_sketch(max_buckets: int = 4096) -> QuantileSketch:
    rng = np.random.default_rng(5)
    x = rng.lognormal(0, 2, 5000)
    x[:40] = 0.0
    x[40:400] *= -1
    s = QuantileSketch(0.01, max_buckets=max_buckets)
    s.add(x)
    return s


def test_otel_round_trip_is_lossless() -> None:
    s = _mixed_sketch()
    text = json.dumps(sketch_to_otel(s))
    back = sketch_from_otel(json.loads(text))
    assert back == s
    assert sketch_from_otel(text) == s
    np.testing.assert_array_equal(back.quantile(QS), s.quantile(QS))
    empty = QuantileSketch()
    point = sketch_to_otel(empty)
    assert "min" not in point
    assert sketch_from_otel(point).count == 0


def test_otel_round_trip_of_a_downscaled_sketch() -> None:
    s = QuantileSketch(0.001, max_buckets=64)
    s.add(np.geomspace(1e-6, 1e9, 3000))
    assert s.scale < QuantileSketch(0.001).scale  # the bucket limit lowered it
    back = sketch_from_otel(sketch_to_otel(s), max_buckets=64)
    assert back.scale == s.scale
    for neg in (False, True):
        o1, c1 = s.buckets(negative=neg)
        o2, c2 = back.buckets(negative=neg)
        np.testing.assert_array_equal(c1, c2)
        assert not c1.size or o1 == o2
    assert (back.count, back.sum, back.min, back.max) == (s.count, s.sum, s.min, s.max)
    np.testing.assert_array_equal(back.quantile(QS), s.quantile(QS))


def test_hand_written_otlp_point_with_string_uint64() -> None:
    point = {
        "count": "6",
        "sum": 118.5,
        "scale": 1,
        "zeroCount": "1",
        "positive": {"offset": 2, "bucketCounts": ["2", "0", "3"]},
        "negative": {"offset": 0, "bucketCounts": []},
        "min": 0.0,
        "max": 7.5,
    }
    s = sketch_from_otel(point)
    assert (s.count, s.zero_count, s.scale, s.min, s.max) == (6, 1, 1, 0.0, 7.5)
    # scale 1: bucket 2 = (2, 2.83], bucket 4 = (4, 5.66]; ranks 1-2 in the first.
    base = 2**0.5
    assert base**2 < s.quantile(0.3) <= base**3 * (1 + s.relative_accuracy)
    assert base**4 < s.quantile(0.8) <= base**5 * (1 + s.relative_accuracy)
    snake = {
        "count": 6,
        "sum": 118.5,
        "scale": 1,
        "zero_count": 1,
        "positive": {"offset": 2, "bucket_counts": [2, 0, 3]},
    }
    assert sketch_from_otel(snake).count == 6


def test_negative_buckets_hold_mirrored_magnitudes() -> None:
    # OTel: negative bucket i holds [-base**(i+1), -base**i); scale 0, offset 1: [-4, -2).
    point = {
        "count": "2",
        "scale": 0,
        "negative": {"offset": 1, "bucketCounts": ["1"]},
        "positive": {"offset": 1, "bucketCounts": ["1"]},
    }
    s = sketch_from_otel(point)
    assert -4.0 <= s.min < -2.0
    assert 2.0 < s.max <= 4.0
    assert -4.0 * 1.34 <= s.quantile(0.0) < -2.0 / 1.34
    back = sketch_to_otel(s)
    assert back["negative"] == {"offset": 1, "bucketCounts": ["1"]}


def test_zero_threshold_counts_as_zero() -> None:
    point = {
        "count": "3",
        "scale": 0,
        "zeroCount": "2",
        "zeroThreshold": 1e-3,
        "positive": {"offset": 0, "bucketCounts": ["1"]},
    }
    s = sketch_from_otel(point)
    assert s.zero_count == 2
    assert s.quantile(0.0) <= 1e-3
    assert sketch_to_otel(s)["zeroThreshold"] == 0.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"count": "7"}, "count 7"),
        ({"scale": None}, "scale"),
        ({"scale": "x"}, "scale"),
        ({"zeroCount": "-1"}, "zeroCount"),
        ({"zeroCount": "1.5"}, "zeroCount"),
        ({"positive": {"offset": 0, "bucketCounts": ["1", "a"]}}, r"bucketCounts\[1\]"),
        ({"positive": {"offset": 0, "bucketCounts": "12"}}, "list"),
        ({"positive": {"offset": 2**40, "bucketCounts": ["6"]}}, "sint32"),
        ({"sum": "NaN"}, "sum"),
        ({"max": float("inf")}, "max"),
        ({"zeroThreshold": -1.0}, "zeroThreshold"),
        (
            {"count": str(2**60), "positive": {"bucketCounts": [str(2**60)]}},
            "2\\*\\*53",
        ),
    ],
)
def test_invalid_otlp_points_raise(change: dict[str, Any], message: str) -> None:
    point: dict[str, Any] = {
        "count": "6",
        "scale": 0,
        "zeroCount": "0",
        "positive": {"offset": 0, "bucketCounts": ["6"]},
    }
    point.update(change)
    with pytest.raises(ValueError, match=message):
        sketch_from_otel(point)


def test_fractional_counts_cannot_be_exported() -> None:
    s = QuantileSketch()
    s.add([1.0, 2.0], weights=[0.5, 1.0])
    with pytest.raises(ValueError, match="not an integer"):
        sketch_to_otel(s)
    with pytest.raises(TypeError):
        sketch_from_otel(42)  # type: ignore[arg-type]


# ---- DDSketch ----------------------------------------------------------------------
def _data() -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.lognormal(np.log(800), 1.5, 20_000)
    x[:100] = 0.0
    x[100:2000] = -rng.lognormal(1, 1, 1900)
    return x


def test_from_ddsketch_within_combined_accuracy() -> None:
    from ddsketch import DDSketch

    x = _data()
    dd = DDSketch(relative_accuracy=0.01)
    for v in x.tolist():
        dd.add(v)
    s = sketch_from_ddsketch(dd, 0.01)
    bound = (1 + 0.01) * (1 + s.relative_accuracy) - 1
    exact = np.quantile(x, QS, method="lower")
    got = s.quantile(QS)
    np.testing.assert_array_less(np.abs(got - exact), bound * np.abs(exact) + 1e-12)
    assert s.count == x.size
    assert (s.min, s.max) == (x.min(), x.max())
    assert s.sum == pytest.approx(math.fsum(x.tolist()), rel=1e-12)
    assert s.zero_count == 100


def test_to_ddsketch_within_combined_accuracy() -> None:
    x = _data()
    s = QuantileSketch(0.01)
    s.add(x)
    dd = sketch_to_ddsketch(s)
    bound = (1 + s.relative_accuracy) * (1 + s.relative_accuracy) - 1
    exact = np.quantile(x, QS[1:-1], method="lower")
    got = np.array([dd.get_quantile_value(q) for q in QS[1:-1]])
    np.testing.assert_array_less(np.abs(got - exact), bound * np.abs(exact) + 1e-12)
    assert dd.count == x.size
    assert (dd._min, dd._max) == (x.min(), x.max())
    assert dd.sum == s.sum
    # And back: still within the accuracies of both trips.
    again = sketch_from_ddsketch(dd, 0.01)
    bound3 = (1 + s.relative_accuracy) ** 3 - 1
    np.testing.assert_array_less(
        np.abs(again.quantile(QS[1:-1]) - exact), bound3 * np.abs(exact) + 1e-12
    )


def test_ddsketch_conversions_reject_other_objects() -> None:
    with pytest.raises(TypeError):
        sketch_from_ddsketch(object())
    with pytest.raises(TypeError):
        sketch_to_ddsketch("sketch")  # type: ignore[arg-type]


def test_ddsketch_is_never_imported_by_perfstats() -> None:
    code = (
        "import sys, perfstats, perfstats.io.interop; "
        "assert 'ddsketch' not in sys.modules, 'imported'; "
        "sys.modules['ddsketch'] = None\n"
        "try:\n"
        "    perfstats.sketch_to_ddsketch(perfstats.QuantileSketch())\n"
        "except ImportError as e:\n"
        "    assert 'pip install ddsketch' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
