"""Trends and alerts read from a history store (SQLite and PostgreSQL, through the
``history_url`` fixture of conftest.py), and the bulk roll-up behind every query.

Oracle: the same analysis on the raw events. Stored hourly sketches merge bucket for
bucket into the sketch of the raw events of any longer window, so a trend or an alert
evaluated on the store sees the same series as on the events."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from perfstats import Histogram, Moments, QuantileSketch, summarize, trend
from perfstats.alerts import Sample, evaluate_rules
from perfstats.alerts.config import Rule
from perfstats.history import History
from perfstats.history import store as store_module


def make_events(days: int = 21, seed: int = 0) -> pd.DataFrame:
    """Two endpoints, a request every 10 minutes each; /slow's latency grows 3 % a
    day; some failures; the last hour of /slow is three times slower (an incident)."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2026-02-01", periods=days * 144, freq="10min", tz="UTC")
    n = len(ts)
    day = np.asarray((ts - ts[0]) / pd.Timedelta(days=1))
    fast = rng.lognormal(np.log(120), 0.25, n)
    slow = rng.lognormal(np.log(600), 0.25, n) * 1.03**day
    slow[-6:] *= 3.0
    return pd.DataFrame(
        {
            "timestamp": np.concatenate([ts, ts]),
            "endpoint": ["/fast"] * n + ["/slow"] * n,
            "latency_ms": np.concatenate([fast, slow]),
            "success": rng.random(2 * n) > 0.02,
        }
    )


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return make_events()


def stored(url: str, ev: pd.DataFrame) -> History:
    h = History(url)
    h.append_events(ev, by="endpoint", every="1h")
    return h


# ---- trend ----------------------------------------------------------------------------


def test_trend_of_stored_windows_equals_trend_of_the_events(
    history_url: str, events: pd.DataFrame
) -> None:
    slow = events[events.endpoint == "/slow"]
    with stored(history_url, events) as h:
        got = h.trend("latency_p95", where={"endpoint": "/slow"}, budget=1500.0)
        everything = h.trend("latency_p50", every="12h", budget=5000.0)
        part = h.trend(
            "error_rate",
            start="2026-02-05",
            end="2026-02-15",
            where={"endpoint": "/fast"},
        )
    want = trend(slow, "latency_p95", budget=1500.0)
    # the same windows and values (quantiles from identical buckets)
    pd.testing.assert_series_equal(
        got.series, want.series, check_exact=False, rtol=1e-12
    )
    assert got.direction == want.direction == "degrading"
    assert got.fit.slope == pytest.approx(want.fit.slope, rel=1e-9)
    assert got.crossing == want.crossing and got.band_crossing == want.band_crossing
    want_all = trend(events, "latency_p50", every="12h", budget=5000.0)
    pd.testing.assert_series_equal(
        everything.series, want_all.series, check_exact=False, rtol=1e-12
    )
    fast = events[
        (events.endpoint == "/fast")
        & (events.timestamp >= pd.Timestamp("2026-02-05", tz="UTC"))
        & (events.timestamp < pd.Timestamp("2026-02-15", tz="UTC"))
    ]
    pd.testing.assert_series_equal(
        part.series, trend(fast, "error_rate").series, check_exact=False, rtol=1e-12
    )


def test_where_selects_groups_and_names_a_bad_column(
    history_url: str, events: pd.DataFrame
) -> None:
    with stored(history_url, events) as h:
        s = h.summary(where={"endpoint": "/fast"}, by=[], every="1d")
        with pytest.raises(ValueError, match="no 'model' column"):
            h.summary(where={"model": "x"})
        with pytest.raises(TypeError, match="where must be a mapping"):
            h.summary(where="/fast")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"holds no windows.*'/nope'"):
            h.trend(where={"endpoint": "/nope"})
    raw = summarize(events[events.endpoint == "/fast"], every="1d")
    np.testing.assert_array_equal(s.table["count"], raw.table["count"])
    np.testing.assert_array_equal(s.table["errors"], raw.table["errors"])
    np.testing.assert_allclose(
        s.table["latency_p99"], raw.table["latency_p99"], rtol=1e-12
    )


# ---- alerts ---------------------------------------------------------------------------

RULES = (
    Rule("SlowP95", "metric", metric="latency_p95", every="1h", by=("endpoint",),
         threshold=500.0),
    Rule("Errors", "metric", metric="error_rate", every="1d", threshold=0.0),
    Rule("Count", "metric", metric="count", every="1h", by=("endpoint",), op=">=",
         threshold=0.0),
    Rule("Anomalous", "anomaly", metric="latency_p95", every="1h", by=("endpoint",)),
    Rule("WillCross", "trend", metric="latency_p95", every="1d", by=("endpoint",),
         threshold=1500.0, horizon="14d", bound="mean"),
)  # fmt: skip


def samples(
    found: list[Sample],
) -> list[tuple[str, dict[str, str], float | None, bool]]:
    return sorted(
        (
            (
                s.rule,
                s.labels,
                None if s.value != s.value else round(s.value, 9),
                s.unknown,
            )
            for s in found
        ),
        key=lambda x: (x[0], sorted(x[1].items())),
    )


def test_alert_rules_on_a_store_fire_as_on_the_events(
    history_url: str, events: pd.DataFrame
) -> None:
    want, want_errors = evaluate_rules(RULES, events)
    with stored(history_url, events) as h:
        got, errors = evaluate_rules(RULES, h, lookback="60d")
        # a shorter lookback: the same last windows; the trend sees 10 days only
        short, _ = evaluate_rules(RULES[:2], h, lookback="2d")
        # evaluated as of an earlier time: the store's windows before it only
        early, _ = evaluate_rules(RULES[:1], h, now="2026-02-10T00:00:00Z")
    assert errors == want_errors == {}
    fired = {s.rule for s in want}
    assert {"SlowP95", "Errors", "Count", "Anomalous", "WillCross"} <= fired
    # values to rounding (merged sums); quantiles exactly
    assert samples(got) == samples(want)
    assert samples(short) == samples(
        [s for s in want if s.rule in ("SlowP95", "Errors")]
    )
    old = events[events.timestamp < pd.Timestamp("2026-02-10", tz="UTC")]
    assert samples(early) == samples(evaluate_rules(RULES[:1], old)[0])


def test_budget_rules_and_an_empty_range_are_reported_not_fired(
    history_url: str, events: pd.DataFrame
) -> None:
    rules = (
        Rule("Spend", "budget", threshold=10.0),
        Rule("SlowP95", "metric", threshold=1.0),
    )
    with stored(history_url, events) as h:
        found, errors = evaluate_rules(rules, h, now="2027-01-01T00:00:00Z")
    assert found == []
    assert (
        "budget rule" in errors["Spend"] and "evaluate it on events" in errors["Spend"]
    )
    assert "holds no windows" in errors["SlowP95"]


def test_cli_alert_reads_a_history_store(
    tmp_path: Path, events: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    from perfstats.cli import main

    url = str(tmp_path / "h.sqlite")
    stored(url, events).close()
    rules = tmp_path / "alerts.toml"
    rules.write_text(
        'state = "state.sqlite"\n'
        '[route]\nreceiver = "hook"\ngroup_wait = "0s"\n'
        '[[receivers]]\nname = "hook"\n'
        '[[receivers.webhook_configs]]\nurl = "http://127.0.0.1:9/hook"\n'
        '[[rules]]\nalert = "SlowP95"\nkind = "metric"\nmetric = "latency_p95"\n'
        'every = "1h"\nby = ["endpoint"]\nthreshold = 500.0\n'
    )
    base = [
        "alert",
        "--rules",
        str(rules),
        "--dry-run",
        "--now",
        "2026-02-22T00:00:00Z",
    ]
    assert main([*base, "--history", url, "--lookback", "1d"]) == 0
    out = capsys.readouterr().out
    assert "would send: hook/webhook firing" in out and "/slow" in out
    assert main([*base, "--history", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such history store" in capsys.readouterr().err
    assert main([*base, "--lookback", "1d", "events.csv"]) == 2
    assert "--lookback reads a --history store" in capsys.readouterr().err
    assert main([*base, "--history", url, "events.csv"]) == 2
    assert "not both" in capsys.readouterr().err


# ---- the bulk roll-up -----------------------------------------------------------------


def unpack(blob: bytes) -> dict[tuple[str, str], Any]:
    """A stored blob read in Python (the oracle of the C++ roll-up): per object, its
    kind (1 byte), the length of its name (1 byte), the name, the length of its bytes
    (4 bytes, big-endian) and the bytes."""
    kinds: dict[str, Any] = {"s": QuantileSketch, "m": Moments, "h": Histogram}
    out, pos = {}, 0
    while pos < len(blob):
        kind, n = chr(blob[pos]), blob[pos + 1]
        name = blob[pos + 2 : pos + 2 + n].decode()
        length = int.from_bytes(blob[pos + 2 + n : pos + 6 + n], "big")
        out[(kind, name)] = kinds[kind].from_bytes(
            blob[pos + 6 + n : pos + 6 + n + length]
        )
        pos += 6 + n + length
    return out


def test_rollup_in_chunks_equals_the_row_by_row_merge(
    tmp_path: Path, events: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are read and merged (in C++) a chunk at a time; whatever the chunk size, the
    roll-up equals from_bytes and merge one row after another: sketches bucket for
    bucket, Moments to rounding (the partial merges associate differently)."""
    url = str(tmp_path / "h.sqlite")
    with stored(url, events) as h:
        whole = h.merged(by="endpoint", every=None)
        monkeypatch.setattr(store_module, "_CHUNK", 7)
        small = h.merged(by="endpoint", every=None)
        rows = h._db.execute(
            "SELECT grp, data FROM windows ORDER BY window_start, window_ns, grp, batch"
        )
    for key in whole:
        a, b = whole[key].finished(), small[key].finished()
        assert a.keys() == b.keys() == {
            ("s", "latency_ms"), ("m", "latency_ms"), ("m", "log_latency_ms"),
            ("h", "latency_ms"),
        }  # fmt: skip
        # the oracle: from_bytes and merge one row after another
        mine = [unpack(d) for g, d in rows if key[0] in g]
        want = mine[0]
        for objs in mine[1:]:
            for k, obj in objs.items():
                want[k].merge(obj)
        for got in (a, b):
            gh, wh = got[("h", "latency_ms")], want[("h", "latency_ms")]
            assert np.array_equal(gh.counts, wh.counts) and gh.count == wh.count
            assert gh.sum == pytest.approx(wh.sum, rel=1e-13)
            s, w = got[("s", "latency_ms")], want[("s", "latency_ms")]
            for neg in (False, True):
                (i1, c1), (i2, c2) = s.buckets(negative=neg), w.buckets(negative=neg)
                assert i1 == i2 and np.array_equal(c1, c2)
            assert (s.count, s.min, s.max) == (w.count, w.min, w.max)
            assert s.sum == pytest.approx(w.sum, rel=1e-13)
            for m in ("latency_ms", "log_latency_ms"):
                gm, wm = got[("m", m)], want[("m", m)]
                assert gm.count == wm.count
                assert gm.mean == pytest.approx(wm.mean, rel=1e-13)
                assert gm.variance() == pytest.approx(wm.variance(), rel=1e-11)
                assert gm.skewness == pytest.approx(wm.skewness, rel=1e-9, abs=1e-12)


def test_a_damaged_stored_blob_is_a_clear_error(
    tmp_path: Path, events: pd.DataFrame
) -> None:
    url = tmp_path / "h.sqlite"
    stored(str(url), events.iloc[:500]).close()
    with sqlite3.connect(url) as conn:
        (blob,) = conn.execute("SELECT data FROM windows LIMIT 1").fetchone()
        conn.execute("UPDATE windows SET data = ? WHERE data = ?", (blob[:-7], blob))
    with History(url) as h, pytest.raises(ValueError, match="truncated"):
        h.summary()
    with sqlite3.connect(url) as conn:
        conn.execute(
            "UPDATE windows SET data = ? WHERE data = ?", (b"z" + blob[1:], blob[:-7])
        )
    with History(url) as h:
        with pytest.raises(ValueError, match="unknown kind 'z'"):
            h.summary()
        # the read transaction ended with the error: the store is still writable
        h.append_events(events.iloc[500:600], by="endpoint", every="1h")


def test_group_columns_follow_appends_from_another_connection(
    history_url: str, events: pd.DataFrame
) -> None:
    """groups() is remembered while the batches are unchanged (it scans every
    window); an append from another connection or process shows at once."""
    ev = events.assign(model="small")
    with History(history_url) as reader:
        with History(history_url) as writer:
            writer.append_events(ev.iloc[:100], by="endpoint", every="1h")
            assert reader.groups() == ["endpoint"]
            assert reader.groups() == ["endpoint"]  # remembered
            writer.append_events(ev.iloc[100:200], by=["endpoint", "model"], every="1h")
        assert reader.groups() == ["endpoint", "model"]
        by_model = reader.summary(by="model", every=None).table
        assert len(by_model) == 2 and by_model["count"].sum() == 200  # small, unknown
