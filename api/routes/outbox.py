"""``/outbox/entries``: the alert entries CargoWatch sends to its MQTT broker (the alert topics)
and InfluxDB (Grafana's annotations), with their state, and the admin's redelivery of a
dead-lettered one.

Admin keys only: these channels are the installation's own, not an organisation's, and an
entry of any organisation's alert can be among them. An entry is dead-lettered when InfluxDB
kept refusing it until `--outbox-deadline-s` (see `api.delivery`); redelivering it puts it back
in line from now with a new deadline. A redelivered entry that a later entry on its MQTT topic
has overtaken goes out unretained, so the topic keeps showing what is current.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy import select

from api.db import write_transaction
from api.deps import PrincipalDep, SessionsDep, require_role
from api.models import OutboxEntry, utcnow
from api.retrying import send_again
from api.schemas import AUTH_RESPONSES, FORBIDDEN, NOT_FOUND, AlertId
from api.schemas_outbox import OutboxEntriesPublic, OutboxEntryPublic, OutboxState

router = APIRouter(prefix="/outbox", tags=["outbox"], responses=AUTH_RESPONSES)

SEE_OUTBOX: Final = frozenset({"admin"})
EntryIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="The outbox entry's id.")]


@router.get("/entries", operation_id="list_outbox_entries", responses=FORBIDDEN)
def list_outbox_entries(
    principal: PrincipalDep,
    sessions: SessionsDep,
    state: OutboxState | None = None,
    alert_id: AlertId | None = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Entries to list.")] = 100,
) -> OutboxEntriesPublic:
    """List outbox entries, newest first (``state=dead``: the dead letters); admin keys."""
    require_role(principal, SEE_OUTBOX, "see the outbox")
    query = select(OutboxEntry)
    if alert_id is not None:
        query = query.where(OutboxEntry.alert_id == alert_id)
    # Each state's condition is the one its partial index is built on, so none is a scan.
    if state == "dead":
        query = query.where(OutboxEntry.dead_at.is_not(None))
    elif state == "delivered":
        query = query.where(OutboxEntry.delivered_at.is_not(None))
    elif state == "pending":
        query = query.where(OutboxEntry.delivered_at.is_(None), OutboxEntry.dead_at.is_(None))
    with sessions() as session:
        rows = list(session.scalars(query.order_by(OutboxEntry.id.desc()).limit(limit)))
        data = [OutboxEntryPublic.of(r) for r in rows]
    return OutboxEntriesPublic(data=data, count=len(data))


@router.post(
    "/entries/{entry_id}/redeliver",
    operation_id="redeliver_outbox_entry",
    responses={**FORBIDDEN, **NOT_FOUND},
)
def redeliver_outbox_entry(
    entry_id: EntryIdPath, principal: PrincipalDep, sessions: SessionsDep
) -> OutboxEntryPublic:
    """Send an entry to MQTT and InfluxDB again from now, with a new deadline (admin keys)."""
    require_role(principal, SEE_OUTBOX, "redeliver outbox entries")
    with write_transaction(sessions) as session:
        row = session.get(OutboxEntry, entry_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no outbox entry {entry_id}")
        send_again(row, utcnow())
        session.flush()
        return OutboxEntryPublic.of(row)
