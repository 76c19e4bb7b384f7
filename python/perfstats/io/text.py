"""Shared decoding of text sources: encodings and byte-order marks, JSON lines, and the
frame of decoded records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfstats.io.schema import pandas_module

if TYPE_CHECKING:
    import pandas as pd


def json_lines(text: str) -> Iterator[tuple[int, str]]:
    """(file line, text) of each non-blank line. Only ``\n`` (with an optional ``\r``
    before it) ends a line, as in ``wc -l`` and editors: JSON strings may hold U+2028,
    U+0085 or form feeds, which ``str.splitlines`` would also split on."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip(" \t\r"):
            yield number, line


def json_loads(line: str) -> tuple[Any, str | None]:
    try:
        return json.loads(line), None
    except RecursionError:
        return None, "invalid JSON (nested too deeply)"
    except ValueError as exc:
        return None, f"invalid JSON ({exc.args[0] if exc.args else exc})"


_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def encoding_of(head: bytes) -> str:
    """The encoding a byte-order mark announces; UTF-16 without one when every other
    byte of the first ones is NUL (ASCII text in UTF-16); else UTF-8."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    pairs = len(head) // 2
    if pairs >= 2:
        even, odd = head[0 : 2 * pairs : 2], head[1 : 2 * pairs : 2]
        if odd.count(0) == pairs and even.count(0) == 0:
            return "utf-16-le"
        if even.count(0) == pairs and odd.count(0) == 0:
            return "utf-16-be"
    return "utf-8"


def read_text(path: Path) -> str:
    """The file's text: UTF-8, or UTF-16/32 when a byte-order mark says so; a BOM is
    not part of the text."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            import gzip

            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read the file ({exc})") from exc
    encoding = encoding_of(data[:4096])
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
        raise ValueError(
            f"{path}: not {name} text (byte {exc.start}: {exc.reason})"
        ) from exc


def records_frame(records: list[dict[str, Any]], rows: list[int]) -> pd.DataFrame:
    pdm = pandas_module()
    frame = pdm.DataFrame.from_records(records) if records else pdm.DataFrame()
    frame.index = pdm.RangeIndex(len(rows))
    typed: pd.DataFrame = frame
    return typed


def shown_value(obj: Any) -> str:
    try:
        return json.dumps(obj)[:200]
    except (RecursionError, TypeError, ValueError):
        return "<not shown>"
