"""What an alert history entry is sent as: its MQTT messages (topic, payload, retain flag) and
its InfluxDB points (the `alerts` entry and the alert's `alert_spans` region). Pure: the outbox
worker (`api.delivery`) sends what these return, `bench/dashboard_queries.py` writes the same
points, and the docs' examples are checked against them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import orjson

from api.models import Alert, to_ms
from detectors.alerts import SEVERITY_RANK
from detectors.risk import risk_score
from ingest.line_protocol import point_line

ALERTS: Final = "alerts"
_STATE_OF_EVENT: Final = {"open": "open", "update": "open", "resolve": "resolved"}


#: Events that resolve an alert: the detector's and a person's.
_RESOLVING: Final = frozenset({"resolve", "close"})
_UNRESOLVED: Final = frozenset({"open", "acknowledged"})


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

    Since it is rewritten from the alert's row, the point is also the alert's current state
    whatever order its entries' own times are in (a detector event stamped before an
    acknowledgement but stored after it): the dashboards' open-alert tables read it, so it
    carries what they show too: the assignee (empty for nobody), the risk points and, when the
    evidence has one, the position. Points written before these fields were added lack them
    until the alert's next entry is delivered.

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
        "assignee": alert.assignee or "",
        "risk_points": risk_score([(alert.alert_id, alert.kind, alert.severity)]).score,
    }
    evidence = alert.evidence or {}
    if all(_is_number(evidence.get(k)) for k in ("lat", "lon")):
        fields["lat"], fields["lon"] = float(evidence["lat"]), float(evidence["lon"])
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
