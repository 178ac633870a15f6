"""``cargowatch evidence verify`` and ``cargowatch evidence pack``: the tamper-evident history
from the command line.

``verify`` checks a whole SQL store (``--db-url``), one shipment's chain in it (``--shipment``),
or an evidence pack (``verify PACK.zip``, offline: no store, no InfluxDB); it prints one line per
broken chain naming the first broken link, or the chains' count and heads when all hold, and
exits 0 when everything is intact, 1 when something is broken, 2 on input it cannot check.
``pack`` writes a shipment's evidence pack (`api.evidence_pack`) to a file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from ingest.influx_client import InfluxClient

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

INTACT, BROKEN, BAD_INPUT = 0, 1, 2


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """``verify``'s own arguments; the caller adds the store's settings."""
    parser.add_argument("pack", nargs="?", type=Path, help="an evidence pack (.zip) to check")
    parser.add_argument("--shipment", help="check only this shipment's chain in the store")
    parser.add_argument("--org", help="the shipment's organisation, when several use the id")
    parser.add_argument(
        "--expect-head",
        metavar="HASH",
        help="a head hash of the shipment's chain kept outside the store (a report's footer, a"
        " pack sent at the time): the chain must still pass through it",
    )


def add_pack_arguments(parser: argparse.ArgumentParser) -> None:
    """``pack``'s own arguments; the caller adds the store and InfluxDB settings."""
    parser.add_argument("shipment", help="the shipment's id")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the zip to write")
    parser.add_argument("--org", help="the shipment's organisation, when several use the id")


def run_verify(args: argparse.Namespace, db_url: str | None) -> int:
    """Check a pack, or the store at `db_url`; print what was found; the exit status."""
    if args.pack is not None:
        if args.shipment is not None:
            return _fail("give a pack or --shipment, not both", BAD_INPUT)
        return _verify_pack(args.pack, args.expect_head)
    if db_url is None:
        return _fail("nothing to check: give PACK.zip or --db-url", BAD_INPUT)
    if args.expect_head is not None and args.shipment is None:
        return _fail("--expect-head needs the chain it belongs to: give --shipment", BAD_INPUT)
    return _verify_store(db_url, args.shipment, args.org, args.expect_head)


def _anchored(where: str, expected: str, place: int | None, length: int) -> int:
    """Whether the chain passes through a head hash kept elsewhere.

    Only a chain whose entries up to that head are exactly the ones hashed then gives it again,
    so this catches what the chain alone cannot: a history rewritten, hashes and all,
    consistently. The chain may have grown since, so the hash may be any of its links.
    """
    if place is None:
        print(
            f"BROKEN {where}: the chain does not pass through the expected head {expected}:"
            " its history was rewritten before that point, or this is another chain"
        )
        return BROKEN
    print(f"  expected head {expected} is entry {place} of {length}: the history up to it holds")
    return INTACT


def _verify_pack(path: Path, expected: str | None = None) -> int:
    from api.evidence_pack_verify import PackUnreadable, verify_pack

    try:
        result = verify_pack(path)
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}", BAD_INPUT)
    except PackUnreadable as exc:
        return _fail(f"{path}: {exc}", BAD_INPUT)
    for problem in result.problems:
        print(f"BROKEN {path}: {problem}")
    for found in result.chain.breaks:
        print(f"BROKEN {path}: {found}")
    if not result.ok:
        return BROKEN
    head = result.chain.heads.get(result.chain_key, "(empty chain)")
    print(
        f"intact: {path}: {result.files} files match their sums; chain {result.chain_key}"
        f" of {result.chain.entries} entries recomputes to head {head}"
    )
    if expected is not None:
        where = str(path)
        return _anchored(where, expected, result.places.get(expected), result.chain.entries)
    return INTACT


def _verify_store(
    db_url: str, shipment_id: str | None, organisation: str | None, expected: str | None = None
) -> int:
    from api.db import StoreUnavailable, make_engine, redacted, session_factory
    from api.evidence_chain import shipment_chain_key
    from api.evidence_verify import verify_store
    from api.queries import AmbiguousShipment, Scope, visible_shipment
    from api.schema import SchemaNotCurrent, require_current_schema

    engine = make_engine(db_url)
    try:
        require_current_schema(engine)
        with session_factory(engine)() as session:
            key = None
            if shipment_id is not None:
                row = visible_shipment(session, Scope(None), shipment_id, organisation)
                if row is None:
                    return _fail(f"no shipment {shipment_id!r}", BAD_INPUT)
                key = shipment_chain_key(row[0].organisation_id, row[0].shipment_id)
            result = verify_store(session, key)
            place = _place(session, key, expected) if key and expected else None
    except AmbiguousShipment:
        return _fail(
            f"several organisations have a shipment {shipment_id!r}: pass --org", BAD_INPUT
        )
    except (SchemaNotCurrent, StoreUnavailable) as exc:
        return _fail(str(exc), BAD_INPUT)
    finally:
        engine.dispose()
    for found in result.breaks:
        print(f"BROKEN {found}")
    if not result.ok:
        print(f"{len(result.breaks)} broken of {result.chains} chains ({result.entries} entries)")
        return BROKEN
    print(f"intact: {result.chains} chains, {result.entries} entries in {redacted(db_url)}")
    if key is not None:
        print(f"  {key}  head {result.heads.get(key, '(empty chain)')}")
        if expected is not None:
            return _anchored(key, expected, place, result.entries)
    return INTACT


def _place(session: Session, chain_key: str, entry_hash: str) -> int | None:
    """The place in the chain of the entry with that hash, None when there is none."""
    from api.models import AlertHistory, ShipmentVersion

    for table in (AlertHistory, ShipmentVersion):
        query = select(table.chain_seq).where(
            table.chain_key == chain_key, table.entry_hash == entry_hash
        )
        place = session.scalars(query).first()
        if place is not None:
            return int(place)
    return None


def run_pack(args: argparse.Namespace, db_url: str, client: InfluxClient) -> int:
    """Write the shipment's evidence pack; 1 with one line on stderr when it cannot."""
    from api.db import StoreUnavailable, make_engine, session_factory
    from api.evidence_pack import PackShipmentNotFound, build_pack
    from api.queries import AmbiguousShipment, Scope, visible_shipment
    from api.schema import SchemaNotCurrent, require_current_schema
    from detectors.profiles import ManifestError
    from ingest.influx_client import InfluxError

    engine = make_engine(db_url)
    try:
        require_current_schema(engine)
        with session_factory(engine)() as session:
            row = visible_shipment(session, Scope(None), args.shipment, args.org)
            if row is None:
                return _fail(f"no shipment {args.shipment!r}", 1)
            body = build_pack(
                session,
                client,
                row[0].organisation_id,
                row[0].shipment_id,
                now_ms=time.time_ns() // 1_000_000,
            )
    except AmbiguousShipment:
        return _fail(f"several organisations have a shipment {args.shipment!r}: pass --org", 1)
    except (SchemaNotCurrent, StoreUnavailable, ManifestError, PackShipmentNotFound) as exc:
        return _fail(str(exc), 1)
    except InfluxError as exc:
        return _fail(f"InfluxDB unavailable, so the pack cannot hold the readings: {exc}", 1)
    finally:
        engine.dispose()
        client.close()
    _write_whole(args.output, body)
    print(f"wrote {args.output} ({len(body):,} bytes)")
    return 0


def _write_whole(path: Path, body: bytes) -> None:
    # Written beside the target and renamed: a reader never sees half a pack.
    directory = path.resolve().parent
    with tempfile.NamedTemporaryFile(dir=directory, delete=False, suffix=".part") as part:
        part.write(body)
    os.replace(part.name, path)


def _fail(message: str, code: int) -> int:
    print(f"cargowatch: {message}", file=sys.stderr)
    return code
