"""perfstats: statistics of performance telemetry.

Mergeable quantile sketches and SLA histograms, stable moments, t-tests, trend
regression with forecasts, anomaly and change-point detection, on a C++ core.
"""

from __future__ import annotations

from perfstats._core import __version__
from perfstats.quantile_sketch import QuantileSketch

__all__ = ["QuantileSketch", "__version__"]

# ---- histogram ----
from perfstats.histogram import Histogram

__all__ += ["Histogram"]
