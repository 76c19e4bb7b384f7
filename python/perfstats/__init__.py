"""perfstats: statistics of performance telemetry.

Mergeable quantile sketches and SLA histograms, stable moments, t-tests, trend
regression with forecasts, anomaly and change-point detection, on a C++ core.
"""

from __future__ import annotations

from perfstats._core import __version__
from perfstats.changepoints import (
    ChangePoint,
    ChangePoints,
    detect_changepoints,
    detect_regressions,
)
from perfstats.histogram import Histogram
from perfstats.hypothesis_tests import (
    MannWhitneyResult,
    SRMResult,
    TTestResult,
    mann_whitney_u,
    one_sample_t_test,
    paired_t_test,
    power,
    required_sample_size,
    srm_test,
    student_t_test,
    welch_t_test,
)
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
from perfstats.moments import Moments, lag1_autocorrelation
from perfstats.quantile_sketch import QuantileSketch
from perfstats.summary import Summary, summarize

__all__ = [
    "ChangePoint",
    "ChangePoints",
    "MannWhitneyResult",
    "Moments",
    "QuantileSketch",
    "SRMResult",
    "Summary",
    "TTestResult",
    "__version__",
    "detect_changepoints",
    "detect_regressions",
    "lag1_autocorrelation",
    "mann_whitney_u",
    "one_sample_t_test",
    "paired_t_test",
    "power",
    "required_sample_size",
    "srm_test",
    "student_t_test",
    "summarize",
    "welch_t_test",
    "wilson_interval",
]

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
