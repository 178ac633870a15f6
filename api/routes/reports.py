"""``/shipments/{id}/report.pdf`` and ``.csv``: a shipment's release report, for QA or customs.

The same caller may read a shipment's report who may read the shipment's page (and with the
same answer for anyone else: 404). The report is made on request from the SQL store and
InfluxDB (`api.report_render.report_data`, written out by `api.report_pdf` or
`api.report_csv`); without InfluxDB it cannot state the trip's temperatures, so it is a 503
to retry rather than a report with a hole in it.
"""

from __future__ import annotations

import time
from typing import Final

from fastapi import APIRouter, HTTPException, Request, Response, status

from api.deps import SessionsDep, VisibleShipmentDep
from api.download_names import download_name
from api.report_csv import render_csv
from api.report_data import ReportData
from api.report_pdf import render_pdf
from api.report_render import ReportShipmentNotFound, report_data
from api.schemas import AUTH_RESPONSES, CONFLICT, NOT_FOUND, ErrorPublic
from detectors.profiles import ManifestError
from ingest.influx_client import InfluxError

router = APIRouter(prefix="/shipments", tags=["shipments"], responses=AUTH_RESPONSES)

INFLUX_UNAVAILABLE: Final[dict[int | str, dict[str, object]]] = {
    503: {"model": ErrorPublic, "description": "InfluxDB is unavailable; retry later."}
}


def _facts(request: Request, row: VisibleShipmentDep, sessions: SessionsDep) -> ReportData:
    shipment, _, _ = row
    client = request.app.state.influx
    if client is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no InfluxDB configured: the report cannot state the trip's readings",
        )
    try:
        with sessions() as session:
            return report_data(
                session,
                client,
                shipment.organisation_id,
                shipment.shipment_id,
                now_ms=time.time_ns() // 1_000_000,
            )
    except ReportShipmentNotFound:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no shipment {shipment.shipment_id!r}"
        ) from None
    except ManifestError as exc:
        # Saved by an older release with looser rules; there is nothing to read it by.
        raise HTTPException(status.HTTP_409_CONFLICT, f"manifest unusable: {exc}") from None
    except InfluxError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"InfluxDB unavailable, so the report cannot state the trip's readings: {exc}",
            headers={"Retry-After": "5"},
        ) from None


def _filename(shipment_id: str, suffix: str) -> dict[str, str]:
    # A shipment id may hold "/" or ":": the name is made one plain file name.
    name = download_name(shipment_id, f"report.{suffix}")
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get(
    "/{shipment_id}/report.pdf",
    operation_id="read_shipment_report_pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The release report (PDF)."},
        **NOT_FOUND,
        **CONFLICT,
        **INFLUX_UNAVAILABLE,
    },
)
def read_shipment_report_pdf(
    request: Request, row: VisibleShipmentDep, sessions: SessionsDep
) -> Response:
    """The shipment's release report as PDF: statistics, excursions, alerts, map, customs."""
    data = _facts(request, row, sessions)
    return Response(
        render_pdf(data),
        media_type="application/pdf",
        headers=_filename(row[0].shipment_id, "pdf"),
    )


@router.get(
    "/{shipment_id}/report.csv",
    operation_id="read_shipment_report_csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The release report's numbers (CSV)."},
        **NOT_FOUND,
        **CONFLICT,
        **INFLUX_UNAVAILABLE,
    },
)
def read_shipment_report_csv(
    request: Request, row: VisibleShipmentDep, sessions: SessionsDep
) -> Response:
    """The shipment's release report as CSV: the same numbers as the PDF, a fact per row."""
    data = _facts(request, row, sessions)
    return Response(
        render_csv(data),
        media_type="text/csv; charset=utf-8",
        headers=_filename(row[0].shipment_id, "csv"),
    )
