"""The simulator publishing through a real mosquitto, as ``python -m simulators`` does.

A plain paho subscriber registers before the simulator starts and counts what the broker
hands it; the fleet it must see is generated in process from the same settings, so the test
checks that exactly those messages arrived, byte for byte, whichever worker sent them.
"""

import json
import subprocess
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulators import simulate
from simulators.timeutil import floor_minute_ms, rfc3339

pytestmark = pytest.mark.integration


class Subscriber:
    """Everything published to the telemetry topics, collected on paho's network thread."""

    def __init__(self, host: str, port: int) -> None:
        self.messages: list[tuple[str, bytes, float]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-sub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect(host, port)
        self.client.loop_start()
        self.client.subscribe("cargo/v1/+/telemetry", qos=1)
        assert self._subscribed.wait(10), "no SUBACK from the broker"

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), time.time()))

    def wait_for(self, count: int, timeout_s: float = 60.0) -> list[tuple[str, bytes, float]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    break
            time.sleep(0.05)
        time.sleep(0.3)  # anything beyond the expected count would show up as a failure
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def subscriber(mosquitto):
    sub = Subscriber(mosquitto.host, mosquitto.port)
    yield sub
    sub.close()


def simulate_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulators", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_fleet_published_by_two_workers_arrives_exactly_as_simulated(
    mosquitto, subscriber, tmp_path
):
    start = rfc3339(floor_minute_ms(time.time() * 1000 - 5 * 3600 * 1000))
    expected = simulate(
        devices=9, scenario="mixed", duration_s=4 * 3600, seed=5, start=start, params={"share": 0.6}
    )
    payloads = sorted((m.topic, m.payload) for m in expected.messages())
    readings = sum(m.readings for m in expected.messages())

    done = simulate_cli(
        "--mqtt-url", mosquitto.url, "--devices", "9", "--scenario", "mixed", "-P", "share=0.6",
        "--duration", "4h", "--seed", "5", "--start", start, "--speed", "max", "--workers", "2",
        "--labels", str(tmp_path / "truth.jsonl"), "--manifest", str(tmp_path / "fleet.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    received = subscriber.wait_for(len(payloads))

    assert sorted((topic, payload) for topic, payload, _ in received) == payloads
    assert f"{readings:,} readings in {len(payloads):,} messages" in done.stdout
    labels = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert labels == expected.labels() and len(labels) == round(9 * 0.6)
    assert json.loads((tmp_path / "fleet.json").read_text()) == expected.manifest()


def test_a_paced_run_never_publishes_a_reading_ahead_of_the_wall_clock(mosquitto, subscriber):
    done = simulate_cli(
        "--mqtt-url", mosquitto.url, "--devices", "6", "--duration", "1h", "--speed", "1800",
        "--qos", "0", "--seed", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = int(done.stdout.split(" readings in ")[1].split()[0].replace(",", ""))
    received = subscriber.wait_for(expected)
    assert len(received) == expected
    for _, payload, at in received:
        for reading in json.loads(payload) if payload.startswith(b"[") else [json.loads(payload)]:
            assert reading["ts"] <= at * 1000
