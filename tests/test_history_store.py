"""perfstats.history.History: windowed sketches in SQLite and PostgreSQL (every test runs
on both backends through the ``history_url`` fixture of conftest.py).

Oracle: :func:`perfstats.summarize` of the raw events. A roll-up of stored windows must
equal it bucket for bucket (``QuantileSketch.__eq__`` compares every bucket), with equal
counts, error counts and token sums."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perfstats
from perfstats import QuantileSketch, summarize
from perfstats.history import STORE_SCHEMA_VERSION, History, append_run, is_store_url

FIXTURES = Path(__file__).parent / "fixtures"
PYTHON_DIR = Path(perfstats.__file__).resolve().parents[1]  # the package under test


def make_events(
    start: str = "2026-03-01", hours: int = 72, per_hour: int = 60, seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = hours * per_hour
    t0 = pd.Timestamp(start, tz="UTC")
    offsets = np.sort(rng.uniform(0, hours * 3600, n))
    lat = rng.lognormal(np.log(700), 0.6, n)
    lat[rng.random(n) < 0.01] = np.nan  # a few unknown latencies
    cost = rng.uniform(0.001, 0.01, n)
    cost[rng.random(n) < 0.02] = np.nan  # a few unknown costs
    return pd.DataFrame(
        {
            "timestamp": t0 + pd.to_timedelta(offsets, unit="s"),
            "endpoint": rng.choice(["/chat", "/embed", "/search"], n),
            "model": rng.choice(["small", "large"], n),
            "latency_ms": lat,
            "ttft_ms": lat * 0.3,
            "success": rng.random(n) > 0.03,
            "input_tokens": rng.integers(10, 500, n).astype(float),
            "output_tokens": rng.integers(10, 900, n).astype(float),
            "cost_usd": cost,
        }
    )


def same_sketch(a: QuantileSketch, b: QuantileSketch) -> bool:
    """Bucket for bucket equal (and count, zeros, min, max); the running sum only up to
    rounding, since the merge adds it in another order than the raw pass."""
    for negative in (False, True):
        (ia, ca), (ib, cb) = a.buckets(negative=negative), b.buckets(negative=negative)
        if ia != ib or not np.array_equal(ca, cb):
            return False
    return (a.count, a.zero_count, a.min, a.max, a.scale) == (
        b.count,
        b.zero_count,
        b.min,
        b.max,
        b.scale,
    ) and math.isclose(a.sum, b.sum, rel_tol=1e-12)


def assert_same(stored: pd.DataFrame, raw: pd.DataFrame) -> None:
    for col in ("count", "errors", "cost_unknown"):
        np.testing.assert_array_equal(stored[col].to_numpy(), raw[col].to_numpy(), col)
    for col in ("input_tokens", "output_tokens", "cost_usd", "error_rate"):
        np.testing.assert_allclose(stored[col], raw[col], rtol=1e-12, err_msg=col)


def test_daily_rollup_of_hourly_windows_is_bucket_exact(history_url: str) -> None:
    ev = make_events()
    with History(history_url) as h:
        h.append_events(ev, by=["endpoint", "model"], every="1h")
        daily = h.summary(by=["endpoint", "model"], every="1d")
        by_endpoint = h.summary("2026-03-02", "2026-03-04", by="endpoint", every=None)
    raw = summarize(ev, by=["endpoint", "model"], every="1d")
    assert list(daily.sketches) == list(raw.sketches)
    for key, metrics in raw.sketches.items():
        assert set(daily.sketches[key]) == set(metrics) == {"latency_ms", "ttft_ms"}
        for metric, sketch in metrics.items():
            assert same_sketch(daily.sketches[key][metric], sketch), (key, metric)
    assert_same(daily.table, raw.table)
    for col in ("latency_p50", "latency_p99", "latency_mean", "sla_compliance"):
        np.testing.assert_allclose(daily.table[col], raw.table[col], rtol=1e-9)

    # any range and grouping: the 2nd and 3rd day by endpoint only
    part = ev[ev["timestamp"] >= pd.Timestamp("2026-03-02", tz="UTC")]
    raw2 = summarize(part, by="endpoint")
    for key, metrics in raw2.sketches.items():
        assert same_sketch(
            by_endpoint.sketches[key]["latency_ms"], metrics["latency_ms"]
        )
    assert_same(by_endpoint.table, raw2.table)


def test_appending_the_same_data_again_does_not_double_count(
    history_url: str, tmp_path: Path
) -> None:
    ev = make_events(hours=30).dropna(subset=["latency_ms"])  # read_events's rule
    ev.to_parquet(tmp_path / "ev.parquet")
    with History(history_url) as h:
        first = h.append_events(ev, every="1h")
        again = h.append_events(tmp_path / "ev.parquet", every="1h")  # same, from file
        assert first == again and first.startswith("sha256:")
        s = h.summary(every=None)
        assert len(h.batches()) == 1
    assert s.table["count"].sum() == len(ev)


def test_late_data_merge_into_their_window(history_url: str) -> None:
    ev = make_events(hours=48, seed=3)
    cut = pd.Timestamp("2026-03-01 13:17", tz="UTC")  # mid-hour: windows shared
    early, late = ev[ev["timestamp"] < cut], ev[ev["timestamp"] >= cut]
    with History(history_url) as h:
        h.append_events(early, every="1h", batch="day1-run1")
        h.append_events(late, every="1h", batch="day1-run2")
        h.append_events(late, every="1h", batch="day1-run2")  # the late job re-run
        daily = h.summary(every="1d")
        hourly = h.summary(every="1h")
    raw = summarize(ev, every="1d")
    for key, metrics in raw.sketches.items():
        assert same_sketch(daily.sketches[key]["latency_ms"], metrics["latency_ms"])
    assert_same(daily.table, raw.table)
    raw_h = summarize(ev, every="1h")
    assert_same(hourly.table, raw_h.table)
    shared = (pd.Timestamp("2026-03-01 13:00", tz="UTC"),)
    key = next(k for k in raw_h.sketches if k[-1] == shared[0])
    assert same_sketch(
        hourly.sketches[key]["latency_ms"], raw_h.sketches[key]["latency_ms"]
    )


def test_reappending_a_batch_id_replaces_it(history_url: str) -> None:
    a, b = make_events(hours=5, seed=1), make_events(hours=5, seed=2)
    with History(history_url) as h:
        h.append_events(a, every="1h", batch="job-2026-03-01")
        h.append_events(b, every="1h", batch="job-2026-03-01")
        s = h.summary(every=None)
    raw = summarize(b)
    assert_same(s.table, raw.table)
    for key, metrics in raw.sketches.items():
        assert same_sketch(s.sketches[key]["latency_ms"], metrics["latency_ms"])


def test_append_stores_a_plain_windowed_summary(history_url: str) -> None:
    ev = make_events(hours=6)
    with History(history_url) as h:
        h.append(summarize(ev, by="endpoint", every="30min"), source="job")
        s = h.summary(every="2h")
        cmp_table = s.table
    raw = summarize(ev, by="endpoint", every="2h")
    assert_same(cmp_table, raw.table)
    # no Moments nor Histogram were given: SLA compliance is unknown, not 0
    assert "sla_compliance" not in cmp_table and "sla_compliance" in s.missing


def test_unknown_errors_and_tokens_stay_unknown(history_url: str) -> None:
    ev = make_events(hours=4)
    with History(history_url) as h:
        h.append_events(ev.drop(columns=["success"]), every="1h", batch="a")
        h.append_events(make_events(hours=4, seed=9), every="1h", batch="b")
        s = h.summary(every=None)
    assert s.table["errors"].isna().all() and s.table["error_rate"].isna().all()
    assert s.table["count"].sum() == 2 * len(ev)


def test_bad_input_names_the_field(history_url: str, tmp_path: Path) -> None:
    ev = make_events(hours=3)
    with History(history_url) as h:
        with pytest.raises(ValueError, match="every="):
            h.append(summarize(ev))
        with pytest.raises(TypeError, match="Summary"):
            h.append(ev)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="holds no windows"):
            h.summary()
        h.append_events(ev, every="1h")
        with pytest.raises(ValueError, match="'variant'"):
            h.summary(by="variant")
        with pytest.raises(ValueError, match="every"):
            h.summary(every="soon")
        with pytest.raises(ValueError, match="start"):
            h.summary(start="not a time")
        with pytest.raises(ValueError, match="not a multiple"):
            h.summary(every="90min")
    with pytest.raises(ValueError, match="unknown scheme"):
        History("mysql://x/y")
    with pytest.raises(ValueError, match="no directory"):
        History(tmp_path / "missing" / "h.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match=r"junk\.sqlite"):
        History(junk)


def test_a_password_never_shows_in_messages(postgres_server: str) -> None:
    port = postgres_server.rsplit(":", 1)[1]
    with pytest.raises(ValueError, match="cannot connect") as err:
        History("postgresql://perfstats:s3cret@127.0.0.1:1/nodb")
    assert "s3cret" not in str(err.value) and "***" in str(err.value)
    with History(f"postgresql://perfstats:s3cret@127.0.0.1:{port}/postgres") as h:
        assert "s3cret" not in repr(h) and "***" in h.url
        with pytest.raises(ValueError, match="holds no windows") as err:
            h.summary("2000-01-01", "2000-01-02")
    assert "s3cret" not in str(err.value)


def test_is_store_url() -> None:
    assert is_store_url("postgresql://u@h/db") and is_store_url("x/h.sqlite")
    assert is_store_url("sqlite:///tmp/x") and not is_store_url("history-dir")


# ---- retention ----------------------------------------------------------------------


def test_retention_downsamples_old_windows_bucket_exactly(history_url: str) -> None:
    ev = make_events(start="2026-03-01", hours=24 * 6, per_hour=20, seed=5)
    with History(history_url) as h:
        b1 = h.append_events(ev[ev["timestamp"] < pd.Timestamp("2026-03-03", tz="UTC")])
        h.append_events(ev[ev["timestamp"] >= pd.Timestamp("2026-03-03", tz="UTC")])
        before = h.summary(every="1d")
        rows_before = int(h.batches()["rows"].sum())
        merged = h.retain("3d", now="2026-03-07")  # days before 03-04 become daily
        if not history_url.startswith("postgresql"):  # the WAL gave its space back
            assert Path(history_url + "-wal").stat().st_size == 0
        after = h.summary(every="1d")
        hourly_after = h.summary("2026-03-04", None, every="1h")
        bat = h.batches()
        assert h.retain("3d", now="2026-03-07") == 0  # nothing left to merge
        with pytest.raises(ValueError, match="downsampled"):
            h.append_events(ev[ev["timestamp"] < pd.Timestamp("2026-03-03", tz="UTC")])
        assert b1 in set(bat["batch"]) and bat.set_index("batch")["downsampled"][b1]
    assert merged > 0
    assert int(bat["rows"].sum()) == rows_before - merged
    assert list(after.sketches) == list(before.sketches)
    for key, metrics in before.sketches.items():
        assert same_sketch(after.sketches[key]["latency_ms"], metrics["latency_ms"])
    assert_same(after.table, before.table)
    np.testing.assert_array_equal(
        after.table["sla_compliance"], before.table["sla_compliance"]
    )
    # recent windows keep their hours
    raw_h = summarize(
        ev[ev["timestamp"] >= pd.Timestamp("2026-03-04", tz="UTC")], every="1h"
    )
    assert_same(hourly_after.table, raw_h.table)


# ---- import of run directories ------------------------------------------------------


def test_import_of_run_directories_is_idempotent(
    history_url: str, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    days = [
        make_events(start=f"2026-03-0{d}", hours=24, per_hour=10, seed=d)
        for d in (1, 2)
    ]
    for i, ev in enumerate(days):
        append_run(
            runs,
            summarize(ev),
            data_start=ev["timestamp"].min().isoformat(),
            data_end=ev["timestamp"].max().isoformat(),
            generated_at=pd.Timestamp(f"2026-03-0{i + 2}", tz="UTC").to_pydatetime(),
        )
    with History(history_url) as h:
        assert h.import_runs(runs) == 2
        assert h.import_runs(runs) == 2
        s = h.summary(every=None)
        per_day = h.summary(every="1d")
    both = pd.concat(days)
    raw = summarize(both)
    assert_same(s.table, raw.table)
    for key, metrics in raw.sketches.items():
        assert same_sketch(s.sketches[key]["latency_ms"], metrics["latency_ms"])
    assert per_day.table["count"].sum() == len(both)


# ---- format version and fixture ----------------------------------------------------


def fixture_events() -> pd.DataFrame:
    return make_events(start="2026-01-05", hours=24, per_hour=10, seed=16)


def test_fixture_database_of_format_1_stays_readable(tmp_path: Path) -> None:
    """tests/fixtures/history-v1.sqlite was written by format version 1 (see
    write_fixture below); it must read as the same events summarize to today."""
    path = FIXTURES / "history-v1.sqlite"
    copy = tmp_path / path.name  # opening may touch the WAL files: never the original
    copy.write_bytes(path.read_bytes())
    with History(copy) as h:
        s = h.summary(by="endpoint", every="1d")
    raw = summarize(fixture_events(), by="endpoint", every="1d")
    for key, metrics in raw.sketches.items():
        assert same_sketch(s.sketches[key]["latency_ms"], metrics["latency_ms"])
    assert_same(s.table, raw.table)


def write_fixture(path: Path) -> None:  # pragma: no cover - run by hand
    """``python -c 'import test_history_store as t; t.write_fixture(...)'``"""
    with History(path) as h:
        h.append_events(fixture_events(), by="endpoint", every="1h", batch="fixture")
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("VACUUM")
    con.close()


def test_a_store_of_another_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    History(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE schema_version SET version = ?", (STORE_SCHEMA_VERSION + 1,))
    con.commit()
    con.close()
    with pytest.raises(ValueError, match=f"version {STORE_SCHEMA_VERSION + 1}"):
        History(path)


# ---- processes: concurrent writers and a killed writer -------------------------------

WRITER = textwrap.dedent(
    """
    import sys, numpy as np, pandas as pd
    sys.path.insert(0, {tests!r})
    from test_history_store import make_events
    from perfstats.history import History
    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with History(url) as h:
        for i in range(n):
            ev = make_events(start="2026-03-01", hours=3, per_hour=20, seed=1000 * ord(name) + i)
            h.append_events(ev, every="1h", batch=f"{{name}}-{{i}}")
            if i == n // 2:  # both processes run the same job once: counted once
                h.append_events(make_events(hours=3, per_hour=20, seed=7), every="1h")
    """
)


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}


def test_two_processes_appending_at_once_lose_nothing(
    history_url: str, tmp_path: Path
) -> None:
    History(history_url).close()  # tables created before the race
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(Path(__file__).parent)))
    n = 12
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), history_url, name, str(n)],
            env=child_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with History(history_url) as h:
        batches = h.batches()
        s = h.summary(by=[], every="1h")
    assert len(batches) == 2 * n + 1
    every_batch = pd.concat(
        [
            *(
                make_events(hours=3, per_hour=20, seed=1000 * ord(name) + i)
                for name in ("a", "b")
                for i in range(n)
            ),
            make_events(hours=3, per_hour=20, seed=7),
        ]
    )
    raw = summarize(every_batch, by=None, every="1h")
    assert_same(s.table, raw.table)
    for key, metrics in raw.sketches.items():
        assert same_sketch(s.sketches[key]["latency_ms"], metrics["latency_ms"])


CRASHER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_history_store import make_events
    from perfstats.history import History
    from perfstats.history import _backend
    url, flag = sys.argv[1], sys.argv[2]
    h = History(url)
    orig = type(h._db).executemany

    def stall(self, sql, rows):
        orig(self, sql, rows)  # the new rows are written, the old ones deleted...
        open(flag, "w").close()
        time.sleep(600)  # ...and the process is killed before the commit

    type(h._db).executemany = stall
    h.append_events(make_events(hours=6, seed=77), every="1h", batch="daily-job")
    """
)


def test_a_writer_killed_mid_append_leaves_the_previous_state(
    history_url: str, tmp_path: Path
) -> None:
    ev = make_events(hours=6, seed=1)
    with History(history_url) as h:
        h.append_events(ev, every="1h", batch="daily-job")
        before = h.summary(every="1h")
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER.format(tests=str(Path(__file__).parent)))
    flag = tmp_path / "inside-transaction"
    p = subprocess.Popen(
        [sys.executable, str(script), history_url, str(flag)],
        env=child_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert p.poll() is None, p.communicate()[1]
        assert time.monotonic() < deadline, "the child never reached the append"
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=60)
    with History(history_url) as h:
        after = h.summary(every="1h")
        assert list(h.batches()["batch"]) == ["daily-job"]
        # the store is writable again: the killed writer's lock is gone
        h.append_events(make_events(hours=1, seed=2), every="1h", batch="next")
    assert_same(after.table, before.table)
    for key, metrics in before.sketches.items():
        assert same_sketch(after.sketches[key]["latency_ms"], metrics["latency_ms"])


def test_two_runs_in_one_instant_keep_distinct_times(tmp_path: Path) -> None:
    """Regression: the second run of the same second got a new file name but kept the
    same generated_at, and the report's across-runs table then failed to reshape."""
    from perfstats.history import load_runs

    s = summarize(make_events(hours=2))
    when = pd.Timestamp("2026-03-01", tz="UTC").to_pydatetime()
    for _ in range(3):
        append_run(tmp_path, s, generated_at=when)
    times = [r["generated_at"] for r in load_runs(tmp_path)]
    assert len(set(times)) == 3 and times == sorted(times)


# ---- week over week -----------------------------------------------------------------


def test_week_over_week_matches_scipy_on_the_raw_events(history_url: str) -> None:
    from scipy import stats

    rng = np.random.default_rng(11)
    n = 6000
    t0 = pd.Timestamp("2026-02-02", tz="UTC")  # a Monday
    offsets = rng.uniform(0, 14 * 86_400, n)
    current = offsets >= 7 * 86_400
    ev = pd.DataFrame(
        {
            "timestamp": t0 + pd.to_timedelta(offsets, unit="s"),
            "endpoint": rng.choice(["/a", "/b"], n),
            "latency_ms": rng.lognormal(np.log(500), 0.5, n)
            * np.where(current, 1.2, 1),
            "success": rng.random(n) > np.where(current, 0.05, 0.02),
        }
    )
    with History(history_url) as h:
        h.append_events(ev, by="endpoint", every="1h")
        wow = h.week_over_week(t0 + pd.Timedelta(days=14))
        assert wow.equals(h.week_over_week())  # end defaults to the store's last day
    assert sorted(zip(wow["endpoint"], wow["metric"], strict=True)) == [
        ("/a", "error_rate"),
        ("/a", "latency"),
        ("/b", "error_rate"),
        ("/b", "latency"),
    ]
    for row in wow.itertuples():
        mask = ev["endpoint"] == row.endpoint
        a, b = ev[mask & current], ev[mask & ~current]
        if row.metric == "latency":
            x, y = np.log(a["latency_ms"]), np.log(b["latency_ms"])
            assert row.ratio == pytest.approx(np.exp(x.mean() - y.mean()), rel=1e-9)
            assert row.ratio_low < 1.2 < row.ratio_high
        else:
            x = (~a["success"]).astype(float)
            y = (~b["success"]).astype(float)
            assert row.difference == pytest.approx(x.mean() - y.mean(), rel=1e-9)
        expected = stats.ttest_ind(x, y, equal_var=False).pvalue
        assert row.pvalue == pytest.approx(expected, rel=1e-6, abs=1e-300)
        assert row.significant  # a 20% latency rise and errors 2% -> 5%
    with History(history_url) as h:
        with pytest.raises(ValueError, match="both ranges"):
            h.compare(("2030-01-01", "2030-01-08"), ("2026-02-02", "2026-02-09"))


def test_month_over_month_compares_four_weeks_with_the_four_before(
    history_url: str,
) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    t0 = pd.Timestamp("2026-01-05", tz="UTC")
    ev = pd.DataFrame(
        {
            "timestamp": t0 + pd.to_timedelta(rng.uniform(0, 60 * 86_400, n), unit="s"),
            "endpoint": "/a",
            "latency_ms": rng.lognormal(np.log(500), 0.5, n),
            "success": rng.random(n) > 0.02,
        }
    )
    end = t0 + pd.Timedelta(days=60)
    with History(history_url) as h:
        h.append_events(ev, every="1d")
        mom = h.month_over_month(end).set_index("metric")
    cur = (ev["timestamp"] >= end - pd.Timedelta(days=28)) & (ev["timestamp"] < end)
    base = (ev["timestamp"] >= end - pd.Timedelta(days=56)) & ~cur
    base &= ev["timestamp"] < end - pd.Timedelta(days=28)
    assert mom.loc["latency", "n_current"] == cur.sum()
    assert mom.loc["latency", "n_baseline"] == base.sum()
    assert mom.loc["error_rate", "current"] == pytest.approx(
        1 - ev.loc[cur, "success"].mean(), rel=1e-12
    )
