"""Timing and result-writing helpers shared by every benchmark module."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def best_time(
    fn: Callable[[], object], *, repeat: int = 5, min_time: float = 0.0
) -> float:
    """Best wall time of `repeat` calls (seconds), after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        if min_time and best > min_time:
            break
    return best


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


def write_results(name: str, results: dict[str, Any]) -> Path:
    """Write `results` to benchmarks/results/<name>.json atomically; echo them."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"machine": machine(), **results}, indent=2) + "\n")
    tmp.replace(path)
    print(json.dumps(results, indent=2))
    return path
