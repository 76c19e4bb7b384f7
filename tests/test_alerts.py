"""perfstats.alerts against real servers on 127.0.0.1: Alertmanager's delivery
semantics (grouping, timers, resolve, inhibition, silences), escalation, retries,
the SQLite state across cron runs (locking, corruption, a crash between send and
record), and secrets kept out of every output. Time is injected (`now`); no test
sleeps more than a second."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from alerts_servers import MailRecorder, Recorder, free_port, self_signed

from perfstats.alerts import (
    Sample,
    StateCorruptError,
    acknowledge,
    alert_status,
    config_from_mapping,
    evaluate_rule,
    load_config,
    parse_duration,
    run_alerts,
)
from perfstats.alerts.config import Rule

ROOT = Path(__file__).resolve().parents[1]
MIN = 60.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def http() -> Any:
    server = Recorder()
    yield server
    server.close()


def make_config(
    tmp_path: Path, receivers: list[dict[str, Any]], route: dict[str, Any], **extra: Any
) -> Any:
    doc = {
        "state": "state.sqlite",
        "external_url": "http://perfstats.test",
        "delivery": {"attempts": 3, "backoff": 0.01, "timeout": 0.3},
        "route": route,
        "receivers": receivers,
        **extra,
    }
    return config_from_mapping(doc, tmp_path, "test config")


def hook(url: str, **kw: Any) -> dict[str, Any]:
    return {"name": "hook", "webhook_configs": [{"url": url, **kw}]}


def alert(name: str, **labels: str) -> Sample:
    return Sample(
        name, {"alertname": name, **labels}, {"summary": f"{name} is bad"}, 1.0
    )


NOW_ROUTE = {
    "receiver": "hook",
    "group_wait": "0s",
    "group_interval": "5m",
    "repeat_interval": "1h",
}


# --- configuration --------------------------------------------------------------------


def test_durations_and_config_errors_name_the_field(tmp_path: Path) -> None:
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("250ms") == 0.25
    with pytest.raises(ValueError, match=r"route\.group_wait"):
        make_config(
            tmp_path, [hook("http://x")], {"receiver": "hook", "group_wait": "soon"}
        )
    with pytest.raises(ValueError, match="unknown receiver 'nobody'"):
        make_config(tmp_path, [hook("http://x")], {"receiver": "nobody"})
    with pytest.raises(ValueError, match=r"route.routes\[0\].matchers"):
        make_config(
            tmp_path,
            [hook("http://x")],
            {"receiver": "hook", "routes": [{"matchers": ["sev~x"]}]},
        )
    with pytest.raises(
        ValueError, match=r"receivers\[0\] \(hook\).webhook_configs\[0\]: unknown key"
    ):
        make_config(tmp_path, [hook("http://x", secret="s")], {"receiver": "hook"})
    with pytest.raises(
        ValueError, match=r"rules\[0\] \(Slow\): a metric rule needs a threshold"
    ):
        make_config(
            tmp_path,
            [hook("http://x")],
            {"receiver": "hook"},
            rules=[{"alert": "Slow"}],
        )
    with pytest.raises(ValueError, match=r"webhook_configs\[0\]\.url must be an http"):
        make_config(tmp_path, [hook("ftp://x")], {"receiver": "hook"})
    with pytest.raises(ValueError, match="ends_at"):
        make_config(
            tmp_path,
            [hook("http://x")],
            {"receiver": "hook"},
            silences=[{"matchers": ["a=b"]}],
        )


def test_example_file_loads_and_routes() -> None:
    cfg = load_config(ROOT / "examples" / "alerts.toml")
    assert {r.kind for r in cfg.rules} == {"metric", "anomaly", "budget", "trend"}
    assert set(cfg.receivers) == {
        "team-webhook",
        "oncall-slack",
        "pager",
        "finops-mail",
    }
    assert cfg.route.routes[0].escalate_to == "pager"


# --- first firing, for, grouping, repeat, resolve ---------------------------------


def test_first_firing_sends_alertmanager_v4_payload_once(
    tmp_path: Path, http: Recorder
) -> None:
    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    run = run_alerts(
        cfg, samples=[alert("Slow", endpoint="/chat", severity="page")], now=T0
    )
    assert run.sent == 1 and run.ok
    (body,) = http.bodies()
    assert list(body) == [
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
        "commonLabels", "commonAnnotations", "externalURL", "alerts",
    ]  # fmt: skip
    assert (
        body["version"] == "4"
        and body["status"] == "firing"
        and body["receiver"] == "hook"
    )
    assert body["groupLabels"] == {"alertname": "Slow"}
    assert body["commonLabels"] == {
        "alertname": "Slow",
        "endpoint": "/chat",
        "severity": "page",
    }
    assert (
        body["truncatedAlerts"] == 0 and body["externalURL"] == "http://perfstats.test"
    )
    (a,) = body["alerts"]
    assert list(a) == [
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    ]
    assert (
        a["startsAt"].startswith("2026-01-01T00:00:00")
        and a["endsAt"] == "0001-01-01T00:00:00Z"
    )
    assert a["annotations"] == {"summary": "Slow is bad"}
    # The same run again, and the next minutes: nothing new to say.
    for k in range(5):
        run_alerts(
            cfg,
            samples=[alert("Slow", endpoint="/chat", severity="page")],
            now=T0 + k * MIN,
        )
    assert len(http.accepted) == 1


def test_for_keeps_an_alert_pending(tmp_path: Path, http: Recorder) -> None:
    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    cfg = type(cfg)(
        **{
            **cfg.__dict__,
            "rules": (Rule("Slow", "metric", threshold=1.0, for_seconds=600),),
        }
    )
    s = [alert("Slow")]
    for k in range(10):
        run = run_alerts(cfg, samples=s, now=T0 + k * MIN)
        assert [a["state"] for a in run.alerts] == ["pending"]
    assert http.accepted == []
    run = run_alerts(cfg, samples=s, now=T0 + 10 * MIN)
    assert [a["state"] for a in run.alerts] == ["firing"] and len(http.accepted) == 1
    # A pending alert that goes away never notifies.
    run_alerts(
        cfg, samples=[alert("Slow"), alert("Slow", endpoint="/x")], now=T0 + 11 * MIN
    )
    run_alerts(cfg, samples=[alert("Slow")], now=T0 + 12 * MIN)
    assert len(http.accepted) == 1


def test_grouping_and_group_wait(tmp_path: Path, http: Recorder) -> None:
    route = {**NOW_ROUTE, "group_wait": "30s", "group_by": ["alertname"]}
    cfg = make_config(tmp_path, [hook(http.url())], route)
    s = [
        alert("Slow", endpoint="/a"),
        alert("Slow", endpoint="/b"),
        alert("Errors", endpoint="/a"),
    ]
    run_alerts(cfg, samples=s, now=T0)
    assert http.accepted == []  # group_wait
    run_alerts(cfg, samples=s, now=T0 + 30)
    groups = {b["groupLabels"]["alertname"]: b for b in http.bodies()}
    assert set(groups) == {"Slow", "Errors"}
    assert sorted(a["labels"]["endpoint"] for a in groups["Slow"]["alerts"]) == [
        "/a",
        "/b",
    ]
    assert groups["Slow"]["commonLabels"] == {"alertname": "Slow"}
    # A new alert joins the group: sent at the next group_interval, not before.
    s.append(alert("Slow", endpoint="/c"))
    run_alerts(cfg, samples=s, now=T0 + 60)
    assert len(http.accepted) == 2
    run_alerts(cfg, samples=s, now=T0 + 30 + 300)
    assert len(http.accepted) == 3 and len(http.bodies()[-1]["alerts"]) == 3


def test_repeat_across_runs_and_resolve(tmp_path: Path, http: Recorder) -> None:
    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    s = [alert("Slow")]
    for k in range(0, 151):  # a cron job every minute for 2.5 hours
        run_alerts(cfg, samples=s, now=T0 + k * MIN)
    assert len(http.accepted) == 3  # at 0, 60 and 120 minutes (repeat_interval 1h)
    run_alerts(cfg, samples=[], now=T0 + 151 * MIN)
    assert len(http.accepted) == 4
    last = http.bodies()[-1]
    assert last["status"] == "resolved" and last["alerts"][0]["status"] == "resolved"
    assert last["alerts"][0]["endsAt"].startswith("2026-01-01T02:31:00")
    for k in range(152, 400, 7):
        run_alerts(cfg, samples=[], now=T0 + k * MIN)
    assert len(http.accepted) == 4
    assert alert_status(cfg) == []


def test_send_resolved_false(tmp_path: Path, http: Recorder) -> None:
    cfg = make_config(tmp_path, [hook(http.url(), send_resolved=False)], NOW_ROUTE)
    run_alerts(cfg, samples=[alert("Slow")], now=T0)
    run_alerts(cfg, samples=[], now=T0 + MIN)
    assert [b["status"] for b in http.bodies()] == ["firing"]


def test_routing_tree_continue_and_matchers(tmp_path: Path, http: Recorder) -> None:
    receivers = [
        {"name": name, "webhook_configs": [{"url": http.url("/" + name)}]}
        for name in ("default", "db", "page", "web")
    ]
    route = {
        **NOW_ROUTE,
        "receiver": "default",
        "routes": [
            {"matchers": ['service=~"db|cache"'], "receiver": "db", "routes": [
                {"matchers": ["severity=critical"], "receiver": "page", "continue": True},
                {"matchers": ["severity!=info"], "receiver": "web"},
            ]},
            {"matchers": ["service=web"], "receiver": "web"},
        ],
    }  # fmt: skip
    cfg = make_config(tmp_path, receivers, route)
    s = [
        alert("A", service="db", severity="critical"),  # page, then continue -> web
        alert("B", service="cache", severity="info"),  # no child matches -> db
        alert("C", service="web"),  # web
        alert("D", service="other"),  # default
    ]
    run_alerts(cfg, samples=s, now=T0)
    got = sorted(
        (r["path"], r["body"]["groupLabels"]["alertname"]) for r in http.accepted
    )
    assert got == [
        ("/db", "B"),
        ("/default", "D"),
        ("/page", "A"),
        ("/web", "A"),
        ("/web", "C"),
    ]


# --- inhibition, silences, escalation ---------------------------------------------


def test_inhibition(tmp_path: Path, http: Recorder) -> None:
    cfg = make_config(
        tmp_path, [hook(http.url())], {**NOW_ROUTE, "group_by": ["alertname", "severity"]},
        inhibit_rules=[{
            "source_matchers": ["severity=critical"],
            "target_matchers": ["severity=warning"],
            "equal": ["endpoint"],
        }],
    )  # fmt: skip
    crit = alert("Slow", endpoint="/a", severity="critical")
    warn_a = alert("Slower", endpoint="/a", severity="warning")
    warn_b = alert("Slower", endpoint="/b", severity="warning")
    run = run_alerts(cfg, samples=[crit, warn_a, warn_b], now=T0)
    sent = {
        (a["labels"]["alertname"], a["labels"]["endpoint"])
        for b in http.bodies()
        for a in b["alerts"]
    }
    assert sent == {("Slow", "/a"), ("Slower", "/b")}  # /a's warning is inhibited
    assert [
        a["muted"]
        for a in run.alerts
        if a["labels"]["endpoint"] == "/a" and a["labels"]["severity"] == "warning"
    ] == [True]
    # The critical alert resolves: the warning is no longer inhibited and goes out.
    run_alerts(cfg, samples=[warn_a, warn_b], now=T0 + 10 * MIN)
    last = [b for b in http.bodies() if b["groupLabels"].get("alertname") == "Slower"][
        -1
    ]
    assert sorted(a["labels"]["endpoint"] for a in last["alerts"]) == ["/a", "/b"]


def test_silence_expires(tmp_path: Path, http: Recorder) -> None:
    cfg = make_config(
        tmp_path, [hook(http.url())], NOW_ROUTE,
        silences=[{"matchers": ['endpoint="/batch"'], "starts_at": "2026-01-01T00:00:00Z",
                   "ends_at": "2026-01-01T01:00:00Z", "comment": "maintenance"}],
    )  # fmt: skip
    s = [alert("Slow", endpoint="/batch")]
    for k in range(60):
        run = run_alerts(cfg, samples=s, now=T0 + k * MIN)
    assert http.accepted == [] and run.alerts[0]["muted"]
    run_alerts(cfg, samples=s, now=T0 + 60 * MIN)  # the silence has expired
    assert len(http.accepted) == 1


def test_escalation_to_pagerduty_and_acknowledgement(
    tmp_path: Path, http: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_KEY", "pd-routing-key-123")
    receivers = [
        {
            "name": "slack",
            "slack_configs": [{"url": http.url("/slack"), "channel": "#ops"}],
        },
        {
            "name": "pager",
            "pagerduty_configs": [
                {"url": http.url("/pd"), "routing_key_env": "PD_KEY"}
            ],
        },
    ]
    route = {**NOW_ROUTE, "receiver": "slack", "group_by": ["alertname", "endpoint"],
             "escalate_after": "30m", "escalate_to": "pager"}  # fmt: skip
    cfg = make_config(tmp_path, receivers, route)
    s = [
        alert("Slow", endpoint="/a", severity="critical"),
        alert("Slow", endpoint="/b", severity="critical"),
    ]
    run_alerts(cfg, samples=s, now=T0)
    assert [r["path"] for r in http.accepted] == ["/slack", "/slack"]
    assert http.bodies("/slack")[0]["text"].startswith("[FIRING:1] Slow")
    # /b is acknowledged: only /a escalates after 30 minutes.
    assert (
        acknowledge(cfg, ["Slow", 'endpoint="/b"'], by="alice", now=T0 + 10 * MIN) != []
    )
    for k in range(11, 31):
        run_alerts(cfg, samples=s, now=T0 + k * MIN)
    (pd_trigger,) = http.bodies("/pd")
    assert (
        pd_trigger["event_action"] == "trigger"
        and pd_trigger["routing_key"] == "pd-routing-key-123"
    )
    assert (
        pd_trigger["payload"]["severity"] == "critical"
        and "/a" in pd_trigger["payload"]["custom_details"]["firing"]
    )
    assert "/b" not in pd_trigger["payload"]["custom_details"]["firing"]
    run_alerts(cfg, samples=[], now=T0 + 40 * MIN)
    pd = http.bodies("/pd")
    assert [b["event_action"] for b in pd] == ["trigger", "resolve"]
    assert pd[0]["dedup_key"] == pd[1]["dedup_key"]


# --- receivers --------------------------------------------------------------------


def test_email_over_smtp_with_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PW", "hunter2-secret")
    mail = MailRecorder(password="hunter2-secret")
    try:
        receivers = [{"name": "mail", "email_configs": [{
            "to": ["ops@example.com", "dev@example.com"], "from": "perfstats@example.com",
            "smarthost": f"127.0.0.1:{mail.port}", "auth_username": "perfstats",
            "auth_password_env": "SMTP_PW",
        }]}]  # fmt: skip
        cfg = make_config(tmp_path, receivers, {**NOW_ROUTE, "receiver": "mail"})
        run = run_alerts(cfg, samples=[alert("Slow", endpoint="/chat")], now=T0)
        assert run.sent == 1, run.notifications
        (msg,) = mail.messages
        assert (
            msg["Subject"] == "[FIRING:1] Slow"
            and msg["To"] == "ops@example.com, dev@example.com"
        )
        assert "endpoint=/chat" in msg.get_payload() and mail.logins == ["perfstats"]
        # The mail server is gone: the resolved mail waits for the next run.
        mail.close()
        run = run_alerts(cfg, samples=[], now=T0 + 5 * MIN, sleep=lambda s: None)
        assert run.notifications[0]["status"] == "pending"
        assert "SMTP failed" in run.notifications[0]["error"]
        assert "hunter2-secret" not in repr(run)
    finally:
        mail.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_email_starttls_verifies_the_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    monkeypatch.setenv("SMTP_PW", "tls-only-secret")
    mail = MailRecorder(password="tls-only-secret", tls=server_ctx)
    try:
        conf = {"to": "ops@example.com", "from": "p@example.com", "smarthost": f"127.0.0.1:{mail.port}",
                "require_tls": True, "auth_username": "perfstats", "auth_password_env": "SMTP_PW"}  # fmt: skip
        receivers = [
            {"name": "trusted", "email_configs": [{**conf, "tls_ca_file": str(cert)}]},
            {"name": "untrusted", "email_configs": [conf]},
        ]
        route = {
            **NOW_ROUTE,
            "receiver": "trusted",
            "routes": [{"matchers": ["x=1"], "receiver": "untrusted"}],
        }
        cfg = make_config(tmp_path, receivers, route)
        run = run_alerts(
            cfg, samples=[alert("A"), alert("B", x="1")], now=T0, sleep=lambda s: None
        )
        status = {n["receiver"]: (n["status"], n["error"]) for n in run.notifications}
        assert status["trusted"] == ("sent", None)
        assert status["untrusted"][0] == "failed", status
        assert "STARTTLS" in status["untrusted"][1]
        assert [m["Subject"] for m in mail.messages] == [
            "[FIRING:1] A"
        ] and mail.logins == ["perfstats"]
    finally:
        mail.close()


# --- delivery failures --------------------------------------------------------------


def test_500_then_200_retries_within_the_run(tmp_path: Path, http: Recorder) -> None:
    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    http.script.extend([500, 503])
    waits: list[float] = []
    run = run_alerts(cfg, samples=[alert("Slow")], now=T0, sleep=waits.append)
    assert (
        run.notifications[0]["status"] == "sent"
        and run.notifications[0]["attempts"] == 3
    )
    assert waits == [0.01, 0.02]  # exponential backoff
    assert len(http.seen) == 3 and len(http.accepted) == 1


def test_timeout_is_kept_and_retried_next_run(tmp_path: Path, http: Recorder) -> None:
    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    http.script.extend([("hang", 0.5)] * 3)
    run = run_alerts(cfg, samples=[alert("Slow")], now=T0, sleep=lambda s: None)
    (n,) = run.notifications
    assert n["status"] == "pending" and "timed out" in n["error"] and not run.ok
    assert http.accepted == []
    run = run_alerts(cfg, samples=[alert("Slow")], now=T0 + MIN)
    assert [n["status"] for n in run.notifications] == ["sent"]
    assert len(http.accepted) == 1
    run_alerts(cfg, samples=[alert("Slow")], now=T0 + 2 * MIN)
    assert len(http.accepted) == 1


def test_refused_connection_is_kept_until_the_receiver_is_back(tmp_path: Path) -> None:
    port = free_port()
    cfg = make_config(tmp_path, [hook(f"http://127.0.0.1:{port}/hook")], NOW_ROUTE)
    run = run_alerts(cfg, samples=[alert("Slow")], now=T0, sleep=lambda s: None)
    assert run.notifications[0]["status"] == "pending"
    assert "connection failed" in run.notifications[0]["error"]
    # The alert resolves while the receiver is down: both notifications wait, in order.
    run = run_alerts(cfg, samples=[], now=T0 + 10 * MIN, sleep=lambda s: None)
    assert [n["status"] for n in run.notifications] == ["pending", "pending"]
    assert run.notifications[1]["attempts"] == 0  # receiver known down: not tried again
    server = Recorder(port)
    try:
        run = run_alerts(cfg, samples=[], now=T0 + 11 * MIN)
        assert [b["status"] for b in server.bodies()] == ["firing", "resolved"]
        run_alerts(cfg, samples=[], now=T0 + 12 * MIN)
        assert len(server.accepted) == 2
    finally:
        server.close()


def test_client_error_is_not_retried(tmp_path: Path, http: Recorder) -> None:
    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    http.script.append(400)
    run = run_alerts(cfg, samples=[alert("Slow")], now=T0, sleep=lambda s: None)
    assert (
        run.notifications[0]["status"] == "failed"
        and run.notifications[0]["attempts"] == 1
    )
    run = run_alerts(cfg, samples=[alert("Slow")], now=T0 + MIN)
    assert run.notifications == [] and len(http.seen) == 1


def test_secrets_never_appear_in_output_errors_or_state(
    tmp_path: Path, http: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    secrets = {
        "SLACK_URL": f"http://127.0.0.1:{port}/services/T000/B000/XXXXsecretXXXX",
        "PD_KEY": "R0UT1NGK3Ysecret",
        "HOOK_TOKEN": "bearer-secret-token",
    }
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    receivers = [
        {"name": "slack", "slack_configs": [{"url_env": "SLACK_URL"}]},
        {
            "name": "pd",
            "pagerduty_configs": [
                {"url": http.url("/pd"), "routing_key_env": "PD_KEY"}
            ],
        },
        {
            "name": "hook",
            "webhook_configs": [
                {"url": http.url("/hook"), "bearer_token_env": "HOOK_TOKEN"}
            ],
        },
    ]
    route = {**NOW_ROUTE, "receiver": "hook", "routes": [
        {"matchers": ["to=slack"], "receiver": "slack"},
        {"matchers": ["to=pd"], "receiver": "pd"},
    ]}  # fmt: skip
    cfg = make_config(tmp_path, receivers, route)
    http.script.extend([500] * 6)
    s = [alert("A", to="slack"), alert("B", to="pd"), alert("C", to="hook")]
    run = run_alerts(cfg, samples=s, now=T0, sleep=lambda s: None)
    assert {n["status"] for n in run.notifications} == {"pending"}
    dry = run_alerts(cfg, samples=s, now=T0 + MIN, dry_run=True)
    shown = "\n".join(dry.lines(bodies=True))
    assert '"routing_key": "<$PD_KEY>"' in shown and '"url": "<$SLACK_URL>"' in shown
    texts = [repr(run), json.dumps(run.to_dict()), shown]
    texts += [str(n["error"]) for n in run.notifications]
    texts.append((tmp_path / "state.sqlite").read_bytes().decode("latin-1"))
    monkeypatch.delenv("PD_KEY")
    run = run_alerts(cfg, samples=s, now=T0 + 2 * MIN, sleep=lambda s: None)
    texts += [repr(run), json.dumps(run.to_dict())]
    assert any("PD_KEY" in t and "not set" in t for t in texts)
    for text in texts:
        for value in secrets.values():
            assert value not in text
    # The hook got its bearer token once it answered 200.
    assert http.accepted[0]["headers"]["Authorization"] == "Bearer bearer-secret-token"


# --- state across runs ----------------------------------------------------------------


def test_dry_run_changes_and_sends_nothing(tmp_path: Path, http: Recorder) -> None:
    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    run = run_alerts(cfg, samples=[alert("Slow")], now=T0, dry_run=True)
    assert [n["status"] for n in run.notifications] == ["would send"]
    assert run.notifications[0]["body"]["alerts"][0]["labels"] == {"alertname": "Slow"}
    assert http.seen == [] and not (tmp_path / "state.sqlite").exists()
    run_alerts(cfg, samples=[alert("Slow")], now=T0)
    run = run_alerts(cfg, samples=[], now=T0 + 5 * MIN, dry_run=True)
    assert [n["body"]["status"] for n in run.notifications] == ["resolved"]
    assert [a["state"] for a in alert_status(cfg)] == ["firing"]  # unchanged
    assert len(http.accepted) == 1


def test_corrupted_state_file_is_moved_aside_not_reset(
    tmp_path: Path, http: Recorder
) -> None:
    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    run_alerts(cfg, samples=[alert("Slow")], now=T0)
    state = tmp_path / "state.sqlite"
    data = bytearray(state.read_bytes())
    data[:100] = b"garbage!" * 12 + b"gggg"
    state.write_bytes(bytes(data))
    with pytest.raises(StateCorruptError, match="corrupted") as info:
        run_alerts(cfg, samples=[alert("Slow")], now=T0 + MIN)
    (kept,) = tmp_path.glob("state.sqlite.corrupt-*Z")
    assert kept.read_bytes() == bytes(data) and str(kept) in str(info.value)
    assert not state.exists() and len(http.accepted) == 1
    # A non-alerts SQLite file is refused too.
    import sqlite3

    with sqlite3.connect(state) as other:
        other.execute("CREATE TABLE t (x)")
    with pytest.raises(StateCorruptError, match="no perfstats alerts tables"):
        run_alerts(cfg, samples=[], now=T0 + 2 * MIN)


_CHILD = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {tests!r})
    from perfstats.alerts import Sample, config_from_mapping, run_alerts
    from perfstats.alerts import engine
    cfg = config_from_mapping(json.loads({doc!r}), __import__("pathlib").Path({base!r}), "child")
    if {crash!r}:
        real = engine._mark
        def crash(db, seq, status, attempts, error, t):
            if status == "sent":
                os._exit(3)  # the receiver has it; the state does not know
            real(db, seq, status, attempts, error, t)
        engine._mark = crash
    run = run_alerts(cfg, samples=[Sample("Slow", {{"alertname": "Slow"}})], now={now!r})
    print(json.dumps({{"skipped": run.skipped, "sent": run.sent}}))
    """
)


def _child(
    tmp_path: Path, doc: dict[str, Any], *, crash: bool = False, now: float = T0
) -> subprocess.Popen[str]:
    code = _CHILD.format(
        tests=str(Path(__file__).parent),
        doc=json.dumps(doc),
        base=str(tmp_path),
        crash=crash,
        now=now,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _doc(url: str) -> dict[str, Any]:
    return {
        "state": "state.sqlite",
        "delivery": {"attempts": 1, "timeout": 2},
        "route": NOW_ROUTE,
        "receivers": [hook(url)],
    }


def test_two_concurrent_runs_send_once(tmp_path: Path, http: Recorder) -> None:
    http.delay = 0.6  # the first run is still sending when the second starts
    procs = [_child(tmp_path, _doc(http.url())) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outs.append(json.loads(out))
    assert sorted(o["sent"] for o in outs) == [0, 1]
    assert len(http.accepted) == 1


def test_crash_between_send_and_record_resends_with_the_same_id(
    tmp_path: Path, http: Recorder
) -> None:
    p = _child(tmp_path, _doc(http.url()), crash=True)
    p.communicate(timeout=60)
    assert p.returncode == 3 and len(http.accepted) == 1
    # The next run does not know it was sent: at least once, with the same id.
    cfg = config_from_mapping(_doc(http.url()), tmp_path, "parent")
    run = run_alerts(cfg, samples=[alert("Slow")], now=T0 + MIN)
    assert run.sent == 1 and len(http.accepted) == 2
    ids = [r["headers"]["X-Perfstats-Notification-Id"] for r in http.accepted]
    assert ids[0] == ids[1]
    run_alerts(cfg, samples=[alert("Slow")], now=T0 + 2 * MIN)
    assert len(http.accepted) == 2


# --- rules on real analyses -------------------------------------------------------------


def _events(hours: int = 48, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2026-01-01", periods=hours * 60, freq="min", tz="UTC")
    return pd.DataFrame({
        "timestamp": np.concatenate([ts, ts]),
        "endpoint": ["/fast"] * len(ts) + ["/slow"] * len(ts),
        "latency_ms": np.concatenate([rng.lognormal(np.log(100), 0.2, len(ts)),
                                      rng.lognormal(np.log(900), 0.2, len(ts))]),
    })  # fmt: skip


def test_metric_rule_per_group_matches_metric_series() -> None:
    from perfstats import metric_series

    ev = _events()
    rule = Rule("SlowP95", "metric", metric="latency_p95", every="1h", by=("endpoint",),
                threshold=500.0, labels={"severity": "page"},
                annotations={"summary": "{{ $labels.endpoint }} p95 {{ $value }} ms"})  # fmt: skip
    (s,) = evaluate_rule(rule, ev)
    want = metric_series(ev[ev.endpoint == "/slow"], "latency_p95", every="1h").iloc[-1]
    assert s.labels == {"endpoint": "/slow", "severity": "page", "alertname": "SlowP95"}
    assert (
        s.value == pytest.approx(want)
        and s.annotations["summary"] == f"/slow p95 {want:.4g} ms"
    )
    low = Rule("Fast", "metric", by=("endpoint",), op="<", threshold=500.0)
    assert [x.labels["endpoint"] for x in evaluate_rule(low, ev)] == ["/fast"]


def test_anomaly_rule_fires_on_an_open_incident_only() -> None:
    ev = _events(hours=24 * 9, seed=1)
    ev = ev[ev.endpoint == "/fast"].copy()
    rule = Rule("Anomalous", "anomaly", metric="latency_p95", every="1h", side="high")
    assert evaluate_rule(rule, ev) == []
    last = ev.timestamp >= ev.timestamp.max() - pd.Timedelta("59min")
    ev.loc[last, "latency_ms"] *= 3
    (s,) = evaluate_rule(rule, ev)
    assert s.value > 3
    assert evaluate_rule(Rule("Low", "anomaly", every="1h", side="low"), ev) == []


def test_budget_and_trend_rules() -> None:
    ts = pd.date_range("2026-01-01", periods=24 * 30, freq="h", tz="UTC")
    ev = pd.DataFrame({"timestamp": ts, "model": "gpt-4o", "input_tokens": 100_000, "output_tokens": 0,
                       "latency_ms": 400.0 * (1 + 0.05 * np.arange(len(ts)) / 24)
                       * np.random.default_rng(2).lognormal(0, 0.05, len(ts))})  # fmt: skip
    # 24 x 0.25 USD = 6 USD a day
    assert evaluate_rule(Rule("Spend", "budget", threshold=10.0, level=0.5), ev)[
        0
    ].value == pytest.approx(0.6)
    assert evaluate_rule(Rule("Spend", "budget", threshold=10.0, level=0.8), ev) == []
    # latency grows 5 %/day from 400 ms: about 1000 ms on day 30, 1200 ms a few days later
    # (the p95 reaches 1200 ms near day 35 on the true curve)
    rule = Rule("WillCross", "trend", metric="latency_p95", every="1d", threshold=1200.0,
                horizon="14d", bound="mean")  # fmt: skip
    (s,) = evaluate_rule(rule, ev)
    assert 1 < s.value < 14
    (band,) = evaluate_rule(
        Rule("Band", "trend", every="1d", threshold=1200.0, horizon="14d"), ev
    )
    assert band.value <= s.value  # the band reaches it no later than the mean
    assert (
        evaluate_rule(
            Rule("Never", "trend", every="1d", threshold=1e6, horizon="14d"), ev
        )
        == []
    )


def test_rule_error_keeps_the_alert_state(tmp_path: Path, http: Recorder) -> None:
    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    run_alerts(cfg, samples=[alert("Slow")], now=T0)
    run = run_alerts(cfg, samples=[], rule_errors={"Slow": "no data"}, now=T0 + MIN)
    assert [a["state"] for a in run.alerts] == ["firing"] and not run.ok
    assert len(http.accepted) == 1


# --- command line -------------------------------------------------------------------------


def test_cli_alert_run_ack_status(
    tmp_path: Path,
    http: Recorder,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from perfstats.cli import main

    text = (ROOT / "examples" / "alerts.toml").read_text()
    text = text.replace("http://127.0.0.1:9093/hook", http.url("/hook"))
    text = text.replace(
        '# url = "https://events.pagerduty.com/v2/enqueue"   (the default)',
        f'url = "{http.url("/pd")}"',
    )
    rules = tmp_path / "alerts.toml"
    rules.write_text(text)
    monkeypatch.setenv("PERFSTATS_WEBHOOK_TOKEN", "tok")
    monkeypatch.setenv("PERFSTATS_SLACK_WEBHOOK_URL", http.url("/slack"))
    monkeypatch.setenv("PERFSTATS_PAGERDUTY_KEY", "key")
    ev = _events(hours=96)
    ev.loc[ev.endpoint == "/slow", "latency_ms"] *= 3  # p95 about 3500 ms > 2000
    ev["success"], ev["model"], ev["input_tokens"], ev["output_tokens"] = (
        True,
        "gpt-4o-mini",
        1000,
        100,
    )
    path = tmp_path / "events.csv"
    ev.to_csv(path, index=False)
    base = ["alert", "--rules", str(rules)]
    assert main([*base, "--dry-run", "--now", "2026-01-05T00:00:00Z", str(path)]) == 0
    out = capsys.readouterr().out
    assert "would send" not in out and "1 pending" in out  # for = 10m
    assert main([*base, "--now", "2026-01-05T00:00:00Z", str(path)]) == 0
    assert main([*base, "--now", "2026-01-05T00:10:00Z", "--dry-run", str(path)]) == 0
    out = capsys.readouterr().out  # the trend alert (no `for`) would go out, with
    assert "would send: team-webhook/webhook firing" in out  # its v4 body shown
    assert '"version": "4"' in out and '"alertname": "P95WillCrossSLA"' in out
    assert "oncall-slack" not in out  # HighP95Latency fires now: group_wait 30 s
    assert http.accepted == []
    assert main([*base, "--now", "2026-01-05T00:11:00Z", str(path)]) == 0  # fires
    report = tmp_path / "run.json"
    argv = [*base, "--now", "2026-01-05T00:12:00Z", "--json", str(report), str(path)]
    assert main(argv) == 0  # group_wait is over
    sent = json.loads(report.read_text())["notifications"]
    # (the trend alert, firing since 00:00 without `for`, went out at 00:11)
    assert [(n["receiver"], n["status"]) for n in sent] == [("oncall-slack", "sent")]
    paths = sorted(r["path"] for r in http.accepted)
    assert paths == ["/hook", "/slack"], capsys.readouterr()
    assert main([*base, "ack", "--by", "bob", "HighP95Latency"]) == 0
    assert main([*base, "status"]) == 0
    assert "acked by bob" in capsys.readouterr().out
    assert main([*base, "--now", "2026-01-05T01:00:00Z", str(path)]) == 0
    assert "/pd" not in [
        r["path"] for r in http.accepted
    ]  # acknowledged: no escalation
    (tmp_path / "perfstats-alerts.sqlite").write_bytes(b"not a database at all" * 100)
    assert main([*base, "--now", "2026-01-05T01:01:00Z", str(path)]) == 2
    assert "moved to" in capsys.readouterr().err
    assert main([*base, "ack", "HighP95Latency"]) == 2  # --by missing


def test_unreadable_state_is_an_error_but_not_moved(
    tmp_path: Path, http: Recorder
) -> None:
    """An OS-level problem (here a folder where the file should be; also a locked or
    unreadable file) is an error, not corruption: nothing is moved aside."""
    import dataclasses

    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    cfg = dataclasses.replace(cfg, state=tmp_path / "dir" / "state.sqlite")
    (tmp_path / "dir" / "state.sqlite").mkdir(parents=True)
    with pytest.raises(OSError, match="cannot read alerts state"):
        run_alerts(cfg, samples=[alert("Slow")], now=T0)
    assert (tmp_path / "dir" / "state.sqlite").is_dir()
    assert list((tmp_path / "dir").glob("*corrupt*")) == []


def test_processes_opening_a_new_state_at_once_never_see_it_as_corrupt(
    tmp_path: Path,
) -> None:
    """A run, an ack and a status opening a state file that does not exist yet: the
    one creating it holds the write lock, the others never see a half-made file."""
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from perfstats.alerts.state import StateFile
        print("ready", flush=True)
        for line in sys.stdin:  # one line per file, all processes at once
            with StateFile(Path(sys.argv[1]) / f"{line.strip()}.sqlite") as db:
                db.rows("SELECT * FROM alerts")
            print("done", flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for k in range(8):
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"s{k}\n")
            p.stdin.flush()
        for p in procs:
            assert p.stdout is not None
            p.stdout.readline()
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 3, errors
    assert list(tmp_path.glob("*corrupt*")) == []
    assert len(list(tmp_path.glob("s*.sqlite"))) == 8


def test_a_group_without_data_in_the_last_window_is_unknown_not_resolved(
    tmp_path: Path, http: Recorder
) -> None:
    ev = _events(hours=6)
    gone = (ev.endpoint == "/slow") & (ev.timestamp >= "2026-01-01T05:00Z")
    rule = Rule("SlowP95", "metric", every="1h", by=("endpoint",), threshold=500.0)
    count = Rule(
        "Busy", "metric", metric="count", every="1h", by=("endpoint",), threshold=30.0
    )
    before = evaluate_rule(rule, ev)
    assert [(s.labels["endpoint"], s.unknown) for s in before] == [("/slow", False)]
    after = evaluate_rule(rule, ev[~gone])  # /slow stopped an hour before the end
    assert [(s.labels["endpoint"], s.unknown) for s in after] == [("/slow", True)]
    # A count is known: 0 requests in the last window.
    assert [s.labels["endpoint"] for s in evaluate_rule(count, ev[~gone])] == ["/fast"]
    cfg = make_config(tmp_path, [hook(http.url())], NOW_ROUTE)
    run_alerts(cfg, samples=before, now=T0)
    run = run_alerts(cfg, samples=after, now=T0 + 10 * MIN)
    assert [a["state"] for a in run.alerts] == ["firing"] and len(http.accepted) == 1
    run = run_alerts(cfg, samples=[], now=T0 + 20 * MIN)  # known and below: resolves
    assert [b["status"] for b in http.bodies()] == ["firing", "resolved"]


def test_silence_added_at_run_time_mutes_until_it_expires(
    tmp_path: Path,
    http: Recorder,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from perfstats.cli import main

    monkeypatch.setenv("PERFSTATS_WEBHOOK_TOKEN", "tok")
    text = (ROOT / "examples" / "alerts.toml").read_text()
    rules = tmp_path / "alerts.toml"
    rules.write_text(text.replace("http://127.0.0.1:9093/hook", http.url("/hook")))
    base = ["alert", "--rules", str(rules)]
    argv = [*base, "silence", "--by", "bob", "--duration", "1h", "--comment", "deploy"]
    assert main([*argv, "--now", "2026-01-01T00:00:00Z", "team=api"]) == 0
    assert main([*argv, "--duration", "0s", "team=api"]) == 2  # a silence must last
    assert main([*argv, "team~api"]) == 2  # not a matcher
    cfg = load_config(rules)
    s = [alert("Slow", team="api")]
    for k in range(60):
        run = run_alerts(cfg, samples=s, now=T0 + k * MIN)
        assert run.alerts[0]["muted"]
    assert http.accepted == []
    run_alerts(cfg, samples=s, now=T0 + 60 * MIN)  # expired
    run_alerts(cfg, samples=s, now=T0 + 61 * MIN)  # group_wait 30 s
    assert len(http.accepted) == 1
    capsys.readouterr()
    assert main([*base, "status", "--now", "2026-01-01T00:30:00Z"]) == 0
    assert "silence active until 2026-01-01T01:00:00" in capsys.readouterr().out


def test_a_bad_secret_url_is_reported_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "SLACK_URL", "hooks.slack.example/T000/SECRET-PATH-42"
    )  # no scheme
    cfg = make_config(
        tmp_path,
        [{"name": "slack", "slack_configs": [{"url_env": "SLACK_URL"}]}],
        {**NOW_ROUTE, "receiver": "slack"},
    )
    run = run_alerts(cfg, samples=[alert("Slow")], now=T0)
    (n,) = run.notifications
    assert n["status"] == "failed" and n["error"].startswith("bad URL")
    assert "<redacted>" in n["error"]
    assert "SECRET-PATH-42" not in repr(run) + json.dumps(run.to_dict())
