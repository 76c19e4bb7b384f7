"""Recording telemetry inside an application, and deterministic rollouts.

:class:`Recorder` times spans and writes canonical events without blocking the
application; :func:`assign` gives each unit a stable experiment arm and
:func:`exposures` checks the arms' unit counts.
"""

from __future__ import annotations

from perfstats.record.history_sink import HistorySink
from perfstats.record.recorder import EndpointStats, Recorder, Span, read_recorded
from perfstats.record.rollout import Exposures, Rollout, assign, bucket, exposures

__all__ = [
    "EndpointStats",
    "Exposures",
    "HistorySink",
    "Recorder",
    "Rollout",
    "Span",
    "assign",
    "bucket",
    "exposures",
    "read_recorded",
]
