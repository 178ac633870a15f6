"""``/metrics``: what the service has been doing, in the Prometheus text format (`api.metrics`).

It needs an admin key: the alert counts span every organisation, so a key of one organisation
must not read them. Prometheus sends it with ``authorization: {type: Bearer, credentials: ...}``.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import PrincipalDep, require_role
from api.schemas import AUTH_RESPONSES, FORBIDDEN

ADMIN: Final = frozenset({"admin"})

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    operation_id="read_metrics",
    response_class=Response,
    responses={
        **AUTH_RESPONSES,
        **FORBIDDEN,
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format.",
        },
    },
)
def read_metrics(request: Request, principal: PrincipalDep) -> Response:
    """Prometheus metrics: alerts by kind and state, API latency, ingest counters (admin only)."""
    require_role(principal, ADMIN, "read metrics")
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
