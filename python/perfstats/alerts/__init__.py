"""Alerts on perfstats analyses, delivered with Alertmanager's semantics.

Rules (TOML) on any metric :func:`perfstats.metric_series` gives, on
:func:`perfstats.anomalies`, on budgets (:func:`perfstats.costs`) and on trend
crossings (:func:`perfstats.trend`), with severity, labels, annotations and a `for`
duration; a routing tree with grouping, `group_wait`, `group_interval`,
`repeat_interval`, resolved notifications, inhibition, silences and escalation of
unacknowledged alerts; webhook (Alertmanager version 4 payload), Slack, PagerDuty
Events v2 and email receivers; a SQLite state file so a cron job notifies once.
"""

from __future__ import annotations

from perfstats.alerts.config import (
    AlertsConfig,
    DeliverySettings,
    InhibitRule,
    Integration,
    Matcher,
    Receiver,
    Route,
    Rule,
    Silence,
    config_from_mapping,
    load_config,
    parse_duration,
)
from perfstats.alerts.engine import (
    AlertRun,
    acknowledge,
    add_silence,
    alert_status,
    fingerprint,
    run_alerts,
    silences,
)
from perfstats.alerts.receivers import DeliveryError, webhook_payload
from perfstats.alerts.rules import (
    Sample,
    evaluate_rule,
    evaluate_rules,
    render_template,
)
from perfstats.alerts.state import StateCorruptError, StateLockedError

__all__ = [
    "AlertRun",
    "AlertsConfig",
    "DeliveryError",
    "DeliverySettings",
    "InhibitRule",
    "Integration",
    "Matcher",
    "Receiver",
    "Route",
    "Rule",
    "Sample",
    "Silence",
    "StateCorruptError",
    "StateLockedError",
    "acknowledge",
    "add_silence",
    "alert_status",
    "config_from_mapping",
    "evaluate_rule",
    "evaluate_rules",
    "fingerprint",
    "load_config",
    "parse_duration",
    "render_template",
    "run_alerts",
    "silences",
    "webhook_payload",
]
