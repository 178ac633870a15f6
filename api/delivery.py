"""Alert delivery from the outbox: every stored history entry goes out on MQTT and into InfluxDB.

The alert path is one way: detectors -> `AlertRecorder` (the SQL store, which writes an
outbox row in the same transaction as each history entry) -> `OutboxDelivery`. The
delivery worker reads undelivered outbox rows oldest first, publishes each payload at
QoS 1 on `cargo/v1/alerts/{device_id}/{kind}` over its own MQTT connection (retained while
the alert is unresolved; its resolution goes out unretained and then clears the topic, see
`mqtt_messages`) and writes it as a point of the InfluxDB `alerts` measurement (Grafana's
annotations), then marks the row delivered. Delivery is at least once: a crash between
sending and marking sends the entry again, which consumers recognise by `alert_id` and
`history_seq`, and which InfluxDB stores as the same point. A channel that fails is
retried with backoff; nothing is marked delivered until both have it, so an outage delays
alerts, never drops them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.db import StoreUnavailable, write_transaction
from api.models import Alert, OutboxEntry, to_ms
from api.store import outbox_pending, record_events
from detectors.alerts import SEVERITY_RANK, AlertEvent
from detectors.risk import risk_score
from ingest.influx_client import InfluxClient, InfluxError
from ingest.line_protocol import point_line

log = logging.getLogger(__name__)

ALERTS: Final = "alerts"
_STATE_OF_EVENT: Final = {"open": "open", "update": "open", "resolve": "resolved"}


#: Events that resolve an alert: the detector's and a person's.
_RESOLVING: Final = frozenset({"resolve", "close"})
_UNRESOLVED: Final = frozenset({"open", "acknowledged"})


class Publisher(Protocol):
    """Publishes one message at QoS 1 and returns once the broker has acked it (or raises)."""

    def publish(
        self, topic: str, payload: bytes, timeout_s: float, retain: bool = False
    ) -> None: ...


def alert_topic(payload: dict[str, Any]) -> str:
    """One topic per device and kind: severity is in the payload, so escalating keeps it.

    >>> alert_topic({"device_id": "trk-1", "kind": "seal_breach", "severity": "critical"})
    'cargo/v1/alerts/trk-1/seal_breach'
    """
    return f"cargo/v1/alerts/{payload['device_id']}/{payload['kind']}"


def mqtt_messages(payload: dict[str, Any]) -> list[tuple[str, bytes, bool]]:
    """The (topic, payload, retain) messages one history entry is sent as, in order.

    An entry of an unresolved alert is retained, so a subscriber that connects later gets the
    alert's latest entry (its current severity, state and summary) at once. The entry that
    resolves it goes out unretained, for the subscribers connected now, followed by an empty
    retained message that clears the topic: a late subscriber sees only what is still open,
    and the broker does not keep every alert ever resolved. Entries of an alert already
    resolved (a comment afterwards) are unretained and clear nothing, since the device and
    kind may have a new open alert on the same topic by then.

    >>> for topic, body, retain in mqtt_messages({"event": "close", "state": "resolved",
    ...         "device_id": "trk-1", "kind": "door_open"}):
    ...     print(topic, len(body) > 0, retain)
    cargo/v1/alerts/trk-1/door_open True False
    cargo/v1/alerts/trk-1/door_open False True
    """
    topic = alert_topic(payload)
    body = orjson.dumps(payload)
    if payload.get("state") in _UNRESOLVED:
        return [(topic, body, True)]
    if payload.get("event") in _RESOLVING:
        return [(topic, body, False), (topic, b"", True)]
    return [(topic, body, False)]


def alert_point(payload: dict[str, Any]) -> str:
    """The `alerts` point of a history entry; its time is the entry's event time.

    Besides the event, the point carries what Grafana's dashboards read from InfluxDB (they
    have no access to the SQL store): the alert's state after the entry, who it is assigned
    to (written by `assign` actions, and reset to nobody when an alert opens), who acted, the
    severity as a rank and the risk points the alert adds to its shipment's risk score (both
    aggregate in InfluxQL where tag strings do not), where it happened and a forecast breach.

    >>> line = alert_point({"event": "open", "alert_id": "al_1", "kind": "silence",
    ...     "severity": "warning", "device_id": "trk-1", "shipment_id": None,
    ...     "at": "2026-11-22T06:00:00Z", "summary": "quiet", "history_seq": 1, "state": "open"})
    >>> for part in line.split(" "):
    ...     print(part)
    alerts,device_id=trk-1,kind=silence,severity=warning
    alert_id="al_1",event="open",state="open",summary="quiet",history_seq=1i,severity_rank=1i,risk_points=18.0,assignee=""
    1795327200000000000
    """
    at = datetime.fromisoformat(payload["at"].replace("Z", "+00:00"))
    fields: dict[str, float | int | str | bool] = {
        "alert_id": payload["alert_id"],
        "event": payload["event"],
        "state": payload.get("state") or _STATE_OF_EVENT.get(payload["event"], "open"),
        "summary": payload["summary"],
        "history_seq": int(payload["history_seq"]),
    }
    if isinstance(payload.get("value"), int | float):
        fields["value"] = float(payload["value"])
    fields["severity_rank"] = SEVERITY_RANK[payload["severity"]]
    fields["risk_points"] = risk_score(
        [(payload["alert_id"], payload["kind"], payload["severity"])]
    ).score
    if payload["event"] in ("open", "assign"):
        fields["assignee"] = payload.get("assignee") or ""
    if payload.get("actor"):
        fields["actor"] = payload["actor"]
    evidence = payload.get("evidence") or {}
    if all(_is_number(evidence.get(k)) for k in ("lat", "lon")):
        fields["lat"], fields["lon"] = float(evidence["lat"]), float(evidence["lon"])
    if payload.get("predicted_breach_at"):
        breach = datetime.fromisoformat(payload["predicted_breach_at"].replace("Z", "+00:00"))
        fields["predicted_breach_at_ms"] = int(breach.timestamp() * 1000)
    if _is_number(payload.get("confidence")):
        fields["confidence"] = float(payload["confidence"])
    tags = {
        "kind": payload["kind"],
        "severity": payload["severity"],
        "device_id": payload["device_id"],
        "shipment_id": payload.get("shipment_id") or "",
    }
    ns = (int(at.timestamp()) * 1000 + at.microsecond // 1000) * 1_000_000
    return point_line(ALERTS, tags, fields, ns)


SPANS: Final = "alert_spans"


def span_point(alert: Alert) -> str:
    """The `alert_spans` point of an alert: at its open time, with its resolve time once it has one.

    Grafana draws an annotation with an end time as a region, but an InfluxQL result row can
    only start at its point's time, and the `alerts` entry that resolves an alert is stamped
    with the resolve time. So each alert also has one point at its open time, rewritten (same
    series and time, so InfluxDB replaces its fields) with every entry delivered, carrying the
    state, summary and, once resolved, `resolved_at_ms`. An alert id is a field, not a tag, so
    the number of series stays that of devices and kinds.

    >>> from datetime import UTC, datetime
    >>> line = span_point(Alert(alert_id="al_1", kind="door_open", severity="warning",
    ...     device_id="trk-1", shipment_id="S1", state="resolved", summary="door-open",
    ...     opened_at=datetime(2026, 11, 22, 6, tzinfo=UTC),
    ...     resolved_at=datetime(2026, 11, 22, 6, 12, tzinfo=UTC)))
    >>> measurement_and_tags, fields, ns = line.split(" ")
    >>> print(measurement_and_tags, ns)
    alert_spans,device_id=trk-1,kind=door_open,shipment_id=S1 1795327200000000000
    >>> print(fields.replace(",", " "))
    alert_id="al_1" severity="warning" severity_rank=1i state="resolved" summary="door-open" ...
    >>> fields.endswith(",resolved_at_ms=1795327920000i")  # 12 minutes later
    True
    """
    fields: dict[str, float | int | str | bool] = {
        "alert_id": alert.alert_id,
        "severity": alert.severity,
        "severity_rank": SEVERITY_RANK[alert.severity],
        "state": alert.state,
        "summary": alert.summary,
    }
    if alert.resolved_at is not None:
        fields["resolved_at_ms"] = to_ms(alert.resolved_at)
    tags = {
        "kind": alert.kind,
        "device_id": alert.device_id,
        "shipment_id": alert.shipment_id or "",
    }
    return point_line(SPANS, tags, fields, to_ms(alert.opened_at) * 1_000_000)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class AlertRecorder:
    """The detectors' event sink: each batch of alert events is one store transaction.

    A store that cannot take a batch is retried with backoff until it can or `stop` is
    called: the detectors wait (and with them the acks of further readings), rather
    than an alert being dropped.
    """

    def __init__(self, sessions: sessionmaker[Session], retry_max_s: float = 5.0) -> None:
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
                self.recorded += record_events(self.sessions, batch)
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


class OutboxDelivery:
    """A worker thread that delivers outbox rows to MQTT and InfluxDB; `stop` drains first."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        publisher: Publisher,
        influx: InfluxClient,
        poll_s: float = 0.2,
        retry_max_s: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._influx = influx
        self._poll_s = poll_s
        self._retry_max_s = retry_max_s
        self._stop = threading.Event()
        self._drain_deadline = 0.0
        self._thread = threading.Thread(target=self._run, name="cw-delivery", daemon=True)
        self.delivered = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Deliver what is pending (for up to `timeout_s`), then stop; True if all went out."""
        self._drain_deadline = time.monotonic() + timeout_s
        self._stop.set()
        self._thread.join(timeout_s + 5)
        with self._sessions() as session:
            return not outbox_pending(session, limit=1)

    def _run(self) -> None:
        delay, failing = self._poll_s, False
        while True:
            try:
                sent = self._deliver_some()
            except (StoreUnavailable, InfluxError, OSError, TimeoutError) as exc:
                self.failures += 1
                if not failing:
                    log.warning("alert delivery failing (%s); retrying with backoff", exc)
                    failing = True
                delay = min(self._retry_max_s, delay * 2)
                sent = -1
            else:
                if failing:
                    log.warning("alert delivery resumed")
                    failing = False
                delay = self._poll_s
            if self._stop.is_set() and (sent == 0 or time.monotonic() >= self._drain_deadline):
                return
            if sent > 0:
                continue
            if self._stop.is_set():
                time.sleep(delay)  # the event is set and would not wait: back off on the clock
            else:
                self._stop.wait(delay)

    def _deliver_some(self) -> int:
        with self._sessions() as session:
            pending = [(e.id, e.payload) for e in outbox_pending(session, limit=200)]
        if not pending:
            return 0
        with self._sessions() as session:
            touched = {p["alert_id"] for _, p in pending}
            spans = session.scalars(select(Alert).where(Alert.alert_id.in_(sorted(touched))))
            lines = [alert_point(p) for _, p in pending] + [span_point(a) for a in spans]
        self._influx.write("\n".join(lines).encode())
        for _, payload in pending:
            for topic, body, retain in mqtt_messages(payload):
                self._publisher.publish(topic, body, timeout_s=10, retain=retain)
        with write_transaction(self._sessions) as session:
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id.in_([i for i, _ in pending]))
                .values(delivered_at=datetime.now(UTC))
            )
        self.delivered += len(pending)
        return len(pending)
