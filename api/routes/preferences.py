"""``/preferences/{key}``: what an API key wants e-mailed to it. Keys are the people (or teams)
CargoWatch notifies: every key reads and sets its own (``me``); an admin key reads and sets any
key's by its prefix."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import write_transaction
from api.deps import Principal, PrincipalDep, SessionsDep
from api.models import ApiKey, utcnow
from api.models_notify import NotificationPreference
from api.schemas import AUTH_RESPONSES, BAD_BODY, FORBIDDEN, NOT_FOUND
from api.schemas_notify import PreferencesPublic, PreferencesUpdate

router = APIRouter(prefix="/preferences", tags=["preferences"], responses=AUTH_RESPONSES)

KeyPath = Annotated[
    str, Path(pattern=r"^(me|[0-9a-f]{8})$", description="`me`, or a key's prefix (admins).")
]


@router.get("/{key}", operation_id="get_preferences", responses={**FORBIDDEN, **NOT_FOUND})
def get_preferences(
    key: KeyPath, principal: PrincipalDep, sessions: SessionsDep
) -> PreferencesPublic:
    """Read a key's notification preferences."""
    with sessions() as session:
        row = _key(session, principal, key)
        pref = session.scalars(
            select(NotificationPreference).where(NotificationPreference.api_key_id == row.id)
        ).one_or_none()
        return PreferencesPublic.of(row.prefix, pref)


@router.put(
    "/{key}",
    operation_id="set_preferences",
    responses={**BAD_BODY, **FORBIDDEN, **NOT_FOUND},
)
def set_preferences(
    key: KeyPath, body: PreferencesUpdate, principal: PrincipalDep, sessions: SessionsDep
) -> PreferencesPublic:
    """Set a key's notification preferences: e-mail address, channels, minimum severity, kinds."""
    with write_transaction(sessions) as session:
        row = _key(session, principal, key)
        pref = session.scalars(
            select(NotificationPreference).where(NotificationPreference.api_key_id == row.id)
        ).one_or_none()
        if pref is None:
            pref = NotificationPreference(api_key_id=row.id, organisation_id=row.organisation_id)
            session.add(pref)
        pref.email = body.email
        pref.channels = list(dict.fromkeys(body.channels))
        pref.min_severity = body.min_severity
        pref.kinds = sorted(set(body.kinds)) if body.kinds is not None else None
        pref.updated_at = utcnow()
        pref.updated_by = principal.actor
        session.flush()
        return PreferencesPublic.of(row.prefix, pref)


def _key(session: Session, principal: Principal, key: str) -> ApiKey:
    prefix = principal.key_prefix if key == "me" else key
    if prefix != principal.key_prefix and principal.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a key may manage only its own preferences")
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if row is None or row.revoked_at is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no key {prefix!r}")
    return row
