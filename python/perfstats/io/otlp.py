"""OpenTelemetry JSON traces (OTLP/JSON export): one event per span."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from perfstats.io.schema import Problem, Raw, pandas_module
from perfstats.io.text import json_lines, json_loads, records_frame, shown_value


def looks_like_otlp(text: str) -> bool:
    head = text[:4096]
    return '"resourceSpans"' in head or '"resource_spans"' in head


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _any_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "string_value"):
        if key in value:
            return value[key] if isinstance(value[key], str) else None
    for key in ("intValue", "int_value"):
        if key in value:
            v = value[key]
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                return None
            try:
                return int(v)
            except ValueError:
                return None
    for key in ("doubleValue", "double_value"):
        if key in value:
            v = value[key]
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                return None
            try:
                return float(v)
            except (ValueError, OverflowError):
                return None
    for key in ("boolValue", "bool_value"):
        if key in value:
            return value[key] if isinstance(value[key], bool) else None
    for key in ("arrayValue", "array_value"):
        if key in value and isinstance(value[key], dict):
            values = value[key].get("values")
            return [_any_value(v) for v in values] if isinstance(values, list) else None
    return None


class _Malformed(Exception):
    """A part of an OTLP document that does not have the type the format gives it."""

    def __init__(self, path: str, reason: str, value: Any) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason
        self.value = value


def _listed(obj: Mapping[str, Any], camel: str, snake: str, path: str) -> list[Any]:
    """The list under a key (empty when absent or null); any other type is malformed."""
    key = camel if obj.get(camel) is not None else snake
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"{path}.{key}", "not a JSON list", value)
    return value


def _attributes(items: Any, path: str) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise _Malformed(path, "attributes are not a JSON list", items)
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise _Malformed(
                f"{path}[{i}]", "attribute is not an object with a string key", item
            )
        out[item["key"]] = _any_value(item.get("value"))
    return out


def _first(attrs: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if attrs.get(key) is not None:
            return attrs[key]
    return None


def _nanos(value: Any) -> int | None:
    """Unix nanoseconds from an OTLP fixed64 (a JSON string or number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 25:
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value < 2**63:
        return value
    return None


_STATUS_ERROR = {2, "2", "STATUS_CODE_ERROR"}


def _span_record(
    span: Mapping[str, Any], resource: Mapping[str, Any], path: str
) -> dict[str, Any]:
    attrs = _attributes(span.get("attributes"), f"{path}.attributes")
    times = []
    for camel, snake in (
        ("startTimeUnixNano", "start_time_unix_nano"),
        ("endTimeUnixNano", "end_time_unix_nano"),
    ):
        value = _get(span, camel, snake)
        t = _nanos(value)
        if t is None:
            reason = "missing" if value is None else "not a count of Unix nanoseconds"
            raise _Malformed(f"{path}.{camel}", f"span time {reason}", value)
        times.append(t)
    start, end = times
    status = span.get("status")
    if status is not None and not isinstance(status, dict):
        raise _Malformed(f"{path}.status", "status is not a JSON object", status)
    status = status or {}
    error = _first(attrs, "error.type")
    if error is None and status.get("code") in _STATUS_ERROR:
        error = status.get("message") or "error"
    return {
        "timestamp": start,
        "endpoint": _first(attrs, "http.route", "url.path") or span.get("name"),
        "model": _first(attrs, "gen_ai.request.model", "gen_ai.response.model"),
        "operation": _first(attrs, "gen_ai.operation.name"),
        "provider": _first(attrs, "gen_ai.provider.name", "gen_ai.system"),
        "latency_ms": (end - start) / 1e6,
        "input_tokens": _first(attrs, "gen_ai.usage.input_tokens"),
        "output_tokens": _first(attrs, "gen_ai.usage.output_tokens"),
        "cached_input_tokens": _first(
            attrs, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cached_tokens"
        ),
        "error": error,
        "success": error is None,
        "user_id": _first(attrs, "user.id", "enduser.id"),
        "session_id": _first(attrs, "session.id", "gen_ai.conversation.id"),
        "service": resource.get("service.name"),
        "trace_id": _get(span, "traceId", "trace_id"),
        "span_id": _get(span, "spanId", "span_id"),
    }


def _otlp_spans(
    doc: Any, line: int | None, problems: list[Problem]
) -> Iterator[tuple[dict[str, Any], bool]]:
    """(record, is_genai) for each span in one ExportTraceServiceRequest; each
    malformed part becomes a problem located by its JSON path (``$.resourceSpans[0]
    .scopeSpans[1].spans[2]``) in the ``column`` field."""

    def malformed(path: str, reason: str, value: Any) -> None:
        problems.append(Problem(None, line, path, reason, shown_value(value)))

    if not isinstance(doc, dict):
        malformed("$", "OTLP document is not a JSON object", doc)
        return
    try:
        resource_spans = _listed(doc, "resourceSpans", "resource_spans", "$")
    except _Malformed as bad:
        malformed(bad.path, bad.reason, bad.value)
        return
    for r, rs in enumerate(resource_spans):
        rpath = f"$.resourceSpans[{r}]"
        try:
            if not isinstance(rs, dict):
                raise _Malformed(rpath, "resourceSpans element is not an object", rs)
            resource_obj = rs.get("resource")
            if resource_obj is not None and not isinstance(resource_obj, dict):
                raise _Malformed(f"{rpath}.resource", "not a JSON object", resource_obj)
            resource = _attributes(
                (resource_obj or {}).get("attributes"), f"{rpath}.resource.attributes"
            )
            scope_spans = _listed(rs, "scopeSpans", "scope_spans", rpath)
        except _Malformed as bad:
            malformed(bad.path, bad.reason, bad.value)
            continue
        for s, ss in enumerate(scope_spans):
            spath = f"{rpath}.scopeSpans[{s}]"
            try:
                if not isinstance(ss, dict):
                    raise _Malformed(spath, "scopeSpans element is not an object", ss)
                spans = _listed(ss, "spans", "spans", spath)
            except _Malformed as bad:
                malformed(bad.path, bad.reason, bad.value)
                continue
            for k, span in enumerate(spans):
                path = f"{spath}.spans[{k}]"
                try:
                    if not isinstance(span, dict):
                        raise _Malformed(path, "span is not a JSON object", span)
                    record = _span_record(span, resource, path)
                except _Malformed as bad:
                    malformed(bad.path, bad.reason, bad.value)
                    continue
                attrs = span.get("attributes") or []
                genai = any(str(a.get("key", "")).startswith("gen_ai.") for a in attrs)
                yield record, genai


def read_otlp_text(text: str, source: str) -> Raw:
    docs: list[tuple[int | None, Any]] = []
    problems: list[Problem] = []
    whole, problem = json_loads(text)
    if problem is None:
        docs.append((None, whole))  # one document: its JSON paths locate everything
    else:
        for number, line in json_lines(text):
            obj, problem = json_loads(line)
            if problem is not None:
                problems.append(Problem(None, number, "", problem, line[:200]))
            else:
                docs.append((number, obj))
    spans: list[tuple[int | None, dict[str, Any], bool]] = []
    for where, doc in docs:
        spans.extend(
            (where, rec, genai) for rec, genai in _otlp_spans(doc, where, problems)
        )
    # GenAI spans only when there are any: HTTP and database spans around them would
    # otherwise count as requests of their own.
    if any(genai for _, _, genai in spans):
        spans = [s for s in spans if s[2]]
    records = [rec for _, rec, _ in spans]
    problems.sort(key=lambda p: p.line or 0)
    raw = Raw(records_frame(records, list(range(len(records)))), source, problems)
    if docs and docs[0][0] is not None:
        raw.lines = [n or 0 for n, _, _ in spans]
    if len(raw.frame):
        frame = raw.frame.dropna(axis=1, how="all")
        # exact integer nanoseconds (a float column would round them)
        ns = np.array([rec["timestamp"] for rec in records], dtype=np.int64)
        pdm = pandas_module()
        frame["timestamp"] = pdm.Series(
            ns.view("datetime64[ns]"), index=frame.index
        ).dt.tz_localize("UTC")
        raw.frame = frame
    return raw
