"""The release report's readings of a trip from InfluxDB: temperatures, track, seal changes.

The device's telemetry over the trip is read a page at a time, oldest first, in one pass
(`TelemetryPass`, which a caller that reads the trip anyway feeds instead) that keeps the
temperatures and positions and notes every change of the seal's state with where it happened
against the authorised stops: the last fix at most `FIX_MAX_AGE_MS` old (the seal breach
detector's own rule), inside which stop, or how far from the nearest. InfluxDB failures raise
the client's `InfluxError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from api.report_stats import TempPoint
from detectors.geo import nearest_place, place_containing
from detectors.profiles import Place
from ingest.influx_client import InfluxClient
from ingest.line_protocol import TELEMETRY

#: Readings per InfluxDB query: bounds memory per response, not the trip.
PAGE_ROWS: Final = 10_000
#: How old a position fix may be and still say where a seal reading without one was taken
#: (the seal breach detector's own default).
FIX_MAX_AGE_MS: Final = 300_000


@dataclass(frozen=True, slots=True)
class Fix:
    """A position (WGS84 degrees) and when it was taken (epoch ms)."""

    at_ms: int
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class SealChange:
    """The seal read a state different from its previous one (`previous` None: the first)."""

    at_ms: int
    seal: str
    previous: str | None
    seal_id: str | None
    position: Fix | None
    #: The authorised stop the position lies in, if any.
    at_stop: str | None
    #: The nearest authorised stop and its centre's distance in metres.
    nearest_stop: str | None
    nearest_m: float | None


@dataclass(frozen=True, slots=True)
class Telemetry:
    """What one pass over the trip's readings keeps."""

    temperatures: list[TempPoint]
    track: list[Fix]
    seal_changes: list[SealChange]
    first_ms: int | None
    last_ms: int | None


class TelemetryPass:
    """The one pass over a trip's readings, oldest first: `add` each, then `result`.

    Fed by `read_telemetry`'s own query, or by a caller that reads the trip's readings for
    more than the report (the evidence pack), so they are read from InfluxDB once.
    """

    def __init__(self, stops: Sequence[Place]) -> None:
        self._stops = stops
        self._temps: list[TempPoint] = []
        self._track: list[Fix] = []
        self._seals: list[SealChange] = []
        self._first: int | None = None
        self._last: int | None = None
        self._seal: str | None = None
        self._seal_id: str | None = None

    def add(self, at: int, row: Mapping[str, Any]) -> None:
        """One reading at `at` (epoch ms): its fields by name, a missing one absent or None."""
        self._first = at if self._first is None else self._first
        self._last = at
        if row.get("temp_c") is not None:
            self._temps.append((at, float(row["temp_c"])))
        lon, lat = row.get("lon"), row.get("lat")
        if lon is not None and lat is not None:
            self._track.append(Fix(at, float(lon), float(lat)))
        state = row.get("seal")
        if state is not None and state != self._seal:
            reading_id = row.get("seal_id")
            self._seal_id = str(reading_id) if reading_id is not None else self._seal_id
            self._seals.append(
                _seal_change(at, str(state), self._seal, self._seal_id, self._track, self._stops)
            )
            self._seal = str(state)

    def result(self) -> Telemetry:
        return Telemetry(self._temps, self._track, self._seals, self._first, self._last)


@dataclass(frozen=True, slots=True)
class TripTelemetry:
    """What a pass kept of one device's readings with start_ms <= ts <= end_ms, handed to the
    report so that it need not read them again (it reads them itself for any other trip)."""

    device_id: str
    start_ms: int
    end_ms: int
    #: The authorised stops the seal changes were placed against.
    stops: tuple[Place, ...]
    telemetry: Telemetry

    def covers(self, device_id: str, start_ms: int, end_ms: int, stops: Sequence[Place]) -> bool:
        """Whether this is what reading that trip against those stops would give."""
        mine = (self.device_id, self.start_ms, self.end_ms, self.stops)
        return mine == (device_id, start_ms, end_ms, tuple(stops))


def read_telemetry(
    influx: InfluxClient, device_id: str, start_ms: int, end_ms: int, stops: Sequence[Place]
) -> Telemetry:
    seen = TelemetryPass(stops)
    for row in _telemetry_rows(influx, device_id, start_ms, end_ms):
        seen.add(int(row["time"]), row)
    return seen.result()


def _seal_change(
    at: int,
    seal: str,
    previous: str | None,
    seal_id: str | None,
    track: Sequence[Fix],
    stops: Sequence[Place],
) -> SealChange:
    fix = track[-1] if track and at - track[-1].at_ms <= FIX_MAX_AGE_MS else None
    if fix is None:
        return SealChange(at, seal, previous, seal_id, None, None, None, None)
    inside = place_containing(stops, fix.lon, fix.lat)
    near = nearest_place(stops, fix.lon, fix.lat)
    return SealChange(
        at,
        seal,
        previous,
        seal_id,
        fix,
        inside.name if inside is not None else None,
        near[0].name if near is not None else None,
        near[1] if near is not None else None,
    )


def _telemetry_rows(
    influx: InfluxClient, device_id: str, start_ms: int, end_ms: int
) -> Iterator[dict[str, Any]]:
    """The device's rows with start_ms <= ts <= end_ms, oldest first, a page at a time."""
    after = start_ms * 1_000_000 - 1  # the query's lower bound is exclusive; times in ns
    until = end_ms * 1_000_000
    while True:
        q = (
            f'SELECT "temp_c", "lat", "lon", "seal", "seal_id" FROM {TELEMETRY}'
            " WHERE device_id = $device AND time > $after AND time <= $until"
            f" ORDER BY time ASC LIMIT {PAGE_ROWS}"
        )
        rows: list[dict[str, Any]] = []
        for series in influx.query(q, {"device": device_id, "after": after, "until": until}):
            columns = series["columns"]
            rows.extend(dict(zip(columns, values, strict=True)) for values in series["values"])
        yield from rows
        if len(rows) < PAGE_ROWS:
            return
        after = int(rows[-1]["time"]) * 1_000_000  # the client asks for epoch ms
