"""perfstats: statistics of performance telemetry.

Mergeable quantile sketches and SLA histograms, stable moments, t-tests, trend
regression with forecasts, anomaly and change-point detection, on a C++ core.
"""

from __future__ import annotations

from perfstats import datasets
from perfstats._core import __version__
from perfstats.analysis.comparison import Comparison, compare
from perfstats.analysis.costs import CostReport, costs, load_prices
from perfstats.analysis.metric_anomalies import MetricAnomalies, anomalies
from perfstats.analysis.metric_changepoints import metric_changepoints
from perfstats.analysis.metric_trend import MetricTrend, trend
from perfstats.analysis.series import metric_series
from perfstats.analysis.summary import Summary, summarize
from perfstats.history.store import History
from perfstats.io.events import Events, as_events, read_events, write_events
from perfstats.io.interop import (
    HdrHistogramData,
    HdrInterval,
    read_hdrhistogram_log,
    sketch_from_ddsketch,
    sketch_from_otel,
    sketch_to_ddsketch,
    sketch_to_otel,
)
from perfstats.record import Recorder, assign, exposures
from perfstats.report import Report, build_report
from perfstats.stats.changepoints import (
    ChangePoint,
    ChangePoints,
    detect_changepoints,
    detect_regressions,
)
from perfstats.stats.cuped import Cuped, cuped
from perfstats.stats.detectors import (
    AnomalyResult,
    EwmaZScore,
    RobustZScore,
    RollingZScore,
    SeasonalLevelDetector,
    SeasonalZScore,
    anomaly_likelihood,
    empirical_tail_score,
)
from perfstats.stats.histogram import Histogram
from perfstats.stats.hypothesis_tests import (
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
from perfstats.stats.intervals import (
    newcombe_difference_interval,
    rate_ratio_interval,
    wilson_interval,
)
from perfstats.stats.linear_model import LinearModel, Prediction
from perfstats.stats.moments import (
    Moments,
    lag1_autocorrelation,
    long_run_variance_ratio,
)
from perfstats.stats.quantile_sketch import QuantileSketch
from perfstats.stats.trend import Trend, fit_trend

__all__ = [
    "AnomalyResult",
    "ChangePoint",
    "ChangePoints",
    "Comparison",
    "CostReport",
    "Cuped",
    "Events",
    "EwmaZScore",
    "HdrHistogramData",
    "HdrInterval",
    "Histogram",
    "History",
    "LinearModel",
    "MannWhitneyResult",
    "MetricAnomalies",
    "MetricTrend",
    "Moments",
    "Prediction",
    "QuantileSketch",
    "Recorder",
    "Report",
    "RobustZScore",
    "RollingZScore",
    "SRMResult",
    "SeasonalLevelDetector",
    "SeasonalZScore",
    "Summary",
    "TTestResult",
    "Trend",
    "__version__",
    "anomalies",
    "anomaly_likelihood",
    "as_events",
    "assign",
    "build_report",
    "compare",
    "costs",
    "cuped",
    "datasets",
    "detect_changepoints",
    "detect_regressions",
    "empirical_tail_score",
    "exposures",
    "fit_trend",
    "lag1_autocorrelation",
    "load_prices",
    "long_run_variance_ratio",
    "mann_whitney_u",
    "metric_changepoints",
    "metric_series",
    "newcombe_difference_interval",
    "one_sample_t_test",
    "paired_t_test",
    "power",
    "rate_ratio_interval",
    "read_events",
    "read_hdrhistogram_log",
    "required_sample_size",
    "sketch_from_ddsketch",
    "sketch_from_otel",
    "sketch_to_ddsketch",
    "sketch_to_otel",
    "srm_test",
    "student_t_test",
    "summarize",
    "trend",
    "welch_t_test",
    "wilson_interval",
    "write_events",
]
