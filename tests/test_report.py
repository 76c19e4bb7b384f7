"""build_report: findings against independent computations, every output format, the
Prometheus exposition format, atomic writes, and the HTML rendered in headless Chromium."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perfstats import datasets, trend
from perfstats._files import atomic_write
from perfstats.analysis.summary import summarize
from perfstats.history import append_run, load_runs, run_sketches
from perfstats.report import (
    DEFAULT_SECTIONS,
    Report,
    ReportContext,
    Section,
    build_report,
    format_for,
)
from perfstats.stats.intervals import wilson_interval

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return datasets.llm_app(days=10, seed=3, requests_per_day=5_000)


@pytest.fixture(scope="module")
def report(sample: pd.DataFrame) -> Report:
    return build_report(sample, budget=20.0, budget_period="day")


def small_events(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ev = pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
            "endpoint": np.where(rng.random(n) < 0.5, "/fast", "/slow"),
            "queue_ms": rng.exponential(20.0, n),
        }
    )
    slow = (ev["endpoint"] == "/slow").to_numpy()
    ev["processing_ms"] = rng.lognormal(np.log(np.where(slow, 1500, 300)), 0.5)
    ev["latency_ms"] = ev["queue_ms"] + ev["processing_ms"]
    ev["success"] = rng.random(n) > np.where(slow, 0.05, 0.01)
    return ev


# ---- sections and findings --------------------------------------------------------


def test_sample_report_has_every_section_the_data_allow(report: Report) -> None:
    keys = [s.key for s in report.sections]
    assert keys == [
        "overview",
        "latency",
        "phases",
        "errors",
        "tokens",
        "cost",
        "variants",
        "ab",
        "trend",
        "anomalies",
    ]
    for s in report.sections:
        assert s.tables, s.key


def test_findings_are_ranked_by_severity_then_score(report: Report) -> None:
    order = {"critical": 0, "warning": 1, "info": 2}
    keys = [(order[f.severity], -f.score) for f in report.findings]
    assert keys == sorted(keys)
    assert {f.kind for f in report.findings} >= {
        "tail_driver",
        "cost_concentration",
        "budget",
        "error_burst",
    }


def test_tail_driver_matches_exact_tail_shares(
    sample: pd.DataFrame, report: Report
) -> None:
    """Oracle: NumPy's exact p99 and the phase sums of the requests at or above it."""
    found = {f.numbers["group"]: f for f in report.findings if f.kind == "tail_driver"}
    assert set(found) == {"/api/chat", "/api/chat-v2"}
    for endpoint, f in found.items():
        part = sample[sample["endpoint"] == endpoint]
        p99 = np.quantile(part["latency_ms"], 0.99)
        tail = part[part["latency_ms"] >= p99]
        shares = {
            ph: tail[ph].sum() / tail["latency_ms"].sum()
            for ph in ("queue_ms", "processing_ms", "delivery_ms")
        }
        assert f.numbers["phase"] == max(shares, key=shares.__getitem__)
        # the sketch's p99 is within 1 % of the exact one, so the tail differs by a
        # few requests: shares agree to about a percentage point
        assert f.numbers["tail_share"] == pytest.approx(
            shares[f.numbers["phase"]], abs=0.02
        )
        assert f.numbers["latency_p99_ms"] == pytest.approx(p99, rel=0.02)


def test_cost_concentration_matches_pandas_groupby(
    sample: pd.DataFrame, report: Report
) -> None:
    f = next(f for f in report.findings if f.kind == "cost_concentration")
    assert f.numbers["model"] == "o1"  # the expensive tier: 10 % of calls
    by_model = sample.groupby("model", observed=True)["cost_usd"].agg(["sum", "size"])
    assert f.numbers["cost_share"] == pytest.approx(
        by_model.loc["o1", "sum"] / by_model["sum"].sum(), rel=1e-9
    )
    assert f.numbers["request_share"] == pytest.approx(
        by_model.loc["o1", "size"] / len(sample), rel=1e-12
    )
    assert f.numbers["cost_share"] / f.numbers["request_share"] >= 1.5


def test_injected_error_burst_is_found_and_nothing_else(report: Report) -> None:
    truth = datasets.llm_app_incidents(10).set_index("kind").loc["error_burst"]
    bursts = [f for f in report.findings if f.kind == "error_burst"]
    assert bursts, "the injected upstream outage was not reported"
    for f in bursts:  # every burst reported overlaps the injected one
        assert f.numbers["start"] < truth["end"]
        assert f.numbers["end"] > truth["start"]
    # the numbers behind it: errors / requests with a Wilson interval
    f = bursts[0]
    lo, _ = wilson_interval(f.numbers["errors"], f.numbers["requests"])
    assert f.numbers["error_rate_low"] == pytest.approx(float(lo))
    assert f.numbers["error_rate"] == f.numbers["errors"] / f.numbers["requests"]


def test_ab_findings_carry_compare_numbers(
    report: Report, sample: pd.DataFrame
) -> None:
    from perfstats import compare

    comp = compare(sample).table.set_index(["variant", "metric"])
    ab = [f for f in report.findings if f.kind == "ab_metric"]
    # llm_app's v2 processes 15 % faster: latency is "better", nothing "worse"
    assert ab and all(f.numbers["variant"] == "treatment" for f in ab)
    assert {f.numbers["metric"] for f in ab} >= {"latency"}
    for f in ab:
        row = comp.loc[("treatment", f.numbers["metric"])]
        assert row["verdict"] == "better" and f.severity == "info"
        for key in ("relative_lift", "lift_low", "lift_high", "pvalue_adjusted"):
            assert f.numbers[key] == pytest.approx(float(row[key]), rel=1e-12)
    lat = comp.loc[("treatment", "latency")]
    assert -0.25 < lat["relative_lift"] < -0.1  # about 15 % faster processing
    verdict = [f for f in report.findings if f.kind == "ab_verdict"]
    assert [f.numbers["verdict"] for f in verdict] == ["ship"]
    assert "sample_ratio" not in report.section("ab").tables  # no planned split


def test_ab_sample_ratio_mismatch_is_critical(sample: pd.DataFrame) -> None:
    from perfstats import srm_test

    counts = sample["variant"].astype(str).value_counts()
    split = {"control": 0.5, "treatment": 0.5}
    r = build_report(sample, planned_split=split)
    (f,) = [f for f in r.findings if f.kind == "ab_sample_ratio"]
    ref = srm_test([counts["control"], counts["treatment"]], [0.5, 0.5])
    assert f.severity == "critical" and r.findings[0] is f
    assert f.numbers["pvalue"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert f.numbers["requests_treatment"] == counts["treatment"]
    ok = build_report(sample, planned_split={"control": 0.9, "treatment": 0.1})
    assert not [f for f in ok.findings if f.kind == "ab_sample_ratio"]
    assert not ok.section("ab").tables["sample_ratio"]["mismatch"].iloc[0]


def _rising(days: int = 14, growth: float = 0.03, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2026-02-01", periods=days * 24 * 30, freq="2min", tz="UTC")
    day = np.asarray((ts - ts[0]) / pd.Timedelta(days=1))
    return pd.DataFrame(
        {
            "timestamp": ts,
            "latency_ms": rng.lognormal(np.log(900.0), 0.4, len(ts))
            * (1 + growth * day),
        }
    )


def test_trend_finding_is_the_statsmodels_band_crossing() -> None:
    import statsmodels.api as sm
    from scipy import stats

    ev = _rising()
    r = build_report(ev, sla_target_ms=3000.0)
    (f,) = [f for f in r.findings if f.kind == "trend_crossing"]
    daily = ev.groupby(ev["timestamp"].dt.floor("D"))["latency_ms"].quantile(0.95)
    x = np.asarray((daily.index - daily.index[0]) / pd.Timedelta(days=1))
    # The report fits log p95 (latency: multiplicative noise) with the AR(1) noise the
    # residuals show: the oracle is statsmodels GLS at the fit's phi and the AR(1)
    # forecast band (trend + phi^h of the last residual).
    fit = trend(ev, "latency_p95", every="1D", budget=3000.0, horizon="14D").fit
    assert fit.scale == "log" and fit.errors == "ar1"
    phi = fit.phi
    gls = sm.GLS(
        np.log(daily.to_numpy()),
        sm.add_constant(x),
        sigma=phi ** np.abs(x[:, None] - x[None, :]),
    ).fit()
    t = (f.numbers["crossing"] - daily.index[0]) / pd.Timedelta(days=1)
    h = t - x[-1]
    x_new, x_last = np.array([1.0, t]), np.array([1.0, x[-1]])
    carry = phi**h
    d = x_new - carry * x_last
    mean = x_new @ gls.params + carry * (np.log(daily.iloc[-1]) - x_last @ gls.params)
    var = gls.scale * (1 - carry**2) + d @ gls.cov_params() @ d
    upper = np.exp(mean + stats.t.ppf(0.975, gls.df_resid) * np.sqrt(var))
    # the report's daily p95 comes from 1%-accurate sketches, the oracle from exact
    # quantiles: the crossing band agrees to within that accuracy
    assert upper == pytest.approx(3000.0, rel=0.03)
    assert 0 < f.numbers["days_ahead"] <= 14
    assert f.numbers["slope_ms_per_day"] == pytest.approx(fit.slope, rel=0.05)
    sec = r.section("trend")
    table = sec.tables["p95_per_day"]
    assert table["forecast"].sum() == 14 and len(sec.charts) == 1
    # a flat series far below the target: no trend finding at all
    flat = build_report(_rising(growth=0.0), sla_target_ms=30_000.0)
    assert not [f for f in flat.findings if f.section == "trend"]
    # too short for a daily trend: no section
    assert "trend" not in [s.key for s in build_report(_rising(days=3)).sections]
    # long enough, but only two days with requests: the section says why
    sparse = _rising()
    sparse = sparse[sparse["timestamp"].dt.day.isin([1, 14])]
    sec = build_report(sparse).section("trend")
    assert not sec.charts and "needs at least 3" in sec.notes[0]
    # the trend's warnings are printed in the section: a slower deploy on day 20 of
    # 30 is a change point, and the trend is fitted on the days since
    shifted = _rising(days=30, growth=0.0)
    late = shifted["timestamp"] >= shifted["timestamp"].iloc[0] + pd.Timedelta(days=20)
    shifted.loc[late, "latency_ms"] *= 1.5
    sec = build_report(shifted).section("trend")
    tr = trend(shifted, "latency_p95", every="1D", horizon="14D")
    assert tr.regime_start is not None and tr.warnings
    for w in tr.warnings:
        assert f"Trend warning: {w}" in sec.notes


def test_anomaly_findings_are_the_injected_incidents(report: Report) -> None:
    truth = datasets.llm_app_incidents(10)
    found = [f for f in report.findings if f.kind == "anomaly"]
    kinds = set()
    for f in found:
        start, end = f.numbers["start"], f.numbers["end"]
        hit = truth[(truth["start"] < end) & (truth["end"] > start)]
        assert len(hit) == 1, f.title  # no false alarm in this sample
        kinds.add(hit["kind"].iloc[0])
        assert f.severity == "warning" and not f.numbers["open"]
    # the cost spike (day 2, 03:00: input tokens per request x2.5-3.4) is found too
    assert kinds == {"cost_spike", "latency_spike", "error_burst", "queue_saturation"}
    table = report.section("anomalies").tables["incidents"]
    assert len(table) == len(found)


def test_sla_miss_numbers_are_exact_shares() -> None:
    ev = small_events()
    rep = build_report(ev, sla_target_ms=2000, sla_objective=0.95)
    misses = {f.numbers["group"]: f for f in rep.findings if f.kind == "sla_miss"}
    assert set(misses) == {"/slow"}  # /fast: p99 well below 2 s
    slow = ev[ev["endpoint"] == "/slow"]
    assert misses["/slow"].numbers["sla_compliance"] == pytest.approx(
        float((slow["latency_ms"] <= 2000).mean()), abs=1e-12
    )
    errors = {f.numbers["group"] for f in rep.findings if f.kind == "error_outlier"}
    assert errors == {"/slow"}  # 5 % against 1 %


def test_budget_severity_follows_spend(sample: pd.DataFrame) -> None:
    tight = build_report(sample, budget=1.0, budget_period="day")
    loose = build_report(sample, budget=1e6, budget_period="month")
    (b_tight,) = [f for f in tight.findings if f.kind == "budget"]
    (b_loose,) = [f for f in loose.findings if f.kind == "budget"]
    assert b_tight.severity == "critical" and tight.findings[0] is b_tight
    assert b_loose.severity == "info"
    last_day = (
        sample["timestamp"].dt.floor("D") == sample["timestamp"].dt.floor("D").max()
    )
    assert b_tight.numbers["spend_usd"] == pytest.approx(
        sample.loc[last_day, "cost_usd"].sum(), rel=1e-9
    )


def test_sections_are_pluggable() -> None:
    def extra(ctx: ReportContext) -> Section:
        sec = Section("extra", "Extra")
        sec.tables["n"] = pd.DataFrame({"requests": [len(ctx.frame)]})
        return sec

    def never(ctx: ReportContext) -> Section | None:
        return None

    seen: list[str] = []
    rep = build_report(
        small_events(), sections=[*DEFAULT_SECTIONS, extra, never], progress=seen.append
    )
    assert rep.sections[-1].key == "extra"
    assert "never" not in [s.key for s in rep.sections]
    assert seen[-2:] == ["extra", "never"]
    assert rep.section("extra").tables["n"]["requests"].iloc[0] == 4000


def test_only_timestamp_still_reports() -> None:
    ev = pd.DataFrame(
        {"timestamp": pd.date_range("2026-01-01", periods=50, freq="h", tz="UTC")}
    )
    rep = build_report(ev)
    assert [s.key for s in rep.sections] == ["overview"]
    assert any("latency" in n for n in rep.section("overview").notes)
    for fmt in ("html", "md", "json", "csv", "prom"):
        assert rep.render(fmt)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sla_target_ms": -1.0}, "sla_target_ms"),
        ({"sla_target_ms": math.nan}, "sla_target_ms"),
        ({"sla_objective": 1.5}, "sla_objective"),
    ],
)
def test_bad_options_raise(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_report(small_events(100), **kwargs)  # type: ignore[arg-type]


def test_empty_events_raise() -> None:
    with pytest.raises(ValueError, match="empty"):
        build_report(small_events().iloc[:0])


# ---- formats ----------------------------------------------------------------------


def test_json_csv_markdown_carry_the_same_numbers(report: Report) -> None:
    doc = json.loads(report.to_json())
    assert doc == json.loads(json.dumps(report.to_dict()))
    rows = pd.read_csv(pd.io.common.StringIO(report.to_csv()), dtype=str)
    values = {(r.section, r.table, r.row, r.column): r.value for r in rows.itertuples()}
    checked = 0
    for sec in doc["sections"]:
        for name, records in sec["tables"].items():
            table = report.section(sec["key"]).tables[name]
            index_names = [n or "index" for n in table.index.names]
            for rec in records:
                label = " | ".join(str(rec[n]) for n in index_names)
                for col in table.columns:
                    v = rec[str(col)]
                    if isinstance(v, float):
                        got = float(values[(sec["key"], name, label, str(col))])
                        assert got == v  # repr round-trips floats exactly
                        checked += 1
    assert checked > 100
    md = report.to_markdown()
    for s in report.sections:
        assert f"## {s.title}" in md
    for i, f in enumerate(report.findings, 1):
        assert md.count(f"\n{i}. **{f.severity}**") == 1
    p99 = report.summary.table.loc["/api/chat", "latency_p99"]
    assert f"{p99:,.0f}" in md


def test_html_is_self_contained(report: Report) -> None:
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>")
    n_charts = sum(len(s.charts) for s in report.sections)
    assert page.count("<svg") == n_charts >= 5
    assert "<script" not in page and "<link" not in page and "<img" not in page
    # nothing to fetch: the only URLs are XML namespaces inside the SVGs
    urls = set(re.findall(r"""(?:src|href)=["']?(https?:[^"' >]+)""", page))
    assert urls <= {"http://www.w3.org/1999/xlink"}, urls
    for s in report.sections:
        assert f"id='{s.key}'" in page
    assert all(
        f.title.split(":")[0].replace("&", "&amp;") in page for f in report.findings
    )


# ---- Prometheus -------------------------------------------------------------------

# https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(
    rf"^({_NAME})(?:\{{{_LABEL}(?:,{_LABEL})*\}})? "
    r"(?:[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|NaN|[+-]Inf)$"
)
_HELP = re.compile(rf"^# HELP ({_NAME}) (?:[^\\\n]|\\[\\n])*$")
_TYPE = re.compile(rf"^# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)$")


def check_exposition(text: str) -> None:
    """Strict line grammar: HELP then TYPE once per family, then its samples."""
    assert text.endswith("\n")
    typed: set[str] = set()
    current = None
    for line in text.splitlines():
        if m := _HELP.match(line):
            assert m.group(1) not in typed, f"family {m.group(1)} repeated"
            current = m.group(1)
        elif m := _TYPE.match(line):
            assert m.group(1) == current
            typed.add(current)
        else:
            m = _SAMPLE.match(line)
            assert m, f"not a valid sample line: {line!r}"
            assert m.group(1) == current, f"sample outside its family: {line!r}"


def test_prometheus_text_is_valid_and_holds_the_summary(report: Report) -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    text = report.to_prometheus()
    check_exposition(text)
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    assert all(f.type == "gauge" for f in families.values())
    lat = {
        (s.labels["endpoint"], s.labels["quantile"]): s.value
        for s in families["perfstats_latency_ms"].samples
    }
    table = report.summary.table
    assert lat[("/api/chat", "0.99")] == table.loc["/api/chat", "latency_p99"]
    assert lat[("/api/chat-v2", "0.999")] == table.loc["/api/chat-v2", "latency_p99.9"]
    cost = {
        s.labels["model"]: s.value for s in families["perfstats_model_cost_usd"].samples
    }
    assert cost["o1"] == pytest.approx(report.cost.by_model.loc["o1", "cost_usd"])  # type: ignore[union-attr]
    findings = {
        s.labels["severity"]: s.value for s in families["perfstats_findings"].samples
    }
    assert sum(findings.values()) == len(report.findings)


def test_prometheus_label_values_are_escaped() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    ev = small_events(600)
    odd = 'we"ird\\end\npoint'
    ev["endpoint"] = np.where(ev.index % 2 == 0, odd, "/plain")
    ev = ev.rename(columns={"endpoint": "route.name"})
    text = build_report(ev, by="route.name").to_prometheus()
    check_exposition(text)
    assert 'route_name="we\\"ird\\\\end\\npoint"' in text
    samples = [
        s
        for f in parser.text_string_to_metric_families(text)
        if f.name == "perfstats_requests"
        for s in f.samples
    ]
    assert {s.labels["route_name"]: s.value for s in samples} == {
        odd: 300,
        "/plain": 300,
    }


# ---- writing and history ----------------------------------------------------------


@pytest.mark.parametrize("suffix", [".html", ".md", ".json", ".csv", ".prom"])
def test_write_picks_format_from_suffix(
    report: Report, tmp_path: Path, suffix: str
) -> None:
    path = report.write(tmp_path / f"out{suffix}")
    assert path.read_text() == report.render(format_for(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{suffix}"]


def test_write_is_atomic(
    report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.md"
    target.write_text("old report\n")

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        report.write(target)
    assert target.read_text() == "old report\n"  # untouched, and no temp file left
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_unknown_suffix_is_refused(report: Report, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="suffix"):
        report.write(tmp_path / "report.txt")
    atomic_write(tmp_path / "a" / "b.txt", b"bytes")
    assert (tmp_path / "a" / "b.txt").read_bytes() == b"bytes"


def test_history_round_trip_and_section(tmp_path: Path) -> None:
    ev = small_events()
    s1 = summarize(ev.iloc[:2000], by="endpoint")
    s2 = summarize(ev.iloc[2000:], by="endpoint")
    append_run(tmp_path, s1, source="first")
    append_run(tmp_path, s2, source="second")
    runs = load_runs(tmp_path)
    assert [r["source"] for r in runs] == ["first", "second"]
    sk = run_sketches(runs[0])
    assert sk["/slow"]["latency_ms"] == s1.sketches[("/slow",)]["latency_ms"]
    # sketches of the two runs merge into the sketch of all events
    merged = sk["/slow"]["latency_ms"].merge(
        run_sketches(runs[1])["/slow"]["latency_ms"]
    )
    whole = summarize(ev, by="endpoint").sketches[("/slow",)]["latency_ms"]
    assert merged.count == whole.count
    assert merged.quantile(0.99) == pytest.approx(whole.quantile(0.99), rel=1e-12)

    rep = build_report(ev, history=runs)
    runs_table = rep.section("history").tables["runs"]
    assert len(runs_table) == 3 * 2  # two earlier runs and this one, two endpoints
    assert (
        runs_table.loc[(runs[0]["generated_at"], "/slow"), "latency_p99"]
        == (s1.table.loc["/slow", "latency_p99"])
    )


def test_history_rejects_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "run-1.json").write_text('{"schema": 99}')
    with pytest.raises(ValueError, match="schema"):
        load_runs(tmp_path)
    (tmp_path / "run-1.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"run-1\.json"):
        load_runs(tmp_path)
    assert load_runs(tmp_path / "nothing-here") == []


# ---- the page in a browser --------------------------------------------------------


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_html_renders_in_headless_chromium(report: Report) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    out = ROOT / "build"
    out.mkdir(exist_ok=True)
    page = report.write(out / "test-report.html").resolve()
    shot = out / "report.png"
    shot.unlink(missing_ok=True)
    flags = ["--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
    url = page.as_uri()
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1400,12000", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    for s in report.sections:
        assert f'<section id="{s.key}">' in dom
        assert f"<h2>{s.title}</h2>" in dom
    assert dom.count("<svg") == sum(len(s.charts) for s in report.sections)
    assert dom.count("<li class=") == len(report.findings)
    # the charts were drawn: each SVG holds paths
    assert dom.count("<path") > 100
    # the A/B forest plot, the forecast band and the anomaly bands
    for key in ("ab", "trend", "anomalies"):
        part = dom.split(f'<section id="{key}">', 1)[1].split("</section>", 1)[0]
        n_charts = len(report.section(key).charts)
        assert n_charts >= 1 and part.count("<svg") == n_charts, key
        assert part.count("<path") > 10 * n_charts, key


#: Probe run inside the page: the page's scroll width and any element reaching past the
#: right edge outside a scrolling table box, written into the parent document.
_OVERFLOW_PROBE = (
    "<script>window.addEventListener('load',()=>{const d=document.documentElement;"
    "const wide=[];document.querySelectorAll('body *').forEach(e=>{"
    "const r=e.getBoundingClientRect();if(r.right>d.clientWidth+1&&!e.closest('.table'))"
    "wide.push(e.tagName+'.'+e.className)});const o=parent.document.createElement('pre');"
    "o.id='probe';o.textContent=JSON.stringify({scroll:d.scrollWidth,"
    "client:d.clientWidth,wide:wide.slice(0,10)});parent.document.body.appendChild(o)})"
    "</script>"
)


@pytest.mark.parametrize("width", [1400, 390])
def test_page_body_never_scrolls_sideways(report: Report, width: int) -> None:
    """At a desktop width and a phone's (390 px; headless Chromium's window is at least
    500 px wide, so the page runs in an iframe of that width), nothing but a table's own
    box is wider than the page."""
    import html as _html

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    out = ROOT / "build"
    out.mkdir(exist_ok=True)
    page = report.to_html().replace("</body>", _OVERFLOW_PROBE + "</body>")
    frame = out / f"test-report-{width}.html"
    frame.write_text(
        "<!DOCTYPE html><html><body style='margin:0'>"
        f"<iframe style='width:{width}px;height:3000px;border:0' "
        f'srcdoc="{_html.escape(page, quote=True)}"></iframe></body></html>',
        encoding="utf-8",
    )
    flags = ["--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")
    dom = subprocess.run(
        [
            browser,
            *flags,
            f"--window-size={max(width, 800)},3000",
            "--virtual-time-budget=10000",
            "--dump-dom",
            frame.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom)
    assert found, "the probe did not run"
    probe = json.loads(_html.unescape(found.group(1)))
    assert probe["client"] == width
    assert probe["scroll"] == width, probe
    assert probe["wide"] == [], probe


def test_repr_and_notebook_html(report: Report) -> None:
    text = repr(report)
    assert text.splitlines()[0] == "Report: perfstats report"
    for f in report.findings:
        assert f.title in text
    snippet = report._repr_html_()
    assert "<style" not in snippet
    assert snippet.count("<tr><th>") == 1 + len(report.findings)  # header, findings
    assert "to_html() gives the full page" in snippet
    frame = report.to_frame()
    assert frame["title"].tolist() == [f.title for f in report.findings]


def test_missing_group_column_reports_all_events_as_one_group() -> None:
    ev = small_events(500)
    # a name that is not a column is a typo to report, listing the columns (issue 14)
    with pytest.raises(ValueError, match=r"by= names 'region'.*endpoint"):
        build_report(ev, by="region")
    # the default grouping is optional: without an endpoint column, one group
    rep = build_report(ev.drop(columns="endpoint"))
    assert rep.section("latency").tables["latency"].shape[0] == 1
    assert "by endpoint" in " ".join(rep.section("overview").notes)
    csv_text = rep.to_csv()
    assert "latency,latency,all,count,500" in csv_text
    assert "\nperfstats_requests 500.0\n" in rep.to_prometheus()
