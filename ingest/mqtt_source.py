"""The MQTT side of ingestion: a persistent MQTT v5 session that queues messages and acks on demand.

Only this module talks to paho. It connects with a stable client id, clean
start off and a session expiry, so the broker queues QoS 1 messages while the
ingester is away; it raises Receive Maximum so thousands of messages can be in
flight while a batch is being made durable; it grants no topic aliases, which
the fast PUBLISH path could not resolve; it subscribes in `on_connect`, so
every reconnect restores the subscription, and asks for no retained messages
at subscribe, so a retained reading is not ingested again at every start (a
retained message that does arrive carries its flag to the pipeline); and it
acks nothing by itself. Messages wait in an in-memory inbox until the pipeline
`ack`s them. An ack is sent only on the connection the message arrived on:
after a reconnect the broker redelivers whatever was unacked (stored again
idempotently), and an old packet id must not ack a newer message that reused
it. At shutdown `stop_intake` and `discard_pending` leave whatever was not yet
taken to the broker, which redelivers it to the next run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.mqtt_client import BulkClient

log = logging.getLogger(__name__)

TELEMETRY_FILTER = "cargo/v1/+/telemetry"


class Message(NamedTuple):
    """What the pipeline needs of a received message; `generation` names its connection.

    `retain` is the PUBLISH retain flag: set, the broker sent a stored retained message
    rather than one published now (the pipeline decides what to do with it).
    """

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    retain: bool = False


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """Connection settings for the telemetry subscription."""

    url: str
    client_id: str
    session_expiry_s: int = 7 * 24 * 3600
    receive_maximum: int = 10_000
    share_group: str | None = None
    keepalive_s: int = 30
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30

    @property
    def topic_filter(self) -> str:
        if self.share_group:
            return f"$share/{self.share_group}/{TELEMETRY_FILTER}"
        return TELEMETRY_FILTER


class MqttSource:
    """Receives telemetry into an inbox; `drain` takes from it, `ack` confirms durable messages."""

    def __init__(self, options: MqttOptions) -> None:
        self.options = options
        #: Messages put in the inbox.
        self.messages_received = 0
        #: Messages that arrived after `stop_intake`, left unacked for the next run.
        self.messages_deferred = 0
        self._inbox: deque[Message] = deque()
        # Taken by paho's thread for each message, so that once `stop_intake` returns
        # nothing more enters the inbox.
        self._intake_lock = threading.Lock()
        self._intake_open = True
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        client = BulkClient(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        url = urlsplit(options.url)
        if url.username:
            client.username_pw_set(url.username, url.password)
        if url.scheme == "mqtts":
            client.tls_set()
        client.reconnect_delay_set(options.reconnect_min_s, options.reconnect_max_s)
        # Alert messages are few, but a burst must not wait on 20 in-flight slots.
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_telemetry = self._on_telemetry
        self._client = client
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        self._was_connected = False
        # When the broker went away (unreachable, refused or lost), so that an outage is
        # said once as it starts and once as it ends, not at every retry; None while connected.
        self._outage_since: float | None = None

    def start(self) -> None:
        """Connect in the background; paho retries with backoff until the broker answers."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.options.session_expiry_s
        props.ReceiveMaximum = self.options.receive_maximum
        # 0 is also MQTT v5's default, but said explicitly because it is load-bearing: the
        # fast PUBLISH path (BulkClient) skips properties, so it cannot honour a topic alias,
        # and treats a PUBLISH without its topic as a protocol error.
        props.TopicAliasMaximum = 0
        self._client.connect_async(
            self._host,
            self._port,
            keepalive=self.options.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()

    def wait_subscribed(self, timeout_s: float) -> bool:
        return self._subscribed.wait(timeout_s)

    def drain(self, limit: int) -> list[Message]:
        """Take up to `limit` received messages, oldest first."""
        inbox = self._inbox
        n = min(limit, len(inbox))
        return [inbox.popleft() for _ in range(n)]

    def pending(self) -> int:
        return len(self._inbox)

    def stop_intake(self) -> None:
        """Take no more messages: from now on they are counted and neither kept nor acked.

        For shutdown. The broker keeps every unacked QoS 1 message in the session and
        redelivers it to the next run, so nothing that arrives while the ingester is
        finishing needs to be processed now (a QoS 0 message, which has no redelivery, is
        lost). `ack`, `publish` and `stop` keep working.
        """
        with self._intake_lock:
            self._intake_open = False

    def discard_pending(self) -> int:
        """Empty the inbox without acking; return how many messages were dropped from it.

        The broker redelivers them to the next run, as it does anything unacked.
        """
        inbox, n = self._inbox, 0
        with self._intake_lock:
            # Popped one by one, so a concurrent `drain` cannot make the count wrong.
            while inbox:
                try:
                    inbox.popleft()
                except IndexError:
                    break
                n += 1
        return n

    def ack(self, messages: Iterable[Message]) -> int:
        """Ack messages received on the current connection; return how many were acked."""
        current = self._generation
        mids = [m.mid for m in messages if m.qos == 1 and m.generation == current]
        self._client.ack_many(mids)
        return len(mids)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 on the ingest connection; paho queues it while disconnected."""
        self._client.publish(topic, payload, qos=1)

    def stop(self) -> None:
        """Disconnect cleanly (the session and its unacked messages stay with the broker)."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            if self._begin_outage():
                log.error(
                    "MQTT broker %s:%s refused the connection: %s; retrying with backoff",
                    self._host,
                    self._port,
                    reason,
                )
            return
        if self._outage_since is not None:
            log.warning(
                "MQTT broker %s:%s answers again after %.0f s",
                self._host,
                self._port,
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None
        self._generation += 1
        self._connected.set()
        log.info(
            "MQTT %s to %s:%s as %r (session %s)",
            "reconnected" if self._was_connected else "connected",
            self._host,
            self._port,
            self.options.client_id,
            "resumed" if flags.session_present else "new",
        )
        self._was_connected = True
        # Retain handling 2: the broker sends no retained messages at subscribe, so a
        # retained reading is not ingested again at every start and reconnect.
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        client.subscribe(self.options.topic_filter, options=options)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.error("MQTT subscription to %s refused: %s", self.options.topic_filter, reasons)
            return
        log.info("subscribed to %s", self.options.topic_filter)
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if reason.is_failure and self._begin_outage():
            log.warning(
                "MQTT connection to %s:%s lost (%s); reconnecting with backoff",
                self._host,
                self._port,
                reason,
            )

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this for every failed attempt (no TCP connection); said once per outage.
        if self._begin_outage():
            log.warning(
                "MQTT broker %s:%s unreachable; retrying with backoff until it answers",
                self._host,
                self._port,
            )

    def _begin_outage(self) -> bool:
        """Mark the broker as away; True only for the first sign of this outage."""
        if self._outage_since is not None:
            return False
        self._outage_since = time.monotonic()
        return True

    def _on_telemetry(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool) -> None:
        with self._intake_lock:
            if not self._intake_open:
                self.messages_deferred += 1
                return
            self.messages_received += 1
            self._inbox.append(Message(topic, payload, mid, qos, self._generation, retain))
