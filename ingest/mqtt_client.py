"""A paho-mqtt client tuned for receiving tens of thousands of QoS 1 messages a second.

Stock paho reads one packet per wake-up of its network loop, with three or
four `recv` calls per packet, builds a Properties object, a message object and
a topic-matcher walk for every PUBLISH, and sends each PUBACK as its own packet
with its own wake-up. At ingest rates that, not decoding or storage, is where
the time goes. `BulkClient` changes four things and nothing about the
protocol: the socket is read in large chunks and packets are served from that
buffer; one wake-up drains every packet already received; a PUBLISH goes
straight to `on_telemetry(topic, payload, mid, qos, retain)`, its properties
skipped (CargoWatch uses none and grants the broker no topic aliases, so a
PUBLISH without a topic is a protocol error, as are QoS 2, which it never
subscribes at, and anything malformed); and `ack_many` queues the PUBACKs of a
whole batch as one write. It leans on private paho internals (`PAHO_INTERNALS`
lists them), which is why pyproject allows only the paho-mqtt minor release
they were read from, and why importing this module checks that each is still
there with the shape relied on: a paho that moved one fails at start-up with
one line naming it, not later in the middle of a connection.
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Callable, Iterable
from typing import Any, Final

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

#: The paho-mqtt releases whose internals this module was read against (as in pyproject).
SUPPORTED_PAHO: Final = "paho-mqtt>=2.2,<2.3"

#: Every private paho method this module overrides or calls, with the parameters it
#: assumes (names and order: `ack_many` passes `_packet_queue` its arguments by position).
#: `loop_read` is public but overridden on the assumption that paho's loop calls it.
PAHO_METHODS: Final[dict[str, tuple[str, ...]]] = {
    "_sock_recv": ("self", "bufsize"),  # overridden; super() reads the socket
    "_sock_close": ("self",),  # overridden; super() closes the socket
    "_packet_read": ("self",),  # called; reads one packet through _sock_recv
    "_handle_publish": ("self",),  # overridden; super() handles what is not telemetry
    "_packet_queue": ("self", "command", "packet", "mid", "qos", "info"),  # called
    "_loop_rc_handle": ("self", "rc"),  # called; closes and reports a failed connection
    "loop_read": ("self", "max_packets"),  # overridden
}
#: Private instance attributes read: the socket, and the packet `_packet_read` assembled
#: (its first header byte and what followed the remaining length).
PAHO_ATTRIBUTES: Final = ("_sock", "_in_packet")
PAHO_IN_PACKET_KEYS: Final = ("command", "packet")
#: Names this module adds to the client; paho must not use them for something of its own.
BULK_NAMES: Final = ("_rbuf", "_rpos", "_would_block", "on_telemetry", "ack_many")
PAHO_INTERNALS: Final = (*PAHO_METHODS, *PAHO_ATTRIBUTES)


def check_paho_internals(client_class: type[mqtt.Client] = mqtt.Client) -> None:
    """Raise ImportError naming the first paho internal that is not as this module uses it.

    Run at import against `paho.mqtt.client.Client`; a test runs it against doctored classes.
    """
    for name, expected in PAHO_METHODS.items():
        method = getattr(client_class, name, None)
        if method is None:
            raise _unsupported(f"Client.{name} is missing")
        if not callable(method):
            raise _unsupported(f"Client.{name} is not callable")
        try:
            params = tuple(inspect.signature(method).parameters)
        except (TypeError, ValueError):
            raise _unsupported(f"Client.{name} has no readable signature") from None
        if params != expected:
            raise _unsupported(
                f"Client.{name} takes ({', '.join(params)}), not ({', '.join(expected)})"
            )
    # The attributes exist only on an instance; a new client opens no socket.
    try:
        client = client_class(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    except Exception as error:
        raise _unsupported(f"Client(VERSION2, protocol=MQTTv5) fails: {error!r}") from None
    for name in PAHO_ATTRIBUTES:
        if not hasattr(client, name):
            raise _unsupported(f"a new Client has no {name} attribute")
    in_packet = client._in_packet
    if not isinstance(in_packet, dict) or not all(k in in_packet for k in PAHO_IN_PACKET_KEYS):
        raise _unsupported(f"Client._in_packet is not a dict with keys {PAHO_IN_PACKET_KEYS}")
    for name in BULK_NAMES:
        if hasattr(client, name):
            raise _unsupported(f"Client has its own {name}, which BulkClient would shadow")


def _unsupported(problem: str) -> ImportError:
    version = getattr(paho.mqtt, "__version__", "of unknown version")
    return ImportError(
        f"unsupported paho-mqtt {version}: {problem}; "
        f"ingest.mqtt_client needs the internals of {SUPPORTED_PAHO}"
    )


check_paho_internals()

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
        self._would_block = False
        #: Receives (topic, payload, packet id, qos, retain) of every PUBLISH. While it is
        #: set, a QoS 2 PUBLISH (which ack_many cannot complete) or a malformed one drops
        #: the connection.
        self.on_telemetry: Callable[[str, bytes, int, int, bool], None] | None = None

    def ack_many(self, mids: Iterable[int]) -> None:
        """Queue one PUBACK per packet id as a single write (QoS 1, manual-ack mode)."""
        blob = b"".join([_PUBACKS[mid] for mid in mids])
        if blob:
            # qos 0 and mid 0: paho tracks nothing for an outgoing PUBACK.
            self._packet_queue(_PUBACK, blob, 0, 0)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            try:
                data = super()._sock_recv(_READ_CHUNK)
            except BlockingIOError:  # nothing there (yet)
                self._would_block = True
                raise
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
            self._would_block = False
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                if self._would_block:
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
                # paho also says "again" after 100 reads of one packet, even when the last
                # one completed it; returning then would leave that packet, and whatever is
                # buffered behind it, waiting for the socket to wake select() again.
                continue
            if rc > 0:
                return self._loop_rc_handle(rc)
        return MQTTErrorCode.MQTT_ERR_NO_CONN

    def _handle_publish(self) -> MQTTErrorCode:
        # Never raises, whatever the bytes: anything malformed is MQTT_ERR_PROTOCOL, on
        # which paho drops the connection (and the broker keeps what was not acked).
        on_telemetry = self.on_telemetry
        if on_telemetry is None:
            return super()._handle_publish()
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if qos > 1:
            # QoS 3 is malformed. QoS 2 needs PUBREC, PUBREL and PUBCOMP, which telemetry
            # acks (ack_many) do not send, and the subscription grants at most QoS 1, so a
            # broker must not send it either.
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        packet = self._in_packet["packet"]
        end = len(packet)
        if end < 2:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        topic_end = 2 + ((packet[0] << 8) | packet[1])
        if topic_end == 2 or topic_end > end:
            # An empty topic means "the topic of this topic alias", and this client grants
            # none (CONNECT says Topic Alias Maximum 0) because the properties carrying the
            # alias are skipped below: the broker must not send one, and delivering it
            # without its topic would lose which device it came from.
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        pos = topic_end
        mid = 0
        if qos:
            pos += 2
            if pos > end:
                return MQTTErrorCode.MQTT_ERR_PROTOCOL
            mid = (packet[topic_end] << 8) | packet[topic_end + 1]
            if mid == 0:
                return MQTTErrorCode.MQTT_ERR_PROTOCOL  # a packet id is never 0
        # Skip the properties: their length as a variable byte integer of 1 to 4 bytes,
        # then that many bytes.
        length = 0
        for shift in (0, 7, 14, 21):
            if pos >= end:
                return MQTTErrorCode.MQTT_ERR_PROTOCOL
            byte = packet[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
        else:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        pos += length
        if pos > end:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        # A topic that is not UTF-8 goes on with U+FFFD for its bad bytes. No telemetry
        # topic contains that character, so the decoder rejects the message as
        # invalid_topic, counts it, and it is acked like any reject. (An empty topic
        # cannot stand in for a bad one: that is the protocol error above.)
        topic = packet[2:topic_end].decode("utf-8", "replace")
        on_telemetry(topic, bytes(packet[pos:]), mid, qos, bool(header & 0x01))
        return MQTTErrorCode.MQTT_ERR_SUCCESS
