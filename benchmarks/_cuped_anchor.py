"""gbstats' CUPED (RegressionAdjustedStatistic, frequentist t-test) on sufficient
statistics; run by bench_cuped.py in the anchors venv (gbstats pins numpy < 2).

Usage: python _cuped_anchor.py IN.json OUT.json. IN: a list of replications, each
{"control": [n, sum_y, sum_y2, sum_x, sum_x2, sum_xy], "v2": [...]}. OUT: for each,
[estimate (v2 - control), standard error, Welch df, one-sided p of "v2 lower"].
"""

from __future__ import annotations

import json
import sys
import warnings

warnings.simplefilter("ignore")


def main() -> None:
    from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
    from gbstats.models.statistics import (
        RegressionAdjustedStatistic,
        SampleMeanStatistic,
        compute_theta,
    )

    out = []
    for rep in json.load(open(sys.argv[1])):
        stats = {}
        for arm in ("control", "v2"):
            n, sy, syy, sx, sxx, sxy = rep[arm]
            stats[arm] = RegressionAdjustedStatistic(
                n=int(n),
                post_statistic=SampleMeanStatistic(n=int(n), sum=sy, sum_squares=syy),
                pre_statistic=SampleMeanStatistic(n=int(n), sum=sx, sum_squares=sxx),
                post_pre_sum_of_products=sxy,
                theta=0.0,
            )
        theta = compute_theta(stats["control"], stats["v2"])
        for s in stats.values():
            s.theta = theta
        test = TwoSidedTTest(
            stats["control"],
            stats["v2"],
            FrequentistConfig(alpha=0.1, difference_type="absolute"),
        )
        from scipy.stats import t

        est, var, dof = test.point_estimate, test.variance, test.dof
        out.append([est, var**0.5, dof, float(t.cdf(est / var**0.5, dof))])
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
