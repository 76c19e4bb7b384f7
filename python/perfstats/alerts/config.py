"""The alerts file: rules, the routing tree, receivers, inhibition, silences, state path."""

from __future__ import annotations

import importlib
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "AlertsConfig",
    "DeliverySettings",
    "InhibitRule",
    "Integration",
    "Matcher",
    "Receiver",
    "Route",
    "Rule",
    "Silence",
    "load_config",
    "parse_duration",
]

RuleKind = Literal["metric", "anomaly", "budget", "trend"]
_KINDS = ("metric", "anomaly", "budget", "trend")
_OPS = (">", ">=", "<", "<=", "==", "!=")
_INTEGRATIONS = {
    "webhook_configs": "webhook",
    "slack_configs": "slack",
    "pagerduty_configs": "pagerduty",
    "email_configs": "email",
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MATCHER = re.compile(
    r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*$'
)


def parse_duration(text: Any, field_name: str = "duration") -> float:
    """Seconds in a Prometheus duration ("30s", "5m", "1h30m", "2d", "1w").

    Parameters
    ----------
    text : str or int or float
        The duration; a bare number is seconds.
    field_name : str
        Named in the error message.

    Returns
    -------
    float
        The duration in seconds (>= 0).

    Raises
    ------
    ValueError
        When the text is not a duration, naming `field_name`.

    Examples
    --------
    >>> parse_duration("1h30m")
    5400.0
    >>> parse_duration(90)
    90.0
    """
    if isinstance(text, bool):
        raise ValueError(f"{field_name} must be a duration like '5m', got {text!r}")
    if isinstance(text, (int, float)):
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"{field_name} must be a duration >= 0, got {text!r}")
        return float(text)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{field_name} must be a duration like '5m', got {text!r}")
    s = text.strip()
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError(
            f"{field_name} must be a duration like '30s', '5m', '1h30m', '2d', got {text!r}"
        )
    return total


@dataclass(frozen=True)
class Matcher:
    """One label matcher of Alertmanager's syntax: ``name=value``, ``name!=value``,
    ``name=~regex``, ``name!~regex`` (regexes anchored at both ends)."""

    name: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str, where: str) -> Matcher:
        if not isinstance(text, str):
            raise ValueError(f"{where}: a matcher must be a string, got {text!r}")
        m = _MATCHER.match(text)
        if m is None:
            raise ValueError(
                f"{where}: matcher {text!r} is not name=value, name!=value, "
                "name=~regex or name!~regex"
            )
        value = m.group(3) if m.group(3) is not None else m.group(4)
        value = value.replace('\\"', '"').replace("\\\\", "\\")
        if m.group(2) in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{where}: bad regex in {text!r}: {exc}") from None
        return cls(m.group(1), m.group(2), value)

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether the label set satisfies the matcher (a missing label is "")."""
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = re.fullmatch(self.value, v) is not None
        return hit if self.op == "=~" else not hit


def _matchers(raw: Any, where: str) -> tuple[Matcher, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{where} must be a list of matcher strings, got {raw!r}")
    return tuple(Matcher.parse(x, where) for x in raw)


def matches_all(matchers: tuple[Matcher, ...], labels: dict[str, str]) -> bool:
    """Whether every matcher matches (True for none)."""
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True)
class Rule:
    """One alerting rule (a Prometheus rule on a perfstats analysis)."""

    alert: str
    kind: RuleKind
    metric: str = "latency_p95"
    every: str = "1h"
    by: tuple[str, ...] = ()
    op: str = ">"
    threshold: float | None = None
    for_seconds: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    side: str = "high"
    horizon: str = "7d"
    bound: str = "band"
    budget_period: Literal["day", "month"] = "day"
    level: float = 1.0
    prices: str | None = None
    sla_target_ms: float = 5000.0


@dataclass(frozen=True)
class Route:
    """A node of the routing tree; children inherit unset settings from parents."""

    receiver: str
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] = ("alertname",)
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    cont: bool = False
    escalate_after: float | None = None
    escalate_to: str | None = None
    routes: tuple[Route, ...] = ()
    path: str = "{}"


@dataclass(frozen=True)
class Integration:
    """One way a receiver delivers: a webhook, Slack, PagerDuty or email config."""

    type: str
    settings: dict[str, Any]
    send_resolved: bool = True


@dataclass(frozen=True)
class Receiver:
    name: str
    integrations: tuple[Integration, ...] = ()


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


@dataclass(frozen=True)
class Silence:
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    comment: str = ""
    created_by: str = ""

    def active(self, now: float) -> bool:
        """Whether the silence is in force at `now` (Unix seconds); expired after ends_at."""
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class DeliverySettings:
    """How hard one run tries a delivery: attempts, backoff between them, timeout."""

    attempts: int = 3
    backoff: float = 1.0
    max_backoff: float = 30.0
    timeout: float = 10.0


@dataclass(frozen=True)
class AlertsConfig:
    """A parsed alerts file (see :func:`load_config`)."""

    rules: tuple[Rule, ...]
    route: Route
    receivers: dict[str, Receiver]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    silences: tuple[Silence, ...] = ()
    state: Path = Path("perfstats-alerts.sqlite")
    external_url: str = ""
    delivery: DeliverySettings = DeliverySettings()
    source: str = "<mapping>"


def _toml_loads(text: str) -> dict[str, Any]:
    try:
        toml: Any = importlib.import_module("tomllib")
    except ImportError:  # pragma: no cover - Python 3.10
        from perfstats._optional import require

        toml = require("tomli", "reading TOML on Python 3.10")
    out: dict[str, Any] = toml.loads(text)
    return out


def _str_map(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a table of strings, got {raw!r}")
    out = {}
    for k, v in raw.items():
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise ValueError(f"{where}.{k} must be a string, got {v!r}")
        out[str(k)] = str(v)
    return out


def _check_keys(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(allowed))}"
        )


def _pandas_duration(text: Any, where: str) -> str:
    """A window or horizon as the analyses take it (a pandas duration: "5min", "1h")."""
    import pandas as pd

    try:
        # pandas 3 deprecates the unit "d" but not "D"
        spelled = (
            re.sub(r"(?<=\d)\s*d(?![a-z])", "D", text.strip())
            if isinstance(text, str)
            else ""
        )
        ok = bool(spelled) and pd.Timedelta(spelled) > pd.Timedelta(0)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{where} must be a positive duration like '5min' or '1h', got {text!r}"
        )
    return str(text)


_RULE_KEYS = {
    "alert", "kind", "metric", "every", "by", "op", "threshold", "for", "labels",
    "annotations", "side", "horizon", "bound", "budget_period", "level", "prices",
    "sla_target_ms",
}  # fmt: skip


def _rule(raw: Any, i: int, base: Path) -> Rule:
    where = f"rules[{i}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a table")
    _check_keys(raw, _RULE_KEYS, where)
    name = raw.get("alert")
    if not isinstance(name, str) or not _LABEL.match(name):
        raise ValueError(f"{where}.alert must be a name like HighLatency, got {name!r}")
    where = f"rules[{i}] ({name})"
    kind = raw.get("kind", "metric")
    if kind not in _KINDS:
        raise ValueError(
            f"{where}.kind must be one of {', '.join(_KINDS)}, got {kind!r}"
        )
    op = raw.get("op", ">")
    if op not in _OPS:
        raise ValueError(f"{where}.op must be one of {' '.join(_OPS)}, got {op!r}")
    threshold = raw.get("threshold")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ValueError(f"{where}.threshold must be a number, got {threshold!r}")
        if not math.isfinite(threshold):
            raise ValueError(f"{where}.threshold must be finite, got {threshold!r}")
        threshold = float(threshold)
    if kind in ("metric", "trend") and threshold is None:
        raise ValueError(f"{where}: a {kind} rule needs a threshold")
    by = raw.get("by", [])
    if isinstance(by, str):
        by = [by]
    if not isinstance(by, list) or not all(isinstance(b, str) for b in by):
        raise ValueError(f"{where}.by must be a column name or a list of them")
    side = raw.get("side", "high")
    if side not in ("high", "low", "both"):
        raise ValueError(f"{where}.side must be 'high', 'low' or 'both', got {side!r}")
    bound = raw.get("bound", "band")
    if bound not in ("band", "mean"):
        raise ValueError(f"{where}.bound must be 'band' or 'mean', got {bound!r}")
    period = raw.get("budget_period", "day")
    if period not in ("day", "month"):
        raise ValueError(
            f"{where}.budget_period must be 'day' or 'month', got {period!r}"
        )
    level = raw.get("level", 1.0)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not level > 0:
        raise ValueError(
            f"{where}.level must be a share > 0 (0.8 = 80 %), got {level!r}"
        )
    if kind == "budget" and threshold is None:
        raise ValueError(
            f"{where}: a budget rule needs threshold (USD per budget_period)"
        )
    prices = raw.get("prices")
    if prices is not None:
        if not isinstance(prices, str):
            raise ValueError(f"{where}.prices must be a file path, got {prices!r}")
        prices = str(base / prices)
    every = _pandas_duration(raw.get("every", "1h"), f"{where}.every")
    horizon = _pandas_duration(raw.get("horizon", "7d"), f"{where}.horizon")
    sla = raw.get("sla_target_ms", 5000.0)
    if isinstance(sla, bool) or not isinstance(sla, (int, float)) or not sla > 0:
        raise ValueError(f"{where}.sla_target_ms must be a number > 0, got {sla!r}")
    labels = _str_map(raw.get("labels"), f"{where}.labels")
    for k in labels:
        if not _LABEL.match(k):
            raise ValueError(f"{where}.labels: {k!r} is not a label name")
    metric = raw.get("metric", "latency_p95")
    if not isinstance(metric, str):
        raise ValueError(f"{where}.metric must be a metric name, got {metric!r}")
    return Rule(
        alert=name,
        kind=kind,
        metric=metric,
        every=every,
        by=tuple(by),
        op=op,
        threshold=threshold,
        for_seconds=parse_duration(raw.get("for", 0), f"{where}.for"),
        labels=labels,
        annotations=_str_map(raw.get("annotations"), f"{where}.annotations"),
        side=side,
        horizon=horizon,
        bound=bound,
        budget_period=period,
        level=float(level),
        prices=prices,
        sla_target_ms=float(sla),
    )


_ROUTE_KEYS = {
    "receiver", "matchers", "group_by", "group_wait", "group_interval",
    "repeat_interval", "continue", "routes", "escalate_after", "escalate_to",
}  # fmt: skip


def _route(raw: Any, where: str, parent: Route | None, path: str) -> Route:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a table")
    _check_keys(raw, _ROUTE_KEYS, where)
    matchers = _matchers(raw.get("matchers"), f"{where}.matchers")
    receiver = raw.get("receiver", parent.receiver if parent else None)
    if not isinstance(receiver, str):
        raise ValueError(f"{where}.receiver must name a receiver")
    group_by = raw.get("group_by")
    if group_by is None:
        gb = parent.group_by if parent else ("alertname",)
    elif isinstance(group_by, list) and all(isinstance(g, str) for g in group_by):
        gb = tuple(group_by)
    else:
        raise ValueError(f"{where}.group_by must be a list of label names (or ['...'])")

    def dur(key: str, default: float | None) -> float | None:
        if key in raw:
            return parse_duration(raw[key], f"{where}.{key}")
        return default

    node_path = path
    if matchers:
        node_path = (
            path + "/{" + ",".join(f"{m.name}{m.op}{m.value!r}" for m in matchers) + "}"
        )
    base = Route(
        receiver=receiver,
        matchers=matchers,
        group_by=gb,
        group_wait=dur("group_wait", parent.group_wait if parent else 30.0) or 0.0,
        group_interval=dur("group_interval", parent.group_interval if parent else 300.0)
        or 0.0,
        repeat_interval=dur(
            "repeat_interval", parent.repeat_interval if parent else 14400.0
        )
        or 0.0,
        cont=bool(raw.get("continue", False)),
        escalate_after=dur("escalate_after", parent.escalate_after if parent else None),
        escalate_to=raw.get("escalate_to", parent.escalate_to if parent else None),
        path=node_path,
    )
    if (base.escalate_after is None) != (base.escalate_to is None):
        raise ValueError(f"{where}: escalate_after and escalate_to go together")
    children = raw.get("routes", [])
    if not isinstance(children, list):
        raise ValueError(f"{where}.routes must be a list of tables")
    kids = tuple(
        _route(c, f"{where}.routes[{j}]", base, f"{node_path}/{j}")
        for j, c in enumerate(children)
    )
    return replace(base, routes=kids)


def _receivers(raw: Any) -> dict[str, Receiver]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("receivers must be a non-empty list of [[receivers]] tables")
    out: dict[str, Receiver] = {}
    for i, r in enumerate(raw):
        where = f"receivers[{i}]"
        if not isinstance(r, dict):
            raise ValueError(f"{where} must be a table")
        _check_keys(r, {"name", *_INTEGRATIONS}, where)
        name = r.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.name must be a non-empty string")
        if name in out:
            raise ValueError(f"{where}: receiver {name!r} is defined twice")
        integrations = []
        for key, typ in _INTEGRATIONS.items():
            configs = r.get(key, [])
            if not isinstance(configs, list):
                raise ValueError(f"{where}.{key} must be a list of tables")
            for j, c in enumerate(configs):
                iw = f"receivers[{i}] ({name}).{key}[{j}]"
                if not isinstance(c, dict):
                    raise ValueError(f"{iw} must be a table")
                from perfstats.alerts.receivers import check_settings

                check_settings(typ, c, iw)
                integrations.append(
                    Integration(typ, dict(c), bool(c.get("send_resolved", True)))
                )
        out[name] = Receiver(name, tuple(integrations))
    return out


def _timestamp(raw: Any, where: str) -> float:
    from datetime import datetime, timezone

    if isinstance(raw, datetime):
        dt = raw
    elif isinstance(raw, str):
        try:
            dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{where} must be an RFC 3339 time, got {raw!r}") from None
    else:
        raise ValueError(f"{where} must be an RFC 3339 time, got {raw!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _walk(route: Route) -> list[Route]:
    out = [route]
    for r in route.routes:
        out += _walk(r)
    return out


def config_from_mapping(doc: dict[str, Any], base: Path, source: str) -> AlertsConfig:
    """Build an :class:`AlertsConfig` from a parsed mapping (see :func:`load_config`);
    relative paths resolve against `base`."""
    _check_keys(
        doc,
        {
            "state",
            "external_url",
            "rules",
            "route",
            "receivers",
            "inhibit_rules",
            "silences",
            "delivery",
        },
        source,
    )
    rules_raw = doc.get("rules", [])
    if not isinstance(rules_raw, list):
        raise ValueError(f"{source}: rules must be a list of [[rules]] tables")
    rules = tuple(_rule(r, i, base) for i, r in enumerate(rules_raw))
    if "route" not in doc:
        raise ValueError(f"{source}: a [route] table is required")
    route = _route(doc["route"], "route", None, "{}")
    receivers = _receivers(doc.get("receivers"))
    for node in _walk(route):
        for name in (node.receiver, node.escalate_to):
            if name is not None and name not in receivers:
                raise ValueError(f"{source}: route names unknown receiver {name!r}")
    inhibit = []
    for i, r in enumerate(doc.get("inhibit_rules", [])):
        where = f"inhibit_rules[{i}]"
        if not isinstance(r, dict):
            raise ValueError(f"{where} must be a table")
        _check_keys(r, {"source_matchers", "target_matchers", "equal"}, where)
        equal = r.get("equal", [])
        if not isinstance(equal, list) or not all(isinstance(e, str) for e in equal):
            raise ValueError(f"{where}.equal must be a list of label names")
        inhibit.append(
            InhibitRule(
                _matchers(r.get("source_matchers"), f"{where}.source_matchers"),
                _matchers(r.get("target_matchers"), f"{where}.target_matchers"),
                tuple(equal),
            )
        )
    silences = []
    for i, s in enumerate(doc.get("silences", [])):
        where = f"silences[{i}]"
        if not isinstance(s, dict):
            raise ValueError(f"{where} must be a table")
        _check_keys(
            s, {"matchers", "starts_at", "ends_at", "comment", "created_by"}, where
        )
        ms = _matchers(s.get("matchers"), f"{where}.matchers")
        if not ms:
            raise ValueError(f"{where}: a silence needs at least one matcher")
        if "ends_at" not in s:
            raise ValueError(f"{where}: a silence needs ends_at (silences expire)")
        start = (
            _timestamp(s["starts_at"], f"{where}.starts_at")
            if "starts_at" in s
            else 0.0
        )
        silences.append(
            Silence(
                ms,
                start,
                _timestamp(s["ends_at"], f"{where}.ends_at"),
                str(s.get("comment", "")),
                str(s.get("created_by", "")),
            )
        )
    delivery_raw = doc.get("delivery", {})
    if not isinstance(delivery_raw, dict):
        raise ValueError(f"{source}: delivery must be a table")
    _check_keys(
        delivery_raw, {"attempts", "backoff", "max_backoff", "timeout"}, "delivery"
    )
    attempts = delivery_raw.get("attempts", 3)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"delivery.attempts must be an integer >= 1, got {attempts!r}")
    delivery = DeliverySettings(
        attempts=attempts,
        backoff=parse_duration(delivery_raw.get("backoff", 1.0), "delivery.backoff"),
        max_backoff=parse_duration(
            delivery_raw.get("max_backoff", 30.0), "delivery.max_backoff"
        ),
        timeout=parse_duration(delivery_raw.get("timeout", 10.0), "delivery.timeout"),
    )
    state = doc.get("state", "perfstats-alerts.sqlite")
    if not isinstance(state, str) or not state:
        raise ValueError(f"{source}: state must be a file path")
    external = doc.get("external_url", "")
    if not isinstance(external, str):
        raise ValueError(f"{source}: external_url must be a string")
    return AlertsConfig(
        rules=rules,
        route=route,
        receivers=receivers,
        inhibit_rules=tuple(inhibit),
        silences=tuple(silences),
        state=(base / os.path.expanduser(state)),
        external_url=external,
        delivery=delivery,
        source=source,
    )


def load_config(path: str | os.PathLike[str]) -> AlertsConfig:
    """Read an alerts file (TOML): rules, route, receivers, inhibition, silences.

    Parameters
    ----------
    path : str or path-like
        The TOML file. Relative paths in it (``state``, a rule's ``prices``) are
        relative to the file's folder.

    Returns
    -------
    AlertsConfig

    Raises
    ------
    ValueError
        For a malformed file, naming the file and the offending table and key.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> text = '''
    ... state = "state.sqlite"
    ... [[rules]]
    ... alert = "SlowP95"
    ... metric = "latency_p95"
    ... threshold = 800
    ... for = "10m"
    ... labels = { severity = "page" }
    ... [route]
    ... receiver = "team"
    ... [[receivers]]
    ... name = "team"
    ... [[receivers.webhook_configs]]
    ... url = "http://127.0.0.1:9/hook"
    ... '''
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "alerts.toml"
    ...     _ = p.write_text(text)
    ...     cfg = load_config(p)
    >>> cfg.rules[0].for_seconds, cfg.route.group_wait, cfg.state.name
    (600.0, 30.0, 'state.sqlite')
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"no such alerts file: {p}") from None
    try:
        doc = _toml_loads(text)
    except ValueError as exc:
        raise ValueError(f"{p}: not valid TOML: {exc}") from None
    try:
        return config_from_mapping(doc, p.resolve().parent, str(p))
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(str(p)) else f"{p}: {msg}") from None
