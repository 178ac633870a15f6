"""``/shipments``: create a shipment from one manifest element, list them, read a shipment's page
(status, manifest, live conditions, open alerts, customs risk score), change it and close it.

Every change is a new version (`api.shipments.save_shipment`), attributed to the calling key,
and checked by the manifest parser the detectors use, so what the API accepts the running
detectors can watch (they pick it up within seconds through `api.shipment_watch`). A delivered
or cancelled shipment is closed: it is no longer watched and refuses changes with 409.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from api.cursor import MAX_LENGTH, Cursor, CursorInvalid, decode, encode
from api.db import write_transaction
from api.deps import (
    MANAGE_SHIPMENTS,
    OrganisationQuery,
    Principal,
    PrincipalDep,
    SessionsDep,
    ShipmentIdPath,
    VisibleShipmentDep,
    require_role,
    target_organisation,
    visible_or_404,
)
from api.models import Shipment, ShipmentVersion
from api.queries import (
    shipment_open_alerts,
    shipments_count,
    shipments_page,
)
from api.schemas import (
    AUTH_RESPONSES,
    BAD_BODY,
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    DeviceId,
    ErrorPublic,
    ShipmentStatus,
)
from api.schemas_alerts import AlertPublic
from api.schemas_shipments import (
    RiskContribution,
    RiskPublic,
    ShipmentClose,
    ShipmentConditions,
    ShipmentCreate,
    ShipmentDetail,
    ShipmentPublic,
    ShipmentsPublic,
    ShipmentUpdate,
)
from api.shipments import ShipmentExists, current_shipment, save_shipment
from detectors.profiles import ManifestError
from detectors.risk import risk_score
from ingest.influx_client import InfluxError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/shipments", tags=["shipments"], responses=AUTH_RESPONSES)

SCOPE: Final = "shipments"
CLOSED: Final = frozenset({"delivered", "cancelled"})
BAD_CURSOR: Final[dict[int | str, dict[str, object]]] = {
    400: {"model": ErrorPublic, "description": "The cursor is not one this API wrote."}
}


def _public(shipment: Shipment, version: ShipmentVersion, organisation: str) -> ShipmentPublic:
    return ShipmentPublic(
        shipment_id=shipment.shipment_id,
        organisation=organisation,
        device_id=version.device_id,
        status=version.status,  # type: ignore[arg-type]  # the CHECK constraint holds it
        version=version.version,
        manifest=version.manifest,
        updated_by=version.actor,
        created_at=shipment.created_at,
        updated_at=shipment.updated_at,
    )


def _save(
    session: Session,
    organisation_id: int,
    manifest: dict[str, Any],
    actor: str,
    status_: str,
    new: bool = False,
) -> ShipmentVersion:
    try:
        return save_shipment(
            session, organisation_id, manifest, actor=actor, status=status_, new=new
        )
    except ShipmentExists as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{exc}: change it with PUT or PATCH"
        ) from None
    except ManifestError as exc:
        # The same shape as FastAPI's own validation errors, so clients read one kind of 422.
        raise RequestValidationError(
            [{"type": "manifest", "loc": ("body",), "msg": str(exc), "input": None}]
        ) from None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_shipment",
    responses={**BAD_BODY, **FORBIDDEN, **CONFLICT},
)
def create_shipment(
    body: ShipmentCreate,
    principal: PrincipalDep,
    sessions: SessionsDep,
    organisation: OrganisationQuery = None,
) -> ShipmentPublic:
    """Create a shipment (planned) from one manifest element."""
    require_role(principal, MANAGE_SHIPMENTS, "create shipments")
    with write_transaction(sessions) as session:
        org_id, org_name = target_organisation(session, principal, organisation, "shipments")
        if current_shipment(session, org_id, body.shipment_id) is not None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"shipment {body.shipment_id!r} exists already: change it with PUT or PATCH",
            )
        version = _save(session, org_id, body.manifest(), principal.actor, "planned", new=True)
        shipment = session.get_one(Shipment, version.shipment_pk)
        return _public(shipment, version, org_name)


@router.get("", operation_id="list_shipments", responses=BAD_CURSOR)
def list_shipments(
    principal: PrincipalDep,
    sessions: SessionsDep,
    status_: Annotated[ShipmentStatus | None, Query(alias="status")] = None,
    device_id: DeviceId | None = None,
    cursor: Annotated[
        str | None, Query(max_length=MAX_LENGTH, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Shipments per page.")] = 50,
) -> ShipmentsPublic:
    """List the shipments the key may see, by shipment id, a page at a time."""
    after = None
    if cursor is not None:
        try:
            position = decode(cursor, SCOPE)
        except CursorInvalid as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"bad cursor: {exc}") from None
        after = (position.text, position.number)
    with sessions() as session:
        scope = principal.scope
        rows = shipments_page(
            session, scope, status=status_, device_id=device_id, after=after, limit=limit + 1
        )
        count = shipments_count(session, scope, status=status_, device_id=device_id)
    page = rows[:limit]
    last = page[-1][0] if page else None
    return ShipmentsPublic(
        data=[_public(*row) for row in page],
        count=count,
        next_cursor=(
            encode(Cursor(SCOPE, last.id, last.shipment_id))
            if last is not None and len(rows) > limit
            else None
        ),
    )


@router.get(
    "/{shipment_id}",
    operation_id="read_shipment",
    responses={
        **NOT_FOUND,
        409: {"model": ErrorPublic, "description": "The id is ambiguous: name the organisation."},
    },
)
def read_shipment(
    row: VisibleShipmentDep, request: Request, sessions: SessionsDep
) -> ShipmentDetail:
    """Read a shipment's page: status, manifest, conditions, open alerts and risk score."""
    shipment, version, organisation = row
    with sessions() as session:
        alerts = shipment_open_alerts(session, shipment.organisation_id, shipment.shipment_id)
    risk = risk_score((a.alert_id, a.kind, a.severity) for a in alerts)
    return ShipmentDetail(
        **_public(shipment, version, organisation).model_dump(),
        conditions=_conditions(request, version),
        open_alerts=[AlertPublic.of(a) for a in alerts],
        risk=RiskPublic(
            score=risk.score,
            contributions=[
                RiskContribution(
                    alert_id=c.alert_id, kind=c.kind, severity=c.severity, points=c.points
                )
                for c in risk.contributions
            ],
        ),
    )


def _conditions(request: Request, version: ShipmentVersion) -> ShipmentConditions:
    """The live conditions from `create_app(conditions=...)`; all null when InfluxDB is away.

    THE PLACE FOR last_position, last_temperature_c, mkt_c and stability_budget_used_min: the
    provider is called with the shipment's current version (device, manifest, status).
    """
    provider = request.app.state.conditions
    if provider is None:
        return ShipmentConditions()
    try:
        found: ShipmentConditions = provider(version)
    except InfluxError as exc:
        log.warning("conditions of shipment %s unavailable: %s", version.shipment_pk, exc)
        return ShipmentConditions()
    return found


def _change(
    sessions: SessionsDep,
    principal: Principal,
    shipment_id: str,
    organisation: str | None,
    doing: str,
    new: Any,
) -> ShipmentPublic:
    """Apply `new(current version) -> (manifest, status)` as a new version, checked and locked."""
    with write_transaction(sessions) as session:
        shipment, version, org_name = visible_or_404(session, principal, shipment_id, organisation)
        require_role(principal, MANAGE_SHIPMENTS, doing)
        if version.status in CLOSED:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"shipment {shipment_id!r} is {version.status}"
            )
        manifest, status_ = new(version)
        saved = _save(session, shipment.organisation_id, manifest, principal.actor, status_)
        session.refresh(shipment)
        return _public(shipment, saved, org_name)


CHANGE_RESPONSES: Final = {**BAD_BODY, **FORBIDDEN, **NOT_FOUND, **CONFLICT}


@router.put("/{shipment_id}", operation_id="replace_shipment", responses=CHANGE_RESPONSES)
def replace_shipment(
    shipment_id: ShipmentIdPath,
    body: ShipmentCreate,
    principal: PrincipalDep,
    sessions: SessionsDep,
    organisation: OrganisationQuery = None,
) -> ShipmentPublic:
    """Replace the shipment's manifest element (a new version; the status is kept)."""
    if body.shipment_id != shipment_id:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "shipment_id"),
                    "msg": f"must be the shipment id in the path, {shipment_id!r}",
                    "input": body.shipment_id,
                }
            ]
        )
    return _change(
        sessions,
        principal,
        shipment_id,
        organisation,
        "change shipments",
        lambda v: (body.manifest(), v.status),
    )


@router.patch("/{shipment_id}", operation_id="update_shipment", responses=CHANGE_RESPONSES)
def update_shipment(
    shipment_id: ShipmentIdPath,
    body: ShipmentUpdate,
    principal: PrincipalDep,
    sessions: SessionsDep,
    organisation: OrganisationQuery = None,
) -> ShipmentPublic:
    """Change some fields of the shipment, or its status (a new version)."""

    def merged(version: ShipmentVersion) -> tuple[dict[str, Any], str]:
        manifest = dict(version.manifest)
        for key, value in body.changes().items():
            if value is None:
                manifest.pop(key, None)
            else:
                manifest[key] = value
        return manifest, body.status or version.status

    return _change(sessions, principal, shipment_id, organisation, "change shipments", merged)


@router.post("/{shipment_id}/close", operation_id="close_shipment", responses=CHANGE_RESPONSES)
def close_shipment(
    shipment_id: ShipmentIdPath,
    principal: PrincipalDep,
    sessions: SessionsDep,
    body: ShipmentClose | None = None,
    organisation: OrganisationQuery = None,
) -> ShipmentPublic:
    """Close the shipment as delivered (the default) or cancelled; it is no longer watched."""
    ending = (body or ShipmentClose()).status
    return _change(
        sessions,
        principal,
        shipment_id,
        organisation,
        "close shipments",
        lambda v: (v.manifest, ending),
    )
