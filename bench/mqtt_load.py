"""Cheap MQTT load for the ingest benchmarks, and the broker's own pass-through rate.

The ingest benchmark must measure the ingester, not the load generator, so payloads are
built before the clock starts and published with the simulator's pipelined raw-socket MQTT
3.1.1 publisher (large writes, a reader thread consuming PUBACKs). ``broker_passthrough`` measures how fast the broker relays the
same messages at QoS 1 to a trivial subscriber (``mosquitto_sub``): the ceiling that ingest
figures are reported against. Run as a script it prints both rates on a private broker.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from simulators.publisher import BrokerUrl, Publisher

TELEMETRY_FILTER = "cargo/v1/+/telemetry"

_CONNACK = 0x20
_DISCONNECT = b"\xe0\x00"


def build_payloads(
    n_devices: int, n_readings: int, start_ms: int, seed: int, step_ms: int = 1
) -> list[tuple[str, bytes]]:
    """Make ``n_readings`` telemetry messages in total, spread round-robin over the devices.

    Device ids are ``trk-00001``, ``trk-00002``, ...; each device's ``ts`` starts at
    ``start_ms`` and advances ``step_ms`` per reading, so (device_id, ts) is unique across the
    list and every message is stored as its own point. Values drift plausibly per device: a reefer
    near 5 degC, a slowly moving position along an East African corridor, a draining battery.
    """
    if n_devices < 1 or n_readings < 0:
        raise ValueError("need at least one device and a non-negative number of readings")
    rng = random.Random(seed)
    lat = [rng.uniform(-4.0, 0.6) for _ in range(n_devices)]
    lon = [rng.uniform(32.5, 39.6) for _ in range(n_devices)]
    temp = [rng.uniform(3.0, 7.0) for _ in range(n_devices)]
    humidity = [rng.uniform(55.0, 75.0) for _ in range(n_devices)]
    battery = [rng.uniform(3.6, 4.1) for _ in range(n_devices)]
    topics = [f"cargo/v1/trk-{d + 1:05d}/telemetry" for d in range(n_devices)]
    ids = [f"trk-{d + 1:05d}" for d in range(n_devices)]
    gauss = rng.gauss
    messages: list[tuple[str, bytes]] = []
    for i in range(n_readings):
        d = i % n_devices
        seq = i // n_devices
        lat[d] += gauss(0.0, 0.0002)
        lon[d] += gauss(0.0, 0.0002)
        temp[d] += gauss(0.0, 0.05)
        humidity[d] = min(100.0, max(0.0, humidity[d] + gauss(0.0, 0.2)))
        battery[d] -= 0.00001
        # An f-string is several times faster than json.dumps and yields the same compact JSON.
        payload = (
            f'{{"device_id":"{ids[d]}","ts":{start_ms + seq * step_ms},"seq":{seq},'
            f'"lat":{lat[d]:.6f},"lon":{lon[d]:.6f},"temp_c":{temp[d]:.2f},'
            f'"humidity_pct":{humidity[d]:.1f},"battery_v":{battery[d]:.3f}}}'
        )
        messages.append((topics[d], payload.encode()))
    return messages


def publish_pipelined(
    host: str,
    port: int,
    messages: Sequence[tuple[str, bytes]],
    qos: int = 1,
    client_id: str | None = None,
    window: int = 10_000,
) -> float:
    """Publish every (topic, payload) over one pipelined connection; return seconds taken.

    Uses the simulator's raw-socket publisher with every packet encoded before the
    clock starts (sent in large writes, at most ``window`` QoS 1 messages
    unacknowledged). The time runs from the first send to the last PUBACK (QoS 1)
    or the disconnect (QoS 0).
    """
    publisher = Publisher(BrokerUrl(host, port, None, None, False), qos, client_id, window)
    packets = [publisher.encode(topic, payload) for topic, payload in messages]
    publisher.connect()
    started = time.perf_counter()
    for packet in packets:
        publisher.publish_encoded(packet)
    publisher.close()
    return time.perf_counter() - started


def _mosquitto_sub(host: str, port: int, client_id: str, *extra: str) -> list[str]:
    binary = shutil.which("mosquitto_sub")
    if binary is None:
        raise FileNotFoundError(
            "mosquitto_sub not found on PATH (Debian package mosquitto-clients)"
        )
    base = [binary, "-h", host, "-p", str(port), "-V", "mqttv311", "-i", client_id]
    return [*base, "-q", "1", "-t", TELEMETRY_FILTER, *extra]


def broker_passthrough(
    host: str, port: int, messages: Sequence[tuple[str, bytes]], timeout_s: float = 600.0
) -> float:
    """Messages/s the broker relays at QoS 1 from ``publish_pipelined`` to ``mosquitto_sub``.

    Timed from the start of publishing until the subscriber has received every message and
    exited. The subscriber's persistent session is registered (``-c -E``) before anything is
    published, so no message can slip past it whenever its process actually connects; this
    needs a broker whose per-client queue can hold the backlog (``MosquittoServer`` has no
    limit).
    """
    client_id = f"bench-sub-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    register = _mosquitto_sub(host, port, client_id, "-c", "-E")
    subprocess.run(register, check=True, timeout=30, stdout=subprocess.DEVNULL)
    receive = _mosquitto_sub(host, port, client_id, "-c", "-C", str(len(messages)))
    subscriber = subprocess.Popen(
        receive, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        started = time.perf_counter()
        publish_pipelined(host, port, messages, qos=1)
        _, stderr = subscriber.communicate(timeout=timeout_s)
        elapsed = time.perf_counter() - started
        if subscriber.returncode != 0:
            raise RuntimeError(f"mosquitto_sub exited with {subscriber.returncode}: {stderr!r}")
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.wait()
        # A clean-session connect with the same id discards the persistent session.
        cleanup = _mosquitto_sub(host, port, client_id, "-E")
        subprocess.run(cleanup, timeout=30, stdout=subprocess.DEVNULL, check=False)
    return len(messages) / elapsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from services import MosquittoServer

    messages = build_payloads(args.devices, args.messages, int(time.time() * 1000), args.seed)
    with (
        tempfile.TemporaryDirectory(prefix="mqtt-load-") as tmp,
        MosquittoServer(Path(tmp)) as broker,
    ):
        publish_s = publish_pipelined(broker.host, broker.port, messages)
        print(
            f"publisher alone (QoS1, acked, no subscriber): {len(messages) / publish_s:,.0f} "
            f"msg/s ({len(messages):,} messages in {publish_s:.2f} s)"
        )
        rate = broker_passthrough(broker.host, broker.port, messages)
        print(
            f"broker QoS1 pass-through: {rate:,.0f} msg/s "
            f"({len(messages):,} messages in {len(messages) / rate:.2f} s)"
        )


if __name__ == "__main__":
    main()
