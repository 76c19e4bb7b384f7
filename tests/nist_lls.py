"""Reader for NIST StRD linear least squares files and the log relative error (LRE)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_NUM = r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?"


@dataclass
class NistLLS:
    name: str
    difficulty: str  # "lower", "average" or "higher", as NIST rates the file
    y: np.ndarray
    x: np.ndarray  # n x k predictors as printed (k = 1 for the polynomial files)
    coefficients: np.ndarray
    standard_deviations: np.ndarray
    residual_sd: float
    r_squared: float
    intercept: bool  # the model has B0
    degree: int  # polynomial degree for one-predictor files, else 1


def read(path: Path) -> NistLLS:
    text = path.read_text()
    lines = text.splitlines()
    params = {}
    for line in lines:
        m = re.match(rf"^\s*B(\d+)\s+({_NUM})\s+({_NUM})\s*$", line)
        if m:
            params[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    sd = re.search(rf"Standard Deviation\s+({_NUM})", text)
    r2 = re.search(rf"R-Squared\s+({_NUM})", text)
    assert sd and r2 and params, path
    level = re.search(r"(Lower|Average|Higher) Level of Difficulty", text)
    assert level, path
    start = max(i for i, line in enumerate(lines) if line.startswith("Data:"))
    rows = np.array(
        [
            [float(v) for v in line.split()]
            for line in lines[start + 1 :]
            if line.strip()
        ]
    )
    keys = sorted(params)
    y, x = rows[:, 0], rows[:, 1:]
    intercept = 0 in params
    degree = len(keys) - (1 if intercept else 0) if x.shape[1] == 1 else 1
    return NistLLS(
        name=path.stem,
        difficulty=level.group(1).lower(),
        y=y,
        x=x,
        coefficients=np.array([params[k][0] for k in keys]),
        standard_deviations=np.array([params[k][1] for k in keys]),
        residual_sd=float(sd.group(1)),
        r_squared=float(r2.group(1)),
        intercept=intercept,
        degree=degree,
    )


def lre(value: float, certified: float) -> float:
    """Digits of agreement: -log10 relative error (absolute if certified is 0)."""
    if value == certified:
        return 15.0
    err = abs(value - certified) / (abs(certified) if certified != 0 else 1.0)
    return min(15.0, -math.log10(err)) if math.isfinite(err) else 0.0
