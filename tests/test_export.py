"""perfstats.export and ``perfstats export`` (issue 15): OTLP/HTTP received by a local
http.server on 127.0.0.1 and decoded with opentelemetry-proto, checked bucket for bucket
against sketches built here; DogStatsD received on a local UDP socket; errors named."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("opentelemetry.proto", reason="needs opentelemetry-proto")
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc

from perfstats import QuantileSketch
from perfstats.cli import main
from perfstats.export import dogstatsd_lines, otlp_request, send_otlp


def events(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0.001, 0.002, n)
    cost[5] = np.nan
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=n, freq="7s", tz="UTC"),
            "endpoint": rng.choice(["/a", "/b"], n),
            "latency_ms": rng.lognormal(np.log(300), 0.6, n),
            "success": rng.random(n) > 0.03,
            "input_tokens": rng.integers(100, 200, n),
            "output_tokens": rng.integers(10, 50, n),
            "cost_usd": cost,
        }
    )


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, str, bytes]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append((self.path, self.headers["Content-Type"], body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Handler", (_Receiver,), {"bodies": [], "status": 200})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/metrics", handler
    finally:
        server.shutdown()
        server.server_close()


def test_otlp_round_trip_bucket_for_bucket(
    receiver: tuple[str, type[_Receiver]],
) -> None:
    url, handler = receiver
    ev = events()
    assert send_otlp(otlp_request(ev, every="1h"), url) == 200
    ((path, ctype, body),) = handler.bodies
    assert path == "/v1/metrics" and ctype == "application/x-protobuf"
    got = svc.ExportMetricsServiceRequest.FromString(body)
    metrics = {m.name: m for m in got.resource_metrics[0].scope_metrics[0].metrics}
    hist = metrics["perfstats.request.duration"].exponential_histogram
    ts = ev["timestamp"].dt.floor("1h")
    groups = list(ev.groupby([ts, ev["endpoint"]]))
    assert len(hist.data_points) == len(groups)
    for dp, ((start, endpoint), g) in zip(hist.data_points, groups, strict=True):
        assert dp.start_time_unix_nano == start.value
        assert {a.key: a.value.string_value for a in dp.attributes} == {
            "endpoint": endpoint
        }
        sk = QuantileSketch()
        sk.add(g["latency_ms"].to_numpy())
        offset, counts = sk.buckets()
        assert dp.scale == sk.scale and dp.count == len(g)
        assert dp.positive.offset == offset
        assert list(dp.positive.bucket_counts) == [int(c) for c in counts]
        assert dp.sum == pytest.approx(g["latency_ms"].sum(), rel=1e-12)
        assert dp.min == g["latency_ms"].min() and dp.max == g["latency_ms"].max()
    req = metrics["perfstats.requests"].sum
    assert [p.as_int for p in req.data_points] == [len(g) for _, g in groups]
    err = metrics["perfstats.request.errors"].sum.data_points
    assert [p.as_int for p in err] == [int((~g["success"]).sum()) for _, g in groups]
    rate = metrics["perfstats.error_rate"].gauge.data_points
    assert [p.as_double for p in rate] == pytest.approx(
        [float((~g["success"]).mean()) for _, g in groups]
    )
    cost = metrics["perfstats.cost"].sum.data_points
    assert [p.as_double for p in cost] == pytest.approx(
        [float(g["cost_usd"].sum()) for _, g in groups]  # NaN skipped, not zeroed
    )


def test_otlp_errors_name_the_url(receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    handler.status = 503
    with pytest.raises(OSError, match=r"127\.0\.0\.1.*HTTP 503"):
        send_otlp(otlp_request(events(200)), url)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(OSError, match=f"127.0.0.1:{free}"):
        send_otlp(
            otlp_request(events(200)), f"http://127.0.0.1:{free}/v1/metrics", timeout=2
        )


def test_cli_export_otlp_and_dogstatsd(
    receiver: tuple[str, type[_Receiver]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, handler = receiver
    path = tmp_path / "ev.parquet"
    ev = events(500)
    ev.to_parquet(path)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(1.0)
    port = udp.getsockname()[1]
    try:
        code = main(
            ["export", str(path), "--otlp", url, "--dogstatsd", f"127.0.0.1:{port}"]
        )
        assert code == 0, capsys.readouterr().err
        expected = dogstatsd_lines(ev)
        got = [udp.recv(65536).decode() for _ in expected]
    finally:
        udp.close()
    assert got == expected and len(handler.bodies) == 1
    first = expected[0]
    g = ev[ev["timestamp"].dt.floor("1h") == ev["timestamp"].min().floor("1h")]
    n = int((g["endpoint"] == "/a").sum())
    assert first.startswith(f"perfstats.requests:{n}|c|#endpoint:/a|T")
    assert any(
        line.startswith("perfstats.latency.p95:") and "|g|" in line for line in got
    )


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["export", "--sample"], "nothing to export"),
        (["export", "--sample", "--otlp", "localhost:4318"], "--otlp"),
        (["export", "--sample", "--dogstatsd", "nohost"], "--dogstatsd"),
        (
            ["export", "--sample", "--dogstatsd", "127.0.0.1:1", "--by", "nope"],
            "'nope'",
        ),
    ],
)
def test_export_usage_errors(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_grafana_dashboard_queries_only_metrics_the_report_writes(
    tmp_path: Path,
) -> None:
    import json
    import re

    from perfstats import datasets

    dash = json.loads(
        (
            Path(__file__).resolve().parents[1] / "examples" / "grafana-perfstats.json"
        ).read_text()
    )
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dash["templating"]["list"] if "definition" in v]
    queried = {m for e in exprs for m in re.findall(r"\bperfstats_[a-z0-9_]+", e)}
    path = tmp_path / "ev.parquet"
    datasets.llm_app(days=2, seed=1, requests_per_day=1500).to_parquet(path)
    out = tmp_path / "m.prom"
    code = main(
        [
            "report",
            str(path),
            "--format",
            "prom",
            "-o",
            str(out),
            "--budget",
            "50/day",
            "--quiet",
        ]
    )
    assert code == 0
    written = set(re.findall(r"^# TYPE (\S+)", out.read_text(), flags=re.M))
    assert len(queried) >= 10
    assert queried <= written, sorted(queried - written)


def test_unknown_is_left_out_not_zero() -> None:
    ev = events(300).drop(columns=["success", "cost_usd"])
    req = otlp_request(ev, by=())
    names = [m.name for m in req.resource_metrics[0].scope_metrics[0].metrics]
    assert "perfstats.request.errors" not in names and "perfstats.cost" not in names
    assert "perfstats.request.duration" in names
    lines = dogstatsd_lines(ev, by=())
    assert not any("error" in line or "cost" in line for line in lines)
