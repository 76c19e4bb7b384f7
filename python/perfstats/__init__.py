"""perfstats: statistics of performance telemetry.

Mergeable quantile sketches and SLA histograms, stable moments, t-tests, trend
regression with forecasts, anomaly and change-point detection, on a C++ core.
"""

from __future__ import annotations

from perfstats._core import __version__
from perfstats.histogram import Histogram
from perfstats.interop import (
    HdrHistogramData,
    HdrInterval,
    read_hdrhistogram_log,
    sketch_from_ddsketch,
    sketch_from_otel,
    sketch_to_ddsketch,
    sketch_to_otel,
)
from perfstats.intervals import wilson_interval
from perfstats.quantile_sketch import QuantileSketch
from perfstats.summary import Summary, summarize

__all__ = ["QuantileSketch", "Summary", "__version__", "summarize", "wilson_interval"]

# ---- histogram ----
__all__ += ["Histogram"]

# ---- interop ----
__all__ += [
    "HdrHistogramData",
    "HdrInterval",
    "read_hdrhistogram_log",
    "sketch_from_ddsketch",
    "sketch_from_otel",
    "sketch_to_ddsketch",
    "sketch_to_otel",
]
