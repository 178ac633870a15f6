"""Fan-out to people, in the transaction that writes each new history entry: silences first,
then webhooks (`api.webhooks.fan_out`) and e-mail to every key whose preferences ask for it.

An entry on an alert a silence covers (its organisation, and its shipment, device and kind where
the silence names them) goes to no webhook and no e-mail; instead the alert's history gets one
``silenced`` entry naming the silence, once per silence. Detection, the alert store, the outbox
and the channels fed from it (MQTT, SSE, InfluxDB) are not touched. E-mail goes out for the
entries people act on (an alert opening, resolving, being closed), not for every update.

Each batch costs one query for the silences of its organisations, and one for their e-mail
preferences only when an entry could be e-mailed, so the ingest path stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from api.evidence_chain import AlertFacts, chain_history
from api.models import AlertHistory, ApiKey
from api.models_notify import EmailDelivery, NotificationPreference, Silence
from api.webhooks import fan_out as webhook_fan_out
from detectors.alerts import SEVERITY_RANK

#: The history entries e-mailed to keys that ask for them.
EMAILED_ACTIONS: Final = ("open", "resolve", "close")
#: Who writes the history entries of people-facing delivery.
DELIVERY_ACTOR: Final = "delivery"


def active_silences(
    session: Session, organisation_ids: Iterable[int], now: datetime
) -> dict[int, list[Silence]]:
    """The silences in force at `now`, by organisation, oldest first (one query)."""
    orgs = sorted(set(organisation_ids))
    if not orgs:
        return {}
    query = (
        select(Silence)
        .where(Silence.organisation_id.in_(orgs), Silence.ends_at > now, Silence.starts_at <= now)
        .order_by(Silence.id)
    )
    found: dict[int, list[Silence]] = {}
    for silence in session.scalars(query):
        found.setdefault(silence.organisation_id, []).append(silence)
    return found


def silence_for(
    silences: Sequence[Silence], kind: str, device_id: str, shipment_id: str | None
) -> Silence | None:
    """The first of `silences` that covers an alert with this kind, device and shipment."""
    for s in silences:
        if (
            (s.kind is None or s.kind == kind)
            and (s.device_id is None or s.device_id == device_id)
            and (s.shipment_id is None or s.shipment_id == shipment_id)
        ):
            return s
    return None


def fan_out(
    session: Session,
    entries: Sequence[tuple[int | None, Mapping[str, Any]]],
    now: datetime,
    next_seq: Callable[[str], int],
    alerts: Mapping[str, AlertFacts] | None = None,
) -> None:
    """Write the webhook and e-mail deliveries of new history entries (their alert's
    organisation and outbox payload), or the ``silenced`` entry that holds them back.

    `next_seq(alert_id)` takes the alert's next place in its history, for a ``silenced`` entry;
    the caller holds the alert's row locked and writes its new history length. `alerts` gives
    the alerts' facts for the entry's evidence chain when their rows are not written yet.
    """
    orgs = {org for org, _ in entries if org is not None}
    if not orgs:
        return
    silences = active_silences(session, orgs, now)
    passing: list[tuple[int | None, Mapping[str, Any]]] = []
    held: dict[str, tuple[Silence, Mapping[str, Any]]] = {}
    for org, payload in entries:
        silence = silence_for(
            silences.get(org, []) if org is not None else [],
            payload["kind"],
            payload["device_id"],
            payload.get("shipment_id"),
        )
        if silence is None:
            passing.append((org, payload))
        else:
            held.setdefault(payload["alert_id"], (silence, payload))
    webhook_fan_out(session, passing, now)
    _email(session, passing, now)
    if held:
        record_held(session, held, now, next_seq, alerts)


def _email(
    session: Session, entries: Sequence[tuple[int | None, Mapping[str, Any]]], now: datetime
) -> None:
    wanted = [(org, p) for org, p in entries if org is not None and p["event"] in EMAILED_ACTIONS]
    if not wanted:
        return
    query = (
        select(NotificationPreference)
        .join(ApiKey, ApiKey.id == NotificationPreference.api_key_id)
        .where(
            NotificationPreference.organisation_id.in_(sorted({org for org, _ in wanted})),
            NotificationPreference.email.is_not(None),
            ApiKey.revoked_at.is_(None),
        )
    )
    preferences = list(session.scalars(query))
    rows = [
        email_row(pref.organisation_id, pref.api_key_id, pref.email or "", payload, "alert", now)
        for org, payload in wanted
        for pref in preferences
        if pref.organisation_id == org and wants(pref, payload)
    ]
    if rows:
        session.execute(insert(EmailDelivery), rows)


def wants(preference: NotificationPreference, payload: Mapping[str, Any]) -> bool:
    """Whether a key's preferences ask for an entry by e-mail."""
    if "email" not in preference.channels:
        return False
    if preference.kinds is not None and payload["kind"] not in preference.kinds:
        return False
    rank = SEVERITY_RANK.get(payload["severity"], -1)
    return rank >= SEVERITY_RANK[preference.min_severity]


def email_row(
    organisation_id: int | None,
    api_key_id: int | None,
    address: str,
    payload: Mapping[str, Any],
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "organisation_id": organisation_id,
        "api_key_id": api_key_id,
        "address": address,
        "alert_id": payload["alert_id"],
        "history_seq": payload["history_seq"],
        "reason": reason,
        "attempts": 0,
        "next_attempt_at": now,
        "retry_since": now,
    }


def silences_recorded(session: Session, alert_ids: Iterable[str]) -> set[tuple[str, int]]:
    """(alert, silence) pairs whose ``silenced`` entry is already in the history."""
    query = select(AlertHistory.alert_id, AlertHistory.evidence).where(
        AlertHistory.alert_id.in_(sorted(set(alert_ids))), AlertHistory.action == "silenced"
    )
    return {(a, int(e["silence_id"])) for a, e in session.execute(query) if e}


def record_held(
    session: Session,
    held: Mapping[str, tuple[Silence, Mapping[str, Any]]],
    now: datetime,
    next_seq: Callable[[str], int],
    alerts: Mapping[str, AlertFacts] | None = None,
) -> int:
    """Append a ``silenced`` entry to each alert whose delivery `held` holds back, unless that
    silence is already in its history; returns how many were written. `held` maps an alert to
    its silence and to what the entry shows (``severity`` and ``summary``)."""
    recorded = silences_recorded(session, held)
    rows = []
    for alert_id, (silence, shown) in sorted(held.items()):
        if (alert_id, silence.id) in recorded:
            continue
        rows.append(
            {
                "alert_id": alert_id,
                "seq": next_seq(alert_id),
                "event_seq": None,
                "at": now,
                "recorded_at": now,
                "actor": DELIVERY_ACTOR,
                "action": "silenced",
                "severity": shown["severity"],
                "summary": shown["summary"],
                "comment": f"delivery to people held back by silence {silence.id}: "
                f"{silence.reason}",
                "assignee": None,
                "evidence": {
                    "silence_id": silence.id,
                    "ends_at": silence.ends_at.isoformat(),
                    "held": ["webhook", "email", "escalation"],
                },
            }
        )
    if rows:
        chain_history(session, rows, alerts)
        session.execute(insert(AlertHistory), rows)
    return len(rows)
