"""`make calibrate`: every decision's error rate by seeded simulation, many replications.

Runs ``calibration_rows`` of each ``tests/calibration/scenarios_*.py`` and writes
``benchmarks/results/calibration.json`` (one row per decision and scenario: stated rate,
direction, measured rate, replications, and whether it holds within binomial tolerance).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "calibration"


def _load(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replications", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--only", default=None, help="one family, e.g. compare")
    parser.add_argument(
        "--output", default=str(ROOT / "benchmarks/results/calibration.json")
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(SCENARIOS))
    conftest = _load(SCENARIOS / "_tolerance.py")
    tolerance = conftest.binomial_tolerance  # type: ignore[attr-defined]
    rows = []
    failed = 0
    for path in sorted(SCENARIOS.glob("scenarios_*.py")):
        family = path.stem.removeprefix("scenarios_")
        if args.only and family != args.only:
            continue
        module = _load(path)
        start = time.perf_counter()
        got = module.calibration_rows(args.replications, args.seed)  # type: ignore[attr-defined]
        took = time.perf_counter() - start
        for row in got:
            nominal, measured = float(row["nominal"]), float(row["measured"])
            tol = tolerance(nominal, int(row["replications"]))
            holds = (
                measured <= nominal + tol
                if row["direction"] == "<="
                else measured >= nominal - tol
            )
            failed += not holds
            rows.append({"family": family, **row, "tolerance": tol, "holds": holds})
            mark = "ok  " if holds else "FAIL"
            print(
                f"{mark} {family:10s} {row['decision']:34s} {row['scenario']:44s} "
                f"{row['direction']} {nominal:<6g} measured {measured:.4f}"
            )
        print(f"     {family}: {len(got)} rows in {took:.0f} s")
    Path(args.output).write_text(
        json.dumps(
            {
                "replications": args.replications,
                "seed": args.seed,
                "load_average": os.getloadavg(),
                "rows": rows,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {args.output}; {failed} row(s) outside tolerance")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
