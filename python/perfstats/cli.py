"""The ``perfstats`` command line: ``perfstats report`` and the CI gate ``perfstats check``.

Exit codes: 0 success (``check``: every check passed), 1 a ``check`` failed, 2 bad
input or options (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal, NoReturn

__all__ = ["main", "parse_budget"]


class UsageError(Exception):
    """Bad input or options: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # main() prefixes "perfstats: error:"; a subcommand adds its own name once.
        sub = self.prog.removeprefix("perfstats").strip()
        where = f"{sub}: " if sub else ""
        raise UsageError(
            f"{where}{message} (see perfstats {sub} --help)".replace("  ", " ")
        )


def _canonical_schema() -> str:
    """The canonical columns as help text, from ``perfstats.io.CANONICAL_COLUMNS``."""
    from perfstats.io.events import CANONICAL_COLUMNS

    lines = ["canonical columns (map yours with --columns or a --schema file):"]
    lines += [f"  {name:<20} {dtype}" for name, dtype in CANONICAL_COLUMNS.items()]
    lines.append("  any other *_ms column is a phase duration (float64, ms)")
    return "\n".join(lines)


def _pairs(flag: str, example: str) -> Any:
    """``a=b,c=d`` as {a: b, c: d}; an ArgumentTypeError naming ``flag`` otherwise."""

    def conv(text: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise argparse.ArgumentTypeError(
                    f"{flag} must look like {example}, got {text!r}"
                )
            out[key.strip()] = value.strip()
        return out

    return conv


def _mapping_options(p: argparse.ArgumentParser) -> None:
    """How the input is read: the same options for every subcommand."""
    g = p.add_argument_group("reading the input")
    g.add_argument(
        "--columns",
        type=_pairs("--columns", "ElapsedTime=latency_ms,ts=timestamp"),
        action="append",
        metavar="SOURCE=CANONICAL,...",
        help="read source columns as canonical ones, e.g. ElapsedTime=latency_ms",
    )
    g.add_argument(
        "--units",
        type=_pairs("--units", "latency_ms=s,timestamp=ms"),
        action="append",
        metavar="COLUMN=UNIT,...",
        help="unit of durations (*_ms) and numeric timestamps as stored: s, ms, us "
        "or ns, e.g. latency_ms=s,timestamp=ms",
    )
    g.add_argument(
        "--origin",
        metavar="TIME|unix",
        help="time of offset 0 for numeric timestamps (e.g. 2024-01-01T00:00:00Z), "
        "or 'unix' for epoch values",
    )
    g.add_argument(
        "--timezone", help="time zone of timestamps without an offset (default UTC)"
    )
    g.add_argument(
        "--errors",
        choices=["raise", "skip"],
        help="invalid rows: stop with an error (default) or skip and count them",
    )
    g.add_argument(
        "--input-format",
        choices=["parquet", "csv", "jsonl", "json", "otlp", "arrow"],
        help="input format when the file name does not say",
    )
    g.add_argument(
        "--schema",
        metavar="FILE.toml",
        help="TOML file with [columns], [units], origin, timezone, errors, format; "
        "flags override it",
    )


_SCHEMA_KEYS = ("columns", "units", "origin", "timezone", "errors", "format")


def load_schema(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a schema file: how a team's exports map onto the canonical columns.

    The file is TOML with optional top-level ``origin``, ``timezone``, ``errors``
    (``"raise"`` or ``"skip"``) and ``format``, and tables ``[columns]`` (source name
    = canonical name) and ``[units]`` (column = unit). Returns keyword arguments for
    :func:`perfstats.io.read_events`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "trace.toml"
    >>> _ = f.write_text('origin = "2024-01-01T00:00:00Z"\\n'
    ...                  '[columns]\\ninput_length = "input_tokens"\\n'
    ...                  '[units]\\ntimestamp = "ms"\\n')
    >>> load_schema(f) == {"origin": "2024-01-01T00:00:00Z",
    ...     "columns": {"input_length": "input_tokens"}, "units": {"timestamp": "ms"}}
    True
    """
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        from perfstats._optional import require

        tomllib = require("tomli", "reading a --schema file on Python 3.10")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"--schema {path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--schema {path}: not valid TOML: {exc}") from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _SCHEMA_KEYS:
            raise UsageError(
                f"--schema {path}: unknown key {key!r}; the keys are "
                + ", ".join(_SCHEMA_KEYS)
            )
        if key in ("columns", "units"):
            if not isinstance(value, dict) or not all(
                isinstance(v, str) for v in value.values()
            ):
                raise UsageError(
                    f"--schema {path}: [{key}] must be a table of names to strings, "
                    f'e.g. [{key}] then ElapsedTime = "latency_ms"'
                )
            out[key] = {str(k): v for k, v in value.items()}
        elif not isinstance(value, str):
            raise UsageError(
                f"--schema {path}: {key} must be a string, got {type(value).__name__}"
            )
        elif key == "errors" and value not in ("raise", "skip"):
            raise UsageError(
                f"--schema {path}: errors must be 'raise' or 'skip', got {value!r}"
            )
        else:
            out[key] = value
    return out


def _read_options(args: argparse.Namespace) -> dict[str, Any]:
    """read_events keyword arguments from --schema, then the flags over it."""
    schema = getattr(args, "schema", None)
    opts: dict[str, Any] = load_schema(schema) if schema else {}
    for flag in ("columns", "units"):
        for part in getattr(args, flag, None) or []:
            opts.setdefault(flag, {}).update(part)
    for flag, key in (
        ("origin", "origin"),
        ("timezone", "timezone"),
        ("errors", "errors"),
        ("input_format", "format"),
    ):
        if getattr(args, flag, None) is not None:
            opts[key] = getattr(args, flag)
    return opts


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal.

    ``step(name)`` advances by one step and shows ``name``; ``done()`` clears the line.
    """

    def __init__(self, total: int, *, enabled: bool, stream: IO[str] | None = None):
        self.total = max(1, total)
        self.n = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def step(self, name: str) -> None:
        self.n = min(self.total, self.n + 1)
        if not self.enabled:
            return
        width = 24
        filled = round(width * self.n / self.total)
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.perf_counter() - self.t0
        self.stream.write(
            f"\r[{bar}] {self.n}/{self.total} {name:<14.14} {elapsed:5.1f}s"
        )
        self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def parse_budget(text: str) -> tuple[float, str]:
    """``"500"``, ``"$500/day"``, ``"12000/month"`` -> (USD, period); month by default.

    Examples
    --------
    >>> parse_budget("$500/day"), parse_budget("12,000")
    ((500.0, 'day'), (12000.0, 'month'))
    """
    m = re.fullmatch(
        r"\s*\$?\s*([0-9][0-9_,]*(?:\.[0-9]*)?)\s*(?:/\s*(day|month))?\s*",
        text,
        flags=re.IGNORECASE,
    )
    if not m:
        raise UsageError(
            f"--budget must look like 500, 500/day or 12000/month (USD), got {text!r}"
        )
    amount = float(m.group(1).replace(",", "").replace("_", ""))
    if not math.isfinite(amount) or amount <= 0:
        raise UsageError(f"--budget must be a positive amount of USD, got {text!r}")
    return amount, (m.group(2) or "month").lower()


def _positive(name: str) -> Any:
    def conv(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a number, got {text!r}"
            ) from None
        if not math.isfinite(x) or x <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be positive, got {text!r}")
        return x

    return conv


def _fraction(name: str) -> Any:
    def conv(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a number, got {text!r}"
            ) from None
        if not 0 <= x <= 1:
            raise argparse.ArgumentTypeError(f"{name} must be in [0, 1], got {text!r}")
        return x

    return conv


def _split(text: str) -> dict[str, float]:
    """``control=0.9,treatment=0.1`` as {arm: share}."""
    out: dict[str, float] = {}
    for part in text.split(","):
        arm, sep, share = part.partition("=")
        try:
            value = float(share)
        except ValueError:
            value = math.nan
        if not sep or not arm.strip() or not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(
                f"--split must look like control=0.9,treatment=0.1, got {text!r}"
            )
        out[arm.strip()] = value
    return out


def version_text() -> str:
    """``perfstats --version``: the version, the compiled core, and the Parquet
    compression codecs this install can read (pyarrow's; none without pyarrow).

    Examples
    --------
    >>> version_text().startswith("perfstats ")
    True
    """
    import platform

    from perfstats import __version__

    lines = [f"perfstats {__version__} (Python {platform.python_version()})"]
    try:
        import pyarrow as pa

        codecs = [
            c
            for c in ("snappy", "gzip", "brotli", "zstd", "lz4")
            if pa.Codec.is_available(c)
        ]
        lines.append(
            f"Parquet: pyarrow {pa.__version__}, codecs: {', '.join(codecs) or 'none'}"
        )
    except ImportError:
        lines.append("Parquet: not available (pip install 'perfstats[cli]')")
    return "; ".join(lines)


def _parser() -> _Parser:
    p = _Parser(
        prog="perfstats",
        description="Statistics of performance telemetry.",
        epilog=_canonical_schema(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=version_text())
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _alert_parser(sub)

    r = sub.add_parser(
        "report",
        help="write a report (HTML, Markdown, JSON, CSV or Prometheus text)",
        description="Analyse request telemetry into a report that opens with ranked "
        "findings.",
        epilog=_canonical_schema(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "input",
        nargs="?",
        help="events file (Parquet, CSV, JSON lines, OpenTelemetry JSON, Arrow IPC)",
    )
    r.add_argument(
        "-o",
        "--output",
        help="output file (default report.<format>; '-' writes to stdout)",
    )
    r.add_argument(
        "--format",
        choices=["html", "md", "json", "csv", "prom"],
        help="output format (default: from the output suffix, else html)",
    )
    r.add_argument(
        "--sample",
        action="store_true",
        help="use the bundled sample telemetry (datasets.llm_app) as input",
    )
    _common(r)
    r.add_argument(
        "--sla-objective",
        type=_fraction("--sla-objective"),
        default=0.99,
        help="share of requests that must meet --sla-ms (default 0.99)",
    )
    r.add_argument(
        "--history",
        metavar="DIR_OR_URL",
        help="append this run to DIR (one JSON file per run) or to a history store "
        "(a .sqlite file, sqlite:///path or postgresql://...: hourly windows) and show "
        "earlier runs (store: the last 14 days before the data) from it",
    )
    r.add_argument(
        "--split",
        type=_split,
        metavar="ARM=SHARE,...",
        help="planned traffic split of the variants, e.g. control=0.9,treatment=0.1 "
        "(enables the A/B sample-ratio check)",
    )
    r.add_argument("--title", default="perfstats report")
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="show how each input column will be read (as 'perfstats columns') "
        "and write nothing",
    )
    r.add_argument(
        "--quiet", action="store_true", help="no progress bar, no summary line"
    )

    cols = sub.add_parser(
        "columns",
        help="show how each column of a file will be read",
        description="Show how each input column will be read: canonical name, "
        "unit, dtype, sample values, and the columns left unused.",
        epilog=_canonical_schema(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cols.add_argument("input", nargs="?", help="events file")
    _mapping_options(cols)

    c = sub.add_parser(
        "check",
        help="CI gate: print a pass/fail table; exit 1 when a check fails",
        description="Check the telemetry against limits. Exit 0 when every check "
        "passes, 1 when one fails, 2 on bad input.",
    )
    c.add_argument("input", nargs="?", help="events file")
    c.add_argument("--sample", action="store_true", help="use the sample telemetry")
    _common(c)
    c.add_argument(
        "--max-p99-ms",
        type=_positive("--max-p99-ms"),
        help="p99 latency limit per group (ms)",
    )
    c.add_argument(
        "--max-error-rate",
        type=_fraction("--max-error-rate"),
        help="error-rate limit per group (0-1)",
    )
    c.add_argument(
        "--min-sla-compliance",
        type=_fraction("--min-sla-compliance"),
        help="minimum share of requests within --sla-ms per group (0-1)",
    )
    c.add_argument(
        "--budgets",
        metavar="TOML",
        help="budgets file: ceilings, floors, regression and forecast rules "
        "(see examples/perf.toml)",
    )
    c.add_argument(
        "--baseline",
        metavar="OLD_INPUT_OR_HISTORY",
        help="earlier events file, a --history directory (its last run) or a "
        "history store: the baseline of the --budgets regression rules; without "
        "--budgets, p99 may not be significantly worse by more than "
        "--max-p99-increase (needs an events file: history keeps no per-request data)",
    )
    c.add_argument(
        "--max-p99-increase",
        type=_positive("--max-p99-increase"),
        default=0.1,
        help="practical margin of the baseline p99 rule (default 0.1 = 10%%); it "
        "fails only when the rise is significant and beyond this margin",
    )
    c.add_argument(
        "--alpha",
        type=_fraction("--alpha"),
        default=None,
        help="family-wise false-failure rate of the regression rules (default 0.05, "
        "or the budgets file's)",
    )
    c.add_argument(
        "--summary",
        metavar="PATH",
        help="append a Markdown table (CI job summary, e.g. $GITHUB_STEP_SUMMARY)",
    )
    c.add_argument(
        "--junit", metavar="PATH", help="write JUnit XML: one test case per rule"
    )
    c.add_argument("--json", metavar="PATH", help="write the results as JSON")
    c.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    c.add_argument("--quiet", action="store_true", help="print failures only")

    e = sub.add_parser(
        "export",
        help="send per-window summaries to OTLP/HTTP or a DogStatsD agent",
        description="Export per-window summaries: OpenTelemetry metrics over OTLP/HTTP "
        "(latency as exponential histograms) and/or DogStatsD lines over UDP.",
    )
    e.add_argument("input", nargs="?", help="events file")
    e.add_argument("--sample", action="store_true", help="use the sample telemetry")
    e.add_argument(
        "--otlp",
        metavar="URL",
        help="OTLP/HTTP metrics endpoint, e.g. http://localhost:4318/v1/metrics",
    )
    e.add_argument(
        "--dogstatsd",
        metavar="HOST:PORT",
        help="DogStatsD agent (UDP), e.g. 127.0.0.1:8125",
    )
    e.add_argument("--every", default="1h", help="window length (default 1h)")
    e.add_argument(
        "--by",
        default="endpoint",
        help="comma-separated columns to label by (default endpoint; '' for none)",
    )
    e.add_argument("--service-name", default="perfstats", help="OTLP service.name")
    _history_parser(sub)
    return p


class _IntermixedParser(_Parser):
    """Positionals after options (``alert ack --by bob NAME``): argparse's intermixed
    parsing, which itself calls ``parse_known_args`` (hence the guard)."""

    _inner = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._inner:
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False


def _alert_parser(sub: Any) -> None:
    a = sub.add_parser(
        "alert",
        help="evaluate alert rules and deliver notifications (run it from cron)",
        description="perfstats alert --rules alerts.toml INPUT (or --history URL): "
        "evaluate the rules on the events (or a history store's windows), update the "
        "state file and send what is due. "
        "perfstats alert ack --rules alerts.toml --by NAME SELECTOR...: acknowledge "
        "alerts (fingerprint, alert name or label matcher) so they do not escalate. "
        "perfstats alert silence --rules alerts.toml --by NAME --duration 2h "
        "MATCHER...: mute matching alerts until the silence expires. "
        "perfstats alert status --rules alerts.toml: show the alerts and silences. "
        "Exit 0 when every notification was delivered, 1 when one is kept for the "
        "next run or failed, or a rule could not be evaluated, 2 on bad input.",
    )
    a.add_argument(
        "words",
        nargs="*",
        metavar="INPUT | ack SELECTOR... | silence MATCHER... | status",
        help="the events file, or a subcommand",
    )
    a.add_argument("--rules", required=True, help="the alerts file (TOML)")
    a.add_argument(
        "--history",
        metavar="URL",
        help="evaluate the rules on a history store (.sqlite file or URL) instead of "
        "an events file: its windows of the last --lookback, rolled up per each "
        "rule's every and by (budget rules need events)",
    )
    a.add_argument(
        "--lookback",
        metavar="DURATION",
        help="how much of the --history store to read, up to --now or the end of its "
        "last window (default 28d)",
    )
    a.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be sent (with the payloads); change and send nothing",
    )
    a.add_argument(
        "--now",
        metavar="RFC3339",
        help="evaluate as of this time instead of the clock (replays, tests)",
    )
    a.add_argument("--json", metavar="PATH", help="also write the run as JSON")
    a.add_argument("--by", help="who acknowledges or silences (ack, silence)")
    a.add_argument("--duration", help="how long a silence lasts, e.g. 2h (silence)")
    a.add_argument("--comment", default="", help="why (silence)")
    a.add_argument("--quiet", action="store_true", help="print problems only")
    a.__class__ = _IntermixedParser  # the subparsers action fixes the parser class


def _alert(args: argparse.Namespace) -> int:
    from perfstats.alerts.command import alert_command

    if args.lookback is not None and args.history is None:
        raise UsageError("--lookback reads a --history store: give --history URL")
    return alert_command(
        args,
        load_events=lambda path: _load(argparse.Namespace(sample=False, input=path)),
        open_history=lambda url: _open_store(url, must_exist=True),
    )


def _common(p: argparse.ArgumentParser) -> None:
    _mapping_options(p)
    p.add_argument(
        "--by", default="endpoint", help="group by this column (default endpoint)"
    )
    p.add_argument(
        "--budget",
        metavar="USD[/day|/month]",
        type=parse_budget,
        help="spend budget, e.g. 500/day or 12000/month",
    )
    p.add_argument(
        "--sla-ms",
        type=_positive("--sla-ms"),
        default=5000.0,
        help="SLA latency target in ms (default 5000)",
    )


def _load(args: argparse.Namespace) -> Any:
    from perfstats.io.events import read_events

    if args.sample:
        if args.input:
            raise UsageError("give either INPUT or --sample, not both")
        from perfstats.datasets import llm_app

        sample = read_events(llm_app(days=30, seed=0))
        return dataclasses.replace(sample, source="sample data (datasets.llm_app)")
    if not args.input:
        raise UsageError("an INPUT file is required (or --sample)")
    path = Path(args.input)
    if not path.exists():
        raise UsageError(f"no such file: {args.input}")
    events = read_events(path, **_read_options(args))
    if getattr(args, "by", None) is not None:
        _check_by(events, args.by)
    return events


def _check_by(events: Any, by: str | None) -> None:
    """--by must name a column of the events (exit 2 listing them); only the
    default, endpoint, may be absent (the report is then ungrouped, and says so)."""
    if by and by != "endpoint" and by not in events.frame.columns:
        from perfstats._errors import Arg, UnknownNameError

        raise UnknownNameError(by, events.columns, Arg("by=", "--by"))


def _columns(args: argparse.Namespace) -> int:
    """``perfstats columns FILE``: how each column will be read."""
    from perfstats.io.events import describe_columns

    if not args.input:
        raise UsageError("an INPUT file is required")
    if not Path(args.input).exists():
        raise UsageError(f"no such file: {args.input}")
    opts = _read_options(args)
    opts.pop("errors", None)
    plan = describe_columns(args.input, **opts)
    header = ["column", "read as", "role", "unit", "dtype", "sample values"]
    table = [header] + [
        [
            str(r.source),
            str(r.canonical) or "-",
            str(r.role),
            str(r.unit) or "-",
            str(r.dtype) or "-",
            str(r.sample),
        ]
        for r in plan.itertuples()
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]).rstrip())
    unused = plan.loc[plan["role"] == "unused", "source"].tolist()
    if unused:
        print(f"unused columns: {', '.join(map(str, unused))}")
    return 0


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether `a` and `b` name one existing file: same device and inode, so through
    symbolic and hard links and relative or absolute spellings."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _refuse_overwrite(inputs: list[str], outputs: list[tuple[str, str]]) -> None:
    """UsageError naming both paths when an output (``(what, path)``) is one of the
    input files: writing it would destroy the data being read."""
    for what, out in outputs:
        for src in inputs:
            if _same_file(out, src):
                raise UsageError(
                    f"{what} {out} is the input file {src}: refusing to overwrite "
                    "the input (choose another output path)"
                )


def _report(args: argparse.Namespace) -> int:
    from perfstats import history as hist
    from perfstats.report import DEFAULT_SECTIONS, build_report, format_for

    if args.dry_run:
        if args.sample:
            raise UsageError("--dry-run shows how an INPUT file is read, not --sample")
        return _columns(args)
    fmt = args.format
    if fmt is None:
        fmt = format_for(args.output) if args.output and args.output != "-" else "html"
    output = args.output or f"report.{fmt}"
    inputs = [args.input] if args.input and not args.sample else []
    history_files: list[str] = []
    if args.history and Path(args.history).is_dir():
        history_files = [str(p) for p in Path(args.history).glob("run-*.json")]
    outputs = [("--history directory", args.history)] if args.history else []
    if output != "-":
        outputs.append(("output", output))
    # the report may not replace the events, nor a run of the history it reads
    _refuse_overwrite(inputs + history_files, outputs)
    if fmt == "html":
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError(
                "the HTML report draws its charts with matplotlib, which is not "
                "installed: pip install 'perfstats[cli]' (or choose --format md, json, "
                "csv or prom)"
            ) from None
    interactive = not args.quiet and sys.stderr.isatty()
    bar = Progress(len(DEFAULT_SECTIONS) + 3, enabled=interactive)
    bar.step("reading")
    events = _load(args)
    runs, history_trend = _history_runs(args, events) if args.history else ([], None)
    budget, period_text = args.budget if args.budget else (None, "month")
    period: Literal["day", "month"] = "day" if period_text == "day" else "month"
    report = build_report(
        events,
        by=args.by,
        budget=budget,
        budget_period=period,
        sla_target_ms=args.sla_ms,
        sla_objective=args.sla_objective,
        history=runs,
        history_trend=history_trend,
        planned_split=args.split,
        title=args.title,
        progress=bar.step,
    )
    bar.step("rendering")
    text = report.render(fmt)
    bar.step("writing")
    if output == "-":
        sys.stdout.write(text)
    else:
        report.write(output, format=fmt)
    if args.history and hist.is_store_url(args.history):
        _history_append(args, events)
    elif args.history:
        ts = events.frame["timestamp"]
        hist.append_run(
            args.history,
            report.summary,
            source=events.source,
            data_start=ts.min().isoformat(),
            data_end=ts.max().isoformat(),
            generated_at=report.generated_at,
        )
    bar.done()
    if not args.quiet and output != "-":
        counts = {
            s: sum(f.severity == s for f in report.findings)
            for s in ("critical", "warning", "info")
        }
        print(
            f"wrote {output} ({fmt}, {os.path.getsize(output):,} bytes): "
            f"{len(report.findings)} findings ({counts['critical']} critical, "
            f"{counts['warning']} warning)",
            file=sys.stderr,
        )
    return 0


def _baseline_events(source: str) -> tuple[Any | None, str]:
    """The baseline's events, or (None, why not) for a history directory or store
    (they keep summaries and sketches, not the per-request data a test needs)."""
    from perfstats.history import is_store_url, load_runs
    from perfstats.io.events import read_events

    if is_store_url(source):
        with _open_store(source, must_exist=True) as store:
            if store.time_range() is None:
                raise UsageError(f"baseline history store {store.url} holds no windows")
        return None, (
            f"baseline history store {source} keeps sketches, not per-request data: "
            "give the baseline's events file to test the change"
        )
    path = Path(source)
    if not path.exists():
        raise UsageError(f"no such baseline: {source}")
    if path.is_dir():
        if not load_runs(path):
            raise UsageError(f"baseline history {source} holds no runs")
        return None, (
            f"baseline history {source} keeps no per-request data: give the "
            "baseline's events file to test the change"
        )
    return read_events(path), ""


def _spend_rows(args: argparse.Namespace, events: Any) -> list[dict[str, Any]]:
    from perfstats.analysis.costs import costs

    amount, period = args.budget
    cost = costs(events, budget=amount, budget_period=period)
    if cost.budget is None or not len(cost.budget):
        raise UsageError("--budget needs timestamped cost data")
    last = cost.budget.iloc[-1]
    label = f"{period} {cost.budget.index[-1]}"

    def row(
        rule: str, value: str, limit: str, status: str, evidence: str
    ) -> dict[str, Any]:
        return {
            "rule": rule,
            "group": label,
            "status": status,
            "value": value,
            "limit": limit,
            "evidence": evidence,
            "kind": "ceiling",
            "metric": "spend",
            "source": "--budget",
        }

    spend = float(last["spend_usd"])
    rows = [
        row(
            "spend",
            f"${spend:,.2f}",
            f"<= ${amount:,.2f}",
            "pass" if spend <= amount else "fail",
            f"{spend / amount:.0%} of the budget",
        )
    ]
    projected = float(last["projected_usd"])
    if math.isfinite(projected):
        rows.append(
            row(
                "projected spend",
                f"${projected:,.2f}",
                f"<= ${amount:,.2f}",
                "pass" if projected <= amount else "fail",
                "projected to the period's end",
            )
        )
    else:  # too little data to project is neither a pass nor a failure
        rows.append(
            row(
                "projected spend",
                "unknown",
                f"<= ${amount:,.2f}",
                "insufficient data",
                str(last.get("projection", "no projection")),
            )
        )
    if int(last.get("unknown_requests", 0)):
        rows.append(
            row(
                "unknown spend",
                f"{int(last['unknown_requests'])} requests without a known cost",
                "all costs known",
                "fail",
                "spend is a lower bound",
            )
        )
    return rows


def _check(args: argparse.Namespace) -> int:
    from perfstats.budgets import (
        BudgetCheck,
        Budgets,
        evaluate_budgets,
        load_budgets,
        to_junit_xml,
        to_markdown,
    )
    from perfstats.budgets.core import Rule
    from perfstats.budgets.output import to_text

    limits = [
        args.max_p99_ms,
        args.max_error_rate,
        args.min_sla_compliance,
        args.budget,
        args.baseline,
        args.budgets,
    ]
    if all(v is None for v in limits):
        raise UsageError(
            "no checks given: use --budgets, --max-p99-ms, --max-error-rate, "
            "--min-sla-compliance, --budget or --baseline"
        )
    budgets = load_budgets(args.budgets) if args.budgets else Budgets(())
    events = _load(args)
    each = {args.by: "*"}
    short: list[Rule] = []
    # the shorthand flags, each one ceiling or floor rule per group
    for kind, metric, limit, flag, extra in (
        ("ceiling", "latency_p99", args.max_p99_ms, "--max-p99-ms",
         {"name": "p99 latency"}),
        ("ceiling", "error_rate", args.max_error_rate, "--max-error-rate",
         {"name": "error rate"}),
        ("floor", "sla_compliance", args.min_sla_compliance, "--min-sla-compliance",
         {"sla_ms": args.sla_ms, "name": f"within {args.sla_ms:g} ms"}),
    ):  # fmt: skip
        if limit is not None:
            short.append(Rule(kind, metric, limit, each, (), source=flag, **extra))
    base_events, base_missing = None, ""
    if args.baseline is not None:
        base_events, base_missing = _baseline_events(args.baseline)
    if args.baseline is not None and not args.budgets:
        # the shorthand p99 rule; with --budgets the file's regression rules use it
        short.append(
            Rule(
                "regression",
                "latency_p99",
                args.max_p99_increase,
                each,
                (),
                name="p99 vs baseline",
                source="--baseline",
            )
        )
    elif any(r.kind == "regression" for r in budgets.rules):
        base_missing = "no --baseline given"
    alpha = budgets.alpha if args.alpha is None else args.alpha
    plan = Budgets((*short, *budgets.rules), alpha, budgets.source)
    result = evaluate_budgets(plan, events, base_events)
    if base_missing:
        for r in result.rows:
            if r["kind"] == "regression" and r["status"] == "insufficient data":
                r["evidence"] = base_missing
    if args.budget is not None:
        result = BudgetCheck([*result.rows, *_spend_rows(args, events)], alpha)
    print(to_text(result, quiet=args.quiet))
    if args.summary:
        with open(args.summary, "a", encoding="utf-8") as fh:
            fh.write(to_markdown(result) + "\n")
    if args.junit:
        Path(args.junit).write_text(to_junit_xml(result), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(result.to_json() + "\n", encoding="utf-8")
    return result.exit_code(strict=args.strict)


def _export(args: argparse.Namespace) -> int:
    from perfstats.export import (
        dogstatsd_lines,
        otlp_request,
        send_dogstatsd,
        send_otlp,
    )

    if not args.otlp and not args.dogstatsd:
        raise UsageError(
            "nothing to export to: give --otlp URL and/or --dogstatsd HOST:PORT"
        )
    if args.otlp and not re.match(r"^https?://", args.otlp):
        raise UsageError(f"--otlp must be an http(s) URL, got {args.otlp!r}")
    if args.dogstatsd:
        host, sep, port = args.dogstatsd.rpartition(":")
        if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
            raise UsageError(f"--dogstatsd must be HOST:PORT, got {args.dogstatsd!r}")
    events = _load(args)
    by = [c for c in args.by.split(",") if c]
    if args.otlp:
        req = otlp_request(
            events, every=args.every, by=by, service_name=args.service_name
        )
        points = sum(
            len(getattr(m, m.WhichOneof("data")).data_points)
            for m in req.resource_metrics[0].scope_metrics[0].metrics
        )
        status = send_otlp(req, args.otlp)
        print(f"sent {points} data points to {args.otlp} (HTTP {status})")
    if args.dogstatsd:
        lines = dogstatsd_lines(events, every=args.every, by=by)
        n = send_dogstatsd(lines, args.dogstatsd)
        print(f"sent {n} DogStatsD lines to {args.dogstatsd}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the
    exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.command == "report":
            return _report(args)
        if args.command == "export":
            return _export(args)
        if args.command == "history":
            return _history_command(args)
        if args.command == "columns":
            return _columns(args)
        if args.command == "alert":
            return _alert(args)
        return _check(args)
    except UsageError as exc:
        print(f"perfstats: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TypeError) as exc:
        # Bad input surfaces from the readers and analyses as these; say it in one line,
        # with the command line's flags where the error names Python arguments.
        from perfstats._errors import ArgumentError

        text = exc.cli_message() if isinstance(exc, ArgumentError) else str(exc)
        msg = text.splitlines()[0] if text else type(exc).__name__
        print(f"perfstats: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("perfstats: interrupted", file=sys.stderr)
        return 130


# ---- the history store (perfstats.history.History) ------------------------------------


def _history_parser(sub: Any) -> None:
    h = sub.add_parser(
        "history",
        help="manage a history store (import run directories, retention)",
        description="History stores: a .sqlite file, sqlite:///path or postgresql://...",
    )
    hsub = h.add_subparsers(dest="history_command", required=True, parser_class=_Parser)
    imp = hsub.add_parser(
        "import",
        help="import the run-*.json files of a --history directory into a store "
        "(importing again changes nothing)",
    )
    imp.add_argument("directory", help="directory of run-*.json files")
    imp.add_argument("url", help="history store (.sqlite file or URL)")
    ret = hsub.add_parser(
        "retain", help="downsample windows older than --keep to daily windows"
    )
    ret.add_argument("url", help="history store (.sqlite file or URL)")
    ret.add_argument("--keep", default="90d", help="full resolution kept (default 90d)")
    ret.add_argument("--every", default="1d", help="older windows' size (default 1d)")


def _open_store(url: str, *, must_exist: bool) -> Any:
    from perfstats.history import History

    if (
        must_exist
        and not url.startswith(("postgresql:", "postgres:"))
        and not Path(url.removeprefix("sqlite:").removeprefix("//")).exists()
    ):
        raise UsageError(f"no such history store: {url}")
    return History(url)


def _history_command(args: argparse.Namespace) -> int:
    if args.history_command == "import":
        if not Path(args.directory).is_dir():
            raise UsageError(f"no such history directory: {args.directory}")
        with _open_store(args.url, must_exist=False) as store:
            n = store.import_runs(args.directory)
            print(f"imported {n} run(s) from {args.directory} into {store.url}")
        return 0
    with _open_store(args.url, must_exist=True) as store:
        n = store.retain(args.keep, every=args.every)
    print(f"merged {n} window(s) older than {args.keep} into {args.every} windows")
    return 0


def _history_runs(
    args: argparse.Namespace, events: Any
) -> tuple[list[dict[str, Any]], Any]:
    """Earlier runs for the report: a directory's runs, or a store's last 14 days
    before the day of the events' first timestamp, one run per day, with the trend of
    p99 latency over the store's days before it (None when it has too few)."""
    import pandas as pd

    from perfstats.history import is_store_url, load_runs

    if not is_store_url(args.history):
        return load_runs(args.history), None
    with _open_store(args.history, must_exist=False) as store:
        # whole days before the one holding the first event: no window of this run
        first = pd.Timestamp(events.frame["timestamp"].min())
        if first.tzinfo is None:
            first = first.tz_localize("UTC")
        day = first.tz_convert("UTC").floor("D")
        runs = list(store.daily_runs(by=[args.by], before=day))
        try:
            trend = store.trend("latency_p99", end=day, every="1d") if runs else None
        except ValueError:  # too few days, or no latency stored
            trend = None
        return runs, trend


def _history_append(args: argparse.Namespace, events: Any) -> None:
    with _open_store(args.history, must_exist=False) as store:
        store.append_events(events.frame, by=args.by, every="1h", source=events.source)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
