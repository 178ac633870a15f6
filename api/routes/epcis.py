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

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime

from api.deps import SessionsDep, VisibleShipmentDep
from api.epcis_export import DEFAULT_MAX_EVENTS, shipment_epcis_bytes
from api.readings_query import MAX_POINTS_LIMIT, ReadingsQueryError
from api.routes.trip_downloads import INFLUX_UNAVAILABLE, attachment, trip_errors, trip_influx
from api.schemas import AUTH_RESPONSES, CONFLICT, NOT_FOUND

router = APIRouter(prefix="/shipments", tags=["shipments"], responses=AUTH_RESPONSES)

MEDIA_TYPE: Final = "application/ld+json"
_DOCUMENT: Final[dict[int | str, dict[str, object]]] = {
    200: {
        "content": {MEDIA_TYPE: {"schema": {"type": "object"}}},
        "description": "An EPCISDocument (GS1 EPCIS 2.0 JSON-LD); see docs/epcis.md.",
    },
    **INFLUX_UNAVAILABLE,
}
_WITHOUT: Final = "the document cannot hold the trip's readings"


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
    client = trip_influx(request, _WITHOUT)
    try:
        with trip_errors(shipment.shipment_id, _WITHOUT), sessions() as session:
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
    except ReadingsQueryError as exc:
        raise _refused(str(exc)) from None
    return Response(
        body,
        media_type=MEDIA_TYPE,
        headers=attachment(shipment.shipment_id, "epcis.jsonld", inline=True),
    )


def _refused(message: str) -> RequestValidationError:
    # The same shape as FastAPI's own validation errors, so clients read one kind of 422.
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", "from"), "msg": message, "input": None}]
    )
