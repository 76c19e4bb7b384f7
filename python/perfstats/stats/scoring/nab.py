"""Numenta Anomaly Benchmark (NAB) scoring, as NAB v1.1 computes it.

The rules (NAB's ``sweeper.py``, ``optimizer.py`` and ``runner.normalize``):

- The first ``min(floor(0.15 * n), 0.15 * 5000)`` rows of each file are probationary and
  not scored.
- A row inside a labelled window (``width`` rows, right edge ``r``) earns
  ``tp_weight * S(-(r - i + 1) / width) / S(-1)`` where ``S(x) = 2 / (1 + exp(5 x)) - 1``
  (and ``S(x) = -1`` for ``x >= 3``); a window's score is the best earned by its detected
  rows, or ``-fn_weight`` when none is detected.
- A detected row outside every window costs ``fp_weight * S(|r - i| / (width - 1))``
  measured from the previous window (``-fp_weight`` before the first one).
- One threshold for the whole corpus: the one, among the distinct scores, that maximises
  the summed raw score (rows with ``score >= threshold`` are detections; ties go to the
  higher threshold). Each file is then scored at that threshold.
- Normalised score ``100 * (raw - null) / (perfect - null)``: ``null`` is the optimised raw
  score of a detector emitting a constant, ``perfect`` is ``tp_weight`` times the number
  of windows.

Example
-------
>>> from perfstats.stats.scoring import nab_score
>>> scores = {"a.csv": [0.0] * 10 + [0.9] + [0.0] * 9}
>>> result = nab_score(scores, {"a.csv": [(9, 12)]}, "standard")
>>> round(result.score, 2), result.threshold
(97.62, 0.9)
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from perfstats._display import Table, View
from perfstats._result import Result

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NAB_PROFILES",
    "NabCorpus",
    "NabFileScore",
    "NabScore",
    "load_nab_corpus",
    "nab_score",
]

#: NAB's application profiles (``config/profiles.json``); TN weights are unused by NAB.
NAB_PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11},
}

_OUTSIDE = -1  # window id of rows outside every window
_PROBATION = -2  # window id of probationary rows


@dataclass(frozen=True, repr=False)
class NabFileScore(Result):
    """One file scored at the corpus threshold: raw score and row counts (NAB's CSV)."""

    raw: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int
    windows: int

    _one_line = True

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return dict(self.__dict__)


@dataclass(frozen=True, repr=False)
class NabScore(Result):
    """A NAB result for one detector and profile.

    Attributes
    ----------
    score : float
        Normalised score: 0 for the null detector, 100 for a perfect one; NaN when no
        labelled window is scorable (0/0).
    raw, null, perfect : float
        Summed raw score and the two anchors of the normalisation.
    threshold : float
        The corpus-wide threshold (``inf``: best to detect nothing).
    profile : str
    weights : dict
        ``tpWeight``, ``fpWeight``, ``fnWeight``.
    per_file : dict of str to NabFileScore
    """

    score: float
    raw: float
    null: float
    perfect: float
    threshold: float
    profile: str
    weights: dict[str, float]
    per_file: dict[str, NabFileScore] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (JSON-ready)."""
        return {
            "score": self.score,
            "raw": self.raw,
            "null": self.null,
            "perfect": self.perfect,
            "threshold": self.threshold,
            "profile": self.profile,
            "weights": dict(self.weights),
            "per_file": {k: v.to_dict() for k, v in self.per_file.items()},
        }

    def _view(self) -> View:
        fields = {
            "score": self.score,
            "profile": self.profile,
            "raw": self.raw,
            "null": self.null,
            "perfect": self.perfect,
            "threshold": self.threshold,
            "files": len(self.per_file),
        }
        rows = [[f.raw, f.tp, f.fp, f.fn] for f in self.per_file.values()]
        table = Table(
            ["raw", "TP", "FP", "FN"],
            rows,
            labels=list(self.per_file),
            index_name="file",
        )
        return View("NabScore", fields, {"files": table} if rows else {})

    def to_frame(self) -> pd.DataFrame:
        """One row per file (index: its name) with the raw score and row counts
        (needs pandas)."""
        import pandas as pd

        return pd.DataFrame.from_dict(
            {k: v.to_dict() for k, v in self.per_file.items()}, orient="index"
        ).rename_axis("file")


@dataclass(frozen=True)
class NabCorpus:
    """NAB data files with their labelled windows as inclusive row ranges."""

    values: dict[str, npt.NDArray[np.float64]]
    timestamps: dict[str, npt.NDArray[np.datetime64]]
    windows: dict[str, list[tuple[int, int]]]
    profiles: dict[str, dict[str, float]]

    @property
    def files(self) -> list[str]:
        """Relative paths (``"realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"``)."""
        return sorted(self.values)


def load_nab_corpus(root: str | Path) -> NabCorpus:
    """Read a NAB checkout (or subset): ``data/``, ``labels/combined_windows.json``.

    Window limits must be timestamps present in their file (NAB matches them exactly);
    labelled files absent from ``data/`` are skipped.
    """
    root = Path(root)
    labels_path = root / "labels" / "combined_windows.json"
    if not labels_path.is_file():
        raise ValueError(f"no NAB labels at {labels_path}")
    labels = json.loads(labels_path.read_text())
    profiles = dict(NAB_PROFILES)
    profiles_path = root / "config" / "profiles.json"
    if profiles_path.is_file():
        profiles = {
            name: {k: float(v) for k, v in p["CostMatrix"].items()}
            for name, p in json.loads(profiles_path.read_text()).items()
        }
    values: dict[str, npt.NDArray[np.float64]] = {}
    stamps: dict[str, npt.NDArray[np.datetime64]] = {}
    windows: dict[str, list[tuple[int, int]]] = {}
    for rel, limits in labels.items():
        path = root / "data" / rel
        if not path.is_file():
            continue
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
        if not rows or rows[0][:2] != ["timestamp", "value"]:
            raise ValueError(f"{path}: expected a 'timestamp,value' header")
        for line, r in enumerate(rows[1:], start=2):
            if len(r) != 2:
                raise ValueError(f"{path}, line {line}: expected 'timestamp,value'")
        try:
            ts = np.array([r[0] for r in rows[1:]], dtype="datetime64[ns]")
        except ValueError as e:
            raise ValueError(f"{path}: unparsable timestamp ({e})") from None
        try:
            values[rel] = np.array([float(r[1]) for r in rows[1:]])
        except ValueError as e:
            raise ValueError(f"{path}: unparsable value ({e})") from None
        stamps[rel] = ts
        spans = []
        for start, end in limits:
            a, b = (_row_of(ts, np.datetime64(t, "ns"), rel) for t in (start, end))
            spans.append((a, b))
        windows[rel] = spans
    return NabCorpus(
        values=values, timestamps=stamps, windows=windows, profiles=profiles
    )


def _row_of(ts: npt.NDArray[np.datetime64], t: np.datetime64, rel: str) -> int:
    i = int(np.searchsorted(ts, t))
    if i >= ts.shape[0] or ts[i] != t:
        raise ValueError(f"{rel}: window limit {t} is not a timestamp of the file")
    return i


def _weights(profile: str | Mapping[str, Any]) -> tuple[str, dict[str, float]]:
    if isinstance(profile, str):
        if profile not in NAB_PROFILES:
            raise ValueError(
                f"profile must be one of {sorted(NAB_PROFILES)} or a cost matrix, "
                f"got {profile!r}"
            )
        return profile, dict(NAB_PROFILES[profile])
    matrix = profile.get("CostMatrix", profile)
    out = {}
    for key in ("tpWeight", "fpWeight", "fnWeight"):
        if key not in matrix:
            raise ValueError(f"profile is missing {key!r}")
        v = float(matrix[key])
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"profile {key} must be finite and >= 0, got {v}")
        out[key] = v
    return "custom", out


def _scaled_sigmoid(position: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    with np.errstate(over="ignore"):
        s = 2.0 * (1.0 / (1.0 + np.exp(5.0 * position))) - 1.0
    return np.where(position >= 3.0, -1.0, s)


def _sweep(
    n: int,
    windows: Sequence[tuple[int, int]],
    w: dict[str, float],
    probation_percent: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per-row sweep score (value of a detection there) and window id of each row."""
    rows = np.arange(n)
    window_id = np.full(n, _OUTSIDE, dtype=np.int64)
    sweep = np.empty(n)
    max_tp = float(_scaled_sigmoid(np.array([-1.0]))[0])
    for k, (a, b) in enumerate(windows):
        width = float(b - a + 1)
        inside = rows[a : b + 1]
        window_id[a : b + 1] = k
        sweep[a : b + 1] = (
            _scaled_sigmoid(-(b - inside + 1) / width) * w["tpWeight"] / max_tp
        )
        # Rows after this window up to the next one are false positives measured from it.
        end = windows[k + 1][0] if k + 1 < len(windows) else n
        after = rows[b + 1 : end]
        if width > 1:
            pos = np.abs(b - after) / (width - 1.0)
        else:  # NAB divides by zero here; a one-row window gives no grace period
            pos = np.full(after.shape, 3.0)
        sweep[b + 1 : end] = _scaled_sigmoid(pos) * w["fpWeight"]
    first = windows[0][0] if windows else n
    sweep[:first] = -1.0 * w["fpWeight"]
    probation = min(math.floor(probation_percent * n), probation_percent * 5000)
    window_id[rows < probation] = _PROBATION
    return sweep, window_id


def _check_windows(name: str, spans: object, n: int) -> list[tuple[int, int]]:
    if not isinstance(spans, Sequence) or isinstance(spans, str):
        raise TypeError(f"labels[{name!r}] must be a sequence of (first, last) rows")
    out = []
    for span in spans:
        try:
            a, b = (int(v) for v in span)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"labels[{name!r}] holds {span!r}; windows are (first, last) row pairs"
            ) from exc
        if not 0 <= a <= b < n:
            raise ValueError(
                f"labels[{name!r}] window {(a, b)} is outside rows 0..{n - 1} "
                "or ends before it starts"
            )
        out.append((a, b))
    out.sort()
    for (_, b0), (a1, _) in itertools.pairwise(out):
        if a1 <= b0:
            raise ValueError(f"labels[{name!r}] has overlapping windows")
    return out


@dataclass
class _File:
    name: str
    scores: npt.NDArray[np.float64]
    sweep: npt.NDArray[np.float64]
    window_id: npt.NDArray[np.int64]
    windows: int


def _best_threshold(files: list[_File], fn_weight: float) -> float:
    """NAB's optimiser: the threshold with the best summed raw score over all files."""
    scores, sweeps, ids = [], [], []
    offset = 0
    for f in files:
        keep = f.window_id != _PROBATION
        wid = f.window_id[keep]
        scores.append(f.scores[keep])
        sweeps.append(f.sweep[keep])
        ids.append(np.where(wid >= 0, wid + offset, _OUTSIDE))
        offset += f.windows
    s = np.concatenate(scores) if scores else np.empty(0)
    sw = np.concatenate(sweeps) if sweeps else np.empty(0)
    wid = np.concatenate(ids) if ids else np.empty(0, dtype=np.int64)
    if s.size == 0:
        return math.inf
    order = np.argsort(-s, kind="stable")
    s, sw, wid = s[order], sw[order], wid[order]
    # Change of the summed score as each row (in descending score) becomes a detection.
    delta = np.where(wid == _OUTSIDE, sw, 0.0)
    present = np.unique(wid[wid >= 0])
    by_window = np.argsort(wid, kind="stable")
    sorted_ids = wid[by_window]
    lows = np.searchsorted(sorted_ids, present, "left")
    highs = np.searchsorted(sorted_ids, present, "right")
    for lo, hi in zip(lows, highs, strict=True):
        idx = by_window[lo:hi]  # this window's rows, in descending-score order
        best = np.maximum.accumulate(sw[idx])
        delta[idx] = np.diff(best, prepend=-fn_weight)
    total = -fn_weight * present.size + np.cumsum(delta)
    last_of_group = np.append(s[1:] != s[:-1], True)
    candidates = np.concatenate(([-fn_weight * present.size], total[last_of_group]))
    thresholds = np.concatenate(([math.inf], s[last_of_group]))
    return float(thresholds[int(np.argmax(candidates))])


def _score_file(f: _File, threshold: float, w: dict[str, float]) -> NabFileScore:
    scorable = f.window_id != _PROBATION
    detected = scorable & (f.scores >= threshold)
    outside = f.window_id == _OUTSIDE
    inside = f.window_id >= 0
    raw = float(np.sum(f.sweep[detected & outside]))
    for k in np.unique(f.window_id[inside]):
        hit = detected & (f.window_id == k)
        raw += float(np.max(f.sweep[hit])) if hit.any() else -w["fnWeight"]
    return NabFileScore(
        raw=raw,
        tp=int(np.count_nonzero(detected & inside)),
        tn=int(np.count_nonzero(scorable & outside & ~detected)),
        fp=int(np.count_nonzero(detected & outside)),
        fn=int(np.count_nonzero(scorable & inside & ~detected)),
        total=int(f.scores.shape[0]),
        windows=f.windows,
    )


def _raw_total(
    files: list[_File], w: dict[str, float], threshold: float | None
) -> tuple[float, float, dict[str, NabFileScore]]:
    t = _best_threshold(files, w["fnWeight"]) if threshold is None else threshold
    per_file = {f.name: _score_file(f, t, w) for f in files}
    return t, math.fsum(p.raw for p in per_file.values()), per_file


def nab_score(
    scores_by_file: Mapping[str, npt.ArrayLike],
    labels: Mapping[str, Sequence[tuple[int, int]]],
    profile: str | Mapping[str, Any] = "standard",
    *,
    threshold: float | None = None,
    probation_percent: float = 0.15,
) -> NabScore:
    """Score anomaly scores against labelled windows exactly as NAB does.

    Parameters
    ----------
    scores_by_file : mapping of str to array_like of float
        One anomaly score per row of each file (higher = more anomalous; any real
        scale; NaN is rejected and +inf ranks as the largest finite double).
    labels : mapping of str to sequence of (int, int)
        Each file's anomaly windows as inclusive ``(first_row, last_row)`` pairs (see
        :func:`load_nab_corpus`); every scored file needs an entry, possibly empty.
    profile : str or mapping, default "standard"
        A name from :data:`NAB_PROFILES` or a cost matrix with ``tpWeight``,
        ``fpWeight`` and ``fnWeight``.
    threshold : float, optional
        Score every file at this threshold instead of optimising it (e.g. to reproduce a
        published run).
    probation_percent : float, default 0.15
        Leading fraction of each file that is not scored (capped at
        ``probation_percent * 5000`` rows).

    Returns
    -------
    NabScore
    """
    name, w = _weights(profile)
    if not isinstance(scores_by_file, Mapping) or not scores_by_file:
        raise ValueError("scores_by_file must be a non-empty mapping of file to scores")
    if not 0 <= probation_percent < 1:
        raise ValueError(
            f"probation_percent must be in [0, 1), got {probation_percent}"
        )
    if threshold is not None and math.isnan(threshold):
        raise ValueError("threshold must not be NaN")
    files = []
    for fname in sorted(scores_by_file):
        arr = np.asarray(scores_by_file[fname])
        if arr.dtype.kind not in "iuf":
            raise TypeError(
                f"scores for {fname!r} must be real numbers, got {arr.dtype}"
            )
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"scores for {fname!r} must be a non-empty 1-D array")
        arr = arr.astype(np.float64)
        bad = np.flatnonzero(np.isnan(arr))
        if bad.size:
            raise ValueError(f"scores for {fname!r} are NaN at row {int(bad[0])}")
        # +inf ranks as the largest double so that "detect nothing" (threshold inf)
        # stays above every score.
        arr = np.minimum(arr, np.finfo(np.float64).max)
        if fname not in labels:
            raise ValueError(f"labels has no entry for {fname!r}")
        spans = _check_windows(fname, labels[fname], arr.size)
        sweep, wid = _sweep(arr.size, spans, w, probation_percent)
        files.append(_File(fname, arr, sweep, wid, len(spans)))
    t, raw, per_file = _raw_total(files, w, threshold)
    null_files = [
        _File(f.name, np.full(f.scores.shape, 0.5), f.sweep, f.window_id, f.windows)
        for f in files
    ]
    _, null, _ = _raw_total(null_files, w, None)
    perfect = w["tpWeight"] * sum(f.windows for f in files)
    # Without a scorable window the normalisation is 0/0: the score is NaN (raw stands).
    score = 100.0 * (raw - null) / (perfect - null) if perfect != null else math.nan
    return NabScore(
        score=score,
        raw=raw,
        null=null,
        perfect=perfect,
        threshold=t,
        profile=name,
        weights=w,
        per_file=per_file,
    )
