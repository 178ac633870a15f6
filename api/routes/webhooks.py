"""``/webhooks``: an organisation's webhook subscriptions, their deliveries, and the admin's
redelivery of a dead-lettered one.

Admin and operator keys manage their organisation's subscriptions (an admin may name another
organisation when creating one, and sees and deletes every organisation's); customs and viewer
keys may not, since a subscription sends an organisation's alerts out of CargoWatch. The
signing secret is generated here and returned once, in the creation's answer. Deleting a
subscription deactivates it: its pending deliveries stop, its delivery history stays listed.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlalchemy.orm import Session

from api.db import write_transaction
from api.deps import (
    OrganisationQuery,
    Principal,
    PrincipalDep,
    SessionsDep,
    require_role,
    target_organisation,
)
from api.models import WebhookDelivery, WebhookSubscription, utcnow
from api.retrying import send_again
from api.schemas import AUTH_RESPONSES, BAD_BODY, FORBIDDEN, NOT_FOUND
from api.schemas_webhooks import (
    DeliveryState,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveriesPublic,
    WebhookDeliveryPublic,
    WebhookPublic,
    WebhooksPublic,
)
from api.webhooks import deliveries_of, new_secret, subscriptions_of

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=AUTH_RESPONSES)

MANAGE_WEBHOOKS: Final = frozenset({"admin", "operator"})
WebhookIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The subscription's id.")]
DeliveryIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="The delivery's id.")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_webhook",
    responses={**BAD_BODY, **FORBIDDEN},
)
def create_webhook(
    body: WebhookCreate,
    principal: PrincipalDep,
    sessions: SessionsDep,
    organisation: OrganisationQuery = None,
) -> WebhookCreated:
    """Subscribe a URL to the organisation's alert entries; the answer holds the secret, once."""
    require_role(principal, MANAGE_WEBHOOKS, "manage webhooks")
    with write_transaction(sessions) as session:
        row = WebhookSubscription(
            organisation_id=target_organisation(session, principal, organisation, "webhooks")[0],
            url=body.url,
            secret=new_secret(),
            kind=body.kind,
            min_severity=body.min_severity,
            shipment_id=body.shipment_id,
            active=True,
            created_at=utcnow(),
            created_by=principal.actor,
        )
        session.add(row)
        session.flush()
        return WebhookCreated(**WebhookPublic.of(row).model_dump(), secret=row.secret)


@router.get("", operation_id="list_webhooks", responses=FORBIDDEN)
def list_webhooks(principal: PrincipalDep, sessions: SessionsDep) -> WebhooksPublic:
    """List the organisation's active subscriptions (every organisation's for an admin)."""
    require_role(principal, MANAGE_WEBHOOKS, "manage webhooks")
    with sessions() as session:
        rows = subscriptions_of(session, principal.scope.organisation_id)
    return WebhooksPublic(data=[WebhookPublic.of(r) for r in rows], count=len(rows))


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_webhook",
    responses={**FORBIDDEN, **NOT_FOUND},
)
def delete_webhook(
    webhook_id: WebhookIdPath, principal: PrincipalDep, sessions: SessionsDep
) -> Response:
    """Delete a subscription: nothing more is sent to it."""
    require_role(principal, MANAGE_WEBHOOKS, "manage webhooks")
    with write_transaction(sessions) as session:
        _visible(session, principal, webhook_id).active = False
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="list_webhook_deliveries",
    responses={**FORBIDDEN, **NOT_FOUND},
)
def list_webhook_deliveries(
    webhook_id: WebhookIdPath,
    principal: PrincipalDep,
    sessions: SessionsDep,
    state: DeliveryState | None = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Deliveries to list.")] = 100,
) -> WebhookDeliveriesPublic:
    """List a subscription's deliveries, newest first (``state=dead``: the dead letters)."""
    require_role(principal, MANAGE_WEBHOOKS, "manage webhooks")
    with sessions() as session:
        _visible(session, principal, webhook_id, deleted_too=True)
        rows = deliveries_of(session, webhook_id, state=state, limit=limit)
    return WebhookDeliveriesPublic(
        data=[WebhookDeliveryPublic.of(r) for r in rows], count=len(rows)
    )


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    operation_id="redeliver_webhook_delivery",
    responses={**FORBIDDEN, **NOT_FOUND},
)
def redeliver_webhook_delivery(
    delivery_id: DeliveryIdPath, principal: PrincipalDep, sessions: SessionsDep
) -> WebhookDeliveryPublic:
    """Send a delivery again from now, with a new deadline (admin keys)."""
    require_role(principal, frozenset({"admin"}), "redeliver webhooks")
    with write_transaction(sessions) as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook delivery {delivery_id}")
        send_again(row, utcnow())
        session.flush()
        return WebhookDeliveryPublic.of(row)


def _visible(
    session: Session, principal: Principal, webhook_id: int, *, deleted_too: bool = False
) -> WebhookSubscription:
    row = session.get(WebhookSubscription, webhook_id)
    scope = principal.scope.organisation_id
    if (
        row is None
        or (scope is not None and row.organisation_id != scope)
        or not (row.active or deleted_too)
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook {webhook_id}")
    return row
