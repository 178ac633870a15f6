"""A probe that moves fast while its own tracker's door is open is not a faulty probe.

A frozen unit unloading at its destination: the tracker reports `door` open, the air probe by
the door reads -21.5, -19.5, -18.0 ... within minutes and stays up while the door is open, and
the outside `ambient_c` holds at 26 °C. The jump rule took the steady ambient for still
surroundings and raised `sensor_fault` ("jumped -21.5 -> -19.5 °C in 2.0 min and stayed"). A
room's logger by a door did the same to `jump_alone`. An open door, and the quarter of an hour
after it shuts, now say the surroundings are moving, for both rules.
"""

from __future__ import annotations

import pickle

import pytest
from detector_checks import room_entry

from detectors.probe_peers import PeerJump, RoomBoard
from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.sensor_fault import DOOR_SETTLE_MIN, SensorFault

MIN = 60_000
T0 = 1_795_000_000_000


def unloading(door_at: int | None, closed_after: int = 9, every_min: int = 1) -> list[Reading]:
    """-21.5 °C for 20 readings, then a rise of 2 °C/min to -15.5 held for 20 readings, the
    door open from reading `door_at` for `closed_after` readings (None: no door reported)."""
    temps = [-21.5] * 20 + [-19.5, -17.5, -15.5] + [-15.5, -15.0] * 10
    out = []
    for i, t in enumerate(temps):
        door = None
        if door_at is not None:
            door = "open" if door_at <= i < door_at + closed_after else "closed"
        out.append(Reading("trk", T0 + i * every_min * MIN, temp_c=t, ambient_c=26.0, door=door))
    return out


def jumps(detector: SensorFault, readings: list[Reading]) -> list[str]:
    return [c.summary for r in readings for c in detector.update(r) or [] if c.active]


def test_a_fast_rise_with_the_door_open_is_not_a_probe_fault() -> None:
    assert jumps(SensorFault(), unloading(door_at=None))  # without the door: a jump
    assert jumps(SensorFault(), unloading(door_at=20)) == []


def test_a_tracker_that_reports_its_door_only_when_it_changes_is_heeded_too() -> None:
    readings = unloading(door_at=20, closed_after=30)
    sparse = [
        r
        if r.ts_ms in (readings[20].ts_ms,)
        else Reading("trk", r.ts_ms, temp_c=r.temp_c, ambient_c=26.0)
        for r in readings
    ]
    assert jumps(SensorFault(), sparse) == []


def test_the_rule_judges_again_once_the_door_has_been_shut_for_its_settling_time() -> None:
    d = SensorFault()
    assert jumps(d, unloading(door_at=0, closed_after=1)[:2]) == []
    # Shut at minute 1: a jump well after the settling time is a fault again.
    later = [
        Reading("trk", T0 + (DOOR_SETTLE_MIN + 10 + k) * MIN, temp_c=t, ambient_c=26.0)
        for k, t in enumerate([-21.5] * 10 + [-14.0] * 10)
    ]
    assert jumps(d, later)


def test_a_sensor_fault_watch_from_an_older_snapshot_loads() -> None:
    def restored() -> SensorFault:
        slots = dict(SensorFault().__reduce_ex__(2)[2][1])
        del slots["_door_until"]  # what a snapshot of the release before holds
        old = SensorFault.__new__(SensorFault)
        old.__setstate__((None, slots))
        return pickle.loads(pickle.dumps(old))

    assert jumps(restored(), unloading(door_at=20)) == []
    assert jumps(restored(), unloading(door_at=None))


def shipment(device: str) -> object:
    return parse_shipment(room_entry(device, "chiller-2"))


@pytest.mark.parametrize("door", [False, True])
def test_a_logger_by_the_door_is_not_judged_against_its_room_while_the_door_is_open(
    door: bool,
) -> None:
    step = 15 * MIN
    jumper = [2.0, 2.1, 2.0, 2.1, 16.4, 16.4, 16.5, 16.4, 16.4]
    still = [2.2, 2.1, 2.2, 2.2, 2.1, 2.2, 2.2, 2.1, 2.2]
    engine = build_engine([shipment("log-1"), shipment("log-2")], lateness_ms=0)  # type: ignore[list-item]
    readings = []
    for k, (a, b) in enumerate(zip(jumper, still, strict=True)):
        state = ("open" if k >= 4 else "closed") if door else None
        readings.append(Reading("log-1", T0 + k * step, temp_c=a, door=state))
        readings.append(Reading("log-2", T0 + k * step + 5 * MIN, temp_c=b))
    faults = [e for r in readings for e in engine.process(r, r.ts_ms) if e.kind == "sensor_fault"]
    assert bool(faults) is not door


def test_a_room_peer_from_an_older_snapshot_loads() -> None:
    peer = PeerJump(RoomBoard(), "log-1", ("", "chiller-2"))
    slots = {name: getattr(peer, name) for name in PeerJump.__slots__ if name != "_door_until"}
    old = PeerJump.__new__(PeerJump)
    old.__setstate__((None, slots))
    assert old.update(Reading("log-1", T0, temp_c=2.0)) is None
