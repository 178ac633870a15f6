"""Fixtures for the broker tests: mosquitto running CargoWatch's shipped config, rendered into
a temp dir, with one user of every role; clients are disconnected after each test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from broker_clients import SUCCESS, V5Client
from services import ShippedMosquittoServer

from ingest.broker_auth import Role


@dataclass
class SecuredBroker:
    """A running broker with the shipped config and one user of every role."""

    server: ShippedMosquittoServer
    passwords: dict[str, str]
    clients: list[V5Client]

    def client(self, username: str | None, password: str | None = None, **kw: Any) -> V5Client:
        if username is not None and password is None:
            password = self.passwords[username]
        client = V5Client(self.server, username, password, **kw)
        self.clients.append(client)
        return client

    def connected(self, username: str, **kw: Any) -> V5Client:
        client = self.client(username, **kw)
        code = client.connect()
        assert code == SUCCESS, f"{username} refused: {code}\n{self.server.log_tail()}"
        return client


USERS = {
    "cargowatch": Role.SERVICE,
    "alerts-reader": Role.CONSUMER,
    "fleet-gateway": Role.GATEWAY,
    "trk-1": Role.DEVICE,
    "trk-2": Role.DEVICE,
}


@pytest.fixture
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """mosquitto with the shipped config and a service, consumer, gateway and two devices."""
    server = ShippedMosquittoServer(tmp_path_factory.mktemp("mosquitto-secured"))
    passwords = {name: server.add_user(name, role) for name, role in USERS.items()}
    try:
        server.start()
    except (FileNotFoundError, RuntimeError) as error:
        pytest.fail(str(error), pytrace=False)
    broker = SecuredBroker(server, passwords, [])
    yield broker
    for client in broker.clients:
        client.disconnect()
    server.stop()
