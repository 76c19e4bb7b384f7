"""Units seen in more than one arm: counted (with examples) by
``analysis.findings.crossed_units``, warned about in ``compare``'s result, in the
report's A/B section and in ``exposures``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perfstats import compare
from perfstats.analysis.findings import crossed_units, crossed_units_finding
from perfstats.record import assign, exposures
from perfstats.report import build_report

CROSSED = ["u007", "u123", "u250"]


def ab_events(n: int = 6000, units: int = 300, seed: int = 5) -> pd.DataFrame:
    """A/A events with sticky per-user arms (perfstats.assign), then three users'
    later requests moved to the other arm (a coin per request for them)."""
    rng = np.random.default_rng(seed)
    users = np.array([f"u{i:03d}" for i in range(units)])
    user = users[rng.integers(0, units, n)]
    arm_of = {u: assign(u, "chat-v2", {"control": 50, "treatment": 50}) for u in users}
    variant = np.array([arm_of[u] for u in user], dtype=object)
    for u in CROSSED:
        rows = np.flatnonzero(user == u)
        assert len(rows) >= 4
        flip = rows[len(rows) // 2 :]
        variant[flip] = np.where(variant[flip] == "control", "treatment", "control")
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
            "variant": variant,
            "user_id": user,
            "latency_ms": rng.lognormal(np.log(500), 0.4, n),
            "success": rng.random(n) > 0.02,
        }
    )


def independent_count(frame: pd.DataFrame) -> set[str]:
    """Users with more than one distinct arm, by a plain set per user."""
    arms: dict[str, set[str]] = {}
    for u, v in zip(frame["user_id"], frame["variant"], strict=True):
        arms.setdefault(u, set()).add(v)
    return {u for u, a in arms.items() if len(a) > 1}


def test_crossed_units_are_exactly_the_users_in_two_arms() -> None:
    ev = ab_events()
    assert set(crossed_units(ev)) == independent_count(ev) == set(CROSSED)
    sticky = ev[~ev["user_id"].isin(CROSSED)]
    assert crossed_units(sticky) == []
    assert crossed_units(ev.drop(columns="user_id")) == []
    with_missing = ev.copy()
    with_missing.loc[with_missing["user_id"] == "u007", "variant"] = None
    assert "u007" not in crossed_units(with_missing)


def test_compare_warns_with_the_count_and_examples() -> None:
    ev = ab_events()
    (warning,) = compare(ev, baseline="control").warnings
    assert warning.startswith("3 user_id values appear in more than one variant")
    assert "(u007, u123, u250)" in warning
    comp = compare(ev, baseline="control")
    assert comp.to_dict()["warnings"] == [warning]
    assert warning in repr(comp)
    # no unit column, unit=None, or a sticky assignment: no warning
    assert compare(ev.drop(columns="user_id"), baseline="control").warnings == []
    assert compare(ev, baseline="control", unit=None).warnings == []
    sticky = ev[~ev["user_id"].isin(CROSSED)]
    assert compare(sticky, baseline="control").warnings == []


def test_many_crossed_units_show_five_examples_and_the_rest_counted() -> None:
    ev = pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=20, freq="s", tz="UTC"),
            "variant": ["a", "b"] * 8 + ["a"] * 4,
            "user_id": [f"u{i // 2}" for i in range(16)] + ["x"] * 4,
            "latency_ms": np.linspace(100, 200, 20),
            "success": [True] * 20,
        }
    )
    (warning,) = compare(ev, baseline="a").warnings
    assert "8 user_id values" in warning
    assert "(u0, u1, u2, u3, u4 and 3 more)" in warning


def test_report_ab_section_has_the_crossed_units_warning() -> None:
    ev = ab_events()
    report = build_report(ev, sla_target_ms=2000.0)
    (f,) = [f for f in report.findings if f.kind == "crossed_units"]
    assert f.severity == "warning" and f.section == "ab"
    assert f.numbers["crossed_units"] == 3 and f.numbers["units"] == 300
    assert f.numbers["examples"] == "u007, u123, u250"
    assert f in report.section("ab").findings
    assert "3 user_id values appear in more than one variant" in report.to_markdown()
    clean = build_report(ev[~ev["user_id"].isin(CROSSED)], sla_target_ms=2000.0)
    assert not [f for f in clean.findings if f.kind == "crossed_units"]


def test_exposures_and_the_finding_agree() -> None:
    ev = ab_events()
    assert exposures(ev).crossed == CROSSED
    f = crossed_units_finding(ev)
    assert f is not None and f.score == pytest.approx(3 / 300)
    assert crossed_units_finding(ev[~ev["user_id"].isin(CROSSED)]) is None
