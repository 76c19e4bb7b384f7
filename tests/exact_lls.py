"""Exact least squares in rational arithmetic: the oracle for large (streamed) fits."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def as_integers(v: np.ndarray) -> tuple[list[int], int]:
    """`v` exactly as integers k_i / d with one power-of-two denominator d."""
    ratios = [float(x).as_integer_ratio() for x in v]
    d = max(den for _, den in ratios)
    return [num * (d // den) for num, den in ratios], d


def exact_line(t: np.ndarray, y: np.ndarray) -> tuple[Fraction, Fraction, Fraction]:
    """Least-squares line through (t, y): intercept, slope, residual sum of squares."""
    tk, dt = as_integers(t)
    yk, dy = as_integers(y)
    n = len(tk)
    st, sy = sum(tk), sum(yk)
    sxx = n * sum(a * a for a in tk) - st * st  # n^2 dt^2 Sxx
    sxy = n * sum(a * b for a, b in zip(tk, yk, strict=True)) - st * sy
    syy = n * sum(b * b for b in yk) - sy * sy
    slope = Fraction(sxy, sxx) * Fraction(dt, dy)
    intercept = Fraction(sy, n * dy) - slope * Fraction(st, n * dt)
    rss = Fraction(syy * sxx - sxy * sxy, sxx * n * dy * dy)
    return intercept, slope, rss


def exact_lstsq(x: np.ndarray, y: np.ndarray) -> list[Fraction]:
    """Coefficients minimising ||y - x b|| (x of full column rank): the normal
    equations, which are exact here, solved by Gauss-Jordan elimination."""
    cols = [as_integers(c) for c in np.asarray(x).T]
    yk, dy = as_integers(y)
    p = len(cols)

    def dot(a: tuple[list[int], int], b: tuple[list[int], int]) -> Fraction:
        return Fraction(
            sum(u * v for u, v in zip(a[0], b[0], strict=True)), a[1] * b[1]
        )

    m = [
        [dot(cols[j], cols[k]) for k in range(p)] + [dot(cols[j], (yk, dy))]
        for j in range(p)
    ]
    for c in range(p):
        pivot = next(r for r in range(c, p) if m[r][c] != 0)
        m[c], m[pivot] = m[pivot], m[c]
        for r in range(p):
            if r != c and m[r][c] != 0:
                f = m[r][c] / m[c][c]
                m[r] = [a - f * b for a, b in zip(m[r], m[c], strict=True)]
    return [m[j][p] / m[j][j] for j in range(p)]
