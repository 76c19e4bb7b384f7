"""perfstats: statistics of performance telemetry.

Mergeable quantile sketches and SLA histograms, stable moments, t-tests, trend
regression with forecasts, anomaly and change-point detection, on a C++ core.
"""

from __future__ import annotations

from perfstats._core import __version__
from perfstats.quantile_sketch import QuantileSketch

__all__ = ["QuantileSketch", "__version__"]

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
