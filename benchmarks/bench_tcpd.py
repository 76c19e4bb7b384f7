"""TCPDBench scores of perfstats change points on the annotated series we have.

Default settings on every series (no per-series tuning), scored with TCPDBench's
F1 (margin 5) and segmentation cover against the human annotations, next to the
published default-experiment scores of TCPDBench's methods on the same series.
Multivariate series (run_log) are handled the way a user would: detect on each
column and take the union, dropping a point within ``min_size`` of an earlier one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import write_results
from perfstats import detect_changepoints
from perfstats.scoring import tcpd_cover, tcpd_f1

# ../shared/data beside the checkout, or PERFSTATS_SHARED_DATA (e.g. in a worktree).
SHARED = Path(
    os.environ.get(
        "PERFSTATS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)
TCPD = SHARED / "changepoint" / "tcpd"
DEFAULTS: dict[str, Any] = {"method": "edivisive", "min_size": 10, "pvalue": 0.001}


def load(name: str) -> tuple[list[np.ndarray], int]:
    data = json.loads((TCPD / "datasets" / name / f"{name}.json").read_text())
    columns = [np.asarray(s["raw"], dtype=float) for s in data["series"]]
    return columns, int(data["n_obs"])


def locate(columns: list[np.ndarray], **options: Any) -> list[int]:
    min_size = options.get("min_size", DEFAULTS["min_size"])
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
    grid = []
    for method in ("edivisive", "binseg", "pelt"):
        for min_size in (5, 10, 20, 30):
            for pvalue in (1e-3, 1e-5, 1e-8):
                for autocorrelation in (True, False):
                    r = score(
                        annotations,
                        method=method,
                        min_size=min_size,
                        pvalue=pvalue,
                        autocorrelation=autocorrelation,
                    )
                    grid.append(
                        {
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
            "defaults": DEFAULTS,
            "perfstats": ours,
            "bars": {"mean_f1": 0.75, "mean_cover": 0.70},
            "tcpdbench_published_same_series": peers,
            "best_published_f1": [best_f1, peers[best_f1]["mean_f1_failures_as_0"]],
            "best_published_cover": [
                best_cover,
                peers[best_cover]["mean_cover_failures_as_0"],
            ],
            "sensitivity_grid": grid,
        },
    )


if __name__ == "__main__":
    main()
