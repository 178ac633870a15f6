"""Shipments saved in the store reach the detectors: each new version once, closed ones closed."""

import pytest

from api.db import make_engine, session_factory, write_transaction
from api.keys import create_organisation
from api.shipment_watch import ShipmentsUnreadable, ShipmentWatcher
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


def _save(store, element, status="planned"):
    sessions, org = store
    with write_transaction(sessions) as session:
        save_shipment(session, org, element, actor="ops", status=status)


def _set(store, shipment_id, status):
    sessions, org = store
    with write_transaction(sessions) as session:
        set_status(session, org, shipment_id, status, actor="ops")


def test_each_new_version_is_handed_on_once_and_a_closed_shipment_is_closed(store):
    sessions, _ = store
    changed, closed = [], []
    watcher = ShipmentWatcher(sessions, changed.append, closed.append)
    assert watcher.poll() == 0
    _save(store, ELEMENT, "in_transit")
    assert watcher.poll() == 1 and watcher.poll() == 0
    assert [(s.shipment_id, s.device_id, s.profile.name) for s in changed] == [
        ("SHP-1", "trk-1", "vaccine_2_8")
    ]
    _save(store, {**ELEMENT, "max_gap_min": 45}, "in_transit")
    assert watcher.poll() == 1
    assert changed[-1].profile.max_gap_min == 45
    _set(store, "SHP-1", "delivered")
    assert watcher.poll() == 1
    assert closed == ["trk-1"]
    assert len(changed) == 2


def test_a_new_watcher_hands_on_every_open_shipment_the_store_holds(store):
    sessions, _ = store
    _save(store, ELEMENT, "planned")
    _save(store, {**ELEMENT, "shipment_id": "SHP-2", "device_id": "trk-2"}, "cancelled")
    changed, closed = [], []
    ShipmentWatcher(sessions, changed.append, closed.append).poll()
    # A tracker only closed shipments name is closed too: its trips are over, and it is not
    # watched under the default profile either (the detectors' snapshot resolves what it held
    # open, `Engine.restore`).
    assert [s.device_id for s in changed] == ["trk-1"] and closed == ["trk-2"]


def test_closing_a_former_trip_of_a_reused_tracker_keeps_its_current_trip_watched(store):
    # The tracker's next trip is entered before its last one is delivered. Before, the late
    # close stopped the watch of the next trip, live and (depending on the order the store
    # listed them) at every start-up.
    sessions, _ = store
    live_changed, live_closed = [], []
    live = ShipmentWatcher(sessions, live_changed.append, live_closed.append)
    _save(store, ELEMENT, "in_transit")
    live.poll()
    _save(store, {**ELEMENT, "shipment_id": "SHP-2"})
    live.poll()
    # The newer trip takes the tracker over: the former one's detectors end.
    assert [s.shipment_id for s in live_changed] == ["SHP-1", "SHP-2"] and live_closed == ["trk-1"]
    _set(store, "SHP-1", "delivered")
    assert live.poll() == 1
    assert len(live_changed) == 2 and live_closed == ["trk-1"]
    assert live.watching() == {"trk-1": "SHP-2"}
    # A restarted ingester's watcher meets the delivered one last, and watches the open one.
    changed, closed = [], []
    ShipmentWatcher(sessions, changed.append, closed.append).poll()
    assert [s.shipment_id for s in changed] == ["SHP-2"] and closed == []
    # Closing the current trip does stop the watch.
    _set(store, "SHP-2", "delivered")
    live.poll()
    assert live_closed == ["trk-1", "trk-1"] and live.watching() == {}


def test_a_tracker_is_watched_under_its_newest_open_shipment_and_falls_back_when_it_ends(store):
    sessions, _ = store
    _save(store, {**ELEMENT, "shipment_id": "SHP-2"})
    _save(store, ELEMENT)
    changed, closed = [], []
    watcher = ShipmentWatcher(sessions, changed.append, closed.append)
    watcher.poll()
    assert [s.shipment_id for s in changed] == ["SHP-1"]  # created last
    # A change to the older one does not take the tracker back.
    _set(store, "SHP-2", "in_transit")
    assert watcher.poll() == 1 and len(changed) == 1 and closed == []
    # The newest ends: the one still open takes over.
    _set(store, "SHP-1", "cancelled")
    watcher.poll()
    assert closed == ["trk-1"] and [s.shipment_id for s in changed] == ["SHP-1", "SHP-2"]
    assert watcher.watching() == {"trk-1": "SHP-2"}


def test_a_shipment_moved_to_another_tracker_stops_the_watch_of_the_former_one(store):
    sessions, _ = store
    changed, closed = [], []
    watcher = ShipmentWatcher(sessions, changed.append, closed.append)
    _save(store, ELEMENT, "in_transit")
    watcher.poll()
    _save(store, {**ELEMENT, "device_id": "trk-9"})
    watcher.poll()
    assert closed == ["trk-1"] and changed[-1].device_id == "trk-9"
    # A restarted watcher lets the former tracker go too: an earlier version named it.
    again: list[str] = []
    ShipmentWatcher(sessions, lambda _: None, again.append).poll()
    assert again == ["trk-1"]
    _set(store, "SHP-1", "delivered")
    watcher.poll()
    assert closed == ["trk-1", "trk-9"]


def test_a_strict_poll_of_an_unreachable_store_says_so_and_a_plain_one_retries_later(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'store.db'}")
    watcher = ShipmentWatcher(session_factory(engine), print, print)
    with pytest.raises(ShipmentsUnreadable, match="cannot read shipments from the SQL store"):
        watcher.poll(strict=True)
    assert watcher.poll() == 0
    engine.dispose()
