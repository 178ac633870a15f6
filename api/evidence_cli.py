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

from ingest.influx_client import InfluxClient

INTACT, BROKEN, BAD_INPUT = 0, 1, 2


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """``verify``'s own arguments; the caller adds the store's settings."""
    parser.add_argument("pack", nargs="?", type=Path, help="an evidence pack (.zip) to check")
    parser.add_argument("--shipment", help="check only this shipment's chain in the store")
    parser.add_argument("--org", help="the shipment's organisation, when several use the id")


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
        return _verify_pack(args.pack)
    if db_url is None:
        return _fail("nothing to check: give PACK.zip or --db-url", BAD_INPUT)
    return _verify_store(db_url, args.shipment, args.org)


def _verify_pack(path: Path) -> int:
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
    return INTACT


def _verify_store(db_url: str, shipment_id: str | None, organisation: str | None) -> int:
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
    return INTACT


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
