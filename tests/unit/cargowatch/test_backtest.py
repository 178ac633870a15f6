"""`cargowatch backtest`: recorded readings in, alert events, scores and a plot out."""

import json
import subprocess
import sys

import pytest

MIN = 60_000
T0 = 1_763_800_000_000


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "cargowatch", "backtest", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def recording(tmp_path):
    lines = [
        json.dumps({"device_id": "trk-1", "ts": T0 + i * 5 * MIN, "seq": i, "temp_c": t})
        for i, t in enumerate([5.0] * 24 + [9.0] * 6 + [5.0] * 6)
    ]
    lines.insert(3, "{not json")
    lines.append(json.dumps([{"device_id": "trk-1", "ts": T0 + 37 * 5 * MIN, "temp_c": 5.0}]))
    path = tmp_path / "readings.jsonl"
    path.write_text("\n".join(lines) + "\n")
    fleet = tmp_path / "fleet.json"
    fleet.write_text(
        json.dumps(
            {
                "shipments": [
                    {"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "vaccine_2_8"}
                ]
            }
        )
    )
    return path, fleet


def test_a_recording_with_an_excursion_yields_its_alert_events_in_the_contract_shape(
    recording, tmp_path
):
    readings, fleet = recording
    alerts = tmp_path / "alerts.jsonl"
    done = run(readings, "--shipments", fleet, "--alerts", alerts)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in alerts.read_text().splitlines()]
    excursion = [e for e in events if e["kind"] == "temp_excursion"]
    assert excursion[0]["event"] == "open" and excursion[-1]["event"] == "resolve"
    opened = excursion[0]
    assert opened["at"] == "2025-11-22T10:31:40Z"  # 5 min after the first reading out of range
    assert opened["shipment_id"] == "SHP-1" and opened["severity"] == "warning"
    assert set(opened) >= {
        "event",
        "alert_id",
        "kind",
        "severity",
        "device_id",
        "shipment_id",
        "at",
        "summary",
        "evidence",
    }
    assert "37 readings replayed" in done.stderr and "{'invalid_json': 1}" in done.stderr


def test_the_same_recording_gives_byte_identical_alerts(recording, tmp_path):
    readings, fleet = recording
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert run(readings, "--shipments", fleet, "--alerts", a).returncode == 0
    assert run(readings, "--shipments", fleet, "--alerts", b).returncode == 0
    assert a.read_bytes() == b.read_bytes() and a.stat().st_size > 0


def test_a_benchmark_csv_gets_a_score_in_0_1_for_every_row_and_a_plot(tmp_path):
    csv_in = tmp_path / "machine_temperature.csv"
    rows = ["timestamp,value"] + [
        f"2014-01-01 {h:02d}:{m:02d}:00,{70 + (m % 10) / 10}"
        for h in range(24)
        for m in range(0, 60, 5)
    ]
    csv_in.write_text("\n".join(rows) + "\n")
    scores, alerts, plot = tmp_path / "s.csv", tmp_path / "a.jsonl", tmp_path / "p.png"
    done = run(csv_in, "--alerts", alerts, "--scores", scores, "--plot", plot)
    assert done.returncode == 0, done.stderr
    out = scores.read_text().splitlines()
    assert out[0] == "timestamp,value,anomaly_score" and len(out) == len(rows)
    assert out[1].startswith("2014-01-01 00:00:00,70.0,")
    assert all(0.0 <= float(line.split(",")[2]) <= 1.0 for line in out[1:])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "content, message",
    [
        pytest.param(
            "time,value\n1,2\n",
            "starts with the header timestamp,value",
            id="a CSV without the header",
        ),
        pytest.param(
            "timestamp,value\nyesterday,2\n",
            ":2: cannot read",
            id="a CSV row that is not a time and a number",
        ),
    ],
)
def test_unusable_input_fails_with_one_line(tmp_path, content, message):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    done = run(bad, "--alerts", tmp_path / "a.jsonl")
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_an_unknown_profile_is_refused_before_anything_runs(recording, tmp_path):
    readings, _ = recording
    done = run(readings, "--profile", "vaccine", "--alerts", tmp_path / "a.jsonl")
    assert done.returncode == 2 and "--profile must be one of" in done.stderr


def test_the_summary_names_the_riskiest_shipments_with_their_reasons(tmp_path):
    lines = [
        json.dumps(
            {
                "device_id": "trk-7",
                "ts": T0 + i * 5 * MIN,
                "seq": i,
                "seal": "closed",
                "battery_v": 3.9,
            }
        )
        for i in range(10)
    ]
    lines.append(
        json.dumps({"device_id": "trk-7", "ts": T0 + 10 * 5 * MIN, "seq": 10, "seal": "tampered"})
    )
    readings = tmp_path / "r.jsonl"
    readings.write_text("\n".join(lines) + "\n")
    done = run(readings, "--alerts", tmp_path / "a.jsonl")
    assert done.returncode == 0, done.stderr
    assert "peak risk  70.0  trk-7: seal_breach critical 70" in done.stderr


@pytest.mark.parametrize(
    "content, says",
    [
        pytest.param("", "(it holds none)", id="an empty recording"),
        pytest.param("{not json\n42\n", "2 rejects: ", id="a recording of rejects only"),
    ],
)
def test_a_backtest_that_replays_nothing_fails_with_one_line(tmp_path, content, says):
    empty = tmp_path / "readings.jsonl"
    empty.write_text(content)
    alerts = tmp_path / "alerts.jsonl"
    done = run(empty, "--alerts", alerts)
    assert done.returncode == 1, done.stderr
    assert f"no reading replayed from {empty}" in done.stderr and says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not alerts.exists()


@pytest.mark.parametrize("flag", ["--alerts", "--scores", "--plot"])
def test_an_output_in_a_missing_folder_is_one_line_before_the_replay(recording, tmp_path, flag):
    readings, fleet = recording
    missing = tmp_path / "no-such-folder" / "out"
    outputs = {"--alerts": tmp_path / "a.jsonl", flag: missing}
    args = [x for pair in outputs.items() for x in pair]
    done = run(readings, "--shipments", fleet, *args)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"cargowatch: {flag} {missing}: there is no folder {missing.parent}"
    )


def test_a_missing_manifest_is_named_by_the_backtest_flag(recording, tmp_path):
    readings, _ = recording
    done = run(readings, "--shipments", tmp_path / "nope.json", "--alerts", tmp_path / "a.jsonl")
    assert done.returncode == 2
    assert done.stderr.startswith(f"cargowatch: --shipments {tmp_path / 'nope.json'}: ")
    assert "CARGOWATCH_SHIPMENTS" not in done.stderr  # the backtest has no such variable


def out_of_order(tmp_path, behind_s):
    """A tracker reporting every minute whose reading stamped `behind_s` before its tenth
    comes after it: a probe's disconnected value, -127 °C."""
    rows = [{"device_id": "trk-1", "ts": T0 + i * MIN, "temp_c": 4.5} for i in range(20)]
    rows.insert(10, {"device_id": "trk-1", "ts": T0 + 9 * MIN - behind_s * 1000, "temp_c": -127.0})
    path = tmp_path / "readings.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def faults(tmp_path, readings, *flags):
    alerts = tmp_path / "alerts.jsonl"
    done = run(readings, "--alerts", alerts, *flags)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in alerts.read_text().splitlines()]
    return [(e["event"], e["at"]) for e in events if e["kind"] == "sensor_fault"]


def test_a_reading_a_few_seconds_out_of_order_is_taken_in_order_as_live(tmp_path):
    # Live, the ingester holds each reading for --lateness-s (30 s) so that one delivered a
    # little behind a newer one is still processed in order; a recording in arrival order gets
    # the same. Taken as late, the probe's -127 °C would have reached no sensor check.
    readings = out_of_order(tmp_path, behind_s=3)
    assert faults(tmp_path, readings) == [("open", "2025-11-22T08:35:37Z")]
    assert faults(tmp_path, readings, "--lateness-s", "0") == []


def test_a_reading_older_than_one_already_processed_is_late(tmp_path):
    # 90 s behind the tenth reading: the ninth, a minute older, had waited out its 30 s and been
    # processed, so this one is late (sensor checks speak of the present and skip it), as live.
    readings = out_of_order(tmp_path, behind_s=90)
    assert faults(tmp_path, readings) == []
    assert faults(tmp_path, readings, "--lateness-s", "120") == [("open", "2025-11-22T08:34:10Z")]


@pytest.mark.parametrize("value", ["-1", "3601"])
def test_a_lateness_out_of_range_is_refused_in_one_line(recording, tmp_path, value):
    readings, _ = recording
    done = run(readings, "--alerts", tmp_path / "a.jsonl", "--lateness-s", value)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"cargowatch: --lateness-s must be between 0 and 3600, got {value}"
    ]
