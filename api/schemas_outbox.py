"""Response bodies of ``/outbox``: the alert entries on their way to MQTT and InfluxDB, with
their delivery state, for an admin to find the dead letters and send them again."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from api.models import OutboxEntry

OutboxState = Literal["pending", "delivered", "dead"]


def entry_state(entry: OutboxEntry) -> OutboxState:
    """Delivered, dead-lettered, or still on its way (waiting for its turn or a retry)."""
    if entry.delivered_at is not None:
        return "delivered"
    return "dead" if entry.dead_at is not None else "pending"


class OutboxEntryPublic(BaseModel):
    """One alert history entry's delivery to the MQTT broker and InfluxDB."""

    id: int
    alert_id: str
    history_seq: int
    #: The entry's event or action (``open``, ``update``, ``resolve``, ``ack``...).
    event: str | None
    state: OutboxState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    #: When a channel first refused the entry in this round; the deadline counts from here.
    retry_since: datetime | None
    delivered_at: datetime | None
    dead_at: datetime | None

    @classmethod
    def of(cls, row: OutboxEntry) -> OutboxEntryPublic:
        state = entry_state(row)
        event = row.payload.get("event") if isinstance(row.payload, dict) else None
        return cls(
            id=row.id,
            alert_id=row.alert_id,
            history_seq=row.history_seq,
            event=event if isinstance(event, str) else None,
            state=state,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if state == "pending" else None,
            last_error=row.last_error,
            created_at=row.created_at,
            retry_since=row.retry_since,
            delivered_at=row.delivered_at,
            dead_at=row.dead_at,
        )


class OutboxEntriesPublic(BaseModel):
    data: list[OutboxEntryPublic]
    count: int
