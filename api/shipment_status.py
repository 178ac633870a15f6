"""Where a shipment is and how its cargo has fared: last position and temperature, MKT, budget.

What a shipment's page shows next to its alerts. Figures cover the shipment's window, from
departure (or, when the manifest has none, `LOOKBACK_MS` back) to `now_ms`. Mean kinetic
temperature and the stability budget used are not recomputed by a formula of their own: the
stored temperatures are fed, oldest first, through the detector that raises
`temp_excursion` and `stability_budget` (`detectors.temperature.TempExcursion`), so the page
and the alerts agree on the same readings. They can differ only where the live detector
skipped a reading that arrived too late to be processed in order. Only `temp_c` is streamed,
a page of readings at a time, so a long shipment never sits in memory whole; position and
last contact are one newest-point query each. InfluxDB failures raise the client's
`InfluxError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from detectors.profiles import Shipment
from detectors.reading import Reading
from detectors.temperature import TempExcursion, make_temp_excursion
from ingest.influx_client import InfluxClient
from ingest.line_protocol import TELEMETRY

#: How far back a shipment without a departure time is looked at.
LOOKBACK_MS: Final = 400 * 86_400_000
#: Readings per temperature query: bounds memory and response size, not the window.
PAGE_ROWS: Final = 10_000
#: Longest time one temperature query covers, about an InfluxDB shard (a week by default).
CHUNK_MS: Final = 7 * 86_400_000
#: Newest points looked at for a position: a fix may come without one of its two coordinates.
_POSITION_ROWS: Final = 16
_WINDOW: Final = "device_id = $device AND time >= $start AND time <= $end"


@dataclass(frozen=True, slots=True)
class Position:
    """A fix in WGS84 degrees (GeoJSON order) and when it was taken (epoch ms)."""

    lon: float
    lat: float
    at_ms: int


@dataclass(frozen=True, slots=True)
class TimedValue:
    """A value and when it was read (epoch ms)."""

    value: float
    at_ms: int


@dataclass(frozen=True, slots=True)
class ShipmentStatus:
    """A shipment's state from its readings; a field is None when no reading gives it.

    `mkt_c` is None without temperatures, and the budget fields also when the shipment has
    no temperature range (nothing to be outside of).
    """

    shipment_id: str
    device_id: str
    last_position: Position | None
    last_temperature_c: TimedValue | None
    last_seen_at_ms: int | None
    mkt_c: float | None
    stability_budget_used_min: float | None
    stability_budget_min: float | None


def shipment_status(client: InfluxClient, shipment: Shipment, now_ms: int) -> ShipmentStatus:
    """The shipment's status over its window up to `now_ms` (inclusive)."""
    start = shipment.departure_ms if shipment.departure_ms is not None else now_ms - LOOKBACK_MS
    device = shipment.device_id
    if start > now_ms:  # not departed yet: nothing of this shipment is stored
        return ShipmentStatus(shipment.shipment_id, device, None, None, None, None, None, None)
    params = {"device": device, "start": start * 1_000_000, "end": now_ms * 1_000_000}
    excursion = make_temp_excursion(shipment)
    # Without a range there is no excursion to count, but MKT means the same: an unbounded
    # range gives the detector's own MKT and no out-of-range time.
    detector = excursion or TempExcursion(-math.inf, math.inf, budget_min=math.inf)
    last_temp: TimedValue | None = None
    for at, temp in temperatures(client, device, start, now_ms):
        detector.update(Reading(device, at, temp_c=temp))
        last_temp = TimedValue(temp, at)
    return ShipmentStatus(
        shipment_id=shipment.shipment_id,
        device_id=device,
        last_position=_last_position(client, params),
        last_temperature_c=last_temp,
        last_seen_at_ms=_last_seen(client, params),
        mkt_c=detector.mkt_c,
        stability_budget_used_min=(
            detector.out_minutes if excursion is not None and last_temp is not None else None
        ),
        stability_budget_min=excursion.budget_min if excursion is not None else None,
    )


def temperatures(
    client: InfluxClient, device_id: str, start_ms: int, end_ms: int
) -> Iterator[tuple[int, float]]:
    """(ts_ms, temp_c) of the device with start_ms <= ts <= end_ms, oldest first, streamed."""
    after = start_ms - 1  # the queries' lower bound is exclusive
    while after < end_ms:
        until = min(end_ms, after + CHUNK_MS)
        params = {"device": device_id, "after": after * 1_000_000, "until": until * 1_000_000}
        q = (
            f'SELECT "temp_c" FROM {TELEMETRY}'
            " WHERE device_id = $device AND time > $after AND time <= $until"
            f" ORDER BY time ASC LIMIT {PAGE_ROWS}"
        )
        rows = _rows(client.query(q, params))
        for row in rows:
            yield int(row["time"]), float(row["temp_c"])
        # A full page may have left readings in this chunk: carry on after its last one.
        after = int(rows[-1]["time"]) if len(rows) == PAGE_ROWS else until


def _last_position(client: InfluxClient, params: dict[str, Any]) -> Position | None:
    q = (
        f'SELECT "lat", "lon" FROM {TELEMETRY} WHERE {_WINDOW}'
        f" ORDER BY time DESC LIMIT {_POSITION_ROWS}"
    )
    # Not last(lat), last(lon): two selectors in one statement lose the point's time and
    # could pair one reading's latitude with another's longitude.
    for row in _rows(client.query(q, params)):
        if row.get("lat") is not None and row.get("lon") is not None:
            return Position(float(row["lon"]), float(row["lat"]), int(row["time"]))
    return None


def _last_seen(client: InfluxClient, params: dict[str, Any]) -> int | None:
    # Any field counts, heartbeats included: the newest point is the last sign of life.
    q = f"SELECT * FROM {TELEMETRY} WHERE {_WINDOW} ORDER BY time DESC LIMIT 1"
    rows = _rows(client.query(q, params))
    return int(rows[0]["time"]) if rows else None


def _rows(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for s in series:
        columns = s["columns"]
        rows.extend(dict(zip(columns, row, strict=True)) for row in s["values"])
    return rows
