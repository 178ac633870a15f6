"""A simulated fleet through a real broker and the real ingester comes out as the alerts its labels expect."""

import json
import subprocess
import sys
import time

import pytest
from ingest_process import AlertListener, wait_for

from detectors.alerts import rfc3339

pytestmark = pytest.mark.integration


def simulate(*args):
    done = subprocess.run(
        [sys.executable, "-m", "cargowatch", "simulate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_seal_tampering_in_a_simulated_fleet_is_published_as_seal_breach_alerts(
    mosquitto, influx_db, start_ingester, tmp_path
):
    influx, db = influx_db
    # Twelve hours that ended a minute ago, so no reading is in the future.
    start = rfc3339((int(time.time()) // 60 - 12 * 60 - 1) * 60_000)
    common = [
        "--devices",
        6,
        "--scenario",
        "seal_tamper",
        "--duration",
        "12h",
        "--seed",
        5,
        "--start",
        start,
    ]
    fleet, labels = tmp_path / "fleet.json", tmp_path / "truth.jsonl"
    simulate(*common, "--out", tmp_path / "dry.jsonl", "--manifest", fleet, "--labels", labels)
    truth = [json.loads(line) for line in labels.read_text().splitlines()]
    tampered = {t["device_id"] for t in truth if "seal_breach" in t["kinds"]}
    assert tampered, "the scenario staged at least one tampering"

    listener = AlertListener(mosquitto.port)
    start_ingester(mosquitto.url, influx.url, db, shipments=str(fleet))
    simulate(*common, "--mqtt-url", mosquitto.url, "--speed", "max")

    def seal_alerts():
        return {
            m["device_id"]
            for _, m in listener.messages
            if m["kind"] == "seal_breach" and m["event"] == "open"
        }

    wait_for(
        lambda: seal_alerts() >= tampered, 60, "a seal_breach alert for every tampered shipment"
    )
    assert seal_alerts() == tampered, "no seal alert for a shipment whose seal was not touched"
    opened = [
        m for _, m in listener.messages if m["kind"] == "seal_breach" and m["event"] == "open"
    ]
    assert all(m["severity"] == "critical" and m["shipment_id"].startswith("SHP-") for m in opened)
    listener.close()
