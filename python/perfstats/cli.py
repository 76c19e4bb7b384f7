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
        raise UsageError(f"{self.prog}: {message} (see --help)")


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
    p = _Parser(prog="perfstats", description="Statistics of performance telemetry.")
    p.add_argument("--version", action="version", version=version_text())
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser(
        "report",
        help="write a report (HTML, Markdown, JSON, CSV or Prometheus text)",
        description="Analyse request telemetry into a report that opens with ranked "
        "findings.",
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
        metavar="DIR",
        help="append this run to DIR and show earlier runs from it",
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
        "--quiet", action="store_true", help="no progress bar, no summary line"
    )

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
        "--baseline",
        metavar="OLD_INPUT_OR_HISTORY",
        help="earlier events file, or a --history directory (its last run): "
        "p99 may not rise by more than --max-p99-increase",
    )
    c.add_argument(
        "--max-p99-increase",
        type=_positive("--max-p99-increase"),
        default=0.1,
        help="allowed relative p99 rise over the baseline (default 0.1 = 10%%)",
    )
    c.add_argument("--quiet", action="store_true", help="print failures only")
    return p


def _common(p: argparse.ArgumentParser) -> None:
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
    return read_events(path)


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
    runs = hist.load_runs(args.history) if args.history else []
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
    if args.history:
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


def _baseline_p99(source: str, args: argparse.Namespace) -> dict[str, float]:
    from perfstats._display import group_label
    from perfstats.analysis.summary import summarize
    from perfstats.history import load_runs
    from perfstats.io.events import read_events

    path = Path(source)
    if not path.exists():
        raise UsageError(f"no such baseline: {source}")
    if path.is_dir():
        runs = load_runs(path)
        if not runs:
            raise UsageError(f"baseline history {source} holds no runs")
        run = runs[-1]
        return {
            group_label(tuple(g.get(b) for b in run["by"])): float(g["latency_p99"])
            for g in run["groups"]
            if g.get("latency_p99") is not None
        }
    s = summarize(read_events(path), by=args.by, sla_target_ms=args.sla_ms)
    if "latency_p99" not in s.table:
        raise UsageError(f"baseline {source} has no latency_ms column")
    return dict(
        zip(
            (group_label(k) for k in s.sketches),
            s.table["latency_p99"].astype(float),
            strict=True,
        )
    )


def _check(args: argparse.Namespace) -> int:
    from perfstats._display import group_label
    from perfstats.analysis.summary import summarize

    limits = [
        args.max_p99_ms,
        args.max_error_rate,
        args.min_sla_compliance,
        args.budget,
        args.baseline,
    ]
    if all(v is None for v in limits):
        raise UsageError(
            "no checks given: use --max-p99-ms, --max-error-rate, "
            "--min-sla-compliance, --budget or --baseline"
        )
    events = _load(args)
    s = summarize(events, by=args.by, sla_target_ms=args.sla_ms)
    t = s.table
    labels = [group_label(k) or "all" for k in s.sketches]
    rows: list[tuple[str, str, str, str, bool]] = []

    def need(col: str, option: str) -> None:
        if col not in t:
            raise UsageError(f"{option} needs {s.missing.get(col, col)}")

    if args.max_p99_ms is not None:
        need("latency_p99", "--max-p99-ms")
        for g, v in zip(labels, t["latency_p99"], strict=True):
            rows.append(
                (
                    "p99 latency",
                    g,
                    f"{v:,.0f} ms",
                    f"<= {args.max_p99_ms:,.0f} ms",
                    bool(v <= args.max_p99_ms),
                )
            )
    if args.max_error_rate is not None:
        need("error_rate", "--max-error-rate")
        for g, v in zip(labels, t["error_rate"], strict=True):
            rows.append(
                (
                    "error rate",
                    g,
                    f"{100 * v:.3f}%",
                    f"<= {100 * args.max_error_rate:.3f}%",
                    bool(v <= args.max_error_rate),
                )
            )
    if args.min_sla_compliance is not None:
        need("sla_compliance", "--min-sla-compliance")
        for g, v in zip(labels, t["sla_compliance"], strict=True):
            rows.append(
                (
                    f"within {args.sla_ms:g} ms",
                    g,
                    f"{100 * v:.3f}%",
                    f">= {100 * args.min_sla_compliance:.3f}%",
                    bool(v >= args.min_sla_compliance),
                )
            )
    if args.budget is not None:
        from perfstats.analysis.costs import costs

        amount, period = args.budget
        cost = costs(events, budget=amount, budget_period=period)
        if cost.budget is None or not len(cost.budget):
            raise UsageError("--budget needs timestamped cost data")
        last = cost.budget.iloc[-1]
        label = f"{period} {cost.budget.index[-1]}"
        rows.append(
            (
                "spend",
                label,
                f"${last['spend_usd']:,.2f}",
                f"<= ${amount:,.2f}",
                bool(last["spend_usd"] <= amount),
            )
        )
        projected = float(last["projected_usd"])
        rows.append(
            (
                "projected spend",
                label,
                f"${projected:,.2f}"
                if math.isfinite(projected)
                else str(last.get("projection", "no projection")),
                f"<= ${amount:,.2f}",
                # too little data to project is not a failed check
                bool(projected <= amount) if math.isfinite(projected) else True,
            )
        )
        if int(last.get("unknown_requests", 0)):
            rows.append(
                (
                    "unknown spend",
                    label,
                    f"{int(last['unknown_requests'])} requests without a known cost",
                    "all costs known",
                    False,
                )
            )
    if args.baseline is not None:
        need("latency_p99", "--baseline")
        base = _baseline_p99(args.baseline, args)
        for g, v in zip(labels, t["latency_p99"], strict=True):
            key = "" if g == "all" else g
            if key not in base:
                rows.append(("p99 vs baseline", g, f"{v:,.0f} ms", "no baseline", True))
                continue
            b = base[key]
            limit = b * (1 + args.max_p99_increase)
            rows.append(
                (
                    "p99 vs baseline",
                    g,
                    f"{v:,.0f} ms ({(v / b - 1):+.1%})",
                    f"<= {limit:,.0f} ms",
                    bool(v <= limit),
                )
            )
    failed = sum(not ok for *_, ok in rows)
    shown = [r for r in rows if not (args.quiet and r[4])]
    header = ("check", "group", "value", "limit", "result")
    table = [
        header,
        *[(a, b, c, d, "PASS" if ok else "FAIL") for a, b, c, d, ok in shown],
    ]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        print(
            "  ".join(
                cell.ljust(w) for cell, w in zip(row, widths, strict=True)
            ).rstrip()
        )
    print(f"{len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the
    exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.command == "report":
            return _report(args)
        return _check(args)
    except UsageError as exc:
        print(f"perfstats: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TypeError) as exc:
        # Bad input surfaces from the readers and analyses as these; say it in one line.
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"perfstats: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("perfstats: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
