"""The tutorial-style MQTT -> InfluxDB bridge, kept as the baseline ingest is measured against.

This is what most "MQTT to InfluxDB in Python" guides write: a paho client whose
``on_message`` decodes the JSON and POSTs one line-protocol point per message to ``/write``
through one shared HTTP client, acking each message as the callback returns. It is correct
but slow, and the ratio between CargoWatch's ingest rate and this one is a headline figure of
the ingest benchmark. Run as a script it starts a private broker and influxd, publishes a
burst of readings, prints the rate and checks every reading landed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

TELEMETRY_FILTER = "cargo/v1/+/telemetry"
FIELDS = ("seq", "lat", "lon", "temp_c", "humidity_pct", "battery_v")


def to_line(reading: dict[str, Any]) -> str:
    """One reading as a ``telemetry`` line-protocol point (integers get the ``i`` suffix)."""
    fields = ",".join(
        f"{name}={value}i" if isinstance(value, int) else f"{name}={value}"
        for name in FIELDS
        if (value := reading.get(name)) is not None
    )
    return f"telemetry,device_id={reading['device_id']} {fields} {reading['ts']}"


def run_naive(
    mqtt_host: str,
    mqtt_port: int,
    influx_url: str,
    db: str,
    expected: int,
    timeout_s: float,
    ready: threading.Event | None = None,
) -> float:
    """Bridge messages one HTTP write each until ``expected`` are written; return readings/s.

    The rate is timed from the first message's arrival to the last write's completion. On
    timeout it is the rate of what was written so far. ``ready`` is set once the QoS 1
    subscription is acknowledged, so a caller knows when publishing can start.
    """
    http = httpx.Client(timeout=30.0)
    http.post(f"{influx_url}/query", params={"q": f'CREATE DATABASE "{db}"'}).raise_for_status()
    written = 0
    first_at: float | None = None
    last_at = 0.0
    done = threading.Event()
    failure: list[BaseException] = []

    def on_connect(
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        client.subscribe(TELEMETRY_FILTER, qos=1)

    def on_subscribe(
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if ready is not None:
            ready.set()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        nonlocal written, first_at, last_at
        if first_at is None:
            first_at = time.perf_counter()
        try:
            reading = json.loads(message.payload)
            response = http.post(
                f"{influx_url}/write",
                params={"db": db, "precision": "ms"},
                content=to_line(reading),
            )
            response.raise_for_status()
        except Exception as error:  # the benchmark reports it instead of hanging to timeout
            failure.append(error)
            done.set()
            return
        written += 1
        last_at = time.perf_counter()
        if written >= expected:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"naive-{uuid.uuid4().hex[:8]}")
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(mqtt_host, mqtt_port)
    client.loop_start()
    try:
        done.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
        http.close()
    if failure:
        raise RuntimeError(f"naive pipeline failed after {written} writes") from failure[0]
    if first_at is None or written == 0:
        return 0.0
    return written / max(last_at - first_at, 1e-9)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)

    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parent / "tests")]
    from mqtt_load import build_payloads, publish_pipelined
    from services import InfluxServer, MosquittoServer

    db = "naive"
    messages = build_payloads(args.devices, args.messages, int(time.time() * 1000), seed=1)
    with (
        tempfile.TemporaryDirectory(prefix="naive-") as tmp,
        MosquittoServer(Path(tmp) / "mosquitto") as broker,
        InfluxServer(Path(tmp) / "influxd") as influx,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        ready = threading.Event()
        result = pool.submit(
            run_naive, broker.host, broker.port, influx.url, db, len(messages), args.timeout, ready
        )
        if not ready.wait(30.0):
            result.cancel()
            raise SystemExit(f"naive subscriber did not subscribe: {result.exception(5.0)!r}")
        publish_pipelined(broker.host, broker.port, messages)
        rate = result.result()
        if rate == 0.0:
            raise SystemExit(f"no reading was written within {args.timeout:.0f} s")
        stored = influx.count("telemetry", db, "seq")
        print(
            f"naive pipeline (one HTTP write per reading): {rate:,.0f} readings/s "
            f"({len(messages):,} readings in {len(messages) / rate:.2f} s); "
            f"InfluxDB holds {stored:,} of {len(messages):,} points"
        )
        if stored != len(messages):
            raise SystemExit(f"expected {len(messages)} points in InfluxDB, found {stored}")


if __name__ == "__main__":
    main()
