"""TCPDBench change-point scores: F1 with a margin and segmentation cover.

These reproduce ``analysis/scripts/metrics.py`` of alan-turing-institute/TCPDBench
(van den Burg and Williams, 2020, "An Evaluation of Change Point Detection
Algorithms") exactly, including its conventions:

- change points are 0-based indices of the first observation of a new segment;
- index 0 is added to every annotation set and to the predictions, so a detector
  that predicts nothing on a series nobody annotated scores F1 = 1;
- a predicted point matches a true point within ``margin`` observations, each
  prediction matching at most one true point (greedy, closest first, true points
  visited in the same order as TCPDBench visits its Python sets);
- precision is measured against the union of all annotators' points, recall is
  averaged over annotators;
- cover is the segmentation covering of Arbelaez et al. (2011), averaged over
  annotators.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from perfstats._result import Result

__all__ = ["TcpdF1", "tcpd_cover", "tcpd_f1"]

Annotations = Mapping[Any, Iterable[int]] | Iterable[Iterable[int]]


@dataclass(frozen=True, repr=False)
class TcpdF1(Result):
    """F1 score of predicted change points against several annotators.

    Attributes
    ----------
    f1 : float
        Weighted harmonic mean of precision and recall (``alpha = 0.5``).
    precision : float
        Share of predictions (plus index 0) that match a point of any annotator.
    recall : float
        Share of each annotator's points (plus index 0) that are matched,
        averaged over annotators.
    """

    f1: float
    precision: float
    recall: float

    _one_line = True

    def to_dict(self) -> dict[str, Any]:
        """The three scores as a plain dict."""
        return {"f1": self.f1, "precision": self.precision, "recall": self.recall}

    def __float__(self) -> float:
        return self.f1


def _as_locations(values: Iterable[Any], name: str) -> list[int]:
    out: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            if isinstance(v, float | np.floating) and float(v).is_integer():
                v = int(v)
            else:
                raise TypeError(f"{name} must hold integer indices, got {v!r}")
        if int(v) < 0:
            raise ValueError(f"{name} must hold non-negative indices, got {int(v)}")
        out.append(int(v))
    return out


def _annotation_sets(annotations: Annotations) -> list[list[int]]:
    if isinstance(annotations, Mapping):
        groups = list(annotations.values())
    elif isinstance(annotations, str | bytes):
        raise TypeError("annotations must be a mapping or a list of index lists")
    else:
        groups = list(annotations)
    if not groups:
        raise ValueError("annotations must hold at least one annotator")
    return [_as_locations(g, "annotations") for g in groups]


def _true_positives(truth: set[int], predicted: set[int], margin: int) -> set[int]:
    # Greedy matching in the iteration order of `truth`, as TCPDBench does; each
    # prediction is used at most once, the closest (then smallest) one first.
    available = set(predicted)
    matched: set[int] = set()
    for tau in truth:
        close = sorted((abs(tau - x), x) for x in available if abs(tau - x) <= margin)
        if not close:
            continue
        matched.add(tau)
        available.remove(close[0][1])
    return matched


def tcpd_f1(
    annotations: Annotations,
    predicted: Iterable[int],
    *,
    margin: int = 5,
    alpha: float = 0.5,
) -> TcpdF1:
    """TCPDBench's F1 score of predicted change points.

    Parameters
    ----------
    annotations : mapping or sequence of sequences of int
        One list of change-point indices per annotator (a dict keyed by annotator
        id, as in TCPDBench's ``annotations.json``, or a list of lists). An empty
        list means the annotator saw no change.
    predicted : sequence of int
        Predicted change-point indices (0-based; the first index of each new
        segment).
    margin : int, default 5
        A prediction within ``margin`` observations of a true point matches it.
    alpha : float, default 0.5
        Weight of precision in the F-measure; 0.5 gives the usual F1.

    Returns
    -------
    TcpdF1
        ``f1``, ``precision`` and ``recall``; ``float(result)`` is the F1.

    Examples
    --------
    >>> ann = {"6": [], "7": [28], "8": [], "12": [28], "13": [28]}
    >>> round(tcpd_f1(ann, [27]).f1, 6)
    1.0
    >>> r = tcpd_f1(ann, [])
    >>> round(r.precision, 3), round(r.recall, 3), round(r.f1, 4)
    (1.0, 0.7, 0.8235)
    """
    if isinstance(margin, bool) or not isinstance(margin, int | np.integer):
        raise TypeError(f"margin must be an integer, got {margin!r}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    groups = _annotation_sets(annotations)
    per_annotator = []
    for g in groups:
        tk = set(g)
        tk.add(0)  # built like TCPDBench's sets, so they iterate in the same order
        per_annotator.append(tk)
    x = set(_as_locations(predicted, "predicted"))
    x.add(0)
    union: set[int] = set()
    for tk in per_annotator:
        for tau in tk:
            union.add(tau)
    precision = len(_true_positives(union, x, int(margin))) / len(x)
    # 1/K * sum (not sum / K), so the floating-point result is TCPDBench's to the bit.
    recall = (
        1
        / len(per_annotator)
        * sum(
            len(_true_positives(tk, x, int(margin))) / len(tk) for tk in per_annotator
        )
    )
    f1 = precision * recall / (alpha * recall + (1.0 - alpha) * precision)
    return TcpdF1(f1=f1, precision=precision, recall=recall)


def _segment_bounds(locations: Iterable[int], n_obs: int) -> list[tuple[int, int]]:
    # TCPDBench's partition: points outside [1, n_obs) are ignored, duplicates merge.
    cuts = sorted({c for c in locations if 0 < c < n_obs})
    edges = [0, *cuts, n_obs]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def _cover_single(
    predicted: list[tuple[int, int]], truth: list[tuple[int, int]]
) -> float:
    total = 0.0
    n_obs = truth[-1][1]
    for a0, a1 in truth:
        best = 0.0
        for b0, b1 in predicted:
            inter = min(a1, b1) - max(a0, b0)
            if inter <= 0:
                continue
            union = max(a1, b1) - min(a0, b0)
            best = max(best, inter / union)
        total += (a1 - a0) * best
    return total / n_obs


def tcpd_cover(
    annotations: Annotations, predicted: Iterable[int], *, n_obs: int
) -> float:
    """TCPDBench's segmentation cover of predicted change points.

    Each annotator's change points partition ``range(n_obs)`` into segments;
    the cover is the length-weighted mean, over those segments, of the best
    Jaccard overlap with a predicted segment, averaged over annotators.

    Parameters
    ----------
    annotations : mapping or sequence of sequences of int
        One list of change-point indices per annotator.
    predicted : sequence of int
        Predicted change-point indices (0-based).
    n_obs : int
        Length of the series (observations).

    Returns
    -------
    float
        Cover in [0, 1]; 1 when the predicted segments equal every annotator's.

    Examples
    --------
    >>> ann = {"6": [], "7": [28], "8": [], "12": [28], "13": [28]}
    >>> round(tcpd_cover(ann, [46], n_obs=100), 6)
    0.642261
    """
    if isinstance(n_obs, bool) or not isinstance(n_obs, int | np.integer):
        raise TypeError(f"n_obs must be an integer, got {n_obs!r}")
    if n_obs < 1:
        raise ValueError(f"n_obs must be >= 1, got {n_obs}")
    groups = _annotation_sets(annotations)
    pred = _as_locations(predicted, "predicted")
    for name, locs in [("predicted", pred)] + [("annotations", g) for g in groups]:
        bad = [c for c in locs if c >= n_obs]
        if bad:
            raise ValueError(f"{name} index {bad[0]} is outside a series of {n_obs}")
    px = _segment_bounds(pred, int(n_obs))
    covers = [_cover_single(px, _segment_bounds(g, int(n_obs))) for g in groups]
    return sum(covers) / len(covers)
