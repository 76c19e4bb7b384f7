"""JSON lines and JSON array files (OpenTelemetry traces are handed to :mod:`.otlp`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from perfstats.io.otlp import looks_like_otlp, read_otlp_text
from perfstats.io.schema import Problem, Raw
from perfstats.io.text import (
    json_lines,
    json_loads,
    read_text,
    records_frame,
    shown_value,
)


def read_json(path: Path, *, fmt: str) -> Raw:
    """JSON lines, a JSON array of records, or an OpenTelemetry trace export."""
    text = read_text(path)
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return Raw(records_frame([], []), str(path))
    if stripped.startswith("["):
        doc, problem = json_loads(text)
        if fmt != "jsonl" or (problem is None and isinstance(doc, list)):
            return _read_json_array(text, doc, problem, str(path))
        # JSON lines whose first line is an array: each line on its own
    if fmt == "otlp" or looks_like_otlp(stripped):
        return read_otlp_text(text, str(path))
    parsed: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    for number, line in json_lines(text):
        obj, problem = json_loads(line)
        if problem is not None:
            problems.append(Problem(None, number, "", problem, line[:200]))
        else:
            parsed.append((number, obj))
    if not parsed and problems and fmt == "json":
        # a pretty-printed single document, not JSON lines
        doc, problem = json_loads(text)
        if problem is None:
            parsed, problems = (
                [(1 + text.count("\n", 0, len(text) - len(stripped)), doc)],
                [],
            )
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    for number, obj in parsed:
        if isinstance(obj, dict):
            records.append(obj)
            lines.append(number)
        else:
            problems.append(
                Problem(
                    None, number, "", "JSON line is not an object", shown_value(obj)
                )
            )
    problems.sort(key=lambda p: p.line or 0)
    raw = Raw(records_frame(records, lines), str(path), problems)
    raw.lines = lines
    return raw


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _read_json_array(text: str, doc: Any, problem: str | None, source: str) -> Raw:
    """A JSON array of records (`doc`, parsed from `text`, or the `problem` found).
    Each record is named by its element index, 0-based as in a JSON path (``$[3]``),
    and the file line where the element starts."""
    if problem is not None or not isinstance(doc, list):
        raise ValueError(f"{source}: {problem or 'not a JSON array of records'}")
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    others: list[int] = []
    for i, obj in enumerate(doc):
        if isinstance(obj, dict):
            records.append(obj)
            rows.append(i)
        else:
            others.append(i)
    found: list[list[int] | None] = []

    def starts() -> list[int] | None:
        if not found:  # a second pass over the text, only when a record is invalid
            found.append(_element_lines(text, len(doc)))
        return found[0]

    problems = []
    for i in others:
        lines = starts()
        problems.append(
            Problem(
                i,
                lines[i] if lines is not None else None,
                "",
                "JSON array element is not an object",
                shown_value(doc[i]),
            )
        )

    def find_lines(n: int) -> list[int] | None:
        lines = starts()
        return None if lines is None else [lines[i] for i in rows]

    raw = Raw(records_frame(records, rows), source, problems)
    raw.rows = rows
    raw.row_label = "element"
    raw.find_lines = find_lines
    return raw


def _element_lines(text: str, n: int) -> list[int] | None:
    """The 1-based file line where each of the array's `n` elements starts."""
    decoder = json.JSONDecoder()
    try:
        i = text.index("[") + 1
        line = 1 + text.count("\n", 0, i)
        last = i
        out: list[int] = []
        for _ in range(n):
            m = _JSON_SPACE.match(text, i)
            i = m.end() if m else i
            line += text.count("\n", last, i)
            last = i
            out.append(line)
            _, i = decoder.raw_decode(text, i)
            m = _JSON_SPACE.match(text, i)
            i = m.end() if m else i
            if i < len(text) and text[i] == ",":
                i += 1
    except (ValueError, RecursionError):  # pragma: no cover - the text parsed once
        return None
    return out
