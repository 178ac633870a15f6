"""GPS trust: jumps no vehicle could make, far-off fixes after on-route ones, lost and frozen fixes."""

import math

import pytest
from detector_checks import assert_resumes_after_pickle, feed
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.gps_implausible import GpsImplausible, make_gps_implausible
from detectors.gps_lost import GpsLost, make_gps_lost
from detectors.profiles import parse_shipment
from detectors.reading import Reading

MIN = 60_000
T0 = 1_763_800_000_000  # 2025-11-22T08:26:40Z
KM = 1 / 111.195  # degrees of latitude (and of longitude on the equator) in one kilometre
ROUTE = [(33.0, 0.0), (35.0, 0.0)]  # 222 km along the equator


def shipment(**fields):
    return parse_shipment(
        {"shipment_id": "S1", "device_id": "t1", "profile": "customs_transit", **fields}
    )


def at(minute, lon, lat=0.0):
    return Reading("t1", T0 + int(minute * MIN), lat=lat, lon=lon)


def no_fix(minute):
    return Reading("t1", T0 + int(minute * MIN), temp_c=4.0)


def drive(n, km_per_5min=6.0, start_lon=33.0, start_min=0):
    """n fixes every 5 min eastward along the equator, 72 km/h by default."""
    return [at(start_min + 5 * i, start_lon + i * km_per_5min * KM) for i in range(n)]


# --- GpsImplausible ----------------------------------------------------------------------------


def test_driving_at_a_plausible_speed_says_nothing():
    assert feed(GpsImplausible(max_speed_kmh=100), drive(30, km_per_5min=12)) == []


def test_a_jump_faster_than_one_and_a_half_times_the_top_speed_is_implausible():
    d = GpsImplausible(max_speed_kmh=100)  # limit 150 km/h: 12.5 km in 5 min
    readings = [at(0, 33.0), at(5, 33.0 + 12 * KM), at(10, 33.0 + 26 * KM)]
    [(i, c)] = feed(d, readings)
    assert (i, c.kind, c.active, c.severity) == (2, "gps_implausible", True, "warning")
    assert (
        c.summary == "position jumped 14 km in 5 min (168 km/h, limit 150 km/h) to 0.0000, 33.2338"
    )
    ev = c.evidence
    assert ev["last_plausible"] == {"lat": 0.0, "lon": 33.0 + 12 * KM, "at": "2025-11-22T08:31:40Z"}
    assert (ev["jump_m"], ev["interval_s"], ev["speed_kmh"], ev["limit_kmh"]) == (
        14000,
        300,
        168,
        150,
    )
    assert c.value == 168


def test_short_jumps_are_noise_however_fast_they_look():
    d = GpsImplausible(max_speed_kmh=100)
    readings = [
        Reading("t1", T0 + i * 10_000, lat=0.0, lon=33.0 + (i % 2) * 0.9 * KM) for i in range(20)
    ]
    assert feed(d, readings) == [], "900 m in 10 s is 324 km/h, but under the 1 km floor"


def test_a_jump_with_no_time_between_the_fixes_is_implausible():
    d = GpsImplausible()
    [(_, c)] = feed(d, [at(0, 33.0), at(0, 33.0 + 5 * KM)])
    assert "position jumped 5 km in 0 s (no time passed" in c.summary


def test_a_spoofed_run_stays_flagged_and_the_third_fix_in_an_hour_is_critical():
    d = GpsImplausible(max_speed_kmh=100)
    spoof = 34.5  # 167 km east: each spoofed fix is judged against the last real one
    readings = [
        at(0, 33.0),
        at(5, spoof),
        at(10, spoof + 0.01),
        at(15, spoof + 0.02),
        at(20, spoof),
    ]
    events = feed(d, readings)
    assert [(i, c.severity) for i, c in events] == [(1, "warning"), (3, "critical")]
    assert events[1][1].summary.startswith("third implausible fix within 60 min: position jumped")
    assert events[1][1].evidence["last_plausible"]["at"] == "2025-11-22T08:26:40Z"


def test_three_consistent_fixes_after_a_jump_clear_it():
    d = GpsImplausible(max_speed_kmh=100)
    readings = [
        at(0, 33.0),
        at(5, 34.5),
        at(10, 33.01),
        at(15, 33.02),
        at(20, 33.03),
        at(25, 33.04),
    ]
    events = feed(d, readings)
    assert [(i, c.active) for i, c in events] == [(1, True), (4, False)]
    assert (
        events[-1][1].summary
        == "positions plausible again at 0.0000, 33.0300 after 1 implausible fix"
    )


def test_isolated_jumps_more_than_an_hour_apart_stay_warnings():
    d = GpsImplausible(max_speed_kmh=100)
    readings = []
    for k in range(3):  # a jump-and-back every 70 min
        m = 70 * k
        readings += [
            at(m, 33.0),
            at(m + 5, 34.0),
            at(m + 10, 33.0),
            at(m + 15, 33.0),
            at(m + 20, 33.0),
        ]
    events = feed(d, readings)
    assert [c.severity for _, c in events if c.active] == ["warning"] * 3


def test_a_fix_far_off_the_route_right_after_an_on_route_one_is_implausible_even_if_slow():
    d = GpsImplausible(max_speed_kmh=100, route=ROUTE, corridor_m=2000)
    readings = [at(0, 33.5), at(180, 33.5, lat=60 * KM)]  # 60 km north, 3 h later: 20 km/h
    [(i, c)] = feed(d, readings)
    assert (i, c.severity) == (1, "warning")
    assert c.summary.startswith("fix 60 km from the planned route at 0.5396, 33.5000")
    assert c.evidence["route_distance_m"] == pytest.approx(60_000, abs=5)


def test_far_off_the_route_is_plausible_when_the_previous_fix_was_already_off_it():
    d = GpsImplausible(max_speed_kmh=100, route=ROUTE, corridor_m=2000)
    readings = [at(0, 33.5, lat=10 * KM), at(180, 33.5, lat=60 * KM)]
    assert feed(d, readings) == [], "a long detour is route_deviation's business"


def test_the_factory_takes_the_profiles_top_speed_and_the_route():
    d = make_gps_implausible(
        shipment(
            route={"type": "LineString", "coordinates": [[33.0, 0.0], [35.0, 0.0]]}, corridor_m=500
        )
    )
    assert d.limit_kmh == 240 and d.points == ((33.0, 0.0), (35.0, 0.0)) and d.corridor_m == 500


@settings(max_examples=60, deadline=None)
@given(st.floats(10.0, 160.0), st.sampled_from([10, 60, 300, 900]), st.floats(-0.9, 0.9))
def test_a_shipment_on_its_route_at_a_plausible_speed_is_never_implausible(speed, step_s, off_km):
    d = make_gps_implausible(
        shipment(route={"type": "LineString", "coordinates": [[33.0, 0.0], [35.0, 0.0]]})
    )
    step_deg = speed / 3.6 * step_s / 1000 * KM
    n = min(300, int(2.0 / step_deg))
    readings = [
        Reading(
            "t1", T0 + i * step_s * 1000, lat=off_km * KM * math.sin(i), lon=33.0 + i * step_deg
        )
        for i in range(n)
    ]
    assert feed(d, readings) == []


# --- GpsLost -----------------------------------------------------------------------------------


def test_readings_without_a_fix_for_15_minutes_mean_the_gps_is_lost():
    d = GpsLost(no_fix_min=15)
    readings = [at(0, 33.0), no_fix(5), no_fix(10), no_fix(15), no_fix(20), no_fix(25)]
    [(i, c)] = feed(d, readings)
    assert (i, c.kind, c.active, c.severity) == (4, "gps_lost", True, "warning")
    assert c.summary == (
        "no GPS fix for 15 min (4 readings without a position); last fix 0.0000, 33.0000"
        " at 2025-11-22T08:26:40Z"
    )
    assert c.evidence == {
        "mode": "no_fix",
        "last_fix": {"lat": 0.0, "lon": 33.0, "at": "2025-11-22T08:26:40Z"},
        "since": "2025-11-22T08:31:40Z",
        "count": 4,
        "minutes": 15.0,
    }


def test_a_fix_now_and_then_keeps_the_gps_alive():
    readings = [no_fix(m) if m % 15 else at(m, 33.0 + m * KM) for m in range(0, 120, 5)]
    assert feed(GpsLost(no_fix_min=15), readings) == []


def test_a_bit_identical_position_for_30_minutes_is_a_frozen_receiver():
    # Six fixes five minutes apart stand for 30 minutes of the tracker's time.
    d = GpsLost(frozen_min=30)
    readings = [at(m, 33.123456, 0.654321) for m in range(0, 45, 5)]
    [(i, c)] = feed(d, readings)
    assert (i, c.evidence["mode"], c.evidence["count"]) == (5, "frozen", 6)
    assert c.summary == "GPS position frozen at 0.6543, 33.1235 for 30 min (6 identical fixes)"


@pytest.mark.parametrize("interval_min", [12, 15])
def test_a_fix_frozen_through_three_readings_of_a_slow_tracker_is_frozen(interval_min):
    # A frozen spell of 45 min holds three readings at most of a tracker reporting every 12
    # or 15 min, a few seconds short of 30 min from the first to the last: in the tracker's
    # time, counted by what each reading stands for, the fix has not moved for over 30 min.
    jitter_s = [0, 2, -6, 3]
    drive_up = [at(-interval_min * (k + 1), 33.0 - (k + 1) * KM) for k in range(3)][::-1]
    frozen = [at(interval_min * k + jitter_s[k] / 60, 33.123456, 0.654321) for k in range(3)]
    [(i, c)] = feed(GpsLost(frozen_min=30), drive_up + frozen)
    assert (i, c.evidence["mode"], c.evidence["count"]) == (5, "frozen", 3)


@pytest.mark.parametrize("short_s", [0.3, 5, 17])
def test_three_fixes_of_a_10_minute_tracker_a_few_seconds_short_of_30_minutes_are_frozen(short_s):
    # Every 10 min, the frozen fixes stamped a little early: 20 min from the first to the
    # last, plus the median gap, falls short of 30 min by a fraction of a second to 17 s.
    # Timestamps jitter that much; the fix has stood for 30 min of the tracker's time.
    drive_up = [at(10 * k, 33.0 + k * KM) for k in range(-4, 0)]
    stamps = [0.0, 10.0, 20.0 - short_s / 60]
    frozen = [at(m, 33.123456, 0.654321) for m in stamps]
    [(i, c)] = feed(GpsLost(frozen_min=30), drive_up + frozen)
    assert (i, c.evidence["mode"], c.evidence["count"]) == (6, "frozen", 3)


def test_three_fixes_of_a_10_minute_tracker_half_a_minute_short_wait_for_the_fourth():
    # 19.5 min from the first to the last of three fixes, plus 10: a reading's worth short of
    # 30 min by 30 s, more than timestamps jitter; the fourth fix, 10 min on, is frozen.
    drive_up = [at(10 * k, 33.0 + k * KM) for k in range(-4, 0)]
    frozen = [at(m, 33.123456, 0.654321) for m in (0.0, 10.0, 19.5, 29.5)]
    [(i, c)] = feed(GpsLost(frozen_min=30), drive_up + frozen)
    assert (i, c.evidence["count"]) == (7, 4)


@pytest.mark.parametrize("interval_min", [1, 5, 15])
def test_a_fix_repeated_once_is_not_frozen_at_any_interval(interval_min):
    # One failed fix resent once; then the receiver moves on.
    readings = [at(interval_min * k, 33.0 + (k // 2) * KM) for k in range(40)]
    assert feed(GpsLost(frozen_min=30), readings) == []


def test_a_parked_shipment_whose_fixes_jitter_is_not_frozen():
    readings = [at(m, 33.123456 + (m % 3) * 1e-6, 0.654321) for m in range(0, 240, 5)]
    assert feed(GpsLost(frozen_min=30), readings) == []


def test_it_clears_on_the_next_fresh_fix_but_not_on_a_repeat_of_the_old_one():
    d = GpsLost(no_fix_min=15)
    readings = [at(0, 33.0), *[no_fix(m) for m in range(5, 25, 5)], at(25, 33.0), at(30, 33.001)]
    events = feed(d, readings)
    assert [(i, c.active) for i, c in events] == [(4, True), (6, False)]
    assert events[-1][1].summary == "GPS fixes changing again at 0.0000, 33.0010"


def test_an_unarmed_detector_waits_for_a_first_fix_before_missing_one():
    readings = [no_fix(m) for m in range(0, 60, 5)]
    assert feed(GpsLost(armed=False), readings) == []
    events = feed(GpsLost(armed=False), [at(0, 33.0), *readings[1:]])
    assert [i for i, _ in events] == [4]


def test_the_factory_arms_it_when_the_shipment_has_places_to_watch():
    assert make_gps_lost(shipment()).armed is False
    route = {"type": "LineString", "coordinates": [[33.0, 0.0], [35.0, 0.0]]}
    assert make_gps_lost(shipment(route=route)).armed is True


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1e-4, 1e-4), st.floats(-1e-4, 1e-4)), min_size=1, max_size=100)
)
def test_positions_that_keep_changing_never_lose_the_gps(jitter):
    readings = [at(5 * i, 33.0 + dx + i * 1e-9, dy) for i, (dx, dy) in enumerate(jitter)]
    assert feed(GpsLost(), readings) == []


# --- both -------------------------------------------------------------------------------------

readings_anywhere = st.lists(
    st.tuples(
        st.integers(0, 30 * MIN),
        st.one_of(st.none(), st.floats(-0.5, 0.5), st.floats(-90, 90), st.just(math.nan)),
        st.one_of(st.none(), st.floats(32.9, 35.1), st.floats(-180, 180), st.just(math.nan)),
    ),
    max_size=80,
)


@settings(max_examples=100, deadline=None)
@given(readings_anywhere, st.integers(0, 80))
def test_any_readings_never_crash_and_a_pickled_detector_carries_on_identically(raw, cut):
    ts, readings = T0, []
    for dt, lat, lon in raw:
        ts += dt
        readings.append(Reading("t1", ts, lat=lat, lon=lon))
    for make in (lambda: GpsImplausible(route=ROUTE), GpsLost):
        assert_resumes_after_pickle(make, readings, cut)


def test_a_flight_along_the_planned_route_is_not_a_gps_fault():
    # Brussels to Lagos by air: 4,900 km in 6.4 h between two on-route fixes.
    route = [(4.48, 50.90), (3.32, 6.58)]
    d = GpsImplausible(max_speed_kmh=160, route=route)
    assert d.update(Reading("t", 0, lat=50.90, lon=4.48)) is None
    assert d.update(Reading("t", int(6.4 * 3_600_000), lat=6.58, lon=3.32)) is None
    [c] = d.update(Reading("t", int(6.5 * 3_600_000), lat=7.5, lon=3.9))
    assert c.active and "jumped" in c.summary, "a jump off the route is still implausible"


@pytest.mark.parametrize(
    ("minutes", "implausible"),
    [(5, True), (2, True), (6.5, False), (15, False)],
)
def test_on_the_route_a_jump_faster_than_any_airliner_is_implausible(minutes, implausible):
    # 140 km ahead along the road (the border post, say): 1,680 km/h in 5 min, no aircraft's
    # pace; in 6.5 min or more it is within an airliner's 1,300 km/h and stands for a flight.
    d = GpsImplausible(max_speed_kmh=160, route=ROUTE)
    assert d.update(at(0, 33.2)) is None
    conds = d.update(at(minutes, 33.2 + 140 * KM))
    assert bool(conds and conds[0].active) is implausible


def test_a_frozen_fix_then_the_live_one_tens_of_km_on_along_the_route_is_no_leap():
    # Jammed: the receiver repeats its last fix, bit for bit, for 45 min while the truck
    # drives on along its route at 72 km/h; the first live fix, a minute after the last
    # repeat, is 55 km on: a leap from the repeat, but not from when the fix froze.
    d = GpsImplausible(max_speed_kmh=100, route=ROUTE)
    frozen = [at(m, 33.0) for m in range(0, 46, 5)] + [at(45, 33.0)]
    live = [at(46, 33.0 + 55 * KM), at(51, 33.0 + 61 * KM)]
    assert feed(d, frozen + live) == []


def test_a_fix_repeated_bit_for_bit_does_not_make_a_later_spoof_plausible():
    # Parked with a receiver that holds its fix (static navigation): a spoof 300 km away
    # 5 min after the last repeat is a leap, however long the fix was held.
    d = GpsImplausible(max_speed_kmh=100)
    [(i, c)] = feed(d, [at(m, 33.0) for m in range(0, 121, 5)] + [at(125, 33.0 + 300 * KM)])
    assert i == 25 and c.active
