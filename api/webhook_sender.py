"""The webhook worker: sends each pending webhook delivery, retrying until it is delivered or
its deadline passes, in order per alert.

Every delivery row (written with its outbox entry, see `api.webhooks`) is POSTed to its
subscription's URL with the Standard Webhooks headers, through `api.webhook_target`'s guard,
with a timeout and without following redirects. A 2xx answer delivers it; anything else (an
error status, a redirect, a timeout, a refused connection, a refused target) schedules the next
attempt on `api.retrying`'s schedule (exponential backoff with full jitter, up to a deadline);
a failure at the deadline dead-letters the delivery, for the API to show and an admin to
redeliver. Per subscription and alert only the oldest undelivered entry is sent: a later
entry of the same alert waits until the one before it is delivered or dead. Delivery is at least
once (a crash between the answer and the row's update sends it again, with the same
``webhook-id``).

Requests go out one at a time, but their outcomes are written together: a commit per delivery
was most of a backlog's drain time. A pass records what it has sent every `record_every`
requests, after `record_within_s` at most, and at its end, even when it ends in an error, so one
request's failure never loses the others' outcomes. Order per alert is unaffected, since a pass
sends no more than one entry of each alert per subscription and the next one is chosen from
the store after the commit; a crash before the commit sends those requests again, as above.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from api.db import write_transaction
from api.delivery_lease import DeliveryLease
from api.models import OutboxEntry, WebhookDelivery, WebhookSubscription, utcnow
from api.retrying import RetryingWorker, RetrySchedule
from api.webhook_target import TargetRefused, pin
from api.webhooks import event_id, sign, webhook_body

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """How hard the worker tries: `deadline_s` from the first attempt to the dead letter."""

    deadline_s: float = 86_400.0
    timeout_s: float = 10.0
    allow_private: bool = False
    backoff_base_s: float = 1.0
    backoff_max_s: float = 3_600.0
    poll_s: float = 0.5
    #: Deliveries looked at per pass; each subscription and alert sends its oldest of them.
    batch: int = 500
    #: Outcomes written in one transaction: at most this many, held no longer than
    #: `record_within_s` (which bounds what a crash sends again, and how stale the API's view is).
    record_every: int = 100
    record_within_s: float = 1.0


@dataclass(frozen=True, slots=True)
class _Due:
    delivery_id: int
    subscription_id: int
    url: str
    secret: str
    payload: dict[str, Any]
    attempts: int
    retry_since: datetime


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender(RetryingWorker):
    """A worker thread that sends webhook deliveries; `start` and `stop` like `OutboxDelivery`.

    `clock` is the time retries are scheduled and deadlines judged by (tests drive it); the
    signature's timestamp is always the wall clock, which is what receivers compare it to.
    """

    name = "cw-webhooks"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        options: WebhookOptions | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        jitter: Callable[[], float] = random.random,
        lease: DeliveryLease | None = None,
    ) -> None:
        self.options = options or WebhookOptions()
        schedule = RetrySchedule(
            self.options.deadline_s,
            self.options.backoff_base_s,
            self.options.backoff_max_s,
            self.options.poll_s,
        )
        super().__init__(sessions, schedule, clock=clock, jitter=jitter, lease=lease)
        self._client: httpx.Client | None = None
        self._failing: set[int] = set()
        self.delivered = 0
        self.failed_attempts = 0
        self.dead = 0

    def open(self) -> None:
        # No proxies from the environment: a proxy would resolve and connect on its own,
        # around the address guard.
        self._client = httpx.Client(
            timeout=self.options.timeout_s, follow_redirects=False, trust_env=False
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def send_due(self) -> int:
        """One pass: send every delivery that is due and first in line; returns how many.

        Outcomes are written in batches (see the module's docstring); whatever was sent is
        recorded before the pass returns or raises.
        """
        due = self._due()
        sent: list[tuple[_Due, _Outcome]] = []
        oldest = 0.0
        try:
            for item in due:
                if self.stopping:
                    break
                outcome = self._send(item)
                if not sent:
                    oldest = time.monotonic()
                sent.append((item, outcome))
                if (
                    len(sent) >= self.options.record_every
                    or time.monotonic() - oldest >= self.options.record_within_s
                ):
                    self._record(sent)
                    sent = []
        finally:
            if sent:
                self._record(sent)
        return len(due)

    def _due(self) -> list[_Due]:
        now = self._clock()
        # Each alert's oldest delivery still under way, per subscription: only it may go (order
        # per alert), and only once due. Chosen in SQL before the limit, so a down receiver's
        # backlog, however long, never hides another subscription's or alert's deliveries.
        heads = (
            select(func.min(WebhookDelivery.id).label("id"))
            .where(WebhookDelivery.delivered_at.is_(None), WebhookDelivery.dead_at.is_(None))
            .group_by(WebhookDelivery.subscription_id, WebhookDelivery.alert_id)
            .subquery()
        )
        query = (
            select(WebhookDelivery, WebhookSubscription.url, WebhookSubscription.secret)
            .join(heads, heads.c.id == WebhookDelivery.id)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(
                WebhookSubscription.active.is_(True),
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(self.options.batch)
        )
        with self._sessions() as session:
            ready = list(session.execute(query))
            payloads = self._payloads(session, [d for d, _, _ in ready])
            return [
                _Due(
                    d.id,
                    d.subscription_id,
                    url,
                    secret,
                    payloads[(d.alert_id, d.history_seq)],
                    d.attempts,
                    d.retry_since,
                )
                for d, url, secret in ready
            ]

    @staticmethod
    def _payloads(
        session: Session, deliveries: list[WebhookDelivery]
    ) -> dict[tuple[str, int], dict[str, Any]]:
        keys = {(d.alert_id, d.history_seq) for d in deliveries}
        if not keys:
            return {}
        query = select(OutboxEntry.alert_id, OutboxEntry.history_seq, OutboxEntry.payload).where(
            tuple_(OutboxEntry.alert_id, OutboxEntry.history_seq).in_(sorted(keys))
        )
        return {(a, s): p for a, s, p in session.execute(query)}

    def _send(self, item: _Due) -> _Outcome:
        assert self._client is not None, "start() first"
        msg_id = event_id(item.payload)
        body = webhook_body(item.payload)
        timestamp = int(time.time())
        try:
            target = pin(item.url, allow_private=self.options.allow_private)
        except TargetRefused as exc:
            return _Outcome(None, f"refused: {exc}")
        headers = {
            "host": target.netloc,
            "content-type": "application/json",
            "user-agent": "CargoWatch-Webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(item.secret, msg_id, timestamp, body),
        }
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        try:
            response = self._client.post(
                target.url, content=body, headers=headers, extensions=extensions
            )
        except httpx.TimeoutException:
            return _Outcome(None, f"timed out after {self.options.timeout_s:g} s")
        except httpx.TransportError as exc:
            return _Outcome(None, f"connection failed: {type(exc).__name__}")
        if 200 <= response.status_code < 300:
            return _Outcome(response.status_code, None)
        return _Outcome(response.status_code, f"answered {response.status_code}")

    def _record(self, sent: list[tuple[_Due, _Outcome]]) -> None:
        """Write the outcomes of requests already made, in one transaction; then count and log."""
        updates: dict[int, dict[str, Any]] = {}
        for item, outcome in sent:
            values = self.outcome_values(item.attempts, item.retry_since, outcome.delivered)
            values.update(last_status=outcome.status, last_error=outcome.error)
            updates[item.delivery_id] = values
        with write_transaction(self._sessions) as session:
            query = select(WebhookDelivery).where(WebhookDelivery.id.in_(sorted(updates)))
            for delivery in session.scalars(query):
                for name, value in updates[delivery.id].items():
                    setattr(delivery, name, value)
        # Counted once stored, so a count seen from outside is already in the store.
        for item, outcome in sent:
            self._note(item, outcome, dead="dead_at" in updates[item.delivery_id])

    def _note(self, item: _Due, outcome: _Outcome, *, dead: bool) -> None:
        if outcome.delivered:
            self.delivered += 1
            if item.subscription_id in self._failing:
                self._failing.discard(item.subscription_id)
                log.warning("webhook %d: deliveries resumed", item.subscription_id)
            return
        self.failed_attempts += 1
        if item.subscription_id not in self._failing:
            self._failing.add(item.subscription_id)
            log.warning(
                "webhook %d failing (%s); retrying with backoff",
                item.subscription_id,
                outcome.error,
            )
        if dead:
            self.dead += 1
            log.warning(
                "webhook %d: delivery %d dead-lettered after %d attempts (%s)",
                item.subscription_id,
                item.delivery_id,
                item.attempts + 1,
                outcome.error,
            )
