"""``/shipments/{id}/evidence.zip``: a shipment's evidence pack, for a third party to check.

Whoever may read the shipment's page may read its pack (anyone else gets the same 404). The pack
(`api.evidence_pack`) holds the raw readings from InfluxDB, so without InfluxDB it is a 503 to
retry rather than a pack with a hole in it.
"""

from __future__ import annotations

import time
from typing import Final

from fastapi import APIRouter, Request, Response

from api.deps import SessionsDep, VisibleShipmentDep
from api.evidence_pack import PackShipmentNotFound, build_pack
from api.routes.trip_downloads import INFLUX_UNAVAILABLE, attachment, trip_errors, trip_influx
from api.schemas import AUTH_RESPONSES, CONFLICT, NOT_FOUND

router = APIRouter(prefix="/shipments", tags=["shipments"], responses=AUTH_RESPONSES)

_WITHOUT: Final = "the pack cannot hold the trip's readings"


@router.get(
    "/{shipment_id}/evidence.zip",
    operation_id="read_shipment_evidence_pack",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {}},
            "description": "The evidence pack: readings, alert history, manifest versions, "
            "report, EPCIS document, SHA-256 sums and the evidence chain's head.",
        },
        **NOT_FOUND,
        **CONFLICT,
        **INFLUX_UNAVAILABLE,
    },
)
def read_shipment_evidence_pack(
    request: Request, row: VisibleShipmentDep, sessions: SessionsDep
) -> Response:
    """The shipment's evidence pack (zip), checkable offline with `cargowatch evidence verify`."""
    shipment, _, _ = row
    client = trip_influx(request, _WITHOUT)
    with (
        trip_errors(shipment.shipment_id, _WITHOUT, (PackShipmentNotFound,)),
        sessions() as session,
    ):
        body = build_pack(
            session,
            client,
            shipment.organisation_id,
            shipment.shipment_id,
            now_ms=time.time_ns() // 1_000_000,
        )
    return Response(
        body, media_type="application/zip", headers=attachment(shipment.shipment_id, "evidence.zip")
    )
