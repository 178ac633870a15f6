"""``/shipments/{id}/epcis.jsonld``: a shipment's readings and alert conditions as GS1 EPCIS 2.0.

The document `api.epcis_export.shipment_epcis` builds, served as ``application/ld+json`` to any
key that may read the shipment (another organisation's is a 404, as for the shipment itself).
The range defaults to the readings API's; past `max_events` reading times the readings come as
time buckets, so a long trip is read in full by asking for it a stretch at a time.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime

from api.deps import SessionsDep, VisibleShipmentDep
from api.epcis_export import DEFAULT_MAX_EVENTS, shipment_epcis_bytes
from api.readings_query import MAX_POINTS_LIMIT, ReadingsQueryError
from api.schemas import AUTH_RESPONSES, CONFLICT, NOT_FOUND, ErrorPublic
from detectors.profiles import ManifestError
from ingest.influx_client import InfluxError

router = APIRouter(prefix="/shipments", tags=["shipments"], responses=AUTH_RESPONSES)

MEDIA_TYPE: Final = "application/ld+json"
_DOCUMENT: Final[dict[int | str, dict[str, object]]] = {
    200: {
        "content": {MEDIA_TYPE: {"schema": {"type": "object"}}},
        "description": "An EPCISDocument (GS1 EPCIS 2.0 JSON-LD); see docs/epcis.md.",
    },
    503: {"model": ErrorPublic, "description": "InfluxDB is unavailable; retry later."},
}


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


@router.get(
    "/{shipment_id}/epcis.jsonld",
    operation_id="read_shipment_epcis",
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT, **_DOCUMENT},
)
def read_shipment_epcis(
    request: Request,
    row: VisibleShipmentDep,
    sessions: SessionsDep,
    from_: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="Start (inclusive, with a UTC offset); default departure."),
    ] = None,
    to: Annotated[
        AwareDatetime | None,
        Query(description="End (exclusive, with a UTC offset); default arrival or now."),
    ] = None,
    max_events: Annotated[
        int,
        Query(ge=1, le=MAX_POINTS_LIMIT, description="Most reading events before bucketing."),
    ] = DEFAULT_MAX_EVENTS,
) -> Response:
    """The shipment's sensor data and alert conditions as an EPCIS 2.0 document."""
    shipment, version, organisation = row
    client = request.app.state.influx
    if client is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no InfluxDB configured")
    try:
        with sessions() as session:
            body = shipment_epcis_bytes(
                session,
                client,
                shipment,
                version,
                organisation,
                now_ms=time.time_ns() // 1_000_000,
                start_ms=_ms(from_),
                end_ms=_ms(to),
                max_events=max_events,
            )
    except ManifestError as exc:
        # Saved by an older release with looser rules; there is nothing to read it by.
        raise HTTPException(status.HTTP_409_CONFLICT, f"manifest unusable: {exc}") from None
    except ReadingsQueryError as exc:
        raise _refused(str(exc)) from None
    except InfluxError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"InfluxDB unavailable: {exc}",
            headers={"Retry-After": "5"},
        ) from None
    filename = f"{shipment.shipment_id}.epcis.jsonld".replace('"', "_").replace("/", "_")
    return Response(
        body,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def _refused(message: str) -> RequestValidationError:
    # The same shape as FastAPI's own validation errors, so clients read one kind of 422.
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", "from"), "msg": message, "input": None}]
    )
