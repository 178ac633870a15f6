"""The ``/webhooks`` resource's request and response bodies: a subscription as created (with its
secret, shown this once), as listed (without it), and its deliveries with their state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from api.models import WebhookDelivery, WebhookSubscription
from api.schemas import AlertKind, Severity, ShipmentId
from api.webhooks import delivery_state

DeliveryState = Literal["pending", "delivered", "dead"]


def _webhook_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ValueError("must be an http(s) URL with a valid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        # It would be stored and listed in the clear; receivers authenticate by signature.
        raise ValueError("must not carry a user name or password")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError("must not contain spaces or control characters")
    return text


WebhookUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_webhook_url)]


class WebhookCreate(BaseModel):
    """Where to send alert entries, and which: each filter only when given."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl = Field(examples=["https://hooks.example.com/cargowatch"])
    kind: AlertKind | None = Field(None, description="Only alerts of this kind.")
    min_severity: Severity | None = Field(
        None, description="Only entries at this severity or above."
    )
    shipment_id: ShipmentId | None = Field(None, description="Only alerts on this shipment.")


class WebhookPublic(BaseModel):
    """A subscription, without its secret."""

    id: int
    organisation_id: int
    url: str
    kind: str | None
    min_severity: str | None
    shipment_id: str | None
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, row: WebhookSubscription) -> WebhookPublic:
        return cls(
            id=row.id,
            organisation_id=row.organisation_id,
            url=row.url,
            kind=row.kind,
            min_severity=row.min_severity,
            shipment_id=row.shipment_id,
            created_at=row.created_at,
            created_by=row.created_by,
        )


class WebhookCreated(WebhookPublic):
    """A new subscription with its signing secret, which no later answer shows again."""

    secret: str = Field(description="`whsec_` and base64: the Standard Webhooks signing key.")


class WebhooksPublic(BaseModel):
    data: list[WebhookPublic]
    count: int


class WebhookDeliveryPublic(BaseModel):
    """One alert entry's delivery to one subscription."""

    id: int
    webhook_id: int
    event_id: str = Field(description="The `webhook-id` header: the same on every attempt.")
    alert_id: str
    history_seq: int
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    dead_at: datetime | None

    @classmethod
    def of(cls, row: WebhookDelivery) -> WebhookDeliveryPublic:
        state = delivery_state(row)
        return cls(
            id=row.id,
            webhook_id=row.subscription_id,
            event_id=f"{row.alert_id}.{row.history_seq}",
            alert_id=row.alert_id,
            history_seq=row.history_seq,
            state=state,  # type: ignore[arg-type]
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if state == "pending" else None,
            last_status=row.last_status,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            dead_at=row.dead_at,
        )


class WebhookDeliveriesPublic(BaseModel):
    data: list[WebhookDeliveryPublic]
    count: int
