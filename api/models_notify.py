"""The tables that bring alerts to people: each API key's notification preferences, each
organisation's escalation policies and silences, and the e-mail deliveries the outbox fan-out
and the escalation worker write. Registered on `api.models.Base` (which imports this module), so
the Alembic migrations and the schema test see them with the rest; migration 0004 builds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.models import Base, BigId
from detectors.alerts import SEVERITIES

#: The channels a key can ask for; webhooks are per organisation, not per key.
PERSONAL_CHANNELS: Final = ("email",)
#: Why an e-mail is sent: the alert entry itself, or the escalation worker's notice.
EMAIL_REASONS: Final = ("alert", "escalate", "remind")

_SEVERITY_CHECK: Final = f"min_severity IN ({', '.join(repr(s) for s in SEVERITIES)})"
_EMAIL_PENDING = text("delivered_at IS NULL AND dead_at IS NULL")


class NotificationPreference(Base):
    """What one API key (a person or a team) wants e-mailed to it, and where."""

    __tablename__ = "notification_preferences"
    __table_args__ = (CheckConstraint(_SEVERITY_CHECK, name="min_severity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), unique=True)
    #: Denormalised from the key, so the fan-out finds an organisation's in one indexed query.
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    #: Channel names (`PERSONAL_CHANNELS`); an empty list turns the key's notices off.
    channels: Mapped[list[str]] = mapped_column(JSON)
    min_severity: Mapped[str] = mapped_column(String(16))
    #: Alert kinds to notify; None means every kind.
    kinds: Mapped[list[str] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))


class EscalationPolicy(Base):
    """Who is notified, and when, about an organisation's alerts nobody has acknowledged.

    `levels` is a list of ``{"after_min": N, "keys": [key prefixes]}`` in rising `after_min`:
    level i is notified `after_min` minutes after the alert opened; after the last level
    reached, that level is reminded every `remind_every_min` minutes until the alert is
    acknowledged or resolved.
    """

    __tablename__ = "escalation_policies"
    __table_args__ = (CheckConstraint(_SEVERITY_CHECK, name="min_severity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    min_severity: Mapped[str] = mapped_column(String(16))
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    remind_every_min: Mapped[int | None]
    #: False once deleted: alerts stop escalating by it; the history it wrote stays.
    active: Mapped[bool]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class Silence(Base):
    """Holds back people-facing delivery for matching alerts from `starts_at` to `ends_at`.

    Each scope column is a filter (None matches all); at least one is set. A silence that
    starts in the future is a maintenance window. Expiring one sets `ends_at` to the moment.
    """

    __tablename__ = "silences"
    __table_args__ = (Index(None, "organisation_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    shipment_id: Mapped[str | None] = mapped_column(String(128))
    device_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class EmailDelivery(Base):
    """One history entry e-mailed to one address; written in the entry's transaction."""

    __tablename__ = "email_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["alert_id", "history_seq"], ["alert_history.alert_id", "alert_history.seq"]
        ),
        CheckConstraint(f"reason IN ({', '.join(repr(r) for r in EMAIL_REASONS)})", name="reason"),
        # What the e-mail worker scans: the deliveries still under way, oldest first.
        Index(
            "ix_email_deliveries_pending",
            "id",
            sqlite_where=_EMAIL_PENDING,
            postgresql_where=_EMAIL_PENDING,
        ),
        Index(None, "alert_id", "history_seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    #: The key whose preference or escalation level the address came from.
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    address: Mapped[str] = mapped_column(String(320))
    alert_id: Mapped[str] = mapped_column(String(200))
    history_seq: Mapped[int]
    reason: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    retry_since: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
