"""Geometry of a lane: distances on the sphere, densified polylines and positions along them.

A lane is driven as a polyline in longitude/latitude, interpolated linearly between vertices.
Vertices are densified so that no segment is long enough for that straight line to stray from
the great circle a consumer might compute instead (under 100 m at 50 km). Longitudes are kept
continuous inside (a Pacific crossing runs past 180) and wrapped only when written out.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M: Final = 6_371_008.8
M_PER_DEG_LAT: Final = math.pi * EARTH_RADIUS_M / 180.0

FloatArray = npt.NDArray[np.float64]


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two points given in degrees.

    >>> round(haversine_m(0.0, 0.0, 1.0, 0.0))
    111195
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def wrap_lon(lon: float) -> float:
    """A longitude folded into [-180, 180)."""
    return (lon + 180.0) % 360.0 - 180.0


def offset_deg(
    lat: FloatArray | float, east_m: FloatArray | float, north_m: FloatArray | float
) -> tuple[FloatArray, FloatArray]:
    """Degrees of longitude and latitude that ``east_m``/``north_m`` metres make at ``lat``."""
    cos_lat = np.maximum(np.cos(np.radians(lat)), 0.01)
    return (
        np.asarray(east_m) / (M_PER_DEG_LAT * cos_lat),
        np.asarray(north_m) / M_PER_DEG_LAT,
    )


@dataclass(frozen=True)
class Polyline:
    """A densified route: vertices, cumulative distance and each segment's left normal."""

    lon: FloatArray
    lat: FloatArray
    cum_m: FloatArray
    #: Unit vector (east, north) pointing left of the direction of travel, per segment.
    normal_e: FloatArray
    normal_n: FloatArray

    @property
    def length_m(self) -> float:
        return float(self.cum_m[-1])

    def at(self, d_m: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Longitude, latitude and the left normal (east, north) at distances ``d_m``."""
        lon = np.interp(d_m, self.cum_m, self.lon)
        lat = np.interp(d_m, self.cum_m, self.lat)
        seg = np.clip(np.searchsorted(self.cum_m, d_m, side="right") - 1, 0, len(self.lon) - 2)
        return lon, lat, self.normal_e[seg], self.normal_n[seg]

    def distance_at_vertex(self, index: int) -> float:
        return float(self.cum_m[index])

    @functools.cached_property
    def _normal_sums(self) -> tuple[FloatArray, FloatArray]:
        """The normal's (east, north) integrated along the line, at each vertex (m)."""
        seg_m = np.diff(self.cum_m)
        zero = np.zeros(1)
        return (
            np.concatenate([zero, np.cumsum(self.normal_e * seg_m)]),
            np.concatenate([zero, np.cumsum(self.normal_n * seg_m)]),
        )

    def smooth_normal(self, d_m: FloatArray, window_m: float) -> tuple[FloatArray, FloatArray]:
        """The left normal (east, north) averaged over ``window_m`` of the line around each of
        ``d_m``: it turns smoothly where the line bends, so a point held kilometres to one side
        moves on as a vehicle does, where each segment's own normal would make it leap at
        every bend by the offset times the angle."""
        se, sn = self._normal_sums
        lo = np.clip(d_m - window_m / 2, 0.0, self.length_m)
        hi = np.clip(d_m + window_m / 2, 0.0, self.length_m)
        span = np.maximum(hi - lo, 1e-9)
        east = (np.interp(hi, self.cum_m, se) - np.interp(lo, self.cum_m, se)) / span
        north = (np.interp(hi, self.cum_m, sn) - np.interp(lo, self.cum_m, sn)) / span
        norm = np.maximum(np.hypot(east, north), 1e-12)
        return east / norm, north / norm


def build_polyline(
    points: list[tuple[float, float]], max_segment_m: float
) -> tuple[Polyline, list[int]]:
    """Densify ``points`` (lon, lat) and return the polyline and where each point landed.

    Longitudes are unwrapped first, so a step from 179 to -179 is two degrees east, not 358
    west.
    """
    lons = [points[0][0]]
    for lon, _ in points[1:]:
        prev = lons[-1]
        lons.append(prev + wrap_lon(lon - prev))
    lats = [lat for _, lat in points]
    out_lon: list[float] = [lons[0]]
    out_lat: list[float] = [lats[0]]
    landed = [0]
    for i in range(1, len(points)):
        seg = haversine_m(lons[i - 1], lats[i - 1], lons[i], lats[i])
        pieces = max(1, math.ceil(seg / max_segment_m))
        for k in range(1, pieces + 1):
            f = k / pieces
            out_lon.append(lons[i - 1] + f * (lons[i] - lons[i - 1]))
            out_lat.append(lats[i - 1] + f * (lats[i] - lats[i - 1]))
        landed.append(len(out_lon) - 1)
    x = np.array(out_lon)
    y = np.array(out_lat)
    seg_m = np.array([haversine_m(x[i], y[i], x[i + 1], y[i + 1]) for i in range(len(x) - 1)])
    cum = np.concatenate([[0.0], np.cumsum(seg_m)])
    mid_lat = np.radians((y[:-1] + y[1:]) / 2)
    east = np.diff(x) * np.cos(mid_lat)
    north = np.diff(y)
    norm = np.maximum(np.hypot(east, north), 1e-12)
    # Left of travel is the direction vector turned a quarter anticlockwise.
    return Polyline(x, y, cum, -north / norm, east / norm), landed


def distance_to_polyline_m(lon: float, lat: float, line: Polyline) -> float:
    """Shortest distance in metres from a point to the polyline (local flat approximation)."""
    k = M_PER_DEG_LAT
    cos_lat = math.cos(math.radians(lat))
    # Longitude differences folded into ±180 keep the arithmetic continuous across 180.
    x = ((line.lon - lon + 180.0) % 360.0 - 180.0) * cos_lat * k
    y = (line.lat - lat) * k
    ax, ay, bx, by = x[:-1], y[:-1], x[1:], y[1:]
    dx, dy = bx - ax, by - ay
    seg2 = np.maximum(dx * dx + dy * dy, 1e-9)
    t = np.clip(-(ax * dx + ay * dy) / seg2, 0.0, 1.0)
    px, py = ax + t * dx, ay + t * dy
    return float(np.sqrt(px * px + py * py).min())
