"""perfstats: statistics of performance telemetry.

Mergeable quantile sketches and SLA histograms, stable moments, t-tests, trend
regression with forecasts, anomaly and change-point detection, on a C++ core.
"""

from __future__ import annotations

from perfstats._core import __version__
from perfstats.intervals import wilson_interval
from perfstats.quantile_sketch import QuantileSketch
from perfstats.summary import Summary, summarize

__all__ = ["QuantileSketch", "Summary", "__version__", "summarize", "wilson_interval"]

# ---- events, sample data and costs (branch io) ----
from perfstats import datasets
from perfstats.costs import CostReport, costs, load_prices
from perfstats.io import Events, read_events, write_events

__all__ += [
    "CostReport",
    "Events",
    "costs",
    "datasets",
    "load_prices",
    "read_events",
    "write_events",
]

# ---- report and command line (branch report) ----
from perfstats.report import Report, build_report  # noqa: E402

__all__ += ["Report", "build_report"]
