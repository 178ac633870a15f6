"""Which detectors run, and how each kind's alerts are damped: the one list to read or change.

`FACTORIES` builds a device's detectors from its shipment (a factory returns
None when the shipment gives it nothing to watch). `policies` says, per alert
kind and for that shipment, how long a condition must hold before an alert
opens and stay clear before it resolves. `build_engine` puts them together, with the
detectors that judge trackers against the others of their room (`detectors.probe_peers`), whose
rooms belong to that one engine.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from detectors.anomaly import make_anomaly
from detectors.base import DetectorFactory
from detectors.door_open import make_door_open
from detectors.engine import LATENESS_MS, Engine
from detectors.gps_implausible import make_gps_implausible
from detectors.gps_lost import make_gps_lost
from detectors.lifecycle import KindPolicy
from detectors.predicted_breach import make_predicted_breach
from detectors.probe_peers import RoomBoards, make_probe_peers
from detectors.profiles import Profile, Shipment
from detectors.restricted_zone import make_restricted_zone
from detectors.roadside_places import RoadsidePlaces
from detectors.route_deviation import make_route_deviation
from detectors.seal_breach import make_seal_breach
from detectors.seal_id_changed import make_seal_id_changed
from detectors.sensor_fault import make_battery_low, make_sensor_fault
from detectors.shock import make_shock
from detectors.silence import make_silence
from detectors.temperature import make_temp_excursion
from detectors.unscheduled_stop import make_unscheduled_stop

MIN = 60_000

FACTORIES: list[DetectorFactory] = [
    make_temp_excursion,
    make_predicted_breach,
    make_anomaly,
    make_sensor_fault,
    make_battery_low,
    make_silence,
    # A fix judged implausible is taken from the reading for every detector after
    # gps_implausible (`PositionScreen`); gps_lost, before it, judges the fixes as sent.
    make_gps_lost,
    make_gps_implausible,
    make_route_deviation,
    make_unscheduled_stop,
    make_restricted_zone,
    make_seal_breach,
    make_seal_id_changed,
    make_door_open,
    make_shock,
]


def policies(shipment: Shipment) -> dict[str, KindPolicy]:
    """Damping per kind; excursions wait the profile's minimum duration before they page anyone."""
    return _policies_for(shipment.profile)


@functools.cache
def _policies_for(p: Profile) -> dict[str, KindPolicy]:
    # One shared table per profile: a copy per device would be most of its memory.
    return {
        # The excursion detector itself waits for the minimum duration of *continuous* time
        # out of range (a reading back in range restarts its clock). The book cannot: it
        # sees no readings, only conditions, and used to open on time passing after a single
        # reading out, stating "for 0 min". So the book opens at once on what it is told.
        "temp_excursion": KindPolicy(resolve_after_ms=10 * MIN),
        # The forecaster holds its own warning for its hold time *and* the device's reporting
        # interval (it sees the readings; the book does not): a 5-minute hold here needed a
        # second reading, a quarter of an hour later at 15-minute reporting.
        "temp_breach_predicted": KindPolicy(resolve_after_ms=15 * MIN),
        "stability_budget": KindPolicy(resolve_after_ms=365 * 24 * 60 * MIN),
        # The scorer fires once per incident and then damps itself; asking its score to
        # stay high for minutes, as for other kinds, meant an anomaly alert could never open.
        "anomaly": KindPolicy(resolve_after_ms=30 * MIN),
        "sensor_fault": KindPolicy(resolve_after_ms=30 * MIN),
        "battery_low": KindPolicy(resolve_after_ms=30 * MIN),
        "silence": KindPolicy(resolve_after_ms=0),
        # Location and seal detectors confirm over several fixes and escalate themselves.
        "route_deviation": KindPolicy(resolve_after_ms=10 * MIN),
        # A stop ends on two fixes beyond 300 m of it, which is its damping: a quiet period
        # on top, at 15-minute reporting, merged two stops a short drive apart into one alert.
        "unscheduled_stop": KindPolicy(resolve_after_ms=0),
        "restricted_zone": KindPolicy(resolve_after_ms=5 * MIN),
        "gps_implausible": KindPolicy(resolve_after_ms=30 * MIN),
        "gps_lost": KindPolicy(resolve_after_ms=10 * MIN),
        # Customs keep a seal alert open long enough for someone to look at it.
        "seal_breach": KindPolicy(resolve_after_ms=60 * MIN),
        "seal_id_changed": KindPolicy(resolve_after_ms=60 * MIN),
        "door_open": KindPolicy(resolve_after_ms=5 * MIN),
        "shock": KindPolicy(resolve_after_ms=10 * MIN),
    }


def build_engine(
    shipments: Iterable[Shipment] = (),
    default_profile: Profile | None = None,
    lateness_ms: int = LATENESS_MS,
    places: RoadsidePlaces | None = None,
) -> Engine:
    """An engine running every registered detector, and the room checks over its own rooms.

    `places` is where the engine's trackers are known to have stood (a fresh record unless
    given: a bench hands one engine's record to the next, as a week of a live one's).
    """
    # The rooms and places are this engine's alone: two engines never see each other's.
    rooms = RoomBoards()
    places = RoadsidePlaces() if places is None else places
    stops = functools.partial(make_unscheduled_stop, places=places)
    factories: list[DetectorFactory] = [
        *(stops if f is make_unscheduled_stop else f for f in FACTORIES),
        functools.partial(make_probe_peers, rooms),
    ]
    engine = Engine(
        factories,
        policies,
        shipments,
        default_profile,
        lateness_ms,
        places=places,
    )
    rooms.devices = engine.devices
    return engine
