"""Timing and result-writing helpers shared by every benchmark module."""

from __future__ import annotations

import gc
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


def best_wall_and_cpu(
    fns: dict[str, Callable[[], object]], *, rounds: int = 3
) -> dict[str, dict[str, float]]:
    """Best wall and process CPU time (seconds) of each function over `rounds` rounds.

    Every function is called once as a warm-up, then the functions take turns in each
    round, so a change in machine load during the run touches all of them alike. CPU
    time (time.process_time) counts every thread of the process. Garbage is collected
    before each call (outside the timing), so no contender pays for cycles another
    left behind (a pandas result's reference cycles hold hundreds of MB until then).
    """
    for fn in fns.values():
        fn()
    best = {name: {"wall": float("inf"), "cpu": float("inf")} for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
            best[name]["wall"] = min(best[name]["wall"], wall)
            best[name]["cpu"] = min(best[name]["cpu"], cpu)
    return best


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return []


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
