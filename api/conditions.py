"""A shipment page's live conditions, read from InfluxDB: the `ConditionsProvider` the app takes.

The shipment's current manifest version says which device to read and since when
(departure); `api.shipment_status` computes the figures with the detectors' own code.
A manifest a stricter release can no longer parse gives no conditions rather than an error:
the rest of the page (status, alerts, risk) is still worth showing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from api.models import ShipmentVersion
from api.schemas_shipments import GeoPoint, ShipmentConditions
from api.shipment_status import shipment_status
from detectors.profiles import ManifestError, parse_shipment
from ingest.influx_client import InfluxClient


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def influx_conditions(
    client: InfluxClient, now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000
) -> Callable[[ShipmentVersion], ShipmentConditions]:
    """Reads a shipment version's conditions from `client`; its errors are the caller's to map."""

    def conditions(version: ShipmentVersion) -> ShipmentConditions:
        try:
            shipment = parse_shipment(version.manifest)
        except ManifestError:
            return ShipmentConditions()
        status = shipment_status(client, shipment, now_ms())
        position = status.last_position
        temperature = status.last_temperature_c
        return ShipmentConditions(
            last_position=(
                GeoPoint(lon=position.lon, lat=position.lat, at=_at(position.at_ms))
                if position is not None
                else None
            ),
            last_temperature_c=temperature.value if temperature is not None else None,
            mkt_c=status.mkt_c,
            stability_budget_used_min=status.stability_budget_used_min,
        )

    return conditions
