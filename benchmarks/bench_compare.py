"""Calibration of compare's ship decision beside spotify-confidence and gbstats (issue 13).

The same simulated experiments (latency the primary metric, on the log scale; the
error rate a guardrail with a 3-point non-inferiority margin; 2,000 requests per arm)
go to perfstats.compare and, as sufficient statistics, to spotify-confidence
(one-sided z-tests with its non-inferiority margins, Bonferroni) and gbstats
(frequentist t-test, fixed and sequential; a ship is a 90 % two-sided interval of the
latency difference below 0 and of the error difference below the margin). Both anchors
pin numpy < 2 and pandas < 2, so they run in a separate venv, ``.venv-anchors``
(``python3.11 -m venv .venv-anchors && .venv-anchors/bin/pip install -r
benchmarks/requirements-anchors.txt``); without it only perfstats is measured.

Writes benchmarks/results/compare_calibration.json:
    PYTHONPATH=python .venv/bin/python benchmarks/bench_compare.py [replications]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results

from perfstats import compare
from perfstats.io.failure import failed

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ROOT / ".venv-anchors" / "bin" / "python"
MARGIN = 0.03
BASE_ERR = 0.02
METRICS = ("latency", "error_rate")


def experiment(
    rng: np.random.Generator, n: int, lat: float, err: float
) -> pd.DataFrame:
    arm = np.repeat(["control", "v2"], n)
    rng.shuffle(arm)
    v2 = arm == "v2"
    fails = rng.random(2 * n) < np.where(v2, err, BASE_ERR)
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-03-01", tz="UTC")
            + pd.to_timedelta(np.arange(2 * n) * 10, unit="s"),
            "variant": arm,
            "latency_ms": rng.lognormal(np.log(800), 0.5, 2 * n)
            * np.where(v2, lat, 1.0),
            "error": np.where(fails, "timeout", ""),
        }
    )


def stats(frame: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    bad = failed(frame)
    assert bad is not None
    for arm in ("control", "v2"):
        m = (frame["variant"] == arm).to_numpy()
        x = np.log(frame["latency_ms"].to_numpy()[m & ~bad])
        out[arm] = {
            "lat": [int(x.size), float(x.sum()), float((x * x).sum())],
            "err": [int(m.sum()), int(bad[m].sum())],
        }
    return out


def perfstats_ships(frame: pd.DataFrame, sequential: bool) -> bool:
    c = compare(
        frame, metrics=METRICS, margins={"error_rate": MARGIN}, sequential=sequential
    )
    return c.verdicts.get("v2") == "ship"


def main(replications: int = 200) -> dict[str, Any]:
    rng = np.random.default_rng(20261206)
    scenarios = {
        "A/A (false ship)": (2000, 1.0, BASE_ERR, 1),
        "guardrail at its margin, latency 20% better (false ship)": (
            2000, 0.8, BASE_ERR + MARGIN, 1),
        "latency 4% better, 2,000 per arm (power)": (2000, 0.96, BASE_ERR, 1),
        "A/A, 14 daily looks (false ship at any look)": (300, 1.0, BASE_ERR, 14),
    }  # fmt: skip
    spec: dict[str, Any] = {"margin": MARGIN, "base_rate": BASE_ERR, "scenarios": {}}
    results: dict[str, dict[str, float]] = {}
    for name, (n, lat, err, looks) in scenarios.items():
        reps = replications if looks == 1 else max(20, replications // 2)
        fixed, seq, looks_stats = [], [], []
        for _ in range(reps):
            frame = experiment(rng, n * looks, lat, err)
            day = np.arange(len(frame)) // (2 * n)
            parts = [frame[day <= d] for d in range(looks)]
            fixed.append(any(perfstats_ships(p, False) for p in parts))
            seq.append(any(perfstats_ships(p, True) for p in parts))
            looks_stats.append([stats(p) for p in parts])
        spec["scenarios"][name] = looks_stats
        results[name] = {
            "replications": reps,
            "perfstats": float(np.mean(fixed)),
            "perfstats sequential": float(np.mean(seq)),
        }
    anchors_note = "ran in .venv-anchors"
    if ANCHORS.exists():
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
            src.write_text(json.dumps(spec))
            subprocess.run(
                [str(ANCHORS), str(Path(__file__).with_name("_compare_anchors.py")),
                 str(src), str(dst)],
                check=True,
            )  # fmt: skip
            for name, rates in json.loads(dst.read_text()).items():
                results[name].update(rates)
    else:
        anchors_note = f"not run: no {ANCHORS} (see the module docstring)"
    out = {
        "what": "P(ship) on simulated experiments; nominal 5 % for false ships, "
        "power is the share of ships at a true improvement",
        "anchors": anchors_note,
        "scenarios": results,
    }
    write_results("compare_calibration", out)
    for name, r in results.items():
        print(name)
        for k, v in r.items():
            print(f"    {k:24s} {v}")
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
