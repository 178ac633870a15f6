"""A receiver that shows static hold is treated as one declared with it.

A customs fleet generated elsewhere had receivers that pin their fix while parked, not declared
in its manifest, and drew 19 `gps_lost` alerts per 1,000 device-hours at rests. Such a receiver
lets its fix go where the truck stood; a fix frozen on a moving truck is let go far on. After two
holds let go where the truck could have stood, and none where it could not, repeats are no
longer called frozen (`detectors.gps_lost`).
"""

from __future__ import annotations

import pickle
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.alerts import Condition
from detectors.engine import Engine
from detectors.gps_lost import HOLD_SHOWN_AFTER, GpsLost
from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000
#: Degrees of longitude per km at the equator.
KM = 1 / 111.195
#: A routed customs shipment whose manifest does not declare static hold.
ROUTED = parse_shipment(
    {
        "shipment_id": "SHP-1",
        "device_id": "t1",
        "profile": "customs_transit",
        "route": {"type": "LineString", "coordinates": [[33.0, 0.0], [36.0, 0.0]]},
    }
)


def drive(t0: int, minutes: int, lon0: float, every: int = 5) -> list[Reading]:
    """A live receiver on a truck driving east at 60 km/h: every fix differs."""
    return [
        Reading("t1", (t0 + m) * MIN, lat=1e-6 * (m % 7), lon=lon0 + m * KM)
        for m in range(0, minutes, every)
    ]


def park(t0: int, minutes: int, lon: float, every: int = 5) -> list[Reading]:
    """A receiver with static hold on a parked truck: one fix, repeated to the last digit."""
    return [Reading("t1", (t0 + m) * MIN, lat=0.0, lon=lon) for m in range(0, minutes, every)]


def frozen_lost(d: GpsLost, readings: list[Reading]) -> list[Condition]:
    out = []
    for r in readings:
        out += [c for c in d.update(r) or [] if c.active and c.evidence["mode"] == "frozen"]
    return out


def trip(stops: list[int], moved_while_held_km: float = 0.0, t0: int = 0) -> list[Reading]:
    """Drive 60 min from minute `t0`, then for each stop park that long and drive 60 min on;
    the first stop's fix is let go `moved_while_held_km` further on than the truck could have
    stood."""
    readings: list[Reading] = []
    t, lon = t0, 33.0
    readings += drive(t, 60, lon)
    t, lon = t + 60, lon + 60 * KM
    for i, minutes in enumerate(stops):
        readings += park(t, minutes, lon)
        t += minutes
        if i == 0:
            lon += moved_while_held_km * KM
        readings += drive(t, 60, lon)
        t, lon = t + 60, lon + 60 * KM
    return readings


def test_after_two_short_holds_a_long_rest_is_not_a_frozen_receiver() -> None:
    assert frozen_lost(GpsLost(), trip([15, 20, 45])) == []


def test_without_that_record_the_long_rest_is_called_frozen() -> None:
    [lost] = frozen_lost(GpsLost(), trip([45]))
    assert lost.evidence["count"] >= 6


def test_a_fix_let_go_far_from_where_it_was_held_shows_a_receiver_that_freezes() -> None:
    # Held 15 min, then the next fix 40 km on, five minutes later: the truck was moving.
    d = GpsLost()
    assert len(frozen_lost(d, trip([15, 20, 20, 45], moved_while_held_km=40.0))) == 1
    assert not d.holds_fix


def test_one_hold_let_go_nearby_is_not_enough() -> None:
    d = GpsLost()
    assert len(frozen_lost(d, trip([15, 45]))) == 1
    # The long rest, let go where the truck stood, is the second hold: shown from then on.
    assert d.holds_fix


def test_a_snapshot_from_before_holds_were_followed_restores_with_none() -> None:
    d = GpsLost()
    frozen_lost(d, trip([15]))
    _, slots = cast(tuple[None, dict[str, object]], d.__getstate__())
    del slots["_holds"]
    restored = GpsLost.__new__(GpsLost)
    restored.__setstate__((None, slots))
    assert restored._holds == 0
    assert pickle.loads(pickle.dumps(d))._holds == 1


@settings(max_examples=150, deadline=None)
@given(
    stops=st.lists(st.integers(5, 60), min_size=1, max_size=6),
    moved_km=st.sampled_from([0.0, 0.2, 30.0, 200.0]),
)
def test_static_hold_is_shown_only_by_holds_let_go_where_the_truck_could_stand(
    stops: list[int], moved_km: float
) -> None:
    d = GpsLost()
    frozen_lost(d, trip(stops, moved_while_held_km=moved_km))
    # A stop is a repeat every 5 min; the first fix driving off repeats it too where the truck
    # is let go from where it stood (every stop but a first one let go further on).
    repeats = [-(-m // 5) + (1 if i or not moved_km else 0) for i, m in enumerate(stops)]
    holds = sum(1 for n in repeats if n >= 3)
    first_far = moved_km > 10 and repeats[0] >= 3
    assert d.holds_fix == (not first_far and holds >= HOLD_SHOWN_AFTER)


def test_a_fix_let_go_after_a_gap_in_the_readings_says_nothing() -> None:
    # Parked at an airport, then no reading for a 6-hour flight: the first fix after landing
    # is 5,000 km on, further than a truck could drive, and tells nothing of the receiver.
    d = GpsLost()
    readings = park(0, 60, 4.46)
    readings += drive(60 + 360, 30, 4.46 + 5000 * KM)
    frozen_lost(d, readings)
    assert d._holds == 0
    frozen_lost(d, trip([15, 20], t0=600))
    assert d.holds_fix


def test_a_stop_of_a_tracker_shown_to_hold_its_fix_does_not_say_the_gps_may_be_frozen() -> None:

    def stop_summaries(engine: Engine, readings: list[Reading]) -> list[str]:
        events = [e for r in readings for e in engine.process(r, now_ms=r.ts_ms)]
        return [e.summary for e in events if e.kind == "unscheduled_stop" and e.event == "open"]

    # Parked 45 min on one repeated fix before anything is known of the receiver: it may be
    # frozen, and the stop says so.
    [first] = stop_summaries(build_engine([ROUTED], lateness_ms=0), trip([45]))
    assert "the GPS may be frozen" in first
    # After two short holds let go where the truck stood, the same stop is a parked truck
    # (each short stop opened while the receiver had not yet shown it).
    summaries = stop_summaries(build_engine([ROUTED], lateness_ms=0), trip([15, 20, 45]))
    assert ["GPS may be frozen" in s for s in summaries] == [True, True, False]
    # So it stays after a restart.
    engine = build_engine([ROUTED], lateness_ms=0)
    readings = trip([15, 20, 45])
    stop_summaries(engine, readings[:30])
    restarted = build_engine([ROUTED], lateness_ms=0)
    restarted.restore(engine.snapshot())
    assert all("GPS may be frozen" not in s for s in stop_summaries(restarted, readings[30:]))


def test_a_long_hold_in_a_late_upload_is_judged_with_what_the_live_detector_learnt() -> None:
    # Two short holds live, then out of coverage for a 45-min rest and some driving, whose
    # readings are uploaded when coverage comes back.
    readings = trip([15, 20, 45])
    rest_start = 60 + 15 + 60 + 20 + 60
    gap = [r for r in readings if (rest_start - 10) * MIN <= r.ts_ms < (rest_start + 80) * MIN]
    live = [r for r in readings if r not in gap]

    def lost_in_upload(readings_live: list[Reading]) -> list[str]:
        engine = build_engine([ROUTED], lateness_ms=0)
        events = [e for r in readings_live for e in engine.process(r, now_ms=r.ts_ms)]
        upload_at = readings_live[-1].ts_ms + MIN
        events += [e for r in gap for e in engine.process(r, now_ms=upload_at)]
        events += engine.advance(upload_at + 5 * MIN)
        return [e.summary for e in events if e.kind == "gps_lost" and e.event == "open"]

    before_gap = [r for r in live if r.ts_ms < gap[0].ts_ms]
    after_gap = [r for r in live if r.ts_ms > gap[-1].ts_ms]
    # The live detector had shown static hold before the gap: the upload's rest is a parked
    # truck, not a frozen receiver.
    assert lost_in_upload([*before_gap, after_gap[0]]) == []
    # Without those two holds on record, the same upload calls it frozen.
    no_holds = [r for r in before_gap if r.ts_ms < 60 * MIN] + [after_gap[0]]
    assert len(lost_in_upload(no_holds)) == 1
