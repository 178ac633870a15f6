"""MqttSource without a broker: what it asks of the broker."""

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.mqtt_source import MqttOptions, MqttSource

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
