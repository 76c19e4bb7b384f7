"""CUPED in perfstats beside GrowthBook's gbstats (issue 13 anchors).

Per-user metrics (a user's total tokens in the week, a "mean" metric in gbstats' terms)
of users with a persistent propensity, randomised 50/50, with the same metric of the
week before as the covariate. For each seeded replication: perfstats.cuped (theta
pooled within arms, HC2 error) and gbstats 0.8's RegressionAdjustedStatistic (theta from
the pooled sample, fixed-theta variance) give an estimate and a standard error; the
benchmark reports their largest disagreement, the one-sided 5 % false-positive rate
under A/A and the power at a true 4 % reduction, with and without the pre-period.
gbstats runs in ``.venv-anchors`` (see bench_compare.py); without it only perfstats
is measured. (gbstats 0.8 has no CUPED for ratio metrics; perfstats' delta-method
ratio CUPED is checked in tests/test_cuped.py and tests/calibration/.)

Writes benchmarks/results/cuped.json:
    PYTHONPATH=python .venv/bin/python benchmarks/bench_cuped.py [replications]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results

from perfstats._special import t_sf
from perfstats.stats.cuped import cuped

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ROOT / ".venv-anchors" / "bin" / "python"
USERS = 2000


def users(rng: np.random.Generator, effect: float) -> tuple[Any, Any, Any]:
    """(treated, pre-period tokens, experiment tokens) per user."""
    rate = 1000.0 * rng.lognormal(0.0, 0.6, USERS)  # persistent tokens per day
    treated = rng.permutation(np.repeat([True, False], USERS // 2))
    pre = rng.poisson(7 * rate).astype(float)
    post = rng.poisson(
        7 * rate * np.where(treated, effect, 1.0) * rng.lognormal(0, 0.3, USERS)
    )
    return treated, pre, post.astype(float)


def sufficient(t: Any, x: Any, y: Any) -> dict[str, list[float]]:
    out = {}
    for arm, g in (("v2", t), ("control", ~t)):
        a, b = y[g], x[g]
        out[arm] = [float(g.sum()), a.sum(), (a * a).sum(), b.sum(), (b * b).sum(),
                    (a * b).sum()]  # fmt: skip
    return out


def main(replications: int = 500) -> dict[str, Any]:
    rng = np.random.default_rng(20261207)
    results: dict[str, Any] = {}
    spec: dict[str, list[Any]] = {}
    mine: dict[str, list[Any]] = {}
    for name, effect in (("A/A", 1.0), ("4% fewer tokens", 0.96)):
        spec[name], mine[name] = [], []
        plain_hits = 0
        for _ in range(replications):
            t, x, y = users(rng, effect)
            r = cuped(y, t, x)
            g, se, df = r.contrast()
            mine[name].append([g, se, df, t_sf(-g / se, df), r.variance_reduction])
            g0, se0, df0 = cuped(y, t).contrast()
            plain_hits += t_sf(-g0 / se0, df0) < 0.05
            spec[name].append(sufficient(t, x, y))
        arr = np.array(mine[name])
        results[name] = {
            "replications": replications,
            "perfstats CUPED: P(one-sided p < 0.05)": float(np.mean(arr[:, 3] < 0.05)),
            "perfstats without pre-period": plain_hits / replications,
            "perfstats variance reduction (median)": float(np.median(arr[:, 4])),
        }
    note = "ran in .venv-anchors"
    if ANCHORS.exists():
        with tempfile.TemporaryDirectory() as tmp:
            for name in spec:
                src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
                src.write_text(json.dumps(spec[name]))
                subprocess.run(
                    [str(ANCHORS), str(Path(__file__).with_name("_cuped_anchor.py")),
                     str(src), str(dst)],
                    check=True,
                )  # fmt: skip
                gb = np.array(json.loads(dst.read_text()))
                arr = np.array(mine[name])
                results[name].update(
                    {
                        "gbstats CUPED: P(one-sided p < 0.05)": float(
                            np.mean(gb[:, 3] < 0.05)
                        ),
                        "max |estimate difference| / se": float(
                            np.max(np.abs(arr[:, 0] - gb[:, 0]) / arr[:, 1])
                        ),
                        "se ratio perfstats / gbstats (min, max)": [
                            float(np.min(arr[:, 1] / gb[:, 1])),
                            float(np.max(arr[:, 1] / gb[:, 1])),
                        ],
                    }
                )
    else:
        note = f"not run: no {ANCHORS} (see bench_compare.py)"
    out = {"what": "CUPED on per-user token totals, 2,000 users", "anchors": note,
           "scenarios": results}  # fmt: skip
    write_results("cuped", out)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
