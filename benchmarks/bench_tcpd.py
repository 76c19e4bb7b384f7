"""TCPDBench scores of perfstats change points on the annotated series we have.

Default settings on every series (no per-series tuning), scored with TCPDBench's
F1 (margin 5) and segmentation cover against the human annotations, next to the
published default-experiment scores of TCPDBench's methods on the same series.
Multivariate series (run_log) are handled the way a user would: detect on each
column and take the union, dropping a point within ``min_size`` of an earlier one.

The defaults (piecewise-linear model, BIC penalty 3 per change, min_size 10,
AR(1) effective sample size) follow from the model, not from these series; the
sensitivity grids around them and the previous default (E-divisive means) are
written next to the scores.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import write_results
from perfstats import detect_changepoints
from perfstats.stats.scoring import tcpd_cover, tcpd_f1

# ../shared/data beside the checkout, or PERFSTATS_SHARED_DATA (e.g. in a worktree).
SHARED = Path(
    os.environ.get(
        "PERFSTATS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)
TCPD = SHARED / "changepoint" / "tcpd"
DEFAULTS: dict[str, Any] = {}  # detect_changepoints' own defaults
PREVIOUS_DEFAULTS: dict[str, Any] = {"model": "mean", "method": "edivisive"}


def load(name: str) -> tuple[list[np.ndarray], int]:
    data = json.loads((TCPD / "datasets" / name / f"{name}.json").read_text())
    columns = [np.asarray(s["raw"], dtype=float) for s in data["series"]]
    return columns, int(data["n_obs"])


def locate(columns: list[np.ndarray], **options: Any) -> list[int]:
    min_size = options.get("min_size", 10)
    found = sorted(
        {c.index for x in columns for c in detect_changepoints(x, **options)}
    )
    merged: list[int] = []
    for i in found:
        if not merged or i - merged[-1] >= min_size:
            merged.append(i)
    return merged


def score(annotations: dict[str, Any], **options: Any) -> dict[str, Any]:
    per_series: dict[str, Any] = {}
    for name in sorted(annotations):
        columns, n_obs = load(name)
        cps = locate(columns, **options)
        per_series[name] = {
            "f1": tcpd_f1(annotations[name], cps).f1,
            "cover": tcpd_cover(annotations[name], cps, n_obs=n_obs),
            "changepoints": cps,
        }
    return {
        "mean_f1": float(np.mean([s["f1"] for s in per_series.values()])),
        "mean_cover": float(np.mean([s["cover"] for s in per_series.values()])),
        "series": per_series,
    }


def published(names: list[str]) -> dict[str, Any]:
    f1 = json.loads((TCPD / "default_f1_scores.json").read_text())
    cover = json.loads((TCPD / "default_cover_scores.json").read_text())
    out: dict[str, Any] = {}
    for method in f1[names[0]]:
        fs = [f1[n][method] for n in names]
        cs = [cover[n][method] for n in names]
        out[method] = {
            "mean_f1_failures_as_0": float(np.mean([v or 0.0 for v in fs])),
            "mean_cover_failures_as_0": float(np.mean([v or 0.0 for v in cs])),
            "failures": sum(v is None for v in fs),
        }
    return out


def main() -> None:
    if not TCPD.is_dir():
        print(f"skipped: {TCPD} is absent")
        return
    annotations = json.loads((TCPD / "annotations.json").read_text())
    ours = score(annotations, **DEFAULTS)
    previous = score(annotations, **PREVIOUS_DEFAULTS)
    linear_grid = []
    for penalty in (2.0, 2.5, 3.0, 4.0, 5.0):
        for min_size in (5, 10, 20):
            for autocorrelation in (True, False):
                r = score(
                    annotations,
                    model="linear",
                    penalty=penalty,
                    min_size=min_size,
                    autocorrelation=autocorrelation,
                )
                linear_grid.append(
                    {
                        "model": "linear",
                        "penalty": penalty,
                        "min_size": min_size,
                        "autocorrelation": autocorrelation,
                        "mean_f1": r["mean_f1"],
                        "mean_cover": r["mean_cover"],
                    }
                )
    grid = []
    for method in ("edivisive", "binseg", "pelt"):
        for min_size in (5, 10, 20, 30):
            for pvalue in (1e-3, 1e-5, 1e-8):
                for autocorrelation in (True, False):
                    r = score(
                        annotations,
                        model="mean",
                        method=method,
                        min_size=min_size,
                        alpha=pvalue,
                        autocorrelation=autocorrelation,
                    )
                    grid.append(
                        {
                            "model": "mean",
                            "method": method,
                            "min_size": min_size,
                            "pvalue": pvalue,
                            "autocorrelation": autocorrelation,
                            "mean_f1": r["mean_f1"],
                            "mean_cover": r["mean_cover"],
                        }
                    )
    peers = published(sorted(annotations))
    best_f1 = max(peers, key=lambda m: peers[m]["mean_f1_failures_as_0"])
    best_cover = max(peers, key=lambda m: peers[m]["mean_cover_failures_as_0"])
    write_results(
        "tcpd",
        {
            "series": len(annotations),
            "defaults": {
                "model": "linear",
                "method": "binseg",
                "penalty": 3.0,
                "min_size": 10,
                "autocorrelation": True,
            },
            "perfstats": ours,
            "previous_default_mean_edivisive": {
                "mean_f1": previous["mean_f1"],
                "mean_cover": previous["mean_cover"],
            },
            "bars": {"mean_f1": 0.75, "mean_cover": 0.70},
            "tcpdbench_published_same_series": peers,
            "best_published_f1": [best_f1, peers[best_f1]["mean_f1_failures_as_0"]],
            "best_published_cover": [
                best_cover,
                peers[best_cover]["mean_cover_failures_as_0"],
            ],
            "sensitivity_grid_linear": linear_grid,
            "sensitivity_grid": grid,
        },
    )


if __name__ == "__main__":
    main()
