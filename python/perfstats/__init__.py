"""perfstats: statistics of performance telemetry.

Mergeable quantile sketches and SLA histograms, stable moments, t-tests, trend
regression with forecasts, anomaly and change-point detection, on a C++ core.
"""

from __future__ import annotations

from perfstats._core import __version__

__all__ = ["__version__"]

# ---- regression (issue 3: trend regression and forecasting) ----
from perfstats.linear_model import LinearModel, Prediction
from perfstats.trend import Trend, fit_trend

__all__ += ["LinearModel", "Prediction", "Trend", "fit_trend"]
