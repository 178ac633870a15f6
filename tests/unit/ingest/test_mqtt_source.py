"""MqttSource without a broker: what it asks of the broker, and how shutdown stops its intake."""

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.mqtt_source import Message, MqttOptions, MqttSource

TOPIC = "cargo/v1/trk-1/telemetry"


class Recorder:
    """Stands in for one paho method and keeps the arguments of every call."""

    def __init__(self, result=None):
        self.calls: list[tuple[tuple, dict]] = []
        self.result = result

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.result


def new_source(**options) -> MqttSource:
    source = MqttSource(MqttOptions(url="mqtt://127.0.0.1:1", client_id="unit", **options))
    source.acked = []
    # Every PUBACK goes through _packet_queue; keep its bytes instead of queueing them.
    source._client._packet_queue = lambda command, packet, mid, qos, info=None: source.acked.append(
        bytes(packet)
    )
    return source


def receive(source: MqttSource, *mids: int, retain: bool = False) -> None:
    """Messages arriving from paho's network thread, as BulkClient hands them over."""
    for mid in mids:
        source._client.on_telemetry(TOPIC, b"{}", mid, 1, retain)


def pubacks(*mids: int) -> list[bytes]:
    """The single write ack_many queues for these packet ids."""
    return [b"".join(bytes([0x40, 2]) + mid.to_bytes(2, "big") for mid in mids)] if mids else []


def subscriber() -> Recorder:
    """A paho client as far as on_connect uses it."""
    client = Recorder()
    client.subscribe = Recorder()
    return client


def connect(source: MqttSource, client) -> None:
    source._on_connect(
        client, None, mqtt.ConnectFlags(False), ReasonCode(PacketTypes.CONNACK, "Success"), None
    )


# ---------------------------------------------------------------------------------------------
# What the source asks of the broker


def test_connect_grants_the_broker_no_topic_aliases_and_keeps_the_session():
    source = new_source(session_expiry_s=3600, receive_maximum=500)
    source._client.connect_async = connect_async = Recorder()
    source._client.loop_start = Recorder()
    source.start()
    [(_, kwargs)] = connect_async.calls
    props = kwargs["properties"]
    assert kwargs["clean_start"] is False
    assert (props.TopicAliasMaximum, props.ReceiveMaximum, props.SessionExpiryInterval) == (
        0,
        500,
        3600,
    )
    assert b"\x22\x00\x00" in props.pack()  # Topic Alias Maximum 0 is on the wire, not implied


@pytest.mark.parametrize(
    "share_group, topic_filter",
    [
        pytest.param(None, "cargo/v1/+/telemetry", id="on its own"),
        pytest.param("ingest", "$share/ingest/cargo/v1/+/telemetry", id="in a share group"),
    ],
)
def test_the_subscription_is_qos_1_and_asks_for_no_retained_messages(share_group, topic_filter):
    source = new_source(share_group=share_group)
    client = subscriber()
    connect(source, client)
    [((topic,), kwargs)] = client.subscribe.calls
    options = kwargs["options"]
    assert topic == topic_filter
    assert (options.QoS, options.retainHandling) == (1, SubscribeOptions.RETAIN_DO_NOT_SEND)
    assert options.pack() == b"\x21"  # QoS 1, retain handling 2 in bits 4-5


# ---------------------------------------------------------------------------------------------
# Taking messages in


def test_a_message_lands_in_the_inbox_with_its_retain_flag_and_its_connection():
    source = new_source()
    connect(source, subscriber())
    receive(source, 5)
    receive(source, 6, retain=True)
    assert source.drain(10) == [
        Message(TOPIC, b"{}", 5, 1, 1, False),
        Message(TOPIC, b"{}", 6, 1, 1, True),
    ]
    assert source.messages_received == 2


def test_messages_arriving_after_stop_intake_are_counted_neither_kept_nor_acked():
    source = new_source()
    receive(source, 1, 2)
    source.stop_intake()
    receive(source, 3, 4, 5)
    assert (source.pending(), source.messages_received, source.messages_deferred) == (2, 2, 3)
    assert [m.mid for m in source.drain(10)] == [1, 2]
    assert source.acked == []


def test_discard_pending_empties_the_inbox_without_acking_and_says_how_many():
    source = new_source()
    receive(source, 1, 2, 3)
    source.stop_intake()
    assert source.discard_pending() == 3
    assert (source.pending(), source.drain(10), source.acked) == (0, [], [])
    assert source.discard_pending() == 0


def test_what_was_taken_before_stop_intake_is_still_acked_after_it():
    source = new_source()
    receive(source, 1, 2, 3)
    taken = source.drain(2)
    source.stop_intake()
    receive(source, 4)
    source.discard_pending()
    assert source.ack(taken) == 2
    assert source.acked == pubacks(1, 2)


def test_publish_and_stop_still_reach_paho_after_stop_intake():
    source = new_source()
    source._client.publish = publish = Recorder()
    source._client.disconnect = disconnect = Recorder()
    source._client.loop_stop = loop_stop = Recorder()
    source.stop_intake()
    source.publish("cargo/v1/alerts/critical/trk-1", b"{}")
    source.stop()
    assert publish.calls == [(("cargo/v1/alerts/critical/trk-1", b"{}"), {"qos": 1})]
    assert (len(disconnect.calls), len(loop_stop.calls)) == (1, 1)


def test_each_message_arriving_while_intake_stops_is_either_taken_or_deferred():
    source = new_source()
    arrived = 0
    stopping = threading.Event()

    def network_thread():
        nonlocal arrived
        # Keeps delivering until a message has certainly arrived after stop_intake.
        while not (stopping.is_set() and source.messages_deferred >= 100):
            arrived += 1
            receive(source, arrived % 65535 + 1)

    feeder = threading.Thread(target=network_thread)
    feeder.start()
    deadline = time.monotonic() + 10
    while source.messages_received < 1000 and time.monotonic() < deadline:
        pass  # stop_intake while messages are still arriving
    source.stop_intake()
    in_inbox = source.pending()
    stopping.set()
    feeder.join(10)
    assert not feeder.is_alive()
    assert source.pending() == in_inbox  # nothing entered after stop_intake returned
    assert source.messages_received + source.messages_deferred == arrived
    assert source.discard_pending() == in_inbox == source.messages_received
