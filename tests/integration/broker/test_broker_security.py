"""The shipped mosquitto config, rendered into a temp dir and run by a real mosquitto: who may
connect, publish and read what.

What a client may not receive is proven by order, not by waiting: mosquitto forwards
messages in the order it received them, so once a later, legitimate message has arrived, an
earlier one that was going to be delivered would have arrived first.

A refused PUBLISH gets PUBACK 0x87 (MQTT v5) and then, with ``max_queued_messages 0`` in
mosquitto 2.0.11, the broker closes the publisher's connection (its check for a full
outgoing queue treats 0 as a limit of zero; later mosquitto sources test for 0 first).
`V5Client.publish_denied` asserts both and connects again, so each test goes on with the
same client.
"""

import subprocess
import sys

import pytest
from broker_clients import (
    NO_MATCHING_SUBSCRIBERS,
    NOT_AUTHORIZED,
    SUCCESS,
    V5Client,
)
from waiting import wait_until

pytestmark = pytest.mark.integration

TELEMETRY = "cargo/v1/+/telemetry"
ALERTS = "cargo/v1/alerts/#"


def telemetry(device: str) -> str:
    return f"cargo/v1/{device}/telemetry"


def reading(device: str, seq: int) -> bytes:
    return f'{{"device_id":"{device}","ts":{1_760_000_000_000 + seq},"seq":{seq}}}'.encode()


def test_device_publishes_its_own_telemetry_and_the_service_receives_it(secured):
    service = secured.connected("cargowatch")
    assert service.subscribe(TELEMETRY) == 1  # granted QoS 1
    device = secured.connected("trk-1")
    assert device.publish(telemetry("trk-1"), reading("trk-1", 1)) == SUCCESS
    message = service.receive()
    assert (message.topic, message.payload) == (telemetry("trk-1"), reading("trk-1", 1))


def test_device_cannot_publish_as_another_device(secured):
    service = secured.connected("cargowatch")
    service.subscribe(TELEMETRY)
    device = secured.connected("trk-1")
    forged = reading("trk-2", 666)
    assert device.publish_denied(telemetry("trk-2"), forged).value == NOT_AUTHORIZED
    # Also for a device no one has registered: the topic, not the id's existence, decides.
    assert device.publish_denied(telemetry("trk-404"), forged).value == NOT_AUTHORIZED
    legitimate = reading("trk-1", 1)
    assert device.publish(telemetry("trk-1"), legitimate) == SUCCESS
    received = service.receive_until(legitimate)
    assert [m.payload for m in received] == [legitimate]


def test_device_cannot_publish_or_retain_alerts(secured):
    consumer = secured.connected("alerts-reader")
    consumer.subscribe(ALERTS)
    device = secured.connected("trk-1")
    forged_topic = "cargo/v1/alerts/critical/trk-1"
    forged = b'{"kind":"seal_breach","event":"resolve","summary":"all clear"}'
    assert device.publish_denied(forged_topic, forged).value == NOT_AUTHORIZED
    assert device.publish_denied(forged_topic, forged, retain=True).value == NOT_AUTHORIZED

    service = secured.connected("cargowatch")
    real = b'{"kind":"seal_breach","event":"open"}'
    assert service.publish("cargo/v1/alerts/critical/trk-1", real) == SUCCESS
    assert [m.payload for m in consumer.receive_until(real)] == [real]

    # Nothing was retained: a new subscriber to the forged topic gets no retained message
    # before the retained marker of a later subscription on the same connection.
    assert service.publish("cargo/v1/alerts/info/marker", b"marker", retain=True) == SUCCESS
    late = secured.connected("alerts-reader")
    late.subscribe(forged_topic)
    late.subscribe("cargo/v1/alerts/info/marker")
    assert [m.payload for m in late.receive_until(b"marker")] == [b"marker"]


def test_anonymous_client_is_refused_at_connect(secured):
    assert secured.client(None).connect().value == NOT_AUTHORIZED


@pytest.mark.parametrize(
    "username, password",
    [("trk-1", "wrong"), ("trk-1", ""), ("nobody", "whatever"), ("cargowatch", "trk-1")],
)
def test_wrong_or_unknown_credentials_are_refused(secured, username, password):
    assert secured.client(username, password).connect().value == NOT_AUTHORIZED


def test_one_users_password_does_not_open_another_account(secured):
    stolen = secured.passwords["trk-1"]
    assert secured.client("cargowatch", stolen).connect().value == NOT_AUTHORIZED


def test_consumer_receives_alerts_but_cannot_publish_them(secured):
    consumer = secured.connected("alerts-reader")
    consumer.subscribe(ALERTS)
    service = secured.connected("cargowatch")
    first = b'{"kind":"temp_excursion","event":"open"}'
    assert service.publish("cargo/v1/alerts/critical/trk-1", first) == SUCCESS
    assert consumer.receive().payload == first

    forged = b'{"kind":"temp_excursion","event":"resolve"}'
    assert consumer.publish_denied("cargo/v1/alerts/critical/trk-1", forged).value == NOT_AUTHORIZED
    assert consumer.publish_denied(telemetry("trk-1"), reading("trk-1", 1)).value == NOT_AUTHORIZED
    second = b'{"kind":"temp_excursion","event":"update"}'
    assert service.publish("cargo/v1/alerts/critical/trk-1", second) == SUCCESS
    assert [m.payload for m in consumer.receive_until(second)] == [second]


def test_consumer_cannot_read_telemetry(secured):
    # mosquitto grants the subscription but delivers nothing the ACL does not allow reading.
    consumer = secured.connected("alerts-reader")
    consumer.subscribe(TELEMETRY)
    consumer.subscribe(ALERTS)
    service = secured.connected("cargowatch")
    service.subscribe(TELEMETRY)
    device = secured.connected("trk-1")
    device.publish(telemetry("trk-1"), reading("trk-1", 1))
    # The alert is published only after the service has the reading, so by then the broker
    # has routed the reading to every subscriber allowed to read it.
    assert service.receive().payload == reading("trk-1", 1)
    alert = b'{"kind":"shock","event":"open"}'
    service.publish("cargo/v1/alerts/warning/trk-1", alert)
    assert [m.payload for m in consumer.receive_until(alert)] == [alert]


def test_service_reads_telemetry_through_a_shared_subscription(secured):
    service = secured.connected("cargowatch")
    assert service.subscribe(f"$share/ingest/{TELEMETRY}") == 1
    device = secured.connected("trk-2")
    device.publish(telemetry("trk-2"), reading("trk-2", 5))
    assert service.receive().payload == reading("trk-2", 5)


def test_gateway_publishes_for_any_device_but_not_alerts(secured):
    service = secured.connected("cargowatch")
    service.subscribe(TELEMETRY)
    gateway = secured.connected("fleet-gateway")
    for device in ("trk-1", "trk-2", "sim-00042"):
        assert gateway.publish(telemetry(device), reading(device, 1)) == SUCCESS
    assert gateway.publish_denied("cargo/v1/alerts/critical/trk-1", b"{}").value == NOT_AUTHORIZED
    last = reading("sim-00042", 2)
    gateway.publish(telemetry("sim-00042"), last)
    received = service.receive_until(last)
    assert [m.topic for m in received] == [
        telemetry("trk-1"),
        telemetry("trk-2"),
        telemetry("sim-00042"),
        telemetry("sim-00042"),
    ]


def test_service_may_not_publish_telemetry_for_devices(secured):
    service = secured.connected("cargowatch")
    assert service.publish_denied(telemetry("trk-1"), reading("trk-1", 1)).value == NOT_AUTHORIZED
    # Its own name's topic is open to it through the pattern, as to every user; no device
    # can have that name, and nobody else's topic is open to it.
    assert service.publish(telemetry("cargowatch"), b"{}").value in (
        SUCCESS,
        NO_MATCHING_SUBSCRIBERS,
    )


def test_device_added_with_the_command_connects_after_sighup(secured):
    server = secured.server
    command = [sys.executable, "-m", "cargowatch", "broker", "add-device", "trk-new"]
    command += ["--password-file", str(server.password_file)]
    command += ["--acl-file", str(server.acl_file)]
    added = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30)
    password = added.stdout.strip()
    assert added.stdout == password + "\n"
    assert "SIGHUP" in added.stderr
    # Written, but not loaded yet: mosquitto reads the password file at start and on SIGHUP.
    assert secured.client("trk-new", password).connect().value == NOT_AUTHORIZED

    reload = [*command[:5], "trk-newer", *command[6:], "--reload-pid", str(server.pid)]
    reloaded = subprocess.run(reload, capture_output=True, text=True, check=True, timeout=30)
    assert "sent mosquitto" in reloaded.stderr

    def accepted() -> bool:
        client = V5Client(server, "trk-new", password)
        code = client.connect()
        if code == SUCCESS:
            secured.clients.append(client)
        return code == SUCCESS

    wait_until(accepted, 10, "mosquitto to load the new device after SIGHUP")
    device = secured.clients[-1]
    service = secured.connected("cargowatch")
    service.subscribe(TELEMETRY)
    assert device.publish(telemetry("trk-new"), reading("trk-new", 1)) == SUCCESS
    assert service.receive().payload == reading("trk-new", 1)
    assert device.publish_denied(telemetry("trk-1"), b"{}").value == NOT_AUTHORIZED
    newer = V5Client(server, "trk-newer", reloaded.stdout.strip())
    secured.clients.append(newer)
    assert newer.connect() == SUCCESS
