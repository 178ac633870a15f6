"""Route deviation: the shipment has left its planned route's corridor.

Each fix costs a few comparisons: route distances are bounded with the
triangle inequality from the last exactly measured point and found by a
short walk along the route from the last nearest segment, so a dense
routing-engine polyline costs about what a three-point route does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from detectors.alerts import Condition, rfc3339
from detectors.geo import (
    M_PER_DEG,
    fmt_m,
    place_containing,
    route_distance_m,
    walk_route_m,
    where,
)
from detectors.profiles import Place, Shipment
from detectors.reading import Reading
from detectors.spans import lasted

MIN: Final = 60_000
_RAD: Final = math.pi / 180.0


class RouteDeviation:
    """The shipment is outside its planned route's corridor.

    Catches diversions and detours a few fixes after they start; misses a
    stop just inside the corridor (see UnscheduledStop). A spoofed fix that
    GpsImplausible judges implausible never reaches it (the engine screens it
    out); one it finds plausible is taken for the shipment's position.

    Parameters
    ----------
    route : the planned path as (lon, lat) points.
    corridor_m : half-width of the corridor; farther from the route is off route.
    stops : authorised stops; fixes inside one are neither off route nor escalate.
    min_fixes : consecutive off-route fixes before it holds; one stray fix is noise.
    clear_ratio : back within this fraction of the corridor clears it (hysteresis).
    critical_ratio : farther than this many corridor widths is critical.
    critical_after_min : off route for this long is critical, less `spans.SPAN_SLACK` of it.

    Examples
    --------
    >>> d = RouteDeviation([(33.0, 0.0), (34.0, 0.0)], corridor_m=2000)
    >>> fixes = [(33.5, 0.0), (33.6, 0.03), (33.7, 0.03), (33.8, 0.017), (33.9, 0.0)]
    >>> for i, (lon, lat) in enumerate(fixes):
    ...     for c in d.update(Reading("t1", i * 300_000, lat=lat, lon=lon)) or []:
    ...         print(i, c.active, c.severity, c.summary)
    2 True warning 3.3 km off the planned route for 5 min at 0.0300, 33.7000 (corridor 2 km)
    4 False warning back on the planned route at 0.0000, 33.9000 (corridor 2 km)
    """

    __slots__ = (
        "_active",
        "_ad",
        "_akx",
        "_alat",
        "_alon",
        "_dseg",
        "_off",
        "_reported_m",
        "_seg",
        "_severity",
        "_since",
        "clear_m",
        "corridor_m",
        "critical_after_ms",
        "critical_m",
        "min_fixes",
        "points",
        "stops",
    )

    def __init__(
        self,
        route: Sequence[tuple[float, float]],
        corridor_m: float = 2000.0,
        stops: Sequence[Place] = (),
        min_fixes: int = 2,
        clear_ratio: float = 0.8,
        critical_ratio: float = 5.0,
        critical_after_min: float = 30.0,
    ) -> None:
        if len(route) < 2:
            raise ValueError("a route needs at least two points")
        self.points = tuple(route)
        self.corridor_m = corridor_m
        self.clear_m = corridor_m * clear_ratio
        self.critical_m = corridor_m * critical_ratio
        self.critical_after_ms = int(critical_after_min * MIN)
        self.min_fixes = min_fixes
        self.stops = tuple(stops)  # the shipment's own tuple: shared, not copied
        self._active = False
        self._severity = "warning"
        self._off = 0  # consecutive fixes outside the corridor
        self._since = 0  # first of them
        self._reported_m = 0.0
        # The nearest segment at the last measurement and how far that was along the route from
        # the one before: the next walk starts where the shipment is likely to be by now.
        self._seg = self._dseg = 0
        # Anchor: the last measured fix and its route distance (an upper bound while on route,
        # exact while off route), so a fix that has not moved far enough to change the answer
        # costs one flat distance.
        self._alon = self._alat = 0.0
        self._akx = 0.0
        self._ad = -1.0

    def update(self, r: Reading) -> list[Condition] | None:
        lat, lon = r.lat, r.lon
        if lat is None or lon is None or not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return None
        ad, move = self._ad, 0.0
        if ad >= 0.0:
            dx, dy = (lon - self._alon) * self._akx, (lat - self._alat) * M_PER_DEG
            # 1 % and 10 m of slack cover the projection changing between the two points.
            move = math.sqrt(dx * dx + dy * dy) * 1.01 + 10.0
            if not self._active:
                if ad + move < self.corridor_m:
                    self._off = 0
                    return None
            elif (
                ad - move > self.clear_m
                and ad + move < min(self.critical_m, 2 * self._reported_m)
                and (
                    self._severity == "critical"
                    or not lasted(r.ts_ms - self._since, self.critical_after_ms)
                )
            ):
                return None
        points = self.points
        if not self._active:
            if ad >= 0.0 and ad - move > self.corridor_m:
                # Surely outside: an anchor beyond the corridor was always measured exactly. A
                # truck parked at an off-route depot costs no route scans this way.
                d = -1.0
            else:
                # Walking on to half the corridor, not just to its edge, leaves an anchor close
                # to the route, so the bound above lets more of the next fixes through unmeasured.
                d, seg = walk_route_m(points, lon, lat, self._seg + self._dseg, self.corridor_m / 2)
                if d > self.corridor_m:
                    d, seg = route_distance_m(points, lon, lat)
                self._anchor(lon, lat, d, seg)
                if d <= self.corridor_m:
                    self._off = 0
                    return None
            if place_containing(self.stops, lon, lat) is not None:
                self._off = 0
                return None
            self._off += 1
            if self._off == 1:
                self._since = r.ts_ms
            if self._off < self.min_fixes:
                return None
            if d < 0.0:
                d, seg = route_distance_m(points, lon, lat)
                self._anchor(lon, lat, d, seg)
            self._active = True
            self._severity = self._judge(r.ts_ms, d, "warning")
            return [self._condition(r, lon, lat, d)]
        d, seg = walk_route_m(points, lon, lat, self._seg + self._dseg, self.clear_m)
        if d > self.clear_m:
            d, seg = route_distance_m(points, lon, lat)
        self._anchor(lon, lat, d, seg)
        if d <= self.clear_m:
            self._active = False
            self._off = 0
            text, evidence = where(self.stops, lon, lat)
            evidence.update(distance_m=round(d), corridor_m=self.corridor_m)
            summary = f"back on the planned route {text} (corridor {fmt_m(self.corridor_m)})"
            return [
                Condition(
                    "route_deviation", False, r.ts_ms, self._severity, summary, evidence, round(d)
                )
            ]
        if place_containing(self.stops, lon, lat) is not None:
            return None
        severity = self._judge(r.ts_ms, d, self._severity)
        if severity != self._severity or d >= 2 * self._reported_m:
            self._severity = severity
            return [self._condition(r, lon, lat, d)]
        return None

    def _judge(self, ts: int, d: float, severity: str) -> str:
        if d > self.critical_m or lasted(ts - self._since, self.critical_after_ms):
            return "critical"
        return severity

    def _anchor(self, lon: float, lat: float, d: float, seg: int) -> None:
        self._alon, self._alat, self._ad = lon, lat, d
        self._akx = math.cos(lat * _RAD) * M_PER_DEG
        self._seg, self._dseg = seg, seg - self._seg

    def _condition(self, r: Reading, lon: float, lat: float, d: float) -> Condition:
        self._reported_m = d
        text, evidence = where(self.stops, lon, lat)
        minutes = (r.ts_ms - self._since) / MIN
        evidence.update(
            distance_m=round(d),
            corridor_m=self.corridor_m,
            first_seen=rfc3339(self._since),
            off_route_min=round(minutes, 1),
        )
        lasting = f" for {minutes:.0f} min" if minutes >= 1 else ""
        summary = (
            f"{fmt_m(d)} off the planned route{lasting} {text} (corridor {fmt_m(self.corridor_m)})"
        )
        return Condition(
            "route_deviation", True, r.ts_ms, self._severity, summary, evidence, round(d)
        )


def make_route_deviation(shipment: Shipment) -> RouteDeviation | None:
    if len(shipment.route) < 2:
        return None
    return RouteDeviation(shipment.route, shipment.profile.corridor_m, shipment.authorised_stops)
