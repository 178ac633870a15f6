"""What InfluxDB holds about each tracked shipment, for dashboards that have only InfluxDB.

The telemetry of a device in a shipment is tagged with the shipment's id, but a shipment's
profile and temperature band live in the manifest and the SQL store. Grafana reads neither, so
the ingester writes each shipment it tracks as a point of the `shipments` measurement: tags
`shipment_id`, `device_id` and `profile`; fields `temp_low_c` and `temp_high_c` (the band in
force, overrides included; absent for a profile without one) and `tracked` (false once the
device leaves the shipment). The point is written when a shipment starts being tracked or
changes, and again every `REFRESH_S`, so a dashboard's time range always holds one: InfluxQL's
`fill(previous)` cannot look back past the start of the range it is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from detectors.profiles import Shipment
from ingest.line_protocol import point_line

SHIPMENTS: Final = "shipments"
#: How often every tracked shipment's point is written again (a few points per second for
#: thousands of shipments, and at most this long with no band at the start of a dashboard).
REFRESH_S: Final = 300.0


@dataclass(frozen=True, slots=True)
class ShipmentTag:
    """What the ingester tags a device's telemetry with and writes to `shipments`."""

    shipment_id: str
    profile: str
    temp_low_c: float | None
    temp_high_c: float | None

    @classmethod
    def of(cls, shipment: Shipment) -> ShipmentTag:
        band = shipment.profile.temp_range_c
        low, high = band if band is not None else (None, None)
        return cls(shipment.shipment_id, shipment.profile.name, low, high)


def shipment_line(device_id: str, tag: ShipmentTag, ts_ns: int, tracked: bool = True) -> str:
    """One `shipments` point.

    >>> print(shipment_line("trk-1", ShipmentTag("SHP 1", "vaccine_2_8", 2.0, 8.0), 7))
    shipments,device_id=trk-1,profile=vaccine_2_8,shipment_id=SHP\\ 1 tracked=true,temp_low_c=2.0...
    >>> shipment_line("trk-1", ShipmentTag("S", "customs_transit", None, None), 7, tracked=False)
    'shipments,device_id=trk-1,profile=customs_transit,shipment_id=S tracked=false 7'
    """
    fields: dict[str, float | int | str | bool] = {"tracked": tracked}
    if tag.temp_low_c is not None and tag.temp_high_c is not None:
        fields["temp_low_c"] = float(tag.temp_low_c)
        fields["temp_high_c"] = float(tag.temp_high_c)
    tags = {"device_id": device_id, "profile": tag.profile, "shipment_id": tag.shipment_id}
    return point_line(SHIPMENTS, tags, fields, ts_ns)
