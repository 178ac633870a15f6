"""Alert events/s into the SQL store, on SQLite and on PostgreSQL, against a bare insert.

`api.store.record_events` takes a batch of the detector engine's alert events in one
transaction and, for each, inserts a history row, brings the alert's row up to date and inserts
an outbox row, idempotently (a unique key and ON CONFLICT DO NOTHING, the alerts' rows locked
in order). Measured here, on a fresh database of each kind, in the same run:

* reference: the same events as equivalent rows (alert id, seq, time, kind, severity, device,
  shipment, summary, evidence as JSON text) written with one plain DBAPI ``executemany``
  INSERT per batch into a bare table without keys or indexes, one transaction per batch, on
  the same database: what merely writing the events costs there;
* store: the events through ``record_events``, one call (one transaction) per batch;
* replay: the same events again, every one already stored (a restart replaying its backlog),
  which takes the store's slower one-by-one path.

Events come from a fleet whose alerts open, update and resolve interleaved: a batch holds
about a tenth opens of fresh alerts, the rest updates and a few resolves of alerts already
stored, and as the number of open alerts grows a batch's events are mostly of different alerts
(50 distinct alerts in the first batch, 400-430 of 500 in the last ones), so the store writes
about four rows per event (history, outbox, the alert's row, and an insert attempt for it)
where the reference writes one. SQLite is a file in a temp dir (WAL, synchronous=FULL as the store runs it);
PostgreSQL is a private server with its defaults (fsync on), both on this machine's disk. Each
configuration runs ``--runs`` times on fresh databases; the median is shown with the spread.

    .venv/bin/python bench/alert_store.py --events 50000 --batch 500 --runs 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The repository first, so `api` is the package; then tests/ for the server managers.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from services import PostgresServer
from sqlalchemy import Engine

from api.db import make_engine, session_factory
from api.schema import upgrade
from api.store import record_events
from detectors.alerts import AlertEvent

T0_MS = 1_767_571_200_000
KINDS = ("temp_excursion", "silence", "route_deviation", "seal_breach", "door_open", "shock")
REFERENCE_DDL = """CREATE TABLE bench_reference (
    alert_id VARCHAR(200), seq INTEGER, at_ms BIGINT, kind VARCHAR(64), severity VARCHAR(16),
    device_id VARCHAR(64), shipment_id VARCHAR(128), event VARCHAR(16), summary TEXT,
    evidence TEXT)"""


def workload(events: int, seed: int = 7) -> list[tuple[AlertEvent, int]]:
    """`events` alert events of a fleet, each alert opened, updated a few times and resolved."""
    rng = random.Random(seed)
    out: list[tuple[AlertEvent, int]] = []
    live: list[list] = []  # [alert_id, device, kind, seq, updates left]
    serial = 0
    t = T0_MS
    while len(out) < events:
        t += 1_000
        if not live or rng.random() < 0.1:
            serial += 1
            device = f"trk-{rng.randrange(5000):05d}"
            kind = rng.choice(KINDS)
            live.append([f"{device}:{kind}:{serial}", device, kind, 0, rng.randint(3, 20)])
            alert = live[-1]
            name = "open"
        else:
            alert = rng.choice(live)
            name = "resolve" if alert[4] == 0 else "update"
        alert_id, device, kind, seq, left = alert
        alert[3] = seq = seq + 1
        alert[4] = left - 1
        if name == "resolve":
            live.remove(alert)
        temp = round(8.0 + rng.random() * 6, 2)
        event = AlertEvent(
            event=name,
            alert_id=alert_id,
            kind=kind,
            severity=rng.choice(("warning", "critical")),
            device_id=device,
            shipment_id=f"SHP-{device[4:]}" if rng.random() < 0.8 else None,
            at_ms=t,
            summary=f"{temp} °C, above the 2-8 °C range",
            evidence={
                "temp_c": temp,
                "limit_c": 8.0,
                "readings": [[t - 60_000, temp - 0.2], [t, temp]],
            },
            value=temp,
        )
        out.append((event, seq))
    return out


def batches(events: list, size: int) -> list[list]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def reference(engine: Engine, chunks: list[list[tuple[AlertEvent, int]]]) -> float:
    """Seconds to executemany the events as plain rows into a bare table, a transaction a batch."""
    placeholder = "%s" if engine.dialect.name == "postgresql" else "?"
    insert = f"INSERT INTO bench_reference VALUES ({', '.join([placeholder] * 10)})"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(REFERENCE_DDL)
        raw.commit()
        start = time.perf_counter()
        for chunk in chunks:
            if engine.dialect.name == "sqlite":
                cursor.execute("BEGIN")  # the store's engine runs sqlite3 without implicit ones
            rows = [
                (
                    e.alert_id,
                    seq,
                    e.at_ms,
                    e.kind,
                    e.severity,
                    e.device_id,
                    e.shipment_id,
                    e.event,
                    e.summary,
                    orjson.dumps(e.evidence).decode(),
                )
                for e, seq in chunk
            ]
            cursor.executemany(insert, rows)
            raw.commit()
        return time.perf_counter() - start
    finally:
        raw.close()


def store(engine: Engine, chunks: list[list[tuple[AlertEvent, int]]], expect_new: bool) -> float:
    """Seconds to record every batch through the store."""
    sessions = session_factory(engine)
    start = time.perf_counter()
    stored = sum(record_events(sessions, chunk) for chunk in chunks)
    elapsed = time.perf_counter() - start
    total = sum(len(c) for c in chunks)
    if stored != (total if expect_new else 0):
        raise SystemExit(f"stored {stored} of {total} events: the store is wrong, not slow")
    return elapsed


def one_run(url: str, events: list, size: int) -> dict[str, float]:
    upgrade(url)
    engine = make_engine(url)
    chunks = batches(events, size)
    try:
        ref_s = reference(engine, chunks)
        store_s = store(engine, chunks, expect_new=True)
        replay_s = store(engine, chunks, expect_new=False)
    finally:
        engine.dispose()
    n = len(events)
    return {"reference": n / ref_s, "store": n / store_s, "replay": n / replay_s}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):>9,.0f}/s  ({min(values):,.0f}-{max(values):,.0f})"


def ratio_spread(values: list[float]) -> str:
    return f"x{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def report(name: str, runs: list[dict[str, float]]) -> None:
    print(f"\n{name}: events/s, median of {len(runs)} runs (min-max)")
    for key in ("reference", "store", "replay"):
        line = f"  {key:<10} {spread([r[key] for r in runs])}"
        if key != "reference":
            line += f"   vs reference {ratio_spread([r[key] / r['reference'] for r in runs])}"
        print(line)
    for i, r in enumerate(runs, 1):
        print(
            f"  run {i}: reference {r['reference']:,.0f}/s, store {r['store']:,.0f}/s (x{r['store'] / r['reference']:.3f}), replay {r['replay']:,.0f}/s (x{r['replay'] / r['reference']:.3f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="measure one database")
    args = parser.parse_args()
    events = workload(args.events)
    opens = sum(e.event == "open" for e, _ in events)
    resolves = sum(e.event == "resolve" for e, _ in events)
    print(
        f"{len(events):,} events in batches of {args.batch}: {opens:,} opens, {len(events) - opens - resolves:,} updates, {resolves:,} resolves"
    )

    with tempfile.TemporaryDirectory(prefix="bench-alert-store-") as tmp:
        targets: dict[str, Callable[[int], str]] = {}
        server = None
        if args.only in (None, "sqlite"):
            targets["SQLite"] = lambda n: f"sqlite:///{tmp}/store-{n}.db"
        if args.only in (None, "postgresql"):
            server = PostgresServer(Path(tmp) / "postgres", durable=True)
            server.start()
            targets["PostgreSQL"] = lambda n: server.create_database(f"bench_{n}")
        try:
            for name, make_url in targets.items():
                runs = [one_run(make_url(n), events, args.batch) for n in range(args.runs)]
                report(name, runs)
        finally:
            if server is not None:
                server.remove()


if __name__ == "__main__":
    main()
