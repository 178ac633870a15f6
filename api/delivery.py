"""Alert delivery from the outbox: every stored history entry goes out on MQTT and into InfluxDB.

The alert path is one way: detectors -> `AlertRecorder` (the SQL store, which writes an
outbox row in the same transaction as each history entry) -> `OutboxDelivery`. The
delivery worker reads undelivered outbox rows oldest first, writes each as a point of the
InfluxDB `alerts` measurement (Grafana's annotations), publishes it at QoS 1 on
`cargo/v1/alerts/{device_id}/{kind}` over its own MQTT connection (retained while the alert is
unresolved; its resolution goes out unretained and then clears the topic, see
`api.alert_messages`), then marks the row delivered. Delivery is at least once: a crash between
sending and marking sends the entry again, which consumers recognise by `alert_id` and
`history_seq`, and which InfluxDB stores as the same point.

Retries are `api.retrying`'s, as for webhooks and e-mail, with one distinction those channels
do not need: a channel that is *down* is not an entry that is *refused*.

- An outage (the broker unreachable or not acking, InfluxDB unreachable, 5xx, out of
  capacity or refusing our credentials) is the whole channel's: every entry would fail the
  same way, so none is charged an attempt and none gets nearer a dead letter. The worker waits
  before its next pass (doubling, with jitter, up to `retry_max_s`) and logs the outage once.
  An outage of any length delays delivery and loses nothing; judging entries by it would
  dead-letter every alert of a long outage at once, which is the loss the outbox exists to
  prevent.
- A refusal is one entry's: InfluxDB answers 400 for its point alone (a field type conflict,
  say; a refused batch is halved until the refused entries are found) or the entry cannot be
  turned into a point and messages at all. That entry is retried on the schedule (exponential
  backoff with full jitter), and once it is refused at or after `deadline_s` from its first
  refusal it is dead-lettered: listed by ``GET /outbox/entries?state=dead`` and sent again by
  an admin's ``POST /outbox/entries/{id}/redeliver``. MQTT cannot refuse one message for what it
  is (a broker that drops the connection looks like an outage), so its failures are outages.

Order holds per MQTT topic, that is per device and kind, which includes per alert: an entry
waiting for its next attempt holds back every later entry on its topic, since a later entry
published first would be overwritten on the retained topic by the earlier one (or cleared by
an earlier resolve). Entries on other topics keep flowing. A dead letter no longer holds its
topic back, so a refused entry delays its topic by `deadline_s` at most; when an admin
redelivers it after later entries on its topic went out, it is published unretained and clears
nothing, so the topic keeps what is current, while InfluxDB takes its point (points carry their
own times) and SSE clients had it all along (the stream reads the outbox, not the channels).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

import orjson
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.alert_messages import alert_point, alert_topic, mqtt_messages, span_point
from api.db import StoreUnavailable, write_transaction
from api.delivery_lease import DeliveryLease
from api.models import Alert, OutboxEntry, utcnow
from api.retrying import ChannelUnavailable, RetryingWorker, RetrySchedule
from api.store import record_events
from detectors.alerts import AlertEvent
from ingest.influx_client import InfluxClient, InfluxError, InfluxRejected

# What an entry is sent as lives in `api.alert_messages`; named here too, where callers
# have always found it.
__all__ = [
    "AlertRecorder",
    "OutboxDelivery",
    "Publisher",
    "alert_point",
    "alert_topic",
    "mqtt_messages",
    "span_point",
]

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Publishes one message at QoS 1 and returns once the broker has acked it (or raises)."""

    def publish(
        self, topic: str, payload: bytes, timeout_s: float, retain: bool = False
    ) -> None: ...


class AlertRecorder:
    """The detectors' event sink: each batch of alert events is one store transaction.

    A store that cannot take a batch is retried with backoff until it can or `stop` is
    called: the detectors wait (and with them the acks of further readings), rather
    than an alert being dropped. The delivery workers hear of the new entries from the commit
    hook on `sessions` (`api.commit_hook`), as of every other writer's.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        retry_max_s: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self._retry_max_s = retry_max_s
        self._stopping = threading.Event()
        self.recorded = 0

    def emit(self, events: Sequence[AlertEvent]) -> None:
        if not events:
            return
        batch = [(e, e.seq) for e in events]
        delay, logged = 0.1, False
        while True:
            try:
                stored = record_events(self.sessions, batch)
                self.recorded += stored
                break
            except StoreUnavailable as exc:
                if not logged:
                    log.warning("SQL store unavailable (%s); holding alert events", exc)
                    logged = True
                if self._stopping.wait(delay):
                    log.error("stopped with %d alert events not stored", len(batch))
                    return
                delay = min(self._retry_max_s, delay * 2)
        if logged:
            log.warning("SQL store writes resumed")
        for e in events:
            if e.event != "update":
                log.info(
                    "alert %s %s %s/%s %s: %s",
                    e.event,
                    e.alert_id,
                    e.kind,
                    e.severity,
                    e.device_id,
                    e.summary,
                )

    def stop(self) -> None:
        self._stopping.set()


@dataclass(frozen=True, slots=True)
class _Entry:
    id: int
    payload: dict[str, Any]
    #: The alert's device and kind, which name its MQTT topic.
    topic: tuple[str, str]
    attempts: int
    retry_since: datetime | None


class OutboxDelivery(RetryingWorker):
    """A worker thread that delivers outbox entries to MQTT and InfluxDB; `stop` drains first.

    `clock` is the time refusals are scheduled and deadlines judged by (tests drive it);
    `deadline_s` is how long an entry a channel refuses is retried before it is dead-lettered.
    """

    name = "cw-delivery"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        publisher: Publisher,
        influx: InfluxClient,
        poll_s: float = 0.2,
        retry_max_s: float = 10.0,
        *,
        deadline_s: float = 3_600.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 600.0,
        batch: int = 200,
        clock: Callable[[], datetime] = utcnow,
        jitter: Callable[[], float] = random.random,
        lease: DeliveryLease | None = None,
    ) -> None:
        schedule = RetrySchedule(deadline_s, backoff_base_s, backoff_max_s, poll_s, retry_max_s)
        super().__init__(sessions, schedule, clock=clock, jitter=jitter, lease=lease)
        self._publisher = publisher
        self._influx = influx
        self._batch = batch
        self.delivered = 0
        self.refused = 0
        self.dead = 0

    @property
    def failures(self) -> int:
        """Passes that found a channel down plus attempts a channel refused, since start."""
        return self.outages + self.refused

    def stop(self, timeout_s: float = 10.0, *, drain_s: float | None = None) -> bool:
        """Deliver what is due (for up to `timeout_s`), then stop; True if nothing is left
        pending (dead letters aside: they wait for an admin, not for the next start), or if
        another process delivers from the store (what is pending is its to send)."""
        standby = self._lease is not None and self._lease.standing_by
        super().stop(5.0, drain_s=timeout_s if drain_s is None else drain_s)
        if standby:
            return True
        with self._sessions() as session:
            return session.scalar(_PENDING_IDS.limit(1)) is None

    def send_due(self) -> int:
        """One pass: InfluxDB takes the due entries' points, then MQTT their messages in order;
        returns how many entries it tried. Raises `ChannelUnavailable` for a channel down."""
        entries = self._due(self._clock())
        if not entries:
            return 0
        refused: dict[int, str] = {}
        points: list[tuple[int, list[str]]] = []
        with self._sessions() as session:
            touched = sorted({str(e.payload.get("alert_id")) for e in entries})
            alerts = {
                a.alert_id: a
                for a in session.scalars(select(Alert).where(Alert.alert_id.in_(touched)))
            }
            overtaken = self._overtaken(session, [e for e in entries if e.retry_since is not None])
        last_of_alert = {str(e.payload.get("alert_id")): e.id for e in entries}
        messages: dict[int, list[tuple[str, bytes, bool]]] = {}
        for e in entries:
            try:
                lines = [alert_point(e.payload)]
                alert = alerts.get(e.payload["alert_id"])
                if alert is not None and last_of_alert[alert.alert_id] == e.id:
                    lines.append(span_point(alert))
                messages[e.id] = mqtt_messages(e.payload)
            except (KeyError, TypeError, ValueError, AttributeError, orjson.JSONEncodeError) as exc:
                refused[e.id] = (
                    f"not an alert entry this release can send: {type(exc).__name__}: {exc}"
                )
                continue
            if e.id in overtaken:
                # A later entry on the topic went out first (this one was dead-lettered and
                # redelivered): only its message goes, unretained, clearing nothing, so the
                # topic keeps what it holds now.
                messages[e.id] = [(alert_topic(e.payload), orjson.dumps(e.payload), False)]
            points.append((e.id, lines))
        self._write_points(points, refused)
        sent: list[int] = []
        held: set[tuple[str, str]] = set()
        try:
            for e in entries:
                if e.id in refused or e.topic in held:
                    # Nothing on a topic overtakes an entry refused before it.
                    held.add(e.topic)
                    continue
                for topic, body, retain in messages[e.id]:
                    self._publisher.publish(topic, body, timeout_s=10, retain=retain)
                sent.append(e.id)
        except (OSError, TimeoutError) as exc:
            self._settle(entries, sent, refused)
            raise ChannelUnavailable(f"MQTT broker unavailable ({exc})") from None
        self._settle(entries, sent, refused)
        return len(entries)

    def _due(self, now: datetime) -> list[_Entry]:
        # Order holds per MQTT topic (a device and kind), which holds it per alert: an entry
        # waiting to be tried again after a refusal holds back every later entry on its topic,
        # in SQL before the limit, so however many wait they never hide other topics' entries.
        waiting = (
            select(Alert.device_id, Alert.kind, func.min(OutboxEntry.id).label("first"))
            .join(OutboxEntry, OutboxEntry.alert_id == Alert.alert_id)
            .where(
                OutboxEntry.delivered_at.is_(None),
                OutboxEntry.dead_at.is_(None),
                OutboxEntry.next_attempt_at > now,
            )
            .group_by(Alert.device_id, Alert.kind)
            .subquery()
        )
        query = (
            select(OutboxEntry, Alert.device_id, Alert.kind)
            .join(Alert, Alert.alert_id == OutboxEntry.alert_id)
            .outerjoin(
                waiting, and_(waiting.c.device_id == Alert.device_id, waiting.c.kind == Alert.kind)
            )
            .where(
                OutboxEntry.delivered_at.is_(None),
                OutboxEntry.dead_at.is_(None),
                or_(waiting.c.first.is_(None), OutboxEntry.id < waiting.c.first),
            )
            .order_by(OutboxEntry.id)
            .limit(self._batch)
        )
        with self._sessions() as session:
            return [
                # The topic from the alert's row, not the payload: the same for every entry of
                # the alert, even one whose payload cannot be sent.
                _Entry(e.id, e.payload, (device_id, kind), e.attempts, e.retry_since)
                for e, device_id, kind in session.execute(query)
            ]

    @staticmethod
    def _overtaken(session: Session, entries: list[_Entry]) -> set[int]:
        """Which of `entries` have a later entry on their topic delivered already."""
        found: set[int] = set()
        for e in entries:
            later = (
                select(OutboxEntry.id)
                .join(Alert, Alert.alert_id == OutboxEntry.alert_id)
                .where(
                    Alert.device_id == e.topic[0],
                    Alert.kind == e.topic[1],
                    OutboxEntry.id > e.id,
                    OutboxEntry.delivered_at.is_not(None),
                )
                .limit(1)
            )
            if session.scalar(later) is not None:
                found.add(e.id)
        return found

    def _write_points(self, points: list[tuple[int, list[str]]], refused: dict[int, str]) -> None:
        """Write the entries' points; an entry InfluxDB refuses is found by halving the batch
        (InfluxDB keeps a point written twice once) and goes into `refused`."""
        if not points:
            return
        try:
            self._influx.write("\n".join(line for _, lines in points for line in lines).encode())
        except InfluxRejected as exc:
            if len(points) == 1:
                refused[points[0][0]] = f"InfluxDB refused it: {exc}"
                return
            half = len(points) // 2
            self._write_points(points[:half], refused)
            self._write_points(points[half:], refused)
        except (InfluxError, OSError, TimeoutError) as exc:
            raise ChannelUnavailable(f"InfluxDB unavailable ({exc})") from None

    def _settle(self, entries: list[_Entry], sent: list[int], refused: dict[int, str]) -> None:
        now = self._clock()
        by_id = {e.id: e for e in entries}
        with write_transaction(self._sessions) as session:
            if sent:
                session.execute(
                    update(OutboxEntry)
                    .where(OutboxEntry.id.in_(sent))
                    .values(
                        delivered_at=now,
                        attempts=OutboxEntry.attempts + 1,
                        next_attempt_at=None,
                        last_error=None,
                    )
                )
            for entry_id, reason in refused.items():
                entry = by_id[entry_id]
                values = self.outcome_values(entry.attempts, entry.retry_since, delivered=False)
                values["last_error"] = reason[:2000]
                session.execute(
                    update(OutboxEntry).where(OutboxEntry.id == entry_id).values(**values)
                )
                self._log_refusal(entry, values, reason)
        self.delivered += len(sent)

    def _log_refusal(self, entry: _Entry, values: dict[str, Any], reason: str) -> None:
        self.refused += 1
        name = f"{entry.payload.get('alert_id')} #{entry.payload.get('history_seq')}"
        if "dead_at" in values:
            self.dead += 1
            log.warning(
                "outbox entry %d (alert %s) dead-lettered after %d attempts: %s",
                entry.id,
                name,
                values["attempts"],
                reason,
            )
        elif entry.retry_since is None:
            log.warning(
                "outbox entry %d (alert %s) refused, retrying for up to %g s: %s",
                entry.id,
                name,
                self.schedule.deadline_s,
                reason,
            )


#: The entries still to deliver: neither delivered nor dead.
_PENDING_IDS: Final = select(OutboxEntry.id).where(
    OutboxEntry.delivered_at.is_(None), OutboxEntry.dead_at.is_(None)
)
