"""NAB scoring: hand-computed cases, a brute-force optimiser, and NAB's published figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfstats.stats.scoring import NAB_PROFILES, load_nab_corpus, nab_score


def curve(x: float) -> float:
    """NAB's scaled sigmoid 2*sigmoid(-5x) - 1, written as -tanh(2.5x)."""
    return -1.0 if x >= 3 else -math.tanh(2.5 * x)


def one_file(active: list[int], n: int = 8, window=(2, 4), **kw):
    scores = {"f": [float(i in active) for i in range(n)]}
    return nab_score(scores, {"f": [window]}, "standard", probation_percent=0.0, **kw)


# ---- hand-computed cases --------------------------------------------------------------


@pytest.mark.parametrize(
    "active", [[], [0], [2], [3], [4], [5], [7], [2, 3, 4], [0, 2, 7], [1, 4, 5, 6]]
)
def test_raw_score_follows_the_window_rules(active):
    # Window rows 2..4 (width 3); a TP at row i earns curve(-(5 - i)/3) / curve(-1); an
    # FP after the window costs 0.11 * curve((i - 4) / 2); before it, 0.11.
    expected = -1.0
    for i in active:
        if 2 <= i <= 4:
            expected = max(expected, curve(-(5 - i) / 3) / curve(-1.0))
    for i in active:
        if i < 2:
            expected -= 0.11
        elif i > 4:
            expected += 0.11 * curve((i - 4) / 2)
    got = one_file(active, threshold=0.5)
    assert got.raw == pytest.approx(expected, abs=1e-14)
    f = got.per_file["f"]
    assert f.tp == sum(2 <= i <= 4 for i in active)
    assert f.fp == sum(not 2 <= i <= 4 for i in active)
    assert (f.tp + f.fn, f.tn + f.fp, f.total) == (3, 5, 8)


def test_probationary_period_is_15_percent_capped_at_750_rows():
    for n, probation in [(4032, 604), (10000, 750), (20, 3)]:
        scores = np.zeros(n)
        scores[probation - 1] = 1.0  # inside the probation: ignored
        r = nab_score({"f": scores}, {"f": []}, threshold=0.5)
        assert r.per_file["f"].fp == 0 and r.per_file["f"].tn == n - probation
        scores[probation] = 1.0
        r = nab_score({"f": scores}, {"f": []}, threshold=0.5)
        assert r.per_file["f"].fp == 1 and r.raw == pytest.approx(-0.11)
        assert math.isnan(r.score)  # no window: the normalisation is 0/0


def test_null_is_zero_and_earliest_detection_without_false_positives_is_100():
    n = 400
    labels = {"a": [(100, 139), (300, 319)], "b": [(200, 259)]}
    null = nab_score({"a": np.full(n, 0.5), "b": np.full(n, 0.5)}, labels)
    assert null.score == 0.0 and null.raw == null.null == -3.0
    assert null.perfect == 3.0 and math.isinf(null.threshold)
    perfect = {"a": np.zeros(n), "b": np.zeros(n)}
    perfect["a"][[100, 300]] = 1.0
    perfect["b"][200] = 1.0
    r = nab_score(perfect, labels)
    assert r.score == pytest.approx(100.0, abs=1e-12) and r.threshold == 1.0


def test_profiles_change_the_weights():
    scores = {"f": np.r_[np.zeros(50), 1.0, np.zeros(49)]}
    labels = {"f": [(80, 89)]}
    for name, w in NAB_PROFILES.items():
        r = nab_score(scores, labels, name, threshold=0.5)
        assert r.raw == pytest.approx(-w["fpWeight"] - w["fnWeight"])
    custom = nab_score(scores, labels, {"tpWeight": 1, "fpWeight": 0.5, "fnWeight": 3})
    assert custom.profile == "custom" and custom.threshold == math.inf
    wrapped = nab_score(scores, labels, {"CostMatrix": NAB_PROFILES["standard"]})
    assert wrapped.score == nab_score(scores, labels).score


# ---- the threshold optimiser against brute force ------------------------------------


def direct_raw(scores: dict, labels: dict, threshold: float) -> float:
    """Straight loop over the NAB rules at one threshold (fp 0.11, fn 1, tp 1)."""
    total = 0.0
    for name, s in scores.items():
        n = len(s)
        probation = min(math.floor(0.15 * n), 750)
        windows = sorted(labels[name])
        for a, b in windows:
            hits = [i for i in range(max(a, probation), b + 1) if s[i] >= threshold]
            if any(i >= probation for i in range(a, b + 1)):
                best = max(
                    (curve(-(b - i + 1) / (b - a + 1)) / curve(-1) for i in hits),
                    default=-1.0,
                )
                total += best
        for i in range(probation, n):
            inside = any(a <= i <= b for a, b in windows)
            if inside or s[i] < threshold:
                continue
            before = [(a, b) for a, b in windows if b < i]
            if not before:
                total -= 0.11
            else:
                a, b = before[-1]
                total += 0.11 * curve(abs(b - i) / (b - a))
    return total


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_optimised_threshold_is_the_brute_force_best(seed):
    rng = np.random.default_rng(seed)
    scores = {f: rng.integers(0, 6, 60) / 5.0 for f in ("a", "b")}
    labels = {"a": [(20, 29)], "b": [(15, 19), (40, 49)]}
    r = nab_score(scores, labels)
    candidates = [math.inf, *sorted(set(np.concatenate(list(scores.values()))))[::-1]]
    raws = [direct_raw(scores, labels, t) for t in candidates]
    best = max(raws)
    first_best = candidates[next(i for i, v in enumerate(raws) if v > best - 1e-12)]
    assert r.raw == pytest.approx(best, abs=1e-12)
    assert r.threshold == first_best
    assert r.score == pytest.approx(100 * (best + 3) / 6, abs=1e-10)


# ---- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "scores,labels,kw,match",
    [
        ({"f": [0.1, math.nan]}, {"f": []}, {}, "NaN at row 1"),
        ({"f": [0.1, 0.2]}, {}, {}, "no entry for 'f'"),
        ({"f": [0.1, 0.2]}, {"f": [(0, 2)]}, {}, "outside rows"),
        ({"f": [0.1] * 9}, {"f": [(0, 4), (3, 6)]}, {}, "overlapping"),
        ({"f": [0.1] * 9}, {"f": [(1, 2)]}, {"profile": "nope"}, "profile must be"),
        ({"f": [0.1] * 9}, {"f": [(1, 2)]}, {"profile": {"tpWeight": 1}}, "fpWeight"),
        ({}, {}, {}, "non-empty mapping"),
    ],
)
def test_bad_input_is_rejected(scores, labels, kw, match):
    with pytest.raises(ValueError, match=match):
        nab_score(scores, labels, **kw)


def test_non_numeric_scores_are_a_type_error():
    with pytest.raises(TypeError, match="real numbers"):
        nab_score({"f": ["x"]}, {"f": []})


# ---- NAB's published windowedGaussian results ---------------------------------------

# Per-file standard-profile rows (Score, TP, TN, FP, FN) of NAB's published
# results/windowedGaussian/windowedGaussian_standard_scores.csv (threshold 1.0), for the
# files in ../shared/data/nab. Two files of that table are not reproduced:
# ec2_cpu_utilization_825cc2 and grok_asg_anomaly (published TP 0 and 1 where the series
# shipped at ea702d75 give 36 and 69 with the same detector): the published run predates
# those series as shipped, and they are left out rather than explained away.
PUBLISHED_WG = {
    "artificialNoAnomaly/art_daily_no_noise.csv": (0.0, 0, 3428, 0, 0),
    "artificialNoAnomaly/art_daily_perfect_square_wave.csv": (0.0, 0, 3428, 0, 0),
    "artificialNoAnomaly/art_daily_small_noise.csv": (0.0, 0, 3428, 0, 0),
    "artificialNoAnomaly/art_flatline.csv": (0.0, 0, 3428, 0, 0),
    "artificialNoAnomaly/art_noisy.csv": (0.0, 0, 3428, 0, 0),
    "artificialWithAnomaly/art_daily_flatmiddle.csv": (-1.0, 0, 3025, 0, 403),
    "artificialWithAnomaly/art_daily_jumpsdown.csv": (-1.0, 0, 3025, 0, 403),
    "artificialWithAnomaly/art_daily_jumpsup.csv": (-1.0, 0, 3025, 0, 403),
    "artificialWithAnomaly/art_daily_nojump.csv": (-1.0, 0, 3025, 0, 403),
    "artificialWithAnomaly/art_increase_spike_density.csv": (-1.0, 0, 3025, 0, 403),
    "artificialWithAnomaly/art_load_balancer_spikes.csv": (
        -0.6924446095227346,
        18,
        3010,
        15,
        385,
    ),
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv": (
        -1.266678759349383,
        2,
        3015,
        11,
        400,
    ),
    "realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv": (
        -0.14142319611668508,
        2,
        3023,
        3,
        400,
    ),
    "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv": (-2.0, 0, 3026, 0, 402),
    "realAWSCloudwatch/ec2_cpu_utilization_77c1ca.csv": (-1.0, 0, 3025, 0, 403),
    "realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv": (
        0.8606718242697022,
        25,
        3025,
        0,
        378,
    ),
    "realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv": (-1.32, 0, 3416, 12, 0),
    "realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv": (
        0.6387577917723906,
        6,
        3022,
        1,
        399,
    ),
    "realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv": (
        -4.190896785522053,
        9,
        3500,
        48,
        464,
    ),
    "realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv": (
        -1.0959985303155564,
        13,
        3004,
        19,
        392,
    ),
    "realAWSCloudwatch/ec2_network_in_257a54.csv": (
        0.8606718242697022,
        4,
        3025,
        0,
        399,
    ),
    "realAWSCloudwatch/ec2_network_in_5abac7.csv": (
        -3.5219322351911635,
        19,
        3497,
        50,
        455,
    ),
    "realAWSCloudwatch/elb_request_count_8c0756.csv": (
        -0.13844919792440225,
        1,
        3026,
        0,
        401,
    ),
    "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv": (-2.0, 0, 931, 0, 126),
    "realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv": (
        -0.13844919792440225,
        50,
        3026,
        0,
        352,
    ),
    "realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv": (
        -0.13844919792440225,
        2,
        3026,
        0,
        400,
    ),
}


def windowed_gaussian(values: np.ndarray) -> np.ndarray:
    """NAB's windowedGaussian detector (window 6400 rows, longer than these files, so an
    expanding window): 1 - Q(|z|), written to its results CSV with Python 2's str(), i.e.
    12 significant digits (so the threshold 1.0 catches |z| above about 7.4)."""
    assert values.size <= 6400
    out = np.zeros(values.size)
    for i in range(1, values.size):
        mean, std = np.mean(values[:i]), np.std(values[:i])
        std = std if std != 0.0 else 1e-6
        x = values[i] if values[i] >= mean else 2 * mean - values[i]
        out[i] = float("%.12g" % (1 - 0.5 * math.erfc((x - mean) / std / math.sqrt(2))))
    return out


@pytest.fixture(scope="module")
def nab_corpus(shared_data):
    return load_nab_corpus(shared_data / "nab")


def test_corpus_loader_matches_the_label_file(nab_corpus, shared_data):
    import json

    root = shared_data / "nab"
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    present = {f: w for f, w in labels.items() if (root / "data" / f).is_file()}
    assert len(present) >= 28  # the shared subset, or NAB's full 58 files
    assert nab_corpus.files == sorted(present)
    assert sum(len(w) for w in nab_corpus.windows.values()) == sum(
        len(w) for w in present.values()
    )
    f = "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"
    a, _b = nab_corpus.windows[f][0]
    assert str(nab_corpus.timestamps[f][a])[:19] == "2014-02-26T13:45:00"
    for name, weights in NAB_PROFILES.items():
        assert {k: nab_corpus.profiles[name][k] for k in weights} == weights


def test_published_windowed_gaussian_scores_are_reproduced(nab_corpus):
    scores = {f: windowed_gaussian(nab_corpus.values[f]) for f in PUBLISHED_WG}
    labels = {f: nab_corpus.windows[f] for f in PUBLISHED_WG}
    r = nab_score(scores, labels, "standard", threshold=1.0)
    for f, (raw, tp, tn, fp, fn) in PUBLISHED_WG.items():
        got = r.per_file[f]
        assert (got.tp, got.tn, got.fp, got.fn) == (tp, tn, fp, fn), f
        # NAB sums the same terms in another order: a few ulps.
        assert got.raw == pytest.approx(raw, abs=1e-12), f


@pytest.mark.parametrize(
    "body, match",
    [
        ("timestamp,value\n2014-01-01 00:00:00,1.0\n2014-01-01 00:05:00\n", "line 3"),
        ("timestamp,value\n2014-01-01 00:00:00,one\n", "unparsable value"),
        ("timestamp,value\nyesterday,1.0\n", "unparsable timestamp"),
        ("time,value\n2014-01-01 00:00:00,1.0\n", "header"),
    ],
)
def test_malformed_corpus_files_name_the_file_and_line(tmp_path, body, match):
    import json

    (tmp_path / "labels").mkdir()
    (tmp_path / "data" / "x").mkdir(parents=True)
    (tmp_path / "labels" / "combined_windows.json").write_text(
        json.dumps({"x/a.csv": []})
    )
    (tmp_path / "data" / "x" / "a.csv").write_text(body)
    with pytest.raises(ValueError, match=match) as info:
        load_nab_corpus(tmp_path)
    assert "a.csv" in str(info.value)
