"""CAP 1.2: ``GET /alerts/{alert_id}.cap``, an alert's current CAP message, and
``GET /cap/alerts.atom``, an Atom feed of the alerts the key may see, newest changed first.

Visibility is that of ``GET /alerts/{alert_id}`` (`api.queries.alerts_visible`): another
organisation's alert is a 404, as if it did not exist. A ``restricted_zone`` alert's area is the
zone's polygon from its shipment's current manifest, looked up here so that `api.cap` stays
pure. This router is mounted before ``/alerts/{alert_id}``, which would otherwise take
``/alerts/{alert_id}.cap`` for an alert id ending in ``.cap``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from api.cap import MEDIA_TYPE, cap_message
from api.cap_feed import ATOM_MEDIA_TYPE, atom_feed
from api.deps import PrincipalDep, SessionsDep
from api.models import Alert, Shipment, ShipmentVersion
from api.queries import Scope, alerts_visible, visible_alert
from api.schemas import ALERT_ID_PATTERN, AUTH_RESPONSES, NOT_FOUND
from api.store import alert_history

router = APIRouter(tags=["alerts"], responses=AUTH_RESPONSES)


class CapResponse(Response):
    media_type = MEDIA_TYPE


class AtomResponse(Response):
    media_type = ATOM_MEDIA_TYPE


CAP_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The alert's current OASIS CAP 1.2 message (docs/api.md#cap-12).",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    },
    **NOT_FOUND,
}
ATOM_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "An Atom 1.0 feed: one entry per alert, linking its CAP message.",
        "content": {ATOM_MEDIA_TYPE: {"schema": {"type": "string"}}},
    },
}


def _zones(session: Session, alert: Alert) -> dict[str, Any]:
    """The restricted zones of the alert's shipment's current manifest: name -> GeoJSON ring."""
    if alert.kind != "restricted_zone" or alert.organisation_id is None:
        return {}
    query = (
        select(ShipmentVersion.manifest)
        .join(
            Shipment,
            and_(
                ShipmentVersion.shipment_pk == Shipment.id,
                ShipmentVersion.version == Shipment.current_version,
            ),
        )
        .where(
            Shipment.organisation_id == alert.organisation_id,
            Shipment.shipment_id == alert.shipment_id,
        )
    )
    manifest = session.scalar(query) or {}
    zones: dict[str, Any] = {}
    for zone in manifest.get("restricted_zones") or []:
        try:
            zones.setdefault(zone["name"], zone["polygon"]["coordinates"][0])
        except (KeyError, IndexError, TypeError):
            continue  # a manifest the parser took is well formed; anything else places nothing
    return zones


@router.get(
    "/alerts/{alert_id}.cap",
    operation_id="read_alert_cap",
    response_class=CapResponse,
    responses=CAP_RESPONSES,
)
def read_alert_cap(
    alert_id: Annotated[str, Path(pattern=ALERT_ID_PATTERN, description="The alert's id.")],
    principal: PrincipalDep,
    sessions: SessionsDep,
) -> CapResponse:
    """Read an alert's current OASIS CAP 1.2 message."""
    with sessions() as session:
        alert = visible_alert(session, principal.scope, alert_id)
        if alert is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
        history = alert_history(session, alert.alert_id)
        body = cap_message(alert, history, zones=_zones(session, alert))
    return CapResponse(body)


def _newest_changed(session: Session, scope: Scope, limit: int) -> list[Alert]:
    query = (
        select(Alert)
        .where(alerts_visible(scope))
        .order_by(Alert.updated_at.desc(), Alert.alert_id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


@router.get(
    "/cap/alerts.atom",
    operation_id="list_alerts_cap_feed",
    response_class=AtomResponse,
    responses=ATOM_RESPONSES,
)
def list_alerts_cap_feed(
    request: Request,
    principal: PrincipalDep,
    sessions: SessionsDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Alerts in the feed.")] = 50,
) -> AtomResponse:
    """Follow alerts' CAP messages as an Atom feed, newest changed first."""
    with sessions() as session:
        alerts = _newest_changed(session, principal.scope, limit)
        body = atom_feed(
            alerts,
            self_url=str(request.url),
            base_url=str(request.base_url),
            now=datetime.now(UTC),
        )
    return AtomResponse(body)
