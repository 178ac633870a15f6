"""The escalation worker: keeps unacknowledged alerts in front of people.

An open (unacknowledged) alert of an organisation with an escalation policy at or below its
severity follows that policy (the one with the highest threshold that applies; the oldest among
equals). Level i of the policy is notified `after_min` minutes after the alert opened: an
``escalate`` history entry naming the level and an e-mail to each of the level's keys that has an
e-mail address. Once the last level due has been notified, that level is reminded every
`remind_every_min` minutes (a ``remind`` entry and e-mails), counted from the last notice, until
the alert is acknowledged or resolved.

Every notice is decided from the alert's history and written with its e-mails in one
transaction that holds the alert's row locked, so a worker that crashes and restarts, or two
workers at once, never notify twice: what was committed is in the history and is not due again,
and what was not committed was not sent. A silence covering the alert holds notices back (one
``silenced`` entry per silence); when it ends, levels whose time came during it are notified at
once and reminders resume from then. Time comes from an injectable clock; tests move it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from api.db import write_transaction
from api.delivery_lease import DeliveryLease
from api.evidence_chain import AlertFacts, chain_history
from api.models import Alert, AlertHistory, ApiKey, utcnow
from api.models_notify import EmailDelivery, EscalationPolicy, NotificationPreference
from api.notify import active_silences, email_row, record_held, silence_for
from api.retrying import RetryingWorker, RetrySchedule
from detectors.alerts import SEVERITY_RANK

log = logging.getLogger(__name__)

ESCALATION_ACTOR = "escalation"


def policy_for(policies: Sequence[EscalationPolicy], severity: str) -> EscalationPolicy | None:
    """The policy an alert of `severity` follows: the highest threshold it meets."""
    rank = SEVERITY_RANK.get(severity, -1)
    applying = [p for p in policies if SEVERITY_RANK[p.min_severity] <= rank]
    if not applying:
        return None
    return max(applying, key=lambda p: (SEVERITY_RANK[p.min_severity], -p.id))


def due_notices(
    policy: EscalationPolicy,
    opened_at: datetime,
    history: Sequence[tuple[str, datetime, Mapping[str, Any] | None]],
    now: datetime,
) -> list[tuple[str, int]]:
    """What is due at `now` for an alert given its escalate and remind entries (action, at,
    detail): ``("escalate", level)`` for each level whose time has come and that has not been
    notified, else at most one ``("remind", level)`` for the highest level notified.

    >>> p = EscalationPolicy(id=1, levels=[{"after_min": 0, "keys": []},
    ...     {"after_min": 30, "keys": []}], remind_every_min=10)
    >>> t0 = datetime(2025, 1, 1, 8, 0)
    >>> due_notices(p, t0, [], t0)
    [('escalate', 1)]
    >>> done = [("escalate", t0, {"level": 1})]
    >>> due_notices(p, t0, done, t0 + timedelta(minutes=9)), due_notices(p, t0, done,
    ...     t0 + timedelta(minutes=10))
    ([], [('remind', 1)])
    >>> due_notices(p, t0, done, t0 + timedelta(minutes=31))
    [('escalate', 2)]
    """
    notified = {int(d["level"]) for a, _, d in history if a == "escalate" and d}
    reached = [
        i + 1
        for i, level in enumerate(policy.levels)
        if opened_at + timedelta(minutes=int(level["after_min"])) <= now
    ]
    missing = [level for level in reached if level not in notified]
    if missing:
        return [("escalate", level) for level in missing]
    if not reached or not policy.remind_every_min:
        return []
    last = max(at for a, at, _ in history if a in ("escalate", "remind"))
    if now >= last + timedelta(minutes=policy.remind_every_min):
        return [("remind", max(reached))]
    return []


class EscalationWorker(RetryingWorker):
    """A worker thread that writes the escalations and reminders due; `start` and `stop`."""

    name = "cw-escalation"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        poll_s: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
        lease: DeliveryLease | None = None,
    ) -> None:
        super().__init__(sessions, RetrySchedule(poll_s=poll_s), clock=clock, lease=lease)
        self.notices = 0

    def send_due(self) -> int:
        # Always waits a poll between passes: notices fall due minutes apart.
        self.run_once()
        return 0

    def run_once(self) -> int:
        """One pass over the open alerts under a policy; returns how many entries it wrote.

        What is due is found by reading (three queries for the whole pass); only an alert with
        something due is then locked and decided again inside its write transaction.
        """
        now = self._clock()
        with self._sessions() as session:
            policies: dict[int, list[EscalationPolicy]] = {}
            for p in session.scalars(
                select(EscalationPolicy).where(EscalationPolicy.active.is_(True))
            ):
                policies.setdefault(p.organisation_id, []).append(p)
            if not policies:
                return 0
            query = select(
                Alert.alert_id, Alert.organisation_id, Alert.severity, Alert.opened_at
            ).where(Alert.state == "open", Alert.organisation_id.in_(sorted(policies)))
            open_alerts = list(session.execute(query.order_by(Alert.alert_id)))
            notices: dict[str, list[tuple[str, datetime, Mapping[str, Any] | None]]] = {}
            if open_alerts:
                for alert_id, action, at, detail in session.execute(
                    select(
                        AlertHistory.alert_id,
                        AlertHistory.action,
                        AlertHistory.at,
                        AlertHistory.evidence,
                    ).where(
                        AlertHistory.alert_id.in_([a.alert_id for a in open_alerts]),
                        AlertHistory.action.in_(("escalate", "remind")),
                    )
                ):
                    notices.setdefault(alert_id, []).append((action, at, detail))
        due = []
        for alert_id, org, severity, opened_at in open_alerts:
            policy = policy_for(policies.get(org, []) if org is not None else [], severity)
            if policy is not None and due_notices(
                policy, opened_at, notices.get(alert_id, []), now
            ):
                due.append(alert_id)
        written = 0
        for alert_id in due:
            with write_transaction(self._sessions) as session:
                written += _escalate(session, alert_id, now)
        self.notices += written
        return written


def _escalate(session: Session, alert_id: str, now: datetime) -> int:
    """Write what is due for one alert, its row locked; returns how many entries."""
    query = select(Alert).where(Alert.alert_id == alert_id).with_for_update()
    alert = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if alert is None or alert.state != "open" or alert.organisation_id is None:
        return 0
    org = alert.organisation_id
    policies = session.scalars(
        select(EscalationPolicy).where(
            EscalationPolicy.organisation_id == org, EscalationPolicy.active.is_(True)
        )
    )
    policy = policy_for(list(policies), alert.severity)
    if policy is None:
        return 0
    history = [
        (a, at, d)
        for a, at, d in session.execute(
            select(AlertHistory.action, AlertHistory.at, AlertHistory.evidence).where(
                AlertHistory.alert_id == alert_id,
                AlertHistory.action.in_(("escalate", "remind")),
            )
        )
    ]
    due = due_notices(policy, alert.opened_at, history, now)
    if not due:
        return 0

    def next_seq(_: str) -> int:
        alert.history_length += 1
        return alert.history_length

    silence = silence_for(
        active_silences(session, [org], now).get(org, []),
        alert.kind,
        alert.device_id,
        alert.shipment_id,
    )
    if silence is not None:
        shown = {"severity": alert.severity, "summary": alert.summary}
        facts = {alert_id: AlertFacts.of(alert)}
        return record_held(session, {alert_id: (silence, shown)}, now, next_seq, facts)
    for action, level in due:
        keys = [str(k) for k in policy.levels[level - 1].get("keys", [])]
        seq = next_seq(alert_id)
        rows: list[dict[str, Any]] = [
            {
                "alert_id": alert_id,
                "seq": seq,
                "event_seq": None,
                "at": now,
                "recorded_at": utcnow(),
                "actor": ESCALATION_ACTOR,
                "action": action,
                "severity": alert.severity,
                "summary": alert.summary,
                "comment": f"{'escalated to' if action == 'escalate' else 'reminded'} "
                f"level {level} of policy {policy.name!r}",
                "assignee": None,
                "evidence": {"level": level, "policy_id": policy.id, "keys": keys},
            }
        ]
        chain_history(session, rows, {alert_id: AlertFacts.of(alert)})
        session.execute(insert(AlertHistory), rows)
        _email_level(session, org, keys, {"alert_id": alert_id, "history_seq": seq}, action, now)
        log.info("alert %s: %s level %d", alert_id, action, level)
    return len(due)


def _email_level(
    session: Session,
    org: int,
    prefixes: list[str],
    entry: Mapping[str, Any],
    reason: str,
    now: datetime,
) -> None:
    if not prefixes:
        return
    query = (
        select(NotificationPreference.api_key_id, NotificationPreference.email)
        .join(ApiKey, ApiKey.id == NotificationPreference.api_key_id)
        .where(
            ApiKey.prefix.in_(prefixes),
            ApiKey.organisation_id == org,
            ApiKey.revoked_at.is_(None),
            NotificationPreference.email.is_not(None),
        )
    )
    rows = [
        email_row(org, key_id, email, entry, reason, now)
        for key_id, email in session.execute(query)
        if email
    ]
    if rows:
        session.execute(insert(EmailDelivery), rows)
