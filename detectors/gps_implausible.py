"""Implausible GPS: a fix the shipment cannot physically have reached (spoofing, jumps).

Besides raising `gps_implausible`, it screens positions for the detectors after it in the
registry (`screen`): a reading whose fix it judged implausible reaches them without one, so
the route, stop, zone, seal and door checks never take a spoofed fix for the shipment's place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from detectors.alerts import Condition, rfc3339
from detectors.geo import M_PER_DEG, fmt_m, fmt_pos, haversine_m, route_distance_m, walk_route_m
from detectors.pickled import SlotState, restore_slots
from detectors.profiles import Shipment
from detectors.reading import Reading

MIN: Final = 60_000
#: However the shipment travels, no leg of its plan covers ground faster than this (km/h): an
#: airliner's cruise with a jet stream behind it. A fix on the route reached from the route
#: faster than that is no flight: a spoofed fix placed on the route (at a border post, say).
FASTEST_LEG_KMH: Final = 1_300.0
_RAD: Final = math.pi / 180.0
_NEVER: Final = -(2**62)


def _fmt_span(ms: int) -> str:
    if ms < 120_000:
        return f"{ms / 1000:.0f} s"
    if ms < 120 * MIN:
        return f"{ms / MIN:.0f} min"
    return f"{ms / (60 * MIN):.1f} h"


class GpsImplausible:
    """A fix that the shipment cannot physically have reached.

    Catches spoofing, multipath jumps and a tracker moved to another vehicle;
    misses a spoofed track that drifts away slower than `max_speed_kmh` and
    stays near the route. A fast move from the route to the route is a fast
    leg of the plan (a flight), not a fault, as long as no airliner would be
    faster (FASTEST_LEG_KMH): the manifest does not say the mode. A real
    relocation off the route (a re-assigned tracker) stays flagged until
    enough time has passed for the distance to be plausible.

    Parameters
    ----------
    max_speed_kmh : fastest plausible ground speed for the mode of transport.
    speed_factor : margin over `max_speed_kmh` before a jump is implausible.
    min_jump_m : shorter jumps never count, so fix noise at short intervals is ignored.
    route : the planned path as (lon, lat) points, or empty.
    corridor_m : a fix within this of the route is on it.
    far_m : a fix farther than this from the route, after an on-route fix, is implausible.
    clear_fixes : consecutive plausible fixes that clear the condition.
    repeat_window_min : a third implausible fix within this window is critical.

    Examples
    --------
    >>> d = GpsImplausible(max_speed_kmh=100)
    >>> fixes = [(39.66, -4.04), (39.67, -4.04), (36.82, -1.29), (39.68, -4.04), (39.69, -4.04),
    ...          (39.70, -4.04)]
    >>> for i, (lon, lat) in enumerate(fixes):
    ...     for c in d.update(Reading("t1", i * 300_000, lat=lat, lon=lon)) or []:
    ...         print(i, c.active, c.severity, c.summary)
    2 True warning position jumped 440 km in 5 min (5281 km/h, limit 150 km/h) to -1.2900, 36.8200
    5 False warning positions plausible again at -4.0400, 39.7000 after 1 implausible fix
    """

    __slots__ = (
        "_active",
        "_ad",
        "_akx",
        "_alat",
        "_alon",
        "_bad",
        "_count",
        "_dseg",
        "_fts",
        "_good",
        "_j1",
        "_j2",
        "_rd",
        "_rkx",
        "_rlat",
        "_rlon",
        "_route_m",
        "_rts",
        "_seg",
        "_severity",
        "_since",
        "clear_fixes",
        "corridor_m",
        "far_m",
        "limit_kmh",
        "min_jump_m",
        "points",
        "repeat_window_ms",
    )

    def __init__(
        self,
        max_speed_kmh: float = 160.0,
        speed_factor: float = 1.5,
        min_jump_m: float = 1000.0,
        route: Sequence[tuple[float, float]] = (),
        corridor_m: float = 2000.0,
        far_m: float = 50_000.0,
        clear_fixes: int = 3,
        repeat_window_min: float = 60.0,
    ) -> None:
        if len(route) == 1:
            raise ValueError("a route needs at least two points")
        self.limit_kmh = max_speed_kmh * speed_factor
        self.min_jump_m = min_jump_m
        self.points = tuple(route)
        self.corridor_m = corridor_m
        self.far_m = far_m
        self.clear_fixes = clear_fixes
        self.repeat_window_ms = int(repeat_window_min * MIN)
        self._active = False
        self._severity = "warning"
        self._good = 0  # consecutive plausible fixes while active
        self._count = 0  # implausible fixes in this episode
        self._since = 0
        self._j1 = self._j2 = _NEVER  # the two previous implausible fixes, older first
        # The reference: the last plausible fix, and its route distance once needed (-1 before).
        self._rlon = self._rlat = self._rkx = 0.0
        self._rts = -1
        # When the reference's position was first sent: its repeats bit for bit are cached
        # fixes, which renew `_rts` but say nothing of where the shipment went since.
        self._fts = -1
        self._rd = -1.0
        # Anchor for bounding route distances, as in RouteDeviation.
        self._alon = self._alat = self._akx = 0.0
        self._ad = -1.0
        self._seg = self._dseg = 0
        self._route_m = 0.0  # the last exactly measured route distance, for evidence
        self._bad = False  # whether the last reading's fix was judged implausible

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before fixes were screened."""
        self._bad = False
        if "_fts" not in restore_slots(self, state):
            self._fts = self._rts  # the reference's first sending is not known: its latest

    def screen(self, r: Reading) -> Reading:
        """`r` without its position when its fix was just judged implausible: the position
        detectors after this one (route, stops, zones, the seal's and the door's place) must
        not take a spoofed or jumped fix for where the shipment is."""
        return r._replace(lat=None, lon=None) if self._bad else r

    def update(self, r: Reading) -> list[Condition] | None:
        self._bad = False
        lat, lon = r.lat, r.lon
        if lat is None or lon is None or not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return None
        ts = r.ts_ms
        if self._rts < 0:
            self._reference(lon, lat, ts)
            return None
        dx, dy = (lon - self._rlon) * self._rkx, (lat - self._rlat) * M_PER_DEG
        jump = math.sqrt(dx * dx + dy * dy)
        if jump > 100_000:  # the flat approximation drifts over long distances
            jump = haversine_m(self._rlon, self._rlat, lon, lat)
        dt = ts - self._rts
        # A flight along the route is timed from when the position it left was first sent:
        # a frozen fix repeated until a live one tens of kilometres on is no supersonic leg.
        first_dt = ts - self._fts
        # jump_m * 3600 / dt_ms is km/h; a jump with no time passed is infinitely fast.
        if (
            jump > self.min_jump_m
            and (dt <= 0 or jump * 3600 > self.limit_kmh * dt)
            and not (jump * 3600 <= FASTEST_LEG_KMH * first_dt and self._along_route(lon, lat))
        ):
            return self._implausible(r, lon, lat, jump, dt, False)
        if self.points and self._far_after_on_route(lon, lat):
            return self._implausible(r, lon, lat, jump, dt, True)
        self._reference(lon, lat, ts)
        if self._active:
            self._good += 1
            if self._good >= self.clear_fixes:
                self._active = False
                summary = (
                    f"positions plausible again at {fmt_pos(lon, lat)} after {self._count}"
                    f" implausible fix{'es' if self._count > 1 else ''}"
                )
                evidence = {
                    "lat": lat,
                    "lon": lon,
                    "first_seen": rfc3339(self._since),
                    "count": self._count,
                }
                return [Condition("gps_implausible", False, ts, self._severity, summary, evidence)]
        return None

    def _along_route(self, lon: float, lat: float) -> bool:
        """Both this fix and the reference lie on the planned route: a fast leg (a flight,
        a ferry), not a GPS fault. Measured only for the rare too-fast jump."""
        if not self.points or route_distance_m(self.points, lon, lat)[0] > self.corridor_m:
            return False
        if self._rd < 0.0:
            self._rd = route_distance_m(self.points, self._rlon, self._rlat)[0]
        return self._rd <= self.corridor_m

    def _reference(self, lon: float, lat: float, ts: int) -> None:
        if lon != self._rlon or lat != self._rlat or self._fts < 0:
            self._fts = ts  # a new position, not a repeat of the reference bit for bit
        self._rlon, self._rlat, self._rts, self._rd = lon, lat, ts, -1.0
        self._rkx = math.cos(lat * _RAD) * M_PER_DEG

    def _far_after_on_route(self, lon: float, lat: float) -> bool:
        points = self.points
        ad = self._ad
        if ad >= 0.0:
            dx, dy = (lon - self._alon) * self._akx, (lat - self._alat) * M_PER_DEG
            if ad + math.sqrt(dx * dx + dy * dy) * 1.01 + 10.0 < self.far_m:
                return False
        # Walking down to the corridor, not just to far_m, keeps the anchor close to the route
        # and so the bound above useful for longer.
        d, seg = walk_route_m(points, lon, lat, self._seg + self._dseg, self.corridor_m / 2)
        if d > self.far_m:
            d, seg = route_distance_m(points, lon, lat)
        self._alon, self._alat, self._ad = lon, lat, d
        self._akx = math.cos(lat * _RAD) * M_PER_DEG
        self._seg, self._dseg = seg, seg - self._seg
        if d <= self.far_m:
            return False
        self._route_m = d
        if self._rd < 0.0:
            self._rd = route_distance_m(points, self._rlon, self._rlat)[0]
        return self._rd <= self.corridor_m

    def _implausible(
        self, r: Reading, lon: float, lat: float, jump: float, dt: int, off_route: bool
    ) -> list[Condition] | None:
        ts = r.ts_ms
        self._good = 0
        self._bad = True
        repeated = ts - self._j1 <= self.repeat_window_ms
        self._j1, self._j2 = self._j2, ts
        severity = "critical" if repeated else "warning"
        if self._active:
            self._count += 1
            if severity == "warning" or self._severity == "critical":
                return None
        else:
            self._active, self._since, self._count = True, ts, 1
        self._severity = severity
        jump = haversine_m(self._rlon, self._rlat, lon, lat)
        speed = jump * 3600 / dt if dt > 0 else None
        if off_route:
            text = (
                f"fix {fmt_m(self._route_m)} from the planned route at {fmt_pos(lon, lat)},"
                f" {fmt_m(jump)} from the last on-route fix {_fmt_span(dt)} earlier"
            )
        else:
            pace = f"{speed:.0f} km/h" if speed is not None else "no time passed"
            text = (
                f"position jumped {fmt_m(jump)} in {_fmt_span(max(dt, 0))}"
                f" ({pace}, limit {self.limit_kmh:.0f} km/h) to {fmt_pos(lon, lat)}"
            )
        if repeated:
            text = f"third implausible fix within {self.repeat_window_ms // MIN} min: {text}"
        evidence: dict[str, Any] = {
            "lat": lat,
            "lon": lon,
            "last_plausible": {"lat": self._rlat, "lon": self._rlon, "at": rfc3339(self._rts)},
            "jump_m": round(jump),
            "interval_s": dt / 1000,
            "speed_kmh": round(speed) if speed is not None else None,
            "limit_kmh": self.limit_kmh,
            "first_seen": rfc3339(self._since),
            "count": self._count,
        }
        if off_route:
            evidence["route_distance_m"] = round(self._route_m)
            evidence["far_m"] = self.far_m
        value = round(speed) if speed is not None else None
        return [Condition("gps_implausible", True, ts, severity, text, evidence, value)]


def make_gps_implausible(shipment: Shipment) -> GpsImplausible:
    p = shipment.profile
    return GpsImplausible(p.max_speed_kmh, route=shipment.route, corridor_m=p.corridor_m)
