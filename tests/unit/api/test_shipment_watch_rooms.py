"""Shipments the store hands to the detectors carry their organisation, so a room is only shared
within one organisation: the same room name in two organisations makes no neighbours, and a
stored version written before shipments had rooms is still watched."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from detector_checks import room_entry
from sqlalchemy.orm import Session, sessionmaker

from api.db import make_engine, session_factory, write_transaction
from api.keys import create_organisation
from api.schema import upgrade
from api.shipment_watch import ShipmentWatcher
from api.shipments import save_shipment
from detectors.profiles import Shipment
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000
T0 = 1_795_000_000_000
STEP = 15 * MIN
JUMPER = [2.0, 2.1, 2.0, 2.1, 16.4, 16.4, 16.5, 16.4, 16.4]  # +14.3 °C in 15 min, and stays
STILL = [2.2, 2.1, 2.2, 2.2, 2.1, 2.2, 2.2, 2.1, 2.2]


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def store(sessions: sessionmaker[Session], rows: Sequence[tuple[str, str, str | None]]) -> None:
    """Save (organisation, device, room) shipments, in transit, as the API does."""
    with write_transaction(sessions) as session:
        orgs: dict[str, int] = {}
        for org, device, room in rows:
            if org not in orgs:
                orgs[org] = create_organisation(session, org).id
            save_shipment(
                session, orgs[org], room_entry(device, room), actor="ops", status="in_transit"
            )


def watched(sessions: sessionmaker[Session]) -> list[Shipment]:
    handed_on: list[Shipment] = []
    ShipmentWatcher(sessions, handed_on.append, lambda device: None).poll()
    return handed_on


def faults_raised(shipments: Sequence[Shipment]) -> list[tuple[str, str]]:
    engine = build_engine([], lateness_ms=0)
    for s in shipments:
        engine.add_shipment(s)
    readings = sorted(
        [Reading("log-1", T0 + k * STEP, temp_c=t) for k, t in enumerate(JUMPER)]
        + [Reading("log-2", T0 + 5 * MIN + k * STEP, temp_c=t) for k, t in enumerate(STILL)],
        key=lambda r: r.ts_ms,
    )
    return [
        (e.event, e.device_id)
        for r in readings
        for e in engine.process(r, r.ts_ms)
        if e.kind == "sensor_fault"
    ]


def test_every_shipment_handed_on_carries_its_organisation(
    sessions: sessionmaker[Session],
) -> None:
    store(sessions, [("ACME", "log-1", "chiller-2"), ("Globex", "log-2", "chiller-2")])
    assert sorted((s.device_id, s.organisation, s.room) for s in watched(sessions)) == [
        ("log-1", "ACME", "chiller-2"),
        ("log-2", "Globex", "chiller-2"),
    ]


def test_the_same_room_name_in_two_organisations_makes_no_neighbours(
    sessions: sessionmaker[Session],
) -> None:
    store(sessions, [("ACME", "log-1", "chiller-2"), ("Globex", "log-2", "chiller-2")])
    assert faults_raised(watched(sessions)) == []


def test_the_same_room_in_one_organisation_does(sessions: sessionmaker[Session]) -> None:
    store(sessions, [("ACME", "log-1", "chiller-2"), ("ACME", "log-2", "chiller-2")])
    assert faults_raised(watched(sessions)) == [("open", "log-1")]


def test_a_stored_version_without_a_room_is_still_watched_with_none(
    sessions: sessionmaker[Session],
) -> None:
    store(sessions, [("ACME", "log-1", None)])
    [shipment] = watched(sessions)
    assert (shipment.device_id, shipment.room, shipment.organisation) == ("log-1", None, "ACME")
