"""``/health``: whether the API can serve.

It is the one endpoint that answers without a key, so load balancers and
orchestrators can use it: 200 when the SQL store (``SELECT 1``), the broker and InfluxDB all
answer their probes, 503 naming the one that is down otherwise. It says only ``up`` or
``down``, never why (that goes to the log, once per change), because anyone may ask.
``/health/live`` answers 200 while the process serves at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import text

from api.deps import SessionsDep
from api.schemas import HealthPublic, LivePublic

log = logging.getLogger(__name__)

#: A readiness probe: returns when the component answers, raises when it does not.
Probe = Callable[[], object]

router = APIRouter(tags=["health"])


@router.get("/health/live", operation_id="read_liveness")
def read_liveness() -> LivePublic:
    """Liveness: the process is serving requests."""
    return LivePublic()


@router.get(
    "/health",
    operation_id="read_health",
    responses={503: {"model": HealthPublic, "description": "A component is down."}},
)
def read_health(request: Request, response: Response, sessions: SessionsDep) -> HealthPublic:
    """Readiness: 200 when the SQL store, the broker and InfluxDB answer, else 503."""

    def sql() -> None:
        with sessions() as session:
            session.execute(text("SELECT 1"))

    probes: Mapping[str, Probe] = {"sql": sql, **request.app.state.probes}
    states: dict[str, Literal["up", "down"]] = {
        name: _run(request, name, probe) for name, probe in probes.items()
    }
    ready = all(state == "up" for state in states.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthPublic(
        status="ok" if ready else "unavailable",
        components=states,
    )


def _run(request: Request, name: str, probe: Probe) -> Literal["up", "down"]:
    last: dict[str, str] = request.app.state.health
    state: Literal["up", "down"] = "up"
    reason = ""
    try:
        probe()
    # Any failure, of any library, means the component cannot serve now: that is the answer.
    except Exception as exc:
        state, reason = "down", f": {type(exc).__name__}: {exc}"
    if last.get(name, "up") != state:
        log.warning("readiness: %s is %s%s", name, state, reason)
    last[name] = state
    return state
