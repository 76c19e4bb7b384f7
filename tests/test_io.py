"""perfstats.io: each source format, units, mapping, invalid and hostile input."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfstats.datasets import llm_app
from perfstats.io.events import Events, read_events, write_events


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return llm_app(days=2, seed=3, requests_per_day=400)


# ---- round trips ---


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl", ".arrow", ".csv.gz"])
def test_round_trip_is_exact(sample: pd.DataFrame, tmp_path: Path, suffix: str) -> None:
    ev = read_events(sample)
    path = tmp_path / f"events{suffix}"
    if suffix == ".csv.gz":
        write_events(ev, tmp_path / "events.csv")
        path.write_bytes(gzip.compress((tmp_path / "events.csv").read_bytes()))
    else:
        write_events(ev, path)
    back = read_events(path)
    pd.testing.assert_frame_equal(back.frame, ev.frame)
    assert len(back.skipped) == 0
    assert back.source == str(path)


def test_arrow_ipc_stream_file_and_gzipped_json_lines(
    sample: pd.DataFrame, tmp_path: Path
) -> None:
    ev = read_events(sample)
    table = pa.Table.from_pandas(ev.frame, preserve_index=False)
    stream = tmp_path / "events.arrow"
    with (
        pa.OSFile(str(stream), "wb") as sink,
        pa.ipc.new_stream(sink, table.schema) as w,
    ):
        w.write_table(table)
    pd.testing.assert_frame_equal(read_events(stream).frame, ev.frame)
    plain = write_events(ev, tmp_path / "events.jsonl")
    packed = tmp_path / "events.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    pd.testing.assert_frame_equal(read_events(packed).frame, ev.frame)


def test_generator_output_is_already_canonical(sample: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(read_events(sample).frame, sample)


def test_round_trip_through_otlp(sample: pd.DataFrame, tmp_path: Path) -> None:
    ev = read_events(sample)
    path = write_events(ev, tmp_path / "trace.json", format="otlp")
    back = read_events(path).frame
    orig = ev.frame
    assert len(back) == len(orig)
    pd.testing.assert_series_equal(back["timestamp"], orig["timestamp"])
    # span times are integer nanoseconds: the latency survives to within 1 ns
    np.testing.assert_allclose(
        back["latency_ms"], orig["latency_ms"], rtol=0, atol=1e-6
    )
    for col in ("model", "endpoint", "error"):
        assert back[col].astype(object).tolist() == orig[col].astype(object).tolist()
    for col in ("input_tokens", "output_tokens", "user_id", "session_id", "success"):
        assert back[col].tolist() == orig[col].tolist(), col
    assert set(back["operation"].astype(object)) == {"chat"}


# ---- in-memory sources ------------------------------------------------------------


def test_arrow_table_batch_reader_and_c_stream(sample: pd.DataFrame) -> None:
    expected = read_events(sample).frame
    table = pa.Table.from_pandas(sample, preserve_index=False)
    pd.testing.assert_frame_equal(read_events(table).frame, expected)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(100))
    pd.testing.assert_frame_equal(read_events(reader).frame, expected)

    class Stream:  # any producer of the Arrow PyCapsule stream interface
        def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
            return table.__arrow_c_stream__(requested_schema)

    pd.testing.assert_frame_equal(read_events(Stream()).frame, expected)
    batch = table.to_batches()[0]
    assert len(read_events(batch)) == batch.num_rows


def test_polars_dataframe_and_lazyframe(sample: pd.DataFrame) -> None:
    pl = pytest.importorskip("polars")
    frame = pl.from_pandas(sample)
    expected = read_events(sample).frame
    pd.testing.assert_frame_equal(read_events(frame).frame, expected)
    pd.testing.assert_frame_equal(read_events(frame.lazy()).frame, expected)


def test_mapping_and_events_pass_through() -> None:
    ev = read_events({"latency_ms": [1.0, 2.0]})
    assert read_events(ev) is ev
    assert ev.frame["latency_ms"].tolist() == [1.0, 2.0]


def test_unsupported_source_type() -> None:
    with pytest.raises(TypeError, match="read_events reads"):
        read_events(42)
    with pytest.raises(ValueError, match="errors must be"):
        read_events({"latency_ms": [1.0]}, errors="ignore")  # type: ignore[arg-type]


# ---- SQL ---


def test_sql_over_dbapi_connection() -> None:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE req (ts TEXT, route TEXT, elapsed REAL, ok INTEGER)")
    con.executemany(
        "INSERT INTO req VALUES (?, ?, ?, ?)",
        [
            ("2025-01-01 00:00:00", "/a", 0.5, 1),
            ("2025-01-01 00:00:01", "/b", 1.25, 0),
            ("2025-01-01 00:00:02", "/a", 2.0, 1),
        ],
    )
    ev = read_events(
        "sql",
        query="SELECT ts, route, elapsed, ok FROM req WHERE elapsed > ?",
        params=(0.6,),
        connection=con,
        columns={"ts": "timestamp", "route": "endpoint", "elapsed": "latency_ms"},
        units={"latency_ms": "s"},
    )
    assert ev.frame["latency_ms"].tolist() == [1250.0, 2000.0]
    assert ev.frame["endpoint"].astype(object).tolist() == ["/b", "/a"]
    assert ev.frame["timestamp"].iloc[0] == pd.Timestamp(
        "2025-01-01 00:00:01", tz="UTC"
    )
    with pytest.raises(ValueError, match="query failed"):
        read_events("sql", query="SELECT * FROM nowhere", connection=con)
    with pytest.raises(ValueError, match="needs query"):
        read_events("sql", connection=con)


def test_sql_on_duckdb_over_local_files(sample: pd.DataFrame, tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    path = write_events(sample, tmp_path / "e.parquet")
    ev = read_events(
        "sql",
        query=f"SELECT * FROM '{path}' WHERE endpoint = '/api/chat-v2' "
        "ORDER BY timestamp",
    )
    expected = sample[sample["endpoint"] == "/api/chat-v2"].reset_index(drop=True)
    got = ev.frame
    assert len(got) == len(expected) > 0
    np.testing.assert_array_equal(got["latency_ms"], expected["latency_ms"])
    pd.testing.assert_series_equal(got["timestamp"], expected["timestamp"])
    import duckdb

    con = duckdb.connect()
    ev2 = read_events(
        "sql", query=f"SELECT count(*) AS n FROM read_parquet('{path}')", connection=con
    )
    assert int(ev2.frame["n"].iloc[0]) == len(sample)


# ---- OpenTelemetry ---


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


T0 = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z in ns


def _otlp_doc() -> dict[str, Any]:
    http = {
        "traceId": "a" * 32,
        "spanId": "1" * 16,
        "name": "POST /api/chat",
        "kind": 2,
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 900_000_000),
        "attributes": [_attr("http.route", "/api/chat")],
    }
    chat = {
        "traceId": "a" * 32,
        "spanId": "2" * 16,
        "parentSpanId": "1" * 16,
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": str(T0 + 1_000_000),
        "endTimeUnixNano": str(T0 + 851_500_000),
        "attributes": [
            _attr("gen_ai.operation.name", "chat"),
            _attr("gen_ai.system", "openai"),
            _attr("gen_ai.request.model", "gpt-4o"),
            _attr("gen_ai.response.model", "gpt-4o-2024-08-06"),
            _attr("gen_ai.usage.input_tokens", 120),
            _attr("gen_ai.usage.output_tokens", 42),
        ],
        "status": {"code": 0},
    }
    failed = {
        "traceId": "b" * 32,
        "spanId": "3" * 16,
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": str(T0 + 5_000_000_000),
        "endTimeUnixNano": str(T0 + 5_020_000_000),
        "attributes": [
            _attr("gen_ai.operation.name", "chat"),
            _attr("gen_ai.request.model", "gpt-4o-mini"),
            _attr("error.type", "429"),
        ],
        "status": {"code": 2, "message": "rate limited"},
    }
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr("service.name", "chat-api")]},
                "scopeSpans": [{"scope": {"name": "x"}, "spans": [http, chat, failed]}],
            }
        ]
    }


def test_otlp_file_exporter_genai_spans(tmp_path: Path) -> None:
    path = tmp_path / "traces.json"
    path.write_text(json.dumps(_otlp_doc()) + "\n" + json.dumps(_otlp_doc()) + "\n")
    ev = read_events(path)
    f = ev.frame
    assert len(f) == 4  # the HTTP server spans are left out: GenAI spans exist
    first = f.iloc[0]
    assert first["timestamp"] == pd.Timestamp("2025-01-01T00:00:00.001Z")
    assert first["latency_ms"] == pytest.approx(850.5, abs=1e-9)
    assert first["model"] == "gpt-4o"
    assert (first["input_tokens"], first["output_tokens"]) == (120.0, 42.0)
    assert first["operation"] == "chat" and first["provider"] == "openai"
    assert first["service"] == "chat-api" and bool(first["success"])
    second = f.iloc[1]
    assert second["error"] == "429" and not bool(second["success"])
    assert second["latency_ms"] == pytest.approx(20.0)


def test_otlp_snake_case_pretty_printed(tmp_path: Path) -> None:
    text = json.dumps(_otlp_doc(), indent=2)
    for camel, snake in [
        ("resourceSpans", "resource_spans"),
        ("scopeSpans", "scope_spans"),
        ("startTimeUnixNano", "start_time_unix_nano"),
        ("endTimeUnixNano", "end_time_unix_nano"),
        ("stringValue", "string_value"),
        ("intValue", "int_value"),
    ]:
        text = text.replace(f'"{camel}"', f'"{snake}"')
    path = tmp_path / "t.json"
    path.write_text(text)
    f = read_events(path).frame
    assert len(f) == 2 and f["output_tokens"].iloc[0] == 42.0


def test_otlp_hostile_times(tmp_path: Path) -> None:
    doc = _otlp_doc()
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[1]["startTimeUnixNano"] = "9" * 40  # beyond any 64-bit time
    spans[2]["startTimeUnixNano"] = str(T0 + 123)  # odd nanoseconds survive exactly
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    ev = read_events(path, errors="skip")
    assert ev.skipped_by_reason() == {"span time not a count of Unix nanoseconds": 1}
    assert ev.skipped["column"].tolist() == [
        "$.resourceSpans[0].scopeSpans[0].spans[1].startTimeUnixNano"
    ]
    assert ev.frame["timestamp"].iloc[0].value == T0 + 123


def test_otlp_only_plain_spans_are_all_kept(tmp_path: Path) -> None:
    doc = _otlp_doc()
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans[:1]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    f = read_events(path).frame
    assert f["endpoint"].astype(object).tolist() == ["/api/chat"]
    assert f["latency_ms"].tolist() == [900.0]


def test_otlp_bad_span_and_bad_line(tmp_path: Path) -> None:
    doc = _otlp_doc()
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[1]["endTimeUnixNano"] = str(T0)  # ends before it starts
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc) + "\n{not json\n")
    with pytest.raises(
        ValueError, match=r"t\.json: 2 invalid row.*line 2.*invalid JSON"
    ):
        read_events(path)
    ev = read_events(path, errors="skip")
    assert len(ev) == 1
    # in file order: the span of line 1, then line 2
    assert ev.skipped["column"].tolist() == ["latency_ms", ""]
    assert ev.skipped["line"].tolist() == [1, 2]
    assert ev.skipped["reason"].iloc[0] == "negative duration"
    assert ev.skipped["reason"].iloc[1].startswith("invalid JSON")


# ---- column mapping and units ---


def test_units_for_durations() -> None:
    raw = pd.DataFrame({"a_ms": [1.5], "b_ms": [2.0], "c_ms": [3.0], "d_ms": [4.0]})
    ev = read_events(raw, units={"a_ms": "s", "b_ms": "us", "c_ms": "ns", "d_ms": "ms"})
    row = ev.frame.iloc[0]
    assert (row["a_ms"], row["b_ms"], row["c_ms"], row["d_ms"]) == (
        1500.0,
        2e-3,
        3e-6,
        4.0,
    )
    assert ev.phases == ["a_ms", "b_ms", "c_ms", "d_ms"]
    assert ev.units == {"a_ms": "s", "b_ms": "us", "c_ms": "ns"}


def test_unit_in_source_column_name_is_used() -> None:
    raw = pd.DataFrame({"end_to_end_latency_s": [1.25], "ttft_s": [0.5]})
    ev = read_events(
        raw, columns={"end_to_end_latency_s": "latency_ms", "ttft_s": "ttft_ms"}
    )
    assert ev.frame["latency_ms"].iloc[0] == 1250.0
    assert ev.frame["ttft_ms"].iloc[0] == 500.0
    ev = read_events(
        raw, columns={"end_to_end_latency_s": "latency_ms"}, units={"latency_ms": "ms"}
    )
    assert ev.frame["latency_ms"].iloc[0] == 1.25


def test_text_durations_carry_their_unit() -> None:
    raw = pd.DataFrame(
        {"latency_ms": ["1.5s", "250 ms", "250", "3e3us", "7 parsecs", "abc"]}
    )
    with pytest.raises(
        ValueError, match=r"row 4, column 'latency_ms': unknown time unit"
    ):
        read_events(raw)
    ev = read_events(raw, errors="skip")
    assert ev.frame["latency_ms"].tolist() == [1500.0, 250.0, 250.0, 3.0]
    assert ev.skipped_by_reason() == {"unknown time unit": 1, "not a duration": 1}
    assert ev.skipped["row"].tolist() == [4, 5]


def test_bad_unit_argument() -> None:
    raw = pd.DataFrame({"latency_ms": [1.0]})
    with pytest.raises(ValueError, match="unknown time unit 'minutes'"):
        read_events(raw, units={"latency_ms": "minutes"})
    with pytest.raises(ValueError, match="apply to timestamp and"):
        read_events(raw, units={"input_tokens": "s"})
    with pytest.raises(ValueError, match="not a column"):
        read_events(raw, units={"queue_ms": "s"})


def test_column_mapping_errors() -> None:
    raw = pd.DataFrame({"a": [1.0], "b": [2.0], "latency_ms": [3.0]})
    with pytest.raises(
        ValueError, match=r"maps 'zzz'.*columns found are: a, b, latency_ms"
    ):
        read_events(raw, columns={"zzz": "latency_ms"})
    with pytest.raises(ValueError, match="duplicate"):
        read_events(raw, columns={"a": "queue_ms", "b": "queue_ms"})
    with pytest.raises(ValueError, match="duplicate"):
        read_events(raw, columns={"a": "latency_ms"})


@pytest.mark.parametrize(
    ("unit", "scale"), [("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)]
)
def test_numeric_epoch_timestamps(unit: str, scale: int) -> None:
    epoch_s = 1_735_689_600  # 2025-01-01
    raw = pd.DataFrame({"timestamp": [epoch_s * scale, (epoch_s + 1) * scale]})
    want = pd.Timestamp("2025-01-01", tz="UTC")
    stated = read_events(raw, units={"timestamp": unit}).frame["timestamp"]
    inferred = read_events(raw)
    assert stated.iloc[0] == want and stated.iloc[1] == want + pd.Timedelta(seconds=1)
    pd.testing.assert_series_equal(inferred.frame["timestamp"], stated)
    assert inferred.units["timestamp"] == unit


def test_numeric_offsets_from_origin() -> None:
    raw = pd.DataFrame({"t": [0.0, 1.5, 90.0], "latency_ms": [1.0, 1.0, 1.0]})
    f = read_events(
        raw,
        columns={"t": "timestamp"},
        units={"timestamp": "s"},
        origin="2025-03-01T12:00:00+01:00",
    ).frame
    base = pd.Timestamp("2025-03-01T11:00:00Z")
    assert f["timestamp"].tolist() == [
        base,
        base + pd.Timedelta(milliseconds=1500),
        base + pd.Timedelta(seconds=90),
    ]


def test_numeric_timestamp_without_unit_outside_epoch_range_raises() -> None:
    with pytest.raises(ValueError, match="unit is not stated"):
        read_events(pd.DataFrame({"timestamp": [1.0, 2.0]}))


def test_timezones_of_text_timestamps() -> None:
    raw = pd.DataFrame({"timestamp": ["2025-01-01 09:00", "2025-01-01T09:00:00+02:00"]})
    # mixed: the value without an offset is read in UTC only when that is stated
    with pytest.raises(
        ValueError, match="row 0, column 'timestamp': timestamp without"
    ):
        read_events(raw)
    f = read_events(raw, timezone="UTC").frame
    assert f["timestamp"].tolist() == [
        pd.Timestamp("2025-01-01T09:00Z"),
        pd.Timestamp("2025-01-01T07:00Z"),
    ]
    naive = pd.DataFrame({"timestamp": ["2025-07-01 09:00"]})
    f = read_events(naive, timezone="Europe/Berlin").frame
    assert f["timestamp"].iloc[0] == pd.Timestamp("2025-07-01T07:00Z")
    dt = pd.DataFrame({"timestamp": pd.to_datetime(["2025-07-01 09:00"])})
    f = read_events(dt, timezone="America/New_York").frame
    assert f["timestamp"].iloc[0] == pd.Timestamp("2025-07-01T13:00Z")
    assert str(f["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_success_from_text_and_from_error() -> None:
    raw = pd.DataFrame({"success": ["yes", "no", "TRUE", "0", "maybe"]})
    with pytest.raises(ValueError, match="row 4, column 'success': not a boolean"):
        read_events(raw)
    assert read_events(raw, errors="skip").frame["success"].tolist() == [
        True,
        False,
        True,
        False,
    ]
    derived = read_events(pd.DataFrame({"error": [None, "timeout", ""]})).frame
    assert derived["success"].tolist() == [True, False, True]
    assert derived["error"].isna().tolist() == [True, False, True]


def test_outcomes_scores_and_extra_columns_are_kept() -> None:
    raw = pd.DataFrame(
        {
            "latency_ms": [1.0, 2.0],
            "accepted": [True, None],
            "quality_score": [0.5, 0.9],
            "note": ["x", "y"],
            "user_id": [17, None],
        }
    )
    ev = read_events(raw)
    assert ev.outcomes == ["accepted"]
    assert str(ev.frame["accepted"].dtype) == "boolean"
    assert ev.scores == ["quality_score"]
    assert ev.frame["note"].tolist() == ["x", "y"]
    assert ev.frame["user_id"].iloc[0] == "17" and pd.isna(ev.frame["user_id"].iloc[1])


# ---- invalid rows ---


def test_invalid_values_name_source_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "timestamp,latency_ms,input_tokens\n"
        "2025-01-01T00:00:00Z,10,5\n"
        "not-a-time,11,5\n"
        "2025-01-01T00:00:02Z,-3,5\n"
        "2025-01-01T00:00:03Z,inf,5\n"
        "2025-01-01T00:00:04Z,,5\n"
        "2025-01-01T00:00:05Z,12,-1\n"
        "2025-01-01T00:00:06Z,13,many\n"
        "2025-01-01T00:00:07Z,14,6\n"
    )
    with pytest.raises(ValueError) as info:
        read_events(path)
    message = str(info.value)
    # records are named by their file line (the header is line 1)
    assert message.startswith(f"{path}: 6 invalid row(s): line 3, column 'timestamp'")
    assert "line 4, column 'latency_ms': negative duration" in message
    assert "errors='skip'" in message
    ev = read_events(path, errors="skip")
    assert ev.frame["latency_ms"].tolist() == [10.0, 14.0]
    assert ev.skipped["row"].tolist() == [1, 2, 3, 4, 5, 6]
    assert ev.skipped_by_reason() == {
        "unparsable timestamp": 1,
        "negative duration": 1,
        "non-finite duration": 1,
        "missing value": 1,
        "negative value": 1,
        "not a number": 1,
    }
    assert "skipped 6 invalid rows" in repr(ev)
    assert "skipped 6 invalid rows" in ev._repr_html_()
    assert ev.to_dict()["skipped"] == 6


def test_timestamps_beyond_nanosecond_range() -> None:
    far = [dt.datetime(3000, 1, 1), dt.datetime(2025, 1, 1), None]
    sources = {
        "text": pd.DataFrame(
            {"timestamp": ["3000-01-01T00:00Z", "2025-01-01T00:00Z", "x"]}
        ),
        "datetime64[us]": pd.DataFrame(
            {"timestamp": pd.Series(far).astype("datetime64[us]")}
        ),
    }
    for name, raw in sources.items():
        with pytest.raises(
            ValueError, match="row 0, column 'timestamp': timestamp out of"
        ):
            read_events(raw)
        ev = read_events(raw, errors="skip")
        assert ev.frame["timestamp"].tolist() == [
            pd.Timestamp("2025-01-01", tz="UTC")
        ], name
        assert ev.skipped["row"].tolist() == [0, 2]
    with pytest.raises(ValueError, match="timestamp out of range"):
        read_events(
            pd.DataFrame({"timestamp": [1e300]}),
            units={"timestamp": "s"},
            origin="unix",
        )


def test_odd_frames() -> None:
    dup_index = pd.DataFrame({"latency_ms": [1.0, -2.0, 3.0]}, index=[5, 5, 1])
    ev = read_events(dup_index, errors="skip")
    assert ev.frame["latency_ms"].tolist() == [1.0, 3.0] and ev.skipped[
        "row"
    ].tolist() == [1]
    assert list(ev.frame.index) == [0, 1]
    int_names = pd.DataFrame({0: [1.0], "latency_ms": [2.0]})
    assert read_events(int_names).columns == ["0", "latency_ms"]
    assert len(read_events(pd.DataFrame())) == 0
    ok = read_events(pd.DataFrame({"success": [1, 0, 1]})).frame["success"]
    assert ok.tolist() == [True, False, True] and str(ok.dtype) == "bool"
    with pytest.raises(ValueError, match="row 1, column 'success': not a boolean"):
        read_events(pd.DataFrame({"success": [1, 2]}))
    with pytest.raises(ValueError, match="duplicate column names"):
        read_events(pd.DataFrame([[1.0, 2.0]], columns=["latency_ms", "latency_ms"]))
    with pytest.raises(ValueError, match="boolean where a duration"):
        read_events(pd.DataFrame({"latency_ms": [True]}))


def test_malformed_csv_lines(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("latency_ms,endpoint\n1,/a\n2,/b,extra\n3,/c\n")
    with pytest.raises(
        ValueError, match=r"ragged\.csv: 1 invalid.*line 3: malformed CSV"
    ):
        read_events(path)
    ev = read_events(path, errors="skip")
    assert ev.frame["latency_ms"].tolist() == [1.0, 3.0]
    assert ev.skipped["line"].tolist() == [3]


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty CSV"):
        read_events(empty)
    header = tmp_path / "header.csv"
    header.write_text("timestamp,latency_ms\n")
    assert len(read_events(header)) == 0
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n")
    assert len(read_events(blank)) == 0


def test_corrupt_binary_files(tmp_path: Path) -> None:
    junk = bytes(range(256)) * 40
    for name in ("x.parquet", "x.arrow"):
        path = tmp_path / name
        path.write_bytes(junk)
        with pytest.raises(ValueError, match=name.replace(".", r"\.")):
            read_events(path)
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\xff\xfe" + junk)
    with pytest.raises(ValueError, match=r"x\.jsonl: not UTF-16 text"):  # by its BOM
        read_events(path)
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n" + junk)
    with pytest.raises(ValueError, match=r"x\.csv"):
        read_events(path)


def test_truncated_parquet(sample: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(sample), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable Parquet"):
        read_events(path)


def test_hostile_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = [
        json.dumps({"latency_ms": 1.0}),
        "[" * 100_000 + "]" * 100_000,  # nesting deep enough to blow a recursive parser
        "42",
        '{"latency_ms": "NaN"}',
        '{"latency_ms": 1e999}',
        '{"latency_ms": 2.5, "extra": {"nested": [1, 2]}}',
        "{truncated",
    ]
    path.write_text("\n".join(lines) + "\n")
    ev = read_events(path, errors="skip")
    assert ev.frame["latency_ms"].tolist() == [1.0, 2.5]
    assert sorted(ev.skipped["line"].tolist()) == [2, 3, 4, 5, 7]
    reasons = ev.skipped_by_reason()
    assert reasons["JSON line is not an object"] == 1
    assert reasons["non-finite duration"] == 1


def test_values_of_the_wrong_kind_are_invalid_not_crashes() -> None:
    odd = [{"a": 1}, [1, 2], b"12", 3 + 4j, True, "12", 5, None]
    for column, good in (
        ("latency_ms", [12.0, 5.0]),
        ("input_tokens", [12.0, 5.0, np.nan]),
        ("cost_usd", [12.0, 5.0, np.nan]),
    ):
        ev = read_events(
            pd.DataFrame({column: pd.Series(odd, dtype=object)}), errors="skip"
        )
        np.testing.assert_array_equal(ev.frame[column], good)
        assert ev.skipped["row"].tolist()[:5] == [0, 1, 2, 3, 4]
    stamps = pd.Series(
        [dt.datetime(2025, 1, 1), "2025-01-01T01:00Z", {"t": 1}, 3 + 4j], dtype=object
    )
    ev = read_events(pd.DataFrame({"timestamp": stamps}), errors="skip", timezone="UTC")
    assert ev.frame["timestamp"].tolist() == [
        pd.Timestamp("2025-01-01", tz="UTC"),
        pd.Timestamp("2025-01-01T01:00Z"),
    ]
    assert ev.skipped_by_reason() == {"unparsable timestamp": 2}


def test_json_array_of_records(tmp_path: Path) -> None:
    """The shape of llmperf's per-request output."""
    path = tmp_path / "runs.json"
    path.write_text(
        json.dumps(
            [
                {
                    "end_to_end_latency_s": 1.5,
                    "number_input_tokens": 550,
                    "error_code": None,
                },
                {
                    "end_to_end_latency_s": 2.0,
                    "number_input_tokens": 550,
                    "error_code": 429,
                },
            ]
        )
    )
    ev = read_events(
        path,
        columns={
            "end_to_end_latency_s": "latency_ms",
            "number_input_tokens": "input_tokens",
            "error_code": "error",
        },
    )
    assert ev.frame["latency_ms"].tolist() == [1500.0, 2000.0]
    assert ev.frame["success"].tolist() == [True, False]
    assert ev.frame["error"].astype(object).iloc[1] == "429"


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_select_reads_only_named_columns(
    sample: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    renamed = sample.rename(columns={"latency_ms": "Elapsed", "endpoint": "route"})
    path = tmp_path / f"e{suffix}"
    write_events(renamed, path)
    mapping = {"Elapsed": "latency_ms", "route": "endpoint", "user_id": "user_id"}
    ev = read_events(
        path, columns=mapping, select=["timestamp", "endpoint", "latency_ms"]
    )
    assert ev.columns == ["timestamp", "endpoint", "latency_ms"]
    np.testing.assert_array_equal(ev.frame["latency_ms"], sample["latency_ms"])
    with pytest.raises(ValueError, match=r"select= names \['nope'\]"):
        read_events(path, select=["timestamp", "nope"])
    with pytest.raises(TypeError, match="sequence of column names"):
        read_events(path, select="timestamp")


def test_paths_that_are_not_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_events(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="directory"):
        read_events(tmp_path)
    odd = tmp_path / "events.xyz"
    odd.write_text("latency_ms\n1\n")
    with pytest.raises(ValueError, match="format="):
        read_events(odd)
    assert read_events(odd, format="csv").frame["latency_ms"].tolist() == [1.0]
    with pytest.raises(ValueError, match="format must be"):
        read_events(odd, format="xls")


def test_csv_identifiers_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("UserID,session_id,error,latency_ms\n00042,007,429,1\n00043,,,2\n")
    f = read_events(path, columns={"UserID": "user_id"}).frame
    assert f["user_id"].tolist() == ["00042", "00043"]
    assert f["session_id"].iloc[0] == "007" and pd.isna(f["session_id"].iloc[1])
    assert f["error"].astype(object).iloc[0] == "429"
    assert f["success"].tolist() == [False, True]


def test_tsv_and_custom_delimiter(tmp_path: Path) -> None:
    tsv = tmp_path / "e.tsv"
    tsv.write_text("latency_ms\tendpoint\n1\t/a\n")
    assert read_events(tsv).frame["endpoint"].astype(object).tolist() == ["/a"]
    semi = tmp_path / "e.csv"
    semi.write_text("latency_ms;endpoint\n2;/b\n")
    assert read_events(semi, delimiter=";").frame["latency_ms"].tolist() == [2.0]


def test_real_llmperf_run(shared_data: Path) -> None:
    """A real per-request LLM benchmark output, with its published summary."""
    run = shared_data / "llm" / "llmperf_leaderboard" / "raw_data" / "individual"
    path = sorted(run.glob("*.json"))[0]
    ev = read_events(
        path,
        columns={
            "end_to_end_latency_s": "latency_ms",
            "ttft_s": "ttft_ms",
            "number_input_tokens": "input_tokens",
            "number_output_tokens": "output_tokens",
            "error_code": "error",
        },
    )
    raw = json.loads(path.read_text())
    ok = [r["end_to_end_latency_s"] * 1000 for r in raw if r["error_code"] is None]
    got = ev.frame.loc[ev.frame["success"], "latency_ms"].to_numpy()
    np.testing.assert_allclose(got, ok, rtol=1e-15)


def test_real_azure_trace_timestamps(shared_data: Path) -> None:
    path = shared_data / "llm" / "azure_llm_2023" / "AzureLLMInferenceTrace_code.csv"
    ev = read_events(
        path,
        columns={
            "TIMESTAMP": "timestamp",
            "ContextTokens": "input_tokens",
            "GeneratedTokens": "output_tokens",
        },
    )
    assert len(ev) == 8819
    assert ev.frame["timestamp"].iloc[0] == pd.Timestamp(
        "2023-11-16 18:17:03.97996", tz="UTC"
    )
    assert ev.frame["timestamp"].is_monotonic_increasing


# ---- properties ---


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.text(max_size=8),
            st.none(),
        ),
        max_size=30,
    )
)
def test_every_row_is_kept_or_accounted_for(values: list[Any]) -> None:
    raw = pd.DataFrame({"latency_ms": pd.Series(values, dtype=object)})
    ev = read_events(raw, errors="skip")
    assert len(ev) + len(ev.skipped) == len(values)
    lat = ev.frame["latency_ms"].to_numpy()
    assert np.all(np.isfinite(lat)) and np.all(lat >= 0)
    for v in values:
        if isinstance(v, float) and np.isfinite(v) and v >= 0:
            assert v in lat
    if len(ev.skipped):
        with pytest.raises(ValueError, match="invalid row"):
            read_events(raw)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=20,
    )
)
def test_float_latencies_survive_csv_and_jsonl_exactly(values: list[float]) -> None:
    import tempfile

    ev = read_events(pd.DataFrame({"latency_ms": values}))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("a.csv", "a.jsonl"):
            back = read_events(write_events(ev, Path(tmp) / name))
            assert back.frame["latency_ms"].tolist() == values


def test_events_wrapper_views(sample: pd.DataFrame) -> None:
    ev = read_events(sample)
    assert isinstance(ev, Events) and len(ev) == len(sample)
    assert ev.phases == ["queue_ms", "processing_ms", "delivery_ms", "ttft_ms"]
    assert ev.outcomes == ["cache_hit"] and ev.scores == ["quality_score"]
    assert ev.has("timestamp", "latency_ms") and not ev.has("nope")
    assert ev.to_frame() is ev.frame
    d = ev.to_dict()
    assert d["rows"] == len(sample) and d["skipped"] == 0
    json.dumps(d)
    assert "<table" in ev._repr_html_()
