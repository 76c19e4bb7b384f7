"""Decisions of spotify-confidence and gbstats on sufficient statistics (run by
bench_compare.py in the separate anchors venv: both pin numpy < 2 and pandas < 2).

Usage: python _compare_anchors.py IN.json OUT.json. IN holds a list of looks, each
{"control": {"lat": [n, sum, sumsq], "err": [n, errors]}, "v2": {...}}, plus the
error-rate margin (absolute) and the baseline error rate used to express it relative
for spotify-confidence (whose margins are relative to the baseline).
"""

from __future__ import annotations

import json
import sys
import warnings

warnings.simplefilter("ignore")


def spotify(look: dict, margin: float, base_rate: float) -> bool:
    import pandas as pd
    import spotify_confidence as sc

    rows = []
    for arm in ("control", "v2"):
        n, s, ss = look[arm]["lat"]
        rows.append({"variant": arm, "metric": "latency", "s": s, "ss": ss, "n": n})
        n, k = look[arm]["err"]
        rows.append({"variant": arm, "metric": "errors", "s": k, "ss": k, "n": n})
    z = sc.ZTest(
        pd.DataFrame(rows),
        numerator_column="s",
        numerator_sum_squares_column="ss",
        denominator_column="n",
        categorical_group_columns="variant",
        metric_column="metric",
        treatment_column="variant",
        interval_size=0.95,
        correction_method="bonferroni",
    )
    d = z.difference(
        level_1="control",
        level_2="v2",
        absolute=True,
        groupby="metric",
        non_inferiority_margins={
            "latency": (None, "decrease"),
            "errors": (margin / base_rate, "decrease"),
        },
    ).set_index("metric")
    return bool(
        d.loc["latency", "is_significant"] and d.loc["errors", "is_significant"]
    )


def gbstats(look: dict, margin: float, sequential: bool) -> bool:
    from gbstats.frequentist.tests import (
        FrequentistConfig,
        SequentialConfig,
        SequentialTwoSidedTTest,
        TwoSidedTTest,
    )
    from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic

    def test(a, b):  # two-sided at 0.10: each bound is a one-sided 5 % test
        if sequential:
            cfg = SequentialConfig(
                alpha=0.1, difference_type="absolute", sequential_tuning_parameter=5000
            )
            return SequentialTwoSidedTTest(a, b, cfg).compute_result()
        cfg = FrequentistConfig(alpha=0.1, difference_type="absolute")
        return TwoSidedTTest(a, b, cfg).compute_result()

    lat = test(
        *(
            SampleMeanStatistic(
                n=int(look[k]["lat"][0]),
                sum=look[k]["lat"][1],
                sum_squares=look[k]["lat"][2],
            )
            for k in ("control", "v2")
        )
    )
    err = test(
        *(
            ProportionStatistic(n=int(look[k]["err"][0]), sum=look[k]["err"][1])
            for k in ("control", "v2")
        )
    )
    return bool(lat.ci[1] < 0 and err.ci[1] < margin)


def main() -> None:
    spec = json.load(open(sys.argv[1]))
    out = {}
    for name, reps in spec["scenarios"].items():
        res = {"spotify-confidence": [], "gbstats": [], "gbstats sequential": []}
        for looks in reps:  # one replication: a list of looks
            res["spotify-confidence"].append(
                any(spotify(lk, spec["margin"], spec["base_rate"]) for lk in looks)
            )
            res["gbstats"].append(
                any(gbstats(lk, spec["margin"], False) for lk in looks)
            )
            res["gbstats sequential"].append(
                any(gbstats(lk, spec["margin"], True) for lk in looks)
            )
        out[name] = {k: sum(v) / len(v) for k, v in res.items()}
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
