"""The command line: recording for backtests, and one clear line for every bad setting."""

import json
import socket

import pytest

from ingest.decode import decode
from simulators.cli import main


def record(tmp_path, *extra):
    out = tmp_path / "readings.jsonl"
    code = main(
        [
            "--out",
            str(out),
            "--labels",
            str(tmp_path / "truth.jsonl"),
            "--manifest",
            str(tmp_path / "fleet.json"),
            *extra,
        ]
    )
    assert code == 0
    return out.read_bytes().splitlines()


def test_out_writes_one_wire_format_reading_per_line_in_arrival_order(tmp_path, capsys):
    lines = record(
        tmp_path, "--devices", "6", "--duration", "10h", "--scenario", "late_upload", "--seed", "4"
    )
    summary = capsys.readouterr().out
    objects = [json.loads(line) for line in lines]
    assert all(isinstance(o, dict) and {"device_id", "ts", "seq"} <= set(o) for o in objects)
    assert f"{len(lines):,} readings" in summary
    for o, line in zip(objects, lines, strict=True):
        topic = f"cargo/v1/{o['device_id']}/telemetry"
        assert decode(topic, line, 1 << 62, max_age_ms=None).rejects == []
    # The late upload's readings come after readings newer than them.
    labels = [json.loads(x) for x in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert len(labels) == 6
    for device in {x["device_id"] for x in labels}:
        ts = [o["ts"] for o in objects if o["device_id"] == device]
        assert ts != sorted(ts)
        assert sorted(ts) == sorted(set(ts))


def test_the_manifest_file_is_one_json_document_with_a_shipment_per_device(tmp_path, capsys):
    record(tmp_path, "--devices", "5", "--duration", "2h")
    doc = json.loads((tmp_path / "fleet.json").read_text())
    assert [s["device_id"] for s in doc["shipments"]] == [f"trk-0000{i}" for i in range(1, 6)]
    assert capsys.readouterr().out.startswith("simulated 5 shipments (normal, seed 0, dev physics)")


def test_list_prints_the_catalogue(capsys):
    assert main(["--list"]) == 0
    text = capsys.readouterr().out
    assert "reefer_failure" in text and "customs_transit" in text and "mombasa-kampala" in text


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(
            ["--speed", "0"],
            "--speed must be a positive number or 'max'",
            id="a zero speed is refused",
        ),
        pytest.param(
            ["--speed", "fast"],
            "--speed must be a positive number or 'max'",
            id="a speed that is not a number is refused",
        ),
        pytest.param(
            ["--duration", "soon"],
            "--duration: not a duration",
            id="a duration without units it knows is refused",
        ),
        pytest.param(
            ["--devices", "0"], "--devices must be at least 1", id="an empty fleet is refused"
        ),
        pytest.param(
            ["--scenario", "meteor"], "unknown scenario 'meteor'", id="an unknown scenario is named"
        ),
        pytest.param(
            ["--scenario", "mixed,normal"],
            "mixed makes its own combination",
            id="mixed does not combine",
        ),
        pytest.param(
            ["--param", "rise_c_per_h"],
            "--param must be KEY=VALUE",
            id="a parameter without a value is refused",
        ),
        pytest.param(
            ["--param", "warp=9"],
            "takes the parameter 'warp'",
            id="a parameter no scenario takes is refused",
        ),
        pytest.param(
            ["--scenario", "gps_jamming", "-P", "mode=loud"],
            "gps_jamming.mode must be one of",
            id="a parameter's choices are enforced",
        ),
        pytest.param(
            ["--scenario", "power_loss", "-P", "duration_min=long"],
            "power_loss.duration_min must be float",
            id="a parameter's type is enforced",
        ),
        pytest.param(
            ["--mqtt-url", "http://x"],
            "--mqtt-url must be mqtt[s]://",
            id="a broker url of another scheme is refused",
        ),
        pytest.param(
            ["--start", "yesterday"],
            "--start: not an RFC 3339 date-time",
            id="a start that is not RFC 3339 is refused",
        ),
        pytest.param(
            ["--out", "x.jsonl", "--workers", "2"],
            "--workers applies to publishing",
            id="workers do not write files",
        ),
        pytest.param(
            ["--scenario", "heat_wave", "--duration", "2h"],
            "no profile and lane can stage heat_wave in a 2 h run",
            id="a run too short for its incident says so",
        ),
        pytest.param(
            ["--profiles", "customs_transit", "--scenario", "reefer_failure"],
            "no profile and lane can stage reefer_failure",
            id="a profile that cannot have the incident says so",
        ),
        pytest.param(
            ["--profiles", "banana"], "unknown profile 'banana'", id="an unknown profile is named"
        ),
        pytest.param(
            ["--scenario", "malformed_payloads", "-P", "reasons=invalid_json,bad_vibes"],
            "malformed_payloads.reasons must be a comma-separated subset",
            id="a malformed payload reason the decoder does not have is refused",
        ),
        pytest.param(
            ["--seed", "1000000"],
            "seed 1000000 is held out (>= 1,000,000) and runs only with the held-out physics",
            id="a held-out seed is refused with the development physics",
        ),
        pytest.param(
            ["--seed", "7", "--physics", "holdout"],
            "the held-out physics runs only on held-out seeds (>= 1,000,000), got seed 7",
            id="the held-out physics is refused on a development seed",
        ),
        pytest.param(
            ["--air-probes", "1.5"],
            "air probes must be a share from 0 to 1, got 1.5",
            id="a share of air probes over one is refused",
        ),
        pytest.param(
            ["--scenario", "reefer_failure", "-P", "shape=melting"],
            "reefer_failure.shape must be one of",
            id="a failure shape the simulator does not have is refused",
        ),
    ],
)
def test_a_bad_setting_stops_the_run_with_one_line_naming_it(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_a_broker_that_cannot_be_reached_ends_the_run_with_exit_1(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        code = main(
            ["--mqtt-url", f"mqtt://127.0.0.1:{port}", "--devices", "1", "--duration", "1h"]
        )
    assert code == 1
    assert f"cannot reach mqtt://127.0.0.1:{port}" in capsys.readouterr().err


def test_a_bad_broker_url_in_the_environment_is_named_as_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("CARGOWATCH_MQTT_URL", "localhost")
    assert main(["--devices", "1"]) == 2
    assert "CARGOWATCH_MQTT_URL must be mqtt[s]://" in capsys.readouterr().err


def test_sigterm_stops_a_recording_without_leaving_a_half_written_file(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "readings.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators",
            "--devices",
            "3000",
            "--duration",
            "3d",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (tmp_path / "readings.jsonl.tmp").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "stopped before the end of the run" in err
    assert list(tmp_path.iterdir()) == []
