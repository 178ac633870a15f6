"""Roadside places: a stop where other trackers of the engine have stood is held to the
critical threshold before it is reported, and the record survives a restart and a late upload.

Trucks rest where trucks rest. A customs fleet generated elsewhere raised an
`unscheduled_stop` for nearly every fuel stop, rest and queue, because no manifest lists
them; the engine now learns them from its own trackers' stops (`detectors.roadside_places`).
"""

import math
import pickle

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from detectors.alerts import AlertEvent
from detectors.engine import Engine
from detectors.geo import haversine_m
from detectors.profiles import ManifestError, Shipment, parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.roadside_places import DAY_MS, RoadsidePlaces

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_763_800_000_000
#: One degree of longitude at the equator, in km.
KM_PER_DEG = 111.195
ROUTE = {"type": "LineString", "coordinates": [[33.0, 0.0], [36.0, 0.0]]}
#: Where the trucks rest: km 60 of the route, 80 m off it (the service area's lorry park).
REST_LON, REST_LAT = 33.0 + 60 / KM_PER_DEG, 80 / 111_195


def shipment(n: int) -> Shipment:
    return parse_shipment(
        {
            "shipment_id": f"SHP-{n}",
            "device_id": f"trk-{n}",
            "profile": "customs_transit",
            "route": ROUTE,
        }
    )


def trip(
    n: int, start_ms: int, rest_min: int, at_km: float = 60.0, every_min: int = 5
) -> list[Reading]:
    """Truck `n` drives at 1 km/min from `start_ms`, stands `rest_min` at `at_km` (80 m off the
    route, with a receiver's few metres of noise), then drives on to km 120."""
    out = []
    minute = 0
    while True:
        if minute < at_km:
            km, lat = float(minute), 0.0
        elif minute < at_km + rest_min:
            km, lat = at_km, REST_LAT
        else:
            km, lat = at_km + (minute - at_km - rest_min), 0.0
        if km > 120:
            return out
        noise = 2e-5 * ((minute // every_min) % 3)  # about 2 m
        lon = 33.0 + km / KM_PER_DEG + noise
        out.append(Reading(f"trk-{n}", start_ms + minute * MIN, lat=lat + noise, lon=lon))
        minute += every_min


def replay(engine: Engine, readings: list[Reading]) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for r in readings:
        events += engine.process(r, now_ms=r.ts_ms)
    return [e for e in events if e.kind == "unscheduled_stop"]


def opens(events: list[AlertEvent]) -> list[AlertEvent]:
    return [e for e in events if e.event == "open"]


def fleet_engine(n: int) -> Engine:
    return build_engine([shipment(i) for i in range(1, n + 1)], lateness_ms=0)


def rest_three_trucks(engine: Engine) -> None:
    """Trucks 1-3 rest 40 min at the service area, a day apart: each is reported, as no one
    had stood there before three of them."""
    for n in (1, 2, 3):
        events = replay(engine, trip(n, T0 + (n - 1) * 24 * HOUR, rest_min=40))
        [opened] = opens(events)
        assert "roadside_trackers" not in opened.evidence
        assert opened.severity == "warning"


def test_a_rest_where_three_other_trucks_rested_is_not_reported() -> None:
    engine = fleet_engine(6)
    rest_three_trucks(engine)
    # The fourth truck's 40-minute rest there is routine.
    assert replay(engine, trip(4, T0 + 3 * 24 * HOUR, rest_min=40)) == []
    # A stop 2 km further on, where no one stood, is reported after the usual 10 minutes.
    [far] = opens(replay(engine, trip(5, T0 + 4 * 24 * HOUR, rest_min=20, at_km=62.0)))
    assert far.evidence["duration_min"] == pytest.approx(10.0, abs=0.1)
    assert "roadside_trackers" not in far.evidence


def test_a_long_stop_at_a_roadside_place_opens_at_the_critical_time_and_says_where() -> None:
    engine = fleet_engine(4)
    rest_three_trucks(engine)
    events = replay(engine, trip(4, T0 + 3 * 24 * HOUR, rest_min=150))
    opened, critical = [e for e in events if e.event in ("open", "update")]
    # Held to the critical threshold (60 min), then critical after twice that.
    assert opened.evidence["duration_min"] == pytest.approx(60.0, abs=0.1)
    assert opened.severity == "warning"
    assert opened.evidence["roadside_trackers"] == 3
    assert "where 3 other trackers stood in the last 30 days" in opened.summary
    assert critical.severity == "critical"
    assert critical.evidence["duration_min"] == pytest.approx(120.0, abs=0.1)


def test_a_truck_that_keeps_stopping_at_one_place_teaches_nothing_alone() -> None:
    engine = fleet_engine(2)
    for day in range(4):
        assert len(opens(replay(engine, trip(1, T0 + day * 24 * HOUR, rest_min=40)))) == 1
    # Nor does one truck's habit excuse another: one tracker stood there, not three.
    assert len(opens(replay(engine, trip(2, T0 + 5 * 24 * HOUR, rest_min=40)))) == 1


def test_places_are_forgotten_after_the_window() -> None:
    engine = fleet_engine(4)
    rest_three_trucks(engine)
    late = T0 + 40 * 24 * HOUR  # the last of the three rests ended 38 days before
    assert len(opens(replay(engine, trip(4, late, rest_min=40)))) == 1


def test_the_record_survives_a_restart_and_is_shared_with_new_devices() -> None:
    engine = fleet_engine(5)
    rest_three_trucks(engine)
    # Truck 4 is restored mid-trip; truck 5 was never seen before the restart.
    replay(engine, trip(4, T0 + 3 * 24 * HOUR, rest_min=40)[:5])
    blob = engine.snapshot()
    restarted = fleet_engine(5)
    restarted.restore(blob)
    rest4 = trip(4, T0 + 3 * 24 * HOUR, rest_min=40)[5:]
    assert replay(restarted, rest4) == []
    assert replay(restarted, trip(5, T0 + 4 * 24 * HOUR, rest_min=40)) == []


def test_a_rest_in_a_late_upload_is_judged_against_the_record() -> None:
    engine = fleet_engine(4)
    rest_three_trucks(engine)
    readings = trip(4, T0 + 3 * 24 * HOUR, rest_min=40)
    # Out of coverage from km 50 to km 100: those readings arrive after the live ones.
    gap = [r for r in readings if 50 * MIN <= r.ts_ms - readings[0].ts_ms < 140 * MIN]
    live = [r for r in readings if r not in gap]
    events: list[AlertEvent] = []
    upload_at = live[-1].ts_ms + MIN
    for r in live:
        events += engine.process(r, now_ms=r.ts_ms)
    for r in gap:
        events += engine.process(r, now_ms=upload_at)
    events += engine.advance(upload_at + 10 * MIN)
    assert [e for e in events if e.kind == "unscheduled_stop"] == []
    # Without the record, the same upload reports the rest late.
    fresh = fleet_engine(4)
    events = []
    for r in live:
        events += fresh.process(r, now_ms=r.ts_ms)
    for r in gap:
        events += fresh.process(r, now_ms=upload_at)
    events += fresh.advance(upload_at + 10 * MIN)
    [late] = opens([e for e in events if e.kind == "unscheduled_stop"])
    assert late.evidence["reported_late"] is True


def test_two_engines_never_share_a_record() -> None:
    first, second = fleet_engine(4), fleet_engine(4)
    rest_three_trucks(first)
    assert len(opens(replay(second, trip(4, T0 + 3 * 24 * HOUR, rest_min=40)))) == 1


# The store on its own.


def test_the_store_counts_other_trackers_once_each_within_its_radius() -> None:
    places = RoadsidePlaces()
    metres = 1 / 111_195
    for i in range(3):
        places.note("a", 10.0, 50.0 + i * 10 * metres, until_ms=i)  # one truck, three times
    places.note("b", 10.0, 50.0 + 240 * metres, until_ms=5)
    places.note("c", 10.0, 50.0 + 260 * metres, until_ms=5)  # just beyond 250 m
    assert places.others("z", 10.0, 50.0, now_ms=10) == 2
    assert places.others("a", 10.0, 50.0, now_ms=10) == 1
    # Only stops that ended by the time asked about.
    assert places.others("z", 10.0, 50.0, now_ms=3) == 1


def test_the_store_forgets_the_oldest_beyond_its_size_and_window() -> None:
    places = RoadsidePlaces(most=3)
    for i in range(5):
        places.note(f"t{i}", 10.0, 50.0, until_ms=i)
    assert len(places) == 3 and places.others("z", 10.0, 50.0, now_ms=10) == 3
    places.note("t9", 10.0, 50.0, until_ms=31 * DAY_MS)
    # Everything older than 30 days before the newest stop is gone.
    assert len(places) == 1


def test_a_restored_store_is_taken_in_whole() -> None:
    old = RoadsidePlaces()
    for i in range(3):
        old.note(f"t{i}", 10.0, 50.0, until_ms=i)
    live = RoadsidePlaces()
    live.note("t9", 10.0, 50.0, until_ms=1)
    live.absorb(pickle.loads(pickle.dumps(old)))
    assert live.others("z", 10.0, 50.0, now_ms=10) == 4


def test_bad_settings_are_refused_with_what_was_given() -> None:
    with pytest.raises(ValueError, match="least_trackers=0"):
        RoadsidePlaces(least_trackers=0)


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(-75.0, 75.0),
    lon=st.floats(-179.0, 179.0),
    stops=st.lists(
        st.tuples(st.floats(-600.0, 600.0), st.floats(-600.0, 600.0), st.integers(0, 5)),
        max_size=30,
    ),
)
def test_the_store_finds_every_stop_within_its_radius_at_any_latitude(
    lat: float, lon: float, stops: list[tuple[float, float, int]]
) -> None:
    """The grid never hides a stop within the radius (its cells narrow towards the poles)."""
    places = RoadsidePlaces()
    kx = math.cos(math.radians(lat)) * 111_195
    nearest: dict[str, float] = {}
    for east, north, who in stops:
        slon, slat = lon + east / kx, lat + north / 111_195
        places.note(f"t{who}", slon, slat, until_ms=0)
        d = haversine_m(lon, lat, slon, slat)
        nearest[f"t{who}"] = min(d, nearest.get(f"t{who}", math.inf))
    # Within a few metres of the edge the local projection and the sphere may disagree.
    assume(not any(245.0 < d < 255.0 for d in nearest.values()))
    assert places.others("z", lon, lat, now_ms=1) == sum(d <= 245.0 for d in nearest.values())


def test_a_shipment_that_wants_every_stop_reported_says_so_and_still_teaches_others() -> None:
    strict = parse_shipment(
        {
            "shipment_id": "SHP-4",
            "device_id": "trk-4",
            "profile": "customs_transit",
            "route": ROUTE,
            "roadside_places": False,
        }
    )
    engine = build_engine([*(shipment(n) for n in (1, 2, 3, 5, 6)), strict], lateness_ms=0)
    for n in (1, 2):
        replay(engine, trip(n, T0 + (n - 1) * 24 * HOUR, rest_min=40))
    # Truck 4 rests where two others stood, then where three had: reported both times.
    for day in (2, 4):
        [opened] = opens(replay(engine, trip(4, T0 + day * 24 * HOUR, rest_min=40)))
        assert opened.evidence["duration_min"] == pytest.approx(10.0, abs=0.1)
        assert "roadside_trackers" not in opened.evidence
    # Its rest taught the engine the place: truck 5 is the fourth tracker to rest there.
    replay(engine, trip(3, T0 + 3 * 24 * HOUR, rest_min=40))
    assert replay(engine, trip(5, T0 + 5 * 24 * HOUR, rest_min=40)) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [({}, True), ({"roadside_places": None}, True), ({"roadside_places": False}, False)],
)
def test_the_manifest_key_defaults_to_learning(given: dict[str, object], expected: bool) -> None:
    doc = {"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "customs_transit", **given}
    assert parse_shipment(doc).roadside_places is expected


@pytest.mark.parametrize("value", ["false", 0, 1, []])
def test_a_manifest_key_that_is_not_true_or_false_is_refused(value: object) -> None:
    doc = {"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "customs_transit"}
    with pytest.raises(ManifestError, match="roadside_places must be true or false, got"):
        parse_shipment({**doc, "roadside_places": value})


@settings(max_examples=40, deadline=None)
@given(
    rests=st.lists(
        st.tuples(
            st.integers(1, 6),  # the truck
            st.sampled_from([40.0, 60.0, 61.0, 80.0]),  # where it rests (km)
            st.integers(5, 150),  # for how long (min)
            st.sampled_from([1, 5, 15]),  # how often it reports (min)
        ),
        min_size=1,
        max_size=10,
    )
)
# Four trucks at one place, the fourth for long enough to be reported there.
@example(rests=[(1, 60.0, 40, 5), (2, 60.0, 40, 1), (3, 60.0, 40, 15), (4, 60.0, 80, 5)])
def test_roadside_places_only_ever_hold_a_stop_back(
    rests: list[tuple[int, float, int, int]],
) -> None:
    """Whatever trucks rest wherever: each stop reported with places learnt is reported
    without them too, never sooner, and one reported at a roadside place had lasted the
    critical time and names at least three other trackers."""
    learning = fleet_engine(6)
    never = RoadsidePlaces(least_trackers=10**9)
    forgetful = build_engine([shipment(i) for i in range(1, 7)], lateness_ms=0, places=never)
    for day, (truck, km, minutes, every) in enumerate(rests):
        readings = trip(truck, T0 + day * 24 * HOUR, rest_min=minutes, at_km=km, every_min=every)
        held = opens(replay(learning, readings))
        plain = opens(replay(forgetful, readings))
        assert len(held) <= len(plain)
        for e in held:
            [same] = [p for p in plain if p.evidence["since"] == e.evidence["since"]]
            assert e.at_ms >= same.at_ms
            if "roadside_trackers" in e.evidence:
                assert e.evidence["roadside_trackers"] >= 3
                assert e.evidence["duration_min"] >= 60.0 - 0.1


def test_the_record_survives_a_restart_when_no_stop_detector_was_watched() -> None:
    engine = fleet_engine(4)
    rest_three_trucks(engine)
    for n in (1, 2, 3):  # delivered: no device with a stop detector is left
        engine.remove_shipment(f"trk-{n}")
    assert not engine.devices
    restarted = fleet_engine(4)
    restarted.restore(engine.snapshot())
    assert restarted.places is not None and len(restarted.places) == 3
    assert replay(restarted, trip(4, T0 + 3 * 24 * HOUR, rest_min=40)) == []
