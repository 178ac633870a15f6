"""What a webhook receiver must be able to rely on, checked on the requests a test receiver
recorded: every entry arrives (answered 2xx at least once), every request verifies with the
Standard Webhooks reference library, a repeated request repeats its ``webhook-id`` and body,
the id is the entry's, and per alert no entry is sent before the one before it was delivered.

Also the MQTT side of the same promise: the retained alert topics a subscriber connecting now
receives, collected up to a marker published after subscribing (the broker sends retained
messages on subscribing, before anything published later).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from standardwebhooks import Webhook
from webhook_receiver import Received

Entry = tuple[str, int]  # alert id, place in the alert's history


def entry_of(request: Received) -> Entry:
    data = orjson.loads(request.body)["data"]
    return data["alert_id"], int(data["history_seq"])


def check_received(requests: Sequence[Received], secret: str, expected: Iterable[Entry]) -> None:
    """Fail unless the requests (in arrival order) delivered `expected` as a receiver needs."""
    expected = set(expected)
    verifier = Webhook(secret)
    body_of: dict[str, bytes] = {}
    delivered: set[Entry] = set()
    seqs_of: dict[str, list[int]] = defaultdict(list)
    for alert_id, seq in expected:
        seqs_of[alert_id].append(seq)
    for request in requests:
        verifier.verify(request.body, request.headers)  # raises on a bad signature
        msg_id = request.headers["webhook-id"]
        assert body_of.setdefault(msg_id, request.body) == request.body, (
            f"{msg_id} was sent twice with different bodies"
        )
        alert_id, seq = entry_of(request)
        assert msg_id == f"{alert_id}.{seq}", f"{msg_id} is not the id of {alert_id}.{seq}"
        assert (alert_id, seq) in expected, f"{msg_id} was not expected"
        earlier = [s for s in seqs_of[alert_id] if s < seq and (alert_id, s) not in delivered]
        assert not earlier, f"{msg_id} was sent before {alert_id} {earlier} were delivered"
        if request.answered == "ok":
            delivered.add((alert_id, seq))
    assert delivered == expected, f"never delivered: {sorted(expected - delivered)}"


def retained_alerts(port: int) -> dict[str, dict[str, Any]]:
    """The retained message of every alert topic, as a subscriber connecting now gets them."""
    marker = f"cargo/v1/test-marker/{uuid.uuid4().hex}"
    received: dict[str, dict[str, Any]] = {}
    subscribed, done = threading.Event(), threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == marker:
            done.set()
        elif msg.retain and msg.payload:
            received[msg.topic] = json.loads(msg.payload)

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"late-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    client.on_connect = lambda c, *a: c.subscribe([("cargo/v1/alerts/#", 1), (marker, 1)])
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert subscribed.wait(10), "no SUBACK"
        client.publish(marker, b"end", qos=1)
        assert done.wait(10), "the marker did not come back"
    finally:
        client.disconnect()
        client.loop_stop()
    return received
