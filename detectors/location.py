"""Where cargo is versus where it should be: off route, stopped unplanned, in a restricted zone.

`RouteDeviation` watches the distance to the planned route's corridor,
`UnscheduledStop` a shipment standing still away from every authorised stop,
and `RestrictedZone` positions inside a zone polygon. Each costs a few
comparisons on the common reading: route distances are bounded with the
triangle inequality from the last exactly measured point and found by a
short walk along the route from the last nearest segment, so a dense
routing-engine polyline costs about what a three-point route does. The
place helpers here (`place_containing`, `where`) also serve the seal and door detectors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from detectors.alerts import Condition, rfc3339
from detectors.geo import EARTH_RADIUS_M, haversine_m, point_in_ring
from detectors.profiles import Place, Shipment, Zone
from detectors.reading import Reading

MIN: Final = 60_000
_RAD: Final = math.pi / 180.0
#: Metres per degree of latitude (and of longitude at the equator) on the geo module's sphere.
M_PER_DEG: Final = EARTH_RADIUS_M * _RAD


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


def _seg_d2(
    points: Sequence[tuple[float, float]], i: int, lon: float, lat: float, kx: float
) -> float:
    """Squared metres from the point to segment i, in the projection geo.Route uses."""
    ax0, ay0 = points[i]
    bx0, by0 = points[i + 1]
    ax, ay = (ax0 - lon) * kx, (ay0 - lat) * M_PER_DEG
    dx, dy = (bx0 - lon) * kx - ax, (by0 - lat) * M_PER_DEG - ay
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
    """Exact distance to the route (as geo.Route.distance_m) and the nearest segment's index.

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


class RouteDeviation:
    """The shipment is outside its planned route's corridor.

    Catches diversions and detours a few fixes after they start; misses a
    stop just inside the corridor (see UnscheduledStop) and cannot tell a
    spoofed position from a real one (see GpsImplausible).

    Parameters
    ----------
    route : the planned path as (lon, lat) points.
    corridor_m : half-width of the corridor; farther from the route is off route.
    stops : authorised stops; fixes inside one are neither off route nor escalate.
    min_fixes : consecutive off-route fixes before it holds; one stray fix is noise.
    clear_ratio : back within this fraction of the corridor clears it (hysteresis).
    critical_ratio : farther than this many corridor widths is critical.
    critical_after_min : off route for this long is critical.

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
                and (self._severity == "critical" or r.ts_ms - self._since < self.critical_after_ms)
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
        if d > self.critical_m or ts - self._since >= self.critical_after_ms:
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


class UnscheduledStop:
    """The shipment stands still where no stop was planned.

    A stop is a run of fixes within `radius_m` of its first fix (the anchor),
    so GPS noise around a parked truck does not break it. It holds after
    `min_stop_min` away from every authorised stop and from the origin and
    destination, between departure and arrival when those are known. Misses
    stops too short to tell from traffic; a long halt at an authorised stop
    is planned, so it is not reported.

    Parameters
    ----------
    stops : authorised stops; standing inside one is planned.
    terminals : (lon, lat) of the origin and destination; standing near one is expected.
    departure_ms, arrival_ms : when known, only stops between them count.
    radius_m : fixes within this of the anchor belong to the same stop.
    min_stop_min : standing this long is an unscheduled stop.
    critical_after_min : standing this long is critical.
    leave_m : moving this far from the anchor ends the stop (hysteresis over radius_m).
    terminal_m : how near the origin or destination a stop is expected.
    confirm_fixes : consecutive fixes beyond the radius before the shipment counts as moved,
        so one multipath jump neither restarts nor ends a stop.

    Examples
    --------
    >>> d = UnscheduledStop(stops=[Place("Malaba border", 34.27, 0.63, 500)], min_stop_min=20)
    >>> for i in range(6):  # parked 3.3 km short of the border, reporting every 5 min
    ...     for c in d.update(Reading("t1", i * 300_000, lat=0.63, lon=34.24 + i * 1e-5)) or []:
    ...         print(i, c.active, c.severity, c.summary)
    4 True warning stopped for 20 min at 0.6300, 34.2400, 3.3 km from Malaba border
    """

    __slots__ = (
        "_active",
        "_akx",
        "_alat",
        "_alon",
        "_beyond",
        "_excused",
        "_plat",
        "_plon",
        "_pts",
        "_severity",
        "_since",
        "arrival_ms",
        "confirm_fixes",
        "critical_after_ms",
        "departure_ms",
        "leave_m",
        "min_stop_ms",
        "radius_m",
        "stops",
        "terminal_m",
        "terminals",
    )

    def __init__(
        self,
        stops: Sequence[Place] = (),
        terminals: Sequence[tuple[float, float]] = (),
        departure_ms: int | None = None,
        arrival_ms: int | None = None,
        radius_m: float = 150.0,
        min_stop_min: float = 20.0,
        critical_after_min: float = 60.0,
        leave_m: float = 300.0,
        terminal_m: float = 1000.0,
        confirm_fixes: int = 2,
    ) -> None:
        self.stops = tuple(stops)  # the shipment's own tuple: shared, not copied
        self.terminals = tuple(terminals)
        self.departure_ms = departure_ms
        self.arrival_ms = arrival_ms
        self.radius_m = radius_m
        self.min_stop_ms = int(min_stop_min * MIN)
        self.critical_after_ms = int(critical_after_min * MIN)
        self.leave_m = leave_m
        self.terminal_m = terminal_m
        self.confirm_fixes = confirm_fixes
        self._active = False
        self._severity = "warning"
        self._alon = self._alat = self._akx = 0.0
        self._since = -1  # the anchor's time; -1 before the first fix
        self._excused: bool | None = None  # is the anchor at a planned place? None: not asked
        self._beyond = 0  # consecutive fixes beyond the radius
        self._plon = self._plat = 0.0  # the first of them
        self._pts = 0

    def update(self, r: Reading) -> list[Condition] | None:
        lat, lon = r.lat, r.lon
        if lat is None or lon is None or not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return None
        ts = r.ts_ms
        if self._since < 0:
            self._anchor(lon, lat, ts)
            return None
        dx, dy = (lon - self._alon) * self._akx, (lat - self._alat) * M_PER_DEG
        limit = self.leave_m if self._active else self.radius_m
        if dx * dx + dy * dy > limit * limit:
            self._beyond += 1
            if self._beyond == 1:
                self._plon, self._plat, self._pts = lon, lat, ts
            if self._beyond < self.confirm_fixes:
                return None
            out = self._moved(ts, lon, lat) if self._active else None
            # A new stop began at the first fix of the move if the shipment stayed there.
            dx, dy = (lon - self._plon) * self._akx, (lat - self._plat) * M_PER_DEG
            if dx * dx + dy * dy <= self.radius_m * self.radius_m:
                self._anchor(self._plon, self._plat, self._pts)
            else:
                self._anchor(lon, lat, ts)
            return out
        self._beyond = 0
        duration = ts - self._since
        if self._active:
            if self._severity == "warning" and duration >= self.critical_after_ms:
                self._severity = "critical"
                return [self._condition(ts, duration)]
            return None
        if duration < self.min_stop_ms or self._excused:
            return None
        if (self.departure_ms is not None and ts < self.departure_ms) or (
            self.arrival_ms is not None and ts > self.arrival_ms
        ):
            return None
        if self._excused is None:
            alon, alat = self._alon, self._alat
            self._excused = place_containing(self.stops, alon, alat) is not None or any(
                haversine_m(alon, alat, tlon, tlat) <= self.terminal_m
                for tlon, tlat in self.terminals
            )
            if self._excused:
                return None
        self._active = True
        self._severity = "critical" if duration >= self.critical_after_ms else "warning"
        return [self._condition(ts, duration)]

    def _anchor(self, lon: float, lat: float, ts: int) -> None:
        self._alon, self._alat, self._since = lon, lat, ts
        self._akx = math.cos(lat * _RAD) * M_PER_DEG
        self._excused = None
        self._beyond = 0

    def _condition(self, ts: int, duration: int) -> Condition:
        text, evidence = where(self.stops, self._alon, self._alat)
        minutes = duration / MIN
        evidence.update(since=rfc3339(self._since), duration_min=round(minutes, 1))
        summary = f"stopped for {minutes:.0f} min {text}"
        return Condition(
            "unscheduled_stop", True, ts, self._severity, summary, evidence, round(minutes, 1)
        )

    def _moved(self, ts: int, lon: float, lat: float) -> list[Condition]:
        self._active = False
        minutes = (self._pts - self._since) / MIN
        text, evidence = where(self.stops, self._alon, self._alat)
        evidence.update(
            since=rfc3339(self._since),
            duration_min=round(minutes, 1),
            moved_at=rfc3339(self._pts),
            now_lat=lat,
            now_lon=lon,
        )
        summary = f"moving again after {minutes:.0f} min stopped {text}"
        return [
            Condition(
                "unscheduled_stop",
                False,
                ts,
                self._severity,
                summary,
                evidence,
                round(minutes, 1),
            )
        ]


def make_unscheduled_stop(shipment: Shipment) -> UnscheduledStop | None:
    """None unless the shipment says where (a route) or when (departure and arrival) it travels.

    Without either, a tracker parked at its depot between jobs would be an endless stop.
    """
    s = shipment
    if len(s.route) < 2 and (s.departure_ms is None or s.arrival_ms is None):
        return None
    if len(s.route) >= 2:
        # With a route, reaching its end is what ends the journey, not the planned arrival
        # time: a late truck that stops short of its destination is still stopping.
        terminals = (s.route[0], s.route[-1])
        return UnscheduledStop(
            s.authorised_stops, terminals, s.departure_ms, None, min_stop_min=UNSCHEDULED_STOP_MIN
        )
    return UnscheduledStop(
        s.authorised_stops, (), s.departure_ms, s.arrival_ms, min_stop_min=UNSCHEDULED_STOP_MIN
    )


#: Stops shorter than this outside authorised places are traffic, not a customs question.
UNSCHEDULED_STOP_MIN = 10.0


class RestrictedZone:
    """The shipment is inside a restricted zone.

    Critical from the first fix inside, cleared by the first fix outside; the
    lifecycle damps a track running along a border. Misses a zone crossed
    between two fixes.

    Parameters
    ----------
    zones : the restricted zones (named polygon rings of (lon, lat)).

    Examples
    --------
    >>> square = ((33.0, 0.0), (33.1, 0.0), (33.1, 0.1), (33.0, 0.1), (33.0, 0.0))
    >>> d = RestrictedZone([Zone("Zone A", square)])
    >>> d.update(Reading("t1", 0, lat=0.05, lon=32.95)) is None
    True
    >>> inside = d.update(Reading("t1", 60_000, lat=0.05, lon=33.05))
    >>> [(c.active, c.severity, c.summary) for c in inside]
    [(True, 'critical', 'inside restricted zone Zone A at 0.0500, 33.0500')]
    >>> [(c.active, c.summary) for c in d.update(Reading("t1", 780_000, lat=0.05, lon=33.15))]
    [(False, 'left restricted zone Zone A after 12 min, now at 0.0500, 33.1500')]
    """

    __slots__ = ("_bbox", "_in", "_since", "zones")

    def __init__(self, zones: Sequence[Zone]) -> None:
        self.zones = tuple(zones)
        xs = [p[0] for z in self.zones for p in z.ring]
        ys = [p[1] for z in self.zones for p in z.ring]
        # One box around every zone: most fixes are outside it and cost four comparisons.
        self._bbox = (
            min(xs, default=math.inf),
            min(ys, default=math.inf),
            max(xs, default=-math.inf),
            max(ys, default=-math.inf),
        )
        self._in = -1  # index of the zone the shipment is in
        self._since = 0

    def update(self, r: Reading) -> list[Condition] | None:
        lat, lon = r.lat, r.lon
        if lat is None or lon is None or not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return None
        x0, y0, x1, y1 = self._bbox
        hit = -1
        if x0 <= lon <= x1 and y0 <= lat <= y1:
            for i, zone in enumerate(self.zones):
                if point_in_ring(lon, lat, zone.ring):
                    hit = i
                    break
        if hit == self._in:
            return None
        ts = r.ts_ms
        if hit < 0:
            zone = self.zones[self._in]
            minutes = (ts - self._since) / MIN
            self._in = -1
            summary = (
                f"left restricted zone {zone.name} after {minutes:.0f} min, now at"
                f" {fmt_pos(lon, lat)}"
            )
            evidence = {
                "zone": zone.name,
                "lat": lat,
                "lon": lon,
                "entered": rfc3339(self._since),
                "minutes_inside": round(minutes, 1),
            }
            return [Condition("restricted_zone", False, ts, "critical", summary, evidence)]
        self._in, self._since = hit, ts
        zone = self.zones[hit]
        evidence = {"zone": zone.name, "lat": lat, "lon": lon, "entered": rfc3339(ts)}
        summary = f"inside restricted zone {zone.name} at {fmt_pos(lon, lat)}"
        return [Condition("restricted_zone", True, ts, "critical", summary, evidence)]


def make_restricted_zone(shipment: Shipment) -> RestrictedZone | None:
    if not shipment.restricted_zones:
        return None
    return RestrictedZone(shipment.restricted_zones)
