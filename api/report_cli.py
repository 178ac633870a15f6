"""``cargowatch report SHIPMENT``: write a shipment's release report (PDF or CSV) to a file.

For whoever works on the store directly rather than through the HTTP API (a QA person with
database access, a script archiving reports at arrival). The shipment is named by its id, with
``--org`` when several organisations use that id. Messages go to stderr; the file's path is
the only line on stdout, so a script can take it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.download_names import download_name
from api.models import Organisation, Shipment
from api.report_csv import render_csv
from api.report_pdf import render_pdf
from api.report_render import ReportShipmentNotFound, report_data
from detectors.profiles import ManifestError
from ingest.influx_client import InfluxClient, InfluxError

#: The formats a report is written in; `cargowatch.cli` offers the same.
FORMATS = ("pdf", "csv")


def report_format(output: Path | None, given: str | None) -> str:
    """The format asked for, else the one the output's name says, else PDF.

    >>> report_format(Path("a.csv"), None), report_format(None, None), report_format(None, "csv")
    ('csv', 'pdf', 'csv')
    """
    if given is not None:
        return given
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    return suffix if suffix in FORMATS else "pdf"


class ShipmentNotChosen(LookupError):
    """No shipment by that id, or several and no organisation named; the message says which."""


def find_shipment(session: Session, shipment_id: str, organisation: str | None) -> Shipment:
    """The one shipment with that id (in that organisation), or `ShipmentNotChosen`."""
    query = (
        select(Shipment, Organisation.name)
        .join(Organisation, Organisation.id == Shipment.organisation_id)
        .where(Shipment.shipment_id == shipment_id)
    )
    if organisation is not None:
        query = query.where(Organisation.name == organisation)
    found = list(session.execute(query.limit(10)))
    where = f" in organisation {organisation!r}" if organisation is not None else ""
    if not found:
        raise ShipmentNotChosen(f"no shipment {shipment_id!r}{where}")
    if len(found) > 1:
        names = ", ".join(sorted(name for _, name in found))
        raise ShipmentNotChosen(
            f"several organisations have a shipment {shipment_id!r} ({names}): pass --org NAME"
        )
    shipment: Shipment = found[0][0]
    return shipment


def run_command(args: argparse.Namespace, db_url: str, influx: InfluxClient) -> int:
    """Write the report; 0 when written, 1 when it cannot be made (the reason on stderr)."""
    # Imported here: only this command needs the store's engine.
    from api.db import StoreUnavailable, make_engine, session_factory
    from api.schema import SchemaNotCurrent, require_current_schema

    fmt = report_format(args.output, args.format)
    output: Path = args.output or Path(download_name(args.shipment, f"report.{fmt}"))
    engine = make_engine(db_url)
    try:
        require_current_schema(engine)
        with session_factory(engine)() as session:
            shipment = find_shipment(session, args.shipment, args.org)
            data = report_data(
                session,
                influx,
                shipment.organisation_id,
                shipment.shipment_id,
                now_ms=time.time_ns() // 1_000_000,
            )
    except (SchemaNotCurrent, StoreUnavailable, ShipmentNotChosen, ReportShipmentNotFound) as exc:
        print(f"cargowatch: {exc}", file=sys.stderr)
        return 1
    except ManifestError as exc:
        print(f"cargowatch: the shipment's manifest is unusable: {exc}", file=sys.stderr)
        return 1
    except InfluxError as exc:
        print(
            f"cargowatch: InfluxDB unavailable, so the report cannot state the trip's "
            f"readings: {exc}",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
        influx.close()
    body = render_pdf(data) if fmt == "pdf" else render_csv(data)
    if str(output) == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return 0
    output.write_bytes(body)
    print(
        f"wrote the {fmt.upper()} release report of {data.shipment_id} ({data.organisation}):"
        f" {data.stats.readings} readings, {len(data.excursions)} excursions,"
        f" {len(data.alerts)} alerts",
        file=sys.stderr,
    )
    print(output)
    return 0
