"""Cost of one recorded span: Recorder against an empty `with` block and an
OpenTelemetry SDK span (BatchSpanProcessor, no-op exporter), 1 and 8 threads.

Each contender runs N spans in a loop (split over the threads); the figures are per
span. ``wall`` is the caller's elapsed time (what the application waits), ``cpu``
the process CPU time of every thread (the background writer or exporter included).
``recorder_hot_path`` is the application thread's share alone (the writer sleeps
during the loop); ``recorder_discard`` adds the writer building every event and
the live statistics (the sink discards the batches), ``recorder_jsonl`` adds
writing a JSON lines file. OpenTelemetry's exporter discards its batches.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import best_wall_and_cpu, load_average, write_results
from perfstats.record import Recorder

N = 200_000
THREADS = 8


def _loop(make_span: Callable[[], Any], n: int) -> None:
    for _ in range(n):
        with make_span():
            pass


def _threaded(make_span: Callable[[], Any], n: int, threads: int) -> Callable[[], None]:
    def run() -> None:
        if threads == 1:
            _loop(make_span, n)
            return
        pool = [
            threading.Thread(target=_loop, args=(make_span, n // threads))
            for _ in range(threads)
        ]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    return run


def _otel() -> tuple[Callable[[], Any], Callable[[], None]] | None:
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        return None

    class NoOpExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoOpExporter()))
    tracer = provider.get_tracer("bench")
    attrs = {"http.route": "/api/chat", "gen_ai.request.model": "m1"}

    def make() -> Any:
        return tracer.start_as_current_span("chat", attributes=attrs)

    return make, provider.shutdown


def main() -> dict[str, Any]:
    null = contextlib.nullcontext()
    discard = Recorder(lambda batch: None, buffer_size=N + 16, batch_size=10_000)
    tmp = Path(tempfile.mkdtemp())
    to_file = Recorder(tmp / "events.jsonl", buffer_size=N + 16, batch_size=10_000)

    def flushing(rec: Recorder) -> Callable[[], Any]:
        def make() -> Any:
            return rec.span("chat", endpoint="/api/chat", model="m1")

        return make

    # the writer stays asleep while the loop runs: the caller's cost alone; the
    # buffer is emptied at the start of each run (its spans freed there)
    idle = Recorder(
        lambda batch: None,
        buffer_size=N + 16,
        batch_size=N + 16,
        flush_interval=3600,
    )

    def idle_span() -> Any:
        return idle.span("chat", endpoint="/api/chat", model="m1")

    contenders: dict[str, Callable[[], Any]] = {
        "empty_with": lambda: null,
        "recorder_hot_path": idle_span,
        "recorder_discard": flushing(discard),
        "recorder_jsonl": flushing(to_file),
    }
    otel = _otel()
    if otel is not None:
        contenders["otel_sdk_batch"] = otel[0]
    results: dict[str, Any] = {"n_spans": N, "load_average_before": load_average()}
    for threads in (1, THREADS):
        fns = {}
        for name, make in contenders.items():
            run = _threaded(make, N, threads)
            if name == "recorder_hot_path":

                def run_emptied(run: Callable[[], None] = run) -> None:
                    idle._buf.clear()
                    run()

                fns[name] = run_emptied
                continue
            if name.startswith("recorder"):
                rec = discard if name == "recorder_discard" else to_file

                def run_and_flush(
                    run: Callable[[], None] = run, rec: Recorder = rec
                ) -> None:
                    run()
                    rec.flush()  # the writer's work counts in the cpu figure

                fns[name] = run_and_flush
            else:
                fns[name] = run
        best = best_wall_and_cpu(fns, rounds=3)
        per = {name: {k: v / N * 1e6 for k, v in t.items()} for name, t in best.items()}
        key = "single_thread" if threads == 1 else f"{threads}_threads"
        results[key] = {"us_per_span": per}
        base = per["empty_with"]
        net = {
            name: {k: p[k] - base[k] for k in p}
            for name, p in per.items()
            if name != "empty_with"
        }
        results[key]["us_per_span_net_of_empty_with"] = net
        if "otel_sdk_batch" in per:
            results[key]["otel_over_recorder_discard"] = {
                k: net["otel_sdk_batch"][k] / net["recorder_discard"][k]
                for k in ("wall", "cpu")
            }
    discard.close()
    to_file.close()
    idle.close()
    results["recorder_counters"] = {
        "discard": discard.counters(),
        "jsonl": to_file.counters(),
    }
    if otel is not None:
        otel[1]()
    results["load_average_after"] = load_average()
    results["cpus"] = os.cpu_count()
    write_results("recorder", results)
    return results


if __name__ == "__main__":
    main()
