"""A small pipelined MQTT 3.1.1 publisher: one socket, pre-encoded packets, acks on a thread.

A general client spends most of its time per message on bookkeeping a simulator does not
need; here a PUBLISH is a few concatenated byte strings, packets go out in batches with one
``sendall``, and a reader thread counts PUBACKs so that at most ``window`` QoS 1 messages are
unacknowledged. It speaks only to loopback or the broker the user names, sends PINGREQ when
idle so slow, real-time runs keep their connection, and raises `PublishError` (with the broker's
reason where it gave one) instead of letting socket errors leak.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

_KEEPALIVE_S: Final = 60
_CONNACK_REASONS: Final = {
    1: "unacceptable protocol version",
    2: "client id rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class PublishError(Exception):
    """The broker could not be reached, refused us, or dropped the connection."""


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    def redacted(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_mqtt_url(url: str, setting: str = "--mqtt-url") -> BrokerUrl:
    """``mqtt[s]://[user:password@]host[:port]``; raises ValueError naming ``setting``.

    >>> parse_mqtt_url("mqtt://127.0.0.1:18830").port
    18830
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or port == -1:
        raise ValueError(f"{setting} must be mqtt[s]://[user:password@]host[:port], got {url!r}")
    tls = parts.scheme == "mqtts"
    return BrokerUrl(
        parts.hostname,
        port or (8883 if tls else 1883),
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        tls,
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _field(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


class Publisher:
    """Publishes messages in order over one connection; see the module docstring."""

    def __init__(
        self, url: BrokerUrl, qos: int = 1, client_id: str | None = None, window: int = 8192
    ) -> None:
        if qos not in (0, 1):
            raise ValueError(f"--qos must be 0 or 1, got {qos}")
        self.url, self.qos, self.window = url, qos, window
        self.client_id = client_id or f"cargowatch-sim-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.sent = 0
        self.acked = 0
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._packet_id = 0
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None
        self._closing = False
        self._acks = threading.Condition()
        self._last_send = time.monotonic()
        self._topics: dict[str, bytes] = {}

    def connect(self, timeout_s: float = 10.0) -> None:
        try:
            sock = socket.create_connection((self.url.host, self.url.port), timeout=timeout_s)
            if self.url.tls:
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self.url.host)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(self._connect_packet())
            connack = self._recv_exact(sock, 4)
        except (OSError, ssl.SSLError) as exc:
            raise PublishError(f"cannot reach {self.url.redacted()}: {exc}") from None
        if connack[0] != 0x20 or connack[3] != 0:
            reason = _CONNACK_REASONS.get(connack[3], f"code {connack[3]}")
            raise PublishError(f"{self.url.redacted()} refused the connection: {reason}")
        sock.settimeout(None)
        self._sock = sock
        threading.Thread(target=self._read, name="mqtt-acks", daemon=True).start()

    def _connect_packet(self) -> bytes:
        flags = 0x02  # clean session: a publisher keeps nothing between runs
        payload = _field(self.client_id.encode())
        if self.url.username is not None:
            flags |= 0x80
            payload += _field(self.url.username.encode())
            if self.url.password is not None:
                flags |= 0x40
                payload += _field(self.url.password.encode())
        header = _field(b"MQTT") + bytes([4, flags]) + struct.pack("!H", _KEEPALIVE_S)
        body = header + payload
        return b"\x10" + _varint(len(body)) + body

    @staticmethod
    def _recv_exact(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise OSError("connection closed by the broker")
            data += chunk
        return data

    def _read(self) -> None:
        assert self._sock is not None
        buffer = b""
        try:
            while True:
                chunk = self._sock.recv(1 << 16)
                if not chunk:
                    raise OSError("connection closed by the broker")
                buffer += chunk
                acked, pos = 0, 0
                # The broker sends a publisher only PUBACKs (4 bytes) and PINGRESPs (2 bytes).
                while len(buffer) - pos >= 2:
                    kind = buffer[pos]
                    if kind == 0x40 and buffer[pos + 1] == 2:
                        if len(buffer) - pos < 4:
                            break
                        acked += 1
                        pos += 4
                    elif kind == 0xD0 and buffer[pos + 1] == 0:
                        pos += 2
                    else:
                        raise OSError(f"unexpected MQTT packet 0x{kind:02x} from the broker")
                buffer = buffer[pos:]
                if acked:
                    with self._acks:
                        self.acked += acked
                        self._acks.notify_all()
        except (OSError, ValueError) as exc:
            with self._acks:
                if not self._closing:
                    self._error = exc
                self._acks.notify_all()

    def _topic_field(self, topic: str) -> bytes:
        field = self._topics.get(topic)
        if field is None:
            field = self._topics[topic] = _field(topic.encode())
        return field

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue one message; it is sent with the next batch (or by `flush`)."""
        self.publish_encoded(self.encode(topic, payload))

    def encode(self, topic: str, payload: bytes) -> bytes:
        """The PUBLISH packet for a message, taking the next packet id. Packets must then be
        sent, with `publish_encoded`, in the order they were encoded."""
        head = self._topic_field(topic)
        if self.qos:
            self._packet_id = self._packet_id % 65535 + 1
            head += struct.pack("!H", self._packet_id)
            return b"\x32" + _varint(len(head) + len(payload)) + head + payload
        return b"\x30" + _varint(len(head) + len(payload)) + head + payload

    def publish_encoded(self, packet: bytes) -> None:
        """Queue a packet from `encode` (a load generator encodes before its clock starts)."""
        self._buffer.append(packet)
        self._buffered += 1
        if self._buffered >= 256:
            self.flush()

    def flush(self) -> None:
        """Send what is queued, first waiting until the ack window has room for it."""
        if not self._buffer:
            return
        if self.qos:
            self._wait(lambda: self.sent + self._buffered - self.acked <= self.window)
        self._send(b"".join(self._buffer))
        self.sent += self._buffered
        self._buffer, self._buffered = [], 0

    def keep_alive(self) -> None:
        """Ping when nothing was sent for half the keep-alive, so an idle run stays connected."""
        if time.monotonic() - self._last_send > _KEEPALIVE_S / 2:
            self._send(b"\xc0\x00")

    def _send(self, data: bytes) -> None:
        if self._error is not None or self._sock is None:
            raise PublishError(f"connection to {self.url.redacted()} lost: {self._error}")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise PublishError(f"connection to {self.url.redacted()} lost: {exc}") from None
        self._last_send = time.monotonic()

    def _wait(self, done: object, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self._acks:
            while not done():  # type: ignore[operator]
                if self._error is not None:
                    raise PublishError(f"connection to {self.url.redacted()} lost: {self._error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PublishError(
                        f"{self.url.redacted()} acknowledged {self.acked} of {self.sent} messages"
                        f" and then nothing for {timeout_s:.0f} s"
                    )
                self._acks.wait(min(remaining, 1.0))

    def close(self) -> None:
        """Send the rest, wait for every PUBACK (QoS 1), disconnect."""
        try:
            self.flush()
            if self.qos:
                self._wait(lambda: self.acked >= self.sent)
            with self._acks:
                self._closing = True
            self._send(b"\xe0\x00")
        finally:
            if self._sock is not None:
                with contextlib.suppress(OSError):  # already closed by the broker
                    self._sock.shutdown(socket.SHUT_RDWR)
                self._sock.close()
                self._sock = None
