"""``/silences``: an organisation's silences and maintenance windows, which hold back delivery to
people (webhooks, e-mail, escalations) for matching alerts, never detection or the alert
store. Admin and operator keys create and expire them; every key lists its organisation's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select

from api.db import write_transaction
from api.deps import OrganisationQuery, PrincipalDep, SessionsDep, require_role, target_organisation
from api.models import utcnow
from api.models_notify import Silence
from api.schemas import AUTH_RESPONSES, BAD_BODY, FORBIDDEN, NOT_FOUND
from api.schemas_notify import SilenceCreate, SilencePublic, SilencesPublic

router = APIRouter(prefix="/silences", tags=["silences"], responses=AUTH_RESPONSES)

MANAGE_SILENCES: Final = frozenset({"admin", "operator"})
SilenceIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The silence's id.")]
#: Longer than this is not a silence but a muted feed; delete the subscription instead.
MAX_SILENCE: Final = timedelta(days=366)


def _refuse(field: str, message: str, value: object) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": str(value)}]
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_silence",
    responses={**BAD_BODY, **FORBIDDEN},
)
def create_silence(
    body: SilenceCreate,
    principal: PrincipalDep,
    sessions: SessionsDep,
    organisation: OrganisationQuery = None,
) -> SilencePublic:
    """Silence a shipment, a device or a kind (any combination) until `ends_at`."""
    require_role(principal, MANAGE_SILENCES, "create silences")
    if body.shipment_id is None and body.device_id is None and body.kind is None:
        raise _refuse("shipment_id", "name a shipment, a device or a kind to silence", None)
    now = utcnow()
    starts = _aware(body.starts_at, "starts_at") if body.starts_at is not None else now
    ends = _aware(body.ends_at, "ends_at")
    if ends <= max(starts, now):
        raise _refuse("ends_at", "must be after starts_at and in the future", body.ends_at)
    if ends - starts > MAX_SILENCE:
        raise _refuse("ends_at", "a silence may last at most 366 days", body.ends_at)
    with write_transaction(sessions) as session:
        row = Silence(
            organisation_id=target_organisation(session, principal, organisation, "silences")[0],
            shipment_id=body.shipment_id,
            device_id=body.device_id,
            kind=body.kind,
            starts_at=starts,
            ends_at=ends,
            reason=body.reason,
            created_at=now,
            created_by=principal.actor,
        )
        session.add(row)
        session.flush()
        return SilencePublic.of(row, now)


@router.get("", operation_id="list_silences")
def list_silences(
    principal: PrincipalDep,
    sessions: SessionsDep,
    ended: Annotated[bool, Query(description="Include silences that have ended.")] = False,
) -> SilencesPublic:
    """List the organisation's scheduled and active silences (every organisation's: admins)."""
    now = utcnow()
    query = select(Silence).order_by(Silence.id)
    if principal.role != "admin":
        query = query.where(Silence.organisation_id == principal.organisation_id)
    if not ended:
        query = query.where(Silence.ends_at > now)
    with sessions() as session:
        rows = [SilencePublic.of(r, now) for r in session.scalars(query.limit(1000))]
    return SilencesPublic(data=rows, count=len(rows))


@router.post(
    "/{silence_id}/expire", operation_id="expire_silence", responses={**FORBIDDEN, **NOT_FOUND}
)
def expire_silence(
    silence_id: SilenceIdPath, principal: PrincipalDep, sessions: SessionsDep
) -> SilencePublic:
    """End a silence now (a scheduled one never starts): delivery to people resumes."""
    require_role(principal, MANAGE_SILENCES, "expire silences")
    now = utcnow()
    with write_transaction(sessions) as session:
        row = session.get(Silence, silence_id)
        if row is None or (
            principal.role != "admin" and row.organisation_id != principal.organisation_id
        ):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no silence {silence_id}")
        if row.ends_at > now:
            row.ends_at = now
            row.starts_at = min(row.starts_at, now)
        session.flush()
        return SilencePublic.of(row, now)


def _aware(at: datetime, field: str) -> datetime:
    if at.tzinfo is None:
        raise _refuse(field, "must carry a time zone (Z or +hh:mm)", at.isoformat())
    return at
