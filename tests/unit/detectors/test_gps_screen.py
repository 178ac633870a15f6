"""A fix judged implausible is no position: spoofing raises `gps_implausible` and nothing else.

The detectors after `gps_implausible` in the registry (route, stops, zones, the seal's and the
door's place) get the reading without its position when its fix was judged implausible, so a
spoofed track neither takes a shipment off its route nor puts it at an authorised stop.
"""

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.gps_implausible import GpsImplausible, make_gps_implausible
from detectors.profiles import parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine

MIN = 60_000
T0 = 1_763_800_000_000  # 2025-11-22T08:26:40Z
KM = 1 / 111.195  # degrees of latitude (and of longitude on the equator) in one kilometre
ROUTE = [(33.0, 0.0), (36.0, 0.0)]  # 333 km along the equator
STOP = {"name": "Border post", "lon": 35.5, "lat": 0.0, "radius_m": 500}
#: A bonded depot 11 km off the road.
DEPOT = {"name": "Bonded depot", "lon": 35.5, "lat": 0.1, "radius_m": 500}
SHIPMENT = parse_shipment(
    {
        "shipment_id": "S1",
        "device_id": "t1",
        "profile": "customs_transit",
        "route": {"type": "LineString", "coordinates": [list(p) for p in ROUTE]},
        "authorised_stops": [STOP, DEPOT],
    }
)


def on_route(minute: int, **channels: object) -> Reading:
    """Where the truck is at `minute`: eastward along the route at 72 km/h from 33.0 E."""
    lon = 33.0 + minute / 5 * 6.0 * KM
    return Reading("t1", T0 + minute * MIN, lat=0.0, lon=lon, seal="closed", **channels)


def spoofed(minute: int, lon: float, lat: float, **channels: object) -> Reading:
    return on_route(minute, **channels)._replace(lon=lon, lat=lat)


def opened(readings: list[Reading], engine=None) -> list[str]:
    """The kinds of the alerts the readings open, in order."""
    engine = engine or build_engine([SHIPMENT])
    events = []
    for r in readings:
        events += engine.process(r, r.ts_ms)
    events += engine.flush()
    return [e.kind for e in events if e.event == "open"]


def spoofing_trip() -> list[Reading]:
    """An hour on the route, half an hour of a spoofed track 300 and then 450 km away (moving
    with the truck, as a spoofer's replay does), and an hour on the route again."""
    readings = [on_route(m) for m in range(0, 60, 5)]
    readings += [spoofed(m, 33.0 + m / 5 * 6 * KM, 300 * KM) for m in range(60, 75, 5)]
    readings += [spoofed(m, 34.0 + m / 5 * 6 * KM, -450 * KM) for m in range(75, 90, 5)]
    return readings + [on_route(m) for m in range(90, 150, 5)]


def test_a_spoofed_track_far_off_the_route_is_gps_implausible_and_no_route_deviation():
    assert opened(spoofing_trip()) == ["gps_implausible"]


def test_a_real_diversion_at_road_speed_is_a_route_deviation_and_plausible():
    readings = [on_route(m) for m in range(0, 60, 5)]
    # Off the road northwards at 60 km/h: 5 km every 5 minutes, 20 km off after 20 min.
    readings += [spoofed(m, on_route(55).lon, (m - 55) * KM) for m in range(60, 85, 5)]
    assert opened(readings) == ["route_deviation"]


@pytest.mark.parametrize(
    "place",
    [
        pytest.param(DEPOT, id="a depot off the road"),
        # On the route, 130 km ahead in 5 min: faster than any aircraft, so no flight.
        pytest.param(STOP, id="a border post on the route ahead"),
    ],
)
def test_a_seal_opened_where_a_spoofed_fix_places_an_authorised_stop_is_a_breach(place):
    # The truck is 130 km short of the place; the tracker claims to be at it.
    readings = [on_route(m) for m in range(0, 60, 5)]
    readings.append(spoofed(60, lon=place["lon"], lat=place["lat"])._replace(seal="open"))
    kinds = opened(readings)
    assert kinds.count("seal_breach") == 1 and "gps_implausible" in kinds


def test_a_door_opened_where_a_spoofed_fix_places_the_depot_is_reported_at_once():
    at_stop = {"lon": DEPOT["lon"], "lat": DEPOT["lat"]}
    readings = [on_route(m) for m in range(0, 60, 5)]
    readings.append(spoofed(60, **at_stop, door="open"))
    assert "door_open" in opened(readings)


def test_the_seal_and_the_door_at_the_real_stop_are_no_alert():
    """The screen takes only implausible fixes: the truck that really reaches the post opens
    its seal and door there as it may."""
    minute_at_stop = round((STOP["lon"] - 33.0) / (6.0 * KM) * 5)
    readings = [on_route(m) for m in range(0, minute_at_stop, 5)]
    here = {"lon": STOP["lon"], "lat": 0.0}
    readings += [
        spoofed(minute_at_stop + m, **here, door="open")._replace(seal="open") for m in (0, 5)
    ]
    readings += [spoofed(minute_at_stop + 10, **here, door="closed")]
    assert opened(readings) == []


def test_an_engine_restored_from_a_snapshot_screens_as_the_one_that_wrote_it():
    readings = spoofing_trip()
    first = build_engine([SHIPMENT])
    for r in readings[:10]:
        first.process(r, r.ts_ms)
    second = build_engine([SHIPMENT])
    second.restore(first.snapshot())
    assert opened(readings[10:], engine=second) == ["gps_implausible"]


def test_only_the_reading_just_judged_implausible_loses_its_position():
    d = GpsImplausible(max_speed_kmh=100, route=ROUTE)
    good, jump, back = on_route(0), spoofed(5, 33.0, 300 * KM), on_route(10)
    d.update(good)
    assert d.screen(good) is good
    d.update(jump)
    assert (d.screen(jump).lat, d.screen(jump).lon, d.screen(jump).seal) == (None, None, "closed")
    d.update(back)
    assert d.screen(back) is back


def test_a_detector_pickled_before_fixes_were_screened_loads_and_screens_nothing_yet():
    d = GpsImplausible(max_speed_kmh=100, route=ROUTE)
    d.update(on_route(0))
    d.update(spoofed(5, 33.0, 300 * KM))
    # Neither whether the last fix was bad nor when the reference position was first sent.
    kept = [name for name in GpsImplausible.__slots__ if name not in ("_bad", "_fts")]
    old = GpsImplausible.__new__(GpsImplausible)
    old.__setstate__((None, {name: getattr(d, name) for name in kept}))
    r = on_route(10)
    assert old.screen(r) is r
    assert old._fts == old._rts
    assert pickle.loads(pickle.dumps(old)).screen(r) is r


fixes = st.lists(
    st.tuples(
        st.integers(1, 15),  # minutes since the fix before
        st.floats(-60.0, 400.0),  # km along the route from its start
        st.one_of(st.floats(-8.0, 8.0), st.floats(-600.0, 600.0)),  # km off it
    ),
    min_size=2,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(fixes)
def test_every_route_deviation_rests_on_a_fix_judged_plausible(track):
    minute, readings = 0, []
    for gap, along_km, off_km in track:
        minute += gap
        readings.append(spoofed(minute, 33.0 + along_km * KM, off_km * KM))
    judge = make_gps_implausible(SHIPMENT)
    plausible = set()
    for r in readings:
        judge.update(r)
        if judge.screen(r) is r:
            plausible.add(r.ts_ms)
    engine = build_engine([SHIPMENT])
    events = []
    for r in readings:
        events += engine.process(r, r.ts_ms)
    events += engine.flush()
    for e in events:
        if e.kind == "route_deviation" and e.event != "resolve":
            assert e.at_ms in plausible
