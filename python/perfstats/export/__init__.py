"""Export per-window summaries to an observability stack: OpenTelemetry metrics over
OTLP/HTTP (protobuf, the official ``opentelemetry-proto`` messages) and DogStatsD lines
for the Datadog agent.

Latency is an OTLP exponential histogram copied bucket for bucket from perfstats'
:class:`~perfstats.stats.quantile_sketch.QuantileSketch` (the same base-2 exponential
grid, so nothing is lost); request and error counts, tokens and cost are delta sums, the
error rate a gauge. Needs ``pip install "perfstats[export]"`` for OTLP.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dogstatsd_lines", "otlp_request", "send_dogstatsd", "send_otlp", "windows"]


def _otel() -> Any:
    from perfstats._optional import require

    return require("opentelemetry.proto", "OTLP export")


def windows(
    events: Any, *, every: str = "1h", by: Sequence[str] = ("endpoint",)
) -> list[dict[str, Any]]:
    """Per (window, group) summaries: ``start``/``end`` (UTC Timestamps), ``labels``,
    ``sketch`` (QuantileSketch of latency_ms, None without latencies), ``requests``,
    ``errors`` (None when failures are unknown), ``tokens``, ``cost_usd`` (None without
    the columns; unknown costs are left out and counted in ``unknown_cost``).

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=4,
    ...     freq="30min", tz="UTC"), "latency_ms": [1.0, 2, 3, 4], "success": True})
    >>> [(w["requests"], w["errors"]) for w in windows(ev, by=())]
    [(2, 0), (2, 0)]
    """
    import numpy as np
    import pandas as pd

    from perfstats.analysis.summary import events_frame
    from perfstats.io.failure import failed
    from perfstats.stats.quantile_sketch import QuantileSketch

    frame = events_frame(events)
    by = list(by)
    for col in by:
        if col not in frame.columns:
            raise ValueError(f"events have no {col!r} column to export by")
    step = pd.Timedelta(every)
    if step <= pd.Timedelta(0):
        raise ValueError(f"every must be a positive duration, got {every!r}")
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    start = ts.dt.floor(step)
    keys = [start, *[frame[c].astype(str) for c in by]]
    fail = failed(frame)
    out = []
    for key, idx in frame.groupby(keys, sort=True).indices.items():
        key = key if isinstance(key, tuple) else (key,)
        g = frame.iloc[idx]
        w: dict[str, Any] = {
            "start": key[0],
            "end": key[0] + step,
            "labels": dict(zip(by, key[1:], strict=True)),
            "requests": len(g),
            "errors": None if fail is None else int(fail[idx].sum()),
            "sketch": None,
            "tokens": None,
            "cost_usd": None,
            "unknown_cost": 0,
        }
        if "latency_ms" in g:
            lat = g["latency_ms"].to_numpy(dtype=float)
            lat = lat[np.isfinite(lat)]
            if lat.size:
                sk = QuantileSketch()
                sk.add(lat)
                w["sketch"] = sk
        tok = [c for c in ("input_tokens", "output_tokens") if c in g]
        if tok:
            w["tokens"] = float(np.nansum(g[tok].to_numpy(dtype=float)))
        if "cost_usd" in g:
            c = g["cost_usd"].to_numpy(dtype=float)
            w["cost_usd"] = float(c[np.isfinite(c)].sum())
            w["unknown_cost"] = int((~np.isfinite(c)).sum())
        out.append(w)
    return out


def _ns(t: Any) -> int:
    return int(t.value)


def otlp_request(
    events: Any,
    *,
    every: str = "1h",
    by: Sequence[str] = ("endpoint",),
    service_name: str = "perfstats",
    resource: Mapping[str, str] | None = None,
) -> Any:
    """Per-window summaries as an OTLP ``ExportMetricsServiceRequest`` (protobuf).

    Metrics (delta temporality, one data point per window and group, attributes = the
    ``by`` columns): ``perfstats.request.duration`` (exponential histogram, ms),
    ``perfstats.requests``, ``perfstats.request.errors`` (sums), ``perfstats.error_rate``
    (gauge, 0-1), ``perfstats.tokens`` (sum), ``perfstats.cost`` (sum, USD).

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=4,
    ...     freq="30min", tz="UTC"), "latency_ms": [1.0, 2, 3, 4], "success": True})
    >>> req = otlp_request(ev, by=())
    >>> [m.name for m in req.resource_metrics[0].scope_metrics[0].metrics]
    ['perfstats.request.duration', 'perfstats.requests', 'perfstats.request.errors', 'perfstats.error_rate']
    """
    _otel()
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc
    from opentelemetry.proto.common.v1 import common_pb2 as common
    from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

    from perfstats.io.interop import sketch_to_otel

    delta = pb.AGGREGATION_TEMPORALITY_DELTA
    req = svc.ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    attrs = {"service.name": service_name, **(resource or {})}
    for k, v in attrs.items():
        rm.resource.attributes.add(key=k, value=common.AnyValue(string_value=str(v)))
    sm = rm.scope_metrics.add()
    sm.scope.name = "perfstats"
    ws = windows(events, every=every, by=by)

    def metric(name: str, unit: str, desc: str) -> Any:
        m = sm.metrics.add(name=name, unit=unit, description=desc)
        return m

    def point(dp: Any, w: dict[str, Any]) -> None:
        dp.start_time_unix_nano = _ns(w["start"])
        dp.time_unix_nano = _ns(w["end"])
        for k, v in w["labels"].items():
            dp.attributes.add(key=k, value=common.AnyValue(string_value=v))

    if any(w["sketch"] is not None for w in ws):
        m = metric("perfstats.request.duration", "ms", "request latency")
        m.exponential_histogram.aggregation_temporality = delta
        for w in ws:
            if w["sketch"] is not None:
                dp = m.exponential_histogram.data_points.add()
                json_format.ParseDict(sketch_to_otel(w["sketch"]), dp)
                point(dp, w)
    m = metric("perfstats.requests", "{request}", "requests")
    m.sum.aggregation_temporality, m.sum.is_monotonic = delta, True
    for w in ws:
        dp = m.sum.data_points.add(as_int=w["requests"])
        point(dp, w)
    if any(w["errors"] is not None for w in ws):
        m = metric("perfstats.request.errors", "{request}", "failed requests")
        m.sum.aggregation_temporality, m.sum.is_monotonic = delta, True
        r = metric("perfstats.error_rate", "1", "share of failed requests")
        for w in ws:
            if w["errors"] is not None:
                point(m.sum.data_points.add(as_int=w["errors"]), w)
                point(r.gauge.data_points.add(as_double=w["errors"] / w["requests"]), w)
    for key, name, unit in (
        ("tokens", "perfstats.tokens", "{token}"),
        ("cost_usd", "perfstats.cost", "USD"),
    ):
        if any(w[key] is not None for w in ws):
            m = metric(name, unit, key)
            m.sum.aggregation_temporality, m.sum.is_monotonic = delta, True
            for w in ws:
                if w[key] is not None:
                    point(m.sum.data_points.add(as_double=w[key]), w)
    return req


def send_otlp(
    request: Any,
    url: str,
    *,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
) -> int:
    """POST an ``ExportMetricsServiceRequest`` to an OTLP/HTTP endpoint (e.g.
    ``http://collector:4318/v1/metrics``) as protobuf; returns the HTTP status.

    Raises
    ------
    OSError
        Naming ``url`` when the receiver refuses, times out or answers non-2xx.
    """
    body = request.SerializeToString()
    hdrs = {"Content-Type": "application/x-protobuf", **(headers or {})}
    req = urllib.request.Request(url, data=body, headers=hdrs, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        raise OSError(f"OTLP export to {url} failed: HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OSError(f"OTLP export to {url} failed: {reason}") from None


def _tag(v: str) -> str:
    return str(v).replace("|", "_").replace(",", "_").replace("#", "_")


def dogstatsd_lines(
    events: Any,
    *,
    every: str = "1h",
    by: Sequence[str] = ("endpoint",),
    prefix: str = "perfstats",
) -> list[str]:
    """DogStatsD lines (one per metric, window and group, with the window's end as
    ``|T`` timestamp): request and error counts (``c``), latency p50/p95/p99 and error
    rate, tokens, cost (``g``).

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=2,
    ...     freq="min", tz="UTC"), "latency_ms": [10.0, 20.0], "endpoint": "/a"})
    >>> dogstatsd_lines(ev)[0]
    'perfstats.requests:2|c|#endpoint:/a|T1767229200'
    """
    out = []
    for w in windows(events, every=every, by=by):
        tags = ",".join(f"{k}:{_tag(v)}" for k, v in w["labels"].items())
        suffix = (f"|#{tags}" if tags else "") + f"|T{_ns(w['end']) // 10**9}"
        out.append(f"{prefix}.requests:{w['requests']}|c{suffix}")
        if w["errors"] is not None:
            out.append(f"{prefix}.request.errors:{w['errors']}|c{suffix}")
            out.append(
                f"{prefix}.error_rate:{w['errors'] / w['requests']:.6g}|g{suffix}"
            )
        if w["sketch"] is not None:
            for q in (0.5, 0.95, 0.99):
                v = float(w["sketch"].quantile(q))
                out.append(f"{prefix}.latency.p{round(q * 100)}:{v:.6g}|g{suffix}")
        if w["tokens"] is not None:
            out.append(f"{prefix}.tokens:{w['tokens']:.6g}|c{suffix}")
        if w["cost_usd"] is not None:
            out.append(f"{prefix}.cost_usd:{w['cost_usd']:.6g}|c{suffix}")
    return out


def send_dogstatsd(lines: Sequence[str], address: str) -> int:
    """Send ``lines`` to a DogStatsD agent at ``"host:port"`` over UDP, one datagram
    per line; returns the datagrams sent.

    Raises
    ------
    ValueError
        When ``address`` is not ``host:port``.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--dogstatsd must be HOST:PORT, got {address!r}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for line in lines:
            s.sendto(line.encode("utf-8"), (host, int(port)))
    return len(lines)
