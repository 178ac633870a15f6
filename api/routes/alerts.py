"""``/alerts``: list and filter alerts a page at a time, read one with its evidence and history,
and act on it (acknowledge with a mandatory comment, assign, comment, resolve by hand).

Actions go through `api.actions` in one write transaction each, attributed to the calling key;
its errors map to what the client should do: `AlertNotFound` 404, `TransitionRefused` 409,
`CommentRequired` 422. The alert is looked up within the caller's scope first, so acting on an
alert the caller cannot see is a 404 like reading it, and a viewer's action on one it can see
is a 403.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from api import actions
from api.cursor import MAX_LENGTH, Cursor, CursorInvalid, decode, encode
from api.db import write_transaction
from api.deps import ACT_ON_ALERTS, Principal, PrincipalDep, SessionsDep, require_role
from api.models import Alert, AlertHistory
from api.queries import AlertFilters, alerts_count, alerts_page, visible_alert
from api.schemas import (
    ALERT_ID_PATTERN,
    AUTH_RESPONSES,
    BAD_BODY,
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    AlertKind,
    AlertState,
    DeviceId,
    ErrorPublic,
    Severity,
    ShipmentId,
)
from api.schemas_alerts import (
    AckRequest,
    AlertDetail,
    AlertPublic,
    AlertsPublic,
    AssignRequest,
    CommentRequest,
    ResolveRequest,
)
from api.store import alert_history

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=AUTH_RESPONSES)

SCOPE: Final = "alerts"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
BAD_CURSOR: Final[dict[int | str, dict[str, object]]] = {
    400: {"model": ErrorPublic, "description": "The cursor is not one this API wrote."}
}
AlertIdPath = Annotated[str, Path(pattern=ALERT_ID_PATTERN, description="The alert's id.")]


def _cursor_of(alert: Alert) -> str:
    micros = (alert.opened_at - _EPOCH) // timedelta(microseconds=1)
    return encode(Cursor(SCOPE, micros, alert.alert_id))


def _after(token: str | None) -> tuple[datetime, str] | None:
    if token is None:
        return None
    try:
        cursor = decode(token, SCOPE)
        return _EPOCH + timedelta(microseconds=cursor.number), cursor.text
    except (CursorInvalid, OverflowError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"bad cursor: {exc}") from None


@router.get("", operation_id="list_alerts", responses=BAD_CURSOR)
def list_alerts(
    principal: PrincipalDep,
    sessions: SessionsDep,
    state: AlertState | None = None,
    kind: AlertKind | None = None,
    severity: Severity | None = None,
    shipment_id: ShipmentId | None = None,
    device_id: DeviceId | None = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Opened at or after (RFC 3339).")
    ] = None,
    until: Annotated[AwareDatetime | None, Query(description="Opened before (RFC 3339).")] = None,
    cursor: Annotated[
        str | None, Query(max_length=MAX_LENGTH, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Alerts per page.")] = 50,
) -> AlertsPublic:
    """List alerts, newest opened first, a page at a time."""
    filters = AlertFilters(state, kind, severity, shipment_id, device_id, since, until)
    after = _after(cursor)
    with sessions() as session:
        rows = alerts_page(session, principal.scope, filters, after=after, limit=limit + 1)
        count = alerts_count(session, principal.scope, filters)
    page = rows[:limit]
    return AlertsPublic(
        data=[AlertPublic.of(alert) for alert in page],
        count=count,
        next_cursor=_cursor_of(page[-1]) if len(rows) > limit else None,
    )


def _detail(session: Session, alert: Alert) -> AlertDetail:
    return AlertDetail.with_history(alert, alert_history(session, alert.alert_id))


def _visible(session: Session, principal: Principal, alert_id: str) -> Alert:
    alert = visible_alert(session, principal.scope, alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    return alert


@router.get("/{alert_id}", operation_id="read_alert", responses=NOT_FOUND)
def read_alert(
    alert_id: AlertIdPath, principal: PrincipalDep, sessions: SessionsDep
) -> AlertDetail:
    """Read one alert with its evidence and full history."""
    with sessions() as session:
        return _detail(session, _visible(session, principal, alert_id))


Action = Callable[[Session, str, str], AlertHistory]
ACTION_RESPONSES: Final = {**BAD_BODY, **FORBIDDEN, **NOT_FOUND, **CONFLICT}


def _act(
    sessions: SessionsDep, principal: Principal, alert_id: str, doing: str, action: Action
) -> AlertDetail:
    try:
        with write_transaction(sessions) as session:
            _visible(session, principal, alert_id)
            require_role(principal, ACT_ON_ALERTS, doing)
            action(session, alert_id, principal.actor)
            return _detail(session, _visible(session, principal, alert_id))
    except actions.AlertNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except actions.TransitionRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except actions.CommentRequired as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/{alert_id}/ack", operation_id="ack_alert", responses=ACTION_RESPONSES)
def ack_alert(
    alert_id: AlertIdPath, body: AckRequest, principal: PrincipalDep, sessions: SessionsDep
) -> AlertDetail:
    """Acknowledge an open alert, saying what is being done (the comment is mandatory)."""
    return _act(
        sessions,
        principal,
        alert_id,
        "acknowledge alerts",
        lambda s, a, who: actions.acknowledge(s, a, who, body.comment),
    )


@router.post("/{alert_id}/assign", operation_id="assign_alert", responses=ACTION_RESPONSES)
def assign_alert(
    alert_id: AlertIdPath, body: AssignRequest, principal: PrincipalDep, sessions: SessionsDep
) -> AlertDetail:
    """Give an unresolved alert to someone, or to nobody with a null assignee."""
    return _act(
        sessions,
        principal,
        alert_id,
        "assign alerts",
        lambda s, a, who: actions.assign(s, a, who, body.assignee, body.comment),
    )


@router.post("/{alert_id}/comment", operation_id="comment_alert", responses=ACTION_RESPONSES)
def comment_alert(
    alert_id: AlertIdPath, body: CommentRequest, principal: PrincipalDep, sessions: SessionsDep
) -> AlertDetail:
    """Add a comment to an alert, in any state."""
    return _act(
        sessions,
        principal,
        alert_id,
        "comment on alerts",
        lambda s, a, who: actions.comment(s, a, who, body.comment),
    )


@router.post("/{alert_id}/resolve", operation_id="resolve_alert", responses=ACTION_RESPONSES)
def resolve_alert(
    alert_id: AlertIdPath, body: ResolveRequest, principal: PrincipalDep, sessions: SessionsDep
) -> AlertDetail:
    """Resolve an unresolved alert by hand, saying why."""
    return _act(
        sessions,
        principal,
        alert_id,
        "resolve alerts",
        lambda s, a, who: actions.close(s, a, who, body.reason),
    )
