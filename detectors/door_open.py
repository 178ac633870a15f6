"""Door open: the cargo door open where it should not be, for too long, or while the cargo warms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from detectors.alerts import Condition, rfc3339
from detectors.geo import haversine_m, place_containing, route_ends, where
from detectors.pickled import SlotState, restore_slots
from detectors.product_probe import product_lag
from detectors.profiles import Place, Shipment
from detectors.reading import Reading
from detectors.sensor_fault import probe_plausible
from detectors.spans import lasted

MIN: Final = 60_000


class DoorOpen:
    """The cargo door is open where it should not be, for too long, or while the cargo warms.

    A warning at once away from the authorised stops and the route's ends;
    where loading, unloading and inspections happen, only once open longer
    than `max_open_at_stop_min`; where the position is unknown, once open
    longer than `max_open_min`. Critical when the product temperature has
    risen `temp_rise_c` since the door opened (temperature-controlled cargo
    only); where doors open to load, unload and inspect, the air an open door lets in
    warms the cargo a little every time, so there the warming counts only once it
    threatens the range: the product is within `temp_rise_c` of its top (when
    `high_c` is known). Clears when the door closes. A door state missing from a
    reading is taken as unchanged.

    Parameters
    ----------
    stops : authorised stops, where the door may open.
    terminals : (lon, lat) of the origin and destination, where the door may open too.
    terminal_m : how near a terminal counts as at it.
    max_open_min : open longer than this, with no recent fix, is a warning.
    max_open_at_stop_min : open longer than this at an authorised place is a warning. Both
        are measured between readings' stamps and count a span short by `spans.SPAN_SLACK`.
    temp_rise_c : warming this much since the door opened is critical (None: not watched).
    high_c : the top of the product's range; at an authorised place the warming is critical
        only within `temp_rise_c` of it (None: wherever the door is).
    fix_max_age_s : how old a fix may be and still stand in for a reading without one.
    product_lag_min : for a probe that reads the air, the product's time constant: the
        warming is the product's, simulated from the air (`detectors.product_probe`).

    Examples
    --------
    >>> d = DoorOpen(stops=[Place("Depot", 36.82, -1.29, 300)], max_open_at_stop_min=60)
    >>> rs = [Reading("t1", i * 300_000, lat=-1.29, lon=36.82, door="open", temp_c=t)
    ...       for i, t in enumerate([4.0, 4.1, 4.2, 4.3, 4.4, 5.5])]
    >>> for r in rs:
    ...     for c in d.update(r) or []:
    ...         print(r.ts_ms // 60_000, c.severity, c.summary.split(" at ")[0])
    25 critical door open for 25 min and the cargo warmed 1.5 °C (4.0 to 5.5 °C)
    """

    __slots__ = (
        "_active",
        "_flat",
        "_flon",
        "_fts",
        "_opened",
        "_severity",
        "_t0",
        "fix_max_age_ms",
        "high_c",
        "max_open_at_stop_ms",
        "max_open_ms",
        "product",
        "stops",
        "temp_rise_c",
        "terminal_m",
        "terminals",
    )

    def __init__(
        self,
        stops: Sequence[Place] = (),
        terminals: Sequence[tuple[float, float]] = (),
        terminal_m: float = 1000.0,
        max_open_min: float = 15.0,
        temp_rise_c: float | None = 1.0,
        fix_max_age_s: float = 300.0,
        max_open_at_stop_min: float = 120.0,
        high_c: float | None = None,
        product_lag_min: float | None = None,
    ) -> None:
        self.stops = tuple(stops)  # the shipment's own tuple: shared, not copied
        self.terminals = tuple(terminals)
        self.terminal_m = terminal_m
        self.max_open_ms = int(max_open_min * MIN)
        self.max_open_at_stop_ms = int(max_open_at_stop_min * MIN)
        self.temp_rise_c = temp_rise_c
        self.high_c = high_c
        self.fix_max_age_ms = int(fix_max_age_s * 1000)
        self._active = False
        self._severity = "warning"
        self._opened = -1  # when the door opened; -1 while closed
        self._t0: float | None = None  # product temperature when it opened
        self._flon = self._flat = 0.0  # the last fix
        self._fts = -1
        # The simulated product behind an air probe (`detectors.product_probe`): the air an open
        # door lets in warms it slowly, and it is the cargo's warming that matters.
        self.product = product_lag(product_lag_min)

    def update(self, r: Reading) -> list[Condition] | None:
        if self.product is not None:
            # Every reading, door open or not, so the product is where the air took it.
            r = self.product.reading(r)
        lat, lon = r.lat, r.lon
        if lat is not None and lon is not None and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0:
            self._flat, self._flon, self._fts = lat, lon, r.ts_ms
        door = r.door
        if door is None:
            if self._opened < 0:
                return None
        elif door == "closed":
            return self._closed(r) if self._opened >= 0 else None
        elif door == "open":
            if self._opened < 0:
                self._opened, self._t0 = r.ts_ms, None
        else:
            return None
        t = r.temp_c
        if t is not None and not probe_plausible(t):
            t = None  # NaN or a failing probe's value says nothing about warming
        if t is not None and self._t0 is None:
            self._t0 = t
        rise = t - self._t0 if t is not None and self._t0 is not None else 0.0
        ts = r.ts_ms
        pos = self._position(ts)
        if self._harmful(rise, t, pos):
            if self._active and self._severity == "critical":
                return None
            severity = "critical"
        elif self._active:
            return None
        else:
            if pos is None:
                limit = self.max_open_ms
            elif self._expected_at(*pos):
                limit = self.max_open_at_stop_ms
            else:
                limit = 0  # open away from every authorised place: at once
            if not lasted(ts - self._opened, limit):
                return None
            severity = "warning"
        self._active, self._severity = True, severity
        return [self._condition(r, True, rise)]

    def __setstate__(self, state: SlotState) -> None:
        """Take back a pickled state, also one from before the range's top was known."""
        self.high_c = None  # a snapshot from before it judges warming as it did then
        self.product = None  # ... or from before air probes were simulated
        restore_slots(self, state)

    def _harmful(self, rise: float, t: float | None, pos: tuple[float, float] | None) -> bool:
        """Whether the warming since the door opened is critical where the box is now."""
        step = self.temp_rise_c
        if step is None or rise < step:
            return False
        if self.high_c is None or t is None or pos is None or not self._expected_at(*pos):
            return True
        # Where doors open as a matter of course, only warming that nears the limit matters.
        return t >= self.high_c - step

    def _position(self, ts: int) -> tuple[float, float] | None:
        if self._fts >= 0 and ts - self._fts <= self.fix_max_age_ms:
            return self._flon, self._flat
        return None

    def _expected_at(self, lon: float, lat: float) -> bool:
        return place_containing(self.stops, lon, lat) is not None or any(
            haversine_m(lon, lat, tlon, tlat) <= self.terminal_m for tlon, tlat in self.terminals
        )

    def _closed(self, r: Reading) -> list[Condition] | None:
        was_active = self._active
        cond = self._condition(r, False, 0.0) if was_active else None
        self._active, self._opened, self._t0 = False, -1, None
        return [cond] if cond is not None else None

    def _condition(self, r: Reading, active: bool, rise: float) -> Condition:
        ts = r.ts_ms
        pos = self._position(ts)
        text, evidence = where(self.stops, *(pos or (None, None)))
        minutes = (ts - self._opened) / MIN
        if not active:
            summary = f"door closed after {minutes:.0f} min open {text}"
        elif self._severity == "critical":
            summary = (
                f"door open for {minutes:.0f} min and the cargo warmed {rise:.1f} °C"
                f" ({self._t0:.1f} to {r.temp_c:.1f} °C) {text}"
            )
        elif pos is None or self._expected_at(*pos):
            summary = f"door open for {minutes:.0f} min {text}"
        else:
            summary = f"door opened {text}, outside every authorised stop"
        evidence.update(
            opened_at=rfc3339(self._opened),
            open_min=round(minutes, 1),
            max_open_min=self.max_open_ms / MIN,
            temp_at_open_c=self._t0,
            temp_c=r.temp_c,
            rise_c=round(rise, 2),
        )
        if self.product is not None:
            evidence["air_c"] = self.product.air_c
        return Condition(
            "door_open", active, ts, self._severity, summary, evidence, round(minutes, 1)
        )


def make_door_open(shipment: Shipment) -> DoorOpen:
    """The route's ends join the authorised stops: doors open there to load and unload."""
    s = shipment
    terminals = route_ends(s.route)
    # Warming while the door is open matters only for temperature-controlled cargo.
    span = s.profile.temp_range_c
    rise = 1.0 if span is not None else None
    top = span[1] if span is not None else None
    return DoorOpen(
        s.authorised_stops,
        terminals,
        temp_rise_c=rise,
        high_c=top,
        product_lag_min=s.product_lag_min if span is not None else None,
    )
