"""Reading any trace from the command line (issue 14): --columns, --units, --origin,
--timezone, --errors, --schema, ``perfstats columns``, ``report --dry-run``; messages
that name CLI flags in the CLI and Python arguments in Python; unknown names are
errors that list what exists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perfstats._errors import ArgumentError
from perfstats.analysis.summary import summarize
from perfstats.cli import main
from perfstats.io import CANONICAL_COLUMNS, describe_columns, read_events

ORIGIN = "2024-01-01T00:00:00Z"
MAPPING = ["--columns", "input_length=input_tokens,output_length=output_tokens"]
UNITS = ["--units", "timestamp=ms", "--origin", ORIGIN]


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An LLM serving trace as published: ms offsets, input/output lengths, no
    latency, no errors, plus one column perfstats does not use."""
    rng = np.random.default_rng(14)
    n = 2000
    t = np.sort(rng.integers(0, 3 * 86_400_000, n))
    path = tmp_path_factory.mktemp("trace") / "trace.jsonl"
    with path.open("w") as fh:
        for i in range(n):
            rec = {
                "timestamp": int(t[i]),
                "input_length": int(rng.lognormal(7, 1)),
                "output_length": int(rng.lognormal(5, 0.8)),
                "host": f"gpu-{i % 3}",
            }
            fh.write(json.dumps(rec) + "\n")
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_report_end_to_end_with_mapping_flags(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.md"
    code, _, err = run(["report", str(trace), *MAPPING, *UNITS, "-o", str(out)], capsys)
    assert code == 0, err
    text = out.read_text()
    assert "2024-01-01 00:0" in text  # dated from --origin, not 1970


def test_offsets_from_origin_keep_their_resolution(trace: Path) -> None:
    ev = read_events(trace, units={"timestamp": "ms"}, origin=ORIGIN)
    raw = pd.read_json(trace, lines=True)
    want = pd.Timestamp(ORIGIN) + pd.to_timedelta(raw["timestamp"], unit="ms")
    got = ev.frame["timestamp"]
    assert (got.to_numpy() == want.to_numpy()).all()  # exact, no float noise
    assert (got.dt.nanosecond == 0).all() and (got.dt.microsecond % 1000 == 0).all()
    floats = read_events(
        pd.DataFrame({"timestamp": raw["timestamp"].astype(float)}),
        units={"timestamp": "ms"},
        origin=ORIGIN,
    )
    assert (floats.frame["timestamp"].to_numpy() == want.to_numpy()).all()


def test_missing_unit_names_flags_in_cli_and_arguments_in_python(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["report", str(trace), "-o", "-", "--format", "md"], capsys)
    assert code == 2
    assert "--units timestamp=ms" in err and "--origin" in err
    assert "units=" not in err and "origin=" not in err
    with pytest.raises(ArgumentError) as info:
        read_events(trace)
    assert 'units={"timestamp": "ms"}' in str(info.value) and "origin=" in str(
        info.value
    )
    assert "--units" not in str(info.value)
    assert info.value.field == "timestamp"


def test_bad_rows_point_at_errors_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "timestamp,latency_ms\n2024-01-01T00:00:00Z,5\n2024-01-01T00:00:01Z,x\n"
    )
    code, _, err = run(["report", str(path), "-o", "-", "--format", "md"], capsys)
    assert code == 2
    assert "line 3" in err and "--errors skip" in err and "errors=" not in err
    assert err.count("perfstats:") == 1
    code, _, err = run(
        ["report", str(path), "--errors", "skip", "-o", "-", "--format", "md"], capsys
    )
    assert code == 0, err
    with pytest.raises(ValueError, match="errors='skip'"):
        read_events(path)


def test_unrecognized_option_prefix_not_doubled(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["report", str(trace), "--bogus"], capsys)
    assert code == 2
    assert err.count("perfstats:") == 1 and "--bogus" in err


def test_schema_file_equals_flags_and_flags_override(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "trace.toml"
    schema.write_text(
        f'origin = "{ORIGIN}"\n'
        '[columns]\ninput_length = "input_tokens"\noutput_length = "output_tokens"\n'
        '[units]\ntimestamp = "ms"\n'
    )
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert (
        run(["report", str(trace), "--schema", str(schema), "-o", str(a)], capsys)[0]
        == 0
    )
    code = run(["report", str(trace), *MAPPING, *UNITS, "-o", str(b)], capsys)[0]
    assert code == 0
    ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
    for d in (ja, jb):
        d.pop("generated_at", None)
        d.get("meta", {}).pop("generated_at", None)
    assert ja == jb
    # a flag overrides the file: another origin moves the data
    code, out, _ = run(
        ["columns", str(trace), "--schema", str(schema), "--origin", "2030-05-05"],
        capsys,
    )
    assert code == 0 and "2030-05-05T" in out


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('colums = "x"\n', "'colums'"),
        ("[columns]\na = 1\n", "[columns]"),
        ("origin = [", "not valid TOML"),
        ('errors = "ignore"\n', "errors must be"),
    ],
)
def test_bad_schema_names_file_and_key(
    trace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    needle: str,
) -> None:
    schema = tmp_path / "bad.toml"
    schema.write_text(content)
    code, _, err = run(["columns", str(trace), "--schema", str(schema)], capsys)
    assert code == 2
    assert str(schema) in err and needle in err


def test_columns_command_shows_how_each_column_is_read(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["columns", str(trace), *MAPPING, *UNITS], capsys)
    assert code == 0, err
    lines = {ln.split()[0]: ln for ln in out.splitlines()[1:] if ln.strip()}
    assert (
        "input_tokens" in lines["input_length"] and "float64" in lines["input_length"]
    )
    assert " ms " in lines["timestamp"] and "2024-01-01T00:0" in lines["timestamp"]
    assert "unused columns: host" in out
    plan = describe_columns(
        trace,
        columns={"input_length": "input_tokens"},
        units={"timestamp": "ms"},
        origin=ORIGIN,
    )
    assert plan.set_index("source").loc["host", "role"] == "unused"
    assert plan.set_index("source").loc["output_length", "role"] == "score"
    # report --dry-run prints the same and writes nothing
    out_file = tmp_path / "never.html"
    code, out2, _ = run(
        ["report", str(trace), *MAPPING, *UNITS, "--dry-run", "-o", str(out_file)],
        capsys,
    )
    assert code == 0 and out2 == out and not out_file.exists()


def test_help_lists_the_canonical_schema(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["report", "--help"], ["columns", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        for name, dtype in CANONICAL_COLUMNS.items():
            assert f"{name} " in out and dtype in out


def test_unknown_by_is_an_error_listing_columns(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["report", str(trace), *UNITS, "--by", "endpont"], capsys)
    assert code == 2
    assert "--by names 'endpont'" in err and "input_length" in err
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC"),
            "endpoint": ["/a", "/b", "/a", "/b"],
            "latency_ms": [1.0, 2.0, 3.0, 4.0],
        }
    )
    with pytest.raises(ValueError, match=r"by= names 'endpont'.*endpoint, latency_ms"):
        summarize(frame, by="endpont")
    # the default grouping stays optional
    assert summarize(frame.drop(columns="endpoint")).by == []


def test_unknown_mapped_column_lists_the_columns_found(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["report", str(trace), *UNITS, "--columns", "latency=latency_ms"], capsys
    )
    assert code == 2
    assert "--columns maps 'latency'" in err
    assert "timestamp, input_length, output_length, host" in err
    with pytest.raises(ValueError, match=r"columns= maps 'latency'.*input_length"):
        read_events(trace, columns={"latency": "latency_ms"})


def test_unknown_metric_lists_the_metrics() -> None:
    from perfstats import datasets
    from perfstats.analysis.metric_anomalies import anomalies

    ev = read_events(datasets.llm_app(days=2, seed=0))
    with pytest.raises(ValueError, match=r"unknown metric 'error_rat'.*error_rate"):
        anomalies(ev, "error_rat")


def test_unknown_planned_arm_lists_the_arms_in_both_spellings() -> None:
    from perfstats import datasets
    from perfstats.analysis.comparison import compare

    ev = read_events(datasets.llm_app(days=2, seed=0))
    with pytest.raises(ArgumentError) as info:
        compare(ev, planned_split={"control": 0.9, "v2": 0.1})
    assert "planned_split= names arms with no events: ['v2']" in str(info.value)
    assert "control, treatment" in str(info.value)
    assert info.value.cli_message().startswith("--split names arms")


def test_missing_timestamp_in_a_frame_names_errors_flag() -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-01", None], utc=True),
            "latency_ms": [1.0, 2.0],
        }
    )
    with pytest.raises(ArgumentError) as info:
        summarize(frame, by=None)
    assert "errors='skip'" in str(info.value)
    assert "--errors skip" in info.value.cli_message()
