"""Integration tests proving the server fixtures behave like the real deployments they stand for.

Other integration tests rely on these guarantees: the broker relays messages, keeps a
persistent session's queued QoS 1 messages across a restart, and InfluxDB stores what is
written, answers queries through the helpers, and keeps its data across a restart.
"""

import queue
import socket
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from services import InfluxServer, MosquittoServer, free_port

pytestmark = pytest.mark.integration

TIMEOUT_S = 10.0


class Subscriber:
    """A paho MQTT v5 client that collects the messages of one QoS 1 subscription."""

    def __init__(self, broker: MosquittoServer, client_id: str, topic: str) -> None:
        self.broker = broker
        self.topic = topic
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.subscribed = threading.Event()
        self.session_present: bool | None = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.session_present = flags.session_present
        client.subscribe(self.topic, qos=1)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put(message)

    def connect(self, persistent: bool = False) -> None:
        properties = Properties(PacketTypes.CONNECT)
        if persistent:
            properties.SessionExpiryInterval = 3600
        self.subscribed.clear()
        self.client.connect(
            self.broker.host, self.broker.port, clean_start=not persistent, properties=properties
        )
        self.client.loop_start()
        assert self.subscribed.wait(TIMEOUT_S), "no SUBACK from the broker"

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def next_message(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=TIMEOUT_S)


def publish_qos1(broker: MosquittoServer, topic: str, payload: bytes) -> None:
    """Publish one QoS 1 message and return once the broker has acknowledged it."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"pub-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=TIMEOUT_S)
        assert info.is_published(), "the broker did not acknowledge the publish"
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_message_published_to_the_fixture_broker_reaches_a_subscriber(
    mosquitto: MosquittoServer,
) -> None:
    subscriber = Subscriber(mosquitto, "sub-roundtrip", "cargo/v1/+/telemetry")
    subscriber.connect()
    try:
        publish_qos1(mosquitto, "cargo/v1/trk-00001/telemetry", b'{"device_id":"trk-00001"}')
        message = subscriber.next_message()
    finally:
        subscriber.disconnect()
    assert message.topic == "cargo/v1/trk-00001/telemetry"
    assert message.payload == b'{"device_id":"trk-00001"}'
    assert message.qos == 1


def test_a_qos1_message_queued_for_an_offline_persistent_session_survives_a_broker_restart(
    mosquitto: MosquittoServer,
) -> None:
    topic = "cargo/v1/trk-00002/telemetry"
    subscriber = Subscriber(mosquitto, "sub-persistent", topic)
    subscriber.connect(persistent=True)
    subscriber.disconnect()

    publish_qos1(mosquitto, topic, b"sent-while-away")
    port_before = mosquitto.port
    mosquitto.restart()
    assert mosquitto.port == port_before

    returning = Subscriber(mosquitto, "sub-persistent", topic)
    returning.connect(persistent=True)
    try:
        message = returning.next_message()
    finally:
        returning.disconnect()
    assert returning.session_present is True
    assert message.payload == b"sent-while-away"
    assert message.qos == 1


def test_a_stopped_broker_leaves_no_process_and_refuses_connections(
    mosquitto: MosquittoServer,
) -> None:
    mosquitto.stop()
    assert not mosquitto.is_running()
    with pytest.raises(ConnectionRefusedError):
        mqtt.Client(CallbackAPIVersion.VERSION2).connect(mosquitto.host, mosquitto.port)


def test_a_point_written_as_line_protocol_is_returned_by_a_query(
    influx_db: tuple[InfluxServer, str],
) -> None:
    server, db = influx_db
    server.create_database(db)
    server.write(db, "telemetry,device_id=trk-00001 seq=7i,temp_c=4.25 1763800000123")

    rows = server.query("SELECT * FROM telemetry", db)

    assert rows == [{"time": 1763800000123, "device_id": "trk-00001", "seq": 7, "temp_c": 4.25}]


def test_query_binds_parameters_and_returns_group_by_tags_with_each_row(
    influx_db: tuple[InfluxServer, str],
) -> None:
    server, db = influx_db
    server.create_database(db)
    server.write(
        db,
        [
            "telemetry,device_id=trk-00001 seq=1i 1763800000000",
            "telemetry,device_id=trk-00001 seq=2i 1763800000001",
            "telemetry,device_id=trk-00002 seq=1i 1763800000000",
        ],
    )

    per_device = server.query("SELECT count(seq) FROM telemetry GROUP BY device_id", db)
    one_device = server.query(
        "SELECT seq FROM telemetry WHERE device_id = $device", db, params={"device": "trk-00002"}
    )

    assert sorted((row["device_id"], row["count"]) for row in per_device) == [
        ("trk-00001", 2),
        ("trk-00002", 1),
    ]
    assert one_device == [{"time": 1763800000000, "seq": 1}]


def test_count_counts_points_and_a_rewritten_point_only_once(
    influx_db: tuple[InfluxServer, str],
) -> None:
    server, db = influx_db
    server.create_database(db)
    assert server.count("telemetry", db, "seq") == 0
    lines = [
        f"telemetry,device_id=trk-00001 seq={i}i,temp_c=5.0 {1763800000000 + i}" for i in range(5)
    ]
    server.write(db, lines)
    server.write(db, lines[:2])  # a redelivered reading overwrites itself
    server.write(db, "telemetry,device_id=trk-00001 battery_v=3.6 1763800009999")

    assert server.count("telemetry", db, "seq") == 5
    assert server.count("telemetry", db, "battery_v") == 1
    assert server.count("telemetry", db) == 5


def test_written_points_survive_an_influxd_restart_on_the_same_port(
    influxd: InfluxServer,
) -> None:
    influxd.create_database("cargowatch")
    influxd.write(
        "cargowatch",
        [f"telemetry,device_id=trk-00003 seq={i}i {1763800000000 + i}" for i in range(100)],
    )
    url_before = influxd.url

    influxd.restart()

    assert influxd.url == url_before
    assert influxd.count("telemetry", "cargowatch", "seq") == 100


def test_free_port_returns_a_port_nothing_listens_on() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
