"""Unscheduled stops: the shipment standing still away from every authorised place.

A stop is anchored at its first position, so GPS noise around a parked
truck neither ends it nor starts another; authorised stops, the route's
ends and the time before departure are expected places to stand. A stop
that rests on one fix repeated to the last digit (after at most one other,
the last live fix) may be a receiver holding a cached position (jammed,
shielded) on a truck that drives on: the alert still opens, as a stopped
truck may be what it is, but says so, and `gps_lost` judges the fix frozen
once it has been held long enough. A receiver with static hold repeats its
fix whenever it stands still, so for its shipment that is not said. A stop is one stop across
either edge of a coverage gap whose readings come late: the upload's stop detector takes up the
stop the live one saw under way where the upload begins (`UnscheduledStop.resume`), and the live
one takes up the stop the upload ends in when its first fix after the gap is there
(`UnscheduledStop.adopt`). Where other trackers of the engine have stood before
(`detectors.roadside_places`: a service area, a truck park, a border town's yard), a stop is a
roadside stop: it is reported only once it has lasted the critical threshold, and critical
after twice that, and says how many other trackers stood there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Final, NamedTuple

from detectors.alerts import Condition, rfc3339
from detectors.geo import (
    M_PER_DEG,
    haversine_m,
    place_containing,
    route_ends,
    where,
)
from detectors.gps_lost import FROZEN_MIN_FIXES, GpsLost
from detectors.pickled import SlotState, restore_slots
from detectors.profiles import Place, Shipment
from detectors.reading import Reading
from detectors.roadside_places import DAY_MS, RoadsidePlaces
from detectors.spans import lasted

MIN: Final = 60_000
_RAD: Final = math.pi / 180.0
#: `_StopAt.moved_ms` of a stop no fix has yet shown the truck leaving.
_NEVER_MOVED: Final = 2**62


class _StopAt(NamedTuple):
    """A stop as it stood at one of its fixes: what a late upload's detector takes up."""

    alon: float
    alat: float
    akx: float
    since: int
    excused: bool | None
    fixes: int
    run: int
    #: Its fix this is as of.
    last: int
    active: bool
    severity: str
    #: When the first fix away from it came.
    moved_ms: int
    #: Other trackers that had stood at its place (`RoadsidePlaces`), 0 if none or not asked.
    roadside: int = 0


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
    critical_after_min : standing this long is critical. Both are measured between readings'
        stamps and count a span short of them by `spans.SPAN_SLACK`.
    leave_m : moving this far from the anchor ends the stop (hysteresis over radius_m).
    terminal_m : how near the origin or destination a stop is expected.
    confirm_fixes : consecutive fixes beyond the radius before the shipment counts as moved,
        so one multipath jump neither restarts nor ends a stop.
    static_hold : the receiver pins its fix while standing still, so a stop on one repeated
        fix is not said to be a frozen GPS.
    places : the engine's record of where its trackers stood (`RoadsidePlaces`), shared by
        its detectors; a stop this detector judged is noted there when it ends. None: no
        place is a roadside place.
    device_id : the tracker this detector watches, whose own stops are not counted as others'.
    roadside : whether a stop at a roadside place is held to the critical time; False: its
        stops are only noted there (the manifest's `roadside_places`).

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
        "_ended",
        "_excused",
        "_fixes",
        "_last",
        "_plat",
        "_plon",
        "_pts",
        "_roadside",
        "_run",
        "_severity",
        "_since",
        "arrival_ms",
        "confirm_fixes",
        "critical_after_ms",
        "departure_ms",
        "device_id",
        "leave_m",
        "min_stop_ms",
        "places",
        "radius_m",
        "receiver",
        "roadside",
        "static_hold",
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
        static_hold: bool = False,
        places: RoadsidePlaces | None = None,
        device_id: str = "",
        roadside: bool = True,
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
        self.static_hold = static_hold
        self.places = places
        self.device_id = device_id
        self.roadside = roadside
        #: The device's `gps_lost` detector, which knows whether its receiver has shown static
        #: hold (`link_receiver`); None: only a declared one is known.
        self.receiver: GpsLost | None = None
        self._roadside = 0  # other trackers that stood at this stop's place before
        self._active = False
        self._severity = "warning"
        self._alon = self._alat = self._akx = 0.0
        self._since = -1  # the anchor's time; -1 before the first fix
        self._excused: bool | None = None  # is the anchor at a planned place? None: not asked
        self._beyond = 0  # consecutive fixes beyond the radius
        # The first of them; while there are none, the stop's latest fix, for its repeats.
        self._plon = self._plat = 0.0
        self._pts = 0
        self._fixes = 0  # fixes of the current stop, its anchor included
        self._last = -1  # the time of its latest fix
        self._run = 0  # the latest of them that repeat one another bit for bit
        # The stop before the current one as it stood at its last fix, if it may have lasted
        # `min_stop_ms` before the truck was seen away; None until such a stop has ended.
        self._ended: _StopAt | None = None

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before fixes were counted: a stop under
        way then is not said to repeat its fix, as its earlier fixes were not seen; nor was
        static hold declared then."""
        self._fixes, self._run = 2, 0
        self.static_hold = False
        self._last = -1  # not kept then: the stop's end is taken as its first fix away
        self._ended = None
        self.places, self.device_id, self._roadside = None, "", 0
        self.roadside = True
        self.receiver = None
        restore_slots(self, state)

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
            if self._fixes > 1 and lasted(self._pts - self._since, self.min_stop_ms):
                # The truck may have stood here long enough before it was seen away: out of
                # coverage, say, which a late upload shows (`resume`). A truck seen at one fix
                # is not known to have stood (a 15-minute tracker on the move re-anchors every
                # other fix, and a stop kept each time is some 280 bytes a device): a stop
                # begun at the last fix before a gap counts from the upload's first.
                self._ended = self._stop_at(self._last, self._pts)
                if self._excused is False and self.places is not None:
                    # Judged away from every authorised place: a stop others may make too.
                    self.places.note(self.device_id, self._alon, self._alat, self._last)
            out = self._moved(ts, lon, lat) if self._active else None
            # A new stop began at the first fix of the move if the shipment stayed there.
            dx, dy = (lon - self._plon) * self._akx, (lat - self._plat) * M_PER_DEG
            if dx * dx + dy * dy <= self.radius_m * self.radius_m:
                moved = self._beyond
                self._anchor(self._plon, self._plat, self._pts)
                if moved > 1:
                    # The fixes since the first beyond the old stop are this one's. Those
                    # between the first and the latest (none, with two to confirm) were not
                    # kept, so no run of repeats is taken to span them.
                    if moved > 2:
                        self._plon = math.nan
                    self._count(lon, lat, ts)
                    self._fixes = moved
                    # On a tracker reporting every 15 min the new stop may already have
                    # lasted long enough: it opens now, not a reporting interval later.
                    began = self._judge(ts)
                    if began:
                        return [*(out or ()), *began]
            else:
                self._anchor(lon, lat, ts)
            return out
        if self._beyond:
            # The stop goes on: the stray fixes beyond it were its own. The first of them,
            # kept where the latest fix is, lies beyond the radius, so no run of repeats
            # spans it.
            self._fixes += self._beyond
            self._beyond = 0
        self._count(lon, lat, ts)
        return self._judge(ts)

    def resume(self, live: UnscheduledStop, first_ts: int) -> None:
        """Take up the stop `live` (the device's live detector) saw under way at `first_ts`,
        where this detector's readings (a late upload's) begin: the stop that had begun
        before it and that no fix had yet shown the truck leaving. Its first fix, its length
        so far and whether it was reported go on from there. A detector that has seen a fix
        keeps its own.
        """
        if self.places is None:
            self.places = live.places
        if self.receiver is None:
            self.receiver = live.receiver
        if self._since >= 0:
            return
        stop = None
        if 0 <= live._since < first_ts and (live._beyond == 0 or live._pts > first_ts):
            # A stop with fixes after `first_ts` too had them on both sides of the gap; those
            # before it were not kept apart, so its first fix stands for them.
            spans = live._last >= first_ts
            stop = live._stop_at(live._since if spans else live._last, _NEVER_MOVED)
            if spans:
                stop = stop._replace(fixes=1, run=1)
        elif (ended := live._ended) is not None and ended.since < first_ts < ended.moved_ms:
            # Reported, this stop's alert was resolved when the truck was seen away: it is not
            # raised again, as critical or otherwise, for what the upload adds to it.
            stop = ended._replace(severity="critical") if ended.active else ended
        if stop is None:
            return
        self._alon, self._alat, self._akx = stop.alon, stop.alat, stop.akx
        self._since, self._excused, self._last = stop.since, stop.excused, stop.last
        self._roadside = stop.roadside
        self._fixes, self._run = stop.fixes, stop.run
        self._active, self._severity = stop.active, stop.severity
        self._beyond = 0
        # The stop's latest fix is not kept, so no run of repeats is taken to reach past it.
        self._plon = self._plat = math.nan

    def adopt(self, late: UnscheduledStop) -> list[Condition] | None:
        """Take from a late upload's detector (`late`) the stop its readings ended in, where
        this detector's first fix after them is at that stop: the stop then counts from the
        upload's first fix of it. Either's latest fix may be one beyond its stop that has not
        yet confirmed a move: that fix is where the truck was. `late` gives the stop up, so
        it is taken once. The condition the stop holds now, as of this detector's latest fix,
        is returned (None while it has not lasted long enough to report).
        """
        ended = late._ended_in()
        if ended is None or self._since < 0:
            return None
        if self._beyond == 1 and self._pts > ended.last:
            lon, lat, first, fixes = self._plon, self._plat, self._pts, 1
        elif not self._beyond and self._since > ended.last:
            lon, lat, first, fixes = self._alon, self._alat, self._since, self._fixes
        else:
            return None
        dx, dy = (lon - ended.alon) * ended.akx, (lat - ended.alat) * M_PER_DEG
        if dx * dx + dy * dy > self.radius_m * self.radius_m:
            return None
        late._since = -1
        if fixes == 1:
            self._plon, self._plat, self._run = lon, lat, 1
        self._alon, self._alat, self._akx = ended.alon, ended.alat, ended.akx
        self._since, self._excused = ended.since, ended.excused
        self._roadside = ended.roadside
        self._fixes, self._beyond = ended.fixes + fixes, 0
        self._last = max(self._last, first)
        if ended.severity == "critical":
            self._severity = "critical"
        if not (self._active or ended.active):
            return self._judge(self._last)
        self._active = True
        duration = self._last - self._since
        if lasted(duration, self._critical_ms()):
            self._severity = "critical"
        return [self._condition(self._last, duration)]

    def _ended_in(self) -> _StopAt | None:
        """Where this detector's readings ended: its current stop, or the one fix beyond it
        that has not yet confirmed a move; None before any fix, or after two beyond."""
        if self._since < 0 or self._beyond > 1:
            return None
        if not self._beyond:
            return self._stop_at(self._last, _NEVER_MOVED)
        lat = self._plat
        akx = math.cos(lat * _RAD) * M_PER_DEG
        pts = self._pts
        return _StopAt(self._plon, lat, akx, pts, None, 1, 1, pts, False, "warning", _NEVER_MOVED)

    def _stop_at(self, last: int, moved_ms: int) -> _StopAt:
        """The current stop as of its fix at `last`, the first fix away from it at `moved_ms`."""
        return _StopAt(
            self._alon,
            self._alat,
            self._akx,
            self._since,
            self._excused,
            self._fixes,
            self._run,
            last,
            self._active,
            self._severity,
            moved_ms,
            self._roadside,
        )

    def _judge(self, ts: int) -> list[Condition] | None:
        """The current stop as of its fix at `ts`: opened, escalated, or nothing new."""
        duration = ts - self._since
        if self._active:
            if self._severity == "warning" and lasted(duration, self._critical_ms()):
                self._severity = "critical"
                return [self._condition(ts, duration)]
            return None
        if not lasted(duration, self.min_stop_ms) or self._excused:
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
            if self.places is not None and self.roadside:
                self._roadside = self.places.others(self.device_id, alon, alat, ts)
                if self._roadside < self.places.least_trackers:
                    self._roadside = 0
        if self._roadside and not lasted(duration, self.critical_after_ms):
            # A rest at a service area is routine; a stop of hours there is not.
            return None
        self._active = True
        self._severity = "critical" if lasted(duration, self._critical_ms()) else "warning"
        return [self._condition(ts, duration)]

    def _critical_ms(self) -> int:
        """When the current stop is critical: twice the usual time at a roadside place, where
        it opens only after the usual time."""
        return 2 * self.critical_after_ms if self._roadside else self.critical_after_ms

    def _anchor(self, lon: float, lat: float, ts: int) -> None:
        self._alon, self._alat, self._since = lon, lat, ts
        self._akx = math.cos(lat * _RAD) * M_PER_DEG
        self._excused = None
        self._roadside = 0
        self._beyond = 0
        self._fixes = self._run = 1
        self._plon, self._plat = lon, lat
        self._last = ts

    def _count(self, lon: float, lat: float, ts: int) -> None:
        """Count a fix of the current stop, its latest, and the run of fixes repeating one
        another."""
        self._fixes += 1
        self._last = ts
        if lon == self._plon and lat == self._plat:
            self._run += 1
        else:
            self._plon, self._plat, self._run = lon, lat, 1

    def _repeats(self) -> bool:
        """Does the stop rest on one fix held to the last digit, in enough fixes for `gps_lost`
        to call it frozen once they span long enough? Its first fix may differ: the last live
        one before the receiver froze."""
        return self._run >= FROZEN_MIN_FIXES and self._run >= self._fixes - 1

    def _fix_note(self) -> str:
        if self.static_hold or not self._repeats():
            return ""
        if self.receiver is not None and self.receiver.holds_fix:
            return ""  # a receiver shown to pin its fix while parked: the truck stands
        return (
            f"; {self._run} of its {self._fixes} fixes repeat one position to the last digit, as"
            " a receiver holding a cached position sends: the GPS may be frozen (jammed or"
            " shielded), not the truck"
        )

    def _condition(self, ts: int, duration: int) -> Condition:
        text, evidence = where(self.stops, self._alon, self._alat)
        minutes = duration / MIN
        evidence.update(
            since=rfc3339(self._since),
            duration_min=round(minutes, 1),
            fixes=self._fixes,
            identical_fixes=self._run,
        )
        summary = f"stopped for {minutes:.0f} min {text}{self._roadside_note(evidence)}"
        summary += self._fix_note()
        return Condition(
            "unscheduled_stop", True, ts, self._severity, summary, evidence, round(minutes, 1)
        )

    def _roadside_note(self, evidence: dict[str, Any]) -> str:
        """At a roadside place, its evidence (`roadside_trackers`) and the summary's words."""
        n = self._roadside
        if not n or self.places is None:
            return ""
        evidence["roadside_trackers"] = n
        days = self.places.window_ms / DAY_MS
        return f", where {n} other trackers stood in the last {days:.0f} days (a rest area, likely)"

    def _moved(self, ts: int, lon: float, lat: float) -> list[Condition]:
        self._active = False
        minutes = (self._pts - self._since) / MIN
        # The shipment left between its last fix at the stop and its first away from it: on a
        # tracker reporting every 15 min the two bound the stop's length a quarter-hour apart.
        last = self._last if self._last >= self._since else self._pts
        seen = (last - self._since) / MIN
        text, evidence = where(self.stops, self._alon, self._alat)
        evidence.update(
            since=rfc3339(self._since),
            duration_min=round(minutes, 1),
            fixes=self._fixes,
            identical_fixes=self._run,
            last_stopped_at=rfc3339(last),
            moved_at=rfc3339(self._pts),
            now_lat=lat,
            now_lon=lon,
        )
        span = f"{minutes:.0f}" if round(seen) == round(minutes) else f"{seen:.0f}-{minutes:.0f}"
        summary = f"moving again after {span} min stopped {text}{self._fix_note()}"
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


def make_unscheduled_stop(
    shipment: Shipment, places: RoadsidePlaces | None = None
) -> UnscheduledStop | None:
    """None unless the shipment says where (a route) or when (departure and arrival) it travels.

    Without either, a tracker parked at its depot between jobs would be an endless stop.
    `places` is the engine's record of where its trackers stood (`RoadsidePlaces`).
    """
    s = shipment
    if len(s.route) < 2 and (s.departure_ms is None or s.arrival_ms is None):
        return None
    # With a route, reaching its end is what ends the journey, not the planned arrival time:
    # a late truck that stops short of its destination is still stopping.
    routed = len(s.route) >= 2
    stop_min = s.profile.unscheduled_stop_min
    return UnscheduledStop(
        s.authorised_stops,
        route_ends(s.route) if routed else (),
        s.departure_ms,
        None if routed else s.arrival_ms,
        min_stop_min=stop_min,
        critical_after_min=critical_after_min(stop_min),
        static_hold=s.gps_static_hold,
        places=places,
        device_id=s.device_id,
        roadside=s.roadside_places,
    )


def link_receiver(detectors: Sequence[object]) -> None:
    """Give a device's stop detector its `gps_lost` detector, which learns whether the
    receiver pins its fix while parked: a stop on one repeated fix then does not say the GPS
    may be frozen. Nothing where either is missing."""
    stop = next((d for d in detectors if isinstance(d, UnscheduledStop)), None)
    gps = next((d for d in detectors if isinstance(d, GpsLost)), None)
    if stop is not None and gps is not None:
        stop.receiver = gps


def share_places(places: RoadsidePlaces, detectors: Iterable[object]) -> None:
    """Point the stop detectors among `detectors` (a device's, restored from a snapshot) at the
    engine's `places`, taking in the stops the store they were restored with holds (the
    snapshot's own, already taken in, is then empty): restored devices and new ones then learn
    from one record."""
    for d in detectors:
        if isinstance(d, UnscheduledStop) and d.places is not places:
            if d.places is not None:
                places.absorb(d.places)
            d.places = places


#: A stop is critical after this long, or after twice the shipment's `unscheduled_stop_min`
#: where that is longer: a corridor that tolerates 45 min of rest is not one where 60 min is
#: already the worst case.
CRITICAL_AFTER_MIN: Final = 60.0


def critical_after_min(stop_min: float) -> float:
    """When a stop that opened after `stop_min` becomes critical (see CRITICAL_AFTER_MIN)."""
    return max(CRITICAL_AFTER_MIN, 2 * stop_min)
