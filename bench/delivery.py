"""Webhook delivery while ingesting a fleet: deliveries per second to a local receiver, and the
latency from an alert to its webhook, against a trivial round trip to the same receiver.

``cargowatch run`` (ingest, detectors and the API; a SQLite store, or with ``--store
postgresql`` a private PostgreSQL server with fsync on) runs on a private mosquitto
and influxd with ``--lateness-s 0`` and a webhook subscribed through the API to a receiver in
this process (a ``ThreadingHTTPServer`` on loopback that answers 204 and notes when each
request arrived). A fleet of ``--devices`` trackers publishes at ``--rate`` readings/s for
``--seconds`` (pipelined QoS 1, paced in 10 ms slices, as ``bench/api_latency.py`` does), the
devices of ``--incidents`` + ``--burst`` shipments of the subscribing organisation among them.

1. Reference, at the start of the fleet's run: ``--reference-posts`` plain POSTs, one after
   another on one keep-alive client, of a body as large as a webhook's, to the same receiver:
   POSTs/s and the round trip's p50/p99. The webhook worker sends one request at a time too.
2. Latency: ``--incidents`` readings spread over 20-45% of the run carry
   ``"seal": "tampered"``, which opens a seal_breach alert at once. Alert -> webhook is from
   the moment the alert's outbox entry was committed (its ``created_at``, wall clock) to the
   moment its request reached the receiver (wall clock, same machine); publish -> webhook is
   from the send of the reading, for the whole path.
3. Throughput: at 55% of the run ``--burst`` other shipments' readings carry a tampered seal
   in one round of the fleet. The receiver holds the first of their requests until every one
   of the burst's alerts has its delivery row in the store, then lets go: deliveries/s is the
   burst over the time from letting go to the last burst request answered (the worker
   draining a backlog, not waiting for the detectors).
4. Acknowledgement: once the burst is drained, each incident's alert still open is acknowledged
   through the HTTP API, one at a time; ack -> webhook is from sending the request to its
   entry's webhook reaching the receiver (the API's commit wakes the webhook worker).

Figures, no targets; noisy on a shared 2-core machine (the fleet, the receiver and the
reference client share this process's interpreter): compare within one run. Each run prints
its figures, and with ``--runs`` above 1 the median and spread (min-max) follow.

    .venv/bin/python bench/delivery.py
    .venv/bin/python bench/delivery.py --runs 3 --burst 2000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE), str(HERE.parent / "tests")]

import httpx  # noqa: E402
import orjson  # noqa: E402
from api_latency import cargowatch, percentile, publish_paced, serving, spread  # noqa: E402
from ingest_process import IngesterProcess  # noqa: E402
from mqtt_load import build_payloads  # noqa: E402
from services import InfluxServer, MosquittoServer, PostgresServer, free_port  # noqa: E402
from sqlalchemy import bindparam, text  # noqa: E402

from api.db import make_engine, session_factory, write_transaction  # noqa: E402
from api.keys import organisation_for  # noqa: E402
from api.shipments import save_shipment  # noqa: E402


@dataclass
class Arrival:
    monotonic: float
    wall: float
    msg_id: str
    device_id: str
    kind: str
    event: str = ""


@dataclass
class Receiver:
    """Answers every POST with 204 and notes its arrival; `hold` holds the requests of some
    devices' seal breaches until `release`."""

    port: int = field(default_factory=free_port)
    arrivals: list[Arrival] = field(default_factory=list)
    hold: set[str] = field(default_factory=set)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the worker's client expects

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                arrived = Arrival(time.perf_counter(), time.time(), "", "", "")
                data = orjson.loads(body).get("data") if body.startswith(b"{") else None
                if isinstance(data, dict):
                    arrived.msg_id = self.headers.get("webhook-id", "")
                    arrived.device_id, arrived.kind = data["device_id"], data["kind"]
                    arrived.event = str(data.get("event", ""))
                    if arrived.kind == "seal_breach" and arrived.device_id in receiver.hold:
                        receiver.released.wait(600)
                with receiver.lock:
                    receiver.arrivals.append(arrived)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def first(self, kind: str, event: str | None = None) -> dict[str, Arrival]:
        """The first request of each device's alert of `kind` (and entry `event`, if given)."""
        with self.lock:
            found: dict[str, Arrival] = {}
            for a in self.arrivals:
                if a.kind == kind and event in (None, a.event):
                    found.setdefault(a.device_id, a)
            return found


def ack_each(
    base: str, key: str, engine: Any, devices: list[str], receiver: Receiver
) -> list[float]:
    """Acknowledge each device's seal breach through the API, one at a time: ms from sending
    the request to its entry's webhook reaching the receiver (an alert no longer open to an
    acknowledgement is left out)."""
    with engine.connect() as connection:
        query = text(
            "SELECT device_id, alert_id FROM alerts"
            " WHERE kind = 'seal_breach' AND state = 'open' AND device_id IN :devices"
        ).bindparams(bindparam("devices", expanding=True))
        alert_of = {d: a for d, a in connection.execute(query, {"devices": devices})}
    times: list[float] = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for device, alert_id in sorted(alert_of.items()):
            sent = time.perf_counter()
            if http.post(f"/alerts/{alert_id}/ack", json={"comment": "bench"}).status_code != 200:
                continue
            wait(lambda d=device: d in receiver.first("seal_breach", "ack"), 30, "an ack webhook")
            times.append((receiver.first("seal_breach", "ack")[device].monotonic - sent) * 1000)
    return times


def reference(url: str, posts: int, body: bytes) -> tuple[float, list[float]]:
    """POSTs/s and round trips (ms) of plain sequential POSTs to the receiver."""
    times: list[float] = []
    with httpx.Client(timeout=30) as http:
        http.post(url, content=body).raise_for_status()  # connect outside the figures
        started = time.perf_counter()
        for _ in range(posts):
            sent = time.perf_counter()
            http.post(url, content=body).raise_for_status()
            times.append((time.perf_counter() - sent) * 1000)
        elapsed = time.perf_counter() - started
    return posts / elapsed, times


def wait(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


def one_run(workdir: Path, args: argparse.Namespace, postgres: Any) -> dict[str, Any]:
    receiver = Receiver()
    http_server = receiver.start()
    url = f"http://127.0.0.1:{receiver.port}/hook"
    rng = random.Random(13)
    chosen = rng.sample(range(args.devices), args.incidents + args.burst)
    incident_ids = {f"trk-{d + 1:05d}" for d in chosen[: args.incidents]}
    burst_ids = {f"trk-{d + 1:05d}" for d in chosen[args.incidents :]}
    receiver.hold = burst_ids
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
            stats_interval_s="10",
            webhook_allow_private="true",
            webhook_timeout_s="300",  # the held request must outlast the burst's recording
        ).env
        env["PYTHONPATH"] = str(HERE.parent)
        if args.store == "postgresql":
            env["CARGOWATCH_DB_URL"] = postgres.create_database(f"bench_{workdir.name}")
        cargowatch(env, "db", "upgrade")
        key = cargowatch(env, "keys", "create", "--org", "ACME", "--role", "operator")
        engine = make_engine(env["CARGOWATCH_DB_URL"])
        with write_transaction(session_factory(engine)) as session:
            acme = organisation_for(session, "ACME").id
            for n, device in enumerate(sorted(incident_ids | burst_ids)):
                manifest = {
                    "shipment_id": f"SHP-{n:05d}",
                    "device_id": device,
                    "profile": "customs_transit",
                }
                save_shipment(session, acme, manifest, actor="bench")
        with serving("run", env, workdir / "cw" / "run.log") as base:
            hook = httpx.post(
                f"{base}/webhooks",
                json={"url": url},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            hook.raise_for_status()
            n = int(args.rate * args.seconds)
            rounds = n // args.devices
            step_ms = max(1, round(args.devices / args.rate * 1000))
            messages = build_payloads(args.devices, n, int(time.time() * 1000), 5, step_ms)
            tampered: set[int] = set()
            for device in incident_ids:
                d = int(device[4:]) - 1
                tampered.add(rng.randrange(rounds // 5, rounds * 45 // 100) * args.devices + d)
            burst_round = rounds * 55 // 100
            tampered |= {burst_round * args.devices + int(d[4:]) - 1 for d in burst_ids}
            for i in tampered:
                t, payload = messages[i]
                messages[i] = (t, payload[:-1] + b',"seal":"tampered"}')
            published: dict[str, Any] = {}

            def publish_fleet() -> None:
                sent, rate = publish_paced(broker.port, messages, args.rate, tampered)
                published.update(sent=sent, rate=rate)

            fleet = threading.Thread(target=publish_fleet)
            fleet.start()
            body = b'{"type":"alert.open","data":"' + b"x" * 900 + b'"}'
            ref_rate, ref_times = reference(url, args.reference_posts, body)
            wait(
                lambda: (
                    len(receiver.first("seal_breach").keys() & incident_ids) == len(incident_ids)
                ),
                args.seconds + 120,
                "every incident's webhook",
            )

            def burst_recorded() -> int:
                with engine.connect() as connection:
                    query = text(
                        "SELECT count(DISTINCT a.device_id) FROM webhook_deliveries d"
                        " JOIN alerts a ON a.alert_id = d.alert_id"
                        " WHERE a.kind = 'seal_breach' AND a.device_id IN :devices"
                    ).bindparams(bindparam("devices", expanding=True))
                    found = connection.execute(query, {"devices": sorted(burst_ids)}).scalar()
                    return int(found or 0)

            wait(lambda: burst_recorded() == len(burst_ids), 300, "the burst's deliveries")
            let_go = time.perf_counter()
            receiver.released.set()
            wait(
                lambda: len(receiver.first("seal_breach").keys() & burst_ids) == len(burst_ids),
                300,
                "every burst webhook",
            )
            drained = time.perf_counter()
            fleet_running = fleet.is_alive()
            fleet.join()
            acks = ack_each(base, key, engine, sorted(incident_ids), receiver)
            with engine.connect() as connection:
                created = {
                    f"{alert_id}.{seq}": at
                    for alert_id, seq, at in connection.execute(
                        text("SELECT alert_id, history_seq, created_at FROM outbox")
                    )
                }
        engine.dispose()
    http_server.shutdown()
    http_server.server_close()

    firsts = receiver.first("seal_breach")
    burst_last = max(firsts[d].monotonic for d in burst_ids)
    alert_to_hook = [
        (firsts[d].wall - _wall(created[firsts[d].msg_id])) * 1000 for d in incident_ids
    ]
    publish_to_hook = [(firsts[d].monotonic - published["sent"][d]) * 1000 for d in incident_ids]
    return {
        "achieved": published["rate"],
        "ref_rate": ref_rate,
        "ref_p50": percentile(ref_times, 50),
        "ref_p99": percentile(ref_times, 99),
        "burst_rate": len(burst_ids) / (burst_last - let_go),
        "drain_s": drained - let_go,
        "fleet_running": fleet_running,
        "p50": percentile(alert_to_hook, 50),
        "p99": percentile(alert_to_hook, 99),
        "e2e_p50": percentile(publish_to_hook, 50),
        "e2e_p99": percentile(publish_to_hook, 99),
        "acks": len(acks),
        "ack_p50": percentile(acks, 50),
        "ack_p99": percentile(acks, 99),
        "requests": len(receiver.arrivals),
    }


def _wall(value: Any) -> float:
    """An outbox ``created_at`` (naive UTC from SQLite's text, or aware) as epoch seconds."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def report(run: dict[str, Any]) -> None:
    print(
        f"  fleet {run['achieved']:,.0f} readings/s; reference {run['ref_rate']:,.0f} POST/s, "
        f"round trip p50 {run['ref_p50']:.2f} p99 {run['ref_p99']:.2f} ms"
    )
    print(
        f"  burst drained at {run['burst_rate']:,.0f} deliveries/s "
        f"(x{run['burst_rate'] / run['ref_rate']:.2f} of the reference) in "
        f"{run['drain_s']:.1f} s{'' if run['fleet_running'] else ' (fleet over before the end)'}"
    )
    print(
        f"  alert -> webhook p50 {run['p50']:.0f} p99 {run['p99']:.0f} ms "
        f"(p99 x{run['p99'] / run['ref_p99']:.0f} the reference round trip); "
        f"publish -> webhook p50 {run['e2e_p50']:.0f} p99 {run['e2e_p99']:.0f} ms"
    )
    print(
        f"  ack -> webhook ({run['acks']} acks through the API, one at a time) p50 "
        f"{run['ack_p50']:.1f} p99 {run['ack_p99']:.1f} ms, against the round trip's "
        f"{run['ref_p50']:.2f} / {run['ref_p99']:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--devices", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=2_000, help="readings/s")
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--burst", type=int, default=1_000)
    parser.add_argument("--reference-posts", type=int, default=2_000)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    if args.incidents + args.burst > args.devices:
        raise SystemExit("--incidents + --burst must not exceed --devices")
    print(
        f"{os.cpu_count()} cores; a fleet of {args.devices:,} at {args.rate:,.0f} readings/s for "
        f"{args.seconds:g} s, {args.incidents} incidents, a burst of {args.burst:,}; "
        f"{args.store} store"
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        postgres = None
        if args.store == "postgresql":
            postgres = PostgresServer(Path(tmp) / "postgres", durable=True)
            postgres.start()
        try:
            for n in range(args.runs):
                print(f"run {n + 1}:")
                runs.append(one_run(Path(tmp) / f"r{n}", args, postgres))
                report(runs[-1])
        finally:
            if postgres is not None:
                postgres.remove()
    if len(runs) > 1:
        print(f"median of {len(runs)} runs (min-max):")
        print(f"  reference round trip p99  {spread([r['ref_p99'] for r in runs])}")
        print(f"  reference POST/s          {spread([r['ref_rate'] for r in runs], '/s', 0)}")
        burst = [r["burst_rate"] for r in runs]
        print(f"  burst deliveries/s        {spread(burst, '/s', 0)}")
        ratio = [r["burst_rate"] / r["ref_rate"] for r in runs]
        print(f"    vs reference POST/s     x{spread(ratio, '', 2)}")
        print(f"  alert -> webhook p99      {spread([r['p99'] for r in runs])}")
        ratio = [r["p99"] / r["ref_p99"] for r in runs]
        print(f"    vs reference p99        x{spread(ratio, '', 0)}")
        print(f"  publish -> webhook p99    {spread([r['e2e_p99'] for r in runs])}")
        print(f"  ack -> webhook p50        {spread([r['ack_p50'] for r in runs])}")
        print(f"  ack -> webhook p99        {spread([r['ack_p99'] for r in runs])}")


if __name__ == "__main__":
    main()
