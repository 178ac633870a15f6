"""Location detectors: off the route, stopped where no stop was planned, inside a restricted zone."""

import itertools
import math
import pickle

import pytest
from detector_checks import feed
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from detectors.alerts import rfc3339
from detectors.door_open import make_door_open
from detectors.geo import Route, nearest_place, place_containing, route_distance_m, walk_route_m
from detectors.profiles import Place, Zone, parse_shipment
from detectors.reading import Reading
from detectors.restricted_zone import RestrictedZone, make_restricted_zone
from detectors.route_deviation import RouteDeviation, make_route_deviation
from detectors.unscheduled_stop import UnscheduledStop, make_unscheduled_stop

MIN = 60_000
T0 = 1_763_800_000_000  # 2025-11-22T08:26:40Z
KM_LAT = 1 / 111.195  # degrees of latitude in one kilometre
ROUTE = [(33.0, 0.0), (34.0, 0.0)]  # along the equator, so 0.01 degree north is 1.1 km off
MALABA = {"name": "Malaba border", "lon": 34.27, "lat": 0.63, "radius_m": 500}


def shipment(**fields):
    return parse_shipment(
        {"shipment_id": "S1", "device_id": "t1", "profile": "customs_transit", **fields}
    )


def fix(i, lon, lat, step_min=5):
    return Reading("t1", T0 + i * step_min * MIN, lat=lat, lon=lon)


def transitions(events):
    """(index, active) where the condition's state changes."""
    out, active = [], False
    for i, c in events:
        if c.active != active:
            out.append((i, c.active))
            active = c.active
    return out


# --- RouteDeviation ----------------------------------------------------------------------------


def test_fixes_inside_the_corridor_say_nothing_and_cost_nothing():
    d = RouteDeviation(ROUTE, corridor_m=2000)
    readings = [fix(i, 33.0 + i * 0.05, lat) for i, lat in enumerate([0, 0.01, -0.015, 0.0179, 0])]
    assert [d.update(r) for r in readings] == [None] * 5


def test_one_stray_fix_outside_is_noise_and_two_in_a_row_are_a_deviation():
    d = RouteDeviation(ROUTE, corridor_m=2000)
    lats = [0.0, 0.03, 0.0, 0.03, 0.03]
    [(i, c)] = feed(d, [fix(i, 33.2 + i * 0.01, lat) for i, lat in enumerate(lats)])
    assert (i, c.kind, c.active, c.severity) == (4, "route_deviation", True, "warning")
    assert "3.3 km off the planned route for 5 min at 0.0300, 33.2400 (corridor 2 km)" in c.summary
    assert c.value == pytest.approx(3336, abs=2)


def test_the_evidence_holds_the_position_distance_corridor_and_first_seen():
    d = RouteDeviation(ROUTE, corridor_m=2000, stops=[Place("Malaba border", 34.27, 0.63, 500)])
    [(_, c)] = feed(d, [fix(0, 33.5, 0.0), fix(1, 33.5, 0.05), fix(2, 33.5, 0.05)])
    ev = c.evidence
    assert (ev["lat"], ev["lon"], ev["corridor_m"]) == (0.05, 33.5, 2000)
    assert ev["distance_m"] == pytest.approx(5560, abs=2)
    assert ev["first_seen"] == "2025-11-22T08:31:40Z" and ev["off_route_min"] == 5.0
    assert ev["nearest_stop"] == "Malaba border" and ev["nearest_stop_m"] > 80_000
    assert "from Malaba border" in c.summary


def test_it_clears_only_back_within_80_percent_of_the_corridor():
    d = RouteDeviation(ROUTE, corridor_m=2000)
    lats = [0.03, 0.03, 0.017, 0.016, 0.0143, 0.0]  # 1.9 km, 1.8 km: inside, not yet clear
    events = feed(d, [fix(i, 33.5, lat) for i, lat in enumerate(lats)])
    assert transitions(events) == [(1, True), (4, False)]
    cleared = events[-1][1]
    assert cleared.summary.startswith("back on the planned route at 0.0143, 33.5000")
    assert cleared.at_ms == T0 + 4 * 5 * MIN


def test_far_off_the_route_is_critical_at_once():
    d = RouteDeviation(ROUTE, corridor_m=2000)
    [(i, c)] = feed(d, [fix(0, 33.5, 0.1), fix(1, 33.5, 0.1)])  # 11 km, over 5 corridors
    assert (i, c.severity) == (1, "critical") and c.summary.startswith("11.1 km off")


def test_off_the_route_for_30_minutes_becomes_critical():
    d = RouteDeviation(ROUTE, corridor_m=2000)
    events = feed(d, [fix(i, 33.5, 0.03) for i in range(9)])
    assert [(i, c.severity) for i, c in events] == [(1, "warning"), (6, "critical")]
    assert "for 30 min" in events[-1][1].summary


def test_a_deviation_first_seen_over_30_minutes_before_it_is_confirmed_is_critical_at_once():
    d = RouteDeviation(ROUTE, corridor_m=2000)
    [(i, c)] = feed(d, [fix(0, 33.5, 0.03), fix(7, 33.5, 0.03)])  # fixes 35 min apart
    assert (i, c.severity) == (1, "critical")


def test_a_deviation_growing_to_twice_the_reported_distance_is_reported_again():
    d = RouteDeviation(ROUTE, corridor_m=2000)
    lats = [0.025, 0.025, 0.03, 0.04, 0.05, 0.06]  # 2.8, 2.8, 3.3, 4.4, 5.6, 6.7 km
    events = feed(d, [fix(i, 33.5, lat, step_min=1) for i, lat in enumerate(lats)])
    assert [(i, c.severity) for i, c in events] == [(1, "warning"), (4, "warning")]
    assert events[1][1].summary.startswith("5.6 km off")


def test_positions_inside_an_authorised_stop_off_the_route_never_count():
    depot = Place("Busia depot", 33.5, 0.03, 800)  # 3.3 km off the route
    d = RouteDeviation(ROUTE, corridor_m=2000, stops=[depot])
    readings = [fix(i, 33.5 + (i % 2) * 0.001, 0.03) for i in range(20)]
    assert feed(d, readings) == []


def test_readings_without_a_position_are_ignored():
    d = RouteDeviation(ROUTE, corridor_m=2000)
    readings = [fix(0, 33.5, 0.03), Reading("t1", T0 + MIN, temp_c=4.0), fix(2, 33.5, 0.03)]
    assert transitions(feed(d, readings)) == [(2, True)], (
        "the no-fix reading does not break the run"
    )


def test_the_factory_needs_a_route_and_takes_the_corridor_and_stops_from_the_shipment():
    assert make_route_deviation(shipment()) is None
    d = make_route_deviation(
        shipment(
            route={"type": "LineString", "coordinates": [[33.0, 0.0], [34.0, 0.0]]},
            corridor_m=500,
            authorised_stops=[MALABA],
        )
    )
    assert d is not None and d.corridor_m == 500 and d.stops[0].name == "Malaba border"


# --- route distance helpers --------------------------------------------------------------------

coords = st.tuples(st.floats(33.0, 33.5), st.floats(-0.25, 0.25))


@given(st.lists(coords, min_size=2, max_size=30), coords, st.integers(0, 40))
def test_the_route_distance_is_geo_routes_and_a_walk_from_anywhere_never_undercuts_it(
    points, p, start
):
    exact, seg = route_distance_m(points, *p)
    assert exact == pytest.approx(Route(points).distance_m(*p), rel=1e-9, abs=1e-6)
    assert 0 <= seg < len(points) - 1
    walked, _ = walk_route_m(points, *p, start)
    assert walked >= exact - 1e-6


def winding_route(n=400):
    """A dense polyline that winds and doubles back, like a routing engine's output."""
    return [
        (
            33.0 + 0.004 * k + 0.01 * math.sin(k / 9),
            0.05 * math.sin(k / 23) + 0.01 * math.cos(k / 4),
        )
        for k in range(n)
    ]


def reference_transitions(points, fixes, corridor_m):
    """The plain definition: exact distance on every fix, two out to open, 80 % to clear."""
    route, active, off, out = Route(points), False, 0, []
    for i, (lon, lat) in enumerate(fixes):
        d = route.distance_m(lon, lat)
        if not active:
            off = off + 1 if d > corridor_m else 0
            if off >= 2:
                active = True
                out.append((i, True))
        elif d <= 0.8 * corridor_m:
            active, off = False, 0
            out.append((i, False))
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 398), st.floats(-6.0, 6.0), st.floats(-6.0, 6.0)),
        min_size=1,
        max_size=60,
    )
)
def test_skipping_and_walking_give_the_same_deviations_as_measuring_every_fix_exactly(steps):
    points = winding_route()
    route = Route(points)
    fixes = []
    for k, east_km, north_km in steps:
        lon, lat = points[k]
        p = (lon + east_km * KM_LAT, lat + north_km * KM_LAT)
        d = route.distance_m(*p)
        assume(abs(d - 2000) > 1 and abs(d - 1600) > 1)  # exact ties are the projection's call
        fixes.append(p)
    d = RouteDeviation(points, corridor_m=2000)
    got = transitions(feed(d, [fix(i, lon, lat, step_min=1) for i, (lon, lat) in enumerate(fixes)]))
    assert got == reference_transitions(points, fixes, 2000)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 398),
    st.lists(st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5)), min_size=1, max_size=80),
)
def test_a_wandering_shipment_deviates_exactly_when_measuring_every_fix_says_so(start, steps):
    points = winding_route()
    route = Route(points)
    lon, lat = points[start]
    fixes = []
    for east_km, north_km in steps:  # small steps, so most fixes are decided by the bound
        lon, lat = lon + east_km * KM_LAT, lat + north_km * KM_LAT
        d = route.distance_m(lon, lat)
        assume(abs(d - 2000) > 1 and abs(d - 1600) > 1)
        fixes.append((lon, lat))
    d = RouteDeviation(points, corridor_m=2000)
    got = transitions(feed(d, [fix(i, lon, lat, step_min=1) for i, (lon, lat) in enumerate(fixes)]))
    assert got == reference_transitions(points, fixes, 2000)


@settings(max_examples=60, deadline=None)
@given(st.floats(20.0, 110.0), st.floats(-0.8, 0.8), st.integers(0, 2**32 - 1))
def test_a_shipment_driving_along_its_route_within_the_corridor_never_deviates(
    speed_kmh, offset_km, seed
):
    points = winding_route()
    d = RouteDeviation(points, corridor_m=2000)
    step_m = speed_kmh / 3.6 * 300
    # Drive along the polyline, one fix every 5 min, offset sideways by up to 0.8 km.
    fixes, carried = [], 0.0
    for a, b in itertools.pairwise(points):
        seg_m = math.dist(a, b) / KM_LAT * 1000
        t = carried
        while t < seg_m:
            f = t / seg_m
            fixes.append((a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]) + offset_km * KM_LAT))
            t += step_m
        carried = t - seg_m
    readings = [fix(i, lon, lat) for i, (lon, lat) in enumerate(fixes)]
    assert feed(d, readings) == []


# --- UnscheduledStop ---------------------------------------------------------------------------

HERE = (33.5, 0.02)  # away from every stop and from the route's ends


def parked(n, at=HERE, jitter_m=0.0, step_min=5, start=0):
    """n fixes every step_min minutes at one place, jitter_m from it in varying directions."""
    out = []
    for i in range(n):
        dlat = jitter_m / 111_195 * math.sin(i * 1.7)
        dlon = jitter_m / 111_195 * math.cos(i * 1.7)
        out.append(fix(start + i, at[0] + dlon, at[1] + dlat, step_min))
    return out


def test_standing_still_20_minutes_away_from_every_stop_is_an_unscheduled_stop():
    d = UnscheduledStop(stops=[Place("Malaba border", 34.27, 0.63, 500)])
    events = feed(d, parked(6, jitter_m=3))  # a live receiver: its noise moves every fix
    assert [(i, c.active, c.severity) for i, c in events] == [(4, True, "warning")]
    c = events[0][1]
    assert c.summary.startswith("stopped for 20 min at 0.0200, 33.5000, ")
    assert "from Malaba border" in c.summary and c.value == 20.0
    ev = c.evidence
    assert (ev["lat"], round(ev["lon"], 4), ev["since"], ev["duration_min"]) == (
        0.02,
        33.5,
        "2025-11-22T08:26:40Z",
        20.0,
    )
    assert ev["nearest_stop"] == "Malaba border" and ev["nearest_stop_m"] > 80_000
    assert (ev["fixes"], ev["identical_fixes"]) == (5, 1)
    assert "frozen" not in c.summary


def test_a_stop_whose_every_fix_repeats_the_first_bit_for_bit_still_opens_and_says_so():
    # A jammed receiver holding its cached fix on a truck that drives on reads as a stop:
    # reported, as a truck stopped there would be, but with what the operator needs to doubt it.
    events = feed(UnscheduledStop(), parked(6))
    assert [(i, c.active) for i, c in events] == [(4, True)]
    c = events[0][1]
    assert c.summary.startswith("stopped for 20 min at 0.0200, 33.5000")
    assert c.summary.endswith(
        "; 5 of its 5 fixes repeat one position to the last digit, as a receiver holding a"
        " cached position sends: the GPS may be frozen (jammed or shielded), not the truck"
    )
    assert (c.evidence["fixes"], c.evidence["identical_fixes"]) == (5, 5)


def test_the_live_fix_after_a_frozen_one_clears_the_stop_and_the_clear_says_so_too():
    far = [fix(9, 33.9, 0.02), fix(10, 33.92, 0.02)]  # the live fix, 44 km on
    events = feed(UnscheduledStop(), parked(9) + far)
    assert transitions(events) == [(4, True), (10, False)]
    cleared = events[-1][1]
    assert "; 9 of its 9 fixes repeat one position" in cleared.summary
    assert (cleared.evidence["fixes"], cleared.evidence["identical_fixes"]) == (9, 9)


def test_the_last_live_fix_before_the_receiver_froze_may_differ():
    # The receiver froze 120 m on from the last live fix, which anchors the stop.
    readings = [fix(0, HERE[0] - 0.001, HERE[1]), *parked(5, start=1)]
    c = feed(UnscheduledStop(), readings)[0][1]
    assert (c.evidence["fixes"], c.evidence["identical_fixes"]) == (5, 4)
    assert "; 4 of its 5 fixes repeat one position" in c.summary


def test_one_fix_that_differs_even_by_the_last_digit_makes_the_stop_a_live_one():
    readings = parked(6)
    readings[2] = fix(2, HERE[0] + 1e-6, HERE[1])  # 11 cm: a live receiver's noise
    c = feed(UnscheduledStop(), readings)[0][1]
    assert "frozen" not in c.summary
    assert (c.evidence["fixes"], c.evidence["identical_fixes"]) == (5, 2)


def test_a_wild_fix_within_a_frozen_stop_is_a_fix_that_differs():
    readings = [*parked(3), fix(3, 33.6, 0.02), *parked(6, start=4)]
    c = feed(UnscheduledStop(), readings)[0][1]
    assert (c.evidence["fixes"], c.evidence["identical_fixes"]) == (5, 1)
    assert "frozen" not in c.summary


def test_two_repeats_are_too_few_to_call_a_fix_frozen():
    d = UnscheduledStop(min_stop_min=5)
    c = feed(d, parked(2, step_min=10))[0][1]
    assert (c.evidence["fixes"], c.evidence["identical_fixes"]) == (2, 2)
    assert "frozen" not in c.summary


def test_a_stop_anchored_at_the_first_fix_of_a_move_counts_its_fixes_from_there():
    readings = parked(3, at=(33.4, 0.02), jitter_m=3) + parked(6, at=HERE, start=3)
    c = feed(UnscheduledStop(), readings)[0][1]
    assert c.evidence["since"] == "2025-11-22T08:41:40Z"
    assert (c.evidence["fixes"], c.evidence["identical_fixes"]) == (5, 5)
    assert "frozen" in c.summary
    once = feed(UnscheduledStop(confirm_fixes=1), readings)[0][1]
    assert (once.evidence["fixes"], once.evidence["identical_fixes"]) == (5, 5)


def test_a_snapshot_from_before_fixes_were_counted_claims_no_frozen_fix_until_the_next_stop():
    d = UnscheduledStop()
    feed(d, parked(3))
    new = ("_fixes", "_run")
    state = {k: getattr(d, k) for k in UnscheduledStop.__slots__ if k not in new}
    old = UnscheduledStop.__new__(UnscheduledStop)
    old.__setstate__((None, state))
    c = feed(old, parked(3, start=3))[0][1]
    assert "frozen" not in c.summary and c.evidence["identical_fixes"] < c.evidence["fixes"]
    away = [fix(6, 33.9, 0.02), fix(7, 33.9, 0.02)]
    later = feed(old, away + parked(6, at=(33.9, 0.02), start=8))
    assert "frozen" in later[-1][1].summary


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 15 * MIN),
            st.sampled_from([HERE, (33.5005, 0.02), (33.6, 0.02), (33.9, 0.03)]),
            st.booleans(),
            st.integers(1, 6),
        ),
        max_size=20,
    )
)
def test_a_stop_said_to_repeat_its_fix_has_no_other_fix_since_its_first(raw):
    # Runs of fixes at a few places, each fix either exact or moved by a live receiver's noise.
    ts, readings = T0, []
    for dt, (lon, lat), exact, count in raw:
        for _ in range(count):
            ts += dt
            noise = 0.0 if exact else 1e-6 * (1 + ts % 7)
            readings.append(Reading("t1", ts, lat=lat + noise, lon=lon))
    for i, c in feed(UnscheduledStop(min_stop_min=5), readings):
        ev = c.evidence
        assert ev["identical_fixes"] <= ev["fixes"]
        if "frozen" not in c.summary:
            continue
        since = next(r.ts_ms for r in readings if rfc3339(r.ts_ms) == ev["since"])
        # A clear comes on the fix that confirms the move; the stop ended before its first fix.
        moved = next((r.ts_ms for r in readings if rfc3339(r.ts_ms) == ev.get("moved_at")), None)
        span = [
            (r.lat, r.lon)
            for r in readings[: i + 1]
            if r.ts_ms >= since and (moved is None or r.ts_ms < moved)
        ]
        assert len(span) >= 4 or (len(span) == 3 and span[0] == span[1])
        assert len(set(span[1:])) == 1 and span[0] == (ev["lat"], ev["lon"])


def test_gps_noise_within_150_m_of_the_first_fix_does_not_break_a_stop():
    events = feed(UnscheduledStop(), parked(6, jitter_m=72))  # fixes up to 144 m apart
    assert [(i, c.active) for i, c in events] == [(4, True)]


def test_one_wild_fix_neither_restarts_nor_ends_a_stop():
    readings = [*parked(3), fix(3, 33.6, 0.02), *parked(6, start=4)]
    events = feed(UnscheduledStop(), readings)
    assert transitions(events) == [(4, True)], "one jump of 11 km is multipath, not a departure"


def test_after_60_minutes_the_stop_is_critical():
    events = feed(UnscheduledStop(), parked(14))
    assert [(i, c.severity) for i, c in events] == [(4, "warning"), (12, "critical")]
    assert events[-1][1].summary.startswith("stopped for 60 min")


def test_moving_more_than_300_m_away_ends_it_and_moving_within_300_m_does_not():
    km = 1000 / 111_195
    moving = [fix(8, 33.5 + 0.25 * km, 0.02), fix(9, 33.5 + 0.28 * km, 0.02)]  # 250 m, 280 m
    away = [fix(10, 33.5 + 0.4 * km, 0.02), fix(11, 33.5 + 0.9 * km, 0.02)]
    events = feed(UnscheduledStop(), parked(8) + moving + away)
    assert transitions(events) == [(4, True), (11, False)]
    cleared = events[-1][1]
    # Last seen standing (within 300 m) at 45 min, first seen away at 50: it left between.
    assert cleared.summary.startswith("moving again after 45-50 min stopped at 0.0200, 33.5000")
    assert cleared.evidence["moved_at"] == "2025-11-22T09:16:40Z"
    assert cleared.evidence["last_stopped_at"] == "2025-11-22T09:11:40Z"
    assert cleared.evidence["duration_min"] == 50.0


def test_a_stop_starting_where_the_move_ended_counts_from_its_first_fix():
    readings = parked(3, at=(33.4, 0.02)) + parked(6, at=HERE, start=3)
    events = feed(UnscheduledStop(), readings)
    assert [(i, c.evidence["since"]) for i, c in events] == [(7, "2025-11-22T08:41:40Z")]


@pytest.mark.parametrize(
    "where, why",
    [
        pytest.param(
            (34.2703, 0.6301), "an authorised stop", id="at an authorised stop it is planned"
        ),
        pytest.param((33.005, 0.002), "origin", id="within 1 km of the origin it is expected"),
        pytest.param(
            (33.996, 0.0), "destination", id="within 1 km of the destination it is expected"
        ),
    ],
)
def test_stopping_where_stops_are_planned_is_not_reported(where, why):
    d = make_unscheduled_stop(
        shipment(
            route={"type": "LineString", "coordinates": [[33.0, 0.0], [34.0, 0.0]]},
            authorised_stops=[MALABA],
        )
    )
    assert feed(d, parked(30, at=where)) == [], why


def test_only_stops_between_departure_and_arrival_count():
    d = make_unscheduled_stop(
        shipment(departure="2025-11-22T09:06:40Z", arrival="2025-11-22T10:06:40Z")
    )
    before_and_during = parked(30)  # from 40 min before departure to past arrival
    after = parked(10, at=(33.6, 0.02), start=31)  # a second stop, after arrival
    events = feed(d, before_and_during + after)
    assert [(i, c.active, c.severity) for i, c in events] == [
        (8, True, "warning"),  # at departure, already 40 min stopped
        (12, True, "critical"),
        (31, False, "critical"),  # it moved on; the stop after arrival is expected
    ]


def test_the_factory_needs_to_know_where_or_when_the_shipment_travels():
    assert make_unscheduled_stop(shipment()) is None
    assert make_unscheduled_stop(shipment(departure="2025-11-22T09:00:00Z")) is None
    with_route = shipment(route={"type": "LineString", "coordinates": [[33.0, 0.0], [34.0, 0.0]]})
    assert make_unscheduled_stop(with_route).terminals == ((33.0, 0.0), (34.0, 0.0))


@settings(max_examples=60, deadline=None)
@given(st.floats(20.0, 110.0), st.integers(1, 10))
def test_a_moving_shipment_never_stops(speed_kmh, step_min):
    step_deg = speed_kmh / 60 * step_min * KM_LAT
    readings = [fix(i, 33.0 + i * step_deg, 0.02, step_min) for i in range(200)]
    assert feed(UnscheduledStop(), readings) == []


# --- RestrictedZone ----------------------------------------------------------------------------

SQUARE = ((33.0, 0.0), (33.1, 0.0), (33.1, 0.1), (33.0, 0.1), (33.0, 0.0))
TRIANGLE = ((33.2, 0.0), (33.3, 0.0), (33.2, 0.1), (33.2, 0.0))


def test_entering_a_zone_is_critical_at_once_and_leaving_clears_it():
    d = RestrictedZone([Zone("Zone A", SQUARE)])
    lons = [32.95, 33.05, 33.06, 33.07, 33.15]
    events = feed(d, [fix(i, lon, 0.05) for i, lon in enumerate(lons)])
    assert [(i, c.active, c.severity) for i, c in events] == [
        (1, True, "critical"),
        (4, False, "critical"),
    ]
    entered, left = events[0][1], events[1][1]
    assert entered.summary == "inside restricted zone Zone A at 0.0500, 33.0500"
    assert entered.evidence == {
        "zone": "Zone A",
        "lat": 0.05,
        "lon": 33.05,
        "entered": "2025-11-22T08:31:40Z",
    }
    assert left.summary == "left restricted zone Zone A after 15 min, now at 0.0500, 33.1500"


def test_inside_a_zones_box_but_outside_its_polygon_is_outside():
    d = RestrictedZone([Zone("Zone T", TRIANGLE)])
    # 33.28, 0.08 is inside the triangle's box but beyond its long side.
    events = feed(d, [fix(0, 33.28, 0.08), fix(1, 33.21, 0.01)])
    assert [(i, c.active) for i, c in events] == [(1, True)]


def test_crossing_from_one_zone_into_another_names_the_new_zone():
    d = RestrictedZone([Zone("Zone A", SQUARE), Zone("Zone T", TRIANGLE)])
    events = feed(d, [fix(0, 33.05, 0.05), fix(1, 33.21, 0.01), fix(2, 33.5, 0.5)])
    assert [(i, c.active, c.evidence["zone"]) for i, c in events] == [
        (0, True, "Zone A"),
        (1, True, "Zone T"),
        (2, False, "Zone T"),
    ]


def test_the_factory_needs_a_zone():
    assert make_restricted_zone(shipment()) is None
    zone = {
        "name": "Zone A",
        "polygon": {"type": "Polygon", "coordinates": [[list(p) for p in SQUARE]]},
    }
    assert make_restricted_zone(shipment(restricted_zones=[zone])).zones[0].name == "Zone A"


# --- all three -------------------------------------------------------------------------------


def all_three():
    return [
        RouteDeviation(ROUTE, corridor_m=2000, stops=[Place("Depot", 33.5, 0.05, 500)]),
        UnscheduledStop(stops=[Place("Depot", 33.5, 0.05, 500)], terminals=ROUTE),
        RestrictedZone([Zone("Zone A", SQUARE), Zone("Zone T", TRIANGLE)]),
    ]


readings_anywhere = st.lists(
    st.builds(
        lambda dt, lat, lon, temp: (dt, lat, lon, temp),
        st.integers(0, 30 * MIN),
        st.one_of(st.none(), st.floats(-0.2, 0.2), st.floats(-90, 90), st.just(math.nan)),
        st.one_of(st.none(), st.floats(32.9, 34.1), st.floats(-180, 180), st.just(math.nan)),
        st.one_of(st.none(), st.floats(-30, 40)),
    ),
    max_size=80,
)


def as_readings(raw):
    ts, out = T0, []
    for dt, lat, lon, temp in raw:
        ts += dt
        out.append(Reading("t1", ts, lat=lat, lon=lon, temp_c=temp))
    return out


@settings(max_examples=100, deadline=None)
@given(readings_anywhere, st.integers(0, 80))
def test_any_readings_never_crash_and_a_pickled_detector_carries_on_identically(raw, cut):
    readings = as_readings(raw)
    for k in range(3):
        straight = feed(all_three()[k], readings)
        interrupted = all_three()[k]
        first = feed(interrupted, readings[:cut])
        resumed = pickle.loads(pickle.dumps(interrupted))
        second = [(i + min(cut, len(readings)), c) for i, c in feed(resumed, readings[cut:])]
        assert first + second == straight
        for _, c in straight:
            assert c.kind in {"route_deviation", "unscheduled_stop", "restricted_zone"}
            assert c.summary and isinstance(c.evidence, dict)


@given(readings_anywhere)
def test_conditions_alternate_open_then_clear_and_the_first_is_always_active(raw):
    for d in all_three():
        events = feed(d, as_readings(raw))
        active = False
        for _, c in events:
            assert c.active or active, "a clear only follows an active condition"
            active = c.active


def test_places_know_what_they_contain_and_what_is_nearest():
    places = [Place("A", 33.0, 0.0, 500), Place("B", 33.1, 0.0, 500)]
    assert place_containing(places, 33.004, 0.0).name == "A"
    assert place_containing(places, 33.005, 0.0) is None, "556 m from A's centre"
    assert nearest_place(places, 33.07, 0.0)[0].name == "B"
    assert nearest_place([], 33.0, 0.0) is None


def test_a_route_across_the_antimeridian_is_measured_the_short_way_round():
    # Shanghai to Los Angeles crosses ±180°: a ship on the line there is on its route.
    route = Route([(179.5, 30.0), (-179.5, 30.0)])
    assert route.distance_m(179.9, 30.0) < 1.0
    assert route.distance_m(-179.9, 30.0) < 1.0
    assert 11_000 < route.distance_m(-179.9, 30.1) < 11_300


def test_the_detectors_of_shipments_on_one_lane_share_the_route_ends_without_changing_them():
    lane = {"type": "LineString", "coordinates": [[33.0, 0.0], [33.5, 0.1], [34.0, 0.0]]}
    a, b = (
        parse_shipment(
            {
                "shipment_id": f"S{i}",
                "device_id": f"d{i}",
                "profile": "customs_transit",
                "route": lane,
            }
        )
        for i in (1, 2)
    )
    stops = [make_unscheduled_stop(a), make_unscheduled_stop(b), make_door_open(a)]
    assert all(s is not None for s in stops)
    assert stops[0].terminals == ((33.0, 0.0), (34.0, 0.0))
    assert stops[0].terminals is stops[1].terminals is stops[2].terminals
    bare = parse_shipment({"shipment_id": "S3", "device_id": "d3", "profile": "customs_transit"})
    assert make_door_open(bare).terminals == ()
