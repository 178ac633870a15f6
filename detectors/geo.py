"""Small, fast geodesy for the location detectors: distances, distance to a route, point in polygon.

Positions are (lon, lat) in degrees, GeoJSON order. Distances use the
haversine formula on a sphere of the mean Earth radius, which is within 0.5 %
of the ellipsoid: far finer than any corridor width. Distance to a route uses
a local equirectangular projection around the point, exact enough within the
few kilometres a corridor spans and cheap enough to run on every reading;
longitudes are compared the short way round, so a route may cross ±180°.
The place helpers name where something happened for summaries and evidence.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, Final

from detectors.profiles import Place

EARTH_RADIUS_M: Final = 6_371_008.8
_RAD: Final = math.pi / 180.0
#: Metres per degree of latitude (and of longitude at the equator) on this sphere.
M_PER_DEG: Final = EARTH_RADIUS_M * _RAD


@functools.lru_cache(maxsize=1024)
def route_ends(
    route: tuple[tuple[float, float], ...],
) -> tuple[()] | tuple[tuple[float, float], tuple[float, float]]:
    """The origin and destination of a route, () when it has no two points.

    One tuple per route rather than one per detector and device: the detectors that let a
    door open or a truck stand at either end each kept a copy, and a fleet shares its lanes.
    """
    return (route[0], route[-1]) if len(route) >= 2 else ()


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres.

    >>> round(haversine_m(39.66, -4.04, 32.58, 0.31) / 1000)  # Mombasa to Kampala
    923
    """
    p1, p2 = lat1 * _RAD, lat2 * _RAD
    dp, dl = p2 - p1, (lon2 - lon1) * _RAD
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class Route:
    """A polyline with a precomputed projection, answering "how far off the route is this point?"

    >>> r = Route([(0.0, 0.0), (1.0, 0.0)])
    >>> round(r.distance_m(0.5, 0.01))  # about 1.1 km north of the line
    1112
    """

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        if len(points) < 2:
            raise ValueError("a route needs at least two points")
        self.points = tuple(points)
        lons = [p[0] for p in points]
        lats = [p[1] for p in points]
        pad = 0.5  # degrees: anything farther than ~50 km from every vertex is far off route
        self._bbox = (min(lons) - pad, min(lats) - pad, max(lons) + pad, max(lats) + pad)

    def distance_m(self, lon: float, lat: float) -> float:
        """Shortest distance from the point to any segment of the route, in metres."""
        return route_distance_m(self.points, lon, lat)[0]

    def near_bbox(self, lon: float, lat: float) -> bool:
        x0, y0, x1, y1 = self._bbox
        return x0 <= lon <= x1 and y0 <= lat <= y1


def point_in_ring(lon: float, lat: float, ring: Sequence[tuple[float, float]]) -> bool:
    """Even-odd rule: is the point inside the polygon ring?

    >>> square = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]
    >>> point_in_ring(0.5, 0.5, square), point_in_ring(1.5, 0.5, square)
    (True, False)
    """
    inside = False
    n = len(ring)
    j = n - 1
    for i in range(n):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def fmt_m(m: float) -> str:
    """A distance as people say it.

    >>> fmt_m(420.4), fmt_m(2000.0), fmt_m(2449.0), fmt_m(440_120.0)
    ('420 m', '2 km', '2.4 km', '440 km')
    """
    if m < 1000:
        return f"{m:.0f} m"
    return f"{round(m / 1000, 1):g} km" if m < 100_000 else f"{m / 1000:.0f} km"


def fmt_pos(lon: float, lat: float) -> str:
    return f"{lat:.4f}, {lon:.4f}"


def place_containing(places: Sequence[Place], lon: float, lat: float) -> Place | None:
    """The first place whose circle holds the point.

    >>> place_containing([Place("Malaba border", 34.27, 0.63, 500)], 34.271, 0.631).name
    'Malaba border'
    """
    for p in places:
        # The latitude band filters nearly every place out before the haversine.
        if abs(lat - p.lat) * M_PER_DEG <= p.radius_m and (
            haversine_m(lon, lat, p.lon, p.lat) <= p.radius_m
        ):
            return p
    return None


def nearest_place(places: Sequence[Place], lon: float, lat: float) -> tuple[Place, float] | None:
    """The closest place and its centre's distance in metres; None when there are none.

    >>> p, d = nearest_place([Place("Malaba border", 34.27, 0.63, 500)], 34.3, 0.63)
    >>> p.name, round(d)
    ('Malaba border', 3336)
    """
    best: tuple[Place, float] | None = None
    for p in places:
        d = haversine_m(lon, lat, p.lon, p.lat)
        if best is None or d < best[1]:
            best = (p, d)
    return best


def where(
    places: Sequence[Place], lon: float | None, lat: float | None
) -> tuple[str, dict[str, Any]]:
    """A position for a summary ("at lat, lon, 3.3 km from X") and its evidence fields.

    >>> where([Place("Malaba border", 34.27, 0.63, 500)], 34.3, 0.63)[0]
    'at 0.6300, 34.3000, 3.3 km from Malaba border'
    >>> where([], None, None)
    ('at an unknown position', {'lat': None, 'lon': None})
    """
    if lon is None or lat is None:
        return "at an unknown position", {"lat": None, "lon": None}
    evidence: dict[str, Any] = {"lat": lat, "lon": lon}
    text = f"at {fmt_pos(lon, lat)}"
    near = nearest_place(places, lon, lat)
    if near is not None:
        place, d = near
        evidence["nearest_stop"] = place.name
        evidence["nearest_stop_m"] = round(d)
        if d <= place.radius_m:
            text = f"at {place.name} ({fmt_pos(lon, lat)})"
        else:
            text += f", {fmt_m(d)} from {place.name}"
    return text, evidence


def _dlon(a: float, b: float) -> float:
    """a - b in degrees of longitude, the short way round (a route may cross ±180°)."""
    d = a - b
    if d > 180.0:
        return d - 360.0
    if d < -180.0:
        return d + 360.0
    return d


def _seg_d2(
    points: Sequence[tuple[float, float]], i: int, lon: float, lat: float, kx: float
) -> float:
    """Squared metres from the point to segment i, in a projection centred on the point."""
    ax0, ay0 = points[i]
    bx0, by0 = points[i + 1]
    ax, ay = _dlon(ax0, lon) * kx, (ay0 - lat) * M_PER_DEG
    dx, dy = _dlon(bx0, lon) * kx - ax, (by0 - lat) * M_PER_DEG - ay
    seg2 = dx * dx + dy * dy
    t = -(ax * dx + ay * dy) / seg2 if seg2 > 0 else 0.0
    if t < 0.0:
        t = 0.0
    elif t > 1.0:
        t = 1.0
    px, py = ax + t * dx, ay + t * dy
    return px * px + py * py


def route_distance_m(
    points: Sequence[tuple[float, float]], lon: float, lat: float
) -> tuple[float, int]:
    """Exact distance to the route in metres and the nearest segment's index.

    >>> d, seg = route_distance_m([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)], 1.01, 0.5)
    >>> round(d), seg
    (1112, 1)
    """
    kx = math.cos(lat * _RAD) * M_PER_DEG
    best, best_i = math.inf, 0
    for i in range(len(points) - 1):
        d2 = _seg_d2(points, i, lon, lat, kx)
        if d2 < best:
            best, best_i = d2, i
    return math.sqrt(best), best_i


def walk_route_m(
    points: Sequence[tuple[float, float]],
    lon: float,
    lat: float,
    seg: int,
    enough_m: float = 0.0,
    patience: int = 3,
) -> tuple[float, int]:
    """Distance to the nearest segment found by walking from `seg` while segments get closer.

    An upper bound on the true distance (a loop of the route elsewhere may be
    closer), so it can prove "within the corridor" but never "outside it". It
    stops at the first segment within `enough_m`: that already proves it.

    >>> walk_route_m([(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)], 1.5, 0.0, 0)
    (0.0, 1)
    """
    kx = math.cos(lat * _RAD) * M_PER_DEG
    n = len(points) - 1
    seg = 0 if seg < 0 else n - 1 if seg >= n else seg
    enough2 = enough_m * enough_m
    best, best_i = _seg_d2(points, seg, lon, lat, kx), seg
    if best <= enough2:
        return math.sqrt(best), seg
    for step in (1, -1):
        i, misses = seg, 0
        while misses < patience:
            i += step
            if i < 0 or i >= n:
                break
            d2 = _seg_d2(points, i, lon, lat, kx)
            if d2 < best:
                best, best_i, misses = d2, i, 0
                if best <= enough2:
                    return math.sqrt(best), i
            else:
                misses += 1  # winding roads get closer again after a bend
    return math.sqrt(best), best_i
