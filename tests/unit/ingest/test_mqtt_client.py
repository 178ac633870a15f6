"""BulkClient without a broker: its PUBLISH parser, buffered reads, batched acks and the
check of the paho internals it relies on, driven through paho's own entry points."""

import re

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ingest.decode import decode
from ingest.mqtt_client import (
    _READ_CHUNK,
    PAHO_INTERNALS,
    SUPPORTED_PAHO,
    BulkClient,
    check_paho_internals,
)

# ---------------------------------------------------------------------------------------------
# The import-time check of paho's internals


def test_the_installed_paho_has_every_internal_bulkclient_uses():
    check_paho_internals(mqtt.Client)
    assert set(PAHO_INTERNALS) == {
        "_sock_recv",
        "_sock_close",
        "_packet_read",
        "_handle_publish",
        "_packet_queue",
        "_loop_rc_handle",
        "loop_read",
        "_sock",
        "_in_packet",
    }


class _NoSockClose(mqtt.Client):
    _sock_close = None


class _PacketReadNotCallable(mqtt.Client):
    _packet_read = 42  # type: ignore[assignment]


class _PacketQueueReordered(mqtt.Client):
    def _packet_queue(self, command, mid, qos, packet, info=None):  # type: ignore[override]
        return super()._packet_queue(command, packet, mid, qos, info)


class _SockRecvRenamed(mqtt.Client):
    def _sock_recv(self, size):  # type: ignore[override]
        return b""


class _NoSockAttribute(mqtt.Client):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self._sock

    def __del__(self):
        pass  # paho's would close the _sock this class lacks


class _InPacketWithoutPacket(mqtt.Client):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._in_packet = {"command": 0}  # type: ignore[typeddict-item]


class _ClientWithItsOwnOnTelemetry(mqtt.Client):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.on_telemetry = None


class _ClientThatWillNotBuild(mqtt.Client):
    def __init__(self, *args, **kwargs):
        raise TypeError("new required argument")

    def __del__(self):
        pass  # paho's would close a _sock never set


@pytest.mark.parametrize(
    "doctored, problem",
    [
        pytest.param(_NoSockClose, "Client._sock_close is missing", id="a missing method is named"),
        pytest.param(
            _PacketReadNotCallable,
            "Client._packet_read is not callable",
            id="a method that became a plain value is named",
        ),
        pytest.param(
            _PacketQueueReordered,
            "Client._packet_queue takes (self, command, mid, qos, packet, info), not (self, command, packet, mid, qos, info)",
            id="reordered parameters of a called method are named",
        ),
        pytest.param(
            _SockRecvRenamed,
            "Client._sock_recv takes (self, size), not (self, bufsize)",
            id="a renamed parameter of an overridden method is named",
        ),
        pytest.param(
            _NoSockAttribute,
            "a new Client has no _sock attribute",
            id="a missing instance attribute is named",
        ),
        pytest.param(
            _InPacketWithoutPacket,
            "Client._in_packet is not a dict with keys ('command', 'packet')",
            id="an incoming packet without the keys the parser reads is named",
        ),
        pytest.param(
            _ClientWithItsOwnOnTelemetry,
            "Client has its own on_telemetry, which BulkClient would shadow",
            id="a paho attribute of the same name as one BulkClient adds is named",
        ),
        pytest.param(
            _ClientThatWillNotBuild,
            "Client(VERSION2, protocol=MQTTv5) fails: TypeError('new required argument')",
            id="a client that can no longer be built the way MqttSource builds it is named",
        ),
    ],
)
def test_a_paho_whose_internals_moved_fails_the_import_with_one_line_naming_the_internal(
    doctored, problem
):
    with pytest.raises(ImportError) as raised:
        check_paho_internals(doctored)
    message = str(raised.value)
    assert "\n" not in message
    assert re.fullmatch(
        rf"unsupported paho-mqtt [^ ]+: {re.escape(problem)}; "
        rf"ingest\.mqtt_client needs the internals of {re.escape(SUPPORTED_PAHO)}",
        message,
    ), message


# ---------------------------------------------------------------------------------------------
# The hand-written PUBLISH parser, fed packets the way paho's _packet_read hands them over

TOPIC = "cargo/v1/trk-1/telemetry"


def varint(n: int) -> bytes:
    """An MQTT variable byte integer."""
    out = bytearray()
    while True:
        n, byte = n >> 7, n & 0x7F
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(
    topic: bytes = TOPIC.encode(),
    payload: bytes = b"{}",
    *,
    qos: int = 1,
    mid: int = 7,
    retain: bool = False,
    dup: bool = False,
    properties: bytes = b"",
) -> tuple[int, bytes]:
    """(first header byte, everything after the remaining length) of an MQTT v5 PUBLISH."""
    header = 0x30 | (dup << 3) | (qos << 1) | retain
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    body += varint(len(properties)) + properties + payload
    return header, body


def on_the_wire(header: int, body: bytes) -> bytes:
    return bytes([header]) + varint(len(body)) + body


class Received:
    """A BulkClient with no socket that records what it hands to on_telemetry."""

    def __init__(self):
        self.client = BulkClient(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
        self.messages: list[tuple[str, bytes, int, int, bool]] = []
        self.client.on_telemetry = lambda *message: self.messages.append(message)

    def handle(self, header: int, body: bytes) -> MQTTErrorCode:
        # What _packet_read leaves in _in_packet when it calls _packet_handle: the first
        # header byte, the remaining length it decoded, and every byte after it.
        length = varint(len(body))
        self.client._in_packet = {
            "command": header,
            "have_remaining": 1,
            "remaining_count": list(length),
            "remaining_mult": 128 ** len(length),
            "remaining_length": len(body),
            "packet": bytearray(body),
            "to_process": 0,
            "pos": 0,
        }
        return self.client._handle_publish()


def user_property(name: str, value: str) -> bytes:
    def utf8(s: str) -> bytes:
        return len(s.encode()).to_bytes(2, "big") + s.encode()

    return b"\x26" + utf8(name) + utf8(value)


CONTENT_TYPE_JSON = b"\x03" + (16).to_bytes(2, "big") + b"application/json"
PAYLOAD_IS_UTF8 = b"\x01\x01"
MANY_PROPERTIES = user_property("trace", "x" * 150) + PAYLOAD_IS_UTF8  # 161 bytes: a 2-byte length


@pytest.mark.parametrize(
    "packet, expected",
    [
        pytest.param(
            publish(qos=0, payload=b'{"a":1}'),
            (TOPIC, b'{"a":1}', 0, 0, False),
            id="a QoS 0 message has no packet id and is handed on as packet id 0",
        ),
        pytest.param(
            publish(qos=1, mid=0x1234, payload=b'{"a":1}'),
            (TOPIC, b'{"a":1}', 0x1234, 1, False),
            id="a QoS 1 message is handed on with its packet id",
        ),
        pytest.param(
            publish(qos=1, mid=65535, properties=PAYLOAD_IS_UTF8 + CONTENT_TYPE_JSON),
            (TOPIC, b"{}", 65535, 1, False),
            id="properties are skipped and the payload starts after them",
        ),
        pytest.param(
            publish(qos=0, properties=CONTENT_TYPE_JSON),
            (TOPIC, b"{}", 0, 0, False),
            id="properties are skipped in a QoS 0 message too",
        ),
        pytest.param(
            publish(qos=1, mid=3, properties=MANY_PROPERTIES, payload=b"[1]"),
            (TOPIC, b"[1]", 3, 1, False),
            id="a property length of more than one byte is read in full",
        ),
        pytest.param(
            publish(retain=True),
            (TOPIC, b"{}", 7, 1, True),
            id="the retain flag is handed on when set",
        ),
        pytest.param(
            publish(qos=0, retain=True),
            (TOPIC, b"{}", 0, 0, True),
            id="the retain flag is handed on for QoS 0 too",
        ),
        pytest.param(
            publish(dup=True),
            (TOPIC, b"{}", 7, 1, False),
            id="a redelivery (DUP set) is handed on like the first delivery",
        ),
        pytest.param(
            publish("cargo/v1/trk-ü/telemetry".encode()),
            ("cargo/v1/trk-ü/telemetry", b"{}", 7, 1, False),
            id="a UTF-8 topic is decoded",
        ),
        pytest.param(
            publish(payload=b""),
            (TOPIC, b"", 7, 1, False),
            id="an empty payload is handed on for the decoder to reject",
        ),
    ],
)
def test_a_well_formed_publish_is_handed_to_on_telemetry(packet, expected):
    received = Received()
    assert received.handle(*packet) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert received.messages == [expected]
    assert type(received.messages[0][1]) is bytes  # not a view of paho's reused buffer


def test_a_topic_that_is_not_utf8_is_handed_on_for_the_decoder_to_reject_as_invalid_topic():
    # An empty topic would be a protocol error, so the bad bytes become U+FFFD instead.
    received = Received()
    body = b'{"device_id":"trk-1","ts":1763800000000}'
    assert (
        received.handle(*publish(b"cargo/v1/trk-\xff/telemetry", body))
        == MQTTErrorCode.MQTT_ERR_SUCCESS
    )
    [(topic, payload, *_)] = received.messages
    assert topic == "cargo/v1/trk-\ufffd/telemetry"
    assert [r.reason for r in decode(topic, payload, 1_763_800_000_000).rejects] == [
        "invalid_topic"
    ]


def raw(body: bytes, qos: int = 1) -> tuple[int, bytes]:
    """A PUBLISH of the given QoS whose body is exactly these bytes."""
    return 0x30 | (qos << 1), body


MALFORMED = [
    pytest.param(
        publish(b""),
        id="an empty topic (the broker using a topic alias we never granted) is a protocol error",
    ),
    pytest.param(
        publish(b"", qos=0, properties=b"\x23\x00\x01"),
        id="an empty topic with a topic alias property is a protocol error at QoS 0 too",
    ),
    pytest.param(raw(b""), id="an empty body is a protocol error"),
    pytest.param(raw(b"\x00"), id="half a topic length is a protocol error"),
    pytest.param(raw(b"\x00\x20cargo/v1/"), id="a topic length past the end is a protocol error"),
    pytest.param(
        raw(b"\x00\x03abc"), id="a QoS 1 packet without its packet id is a protocol error"
    ),
    pytest.param(raw(b"\x00\x03abc\x00"), id="half a packet id is a protocol error"),
    pytest.param(
        publish(mid=0), id="packet id 0, which no QoS 1 packet may have, is a protocol error"
    ),
    pytest.param(
        raw(b"\x00\x03abc\x00\x01"),
        id="a packet without the property length MQTT v5 requires is a protocol error",
    ),
    pytest.param(
        raw(b"\x00\x03abc\x00\x01\x05\x01\x01"),
        id="a property length past the end is a protocol error",
    ),
    pytest.param(
        raw(b"\x00\x03abc\x00\x01\x80\x01" + b"p" * 100),
        id="a two-byte property length past the end is a protocol error",
    ),
    pytest.param(
        raw(b"\x00\x03abc\x00\x01\x80"),
        id="a property length whose continuation byte is missing is a protocol error",
    ),
    pytest.param(
        raw(b"\x00\x03abc\x00\x01\x80\x80\x80\x80\x00" + b"p" * 64),
        id="a property length of more than 4 bytes is a protocol error",
    ),
    pytest.param(
        publish(qos=2),
        id="QoS 2, which the subscription never grants, is a protocol error",
    ),
    pytest.param((0x36, publish()[1]), id="QoS 3, which does not exist, is a protocol error"),
]


@pytest.mark.parametrize("packet", MALFORMED)
def test_a_malformed_publish_is_a_protocol_error_and_nothing_is_handed_on(packet):
    received = Received()
    assert received.handle(*packet) == MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert received.messages == []


@st.composite
def bodies(draw):
    """Any bytes; half the time behind a topic length that points inside them, so that what
    follows a topic (packet id, property length, properties) is exercised as often."""
    rest = draw(st.binary(max_size=300))
    if draw(st.booleans()):
        return rest
    return draw(st.integers(0, len(rest) + 2)).to_bytes(2, "big") + rest


@settings(max_examples=500)
@given(flags=st.integers(0, 15), body=bodies())
def test_any_bytes_with_any_header_flags_give_an_error_code_never_an_exception(flags, body):
    received = Received()
    rc = received.handle(0x30 | flags, body)
    assert isinstance(rc, MQTTErrorCode)
    assert rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_PROTOCOL)
    assert len(received.messages) == (rc == MQTTErrorCode.MQTT_ERR_SUCCESS)


topics = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=100)


@st.composite
def well_formed(draw):
    topic = draw(topics)
    qos = draw(st.integers(0, 1))
    mid = draw(st.integers(1, 65535)) if qos else 0
    retain = draw(st.booleans())
    payload = draw(st.binary(max_size=300))
    # The parser skips the properties without reading them, so any bytes will do; up to
    # 300 of them gives property lengths of one and of two bytes.
    properties = draw(st.binary(max_size=300))
    packet = publish(
        topic.encode(),
        payload,
        qos=qos,
        mid=mid,
        retain=retain,
        dup=draw(st.booleans()),
        properties=properties,
    )
    return packet, (topic, payload, mid, qos, retain)


@given(well_formed())
def test_any_well_formed_publish_comes_out_as_it_was_built(case):
    packet, expected = case
    received = Received()
    assert received.handle(*packet) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert received.messages == [expected]


# ---------------------------------------------------------------------------------------------
# Buffered reads: paho's own _sock_recv (the socket) is replaced by a list of chunks


class Wire:
    """What paho's Client._sock_recv would return: these chunks, then "would block"."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.asked: list[int] = []

    def recv(self, bufsize):
        self.asked.append(bufsize)
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)


@pytest.fixture
def wire(monkeypatch):
    def lay(*chunks: bytes) -> Wire:
        fake = Wire(chunks)
        monkeypatch.setattr(mqtt.Client, "_sock_recv", lambda client, bufsize: fake.recv(bufsize))
        return fake

    return lay


def test_small_reads_are_served_from_one_large_read_of_the_socket(wire):
    socket = wire(b"abcdef")
    client = Received().client
    assert [client._sock_recv(1), client._sock_recv(2), client._sock_recv(3)] == [
        b"a",
        b"bc",
        b"def",
    ]
    assert socket.asked == [_READ_CHUNK]


def test_a_read_larger_than_the_buffer_gets_the_rest_of_it_and_the_next_read_goes_to_the_socket(
    wire,
):
    socket = wire(b"abc", b"defgh")
    client = Received().client
    assert client._sock_recv(1) == b"a"
    assert client._sock_recv(10) == b"bc"
    assert len(socket.asked) == 1
    assert client._sock_recv(10) == b"defgh"
    assert socket.asked == [_READ_CHUNK, _READ_CHUNK]


def test_a_read_larger_than_a_whole_chunk_returns_that_chunk(wire):
    chunk = bytes(range(256)) * (_READ_CHUNK // 256)
    wire(chunk, b"more")
    client = Received().client
    assert client._sock_recv(_READ_CHUNK + 100) == chunk
    assert client._sock_recv(_READ_CHUNK + 100) == b"more"


def test_the_empty_read_of_a_closed_connection_is_passed_on_as_it_is(wire):
    socket = wire(b"ab", b"")
    client = Received().client
    assert client._sock_recv(5) == b"ab"
    assert client._sock_recv(5) == b""
    assert len(socket.asked) == 2


def test_when_the_socket_has_nothing_paho_gets_its_would_block(wire):
    wire(b"ab")
    client = Received().client
    client._sock_recv(2)
    with pytest.raises(BlockingIOError):
        client._sock_recv(1)


def test_bytes_buffered_from_a_closed_connection_are_never_read_on_the_next(wire, monkeypatch):
    wire(b"old connection", b"new")
    monkeypatch.setattr(mqtt.Client, "_sock_close", lambda client: None)
    client = Received().client
    assert client._sock_recv(3) == b"old"
    client._sock_close()
    assert client._sock_recv(3) == b"new"


# ---------------------------------------------------------------------------------------------
# One loop_read drains what was received, through paho's own _packet_read


class FakeSocket:
    closed = False

    def close(self):
        self.closed = True


def connected(received: Received) -> FakeSocket:
    sock = FakeSocket()
    received.client._sock = sock
    return sock


def test_one_loop_read_handles_every_packet_received_then_returns_when_the_socket_would_block(
    wire,
):
    first, second, third = (
        on_the_wire(*publish(payload=f"[{i}]".encode(), mid=i)) for i in (1, 2, 3)
    )
    wire(first + second + third[:5], third[5:])
    received = Received()
    connected(received)
    assert received.client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [(m[1], m[2]) for m in received.messages] == [(b"[1]", 1), (b"[2]", 2), (b"[3]", 3)]


def test_a_packet_completed_by_pahos_100th_read_is_handled_with_what_is_buffered_behind_it(
    wire,
):
    # paho's _packet_read says "again" after 100 reads of one packet, even when the 100th
    # completed it. Here the socket delivers a packet in 100 pieces, the last one together
    # with the next packet: both are then in memory, where select() cannot see them.
    header, body = publish(payload=b"x" * 200)
    head = on_the_wire(header, body)[: -len(body)]
    pieces = [body[i : i + 1] for i in range(99)] + [body[99:]]
    pieces[0] = head + pieces[0]
    pieces[-1] += on_the_wire(*publish(mid=8))
    wire(*pieces)
    received = Received()
    connected(received)
    assert received.client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [m[2] for m in received.messages] == [7, 8]


def test_a_malformed_publish_closes_the_connection_and_drops_what_was_buffered_behind_it(wire):
    good = on_the_wire(*publish(mid=1))
    wire(good + on_the_wire(*publish(b"")) + on_the_wire(*publish(mid=3)), b"next connection")
    received = Received()
    sock = connected(received)
    disconnects = []
    received.client.on_disconnect = lambda *args: disconnects.append(args)
    assert received.client.loop_read() == MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert [m[2] for m in received.messages] == [1]
    assert sock.closed and received.client._sock is None and len(disconnects) == 1
    assert received.client._sock_recv(100) == b"next connection"


# ---------------------------------------------------------------------------------------------
# Batched acks


def test_ack_many_queues_one_write_holding_a_puback_per_packet_id():
    client = Received().client
    queued = []
    client._packet_queue = lambda *args, **kwargs: queued.append((args, kwargs))
    client.ack_many([1, 0x0102, 65535])
    assert queued == [
        ((0x40, b"\x40\x02\x00\x01" + b"\x40\x02\x01\x02" + b"\x40\x02\xff\xff", 0, 0), {})
    ]


def test_ack_many_of_nothing_queues_nothing():
    client = Received().client
    queued = []
    client._packet_queue = lambda *args, **kwargs: queued.append(args)
    client.ack_many([])
    client.ack_many(iter(()))
    assert queued == []


@pytest.mark.parametrize("mid", [1, 255, 256, 0x1234, 65535])
def test_each_puback_is_byte_for_byte_the_one_paho_itself_would_send(mid):
    client = Received().client
    queued = []
    client._packet_queue = lambda command, packet, *rest, **kwargs: queued.append(bytes(packet))
    client.ack_many([mid])
    client._send_puback(mid)
    assert queued[0] == queued[1]
