"""GPS lost: readings keep coming without a position, or with a frozen one.

A live receiver never repeats a fix bit for bit: its own noise moves the last digits of every
fix, even standing still. A fix repeated exactly is a receiver reporting a cached position,
and once it has been repeated for long enough the position is no longer known. How long is
judged in the tracker's time, not in readings: each reading stands for the reporting interval
it covers, so a tracker that reports every 15 minutes shows a fix frozen for 30 minutes in
three readings, not in the 30 minutes between the first and the last of them.

A receiver with static hold repeats its fix too, whenever the vehicle stands still, and lets it
go when the vehicle drives off: its next fix is no further than the vehicle could have driven
since the last repeat. A fix frozen on a moving truck is let go tens of kilometres on. A
tracker whose repeated fixes have twice been let go where the vehicle could have stood, and
never where it could not, has shown static hold, declared or not, and its repeats are no longer
called frozen; one let go too far afield shows a receiver that freezes, and it never is.
"""

from __future__ import annotations

import statistics
from array import array
from typing import Final

from detectors.alerts import Condition, rfc3339
from detectors.geo import fmt_pos, haversine_m
from detectors.pickled import SlotState, restore_slots
from detectors.profiles import Shipment
from detectors.reading import Reading
from detectors.spans import lasted

MIN: Final = 60_000
#: The reporting interval is the median of this many recent gaps between readings: one late
#: reading or one gap in coverage does not change what a reading stands for.
_GAPS: Final = 5
#: A frozen fix needs at least this many identical fixes in a row: a tracker may resend its
#: last fix once when one fix fails, so two say little; three in a row are a frozen receiver.
FROZEN_MIN_FIXES: Final = 3
#: The fastest a tracker's vehicle is taken to drive (km/h): a fix held while it stood still is
#: let go at most this far from where it stood, for the time since the last repeat.
HOLD_SPEED_KMH: Final = 150.0
#: Room (m) for a receiver's noise and the spread of its first fix after standing still.
HOLD_SLACK_M: Final = 500.0
#: A fix let go this long (ms) beyond two reporting intervals after its last repeat follows a
#: gap in the readings, which says nothing of how the vehicle moved.
HOLD_GAP_SLACK_MS: Final = 5 * MIN
#: Repeated fixes let go where the vehicle could have stood that show static hold.
HOLD_SHOWN_AFTER: Final = 2


class GpsLost:
    """Readings keep arriving, but without a position, or with one that never changes.

    Catches jamming, a shielded antenna and a receiver stuck on a cached fix;
    a tracker that stops sending altogether is `silence`, not this.

    Parameters
    ----------
    no_fix_min : readings without lat/lon for this long (first to latest, less
        `spans.SPAN_SLACK` of it) is lost.
    frozen_min : a bit-identical lat and lon repeated for this long is frozen: at least
        `FROZEN_MIN_FIXES` identical fixes in a row, whose span from the first to the
        latest plus one reporting interval (the time the latest reading stands for) is
        `frozen_min` or more, less `spans.SPAN_SLACK` of it. None never calls a fix frozen:
        for a receiver with static hold, which repeats its fix while the vehicle stands still.
    armed : watch from the start; otherwise only once a first fix shows the tracker has GPS.

    A tracker that shows static hold (`holds_fix`, see the module docstring) is treated as
    one declared with it: its repeated fixes are no longer called frozen.

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
        "_gaps",
        "_holds",
        "_last_ts",
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
        self, no_fix_min: float = 15.0, frozen_min: float | None = 30.0, armed: bool = True
    ) -> None:
        self.no_fix_ms = int(no_fix_min * MIN)
        # 0: fixes are never judged frozen (no new slot, so older snapshots load as they are).
        self.frozen_ms = int(frozen_min * MIN) if frozen_min is not None else 0
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
        self._last_ts: int | None = None  # the latest reading, with or without a fix
        # A typed array, not a deque: a deque's first block costs about 600 bytes a tracker.
        # (A snapshot from before holds a bounded deque, which the same calls serve.)
        self._gaps = array("q")
        # Repeated fixes let go where the vehicle could have stood; -1 once one was let go
        # where it could not (a receiver that freezes: it never shows static hold).
        self._holds = 0

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before repeated fixes were followed."""
        self._holds = 0
        restore_slots(self, state)

    def take_holds(self, live: GpsLost) -> None:
        """Start from what `live` (the device's live detector) has seen of the receiver's held
        fixes: a late upload's stretch judges its repeats as the live detector would."""
        self._holds = live._holds

    @property
    def holds_fix(self) -> bool:
        """Has the tracker shown static hold (see the module docstring)?"""
        return self._holds >= HOLD_SHOWN_AFTER

    def update(self, r: Reading) -> list[Condition] | None:
        lat, lon = r.lat, r.lon
        ts = r.ts_ms
        if self._last_ts is not None and ts > self._last_ts:
            self._gaps.append(ts - self._last_ts)
            if len(self._gaps) > _GAPS:
                del self._gaps[0]
        if self._last_ts is None or ts > self._last_ts:
            self._last_ts = ts
        if lat is None or lon is None or lat != lat or lon != lon:
            if not self.armed:
                return None
            if self._nofix_since < 0:
                self._nofix_since, self._nofix_n = ts, 0
            self._nofix_n += 1
            if self._active or not lasted(ts - self._nofix_since, self.no_fix_ms):
                return None
            return self._lost(ts, "no_fix")
        if self._nofix_since >= 0:
            self._nofix_since = -1
        held_ts, self._fix_ts = self._fix_ts, ts
        if lat == self._lat and lon == self._lon:
            self._same_n += 1
            if self._active or self._same_n < FROZEN_MIN_FIXES or not self.frozen_ms:
                return None
            if self.holds_fix:
                return None
            # Three fixes of a tracker reporting every 10 minutes stand for 30 minutes give or
            # take its clock's jitter: that fraction of a second must not decide (`spans`).
            if not lasted(ts - self._same_since + self._interval(), self.frozen_ms):
                return None
            return self._lost(ts, "frozen")
        if self._same_n >= FROZEN_MIN_FIXES and self._holds >= 0:
            self._follow_hold(lat, lon, ts - held_ts)
        self._lat, self._lon, self._same_since, self._same_n = lat, lon, ts, 1
        self.armed = True
        if not self._active:
            return None
        self._active = False
        summary = f"GPS fixes changing again at {fmt_pos(lon, lat)}"
        evidence = {"lat": lat, "lon": lon, "was": self._mode}
        return [Condition("gps_lost", False, ts, "warning", summary, evidence)]

    def _follow_hold(self, lat: float, lon: float, since_ms: int) -> None:
        """A repeated fix let go for (`lat`, `lon`), `since_ms` after its last repeat: where the
        vehicle could have stood, or too far for that. After a gap in the readings (a flight,
        a stretch out of coverage) it says neither: the vehicle went who knows how."""
        held_lat, held_lon = self._lat, self._lon
        if held_lat is None or held_lon is None:
            return
        if since_ms > 2 * self._interval() + HOLD_GAP_SLACK_MS:
            return
        reach_m = HOLD_SLACK_M + HOLD_SPEED_KMH / 3.6 * max(since_ms, 0) / 1000
        near = haversine_m(held_lon, held_lat, lon, lat) <= reach_m
        self._holds = self._holds + 1 if near else -1

    def _interval(self) -> int:
        """The tracker's reporting interval (ms), as its recent readings show it; 0 unknown."""
        return int(statistics.median(self._gaps)) if self._gaps else 0

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
            # Up to the end of the interval the latest reading stands for: the rule's span.
            minutes = (ts - since + self._interval()) / MIN
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
    """Armed from the start when the shipment has places to watch: positions are expected.

    A tracker whose receiver has static hold repeats its fix whenever it stands still, so
    only readings without a position are judged.
    """
    s = shipment
    expects_positions = bool(s.route or s.authorised_stops or s.restricted_zones)
    return GpsLost(frozen_min=None if s.gps_static_hold else 30.0, armed=expects_positions)
