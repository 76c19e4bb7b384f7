"""Soak: 10,000 alert evaluations (400 cron runs x 25 alerts, every 10 simulated
minutes for about 2.8 days) with flapping inputs, through the SQLite state and a real
webhook server; the notifications are counted against an independent count of what
Alertmanager's rules say must be sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from alerts_servers import Recorder

from perfstats.alerts import Sample, config_from_mapping, run_alerts

STEP = 600.0
RUNS = 400
ALERTS = 25
FOR = 1200.0  # two runs pending before firing
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


def test_soak_counts_notifications_exactly(tmp_path: Path) -> None:
    server = Recorder()
    try:
        cfg = config_from_mapping(
            {
                "state": "soak.sqlite",
                "rules": [{"alert": "Flappy", "threshold": 1, "for": "20m"}],
                "route": {
                    "receiver": "hook",
                    "group_by": ["alertname", "instance"],
                    "group_wait": "0s",
                    "group_interval": "0s",
                    "repeat_interval": "1h",
                },
                "receivers": [
                    {"name": "hook", "webhook_configs": [{"url": server.url()}]}
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
        bodies = server.bodies()
        got_resolved = sum(b["status"] == "resolved" for b in bodies)
        assert (len(bodies), got_resolved) == (first + repeat + resolved, resolved)
        assert all(len(b["alerts"]) == 1 for b in bodies)
        ids = [r["headers"]["X-Perfstats-Notification-Id"] for r in server.accepted]
        assert len(set(ids)) == len(ids)  # nothing sent twice
    finally:
        server.close()
