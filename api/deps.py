"""The API's dependencies as ``Annotated`` aliases: the SQL store's sessions and the caller.

A caller is whoever holds an API key (``Authorization: Bearer cw_...``), looked up by
`api.keys.api_key_for` (hashed, revocable) and resolved to a `Principal`: the key's
organisation and role. Without a valid key every endpoint but ``/health`` answers 401 with
``WWW-Authenticate: Bearer``, the same answer whether the key is missing, malformed, unknown
or revoked, so a response never tells a guesser which. What a role may do is checked by the
endpoints after they have found the object (another organisation's object is a 404 before
any role check could say 403). `VisibleShipmentDep` is that lookup for a shipment named in
the path, for ``/shipments/{shipment_id}`` and every router mounted under it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.keys import api_key_for
from api.models import Organisation
from api.queries import (
    AmbiguousShipment,
    Scope,
    ShipmentRow,
    organisation_named,
    visible_shipment,
)
from api.schemas import SHIPMENT_ID_PATTERN, Name

#: The shape `api.keys` writes; anything else is refused before it reaches the database.
_KEY_SHAPE: Final = re.compile(r"cw_[0-9a-f]{8}_[A-Za-z0-9_-]{1,100}")
#: Who may change shipments, and who may act on alerts.
MANAGE_SHIPMENTS: Final = frozenset({"admin", "operator"})
ACT_ON_ALERTS: Final = frozenset({"admin", "operator", "customs"})

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key made by `cargowatch keys create`: `Authorization: Bearer cw_...`.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key's organisation, role and name."""

    key_prefix: str
    key_name: str
    organisation_id: int
    organisation: str
    role: str

    @property
    def actor(self) -> str:
        """How the caller appears in an alert's history and a shipment's versions."""
        return f"{self.key_name[:180]} (key {self.key_prefix})"

    @property
    def scope(self) -> Scope:
        return Scope.of(self.role, self.organisation_id)


def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


def _unauthorised() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "a valid API key is required: Authorization: Bearer <key>",
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_principal(
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller behind the request's bearer key, or 401."""
    if credentials is None or not _KEY_SHAPE.fullmatch(credentials.credentials):
        raise _unauthorised()
    with sessions() as session:
        key = api_key_for(session, credentials.credentials)
        organisation = session.get(Organisation, key.organisation_id) if key else None
        if key is None or organisation is None:
            raise _unauthorised()
        return Principal(key.prefix, key.name, organisation.id, organisation.name, key.role)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(principal: Principal, allowed: frozenset[str], doing: str) -> None:
    """403 unless the caller's role is one of `allowed`; `doing` says what was refused."""
    if principal.role not in allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {principal.role} key may not {doing}")


# --- a shipment named in the path, for /shipments/{shipment_id} and routers under it ------

ShipmentIdPath = Annotated[
    str, Path(pattern=SHIPMENT_ID_PATTERN, description="The shipment's id in its organisation.")
]
OrganisationQuery = Annotated[
    Name | None,
    Query(
        description="The shipment's organisation, for admin and customs keys when several "
        "organisations use the same shipment id (and for an admin creating one elsewhere)."
    ),
]


def get_shipment(
    shipment_id: ShipmentIdPath,
    principal: PrincipalDep,
    sessions: SessionsDep,
    organisation: OrganisationQuery = None,
) -> ShipmentRow:
    """The shipment the path names, as the caller may see it, or 404 (409 when ambiguous)."""
    with sessions() as session:
        return visible_or_404(session, principal, shipment_id, organisation)


#: A shipment the caller may see, for routers nested under ``/shipments/{shipment_id}``.
VisibleShipmentDep = Annotated[ShipmentRow, Depends(get_shipment)]


def visible_or_404(
    session: Session, principal: Principal, shipment_id: str, organisation: str | None
) -> ShipmentRow:
    """The shipment as the caller may see it, or 404; 409 when the id is ambiguous."""
    try:
        row = visible_shipment(session, principal.scope, shipment_id, organisation)
    except AmbiguousShipment as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no shipment {shipment_id!r}")
    return row


def target_organisation(
    session: Session, principal: Principal, organisation: str | None, what: str
) -> tuple[int, str]:
    """The organisation a new `what` is created in: the key's own, or (admins only) another.

    Another organisation is a 403 for any other role, and one that does not exist a 422
    naming the parameter, in FastAPI's own validation error shape.
    """
    if organisation is None or organisation == principal.organisation:
        return principal.organisation_id, principal.organisation
    if principal.role != "admin":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{what} can be created only in the key's organisation"
        )
    found = organisation_named(session, organisation)
    if found is None:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "organisation"),
                    "msg": f"no organisation named {organisation!r}",
                    "input": organisation,
                }
            ]
        )
    return found.id, found.name
