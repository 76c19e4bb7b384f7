"""Soak: 10,000 alert evaluations (200 cron runs x 50 alerts, every 15 simulated
minutes for about 2 days) with flapping inputs, through the SQLite state and a real
webhook server, routed twice (``continue``): one group per alert (every
notification counted exactly), and one group of all alerts with group_interval and
repeat_interval (the exact sequence of notifications and their firing / resolved
alerts), each against an independent count of what Alertmanager's rules say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from alerts_servers import Recorder

from perfstats.alerts import Sample, config_from_mapping, run_alerts

STEP = 900.0
RUNS = 200
ALERTS = 50
FOR = 1800.0  # two runs pending before firing
REPEAT = 3600.0
T0 = 1_767_225_600.0


def _inputs(seed: int = 7) -> np.ndarray[Any, Any]:
    """Active flags (runs x alerts): a two-state Markov chain per alert, flapping
    with a mean run of 8 evaluations when active, 12 when inactive."""
    rng = np.random.default_rng(seed)
    active = np.zeros((RUNS, ALERTS), dtype=bool)
    state = rng.random(ALERTS) < 0.3
    for k in range(RUNS):
        flip = rng.random(ALERTS) < np.where(state, 1 / 8, 1 / 12)
        state = state ^ flip
        active[k] = state
    return active


def _expected(active: np.ndarray[Any, Any]) -> tuple[int, int, int]:
    """(firing, repeat, resolved) notifications for one alert per group, group_wait
    and group_interval 0: fire once `for` has passed, repeat every REPEAT, resolve
    at the first inactive run after firing."""
    first = repeat = resolved = 0
    for j in range(active.shape[1]):
        since = None
        fired = False
        last = 0.0
        for k in range(active.shape[0]):
            t = T0 + k * STEP
            if active[k, j]:
                if since is None:
                    since = t
                if not fired and t - since >= FOR:
                    fired, last = True, t
                    first += 1
                elif fired and t - last >= REPEAT:
                    last = t
                    repeat += 1
            else:
                if fired:
                    resolved += 1
                since, fired = None, False
    return first, repeat, resolved


GROUP_INTERVAL = 2700.0
GROUP_REPEAT = 7200.0


def _states(active: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Per run and alert: 0 inactive or pending, 1 firing, 2 just resolved."""
    out = np.zeros(active.shape, dtype=int)
    for j in range(active.shape[1]):
        since = None
        fired = False
        for k in range(active.shape[0]):
            t = T0 + k * STEP
            if active[k, j]:
                since = t if since is None else since
                fired = fired or t - since >= FOR
                out[k, j] = 1 if fired else 0
            else:
                out[k, j] = 2 if fired else 0
                since, fired = None, False
    return out


def _expected_grouped(active: np.ndarray[Any, Any]) -> list[tuple[str, int, int]]:
    """(status, firing alerts, resolved alerts) of each notification of one group of
    every alert: group_wait 0, GROUP_INTERVAL between changes, GROUP_REPEAT between
    repeats; a notified alert that resolved is listed once as resolved (unless it
    is pending again by then: then it just drops out)."""
    states = _states(active)
    out = []
    exists, notified, last = False, set(), 0.0
    resolved_ever: set[int] = set()
    for k in range(active.shape[0]):
        t = T0 + k * STEP
        firing = {j for j in range(active.shape[1]) if states[k, j] == 1}
        # "resolved" persists until the alert is active again
        for j in range(active.shape[1]):
            if states[k, j] == 2:
                resolved_ever.add(j)
            elif active[k, j]:
                resolved_ever.discard(j)
        if not exists:
            if not firing:
                continue
            exists, due = True, True
        elif firing != notified:
            due = t >= last + GROUP_INTERVAL
        else:
            due = bool(firing) and t >= last + GROUP_REPEAT
        if not due:
            continue
        gone = {j for j in notified - firing if j in resolved_ever}
        if firing or gone:
            out.append(("firing" if firing else "resolved", len(firing), len(gone)))
        notified, last = firing, t
        if not firing:
            exists = False
    return out


def test_soak_counts_notifications_exactly(tmp_path: Path) -> None:
    server = Recorder()
    try:
        cfg = config_from_mapping(
            {
                "state": "soak.sqlite",
                "rules": [{"alert": "Flappy", "threshold": 1, "for": "30m"}],
                "route": {
                    "receiver": "hook",
                    "group_wait": "0s",
                    "routes": [
                        {  # one group per alert, to "hook"; continue to the next route
                            "matchers": ["alertname=Flappy"],
                            "group_by": ["alertname", "instance"],
                            "group_interval": "0s",
                            "repeat_interval": "1h",
                            "continue": True,
                        },
                        {  # every alert in one group, to "grouped"
                            "matchers": ["alertname=Flappy"],
                            "receiver": "grouped",
                            "group_by": ["alertname"],
                            "group_interval": "45m",
                            "repeat_interval": "2h",
                        },
                    ],
                },
                "receivers": [
                    {"name": "hook", "webhook_configs": [{"url": server.url()}]},
                    {"name": "grouped", "webhook_configs": [{"url": server.url("/g")}]},
                ],
            },
            tmp_path,
            "soak",
        )
        active = _inputs()
        for k in range(RUNS):
            samples = [
                Sample("Flappy", {"alertname": "Flappy", "instance": f"i{j}"})
                for j in range(ALERTS)
                if active[k, j]
            ]
            run = run_alerts(cfg, samples=samples, now=T0 + k * STEP)
            assert run.ok
        first, repeat, resolved = _expected(active)
        assert first > 50 and repeat > 10 and resolved > 50  # the inputs do flap
        bodies = server.bodies("/hook")
        got_resolved = sum(b["status"] == "resolved" for b in bodies)
        assert (len(bodies), got_resolved) == (first + repeat + resolved, resolved)
        assert all(len(b["alerts"]) == 1 for b in bodies)
        grouped = [
            (
                b["status"],
                sum(a["status"] == "firing" for a in b["alerts"]),
                sum(a["status"] == "resolved" for a in b["alerts"]),
            )
            for b in server.bodies("/g")
        ]
        want = _expected_grouped(active)
        assert len(want) > 50 and sum(w[2] for w in want) > 50
        assert grouped == want
        ids = [r["headers"]["X-Perfstats-Notification-Id"] for r in server.accepted]
        assert len(set(ids)) == len(ids)  # nothing sent twice
    finally:
        server.close()
