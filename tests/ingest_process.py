"""Test helpers for the ingestion path: a real `cargowatch ingest` process, a QoS 1 publisher, polling.

Integration tests run the ingester as the operator would, a separate process
configured through CARGOWATCH_* variables, so they can SIGTERM and SIGKILL it.
The publisher is a plain paho client that waits for every PUBACK, so "published"
means "the broker has it".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from services import parent_death_signal

# Two days ago, one reading a second: room for 170,000 readings before "now" (future_ts).
T0_MS = int(time.time() * 1000) - 2 * 86_400_000


def reading(device: str, i: int, **fields: Any) -> dict[str, Any]:
    """A valid wire-format reading; (device, i) gives it a unique timestamp."""
    return {
        "device_id": device,
        "ts": T0_MS + i * 1000,
        "seq": i,
        "temp_c": 4.0 + (i % 7) / 10,
        **fields,
    }


def topic(device: str) -> str:
    return f"cargo/v1/{device}/telemetry"


def encode(obj: Any) -> bytes:
    return json.dumps(obj).encode()


class IngesterProcess:
    """`python -m cargowatch ingest` with its log in a file."""

    def __init__(
        self, mqtt_url: str, influx_url: str, db: str, workdir: Path, **settings: str
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "ingest.log"
        self.env = {
            **os.environ,
            "CARGOWATCH_MQTT_URL": mqtt_url,
            "CARGOWATCH_INFLUX_URL": influx_url,
            "CARGOWATCH_INFLUX_DB": db,
            "CARGOWATCH_SPOOL_DIR": str(workdir / "spool"),
            "CARGOWATCH_DB_URL": f"sqlite:///{workdir / 'cargowatch.db'}",
            "CARGOWATCH_STATE_DIR": str(workdir / "state"),
            "CARGOWATCH_MQTT_CLIENT_ID": f"ingest-{uuid.uuid4().hex[:8]}",
            "CARGOWATCH_FLUSH_INTERVAL_MS": "50",
            "CARGOWATCH_STATS_INTERVAL_S": "1",
            **{f"CARGOWATCH_{k.upper()}": v for k, v in settings.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # The operator's first step: an un-migrated store stops the ingester at start-up.
        upgrade = subprocess.run(
            [sys.executable, "-m", "cargowatch", "db", "upgrade"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert upgrade.returncode == 0, upgrade.stderr
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cargowatch", "ingest"],
                env=self.env,
                stdout=log,
                stderr=log,
                preexec_fn=parent_death_signal(),  # never outlive a crashed test run
            )
        wait_for(
            lambda: "subscribed to" in self.log()[offset:] or self.process.poll() is not None,
            60,
            "the ingester to subscribe",
        )
        assert self.process.poll() is None, f"ingester exited:\n{self.log()}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def save_shipment(self, element: dict[str, Any], status: str = "in_transit") -> None:
        """Save a shipment in this ingester's store, as the HTTP API does, and wait until the
        running ingester watches that version of it."""
        from api.db import make_engine, session_factory, write_transaction
        from api.keys import organisation_for
        from api.shipments import save_shipment

        engine = make_engine(self.env["CARGOWATCH_DB_URL"])
        try:
            with write_transaction(session_factory(engine)) as session:
                org = organisation_for(session, "ACME Pharma")
                saved = save_shipment(session, org.id, element, actor="test", status=status)
                version = saved.version
        finally:
            engine.dispose()
        # "watching SHP on trk (version N," or, for a close, "no longer watching ...".
        watching = (
            f"watching {element['shipment_id']} on {element['device_id']} (version {version},"
        )
        wait_for(lambda: watching in self.log(), 30, f"the watcher to take version {version}")

    def store_rows(self, query: str) -> list[tuple[Any, ...]]:
        """Rows of a SQL query on this ingester's alert store, in the order the query gives."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.env["CARGOWATCH_DB_URL"])
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(query))]
        finally:
            engine.dispose()

    def detector_processes(self) -> list[int]:
        """Pids of the ingester's detector processes (not multiprocessing's resource tracker)."""
        assert self.process is not None
        found = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            for pid in (task / "children").read_text().split():
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
        return found

    def terminate(self, timeout_s: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def refused_start_up(**settings: str) -> str:
    """Run `cargowatch ingest` with only these CARGOWATCH_* settings; return its one-line refusal."""
    result = subprocess.run(
        [sys.executable, "-m", "cargowatch", "ingest"],
        env={
            "PATH": "/usr/bin:/bin",
            **{f"CARGOWATCH_{k.upper()}": v for k, v in settings.items()},
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0, "the ingester started"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def publish(port: int, messages: Iterable[tuple[str, bytes]], timeout_s: float = 120) -> int:
    """Publish at QoS 1 and return once the broker has acked every message."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(t, p, qos=1) for t, p in messages]
    deadline = time.monotonic() + timeout_s
    for info in infos:
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        assert info.is_published(), "the broker did not ack a QoS 1 publish in time"
    client.disconnect()
    client.loop_stop()
    return len(infos)


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


class AlertListener:
    """Subscribes to cargo/v1/alerts/# and keeps what arrives."""

    def __init__(self, port: int):
        self.messages: list[tuple[str, dict]] = []
        self._subscribed = threading.Event()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"alerts-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        c.on_connect = lambda cl, *a: cl.subscribe("cargo/v1/alerts/#", qos=1)
        c.on_subscribe = lambda *a: self._subscribed.set()
        # An empty payload is the retained message that clears a resolved alert's topic.
        c.on_message = lambda cl, u, m: (
            m.payload and self.messages.append((m.topic, json.loads(m.payload)))
        )
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert self._subscribed.wait(10)
        self.client = c

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()
