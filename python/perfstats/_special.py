"""Distribution functions the decisions need (NumPy has none; SciPy is not a runtime
dependency): Student t tail, binomial CDF and quantile, by the regularized incomplete beta
function (Lentz's continued fraction, as in Numerical Recipes 6.4)."""

from __future__ import annotations

import math
from statistics import NormalDist

_N = NormalDist()


def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def norm_ppf(p: float) -> float:
    """Standard normal quantile."""
    return _N.inv_cdf(p)


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = (
        math.lgamma(a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + a * math.log(x)
        + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(ln_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln_front) * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (normal if df is inf)."""
    if math.isnan(t) or math.isnan(df):
        return math.nan
    if math.isinf(df) or df > 1e7:
        return norm_sf(t)
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return betainc(n - k, k + 1.0, 1.0 - p)


def binom_ppf(level: float, n: int, p: float) -> int:
    """Smallest k with P(X <= k) >= level for X ~ Binomial(n, p)."""
    if binom_cdf(0, n, p) >= level:
        return 0
    # start at the normal approximation, then walk to the exact answer
    sd = math.sqrt(n * p * (1.0 - p))
    guess = round(n * p + norm_ppf(min(max(level, 1e-300), 1 - 1e-16)) * sd - 0.5)
    k = min(max(guess, 0), n)
    step = max(1, int(sd / 8))
    if binom_cdf(k, n, p) >= level:
        hi = k
        lo = max(k - step, 0)
        while lo > 0 and binom_cdf(lo, n, p) >= level:
            hi, lo = lo, max(lo - 2 * (hi - lo), 0)
        if binom_cdf(lo, n, p) >= level:
            return lo
    else:
        lo = k
        hi = min(k + step, n)
        while binom_cdf(hi, n, p) < level:
            lo, hi = hi, min(hi + 2 * (hi - lo), n)
    while hi - lo > 1:  # cdf(lo) < level <= cdf(hi)
        mid = (lo + hi) // 2
        if binom_cdf(mid, n, p) >= level:
            hi = mid
        else:
            lo = mid
    return hi
