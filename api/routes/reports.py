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

from fastapi import APIRouter, Request, Response

from api.deps import SessionsDep, VisibleShipmentDep
from api.report_csv import render_csv
from api.report_data import ReportData
from api.report_pdf import render_pdf
from api.report_render import ReportShipmentNotFound, report_data
from api.routes.trip_downloads import INFLUX_UNAVAILABLE, attachment, trip_errors, trip_influx
from api.schemas import AUTH_RESPONSES, CONFLICT, NOT_FOUND

router = APIRouter(prefix="/shipments", tags=["shipments"], responses=AUTH_RESPONSES)

_WITHOUT: Final = "the report cannot state the trip's readings"


def _facts(request: Request, row: VisibleShipmentDep, sessions: SessionsDep) -> ReportData:
    shipment, _, _ = row
    client = trip_influx(request, _WITHOUT)
    with (
        trip_errors(shipment.shipment_id, _WITHOUT, (ReportShipmentNotFound,)),
        sessions() as session,
    ):
        return report_data(
            session,
            client,
            shipment.organisation_id,
            shipment.shipment_id,
            now_ms=time.time_ns() // 1_000_000,
        )


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
        headers=attachment(row[0].shipment_id, "report.pdf"),
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
        headers=attachment(row[0].shipment_id, "report.csv"),
    )
