"""Trackers whose GPS receiver has static hold: a parked truck's pinned fix is not a lost GPS.

Receivers with static hold repeat their fix bit for bit while the vehicle stands still. By
default `gps_lost` calls such a fix frozen after 30 min (a live receiver's noise moves every
fix), so a customs fleet of such trackers raised it at every rest and queue. The manifest's
`gps_static_hold` says the tracker does this: its identical fixes are then never frozen, while
readings without a position still raise `gps_lost`, and a stop on one repeated fix no longer
says the GPS may be frozen.
"""

import pickle

import pytest
from detector_checks import feed

from detectors.engine import same_watch
from detectors.gps_lost import make_gps_lost
from detectors.profiles import ManifestError, Shipment, parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.unscheduled_stop import UnscheduledStop, make_unscheduled_stop

MIN = 60_000
T0 = 1_763_800_000_000
ROUTE = {"type": "LineString", "coordinates": [[33.0, 0.0], [34.0, 0.0]]}


def shipment(**fields: object) -> Shipment:
    return parse_shipment(
        {
            "shipment_id": "SHP-1",
            "device_id": "trk-1",
            "profile": "customs_transit",
            "route": ROUTE,
            **fields,
        }
    )


def pinned(minutes: int, step_min: int = 5, start_min: int = 0, lon: float = 33.512345):
    """A truck parked mid-route whose receiver repeats one fix to the last digit."""
    return [
        Reading("trk-1", T0 + m * MIN, lat=0.000123, lon=lon)
        for m in range(start_min, start_min + minutes + 1, step_min)
    ]


def driving(minutes: int, start_min: int, lon: float, step_min: int = 5) -> list[Reading]:
    """Live fixes along the route from `lon`, about 1 km a minute."""
    return [
        Reading("trk-1", T0 + m * MIN, lat=0.0, lon=lon + 0.009 * (m - start_min))
        for m in range(start_min, start_min + minutes + 1, step_min)
    ]


def no_fix(minutes: int, start_min: int, step_min: int = 5) -> list[Reading]:
    return [
        Reading("trk-1", T0 + m * MIN, temp_c=20.0)
        for m in range(start_min, start_min + minutes + 1, step_min)
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, False),
        ({"gps_static_hold": None}, False),
        ({"gps_static_hold": True}, True),
        ({"gps_static_hold": False}, False),
    ],
)
def test_the_manifest_says_whether_the_receiver_has_static_hold(given, expected):
    assert shipment(**given).gps_static_hold is expected


@pytest.mark.parametrize(
    ("value", "shown"), [("true", "'true'"), (1, "1"), (0, "0"), ([], "an array")]
)
def test_anything_but_true_false_or_null_is_refused_naming_the_key(value, shown):
    with pytest.raises(ManifestError) as refused:
        shipment(gps_static_hold=value)
    assert (
        str(refused.value)
        == f"shipment 'SHP-1': gps_static_hold must be true or false, got {shown}"
    )


@pytest.mark.parametrize("step_min", [1, 5, 15])
def test_a_parked_static_hold_tracker_is_not_lost_where_an_undeclared_one_is(step_min):
    readings = pinned(120, step_min)
    lost = [c for _, c in feed(make_gps_lost(shipment()), readings) if c.active]
    assert [c.evidence["mode"] for c in lost] == ["frozen"]
    assert feed(make_gps_lost(shipment(gps_static_hold=True)), readings) == []


def test_a_static_hold_tracker_without_a_position_for_15_min_is_still_lost():
    readings = pinned(30) + no_fix(20, start_min=35) + driving(10, start_min=60, lon=33.513)
    events = feed(make_gps_lost(shipment(gps_static_hold=True)), readings)
    assert [(readings[i].ts_ms - T0) // MIN for i, _ in events] == [50, 60]
    assert [(c.active, c.evidence.get("mode", c.evidence.get("was"))) for _, c in events] == [
        (True, "no_fix"),
        (False, "no_fix"),
    ]


def test_a_stop_on_a_pinned_fix_says_the_gps_may_be_frozen_only_when_static_hold_is_not_declared():
    readings = pinned(30)
    plain = [c for _, c in feed(make_unscheduled_stop(shipment()), readings) if c.active]
    declared = make_unscheduled_stop(shipment(gps_static_hold=True))
    assert declared is not None
    held = [c for _, c in feed(declared, readings) if c.active]
    assert len(plain) == len(held) == 1
    assert "the GPS may be frozen" in plain[0].summary
    assert held[0].summary == "stopped for 10 min at 0.0001, 33.5123"
    assert plain[0].summary.startswith(held[0].summary + "; 3 of its 3 fixes repeat one position")
    # The evidence still counts the repeats: the fact stays on record either way.
    assert held[0].evidence["identical_fixes"] == plain[0].evidence["identical_fixes"] == 3


def test_through_the_engine_a_rest_stop_raises_only_the_stop_for_a_declared_tracker():
    readings = (
        driving(60, start_min=0, lon=33.2)
        + pinned(90, start_min=65, lon=33.740123)
        + driving(30, start_min=160, lon=33.741)
    )

    def kinds(s: Shipment) -> set[str]:
        engine = build_engine([s])
        events = [e for r in readings for e in engine.process(r)] + engine.flush()
        return {e.kind for e in events if e.event == "open"}

    assert kinds(shipment()) == {"unscheduled_stop", "gps_lost"}
    assert kinds(shipment(gps_static_hold=True)) == {"unscheduled_stop"}


def test_declaring_static_hold_restarts_the_devices_detectors_under_it():
    assert not same_watch(shipment(gps_static_hold=True), shipment())


def test_a_shipment_and_a_stop_pickled_before_static_hold_existed_restore_without_it():
    current = shipment()
    old_state = current.__getstate__()[:-1]  # the release before had no trailing field
    restored = Shipment.__new__(Shipment)
    restored.__setstate__(old_state)
    assert restored == current and restored.gps_static_hold is False

    stop = make_unscheduled_stop(shipment(gps_static_hold=True))
    assert stop is not None
    feed(stop, pinned(5))
    slots = {
        name: getattr(stop, name) for name in UnscheduledStop.__slots__ if name != "static_hold"
    }
    old = UnscheduledStop.__new__(UnscheduledStop)
    old.__setstate__((None, slots))
    assert old.static_hold is False
    resumed = pickle.loads(pickle.dumps(stop))
    assert resumed.static_hold is True
