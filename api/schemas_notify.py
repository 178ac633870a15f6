"""Request and response bodies of the resources that bring alerts to people: a key's
notification preferences, escalation policies, silences, and e-mail deliveries.

`parse_levels` and `email_address` are the validators the bodies share; both are pure and
raise `ValueError` with the sentence a 422 shows.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from api.models_notify import EmailDelivery, EscalationPolicy, NotificationPreference, Silence
from api.schemas import AlertKind, Comment, DeviceId, Name, Severity, ShipmentId
from api.webhooks import delivery_state

MAX_LEVELS: Final = 10
MAX_AFTER_MIN: Final = 7 * 24 * 60
_KEY_PREFIX: Final = re.compile(r"[0-9a-f]{8}")
_LOCAL: Final = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_DOMAIN: Final = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def email_address(text: str) -> str:
    """An e-mail address as SMTP can take it: ASCII ``local@domain.tld``, no display name.

    >>> email_address("ops@example.com")
    'ops@example.com'
    >>> email_address("ops@localhost")
    Traceback (most recent call last):
    ...
    ValueError: must be an address like name@example.com
    """
    local, at, domain = text.rpartition("@")
    if not at or not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        raise ValueError("must be an address like name@example.com")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValueError("must be an address like name@example.com")
    return text


def parse_levels(raw: Any) -> list[dict[str, Any]]:
    """Escalation levels: 1-10 of ``{"after_min": minutes, "keys": [key prefixes]}``, each
    after the one before, with 1-20 distinct keys each.

    >>> parse_levels([{"after_min": 0, "keys": ["0a1b2c3d"]}])
    [{'after_min': 0, 'keys': ['0a1b2c3d']}]
    """
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_LEVELS:
        raise ValueError(f"must be a list of 1 to {MAX_LEVELS} levels")
    levels: list[dict[str, Any]] = []
    previous = -1
    for n, level in enumerate(raw, start=1):
        if not isinstance(level, dict) or set(level) != {"after_min", "keys"}:
            raise ValueError(f"level {n} must have exactly after_min and keys")
        after, keys = level["after_min"], level["keys"]
        if isinstance(after, bool) or not isinstance(after, int):
            raise ValueError(f"level {n}: after_min must be a whole number of minutes")
        if not previous < after <= MAX_AFTER_MIN:
            raise ValueError(
                f"level {n}: after_min must be above the level before's and at most {MAX_AFTER_MIN}"
            )
        if not isinstance(keys, list) or not 1 <= len(keys) <= 20:
            raise ValueError(f"level {n}: keys must list 1 to 20 key prefixes")
        if not all(isinstance(k, str) and _KEY_PREFIX.fullmatch(k) for k in keys):
            raise ValueError(f"level {n}: each key must be a key's 8-hex-digit prefix")
        if len(set(keys)) != len(keys):
            raise ValueError(f"level {n}: a key is listed twice")
        levels.append({"after_min": after, "keys": list(keys)})
        previous = after
    return levels


EmailAddress = Annotated[str, StringConstraints(max_length=320), AfterValidator(email_address)]


class Level(BaseModel):
    """One escalation level: notified `after_min` minutes after the alert opened."""

    model_config = ConfigDict(extra="forbid")

    after_min: int = Field(ge=0, le=MAX_AFTER_MIN)
    keys: list[str] = Field(description="Prefixes of the keys to e-mail (`cw_<prefix>_...`).")


Levels = Annotated[list[Level], AfterValidator(lambda v: _checked_levels(v))]


def _checked_levels(levels: list[Level]) -> list[Level]:
    parse_levels([level.model_dump() for level in levels])
    return levels


# --- preferences -------------------------------------------------------------------------------

Channel = Literal["email"]


def _email_only() -> list[Channel]:
    return ["email"]


class PreferencesUpdate(BaseModel):
    """What a key wants e-mailed to it, and where; every field replaces the stored one."""

    model_config = ConfigDict(extra="forbid")

    email: EmailAddress | None = Field(None, examples=["ops@example.com"])
    channels: list[Channel] = Field(default_factory=_email_only)
    min_severity: Severity = "warning"
    kinds: list[AlertKind] | None = Field(None, description="Only these kinds; null: every kind.")


class PreferencesPublic(BaseModel):
    key_prefix: str
    email: str | None
    channels: list[str]
    min_severity: str
    kinds: list[str] | None
    updated_at: datetime | None
    updated_by: str | None

    @classmethod
    def of(cls, prefix: str, row: NotificationPreference | None) -> PreferencesPublic:
        if row is None:
            return cls(
                key_prefix=prefix,
                email=None,
                channels=[],
                min_severity="warning",
                kinds=None,
                updated_at=None,
                updated_by=None,
            )
        return cls(
            key_prefix=prefix,
            email=row.email,
            channels=row.channels,
            min_severity=row.min_severity,
            kinds=row.kinds,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )


# --- escalation policies -----------------------------------------------------------------------


class PolicyCreate(BaseModel):
    """An escalation policy for the organisation's unacknowledged alerts."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    min_severity: Severity = "critical"
    levels: Levels
    remind_every_min: int | None = Field(None, ge=1, le=MAX_AFTER_MIN)


class PolicyPublic(BaseModel):
    id: int
    organisation_id: int
    name: str
    min_severity: str
    levels: list[Level]
    remind_every_min: int | None
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, row: EscalationPolicy) -> PolicyPublic:
        return cls(
            id=row.id,
            organisation_id=row.organisation_id,
            name=row.name,
            min_severity=row.min_severity,
            levels=[Level(**level) for level in row.levels],
            remind_every_min=row.remind_every_min,
            created_at=row.created_at,
            created_by=row.created_by,
        )


class PoliciesPublic(BaseModel):
    data: list[PolicyPublic]
    count: int


# --- silences ----------------------------------------------------------------------------------


class SilenceCreate(BaseModel):
    """What to hold back (at least one of shipment, device, kind), from when, until when, why."""

    model_config = ConfigDict(extra="forbid")

    shipment_id: ShipmentId | None = None
    device_id: DeviceId | None = None
    kind: AlertKind | None = None
    starts_at: datetime | None = Field(
        None, description="Default now; later: a maintenance window."
    )
    ends_at: datetime
    reason: Comment


class SilencePublic(BaseModel):
    id: int
    organisation_id: int
    shipment_id: str | None
    device_id: str | None
    kind: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_at: datetime
    created_by: str
    state: Literal["scheduled", "active", "ended"]

    @classmethod
    def of(cls, row: Silence, now: datetime) -> SilencePublic:
        state: Literal["scheduled", "active", "ended"] = (
            "scheduled" if now < row.starts_at else "active" if now < row.ends_at else "ended"
        )
        return cls(
            id=row.id,
            organisation_id=row.organisation_id,
            shipment_id=row.shipment_id,
            device_id=row.device_id,
            kind=row.kind,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            reason=row.reason,
            created_at=row.created_at,
            created_by=row.created_by,
            state=state,
        )


class SilencesPublic(BaseModel):
    data: list[SilencePublic]
    count: int


# --- e-mail deliveries -------------------------------------------------------------------------


class EmailDeliveryPublic(BaseModel):
    """One history entry's e-mail to one address."""

    id: int
    address: str
    alert_id: str
    history_seq: int
    reason: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    dead_at: datetime | None

    @classmethod
    def of(cls, row: EmailDelivery) -> EmailDeliveryPublic:
        state = delivery_state(row)  # type: ignore[arg-type]
        return cls(
            id=row.id,
            address=row.address,
            alert_id=row.alert_id,
            history_seq=row.history_seq,
            reason=row.reason,
            state=state,  # type: ignore[arg-type]
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if state == "pending" else None,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            dead_at=row.dead_at,
        )


class EmailDeliveriesPublic(BaseModel):
    data: list[EmailDeliveryPublic]
    count: int
