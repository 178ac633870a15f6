"""The shipped persistence settings keep a persistent session's queue through a broker SIGKILL;
mosquitto's defaults do not.

The ingester's session (service user, clean start off, a session expiry, QoS 1 subscription)
goes offline; a gateway publishes 1,000 QoS 1 messages and has every PUBACK; mosquitto is
killed with SIGKILL and started again on the same persistence directory; the session comes
back. Before the kill the test waits until the database file on disk holds every message
(mosquitto writes it to a temporary name and renames it, so a read sees a whole save): that
is what ``autosave_on_changes true`` / ``autosave_interval 1`` promise, and the wait proves
the save happened instead of hoping a sleep was long enough.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from broker_clients import SUCCESS, V5Client
from services import ShippedMosquittoServer
from waiting import wait_until

from ingest.broker_auth import Role
from ingest.broker_config import DURABLE, NON_DURABLE, Durability
from simulators.publisher import Publisher, parse_mqtt_url

pytestmark = pytest.mark.integration

MESSAGES = 1000
SESSION_ID = "cargowatch-ingest-test"
TELEMETRY = "cargo/v1/+/telemetry"
MARK = b'"durability-test"'


def payload(i: int) -> bytes:
    device = f"trk-{i % 50:05d}"
    return (
        f'{{"device_id":"{device}","ts":{1_760_000_000_000 + i},"seq":{i},"durability-test":1}}'
    ).encode()


def topic(i: int) -> str:
    return f"cargo/v1/trk-{i % 50:05d}/telemetry"


class Scenario:
    """A broker with the shipped config and the given persistence, the ingester's persistent
    session, and a gateway that fills the session's queue while it is offline."""

    def __init__(self, directory: Path, durability: Durability) -> None:
        self.broker = ShippedMosquittoServer(directory, durability=durability)
        self.service_password = self.broker.add_user("cargowatch", Role.SERVICE)
        self.gateway_password = self.broker.add_user("fleet-gateway", Role.GATEWAY)
        self.clients: list[V5Client] = []
        self.broker.start()

    def session(self) -> V5Client:
        client = V5Client(self.broker, "cargowatch", self.service_password, SESSION_ID)
        self.clients.append(client)
        assert client.connect(clean_start=False, session_expiry_s=3600) == SUCCESS
        return client

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish at QoS 1 as the gateway; returns once every message has its PUBACK."""
        url = parse_mqtt_url(self.broker.url_for("fleet-gateway", self.gateway_password))
        publisher = Publisher(url, qos=1, window=256)
        publisher.connect()
        for t, p in messages:
            publisher.publish(t, p)
        publisher.close()  # flushes, then waits for every PUBACK
        assert publisher.acked == len(messages)

    def queue_offline(self) -> None:
        subscriber = self.session()
        assert subscriber.subscribe(TELEMETRY) == 1
        subscriber.disconnect()
        self.publish([(topic(i), payload(i)) for i in range(MESSAGES)])

    def saved_on_disk(self) -> int:
        """How many of the test's messages the database file on disk holds."""
        try:
            return self.broker.persistence_path.read_bytes().count(MARK)
        except FileNotFoundError:
            return 0

    def crash_and_restart(self) -> None:
        self.broker.kill()
        self.broker.start()

    def close(self) -> None:
        for client in self.clients:
            client.disconnect()
        self.broker.stop()


@pytest.fixture
def scenario(tmp_path):
    made: list[Scenario] = []

    def make(durability: Durability) -> Scenario:
        made.append(Scenario(tmp_path / f"broker-{len(made)}", durability))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_shipped_settings_keep_the_queue_through_sigkill(scenario):
    s = scenario(DURABLE)
    s.queue_offline()
    # Saved promptly after the last PUBACK, not at the next timed autosave (1800 s away).
    wait_until(lambda: s.saved_on_disk() == MESSAGES, 30, f"all {MESSAGES} messages on disk")
    s.crash_and_restart()

    subscriber = s.session()
    assert subscriber.session_present  # the subscription survived as well as the queue
    received = subscriber.receive_until(payload(MESSAGES - 1))
    assert [m.payload for m in received] == [payload(i) for i in range(MESSAGES)]
    assert [m.topic for m in received[:3]] == [topic(0), topic(1), topic(2)]
    # And nothing more (no duplicate of any of them) before a message published now.
    s.publish([(topic(0), b"after the restart")])
    assert [m.payload for m in subscriber.receive_until(b"after the restart")] == [
        b"after the restart"
    ]


def test_mosquittos_default_autosave_loses_the_queue_on_sigkill(scenario):
    s = scenario(NON_DURABLE)
    s.queue_offline()
    # Every message is acknowledged, yet nothing of it is on disk; and nothing will be for
    # 1800 s, so there is no save to wait for before the crash.
    assert s.saved_on_disk() == 0
    s.crash_and_restart()

    subscriber = s.session()
    assert not subscriber.session_present  # the broker forgot the session altogether
    assert subscriber.subscribe(TELEMETRY) == 1
    s.publish([(topic(0), b"after the restart")])
    # Queued messages would be delivered before one published after the reconnect: none were.
    assert [m.payload for m in subscriber.receive_until(b"after the restart")] == [
        b"after the restart"
    ]
