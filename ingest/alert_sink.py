"""Where alert events go from the ingester: the InfluxDB `alerts` measurement, MQTT, and the log.

Each event becomes one `alerts` point (tags kind, severity, device_id,
shipment_id; fields alert_id, event, state, summary, value), written through
the same durable sink as telemetry so Grafana annotations survive an InfluxDB
outage, and one QoS 1 JSON message on `cargo/v1/alerts/{severity}/{device_id}`
in the ARCHITECTURE.md event shape. Opens and resolves are logged at info;
updates at debug, since a long excursion refreshes its alert regularly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import orjson

from detectors.alerts import AlertEvent
from ingest.line_protocol import point_line

log = logging.getLogger(__name__)

ALERTS = "alerts"
_STATE = {"open": "open", "update": "open", "resolve": "resolved"}


def alert_topic(event: AlertEvent) -> str:
    return f"cargo/v1/alerts/{event.severity}/{event.device_id}"


def alert_line(event: AlertEvent) -> str:
    """The `alerts` point of an event; its time is the event time (ms, scaled to ns).

    >>> e = AlertEvent("open", "al_1", "silence", "warning", "trk-1", "SHP-1", 5, "quiet", {})
    >>> for part in alert_line(e).split(" "):
    ...     print(part)
    alerts,device_id=trk-1,kind=silence,severity=warning,shipment_id=SHP-1
    alert_id="al_1",event="open",state="open",summary="quiet"
    5000000
    """
    fields: dict[str, float | int | str | bool] = {
        "alert_id": event.alert_id,
        "event": event.event,
        "state": _STATE[event.event],
        "summary": event.summary,
    }
    if event.value is not None:
        fields["value"] = float(event.value)
    tags = {
        "kind": event.kind,
        "severity": event.severity,
        "device_id": event.device_id,
        "shipment_id": event.shipment_id or "",
    }
    return point_line(ALERTS, tags, fields, event.at_ms * 1_000_000)


class AlertSink:
    """Fans alert events out to storage, MQTT and the log."""

    def __init__(
        self,
        store: Callable[[list[str]], object],
        publish: Callable[[str, bytes], object] | None,
    ) -> None:
        self._store = store
        self._publish = publish

    def emit(self, events: Sequence[AlertEvent]) -> None:
        if not events:
            return
        self._store([alert_line(e) for e in events])
        for e in events:
            if self._publish is not None:
                self._publish(alert_topic(e), orjson.dumps(e.to_json()))
            level = logging.DEBUG if e.event == "update" else logging.INFO
            log.log(
                level,
                "alert %s %s %s/%s %s: %s",
                e.event,
                e.alert_id,
                e.kind,
                e.severity,
                e.device_id,
                e.summary,
            )
