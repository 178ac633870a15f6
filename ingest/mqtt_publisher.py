"""A QoS 1 MQTT publisher on a connection of its own, for what CargoWatch sends (alert events).

Telemetry comes in on `ingest.mqtt_source`'s connection; what goes out uses this one,
so that sending never shares a connection, a client id or a session with intake.
`publish` returns once the broker has acked the message, which is what lets a caller
mark something delivered only when it was. A message may be retained, so the broker keeps it
for subscribers that connect later; an empty retained message clears what a topic kept.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger(__name__)


class PublishFailed(OSError):
    """The broker did not ack a message in time, or refused it; sending it again may work."""


class MqttPublisher:
    """Publishes at QoS 1 and waits for each PUBACK; paho reconnects in the background."""

    def __init__(self, url: str, client_id: str) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if parts.username:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if parts.scheme == "mqtts":
            client.tls_set()
        client.reconnect_delay_set(1, 30)
        client.max_inflight_messages_set(1000)
        self._client = client

    def start(self) -> None:
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, timeout_s: float, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:  # paho: not connected, queue full
            raise PublishFailed(f"MQTT publish to {topic} failed: {exc}") from None
        if not info.is_published():
            raise PublishFailed(f"MQTT broker did not ack {topic} within {timeout_s:g} s")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
