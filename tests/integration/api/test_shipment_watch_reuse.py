"""What the shipment watcher watches depends only on what the store holds.

Any sequence of trips created, changed, moved between trackers and closed leaves each
tracker watched under its newest open shipment, and a tracker that no open shipment names
unwatched, live (poll after poll) as after a restart (one first poll of the same store).
"""

import itertools
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from api.db import make_engine, session_factory, write_transaction
from api.keys import create_organisation
from api.schema import upgrade
from api.shipment_watch import OPEN_STATUSES, ShipmentWatcher
from api.shipments import save_shipment

pytestmark = pytest.mark.integration

STATUSES = ("planned", "in_transit", "delivered", "cancelled")

# (shipment, device, status) saved, or None: the live watcher polls.
OPS = st.lists(
    st.one_of(
        st.none(),
        st.tuples(st.integers(0, 4), st.integers(0, 2), st.sampled_from(STATUSES)),
    ),
    max_size=25,
)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('watch') / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


class _Devices:
    """What the detectors were told: device -> shipment id, or None for a tracker whose trips
    are over (not watched under the default profile either), from the watcher's calls."""

    def __init__(self) -> None:
        self.watched: dict[str, str | None] = {}

    def change(self, shipment: object) -> None:
        self.watched[shipment.device_id] = shipment.shipment_id  # type: ignore[attr-defined]

    def close(self, device_id: str) -> None:
        self.watched[device_id] = None


_RUNS = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_each_tracker_is_watched_under_its_newest_open_shipment_live_and_after_a_restart(
    sessions: sessionmaker[Session], ops: list[tuple[int, int, str] | None]
) -> None:
    run = f"r{next(_RUNS)}-{uuid.uuid4().hex[:6]}"  # each example's own organisation and devices
    with write_transaction(sessions) as session:
        org = create_organisation(session, run).id
    live_devices = _Devices()
    live = ShipmentWatcher(sessions, live_devices.change, live_devices.close)
    live.poll()
    created: list[str] = []  # shipment ids in the order they were created
    state: dict[str, tuple[str, str]] = {}  # shipment id -> (device, status)
    named: set[str] = set()  # every device a version named
    for op in [*ops, None]:
        if op is None:
            live.poll()
            # Every tracker a version named: over, unless an open shipment names it now.
            newest: dict[str, str | None] = dict.fromkeys(named)
            for shipment_id in created:  # later ones override: the newest wins
                device, status = state[shipment_id]
                if status in OPEN_STATUSES:
                    newest[device] = shipment_id
            mine = {d: s for d, s in live_devices.watched.items() if d.startswith(run)}
            assert mine == newest
            watching = {d: s for d, s in newest.items() if s is not None}
            assert {d: s for d, s in live.watching().items() if d.startswith(run)} == watching
            continue
        n, d, status = op
        shipment_id, device = f"SHP-{n}", f"{run}-trk-{d}"
        if shipment_id in state and state[shipment_id][1] not in OPEN_STATUSES:
            continue  # a closed shipment takes no further change (the API answers 409)
        if shipment_id not in state:
            created.append(shipment_id)
        state[shipment_id] = (device, status)
        named.add(device)
        element = {"shipment_id": shipment_id, "device_id": device, "profile": "vaccine_2_8"}
        with write_transaction(sessions) as session:
            save_shipment(session, org, element, actor="test", status=status)
    restarted_devices = _Devices()
    ShipmentWatcher(sessions, restarted_devices.change, restarted_devices.close).poll()
    assert {d: s for d, s in restarted_devices.watched.items() if d.startswith(run)} == {
        d: s for d, s in live_devices.watched.items() if d.startswith(run)
    }
