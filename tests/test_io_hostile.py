"""perfstats.io text readers under hostile input: line splitting, encodings, time
zones, OTLP structure, record locations, and generated malformed files."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfstats.io import read_events

T0 = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z in ns


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail instead of hanging: SIGALRM raises in the main thread after `seconds`."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---- JSON lines: line splitting and encodings ---


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\u0085"])
def test_jsonl_splits_only_on_newline(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "e.jsonl"
    first = json.dumps({"latency_ms": 1.0, "note": f"a{sep}b"}, ensure_ascii=False)
    assert sep in first  # written raw, as JSON encoders may
    path.write_text(first + "\n" + '{"latency_ms": -2}\n', encoding="utf-8")
    ev = read_events(path, errors="skip")
    assert ev.frame["note"].tolist() == [f"a{sep}b"]
    assert ev.skipped["line"].tolist() == [2]  # as `wc -l` and editors count
    with pytest.raises(ValueError, match=r"e\.jsonl: 1 invalid row.*line 2, column"):
        read_events(path)


@pytest.mark.parametrize("sep", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e"])
def test_jsonl_control_characters_do_not_shift_lines(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "e.jsonl"
    # a raw control character is invalid in a JSON string: one bad line, not two
    path.write_text(f'{{"note": "a{sep}b"}}\n{{"latency_ms": -2}}\n')
    ev = read_events(path, errors="skip")
    assert ev.skipped["line"].tolist() == [1, 2]
    assert ev.skipped["reason"].iloc[0].startswith("invalid JSON")


def test_jsonl_whose_first_line_is_an_array(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('[1, 2]\n{"latency_ms": 1}\n')
    ev = read_events(path, errors="skip")
    assert ev.frame["latency_ms"].tolist() == [1.0]
    assert ev.skipped["line"].tolist() == [1]
    assert ev.skipped["reason"].tolist() == ["JSON line is not an object"]


def test_jsonl_crlf_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b'{"latency_ms": 1}\r\n\r\n{"latency_ms": "x"}\r\n')
    ev = read_events(path, errors="skip")
    assert ev.frame["latency_ms"].tolist() == [1.0]
    assert ev.skipped["line"].tolist() == [3]


def test_jsonl_utf8_bom_is_not_part_of_line_1(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"latency_ms": 1}\n{"latency_ms": 2}\n')
    ev = read_events(path)
    assert ev.frame["latency_ms"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_jsonl_with_a_utf16_or_utf32_bom_is_decoded(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "e.jsonl"
    text = '{"latency_ms": 1, "endpoint": "/é"}\n{"latency_ms": 2}\n'
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    ev = read_events(path)
    assert ev.frame["latency_ms"].tolist() == [1.0, 2.0]
    assert ev.frame["endpoint"].astype(object).tolist()[0] == "/é"


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_ascii_utf16_without_bom_is_decoded(
    tmp_path: Path, suffix: str, encoding: str
) -> None:
    path = tmp_path / f"e{suffix}"
    text = '{"latency_ms": 1}\n' if suffix == ".jsonl" else "latency_ms\n1\n"
    path.write_bytes(text.encode(encoding))
    assert read_events(path).frame["latency_ms"].tolist() == [1.0]


# ---- CSV: file lines and encodings ---


def test_csv_problems_name_the_file_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "timestamp,latency_ms,note\n"  # line 1
        "2025-01-01T00:00:00Z,1,a\n"  # 2
        "\n"  # 3: blank, skipped
        '2025-01-01T00:00:01Z,2,"two\nlines"\n'  # 4-5: one record
        "2025-01-01T00:00:02Z,3,x,extra\n"  # 6: malformed
        "2025-01-01T00:00:03Z,-4,b\n"  # 7: the record at row 2
    )
    with pytest.raises(ValueError) as info:
        read_events(path)
    message = str(info.value)
    assert "line 6: malformed CSV line" in message
    assert "line 7, column 'latency_ms': negative duration" in message
    assert "row 2" not in message
    ev = read_events(path, errors="skip")
    assert ev.frame["note"].tolist() == ["a", "two\nlines"]
    assert ev.skipped["line"].tolist() == [6, 7]
    assert ev.skipped["row"].tolist()[1] == 2


def test_csv_lines_after_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        'latency_ms,note\n1,"a\nb\nc"\n2,ok\n"x\ny",bad\n', encoding="utf-8"
    )
    ev = read_events(path, errors="skip")
    assert ev.skipped["line"].tolist() == [6]  # the record starts on line 6
    assert ev.skipped["reason"].tolist() == ["not a duration"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_csv_with_a_bom_is_decoded(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes("latency_ms,endpoint\n1,/é\n-2,/b\n".encode(encoding))
    ev = read_events(path, errors="skip")
    assert ev.frame["endpoint"].astype(object).tolist() == ["/é"]
    assert ev.skipped["line"].tolist() == [3]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_csv_record_longer_than_a_read_block(tmp_path: Path, suffix: str) -> None:
    import gzip

    text = "latency_ms,note\n1," + "y" * 3_000_000 + "\n2,short\n"
    path = tmp_path / f"long{suffix}"
    data = text.encode()
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    ev = read_events(path)
    assert ev.frame["latency_ms"].tolist() == [1.0, 2.0]
    assert len(ev.frame["note"].iloc[0]) == 3_000_000


# ---- JSON arrays: each element named once ---


def test_json_array_elements_are_named_by_index_and_line(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(
        "[\n"
        '  {"latency_ms": 1},\n'  # $[0], line 2
        "  7,\n"  # $[1], line 3: not an object
        '  {"latency_ms": -1},\n'  # $[2], line 4
        '  {\n    "latency_ms": "x"\n  }\n'  # $[3], line 5
        "]\n"
    )
    ev = read_events(path, errors="skip")
    assert ev.skipped["row"].tolist() == [1, 2, 3]
    assert ev.skipped["line"].tolist() == [3, 4, 5]
    with pytest.raises(ValueError) as info:
        read_events(path)
    message = str(info.value)
    assert "element $[1], line 3: JSON array element is not an object" in message
    assert "element $[2], line 4, column 'latency_ms'" in message
    assert "element $[3], line 5, column 'latency_ms'" in message


def test_one_line_json_array_elements_are_distinct(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('[1, {"latency_ms": -1}, {"latency_ms": 2}]')
    ev = read_events(path, errors="skip")
    assert ev.skipped["row"].tolist() == [0, 1]
    assert ev.frame["latency_ms"].tolist() == [2.0]


# ---- time zones ---


def _frame(ts: list[Any]) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": ts, "latency_ms": np.arange(1.0, len(ts) + 1)})


@pytest.mark.parametrize("as_text", [False, True])
def test_dst_gap_and_overlap_are_invalid_rows(as_text: bool) -> None:
    local = ["2025-03-30 02:30", "2025-10-26 02:30", "2025-06-01 12:00"]
    ts: Any = local if as_text else pd.to_datetime(local)
    ev = read_events(_frame(ts), timezone="Europe/Berlin", errors="skip")
    assert ev.skipped["reason"].tolist() == [
        "nonexistent local time (DST gap)",
        "ambiguous local time (DST overlap)",
    ]
    assert ev.skipped["row"].tolist() == [0, 1]
    # the valid row: 12:00 CEST is 10:00 UTC
    assert ev.frame["timestamp"].tolist() == [pd.Timestamp("2025-06-01 10:00Z")]
    with pytest.raises(
        ValueError,
        match=r"DataFrame: 2 invalid row.*row 0, column 'timestamp': nonexistent",
    ):
        read_events(_frame(ts), timezone="Europe/Berlin")


def test_dst_problems_in_a_csv_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "local.csv"
    path.write_text("timestamp,latency_ms\n2025-06-01 12:00,1\n2025-03-30 02:30,2\n")
    with pytest.raises(
        ValueError, match=r"local\.csv: 1 invalid.*line 3, column 'timestamp'"
    ):
        read_events(path, timezone="Europe/Berlin")


def test_mixed_offsets_are_instants_in_utc() -> None:
    text = ["2025-03-30T02:30+02:00", "2025-03-30T04:00Z", "2025-03-30T04:00-05"]
    for tz in ("UTC", "Europe/Berlin"):
        ev = read_events(_frame(text), timezone=tz)
        assert ev.frame["timestamp"].tolist() == [
            pd.Timestamp("2025-03-30T00:30Z"),
            pd.Timestamp("2025-03-30T04:00Z"),
            pd.Timestamp("2025-03-30T09:00Z"),
        ]


def test_mixed_offset_datetime_objects_are_instants() -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    ts = [
        dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC),
        dt.datetime(2025, 1, 1, 12, tzinfo=plus2),
    ]
    ev = read_events(_frame(ts))
    assert ev.frame["timestamp"].tolist() == [
        pd.Timestamp("2025-01-01T12:00Z"),
        pd.Timestamp("2025-01-01T10:00Z"),
    ]


@pytest.mark.parametrize("as_text", [False, True])
def test_aware_and_naive_mixed_are_invalid_rows(as_text: bool) -> None:
    ts: list[Any] = [
        dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC),
        dt.datetime(2025, 1, 1, 13),
        dt.datetime(2025, 1, 1, 14, tzinfo=dt.UTC),
    ]
    if as_text:
        ts = [t.isoformat() for t in ts]
    ev = read_events(_frame(ts), errors="skip")
    assert ev.skipped["row"].tolist() == [1]
    (reason,) = ev.skipped["reason"].tolist()
    assert reason.startswith("timestamp without a UTC offset in a column of")
    assert "pass timezone=" in reason
    assert len(ev) == 2
    # stated, the zone of values without an offset is no guess
    ev = read_events(_frame(ts), timezone="Asia/Tokyo")
    assert ev.frame["timestamp"].iloc[1] == pd.Timestamp("2025-01-01T04:00Z")


def test_unknown_time_zone_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        read_events(_frame(["2025-01-01T00:00"]), timezone="Mars/Olympus")


def test_nat_timestamps_are_missing_rows() -> None:
    ts = pd.to_datetime(["2025-01-01", None]).tz_localize("UTC")
    ev = read_events(_frame(list(ts)), errors="skip")
    assert ev.skipped["reason"].tolist() == ["missing timestamp"]
    ev = read_events(
        pd.DataFrame({"timestamp": ts, "latency_ms": [1.0, 2.0]}), errors="skip"
    )
    assert ev.skipped["reason"].tolist() == ["missing timestamp"]


# ---- numeric timestamps: a unit without an origin ---


def test_offsets_with_a_unit_but_no_origin_raise() -> None:
    raw = pd.DataFrame({"timestamp": [0, 1500, 3_600_000], "latency_ms": [1.0] * 3})
    with pytest.raises(
        ValueError, match=r"numeric in ms .*pass origin=.*origin='unix'"
    ):
        read_events(raw, units={"timestamp": "ms"}, errors="skip")
    ev = read_events(raw, units={"timestamp": "ms"}, origin="2024-05-01T00:00Z")
    assert ev.frame["timestamp"].iloc[2] == pd.Timestamp("2024-05-01T01:00Z")
    ev = read_events(raw, units={"timestamp": "ms"}, origin="unix")
    assert ev.frame["timestamp"].iloc[0] == pd.Timestamp("1970-01-01T00:00Z")


def test_epoch_values_with_a_unit_need_no_origin() -> None:
    raw = pd.DataFrame({"timestamp": [1_735_689_600_000], "latency_ms": [1.0]})
    ev = read_events(raw, units={"timestamp": "ms"})
    assert ev.frame["timestamp"].iloc[0] == pd.Timestamp("2025-01-01T00:00Z")
    # the same values said to be seconds are not epoch seconds in 2000-2100
    with pytest.raises(ValueError, match=r"numeric in s "):
        read_events(raw, units={"timestamp": "s"})


def test_bad_origin_is_a_value_error() -> None:
    raw = pd.DataFrame({"timestamp": [0, 1], "latency_ms": [1.0, 1.0]})
    with pytest.raises(ValueError, match="origin='soon' is not a time"):
        read_events(raw, units={"timestamp": "s"}, origin="soon")


# ---- OTLP structure ---


def _span(**changes: Any) -> dict[str, Any]:
    span: dict[str, Any] = {
        "name": "chat m",
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 1_000_000),
        "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "m"}}],
    }
    span.update(changes)
    return span


def _otlp(spans: Any) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}


SPANS = "$.resourceSpans[0].scopeSpans[0].spans"


@pytest.mark.parametrize(
    ("doc", "path", "reason"),
    [
        (_otlp([_span(), 7]), f"{SPANS}[1]", "span is not a JSON object"),
        (_otlp(5), f"{SPANS}", "not a JSON list"),
        ({"resourceSpans": {"a": 1}}, "$.resourceSpans", "not a JSON list"),
        ({"resourceSpans": ["x"]}, "$.resourceSpans[0]", "resourceSpans element"),
        (
            {"resourceSpans": [{"scopeSpans": [3]}]},
            "$.resourceSpans[0].scopeSpans[0]",
            "scopeSpans element",
        ),
        (
            {"resourceSpans": [{"resource": 1, "scopeSpans": []}]},
            "$.resourceSpans[0].resource",
            "not a JSON object",
        ),
        (_otlp([_span(attributes="x")]), f"{SPANS}[0].attributes", "attributes"),
        (_otlp([_span(attributes=[3])]), f"{SPANS}[0].attributes[0]", "attribute"),
        (
            _otlp([_span(startTimeUnixNano=[1])]),
            f"{SPANS}[0].startTimeUnixNano",
            "span time not a count",
        ),
        (
            _otlp([_span(endTimeUnixNano=None)]),
            f"{SPANS}[0].endTimeUnixNano",
            "span time missing",
        ),
        (_otlp([_span(status="ERROR")]), f"{SPANS}[0].status", "status"),
    ],
)
def test_malformed_otlp_parts_are_skipped_with_their_json_path(
    tmp_path: Path, doc: dict[str, Any], path: str, reason: str
) -> None:
    file = tmp_path / "t.json"
    file.write_text(json.dumps(doc))
    ev = read_events(file, format="otlp", errors="skip")
    assert ev.skipped["column"].tolist() == [path]
    assert ev.skipped["reason"].iloc[0].startswith(reason)
    with pytest.raises(ValueError, match=rf"t\.json: 1 invalid.*at {_re(path)}: "):
        read_events(file, format="otlp")


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_malformed_otlp_in_json_lines_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "t.jsonl"
    lines = [json.dumps(_otlp([_span()])), json.dumps(_otlp([_span(), "x"]))]
    file.write_text("\n".join(lines) + "\n")
    ev = read_events(file, errors="skip")
    assert len(ev) == 2
    assert ev.skipped["line"].tolist() == [2]
    assert ev.skipped["column"].tolist() == [f"{SPANS}[1]"]


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from([str(T0), "-1", "1e9", "gen_ai.x", "stringValue"]),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=6), inner, max_size=3),
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "resourceSpans",
        "resource_spans",
        "scopeSpans",
        "spans",
        "resource",
        "attributes",
        "key",
        "value",
        "stringValue",
        "intValue",
        "arrayValue",
        "values",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "status",
        "code",
        "name",
    ]
)
_otlp_like = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(_keys, inner, max_size=4),
    ),
    max_leaves=25,
)


def _mutate_span(value: Any) -> dict[str, Any]:
    return _otlp([_span(), value])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=st.one_of(
        _otlp_like,
        st.builds(lambda v: {"resourceSpans": v}, _otlp_like),
        st.builds(lambda v: {"resourceSpans": [{"scopeSpans": v}]}, _otlp_like),
        st.builds(_otlp, _otlp_like),
        st.builds(_mutate_span, _otlp_like),
        st.builds(
            lambda k, v: _otlp([_span(**{k: v})]),
            st.sampled_from(
                ["attributes", "startTimeUnixNano", "endTimeUnixNano", "status", "name"]
            ),
            _json,
        ),
    ),
    errors=st.sampled_from(["skip", "raise"]),
)
def test_otlp_reader_fuzz_gives_a_result_or_a_value_error(
    tmp_path_factory: pytest.TempPathFactory, doc: Any, errors: str
) -> None:
    file = tmp_path_factory.mktemp("otlp") / "t.json"
    file.write_text(json.dumps(doc))
    try:
        with _deadline(10):
            ev = read_events(file, format="otlp", errors=errors)  # type: ignore[arg-type]
    except ValueError as exc:
        assert str(file) in str(exc)
    else:
        _assert_clean(ev.frame)


# ---- adversarial files for every text reader ---


def _hostile_bodies() -> dict[str, bytes]:
    good = b"timestamp,latency_ms\n2025-01-01T00:00:00Z,1\n2025-01-01T00:00:01Z,2\n"
    jgood = (
        b'{"timestamp": "2025-01-01T00:00:00Z", "latency_ms": 1}\n'
        b'{"timestamp": "2025-01-01T00:00:01Z", "latency_ms": 2}\n'
    )
    return {
        "empty": b"",
        "blank": b"\n\n  \n",
        "header_only": b"timestamp,latency_ms\n",
        "truncated_csv": good[:-9],
        "truncated_json": jgood[:-9],
        "nul_bytes": good.replace(b"2025", b"20\x0025", 1),
        "nul_only": b"\x00" * 64,
        "invalid_utf8": good + b"\xff\xfe\xfa,3\n",
        "huge_line": b"latency_ms\n" + b"9" * 2_000_000 + b"\n",
        "huge_json_line": b'{"latency_ms": "' + b"x" * 2_000_000 + b'"}\n',
        "wrong_types_csv": b"timestamp,latency_ms,input_tokens,success\n"
        b"[1],{},true,maybe\n1e400,-0,nan,2\n",
        "wrong_types_json": b'{"timestamp": [1], "latency_ms": {"a": 1}, '
        b'"input_tokens": true, "success": "maybe", "endpoint": {"x": []}}\n'
        b'{"timestamp": 1e400, "latency_ms": "1 parsec", "error": [1, 2]}\n',
        "deep_json": b"[" * 50_000 + b"]" * 50_000,
        "json_scalar": b"42\n",
        "json_array_of_junk": b'[1, "x", null, [], {"latency_ms": 1}]',
        "lone_cr": good.replace(b"\n", b"\r"),
        "utf16_le_no_bom": good.decode().encode("utf-16-le"),
        "bom_only": b"\xef\xbb\xbf",
        "quote_unclosed": b'latency_ms,note\n1,"open\n2,x\n',
        "otlp_junk": b'{"resourceSpans": [{"scopeSpans": [{"spans": [1, {"a": 2}]}]}]}',
        "truncated_gzip": gzip.compress(good * 50)[:-30],  # written as is
    }


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json", ".csv.gz", ".jsonl.gz"])
@pytest.mark.parametrize("name", sorted(_hostile_bodies()))
def test_hostile_files_give_a_result_or_a_clean_error(
    tmp_path: Path, suffix: str, name: str
) -> None:
    path = tmp_path / f"{name}{suffix}"
    body = _hostile_bodies()[name]
    if suffix.endswith(".gz") and name != "truncated_gzip":
        body = gzip.compress(body)
    path.write_bytes(body)
    for errors in ("skip", "raise"):
        try:
            with _deadline(20):
                ev = read_events(path, errors=errors)  # type: ignore[arg-type]
        except (ValueError, TypeError) as exc:
            assert str(path) in str(exc), f"{type(exc).__name__} without file: {exc}"
        else:
            _assert_clean(ev.frame)


def _assert_clean(frame: pd.DataFrame) -> None:
    """What a result promises: valid timestamps and finite, non-negative latencies."""
    if "timestamp" in frame.columns:
        assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
        assert not frame["timestamp"].isna().any()
    if "latency_ms" in frame.columns:
        latency = frame["latency_ms"].to_numpy(dtype=np.float64)
        assert np.isfinite(latency).all() and (latency >= 0).all()


_GOOD = {
    ".csv": b"timestamp,latency_ms,endpoint,success\n"
    b"2025-01-01T00:00:00Z,1.5,/a,true\n"
    b'2025-01-01T00:00:01+02:00,2,"/b, c",false\n'
    b"2025-01-01T00:00:02Z,3e2,/a,1\n",
    ".jsonl": b'{"timestamp": "2025-01-01T00:00:00Z", "latency_ms": 1.5}\n'
    b'{"timestamp": "2025-01-01T00:00:01+02:00", "latency_ms": "2 s"}\n'
    b'{"timestamp": 1735689602, "latency_ms": 3}\n',
    ".json": b'[{"timestamp": "2025-01-01T00:00:00Z", "latency_ms": 1.5},\n'
    b' {"timestamp": "2025-01-01T00:00:01Z", "latency_ms": 2}]\n',
}
_edits = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace"]),
        st.floats(0, 1, exclude_max=True),
        st.binary(min_size=1, max_size=4)
        | st.sampled_from(
            [b"\n", b"\r", b"\x00", b'"', b",", b"\xe2\x80\xa8", b"\xff", b"{", b"]"]
        ),
    ),
    min_size=1,
    max_size=6,
)


def _mutated(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    for kind, where, chunk in edits:
        i = int(where * len(data)) if data else 0
        if kind == "insert":
            data = data[:i] + chunk + data[i:]
        elif kind == "delete":
            data = data[:i] + data[i + len(chunk) :]
        else:
            data = data[:i] + chunk + data[i + len(chunk) :]
    return data


# pyarrow decodes a malformed CSV row as UTF-8 before calling the invalid-row handler;
# when that fails it reports the error as unraisable (the read then fails cleanly)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    suffix=st.sampled_from(sorted(_GOOD)),
    edits=_edits,
    errors=st.sampled_from(["skip", "raise"]),
)
def test_mutated_text_files_give_a_result_or_a_clean_error(
    tmp_path_factory: pytest.TempPathFactory,
    suffix: str,
    edits: list[tuple[str, float, bytes]],
    errors: str,
) -> None:
    path = tmp_path_factory.mktemp("mut") / f"m{suffix}"
    path.write_bytes(_mutated(_GOOD[suffix], edits))
    try:
        with _deadline(10):
            ev = read_events(path, errors=errors)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        assert str(path) in str(exc) or "DataFrame" not in str(exc), str(exc)
        assert str(path) in str(exc), f"{type(exc).__name__} without the file: {exc}"
    else:
        _assert_clean(ev.frame)


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (b"\x80latency_ms\n1\n", 1),  # in the header: the column names
        (b"latency_ms,endpoint\n1,/a\n2,/\xff\n", 3),  # in a value
        (b"latency_ms,b\n1,2\n3,\xcb\x01,4\n", 3),  # in a malformed row
    ],
)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_csv_not_utf8_names_the_file_and_line(
    tmp_path: Path, body: bytes, line: int
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(body)
    for errors in ("skip", "raise"):
        with pytest.raises(ValueError, match=rf"bad\.csv: not .*UTF-8.*line {line}"):
            read_events(path, errors=errors)  # type: ignore[arg-type]
