"""Resolves on devices that report seldom: they rest on the device's readings, not on the clock.

A cold-store logger reporting every 15 minutes against a 10-minute quiet period: one reading
back in range between readings out of it must not end the alert, and a resolve must never be
stamped with the time of a reading that holds the condition again.
"""

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.alerts import AlertEvent, Condition
from detectors.lifecycle import AlertBook, KindPolicy, _SharedTrack, _Track
from detectors.profiles import Shipment, parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000
COLD = 2.1  # in range of the chilled room, away from the 0.2 °C clear margin
WARM = 4.5  # over the 4 °C limit


def room(interval_min: int) -> Shipment:
    return parse_shipment(
        {
            "shipment_id": "ROOM-C8",
            "device_id": "chl-8",
            "profile": "chilled_reefer",
            "expected_interval_s": interval_min * 60,
        }
    )


def excursions(temps: list[float], interval_min: int) -> list[AlertEvent]:
    engine = build_engine([room(interval_min)])
    events: list[AlertEvent] = []
    for k, t in enumerate(temps):
        events += engine.process(Reading("chl-8", k * interval_min * MIN, temp_c=t))
    events += engine.flush()
    return [e for e in events if e.kind == "temp_excursion"]


def hovering() -> list[float]:
    """The cold-store pattern: 6 h in range, 12 h over the limit with every 4th reading back."""
    out = [4.4, 4.6, 4.5, 3.7]
    return [COLD] * 24 + [out[k % 4] for k in range(48)] + [COLD] * 8


def test_a_room_hovering_over_its_limit_at_15_minute_readings_keeps_one_alert() -> None:
    events = excursions(hovering(), 15)
    assert [e.event for e in events if e.event != "update"] == ["open", "resolve"]
    assert len({e.alert_id for e in events}) == 1
    # The last reading out is at 17:30 and 17:45 is back at 3.7 °C; 18:00 (in range) ends the
    # quiet period and 18:15 confirms it: the resolve is stamped 18:00, not at a reading out.
    assert events[-1].at_ms == (24 + 48) * 15 * MIN


def test_a_real_return_into_range_at_15_minute_readings_resolves_at_the_next_reading() -> None:
    # Out for an hour, one reading back in range, out for 45 min more, then back for good.
    temps = [COLD] * 8 + [WARM] * 4 + [COLD] + [WARM] * 3 + [COLD] * 4
    events = excursions(temps, 15)
    assert [e.event for e in events if e.event != "update"] == ["open", "resolve"]
    cleared_at = 16 * 15 * MIN
    assert events[-1].at_ms == cleared_at + 15 * MIN, "the next reading in range, 15 min on"


def book(interval_min: int, resolve_after_min: int) -> AlertBook:
    policy = KindPolicy(resolve_after_ms=resolve_after_min * MIN)
    return AlertBook("chl-8", "ROOM-C8", {"door_open": policy}, interval_ms=interval_min * MIN)


def cond(at_ms: int, active: bool) -> Condition:
    return Condition("door_open", active, at_ms, "warning", "door")


def test_a_one_minute_tracker_resolves_once_the_quiet_period_has_passed_as_before() -> None:
    b = book(1, 10)
    [opened] = b.apply(cond(0, True))
    assert b.apply(cond(5 * MIN, False)) == []
    for m in range(5, 15):
        assert b.advance(m * MIN, reading=True) == [], m
    [resolved] = b.advance(15 * MIN, reading=True)
    assert (resolved.event, resolved.at_ms, resolved.alert_id) == (
        "resolve",
        15 * MIN,
        opened.alert_id,
    )
    # Through the engine, a 1-minute logger's excursion resolves 10 min after its return.
    temps = [COLD] * 10 + [WARM] * 8 + [COLD] * 15
    events = excursions(temps, 1)
    assert [e.event for e in events if e.event != "update"] == ["open", "resolve"]
    assert events[-1].at_ms == (18 + 10) * MIN


def test_a_device_silent_after_its_return_gets_its_alert_resolved_by_the_clock() -> None:
    b = book(15, 10)
    b.apply(cond(0, True))
    b.apply(cond(30 * MIN, False))
    b.advance(30 * MIN, reading=True)
    assert b.advance(45 * MIN) == [], "a reading may still come: the quiet period is not enough"
    assert b.advance(59 * MIN) == []
    [resolved] = b.advance(60 * MIN)
    assert (resolved.event, resolved.at_ms) == ("resolve", 60 * MIN), "two intervals of silence"


def test_a_snapshot_from_before_the_interval_was_known_still_loads() -> None:
    old_track = {
        name: getattr(_Track(), name)
        for name in _Track.__dataclass_fields__
        if name not in {"read_ms", "quiet_ms"}
    }
    track = _Track.__new__(_Track)
    track.__setstate__((None, old_track))
    shared = _SharedTrack.__new__(_SharedTrack)
    shared.__setstate__((None, {**old_track, "holders": 2}))
    old_book = AlertBook.__new__(AlertBook)
    old_book.__setstate__(
        (None, {"device_id": "d", "shipment_id": None, "policies": {}, "tracks": {}})
    )
    clearing = _Track.__new__(_Track)
    clearing.__setstate__((None, {**old_track, "clear_since_ms": 30 * MIN}))
    assert (track.read_ms, track.quiet_ms, shared.holders) == (0, None, 2)
    assert (clearing.read_ms, clearing.quiet_ms) == (30 * MIN, None)
    assert old_book.interval_ms == 0, "a book from before resolves on the quiet period alone"
    again = pickle.loads(pickle.dumps(book(15, 10)))
    assert again.interval_ms == 15 * MIN


@settings(max_examples=300, deadline=None)
@given(
    interval_min=st.integers(1, 15),
    quiet_min=st.integers(1, 30),
    outs=st.lists(st.booleans(), min_size=1, max_size=40),
)
def test_no_resolve_is_stamped_where_the_condition_holds_and_events_alternate(
    interval_min: int, quiet_min: int, outs: list[bool]
) -> None:
    """A detector that reports trouble from its second reading out, as an excursion does.

    For every reporting interval whose two intervals outlast the quiet period: the alert's
    events alternate open/resolve, no resolve is stamped at a reading of a run the detector
    reports, and an alert whose device then reports in range long enough is resolved.
    """
    quiet_min = min(quiet_min, 2 * interval_min - 1)
    b = book(interval_min, quiet_min)
    step = interval_min * MIN
    events: list[AlertEvent] = []
    reported: set[int] = set()  # readings of runs the detector reported, their start included
    run: list[int] = []
    was_open = False
    for k, out in enumerate([*outs, False, False, False, False]):
        now = k * step
        if out:
            run.append(now)
            if len(run) >= 2:
                reported.update(run)
                was_open = True
                events += b.apply(cond(now, True))
        else:
            run = []
            if was_open:
                was_open = False
                events += b.apply(cond(now, False))
        events += b.advance(now, reading=True)
    kinds = [e.event for e in events if e.event != "update"]
    assert kinds == ["open", "resolve"] * (len(kinds) // 2), "opens and resolves alternate"
    assert all(e.at_ms not in reported for e in events if e.event == "resolve")
    assert b.open_alerts() == {}, "four readings in range after the last trouble resolve it"
