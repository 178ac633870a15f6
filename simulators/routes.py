"""Lanes ready to drive: the bundled lane data built into polylines, stops, climate, zones.

`LANES` maps each lane's name to a `Lane`: its waypoints densified into a polyline, its
authorised stops placed at their distance along it with a radius and a dwell range by kind
(a border post holds a truck for hours, a weighbridge for minutes), the climate's mean
interpolated per vertex, and its restricted zones as GeoJSON polygons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from simulators.geo import Polyline, build_polyline, offset_deg, wrap_lon
from simulators.lanes import LANE_SPECS, LaneSpec

#: Default radius (m) and dwell (min, max minutes) of each kind of authorised stop.
STOP_KINDS: Final[dict[str, tuple[float, tuple[float, float]]]] = {
    "port": (2500.0, (120.0, 300.0)),
    "airport": (2000.0, (120.0, 240.0)),
    "depot": (600.0, (30.0, 90.0)),
    "border": (800.0, (60.0, 240.0)),
    "weighbridge": (400.0, (8.0, 25.0)),
    "rest": (400.0, (30.0, 60.0)),
}
#: Cruising speed (km/h) of legs whose mode differs from their lane's own.
LEG_SPEED_KMH: Final = {"road": 35.0, "sea": 33.0, "air": 780.0}
#: Temperature of an aircraft's cargo hold, which replaces the outside air during a flight.
AIR_HOLD_C: Final = 12.0
#: Longest straight segment kept in a lane's route, by mode of the lane.
_MAX_SEGMENT_M: Final = {"road": 10_000.0, "sea": 50_000.0, "air": 50_000.0}


@dataclass(frozen=True)
class Stop:
    """An authorised stop placed on a built lane."""

    name: str
    kind: str
    lon: float
    lat: float
    radius_m: float
    dwell_min: tuple[float, float]
    d_m: float
    #: Mode of the leg leaving this stop ("" at the destination).
    leg: str


@dataclass(frozen=True)
class Lane:
    """A lane ready to drive: densified polyline, stops along it, climate per vertex."""

    spec: LaneSpec
    line: Polyline
    stops: tuple[Stop, ...]
    ambient_mean_c: np.ndarray
    zones: tuple[dict[str, object], ...]

    @property
    def name(self) -> str:
        return self.spec.name

    def speed_kmh(self, mode: str) -> float:
        return self.spec.speed_kmh if mode == self.spec.mode else LEG_SPEED_KMH[mode]

    def has_road(self) -> bool:
        return any(s.leg == "road" for s in self.stops)

    def route_geojson(self) -> dict[str, object]:
        coords = [
            [round(wrap_lon(float(x)), 5), round(float(y), 5)]
            for x, y in zip(self.line.lon, self.line.lat, strict=True)
        ]
        return {"type": "LineString", "coordinates": coords}


def build_lane(spec: LaneSpec) -> Lane:
    """Densify a lane's waypoints and place its stops, climate and zones along it."""
    points = [(w.lon, w.lat) for w in spec.waypoints]
    line, landed = build_polyline(points, _MAX_SEGMENT_M[spec.mode])
    stops: list[Stop] = []
    mode = spec.mode
    for w, vertex in zip(spec.waypoints, landed, strict=True):
        if w.stop is not None and w.leg:
            mode = w.leg
        if w.stop is None:
            continue
        radius, dwell = STOP_KINDS[w.stop]
        last = vertex == landed[-1]
        stops.append(
            Stop(
                w.name,
                w.stop,
                round(wrap_lon(w.lon), 5),
                w.lat,
                radius,
                w.dwell_min or dwell,
                line.distance_at_vertex(vertex),
                "" if last else mode,
            )
        )
    known = [(line.cum_m[v], w.ambient_c) for w, v in zip(spec.waypoints, landed, strict=True)]
    xs = [d for d, c in known if c is not None]
    ys = [c for _, c in known if c is not None]
    ambient = np.interp(line.cum_m, xs, ys)
    return Lane(spec, line, tuple(stops), ambient, tuple(_zones(spec, line)))


def _zones(spec: LaneSpec, line: Polyline) -> list[dict[str, object]]:
    zones: list[dict[str, object]] = []
    for z in spec.zones:
        lon, lat, ne, nn = line.at(np.array([z.at * line.length_m]))
        away_m = z.side * z.offset_km * 1000.0
        dlon, dlat = offset_deg(lat[0], ne[0] * away_m, nn[0] * away_m)
        clon, clat = float(lon[0] + dlon), float(lat[0] + dlat)
        hx, hy = offset_deg(clat, z.size_km * 500.0, z.size_km * 500.0)
        x0, x1 = wrap_lon(clon - float(hx)), wrap_lon(clon + float(hx))
        y0, y1 = clat - float(hy), clat + float(hy)
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        ring = [[round(x, 5), round(y, 5)] for x, y in ring]
        zones.append({"name": z.name, "polygon": {"type": "Polygon", "coordinates": [ring]}})
    return zones


LANES: Final[dict[str, Lane]] = {spec.name: build_lane(spec) for spec in LANE_SPECS}
