"""The e-mail worker: sends each pending e-mail delivery over SMTP, retrying until it is
delivered or its deadline passes (`api.retrying`), in order per recipient and alert.

Each pass opens one SMTP connection (STARTTLS, implicit TLS or plain, with a login when a user
name is set), sends what is due, and closes it. The message is built from the alert and the
history entry the delivery belongs to (`api.email_message`). A server that refuses, drops the
connection or cannot be reached fails the attempt; the delivery is tried again later with the
same Message-ID, so a message that reached the server before the failure was noticed arrives
twice under one id at most. Only the standard library's smtplib and email are used.
"""

from __future__ import annotations

import logging
import random
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from api.db import write_transaction
from api.delivery_lease import DeliveryLease
from api.email_message import Notice, build
from api.models import Alert, AlertHistory, utcnow
from api.models_notify import EmailDelivery
from api.retrying import RetryingWorker, RetrySchedule

log = logging.getLogger(__name__)

Security = Literal["starttls", "tls", "none"]
SECURITIES: Final = ("starttls", "tls", "none")


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    """Where and how e-mail is sent, and how hard it is tried."""

    host: str
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    from_address: str = "cargowatch@localhost"
    #: The console the alert links in the messages point to.
    console_url: str = "http://localhost:8000"
    timeout_s: float = 30.0
    deadline_s: float = 86_400.0
    backoff_base_s: float = 5.0
    backoff_max_s: float = 3_600.0
    poll_s: float = 1.0
    batch: int = 200
    #: The TLS context; None is the system's default trust (tests pass their own CA).
    tls_context: ssl.SSLContext | None = None

    @property
    def domain(self) -> str:
        """The domain Message-IDs are made in: the sender address's."""
        return self.from_address.rpartition("@")[2] or "localhost"


class SmtpUnavailable(Exception):
    """The server could not be reached, refused the session or the login: retried."""


class EmailSender(RetryingWorker):
    """A worker thread that sends e-mail deliveries; `start` and `stop` like every stage."""

    name = "cw-email"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        options: SmtpOptions,
        *,
        clock: Callable[[], datetime] = utcnow,
        jitter: Callable[[], float] = random.random,
        lease: DeliveryLease | None = None,
    ) -> None:
        self.options = options
        schedule = RetrySchedule(
            options.deadline_s, options.backoff_base_s, options.backoff_max_s, options.poll_s
        )
        super().__init__(sessions, schedule, clock=clock, jitter=jitter, lease=lease)
        self._failing = False
        self.delivered = 0
        self.failed_attempts = 0
        self.dead = 0

    def send_due(self) -> int:
        """One pass: send every delivery that is due and first in line; returns how many."""
        due = self._due()
        if not due:
            return 0
        try:
            smtp = self._connect()
        except SmtpUnavailable as exc:
            for delivery, _ in due:
                self._record(delivery, str(exc))
            return len(due)
        try:
            for delivery, notice in due:
                if self.stopping:
                    break
                self._record(delivery, self._send(smtp, delivery, notice))
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
        return len(due)

    def _due(self) -> list[tuple[EmailDelivery, Notice]]:
        now = self._clock()
        # Each alert's oldest e-mail still under way, per address: only it may go (order per
        # alert), and only once due. Chosen in SQL before the limit, so one address's backlog,
        # however long, never hides another's.
        heads = (
            select(func.min(EmailDelivery.id).label("id"))
            .where(EmailDelivery.delivered_at.is_(None), EmailDelivery.dead_at.is_(None))
            .group_by(EmailDelivery.address, EmailDelivery.alert_id)
            .subquery()
        )
        query = (
            select(EmailDelivery)
            .join(heads, heads.c.id == EmailDelivery.id)
            .where(EmailDelivery.next_attempt_at <= now)
            .order_by(EmailDelivery.next_attempt_at, EmailDelivery.id)
            .limit(self.options.batch)
        )
        with self._sessions() as session:
            ready = list(session.scalars(query))
            notices = _notices(session, ready)
            session.expunge_all()
        return [(d, notices[d.id]) for d in ready if d.id in notices]

    def _connect(self) -> smtplib.SMTP:
        o = self.options
        context = o.tls_context or ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if o.security == "tls":
                smtp = smtplib.SMTP_SSL(o.host, o.port, timeout=o.timeout_s, context=context)
            else:
                smtp = smtplib.SMTP(o.host, o.port, timeout=o.timeout_s)
            try:
                if o.security == "starttls":
                    smtp.starttls(context=context)
                if o.username:
                    smtp.login(o.username, o.password or "")
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpUnavailable(f"login refused ({exc.smtp_code})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpUnavailable(f"{o.host}:{o.port} unavailable: {type(exc).__name__}") from None
        return smtp

    def _send(self, smtp: smtplib.SMTP, delivery: EmailDelivery, notice: Notice) -> str | None:
        message = build(
            notice,
            sender=self.options.from_address,
            recipient=delivery.address,
            console_url=self.options.console_url,
            domain=self.options.domain,
        )
        try:
            smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            return f"answered {exc.smtp_code}"
        except smtplib.SMTPRecipientsRefused:
            return "recipient refused"
        except (smtplib.SMTPException, OSError) as exc:
            return f"sending failed: {type(exc).__name__}"
        return None

    def _record(self, delivery: EmailDelivery, error: str | None) -> None:
        values = self.outcome_values(delivery.attempts, delivery.retry_since, error is None)
        values["last_error"] = error
        if error is None:
            self.delivered += 1
            if self._failing:
                self._failing = False
                log.warning("e-mail: deliveries resumed")
        else:
            self.failed_attempts += 1
            if not self._failing:
                self._failing = True
                log.warning("e-mail failing (%s); retrying with backoff", error)
            if "dead_at" in values:
                self.dead += 1
                log.warning("e-mail delivery %d dead-lettered (%s)", delivery.id, error)
        with write_transaction(self._sessions) as session:
            row = session.get(EmailDelivery, delivery.id)
            if row is not None:
                for name, value in values.items():
                    setattr(row, name, value)


def _notices(session: Session, deliveries: list[EmailDelivery]) -> dict[int, Notice]:
    """What each delivery says: its history entry on its alert (two queries)."""
    keys = sorted({(d.alert_id, d.history_seq) for d in deliveries})
    if not keys:
        return {}
    alerts = {
        a.alert_id: a
        for a in session.scalars(select(Alert).where(Alert.alert_id.in_({k[0] for k in keys})))
    }
    query = select(AlertHistory).where(tuple_(AlertHistory.alert_id, AlertHistory.seq).in_(keys))
    entries = {(h.alert_id, h.seq): h for h in session.scalars(query)}
    notices = {}
    for d in deliveries:
        entry, alert = entries.get((d.alert_id, d.history_seq)), alerts.get(d.alert_id)
        if entry is None or alert is None:
            continue
        detail = entry.evidence or {}
        level = detail.get("level") if entry.action in ("escalate", "remind") else None
        notices[d.id] = Notice(
            delivery_id=d.id,
            alert_id=d.alert_id,
            history_seq=d.history_seq,
            action=entry.action,
            kind=alert.kind,
            severity=entry.severity,
            state=alert.state,
            device_id=alert.device_id,
            shipment_id=alert.shipment_id,
            summary=entry.summary,
            # A detector event's own evidence; for anything else (a person closing it, an
            # escalation, whose detail is not evidence) the alert's latest.
            evidence=entry.evidence
            if entry.action in ("open", "update", "resolve") and entry.evidence
            else alert.evidence,
            at=entry.at,
            level=level,
        )
    return notices
