"""Run history: per-group summaries and latency sketches of earlier report runs.

``perfstats report --history DIR`` appends one file per run, so later runs can show how
the numbers moved across runs and ``perfstats check --baseline DIR`` can compare with
the last run.

Layout
------
``DIR/run-<UTC time, %Y%m%dT%H%M%S%fZ>.json``, one per run, written atomically (a
temporary file renamed into place, so a reader never sees half a run and two runs never
write the same file). Each holds a JSON object::

    {
      "schema": 1,
      "generated_at": "2025-07-01T00:00:00+00:00",   # when the run happened (UTC)
      "source": "events.parquet",                    # what was read
      "data_start": "...", "data_end": "...",        # time range of the events
      "by": ["endpoint"],
      "sla_target_ms": 5000.0,
      "groups": [{"endpoint": "/api/chat", "count": 1000, "latency_p99": 812.5, ...}],
      "sketches": {"/api/chat": {"latency_ms": "<base64 of QuantileSketch.to_bytes()>"}}
    }

``groups`` are the records of :meth:`perfstats.Summary.to_dict`; ``sketches`` are keyed
by the group key joined with ``" | "`` (``""`` when ungrouped). Files are read in name
order, which is time order.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from perfstats._display import group_label
from perfstats._files import atomic_write
from perfstats.analysis.summary import Summary
from perfstats.stats.quantile_sketch import QuantileSketch

__all__ = [
    "HISTORY_SCHEMA",
    "append_run",
    "load_runs",
    "run_sketches",
]

HISTORY_SCHEMA = 1


def append_run(
    directory: str | os.PathLike[str],
    summary: Summary,
    *,
    source: str = "events",
    data_start: str | None = None,
    data_end: str | None = None,
    generated_at: dt.datetime | None = None,
) -> Path:
    """Add one run (the summary's groups and latency/phase sketches) to ``directory``.

    Returns the path written. ``generated_at`` defaults to now (UTC).
    """
    if summary.every is not None:
        raise ValueError("history stores whole-run summaries; summarize without every=")
    when = generated_at or dt.datetime.now(dt.timezone.utc)
    if when.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    when = when.astimezone(dt.timezone.utc)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"history path {directory} exists and is not a directory")
    name = f"run-{when.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    while (directory / name).exists():  # two runs in the same microsecond
        when += dt.timedelta(microseconds=1)
        name = f"run-{when.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    # the run's time is that of its file name: two runs never share one
    doc = {
        "schema": HISTORY_SCHEMA,
        "generated_at": when.isoformat(),
        "source": source,
        "data_start": data_start,
        "data_end": data_end,
        "by": summary.by,
        "sla_target_ms": summary.sla_target_ms,
        "groups": summary.to_dict()["groups"],
        "sketches": {
            group_label(key): {
                metric: base64.b64encode(sketch.to_bytes()).decode("ascii")
                for metric, sketch in metrics.items()
            }
            for key, metrics in summary.sketches.items()
        },
    }
    return atomic_write(directory / name, json.dumps(doc, allow_nan=False))


def load_runs(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every run stored in ``directory``, oldest first (empty when there is none).

    Raises ValueError naming the file when a run file is not valid history.
    """
    directory = Path(directory)
    if not directory.exists():
        return []
    if not directory.is_dir():
        raise ValueError(f"history path {directory} is not a directory")
    runs = []
    for path in sorted(directory.glob("run-*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"history file {path} is not readable JSON: {exc}"
            ) from exc
        if not isinstance(doc, dict) or doc.get("schema") != HISTORY_SCHEMA:
            raise ValueError(
                f"history file {path} is not perfstats history schema {HISTORY_SCHEMA}"
            )
        for field in ("generated_at", "by", "groups", "sketches"):
            if field not in doc:
                raise ValueError(f"history file {path} has no {field!r}")
        doc["path"] = str(path)
        runs.append(doc)
    return runs


def run_sketches(run: dict[str, Any]) -> dict[str, dict[str, QuantileSketch]]:
    """The sketches of a run loaded by :func:`load_runs`, decoded."""
    return {
        group: {
            metric: QuantileSketch.from_bytes(base64.b64decode(text))
            for metric, text in metrics.items()
        }
        for group, metrics in run["sketches"].items()
    }
