"""Gather a shipment's readings (InfluxDB) and alert steps (SQL store) into its EPCIS document.

`shipment_epcis` is the one call the API route, the ``cargowatch epcis`` command and the
evidence pack make: it reads the range the readings API would serve by default (departure to
arrival, or now while in transit), with at most `max_events` reading events (beyond it the
readings come in time buckets, as `api.readings_query` makes them), and the detector events of
the shipment's alerts in that same range. Errors are the readers' own: `ManifestError` for a
manifest nothing can be read by, `ReadingsQueryError` for a range that cannot be served, the
InfluxDB client's `InfluxError` when it cannot answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, ParamSpec

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.epcis import ALERT_ACTIONS, AlertStep, ShipmentRef, document_bytes, epcis_document
from api.models import Alert, AlertHistory, Shipment, ShipmentVersion, from_ms, to_ms
from api.readings_query import ReadingSeries, shipment_readings
from detectors.profiles import parse_shipment
from ingest.influx_client import InfluxClient

P = ParamSpec("P")

#: Reading events per document unless asked otherwise; a two-day trip at 5 min is 576.
DEFAULT_MAX_EVENTS: Final = 2000
#: Alert steps per document at most: far beyond any real shipment, it bounds a pathological one.
MAX_ALERT_STEPS: Final = 10_000


def alert_steps(
    session: Session, organisation_id: int, shipment_id: str, start_ms: int, end_ms: int
) -> list[AlertStep]:
    """The detector events of the shipment's alerts with start_ms <= at < end_ms, oldest first."""
    query = (
        select(AlertHistory, Alert.kind)
        .join(Alert, Alert.alert_id == AlertHistory.alert_id)
        .where(
            Alert.organisation_id == organisation_id,
            Alert.shipment_id == shipment_id,
            AlertHistory.action.in_(ALERT_ACTIONS),
            AlertHistory.at >= from_ms(start_ms),
            AlertHistory.at < from_ms(end_ms),
        )
        .order_by(AlertHistory.at, AlertHistory.alert_id, AlertHistory.seq)
        .limit(MAX_ALERT_STEPS)
    )
    return [
        AlertStep(
            alert_id=entry.alert_id,
            kind=kind,
            severity=entry.severity,
            action=entry.action,
            seq=entry.seq,
            at_ms=to_ms(entry.at),
            summary=entry.summary,
            evidence=entry.evidence or {},
        )
        for entry, kind in session.execute(query)
    ]


def shipment_epcis(
    session: Session,
    client: InfluxClient,
    shipment: Shipment,
    version: ShipmentVersion,
    organisation: str,
    *,
    now_ms: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    max_events: int = DEFAULT_MAX_EVENTS,
    series: ReadingSeries | None = None,
) -> dict[str, Any]:
    """The shipment's EPCIS 2.0 document (a JSON-able dict), created at `now_ms`.

    `shipment`, `version` and `organisation` are a row as `api.queries.visible_shipment`
    returns it; None for `start_ms`/`end_ms` takes the readings API's default range. `series`,
    the readings already read (`api.epcis_readings.ChannelsPass`), stands for asking InfluxDB.
    """
    manifest = parse_shipment(version.manifest)
    if series is None:
        series = shipment_readings(
            client, manifest, None, now_ms, start_ms, end_ms, max_points=max_events
        )
    steps = alert_steps(
        session, shipment.organisation_id, shipment.shipment_id, series.start_ms, series.end_ms
    )
    ref = ShipmentRef(organisation, shipment.shipment_id, version.device_id)
    return epcis_document(ref, series, steps, created_ms=now_ms)


def _serialised(build: Callable[P, dict[str, Any]]) -> Callable[P, bytes]:
    def serialised(*args: P.args, **kwargs: P.kwargs) -> bytes:
        return document_bytes(build(*args, **kwargs))

    serialised.__doc__ = f"`{build.__name__}` serialised, as JSON-LD bytes."
    return serialised


#: `shipment_epcis` serialised, as the route serves it and a file or a zip holds it.
shipment_epcis_bytes: Final = _serialised(shipment_epcis)
