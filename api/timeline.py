"""What one entry of an alert's history delivers: the outbox payload, and the insert statements
the store's writers share. The payload is the alert event shape of docs/alerts.md (what the
backtest writes and webhooks and MQTT carry), the same for every channel, plus the alert's
``state`` after the entry and ``history_seq``, the entry's place in the alert's stored history,
which counts human actions too: a consumer takes each (alert_id, history_seq) once. Detector
events keep their engine ``seq``; human actions (``ack``, ``assign``, ``comment``, ``close``)
have none and carry who acted, the comment and the assignee instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.models import Alert, AlertHistory, to_ms
from detectors.alerts import AlertEvent, rfc3339


def detector_payload(event: AlertEvent, seq: int, history_seq: int, state: str) -> dict[str, Any]:
    """The payload of a detector event stored as entry `history_seq` of its alert."""
    payload = event.to_json()
    payload["seq"] = seq
    payload["history_seq"] = history_seq
    payload["state"] = state
    return payload


def action_payload(alert: Alert, entry: AlertHistory) -> dict[str, Any]:
    """The payload of a human action, in the same shape as a detector event's."""
    return {
        "event": entry.action,
        "alert_id": alert.alert_id,
        "seq": None,
        "history_seq": entry.seq,
        "kind": alert.kind,
        "severity": alert.severity,
        "device_id": alert.device_id,
        "shipment_id": alert.shipment_id,
        "at": rfc3339(to_ms(entry.at)),
        "summary": alert.summary,
        # An action's evidence is its comment; the alert's evidence went out with its events.
        "evidence": {},
        "state": alert.state,
        "actor": entry.actor,
        "comment": entry.comment,
        "assignee": entry.assignee,
    }


def upsert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT on `table` in the session's dialect, which can take ON CONFLICT DO NOTHING."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
