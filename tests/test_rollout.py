"""Deterministic rollout assignment: test vectors, Unleash cases, monotonicity, SRM."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfstats import compare, srm_test
from perfstats.record.rollout import (
    Rollout,
    assign,
    bucket,
    exposures,
    murmur3_32,
    unleash_normalized,
)

UNLEASH_DIR = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "rollout" / "unleash"
)
if not UNLEASH_DIR.is_dir():
    UNLEASH_DIR = Path("/work/shared/data/rollout/unleash")

# (salt, experiment, unit, bucket): computed once with hashlib by hand, outside the
# package, from the documented key f"{salt}:{experiment}:{unit}".
VECTORS = [
    ("", "checkout-v2", "user-42", 852),
    ("", "checkout-v2", "user-43", 398),
    ("s1", "checkout-v2", "user-42", 7033),
    ("", "exp", "0", 6934),
    ("", "exp", "ü-ñ", 5447),
    ("", "a", "b:c", 1012),
    ("salt", "new-endpoint", "12345", 9601),
]


def _oracle_bucket(salt: str, experiment: str, unit: str) -> int:
    digest = hashlib.sha256(f"{salt}:{experiment}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


@pytest.mark.parametrize(("salt", "experiment", "unit", "expected"), VECTORS)
def test_default_scheme_vectors(
    salt: str, experiment: str, unit: str, expected: int
) -> None:
    assert _oracle_bucket(salt, experiment, unit) == expected
    assert bucket(unit, experiment, salt=salt) == expected
    # 90/10 lays control on buckets 0..8999 and treatment on 9000..9999
    arm = assign(unit, experiment, {"control": 90, "treatment": 10}, salt=salt)
    assert arm == ("treatment" if expected >= 9000 else "control")


def test_boundaries_are_exact_for_uneven_weights() -> None:
    # thirds: floor(10000/3) = 3333 and floor(20000/3) = 6666
    weights = {"a": 1, "b": 1, "c": 1}
    for i in range(3000):
        b = _oracle_bucket("", "thirds", str(i))
        want = "a" if b < 3333 else "b" if b < 6666 else "c"
        assert assign(i, "thirds", weights) == want


def test_stable_across_processes_and_hash_seeds() -> None:
    units = [f"user-{i}" for i in range(200)]
    here = [assign(u, "exp-x", {"c": 50, "t": 50}) for u in units]
    code = (
        "import json,sys; from perfstats.record.rollout import assign; "
        "print(json.dumps([assign(f'user-{i}', 'exp-x', {'c': 50, 't': 50}) "
        "for i in range(200)]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(out.stdout) == here


@settings(max_examples=40, deadline=None)
@given(
    low=st.integers(0, 100),
    extra=st.integers(0, 100),
    experiment=st.text(min_size=1, max_size=12).filter(lambda s: ":" not in s),
)
def test_raising_a_percentage_only_moves_units_into_the_growing_arm(
    low: int, extra: int, experiment: str
) -> None:
    high = min(100, low + extra)
    if low == 100 or high == 0:
        return
    for scheme in ("perfstats", "unleash"):
        before_w = {"control": 100 - low, "treatment": low}
        after_w = {"control": 100 - high, "treatment": high}
        for u in range(150):
            before = assign(u, experiment, before_w, scheme=scheme)  # type: ignore[arg-type]
            after = assign(u, experiment, after_w, scheme=scheme)  # type: ignore[arg-type]
            if before != after:
                assert (before, after) == ("control", "treatment")


@settings(max_examples=30, deadline=None)
@given(
    weights=st.lists(st.integers(1, 50), min_size=3, max_size=5),
    k=st.integers(0, 3),
    moved=st.integers(1, 49),
)
def test_growing_at_a_neighbours_expense_moves_only_that_neighbours_units(
    weights: list[int], k: int, moved: int
) -> None:
    k = k % (len(weights) - 1)
    moved = min(moved, weights[k + 1])
    arms = [f"arm{i}" for i in range(len(weights))]
    new = list(weights)
    new[k] += moved
    new[k + 1] -= moved
    w0, w1 = dict(zip(arms, weights, strict=True)), dict(zip(arms, new, strict=True))
    for u in range(200):
        a, b = assign(u, "multi", w0), assign(u, "multi", w1)
        if a != b:
            assert (a, b) == (arms[k + 1], arms[k])


@pytest.mark.parametrize("share", [0.5, 0.1, 0.01])
def test_split_matches_the_weights_within_binomial_tolerance(share: float) -> None:
    n = 20_000
    w = {"control": 1 - share, "treatment": share}
    got = sum(assign(f"u{i}", "split", w) == "treatment" for i in range(n))
    sd = math.sqrt(n * share * (1 - share))
    assert abs(got - n * share) < 4.5 * sd


def test_assignments_of_two_experiments_are_independent() -> None:
    from scipy.stats import chi2_contingency

    n = 10_000
    table = np.zeros((2, 2))
    for i in range(n):
        a = assign(i, "exp-a", {"c": 50, "t": 50}) == "t"
        b = assign(i, "exp-b", {"c": 50, "t": 50}) == "t"
        table[int(a), int(b)] += 1
    assert chi2_contingency(table)[1] > 1e-4


def test_pure_python_murmur3_matches_mmh3() -> None:
    mmh3 = pytest.importorskip("mmh3", reason="mmh3 is the oracle for murmur3_32")
    rng = np.random.default_rng(7)
    for size in [*list(range(0, 17)), 100, 1001]:
        for seed in (0, 1, 86028157, 0xFFFFFFFF):
            data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            assert murmur3_32(data, seed) == mmh3.hash(data, seed, signed=False)
    assert murmur3_32("AB12A:122") == mmh3.hash("AB12A:122", 0, signed=False)


def _unleash_cases() -> list[tuple[str, dict, dict, object]]:
    if not UNLEASH_DIR.is_dir():
        return []
    cases = []
    for f in sorted(UNLEASH_DIR.glob("*.json")):
        doc = json.loads(f.read_text())
        features = {feat["name"]: feat for feat in doc["state"]["features"]}
        for t in doc.get("tests", []):
            cases.append((f.name, features[t["toggleName"]], t["context"], t))
        for t in doc.get("variantTests", []):
            cases.append((f.name, features[t["toggleName"]], t["context"], t))
    return cases


def _stickiness_value(context: dict, stickiness: str) -> str | None:
    props = context.get("properties", {})
    if stickiness == "default":
        return context.get("userId") or context.get("sessionId")
    return context.get(stickiness, props.get(stickiness))


def _strategy_on(strategy: dict, context: dict) -> bool:
    params = strategy.get("parameters", {})
    name = strategy["name"]
    if name == "default":
        return True
    if name == "gradualRolloutUserId":
        pct = int(params["percentage"])
        user = context.get("userId")
        if user is None or pct == 0:
            return False
        arm = assign(
            user, params["groupId"], {"off": 100 - pct, "on": pct}, scheme="unleash"
        )
        return arm == "on"
    if name == "flexibleRollout":
        pct = int(params["rollout"])
        value = _stickiness_value(context, params.get("stickiness", "default"))
        if value is None:
            # "default" falls back to a random value: only 0 and 100 are decidable
            return params.get("stickiness", "default") == "default" and pct == 100
        return pct > 0 and unleash_normalized(value, params["groupId"]) <= pct
    raise AssertionError(f"strategy {name} not covered")


@pytest.mark.skipif(not UNLEASH_DIR.is_dir(), reason=f"{UNLEASH_DIR} absent")
@pytest.mark.parametrize(
    ("source", "feature", "context", "case"),
    _unleash_cases() or [("none", {}, {}, {})],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_unleash_specification_cases(
    source: str, feature: dict, context: dict, case: dict
) -> None:
    enabled = feature["enabled"] and any(
        _strategy_on(s, context) for s in feature["strategies"]
    )
    expected = case["expectedResult"]
    if isinstance(expected, dict):  # a variant test
        assert enabled == expected["feature_enabled"]
        variants = feature["variants"]
        value = _stickiness_value(context, variants[0].get("stickiness", "default"))
        weights = {v["name"]: v["weight"] for v in variants}
        arm = assign(value, feature["name"], weights, scheme="unleash")
        assert arm == expected["name"], case["description"]
    else:
        assert enabled == expected, case["description"]


def test_rollout_planned_split_feeds_compare() -> None:
    r = Rollout("exp", {"control": 75, "treatment": 25, "off": 0})
    assert r.planned_split == {"control": 0.75, "treatment": 0.25}
    rng = np.random.default_rng(3)
    users = [f"u{i}" for i in range(4000)]
    arms = [r.assign(u) for u in users]
    ev = pd.DataFrame(
        {
            "timestamp": pd.date_range(
                "2025-01-01", periods=len(users), freq="s", tz="UTC"
            ),
            "latency_ms": rng.lognormal(5, 0.5, len(users)),
            "variant": arms,
            "user_id": users,
        }
    )
    c = compare(ev, planned_split=r.planned_split)
    assert c.srm is not None and not c.srm.mismatch


def test_exposures_counts_units_and_lists_crossed_units() -> None:
    ev = pd.DataFrame(
        {
            "latency_ms": [1.0] * 6,
            "variant": ["a", "a", "b", "b", "b", "a"],
            "user_id": ["u1", "u1", "u2", "u3", "u1", "u4"],
        }
    )
    ex = exposures(ev, planned={"a": 50, "b": 50})
    assert ex.units == {"a": 2, "b": 3}
    assert ex.events == {"a": 3, "b": 3}
    assert ex.crossed == ["u1"]
    assert any("more than one arm" in w for w in ex.warnings)
    assert ex.to_dict()["crossed"] == ["u1"]


def test_exposures_srm_false_alarm_rate_and_power() -> None:
    # A/A by the real hash: flagged at most at the nominal 0.001 rate; a broken
    # pipeline (losing 8% of treatment users) is flagged.
    rollout = Rollout("srm", {"control": 50, "treatment": 50})
    sims, flagged = 200, 0
    for sim in range(sims):
        n_t = sum(rollout.assign(f"s{sim}-u{i}") == "treatment" for i in range(1000))
        flagged += srm_test([1000 - n_t, n_t], [0.5, 0.5]).mismatch
    # binomial(200, 0.001): P(X >= 3) < 1.2e-3
    assert flagged <= 2
    users = [f"p-u{i}" for i in range(20_000)]
    arms = [rollout.assign(u) for u in users]
    keep = [a == "control" or i % 12 != 0 for i, a in enumerate(arms)]
    ev = pd.DataFrame({"latency_ms": 1.0, "variant": arms, "user_id": users})[keep]
    ex = exposures(ev, planned=rollout)
    assert ex.srm is not None and ex.srm.mismatch
    assert any("sample-ratio" in w for w in ex.warnings)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"weights": {"a": -1, "b": 2}}, ValueError, "weight of arm 'a'"),
        ({"weights": {"a": 0, "b": 0}}, ValueError, "all zero"),
        ({"weights": {}}, ValueError, "non-empty"),
        ({"weights": {"a": "x"}}, TypeError, "must be a number"),
        ({"weights": {"a": float("nan")}}, ValueError, "finite"),
        ({"experiment": "a:b"}, ValueError, "experiment may not contain"),
        ({"salt": "s:1"}, ValueError, "salt may not contain"),
        ({"unit_id": None}, ValueError, "unit_id is None"),
        ({"scheme": "coin"}, ValueError, "scheme must be"),
    ],
)
def test_bad_input_is_named(kwargs: dict, error: type, match: str) -> None:
    args = {"unit_id": "u", "experiment": "e", "weights": {"c": 1, "t": 1}, **kwargs}
    with pytest.raises(error, match=match):
        assign(args.pop("unit_id"), args.pop("experiment"), **args)


def test_exposures_names_a_missing_column() -> None:
    ev = pd.DataFrame({"latency_ms": [1.0], "variant": ["a"]})
    with pytest.raises(ValueError, match="'user_id' is missing"):
        exposures(ev)
