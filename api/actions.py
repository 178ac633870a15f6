"""What people do to alerts: acknowledge, assign, comment, close.

Each action locks the alert's row, checks the transition, changes the alert's state, and
appends a history entry (the next place in the alert's history, the actor, the comment) and
its outbox row, in the caller's transaction: open it with `api.db.write_transaction` so that
on SQLite it holds the write lock from the start. The errors say what the API answers: an
unknown alert is `AlertNotFound` (404), an action the alert's state does not allow is
`TransitionRefused` (409), a missing comment or name is `CommentRequired` (422).

    open ──ack──> acknowledged ──close──> resolved
      └──────────────close───────────────────┘
    assign: open or acknowledged; comment: any state, resolved included (evidence is
    added after the fact); the detector's resolve moves open or acknowledged to resolved.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.evidence_chain import AlertFacts, chain_entry
from api.models import Alert, AlertHistory, OutboxEntry, utcnow
from api.notify import fan_out
from api.timeline import action_payload


class AlertNotFound(LookupError):
    """No such alert (or not one the caller may see)."""

    def __init__(self, alert_id: str) -> None:
        super().__init__(f"no alert {alert_id!r}")
        self.alert_id = alert_id


class TransitionRefused(ValueError):
    """The alert's state does not allow the action; nothing was changed."""

    def __init__(self, alert_id: str, state: str, action: str) -> None:
        super().__init__(f"alert {alert_id!r} is {state}: it cannot take {action!r}")
        self.alert_id = alert_id
        self.state = state
        self.action = action


class CommentRequired(ValueError):
    """A required text (comment, reason, name) is missing or blank; nothing was changed."""


def acknowledge(session: Session, alert_id: str, actor: str, comment: str) -> AlertHistory:
    """Acknowledge an open alert, saying what is being done about it (mandatory)."""
    text = _required(comment, "an acknowledgement needs a comment saying what is being done")
    alert = _locked(session, alert_id, actor)
    if alert.state != "open":
        raise TransitionRefused(alert_id, alert.state, "ack")
    alert.state = "acknowledged"
    return _append(session, alert, actor, "ack", comment=text)


def assign(
    session: Session, alert_id: str, actor: str, assignee: str | None, comment: str | None = None
) -> AlertHistory:
    """Give an unresolved alert to `assignee`, or to nobody with None."""
    name = _required(assignee, "an assignee must be named") if assignee is not None else None
    alert = _locked(session, alert_id, actor)
    if alert.state == "resolved":
        raise TransitionRefused(alert_id, alert.state, "assign")
    alert.assignee = name
    return _append(session, alert, actor, "assign", comment=_optional(comment), assignee=name)


def comment(session: Session, alert_id: str, actor: str, text: str) -> AlertHistory:
    """Add a comment to an alert in any state."""
    body = _required(text, "a comment needs text")
    alert = _locked(session, alert_id, actor)
    return _append(session, alert, actor, "comment", comment=body)


def close(session: Session, alert_id: str, actor: str, reason: str) -> AlertHistory:
    """Resolve an unresolved alert by hand, saying why (mandatory)."""
    text = _required(reason, "closing an alert needs a reason")
    alert = _locked(session, alert_id, actor)
    if alert.state == "resolved":
        raise TransitionRefused(alert_id, alert.state, "close")
    now = utcnow()
    alert.state = "resolved"
    alert.resolved_at = now
    return _append(session, alert, actor, "close", comment=text, at=now)


def _required(text: str | None, message: str) -> str:
    if text is None or not text.strip():
        raise CommentRequired(message)
    return text.strip()


def _optional(text: str | None) -> str | None:
    return text.strip() if text is not None and text.strip() else None


def _locked(session: Session, alert_id: str, actor: str) -> Alert:
    _required(actor, "an action needs the name of who takes it")
    query = select(Alert).where(Alert.alert_id == alert_id).with_for_update()
    # populate_existing: the row as it is now that it is locked, not as this session saw it.
    alert = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if alert is None:
        raise AlertNotFound(alert_id)
    return alert


def _append(
    session: Session,
    alert: Alert,
    actor: str,
    action: str,
    *,
    comment: str | None = None,
    assignee: str | None = None,
    at: datetime | None = None,
) -> AlertHistory:
    now = utcnow()
    alert.history_length += 1
    entry = AlertHistory(
        alert_id=alert.alert_id,
        seq=alert.history_length,
        event_seq=None,
        at=at if at is not None else now,
        recorded_at=now,
        actor=actor.strip(),
        action=action,
        severity=alert.severity,
        summary=alert.summary,
        comment=comment,
        assignee=assignee,
        evidence=None,
    )
    chain_entry(session, alert, entry)
    session.add(entry)
    payload = action_payload(alert, entry)
    session.add(
        OutboxEntry(alert_id=alert.alert_id, history_seq=entry.seq, payload=payload, created_at=now)
    )
    session.flush()

    def next_seq(_: str) -> int:
        alert.history_length += 1
        return alert.history_length

    facts = {alert.alert_id: AlertFacts.of(alert)}
    fan_out(session, [(alert.organisation_id, payload)], now, next_seq, facts)
    return entry
