"""Silence: a tracker that has stopped reporting for longer than its shipment tolerates.

Absence has no reading to trigger on, so this detector is also a timer: the
engine calls `advance` with the clock (wall time live, event time in
backtests). Silence is measured on that clock from when the device was last
heard from, not from its readings' timestamps: an ingester catching up on a
backlog after its own downtime hears old readings, and that is not the
tracker's silence. It opens when the gap passes `max_gap_min`, turns critical
at three times that, and clears as soon as readings arrive again, including
a late store-and-forward upload. A shipment that has arrived is expected to
go quiet: with a route, arrived means last seen at its destination (a late
truck that falls silent on the road is still news); without one, last heard
at or after the planned arrival. `due_ms` says when the timer next matters,
so a backtest can fire it at that event time while other devices report.
"""

from __future__ import annotations

import math
from typing import Final

from detectors.alerts import Condition, rfc3339
from detectors.geo import M_PER_DEG, haversine_m
from detectors.profiles import Shipment
from detectors.reading import Reading

#: How near the route's end a tracker counts as arrived: the same terminal radius within which
#: standing still is expected, wide enough for a depot or a port's yard beside the end point.
DESTINATION_M: Final = 1000.0


class Silence:
    """No reading for longer than `max_gap_min`.

    Parameters
    ----------
    max_gap_min : longest tolerated silence.
    critical_factor : a silence this many times `max_gap_min` long is critical.
    arrival_ms : silence that begins at or after this event time is expected, unless
        `destination` is given and a fix has been seen: then the position decides.
    destination : (lon, lat) of the journey's end; silence after a last fix within
        `destination_m` of it is expected.

    Examples
    --------
    >>> d = Silence(max_gap_min=30)
    >>> d.update(Reading("t", 0)); d.advance(0)
    >>> [(c.kind, c.active) for c in d.advance(31 * 60_000)]
    [('silence', True)]
    >>> d.update(Reading("t", 32 * 60_000))
    >>> [(c.kind, c.active) for c in d.advance(32 * 60_000)]
    [('silence', False)]
    """

    __slots__ = (
        "_at_destination",
        "_heard",
        "_heard_late",
        "_last_heard",
        "_last_ts",
        "_severity",
        "arrival_ms",
        "critical_factor",
        "destination",
        "destination_m",
        "max_gap_ms",
    )

    def __init__(
        self,
        max_gap_min: float = 30.0,
        critical_factor: float = 3.0,
        arrival_ms: int | None = None,
        destination: tuple[float, float] | None = None,
        destination_m: float = DESTINATION_M,
    ) -> None:
        self.max_gap_ms = int(max_gap_min * 60_000)
        self.critical_factor = critical_factor
        self.arrival_ms = arrival_ms
        self.destination = destination
        self.destination_m = destination_m
        self._last_ts: int | None = None
        self._last_heard: int | None = None
        self._heard = False
        self._heard_late = False
        self._severity = ""
        # Was the newest fix at the destination? None until a fix is seen.
        self._at_destination: bool | None = None

    def update(self, r: Reading) -> list[Condition] | None:
        if self._last_ts is None or r.ts_ms >= self._last_ts:
            self._last_ts = r.ts_ms
            if self.destination is not None and r.lon is not None and r.lat is not None:
                lon, lat = self.destination
                # No point is nearer than its latitude difference alone: on the road, the
                # band settles it without the haversine (the margin covers rounding).
                if abs(r.lat - lat) * M_PER_DEG > self.destination_m * 1.000001 + 1.0:
                    self._at_destination = False
                else:
                    self._at_destination = haversine_m(r.lon, r.lat, lon, lat) <= self.destination_m
        self._heard = True
        return None

    def late(self, r: Reading) -> list[Condition] | None:
        self._heard_late = True
        return self.update(r)

    def advance(self, now_ms: int) -> list[Condition] | None:
        if self._heard:
            # What was heard since the last tick says how a silence ended; it says nothing of
            # the next one, so it is forgotten here whether or not a silence was open.
            late, self._heard, self._heard_late = self._heard_late, False, False
            self._last_heard = now_ms
            if self._severity:
                return self._clear(
                    now_ms, "a late upload filled the gap" if late else "readings resumed"
                )
        if self._last_heard is None or self._last_ts is None:
            return None
        gap = now_ms - self._last_heard
        if gap <= self.max_gap_ms:
            return None
        if self._arrived():
            return None
        severity = "critical" if gap >= self.critical_factor * self.max_gap_ms else "warning"
        if severity == self._severity:
            return None
        self._severity = severity
        minutes = gap / 60_000
        tolerated = self.max_gap_ms / 60_000
        # Timed the moment the gap passes what is tolerated, the gap rounds to it: "for 30 min
        # (tolerated 30 min)" would read as no fault at all.
        shown = f"over {tolerated:g}" if round(minutes) <= tolerated else f"{minutes:.0f}"
        return [
            Condition(
                "silence",
                True,
                now_ms,
                severity,
                f"no reading for {shown} min (tolerated {tolerated:g} min)",
                {"last_reading": rfc3339(self._last_ts), "gap_min": round(minutes, 1)},
                round(minutes, 1),
            )
        ]

    def due_ms(self) -> int | None:
        if self._heard:
            return self._last_ts  # heard and not yet timed: at once
        if self._last_heard is None or self._severity == "critical" or self._arrived():
            return None
        if self._severity:
            return self._last_heard + math.ceil(self.critical_factor * self.max_gap_ms)
        return self._last_heard + self.max_gap_ms + 1  # the gap must pass what is tolerated

    def _arrived(self) -> bool:
        if self._at_destination is not None:
            return self._at_destination
        return (
            self.arrival_ms is not None
            and self._last_ts is not None
            and (self._last_ts >= self.arrival_ms)
        )

    def _clear(self, at_ms: int, why: str) -> list[Condition]:
        self._severity = ""
        return [Condition("silence", False, at_ms, "info", why, {})]


def make_silence(shipment: Shipment) -> Silence:
    # A planned arrival time is a plan: where a route says where the journey ends, reaching
    # it is what ends the watch, so a late truck still reporting after the planned time
    # can still fall silent on the road. Only without a route does the planned time decide.
    route = shipment.route
    return Silence(
        shipment.profile.max_gap_min,
        arrival_ms=shipment.arrival_ms,
        destination=route[-1] if len(route) >= 2 else None,
    )
