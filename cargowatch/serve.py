"""Wires the HTTP API into a process: ``cargowatch api`` (the API alone) and ``cargowatch run``
(ingest, detectors and the API under one command, for small sites and the demo).

The app gets the SQL store (checked to be at the current schema before anything listens) and
readiness probes for the broker (a TCP connection to it) and InfluxDB (``/ping``). The API
server is a stage like the ingester's: started after the ingester, stopped before it, on
SIGTERM or Ctrl-C, so requests in flight finish before the store's writers stop.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from types import FrameType

from fastapi import FastAPI

from api.app import create_app
from api.commit_hook import notify_on_commit
from api.conditions import influx_conditions
from api.db import StoreUnavailable, make_engine, session_factory
from api.schema import SchemaNotCurrent, require_current_schema
from api.server import ApiServer, ServerFailed
from cargowatch.settings import ApiSettings
from cargowatch.wiring import Ingester, StartupError, influx_client
from simulators.publisher import parse_mqtt_url

log = logging.getLogger("cargowatch")

#: A readiness probe must answer well within a load balancer's health-check timeout.
PROBE_TIMEOUT_S = 2.0


def broker_probe(mqtt_url: str) -> Callable[[], None]:
    """Returns when the broker accepts a TCP connection; raises `OSError` when it does not."""
    broker = parse_mqtt_url(mqtt_url)

    def probe() -> None:
        with socket.create_connection((broker.host, broker.port), timeout=PROBE_TIMEOUT_S):
            pass

    return probe


def build_api(
    settings: ApiSettings,
    ingest_stats: Callable[[], Mapping[str, float]] | None = None,
    on_deliveries: Callable[[], None] | None = None,
) -> FastAPI:
    """The app on the configured store; an unreachable or un-migrated store stops start-up.

    `ingest_stats` (the ingester's counters, in ``cargowatch run``) go to ``/metrics``;
    `on_deliveries` (the ingester's commit signal, in ``cargowatch run``) is called after each
    commit that added deliveries, so an operator's action goes out without waiting for a poll.
    """
    engine = make_engine(settings.db_url)
    try:
        require_current_schema(engine)
    except (SchemaNotCurrent, StoreUnavailable) as exc:
        raise StartupError(f"--db-url / CARGOWATCH_DB_URL: {exc}") from None
    influx = influx_client(settings.influx)
    sessions = session_factory(engine)
    if on_deliveries is not None:
        notify_on_commit(sessions, on_deliveries)
    return create_app(
        sessions,
        probes={"broker": broker_probe(settings.mqtt_url)},
        influx=influx,
        conditions=influx_conditions(influx),
        ingest_stats=ingest_stats,
    )


def serve(settings: ApiSettings, ingester: Ingester | None = None) -> int:
    """Run the API (after `ingester`, when given) until SIGTERM or Ctrl-C; the exit status."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.warning("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stats = ingester.pipeline.stats.snapshot if ingester is not None else None
    # Under `cargowatch run` the API's writes wake the ingester's delivery workers.
    woken = ingester.commits.signal.notify if ingester is not None else None
    server = ApiServer(build_api(settings, stats, woken), settings.host, settings.port)
    if ingester is not None:
        ingester.start()
    try:
        server.start()
    except ServerFailed as exc:
        if ingester is not None:
            ingester.stop(timeout_s=5)
        raise StartupError(str(exc)) from None
    log.warning("serving the HTTP API on http://%s:%d", settings.host, settings.port)
    failed = False
    while not stop.wait(0.5):
        if server.failed or (ingester is not None and ingester.pipeline.failed.is_set()):
            failed = True
            break
    clean = server.stop()
    if ingester is not None:
        clean = ingester.stop(timeout_s=5 if failed else 30.0) and clean
    return 0 if clean and not failed else 1
