"""The release report's readings of a trip from InfluxDB: temperatures, track, seal changes.

The device's telemetry over the trip is read a page at a time, oldest first, in one pass that
keeps the temperatures and positions and notes every change of the seal's state with where
it happened against the authorised stops: the last fix at most `FIX_MAX_AGE_MS` old (the seal
breach detector's own rule), inside which stop, or how far from the nearest. InfluxDB failures
raise the client's `InfluxError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def read_telemetry(
    influx: InfluxClient, device_id: str, start_ms: int, end_ms: int, stops: Sequence[Place]
) -> Telemetry:
    temps: list[TempPoint] = []
    track: list[Fix] = []
    seals: list[SealChange] = []
    first = last = None
    seal: str | None = None
    seal_id: str | None = None
    for row in _telemetry_rows(influx, device_id, start_ms, end_ms):
        at = int(row["time"])
        first = at if first is None else first
        last = at
        if row.get("temp_c") is not None:
            temps.append((at, float(row["temp_c"])))
        lon, lat = row.get("lon"), row.get("lat")
        if lon is not None and lat is not None:
            track.append(Fix(at, float(lon), float(lat)))
        state = row.get("seal")
        if state is not None and state != seal:
            reading_id = row.get("seal_id")
            seal_id = str(reading_id) if reading_id is not None else seal_id
            seals.append(_seal_change(at, str(state), seal, seal_id, track, stops))
            seal = str(state)
    return Telemetry(temps, track, seals, first, last)


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
