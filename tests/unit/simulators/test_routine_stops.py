"""Routine stops in simulated fleets: rests at service areas, traffic jams, border queues.

`simulate(routine_stops=SHARE)` (`--routine-stops`) has that share of trucks with a road leg
stop as real trucks do between authorised stops: at their lane's service areas, which are the
same in every run and not in the manifest, in traffic jams, and in queues before border posts.
None of them is an incident, so none is labelled. Readings are decoded by the real ingest
decoder and measured with the test helpers' own geometry (`simruns`), not the simulator's.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simruns import haversine_m, ms, point_to_polyline_m

from detectors.reading import Reading
from ingest.decode import decode
from simulators import Fleet, simulate
from simulators.cli import main
from simulators.motion import MOVING, UNAUTHORISED, Phase, build_schedule
from simulators.physics import REGIMES
from simulators.routes import LANES, Lane
from simulators.routine import (
    CARRIAGEWAY_M,
    PLACE_CLEAR_M,
    PLACE_PARK_M,
    PLACE_SPACING_M,
    QUEUE_BEFORE_M,
    REST_JITTER_M,
    STOP_CLEAR_M,
    ServicePlace,
    add_routine_stops,
    service_places,
)

HOUR = 3600.0
ROAD_LANES = [name for name, lane in LANES.items() if lane.has_road()]
#: Lanes driven by road end to end, which sealed customs cargo takes.
CUSTOMS_LANES = ["mombasa-kampala", "dar-es-salaam-kigali", "rotterdam-milan"]
#: A fleet and its decoded readings by device.
RoadFleet = tuple[Fleet, dict[str, list[Reading]]]


def readings_of(fleet: Fleet) -> dict[str, list[Reading]]:
    """Each device's decoded readings in event-time order, redeliveries dropped."""
    out: dict[str, list[Reading]] = defaultdict(list)
    seen: set[tuple[str, int]] = set()
    for m in fleet.messages():
        for r in decode(m.topic, m.payload, m.arrival_ms).readings:
            if (r.device_id, r.ts_ms) not in seen:
                seen.add((r.device_id, r.ts_ms))
                out[r.device_id].append(r)
    for rows in out.values():
        rows.sort(key=lambda r: r.ts_ms)
    return out


def fixes_in(fleet: Fleet, rows: list[Reading], phase: Phase) -> list[tuple[float, float]]:
    """(lon, lat) of the readings taken while ``phase`` lasts."""
    t0, t1 = fleet.start_ms + phase.t0 * 1000.0, fleet.start_ms + phase.t1 * 1000.0
    return [
        (r.lon, r.lat)
        for r in rows
        if t0 <= r.ts_ms < t1 and r.lon is not None and r.lat is not None
    ]


def median_of(fixes: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(x for x, _ in fixes), statistics.median(y for _, y in fixes)


def routine(phases: list[Phase]) -> list[Phase]:
    return [p for p in phases if p.stop == UNAUTHORISED]


def place_at(lane: Lane, d_m: float) -> ServicePlace | None:
    return next((s for s in service_places(lane) if abs(s.d_m - d_m) < 1.0), None)


# -- default off ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        pytest.param({"scenario": "normal", "seed": 3}, id="normal"),
        pytest.param({"scenario": "unscheduled_stop", "seed": 4}, id="unscheduled_stop"),
    ],
)
def test_without_a_share_a_fleet_is_the_one_it_always_was(kw: dict[str, Any]) -> None:
    plain = simulate(devices=6, duration_s=12 * HOUR, **kw)
    zero = simulate(devices=6, duration_s=12 * HOUR, routine_stops=0.0, **kw)
    assert list(zero.payloads()) == list(plain.payloads())
    assert zero.labels() == plain.labels()
    assert zero.manifest() == plain.manifest()
    # The only unauthorised stops are the incidents' own.
    for p in zero.plans:
        assert [(s.t0, s.t1) for s in routine(p.motion.phases)] == [
            (i.t0, i.t1) for i in p.incidents
        ]


def test_a_truck_that_makes_no_routine_stop_reads_exactly_as_it_did_without_the_option() -> None:
    kw: dict[str, Any] = {"devices": 10, "scenario": "normal", "duration_s": 12 * HOUR, "seed": 8}
    plain, half = simulate(**kw), simulate(routine_stops=0.5, **kw)
    stopping = {p.device_id for p in half.plans if routine(p.motion.phases)}
    assert 0 < len(stopping) < 10
    by_device_plain: dict[str, list[bytes]] = defaultdict(list)
    by_device_half: dict[str, list[bytes]] = defaultdict(list)
    for fleet, out in ((plain, by_device_plain), (half, by_device_half)):
        for topic, payload in fleet.payloads():
            out[topic.split("/")[2]].append(payload)
    for a, b in zip(plain.plans, half.plans, strict=True):
        same = a.device_id not in stopping
        assert (by_device_plain[a.device_id] == by_device_half[a.device_id]) == same
        assert (a.motion.phases == b.motion.phases) == same


# -- service places --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ROAD_LANES)
def test_a_lanes_service_places_are_its_own_spaced_along_its_road_and_clear_of_its_stops(
    name: str,
) -> None:
    import simulators.routine as routine_module

    lane = LANES[name]
    places = service_places(lane)
    assert service_places(lane) == places
    routine_module._places.cache_clear()  # drawn again from the lane's name: the same places
    assert service_places(lane) == places
    route = np.array(lane.route_geojson()["coordinates"])
    for place in places:
        for stop in lane.stops:
            assert abs(place.d_m - stop.d_m) > stop.radius_m + PLACE_CLEAR_M, (place, stop)
            assert haversine_m(place.lon, place.lat, stop.lon, stop.lat) > stop.radius_m
        # Parked beside the road, as far off it as the place's offset says.
        off = point_to_polyline_m(place.lon, place.lat, route[:, 0], route[:, 1])
        assert PLACE_PARK_M[0] - 5 <= off <= PLACE_PARK_M[1] + 1
        assert PLACE_PARK_M[0] <= float(np.hypot(place.park_e, place.park_n)) <= PLACE_PARK_M[1]
        legs = [(a.d_m, b.d_m) for a, b in itertools.pairwise(lane.stops) if a.leg == "road"]
        assert any(a < place.d_m < b for a, b in legs), "only on road legs"
    for a, b in itertools.pairwise(places):
        same_leg = not any(a.d_m < s.d_m < b.d_m for s in lane.stops)
        if same_leg:
            assert PLACE_SPACING_M[0] <= b.d_m - a.d_m <= 2 * PLACE_SPACING_M[1]


def test_the_long_road_lanes_have_service_places_and_lanes_without_road_have_none() -> None:
    for name in CUSTOMS_LANES:
        assert len(service_places(LANES[name])) >= 5, name
    for name, lane in LANES.items():
        if not lane.has_road():
            assert service_places(lane) == (), name


def test_trucks_of_two_seeds_rest_at_the_same_places_and_the_manifest_declares_none() -> None:
    rests: dict[int, set[float]] = {}
    for seed in (1, 2):
        fleet = simulate(
            devices=4,
            scenario="normal",
            duration_s=24 * HOUR,
            seed=seed,
            lanes=["dar-es-salaam-kigali"],
            routine_stops=1.0,
        )
        places = {s.d_m for s in service_places(LANES["dar-es-salaam-kigali"])}
        rests[seed] = {
            p.d0 for plan in fleet.plans for p in routine(plan.motion.phases) if p.d0 in places
        }
        assert rests[seed], seed
        authorised = {
            s["name"] for e in fleet.manifest()["shipments"] for s in e["authorised_stops"]
        }
        assert authorised == {s.name for s in LANES["dar-es-salaam-kigali"].stops}
    assert rests[1] & rests[2], "a place rested at in one fleet is rested at in the other"


# -- rests, jams, queues in a normal fleet ---------------------------------------------------------


@pytest.fixture(scope="module")
def road_fleet() -> RoadFleet:
    fleet = simulate(
        devices=8,
        scenario="normal",
        duration_s=24 * HOUR,
        seed=12,
        profiles=["customs_transit"],
        lanes=["rotterdam-milan"],
        routine_stops=1.0,
    )
    return fleet, readings_of(fleet)


def test_a_normal_fleet_with_routine_stops_has_no_labels(road_fleet: RoadFleet) -> None:
    fleet, _ = road_fleet
    assert fleet.labels() == []
    # Every truck is chosen at a share of 1, but one may draw no rest, jam or queue in a day.
    assert sum(bool(routine(p.motion.phases)) for p in fleet.plans) >= len(fleet.plans) - 2


def test_trucks_stand_still_at_service_places_for_a_rest_and_two_trucks_park_together(
    road_fleet: RoadFleet,
) -> None:
    fleet, readings = road_fleet
    regime = REGIMES["dev"]
    parked: dict[str, list[tuple[float, float]]] = defaultdict(list)
    rests = 0
    for plan in fleet.plans:
        for phase in routine(plan.motion.phases):
            place = place_at(plan.lane, phase.d0)
            if place is None or phase.t0 >= fleet.cfg.duration_s - 600:
                continue
            rests += 1
            minutes = (phase.t1 - phase.t0) / 60
            assert regime.rest_min[0] <= minutes <= regime.rest_min[1]
            fixes = fixes_in(fleet, readings[plan.device_id], phase)
            assert fixes
            # Every fix within ~60 m of where trucks park there: the same spot, run after run.
            assert max(haversine_m(x, y, place.lon, place.lat) for x, y in fixes) < 60
            if phase.t1 <= fleet.cfg.duration_s:
                # Standing the whole rest: a fix every interval from its start to its end.
                assert len(fixes) >= (phase.t1 - phase.t0) / plan.interval_s - 2
            parked[place.name].append(median_of(fixes))
    assert rests >= 5
    shared = [spots for spots in parked.values() if len(spots) >= 2]
    assert shared, "two trucks rested at one place"
    for spots in shared:
        for (x1, y1), (x2, y2) in itertools.combinations(spots, 2):
            assert haversine_m(x1, y1, x2, y2) < 60


def test_jams_and_queues_stand_on_the_road_away_from_service_places(road_fleet: RoadFleet) -> None:
    fleet, readings = road_fleet
    regime = REGIMES["dev"]
    jams = queues = 0
    for plan in fleet.plans:
        lane = plan.lane
        for phase in routine(plan.motion.phases):
            if place_at(lane, phase.d0) is not None or phase.t0 >= fleet.cfg.duration_s - 600:
                continue
            minutes = (phase.t1 - phase.t0) / 60
            assert np.hypot(phase.park_e, phase.park_n) <= CARRIAGEWAY_M
            border = [s for s in lane.stops if s.kind == "border" and 0 < s.d_m - phase.d0 <= 4_000]
            if border:
                queues += 1
                assert QUEUE_BEFORE_M[0] <= border[0].d_m - phase.d0 <= QUEUE_BEFORE_M[1]
                assert regime.queue_min[0] <= minutes <= regime.queue_min[1]
            else:
                jams += 1
                assert regime.jam_min[0] <= minutes <= regime.jam_min[1]
                for s in lane.stops:
                    assert abs(phase.d0 - s.d_m) > s.radius_m + STOP_CLEAR_M
            fixes = fixes_in(fleet, readings[plan.device_id], phase)
            cx, cy = median_of(fixes)
            assert max(haversine_m(x, y, cx, cy) for x, y in fixes) < 25, "standing still"
            for place in service_places(lane):
                assert haversine_m(cx, cy, place.lon, place.lat) > 1_000
    assert jams >= 3 and queues >= 1


# -- incidents on a schedule with routine stops ----------------------------------------------------


def test_an_unscheduled_stop_is_still_labelled_and_the_truck_stands_at_the_labelled_time() -> None:
    fleet = simulate(
        devices=6,
        scenario="unscheduled_stop",
        duration_s=18 * HOUR,
        seed=5,
        profiles=["customs_transit"],
        routine_stops=1.0,
    )
    readings = readings_of(fleet)
    labels = fleet.labels()
    assert len(labels) == 6
    with_routine = 0
    for plan, label in zip(fleet.plans, labels, strict=True):
        assert label["device_id"] == plan.device_id
        assert label["kinds"] == ["unscheduled_stop"]
        (incident,) = plan.incidents
        stops = routine(plan.motion.phases)
        with_routine += len(stops) > 1
        # The incident is a stop of its own, never inside a routine one.
        (own,) = [p for p in stops if p.t0 == incident.t0]
        assert own.t1 == incident.t1
        start, end = ms(label["start"]), ms(label["end"])
        fixes = [
            (r.lon, r.lat)
            for r in readings[plan.device_id]
            if start <= r.ts_ms < end and r.lon is not None and r.lat is not None
        ]
        assert len(fixes) >= 10
        cx, cy = median_of(fixes)
        assert max(haversine_m(x, y, cx, cy) for x, y in fixes) < 30, "standing still"
        before = [
            (r.lon, r.lat)
            for r in readings[plan.device_id]
            if start - 20 * 60_000 <= r.ts_ms < start - 10 * 60_000
            and r.lon is not None
            and r.lat is not None
        ]
        if before and not any(p.t1 > incident.t0 - 1200 for p in stops if p.t0 < incident.t0):
            # Driving a quarter of an hour before it (unless a routine stop was that late).
            assert max(haversine_m(x, y, cx, cy) for x, y in before) > 1_000
    assert with_routine >= 3, "the incidents were placed on schedules with routine stops"


# -- the schedule: a property of every lane, regime and draw ---------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(LANES)),
    physics=st.sampled_from(sorted(REGIMES)),
    seed=st.integers(0, 2**32 - 1),
    departure=st.floats(0.0, 900.0),
    speed=st.floats(0.85, 1.1),
)
def test_routine_stops_keep_the_schedule_contiguous_and_stand_only_on_road_between_stops(
    name: str, physics: str, seed: int, departure: float, speed: float
) -> None:
    lane, regime = LANES[name], REGIMES[physics]
    phases = build_schedule(lane, departure, speed, np.random.default_rng(seed))
    out = add_routine_stops(phases, lane, regime, np.random.default_rng([seed, 1]))
    if not lane.has_road():
        assert out == phases
    assert out[0].t0 == phases[0].t0
    for a, b in itertools.pairwise(out):
        assert b.t0 == a.t1, "contiguous in time"
        assert b.d0 >= a.d1 - 1e-6 and b.d1 >= b.d0, "never backwards"
    inserted = [(i, p) for i, p in enumerate(out) if p.stop == UNAUTHORISED]
    shift = sum(p.t1 - p.t0 for _, p in inserted)
    assert out[-1].t0 == pytest.approx(phases[-1].t0 + shift)
    # Authorised stops keep their places and lengths, only later.
    dwells = [p for p in out if p.stop >= 0]
    planned = [p for p in phases if p.stop >= 0]
    assert [(p.stop, p.d0) for p in dwells] == [(p.stop, p.d0) for p in planned]
    for a, b in zip(dwells[:-1], planned[:-1], strict=True):
        assert a.t1 - a.t0 == pytest.approx(b.t1 - b.t0)
    for i, stop in inserted:
        before, after = out[i - 1], out[i + 1]
        assert before.stop == MOVING and before.mode == "road"
        assert after.stop == MOVING and after.mode == "road"
        assert before.d1 == stop.d0 == stop.d1 == after.d0
        legs = [(a, b) for a, b in itertools.pairwise(lane.stops) if a.leg == "road"]
        assert any(a.d_m < stop.d0 < b.d_m for a, b in legs), "on a road leg"
        assert np.hypot(stop.park_e, stop.park_n) <= PLACE_PARK_M[1] + REST_JITTER_M
        queue = any(
            s.kind == "border" and QUEUE_BEFORE_M[0] - 1e-6 <= s.d_m - stop.d0 <= QUEUE_BEFORE_M[1]
            for s in lane.stops
        )
        for s in lane.stops:
            assert abs(stop.d0 - s.d_m) > s.radius_m + (0.0 if queue else STOP_CLEAR_M)


def test_the_held_out_routine_stops_are_wider_or_shifted_against_the_development_ones() -> None:
    dev, held = REGIMES["dev"], REGIMES["holdout"]
    for name in ("rest_min", "jam_min", "queue_min"):
        a, b = getattr(dev, name), getattr(held, name)
        assert b[0] <= a[0] and a[1] <= b[1] and b != a, name
    for name in ("rest_chance", "jam_per_h", "queue_chance"):
        assert getattr(held, name) > getattr(dev, name), name


# -- validation and the command line ---------------------------------------------------------------


@pytest.mark.parametrize("share", [-0.1, 2.0, float("nan")])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="routine stops must be a share from 0 to 1"):
        simulate(devices=1, routine_stops=share)


@pytest.mark.parametrize(
    "value, message",
    [
        pytest.param("-0.1", "routine stops must be a share from 0 to 1, got -0.1", id="negative"),
        pytest.param("2", "routine stops must be a share from 0 to 1, got 2.0", id="over one"),
    ],
)
def test_the_command_line_refuses_a_bad_share_with_one_line(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--routine-stops", value]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_the_command_line_stages_routine_stops_with_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def recorded(*extra: str) -> tuple[bytes, bytes]:
        d = tmp_path / str(len(list(tmp_path.iterdir())))
        d.mkdir()
        args = ["--devices", "3", "--duration", "12h", "--seed", "2", "--lanes", "rotterdam-milan"]
        code = main([*args, "--out", str(d / "r.jsonl"), "--labels", str(d / "t.jsonl"), *extra])
        assert code == 0
        return (d / "r.jsonl").read_bytes(), (d / "t.jsonl").read_bytes()

    plain, zero, every = (
        recorded(),
        recorded("--routine-stops", "0"),
        recorded("--routine-stops", "1"),
    )
    capsys.readouterr()
    assert zero == plain
    assert every[0] != plain[0] and every[1] == b""
    fleet = simulate(
        devices=3,
        duration_s=12 * HOUR,
        seed=2,
        lanes=["rotterdam-milan"],
        start="2026-01-05T00:00:00Z",
        routine_stops=1.0,
    )
    first = json.loads(every[0].splitlines()[0])
    assert first == json.loads(next(fleet.payloads())[1])
