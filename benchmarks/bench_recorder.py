"""Cost of one recorded span: Recorder against an empty `with` block and an
OpenTelemetry SDK span (BatchSpanProcessor, no-op exporter), 1 and 8 threads.

Each contender runs N spans in a loop (split over the threads); the figures are per
span. ``wall`` is the caller's elapsed time (what the application waits), ``cpu``
the process CPU time of every thread (the background writer or exporter included).
``recorder_hot_path`` is the application thread's share alone (the writer sleeps
during the loop), ``recorder_hot_path_phases`` the same with two ``phase()`` marks
and one ``set()`` of two fields in each span; ``recorder_discard`` adds the writer building every event and
the live statistics (the sink discards the batches), ``recorder_jsonl`` adds
writing a JSON lines file. OpenTelemetry's exporter discards its batches.

The figures and load averages of the last three earlier results files are kept
under ``previous_runs`` (newest first), so a run on a busy machine and one on a
quieter machine (and the code before a change) sit side by side.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, best_wall_and_cpu, load_average, write_results
from perfstats.record import Recorder

N = 200_000
THREADS = 8


def _loop(make_span: Callable[[], Any], n: int) -> None:
    for _ in range(n):
        with make_span():
            pass


def _loop_phases(make_span: Callable[[], Any], n: int) -> None:
    for _ in range(n):
        with make_span() as s:
            s.phase("queue")
            s.phase("processing")
            s.set(input_tokens=812, output_tokens=95)


def _previous() -> list[dict[str, Any]]:
    try:
        old = json.loads((RESULTS / "recorder.json").read_text())
    except (OSError, ValueError):
        return []
    keep = ("machine", "time_utc", "load_average_before", "load_average_after")
    out = {k: old[k] for k in keep if k in old}
    for key in ("single_thread", f"{THREADS}_threads"):
        if key in old:
            out[key] = old[key]
    earlier = old.get("previous_runs") or (
        [old["previous_run"]] if "previous_run" in old else []
    )
    return [out, *earlier][:3]


def _threaded(
    make_span: Callable[[], Any],
    n: int,
    threads: int,
    loop: Callable[[Callable[[], Any], int], None] = _loop,
) -> Callable[[], None]:
    def run() -> None:
        if threads == 1:
            loop(make_span, n)
            return
        pool = [
            threading.Thread(target=loop, args=(make_span, n // threads))
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
        "recorder_hot_path_phases": idle_span,
        "recorder_discard": flushing(discard),
        "recorder_jsonl": flushing(to_file),
    }
    otel = _otel()
    if otel is not None:
        contenders["otel_sdk_batch"] = otel[0]
    previous = _previous()
    results: dict[str, Any] = {
        "n_spans": N,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_before": load_average(),
    }
    for threads in (1, THREADS):
        fns = {}
        for name, make in contenders.items():
            loop = _loop_phases if name.endswith("_phases") else _loop
            run = _threaded(make, N, threads, loop)
            if name.startswith("recorder_hot_path"):

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
    if previous:
        results["previous_runs"] = previous
    write_results("recorder", results)
    return results


if __name__ == "__main__":
    main()
