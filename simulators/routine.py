"""Routine stops of road trucks: rests at service areas, traffic jams, queues before borders.

A truck on the road does not drive from one authorised stop to the next without a halt: its
driver refuels and takes the rests the law requires at service areas, it stands in traffic
jams, and it queues before border posts. None of these is an incident, yet each looks like an
unscheduled stop to a detector that knows only the manifest. A share of trucks
(`simulate(routine_stops=SHARE)`, `--routine-stops`) has them added to its schedule before any
incident is placed, so a bench can measure how many alerts routine stops raise. A lane's
service areas (`service_places`) are its own: drawn once from its name, they are the same in
every fleet and seed, as real rest areas do not move, and the manifest does not declare them,
as an operator declares the stops a shipment is authorised to make, not every lay-by on its
way. How often and how long trucks stop is drawn from the physics regime's ranges.
"""

from __future__ import annotations

import functools
import itertools
import math
import zlib
from dataclasses import dataclass
from typing import Final

import numpy as np

from simulators.geo import offset_deg, wrap_lon
from simulators.motion import MOVING, Phase, insert_stop
from simulators.physics import Range, Regime
from simulators.routes import LANES, Lane, Stop

#: Distance (m) from one service area to the next along a road leg.
PLACE_SPACING_M: Final[Range] = (60_000.0, 140_000.0)
#: No service area this close (m) to an authorised stop beyond its radius: a truck standing
#: there would pass for one at the stop, which shows nothing a stop elsewhere does not.
PLACE_CLEAR_M: Final = 5_000.0
#: How far off the route (m) a service area's parking lies, square to it on either side:
#: off the carriageway, where a truck standing in traffic never is.
PLACE_PARK_M: Final[Range] = (40.0, 120.0)
#: Largest distance (m) between where one truck parks at a service area and the area's own
#: point: trucks take different bays, so two trucks' rests there are within twice this.
REST_JITTER_M: Final = 25.0
#: Jams stay this far (m) beyond an authorised stop's radius, as incidents' stops do
#: (`simulators.incidents._away_from_stops`): a standstill there is one at the stop.
STOP_CLEAR_M: Final = 3_000.0
#: Jams stay this far (m) from a service area, so a standstill in traffic is never taken for
#: a rest there (and the two can be told apart when checking a fleet).
JAM_CLEAR_OF_PLACE_M: Final = 2_000.0
#: A truck standing in traffic or in a queue stands on the carriageway: at most this far (m)
#: from the route point.
CARRIAGEWAY_M: Final = 5.0
#: A border queue stands this far (m) before the post, outside its radius.
QUEUE_BEFORE_M: Final[Range] = (1_000.0, 4_000.0)
#: Draws of a jam's moment before giving it up: each draw lands in the excluded stretches
#: with a small chance only, so the cap is never reached on the bundled lanes.
_JAM_TRIES: Final = 50


@dataclass(frozen=True)
class ServicePlace:
    """A service area beside a lane's road: where trucks refuel and their drivers rest."""

    name: str
    #: Where trucks park there (degrees): the route point at `d_m` moved by the offset below.
    lon: float
    lat: float
    #: Distance along the lane's route (m).
    d_m: float
    #: Where trucks park, metres east and north of the route point at `d_m`.
    park_e: float
    park_n: float


@dataclass(frozen=True)
class _Planned:
    """A routine stop decided but not yet inserted into the schedule."""

    d_m: float
    duration_s: float
    park_e: float
    park_n: float


def service_places(lane: Lane) -> tuple[ServicePlace, ...]:
    """The service areas along ``lane``'s road legs, in route order; the same in every run."""
    return _places(lane.name)


@functools.cache
def _places(name: str) -> tuple[ServicePlace, ...]:
    lane = LANES[name]
    # Seeded by the lane's name alone: a lane's rest areas do not move from fleet to fleet.
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    places: list[ServicePlace] = []
    for start, end in _road_legs(lane):
        d = start.d_m
        while True:
            d += float(rng.uniform(*PLACE_SPACING_M))
            if d >= end.d_m:
                break
            off = float(rng.uniform(*PLACE_PARK_M)) * (1.0 if rng.uniform() < 0.5 else -1.0)
            if not _clear_of_stops(lane, d, PLACE_CLEAR_M):
                continue
            lon, lat, normal_e, normal_n = lane.line.at(np.array([d]))
            east, north = off * float(normal_e[0]), off * float(normal_n[0])
            # Where a parked truck's readings put it (`DeviceSim._position`): the route point
            # moved by the parking offset.
            dlon, dlat = offset_deg(float(lat[0]), east, north)
            places.append(
                ServicePlace(
                    name=f"{lane.name} service area at km {d / 1000.0:.0f}",
                    lon=wrap_lon(float(lon[0]) + float(dlon)),
                    lat=float(lat[0]) + float(dlat),
                    d_m=d,
                    park_e=east,
                    park_n=north,
                )
            )
    return tuple(places)


def add_routine_stops(
    phases: list[Phase], lane: Lane, regime: Regime, rng: np.random.Generator
) -> list[Phase]:
    """``phases`` with a truck's routine stops inserted: rests at service areas, traffic jams
    and queues before border posts, all on road legs while moving.

    Every value is drawn in a fixed order whether or not the stop it belongs to is made, so
    one stop's chance never moves another's draws. A stop at distance d starts when the truck
    reaches d; stops are inserted in route order (which is time order), each found on the
    schedule as the earlier ones have shifted it.
    """
    places = service_places(lane)
    planned: list[_Planned] = []
    for place in places:
        rests = float(rng.uniform()) < regime.rest_chance
        minutes = float(rng.uniform(*regime.rest_min))
        east, north = _offset(rng, (0.0, REST_JITTER_M))
        if rests:
            planned.append(
                _Planned(place.d_m, minutes * 60.0, place.park_e + east, place.park_n + north)
            )
    road = [p for p in phases if p.stop == MOVING and p.mode == "road" and p.t1 > p.t0]
    hours = sum(p.t1 - p.t0 for p in road) / 3600.0
    for _ in range(int(rng.poisson(regime.jam_per_h * hours))):
        minutes = float(rng.uniform(*regime.jam_min))
        east, north = _offset(rng, (0.0, CARRIAGEWAY_M))
        at = _jam_distance(road, lane, places, rng)
        if at is not None:
            planned.append(_Planned(at, minutes * 60.0, east, north))
    for i, stop in enumerate(lane.stops):
        if i == 0 or stop.kind != "border" or lane.stops[i - 1].leg != "road":
            continue
        queues = float(rng.uniform()) < regime.queue_chance
        at = stop.d_m - float(rng.uniform(*QUEUE_BEFORE_M))
        minutes = float(rng.uniform(*regime.queue_min))
        east, north = _offset(rng, (0.0, CARRIAGEWAY_M))
        # On the leg that reaches the post, outside its radius and clear of every other stop.
        others = [s for s in lane.stops if s is not stop]
        if (
            queues
            and at < stop.d_m - stop.radius_m
            and all(abs(at - s.d_m) > s.radius_m + STOP_CLEAR_M for s in others)
        ):
            planned.append(_Planned(at, minutes * 60.0, east, north))
    # Distance grows with time, so route order is time order; a stable sort keeps ties.
    for halt in sorted(planned, key=lambda h: h.d_m):
        at_s = _reaches(phases, halt.d_m)
        phases = insert_stop(phases, at_s, halt.duration_s, halt.park_e, park_n=halt.park_n)
    return phases


def _road_legs(lane: Lane) -> list[tuple[Stop, Stop]]:
    """The (from, to) stops of each leg driven by road (a leg's mode is its first stop's)."""
    return [(a, b) for a, b in itertools.pairwise(lane.stops) if a.leg == "road"]


def _clear_of_stops(lane: Lane, d_m: float, margin_m: float) -> bool:
    return all(abs(d_m - s.d_m) > s.radius_m + margin_m for s in lane.stops)


def _offset(rng: np.random.Generator, radius_m: Range) -> tuple[float, float]:
    """A point (east, north, m) at a distance drawn from ``radius_m`` in a random direction."""
    r = float(rng.uniform(*radius_m))
    angle = float(rng.uniform(0.0, 2 * math.pi))
    return r * math.cos(angle), r * math.sin(angle)


def _jam_distance(
    road: list[Phase], lane: Lane, places: tuple[ServicePlace, ...], rng: np.random.Generator
) -> float | None:
    """Where the truck is at a moment drawn uniformly from its road driving, away from stops
    and service areas (None if every draw fell too close to one)."""
    spans = np.array([p.t1 - p.t0 for p in road])
    ends = np.cumsum(spans)
    for _ in range(_JAM_TRIES):
        x = float(rng.uniform(0.0, float(ends[-1])))
        k = min(int(np.searchsorted(ends, x, side="right")), len(road) - 1)
        p = road[k]
        share = min(max((x - (float(ends[k]) - float(spans[k]))) / float(spans[k]), 0.0), 1.0)
        d = p.d0 + share * (p.d1 - p.d0)
        if _clear_of_stops(lane, d, STOP_CLEAR_M) and all(
            abs(d - s.d_m) > JAM_CLEAR_OF_PLACE_M for s in places
        ):
            return d
    return None


def _reaches(phases: list[Phase], d_m: float) -> float:
    """When the schedule reaches ``d_m``: the inverse of the moving phase that contains it."""
    for p in phases:
        if p.stop == MOVING and p.d0 <= d_m < p.d1:
            return p.t0 + (d_m - p.d0) / (p.d1 - p.d0) * (p.t1 - p.t0)
    raise ValueError(f"no moving phase passes {d_m:.0f} m along the route")
