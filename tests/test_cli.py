"""The perfstats command line: report in every format, history across runs, the check
gate's exit codes, and one-line errors (exit 2) on bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import perfstats
from perfstats import datasets
from perfstats.analysis.summary import summarize
from perfstats.cli import Progress, main, parse_budget
from perfstats.history import load_runs


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events") / "events.parquet"
    datasets.llm_app(days=3, seed=1, requests_per_day=3_000).to_parquet(path)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["md", "json", "csv", "prom", "html"])
def test_report_every_format(
    fmt: str, events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"r.{fmt}"
    code, _, err = run(
        ["report", str(events_file), "-o", str(out), "--budget", "50/day", "--quiet"],
        capsys,
    )
    assert code == 0, err
    assert err == ""  # --quiet: no progress, no summary line
    text = out.read_text()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left
    if fmt == "json":
        doc = json.loads(text)
        assert doc["meta"]["budget_usd"] == 50.0
        assert doc["meta"]["budget_period"] == "day"
        assert doc["findings"]
    elif fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    elif fmt == "prom":
        assert "# TYPE perfstats_latency_ms gauge" in text
    elif fmt == "csv":
        assert text.startswith("section,table,row,column,value\n")
    else:
        assert text.startswith("# perfstats report")


def test_format_option_overrides_suffix_and_stdout(
    events_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["report", str(events_file), "--format", "prom", "-o", "-"], capsys
    )
    assert code == 0
    assert out.startswith("# HELP perfstats_requests")


def test_report_summary_line_without_progress_bar_when_not_a_terminal(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.md"
    code, _, err = run(["report", str(events_file), "-o", str(out)], capsys)
    assert code == 0
    assert "\r" not in err  # stderr is captured, not a terminal: no bar
    assert err.startswith(f"wrote {out} (md, ") and err.count("\n") == 1


def test_progress_bar_draws_and_clears() -> None:
    stream = io.StringIO()
    bar = Progress(4, enabled=True, stream=stream)
    for name in ("a", "b", "c", "d"):
        bar.step(name)
    bar.done()
    text = stream.getvalue()
    assert "[" + "#" * 24 + "] 4/4 d" in text and text.endswith("\r")
    quiet = io.StringIO()
    Progress(4, enabled=False, stream=quiet).step("a")
    assert quiet.getvalue() == ""


def test_sample_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sample.json"
    code, _, err = run(["report", "--sample", "-o", str(out), "--quiet"], capsys)
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["meta"]["requests"] == len(datasets.llm_app(days=30, seed=0))
    kinds = {f["kind"] for f in doc["findings"]}
    assert {"tail_driver", "cost_concentration", "error_burst"} <= kinds


def test_history_across_two_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ev = datasets.llm_app(days=2, seed=2, requests_per_day=2_000)
    first, second = tmp_path / "day1.parquet", tmp_path / "day2.parquet"
    day = ev["timestamp"].dt.floor("D")
    ev[day == day.min()].to_parquet(first)
    ev[day == day.max()].to_parquet(second)
    hist = tmp_path / "history"
    for i, path in enumerate((first, second)):
        code, _, err = run(
            [
                "report",
                str(path),
                "-o",
                str(tmp_path / f"r{i}.json"),
                "--history",
                str(hist),
                "--quiet",
            ],
            capsys,
        )
        assert code == 0, err
    runs = load_runs(hist)
    assert len(runs) == 2 and len(list(hist.iterdir())) == 2
    assert runs[0]["source"].endswith("day1.parquet")
    doc = json.loads((tmp_path / "r1.json").read_text())
    first_doc = json.loads((tmp_path / "r0.json").read_text())
    assert "history" not in [s["key"] for s in first_doc["sections"]]
    table = next(s for s in doc["sections"] if s["key"] == "history")["tables"]["runs"]
    first_p99 = summarize(ev[day == day.min()], by="endpoint").table["latency_p99"]
    got = {
        r["group"]: r["latency_p99"]
        for r in table
        if r["run"] == runs[0]["generated_at"]
    }
    assert got == pytest.approx(first_p99.to_dict(), rel=1e-12)


# ---- check --------------------------------------------------------------------------


def test_check_passes_and_fails(
    events_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = summarize(pd.read_parquet(events_file), by="endpoint").table
    worst_p99 = float(s["latency_p99"].max())
    worst_err = float(s["error_rate"].max())
    code, out, _ = run(
        [
            "check",
            str(events_file),
            "--max-p99-ms",
            str(worst_p99 * 1.01),
            "--max-error-rate",
            str(worst_err + 0.001),
        ],
        capsys,
    )
    assert code == 0, out
    assert out.count("PASS") == 4 and "FAIL" not in out
    assert out.strip().endswith("4 passed, 0 failed")
    code, out, _ = run(
        [
            "check",
            str(events_file),
            "--max-p99-ms",
            str(worst_p99 * 0.99),
            "--min-sla-compliance",
            "0.0",
        ],
        capsys,
    )
    assert code == 1
    assert out.count("FAIL") == 1  # only the endpoint with the worst p99
    line = next(ln for ln in out.splitlines() if "FAIL" in ln)
    assert str(s["latency_p99"].idxmax()) in line


def test_check_budget(events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", str(events_file), "--budget", "1000000"], capsys)
    assert code == 0 and "spend" in out
    code, out, _ = run(["check", str(events_file), "--budget", "$0.01/day"], capsys)
    assert code == 1 and out.count("FAIL") == 2


def test_check_against_baseline(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ev = pd.read_parquet(events_file)
    slower = ev.copy()
    slower["processing_ms"] *= 1.5
    slower["latency_ms"] = slower[["queue_ms", "processing_ms", "delivery_ms"]].sum(
        axis=1
    )
    slow_file = tmp_path / "slower.parquet"
    slower.to_parquet(slow_file)
    # against the same data: no regression; against faster data: p99 rose
    code, out, _ = run(
        ["check", str(events_file), "--baseline", str(events_file)], capsys
    )
    assert code == 0, out
    code, out, _ = run(
        ["check", str(slow_file), "--baseline", str(events_file)], capsys
    )
    assert code == 1 and out.count("FAIL") == 2
    # a history directory: its last run is the baseline
    hist = tmp_path / "hist"
    run(
        [
            "report",
            str(events_file),
            "-o",
            str(tmp_path / "r.md"),
            "--history",
            str(hist),
            "--quiet",
        ],
        capsys,
    )
    # a history run keeps no per-request data: no test, so neither pass nor fail
    code, out, _ = run(["check", str(slow_file), "--baseline", str(hist)], capsys)
    assert code == 0 and "p99 vs baseline" in out
    assert out.count("INSUFFICIENT DATA") == 2 and "per-request" in out
    # a 50 % slower run is not significantly worse by more than 100 %
    code, out, _ = run(
        [
            "check",
            str(slow_file),
            "--baseline",
            str(events_file),
            "--max-p99-increase",
            "1.0",
        ],
        capsys,
    )
    assert code == 0, out


# ---- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["report", "does-not-exist.parquet"], "no such file"),
        (["report"], "INPUT"),
        (["report", "--sample", "--budget", "lots"], "--budget"),
        (["report", "--sample", "--budget", "-5/day"], "--budget"),
        (["report", "--sample", "--sla-ms", "0"], "--sla-ms"),
        (["report", "--sample", "--format", "pdf"], "--format"),
        (["report", "--sample", "-o", "report.txt"], "suffix"),
        (["report", "--nope"], "--nope"),
        (["report", "--sample", "--split", "control"], "--split"),
        (["report", "--sample", "--split", "control=0.9,treatment=x"], "--split"),
        (["check", "--sample"], "no checks"),
        (["check", "--sample", "--max-error-rate", "2"], "--max-error-rate"),
        (["frobnicate"], "frobnicate"),
        ([], "command"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("perfstats"), err
    assert needle in err
    assert "Traceback" not in err


def test_unreadable_input_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "events.parquet"
    garbage.write_bytes(b"not parquet at all")
    code, _, err = run(["report", str(garbage), "-o", str(tmp_path / "r.md")], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    bad = tmp_path / "neg.csv"
    bad.write_text("timestamp,latency_ms\n2025-01-01T00:00:00Z,-5\n")
    code, _, err = run(["report", str(bad), "-o", str(tmp_path / "r.md")], capsys)
    assert code == 2 and "latency_ms" in err and err.count("\n") == 1
    assert not (tmp_path / "r.md").exists()


def test_split_enables_the_sample_ratio_check(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    argv = ["report", str(events_file), "-o", str(out), "--quiet"]
    code, _, err = run([*argv, "--split", "control=0.5,treatment=0.5"], capsys)
    assert code == 0, err
    findings = json.loads(out.read_text())["findings"]
    assert findings[0]["kind"] == "ab_sample_ratio"
    assert findings[0]["severity"] == "critical"
    code, _, err = run([*argv, "--split", "control=0.9, treatment=0.1"], capsys)
    assert code == 0, err
    kinds = {f["kind"] for f in json.loads(out.read_text())["findings"]}
    assert "ab_sample_ratio" not in kinds and "ab_verdict" in kinds
    code, _, err = run([*argv, "--split", "control=0.9,nope=0.1"], capsys)
    assert code == 2 and "nope" in err and err.count("\n") == 1


def test_parse_budget() -> None:
    assert parse_budget("500") == (500.0, "month")
    assert parse_budget(" $1,200.50 / Day ") == (1200.5, "day")


def test_python_dash_m_subprocess(events_file: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    pkg_root = str(Path(perfstats.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_root, env.get("PYTHONPATH")]))
    out = tmp_path / "r.md"
    done = subprocess.run(
        [sys.executable, "-m", "perfstats", "report", str(events_file), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text().startswith("# perfstats report")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfstats",
            "check",
            str(events_file),
            "--max-p99-ms",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1 and "FAIL" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "perfstats", "report", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no such file" in done.stderr


def test_console_script_is_declared() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["perfstats"] == "perfstats.cli:main"


# --- the report never destroys its input (issue 11, item 1) ---------------------------


@pytest.fixture()
def small_events(tmp_path: Path) -> dict[str, Path]:
    frame = datasets.llm_app(days=1, seed=2, requests_per_day=300)
    paths = {
        "csv": tmp_path / "in.csv",
        "jsonl": tmp_path / "in.jsonl",
        "parquet": tmp_path / "in.parquet",
    }
    frame.to_csv(paths["csv"], index=False)
    frame.to_json(paths["jsonl"], orient="records", lines=True, date_format="iso")
    frame.to_parquet(paths["parquet"])
    return paths


@pytest.mark.parametrize(
    ("kind", "fmt"), [("csv", "csv"), ("jsonl", "json"), ("parquet", "html")]
)
@pytest.mark.parametrize(
    "spelling", ["same", "absolute", "relative", "symlink", "hardlink"]
)
def test_report_refuses_to_overwrite_its_input(
    kind: str,
    fmt: str,
    spelling: str,
    small_events: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src = small_events[kind]
    before = src.read_bytes()
    monkeypatch.chdir(tmp_path)
    out: Path | str = src
    if spelling == "relative":
        out = src.name
    elif spelling == "absolute":
        out = src.resolve()
    elif spelling == "symlink":
        out = tmp_path / f"link.{kind}"
        out.symlink_to(src)
    elif spelling == "hardlink":
        out = tmp_path / f"hard.{kind}"
        os.link(src, out)
    code, _, err = run(
        ["report", str(src), "-o", str(out), "--format", fmt, "--quiet"], capsys
    )
    assert code == 2
    assert str(src) in err and str(out) in err and "input" in err
    assert len(err.strip().splitlines()) == 1
    assert src.read_bytes() == before


def test_report_refuses_to_overwrite_a_history_run(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hist = tmp_path / "runs"
    assert (
        main(
            [
                "report",
                str(events_file),
                "-o",
                str(tmp_path / "a.json"),
                "--history",
                str(hist),
                "--quiet",
            ]
        )
        == 0
    )
    (run_file,) = hist.glob("run-*.json")
    before = run_file.read_bytes()
    code, _, err = run(
        [
            "report",
            str(events_file),
            "-o",
            str(run_file),
            "--history",
            str(hist),
            "--quiet",
        ],
        capsys,
    )
    assert code == 2 and str(run_file) in err
    assert run_file.read_bytes() == before
    # a --history path that is the input file itself
    code, _, err = run(
        [
            "report",
            str(events_file),
            "-o",
            str(tmp_path / "b.md"),
            "--history",
            str(events_file),
            "--quiet",
        ],
        capsys,
    )
    assert code == 2 and "--history" in err and str(events_file) in err
    assert not (tmp_path / "b.md").exists()


def test_report_to_a_symlink_keeps_the_link_and_the_mode(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real" / "r.md"
    real.parent.mkdir()
    real.write_text("old")
    os.chmod(real, 0o600)
    link = tmp_path / "r.md"
    link.symlink_to(real)
    code, _, _ = run(["report", str(events_file), "-o", str(link), "--quiet"], capsys)
    assert code == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().startswith("#")
    assert real.stat().st_mode & 0o7777 == 0o600
    assert sorted(p.name for p in real.parent.iterdir()) == ["r.md"]  # no temp left


def test_atomic_write_mode_of_new_and_existing_files(tmp_path: Path) -> None:
    from perfstats._files import atomic_write

    old = os.umask(0o027)
    try:
        fresh = atomic_write(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert fresh.stat().st_mode & 0o7777 == 0o640  # 0o666 & ~umask, as open() gives
    existing = tmp_path / "keep.txt"
    existing.write_text("a")
    os.chmod(existing, 0o604)
    atomic_write(existing, "b")
    assert existing.read_text() == "b" and existing.stat().st_mode & 0o7777 == 0o604
    # a dangling link: the target is created, the link kept
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "target.txt")
    atomic_write(dangling, "c")
    assert dangling.is_symlink() and (tmp_path / "target.txt").read_text() == "c"


def test_html_report_without_matplotlib_exits_2_with_install_hint(
    events_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    out = tmp_path / "r.html"
    code, _, err = run(["report", str(events_file), "-o", str(out), "--quiet"], capsys)
    assert code == 2
    assert "matplotlib" in err and "pip install 'perfstats[cli]'" in err
    assert "Traceback" not in err and not out.exists()
    # formats without charts need no matplotlib
    code, _, _ = run(
        ["report", str(events_file), "-o", str(tmp_path / "r.md"), "--quiet"], capsys
    )
    assert code == 0


def test_cli_extra_declares_matplotlib() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(d.startswith("matplotlib") for d in extras["cli"])
    assert any(d.startswith("pandas") for d in extras["cli"])
