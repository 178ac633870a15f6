"""``/email/deliveries``: the e-mails CargoWatch has sent or is trying to send, with their state,
and the admin's redelivery of a dead-lettered one. Admin and operator keys list their
organisation's (an admin every organisation's)."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy import select

from api.db import write_transaction
from api.deps import PrincipalDep, SessionsDep, require_role
from api.models import utcnow
from api.models_notify import EmailDelivery
from api.retrying import send_again
from api.schemas import AUTH_RESPONSES, FORBIDDEN, NOT_FOUND, AlertId
from api.schemas_notify import EmailDeliveriesPublic, EmailDeliveryPublic
from api.schemas_webhooks import DeliveryState

router = APIRouter(prefix="/email", tags=["email"], responses=AUTH_RESPONSES)

SEE_EMAIL: Final = frozenset({"admin", "operator"})
DeliveryIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="The delivery's id.")]


@router.get("/deliveries", operation_id="list_email_deliveries", responses=FORBIDDEN)
def list_email_deliveries(
    principal: PrincipalDep,
    sessions: SessionsDep,
    state: DeliveryState | None = None,
    alert_id: AlertId | None = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Deliveries to list.")] = 100,
) -> EmailDeliveriesPublic:
    """List e-mail deliveries, newest first (``state=dead``: the dead letters)."""
    require_role(principal, SEE_EMAIL, "see e-mail deliveries")
    query = select(EmailDelivery)
    if principal.role != "admin":
        query = query.where(EmailDelivery.organisation_id == principal.organisation_id)
    if alert_id is not None:
        query = query.where(EmailDelivery.alert_id == alert_id)
    if state == "dead":
        query = query.where(EmailDelivery.dead_at.is_not(None))
    elif state == "delivered":
        query = query.where(EmailDelivery.delivered_at.is_not(None))
    elif state == "pending":
        query = query.where(EmailDelivery.delivered_at.is_(None), EmailDelivery.dead_at.is_(None))
    with sessions() as session:
        rows = list(session.scalars(query.order_by(EmailDelivery.id.desc()).limit(limit)))
        data = [EmailDeliveryPublic.of(r) for r in rows]
    return EmailDeliveriesPublic(data=data, count=len(data))


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    operation_id="redeliver_email_delivery",
    responses={**FORBIDDEN, **NOT_FOUND},
)
def redeliver_email_delivery(
    delivery_id: DeliveryIdPath, principal: PrincipalDep, sessions: SessionsDep
) -> EmailDeliveryPublic:
    """Send an e-mail again from now, with a new deadline (admin keys)."""
    require_role(principal, frozenset({"admin"}), "redeliver e-mail")
    with write_transaction(sessions) as session:
        row = session.get(EmailDelivery, delivery_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no e-mail delivery {delivery_id}")
        send_again(row, utcnow())
        session.flush()
        return EmailDeliveryPublic.of(row)
