"""``/shipments/{id}/evidence.zip``: a shipment's evidence pack, for a third party to check.

Whoever may read the shipment's page may read its pack (anyone else gets the same 404). The pack
(`api.evidence_pack`) holds the raw readings from InfluxDB, so without InfluxDB it is a 503 to
retry rather than a pack with a hole in it.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request, Response, status

from api.deps import SessionsDep, VisibleShipmentDep
from api.download_names import download_name
from api.evidence_pack import PackShipmentNotFound, build_pack
from api.routes.reports import INFLUX_UNAVAILABLE
from api.schemas import AUTH_RESPONSES, CONFLICT, NOT_FOUND
from detectors.profiles import ManifestError
from ingest.influx_client import InfluxError

router = APIRouter(prefix="/shipments", tags=["shipments"], responses=AUTH_RESPONSES)


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
    client = request.app.state.influx
    if client is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no InfluxDB configured: the pack cannot hold the trip's readings",
        )
    try:
        with sessions() as session:
            body = build_pack(
                session,
                client,
                shipment.organisation_id,
                shipment.shipment_id,
                now_ms=time.time_ns() // 1_000_000,
            )
    except PackShipmentNotFound:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no shipment {shipment.shipment_id!r}"
        ) from None
    except ManifestError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"manifest unusable: {exc}") from None
    except InfluxError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"InfluxDB unavailable, so the pack cannot hold the trip's readings: {exc}",
            headers={"Retry-After": "5"},
        ) from None
    # A shipment id may hold "/" or ":": the name is made one plain file name.
    disposition = f'attachment; filename="{download_name(shipment.shipment_id, "evidence.zip")}"'
    return Response(
        body, media_type="application/zip", headers={"Content-Disposition": disposition}
    )
