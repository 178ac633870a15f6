"""Small, fast geodesy for the location detectors: distances, distance to a route, point in polygon.

Positions are (lon, lat) in degrees, GeoJSON order. Distances use the
haversine formula on a sphere of the mean Earth radius, which is within 0.5 %
of the ellipsoid: far finer than any corridor width. Distance to a route uses
a local equirectangular projection around the point, exact enough within the
few kilometres a corridor spans and cheap enough to run on every reading.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

EARTH_RADIUS_M: Final = 6_371_008.8
_RAD: Final = math.pi / 180.0


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
        kx = math.cos(lat * _RAD) * _RAD * EARTH_RADIUS_M  # metres per degree of longitude here
        ky = _RAD * EARTH_RADIUS_M
        best = math.inf
        pts = self.points
        ax, ay = (pts[0][0] - lon) * kx, (pts[0][1] - lat) * ky
        for bx_deg, by_deg in pts[1:]:
            bx, by = (bx_deg - lon) * kx, (by_deg - lat) * ky
            dx, dy = bx - ax, by - ay
            seg2 = dx * dx + dy * dy
            t = 0.0 if seg2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / seg2))
            px, py = ax + t * dx, ay + t * dy
            d2 = px * px + py * py
            if d2 < best:
                best = d2
            ax, ay = bx, by
        return math.sqrt(best)

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
