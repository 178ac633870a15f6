"""Test helpers for the broker: an MQTT v5 client that returns the broker's reason codes.

`V5Client` is one broker user's paho connection driven synchronously: ``connect`` returns
the CONNACK's reason code, ``subscribe`` the SUBACK's, ``publish`` (QoS 1) the PUBACK's, so
tests assert on what mosquitto answered (0x87 Not authorized) instead of inferring it. It
never reconnects on its own: mosquitto 2.0.11 with ``max_queued_messages 0`` closes a
client's connection right after refusing one of its PUBLISHes, and tests must see that.
Every wait is on a condition (an answer, a message, a file's content) with a time limit,
never a fixed sleep. Used by the broker tests and ``bench/broker_durability.py``.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from services import ShippedMosquittoServer

TIMEOUT_S = 10.0
NOT_AUTHORIZED = 0x87
SUCCESS = 0x00
NO_MATCHING_SUBSCRIBERS = 0x10  # a QoS 1 PUBACK when the message was accepted but nobody had it


class V5Client:
    """One broker user's MQTT v5 connection, driven synchronously from the test."""

    def __init__(
        self,
        broker: ShippedMosquittoServer,
        username: str | None,
        password: str | None,
        client_id: str | None = None,
    ) -> None:
        self.broker = broker
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self._answers = threading.Condition()
        self._connack: tuple[ReasonCode, bool] | None = None
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._pubacks: dict[int, ReasonCode] = {}
        self._subscriptions: list[str] = []
        self.closed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = lambda *args: self.closed.set()
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._answers:
            self._connack = (reason_code, flags.session_present)
            self._answers.notify_all()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._answers:
            self._subacks[mid] = reason_codes
            self._answers.notify_all()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._answers:
            self._pubacks[mid] = reason_code
            self._answers.notify_all()

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        with self._answers:
            if not self._answers.wait_for(ready, TIMEOUT_S):
                raise AssertionError(f"no {what} from the broker\n{self.broker.log_tail()}")

    def connect(
        self, clean_start: bool = True, session_expiry_s: int = 0, receive_maximum: int = 0
    ) -> ReasonCode:
        """CONNECT and return the CONNACK's reason code; a refused client is left stopped.
        ``receive_maximum`` caps the QoS 1 messages the broker may have unacked with us, as
        the ingester's --mqtt-receive-maximum does (0: paho's default)."""
        properties = Properties(PacketTypes.CONNECT)
        if session_expiry_s:
            properties.SessionExpiryInterval = session_expiry_s
        if receive_maximum:
            properties.ReceiveMaximum = receive_maximum
        self._connack = None
        self.closed.clear()
        self.client.loop_stop()  # the thread of a connection the broker closed, if any
        self.client.connect(
            self.broker.host, self.broker.port, clean_start=clean_start, properties=properties
        )
        self.client.loop_start()
        self._wait(lambda: self._connack is not None, "CONNACK")
        assert self._connack is not None
        code = self._connack[0]
        if code.is_failure:
            # paho would otherwise keep reconnecting in the background.
            self.client.loop_stop()
            self.client.disconnect()
        return code

    @property
    def session_present(self) -> bool:
        assert self._connack is not None
        return self._connack[1]

    def subscribe(self, topic: str) -> ReasonCode:
        _, mid = self.client.subscribe(topic, qos=1)
        self._wait(lambda: mid in self._subacks, "SUBACK")
        self._subscriptions.append(topic)
        return self._subacks[mid][0]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK's reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        self._wait(lambda: info.mid in self._pubacks, "PUBACK")
        return self._pubacks[info.mid]

    def publish_denied(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        """Publish something the ACL refuses; return the PUBACK's reason code once the broker
        has also closed the connection, then connect again with the same subscriptions."""
        code = self.publish(topic, payload, retain)
        if not self.closed.wait(TIMEOUT_S):
            raise AssertionError(f"the broker kept the connection after refusing {topic}")
        assert self.connect() == SUCCESS
        topics, self._subscriptions = self._subscriptions, []
        for subscription in topics:
            self.subscribe(subscription)
        return code

    def receive(self) -> mqtt.MQTTMessage:
        try:
            return self.messages.get(timeout=TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(
                f"no message within {TIMEOUT_S:.0f} s\n{self.broker.log_tail()}"
            ) from None

    def receive_until(self, payload: bytes) -> list[mqtt.MQTTMessage]:
        """Every message up to and including the one with ``payload``, in arrival order."""
        received = []
        while True:
            message = self.receive()
            received.append(message)
            if message.payload == payload:
                return received

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
