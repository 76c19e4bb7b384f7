"""Synthetic but realistic telemetry of an LLM chat service, with known incidents.

:func:`llm_app` generates request events in the canonical schema of
:mod:`perfstats.io`; :func:`llm_app_incidents` lists the incidents it injects, so
detectors can be checked against the truth.

The service
-----------
* Two endpoints in a 90/10 rollout: ``/api/chat`` (``variant="control"``) and
  ``/api/chat-v2`` (``variant="treatment"``), assigned per request with probability
  0.1. v2 processes about 15 % faster and fails less often (1.0 % against 1.5 %).
* Three model tiers (:data:`LLM_APP_MODELS`) priced from the bundled price table:
  ``gpt-4o-mini`` (60 % of requests), ``gpt-4o`` (30 %) and ``o1`` (10 %), with
  tier-specific time to first token and output speed.
* Latency is the sum of three phases: ``queue_ms`` (grows with load, with a rare
  heavy tail), ``processing_ms`` (time to first token plus output tokens at the
  model's speed, lognormal noise and 0.5 % slow retries) and ``delivery_ms``;
  ``ttft_ms`` is queue plus time to first token. Failed requests: ``rate_limit``
  (fast), ``timeout`` (30 s), ``upstream_5xx``, ``content_filter``.
* Arrivals follow a daily cycle (peak around 15:00 UTC, trough around 03:00,
  about 4:1) and a weekly one (weekends at 70 %). Processing slows by 1 % per day
  (a slow trend: +29 % after 30 days).
* Prompt caching: 30 % of requests reuse a cached prompt prefix
  (``cached_input_tokens``, ``cache_hit``); ``quality_score`` is a 0-1 rating.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from perfstats.io.schema import pandas_module as _pandas
from perfstats.io.schema import string_dtype as _string_dtype

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LLM_APP_MODELS", "llm_app", "llm_app_incidents"]

#: The model tiers: share of requests, median time to first token (ms), output
#: speed (tokens/s) and median output tokens.
LLM_APP_MODELS: dict[str, dict[str, float]] = {
    "gpt-4o-mini": {
        "share": 0.6,
        "ttft_ms": 280.0,
        "tokens_per_s": 120.0,
        "output": 150.0,
    },
    "gpt-4o": {"share": 0.3, "ttft_ms": 450.0, "tokens_per_s": 80.0, "output": 200.0},
    "o1": {"share": 0.1, "ttft_ms": 2600.0, "tokens_per_s": 60.0, "output": 350.0},
}

_ERRORS = ("rate_limit", "timeout", "upstream_5xx", "content_filter")
_ERROR_MIX = (0.4, 0.25, 0.25, 0.1)
_TIMEOUT_MS = 30_000.0
_DEFAULT_START = "2025-06-01"

# (kind, day fraction, hour of day, hours long, endpoint or None for all, what)
_INCIDENTS = (
    (
        "cost_spike",
        0.25,
        3.0,
        3.0,
        None,
        "a prompt-template bug sends 6x the input tokens to gpt-4o",
    ),
    (
        "latency_spike",
        0.4,
        14.0,
        2.0,
        "/api/chat",
        "provider degradation: processing_ms x3 on /api/chat",
    ),
    (
        "error_burst",
        0.6,
        9.5,
        1.0,
        None,
        "upstream outage: 30 % of requests fail with upstream_5xx",
    ),
    (
        "queue_saturation",
        0.8,
        18.0,
        1.5,
        None,
        "worker pool saturated: queue_ms + lognormal(median 3 s)",
    ),
)


def _start(start: Any) -> pd.Timestamp:
    pdm = _pandas()

    ts = pdm.Timestamp(start)
    typed: pd.Timestamp = (
        ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    )
    return typed


def llm_app_incidents(days: int = 30, *, start: Any = _DEFAULT_START) -> pd.DataFrame:
    """The incidents :func:`llm_app` injects for the same ``days`` and ``start``.

    They do not depend on the seed. Each lies on day ``floor(fraction * days)``:
    ``cost_spike`` (25 %, 03:00, 3 h), ``latency_spike`` (40 %, 14:00, 2 h),
    ``error_burst`` (60 %, 09:30, 1 h), ``queue_saturation`` (80 %, 18:00, 1.5 h).

    Returns
    -------
    pandas.DataFrame
        ``kind``, ``start`` and ``end`` (UTC), ``endpoint`` (None for all) and
        ``description``.

    Examples
    --------
    >>> llm_app_incidents(30)[["kind", "start"]].iloc[1].tolist()
    ['latency_spike', Timestamp('2025-06-13 14:00:00+0000', tz='UTC')]
    """
    pdm = _pandas()

    _check_days(days)
    t0 = _start(start)
    rows = []
    for kind, frac, hour, hours, endpoint, what in _INCIDENTS:
        begin = t0 + pdm.Timedelta(days=int(np.floor(frac * days)), hours=hour)
        rows.append(
            {
                "kind": kind,
                "start": begin,
                "end": begin + pdm.Timedelta(hours=hours),
                "endpoint": endpoint,
                "description": what,
            }
        )
    typed: pd.DataFrame = pdm.DataFrame(rows)
    return typed


def _check_days(days: object) -> None:
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or days < 1:
        raise ValueError(f"days must be a positive integer, got {days!r}")


def llm_app(
    days: int = 30,
    seed: int = 0,
    *,
    requests_per_day: float = 10_000.0,
    start: Any = _DEFAULT_START,
) -> pd.DataFrame:
    """Request telemetry of an LLM chat service (see the module docstring).

    Parameters
    ----------
    days : int
        Number of days to generate.
    seed : int
        Seed of the NumPy generator; the same arguments give the same rows.
    requests_per_day : float
        Mean number of requests per day (the default gives about 300 000 rows
        for 30 days).
    start : str or Timestamp
        Midnight the data starts at (UTC).

    Returns
    -------
    pandas.DataFrame
        Canonical columns (:mod:`perfstats.io` dtypes) sorted by time:
        ``timestamp, endpoint, variant, model, latency_ms, queue_ms,
        processing_ms, delivery_ms, ttft_ms, input_tokens, cached_input_tokens,
        output_tokens, cost_usd, success, error, steps, user_id, session_id,
        cache_hit, quality_score``.

    Examples
    --------
    >>> ev = llm_app(days=2, seed=1, requests_per_day=500)
    >>> len(ev) > 800, sorted(ev["endpoint"].cat.categories)
    (True, ['/api/chat', '/api/chat-v2'])
    >>> bool((ev["latency_ms"] - ev[["queue_ms", "processing_ms",
    ...       "delivery_ms"]].sum(axis=1)).abs().max() < 1e-6)
    True
    """
    pdm = _pandas()

    from perfstats.analysis.costs import load_prices

    _check_days(days)
    if not np.isfinite(requests_per_day) or requests_per_day <= 0:
        raise ValueError(f"requests_per_day must be positive, got {requests_per_day}")
    rng = np.random.default_rng(seed)
    t0 = _start(start)
    horizon_s = days * 86_400.0

    # ---- arrivals: thinning of a Poisson process with daily and weekly cycles ---
    def intensity(t: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        hour = (t / 3600.0) % 24.0
        daily = 1.0 + 0.6 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
        weekday = (t0.weekday() + np.floor(t / 86_400.0)) % 7
        return daily * np.where(weekday >= 5, 0.7, 1.0)

    peak = 1.6
    mean_level = (5 * 1.0 + 2 * 0.7) / 7.0
    rate_per_s = requests_per_day / 86_400.0 / mean_level
    n_cand = rng.poisson(rate_per_s * peak * horizon_s)
    cand = np.sort(rng.uniform(0.0, horizon_s, n_cand))
    t = cand[rng.uniform(0.0, peak, n_cand) < intensity(cand)]
    n = t.size
    load = intensity(t) / peak

    # ---- who and what --------------------------------------------------------
    v2 = rng.uniform(size=n) < 0.1
    names = list(LLM_APP_MODELS)
    shares = np.array([LLM_APP_MODELS[m]["share"] for m in names])
    tier = rng.choice(len(names), size=n, p=shares / shares.sum())
    ttft_med = np.array([LLM_APP_MODELS[m]["ttft_ms"] for m in names])[tier]
    speed = np.array([LLM_APP_MODELS[m]["tokens_per_s"] for m in names])[tier]
    out_med = np.array([LLM_APP_MODELS[m]["output"] for m in names])[tier]

    n_users = max(50, int(requests_per_day * days / 100))
    weights = 1.0 / np.arange(1, n_users + 1) ** 0.8
    user = rng.choice(n_users, size=n, p=weights / weights.sum())

    input_tokens = np.round(rng.lognormal(np.log(650.0), 0.8, n)) + 20
    output_tokens = np.round(rng.lognormal(np.log(out_med), 0.6)) + 1
    cache_hit = rng.uniform(size=n) < 0.3
    cached = np.where(cache_hit, np.floor(input_tokens * rng.uniform(0.5, 0.9, n)), 0.0)
    steps = 1.0 + rng.poisson(0.3, n)

    # ---- phases --------------------------------------------------------------
    day_index = t / 86_400.0
    trend = 1.0 + 0.01 * day_index
    queue = rng.exponential(5.0 + 45.0 * load**3)
    tail = rng.uniform(size=n) < 0.01
    queue = queue + np.where(tail, rng.lognormal(np.log(800.0), 0.7, n), 0.0)
    first_token = ttft_med * rng.lognormal(0.0, 0.45, n)
    generate = output_tokens / speed * 1000.0 * rng.lognormal(0.0, 0.25, n)
    processing = (first_token + generate) * trend * np.where(v2, 0.85, 1.0)
    first_token = first_token * trend * np.where(v2, 0.85, 1.0)
    retry = rng.uniform(size=n) < 0.005
    processing = processing * np.where(retry, rng.uniform(2.0, 5.0, n), 1.0)
    delivery = rng.lognormal(np.log(25.0), 0.6, n) + 0.02 * output_tokens

    # ---- incidents -----------------------------------------------------------
    error_rate = np.where(v2, 0.010, 0.015)
    forced_5xx = np.zeros(n, dtype=bool)
    incidents: Any = llm_app_incidents(days, start=t0)
    for row in incidents.itertuples():
        lo = (row.start - t0).total_seconds()
        hi = (row.end - t0).total_seconds()
        inside = (t >= lo) & (t < hi)
        if row.endpoint is not None:
            inside &= v2 == (row.endpoint == "/api/chat-v2")
        if row.kind == "cost_spike":
            inside &= tier == names.index("gpt-4o")
            input_tokens = np.where(inside, input_tokens * 6, input_tokens)
        elif row.kind == "latency_spike":
            processing = np.where(inside, processing * 3.0, processing)
            first_token = np.where(inside, first_token * 3.0, first_token)
        elif row.kind == "error_burst":
            forced_5xx |= inside & (rng.uniform(size=n) < 0.30)
        elif row.kind == "queue_saturation":
            queue = queue + np.where(inside, rng.lognormal(np.log(3000.0), 0.5, n), 0.0)

    # ---- errors --------------------------------------------------------------
    failed = (rng.uniform(size=n) < error_rate) | forced_5xx
    kind = rng.choice(len(_ERRORS), size=n, p=np.array(_ERROR_MIX))
    kind = np.where(forced_5xx, _ERRORS.index("upstream_5xx"), kind)
    is_kind = {e: failed & (kind == i) for i, e in enumerate(_ERRORS)}
    processing = np.where(is_kind["rate_limit"], rng.uniform(5.0, 40.0, n), processing)
    processing = np.where(is_kind["timeout"], _TIMEOUT_MS - queue, processing)
    processing = np.where(
        is_kind["upstream_5xx"], processing * rng.uniform(0.05, 0.6, n), processing
    )
    processing = np.where(is_kind["content_filter"], first_token, processing)
    processing = np.maximum(processing, 1.0)
    output_tokens = np.where(failed, 0.0, output_tokens)
    no_input = is_kind["rate_limit"] | is_kind["timeout"]
    input_tokens = np.where(no_input, 0.0, input_tokens)
    cached = np.where(no_input, 0.0, cached)
    cache_hit = cache_hit & ~no_input
    delivery = np.where(failed, rng.lognormal(np.log(8.0), 0.4, n), delivery)
    ttft = np.where(failed, np.nan, queue + first_token)
    latency = queue + processing + delivery

    # ---- cost from the bundled price table -----------------------------------
    table = load_prices()
    p_in = np.empty(len(names))
    p_cached = np.empty(len(names))
    p_out = np.empty(len(names))
    for k, m in enumerate(names):
        entry = table.lookup(m)
        assert entry is not None, m
        p_in[k], p_cached[k], p_out[k] = entry.input, entry.cached_input, entry.output
    cost = (
        (input_tokens - cached) * p_in[tier]
        + cached * p_cached[tier]
        + output_tokens * p_out[tier]
    ) / 1e6

    quality = np.where(
        failed,
        np.nan,
        rng.beta(np.where(v2, 8.5, 8.0), 2.0, n) * (1.0 - 0.1 * (tier == 0)),
    )

    timestamp = t0 + pdm.to_timedelta(np.round(t * 1e6).astype(np.int64), unit="us")
    session_slot = np.floor(t / 1800.0).astype(np.int64)
    user_text = np.char.add("u", np.char.zfill(user.astype(str), 5))
    session = np.char.add(np.char.add(user_text, "-"), session_slot.astype(str))
    error = np.array([None, *_ERRORS], dtype=object)[np.where(failed, kind + 1, 0)]
    string = _string_dtype()
    frame = pdm.DataFrame(
        {
            "timestamp": pdm.Series(timestamp).astype("datetime64[ns, UTC]"),
            "endpoint": pdm.Categorical.from_codes(
                v2.astype(np.int8), categories=["/api/chat", "/api/chat-v2"]
            ),
            "variant": pdm.Categorical.from_codes(
                v2.astype(np.int8), categories=["control", "treatment"]
            ),
            "model": pdm.Categorical.from_codes(
                tier.astype(np.int8), categories=names
            ).reorder_categories(sorted(names)),
            "latency_ms": latency,
            "queue_ms": queue,
            "processing_ms": processing,
            "delivery_ms": delivery,
            "ttft_ms": ttft,
            "input_tokens": input_tokens,
            "cached_input_tokens": cached,
            "output_tokens": output_tokens,
            "cost_usd": cost,
            "success": ~failed,
            "error": pdm.Categorical(error, categories=sorted(_ERRORS)),
            "steps": steps.astype(np.float64),
            "user_id": pdm.Series(user_text, dtype=string),
            "session_id": pdm.Series(session, dtype=string),
            "cache_hit": cache_hit,
            "quality_score": quality,
        }
    )
    frame["error"] = frame["error"].cat.remove_unused_categories()
    typed: pd.DataFrame = frame
    return typed
