"""Alerts in the SQL store: the write path the detector engine's events take, and the queries
people's views are built from.

`record_events` stores a batch of alert events in one transaction: for each, a history row,
the alert's new current state, an outbox row and a delivery row per matching webhook and
e-mail preference, or the entry saying a silence held them back (`api.notify.fan_out`), all or
nothing. It is idempotent: an event's
identity is its alert id and the engine's seq for it, a unique constraint on the history holds
that pair, and the insert is ``ON CONFLICT DO NOTHING``, so an event stored before (a replay
after a crash, a second ingester racing this one) changes nothing and is not counted. The
stored history also holds human actions (`api.actions`), so each entry gets its own place in
the alert's history (``seq``) next to the engine's (``event_seq``); the alert's row is locked
while entries are appended, in alert-id order so that concurrent batches cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, Table, and_, bindparam, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from api.db import write_transaction
from api.evidence_chain import AlertFacts, ChainAppender
from api.models import (
    DETECTOR_ACTOR,
    Alert,
    AlertHistory,
    OutboxEntry,
    Shipment,
    ShipmentVersion,
    from_ms,
    utcnow,
)
from api.notify import fan_out
from api.timeline import detector_payload, upsert
from detectors.alerts import SEVERITIES, AlertEvent

DETECTOR_EVENTS: Final = ("open", "update", "resolve")
UNRESOLVED: Final = ("open", "acknowledged")

_ALERTS: Final[Table] = Alert.__table__  # type: ignore[assignment]
_HISTORY: Final[Table] = AlertHistory.__table__  # type: ignore[assignment]
_OUTBOX: Final[Table] = OutboxEntry.__table__  # type: ignore[assignment]


# --- queries -----------------------------------------------------------------------------------


def alerts_open(
    session: Session, org_id: int | None = None, *, kind: str | None = None
) -> list[Alert]:
    """Alerts not yet resolved (open or acknowledged), oldest first; `org_id` None means all."""
    query = select(Alert).where(Alert.state.in_(UNRESOLVED))
    if org_id is not None:
        query = query.where(Alert.organisation_id == org_id)
    if kind is not None:
        query = query.where(Alert.kind == kind)
    return list(session.scalars(query.order_by(Alert.opened_at, Alert.alert_id)))


def get_alert(session: Session, alert_id: str, org_id: int | None = None) -> Alert | None:
    """One alert, or None when there is none (or it is another organisation's)."""
    alert = session.get(Alert, alert_id)
    if alert is None or (org_id is not None and alert.organisation_id != org_id):
        return None
    return alert


def alert_history(session: Session, alert_id: str) -> list[AlertHistory]:
    """Every entry of an alert's history, in order."""
    query = select(AlertHistory).where(AlertHistory.alert_id == alert_id)
    return list(session.scalars(query.order_by(AlertHistory.seq)))


def outbox_after(session: Session, after_id: int = 0, *, limit: int = 500) -> list[OutboxEntry]:
    """Outbox entries after `after_id` (an SSE Last-Event-ID), delivered or not, in order."""
    query = select(OutboxEntry).where(OutboxEntry.id > after_id).order_by(OutboxEntry.id)
    return list(session.scalars(query.limit(limit)))


def outbox_pending(session: Session, *, limit: int = 500) -> list[OutboxEntry]:
    """Entries not yet marked delivered, oldest first."""
    query = select(OutboxEntry).where(OutboxEntry.delivered_at.is_(None)).order_by(OutboxEntry.id)
    return list(session.scalars(query.limit(limit)))


# --- the detector engine's write path ----------------------------------------------------------


def record_events(sessions: sessionmaker[Session], events: Sequence[tuple[AlertEvent, int]]) -> int:
    """Store alert events, each with its seq in its alert (the open is 1), in one transaction.

    Returns how many were new; events already stored are no-ops. Raises `ValueError` for an
    event the store cannot hold (unknown event or severity, seq below 1) before touching the
    database, and `api.db.StoreUnavailable` when the database cannot take the batch now.
    """
    for event, seq in events:
        _check(event, seq)
    if not events:
        return 0
    with write_transaction(sessions) as session:
        return apply_events(session, events)


def _check(event: AlertEvent, seq: int) -> None:
    if event.event not in DETECTOR_EVENTS:
        raise ValueError(f"alert {event.alert_id}: unknown event {event.event!r}")
    if event.severity not in SEVERITIES:
        raise ValueError(f"alert {event.alert_id}: unknown severity {event.severity!r}")
    if seq < 1:
        raise ValueError(f"alert {event.alert_id}: seq must be 1 or more, got {seq}")


def apply_events(session: Session, events: Sequence[tuple[AlertEvent, int]]) -> int:
    """`record_events` inside the caller's write transaction (see `api.db.write_transaction`),
    for a caller that commits other state with the events; returns how many were new."""
    for event, seq in events:
        _check(event, seq)
    if not events:
        return 0
    now = utcnow()
    first: dict[str, AlertEvent] = {}
    for event, _ in events:
        first.setdefault(event.alert_id, event)
    alert_ids = sorted(first)
    # Every alert gets a row before any is locked, so an open racing another writer's open
    # is decided by the primary key; sorted, like the locks, so inserters wait in one order.
    session.execute(
        upsert(session, _ALERTS).on_conflict_do_nothing(index_elements=["alert_id"]),
        [_new_alert(first[alert_id]) for alert_id in alert_ids],
    )
    locked = select(_ALERTS).where(_ALERTS.c.alert_id.in_(alert_ids)).order_by(_ALERTS.c.alert_id)
    alerts = {
        row["alert_id"]: dict(row) for row in session.execute(locked.with_for_update()).mappings()
    }
    # A row with no history yet is one this transaction just inserted: every writer inserts
    # an alert's row and its first history entry together.
    _assign_organisations(session, [a for a in alerts.values() if a["history_length"] == 0])

    stored = _insert_history(session, alerts, events, now)
    outbox: list[dict[str, Any]] = []
    for event, seq, position in stored:
        alert = alerts[event.alert_id]
        _apply(alert, event, seq)
        outbox.append(
            {
                "alert_id": event.alert_id,
                "history_seq": position,
                "payload": detector_payload(event, seq, position, alert["state"]),
                "created_at": now,
            }
        )
    if stored:
        session.execute(_OUTBOX.insert(), outbox)

        def next_seq(alert_id: str) -> int:
            alerts[alert_id]["history_length"] += 1
            return int(alerts[alert_id]["history_length"])

        # Before the alerts' rows are written: a silence adds an entry to the history.
        fan_out(
            session,
            [(alerts[o["alert_id"]]["organisation_id"], o["payload"]) for o in outbox],
            now,
            next_seq,
            {alert_id: AlertFacts.of(alerts[alert_id]) for alert_id in alert_ids},
        )
        touched = {event.alert_id for event, _, _ in stored}
        session.execute(
            _UPDATE_ALERT,
            [{f"new_{k}": alerts[a][k] for k in ("alert_id", *_CURRENT)} for a in sorted(touched)],
        )
    return len(stored)


#: What an alert event changes in the alert's row; `_UPDATE_ALERT` writes them all at once, so
#: every touched alert of a batch is one row of one executemany.
_CURRENT: Final = (
    "organisation_id",
    "severity",
    "state",
    "summary",
    "evidence",
    "value",
    "predicted_breach_at",
    "confidence",
    "opened_at",
    "updated_at",
    "resolved_at",
    "events_applied",
    "last_event_seq",
    "history_length",
)
_UPDATE_ALERT: Final = (
    update(_ALERTS)
    .where(_ALERTS.c.alert_id == bindparam("new_alert_id"))
    .values({k: bindparam(f"new_{k}", type_=_ALERTS.c[k].type) for k in _CURRENT})
)


def _new_alert(event: AlertEvent) -> dict[str, Any]:
    at = from_ms(event.at_ms)
    return {
        "alert_id": event.alert_id,
        "organisation_id": None,
        "kind": event.kind,
        "severity": event.severity,
        "device_id": event.device_id,
        "shipment_id": event.shipment_id,
        "state": "open",
        "assignee": None,
        "summary": event.summary,
        "evidence": event.evidence,
        "value": event.value,
        "predicted_breach_at": _optional_time(event.predicted_breach_at_ms),
        "confidence": event.confidence,
        "opened_at": at,
        "updated_at": at,
        "resolved_at": None,
        "events_applied": 0,
        "last_event_seq": 0,
        "history_length": 0,
    }


def _optional_time(ms: int | None) -> datetime | None:
    return from_ms(ms) if ms is not None else None


def _assign_organisations(session: Session, alerts: list[dict[str, Any]]) -> None:
    """Give new alerts the organisation whose current shipment has their shipment and device."""
    wanted = {a["shipment_id"] for a in alerts if a["shipment_id"] is not None}
    if not wanted:
        return
    query = (
        select(Shipment.shipment_id, ShipmentVersion.device_id, Shipment.organisation_id)
        .join(
            ShipmentVersion,
            and_(
                ShipmentVersion.shipment_pk == Shipment.id,
                ShipmentVersion.version == Shipment.current_version,
            ),
        )
        .where(Shipment.shipment_id.in_(wanted))
    )
    owners: dict[tuple[str, str], set[int]] = {}
    for shipment_id, device_id, org_id in session.execute(query):
        owners.setdefault((shipment_id, device_id), set()).add(org_id)
    for alert in alerts:
        candidates = owners.get((alert["shipment_id"] or "", alert["device_id"]), set())
        # Two organisations using one shipment id for one device: owned by neither rather than
        # shown to the wrong one; an admin still sees it.
        if len(candidates) == 1:
            alert["organisation_id"] = next(iter(candidates))


_Stored = tuple[AlertEvent, int, int]  # event, engine seq, place in the alert's history


def _insert_history(
    session: Session,
    alerts: dict[str, dict[str, Any]],
    events: Sequence[tuple[AlertEvent, int]],
    now: datetime,
) -> list[_Stored]:
    """Insert the events' history rows; return the new ones with their places.

    Tried first as one executemany that assumes every event is new, which is what a live
    batch is; if any turns out to be stored already, that attempt is rolled back to its
    savepoint and the events go one by one, so the new ones get consecutive places.
    """
    planned: list[_Stored] = []
    length = {alert_id: alert["history_length"] for alert_id, alert in alerts.items()}
    for event, seq in events:
        length[event.alert_id] += 1
        planned.append((event, seq, length[event.alert_id]))
    facts = {alert_id: AlertFacts.of(alert) for alert_id, alert in alerts.items()}
    # Locked before the savepoint: rolling back to it must not release the heads.
    chains = ChainAppender(session, (f.chain_key for f in facts.values()))
    marks = {f.chain_key: chains.mark(f.chain_key) for f in facts.values()}
    insert = (
        upsert(session, _HISTORY)
        .on_conflict_do_nothing(index_elements=["alert_id", "event_seq"])
        # How many rows an INSERT wrote is what tells new events from stored ones; SQLAlchemy
        # keeps it for UPDATE and DELETE only unless asked.
        .execution_options(preserve_rowcount=True)
    )
    savepoint = session.begin_nested()
    connection = session.connection()  # its results carry the rowcount
    rows = []
    for event, seq, position in planned:
        row = _history_row(event, seq, position, now)
        chains.link_history(row, facts[event.alert_id])
        rows.append(row)
    if connection.execute(insert, rows).rowcount == len(planned):
        savepoint.commit()
        stored = planned
    else:
        savepoint.rollback()
        for key, mark in marks.items():
            chains.restore(key, mark)
        # What is stored already, read under the alerts' locks (no other writer can add to
        # their history meanwhile), so a replayed event costs neither a link nor an insert.
        known = _stored_events(connection, [(event.alert_id, seq) for event, seq in events])
        stored = []
        for event, seq in events:
            if (event.alert_id, seq) in known:
                continue
            known.add((event.alert_id, seq))
            position = alerts[event.alert_id]["history_length"] + 1
            row = _history_row(event, seq, position, now)
            key = facts[event.alert_id].chain_key
            mark = chains.mark(key)
            chains.link_history(row, facts[event.alert_id])
            if connection.execute(insert, row).rowcount == 1:
                alerts[event.alert_id]["history_length"] = position
                stored.append((event, seq, position))
            else:
                chains.restore(key, mark)
        chains.write()
        return stored
    chains.write()
    for event, _, position in stored:
        alerts[event.alert_id]["history_length"] = position
    return stored


def _stored_events(connection: Connection, pairs: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which (alert id, engine seq) pairs of `pairs` the history holds already."""
    query = select(_HISTORY.c.alert_id, _HISTORY.c.event_seq).where(
        tuple_(_HISTORY.c.alert_id, _HISTORY.c.event_seq).in_(sorted(set(pairs)))
    )
    return {(alert_id, int(seq)) for alert_id, seq in connection.execute(query)}


def _history_row(event: AlertEvent, seq: int, position: int, now: datetime) -> dict[str, Any]:
    return {
        "alert_id": event.alert_id,
        "seq": position,
        "event_seq": seq,
        "at": from_ms(event.at_ms),
        "recorded_at": now,
        "actor": DETECTOR_ACTOR,
        "action": event.event,
        "severity": event.severity,
        "summary": event.summary,
        "comment": None,
        "assignee": None,
        "evidence": event.evidence,
    }


def _apply(alert: dict[str, Any], event: AlertEvent, seq: int) -> None:
    """Bring the alert's current state (its row, as a dict) up to a newly stored event."""
    alert["events_applied"] += 1
    at = from_ms(event.at_ms)
    if event.event == "open":
        alert["opened_at"] = min(alert["opened_at"], at)
    if seq <= alert["last_event_seq"]:
        # Older than what the alert already shows (a gap filled late): history only.
        return
    alert.update(
        last_event_seq=seq,
        severity=event.severity,
        summary=event.summary,
        evidence=event.evidence,
        value=event.value,
        predicted_breach_at=_optional_time(event.predicted_breach_at_ms),
        confidence=event.confidence,
        updated_at=max(alert["updated_at"], at),
    )
    # An acknowledged alert stays acknowledged through updates; a resolved one (by the detector
    # or closed by a person) is not reopened: the engine opens a new alert for new trouble.
    if event.event == "resolve" and alert["state"] != "resolved":
        alert["state"] = "resolved"
        alert["resolved_at"] = at
