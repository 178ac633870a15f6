"""The EPCIS document's readings taken from a pass over the trip's raw readings that a caller
makes anyway (the evidence pack), so that they are not read from InfluxDB again: `ChannelsPass`.

`api.readings_query.readings` counts each channel's values over the range and serves them as
stored when no channel holds more than `max_points`, else in time buckets InfluxDB computes. The
pass counts the same values and keeps each channel's points while they fit, so it yields the
series that query would serve as stored; past `max_points`, or for a range that query would
refuse, it yields nothing and the caller asks InfluxDB as before (a bucket's mean computed
anywhere but in InfluxDB could differ from the served one in its last digit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.readings_query import (
    CHANNELS,
    MAX_POINTS_LIMIT,
    MAX_RANGE_MS,
    MAX_TIME_MS,
    ChannelSeries,
    ReadingSeries,
    SeriesPoint,
)
from detectors.reading import TEXT_CHANNELS


class ChannelsPass:
    """Every channel's values of one device with start_ms <= ts < end_ms: `add` each reading,
    oldest first, then `series`."""

    def __init__(self, device_id: str, start_ms: int, end_ms: int, max_points: int) -> None:
        self.device_id = device_id
        self.start_ms = start_ms
        self.end_ms = end_ms
        self._max_points = max_points
        self._points: dict[str, list[SeriesPoint]] | None = {n: [] for n in CHANNELS}

    def add(self, at: int, row: Mapping[str, Any]) -> None:
        """One reading at `at` (epoch ms): its fields by name, a missing one absent or None."""
        if self._points is None or not self.start_ms <= at < self.end_ms:
            return
        for name, points in self._points.items():
            value = row.get(name)
            if value is None:
                continue
            # JSON carries 4.0 as 4: numeric channels are floats whatever their spelling.
            points.append(SeriesPoint(at, str(value) if name in TEXT_CHANNELS else float(value)))
            if len(points) > self._max_points:
                self._points = None  # served in buckets: nothing more to keep
                return

    def series(self) -> ReadingSeries | None:
        """The series as stored, as `readings` would serve them; None when it would not."""
        servable = (
            0 <= self.start_ms < self.end_ms <= MAX_TIME_MS
            and self.end_ms - self.start_ms <= MAX_RANGE_MS
            and 1 <= self._max_points <= MAX_POINTS_LIMIT
        )
        if self._points is None or not servable:
            return None
        channels = tuple(ChannelSeries(n, tuple(p)) for n, p in self._points.items())
        return ReadingSeries(self.device_id, self.start_ms, self.end_ms, channels, False, None)
