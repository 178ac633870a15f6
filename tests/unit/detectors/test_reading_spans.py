"""Durations measured between readings: a span a few seconds short by the stamps counts.

A tracker reads on a schedule, but its timestamps wander by a second or more around it. Every
rule that measures a duration between readings' stamps speaks at the reading the schedule
says, whichever side of the duration the jitter puts it; a span short by more than the 1 %
allowance (`detectors.spans`) waits for the next reading.
"""

import pytest
from detector_checks import feed
from hypothesis import given
from hypothesis import strategies as st

from detectors.door_open import DoorOpen
from detectors.gps_lost import GpsLost
from detectors.profiles import Place
from detectors.reading import Reading
from detectors.route_deviation import RouteDeviation
from detectors.spans import SPAN_SLACK, lasted
from detectors.temperature import TempExcursion
from detectors.unscheduled_stop import UnscheduledStop

MIN = 60_000
T0 = 1_763_800_000_000
ROUTE = [(33.0, 0.0), (34.0, 0.0)]
BORDER = Place("Malaba border", 34.27, 0.63, 500)
AT_BORDER = {"lat": 0.6301, "lon": 34.2702}


def stamps(minutes: list[float], last_short_s: float) -> list[int]:
    """Timestamps on a schedule, the last one stamped `last_short_s` seconds early."""
    out = [T0 + round(m * MIN) for m in minutes]
    out[-1] -= round(last_short_s * 1000)
    return out


@given(
    duration=st.floats(min_value=0.0, max_value=1e9, allow_nan=False),
    share=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
)
def test_a_span_counts_exactly_when_it_is_short_by_no_more_than_the_slack(duration, share):
    span = duration * share
    assert lasted(span, duration) == (span >= duration * (1 - SPAN_SLACK))
    assert lasted(duration, duration)


@pytest.mark.parametrize(("short_s", "opens_at"), [(0.0, 1), (1.5, 1), (2.9, 1), (30.0, 2)])
def test_an_excursion_opens_when_its_second_reading_is_stamped_a_second_or_two_early(
    short_s, opens_at
):
    # Every 5 min with a 5 min minimum: the second reading out is the one, give or take its
    # stamp (before, 1.5 s early waited for the third, 5 minutes later).
    ts = [*stamps([0, 5], short_s), T0 + 10 * MIN]
    readings = [Reading("t", t, temp_c=9.0) for t in ts]
    events = feed(TempExcursion(2.0, 8.0, 120, min_duration_min=5), readings)
    assert events[0][0] == opens_at and events[0][1].active


@pytest.mark.parametrize(("short_s", "critical"), [(2.0, True), (30.0, False)])
def test_an_excursion_becomes_critical_at_30_min_out_give_or_take_a_stamp(short_s, critical):
    ts = stamps([0, 10, 20, 30], short_s)
    events = feed(TempExcursion(2.0, 8.0, 120), [Reading("t", t, temp_c=8.5) for t in ts])
    assert events[-1][0] == 3 and (events[-1][1].severity == "critical") == critical


@pytest.mark.parametrize(("short_s", "opens_at"), [(2.0, 4), (30.0, 5)])
def test_no_fix_for_15_min_is_lost_when_the_last_stamp_is_a_little_early(short_s, opens_at):
    # A fix, then none from the second reading: 15 min without one at the fifth.
    ts = [*stamps([0, 5, 10, 15, 20], short_s), T0 + 25 * MIN]
    readings = [Reading("t", ts[0], lat=0.0, lon=33.0)]
    readings += [Reading("t", t, temp_c=5.0) for t in ts[1:]]
    events = feed(GpsLost(no_fix_min=15), readings)
    assert events[0][0] == opens_at and events[0][1].evidence["mode"] == "no_fix"


@pytest.mark.parametrize(("short_s", "critical_at"), [(2.0, 7), (30.0, 8)])
def test_off_the_route_for_30_min_is_critical_when_its_stamp_is_a_little_early(
    short_s, critical_at
):
    # Off the route from the second fix (2 km corridor, 3.3 km north), every 5 min.
    minutes = [0, 5, 10, 15, 20, 25, 30, 35]
    ts = stamps(minutes, 0.0)
    ts[7] -= round(short_s * 1000)  # the fix 30 min after the first one off
    ts.append(T0 + 40 * MIN)
    readings = [Reading("t", ts[0], lat=0.0, lon=33.2)]
    readings += [Reading("t", t, lat=0.03, lon=33.2 + i * 0.001) for i, t in enumerate(ts[1:])]
    events = feed(RouteDeviation(ROUTE, corridor_m=2000), readings)
    critical = [i for i, c in events if c.severity == "critical"]
    assert critical[0] == critical_at


@pytest.mark.parametrize(("short_s", "opens_at"), [(2.0, 2), (30.0, 3)])
def test_a_stop_of_10_min_opens_at_the_fix_stamped_a_little_early(short_s, opens_at):
    ts = [*stamps([0, 5, 10], short_s), T0 + 15 * MIN]
    # A live receiver: its noise moves every fix by a metre or so.
    readings = [Reading("t", t, lat=0.02 + i * 1e-5, lon=33.5 - i * 1e-5) for i, t in enumerate(ts)]
    events = feed(UnscheduledStop(min_stop_min=10), readings)
    assert events[0][0] == opens_at and events[0][1].active


@pytest.mark.parametrize(("short_s", "opens_at"), [(5.0, 24), (120.0, 25)])
def test_a_door_open_at_a_stop_warns_at_its_allowance_give_or_take_a_stamp(short_s, opens_at):
    ts = [*stamps(list(range(0, 125, 5)), short_s), T0 + 125 * MIN]
    readings = [Reading("t", t, door="open", **AT_BORDER) for t in ts]
    events = feed(DoorOpen([BORDER], max_open_at_stop_min=120), readings)
    assert events[0][0] == opens_at and events[0][1].severity == "warning"
