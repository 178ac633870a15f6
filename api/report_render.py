"""A shipment's release report, in both formats, from the store and InfluxDB: `render_report`.

The one public entry point for whoever needs the report (the HTTP routes, `cargowatch report`,
an evidence pack): it finds the shipment in its organisation, gathers the facts once
(`api.report_data`) and writes them as PDF (`api.report_pdf`) and CSV (`api.report_csv`), so
the two always hold the same numbers. Errors say what to do: `ReportShipmentNotFound` (no such
shipment in that organisation), `detectors.profiles.ManifestError` (the stored manifest no
longer parses), the InfluxDB client's `InfluxError` (retry later).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import Organisation, Shipment
from api.report_chain import shipment_chain_head
from api.report_csv import render_csv
from api.report_data import ReportData, gather_report
from api.report_pdf import render_pdf
from api.report_telemetry import TripTelemetry
from ingest.influx_client import InfluxClient

#: How many times the facts are read again while entries keep arriving for the shipment.
CONSISTENT_READ_ATTEMPTS: Final = 3


class ReportShipmentNotFound(LookupError):
    """No shipment with that id in that organisation."""


@dataclass(frozen=True, slots=True)
class ReportBytes:
    """One report in both formats, made from the same facts."""

    pdf: bytes
    csv: bytes
    data: ReportData


def report_data(
    session: Session,
    influx: InfluxClient,
    organisation_id: int,
    shipment_id: str,
    *,
    now_ms: int | None = None,
    telemetry: TripTelemetry | None = None,
) -> ReportData:
    """The facts of the shipment's report as of `now_ms` (default: the wall clock); see
    `api.report_data.gather_report` for `telemetry`."""
    shipment = session.scalars(
        select(Shipment).where(
            Shipment.organisation_id == organisation_id, Shipment.shipment_id == shipment_id
        )
    ).one_or_none()
    organisation = session.get(Organisation, organisation_id)
    if shipment is None or organisation is None:
        raise ReportShipmentNotFound(
            f"no shipment {shipment_id!r} in organisation {organisation_id}"
        )
    at = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    # The head printed must be the chain's as the facts were read. Every entry recorded about
    # the shipment moves its head in the entry's own transaction, so an unchanged head after
    # reading means nothing was recorded meanwhile (PostgreSQL's READ COMMITTED lets each
    # query see newer commits); a busy shipment is read again, a few times at most.
    for _ in range(CONSISTENT_READ_ATTEMPTS):
        head = shipment_chain_head(session, organisation_id, shipment_id)
        data = gather_report(
            session,
            influx,
            shipment,
            organisation.name,
            now_ms=at,
            chain_head=head,
            telemetry=telemetry,
        )
        if shipment_chain_head(session, organisation_id, shipment_id) == head:
            break
    return data


def render_report(
    session: Session,
    influx: InfluxClient,
    organisation_id: int,
    shipment_id: str,
    *,
    now_ms: int | None = None,
    telemetry: TripTelemetry | None = None,
) -> ReportBytes:
    """The shipment's release report as PDF and CSV bytes (and the facts they were made from);
    `telemetry`: the trip's readings already read (see `api.report_data.gather_report`)."""
    data = report_data(
        session, influx, organisation_id, shipment_id, now_ms=now_ms, telemetry=telemetry
    )
    return ReportBytes(pdf=render_pdf(data), csv=render_csv(data), data=data)
