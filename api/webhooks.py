"""Webhooks in the SQL store: subscriptions, the fan-out of alert entries to them, and the
Standard Webhooks signature every request carries.

Fan-out happens where the outbox row is written, in the same transaction (`fan_out`, called by
`api.store` for detector events and by `api.actions` for people's actions): a delivery row per
matching active subscription, so an entry and the deliveries it causes commit together or not
at all, and a subscription created after an entry never receives it. A subscription matches the
entries of its organisation's alerts (an alert with no organisation reaches no webhook), of its
kind, at or above its minimum severity and on its shipment, each filter only when set. Each
request is signed as https://www.standardwebhooks.com says: ``webhook-id`` (the entry's stable
id, the same on every retry, for receivers to deduplicate on), ``webhook-timestamp`` (seconds)
and ``webhook-signature`` ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with
the base64-decoded part of the ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from api.models import WebhookDelivery, WebhookSubscription
from detectors.alerts import SEVERITY_RANK

SECRET_PREFIX: Final = "whsec_"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def event_id(payload: Mapping[str, Any]) -> str:
    """The entry's stable id: its alert and place in the alert's history.

    >>> event_id({"alert_id": "al_708c2cc9f0f19c04", "history_seq": 3})
    'al_708c2cc9f0f19c04.3'
    """
    return f"{payload['alert_id']}.{payload['history_seq']}"


def webhook_body(payload: Mapping[str, Any]) -> bytes:
    """The JSON body: the Standard Webhooks envelope around the alert entry (docs/alerts.md).

    >>> webhook_body({"event": "open", "at": "2026-11-22T10:10:00Z", "alert_id": "al_1"})
    b'{"type":"alert.open","timestamp":"2026-11-22T10:10:00Z","data":{"event":"open","at":"2026-11-22T10:10:00Z","alert_id":"al_1"}}'
    """
    envelope = {"type": f"alert.{payload['event']}", "timestamp": payload["at"], "data": payload}
    return orjson.dumps(envelope)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one request.

    >>> sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
    ...      1614265330, b'{"test": 2432232314}')
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
    """
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def matches(subscription: WebhookSubscription, payload: Mapping[str, Any]) -> bool:
    """Whether an entry passes the subscription's filters (the organisation is checked apart)."""
    if subscription.kind is not None and payload.get("kind") != subscription.kind:
        return False
    if subscription.shipment_id is not None and payload.get("shipment_id") != (
        subscription.shipment_id
    ):
        return False
    if subscription.min_severity is not None:
        severity = payload.get("severity")
        if severity not in SEVERITY_RANK:
            return False
        return SEVERITY_RANK[severity] >= SEVERITY_RANK[subscription.min_severity]
    return True


def fan_out(
    session: Session, entries: Iterable[tuple[int | None, Mapping[str, Any]]], now: datetime
) -> int:
    """Write a delivery row per matching subscription for each new outbox entry, given as its
    alert's organisation and payload, inside the transaction that writes the entries; returns
    how many were written."""
    by_org: dict[int, list[Mapping[str, Any]]] = {}
    for organisation_id, payload in entries:
        if organisation_id is not None:
            by_org.setdefault(organisation_id, []).append(payload)
    if not by_org:
        return 0
    query = select(WebhookSubscription).where(
        WebhookSubscription.organisation_id.in_(sorted(by_org)),
        WebhookSubscription.active.is_(True),
    )
    rows = [
        {
            "subscription_id": subscription.id,
            "alert_id": payload["alert_id"],
            "history_seq": payload["history_seq"],
            "attempts": 0,
            "next_attempt_at": now,
            "retry_since": now,
        }
        for subscription in session.scalars(query)
        for payload in by_org[subscription.organisation_id]
        if matches(subscription, payload)
    ]
    if rows:
        session.execute(insert(WebhookDelivery), rows)
    return len(rows)


# --- queries for the API -----------------------------------------------------------------------


def subscriptions_of(session: Session, organisation_id: int | None) -> list[WebhookSubscription]:
    """An organisation's active subscriptions (None: every organisation's), oldest first."""
    query = select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
    if organisation_id is not None:
        query = query.where(WebhookSubscription.organisation_id == organisation_id)
    return list(session.scalars(query.order_by(WebhookSubscription.id)))


def deliveries_of(
    session: Session, subscription_id: int, *, state: str | None = None, limit: int = 100
) -> list[WebhookDelivery]:
    """A subscription's deliveries, newest first; `state` is pending, delivered or dead."""
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if state == "dead":
        query = query.where(WebhookDelivery.dead_at.is_not(None))
    elif state == "delivered":
        query = query.where(WebhookDelivery.delivered_at.is_not(None))
    elif state == "pending":
        query = query.where(
            WebhookDelivery.delivered_at.is_(None), WebhookDelivery.dead_at.is_(None)
        )
    return list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)))


def delivery_state(delivery: WebhookDelivery) -> str:
    if delivery.delivered_at is not None:
        return "delivered"
    return "dead" if delivery.dead_at is not None else "pending"
