"""The SQL store's tables as typed SQLAlchemy 2 models: organisations, API keys, shipments
(every change a new version row), alerts with their append-only history, and the delivery
outbox. The same models run on SQLite and PostgreSQL, so types are kept to what both hold the
same way: times are timezone-aware UTC datetimes on both (`UtcDateTime`), JSON is stored as the
text it was written as (not PostgreSQL's reordering ``jsonb``), and every closed vocabulary is a
string column with a named CHECK constraint. The schema itself is created and changed only by
the Alembic migrations in ``api/migrations``; these classes must describe what they build.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from detectors.alerts import SEVERITIES

ROLES: Final = ("admin", "operator", "customs", "viewer")
SHIPMENT_STATUSES: Final = ("planned", "in_transit", "delivered", "cancelled")
ALERT_STATES: Final = ("open", "acknowledged", "resolved")
#: Detector events (open, update, resolve) and human actions (the rest) share one history.
#: Delivery to people adds its own entries: an escalation or reminder sent, a delivery held back.
HISTORY_ACTIONS: Final = (
    "open",
    "update",
    "resolve",
    "ack",
    "assign",
    "comment",
    "close",
    "escalate",
    "remind",
    "silenced",
)
DETECTOR_ACTOR: Final = "detector"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    """The wall clock, as the aware UTC datetime every time column holds."""
    return datetime.now(UTC)


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds (the engine's time) as an aware UTC datetime, exactly.

    >>> from_ms(1_763_800_000_250).isoformat()
    '2025-11-22T08:26:40.250000+00:00'
    """
    return _EPOCH + timedelta(milliseconds=ms)


def to_ms(at: datetime) -> int:
    """An aware datetime as epoch milliseconds (truncating microseconds).

    >>> to_ms(from_ms(1_763_800_000_250))
    1763800000250
    """
    return (at - _EPOCH) // timedelta(milliseconds=1)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database.

    PostgreSQL keeps ``timestamptz``; SQLite has no time type and SQLAlchemy stores a naive
    ISO string there, so values are converted to UTC before they are stored and come back
    aware. A naive datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime cannot be stored: {value.isoformat()}")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite makes only an INTEGER PRIMARY KEY an auto-incrementing rowid; PostgreSQL gets 64 bits
# for the tables that grow with every alert event.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Deterministic constraint names, so migrations can name what they alter or drop.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        # None is SQL NULL (a human action has no evidence), not the JSON text 'null'.
        dict[str, Any]: JSON(none_as_null=True),
    }


class Organisation(Base):
    """A customer: owns shipments, API keys and (through its shipments) alerts."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class ApiKey(Base):
    """An API key: only its SHA-256 is stored, with a short public prefix to name it by."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: Shown in listings and logs so a key can be named without revealing it.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    #: Hex SHA-256 of the whole key; the key has 256 random bits, so no salt or stretching.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Shipment(Base):
    """A shipment's identity within its organisation and which version is current."""

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("organisation_id", "shipment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    shipment_id: Mapped[str] = mapped_column(String(128), index=True)
    current_version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ShipmentVersion(Base):
    """One version of a shipment: its manifest element and status; never changed once written."""

    __tablename__ = "shipment_versions"
    __table_args__ = (
        UniqueConstraint("shipment_pk", "version"),
        CheckConstraint(_one_of("status", SHIPMENT_STATUSES), name="status"),
        Index(None, "chain_key", "chain_seq", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_pk: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    version: Mapped[int]
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    #: The manifest element (the docs/manifest.md shape) exactly as it was accepted.
    manifest: Mapped[dict[str, Any]]
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    #: The version's link in its shipment's evidence chain (`api.evidence_chain`), next to
    #: the history of the shipment's alerts.
    chain_key: Mapped[str | None] = mapped_column(String(200))
    chain_seq: Mapped[int | None]
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    entry_hash: Mapped[str | None] = mapped_column(String(64))


class Alert(Base):
    """An alert's current state, kept in step with its history in the same transactions."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_one_of("state", ALERT_STATES), name="state"),
        CheckConstraint(_one_of("severity", SEVERITIES), name="severity"),
        Index(None, "state", "kind"),
        # `GET /alerts` pages newest first by (opened_at, alert_id): one index in that order
        # for the whole store, and one per scope or common filter with the filter's column
        # first, so a page (first or deep) reads `limit` index entries instead of sorting
        # every match. The organisation's and the device's also serve lookups by that column
        # alone, so neither column needs an index of its own. The filters' indexes end with
        # the organisation, so the count an operator's filtered page carries is read from the
        # index alone instead of from every matching row.
        Index(None, "opened_at", "alert_id"),
        Index(None, "organisation_id", "opened_at", "alert_id"),
        Index(None, "state", "opened_at", "alert_id", "organisation_id"),
        Index(None, "kind", "opened_at", "alert_id", "organisation_id"),
        Index(None, "shipment_id", "opened_at", "alert_id", "organisation_id"),
        Index(None, "device_id", "opened_at", "alert_id", "organisation_id"),
        # `GET /cap/alerts.atom` reads newest changed first: the whole store's and an
        # organisation's feed each read `limit` index entries instead of sorting every alert.
        Index(None, "updated_at", "alert_id"),
        Index(None, "organisation_id", "updated_at", "alert_id"),
    )

    #: As the detector engine makes it; stable across replays of the same events.
    alert_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: The organisation whose shipment the alert is on, when that was known when it opened.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str] = mapped_column(String(64))
    shipment_id: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    value: Mapped[float | None] = mapped_column(Float)
    predicted_breach_at: Mapped[datetime | None]
    confidence: Mapped[float | None] = mapped_column(Float)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    #: Detector events stored for this alert (replays of stored events do not count).
    events_applied: Mapped[int]
    #: The detector seq the current severity, summary and evidence come from, so an event
    #: that arrives after a later one (a replay filling a gap) lands in the history only.
    last_event_seq: Mapped[int]
    #: Entries in this alert's history; the next entry gets history_length + 1.
    history_length: Mapped[int]


class AlertHistory(Base):
    """One entry of an alert's append-only history: a detector event or a human action."""

    __tablename__ = "alert_history"
    __table_args__ = (
        UniqueConstraint("alert_id", "seq"),
        # The idempotency key of detector events: a replayed event hits it and is a no-op.
        # Human actions leave event_seq NULL, and NULLs never collide.
        UniqueConstraint("alert_id", "event_seq"),
        CheckConstraint(_one_of("action", HISTORY_ACTIONS), name="action"),
        CheckConstraint(_one_of("severity", SEVERITIES), name="severity"),
        # One place per link of an evidence chain; also what a verifier reads a chain by.
        Index(None, "chain_key", "chain_seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.alert_id"))
    #: The entry's place in this alert's stored history: 1, 2, 3... over detector events and
    #: human actions together.
    seq: Mapped[int]
    #: The detector engine's seq of the event (its place among the alert's detector events);
    #: NULL for human actions, which the engine never sees.
    event_seq: Mapped[int | None]
    #: Event time for detector events, the wall clock for human actions.
    at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(String(200))
    evidence: Mapped[dict[str, Any] | None]
    #: The entry's link in its shipment's (or device's) evidence chain, see
    #: `api.evidence_chain`; NULL only on an entry written around the chain, which
    #: verification reports.
    chain_key: Mapped[str | None] = mapped_column(String(200))
    chain_seq: Mapped[int | None]
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    entry_hash: Mapped[str | None] = mapped_column(String(64))


_PENDING = text("delivered_at IS NULL")
_DEAD = text("dead_at IS NOT NULL")


class OutboxEntry(Base):
    """A history entry waiting to be delivered; written in the transaction that wrote it."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The entry by its natural key, which its writer knows before inserting it, so a batch
        # of history rows and their outbox rows go in without reading generated ids back.
        ForeignKeyConstraint(
            ["alert_id", "history_seq"], ["alert_history.alert_id", "alert_history.seq"]
        ),
        UniqueConstraint("alert_id", "history_seq"),
        # What delivery workers scan: the undelivered entries, oldest first.
        Index("ix_outbox_pending", "id", sqlite_where=_PENDING, postgresql_where=_PENDING),
        # What admins list and /metrics counts: the dead letters, a few among many delivered.
        Index("ix_outbox_dead", "id", sqlite_where=_DEAD, postgresql_where=_DEAD),
    )

    #: Delivery order across all alerts, and the SSE event id a client resumes from.
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(200))
    history_seq: Mapped[int]
    #: The alert event in the docs/alerts.md shape, the same for every channel.
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    #: When the entry may be tried again after a refusal; NULL: now.
    next_attempt_at: Mapped[datetime | None]
    #: When a channel first refused the entry in this round of attempts; the deadline counts
    #: from here (an outage refuses nothing, see `api.delivery`). NULL: never refused.
    retry_since: Mapped[datetime | None]
    #: Set when the entry was still refused at its deadline: no longer tried, nor holding back
    #: its alert's later entries, until an admin redelivers it.
    dead_at: Mapped[datetime | None]


_WEBHOOK_PENDING = text("delivered_at IS NULL AND dead_at IS NULL")


class WebhookSubscription(Base):
    """An organisation's webhook: where its alert entries are POSTed, which ones, and the key.

    The secret is kept in the clear because every request is signed with it (HMAC needs the
    key itself, unlike an API key, which only needs checking); the API shows it once.
    """

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (CheckConstraint(_one_of("min_severity", SEVERITIES), name="min_severity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    #: ``whsec_`` and the base64 of 32 random bytes, as Standard Webhooks libraries expect.
    secret: Mapped[str] = mapped_column(String(100))
    #: Filters; None matches everything.
    kind: Mapped[str | None] = mapped_column(String(64))
    min_severity: Mapped[str | None] = mapped_column(String(16))
    shipment_id: Mapped[str | None] = mapped_column(String(128))
    #: False once deleted: its pending deliveries stop, its history stays readable.
    active: Mapped[bool]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class WebhookDelivery(Base):
    """One outbox entry on its way to one subscription, written in the entry's transaction."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["alert_id", "history_seq"], ["outbox.alert_id", "outbox.history_seq"]
        ),
        UniqueConstraint("subscription_id", "alert_id", "history_seq"),
        # What the webhook worker scans: each subscription's deliveries still under way.
        Index(
            "ix_webhook_deliveries_pending",
            "subscription_id",
            "id",
            sqlite_where=_WEBHOOK_PENDING,
            postgresql_where=_WEBHOOK_PENDING,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    alert_id: Mapped[str] = mapped_column(String(200))
    history_seq: Mapped[int]
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    #: When the current round of attempts began; the deadline counts from here (a redelivery
    #: starts a new round).
    retry_since: Mapped[datetime]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]


# The notification tables live in their own module; importing it registers them on `Base`, so
# whoever reads the schema from these models sees every table.
from api import models_evidence as _models_evidence  # noqa: E402, F401
from api import models_notify as _models_notify  # noqa: E402, F401
