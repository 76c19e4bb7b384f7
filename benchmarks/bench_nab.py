"""perfstats detectors scored on the NAB series in ../shared/data/nab (standard profile).

One setting per detector for every file (no per-file tuning); the NAB anomaly score of a
point is ``|score|`` (NaN during warm-up counts as 0), and NAB's optimiser picks one
threshold for the corpus. Each detector is scored three times: on its raw ``|score|``, on
Numenta's anomaly likelihood of it (``perfstats.anomaly.anomaly_likelihood`` with its
defaults, Numenta's settings) and on its causal empirical tail probability among the
file's earlier scores (``empirical_tail_score``, no parameters); both calibrations make
scores comparable across files. For reference the same corpus is scored with NAB's own
windowedGaussian: its published per-file raw scores (threshold 1.0, from NAB's
results/windowedGaussian/windowedGaussian_standard_scores.csv) and our re-run of it.
The shared data hold 28 of NAB's 58 files, so these are not the full-benchmark numbers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import write_results
from perfstats.anomaly import (
    EwmaZScore,
    RobustZScore,
    RollingZScore,
    SeasonalZScore,
    anomaly_likelihood,
    empirical_tail_score,
)
from perfstats.scoring import NabScore, load_nab_corpus, nab_score

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"

DETECTORS: dict[str, Any] = {
    "RollingZScore(window=1000, min_periods=100)": lambda: RollingZScore(
        1000, min_periods=100
    ),
    "RollingZScore(window=288)": lambda: RollingZScore(288),
    "RobustZScore(window=1000, min_periods=100)": lambda: RobustZScore(
        1000, min_periods=100
    ),
    "EwmaZScore(halflife=200)": lambda: EwmaZScore(200.0),
    "SeasonalZScore(period=288, window=7)": lambda: SeasonalZScore(288, 7),
}

# NAB's published windowedGaussian raw scores, standard profile, threshold 1.0.
PUBLISHED_WG_RAW = {
    "artificialNoAnomaly/art_daily_no_noise.csv": 0.0,
    "artificialNoAnomaly/art_daily_perfect_square_wave.csv": 0.0,
    "artificialNoAnomaly/art_daily_small_noise.csv": 0.0,
    "artificialNoAnomaly/art_flatline.csv": 0.0,
    "artificialNoAnomaly/art_noisy.csv": 0.0,
    "artificialWithAnomaly/art_daily_flatmiddle.csv": -1.0,
    "artificialWithAnomaly/art_daily_jumpsdown.csv": -1.0,
    "artificialWithAnomaly/art_daily_jumpsup.csv": -1.0,
    "artificialWithAnomaly/art_daily_nojump.csv": -1.0,
    "artificialWithAnomaly/art_increase_spike_density.csv": -1.0,
    "artificialWithAnomaly/art_load_balancer_spikes.csv": -0.6924446095227346,
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv": -1.266678759349383,
    "realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv": -0.14142319611668508,
    "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv": -2.0,
    "realAWSCloudwatch/ec2_cpu_utilization_77c1ca.csv": -1.0,
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv": -1.0,
    "realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv": 0.8606718242697022,
    "realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv": -1.3200000000000003,
    "realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv": 0.6387577917723906,
    "realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv": -4.190896785522053,
    "realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv": -1.0959985303155564,
    "realAWSCloudwatch/ec2_network_in_257a54.csv": 0.8606718242697022,
    "realAWSCloudwatch/ec2_network_in_5abac7.csv": -3.5219322351911635,
    "realAWSCloudwatch/elb_request_count_8c0756.csv": -0.13844919792440225,
    "realAWSCloudwatch/grok_asg_anomaly.csv": -1.247930964293478,
    "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv": -2.0,
    "realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv": -0.13844919792440225,
    "realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv": -0.13844919792440225,
}


def windowed_gaussian(values: np.ndarray) -> np.ndarray:
    """NAB's windowedGaussian on files shorter than its 6400-row window (see the test)."""
    out = np.zeros(values.size)
    for i in range(1, values.size):
        mean, std = np.mean(values[:i]), np.std(values[:i])
        std = std if std != 0.0 else 1e-6
        x = values[i] if values[i] >= mean else 2 * mean - values[i]
        out[i] = float("%.12g" % (1 - 0.5 * math.erfc((x - mean) / std / math.sqrt(2))))
    return out


def summary(r: NabScore) -> dict[str, Any]:
    return {
        "score": r.score,
        "raw": r.raw,
        "threshold": r.threshold,
        "tp": sum(f.tp for f in r.per_file.values()),
        "fp": sum(f.fp for f in r.per_file.values()),
        "windows_detected": sum(
            1 for f in r.per_file.values() if f.windows and f.tp > 0
        ),
    }


def main() -> dict[str, Any]:
    if not DATA.is_dir():
        print(f"skipped: no NAB data at {DATA}")
        return {}
    corpus = load_nab_corpus(DATA)
    n_windows = sum(len(w) for w in corpus.windows.values())
    results: dict[str, Any] = {
        "profile": "standard",
        "files": len(corpus.files),
        "windows": n_windows,
        "note": "28 of NAB's 58 files (those in ../shared/data/nab); NAB's full-"
        "benchmark bars (windowedGaussian 39.6, Skyline 58.2) are not comparable",
        "detectors": {},
    }
    for name, make in DETECTORS.items():
        raw = {f: make().detect(corpus.values[f]).score for f in corpus.files}
        for label, transform in (
            ("", np.abs),
            (" + anomaly_likelihood", anomaly_likelihood),
            (" + empirical_tail_score", empirical_tail_score),
        ):
            scores = {f: np.nan_to_num(transform(raw[f]), nan=0.0) for f in raw}
            r = nab_score(scores, corpus.windows, "standard")
            results["detectors"][name + label] = {
                **summary(r),
                "other_profiles": {
                    p: nab_score(scores, corpus.windows, p).score
                    for p in ("reward_low_FP_rate", "reward_low_FN_rate")
                },
            }
    wg_scores = {f: windowed_gaussian(corpus.values[f]) for f in corpus.files}
    rerun = nab_score(wg_scores, corpus.windows, "standard", threshold=1.0)
    published_raw = math.fsum(PUBLISHED_WG_RAW[f] for f in corpus.files)
    results["windowedGaussian"] = {
        "published_threshold_1_score": 100
        * (published_raw - rerun.null)
        / (rerun.perfect - rerun.null),
        "published_threshold_1_raw": published_raw,
        "rerun_threshold_1": summary(rerun),
        "rerun_optimised": summary(nab_score(wg_scores, corpus.windows, "standard")),
    }
    write_results("nab", results)
    return results


if __name__ == "__main__":
    main()
