"""TCPDBench's F1 and cover: its own test vectors, its published scores, hand cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfstats.stats.scoring import tcpd_cover, tcpd_f1

# Published scores were computed in another summation order (annotator order of the
# original file); the results agree to a few ulps, nothing more is at stake.
ULPS = 1e-15


def test_reproduces_tcpdbench_metric_test_vectors(shared_data: Path) -> None:
    vectors = json.loads(
        (shared_data / "changepoint/tcpd/metric_test_vectors.json").read_text()
    )["nile"]
    for case in vectors["cases"]:
        f = tcpd_f1(vectors["annotations"], case["predicted"])
        assert f.f1 == pytest.approx(case["f1"], rel=ULPS, abs=ULPS)
        assert f.precision == pytest.approx(case["precision"], rel=ULPS, abs=ULPS)
        assert f.recall == pytest.approx(case["recall"], rel=ULPS, abs=ULPS)
        cover = tcpd_cover(vectors["annotations"], case["predicted"], n_obs=100)
        assert cover == pytest.approx(case["cover"], rel=ULPS, abs=ULPS)


def test_reproduces_published_scores_of_the_zero_method(shared_data: Path) -> None:
    # TCPDBench's "zero" method predicts no change point, so its published F1 and
    # cover on every series follow from the annotations alone.
    root = shared_data / "changepoint/tcpd"
    annotations = json.loads((root / "annotations.json").read_text())
    f1 = json.loads((root / "default_f1_scores.json").read_text())
    cover = json.loads((root / "default_cover_scores.json").read_text())
    assert len(annotations) == 16
    for name, ann in annotations.items():
        n_obs = json.loads((root / "datasets" / name / f"{name}.json").read_text())[
            "n_obs"
        ]
        assert tcpd_f1(ann, []).f1 == pytest.approx(f1[name]["zero"], abs=ULPS)
        assert tcpd_cover(ann, [], n_obs=n_obs) == pytest.approx(
            cover[name]["zero"], abs=ULPS
        )


def test_hand_computed_single_annotator() -> None:
    # Truth {0, 10}, predictions {0, 15}: 15 is 5 away from 10.
    assert tcpd_f1([[10]], [15]).f1 == 1.0
    narrow = tcpd_f1([[10]], [15], margin=4)
    assert (narrow.precision, narrow.recall, narrow.f1) == (0.5, 0.5, 0.5)
    # Segments [0,10) [10,20) against [0,15) [15,20): 10*(10/15) + 10*(5/10), / 20.
    assert tcpd_cover([[10]], [15], n_obs=20) == pytest.approx((20 / 3 + 5) / 20)


def test_each_prediction_matches_one_true_point_only() -> None:
    # Two true points 2 apart, one prediction between them: one match.
    r = tcpd_f1([[10, 12]], [11])
    assert r.precision == 1.0  # both {0, 11} match
    assert r.recall == pytest.approx(2 / 3)  # 0 and one of 10, 12


def test_recall_is_averaged_over_annotators() -> None:
    r = tcpd_f1({"a": [50], "b": []}, [])
    assert r.recall == pytest.approx((1 / 2 + 1) / 2)
    assert r.precision == 1.0
    assert r.f1 == pytest.approx(2 * 0.75 / 1.75)


def test_perfect_and_empty_agreement_score_one() -> None:
    assert tcpd_f1({"a": [], "b": []}, []).f1 == 1.0
    assert tcpd_cover({"a": [], "b": []}, [], n_obs=30) == 1.0
    assert tcpd_f1([[5, 20]], [5, 20]).f1 == 1.0
    assert tcpd_cover([[5, 20]], [20, 5, 5], n_obs=30) == 1.0


def test_float_of_result_is_f1_and_to_dict() -> None:
    r = tcpd_f1([[10]], [40])
    assert float(r) == r.f1
    assert r.to_dict() == {"f1": r.f1, "precision": r.precision, "recall": r.recall}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"annotations": {}, "predicted": []}, ValueError),
        ({"annotations": [[1.5]], "predicted": []}, TypeError),
        ({"annotations": [[-1]], "predicted": []}, ValueError),
        ({"annotations": [[1]], "predicted": ["3"]}, TypeError),
        ({"annotations": "12", "predicted": []}, TypeError),
        ({"annotations": [[1]], "predicted": [], "margin": -1}, ValueError),
        ({"annotations": [[1]], "predicted": [], "alpha": 1.0}, ValueError),
    ],
)
def test_f1_rejects_bad_input(kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        tcpd_f1(**kwargs)  # type: ignore[arg-type]


def test_cover_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="n_obs"):
        tcpd_cover([[1]], [], n_obs=0)
    with pytest.raises(TypeError, match="n_obs"):
        tcpd_cover([[1]], [], n_obs=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside"):
        tcpd_cover([[1]], [30], n_obs=30)
    with pytest.raises(ValueError, match="outside"):
        tcpd_cover([[31]], [], n_obs=30)
