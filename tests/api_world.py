"""A small world for the HTTP API tests: organisations, keys of every role, shipments in
several states and alerts on them, in a real SQL store, and a client for an app built on it.

ACME and GLOBEX each have one shipment in transit and one planned, each with an open alert
recorded the way the detectors record them (`api.store.record_events`). Keys: an admin (of
the operating company), an operator and a viewer of ACME, an operator of GLOBEX, and customs.
`VISIBLE` says which shipments each key may see; the tests derive every expectation from it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.db import make_engine, session_factory, write_transaction
from api.keys import create_api_key, organisation_for
from api.models import (
    Alert,
    AlertHistory,
    ApiKey,
    Organisation,
    OutboxEntry,
    Shipment,
    ShipmentVersion,
)
from api.shipments import save_shipment
from api.store import record_events
from detectors.alerts import AlertEvent

with warnings.catch_warnings():
    # starlette suggests another httpx package; the TestClient it ships is still the tool.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T0_MS = 1_763_800_000_000  # 2025-11-22T08:26:40Z

#: shipment id -> (organisation, device, status)
SHIPMENTS = {
    "SHP-A1": ("ACME", "trk-a1", "in_transit"),
    "SHP-A2": ("ACME", "trk-a2", "planned"),
    "SHP-G1": ("GLOBEX", "trk-g1", "in_transit"),
    "SHP-G2": ("GLOBEX", "trk-g2", "planned"),
}
#: key name -> (organisation, role)
KEYS = {
    "admin": ("CargoWatch", "admin"),
    "operator": ("ACME", "operator"),
    "viewer": ("ACME", "viewer"),
    "customs": ("Customs", "customs"),
    "other_operator": ("GLOBEX", "operator"),
}
VISIBLE = {
    "admin": {"SHP-A1", "SHP-A2", "SHP-G1", "SHP-G2"},
    "operator": {"SHP-A1", "SHP-A2"},
    "viewer": {"SHP-A1", "SHP-A2"},
    "customs": {"SHP-A1", "SHP-G1"},
    "other_operator": {"SHP-G1", "SHP-G2"},
}
MANAGE_SHIPMENTS = {"admin", "operator", "other_operator"}
ACT_ON_ALERTS = {"admin", "operator", "other_operator", "customs"}


def alert_id(shipment_id: str) -> str:
    return "al_" + shipment_id.lower().replace("-", "")


def manifest(shipment_id: str, device_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "shipment_id": shipment_id,
        "device_id": device_id,
        "profile": "vaccine_2_8",
        "departure": "2025-11-22T06:00:00Z",
        "route": {"type": "LineString", "coordinates": [[39.66, -4.04], [34.27, 0.63]]},
        **extra,
    }


def event(
    shipment_id: str | None,
    device_id: str,
    name: str,
    *,
    kind: str = "seal_breach",
    severity: str = "critical",
    at_ms: int = T0_MS,
    event_name: str = "open",
) -> AlertEvent:
    return AlertEvent(
        event=event_name,
        alert_id=name,
        kind=kind,
        severity=severity,
        device_id=device_id,
        shipment_id=shipment_id,
        at_ms=at_ms,
        summary=f"secret summary of {name}",
        evidence={"seal": "open", "device": device_id},
    )


@dataclass
class World:
    sessions: sessionmaker[Session]
    keys: dict[str, str] = field(default_factory=dict)
    client: TestClient | None = None

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def close(self) -> None:
        """Close the store's connections: a test process that leaks them runs out of the file
        descriptors below 1024 that select()-based clients (paho) can still use."""
        self.sessions.kw["bind"].dispose()

    def counts(self) -> dict[str, int]:
        """Rows in every table, to show a refused request changed nothing."""
        with self.sessions() as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (
                    Organisation,
                    ApiKey,
                    Shipment,
                    ShipmentVersion,
                    Alert,
                    AlertHistory,
                    OutboxEntry,
                )
            }


def build_world(sql_url: str) -> World:
    """The world above on the migrated store at `sql_url`."""
    world = World(session_factory(make_engine(sql_url)))
    with write_transaction(world.sessions) as session:
        for who, (org_name, role) in KEYS.items():
            organisation = organisation_for(session, org_name)
            world.keys[who] = create_api_key(session, organisation.id, role, f"{who}@{org_name}")[1]
        for shipment_id, (org_name, device_id, status) in SHIPMENTS.items():
            organisation = organisation_for(session, org_name)
            save_shipment(
                session,
                organisation.id,
                manifest(shipment_id, device_id),
                actor="setup",
                status=status,
            )
    record_events(
        world.sessions,
        [(event(s, device, alert_id(s)), 1) for s, (_, device, _) in SHIPMENTS.items()],
    )
    return world


def secrets_of(shipment_ids: set[str]) -> list[str]:
    """Text that only a response carrying those shipments' data would hold."""
    found: list[str] = []
    for shipment_id in shipment_ids:
        found += [SHIPMENTS[shipment_id][1], f"secret summary of {alert_id(shipment_id)}"]
    return found
