"""A paho-mqtt client tuned for receiving tens of thousands of QoS 1 messages a second.

Stock paho reads one packet per wake-up of its network loop, with three or
four `recv` calls per packet, builds a Properties object, a message object and
a topic-matcher walk for every PUBLISH, and sends each PUBACK as its own packet
with its own wake-up. At ingest rates that, not decoding or storage, is where
the time goes. `BulkClient` changes four things and nothing about the
protocol: the socket is read in large chunks and packets are served from that
buffer; one wake-up drains every packet already received; a QoS 0/1 PUBLISH
goes straight to `on_telemetry(topic, payload, mid, qos)` (its properties are
skipped: CargoWatch uses none, and it never grants the broker topic aliases);
and `ack_many` queues the PUBACKs of a whole batch as one write. It leans on
paho's private `_sock_recv`, `_sock_close`, `_packet_read`, `_handle_publish`
and `_packet_queue`, which is why pyproject pins paho-mqtt below 3; the
integration tests exercise every path.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

_READ_CHUNK: Final = 256 * 1024
_PUBACK: Final = 0x40
#: Every possible PUBACK (success, no properties): 4 bytes, indexed by packet id.
_PUBACKS: Final = [struct.pack("!BBH", _PUBACK, 2, mid) for mid in range(65536)]


class BulkClient(mqtt.Client):
    """paho `Client` with buffered reads, drain-all reads and batched acks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        #: Receives (topic, payload, packet id, qos) of every QoS 0/1 PUBLISH.
        self.on_telemetry: Callable[[str, bytes, int, int], None] | None = None

    def ack_many(self, mids: Iterable[int]) -> None:
        """Queue one PUBACK per packet id as a single write (QoS 1, manual-ack mode)."""
        blob = b"".join([_PUBACKS[mid] for mid in mids])
        if blob:
            # qos 0 and mid 0: paho tracks nothing for an outgoing PUBACK.
            self._packet_queue(_PUBACK, blob, 0, 0)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(_READ_CHUNK)  # BlockingIOError when nothing is there
            if not data:
                return data  # connection closed
            self._rbuf, self._rpos = data, 0
        start = self._rpos
        self._rpos = min(len(self._rbuf), start + bufsize)
        return self._rbuf[start : self._rpos]

    def _sock_close(self) -> None:
        # Bytes of a dead connection must never be read as the start of the next one.
        self._rbuf, self._rpos = b"", 0
        super()._sock_close()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # The buffer is invisible to select(), so stop only once it and the socket are empty.
        while self._sock is not None:
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return self._loop_rc_handle(rc)
        return MQTTErrorCode.MQTT_ERR_NO_CONN

    def _handle_publish(self) -> MQTTErrorCode:
        on_telemetry = self.on_telemetry
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if on_telemetry is None or qos == 2:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        try:
            topic_end = 2 + ((packet[0] << 8) | packet[1])
            raw_topic = packet[2:topic_end]
            pos = topic_end
            mid = 0
            if qos:
                mid = (packet[pos] << 8) | packet[pos + 1]
                pos += 2
            # Skip the properties: a variable byte integer length, then that many bytes.
            length, shift = 0, 0
            while True:
                byte = packet[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
            pos += length
            if pos > len(packet) or topic_end > len(packet):
                return MQTTErrorCode.MQTT_ERR_PROTOCOL
        except IndexError:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        try:
            topic = raw_topic.decode("utf-8")
        except UnicodeDecodeError:
            topic = ""  # rejected downstream as invalid_topic, and still acked
        on_telemetry(topic, bytes(packet[pos:]), mid, qos)
        return MQTTErrorCode.MQTT_ERR_SUCCESS
