"""Interoperability: OpenTelemetry exponential histograms, HdrHistogram logs, DDSketch."""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt

from perfstats._display import View
from perfstats._result import Result
from perfstats.stats.quantile_sketch import QuantileSketch

if TYPE_CHECKING:
    import ddsketch
    import pandas as pd

__all__ = [
    "HdrHistogramData",
    "HdrInterval",
    "read_hdrhistogram_log",
    "sketch_from_ddsketch",
    "sketch_from_otel",
    "sketch_to_ddsketch",
    "sketch_to_otel",
]

# ---- HdrHistogram ---------------------------------------------------------------------
# Cookies of the encodings (HdrHistogram AbstractHistogram): the bits under 0xF0 carry
# the word size of a V0/V1 count (2, 4 or 8 bytes, big-endian); V2 counts are ZigZag
# LEB128 and its word-size bits are ignored, as upstream does.
_V2_COOKIE = 0x1C849303
_V2_COMPRESSED_COOKIE = 0x1C849304
_V1_COOKIE = 0x1C849301
_V1_COMPRESSED_COOKIE = 0x1C849302
_V0_COOKIE = 0x1C849308
_V0_COMPRESSED_COOKIE = 0x1C849309
_COOKIE_MASK = 0xFFFFFF0F
# V1 and V2: cookie, payload length, normalizing index offset, significant digits,
# lowest discernible value, highest trackable value, integer-to-double ratio.
_V2_HEADER = struct.Struct(">Iiiiqqd")  # 40 bytes
# V0: cookie, significant digits, lowest, highest, total count (ignored, as upstream).
_V0_HEADER = struct.Struct(">Iiqqq")  # 32 bytes
# version -> (uncompressed cookie, compressed cookie, header)
_ENCODINGS = {
    0: (_V0_COOKIE, _V0_COMPRESSED_COOKIE, _V0_HEADER),
    1: (_V1_COOKIE, _V1_COMPRESSED_COOKIE, _V2_HEADER),
    2: (_V2_COOKIE, _V2_COMPRESSED_COOKIE, _V2_HEADER),
}
_INT64_MAX = 2**63 - 1

Equivalent = Literal["highest", "median", "lowest"]


@dataclass(frozen=True, eq=False)
class _HdrLayout:
    """The bucket layout HdrHistogram derives from its three construction parameters."""

    significant_digits: int
    lowest_discernible_value: int
    highest_trackable_value: int

    def __post_init__(self) -> None:
        d, lo, hi = (
            self.significant_digits,
            self.lowest_discernible_value,
            self.highest_trackable_value,
        )
        if not 0 <= d <= 5:
            raise ValueError(f"significant digits must be in 0..5, got {d}")
        if not 1 <= lo <= _INT64_MAX // 2:
            raise ValueError(f"lowest discernible value must be >= 1, got {lo}")
        if not 2 * lo <= hi <= _INT64_MAX:
            raise ValueError(
                f"highest trackable value must be in [2 * lowest, 2**63 - 1], got {hi}"
            )

    @property
    def unit_magnitude(self) -> int:
        return self.lowest_discernible_value.bit_length() - 1

    @property
    def sub_bucket_half_count_magnitude(self) -> int:
        largest_single_unit = 2 * int(10**self.significant_digits)
        count_magnitude = (largest_single_unit - 1).bit_length()  # ceil(log2)
        return max(count_magnitude, 1) - 1

    @property
    def sub_bucket_half_count(self) -> int:
        return 1 << self.sub_bucket_half_count_magnitude

    @property
    def counts_length(self) -> int:
        sub_bucket_count = 2 * self.sub_bucket_half_count
        smallest_untrackable = sub_bucket_count << self.unit_magnitude
        buckets = 1
        while smallest_untrackable <= self.highest_trackable_value:
            if smallest_untrackable > _INT64_MAX // 2:
                buckets += 1
                break
            smallest_untrackable <<= 1
            buckets += 1
        return (buckets + 1) * self.sub_bucket_half_count

    def value_from_index(self, index: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Lowest value of each counts-array index (HdrHistogram valueFromIndex)."""
        half_mag = self.sub_bucket_half_count_magnitude
        half = self.sub_bucket_half_count
        bucket = (index >> half_mag) - 1
        sub = (index & (half - 1)) + half
        first = bucket < 0
        sub = np.where(first, sub - half, sub)
        bucket = np.where(first, 0, bucket)
        out: npt.NDArray[np.int64] = np.left_shift(sub, bucket + self.unit_magnitude)
        return out.astype(np.int64)

    def index_for_values(self, values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Counts-array index of each value (HdrHistogram countsArrayIndex)."""
        unit = self.unit_magnitude
        half_mag = self.sub_bucket_half_count_magnitude
        half = self.sub_bucket_half_count
        mask = (2 * half - 1) << unit
        out = []
        for v in values.tolist():
            if v < 0:
                raise ValueError(f"HdrHistogram values must be >= 0, got {v}")
            bucket = (v | mask).bit_length() - unit - half_mag - 1
            sub = v >> (bucket + unit)
            out.append(((bucket + 1) << half_mag) + sub - half)
        return np.asarray(out, dtype=np.int64)

    def equivalent_range(self, index: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Width of the range of values that share each index's bucket."""
        bucket = np.maximum((index >> self.sub_bucket_half_count_magnitude) - 1, 0)
        out: npt.NDArray[np.int64] = np.left_shift(
            np.int64(1), bucket + self.unit_magnitude
        )
        return out.astype(np.int64)


@dataclass(frozen=True, eq=False, repr=False)
class HdrHistogramData(Result):
    """The non-empty buckets of one HdrHistogram, exactly as it stores them.

    Attributes
    ----------
    values : numpy.ndarray of int64
        Lowest value of each non-empty bucket (HdrHistogram ``valueFromIndex``),
        ascending, in the histogram's integer unit (e.g. ns for jHiccup logs).
    counts : numpy.ndarray of int64
        Count of each of those buckets.
    significant_digits, lowest_discernible_value, highest_trackable_value : int
        The construction parameters, which fix the bucket layout.
    conversion_ratio : float
        ``integerToDoubleValueConversionRatio``: 1 for integer histograms; the factor
        from stored integers to values for a DoubleHistogram.
    """

    values: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    significant_digits: int
    lowest_discernible_value: int
    highest_trackable_value: int
    conversion_ratio: float
    _indices: npt.NDArray[np.int64]

    _one_line = True
    _repr_fields = (
        "total_count",
        "min",
        "max",
        "significant_digits",
        "lowest_discernible_value",
        "highest_trackable_value",
        "conversion_ratio",
    )

    def to_dict(self) -> dict[str, Any]:
        """The buckets (``values``, ``counts``), their total, min and max, and the
        construction parameters, as plain Python values."""
        empty = self.total_count == 0
        return {
            "total_count": self.total_count,
            "min": None if empty else self.min,
            "max": None if empty else self.max,
            "significant_digits": self.significant_digits,
            "lowest_discernible_value": self.lowest_discernible_value,
            "highest_trackable_value": self.highest_trackable_value,
            "conversion_ratio": self.conversion_ratio,
            "values": self.values.tolist(),
            "counts": self.counts.tolist(),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per non-empty bucket: its lowest ``value`` and ``count``."""
        import pandas as pd

        return pd.DataFrame({"value": self.values, "count": self.counts})

    def _view(self) -> View:
        return View("HdrHistogramData", self.to_dict())

    @property
    def _layout(self) -> _HdrLayout:
        return _HdrLayout(
            self.significant_digits,
            self.lowest_discernible_value,
            self.highest_trackable_value,
        )

    @property
    def total_count(self) -> int:
        """Number of recorded values."""
        return sum(self.counts.tolist())

    @property
    def highest_equivalent_values(self) -> npt.NDArray[np.int64]:
        """Highest value that shares each non-empty bucket."""
        return self.values + self._layout.equivalent_range(self._indices) - 1

    @property
    def max(self) -> int:
        """Highest equivalent value of the largest recorded bucket (getMaxValue)."""
        if self.values.size == 0:
            return 0
        return int(self.highest_equivalent_values[-1])

    @property
    def min(self) -> int:
        """Lowest equivalent value of the smallest recorded bucket (getMinValue)."""
        return int(self.values[0]) if self.values.size else 0

    def value_at_percentile(self, percentile: float) -> int:
        """The value at `percentile` (0..100) exactly as HdrHistogram computes it.

        The target count is ``ceil(p / 100 * total)`` with `p` lowered by one ulp
        (at least 1); the answer is the highest equivalent value of the first bucket
        whose cumulative count reaches it (the lowest equivalent value for p = 0).
        Returns 0 for an empty histogram, as HdrHistogram does.
        """
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be in [0, 100], got {percentile}")
        total = self.total_count
        if total == 0:
            return 0
        requested = min(max(math.nextafter(percentile, -math.inf), 0.0), 100.0)
        target = max(math.ceil(requested / 100.0 * total), 1)
        position = int(np.searchsorted(np.cumsum(self.counts), target, side="left"))
        if percentile == 0.0:
            return int(self.values[position])
        return int(self.highest_equivalent_values[position])

    @classmethod
    def empty(
        cls,
        significant_digits: int = 3,
        lowest_discernible_value: int = 1,
        highest_trackable_value: int = 2,
        conversion_ratio: float = 1.0,
    ) -> HdrHistogramData:
        """A histogram with no counts, to :meth:`merge` others into.

        The defaults are Java's ``new Histogram(3)``: 3 digits, lowest value 1, and a
        range that grows with what is merged in. HdrHistogram's own tests accumulate
        log intervals into exactly that.
        """
        layout = _HdrLayout(
            significant_digits, lowest_discernible_value, highest_trackable_value
        )
        none = np.zeros(0, dtype=np.int64)
        return cls(
            values=none,
            counts=none,
            significant_digits=layout.significant_digits,
            lowest_discernible_value=layout.lowest_discernible_value,
            highest_trackable_value=layout.highest_trackable_value,
            conversion_ratio=conversion_ratio,
            _indices=none,
        )

    def merge(self, other: HdrHistogramData) -> HdrHistogramData:
        """The sum of two histograms, in this one's layout (HdrHistogram ``add``).

        With a different layout, each of `other`'s buckets is recorded at its lowest
        equivalent value, as HdrHistogram's ``add`` does; the range grows as needed.
        Conversion ratios must match.
        """
        if self.conversion_ratio != other.conversion_ratio:
            raise ValueError(
                "cannot merge HdrHistograms with different conversion ratios "
                f"({self.conversion_ratio} and {other.conversion_ratio})"
            )
        if self.total_count + other.total_count > _INT64_MAX:
            raise ValueError("merged HdrHistogram total count exceeds 2**63 - 1")
        highest = max(self.highest_trackable_value, other.highest_trackable_value)
        layout = _HdrLayout(
            self.significant_digits, self.lowest_discernible_value, highest
        )
        if (other.significant_digits, other.lowest_discernible_value) == (
            self.significant_digits,
            self.lowest_discernible_value,
        ):
            other_indices = other._indices
        else:
            other_indices = layout.index_for_values(other.values)
        indices, inverse = np.unique(
            np.concatenate([self._indices, other_indices]), return_inverse=True
        )
        counts = np.zeros(indices.size, dtype=np.int64)
        np.add.at(counts, inverse, np.concatenate([self.counts, other.counts]))
        return HdrHistogramData(
            values=layout.value_from_index(indices),
            counts=counts,
            significant_digits=self.significant_digits,
            lowest_discernible_value=self.lowest_discernible_value,
            highest_trackable_value=highest,
            conversion_ratio=self.conversion_ratio,
            _indices=indices,
        )

    def to_sketch(
        self,
        relative_accuracy: float = 0.01,
        *,
        equivalent: Equivalent = "highest",
        max_buckets: int = 4096,
    ) -> QuantileSketch:
        """A QuantileSketch holding every bucket's count at one value of the bucket.

        Parameters
        ----------
        relative_accuracy : float
            Accuracy of the new sketch.
        equivalent : {"highest", "median", "lowest"}
            Which value of each bucket stands for its counts. ``"highest"`` (default)
            is what HdrHistogram's percentiles report, so the sketch's quantiles match
            :meth:`value_at_percentile` within `relative_accuracy`; ``"median"`` is
            HdrHistogram's own choice for means.
        """
        sketch = QuantileSketch(relative_accuracy, max_buckets=max_buckets)
        if self.values.size:
            width = self._layout.equivalent_range(self._indices)
            if equivalent == "highest":
                ints = self.values + width - 1
            elif equivalent == "median":
                ints = self.values + width // 2
            elif equivalent == "lowest":
                ints = self.values
            else:
                raise ValueError(
                    f"equivalent must be highest, median or lowest, not {equivalent!r}"
                )
            sketch.add(
                ints.astype(np.float64) * self.conversion_ratio,
                weights=self.counts.astype(np.float64),
            )
        return sketch


@dataclass(frozen=True, eq=False)
class HdrInterval:
    """One interval histogram of an HdrHistogram log.

    Attributes
    ----------
    start_time : float
        Absolute start of the interval, seconds since the Unix epoch.
    offset : float
        Start of the interval relative to the log's ``StartTime``, seconds (what
        HdrHistogram's reader selects ranges on).
    length : float
        Interval length, seconds.
    interval_max : float
        The ``Interval_Max`` column as logged (in the log's max-value unit).
    tag : str or None
        The ``Tag=`` of the line, if any.
    histogram : HdrHistogramData
        The decoded counts.
    """

    start_time: float
    offset: float
    length: float
    interval_max: float
    tag: str | None
    histogram: HdrHistogramData

    def to_sketch(
        self,
        relative_accuracy: float = 0.01,
        *,
        equivalent: Equivalent = "highest",
        max_buckets: int = 4096,
    ) -> QuantileSketch:
        """This interval's counts as a QuantileSketch (see HdrHistogramData)."""
        return self.histogram.to_sketch(
            relative_accuracy, equivalent=equivalent, max_buckets=max_buckets
        )


def _read_zigzag_counts(
    payload: bytes, counts_length: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Decode V2 counts: ZigZag LEB128 (9th byte carries 8 bits), negatives = zero runs."""
    indices: list[int] = []
    counts: list[int] = []
    index = 0
    pos = 0
    end = len(payload)
    while pos < end:
        raw = 0
        for shift in (0, 7, 14, 21, 28, 35, 42, 49):
            if pos >= end:
                raise ValueError("HdrHistogram payload ends inside a count")
            byte = payload[pos]
            pos += 1
            raw |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
        else:
            if pos >= end:
                raise ValueError("HdrHistogram payload ends inside a count")
            raw |= payload[pos] << 56
            pos += 1
        value = (raw >> 1) ^ -(raw & 1)
        if value < 0:
            index -= value  # a run of -value empty buckets
        else:
            if index >= counts_length:
                raise ValueError(
                    f"HdrHistogram count at index {index} is beyond the "
                    f"{counts_length} buckets its header allows"
                )
            if value > 0:
                indices.append(index)
                counts.append(value)
            index += 1
    if index > counts_length:
        raise ValueError(
            f"HdrHistogram payload covers {index} buckets; its header allows {counts_length}"
        )
    return np.asarray(indices, dtype=np.int64), np.asarray(counts, dtype=np.int64)


def _read_word_counts(
    payload: bytes, counts_length: int, word_size: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Decode V0/V1 counts: one big-endian signed word of ``word_size`` bytes each."""
    if len(payload) % word_size:
        raise ValueError(
            f"HdrHistogram payload of {len(payload)} bytes is not a whole number of "
            f"{word_size}-byte counts"
        )
    words = np.frombuffer(payload, dtype=f">i{word_size}").astype(np.int64)
    if np.any(words < 0):
        raise ValueError(f"HdrHistogram count {int(words.min())} is negative")
    indices = np.flatnonzero(words).astype(np.int64)
    if indices.size and indices[-1] >= counts_length:
        raise ValueError(
            f"HdrHistogram count at index {int(indices[-1])} is beyond the "
            f"{counts_length} buckets its header allows"
        )
    return indices, words[indices]


def _decode_hdr(blob: bytes) -> HdrHistogramData:
    """Decode one HdrHistogram encoding: V2 (ZigZag LEB128 counts), or the older V1
    and V0 (fixed-size counts; V0 has a shorter header and no payload length), each
    compressed (as in logs) or not."""
    if len(blob) < 8:
        raise ValueError(f"HdrHistogram encoding of {len(blob)} bytes is too short")
    cookie, length = struct.unpack_from(">Ii", blob)
    base = cookie & _COOKIE_MASK
    version, compressed = next(
        ((v, base == c) for v, (u, c, _) in _ENCODINGS.items() if base in (u, c)),
        (None, False),
    )
    if version is None:
        raise ValueError(
            f"not an HdrHistogram encoding (cookie {cookie:#010x}; V0, V1 and V2 "
            "are known)"
        )
    plain_cookie, _, header_format = _ENCODINGS[version]
    if compressed:
        if length != len(blob) - 8:
            raise ValueError(
                f"HdrHistogram compressed length {length} != {len(blob) - 8} bytes present"
            )
        inflater = zlib.decompressobj()
        try:
            header = inflater.decompress(blob[8:], header_format.size)
        except zlib.error as err:
            raise ValueError(
                f"HdrHistogram payload is not valid zlib data: {err}"
            ) from err
        body_source: bytes | None = None
    else:
        header = blob[: header_format.size]
        inflater = None
        body_source = blob[header_format.size :]
    if len(header) < header_format.size:
        raise ValueError("HdrHistogram header is truncated")
    if version == 0:
        inner_cookie, digits, lowest, highest, _ = _V0_HEADER.unpack(header)
        payload_length, normalizing_offset, ratio = None, 0, 1.0
    else:
        (
            inner_cookie,
            payload_length,
            normalizing_offset,
            digits,
            lowest,
            highest,
            ratio,
        ) = _V2_HEADER.unpack(header)
    if inner_cookie & _COOKIE_MASK != plain_cookie:
        raise ValueError(
            f"not an HdrHistogram V{version} encoding (cookie {inner_cookie:#010x})"
        )
    if normalizing_offset != 0:
        raise ValueError(
            f"HdrHistogram normalizing index offset {normalizing_offset} is not supported"
        )
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"HdrHistogram conversion ratio must be positive, got {ratio}")
    layout = _HdrLayout(digits, lowest, highest)
    counts_length = layout.counts_length
    # V2: every bucket takes at most 9 bytes; V0/V1: exactly the word size. A longer
    # payload is corrupt (or a zip bomb).
    word_size = 9 if version == 2 else (inner_cookie & 0xF0) >> 4 & 0xE
    if word_size not in (2, 4, 8, 9):
        raise ValueError(
            f"HdrHistogram V{version} word size must be 2, 4 or 8 bytes, got {word_size}"
        )
    limit = word_size * counts_length
    if payload_length is not None and not 0 <= payload_length <= limit:
        raise ValueError(f"HdrHistogram payload length {payload_length} is impossible")
    # V0 states no payload length: the payload is the rest of the encoding.
    wanted = limit + 1 if payload_length is None else payload_length
    if wanted == 0:
        payload = b""  # (max_length=0 would mean "inflate everything")
    elif inflater is not None:
        try:
            payload = inflater.decompress(inflater.unconsumed_tail, wanted)
        except zlib.error as err:
            raise ValueError(
                f"HdrHistogram payload is not valid zlib data: {err}"
            ) from err
    else:
        assert body_source is not None
        payload = body_source[:wanted]
    if payload_length is None:
        if len(payload) > limit:
            raise ValueError(
                f"HdrHistogram V0 payload is longer than the {counts_length} buckets "
                "its header allows"
            )
    elif len(payload) != payload_length:
        raise ValueError(
            f"HdrHistogram payload has {len(payload)} bytes, header says {payload_length}"
        )
    if version == 2:
        indices, counts = _read_zigzag_counts(payload, counts_length)
    else:
        indices, counts = _read_word_counts(payload, counts_length, word_size)
    if sum(counts.tolist()) > _INT64_MAX:
        raise ValueError("HdrHistogram total count exceeds 2**63 - 1")
    return HdrHistogramData(
        values=layout.value_from_index(indices),
        counts=counts,
        significant_digits=digits,
        lowest_discernible_value=lowest,
        highest_trackable_value=highest,
        conversion_ratio=ratio,
        _indices=indices,
    )


_START_TIME = re.compile(r"#\[StartTime:\s*([-+0-9.eE]+)")
_BASE_TIME = re.compile(r"#\[BaseTime:\s*([-+0-9.eE]+)")
_SECONDS_PER_YEAR = 365 * 24 * 3600.0


def read_hdrhistogram_log(path: str | Path) -> list[HdrInterval]:
    """Read the interval histograms of an HdrHistogram log (``.hlog``).

    Each data line is ``[Tag=name,]start,length,max,base64`` where the base64 text is
    a zlib-compressed histogram encoding: V2 (log format 1.2 and later), or the older
    V1 (format 1.1, jHiccup 2.0.6) and V0 (format 1.01) still written by some tools;
    all three decode to the counts HdrHistogram's Java ``HistogramLogReader`` reads. Timestamps follow HdrHistogram's
    ``HistogramLogReader``: relative to ``#[BaseTime:`` when given; otherwise relative
    to ``#[StartTime:`` when they are more than a year before it, else absolute.

    Parameters
    ----------
    path : str or pathlib.Path
        The log file.

    Returns
    -------
    list of HdrInterval
        In file order. Select a time range on ``offset`` and combine intervals with
        :meth:`HdrHistogramData.merge`.

    Raises
    ------
    ValueError
        On a malformed line or histogram; the message gives the line number.

    Examples
    --------
    A one-interval log: latencies in microseconds, 800 (3 times), 1200 and 25000.

    >>> import tempfile
    >>> line = ("0.000,1.000,25.0,HISTFAAAACl4nJNpmSzMwMDAyQABzFCaEURcm7yEwf4DRGA"
    ...         "/D9tcNqaLrkwAiScHHg==")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "latency.hlog"
    ...     _ = path.write_text("#[StartTime: 1441812279.474]\\n" + line + "\\n")
    ...     (interval,) = read_hdrhistogram_log(path)
    >>> h = interval.histogram
    >>> h.values.tolist(), h.counts.tolist()
    ([800, 1200, 24992], [3, 1, 1])
    >>> h.total_count, h.value_at_percentile(50), h.max
    (5, 800, 25007)
    >>> round(interval.to_sketch(0.01).quantile(0.5))  # 800, within 1%
    803
    """
    intervals: list[HdrInterval] = []
    start_time: float | None = None
    base_time: float | None = None
    with open(path, encoding="ascii", errors="strict") as lines:
        for number, raw_line in enumerate(lines, start=1):
            line = raw_line.strip()
            if not line:
                continue
            if line.startswith("#"):
                if m := _START_TIME.match(line):
                    start_time = float(m.group(1))
                elif m := _BASE_TIME.match(line):
                    base_time = float(m.group(1))
                continue
            if line.startswith('"StartTimestamp"'):
                continue
            try:
                tag: str | None = None
                if line.startswith("Tag="):
                    tag, line = line[4:].split(",", 1)
                start_s, length_s, max_s, encoded = line.split(",")
                timestamp, length, interval_max = (
                    float(start_s),
                    float(length_s),
                    float(max_s),
                )
                if not all(map(math.isfinite, (timestamp, length, interval_max))):
                    raise ValueError("non-finite timestamp, length or max")
                if start_time is None:
                    start_time = timestamp
                if base_time is None:
                    relative = timestamp < start_time - _SECONDS_PER_YEAR
                    base_time = start_time if relative else 0.0
                histogram = _decode_hdr(base64.b64decode(encoded, validate=True))
            except (ValueError, binascii.Error) as err:
                raise ValueError(f"{path}: line {number}: {err}") from err
            absolute = timestamp + base_time
            intervals.append(
                HdrInterval(
                    start_time=absolute,
                    offset=absolute - start_time,
                    length=length,
                    interval_max=interval_max,
                    tag=tag,
                    histogram=histogram,
                )
            )
    return intervals


# ---- OpenTelemetry ExponentialHistogramDataPoint (OTLP JSON) ---------------------------
_MAX_EXACT_COUNT = 2**53


def _field(point: Mapping[str, Any], camel: str, snake: str) -> Any:
    """OTLP JSON uses lowerCamelCase keys; protobuf-style snake_case is accepted too."""
    return point.get(camel, point.get(snake))


def _otel_uint(raw: Any, name: str) -> int:
    """A uint64 field: a JSON number or, per the OTLP JSON mapping, a decimal string."""
    if isinstance(raw, bool) or not isinstance(raw, int | str | float):
        raise ValueError(f"{name} must be an unsigned integer, got {raw!r}")
    try:
        value = int(raw) if not isinstance(raw, float) or raw.is_integer() else None
    except ValueError:
        value = None
    if value is None or not 0 <= value < 2**64:
        raise ValueError(f"{name} must be an unsigned 64-bit integer, got {raw!r}")
    if value > _MAX_EXACT_COUNT:
        raise ValueError(f"{name} = {value} exceeds 2**53, beyond exact float counts")
    return value


def _otel_double(raw: Any, name: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"{name} must be a number, got {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {raw!r}")
    return value


def _otel_store(point: Mapping[str, Any], side: str) -> tuple[int, list[int]]:
    raw = point.get(side)
    if raw is None:
        return 0, []
    if not isinstance(raw, Mapping):
        raise ValueError(f"{side} must be an object with offset and bucketCounts")
    offset_raw = raw.get("offset", 0)
    if isinstance(offset_raw, bool) or not isinstance(offset_raw, int | str):
        raise ValueError(f"{side}.offset must be an integer, got {offset_raw!r}")
    try:
        offset = int(offset_raw)
    except ValueError:
        raise ValueError(
            f"{side}.offset must be an integer, got {offset_raw!r}"
        ) from None
    if not -(2**31) <= offset < 2**31:
        raise ValueError(f"{side}.offset {offset} is outside sint32")
    counts_raw = _field(raw, "bucketCounts", "bucket_counts") or []
    if isinstance(counts_raw, str | bytes) or not isinstance(counts_raw, Iterable):
        raise ValueError(f"{side}.bucketCounts must be a list")
    counts = [
        _otel_uint(c, f"{side}.bucketCounts[{i}]") for i, c in enumerate(counts_raw)
    ]
    return offset, counts


def sketch_from_otel(
    point: Mapping[str, Any] | str | bytes, *, max_buckets: int = 4096
) -> QuantileSketch:
    """A QuantileSketch from an OTLP JSON ``ExponentialHistogramDataPoint``.

    Reads ``scale``, ``zeroCount``, ``positive`` and ``negative`` (``offset`` and
    ``bucketCounts``), ``count``, ``sum``, ``min`` and ``max``; 64-bit integers may be
    JSON numbers or decimal strings, as the OTLP JSON mapping writes them. The buckets
    are taken over unchanged, so ``sketch_to_otel`` gives the same point back.

    A non-zero ``zeroThreshold`` is accepted: OpenTelemetry's zero bucket holds the
    values in ``[-zeroThreshold, zeroThreshold]``, and those become the sketch's zero
    count, so quantiles that fall among them are reported as 0 (an absolute error of at
    most ``zeroThreshold``; the exact ``min`` and ``max`` are kept). The threshold itself
    is not stored, and ``sketch_to_otel`` writes 0.

    Parameters
    ----------
    point : mapping or JSON text
        One data point, e.g. an element of ``dataPoints`` of an
        ``exponentialHistogram`` metric.
    max_buckets : int
        Bucket limit of the new sketch (never below the number of buckets given).

    Raises
    ------
    ValueError
        If a field is missing, of the wrong type, negative, non-finite or inconsistent
        (``count`` must equal ``zeroCount`` plus every bucket count).

    Examples
    --------
    >>> point = {"scale": 0, "count": "3", "zeroCount": "0", "sum": 70.0,
    ...          "positive": {"offset": 3, "bucketCounts": ["1", "0", "2"]},
    ...          "min": 10.0, "max": 50.0}
    >>> s = sketch_from_otel(point)
    >>> s.count, s.scale, s.max
    (3.0, 0, 50.0)
    >>> sketch_to_otel(s)["positive"]
    {'offset': 3, 'bucketCounts': ['1', '0', '2']}
    """
    if isinstance(point, str | bytes):
        import json

        point = json.loads(point)
    if not isinstance(point, Mapping):
        raise TypeError(
            f"point must be a mapping or JSON text, got {type(point).__name__}"
        )
    scale_raw = point.get("scale")
    if scale_raw is None:
        raise ValueError("point has no scale")
    if isinstance(scale_raw, bool) or not isinstance(scale_raw, int | str):
        raise ValueError(f"scale must be an integer, got {scale_raw!r}")
    try:
        scale = int(scale_raw)
    except ValueError:
        raise ValueError(f"scale must be an integer, got {scale_raw!r}") from None
    zero_raw = _field(point, "zeroCount", "zero_count")
    zero_count = 0 if zero_raw is None else _otel_uint(zero_raw, "zeroCount")
    threshold = _otel_double(
        _field(point, "zeroThreshold", "zero_threshold"), "zeroThreshold"
    )
    if threshold is not None and threshold < 0:
        raise ValueError(f"zeroThreshold must be >= 0, got {threshold}")
    pos_offset, pos_counts = _otel_store(point, "positive")
    neg_offset, neg_counts = _otel_store(point, "negative")
    total = zero_count + sum(pos_counts) + sum(neg_counts)
    count_raw = point.get("count")
    count = total if count_raw is None else _otel_uint(count_raw, "count")
    if count != total:
        raise ValueError(f"count {count} != zeroCount + bucket counts = {total}")
    return QuantileSketch.from_buckets(
        scale=scale,
        positive_offset=pos_offset,
        positive_counts=np.asarray(pos_counts, dtype=np.float64),
        negative_offset=neg_offset,
        negative_counts=np.asarray(neg_counts, dtype=np.float64),
        zero_count=float(zero_count),
        count=float(count),
        sum=_otel_double(point.get("sum"), "sum"),
        min=_otel_double(point.get("min"), "min"),
        max=_otel_double(point.get("max"), "max"),
        max_buckets=max_buckets,
    )


def _integral_counts(counts: npt.NDArray[np.float64], what: str) -> list[str]:
    whole = np.floor(counts)
    bad = np.flatnonzero((whole != counts) | (counts > _MAX_EXACT_COUNT))
    if bad.size:
        raise ValueError(
            f"{what} count {counts[bad[0]]!r} at position {int(bad[0])} is not an "
            "integer: OpenTelemetry bucket counts are uint64 (weighted sketches with "
            "fractional weights cannot be exported)"
        )
    return [str(int(c)) for c in counts]


def sketch_to_otel(sketch: QuantileSketch) -> dict[str, Any]:
    """The sketch as an OTLP JSON ``ExponentialHistogramDataPoint`` (a dict).

    64-bit counts are decimal strings, as the OTLP JSON mapping requires; ``min`` and
    ``max`` are omitted for an empty sketch. Attributes and timestamps are the caller's
    to add. ``json.dumps`` of the result is valid OTLP JSON.

    Raises
    ------
    ValueError
        If a count is not a whole number (sketches filled with fractional weights).
    """
    if not isinstance(sketch, QuantileSketch):
        raise TypeError(f"sketch must be a QuantileSketch, got {type(sketch).__name__}")
    out: dict[str, Any] = {
        "count": _integral_counts(np.array([sketch.count]), "total")[0],
        "sum": float(sketch.sum),
        "scale": int(sketch.scale),
        "zeroCount": _integral_counts(np.array([sketch.zero_count]), "zero")[0],
        "zeroThreshold": 0.0,
    }
    for side, negative in (("positive", False), ("negative", True)):
        offset, counts = sketch.buckets(negative=negative)
        out[side] = {
            "offset": int(offset) if counts.size else 0,
            "bucketCounts": _integral_counts(counts, side),
        }
    if sketch.count > 0:
        out["min"] = float(sketch.min)
        out["max"] = float(sketch.max)
    return out


# ---- DDSketch (the `ddsketch` package, optional) -----------------------------------------
def _require_ddsketch() -> Any:
    try:
        import ddsketch
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "DDSketch conversion needs the ddsketch package: pip install ddsketch"
        ) from err
    return ddsketch


def _bucket_representatives(
    offset: int, size: int, scale: int
) -> npt.NDArray[np.float64]:
    """The value 2LU / (L + U) of each bucket (L, U]: within (b-1)/(b+1) of all of it."""
    log2_base = 2.0**-scale
    upper = np.exp2((offset + 1 + np.arange(size, dtype=np.float64)) * log2_base)
    result: npt.NDArray[np.float64] = upper * (2.0 / (1.0 + 2.0**log2_base))
    return result


def sketch_from_ddsketch(
    dd: ddsketch.DDSketch | Any,
    relative_accuracy: float = 0.01,
    *,
    max_buckets: int = 4096,
) -> QuantileSketch:
    """A QuantileSketch from a ``ddsketch`` package sketch.

    Each DDSketch bin's weight goes to the bin's representative value, so quantiles of
    the result are within about ``(1 + a_dd) * (1 + relative_accuracy) - 1`` of the
    exact ones (both errors add). Count, sum, min and max are copied exactly.

    Parameters
    ----------
    dd : ddsketch.DDSketch (any BaseDDSketch)
        The source; it is not modified.
    relative_accuracy : float
        Accuracy of the new sketch's grid.

    Examples
    --------
    >>> from ddsketch import DDSketch
    >>> dd = DDSketch(relative_accuracy=0.01)
    >>> for ms in (120.0, 250.0, 900.0, 4000.0):
    ...     dd.add(ms)
    >>> s = sketch_from_ddsketch(dd)
    >>> s.count, s.min, s.max
    (4.0, 120.0, 4000.0)
    >>> abs(s.quantile(0.5) / 250.0 - 1) < 0.0201
    True
    """
    _require_ddsketch()
    try:
        mapping, positive, negative = dd._mapping, dd._store, dd._negative_store
        zero_count = float(dd._zero_count)
        count, total, low, high = float(dd.count), float(dd.sum), dd._min, dd._max
    except AttributeError as err:
        raise TypeError(
            f"expected a ddsketch DDSketch, got {type(dd).__name__}"
        ) from err
    sketch = QuantileSketch(relative_accuracy, max_buckets=max_buckets)
    for store, sign in ((positive, 1.0), (negative, -1.0)):
        bins = np.asarray(store.bins, dtype=np.float64)
        keep = np.flatnonzero(bins > 0)
        if keep.size:
            keys = keep + store.offset
            values = np.array([mapping.value(int(k)) for k in keys], dtype=np.float64)
            sketch.add(sign * values, weights=bins[keep])
    if zero_count > 0:
        sketch.add(np.zeros(1), weights=np.array([zero_count]))
    if count == 0:
        return sketch
    pos_offset, pos_counts = sketch.buckets()
    neg_offset, neg_counts = sketch.buckets(negative=True)
    return QuantileSketch.from_buckets(
        scale=sketch.scale,
        positive_offset=pos_offset,
        positive_counts=pos_counts,
        negative_offset=neg_offset,
        negative_counts=neg_counts,
        zero_count=sketch.zero_count,
        count=count,
        sum=total,
        min=float(low),
        max=float(high),
        max_buckets=max_buckets,
    )


def sketch_to_ddsketch(
    sketch: QuantileSketch, relative_accuracy: float | None = None
) -> ddsketch.DDSketch:
    """A ``ddsketch.DDSketch`` holding the sketch's buckets at their representatives.

    Parameters
    ----------
    sketch : QuantileSketch
    relative_accuracy : float, optional
        Accuracy of the DDSketch (default: the sketch's own). Its quantiles are then
        within about ``(1 + a_sketch) * (1 + relative_accuracy) - 1`` of the exact ones.
        Count, sum, min and max are carried over exactly.

    Examples
    --------
    >>> s = QuantileSketch(0.01)
    >>> s.add([120.0, 250.0, 900.0, 4000.0])
    >>> dd = sketch_to_ddsketch(s)
    >>> dd.count, dd.sum
    (4.0, 5270.0)
    >>> abs(dd.get_quantile_value(0.5) / 250.0 - 1) < 0.0201
    True
    """
    dd_module = _require_ddsketch()
    if not isinstance(sketch, QuantileSketch):
        raise TypeError(f"sketch must be a QuantileSketch, got {type(sketch).__name__}")
    accuracy = (
        sketch.relative_accuracy if relative_accuracy is None else relative_accuracy
    )
    dd = dd_module.DDSketch(relative_accuracy=accuracy)
    scale = sketch.scale
    for negative in (False, True):
        offset, counts = sketch.buckets(negative=negative)
        values = _bucket_representatives(offset, counts.size, scale)
        # Clamp to the exact extremes so no representative lies outside the data.
        if sketch.count > 0:
            lo, hi = (
                (-sketch.max, -sketch.min) if negative else (sketch.min, sketch.max)
            )
            values = np.clip(values, max(lo, 0.0), hi) if hi > 0 else values
        for value, weight in zip(values, counts, strict=True):
            if weight > 0:
                dd.add(-value if negative else value, float(weight))
    if sketch.zero_count > 0:
        dd.add(0.0, float(sketch.zero_count))
    if sketch.count > 0:
        # DDSketch keeps exact summaries next to its bins; carry ours over.
        dd._sum, dd._min, dd._max = (
            float(sketch.sum),
            float(sketch.min),
            float(sketch.max),
        )
    return cast("ddsketch.DDSketch", dd)
