"""One `sensor_fault` alert raised by two detectors stays open while either still holds it.

`SensorFault` (stuck, jump against its own ambient, implausible values) and `PeerJump` (a jump
its room's other tracker did not make) both raise `sensor_fault` on a tracker placed in a room.
The device keeps one alert of the kind: either detector's condition updates it, and it starts
clearing (30 minutes, the kind's `resolve_after`) only once both have cleared. These run through
`build_engine`, as the services and backtests do: two cold-store loggers in one room reporting
every 15 minutes, the neighbour 5 minutes after the jumper.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Sequence

import pytest
from detector_checks import room_entry

from detectors.alerts import AlertEvent
from detectors.engine import Engine
from detectors.lifecycle import _Track
from detectors.profiles import Shipment, parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000
T0 = 1_795_000_000_000
STEP = 15 * MIN
N = 30

# The probe jumps 14.3 °C at reading 4, stands there (with a little noise, so it is not
# stuck) until reading 16, then reads back with its room.
JUMPER = [2.0, 2.1, 2.0, 2.1] + [16.4, 16.5, 16.4, 16.3] * 3 + [2.1, 2.0] * 7
STILL = [2.2, 2.1] * 15


def shipment(device: str, room: str | None = "chiller-2") -> Shipment:
    return parse_shipment(room_entry(device, room))


def readings(jumper_ambient: bool = False, bad_humidity: Iterable[int] = ()) -> list[Reading]:
    """Both loggers' readings in time order; the jumper's humidity is out of range at `bad_humidity`."""
    bad = set(bad_humidity)
    out: list[Reading] = []
    for k, (t, still) in enumerate(zip(JUMPER, STILL, strict=True)):
        out.append(
            Reading(
                "log-1",
                T0 + k * STEP,
                temp_c=t,
                ambient_c=(2.0 + 0.1 * (k % 2)) if jumper_ambient else None,
                humidity_pct=150.0 if k in bad else 50.0,
            )
        )
        out.append(Reading("log-2", T0 + k * STEP + 5 * MIN, temp_c=still, humidity_pct=50.0))
    return out


def run(engine: Engine, rs: Iterable[Reading]) -> list[AlertEvent]:
    return [e for r in rs for e in engine.process(r, r.ts_ms) if e.kind == "sensor_fault"]


def steps(events: Sequence[AlertEvent]) -> list[tuple[str, str, float]]:
    """(event, what raised it, at which reading of the jumper) of each event."""
    return [(e.event, str(e.evidence.get("fault", "")), (e.at_ms - T0) / STEP) for e in events]


def room_engine() -> Engine:
    return build_engine([shipment("log-1"), shipment("log-2")], lateness_ms=0)


def test_the_jump_rule_clearing_leaves_the_alert_open_while_the_room_check_holds_it() -> None:
    # With its own ambient the jumper's `SensorFault` sees the jump too (at reading 5), and
    # clears three readings later, once the new level no longer moves. Its room still says the
    # probe is wrong until it reads back at 16: the alert stays open all along, the jump back is
    # reported on the same alert, and it resolves 30 minutes after both have cleared (20).
    events = run(room_engine(), readings(jumper_ambient=True))
    assert steps(events) == [
        ("open", "jump", 5.0),
        ("update", "jump", 17.0),
        ("resolve", "", 22.0),
    ]
    assert len({e.alert_id for e in events}) == 1
    assert all(e.device_id == "log-1" for e in events)


def test_an_implausible_reading_clearing_leaves_the_room_checks_alert_open() -> None:
    # The room check opens at 5; a humidity reading out of range (6) updates the same alert;
    # its clear (9) is not the room check's, which holds until the probe reads back (16).
    events = run(room_engine(), readings(bad_humidity=[6]))
    assert steps(events) == [
        ("open", "jump_alone", 5.0),
        ("update", "out_of_range", 6.0),
        ("resolve", "", 18.0),
    ]
    assert events[-1].summary == "probe back with its room"
    assert len({e.alert_id for e in events}) == 1


def test_the_room_check_clearing_leaves_an_implausible_channels_alert_open() -> None:
    # Humidity out of range from 2 to 20: `SensorFault` holds the alert from 2 and clears after
    # three plausible readings (23). The room check raises at 5 and clears at 16, which must not
    # start the alert's clearing: it resolves 30 minutes after 23.
    events = run(room_engine(), readings(bad_humidity=range(2, 21)))
    assert steps(events) == [
        ("open", "out_of_range", 2.0),
        ("update", "jump_alone", 5.0),
        ("resolve", "", 25.0),
    ]
    assert events[-1].summary == "readings plausible again"


@pytest.mark.parametrize("cut", [6, 7, 11, 18, 21])
def test_a_restart_mid_alert_keeps_who_holds_it(cut: int) -> None:
    rs = readings(jumper_ambient=True)
    unbroken = run(room_engine(), rs)
    first = room_engine()
    before = run(first, rs[: 2 * cut])
    second = room_engine()
    assert set(second.restore(first.snapshot())) == {"log-1", "log-2"}
    after = run(second, rs[2 * cut :])
    assert steps(before + after) == steps(unbroken)
    assert [e.alert_id for e in before + after] == [e.alert_id for e in unbroken]


def test_a_snapshot_from_before_holds_an_open_alert_that_goes_on_and_resolves() -> None:
    # Written before the book knew who held a kind: a plain track, nobody named. It loads and the
    # alert goes on under its id; who held it before the restart is not known, so the first clear
    # after it (the jump rule's, at 8) counts, as it did before. Alerts opened afterwards follow
    # the new rule.
    rs = readings(jumper_ambient=True)
    first = room_engine()
    before = run(first, rs[:14])
    assert steps(before) == [("open", "jump", 5.0)]
    blob = pickle.loads(first.snapshot())
    book = blob["devices"]["log-1"].book
    shared = book.tracks["sensor_fault"]
    book.tracks["sensor_fault"] = _Track(
        **{name: getattr(shared, name) for name in _Track.__dataclass_fields__}
    )
    second = room_engine()
    assert set(second.restore(pickle.dumps(blob))) == {"log-1", "log-2"}
    after = run(second, rs[14:36])
    assert second.devices["log-1"].book.tracks["sensor_fault"].holders  # type: ignore[attr-defined]
    after += run(second, rs[36:])
    assert steps(after) == [("resolve", "", 10.0), ("open", "jump", 17.0), ("resolve", "", 22.0)]
    assert after[0].alert_id == before[0].alert_id


def test_a_tracker_without_a_room_keeps_its_sensor_fault_alone_and_remembers_no_holders() -> None:
    # Only `SensorFault` raises the kind there: its clear resolves the alert as it always did,
    # and the book keeps nothing more for it.
    engine = build_engine([shipment("log-1", room=None)], lateness_ms=0)
    rs = [r for r in readings(jumper_ambient=True) if r.device_id == "log-1"]
    events = run(engine, rs[:8])
    assert steps(events) == [("open", "jump", 5.0)]
    track = engine.devices["log-1"].book.tracks["sensor_fault"]
    assert type(track) is _Track
    assert steps(run(engine, rs[8:])) == [
        ("resolve", "", 10.0),
        ("open", "jump", 17.0),
        ("resolve", "", 22.0),
    ]
