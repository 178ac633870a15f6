"""``cargowatch epcis SHIPMENT``: write a shipment's EPCIS 2.0 document to a file or stdout.

For an operator handing a record over without the HTTP API: it reads the SQL store and InfluxDB
directly (the same settings as ``cargowatch api``), so it sees every organisation's shipments;
``--org`` names the organisation when several use the same shipment id.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from api.epcis_export import DEFAULT_MAX_EVENTS, shipment_epcis_bytes
from api.readings_query import MAX_POINTS_LIMIT
from ingest.influx_client import InfluxClient


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's own arguments; the caller adds the store and InfluxDB settings."""
    parser.add_argument("shipment", help="the shipment's id")
    parser.add_argument("--org", help="the shipment's organisation, when the id is ambiguous")
    parser.add_argument(
        "-o", "--output", type=Path, help="file to write (default: stdout); replaced whole"
    )
    parser.add_argument("--from", dest="start", type=_time, help="start, RFC 3339 with offset")
    parser.add_argument("--to", dest="end", type=_time, help="end (exclusive), RFC 3339")
    parser.add_argument(
        "--max-events",
        type=int,
        default=DEFAULT_MAX_EVENTS,
        help=f"most reading events before readings are bucketed (default {DEFAULT_MAX_EVENTS})",
    )


def _time(text: str) -> int:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"needs a UTC offset: {text!r}")
    return int(at.timestamp() * 1000)


def run(args: argparse.Namespace, db_url: str, client: InfluxClient) -> int:
    """Write the document; 1 with one line on stderr when it cannot be made. Closes `client`."""
    # Imported here: parsing the command line must not import the store or InfluxDB client.
    from api.db import StoreUnavailable, make_engine, session_factory
    from api.queries import AmbiguousShipment, Scope, visible_shipment
    from api.readings_query import ReadingsQueryError
    from api.schema import SchemaNotCurrent, require_current_schema
    from detectors.profiles import ManifestError
    from ingest.influx_client import InfluxError

    if not 1 <= args.max_events <= MAX_POINTS_LIMIT:
        client.close()
        return _fail(f"--max-events must be 1 to {MAX_POINTS_LIMIT}, got {args.max_events}")
    engine = make_engine(db_url)
    try:
        require_current_schema(engine)
        with session_factory(engine)() as session:
            row = visible_shipment(session, Scope(None), args.shipment, args.org)
            if row is None:
                return _fail(f"no shipment {args.shipment!r}")
            body = shipment_epcis_bytes(
                session,
                client,
                *row,
                now_ms=time.time_ns() // 1_000_000,
                start_ms=args.start,
                end_ms=args.end,
                max_events=args.max_events,
            )
    except AmbiguousShipment:
        return _fail(f"several organisations have a shipment {args.shipment!r}: pass --org NAME")
    except (SchemaNotCurrent, StoreUnavailable, ManifestError, ReadingsQueryError) as exc:
        return _fail(str(exc))
    except InfluxError as exc:
        return _fail(f"InfluxDB unavailable: {exc}")
    finally:
        client.close()
        engine.dispose()
    if args.output is None:
        sys.stdout.buffer.write(body)
        return 0
    # Written beside the target and renamed, so a reader never sees half a document.
    partial = args.output.with_name(args.output.name + ".partial")
    partial.write_bytes(body)
    partial.replace(args.output)
    print(f"wrote {args.output} ({len(body)} bytes)", file=sys.stderr)
    return 0


def _fail(message: str) -> int:
    print(f"cargowatch: {message}", file=sys.stderr)
    return 1
