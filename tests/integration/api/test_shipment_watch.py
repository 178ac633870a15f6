"""Shipments saved in the store reach the detectors: each new version once, closed ones closed."""

import pytest

from api.db import make_engine, session_factory, write_transaction
from api.keys import create_organisation
from api.shipment_watch import ShipmentWatcher
from api.shipments import save_shipment, set_status

pytestmark = pytest.mark.integration

ELEMENT = {"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "vaccine_2_8"}


@pytest.fixture
def store(sql_url):
    engine = make_engine(sql_url)
    sessions = session_factory(engine)
    with write_transaction(sessions) as session:
        org = create_organisation(session, "ACME").id
    yield sessions, org
    engine.dispose()


def test_each_new_version_is_handed_on_once_and_a_closed_shipment_is_closed(store):
    sessions, org = store
    changed, closed = [], []
    watcher = ShipmentWatcher(sessions, changed.append, closed.append)
    assert watcher.poll() == 0
    with write_transaction(sessions) as session:
        save_shipment(session, org, ELEMENT, actor="ops", status="in_transit")
    assert watcher.poll() == 1 and watcher.poll() == 0
    assert [(s.shipment_id, s.device_id, s.profile.name) for s in changed] == [
        ("SHP-1", "trk-1", "vaccine_2_8")
    ]
    with write_transaction(sessions) as session:
        save_shipment(
            session, org, {**ELEMENT, "max_gap_min": 45}, actor="ops", status="in_transit"
        )
    assert watcher.poll() == 1
    assert changed[-1].profile.max_gap_min == 45
    with write_transaction(sessions) as session:
        set_status(session, org, "SHP-1", "delivered", actor="ops")
    assert watcher.poll() == 1
    assert closed == ["trk-1"]
    assert len(changed) == 2


def test_a_new_watcher_hands_on_every_open_shipment_the_store_holds(store):
    sessions, org = store
    with write_transaction(sessions) as session:
        save_shipment(session, org, ELEMENT, actor="ops", status="planned")
        save_shipment(
            session,
            org,
            {**ELEMENT, "shipment_id": "SHP-2", "device_id": "trk-2"},
            actor="ops",
            status="cancelled",
        )
    changed, closed = [], []
    ShipmentWatcher(sessions, changed.append, closed.append).poll()
    assert [s.device_id for s in changed] == ["trk-1"] and closed == ["trk-2"]
