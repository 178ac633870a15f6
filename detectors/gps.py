"""Can the positions be trusted? Implausible jumps (spoofing, multipath) and lost or frozen fixes.

`GpsImplausible` flags fixes no vehicle could have reached: too fast from
the last plausible fix, or far off the route right after an on-route fix.
It keeps comparing against the last plausible fix, so a spoofed run of
positions stays flagged instead of becoming the new truth. `GpsLost` flags a
tracker that keeps reporting without a position (jamming, a covered antenna)
or with a bit-identical one (a receiver repeating a cached fix: real
receivers jitter even when parked). Both judge only what readings carry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from detectors.alerts import Condition, rfc3339
from detectors.geo import M_PER_DEG, fmt_m, fmt_pos, haversine_m, route_distance_m, walk_route_m
from detectors.profiles import Shipment
from detectors.reading import Reading

MIN: Final = 60_000
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
    leg of the plan (a flight), not a fault: the manifest does not say the
    mode. A real relocation off the route (a re-assigned tracker) stays
    flagged until enough time has passed for the distance to be plausible.

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
        "_count",
        "_dseg",
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
        self._rd = -1.0
        # Anchor for bounding route distances, as in RouteDeviation.
        self._alon = self._alat = self._akx = 0.0
        self._ad = -1.0
        self._seg = self._dseg = 0
        self._route_m = 0.0  # the last exactly measured route distance, for evidence

    def update(self, r: Reading) -> list[Condition] | None:
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
        # jump_m * 3600 / dt_ms is km/h; a jump with no time passed is infinitely fast.
        if (
            jump > self.min_jump_m
            and (dt <= 0 or jump * 3600 > self.limit_kmh * dt)
            and not self._along_route(lon, lat)
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


class GpsLost:
    """Readings keep arriving, but without a position, or with one that never changes.

    Catches jamming, a shielded antenna and a receiver stuck on a cached fix;
    a tracker that stops sending altogether is `silence`, not this.

    Parameters
    ----------
    no_fix_min : readings without lat/lon for this long (first to latest) is lost.
    frozen_min : a bit-identical lat and lon repeated for this long is frozen.
    armed : watch from the start; otherwise only once a first fix shows the tracker has GPS.

    Examples
    --------
    >>> d = GpsLost(no_fix_min=15)
    >>> rs = [Reading("t1", 0, lat=-4.04, lon=39.66)]
    >>> rs += [Reading("t1", i * 300_000) for i in (1, 2, 3, 4)]  # no fix for 15 min
    >>> rs += [Reading("t1", 1_500_000, lat=-4.05, lon=39.67)]
    >>> for r in rs:
    ...     for c in d.update(r) or []:
    ...         print(r.ts_ms // 60_000, c.active, c.summary.split(";")[0])
    20 True no GPS fix for 15 min (4 readings without a position)
    25 False GPS fixes changing again at -4.0500, 39.6700
    """

    __slots__ = (
        "_active",
        "_fix_ts",
        "_lat",
        "_lon",
        "_mode",
        "_nofix_n",
        "_nofix_since",
        "_same_n",
        "_same_since",
        "armed",
        "frozen_ms",
        "no_fix_ms",
    )

    def __init__(
        self, no_fix_min: float = 15.0, frozen_min: float = 30.0, armed: bool = True
    ) -> None:
        self.no_fix_ms = int(no_fix_min * MIN)
        self.frozen_ms = int(frozen_min * MIN)
        self.armed = armed
        self._active = False
        self._mode = ""  # "no_fix" or "frozen" while active
        self._lat: float | None = None  # the last fix, exactly as received
        self._lon: float | None = None
        self._fix_ts = 0
        self._same_since = 0  # first time the last fix was seen
        self._same_n = 0
        self._nofix_since = -1  # first reading of the current run without a fix
        self._nofix_n = 0

    def update(self, r: Reading) -> list[Condition] | None:
        lat, lon = r.lat, r.lon
        ts = r.ts_ms
        if lat is None or lon is None or lat != lat or lon != lon:
            if not self.armed:
                return None
            if self._nofix_since < 0:
                self._nofix_since, self._nofix_n = ts, 0
            self._nofix_n += 1
            if self._active or ts - self._nofix_since < self.no_fix_ms:
                return None
            return self._lost(ts, "no_fix")
        if self._nofix_since >= 0:
            self._nofix_since = -1
        self._fix_ts = ts
        if lat == self._lat and lon == self._lon:
            self._same_n += 1
            if self._active or ts - self._same_since < self.frozen_ms:
                return None
            return self._lost(ts, "frozen")
        self._lat, self._lon, self._same_since, self._same_n = lat, lon, ts, 1
        self.armed = True
        if not self._active:
            return None
        self._active = False
        summary = f"GPS fixes changing again at {fmt_pos(lon, lat)}"
        evidence = {"lat": lat, "lon": lon, "was": self._mode}
        return [Condition("gps_lost", False, ts, "warning", summary, evidence)]

    def _lost(self, ts: int, mode: str) -> list[Condition]:
        self._active, self._mode = True, mode
        lat, lon = self._lat, self._lon
        last = None
        if lat is not None and lon is not None:
            last = {"lat": lat, "lon": lon, "at": rfc3339(self._fix_ts)}
        if mode == "no_fix":
            since, count = self._nofix_since, self._nofix_n
            minutes = (ts - since) / MIN
            summary = f"no GPS fix for {minutes:.0f} min ({count} readings without a position)"
            if lat is not None and lon is not None:
                summary += f"; last fix {fmt_pos(lon, lat)} at {rfc3339(self._fix_ts)}"
        else:
            since, count = self._same_since, self._same_n
            minutes = (ts - since) / MIN
            summary = (
                f"GPS position frozen at {fmt_pos(lon or 0.0, lat or 0.0)} for {minutes:.0f} min"
                f" ({count} identical fixes)"
            )
        evidence = {
            "mode": mode,
            "last_fix": last,
            "since": rfc3339(since),
            "count": count,
            "minutes": round(minutes, 1),
        }
        return [Condition("gps_lost", True, ts, "warning", summary, evidence, round(minutes, 1))]


def make_gps_lost(shipment: Shipment) -> GpsLost:
    """Armed from the start when the shipment has places to watch: positions are expected."""
    s = shipment
    expects_positions = bool(s.route or s.authorised_stops or s.restricted_zones)
    return GpsLost(armed=expects_positions)
