"""Time windows bounded by the data (sparse windows), timestamps of every datetime64
unit checked instead of wrapped, partial windows' rates, unknown costs and quantile
names (issue 11 items 5, 6, 11, 14; issue 13 item 9)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perfstats
from perfstats import metric_series, summarize

# the child imports the same perfstats as this process
PACKAGE_ROOT = Path(perfstats.__file__).resolve().parents[1]


def _frame(ts: pd.Series | pd.DatetimeIndex, **cols: object) -> pd.DataFrame:
    n = len(ts)
    return pd.DataFrame(
        {"timestamp": ts, "latency_ms": np.linspace(10.0, 20.0, n), **cols}
    )


# --- item 5: wrapped timestamps ---------------------------------------------------------


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Berlin"])
def test_timestamp_outside_ns_range_is_refused_naming_the_row(
    unit: str, tz: str | None
) -> None:
    ts = pd.Series(
        pd.to_datetime(["2026-01-01", "2026-01-02", "3000-01-01"]).as_unit(unit)
    )
    if tz is not None:
        ts = ts.dt.tz_localize(tz)
    assert ts.dt.unit == unit
    for every in ("1h", None):
        with pytest.raises(ValueError, match=r"row 2 \(3000-01-01.*outside the range"):
            summarize(_frame(ts), by=None, every=every)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC"])
def test_in_range_timestamps_of_every_unit_give_the_ns_windows(
    unit: str, tz: str | None
) -> None:
    base = pd.Series(
        pd.to_datetime(["2026-01-01 00:10", "2026-01-01 02:30", "2200-06-01 05:00"])
    )
    ts = base.dt.as_unit(unit)
    if tz is not None:
        ts = ts.dt.tz_localize(tz)
    got = summarize(_frame(ts), by=None, every="1h").table
    starts = got.index.get_level_values("window_start")
    expected = pd.to_datetime(
        ["2026-01-01 00:00", "2026-01-01 02:00", "2200-06-01 05:00"], utc=True
    )
    assert list(starts) == list(expected)


@pytest.mark.parametrize("every", [None, "1h"])
def test_nat_is_a_named_error(every: str | None) -> None:
    ts = pd.Series(pd.to_datetime(["2026-01-01", None, "2026-01-02"], utc=True))
    with pytest.raises(ValueError, match=r"row 1 is missing \(NaT\)"):
        summarize(_frame(ts), by=None, every=every)


# --- item 11: cost follows the data, not the span ---------------------------------------


def _in_child(code: str, limit_gb: float = 1.5, timeout: float = 120.0) -> str:
    """Run `code` in a child with its address space capped (RLIMIT_AS), so a
    regression fails with MemoryError instead of eating the machine."""
    prelude = textwrap.dedent(
        f"""
        import resource, sys
        sys.path.insert(0, {str(PACKAGE_ROOT)!r})
        lim = int({limit_gb} * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        import numpy as np, pandas as pd
        from perfstats import summarize, metric_series
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_one_stray_epoch_row_costs_one_window_not_the_span() -> None:
    out = _in_child(
        """
        n = 100_000
        t = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="s")
        t = t.append(pd.DatetimeIndex([pd.Timestamp(0, tz="UTC")]))
        ev = pd.DataFrame({"timestamp": t, "latency_ms": np.ones(n + 1),
                           "endpoint": np.where(np.arange(n + 1) % 3 == 0, "a", "b")})
        s = summarize(ev, every="5min")
        full = summarize(ev.iloc[:n], every="5min")
        stray = s.table.xs(pd.Timestamp(0, tz="UTC"), level="window_start")
        print(len(s.table), len(full.table), int(stray["count"].sum()))
        pd.testing.assert_frame_equal(
            s.table.drop(index=pd.Timestamp(0, tz="UTC"), level="window_start"),
            full.table)
        """
    )
    rows, rows_without, stray = map(int, out.split())
    assert rows == rows_without + 1 and stray == 1


def test_parquet_path_with_a_stray_row_is_bounded_by_the_data(tmp_path: Path) -> None:
    n = 20_000
    t = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="s")
    t = t.append(pd.DatetimeIndex([pd.Timestamp(0, tz="UTC")]))
    ev = pd.DataFrame(
        {
            "timestamp": t,
            "endpoint": pd.Categorical(np.where(np.arange(n + 1) % 2, "/a", "/b")),
            "latency_ms": np.linspace(1.0, 2.0, n + 1),
        }
    )
    path = tmp_path / "stray.parquet"
    ev.to_parquet(path, index=False)
    out = _in_child(
        f"""
        s = summarize({str(path)!r}, every="1min")
        f = summarize(pd.read_parquet({str(path)!r}), every="1min")
        pd.testing.assert_frame_equal(s.table, f.table, check_exact=True)
        print(len(s.table))
        """
    )
    expected = ev.groupby(
        ["endpoint", ev["timestamp"].dt.floor("1min")], observed=True
    ).ngroups
    assert int(out) == expected


@pytest.mark.parametrize("every", ["1min", "1ns"])
def test_decades_at_fine_windows_are_sparse(every: str) -> None:
    out = _in_child(
        f"""
        t = pd.date_range("1981-01-01", "2026-01-01", periods=100, tz="UTC")
        ev = pd.DataFrame({{"timestamp": t, "latency_ms": np.arange(100.0),
                            "endpoint": ["a", "b"] * 50}})
        s = summarize(ev, every={every!r})
        print(len(s.table), int(s.table["count"].sum()))
        got = s.table.index.get_level_values("window_start")
        assert set(got) <= set(t.floor({every!r})), "window starts are the floors"
        try:
            metric_series(ev, "count", every={every!r})
        except ValueError as e:
            print("refused:", e)
        """
    )
    first, second = out.splitlines()
    assert first.split() == ["100", "100"]
    assert second.startswith("refused:") and "1981-01-01" in second
    assert "windows" in second and "largest gap" in second


def test_sparse_windows_equal_dense_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sparse numbering gives the same table as the dense one (forced here)."""
    from perfstats.analysis import summary as summary_module

    rng = np.random.default_rng(3)
    n = 3000
    ev = pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(np.sort(rng.uniform(0, 3 * 86400, n)), unit="s"),
            "endpoint": rng.choice(["/a", "/b", None], n),
            "model": pd.Categorical(rng.choice(["x", "y"], n)),
            "latency_ms": rng.lognormal(5, 1, n),
            "success": rng.random(n) > 0.1,
        }
    )
    dense = summarize(ev, by=["endpoint", "model"], every="1h")
    monkeypatch.setattr(summary_module, "_DENSE_MIN", 0)
    monkeypatch.setattr(summary_module, "_DENSE_FACTOR", 0)
    sparse = summarize(ev, by=["endpoint", "model"], every="1h")
    pd.testing.assert_frame_equal(sparse.table, dense.table, check_exact=True)
    assert list(sparse.sketches) == list(dense.sketches)
    no_window = summarize(ev, by=["endpoint", "model"])
    monkeypatch.undo()
    pd.testing.assert_frame_equal(
        no_window.table, summarize(ev, by=["endpoint", "model"]).table
    )


# --- issue 13 item 9: partial windows ----------------------------------------------------


def test_partial_windows_rate_is_unbiased_for_a_steady_poisson_stream() -> None:
    """Seeded simulation: a Poisson stream at 0.77/s starting and ending mid-window;
    the mean rate of the first and last windows is within 3 standard errors of the
    truth (the old window-length denominator reads ~0.5 and ~0.2 there)."""
    rng = np.random.default_rng(11)
    rate, reps = 0.77, 120
    first, last = [], []
    for _ in range(reps):
        start = rng.uniform(0, 3600)
        end = 3 * 3600 + rng.uniform(0, 3600)
        n = rng.poisson(rate * (end - start))
        t = np.sort(rng.uniform(start, end, n))
        ev = _frame(pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(t, unit="s"))
        tab = summarize(ev, by=None, every="1h").table
        assert bool(tab["partial"].iloc[0]) and bool(tab["partial"].iloc[-1])
        assert not tab["partial"].iloc[1:-1].any()
        assert tab["covered_s"].iloc[0] == pytest.approx(3600 - t[0] % 3600)
        first.append(tab["throughput_rps"].iloc[0])
        last.append(tab["throughput_rps"].iloc[-1])
    for values in (np.array(first), np.array(last)):
        se = values.std(ddof=1) / np.sqrt(reps)
        assert abs(values.mean() - rate) < 3 * se + 1e-3


# --- item 6: unknown costs ----------------------------------------------------------------


def test_unknown_costs_are_not_zero() -> None:
    ts = pd.date_range("2026-01-01", periods=6, freq="min", tz="UTC")
    ev = _frame(
        ts,
        endpoint=["a", "a", "a", "b", "b", "b"],
        cost_usd=[0.5, 0.568, np.nan, np.nan, np.nan, np.nan],
    )
    s = summarize(ev, by="endpoint")
    a, b = s.table.loc["a"], s.table.loc["b"]
    assert a["cost_usd"] == pytest.approx(1.068)
    assert a["cost_per_request"] == pytest.approx(0.534)  # known costs' mean
    assert a["cost_unknown"] == 1
    assert np.isnan(b["cost_usd"]) and np.isnan(b["cost_per_request"])
    assert b["cost_unknown"] == 3
    assert "4 of 6" in s.missing["cost_usd unknown"]
    assert "cost_usd unknown" in repr(s)
    assert s.to_dict()["groups"][1]["cost_usd"] is None


# --- item 14: quantile names ----------------------------------------------------------


def test_quantile_names_are_faithful_and_unique() -> None:
    ts = pd.date_range("2026-01-01", periods=50, freq="min", tz="UTC")
    s = summarize(_frame(ts), by=None, quantiles=[0.5, 0.999, 0.9999999999, 1.0])
    cols = [c for c in s.table.columns if c.startswith("latency_p")]
    assert cols == [
        "latency_p50",
        "latency_p99.9",
        "latency_p99.99999999",
        "latency_p100",
    ]
    with pytest.raises(ValueError, match="distinct"):
        summarize(_frame(ts), by=None, quantiles=[0.99, 0.99])
    got = metric_series(_frame(ts), "latency_p99.99999999", every="1h")
    assert got.name == "latency_p99.99999999" and got.notna().all()
