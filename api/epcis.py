"""A shipment's readings and alert conditions as one GS1 EPCIS 2.0 JSON-LD document; pure.

Supply-chain partners' systems take in EPCIS, not our API, so a shipment's record is handed
over in that standard: an ``EPCISDocument`` whose events are ``ObjectEvent``s (action
``OBSERVE``, bizStep ``transporting``) about the shipment (``epcList``: its URN, see
`shipment_urn`). Each reading time is one event whose ``sensorElementList`` holds what the
tracker measured then, its position the ``readPoint`` (``geo:lat,lon``) and its door or seal
state the disposition (``container_open``/``container_closed``). When the range was read in
time buckets, an event is a bucket: its sensor element spans ``startTime``-``endTime`` and its
reports carry the bucket's mean, min and max. Each detector event of an alert (open, update,
resolve) is one event too, its sensor report marked with the CBV sensor alert type while the
condition holds. Every ``eventID`` is a hash of the event's own content (`event_id`), so the
same reading or alert step has the same id in every export and two events never share one.

The mappings live in `api.epcis_vocabulary`; gathering from the stores in `api.epcis_export`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from api.epcis_fields import device_urn, event_id, geo_uri, number, rfc3339, shipment_urn
from api.epcis_vocabulary import (
    CHANNEL_MEASURES,
    EPCIS_CONTEXT,
    NAMESPACE,
    POSITION_CHANNELS,
    PREFIX,
    TEXT_MEASURES,
    Measure,
    alert_measure,
)
from api.readings_query import ReadingSeries, SeriesPoint

#: Detector events of an alert's history, the only entries that describe the cargo; people's
#: actions and delivery entries stay in the evidence pack's alert history.
ALERT_ACTIONS: Final = ("open", "update", "resolve")
BIZ_STEP: Final = "transporting"
_OPEN_STATES: Final = frozenset({"open", "tampered"})
#: Kinds whose condition is an opened container: their events carry its disposition.
_CONTAINER_KINDS: Final = frozenset({"seal_breach", "door_open"})


@dataclass(frozen=True, slots=True)
class ShipmentRef:
    """The shipment a document is about: its organisation, id and tracker."""

    organisation: str
    shipment_id: str
    device_id: str


@dataclass(frozen=True, slots=True)
class AlertStep:
    """One detector event of an alert, as its history in the SQL store keeps it."""

    alert_id: str
    kind: str
    severity: str
    #: ``open``, ``update`` or ``resolve``.
    action: str
    #: The entry's place in its alert's history (with `alert_id`, what makes it unique).
    seq: int
    at_ms: int
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


def epcis_document(
    shipment: ShipmentRef,
    readings: ReadingSeries,
    alerts: Iterable[AlertStep],
    *,
    created_ms: int,
) -> dict[str, Any]:
    """The EPCIS 2.0 document of `readings` and `alerts`, events oldest first.

    `created_ms` is the document's ``creationDate`` (the only part that is not a function of
    the data, so it is passed in). Events at the same time are ordered by ``eventID``.
    """
    epc = shipment_urn(shipment.organisation, shipment.shipment_id)
    device = device_urn(shipment.device_id)
    events = [
        *_reading_events(readings, epc, device),
        *(_alert_event(a, epc, device) for a in alerts),
    ]
    events.sort(key=lambda e: (e["eventTime"], e["eventID"]))
    return {
        "@context": [EPCIS_CONTEXT, {PREFIX: NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(created_ms),
        f"{PREFIX}:shipmentId": shipment.shipment_id,
        f"{PREFIX}:organisation": shipment.organisation,
        f"{PREFIX}:deviceId": shipment.device_id,
        f"{PREFIX}:rangeStart": rfc3339(readings.start_ms),
        f"{PREFIX}:rangeEnd": rfc3339(readings.end_ms),
        # Partners must know whether a sensor report is one reading or a bucket's summary.
        f"{PREFIX}:bucketMs": readings.interval_ms if readings.downsampled else None,
        "epcisBody": {"eventList": events},
    }


def document_bytes(document: Mapping[str, Any]) -> bytes:
    """The document as ASCII JSON, keys in a fixed order, so equal documents are equal bytes."""
    return json.dumps(document, indent=1, sort_keys=True, allow_nan=False).encode()


def _finish(event: dict[str, Any]) -> dict[str, Any]:
    event["eventID"] = event_id(event)
    return event


def _base(at_ms: int, epc: str, disposition: str) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": rfc3339(at_ms),
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": BIZ_STEP,
        "disposition": disposition,
        "epcList": [epc],
    }


# --- readings ----------------------------------------------------------------------------------


def _reading_events(series: ReadingSeries, epc: str, device: str) -> list[dict[str, Any]]:
    at_times: dict[int, dict[str, SeriesPoint]] = {}
    for channel in series.channels:
        for point in channel.points:
            at_times.setdefault(point.at_ms, {})[channel.channel] = point
    events = []
    for at_ms in sorted(at_times):
        points = at_times[at_ms]
        event = _base(at_ms, epc, _disposition(points))
        where = _reading_position(points, series.downsampled)
        if where is not None:
            event["readPoint"] = {"id": where}
        reports = [r for name, p in points.items() if (r := _report(name, p)) is not None]
        if reports:
            metadata: dict[str, Any] = {"deviceID": device}
            if series.downsampled and series.interval_ms is not None:
                metadata["startTime"] = rfc3339(at_ms)
                metadata["endTime"] = rfc3339(min(at_ms + series.interval_ms, series.end_ms))
            else:
                metadata["time"] = rfc3339(at_ms)
            event["sensorElementList"] = [{"sensorMetadata": metadata, "sensorReport": reports}]
        events.append(_finish(event))
    return events


def _report(channel: str, point: SeriesPoint) -> dict[str, Any] | None:
    if channel in TEXT_MEASURES:
        return {
            "type": TEXT_MEASURES[channel].type,
            "stringValue": str(point.value),
            f"{PREFIX}:channel": channel,
        }
    measure = CHANNEL_MEASURES.get(channel)
    value = number(point.value)
    if measure is None or value is None:
        return None  # a position, or a channel this version does not know
    report: dict[str, Any] = {"type": measure.type, f"{PREFIX}:channel": channel}
    if point.min is None and point.max is None:
        found = {"value": value}
    else:
        # A bucket: the peak must survive the average, as in the readings API.
        found = {"meanValue": value}
        for key, bound in (("minValue", point.min), ("maxValue", point.max)):
            if (b := number(bound)) is not None:
                found[key] = b
    _put_values(report, found, measure)
    return report


def _put_values(report: dict[str, Any], values: Mapping[str, float], measure: Measure) -> None:
    """The values in the standard's unit; in ours, as ``cargowatch:value``, when they overflow.

    A stored value is any finite float (an implausible one is the detectors' business), and
    1e308 g is no finite number of m/s²: it is kept as read rather than lost or made infinite.
    """
    scaled = {key: v * measure.scale for key, v in values.items()}
    if all(math.isfinite(v) for v in scaled.values()):
        report.update(scaled)
        if measure.uom is not None:
            report["uom"] = measure.uom
    else:
        report[f"{PREFIX}:value"] = dict(values)


def _reading_position(points: Mapping[str, SeriesPoint], downsampled: bool) -> str | None:
    lat, lon = (points.get(c) for c in POSITION_CHANNELS)
    if lat is None or lon is None:
        return None
    la, lo = number(lat.value), number(lon.value)
    if la is None or lo is None:
        return None
    # A bucket's mean position is a place the tracker may never have been: only a bucket in
    # which it did not move has a read point.
    if downsampled and (lat.min != lat.max or lon.min != lon.max):
        return None
    return geo_uri(la, lo)


def _disposition(points: Mapping[str, SeriesPoint]) -> str:
    states = [str(points[c].value) for c in ("seal", "door") if c in points]
    if any(s in _OPEN_STATES for s in states):
        return "container_open"
    if "closed" in states:
        return "container_closed"
    return "in_transit"


# --- alerts ------------------------------------------------------------------------------------


def _alert_event(step: AlertStep, epc: str, device: str) -> dict[str, Any]:
    row = alert_measure(step.kind)
    holds = step.action != "resolve"
    if step.kind in _CONTAINER_KINDS:
        disposition = "container_open" if holds else "container_closed"
    else:
        disposition = "in_transit"
    event = _base(step.at_ms, epc, disposition)
    where = _evidence_position(step.evidence)
    if where is not None:
        event["readPoint"] = {"id": where}
    report: dict[str, Any] = {"type": row.measure.type}
    if holds:
        report["exception"] = row.exception
    found = step.evidence.get(row.evidence_key) if row.evidence_key is not None else None
    value = number(found)
    if value is not None:
        _put_values(report, {"value": value}, row.measure)
    elif isinstance(found, str):
        report["stringValue"] = found
    event["sensorElementList"] = [
        {
            "sensorMetadata": {"time": rfc3339(step.at_ms), "deviceID": device},
            "sensorReport": [report],
        }
    ]
    event.update(
        {
            f"{PREFIX}:alertId": step.alert_id,
            f"{PREFIX}:alertKind": step.kind,
            f"{PREFIX}:alertSeverity": step.severity,
            f"{PREFIX}:alertEvent": step.action,
            f"{PREFIX}:alertHistorySeq": step.seq,
            f"{PREFIX}:summary": step.summary,
        }
    )
    return _finish(event)


def _evidence_position(evidence: Mapping[str, Any]) -> str | None:
    lat, lon = number(evidence.get("lat")), number(evidence.get("lon"))
    if lat is None or lon is None:
        # temp_excursion gives the reading's position as GeoJSON [lon, lat].
        position = evidence.get("position")
        if isinstance(position, Sequence) and not isinstance(position, str) and len(position) >= 2:
            lon, lat = number(position[0]), number(position[1])
    if lat is None or lon is None:
        return None
    return geo_uri(lat, lon)
