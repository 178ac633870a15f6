"""HTTP API latency: alert listings and a shipment page on a store of 100,000 alerts under
concurrent load, and the time from publishing an incident to its alert showing in GET /alerts.

1. ``store``: a real ``cargowatch api`` process (its own port, a real influxd behind the
   shipment page's conditions) on SQLite and on PostgreSQL (a private server, fsync on). The
   store holds ``--alerts`` alerts bulk-inserted as rows (GET /alerts and a shipment page read
   only the alerts table, not the history) over 1,000 shipments of two organisations and 2,000
   devices, opened over 30 days: 10% open, 5% acknowledged, the rest resolved; PostgreSQL is
   ANALYZEd after the load, as autovacuum would. ``--clients`` threads, each with its own
   keep-alive httpx client, send ``--requests`` requests per endpoint between them:
   ``/health/live`` (the reference: the same app, server and client, with no key to check
   and no query to run), the first page of alerts, a page 50,000 alerts deep, an operator's
   first page of open alerts, a page 5,000 deep into one kind, and a shipment's page. Each
   prints p50 and p99 and both as ratios to the reference's.
2. ``incidents``: ``cargowatch run`` (ingest, detectors and the API in one process) on a real
   mosquitto and influxd with ``--lateness-s 0``. A fleet of ``--devices`` trackers publishes
   at ``--rate`` readings/s (pipelined QoS 1, paced in 10 ms slices; each reading's ``ts`` is
   its place in that schedule, never after the moment it is sent, so the reorder buffer
   releases it on arrival: its own wait is zero and nothing is subtracted). ``--incidents``
   readings spread over the run carry ``"seal": "tampered"``, which opens a seal_breach alert
   at once. A thread polls ``GET /alerts?kind=seal_breach`` every ``--poll-ms``; an incident's
   latency is from the send of its reading to the receipt of the first poll that lists its
   alert, an upper bound: the alert became visible after the previous poll was sent, so the
   error is at most one poll interval plus a poll's round trip (the resolution, printed). The
   reference is the same readings' trip through the broker alone: a paho subscriber to the
   incident devices' topics, timed from the same send.

Figures are noisy on a shared 2-core machine: compare within one run. Each part runs
``--runs`` times; the median is shown with the spread (min-max).

    .venv/bin/python bench/api_latency.py                 # both parts, one run each
    .venv/bin/python bench/api_latency.py --runs 3 --only store
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE), str(HERE.parent / "tests")]

import httpx  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from ingest_process import IngesterProcess  # noqa: E402
from mqtt_load import build_payloads  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from services import InfluxServer, MosquittoServer, PostgresServer, free_port  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from api.cursor import Cursor, encode  # noqa: E402
from api.db import make_engine, session_factory, write_transaction  # noqa: E402
from api.keys import create_api_key, organisation_for  # noqa: E402
from api.models import Alert, from_ms  # noqa: E402
from api.schema import upgrade  # noqa: E402
from api.shipments import save_shipment  # noqa: E402
from simulators.publisher import BrokerUrl, Publisher  # noqa: E402

KINDS = ("temp_excursion", "silence", "route_deviation", "seal_breach", "door_open", "shock")
SHIPMENTS = 1_000
DEVICES = 2_000
DAY_MS = 86_400_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def spread(values: list[float], unit: str = " ms", digits: int = 1) -> str:
    return (
        f"{statistics.median(values):.{digits}f}{unit} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def cargowatch(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cargowatch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"cargowatch {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def serving(command: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """``cargowatch COMMAND`` on CARGOWATCH_API_PORT until the block ends; yields its URL."""
    base = f"http://127.0.0.1:{env['CARGOWATCH_API_PORT']}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cargowatch", command], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"{base}/health/live", timeout=1).status_code == 200
            except httpx.TransportError:
                ready = False
            if ready and (command != "run" or "subscribed to" in log.read_text()):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"cargowatch {command} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(60)


# --- 1. listings on a store of 100,000 alerts ---------------------------------------------------


@dataclass
class Store:
    admin: str
    operator: str
    deep_cursor: str
    deep_kind_cursor: str
    shipment_id: str
    shipment_alerts: int


def fill_store(url: str, alerts: int, seed: int = 11) -> Store:
    """`alerts` alert rows over shipments of two organisations, and keys to read them."""
    rng = random.Random(seed)
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with write_transaction(sessions) as session:
        acme = organisation_for(session, "ACME").id
        globex = organisation_for(session, "GLOBEX").id
        admin = create_api_key(session, organisation_for(session, "CargoWatch").id, "admin", "b")
        operator = create_api_key(session, acme, "operator", "bench")
        owners = {}
        for n in range(SHIPMENTS):
            owners[f"SHP-{n:05d}"] = acme if n % 3 else globex
            manifest = {
                "shipment_id": f"SHP-{n:05d}",
                "device_id": f"trk-{n:05d}",
                "profile": "customs_transit",
            }
            save_shipment(session, owners[manifest["shipment_id"]], manifest, actor="bench")
    now_ms = int(time.time() * 1000)
    rows: list[dict[str, Any]] = []
    for i in range(alerts):
        at = from_ms(now_ms - rng.randrange(30 * DAY_MS))
        device = rng.randrange(DEVICES)
        shipment = f"SHP-{device:05d}" if device < SHIPMENTS else None
        state = rng.choices(("open", "acknowledged", "resolved"), (10, 5, 85))[0]
        kind = rng.choice(KINDS)
        rows.append(
            {
                "alert_id": f"trk-{device:05d}:{kind}:{i}",
                "organisation_id": owners.get(shipment) if shipment else None,
                "kind": kind,
                "severity": rng.choice(("warning", "critical")),
                "device_id": f"trk-{device:05d}",
                "shipment_id": shipment,
                "state": state,
                "summary": "9.4 °C, above the 2-8 °C range for 12 min",
                "evidence": {"temp_c": 9.4, "limit_c": 8.0, "readings": [[now_ms, 9.4]]},
                "value": 9.4,
                "opened_at": at,
                "updated_at": at,
                "resolved_at": at + timedelta(minutes=30) if state == "resolved" else None,
                "events_applied": 1,
                "last_event_seq": 1,
                "history_length": 1,
            }
        )
    with engine.begin() as connection:
        for start in range(0, len(rows), 10_000):
            connection.execute(insert(Alert), rows[start : start + 10_000])
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    engine.dispose()
    newest = sorted(rows, key=lambda r: (r["opened_at"], r["alert_id"]), reverse=True)
    kind_rows = [r for r in newest if r["kind"] == "seal_breach"]
    busiest = statistics.mode(r["shipment_id"] for r in rows if r["organisation_id"] == acme)
    return Store(
        admin=admin[1],
        operator=operator[1],
        deep_cursor=cursor_of(newest[min(50_000, len(newest) - 1)]),
        deep_kind_cursor=cursor_of(kind_rows[min(5_000, len(kind_rows) - 1)]),
        shipment_id=busiest,
        shipment_alerts=sum(r["shipment_id"] == busiest and r["state"] != "resolved" for r in rows),
    )


def cursor_of(row: dict[str, Any]) -> str:
    micros = (row["opened_at"] - from_ms(0)) // timedelta(microseconds=1)
    return encode(Cursor("alerts", micros, row["alert_id"]))


def load(base: str, path: str, key: str | None, requests: int, clients: int) -> list[float]:
    """Latencies (ms) of `requests` GETs of `path` sent by `clients` concurrent clients."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    def client(n: int) -> list[float]:
        times: list[float] = []
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            http.get(path).raise_for_status()  # connect and warm up outside the figures
            for _ in range(n):
                started = time.perf_counter()
                http.get(path).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
        return times

    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        return [t for times in pool.map(client, shares) for t in times]


def store_run(url: str, workdir: Path, influx_url: str, args: argparse.Namespace) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    store = fill_store(url, args.alerts)
    filled_s = time.perf_counter() - started
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE.parent),
        "CARGOWATCH_DB_URL": url,
        "CARGOWATCH_API_PORT": str(free_port()),
        "CARGOWATCH_INFLUX_URL": influx_url,
        "CARGOWATCH_INFLUX_DB": "bench",
        "CARGOWATCH_LOG_LEVEL": "warning",
    }
    endpoints: list[tuple[str, str, str | None]] = [
        ("/health/live (reference)", "/health/live", None),
        ("GET /alerts, first page", "/alerts?limit=50", store.admin),
        ("GET /alerts, 50,000 deep", f"/alerts?limit=50&cursor={store.deep_cursor}", store.admin),
        ("GET /alerts?state=open (operator)", "/alerts?limit=50&state=open", store.operator),
        (
            "GET /alerts?kind=seal_breach, 5,000 deep",
            f"/alerts?limit=50&kind=seal_breach&cursor={store.deep_kind_cursor}",
            store.admin,
        ),
        (
            f"GET /shipments/{{id}} ({store.shipment_alerts} open alerts)",
            f"/shipments/{store.shipment_id}",
            store.operator,
        ),
    ]
    figures: dict[str, tuple[float, float]] = {}
    with serving("api", env, workdir / "api.log") as base:
        for name, path, key in endpoints:
            times = load(base, path, key, args.requests, args.clients)
            figures[name] = (percentile(times, 50), percentile(times, 99))
    return {"figures": figures, "filled_s": filled_s}


def report_store(name: str, runs: list[dict], args: argparse.Namespace) -> None:
    print(
        f"\n{name}: {args.alerts:,} alerts, {args.clients} concurrent clients, "
        f"{args.requests} requests per endpoint; median of {len(runs)} runs (min-max)"
    )
    print(f"  store filled in {spread([r['filled_s'] for r in runs], ' s')}")
    reference = "/health/live (reference)"
    for endpoint in runs[0]["figures"]:
        p50 = [r["figures"][endpoint][0] for r in runs]
        p99 = [r["figures"][endpoint][1] for r in runs]
        line = f"  {endpoint:<46} p50 {spread(p50)}  p99 {spread(p99)}"
        if endpoint != reference:
            r50 = [r["figures"][endpoint][0] / r["figures"][reference][0] for r in runs]
            r99 = [r["figures"][endpoint][1] / r["figures"][reference][1] for r in runs]
            line += f"   vs reference p50 x{spread(r50, '', 2)}, p99 x{spread(r99, '', 2)}"
        print(line)


# --- 2. publish -> alert visible in GET /alerts -------------------------------------------------


class TopicListener:
    """A paho subscriber to some devices' telemetry topics: when each first heard from them."""

    def __init__(self, port: int, devices: list[str]) -> None:
        self.heard: dict[str, float] = {}
        subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        topics = [(f"cargo/v1/{d}/telemetry", 0) for d in devices]
        client.on_connect = lambda c, *_: c.subscribe(topics)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = self._message
        client.connect("127.0.0.1", port)
        client.loop_start()
        if not subscribed.wait(10):
            raise SystemExit("the reference subscriber could not subscribe")
        self.client = client

    def _message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if b'"tampered"' in message.payload:
            self.heard.setdefault(message.topic.split("/")[2], time.perf_counter())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def poll_alerts(
    base: str, key: str, devices: set[str], interval_s: float, stop: threading.Event
) -> dict[str, tuple[float, float]]:
    """Per device: when the last poll not listing its alert was sent, and when the first that
    did was received."""
    seen: dict[str, tuple[float, float]] = {}
    previous = time.perf_counter()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        while not stop.is_set() and len(seen) < len(devices):
            sent = time.perf_counter()
            page = http.get("/alerts", params={"kind": "seal_breach", "limit": 500}).json()
            received = time.perf_counter()
            for alert in page["data"]:
                if alert["device_id"] in devices and alert["device_id"] not in seen:
                    seen[alert["device_id"]] = (previous, received)
            previous = sent
            stop.wait(max(0.0, sent + interval_s - time.perf_counter()))
    return seen


def publish_paced(
    port: int, messages: list[tuple[str, bytes]], rate: float, incidents: set[int]
) -> tuple[dict[str, float], float]:
    """Send at `rate`/s in 10 ms slices; return when each incident left, and the achieved rate."""
    publisher = Publisher(BrokerUrl("127.0.0.1", port, None, None, False), 1, None, 10_000)
    packets = [publisher.encode(topic, payload) for topic, payload in messages]
    publisher.connect()
    sent_at: dict[str, float] = {}
    per_slice = max(1, round(rate / 100))
    started = time.perf_counter()
    for n, first in enumerate(range(0, len(packets), per_slice)):
        pause = started + n / 100 - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        for i in range(first, min(first + per_slice, len(packets))):
            publisher.publish_encoded(packets[i])
        publisher.flush()
        now = time.perf_counter()
        for i in range(first, min(first + per_slice, len(packets))):
            if i in incidents:
                sent_at[messages[i][0].split("/")[2]] = now
    elapsed = time.perf_counter() - started
    publisher.close()
    return sent_at, len(packets) / elapsed


def incidents_run(workdir: Path, args: argparse.Namespace) -> dict:
    with (
        MosquittoServer(workdir / "mosquitto") as broker,
        InfluxServer(workdir / "influxd") as influx,
    ):
        env = IngesterProcess(
            broker.url,
            influx.url,
            "bench",
            workdir / "cw",
            lateness_s="0",
            api_port=str(free_port()),
            flush_interval_ms=str(args.flush_interval_ms),
            stats_interval_s="10",
        ).env
        env["PYTHONPATH"] = str(HERE.parent)
        cargowatch(env, "db", "upgrade")
        key = cargowatch(env, "keys", "create", "--org", "CargoWatch", "--role", "admin")
        with serving("run", env, workdir / "cw" / "run.log") as base:
            n = int(args.rate * args.seconds)
            step_ms = max(1, round(args.devices / args.rate * 1000))
            # Stamped from now: by the time each reading is sent its ts has passed.
            messages = build_payloads(args.devices, n, int(time.time() * 1000), 5, step_ms)
            rng = random.Random(5)
            devices = rng.sample(range(args.devices), args.incidents)
            incidents: set[int] = set()
            for d in devices:
                # One reading of each incident device, somewhere after the first 10% of the run.
                seq = rng.randrange(n // args.devices // 10, n // args.devices)
                i = seq * args.devices + d
                topic, payload = messages[i]
                messages[i] = (topic, payload[:-1] + b',"seal":"tampered"}')
                incidents.add(i)
            names = {f"trk-{d + 1:05d}" for d in devices}
            listener = TopicListener(broker.port, sorted(names))
            stop = threading.Event()
            seen: dict[str, tuple[float, float]] = {}
            poller = threading.Thread(
                target=lambda: seen.update(poll_alerts(base, key, names, args.poll_ms / 1000, stop))
            )
            poller.start()
            sent_at, achieved = publish_paced(broker.port, messages, args.rate, incidents)
            poller.join(60)
            stop.set()
            poller.join()
            listener.close()
    missing = names - seen.keys()
    if missing:
        raise SystemExit(f"{len(missing)} incidents never showed in GET /alerts: {sorted(missing)}")
    latency = [(seen[d][1] - sent_at[d]) * 1000 for d in names]
    resolution = [(seen[d][1] - seen[d][0]) * 1000 for d in names]
    broker_hop = [(listener.heard[d] - sent_at[d]) * 1000 for d in names if d in listener.heard]
    return {
        "achieved": achieved,
        "p50": percentile(latency, 50),
        "p99": percentile(latency, 99),
        "resolution": statistics.median(resolution),
        "resolution_max": max(resolution),
        "ref_p50": percentile(broker_hop, 50),
        "ref_p99": percentile(broker_hop, 99),
        "heard": len(broker_hop),
    }


def report_incidents(runs: list[dict], args: argparse.Namespace) -> None:
    print(
        f"\npublish -> alert in GET /alerts: {args.incidents} incidents per run in a fleet of "
        f"{args.devices:,} at {args.rate:,.0f} readings/s for {args.seconds:g} s, lateness 0, "
        f"flush interval {args.flush_interval_ms} ms; median of {len(runs)} runs (min-max)"
    )
    print(f"  achieved publish rate       {spread([r['achieved'] for r in runs], '/s', 0)}")
    p50, p99 = [r["p50"] for r in runs], [r["p99"] for r in runs]
    print(f"  alert visible               p50 {spread(p50)}  p99 {spread(p99)}")
    ref50, ref99 = [r["ref_p50"] for r in runs], [r["ref_p99"] for r in runs]
    print(f"  broker hop (reference)      p50 {spread(ref50)}  p99 {spread(ref99)}")
    r50 = [a / b for a, b in zip(p50, ref50, strict=True)]
    r99 = [a / b for a, b in zip(p99, ref99, strict=True)]
    print(f"  vs reference                p50 x{spread(r50, '', 1)}  p99 x{spread(r99, '', 1)}")
    worst = max(r["resolution_max"] for r in runs)
    print(
        f"  poll resolution (poll every {args.poll_ms} ms + round trip): median "
        f"{spread([r['resolution'] for r in runs])}, worst {worst:.1f} ms"
    )


def repeat(runs: int, one: Callable[[int], dict]) -> list[dict]:
    return [one(n) for n in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("store", "incidents"), help="run one part")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400, help="per endpoint")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=10_000, help="readings/s")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--poll-ms", type=int, default=10)
    parser.add_argument(
        "--flush-interval-ms", type=int, default=50, help="the ingester's (its default: 50)"
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-api-latency-") as tmp:
        root = Path(tmp)
        if args.only in (None, "store"):
            with InfluxServer(root / "influxd") as influx:
                sqlite = repeat(
                    args.runs,
                    lambda n: store_run(
                        f"sqlite:///{root}/store-{n}.db", root / f"s{n}", influx.url, args
                    ),
                )
                report_store("SQLite", sqlite, args)
                server = PostgresServer(root / "postgres", durable=True)
                server.start()
                try:
                    pg = repeat(
                        args.runs,
                        lambda n: store_run(
                            server.create_database(f"bench_{n}"), root / f"p{n}", influx.url, args
                        ),
                    )
                finally:
                    server.remove()
                report_store("PostgreSQL", pg, args)
        if args.only in (None, "incidents"):
            runs = repeat(args.runs, lambda n: incidents_run(root / f"i{n}", args))
            report_incidents(runs, args)


if __name__ == "__main__":
    main()
