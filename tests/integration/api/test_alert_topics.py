"""The alert topics hold what is open now: through a real mosquitto and a real influxd, a
subscriber that connects late receives each open alert retained on
``cargo/v1/alerts/{device_id}/{kind}``, keeps receiving it there when it escalates, and receives
nothing for it once it is resolved."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.db import make_engine, session_factory
from api.delivery import AlertRecorder, OutboxDelivery
from api.models import OutboxEntry
from detectors.alerts import AlertEvent
from ingest.influx_client import InfluxClient
from ingest.mqtt_publisher import MqttPublisher

pytestmark = pytest.mark.integration

TOPIC = "cargo/v1/alerts/trk-1/temp_excursion"
MARKER = "cargo/v1/alerts/marker/end"


def event(name: str, seq: int, severity: str = "warning") -> AlertEvent:
    return AlertEvent(
        name,
        "al_topic1",
        "temp_excursion",
        severity,
        "trk-1",
        "SHP-1",
        1_795_000_000_000 + seq * 60_000,
        f"step {seq}",
        {"temp_c": 9.0 + seq},
        seq=seq,
    )


class Subscriber:
    """A fresh client on ``cargo/v1/alerts/#``: what it received, with the retain flag."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, bytes, bool]] = []
        self._changed = threading.Condition()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"late-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        subscribed = threading.Event()
        client.on_connect = lambda c, *a: c.subscribe("cargo/v1/alerts/#", qos=1)
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_message = self._on_message
        client.connect("127.0.0.1", port)
        client.loop_start()
        assert subscribed.wait(10), "no SUBACK"
        self.client = client

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.received.append((msg.topic, msg.payload, bool(msg.retain)))
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        with self._changed:
            assert self._changed.wait_for(condition, timeout=20), what

    def on(self, topic: str) -> list[tuple[dict[str, object], bool]]:
        return [(json.loads(p), r) for t, p, r in self.received if t == topic and p]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Rig:
    """A recorder and a delivery worker on a real store, broker and InfluxDB database."""

    recorder: AlertRecorder
    publisher: MqttPublisher
    sessions: sessionmaker[Session]
    wait_for: Callable[..., None]

    def record(self, events: list[AlertEvent]) -> None:
        """Store the events and return once the delivery has sent them."""
        self.recorder.emit(events)
        self.wait_for(self._delivered)

    def _delivered(self) -> bool:
        with self.sessions() as s:
            return not s.scalar(select(func.count()).where(OutboxEntry.delivered_at.is_(None)))


@pytest.fixture
def delivery(sql_url, mosquitto, influx_db, wait_for) -> Iterator[Rig]:
    influxd, db = influx_db
    engine = make_engine(sql_url)
    sessions = session_factory(engine)
    influx = InfluxClient(influxd.url, db)
    influx.create_database()
    publisher = MqttPublisher(mosquitto.url, "cargowatch-test-delivery")
    publisher.start()
    worker = OutboxDelivery(sessions, publisher, influx, poll_s=0.01)
    worker.start()
    yield Rig(AlertRecorder(sessions), publisher, sessions, wait_for)
    assert worker.stop(timeout_s=5)
    publisher.stop()
    influx.close()
    engine.dispose()


def late_subscriber(port: int, publisher: MqttPublisher) -> Subscriber:
    """Subscribe now, and return once every retained message has arrived: the broker sends
    them on subscribing, before a message published after the SUBACK."""
    sub = Subscriber(port)
    publisher.publish(MARKER, b"end", timeout_s=10)
    sub.wait_for(lambda: any(t == MARKER for t, _, _ in sub.received), "the marker")
    return sub


def test_a_subscriber_connecting_after_an_alert_opened_receives_it_retained(mosquitto, delivery):
    publisher = delivery.publisher
    delivery.record([event("open", 1)])
    sub = late_subscriber(mosquitto.port, publisher)
    [(payload, retained)] = sub.on(TOPIC)
    assert retained and payload["event"] == "open" and payload["alert_id"] == "al_topic1"
    sub.close()


def test_an_escalation_keeps_the_topic_and_a_late_subscriber_sees_the_new_severity(
    mosquitto, delivery
):
    publisher = delivery.publisher
    delivery.record([event("open", 1)])
    live = late_subscriber(mosquitto.port, publisher)
    delivery.record([event("update", 2, "critical")])
    live.wait_for(lambda: len(live.on(TOPIC)) == 2, "the escalation on the same topic")
    assert [p["severity"] for p, _ in live.on(TOPIC)] == ["warning", "critical"]
    assert not [t for t, _, _ in live.received if t not in (TOPIC, MARKER)]
    late = late_subscriber(mosquitto.port, publisher)
    [(payload, retained)] = late.on(TOPIC)
    assert retained and (payload["severity"], payload["history_seq"]) == ("critical", 2)
    live.close()
    late.close()


def test_after_the_resolve_a_new_subscriber_receives_nothing_for_the_alert(mosquitto, delivery):
    publisher = delivery.publisher
    delivery.record([event("open", 1)])
    live = late_subscriber(mosquitto.port, publisher)
    delivery.record([event("resolve", 2)])
    live.wait_for(lambda: (TOPIC, b"", False) in live.received, "the clearing message")
    [resolve] = [p for p, _ in live.on(TOPIC) if p["event"] == "resolve"]
    assert resolve["state"] == "resolved"
    late = late_subscriber(mosquitto.port, publisher)
    assert [t for t, _, _ in late.received if t != MARKER] == []
    live.close()
    late.close()
