"""Read request telemetry from any common source into one canonical event table.

The canonical schema: one row per request or span. Every column is optional (an
analysis says which ones it needs) and columns it does not know are kept as they are.

* ``timestamp`` (datetime64[ns, UTC]): when the request started.
* ``endpoint``, ``variant``, ``model`` (category): route or operation called
  (``/api/chat``), experiment arm or rollout variant, model that served it.
* ``latency_ms`` (float64): end-to-end latency in milliseconds; required per row.
* every other ``*_ms`` column (float64, NaN = not applicable): a phase duration in
  ms, e.g. ``queue_ms``, ``processing_ms``, ``delivery_ms``, ``ttft_ms``.
* ``input_tokens``, ``output_tokens``, ``cached_input_tokens`` (a part of the input
  served from a prompt cache), ``steps``, ``cost_usd`` (float64, NaN = unknown).
* ``success`` (bool; derived from ``error`` when absent) and ``error`` (category,
  missing when the request succeeded).
* ``user_id``, ``session_id`` (pandas string dtype).
* any other boolean column (bool or nullable boolean) is an outcome (``cache_hit``,
  ``accepted``); any other numeric column is a score (``quality_score``).

Invalid rows (unparsable, missing or DST-ambiguous timestamps, negative, missing or
non-finite latencies, negative or non-finite phases, tokens and costs, durations
written with an unknown unit, malformed lines) are never dropped silently:
``errors="raise"`` raises a :class:`ValueError` naming the source, the record (its
file line where there is one) and column, ``errors="skip"``
skips them and records each one in :attr:`Events.skipped`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from perfstats._display import View
from perfstats._errors import Arg, ArgumentError
from perfstats._optional import require
from perfstats._result import Result
from perfstats.io.failure import error_present

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CANONICAL_COLUMNS",
    "TIME_UNITS",
    "Events",
    "describe_columns",
    "read_events",
    "write_events",
]

#: Factor from each accepted time unit to milliseconds.
TIME_UNITS: dict[str, float] = {"s": 1e3, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
_UNIT_ALIASES = {
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "ms": "ms",
    "msec": "ms",
    "millis": "ms",
    "milliseconds": "ms",
    "us": "us",
    "µs": "us",
    "μs": "us",
    "usec": "us",
    "micros": "us",
    "microseconds": "us",
    "ns": "ns",
    "nsec": "ns",
    "nanos": "ns",
    "nanoseconds": "ns",
}
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}

_CATEGORY_COLUMNS = ("endpoint", "variant", "model", "error")
_STRING_COLUMNS = ("user_id", "session_id")
_COUNT_COLUMNS = ("input_tokens", "output_tokens", "cached_input_tokens", "steps")

#: Canonical column names and their dtypes (``*_ms`` phase columns are float64 too).
CANONICAL_COLUMNS: dict[str, str] = {
    "timestamp": "datetime64[ns, UTC]",
    "endpoint": "category",
    "variant": "category",
    "model": "category",
    "latency_ms": "float64",
    "queue_ms": "float64",
    "processing_ms": "float64",
    "delivery_ms": "float64",
    "ttft_ms": "float64",
    "input_tokens": "float64",
    "output_tokens": "float64",
    "cached_input_tokens": "float64",
    "cost_usd": "float64",
    "success": "bool",
    "error": "category",
    "steps": "float64",
    "user_id": "string",
    "session_id": "string",
}

_SKIPPED_COLUMNS = ["row", "line", "column", "reason", "value"]
_UNITS_TS_MS = Arg('units={"timestamp": "ms"}', "--units timestamp=ms")
_ORIGIN = Arg("origin=", "--origin TIME")


def _braces(text: str) -> str:
    """`text` escaped for use in an :class:`ArgumentError` template."""
    return text.replace("{", "{{").replace("}", "}}")


_MAX_LISTED = 5

# Year 2000 to 2100 as epoch values: the ranges for s, ms, us and ns are disjoint, so
# a numeric timestamp column lying wholly inside one of them has an unambiguous unit.
_EPOCH_LO_S, _EPOCH_HI_S = 946_684_800.0, 4_102_444_800.0

_DURATION_RE = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf(?:inity)?|nan)\s*"
    r"([A-Za-zµμ]*)\s*$",
    re.IGNORECASE,
)
_TRUE = {"true", "t", "yes", "y", "1", "ok", "success"}
_FALSE = {"false", "f", "no", "n", "0", "error", "failure", "fail"}


def _pandas() -> Any:
    return require("pandas", "perfstats.io")


def _pyarrow() -> Any:
    return require("pyarrow", "reading this source")


def _string_dtype() -> Any:
    pdm = _pandas()
    try:
        return pdm.StringDtype(na_value=np.nan)
    except TypeError:  # pragma: no cover - pandas < 2.3
        return pdm.StringDtype()


def _normalize_unit(unit: object, *, what: str) -> str:
    if not isinstance(unit, str) or unit.strip().lower() not in _UNIT_ALIASES:
        raise ValueError(
            f"unknown time unit {unit!r} for {what}; use one of s, ms, us, ns"
        )
    return _UNIT_ALIASES[unit.strip().lower()]


def _unit_from_name(name: str) -> str | None:
    """The unit a column name states in its suffix (``elapsed_s`` -> ``s``)."""
    match = re.search(r"[_\-.\s\[(]([A-Za-zµμ]+)\)?\]?$", name)
    if match is None:
        return None
    return _UNIT_ALIASES.get(match.group(1).lower())


@dataclass(frozen=True)
class _Problem:
    """One invalid record found while reading."""

    row: int | None
    line: int | None
    column: str
    reason: str
    value: str


@dataclass(eq=False, repr=False)
class Events(Result):
    """Events in the canonical schema, with a record of what was skipped.

    Returned by :func:`read_events`; every analysis also accepts a plain pandas
    DataFrame (it goes through :func:`read_events` first).

    Attributes
    ----------
    frame : pandas.DataFrame
        The events, one row per request, in source order with a fresh RangeIndex.
    skipped : pandas.DataFrame
        One row per skipped record: ``row`` (0-based index of the record among the
        records parsed from the source; for a JSON array the element's index, as in
        the JSON path ``$[i]``), ``line`` (1-based file line where the record starts,
        as an editor numbers it: a CSV header is line 1, a quoted field may span
        lines; known for CSV, JSON lines and JSON arrays), ``column`` (for a
        malformed part of an OpenTelemetry document, its JSON path such as
        ``$.resourceSpans[0].scopeSpans[0].spans[2]``), ``reason`` and the
        offending ``value`` as text. Error messages name records the same way.
    source : str
        What was read (a path, ``"DataFrame"``, ``"sql"`` ...), used in messages.
    units : dict of str to str
        The unit each duration or numeric timestamp column was read in.
    """

    frame: pd.DataFrame
    skipped: pd.DataFrame
    source: str = "events"
    units: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        """Column names present."""
        return [str(c) for c in self.frame.columns]

    @property
    def phases(self) -> list[str]:
        """Phase duration columns (every ``*_ms`` column except ``latency_ms``)."""
        return [c for c in self.columns if c.endswith("_ms") and c != "latency_ms"]

    @property
    def outcomes(self) -> list[str]:
        """Boolean outcome columns other than ``success``."""
        return [
            c
            for c in self.columns
            if c not in CANONICAL_COLUMNS and _is_bool_dtype(self.frame[c].dtype)
        ]

    @property
    def scores(self) -> list[str]:
        """Numeric score columns that are not canonical and not durations."""
        return [
            c
            for c in self.columns
            if c not in CANONICAL_COLUMNS
            and not c.endswith("_ms")
            and _is_numeric_dtype(self.frame[c].dtype)
            and not _is_bool_dtype(self.frame[c].dtype)
        ]

    def has(self, *columns: str) -> bool:
        """Whether every named column is present."""
        return all(c in self.frame.columns for c in columns)

    def skipped_by_reason(self) -> dict[str, int]:
        """How many records were skipped for each reason."""
        counts = self.skipped["reason"].value_counts(sort=True)
        return {str(k): int(v) for k, v in counts.items()}

    def to_frame(self) -> pd.DataFrame:
        """The events as a pandas DataFrame (the object itself, not a copy)."""
        return self.frame

    def to_dict(self) -> dict[str, Any]:
        """Plain summary: source, rows, columns, time range and skipped counts."""
        out: dict[str, Any] = {
            "source": self.source,
            "rows": len(self.frame),
            "columns": self.columns,
            "units": dict(self.units),
            "skipped": len(self.skipped),
            "skipped_by_reason": self.skipped_by_reason(),
        }
        if "timestamp" in self.frame.columns and len(self.frame):
            ts = self.frame["timestamp"]
            out["start"] = ts.min().isoformat()
            out["end"] = ts.max().isoformat()
        return out

    def _view(self) -> View:
        d = self.to_dict()
        fields: dict[str, Any] = {"rows": d["rows"], "source": self.source}
        if "start" in d:
            fields |= {"start": d["start"], "end": d["end"]}
        fields["columns"] = ", ".join(d["columns"])
        if self.units:
            fields["units"] = ", ".join(f"{k} {v}" for k, v in self.units.items())
        notes = []
        if d["skipped"]:
            reasons = "; ".join(f"{k}: {v}" for k, v in d["skipped_by_reason"].items())
            notes.append(f"skipped {d['skipped']} invalid rows ({reasons})")
        return View(
            "Events",
            fields,
            {"first rows": self.frame.head(10)} if len(self.frame) else {},
            notes=notes,
            text_columns={"first rows": []},
        )


def _is_bool_dtype(dtype: Any) -> bool:
    return str(dtype) in ("bool", "boolean")


def _is_numeric_dtype(dtype: Any) -> bool:
    pdm = _pandas()
    return bool(pdm.api.types.is_numeric_dtype(dtype))


# ---------------------------------------------------------------------------------
# Loading raw tables from each kind of source
# ---------------------------------------------------------------------------------


@dataclass
class _Raw:
    frame: pd.DataFrame
    source: str
    problems: list[_Problem] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    lines: list[int] | None = None  # file line of each record, where known
    rows: list[int] | None = None  # source record number of each row, if not its index
    row_label: str = "row"  # what a record is called in messages: row or element
    find_lines: Callable[[int], list[int] | None] | None = None  # lines, found lazily


_FORMATS = ("parquet", "csv", "jsonl", "json", "otlp", "arrow")
_SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zst", ".xz"):
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise ArgumentError(
        _braces(f"{path}: cannot tell the format from the file name; pass ")
        + "{0} one of "
        + ", ".join(_FORMATS),
        Arg("format=", "--input-format"),
    )


def _arrow_to_pandas(table: Any) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _read_parquet(path: Path, wanted: Sequence[str] | None = None) -> _Raw:
    pa = _pyarrow()
    import pyarrow.parquet as pq

    try:
        if wanted is not None:
            names = pq.read_schema(path).names
            wanted = [c for c in wanted if c in names]  # the rest is reported later
        # no memory map: a mapped file that shrinks while it is read is SIGBUS
        table = pq.read_table(path, columns=wanted, memory_map=False)
        # e.g. a dictionary index past its dictionary (a damaged file)
        frame = _arrow_to_pandas(table)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:  # a damaged name
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from exc
    return _Raw(frame, str(path))


def _read_arrow_ipc(path: Path) -> _Raw:
    pa = _pyarrow()
    try:
        # read into memory, not mapped: a mapped file that shrinks while its columns are
        # in use kills the process with SIGBUS
        with pa.OSFile(str(path)) as src:
            try:
                table = pa.ipc.open_file(src).read_all()
            except pa.ArrowInvalid:
                src.seek(0)
                table = pa.ipc.open_stream(src).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: not a readable Arrow IPC file ({exc})") from exc
    return _Raw(_arrow_to_pandas(table), str(path))


def _read_csv(
    path: Path, *, delimiter: str | None, text_columns: Sequence[str] = ()
) -> _Raw:
    pa = _pyarrow()
    import pyarrow.csv as pacsv

    problems: list[_Problem] = []

    def on_bad_row(row: Any) -> str:
        problems.append(
            _Problem(
                row=None,
                line=row.number,
                column="",
                reason=(
                    f"malformed CSV line ({row.actual_columns} fields, "
                    f"expected {row.expected_columns})"
                ),
                value=str(row.text)[:200],
            )
        )
        return "skip"

    if delimiter is None:
        delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","

    encoding = _file_encoding(path)

    block = 1 << 20  # pyarrow's default block size

    def read(threads: bool) -> Any:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                use_threads=threads, encoding=encoding, block_size=block
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=on_bad_row
            ),
            # A column with one bad value stays text: the canonical conversion then
            # names the row instead of the whole read failing.
            # identifiers stay text: "00042" is not the number 42
            convert_options=pacsv.ConvertOptions(
                strings_can_be_null=True,
                column_types={c: pa.string() for c in text_columns},
            ),
        )

    try:
        table = None
        while table is None:
            try:
                table = read(True)
            except pa.ArrowInvalid as exc:
                # a record longer than a block: larger blocks (the whole file first)
                if "straddling" not in str(exc) or block >= 2**30:
                    raise
                problems.clear()
                block = min(max(path.stat().st_size + 1, 2 * block), 2**30)
        if any(p.line is None for p in problems):
            # threaded parsing does not know line numbers; find them on one thread
            problems.clear()
            table = read(False)
        binary = [
            f.name
            for f in table.schema
            if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)
        ]
        if binary:  # the reader keeps a column with bytes that are not UTF-8 as bytes
            line = _first_non_utf8_line(path) if encoding == "utf8" else None
            at = f"line {line}, " if line is not None else ""
            raise ValueError(
                f"{path}: not UTF-8 text ({at}column {binary[0]!r}); save the "
                "file as UTF-8"
            )
        frame = _arrow_to_pandas(table)  # column names are decoded here
    except (pa.ArrowException, UnicodeError, OSError, EOFError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Empty CSV file" in message:
            raise ValueError(f"{path}: empty CSV file (no header line)") from exc
        # pyarrow decodes a malformed row before calling the handler: bytes that are
        # not UTF-8 there fail the read (and print "Exception ignored" to stderr)
        line = _first_non_utf8_line(path) if encoding == "utf8" else None
        if isinstance(exc, UnicodeError) or "invalid UTF8" in message or line:
            at = f" (line {line})" if line is not None else ""
            raise ValueError(
                f"{path}: not UTF-8 text{at}; save the file as UTF-8"
            ) from exc
        raise ValueError(f"{path}: not a readable CSV file ({message})") from exc
    scanned: list[tuple[list[int], list[int]] | None] = []

    def scan() -> tuple[list[int], list[int]] | None:
        if not scanned:  # once, and only when a record needs its line
            scanned.append(_csv_record_lines(path, delimiter, encoding))
        return scanned[0]

    if problems:
        # the reader numbers records, not lines (blank lines and quoted line breaks
        # shift them); the lines come from a scan of the file
        found = scan()
        if found is not None and len(found[1]) == len(problems):
            problems = [
                _Problem(p.row, line, p.column, p.reason, p.value)
                for p, line in zip(problems, found[1], strict=True)
            ]

    def find_lines(n: int) -> list[int] | None:
        found = scan()
        return found[0] if found is not None and len(found[0]) == n else None

    raw = _Raw(frame, str(path), problems)
    raw.find_lines = find_lines
    return raw


def _first_non_utf8_line(path: Path) -> int | None:
    """The 1-based line of the first bytes that are not UTF-8, if any."""
    try:
        if path.suffix.lower() == ".gz":
            import gzip

            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 1 + data.count(b"\n", 0, exc.start)
    return None


def _file_encoding(path: Path) -> str:
    """The encoding a plain file's byte-order mark announces (UTF-8 without one)."""
    if path.suffix.lower() in (".gz", ".bz2", ".zst", ".xz"):
        return "utf8"
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return "utf8"
    encoding = _encoding_of(head)
    return "utf8" if encoding.startswith("utf-8") else encoding


def _csv_record_lines(
    path: Path, delimiter: str, encoding: str
) -> tuple[list[int], list[int]] | None:
    """The 1-based file line where each record starts (the header is line 1; a
    quoted field may span lines): of the records read, and of the malformed ones
    (a field count unlike the header's). None when the file cannot be scanned; then
    messages fall back to record numbers."""
    import csv

    if path.suffix.lower() in (".bz2", ".zst", ".xz"):
        return None
    good: list[int] = []
    bad: list[int] = []
    try:
        if path.suffix.lower() == ".gz":
            import gzip

            fh: Any = gzip.open(path, "rt", encoding="utf-8-sig", newline="")
        else:
            enc = "utf-8-sig" if encoding == "utf8" else encoding
            fh = path.open(encoding=enc, errors="replace", newline="")
        with fh:
            reader = csv.reader(fh, delimiter=delimiter)
            width = None
            end = 0
            for record in reader:
                start, end = end + 1, reader.line_num
                if not record:
                    continue  # a blank line, skipped by the CSV reader too
                if width is None:
                    width = len(record)
                else:
                    (good if len(record) == width else bad).append(start)
    except (csv.Error, OSError, EOFError, UnicodeError):
        return None
    return good, bad


def _json_lines(text: str) -> Iterator[tuple[int, str]]:
    """(file line, text) of each non-blank line. Only ``\n`` (with an optional ``\r``
    before it) ends a line, as in ``wc -l`` and editors: JSON strings may hold U+2028,
    U+0085 or form feeds, which ``str.splitlines`` would also split on."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip(" \t\r"):
            yield number, line


def _loads(line: str) -> tuple[Any, str | None]:
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


def _encoding_of(head: bytes) -> str:
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


def _read_text(path: Path) -> str:
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
    encoding = _encoding_of(data[:4096])
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
        raise ValueError(
            f"{path}: not {name} text (byte {exc.start}: {exc.reason})"
        ) from exc


def _records_frame(records: list[dict[str, Any]], rows: list[int]) -> pd.DataFrame:
    pdm = _pandas()
    frame = pdm.DataFrame.from_records(records) if records else pdm.DataFrame()
    frame.index = pdm.RangeIndex(len(rows))
    typed: pd.DataFrame = frame
    return typed


def _read_json(path: Path, *, fmt: str) -> _Raw:
    """JSON lines, a JSON array of records, or an OpenTelemetry trace export."""
    text = _read_text(path)
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return _Raw(_records_frame([], []), str(path))
    if stripped.startswith("["):
        doc, problem = _loads(text)
        if fmt != "jsonl" or (problem is None and isinstance(doc, list)):
            return _read_json_array(text, doc, problem, str(path))
        # JSON lines whose first line is an array: each line on its own
    if fmt == "otlp" or _looks_like_otlp(stripped):
        return _read_otlp_text(text, str(path))
    parsed: list[tuple[int, Any]] = []
    problems: list[_Problem] = []
    for number, line in _json_lines(text):
        obj, problem = _loads(line)
        if problem is not None:
            problems.append(_Problem(None, number, "", problem, line[:200]))
        else:
            parsed.append((number, obj))
    if not parsed and problems and fmt == "json":
        # a pretty-printed single document, not JSON lines
        doc, problem = _loads(text)
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
                _Problem(None, number, "", "JSON line is not an object", _shown(obj))
            )
    problems.sort(key=lambda p: p.line or 0)
    raw = _Raw(_records_frame(records, lines), str(path), problems)
    raw.lines = lines
    return raw


def _shown(obj: Any) -> str:
    try:
        return json.dumps(obj)[:200]
    except (RecursionError, TypeError, ValueError):
        return "<not shown>"


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _read_json_array(text: str, doc: Any, problem: str | None, source: str) -> _Raw:
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
            _Problem(
                i,
                lines[i] if lines is not None else None,
                "",
                "JSON array element is not an object",
                _shown(doc[i]),
            )
        )

    def find_lines(n: int) -> list[int] | None:
        lines = starts()
        return None if lines is None else [lines[i] for i in rows]

    raw = _Raw(_records_frame(records, rows), source, problems)
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


def _looks_like_otlp(text: str) -> bool:
    head = text[:4096]
    return '"resourceSpans"' in head or '"resource_spans"' in head


# ---------------------------------------------------------------------------------
# OpenTelemetry (OTLP/JSON as written by the Collector's file exporter)
# ---------------------------------------------------------------------------------


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
    doc: Any, line: int | None, problems: list[_Problem]
) -> Iterator[tuple[dict[str, Any], bool]]:
    """(record, is_genai) for each span in one ExportTraceServiceRequest; each
    malformed part becomes a problem located by its JSON path (``$.resourceSpans[0]
    .scopeSpans[1].spans[2]``) in the ``column`` field."""

    def malformed(path: str, reason: str, value: Any) -> None:
        problems.append(_Problem(None, line, path, reason, _shown(value)))

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


def _read_otlp_text(text: str, source: str) -> _Raw:
    docs: list[tuple[int | None, Any]] = []
    problems: list[_Problem] = []
    whole, problem = _loads(text)
    if problem is None:
        docs.append((None, whole))  # one document: its JSON paths locate everything
    else:
        for number, line in _json_lines(text):
            obj, problem = _loads(line)
            if problem is not None:
                problems.append(_Problem(None, number, "", problem, line[:200]))
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
    raw = _Raw(_records_frame(records, list(range(len(records)))), source, problems)
    if docs and docs[0][0] is not None:
        raw.lines = [n or 0 for n, _, _ in spans]
    if len(raw.frame):
        frame = raw.frame.dropna(axis=1, how="all")
        # exact integer nanoseconds (a float column would round them)
        ns = np.array([rec["timestamp"] for rec in records], dtype=np.int64)
        pdm = _pandas()
        frame["timestamp"] = pdm.Series(
            ns.view("datetime64[ns]"), index=frame.index
        ).dt.tz_localize("UTC")
        raw.frame = frame
    return raw


# ---------------------------------------------------------------------------------
# In-memory sources and SQL
# ---------------------------------------------------------------------------------


def _from_object(source: Any) -> _Raw | None:
    pdm = _pandas()
    if isinstance(source, pdm.DataFrame):
        return _Raw(source, "DataFrame")
    module = type(source).__module__.split(".")[0]
    if module == "polars":
        if hasattr(source, "collect") and not hasattr(source, "to_arrow"):
            source = source.collect()  # a LazyFrame
        return _Raw(_arrow_to_pandas(source.to_arrow()), "polars DataFrame")
    if module == "pyarrow":
        pa = _pyarrow()
        if isinstance(source, pa.Table):
            return _Raw(_arrow_to_pandas(source), "Arrow table")
        if isinstance(source, pa.RecordBatch):
            return _Raw(_arrow_to_pandas(pa.Table.from_batches([source])), "Arrow")
        if isinstance(source, pa.RecordBatchReader):
            return _Raw(_arrow_to_pandas(source.read_all()), "Arrow stream")
    if hasattr(source, "__arrow_c_stream__"):
        pa = _pyarrow()
        reader = pa.RecordBatchReader.from_stream(source)
        return _Raw(_arrow_to_pandas(reader.read_all()), "Arrow stream")
    if isinstance(source, Mapping):
        return _Raw(pdm.DataFrame(dict(source)), "mapping")
    return None


def _read_sql(query: str | None, connection: Any, params: Any) -> _Raw:
    if not isinstance(query, str) or not query.strip():
        raise ValueError('read_events("sql", ...) needs query= a SQL string')
    if connection is None:
        try:
            import duckdb
        except ImportError as exc:
            raise ImportError(
                "SQL without a connection runs on DuckDB: pip install duckdb"
            ) from exc
        connection = duckdb.connect()
    module = type(connection).__module__.split(".")[0]
    try:
        if module in ("duckdb", "_duckdb"):
            result = (
                connection.execute(query, params) if params else connection.sql(query)
            )
            frame: pd.DataFrame = result.df()
            return _Raw(frame, "sql")
        cursor = connection.cursor()
        try:
            if params is None:
                cursor.execute(query)
            else:
                cursor.execute(query, params)
            if cursor.description is None:
                raise ValueError("the SQL query returned no result set")
            names = [str(d[0]) for d in cursor.description]
            rows = cursor.fetchall()
        finally:
            cursor.close()
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(
            f"sql: the query failed ({type(exc).__name__}: {exc})"
        ) from exc
    pdm = _pandas()
    return _Raw(pdm.DataFrame.from_records(rows, columns=names), "sql")


# ---------------------------------------------------------------------------------
# Canonical conversion and validation
# ---------------------------------------------------------------------------------


class _Checker:
    """Collects invalid cells per column as (mask, reason) pairs."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.found: list[tuple[str, np.ndarray[Any, np.dtype[np.bool_]], str, Any]] = []

    def flagged(self, column: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Cells of a column flagged so far."""
        out = np.zeros(self.n, dtype=bool)
        for col, mask, _, _ in self.found:
            if col == column:
                out |= mask
        return out

    def flag(self, column: str, mask: Any, reason: str, values: Any) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.found.append((column, mask, reason, values))


def _duration_ms(
    values: pd.Series, column: str, unit: str, check: _Checker, *, required: bool
) -> pd.Series:
    """A duration column in ms; text may carry its own unit (``"1.5 s"``)."""
    pdm = _pandas()
    factor = TIME_UNITS[unit]
    dtype = values.dtype
    missing = values.isna().to_numpy()
    if _is_bool_dtype(dtype):
        check.flag(column, ~missing, "boolean where a duration was expected", values)
        out = np.full(len(values), np.nan)
    elif pdm.api.types.is_numeric_dtype(dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
        if factor != 1.0:
            out = out * factor
    else:
        obj = _plain_objects(values)
        plain = pdm.to_numeric(obj, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        out = plain * factor
        bad_unit = np.zeros(len(values), dtype=bool)
        bad_text = np.zeros(len(values), dtype=bool)
        # only text that is not a plain number goes through the unit parser
        pending = np.flatnonzero(~missing & np.isnan(plain))
        texts = obj.to_numpy()
        for i in pending:
            v = texts[i]
            if isinstance(v, float):  # a NaN number stays NaN
                continue
            m = _DURATION_RE.match(str(v))
            if m is None:
                bad_text[i] = True
                continue
            suffix = m.group(2).lower()
            if suffix and suffix not in _UNIT_ALIASES:
                bad_unit[i] = True
                continue
            f = TIME_UNITS[_UNIT_ALIASES[suffix]] if suffix else factor
            out[i] = float(m.group(1)) * f
        check.flag(column, bad_unit, "unknown time unit", values)
        check.flag(column, bad_text, "not a duration", values)
        missing = missing | bad_unit | bad_text
    with np.errstate(invalid="ignore"):
        check.flag(column, ~missing & np.isnan(out), "not a number", values)
        check.flag(column, np.isinf(out), "non-finite duration", values)
        check.flag(column, out < 0, "negative duration", values)
    if required:
        check.flag(column, missing, "missing value", values)
    return _same_or_new(values, out, column)


def _same_or_new(
    values: pd.Series, out: np.ndarray[Any, Any], column: str
) -> pd.Series:
    """`values` itself when it already is this float64 data (no copy), else `out`."""
    pdm = _pandas()
    if values.dtype == np.float64 and out is not None:
        current = values.to_numpy()
        if current is out or np.shares_memory(current, out):
            return values
    result: pd.Series = pdm.Series(out, index=values.index, name=column)
    return result


_BAD = "\x00not a plain value"


def _plain_objects(values: pd.Series, *, numbers: bool = True) -> pd.Series:
    """`values` as objects where anything but text and real numbers (or, if not
    `numbers`, text and datetimes) becomes a marker no parser accepts: dicts, lists,
    bytes, complex numbers, booleans."""
    obj = values.astype(object)
    arr = obj.to_numpy()
    import datetime as _dt

    kinds: tuple[type, ...] = (
        (str, int, float, np.integer, np.floating)
        if numbers
        else (str, _dt.datetime, np.datetime64)
    )
    odd = [
        i
        for i, v in enumerate(arr)
        if v is not None
        and not (isinstance(v, float) and v != v)
        and (isinstance(v, (bool, np.bool_)) or not isinstance(v, kinds))
    ]
    if odd:
        arr = arr.copy()
        arr[odd] = _BAD
        obj = obj.copy()
        obj[:] = arr
    return obj


def _count(values: pd.Series, column: str, check: _Checker) -> pd.Series:
    pdm = _pandas()
    missing = values.isna().to_numpy()
    if _is_bool_dtype(values.dtype):
        check.flag(column, ~missing, "boolean where a count was expected", values)
        out = np.full(len(values), np.nan)
    elif pdm.api.types.is_numeric_dtype(values.dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        num = pdm.to_numeric(_plain_objects(values), errors="coerce")
        out = num.to_numpy(dtype=np.float64, na_value=np.nan)
        check.flag(column, ~missing & np.isnan(out), "not a number", values)
    with np.errstate(invalid="ignore"):
        check.flag(column, np.isinf(out), "non-finite value", values)
        check.flag(column, out < 0, "negative value", values)
    return _same_or_new(values, out, column)


def _timestamp(
    values: pd.Series,
    unit: str | None,
    origin: Any,
    timezone: str | None,
    check: _Checker,
    units_used: dict[str, str],
) -> pd.Series:
    pdm = _pandas()
    column = "timestamp"
    dtype = values.dtype
    zone = timezone or "UTC"
    if isinstance(dtype, pdm.DatetimeTZDtype) or pdm.api.types.is_datetime64_dtype(
        dtype
    ):
        ts = values
        if getattr(ts.dt, "tz", None) is None:
            ts = _localize(ts, zone, check, values)
        out = _in_ns_range(ts.dt.tz_convert("UTC"), check, values)
        check.flag(column, values.isna().to_numpy(), "missing timestamp", values)
        typed: pd.Series = out
        return typed
    if pdm.api.types.is_numeric_dtype(dtype) and not _is_bool_dtype(dtype):
        return _numeric_timestamp(values, unit, origin, zone, check, units_used)
    if unit is not None:
        raise ValueError(
            f"units['timestamp']={unit!r} applies to numeric timestamps; this "
            f"column holds {dtype}"
        )
    return _text_timestamp(values, timezone, check)


def _numeric_timestamp(
    values: pd.Series,
    unit: str | None,
    origin: Any,
    timezone: str,
    check: _Checker,
    units_used: dict[str, str],
) -> pd.Series:
    """Epoch values, or offsets from `origin`. Without an origin the values must look
    like epoch times (2000-2100) in their unit, or origin='unix' must say they are:
    offsets from the start of a trace would otherwise be dated 1970."""
    pdm = _pandas()
    column = "timestamp"
    num = values.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(num)
    unix = isinstance(origin, str) and origin.strip().lower() in ("unix", "epoch")
    if unit is None:
        unit = _guess_epoch_unit(num[finite]) if origin is None or unix else None
        if unit is None:
            raise ArgumentError(
                "timestamp is numeric but its unit is not stated; pass {0} "
                "(or s, us, ns)" + (" and {1} for offsets" if origin is None else ""),
                _UNITS_TS_MS,
                _ORIGIN,
                field="timestamp",
            )
    elif origin is None and finite.any() and _guess_epoch_unit(num[finite]) != unit:
        lo, hi = float(num[finite].min()), float(num[finite].max())
        raise ArgumentError(
            f"timestamp is numeric in {unit} ({lo:g} .. {hi:g}), which is not a Unix "
            "epoch time in 2000-2100: pass {0} (the time of offset 0), or "
            "{1} if the values are epoch times",
            _ORIGIN,
            Arg("origin='unix'", "--origin unix"),
            field="timestamp",
        )
    units_used[column] = unit
    base = 0
    if origin is not None and not unix:
        try:
            o = pdm.Timestamp(origin)
            o = o.tz_localize(timezone) if o.tzinfo is None else o
        except (ValueError, TypeError) as exc:
            raise ArgumentError(
                "{0} is not a time (or 'unix'): " + _braces(str(exc)),
                Arg(f"origin={origin!r}", f"--origin {origin}"),
                field="timestamp",
            ) from exc
        if o is pdm.NaT:
            raise ArgumentError(
                "{0} is not a time (or 'unix')",
                Arg(f"origin={origin!r}", f"--origin {origin}"),
                field="timestamp",
            )
        base = int(o.tz_convert("UTC").as_unit("ns").value)
    scale = _NS_PER_UNIT[unit]
    limit = 9.2e18
    with np.errstate(invalid="ignore", over="ignore"):
        ns_float = num * scale + base
        ok = finite & (np.abs(ns_float) < limit)
    # The offset is scaled on its own and the origin added in integers: adding a
    # 1.7e18 ns origin in float64 would leave 2**8 ns of rounding noise on every time
    # (00:58:56.999000064 for a whole millisecond).
    if values.dtype.kind in "iu":
        ints = values.to_numpy()
        ns = np.where(ok, ints, 0).astype(np.int64) * np.int64(scale)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            scaled = np.round(np.where(ok, num, 0.0) * scale)
        ns = np.where(ok, scaled, 0).astype(np.int64)
    ns = np.where(ok, ns + np.int64(base), 0)
    check.flag(column, ~np.isfinite(num), "missing or non-finite timestamp", values)
    check.flag(column, finite & ~ok, "timestamp out of range", values)
    out = pdm.Series(ns.view("datetime64[ns]"), index=values.index)
    out = out.where(ok).dt.tz_localize("UTC")
    result: pd.Series = out.astype("datetime64[ns, UTC]")
    return result


# An ISO 8601 time of day followed by a UTC offset (Z, +hh, +hhmm or +hh:mm).
_OFFSET_RE = (
    r"(?:T|\s)\d\d(?::?\d\d){0,2}(?:[.,]\d+)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)\s*$"
)


def _text_timestamp(
    values: pd.Series, timezone: str | None, check: _Checker
) -> pd.Series:
    """ISO 8601 text (or datetime objects). Values with a UTC offset are instants,
    whatever their offsets; values without one are local times in `timezone` (UTC
    when None). A column holding both is suspect unless `timezone` was stated: its
    values without an offset are then invalid rows, as their zone is a guess."""
    import datetime as _dt

    pdm = _pandas()
    column = "timestamp"
    obj = _plain_objects(values, numbers=False)
    arr = obj.to_numpy()
    missing = obj.isna().to_numpy()
    is_str = np.array([isinstance(v, str) for v in arr], dtype=bool)
    aware = np.zeros(len(arr), dtype=bool)
    if is_str.any():
        text = pdm.Series(arr[is_str], dtype=object)
        aware[is_str] = text.str.contains(_OFFSET_RE, regex=True).to_numpy(dtype=bool)
    objects = np.flatnonzero(~is_str & ~missing)
    for i in objects:
        if isinstance(arr[i], _dt.datetime) and arr[i].tzinfo is not None:
            aware[i] = True
    naive = ~aware & ~missing
    result = pdm.Series(
        np.full(len(arr), np.datetime64("NaT"), dtype="datetime64[ns]"),
        index=values.index,
    ).dt.tz_localize("UTC")

    def parse(mask: np.ndarray[Any, np.dtype[np.bool_]], utc: bool) -> pd.Series:
        """The values under `mask` as ns times (UTC when `utc`, else naive);
        unparsable ones NaT, ones beyond 1677-2262 flagged."""
        part = obj[mask]
        strings = is_str[mask]
        dtype = "datetime64[ns, UTC]" if utc else "datetime64[ns]"
        out = pdm.Series(pdm.NaT, index=part.index, dtype=dtype)
        if strings.any():
            # ISO 8601 only: day-first or month-first text is ambiguous: invalid
            try:
                parsed = pdm.to_datetime(
                    part[strings].astype(str),
                    errors="coerce",
                    format="ISO8601",
                    utc=utc,
                )
            except (ValueError, TypeError) as exc:  # offsets where none were seen
                raise _OffsetFound from exc
            if not utc and not pdm.api.types.is_datetime64_dtype(parsed.dtype):
                raise _OffsetFound
            out[strings] = _in_ns_range(parsed, check, values)
        for label, v in part[~strings].items():
            try:
                t = pdm.Timestamp(v)
                t = t.tz_convert("UTC") if utc else t
                one = pdm.Series([t], index=[label])
                out[label] = _in_ns_range(one, check, values).iloc[0]
            except (ValueError, TypeError, OverflowError):
                pass  # stays NaT: reported as unparsable
        typed: pd.Series = out
        return typed

    local = None
    for _attempt in range(2):
        if not naive.any():
            break
        try:
            local = parse(naive, utc=False)
            break
        except _OffsetFound:
            # an offset the pattern missed: sort the text one value at a time
            for i in np.flatnonzero(naive & is_str):
                t = pdm.to_datetime(arr[i], errors="coerce", format="ISO8601")
                if isinstance(t, pdm.Timestamp) and t.tzinfo is not None:
                    aware[i] = True
            naive = ~aware & ~missing
    if aware.any():
        result[aware] = parse(aware, utc=True)
    if local is not None:
        local = _localize(local, timezone or "UTC", check, values)
        result[naive] = _in_ns_range(local.dt.tz_convert("UTC"), check, values)
        if aware.any() and timezone is None:
            check.flag(
                column,
                naive & result.notna().to_numpy(),  # unparsable ones say so
                "timestamp without a UTC offset in a column of timestamps with one "
                "(pass timezone= to read such values as local times)",
                values,
            )
    bad = result.isna().to_numpy() & ~check.flagged(column)
    check.flag(column, missing, "missing timestamp", values)
    check.flag(column, bad & ~missing, "unparsable timestamp", values)
    typed: pd.Series = result.astype("datetime64[ns, UTC]")
    return typed


class _OffsetFound(Exception):
    """Text taken for a local time carries a UTC offset after all."""


def _localize(
    naive: pd.Series, timezone: str, check: _Checker, values: pd.Series
) -> pd.Series:
    """Naive local times in `timezone` as aware times. A time the clocks skipped (DST
    gap) or passed twice (DST overlap) names no single instant: each is an invalid
    row with its reason, never a guess."""
    local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    lost = (local.isna() & naive.notna()).to_numpy()
    if lost.any():
        shifted = naive.dt.tz_localize(
            timezone, ambiguous="NaT", nonexistent="shift_forward"
        )
        gap = lost & shifted.notna().to_numpy()
        positions = values.index.get_indexer(naive.index)
        for mask, reason in (
            (gap, "nonexistent local time (DST gap)"),
            (lost & ~gap, "ambiguous local time (DST overlap)"),
        ):
            full = np.zeros(len(values), dtype=bool)
            full[positions[mask]] = True
            check.flag("timestamp", full, reason, values)
    typed: pd.Series = local
    return typed


_NS_LO = -(2**63) + 1
_NS_HI = 2**63 - 1


def _in_ns_range(ts: pd.Series, check: _Checker, values: pd.Series) -> pd.Series:
    """Timestamps (aware or naive, any unit) as ns; values beyond 1677-2262 are
    flagged and become NaT."""
    unit = ts.dt.unit
    per = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    wall = ts.dt.tz_localize(None) if ts.dt.tz is not None else ts
    raw = wall.to_numpy(dtype=f"datetime64[{unit}]").view(np.int64)
    missing = ts.isna().to_numpy()
    lo, hi = _NS_LO // per + 1, _NS_HI // per - 1
    outside = ~missing & ((raw < lo) | (raw > hi))
    if outside.any():
        mask = np.zeros(len(values), dtype=bool)
        positions = values.index.get_indexer(ts.index[outside])
        mask[positions] = True
        check.flag("timestamp", mask, "timestamp out of range", values)
        ts = ts.where(~outside)
    typed: pd.Series = ts.dt.as_unit("ns")
    return typed


def _guess_epoch_unit(finite: np.ndarray[Any, np.dtype[np.float64]]) -> str | None:
    if finite.size == 0:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    for unit, scale in (("s", 1.0), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if _EPOCH_LO_S * scale <= lo and hi <= _EPOCH_HI_S * scale:
            return unit
    return None


def _to_text(values: pd.Series) -> pd.Series:
    """Text with missing kept missing; integral numbers print without ``.0``."""
    pdm = _pandas()
    if pdm.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values.astype(_string_dtype())
    obj = values.astype(object)
    mask = obj.isna()

    def text(v: Any) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        return str(v)

    out = obj.where(mask, obj.map(text, na_action="ignore"))
    result: pd.Series = pdm.Series(out, index=values.index, dtype=_string_dtype())
    return result


def _category(values: pd.Series, column: str) -> pd.Series:
    if str(values.dtype) == "category":
        cats = values.cat.categories
        if len(cats) == 0 or cats.inferred_type == "string":
            # bincount, not remove_unused_categories: that sorts every code
            codes = values.cat.codes.to_numpy()
            used = np.bincount(codes[codes >= 0], minlength=len(cats)) > 0
            out_cat = values
            if not used.all():
                out_cat = out_cat.cat.remove_categories(list(cats[~used]))
            kept = [str(c) for c in out_cat.cat.categories]
            if kept != sorted(kept):
                out_cat = out_cat.cat.reorder_categories(sorted(kept))
            return out_cat
    out: pd.Series = _to_text(values).astype("category")
    return out


def _boolean(values: pd.Series, column: str, check: _Checker) -> pd.Series:
    pdm = _pandas()
    if str(values.dtype) == "bool":
        return values
    missing = values.isna().to_numpy()
    if str(values.dtype) == "boolean":
        return values.astype("boolean")
    if pdm.api.types.is_numeric_dtype(values.dtype):
        num = values.to_numpy(dtype=np.float64, na_value=np.nan)
        out = num == 1
        bad = ~missing & (num != 0) & (num != 1)
    else:
        text = values.astype(object).where(~missing, "").astype(str).str.strip()
        lower = text.str.lower().to_numpy(dtype=object)
        out = np.isin(lower, list(_TRUE))
        bad = ~missing & ~out & ~np.isin(lower, list(_FALSE))
    check.flag(column, bad, "not a boolean", values)
    if missing.any():
        arr = pdm.array(out, dtype="boolean")
        arr[missing] = pdm.NA
        nullable: pd.Series = pdm.Series(arr, index=values.index, name=column)
        return nullable
    result: pd.Series = pdm.Series(out, index=values.index, name=column)
    return result


def _is_object_bools(values: pd.Series) -> bool:
    if values.dtype != object:
        return False
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, bool) for v in present)


def _canonicalize(
    raw: _Raw,
    *,
    columns: Mapping[str, str] | None,
    units: Mapping[str, str] | None,
    origin: Any,
    timezone: str | None,
    errors: str,
) -> Events:
    pdm = _pandas()
    frame = raw.frame
    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    if not frame.index.equals(pdm.RangeIndex(len(frame))):
        frame = frame.reset_index(drop=True)  # rows are positions from here on
    lines = raw.lines
    source = raw.source

    # ---- column mapping -----------------------------------------------------
    mapping = dict(columns or {})
    present = [str(c) for c in frame.columns]
    missing_src = [c for c in mapping if c not in present]
    if missing_src:
        raise ArgumentError(
            _braces(f"{source}: ")
            + "{0}"
            + _braces(
                f" maps {', '.join(map(repr, missing_src))} but the source has no "
                f"such column; the columns found are: {', '.join(present)}"
            ),
            Arg("columns=", "--columns"),
            field=missing_src[0],
        )
    targets = list(mapping.values())
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    clash = [
        t for t in targets if t in present and t not in mapping and mapping.get(t) != t
    ]
    if dupes or clash:
        raise ArgumentError(
            _braces(f"{source}: ")
            + "{0} would create duplicate column(s) "
            + _braces(str(sorted(set(dupes) | set(clash)))),
            Arg("columns=", "--columns"),
            field=sorted(set(dupes) | set(clash))[0],
        )
    # Units stated in a mapped column's name (`end_to_end_latency_s`) are honoured.
    implied = {
        dst: u
        for src, dst in mapping.items()
        if dst.endswith("_ms") and (u := _unit_from_name(src)) is not None
    }
    frame = frame.rename(columns={k: v for k, v in mapping.items() if k != v})
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: duplicate column names {names}")

    # ---- units --------------------------------------------------------------
    used: dict[str, str] = dict(raw.units)
    stated: dict[str, str] = {}
    for col, unit in (units or {}).items():
        if col != "timestamp" and not col.endswith("_ms"):
            raise ArgumentError(
                "{0} names " + _braces(repr(col)) + ": units apply to timestamp and "
                "*_ms columns",
                Arg("units=", "--units"),
                field=str(col),
            )
        if col not in names:
            raise ArgumentError(
                _braces(f"{source}: ")
                + "{0} names "
                + _braces(f"{col!r}, which is not a column; the columns are: ")
                + _braces(", ".join(names)),
                Arg("units=", "--units"),
                field=str(col),
            )
        stated[col] = _normalize_unit(unit, what=f"column {col!r}")
    for col, unit in implied.items():
        stated.setdefault(col, unit)

    n = len(frame)
    check = _Checker(n)
    out: dict[str, pd.Series] = {}
    originals: dict[str, pd.Series] = {}
    for col in names:
        values = frame[col]
        originals[col] = values
        if col == "timestamp":
            ts_unit = stated.get("timestamp", used.get("timestamp"))
            out[col] = _timestamp(values, ts_unit, origin, timezone, check, used)
        elif col.endswith("_ms"):
            unit = stated.get(col, "ms")
            if unit != "ms":
                used[col] = unit
            out[col] = _duration_ms(
                values, col, unit, check, required=(col == "latency_ms")
            )
        elif col in _CATEGORY_COLUMNS:
            out[col] = _category(values, col)
        elif col in _STRING_COLUMNS:
            out[col] = _to_text(values)
        elif col in _COUNT_COLUMNS or col == "cost_usd":
            out[col] = _count(values, col, check)
        elif col == "success":
            out[col] = _boolean(values, col, check)
        elif _is_object_bools(values):
            out[col] = values.astype("boolean")
        else:
            out[col] = values
    if "success" in out and str(out["success"].dtype) == "boolean":
        succ = out["success"]
        if "error" in out:
            derived = pdm.Series(~error_present(out["error"]), index=succ.index)
            succ = succ.fillna(derived)
        else:
            check.flag(
                "success", succ.isna().to_numpy(), "missing value", frame["success"]
            )
        out["success"] = succ.fillna(False).astype(bool)
    elif "success" not in out and "error" in out:
        out["success"] = pdm.Series(~error_present(out["error"]), index=frame.index)
    # Columns that needed no conversion are the caller's arrays, not copies (pandas
    # copy-on-write keeps the caller's frame safe from later edits).
    changed = {c: v for c, v in out.items() if v is not originals.get(c)}
    if not changed:
        result = frame.copy(deep=False)
    elif len(changed) == len(out):
        result = pdm.DataFrame(out, index=frame.index)
    else:
        result = pdm.concat([v.rename(c) for c, v in out.items()], axis=1)
    if "error" in result.columns:
        err = result["error"]
        if "" in list(err.cat.categories):
            result["error"] = err.cat.remove_categories([""])

    # ---- invalid rows ---------------------------------------------------------
    problems = list(raw.problems)
    bad_rows = np.zeros(n, dtype=bool)
    first_reason: dict[int, _Problem] = {}
    if check.found and lines is None and raw.find_lines is not None:
        lines = raw.find_lines(n)  # only read again when a row needs its line
    rows = raw.rows
    for col, mask, reason, values in check.found:
        idx = np.flatnonzero(mask & ~bad_rows)
        obj = values.to_numpy(dtype=object)
        for i in idx:
            first_reason[int(i)] = _Problem(
                rows[int(i)] if rows is not None else int(i),
                lines[int(i)] if lines else None,
                col,
                reason,
                repr(obj[i])[:200],
            )
        bad_rows |= mask
    problems.extend(first_reason[i] for i in sorted(first_reason))
    if lines is not None:
        # source order: malformed records and invalid values interleaved
        problems.sort(key=lambda p: (p.line or 0, p.row or 0))
    if problems and errors == "raise":
        raise ArgumentError(
            _braces(_describe(source, problems, raw.row_label)) + ". Fix them, or pass "
            "{0} to skip and count them",
            Arg("errors='skip'", "--errors skip"),
            field=problems[0].column or None,
        )
    skipped = pdm.DataFrame(
        {
            "row": pdm.array([p.row for p in problems], dtype="Int64"),
            "line": pdm.array([p.line for p in problems], dtype="Int64"),
            "column": pdm.Series([p.column for p in problems], dtype=object),
            "reason": pdm.Series([p.reason for p in problems], dtype=object),
            "value": pdm.Series([p.value for p in problems], dtype=object),
        },
        columns=_SKIPPED_COLUMNS,
    )
    if bad_rows.any():
        result = result.loc[~bad_rows]
        for col in result.columns:
            if str(result[col].dtype) == "category":
                result[col] = result[col].cat.remove_unused_categories()
    result = result.reset_index(drop=True)
    result.attrs = {}
    return Events(frame=result, skipped=skipped, source=source, units=used)


def _describe(source: str, problems: Sequence[_Problem], label: str = "row") -> str:
    """One message for the invalid records: each named by its file line where known
    (what an editor shows), else by its 0-based row; JSON array elements by their
    JSON path index ``$[i]`` and line."""
    parts = []
    for p in problems[:_MAX_LISTED]:
        where = []
        if label == "element" and p.row is not None:
            where.append(f"element $[{p.row}]")
        if p.line is not None:
            where.append(f"line {p.line}")
        elif label == "row" and p.row is not None:
            where.append(f"row {p.row}")
        if p.column.startswith("$"):
            where.append(f"at {p.column}")  # a JSON path
        elif p.column:
            where.append(f"column {p.column!r}")
        value = p.value if len(p.value) <= 60 else p.value[:57] + "..."
        parts.append(f"{', '.join(where)}: {p.reason} ({value})")
    more = len(problems) - _MAX_LISTED
    tail = f"; and {more} more" if more > 0 else ""
    return f"{source}: {len(problems)} invalid row(s): " + "; ".join(parts) + tail


# ---------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------


def read_events(
    source: Any,
    *,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    errors: Literal["raise", "skip"] = "raise",
    format: str | None = None,
    query: str | None = None,
    connection: Any = None,
    params: Any = None,
    origin: Any = None,
    timezone: str | None = None,
    delimiter: str | None = None,
    select: Sequence[str] | None = None,
) -> Events:
    """Read request telemetry into the canonical event schema.

    Parameters
    ----------
    source : DataFrame, Arrow table or stream, path, mapping, Events or ``"sql"``
        A pandas or polars DataFrame (or LazyFrame), a pyarrow Table, RecordBatch or
        RecordBatchReader (or any object exporting ``__arrow_c_stream__``), a mapping
        of column name to values, a path to a Parquet, CSV/TSV, JSON lines, JSON
        array, Arrow IPC or OpenTelemetry JSON trace file, or the string ``"sql"``
        with ``query=``.
    columns : mapping of str to str, optional
        Source column name to canonical name, e.g. ``{"ElapsedTime": "latency_ms"}``.
        A unit suffix on the source name (``end_to_end_latency_s``) sets the unit
        of the duration unless ``units`` says otherwise.
    units : mapping of str to str, optional
        Unit of a duration (``*_ms``) or numeric ``timestamp`` column as stored in
        the source: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``. Durations default to ms.
        Numeric timestamps are epoch values (the unit is inferred when all values
        lie in 2000-2100) or, with ``origin``, offsets from it. Text durations may
        carry their own unit (``"1.5s"``, ``"250 ms"``).
    errors : {"raise", "skip"}
        What to do with invalid rows: raise a ValueError naming the source, row and
        column, or skip them and record each in :attr:`Events.skipped`.
    format : str, optional
        ``parquet``, ``csv``, ``jsonl``, ``json``, ``otlp`` or ``arrow`` when the
        file name does not say.
    query, connection, params
        For ``source="sql"``: the query, any DB-API 2.0 connection (``sqlite3``,
        ``psycopg`` ...) or a DuckDB connection (default: a fresh in-memory DuckDB,
        which reads local files: ``SELECT * FROM 'events.parquet'``), and query
        parameters.
    origin : str or datetime, optional
        Start time that numeric timestamps are offsets from, or ``"unix"`` for
        epoch values. Without it, numeric timestamps must be epoch values in
        2000-2100 in their unit; others raise (offsets would be dated 1970).
    timezone : str, optional
        Time zone of timestamps written without an offset (default: UTC). A local
        time the zone skips (DST gap) or passes twice (DST overlap) names no single
        instant: it is an invalid row. Timestamps with offsets may mix offsets (each
        is converted to UTC). In a column mixing timestamps with and without an
        offset, those without one are invalid rows unless ``timezone`` is given.
    delimiter : str, optional
        CSV field separator (default ``,``; tab for ``.tsv``).
    select : sequence of str, optional
        Keep only these columns (canonical names, after ``columns`` mapping). Parquet
        files then decode only those columns, which is much faster on wide files.

    Returns
    -------
    Events
        ``.frame`` holds the canonical DataFrame (see the module docstring for the
        dtypes: ``timestamp`` is datetime64[ns, UTC], durations are float64 ms),
        ``.skipped`` the skipped records.

    Examples
    --------
    >>> import pandas as pd
    >>> from perfstats.io.events import read_events
    >>> raw = pd.DataFrame({
    ...     "time": ["2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z", "yesterday"],
    ...     "ElapsedTime": [0.25, 1.5, 0.3],
    ... })
    >>> names = {"time": "timestamp", "ElapsedTime": "latency_ms"}
    >>> ev = read_events(raw, columns=names, units={"latency_ms": "s"}, errors="skip")
    >>> ev.frame["latency_ms"].tolist()
    [250.0, 1500.0]
    >>> ev.skipped_by_reason()
    {'unparsable timestamp': 1}
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    if timezone is not None:
        if not isinstance(timezone, str):
            raise TypeError(f"timezone must be a string, got {type(timezone).__name__}")
        try:
            _pandas().Timestamp(0).tz_localize(timezone)
        except Exception as exc:  # pytz and zoneinfo raise different types
            raise ValueError(f"unknown time zone {timezone!r}") from exc
    if isinstance(source, Events):
        if not columns and not units:
            return source
        source = source.frame
    raw: _Raw | None
    if isinstance(source, str) and source == "sql":
        raw = _read_sql(query, connection, params)
    elif isinstance(source, (str, Path)):
        wanted = None
        if select is not None:
            inverse = {dst: src for src, dst in (columns or {}).items()}
            wanted = [inverse.get(c, c) for c in select]
        text_columns = [
            src
            for src in [*(columns or {}), *_CATEGORY_COLUMNS, *_STRING_COLUMNS]
            if (columns or {}).get(src, src) in (*_CATEGORY_COLUMNS, *_STRING_COLUMNS)
        ]
        raw = _read_path(Path(source), format, delimiter, wanted, text_columns)
    else:
        if query is not None or connection is not None:
            raise ValueError('query= and connection= go with read_events("sql", ...)')
        raw = _from_object(source)
        if raw is None:
            raise TypeError(
                "read_events reads a DataFrame, an Arrow table or stream, a path or "
                f'"sql"; got {type(source).__name__}'
            )
    if select is not None:
        if isinstance(select, str) or not all(isinstance(c, str) for c in select):
            raise TypeError("select must be a sequence of column names")
        raw.frame = _select(raw, select, columns)
        kept = set(raw.frame.columns)
        columns = {k: v for k, v in (columns or {}).items() if k in kept}
    return _canonicalize(
        raw,
        columns=columns,
        units=units,
        origin=origin,
        timezone=timezone,
        errors=errors,
    )


def describe_columns(
    source: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    origin: Any = None,
    timezone: str | None = None,
    format: str | None = None,
    delimiter: str | None = None,
    samples: int = 3,
) -> pd.DataFrame:
    """How each column of a file will be read: a dry run of :func:`read_events`.

    Parameters
    ----------
    source : str or Path
        The events file.
    columns, units, origin, timezone, format, delimiter
        As for :func:`read_events`; invalid rows are skipped (counted by
        :func:`read_events` itself).
    samples : int
        How many sample values to show per column.

    Returns
    -------
    pandas.DataFrame
        One row per source column: ``source`` (its name in the file), ``canonical``
        (the name it is read as), ``role`` (``canonical``, ``outcome``, ``score``
        or ``unused``), ``unit`` (of durations and numeric timestamps), ``dtype``
        (after reading) and ``sample`` (the first values after reading, as text).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> text = "t,ms,host\\n1700000000,12.5,a\\n1700000001,3,b\\n"
    >>> _ = (d / "t.csv").write_text(text)
    >>> names = {"t": "timestamp", "ms": "latency_ms"}
    >>> plan = describe_columns(d / "t.csv", columns=names)
    >>> for r in plan.itertuples():
    ...     print(r.source, r.canonical or "-", r.role, r.unit or "-")
    t timestamp canonical s
    ms latency_ms canonical ms
    host - unused -
    """
    pdm = _pandas()
    raw = _read_path(Path(source), format, delimiter, None)
    events = read_events(
        source,
        columns=columns,
        units=units,
        origin=origin,
        timezone=timezone,
        format=format,
        delimiter=delimiter,
        errors="skip",
    )
    mapping = dict(columns or {})
    frame = events.frame
    outcomes, scores = set(events.outcomes), set(events.scores)
    rows = []
    for src in [str(c) for c in raw.frame.columns]:
        name = mapping.get(src, src)
        if name in frame.columns:
            col = frame[name]
            role = (
                "canonical"
                if name in CANONICAL_COLUMNS or name.endswith("_ms")
                else "outcome"
                if name in outcomes
                else "score"
                if name in scores
                else "unused"
            )
            dtype = str(col.dtype)
            shown = [_sample_text(v) for v in col.head(samples).tolist()]
        else:
            role, dtype, shown = "unused", "", []
        rows.append(
            {
                "source": src,
                "canonical": name if role != "unused" else "",
                "role": role,
                "unit": events.units.get(
                    name, "ms" if role == "canonical" and name.endswith("_ms") else ""
                ),
                "dtype": dtype,
                "sample": ", ".join(shown),
            }
        )
    out: pd.DataFrame = pdm.DataFrame(
        rows, columns=["source", "canonical", "role", "unit", "dtype", "sample"]
    )
    return out


def _sample_text(v: Any) -> str:
    pdm = _pandas()
    if isinstance(v, pdm.Timestamp):
        return str(v.isoformat())
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _select(
    raw: _Raw, select: Sequence[str], columns: Mapping[str, str] | None
) -> pd.DataFrame:
    """The source columns behind the canonical names in ``select``."""
    inverse = {dst: src for src, dst in (columns or {}).items()}
    present = [str(c) for c in raw.frame.columns]
    missing = [c for c in select if inverse.get(c, c) not in present]
    if missing:
        raise ValueError(
            f"{raw.source}: select= names {missing}, which the source does not have; "
            f"it has {present}"
        )
    frame: pd.DataFrame = raw.frame[[inverse.get(c, c) for c in select]]
    return frame


def _read_path(
    path: Path,
    fmt: str | None,
    delimiter: str | None,
    wanted: Sequence[str] | None,
    text_columns: Sequence[str] = (),
) -> _Raw:
    if fmt is not None and fmt not in _FORMATS:
        raise ValueError(f"format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; pass a file")
    kind = fmt or _format_of(path)
    if kind == "parquet":
        return _read_parquet(path, wanted)
    if kind == "arrow":
        return _read_arrow_ipc(path)
    if kind == "csv":
        return _read_csv(path, delimiter=delimiter, text_columns=text_columns)
    return _read_json(path, fmt=kind)


# ---------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------


def _json_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, (np.floating,)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is _pandas().NA or v is _pandas().NaT:
        return None
    return v


def _iso(ts: pd.Series) -> list[str | None]:
    """ISO 8601 text with ns and a Z, None where missing."""
    pdm = _pandas()
    utc = ts.astype("datetime64[ns, UTC]").dt.tz_convert(None).to_numpy()
    text = np.datetime_as_string(utc, unit="ns")
    missing = pdm.isna(utc)
    return [None if m else f"{t}Z" for t, m in zip(text, missing, strict=True)]


def _records(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    pdm = _pandas()
    cols = [str(c) for c in frame.columns]
    arrays: list[Iterable[Any]] = []
    for c in cols:
        s = frame[c]
        if isinstance(
            s.dtype, pdm.DatetimeTZDtype
        ) or pdm.api.types.is_datetime64_dtype(s.dtype):
            arrays.append(_iso(s))
        else:
            arrays.append(s.astype(object).tolist())
    for row in zip(*arrays, strict=True):
        yield {c: _json_value(v) for c, v in zip(cols, row, strict=True)}


def write_events(
    events: Events | pd.DataFrame,
    path: str | Path,
    *,
    format: str | None = None,
) -> Path:
    """Write events as Parquet, CSV, JSON lines, Arrow IPC or an OTLP JSON trace.

    Parameters
    ----------
    events : Events or DataFrame
        Canonical events (a DataFrame goes through :func:`read_events` first).
    path : str or Path
        Output file; the format follows its suffix unless ``format`` is given.
    format : str, optional
        ``parquet``, ``csv``, ``jsonl``, ``arrow`` or ``otlp`` (an OpenTelemetry
        Collector file-exporter style export with one GenAI span per event).

    Returns
    -------
    Path
        The file written. CSV and JSON lines keep every value exactly (floats are
        written with round-trip precision, timestamps as ISO 8601 with ns).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from perfstats.datasets import llm_app
    >>> ev = read_events(llm_app(days=1, requests_per_day=50, seed=1))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> back = read_events(write_events(ev, out))
    >>> back.frame.equals(ev.frame)
    True
    """
    ev = read_events(events)
    frame = ev.frame
    path = Path(path)
    kind = format or _format_of(path)
    if kind == "json":
        kind = "jsonl"
    if kind == "parquet":
        frame.to_parquet(path, index=False)
    elif kind == "arrow":
        pa = _pyarrow()
        import pyarrow.feather as feather

        feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False), path)
    elif kind == "csv":
        out = frame.copy()
        if "timestamp" in out.columns:
            out["timestamp"] = _iso(out["timestamp"])
        out.to_csv(path, index=False)
    elif kind == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for rec in _records(frame):
                fh.write(json.dumps(rec, allow_nan=False) + "\n")
    elif kind == "otlp":
        _write_otlp(frame, path)
    else:
        raise ValueError(f"cannot write format {kind!r}")
    return path


def _otlp_attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _write_otlp(frame: pd.DataFrame, path: Path) -> None:
    pdm = _pandas()
    if "timestamp" not in frame.columns or "latency_ms" not in frame.columns:
        raise ValueError("an OTLP trace needs timestamp and latency_ms columns")
    start = frame["timestamp"].astype("datetime64[ns, UTC]")
    start_ns = start.dt.tz_convert(None).to_numpy().view(np.int64)
    dur_ns = np.round(frame["latency_ms"].to_numpy(dtype=np.float64) * 1e6)
    end_ns = start_ns + dur_ns.astype(np.int64)
    fields = {
        "model": "gen_ai.request.model",
        "input_tokens": "gen_ai.usage.input_tokens",
        "output_tokens": "gen_ai.usage.output_tokens",
        "cached_input_tokens": "gen_ai.usage.cache_read.input_tokens",
        "endpoint": "http.route",
        "user_id": "user.id",
        "session_id": "session.id",
        "error": "error.type",
    }
    spans = []
    cols = {c: frame[c].astype(object).tolist() for c in fields if c in frame.columns}
    for i in range(len(frame)):
        attrs = [_otlp_attr("gen_ai.operation.name", "chat")]
        for col, key in fields.items():
            if col not in cols:
                continue
            v = cols[col][i]
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pdm.NA:
                continue
            if col.endswith("_tokens"):
                v = int(v)
            attrs.append(_otlp_attr(key, v))
        model = cols.get("model", [None] * len(frame))[i] or "unknown"
        span: dict[str, Any] = {
            "traceId": f"{i + 1:032x}",
            "spanId": f"{i + 1:016x}",
            "name": f"chat {model}",
            "kind": 3,
            "startTimeUnixNano": str(int(start_ns[i])),
            "endTimeUnixNano": str(int(end_ns[i])),
            "attributes": attrs,
            "status": {},
        }
        if "error" in cols and isinstance(cols["error"][i], str):
            span["status"] = {"code": 2, "message": cols["error"][i]}
        spans.append(span)
    chunk = 1000  # the file exporter writes one export request per line
    with path.open("w", encoding="utf-8") as fh:
        for lo in range(0, max(len(spans), 1), chunk):
            doc = {
                "resourceSpans": [
                    {
                        "resource": {
                            "attributes": [_otlp_attr("service.name", "perfstats")]
                        },
                        "scopeSpans": [
                            {
                                "scope": {"name": "perfstats"},
                                "spans": spans[lo : lo + chunk],
                            }
                        ],
                    }
                ]
            }
            fh.write(json.dumps(doc) + "\n")
