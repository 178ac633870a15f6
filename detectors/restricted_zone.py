"""Restricted zones: a position inside a zone the shipment must not enter.

A bounding-box test rejects nearly every fix before the polygon test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from detectors.alerts import Condition, rfc3339
from detectors.geo import (
    fmt_pos,
    point_in_ring,
)
from detectors.profiles import Shipment, Zone
from detectors.reading import Reading

MIN: Final = 60_000
_RAD: Final = math.pi / 180.0


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
