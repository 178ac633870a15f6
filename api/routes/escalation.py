"""``/escalation-policies``: who is notified, and when, about an organisation's alerts nobody has
acknowledged (see `api.escalation`). Admin and operator keys create and delete them; every
key lists its organisation's. A level's keys must be keys of the policy's organisation."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Path, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select

from api.db import write_transaction
from api.deps import OrganisationQuery, PrincipalDep, SessionsDep, require_role, target_organisation
from api.models import ApiKey, utcnow
from api.models_notify import EscalationPolicy
from api.schemas import AUTH_RESPONSES, BAD_BODY, FORBIDDEN, NOT_FOUND
from api.schemas_notify import PoliciesPublic, PolicyCreate, PolicyPublic

router = APIRouter(
    prefix="/escalation-policies", tags=["escalation-policies"], responses=AUTH_RESPONSES
)

MANAGE_POLICIES: Final = frozenset({"admin", "operator"})
PolicyIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The policy's id.")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_escalation_policy",
    responses={**BAD_BODY, **FORBIDDEN},
)
def create_escalation_policy(
    body: PolicyCreate,
    principal: PrincipalDep,
    sessions: SessionsDep,
    organisation: OrganisationQuery = None,
) -> PolicyPublic:
    """Create an escalation policy: levels notified after N minutes, reminders every M."""
    require_role(principal, MANAGE_POLICIES, "manage escalation policies")
    with write_transaction(sessions) as session:
        org = target_organisation(session, principal, organisation, "escalation policies")[0]
        named = {k for level in body.levels for k in level.keys}
        found = set(
            session.scalars(
                select(ApiKey.prefix).where(
                    ApiKey.prefix.in_(sorted(named)),
                    ApiKey.organisation_id == org,
                    ApiKey.revoked_at.is_(None),
                )
            )
        )
        if named - found:
            unknown = ", ".join(sorted(named - found))
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("body", "levels"),
                        "msg": f"no key of the organisation with prefix {unknown}",
                        "input": unknown,
                    }
                ]
            )
        row = EscalationPolicy(
            organisation_id=org,
            name=body.name,
            min_severity=body.min_severity,
            levels=[level.model_dump() for level in body.levels],
            remind_every_min=body.remind_every_min,
            active=True,
            created_at=utcnow(),
            created_by=principal.actor,
        )
        session.add(row)
        session.flush()
        return PolicyPublic.of(row)


@router.get("", operation_id="list_escalation_policies")
def list_escalation_policies(principal: PrincipalDep, sessions: SessionsDep) -> PoliciesPublic:
    """List the organisation's escalation policies (every organisation's for an admin)."""
    query = select(EscalationPolicy).where(EscalationPolicy.active.is_(True))
    if principal.role != "admin":
        query = query.where(EscalationPolicy.organisation_id == principal.organisation_id)
    with sessions() as session:
        rows = [PolicyPublic.of(r) for r in session.scalars(query.order_by(EscalationPolicy.id))]
    return PoliciesPublic(data=rows, count=len(rows))


@router.delete(
    "/{policy_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_escalation_policy",
    responses={**FORBIDDEN, **NOT_FOUND},
)
def delete_escalation_policy(
    policy_id: PolicyIdPath, principal: PrincipalDep, sessions: SessionsDep
) -> Response:
    """Delete a policy: alerts stop escalating by it; what it wrote stays in their history."""
    require_role(principal, MANAGE_POLICIES, "manage escalation policies")
    with write_transaction(sessions) as session:
        row = session.get(EscalationPolicy, policy_id)
        if (
            row is None
            or not row.active
            or (principal.role != "admin" and row.organisation_id != principal.organisation_id)
        ):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no escalation policy {policy_id}")
        row.active = False
    return Response(status_code=status.HTTP_204_NO_CONTENT)
