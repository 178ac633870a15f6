"""``GET /alerts/stream``: every alert event the caller may see, live, as Server-Sent Events.

Each event is one outbox entry (a detector event or a person's action, the payload MQTT
carries) with ``id:`` the entry's outbox id, so a client that reconnects with ``Last-Event-ID``
gets exactly the entries after the last one it received. The connection polls the store: one
query per poll on the outbox's primary key after the last id it saw, joined to the alert for
the caller's scope (`api.queries.alerts_visible`) and the filters, so an idle stream costs one
indexed lookup per poll. Ids are taken in order without skipping a missing one: on PostgreSQL
an id can become visible after a higher one (transactions commit out of order), so an id
missing below a visible one is waited for, up to `GAP_SETTLE_S`, before it is taken to be a
rolled-back insert. A comment line every `heartbeat_s` keeps proxies from closing an idle
stream. The stream ends when the client goes away and when the server stops (`app.state.
stopping`, set by `api.server.ApiServer.stop`), so uvicorn is never held open by a stream.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalDep
from api.models import Alert, OutboxEntry
from api.queries import AlertFilters, Scope, alerts_visible
from api.schemas import AUTH_RESPONSES, AlertKind, DeviceId, Severity, ShipmentId

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=AUTH_RESPONSES)

#: How long an id missing below a visible one is waited for before it counts as never coming.
GAP_SETTLE_S: Final = 10.0
#: Entries read per query; a full batch is followed by the next at once.
BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How often a stream polls the store and sends a keep-alive comment."""

    poll_s: float = 0.5
    heartbeat_s: float = 15.0


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    created_at: datetime
    wanted: bool
    payload: dict[str, Any]


def _read(
    sessions: sessionmaker[Session], scope: Scope, filters: AlertFilters, after: int
) -> list[_Row]:
    """The outbox entries after `after`, each flagged whether this caller gets it."""
    wanted = and_(alerts_visible(scope), *filters.conditions())
    query = (
        select(
            OutboxEntry.id,
            OutboxEntry.created_at,
            OutboxEntry.payload,
            case((wanted, 1), else_=0),
        )
        .join(Alert, Alert.alert_id == OutboxEntry.alert_id)
        .where(OutboxEntry.id > after)
        .order_by(OutboxEntry.id)
        .limit(BATCH)
    )
    with sessions() as session:
        return [_Row(i, at, bool(w), p) for i, at, p, w in session.execute(query)]


def _newest(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.max(OutboxEntry.id))) or 0


class _Cursor:
    """The last outbox id taken, advanced only over ids that cannot appear below it later."""

    def __init__(self, last: int) -> None:
        self.last = last
        self._gap_seen: tuple[int, float] | None = None

    def take(self, rows: Sequence[_Row]) -> list[_Row]:
        taken: list[_Row] = []
        for row in rows:
            if row.id != self.last + 1 and not self._settled(row):
                break
            self.last = row.id
            self._gap_seen = None
            taken.append(row)
        return taken

    def _settled(self, row: _Row) -> bool:
        """Whether the ids missing below `row` are given up on: they were rolled back, or the
        entry after them was written (or first seen here) `GAP_SETTLE_S` ago."""
        now = time.monotonic()
        if self._gap_seen is None or self._gap_seen[0] != row.id:
            self._gap_seen = (row.id, now)
        written_long_ago = row.created_at < datetime.now(UTC) - timedelta(seconds=GAP_SETTLE_S)
        return written_long_ago or now - self._gap_seen[1] >= GAP_SETTLE_S


def _event(row: _Row) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (row.id, orjson.dumps(row.payload))


async def _events(
    request: Request,
    scope: Scope,
    filters: AlertFilters,
    severity: str | None,
    after: int | None,
) -> AsyncIterator[bytes]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    settings: StreamSettings = request.app.state.stream
    stopping: threading.Event = request.app.state.stopping
    if after is None:
        after = await run_in_threadpool(_newest, sessions)
    cursor = _Cursor(after)
    # Tells an EventSource to reconnect after 2 s, with the last id it received.
    yield b"retry: 2000\n\n"
    quiet_since = time.monotonic()
    while not stopping.is_set() and not await request.is_disconnected():
        rows = await run_in_threadpool(_read, sessions, scope, filters, cursor.last)
        sent = False
        for row in cursor.take(rows):
            # Severity is the entry's, which an escalation changes, so it is matched here on
            # the payload rather than on the alert's current severity.
            if row.wanted and (severity is None or row.payload.get("severity") == severity):
                yield _event(row)
                sent = True
        if sent:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settings.heartbeat_s:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        if len(rows) < BATCH:
            await asyncio.sleep(settings.poll_s)


def _resume_from(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is None:
        return after
    if not last_event_id.isdigit() or len(last_event_id) > 19:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "Last-Event-ID must be an id this stream sent"
        )
    return int(last_event_id)


#: One Server-Sent Event as a client parses it: the generic event of the HTML specification,
#: whose `data` here is always one alert event in JSON.
SSE_EVENT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "id": {"type": "string", "description": "The entry's outbox id: resume after it."},
        "event": {"type": "string", "description": "Always `message`."},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "The alert event as MQTT carries it (docs/alerts.md).",
        },
        "retry": {"type": "integer", "minimum": 0, "description": "Reconnection time, ms."},
    },
}

STREAM_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "Server-Sent Events: `id:` the entry's outbox id, `data:` the alert "
        "event as MQTT carries it (docs/alerts.md), and a `: keep-alive` comment every 15 s.",
        # The schema of one event as the stream's parser reads it (OpenAPI 3.1 has no
        # `itemSchema`; tools such as schemathesis take `schema` as the per-event schema).
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
    },
    400: {"description": "The Last-Event-ID is not one this stream sent."},
}


@router.get(
    "/stream",
    operation_id="stream_alerts",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
)
async def stream_alerts(
    request: Request,
    principal: PrincipalDep,
    kind: AlertKind | None = None,
    severity: Severity | None = None,
    shipment_id: ShipmentId | None = None,
    device_id: DeviceId | None = None,
    after: Annotated[
        int | None,
        Query(ge=0, description="Start after this event id (0: from the first); default: now."),
    ] = None,
    last_event_id: Annotated[
        str | None, Header(description="Resume after this event id (sent by EventSource).")
    ] = None,
) -> StreamingResponse:
    """Stream alert events live (Server-Sent Events), resumable with Last-Event-ID."""
    filters = AlertFilters(kind=kind, shipment_id=shipment_id, device_id=device_id)
    start = _resume_from(last_event_id, after)
    return StreamingResponse(
        _events(request, principal.scope, filters, severity, start),
        media_type="text/event-stream",
        # no-cache: a proxy must not replay a stream; X-Accel-Buffering: nginx must not hold it.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
