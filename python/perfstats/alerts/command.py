"""``perfstats alert``: run, acknowledge, show status (called by perfstats.cli)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from perfstats.alerts.config import load_config
from perfstats.alerts.engine import (
    acknowledge,
    add_silence,
    alert_status,
    run_alerts,
    silences,
)
from perfstats.alerts.rules import DEFAULT_LOOKBACK
from perfstats.alerts.state import StateCorruptError

__all__ = ["alert_command"]


def _parse_now(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--now must be an RFC 3339 time, got {text!r}") from None
    if dt.tzinfo is None:
        raise ValueError(f"--now needs a UTC offset (e.g. {text}Z), got {text!r}")
    return dt.timestamp()


def alert_command(
    args: Any,
    *,
    load_events: Callable[[str], Any],
    open_history: Callable[[str], Any] | None = None,
) -> int:
    """Run ``perfstats alert`` with parsed arguments; returns the exit code.
    ``open_history`` opens the ``--history`` store (a context manager)."""
    config = load_config(args.rules)
    now = _parse_now(args.now)
    words = list(args.words)
    try:
        if words and words[0] == "ack":
            if len(words) < 2:
                raise ValueError("ack needs at least one SELECTOR")
            if not args.by:
                raise ValueError("ack needs --by NAME (who acknowledges)")
            done = acknowledge(config, words[1:], by=args.by, now=now)
            if not done:
                print("no pending or firing alert matched", file=sys.stderr)
                return 1
            for fp in done:
                print(f"acknowledged {fp} by {args.by}")
            return 0
        if words and words[0] == "silence":
            if len(words) < 2:
                raise ValueError(
                    "silence needs at least one MATCHER, e.g. endpoint=/batch"
                )
            if not args.by or not args.duration:
                raise ValueError("silence needs --by NAME and --duration (e.g. 2h)")
            sid = add_silence(
                config, words[1:], duration=args.duration, by=args.by,
                comment=args.comment, now=now,
            )  # fmt: skip
            print(
                f"silence {sid} by {args.by} for {args.duration}: {' '.join(words[1:])}"
            )
            return 0
        if words and words[0] == "status":
            if len(words) != 1:
                raise ValueError("status takes no arguments")
            rows = alert_status(config, now=now)
            for a in rows:
                labels = ",".join(f"{k}={v}" for k, v in sorted(a["labels"].items()))
                extra = " muted" if a["muted"] else ""
                extra += f" acked by {a['acked_by']}" if a["acked_by"] else ""
                print(f"{a['state']:<8} {a['fingerprint']} {{{labels}}}{extra}")
            if not rows:
                print("no alerts")
            for si in silences(config, now=now):
                state = "active" if si["active"] else "inactive"
                print(
                    f"silence {state} until {si['ends_at']} {{{','.join(si['matchers'])}}}"
                    f" by {si['created_by'] or '?'}: {si['comment']}"
                )
            return 0
        history = getattr(args, "history", None)
        lookback = getattr(args, "lookback", None) or DEFAULT_LOOKBACK
        if history is not None:
            if words:
                raise ValueError(
                    "give either an INPUT events file or --history, not both"
                )
            if open_history is None:
                from perfstats.history import History

                open_history = History
            with open_history(history) as store:
                run = run_alerts(
                    config, store, now=now, dry_run=args.dry_run, lookback=lookback
                )
        else:
            if len(words) != 1:
                raise ValueError(
                    "give one INPUT events file or --history URL (or ack / silence / "
                    "status)"
                )
            events = load_events(words[0])
            run = run_alerts(config, events, now=now, dry_run=args.dry_run)
    except StateCorruptError as exc:
        print(f"perfstats: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(run.to_dict(), fh, indent=2)
    lines = run.lines(bodies=args.dry_run)
    if args.quiet:
        lines = [
            ln for ln in lines if "pending" in ln or "failed" in ln or "rule " in ln
        ]
    for line in lines:
        print(line)
    return 0 if run.ok else 1
