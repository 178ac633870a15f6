"""Roadside places: where an engine's trucks have stood, learnt so routine stops read as such.

Trucks on a corridor stop where trucks stop: service areas for fuel and drivers' rests, the
truck parks before a weighbridge, the yards of a border town. No manifest lists them all, and
a stop of 20 or 40 minutes at one looks, to a single tracker, like any stop away from its
authorised places. Across a fleet they show: many trackers stand at the same spot. This store
keeps, for one engine, every stop its trackers made away from their authorised places that
lasted an unscheduled stop's threshold: where, when it ended, and which tracker. A place where
at least `least_trackers` *other* trackers stood within `radius_m`, in the `window_days`
before, is a roadside place; `UnscheduledStop` then holds a stop there to its critical
threshold before it reports it (a rest is routine, a stop of hours is not), and says so.
Only stops that have ended count, and only before the moment asked about, so a backtest learns
in the order a live deployment would. The store is bounded (`most` stops, the oldest
forgotten first) and shared by one engine's detectors only: two engines never see each
other's trucks.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final, NamedTuple

from detectors.geo import M_PER_DEG

_RAD: Final = math.pi / 180.0
DAY_MS: Final = 86_400_000

#: Within this of each other, two stops were at one place: a truck park or a service area's
#: lorry lanes span a few hundred metres, and a stop is anchored at its first fix.
RADIUS_M: Final = 250.0
#: Other trackers that must have stood at a place before it is a roadside place: one truck
#: that stopped twice somewhere is no pattern, and a meeting point of two is what a customs
#: unit wants to see.
LEAST_TRACKERS: Final = 3
#: How long a stop is remembered: rest areas do not move, but roadworks and queues end.
WINDOW_DAYS: Final = 30.0
#: Stops kept at most (about 150 bytes each); the oldest are forgotten first.
MOST: Final = 100_000


class StoodAt(NamedTuple):
    """One stop: which tracker, where it stood, and when it left."""

    until_ms: int
    device_id: str
    lon: float
    lat: float


class RoadsidePlaces:
    """Stops of one engine's trackers, asked where others stood (see the module docstring).

    Examples
    --------
    >>> places = RoadsidePlaces()
    >>> for i, dev in enumerate(["t1", "t2", "t3"]):  # three trucks rest at one service area
    ...     places.note(dev, 36.8 + i * 2e-4, -1.3, until_ms=i * 3_600_000)
    >>> places.others("t4", 36.8001, -1.3, now_ms=4 * 3_600_000)
    3
    >>> places.others("t1", 36.8001, -1.3, now_ms=4 * 3_600_000)  # its own stop does not count
    2
    >>> places.others("t4", 36.81, -1.3, now_ms=4 * 3_600_000)  # a kilometre on: no one
    0
    """

    __slots__ = ("_cells", "_order", "least_trackers", "most", "radius_m", "window_ms")

    def __init__(
        self,
        radius_m: float = RADIUS_M,
        least_trackers: int = LEAST_TRACKERS,
        window_days: float = WINDOW_DAYS,
        most: int = MOST,
    ) -> None:
        if radius_m <= 0 or least_trackers < 1 or window_days <= 0 or most < 1:
            raise ValueError(
                "roadside places need a positive radius, window and size and at least one"
                f" tracker, got radius_m={radius_m}, least_trackers={least_trackers},"
                f" window_days={window_days}, most={most}"
            )
        self.radius_m = radius_m
        self.least_trackers = least_trackers
        self.window_ms = int(window_days * DAY_MS)
        self.most = most
        # Stops by grid cell (`radius_m` square, in a projection local to each stop), each
        # cell's in the order noted; and every stop in that order, to forget the oldest.
        self._cells: dict[tuple[int, int], deque[StoodAt]] = {}
        self._order: deque[tuple[tuple[int, int], StoodAt]] = deque()

    def __len__(self) -> int:
        return len(self._order)

    def note(self, device_id: str, lon: float, lat: float, until_ms: int) -> None:
        """Remember that `device_id` stood at (`lon`, `lat`) until `until_ms`."""
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return
        stop = StoodAt(until_ms, device_id, lon, lat)
        key = self._cell(lon, lat)
        self._cells.setdefault(key, deque()).append(stop)
        self._order.append((key, stop))
        horizon = until_ms - self.window_ms
        order = self._order
        while len(order) > self.most or order[0][1].until_ms < horizon:
            old_key, _ = order.popleft()
            cell = self._cells[old_key]
            cell.popleft()  # a cell's stops were noted in the same order
            if not cell:
                del self._cells[old_key]

    def others(self, device_id: str, lon: float, lat: float, now_ms: int) -> int:
        """How many trackers other than `device_id` stood within `radius_m` of (`lon`, `lat`)
        in the `window_days` up to `now_ms` (stops that ended by then)."""
        cx, cy = self._cell(lon, lat)
        cos_lat = math.cos(lat * _RAD)
        kx = cos_lat * M_PER_DEG
        # A cell spans `radius_m` of latitude and as many degrees of longitude, which is
        # narrower by cos(lat): the radius reaches that many more cells east and west.
        wide = math.ceil(1.0 / max(cos_lat, 0.02))
        r2 = self.radius_m * self.radius_m
        since = now_ms - self.window_ms
        seen: set[str] = set()
        cells = self._cells
        for dx in range(-wide, wide + 1):
            for dy in (-1, 0, 1):
                for s in cells.get((cx + dx, cy + dy), ()):
                    if s.device_id == device_id or not since <= s.until_ms <= now_ms:
                        continue
                    ex, ey = (s.lon - lon) * kx, (s.lat - lat) * M_PER_DEG
                    if ex * ex + ey * ey <= r2:
                        seen.add(s.device_id)
        return len(seen)

    def absorb(self, other: RoadsidePlaces) -> None:
        """Take in every stop `other` holds (a store restored from a snapshot), oldest first."""
        if other is self:
            return
        for _, stop in sorted(other._order, key=lambda kv: kv[1].until_ms):
            self.note(stop.device_id, stop.lon, stop.lat, stop.until_ms)
        other._cells, other._order = {}, deque()

    def _cell(self, lon: float, lat: float) -> tuple[int, int]:
        # The same angle on both axes, so a stop's cell never depends on another's latitude.
        angle = self.radius_m / M_PER_DEG
        return math.floor(lon / angle), math.floor(lat / angle)
