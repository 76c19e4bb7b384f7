"""Feed spans of an OpenTelemetry-instrumented application into a Recorder.

:class:`RecorderSpanProcessor` is a span processor for the OpenTelemetry SDK: add
it to a ``TracerProvider`` and every finished span becomes one event, with the
GenAI semantic-convention attributes mapped to canonical columns the same way
:func:`perfstats.read_events` maps an OTLP trace file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perfstats._optional import require
from perfstats.record.recorder import Recorder, Span

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["RecorderSpanProcessor"]

# canonical column <- attribute keys, first present wins (as perfstats.io reads OTLP)
_COLUMNS: dict[str, tuple[str, ...]] = {
    "endpoint": ("http.route", "url.path"),
    "model": ("gen_ai.request.model", "gen_ai.response.model"),
    "provider": ("gen_ai.provider.name", "gen_ai.system"),
    "input_tokens": ("gen_ai.usage.input_tokens",),
    "output_tokens": ("gen_ai.usage.output_tokens",),
    "cached_input_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cached_tokens",
    ),
    "user_id": ("user.id", "enduser.id"),
    "session_id": ("session.id", "gen_ai.conversation.id"),
}


def _first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in attrs and attrs[k] is not None:
            return attrs[k]
    return None


def _base() -> type:
    try:
        from opentelemetry.sdk.trace import SpanProcessor
    except ImportError:  # the SDK is optional; fail when the class is used
        return object
    return SpanProcessor


class RecorderSpanProcessor(_base()):  # type: ignore[misc]
    """OpenTelemetry SDK span processor that records finished spans.

    Parameters
    ----------
    recorder : Recorder
        Where the events go.
    genai_only : bool
        Record only spans with a ``gen_ai.`` attribute (HTTP and database spans
        around an LLM call would otherwise count as requests of their own).

    Examples
    --------
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> batches = []
    >>> rec = Recorder(batches.append)
    >>> provider = TracerProvider()
    >>> provider.add_span_processor(RecorderSpanProcessor(rec))
    >>> tracer = provider.get_tracer("app")
    >>> with tracer.start_as_current_span("chat m1") as span:
    ...     span.set_attribute("gen_ai.request.model", "m1")
    ...     span.set_attribute("gen_ai.usage.input_tokens", 12)
    >>> rec.flush()
    >>> event = batches[0][0]
    >>> event["model"], event["input_tokens"], event["success"]
    ('m1', 12, True)
    >>> rec.close()
    """

    def __init__(self, recorder: Recorder, *, genai_only: bool = False) -> None:
        require("opentelemetry.sdk.trace", "RecorderSpanProcessor")
        if not isinstance(recorder, Recorder):
            raise TypeError(
                f"recorder must be a Recorder, got {type(recorder).__name__}"
            )
        self.recorder = recorder
        self.genai_only = genai_only

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Turn the finished span into an event in the recorder's buffer."""
        attrs = dict(span.attributes or {})
        if self.genai_only and not any(k.startswith("gen_ai.") for k in attrs):
            return
        if span.start_time is None or span.end_time is None:
            return
        rec = self.recorder
        if rec.sample_rate < 1.0 and rec._random() >= rec.sample_rate:
            with rec._lock:
                rec._sampled_out += 1
            return
        columns: dict[str, Any] = {}
        for col, keys in _COLUMNS.items():
            value = _first(attrs, keys)
            if value is not None:
                columns[col] = value
        columns.setdefault("endpoint", span.name)
        operation = attrs.get("gen_ai.operation.name") or span.name
        out = Span(rec, str(operation), columns)
        out.t0, out.t1 = span.start_time, span.end_time
        out.span_id = next(rec._ids)
        error = attrs.get("error.type")
        status = getattr(span, "status", None)
        if error is None and status is not None and not status.is_ok:
            if getattr(status.status_code, "name", "") == "ERROR":
                error = status.description or "error"
        if error is not None:
            out.error = str(error)
        ctx = span.context
        if ctx is not None:
            out.set(trace_id=f"{ctx.trace_id:032x}", otel_span_id=f"{ctx.span_id:016x}")
        rec._put(out._event())

    def shutdown(self) -> None:
        """Flush the recorder (the recorder stays open; close it yourself)."""
        self.recorder.flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Write the recorder's buffer now."""
        self.recorder.flush()
        return True
