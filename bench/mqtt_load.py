"""Cheap MQTT load for the ingest benchmarks, and the broker's own pass-through rate.

The ingest benchmark must measure the ingester, not the load generator, so the publisher here
pre-encodes every PUBLISH packet and pipelines them over one raw MQTT 3.1.1 socket, with a
reader thread consuming PUBACKs. ``broker_passthrough`` measures how fast the broker relays the
same messages at QoS 1 to a trivial subscriber (``mosquitto_sub``): the ceiling that ingest
figures are reported against. Run as a script it prints both rates on a private broker.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

TELEMETRY_FILTER = "cargo/v1/+/telemetry"

_MAX_PACKET_ID = 65535
_PUBACK = 0x40
_CONNACK = 0x20
_DISCONNECT = b"\xe0\x00"


def build_payloads(
    n_devices: int, n_readings: int, start_ms: int, seed: int
) -> list[tuple[str, bytes]]:
    """Make ``n_readings`` telemetry messages in total, spread round-robin over the devices.

    Device ids are ``trk-00001``, ``trk-00002``, ...; each device's ``ts`` starts at
    ``start_ms`` and advances 1 ms per reading, so (device_id, ts) is unique across the list
    and every message is stored as its own point. Values drift plausibly per device: a reefer
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
            f'{{"device_id":"{ids[d]}","ts":{start_ms + seq},"seq":{seq},'
            f'"lat":{lat[d]:.6f},"lon":{lon[d]:.6f},"temp_c":{temp[d]:.2f},'
            f'"humidity_pct":{humidity[d]:.1f},"battery_v":{battery[d]:.3f}}}'
        )
        messages.append((topics[d], payload.encode()))
    return messages


def _remaining_length(n: int) -> bytes:
    """MQTT variable byte integer: 7 bits per byte, high bit set while more bytes follow."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"MQTT packet too large: {n} bytes")
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _utf8_field(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _connect_packet(client_id: str) -> bytes:
    # Keep-alive 0 switches the broker's idle timeout off: the publisher sends no PINGREQs, and
    # the final wait for PUBACKs can outlast any keep-alive on a slow machine.
    variable_header = _utf8_field("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0)
    body = variable_header + _utf8_field(client_id)
    return bytes([0x10]) + _remaining_length(len(body)) + body


def _publish_packet(topic: str, payload: bytes, qos: int, packet_id: int) -> bytes:
    variable_header = _utf8_field(topic)
    if qos:
        variable_header += struct.pack("!H", packet_id)
    size = len(variable_header) + len(payload)
    return bytes([0x30 | (qos << 1)]) + _remaining_length(size) + variable_header + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


class _AckTracker:
    """Packet ids in flight, freed by a reader thread as PUBACKs arrive."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.in_flight = bytearray(_MAX_PACKET_ID + 1)
        self.acked = 0
        self.error: BaseException | None = None
        self.closed = False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, name="puback-reader", daemon=True)

    def _read(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    if not self.closed:
                        raise ConnectionError("broker closed the connection")
                    return
                buffer += chunk
                buffer, freed = self._parse(buffer)
                if freed:
                    with self.changed:
                        self.acked += freed
                        self.changed.notify_all()
        except BaseException as error:  # handed to the publishing thread, which raises it
            with self.changed:
                if not self.closed:
                    self.error = error
                self.changed.notify_all()

    def _parse(self, buffer: bytes) -> tuple[bytes, int]:
        pos, freed, end = 0, 0, len(buffer)
        in_flight = self.in_flight
        while end - pos >= 2:
            packet_type = buffer[pos]
            # PUBACK is the only packet a broker sends a QoS 1 publisher; its length is one byte.
            length, shift, cursor = 0, 0, pos + 1
            while True:
                if cursor >= end:
                    return buffer[pos:], freed
                byte = buffer[cursor]
                length |= (byte & 0x7F) << shift
                cursor += 1
                if not byte & 0x80:
                    break
                shift += 7
            if end - cursor < length:
                break
            if packet_type != _PUBACK or length != 2:
                raise ConnectionError(f"unexpected MQTT packet type 0x{packet_type:02x}")
            packet_id = (buffer[cursor] << 8) | buffer[cursor + 1]
            if not in_flight[packet_id]:
                raise ConnectionError(f"PUBACK for packet id {packet_id} that is not in flight")
            in_flight[packet_id] = 0
            freed += 1
            pos = cursor + length
        return buffer[pos:], freed


def publish_pipelined(
    host: str,
    port: int,
    messages: Sequence[tuple[str, bytes]],
    qos: int = 1,
    client_id: str | None = None,
    window: int = 10_000,
    chunk: int = 500,
    timeout_s: float = 600.0,
) -> float:
    """Publish every (topic, payload) over one MQTT 3.1.1 connection; return seconds taken.

    Packets are encoded before the clock starts, then written ``chunk`` at a time with at most
    ``window`` QoS 1 messages unacknowledged. The time runs from the first byte sent to the
    last PUBACK (QoS 1) or the last byte written (QoS 0). A packet id is reused only after
    its PUBACK arrived.
    """
    if qos not in (0, 1):
        raise ValueError("qos must be 0 or 1")
    if not 0 < chunk <= window < _MAX_PACKET_ID:
        raise ValueError("need 0 < chunk <= window < 65535")
    packet_ids = [i % _MAX_PACKET_ID + 1 for i in range(len(messages))]
    packets = [
        _publish_packet(topic, payload, qos, packet_id)
        for (topic, payload), packet_id in zip(messages, packet_ids, strict=True)
    ]
    client_id = client_id or f"bench-pub-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + timeout_s

    with socket.create_connection((host, port), timeout=30.0) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(_connect_packet(client_id))
        connack = _recv_exact(sock, 4)
        if connack[0] != _CONNACK or connack[3] != 0:
            raise ConnectionError(f"broker refused the connection: CONNACK {connack.hex()}")
        sock.settimeout(None)
        tracker = _AckTracker(sock)
        if qos:
            tracker.thread.start()

        started = time.perf_counter()
        total = len(packets)
        sent = 0
        while sent < total:
            end = min(total, sent + chunk)
            if qos:
                batch_ids = packet_ids[sent:end]
                with tracker.changed:
                    while tracker.error is None and (
                        end - tracker.acked > window
                        or any(tracker.in_flight[pid] for pid in batch_ids)
                    ):
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise TimeoutError(
                                f"only {tracker.acked} of {total} publishes acknowledged"
                            )
                        tracker.changed.wait(min(remaining, 1.0))
                    if tracker.error is not None:
                        raise tracker.error
                for pid in batch_ids:
                    tracker.in_flight[pid] = 1
            sock.sendall(b"".join(packets[sent:end]))
            sent = end
        if qos:
            with tracker.changed:
                while tracker.error is None and tracker.acked < total:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(
                            f"only {tracker.acked} of {total} publishes acknowledged"
                        )
                    tracker.changed.wait(min(remaining, 1.0))
                if tracker.error is not None:
                    raise tracker.error
        elapsed = time.perf_counter() - started

        with tracker.changed:
            tracker.closed = True
        sock.sendall(_DISCONNECT)
        sock.shutdown(socket.SHUT_RDWR)
    if qos:
        tracker.thread.join(timeout=5.0)
    return elapsed


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
        publish_pipelined(host, port, messages, qos=1, timeout_s=timeout_s)
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
