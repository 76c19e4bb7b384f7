"""One alerting run: rule states (pending, firing, resolved), silences and
inhibition, the routing tree, groups with Alertmanager's timers, escalation, and
delivery from a persistent outbox with retries."""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from perfstats._display import View
from perfstats._result import Result
from perfstats.alerts.config import (
    AlertsConfig,
    Matcher,
    Route,
    Silence,
    matches_all,
    parse_duration,
)
from perfstats.alerts.receivers import DeliveryError, deliver, preview
from perfstats.alerts.rules import DEFAULT_LOOKBACK, Sample, evaluate_rules
from perfstats.alerts.state import RunLock, StateFile, StateLockedError

__all__ = [
    "AlertRun",
    "acknowledge",
    "add_silence",
    "alert_status",
    "fingerprint",
    "run_alerts",
    "silences",
]

_ZERO_TIME = "0001-01-01T00:00:00Z"
#: Seconds sent notifications stay in the state's log.
SENT_RETENTION = 7 * 86400.0


def fingerprint(labels: dict[str, str]) -> str:
    """16 hex digits identifying a label set (like Alertmanager's fingerprint).

    Examples
    --------
    >>> fingerprint({"alertname": "A", "endpoint": "/x"}) == fingerprint(
    ...     {"endpoint": "/x", "alertname": "A"})
    True
    """
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _rfc3339(t: float | None) -> str:
    if t is None:
        return _ZERO_TIME
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now(now: Any) -> float:
    if now is None:
        return time.time()
    if isinstance(now, (int, float)) and not isinstance(now, bool):
        if not math.isfinite(now):
            raise ValueError(f"now must be a finite time, got {now!r}")
        return float(now)
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware (UTC)")
        return now.timestamp()
    raise TypeError(f"now must be Unix seconds or an aware datetime, got {now!r}")


@dataclass(repr=False)
class AlertRun(Result):
    """What one run of :func:`run_alerts` did.

    Attributes
    ----------
    now : float
        The run's time (Unix seconds).
    skipped : str or None
        Why nothing ran (another run holds the lock), else None.
    alerts : list of dict
        The alerts after the run: labels, annotations, state (pending, firing,
        resolved), muted (silenced or inhibited), acked_by, fingerprint.
    notifications : list of dict
        Each notification handled: receiver, integration type, group key, status
        ("sent", "pending" = kept for the next run, "failed" = not retryable,
        "would send" in a dry run), attempts, error (secrets redacted), and the
        notification itself (``body``).
    rule_errors : dict of str to str
        Rules that could not be evaluated (their alerts kept their state).
    dry_run : bool
    """

    now: float
    skipped: str | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    rule_errors: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def sent(self) -> int:
        """Notifications delivered in this run."""
        return sum(n["status"] == "sent" for n in self.notifications)

    @property
    def ok(self) -> bool:
        """No delivery left pending or failed (and no rule errors)."""
        return not self.rule_errors and all(
            n["status"] in ("sent", "would send") for n in self.notifications
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (JSON-ready)."""
        return {
            "now": _rfc3339(self.now),
            "skipped": self.skipped,
            "dry_run": self.dry_run,
            "alerts": self.alerts,
            "notifications": [
                {k: v for k, v in n.items() if k not in ("body", "request")}
                for n in self.notifications
            ],
            "rule_errors": self.rule_errors,
        }

    def lines(self, *, bodies: bool = False) -> list[str]:
        """The run as text lines (what the command line prints)."""
        out = [
            f"alert run at {_rfc3339(self.now)}"
            + (" (dry run)" if self.dry_run else "")
        ]
        if self.skipped:
            return [*out, f"skipped: {self.skipped}"]
        by_state: dict[str, int] = {}
        for a in self.alerts:
            by_state[a["state"]] = by_state.get(a["state"], 0) + 1
        out.append(
            "alerts: "
            + (", ".join(f"{v} {k}" for k, v in sorted(by_state.items())) or "none")
        )
        for a in self.alerts:
            if a["state"] == "resolved":
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(a["labels"].items()))
            flags = "".join(
                f" [{x}]"
                for x in ("muted", "acked")
                if a.get(x if x == "muted" else "acked_by")
            )
            out.append(f"  {a['state']:<8} {a['fingerprint']} {{{labels}}}{flags}")
        for name, why in sorted(self.rule_errors.items()):
            out.append(f"rule {name} not evaluated: {why}")
        if not self.notifications:
            out.append("notifications: none")
        for n in self.notifications:
            line = (
                f"notification {n['status']}: {n['receiver']}/{n['type']} "
                f"{n['body']['status']} {n['group_key']} "
                f"({len(n['body']['alerts'])} alerts, {n['attempts']} attempts)"
            )
            if n.get("error"):
                line += f": {n['error']}"
            out.append(line)
            if bodies:
                shown = n.get("request") or n["body"]
                out.append(json.dumps(shown, indent=2, sort_keys=True))
        return out

    _title = "Alert run"

    def _view(self) -> View:
        import pandas as pd

        fields = {
            "now": _rfc3339(self.now),
            "dry run": self.dry_run,
            "skipped": self.skipped,
            "sent": self.sent,
            "ok": self.ok,
        }
        alerts = pd.DataFrame(
            [
                {
                    "state": a["state"],
                    "fingerprint": a["fingerprint"],
                    "labels": ",".join(
                        f"{k}={v}" for k, v in sorted(a["labels"].items())
                    ),
                    "muted": a["muted"],
                    "acked by": a["acked_by"],
                }
                for a in self.alerts
            ],
            columns=["state", "fingerprint", "labels", "muted", "acked by"],
        ).set_index("fingerprint")
        notes = pd.DataFrame(
            [
                {
                    "status": n["status"],
                    "receiver": n["receiver"],
                    "type": n["type"],
                    "notification": n["body"]["status"],
                    "alerts": len(n["body"]["alerts"]),
                    "attempts": n["attempts"],
                    "error": n["error"],
                }
                for n in self.notifications
            ],
            columns=[
                "status", "receiver", "type", "notification", "alerts", "attempts",
                "error",
            ],
        ).set_index("receiver")  # fmt: skip
        return View(
            self._title,
            fields,
            {"alerts": alerts, "notifications": notes},
            [
                f"rule {k} not evaluated: {v}"
                for k, v in sorted(self.rule_errors.items())
            ],
        )


def _update_states(
    db: StateFile,
    config: AlertsConfig,
    samples: list[Sample],
    errors: dict[str, str],
    t: float,
) -> None:
    """Prometheus's rule states: active -> pending -> firing after `for`; inactive
    firing -> resolved; inactive pending -> gone."""
    fors = {r.alert: r.for_seconds for r in config.rules}
    active = {fingerprint(s.labels): s for s in samples if not s.unknown}
    unknown = {fingerprint(s.labels) for s in samples if s.unknown}
    rows = {r["fingerprint"]: r for r in db.rows("SELECT * FROM alerts")}
    for fp, s in active.items():
        row = rows.get(fp)
        wait = fors.get(s.rule, 0.0)
        labels, notes = json.dumps(s.labels, sort_keys=True), json.dumps(s.annotations)
        value = None if math.isnan(s.value) else s.value
        if row is None or row["state"] == "resolved":
            state = "firing" if wait <= 0 else "pending"
            db.conn.execute(
                "INSERT OR REPLACE INTO alerts (fingerprint, rule, labels, annotations, "
                "value, state, active_since, fired_at, resolved_at, acked_by, acked_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                (
                    fp,
                    s.rule,
                    labels,
                    notes,
                    value,
                    state,
                    t,
                    t if state == "firing" else None,
                ),
            )
        else:
            fire = row["state"] == "pending" and t - row["active_since"] >= wait
            db.conn.execute(
                "UPDATE alerts SET annotations = ?, value = ?, state = ?, fired_at = ? "
                "WHERE fingerprint = ?",
                (
                    notes,
                    value,
                    "firing" if fire else row["state"],
                    t if fire else row["fired_at"],
                    fp,
                ),
            )
    for fp, row in rows.items():
        if fp in active or fp in unknown or row["rule"] in errors:
            continue
        if row["state"] == "pending":
            db.conn.execute("DELETE FROM alerts WHERE fingerprint = ?", (fp,))
        elif row["state"] == "firing":
            db.conn.execute(
                "UPDATE alerts SET state = 'resolved', resolved_at = ? WHERE fingerprint = ?",
                (t, fp),
            )


def _silences(db: StateFile, config: AlertsConfig) -> list[Silence]:
    """The file's silences and those added with :func:`add_silence`."""
    out = list(config.silences)
    for r in db.rows("SELECT * FROM silences"):
        ms = tuple(
            Matcher.parse(m, f"silence {r['id']}") for m in json.loads(r["matchers"])
        )
        out.append(
            Silence(ms, r["starts_at"], r["ends_at"], r["comment"], r["created_by"])
        )
    return out


def _muted(
    config: AlertsConfig,
    alerts: list[dict[str, Any]],
    t: float,
    silences: list[Silence] | None = None,
) -> set[str]:
    """Fingerprints silenced (an unexpired silence matches) or inhibited (a firing
    source alert matches with the `equal` labels equal; never by itself)."""
    out = set()
    active = [
        s for s in (config.silences if silences is None else silences) if s.active(t)
    ]
    firing = [a for a in alerts if a["state"] == "firing"]
    for a in firing:
        if any(matches_all(s.matchers, a["labels"]) for s in active):
            out.add(a["fingerprint"])
            continue
        for rule in config.inhibit_rules:
            if not matches_all(rule.target, a["labels"]):
                continue
            for src in firing:
                if src is a or not matches_all(rule.source, src["labels"]):
                    continue
                if all(
                    src["labels"].get(k, "") == a["labels"].get(k, "")
                    for k in rule.equal
                ):
                    out.add(a["fingerprint"])
                    break
    return out


def _route(node: Route, labels: dict[str, str]) -> list[Route]:
    """Alertmanager's routing: depth first, the first matching child wins unless it
    says `continue`; a node no child takes handles the alert itself."""
    if not matches_all(node.matchers, labels):
        return []
    found: list[Route] = []
    for child in node.routes:
        hit = _route(child, labels)
        if hit:
            found += hit
            if not child.cont:
                break
    return found or [node]


def _group_labels(route: Route, labels: dict[str, str]) -> dict[str, str]:
    if "..." in route.group_by:
        return dict(labels)
    return {k: labels[k] for k in route.group_by if k in labels}


def _group_key(path: str, group_labels: dict[str, str]) -> str:
    inner = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(group_labels.items()))
    return f"{path}:{{{inner}}}"


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    out = dict(dicts[0])
    for d in dicts[1:]:
        out = {k: v for k, v in out.items() if d.get(k) == v}
    return out


def _alert_body(a: dict[str, Any], status: str, config: AlertsConfig) -> dict[str, Any]:
    return {
        "status": status,
        "labels": a["labels"],
        "annotations": a["annotations"],
        "startsAt": _rfc3339(a["active_since"]),
        "endsAt": _rfc3339(a["resolved_at"]) if status == "resolved" else _ZERO_TIME,
        "generatorURL": config.external_url,
        "fingerprint": a["fingerprint"],
    }


def _plan(db: StateFile, config: AlertsConfig, t: float) -> None:
    """Update groups and queue the notifications due at `t` in the outbox."""
    alerts = []
    for r in db.rows("SELECT * FROM alerts"):
        r["labels"] = json.loads(r["labels"])
        r["annotations"] = json.loads(r["annotations"])
        alerts.append(r)
    by_fp = {a["fingerprint"]: a for a in alerts}
    muted = _muted(config, alerts, t, _silences(db, config))
    # (receiver, group_key) -> (route, group labels, firing fingerprints)
    current: dict[tuple[str, str], tuple[Route, dict[str, str], list[str]]] = {}
    for a in alerts:
        if a["state"] != "firing" or a["fingerprint"] in muted:
            continue
        for node in _route(config.route, a["labels"]):
            targets = [(node, node.receiver, node.path)]
            if (
                node.escalate_to is not None
                and node.escalate_after is not None
                and a["acked_by"] is None
                and t - a["fired_at"] >= node.escalate_after
            ):
                targets.append((node, node.escalate_to, node.path + "/escalate"))
            for rnode, receiver, path in targets:
                gl = _group_labels(rnode, a["labels"])
                key = (receiver, _group_key(path, gl))
                current.setdefault(key, (rnode, gl, []))[2].append(a["fingerprint"])
    routes: dict[str, Route] = {}

    def walk(n: Route) -> None:
        routes[n.path] = n
        for c in n.routes:
            walk(c)

    walk(config.route)
    groups = {
        (g["receiver"], g["group_key"]): g for g in db.rows("SELECT * FROM groups")
    }
    for key in sorted(set(current) | set(groups)):
        receiver, gkey = key
        g = groups.get(key)
        if key in current:
            node, gl, firing = current[key]
        else:
            found = routes.get(g["route"]) if g else None
            if found is None:  # the route left the file: drop the group
                db.conn.execute(
                    "DELETE FROM groups WHERE receiver = ? AND group_key = ?", key
                )
                continue
            node, gl, firing = found, json.loads(g["group_labels"]) if g else {}, []
        firing = sorted(set(firing))
        if g is None:
            if not firing:
                continue
            db.conn.execute(
                "INSERT INTO groups VALUES (?, ?, ?, ?, ?, NULL, '[]')",
                (receiver, gkey, node.path, json.dumps(gl, sort_keys=True), t),
            )
            g = {
                "first_seen": t,
                "last_flush": None,
                "notified": "[]",
                "route": node.path,
            }
        notified = json.loads(g["notified"])
        if g["last_flush"] is None:
            if not firing:
                db.conn.execute(
                    "DELETE FROM groups WHERE receiver = ? AND group_key = ?", key
                )
                continue
            due = t >= g["first_seen"] + node.group_wait
        elif set(firing) != set(notified):
            due = t >= g["last_flush"] + node.group_interval
        else:
            due = bool(firing) and t >= g["last_flush"] + node.repeat_interval
        if not due:
            continue
        resolved = [
            fp
            for fp in notified
            if fp not in firing and fp in by_fp and by_fp[fp]["state"] == "resolved"
        ]
        _queue(db, config, receiver, gkey, gl, firing, resolved, by_fp, t)
        if firing:
            db.conn.execute(
                "UPDATE groups SET last_flush = ?, notified = ? "
                "WHERE receiver = ? AND group_key = ?",
                (t, json.dumps(firing), receiver, gkey),
            )
        else:
            db.conn.execute(
                "DELETE FROM groups WHERE receiver = ? AND group_key = ?", key
            )
    # The notification log keeps a week of sent notifications (failed ones stay).
    db.conn.execute(
        "DELETE FROM outbox WHERE status = 'sent' AND sent_at < ?",
        (t - SENT_RETENTION,),
    )
    # Resolved alerts no group still has to announce are done.
    still = set()
    for g in db.rows("SELECT notified FROM groups"):
        still.update(json.loads(g["notified"]))
    for a in alerts:
        if a["state"] == "resolved" and a["fingerprint"] not in still:
            db.conn.execute(
                "DELETE FROM alerts WHERE fingerprint = ?", (a["fingerprint"],)
            )


def _queue(
    db: StateFile,
    config: AlertsConfig,
    receiver: str,
    gkey: str,
    gl: dict[str, str],
    firing: list[str],
    resolved: list[str],
    by_fp: dict[str, dict[str, Any]],
    t: float,
) -> None:
    for i, integ in enumerate(config.receivers[receiver].integrations):
        bodies = [_alert_body(by_fp[fp], "firing", config) for fp in firing]
        if integ.send_resolved:
            bodies += [_alert_body(by_fp[fp], "resolved", config) for fp in resolved]
        if not bodies:
            continue
        nid = uuid.uuid4().hex
        note = {
            "id": nid,
            "receiver": receiver,
            "status": "firing" if firing else "resolved",
            "groupKey": gkey,
            "groupLabels": gl,
            "commonLabels": _common([b["labels"] for b in bodies]),
            "commonAnnotations": _common([b["annotations"] for b in bodies]),
            "externalURL": config.external_url,
            "alerts": bodies,
        }
        db.conn.execute(
            "INSERT INTO outbox (id, created, receiver, integration, type, group_key, "
            "notification, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
            (nid, t, receiver, i, integ.type, gkey, json.dumps(note)),
        )


def _mark(
    db: StateFile, seq: int, status: str, attempts: int, error: str | None, t: float
) -> None:
    db.conn.execute(
        "UPDATE outbox SET status = ?, attempts = attempts + ?, last_error = ?, "
        "sent_at = ? WHERE seq = ?",
        (status, attempts, error, t if status == "sent" else None, seq),
    )


def _deliver_all(
    db: StateFile, config: AlertsConfig, t: float, sleep: Callable[[float], None]
) -> list[dict[str, Any]]:
    """Send every pending notification, oldest first. Each is marked sent right after
    its receiver accepted it; a crash between the two sends it again on the next run
    (at least once; its id, and PagerDuty's dedup_key, let a receiver drop the copy)."""
    out = []
    down: dict[tuple[str, int], str] = {}
    settings = config.delivery
    for row in db.rows("SELECT * FROM outbox WHERE status = 'pending' ORDER BY seq"):
        note = json.loads(row["notification"])
        rec = {
            "id": row["id"],
            "receiver": row["receiver"],
            "type": row["type"],
            "group_key": row["group_key"],
            "attempts": 0,
            "status": "pending",
            "error": None,
            "body": note,
        }
        out.append(rec)
        key = (row["receiver"], row["integration"])
        receiver = config.receivers.get(row["receiver"])
        if receiver is None or row["integration"] >= len(receiver.integrations):
            rec["status"], rec["error"] = (
                "failed",
                "receiver no longer in the alerts file",
            )
            _mark(db, row["seq"], "failed", 0, rec["error"], t)
            continue
        if key in down:
            rec["error"] = f"not tried: {down[key]} earlier in this run"
            continue
        integ = receiver.integrations[row["integration"]]
        delay = settings.backoff
        for attempt in range(1, settings.attempts + 1):
            rec["attempts"] = attempt
            try:
                deliver(integ.type, integ.settings, note, settings.timeout)
            except DeliveryError as exc:
                rec["error"] = str(exc)
                if not exc.retry:
                    rec["status"] = "failed"
                    break
                if attempt < settings.attempts:
                    sleep(min(delay, settings.max_backoff))
                    delay *= 2
                continue
            rec["status"], rec["error"] = "sent", None
            break
        if rec["status"] == "pending":
            down[key] = str(rec["error"])
        _mark(db, row["seq"], str(rec["status"]), int(rec["attempts"]), rec["error"], t)
    return out


def _alert_rows(db: StateFile, config: AlertsConfig, t: float) -> list[dict[str, Any]]:
    rows = db.rows("SELECT * FROM alerts ORDER BY rule, fingerprint")
    for r in rows:
        r["labels"] = json.loads(r["labels"])
        r["annotations"] = json.loads(r["annotations"])
    muted = _muted(config, rows, t, _silences(db, config))
    return [
        {
            "fingerprint": r["fingerprint"],
            "rule": r["rule"],
            "state": r["state"],
            "labels": r["labels"],
            "annotations": r["annotations"],
            "value": r["value"],
            "startsAt": _rfc3339(r["active_since"]),
            "firedAt": None if r["fired_at"] is None else _rfc3339(r["fired_at"]),
            "muted": r["fingerprint"] in muted,
            "acked_by": r["acked_by"],
        }
        for r in rows
    ]


def run_alerts(
    config: AlertsConfig,
    events: Any = None,
    *,
    samples: list[Sample] | None = None,
    rule_errors: dict[str, str] | None = None,
    now: Any = None,
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    lookback: str = DEFAULT_LOOKBACK,
) -> AlertRun:
    """Evaluate the rules, update the state and deliver what is due: one cron run.

    Parameters
    ----------
    config : AlertsConfig
        From :func:`load_config`.
    events : perfstats.io.events.Events, pandas.DataFrame or History, optional
        The telemetry the rules are evaluated on (see :func:`evaluate_rules`): events,
        or a :class:`perfstats.history.History` whose windows of the last `lookback`
        are read (up to `now` when given, else to the end of its last window).
    samples : list of Sample, optional
        Already evaluated active alerts instead of `events` (with `rule_errors`).
    rule_errors : dict, optional
        Rules not evaluated: their alerts keep their state.
    now : float or aware datetime, optional
        The run's time (Unix seconds); default the clock. Timers (`for`,
        `group_wait`, `group_interval`, `repeat_interval`, `escalate_after`,
        silences) are measured in it.
    dry_run : bool
        Compute what would be sent, change nothing, send nothing.
    sleep : callable
        Waits between delivery attempts (injectable for tests).
    lookback : str, default "28d"
        How much of a history store the rules read (see :func:`evaluate_rule`).

    Returns
    -------
    AlertRun

    Raises
    ------
    StateCorruptError
        When the state file is unreadable (it is moved aside, never reset silently).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from perfstats.alerts import Sample, config_from_mapping
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> cfg = config_from_mapping({
    ...     "state": "s.sqlite",
    ...     "route": {"receiver": "r", "group_wait": "0s"},
    ...     "receivers": [{"name": "r", "webhook_configs": [{"url": "http://127.0.0.1:9"}]}],
    ... }, d, "example")
    >>> hot = [Sample("Slow", {"alertname": "Slow"})]
    >>> run = run_alerts(cfg, samples=hot, now=0, dry_run=True)
    >>> [(n["receiver"], n["status"], n["body"]["status"]) for n in run.notifications]
    [('r', 'would send', 'firing')]
    """
    t = _now(now)
    if samples is None:
        if events is None:
            raise ValueError("run_alerts needs events or samples")
        samples, rule_errors = evaluate_rules(
            config.rules, events, lookback=lookback, now=now
        )
    errors = dict(rule_errors or {})
    run = AlertRun(now=t, rule_errors=errors, dry_run=dry_run)
    if dry_run:
        with StateFile(config.state, create=False) as db:
            db.conn.execute("BEGIN IMMEDIATE")
            _update_states(db, config, samples, errors, t)
            _plan(db, config, t)
            run.alerts = _alert_rows(db, config, t)
            for row in db.rows(
                "SELECT * FROM outbox WHERE status = 'pending' ORDER BY seq"
            ):
                body = json.loads(row["notification"])
                receiver = config.receivers.get(row["receiver"])
                request = None
                if receiver is not None and row["integration"] < len(
                    receiver.integrations
                ):
                    integ = receiver.integrations[row["integration"]]
                    request = preview(integ.type, integ.settings, body)
                run.notifications.append(
                    {
                        "id": row["id"],
                        "receiver": row["receiver"],
                        "type": row["type"],
                        "group_key": row["group_key"],
                        "attempts": 0,
                        "status": "would send",
                        "error": None,
                        "body": body,
                        "request": request,
                    }
                )
            db.conn.execute("ROLLBACK")
        return run
    try:
        lock = RunLock(config.state).__enter__()
    except StateLockedError as exc:
        run.skipped = str(exc)
        return run
    try:
        with StateFile(config.state) as db:
            db.conn.execute("BEGIN IMMEDIATE")
            _update_states(db, config, samples, errors, t)
            _plan(db, config, t)
            db.conn.execute("COMMIT")
            run.notifications = _deliver_all(db, config, t, sleep)
            run.alerts = _alert_rows(db, config, t)
    finally:
        lock.__exit__(None, None, None)
    return run


def _select(selector: str) -> Callable[[dict[str, Any]], bool]:
    if any(op in selector for op in ("=", "~")):
        m = Matcher.parse(selector, "ack selector")
        return lambda a: m.matches(a["labels"])
    return lambda a: selector in (a["fingerprint"], a["labels"].get("alertname"))


def acknowledge(
    config: AlertsConfig, selectors: list[str], *, by: str, now: Any = None
) -> list[str]:
    """Acknowledge pending and firing alerts: they no longer escalate (the
    acknowledgement ends when the alert resolves).

    Parameters
    ----------
    config : AlertsConfig
    selectors : list of str
        Each a fingerprint, an alert name, or a matcher (``endpoint="/chat"``); an
        alert matching every selector is acknowledged.
    by : str
        Who acknowledges (kept in the state and shown by ``perfstats alert status``).
    now : float or aware datetime, optional

    Returns
    -------
    list of str
        Fingerprints acknowledged (empty when nothing matched).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from perfstats.alerts import Sample, config_from_mapping
    >>> cfg = config_from_mapping({
    ...     "state": "s.sqlite",
    ...     "route": {"receiver": "r", "group_wait": "1h"},
    ...     "receivers": [{"name": "r", "webhook_configs": [{"url": "http://127.0.0.1:9"}]}],
    ... }, pathlib.Path(tempfile.mkdtemp()), "example")
    >>> hot = [Sample("Slow", {"alertname": "Slow", "endpoint": "/chat"})]
    >>> _ = run_alerts(cfg, samples=hot, now=0)
    >>> acknowledge(cfg, ['endpoint="/chat"'], by="alice", now=60) == [fingerprint(hot[0].labels)]
    True
    >>> [(a["state"], a["acked_by"]) for a in alert_status(cfg)]
    [('firing', 'alice')]
    """
    if not selectors:
        raise ValueError("acknowledge needs at least one selector")
    if not isinstance(by, str) or not by:
        raise ValueError("by must name who acknowledges")
    t = _now(now)
    preds = [_select(s) for s in selectors]
    done = []
    with StateFile(config.state) as db:
        db.conn.execute("BEGIN IMMEDIATE")
        for a in db.rows("SELECT * FROM alerts WHERE state != 'resolved'"):
            a["labels"] = json.loads(a["labels"])
            if all(p(a) for p in preds):
                db.conn.execute(
                    "UPDATE alerts SET acked_by = ?, acked_at = ? WHERE fingerprint = ?",
                    (by, t, a["fingerprint"]),
                )
                done.append(a["fingerprint"])
        db.conn.execute("COMMIT")
    return done


def alert_status(config: AlertsConfig, *, now: Any = None) -> list[dict[str, Any]]:
    """The alerts in the state file, read only: one dict per alert with
    ``fingerprint``, ``rule``, ``state`` (pending, firing, resolved), ``labels``,
    ``annotations``, ``value``, ``startsAt``, ``firedAt`` (RFC 3339), ``muted`` (by a
    silence or an inhibition at `now`) and ``acked_by``; see :func:`acknowledge`."""
    t = _now(now)
    with StateFile(config.state, create=False) as db:
        return _alert_rows(db, config, t)


def add_silence(
    config: AlertsConfig,
    matchers: list[str],
    *,
    duration: str | float,
    by: str,
    comment: str = "",
    now: Any = None,
) -> str:
    """Silence the alerts matching every matcher from `now` for `duration`; kept in
    the state file (the rules file's ``[[silences]]`` are the other way). It expires
    by itself.

    Parameters
    ----------
    config : AlertsConfig
    matchers : list of str
        Alertmanager matchers (``endpoint="/batch"``, ``severity=~"warning|info"``).
    duration : str or float
        How long, as a duration ("2h") or seconds.
    by : str
        Who silences.
    comment : str
    now : float or aware datetime, optional

    Returns
    -------
    str
        The silence's id.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from perfstats.alerts import config_from_mapping
    >>> cfg = config_from_mapping({
    ...     "state": "s.sqlite", "route": {"receiver": "r"},
    ...     "receivers": [{"name": "r", "webhook_configs": [{"url": "http://127.0.0.1:9"}]}],
    ... }, pathlib.Path(tempfile.mkdtemp()), "example")
    >>> sid = add_silence(cfg, ['endpoint="/batch"'], duration="2h", by="bob", now=0)
    >>> [(s["ends_at"], s["active"]) for s in silences(cfg, now=3600)]
    [('1970-01-01T02:00:00.000000Z', True)]
    """
    t = _now(now)
    if not matchers:
        raise ValueError("a silence needs at least one matcher")
    for m in matchers:
        Matcher.parse(m, "silence matcher")
    seconds = parse_duration(duration, "silence duration")
    if seconds <= 0:
        raise ValueError(f"silence duration must be > 0, got {duration!r}")
    if not isinstance(by, str) or not by:
        raise ValueError("by must name who silences")
    sid = uuid.uuid4().hex[:12]
    with StateFile(config.state) as db:
        db.conn.execute(
            "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?)",
            (sid, json.dumps(list(matchers)), t, t + seconds, comment, by),
        )
    return sid


def silences(config: AlertsConfig, *, now: Any = None) -> list[dict[str, Any]]:
    """The silences of the rules file and of the state file, with ``active`` at
    `now` (expired ones included, flagged inactive)."""
    t = _now(now)
    with StateFile(config.state, create=False) as db:
        rows = _silences(db, config)
    return [
        {
            "matchers": [f"{m.name}{m.op}{json.dumps(m.value)}" for m in s.matchers],
            "starts_at": _rfc3339(s.starts_at),
            "ends_at": _rfc3339(s.ends_at),
            "comment": s.comment,
            "created_by": s.created_by,
            "active": s.active(t),
        }
        for s in rows
    ]
