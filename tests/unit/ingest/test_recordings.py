"""Recordings: wire-format JSON Lines and benchmark CSVs in, alert events and scores out."""

import io
import json

import pytest

from detectors.alerts import AlertEvent
from detectors.reading import Reading
from ingest.recordings import (
    RecordingError,
    parse_time,
    read_csv,
    read_jsonl,
    write_alerts,
    write_scores,
)

T0 = 1_392_388_200_000  # 2014-02-14T14:30:00Z


def jsonl(tmp_path, *lines):
    path = tmp_path / "readings.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_objects_and_store_and_forward_arrays_become_readings_in_file_order(tmp_path):
    path = jsonl(
        tmp_path,
        json.dumps({"device_id": "trk-1", "ts": T0, "temp_c": 5.0}),
        "",
        json.dumps(
            [{"device_id": "trk-1", "ts": T0 + 1000}, {"device_id": "trk-1", "ts": T0 + 2000}]
        ),
    )
    rejected: dict[str, int] = {}
    readings = list(read_jsonl(path, rejected))
    assert [r.ts_ms for r in readings] == [T0, T0 + 1000, T0 + 2000]
    assert readings[0].temp_c == 5.0 and rejected == {}


def test_lines_the_live_decoder_would_reject_are_counted_by_their_reason(tmp_path):
    path = jsonl(
        tmp_path,
        "{not json",
        "[]",
        json.dumps({"ts": T0}),
        json.dumps({"device_id": "trk-1", "ts": "yesterday"}),
        json.dumps({"device_id": "trk-1", "ts": T0}),
    )
    rejected: dict[str, int] = {}
    assert len(list(read_jsonl(path, rejected))) == 1
    assert rejected == {
        "invalid_json": 1,
        "empty_payload": 1,
        "missing_device_id": 1,
        "invalid_ts": 1,
    }


def test_a_recording_is_judged_on_its_own_times_not_on_todays_clock(tmp_path):
    years_ago, far_ahead = T0, 4_102_444_800_000  # 2014 and 2100
    path = jsonl(
        tmp_path,
        json.dumps({"device_id": "trk-1", "ts": years_ago}),
        json.dumps({"device_id": "trk-1", "ts": far_ahead}),
    )
    rejected: dict[str, int] = {}
    assert [r.ts_ms for r in read_jsonl(path, rejected)] == [years_ago, far_ahead]
    assert rejected == {}


def test_a_benchmark_csv_becomes_one_device_named_after_the_file_with_the_channel_set(tmp_path):
    path = tmp_path / "machine temp (1).csv"
    path.write_text("timestamp,value\n2014-02-14 14:30:00,70.5\n\n1392388260000,71\n")
    readings = list(read_csv(path, "ambient_c", None))
    assert readings == [
        Reading("machine_temp__1_", T0, ambient_c=70.5),
        Reading("machine_temp__1_", T0 + 60_000, ambient_c=71.0),
    ]


def test_a_csv_device_can_be_named_explicitly(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("Timestamp,Value\n2014-02-14 14:30:00,1\n")
    assert [r.device_id for r in read_csv(path, "temp_c", "reefer-9")] == ["reefer-9"]


@pytest.mark.parametrize(
    "content, message",
    [
        pytest.param(
            "time,value\n1,2\n",
            "starts with the header timestamp,value",
            id="a CSV without the header",
        ),
        pytest.param("", "starts with the header timestamp,value", id="an empty CSV"),
        pytest.param(
            "timestamp,value\n1,2\nyesterday,2\n", ":3: cannot read", id="a row that is not a time"
        ),
        pytest.param(
            "timestamp,value\n1,warm\n", ":2: cannot read", id="a row that is not a number"
        ),
        pytest.param("timestamp,value\n1\n", ":2: cannot read", id="a row with no value"),
    ],
)
def test_an_unreadable_csv_names_the_file_and_the_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(RecordingError) as err:
        list(read_csv(path, "temp_c", None))
    assert str(err.value).startswith(str(path)) and message in str(err.value)


@pytest.mark.parametrize(
    "text, ms",
    [
        pytest.param("1392388200000", T0, id="epoch milliseconds"),
        pytest.param("2014-02-14 14:30:00", T0, id="the benchmark format, read as UTC"),
        pytest.param("2014-02-14T14:30:00Z", T0, id="RFC 3339 in UTC"),
        pytest.param("2014-02-14T16:30:00+02:00", T0, id="RFC 3339 with an offset"),
        pytest.param(" 2014-02-14T14:30:00.250Z ", T0 + 250, id="a fraction, with spaces around"),
    ],
)
def test_times_are_read_in_every_format_recordings_use(text, ms):
    assert parse_time(text) == ms


def test_alert_events_are_written_one_per_line_in_the_contract_shape():
    event = AlertEvent("open", "al_1", "silence", "warning", "trk-1", "SHP-1", T0, "quiet °C", {})
    out = io.StringIO()
    write_alerts([event, event], out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "°C" in lines[0], "UTF-8 stays readable"
    assert json.loads(lines[0]) == event.to_json()


def test_scores_of_one_device_come_back_in_the_benchmarks_own_columns(tmp_path):
    path = tmp_path / "scores.csv"
    write_scores([("m", T0, 70.5, 0.25), ("m", T0 + 60_000, float("nan"), 0.0)], path)
    assert path.read_text().splitlines() == [
        "timestamp,value,anomaly_score",
        "2014-02-14 14:30:00,70.5,0.250000",
        "2014-02-14 14:31:00,,0.000000",
    ]


def test_scores_of_several_devices_carry_a_device_column(tmp_path):
    path = tmp_path / "scores.csv"
    write_scores([("a", T0, 1.0, 0.5), ("b", T0, 2.0, 0.0)], path)
    assert path.read_text().splitlines() == [
        "timestamp,value,anomaly_score,device_id",
        "2014-02-14 14:30:00,1.0,0.500000,a",
        "2014-02-14 14:30:00,2.0,0.000000,b",
    ]
