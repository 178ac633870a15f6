"""The FastAPI application: `create_app` builds one from what it serves, with no global state.

Everything the app needs is passed in and kept on ``app.state``: the SQL store's sessions, the
readiness probes of the broker and InfluxDB, the InfluxDB client the readings endpoints read
through, the provider of a shipment's live conditions, and (in ``cargowatch run``) the
ingester's counters for ``/metrics``. So a test builds an app per test on its own database, and
``cargowatch api`` and ``cargowatch run`` build theirs from settings in `cargowatch.wiring`.
A store that cannot answer is a 503 with one sentence, never a stack trace.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from api.db import StoreUnavailable
from api.deps import PrincipalDep
from api.metrics import ApiMetrics, LatencyMiddleware
from api.models import ShipmentVersion
from api.routes import (
    alerts,
    cap,
    email,
    epcis,
    escalation,
    evidence,
    health,
    metrics,
    outbox,
    preferences,
    readings,
    reports,
    shipments,
    silences,
    stream,
    webhooks,
)
from api.routes.console import router as console_router
from api.routes.health import Probe
from api.schemas_shipments import ShipmentConditions
from ingest.influx_client import InfluxClient

#: Reads a shipment's live conditions (last position and temperature, MKT, stability budget
#: used) from InfluxDB for its page, given the shipment's current version.
ConditionsProvider = Callable[[ShipmentVersion], ShipmentConditions]

DESCRIPTION = """\
Shipments, alerts and their workflow, behind API keys and roles.

Every endpoint but `/health` needs `Authorization: Bearer <key>` (`cargowatch keys create`).
Roles: **admin** (everything); **operator** (its organisation's shipments: create, change and
close them, act on their alerts); **customs** (every shipment in transit: read, act on alerts,
no shipment changes); **viewer** (its organisation, read only). Another organisation's object
answers 404, an action the key's role may not take 403.
"""


def create_app(
    sessions: sessionmaker[Session],
    *,
    probes: Mapping[str, Probe] | None = None,
    influx: InfluxClient | None = None,
    conditions: ConditionsProvider | None = None,
    ingest_stats: Callable[[], Mapping[str, float]] | None = None,
) -> FastAPI:
    """An app on the SQL store `sessions`.

    `probes` are the readiness checks ``/health`` runs besides the store's own ``SELECT 1``
    (``broker``, ``influxdb``); an `influx` client given without an ``influxdb`` probe is
    pinged instead. `conditions` fills a shipment page's live conditions (null without it).
    """
    app = FastAPI(
        title="CargoWatch",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "shipments", "description": "What each tracker is supposed to be doing."},
            {"name": "alerts", "description": "Alerts, their evidence, history and actions."},
            {"name": "health", "description": "Liveness and readiness (no key needed)."},
            {"name": "metrics", "description": "Prometheus metrics (admin key)."},
        ],
        # Nothing but /health answers without a key: the document is served by the route
        # below to any key, and there is no browser page that would have to fetch it bare.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document(principal: PrincipalDep) -> dict[str, Any]:
        return app.openapi()

    readiness = dict(probes or {})
    if influx is not None:
        readiness.setdefault("influxdb", influx.ping)
    app.state.sessions = sessions
    app.state.probes = readiness
    app.state.health = {}
    app.state.influx = influx
    app.state.conditions = conditions
    app.state.metrics = ApiMetrics(sessions, ingest_stats)
    app.state.stream = stream.StreamSettings()
    # Set when the server stops, so open event streams end and uvicorn can finish.
    app.state.stopping = threading.Event()
    app.add_middleware(LatencyMiddleware, metrics=app.state.metrics)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(OperationalError, _store_unavailable)
    for router in (
        health.router,
        shipments.router,
        readings.router,
        reports.router,
        epcis.router,
        evidence.router,
        # Before alerts' /{alert_id}, which would otherwise take /alerts/stream.
        stream.router,
        # Before alerts' /{alert_id} too, which would otherwise take /alerts/{alert_id}.cap.
        cap.router,
        alerts.router,
        metrics.router,
        webhooks.router,
        email.router,
        outbox.router,
        preferences.router,
        escalation.router,
        silences.router,
    ):
        app.include_router(router)
    # Last: the console's pages and files, and / sending a browser to them.
    app.include_router(console_router)
    return app


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "the SQL store is unavailable; retry later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


#: How much of a refused value a validation error echoes back.
ECHO_CHARS: Final = 200


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape, with echoed input made safe to send: a refused value can be a lone
    surrogate (not UTF-8), a megabyte of text, or JSON nested deeper than an encoder recurses."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [
        {
            "type": _echo(error.get("type", "value_error")),
            "loc": [item if isinstance(item, int) else _echo(item) for item in error["loc"]],
            "msg": _echo(error.get("msg", "")),
            "input": _echo(error.get("input")),
        }
        for error in errors
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _echo(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN
    text = value if isinstance(value, str) else f"<{type(value).__name__}>"
    return text[:ECHO_CHARS].encode("utf-8", "replace").decode()
