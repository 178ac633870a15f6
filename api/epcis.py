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

import base64
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

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
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
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


def shipment_urn(organisation: str, shipment_id: str) -> str:
    """The shipment's EPC: shipment ids are unique within an organisation, so both are in it.

    Every character outside RFC 3986's unreserved set is percent-encoded, so ``#`` or ``/`` in
    an id (which the manifest allows) cannot end the URN early.

    >>> shipment_urn("Acme Pharma", "SHP-0001#2")
    'urn:cargowatch:shipment:Acme%20Pharma:SHP-0001%232'
    """
    return f"urn:cargowatch:shipment:{quote(organisation, safe='')}:{quote(shipment_id, safe='')}"


def device_urn(device_id: str) -> str:
    """The tracker's ``deviceID`` in sensor metadata.

    >>> device_urn("trk-00001")
    'urn:cargowatch:device:trk-00001'
    """
    return f"urn:cargowatch:device:{quote(device_id, safe='')}"


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


def event_id(event: Mapping[str, Any]) -> str:
    """An RFC 6920 ``ni`` URI of the SHA-256 of the event's canonical JSON (without its id).

    Canonical: keys sorted, no spaces, non-ASCII escaped (so any text, even a lone surrogate
    a SQLite store may hand back, hashes and serialises). This is not GS1's event-hash
    pre-hash string (which a ``?ver=CBV2.0`` suffix would claim), only a stable digest of our
    own output.
    """
    content = {k: v for k, v in event.items() if k != "eventID"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    digest = hashlib.sha256(canonical.encode()).digest()
    return "ni:///sha-256;" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def rfc3339(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC time with milliseconds, computed exactly.

    >>> rfc3339(1_763_800_000_250)
    '2025-11-22T08:26:40.250Z'
    """
    at = _EPOCH + timedelta(milliseconds=ms)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def geo_uri(lat: float, lon: float) -> str | None:
    """An RFC 5870 ``geo`` URI, or None for a position that is not one.

    >>> geo_uri(-4.04, 39.66), geo_uri(91.0, 0.0)
    ('geo:-4.04,39.66', None)
    """
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    return f"geo:{_decimal(lat)},{_decimal(lon)}"


def _decimal(x: float) -> str:
    # Seven places are a centimetre; fixed notation because a geo URI has no exponent.
    text = f"{x:.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _number(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


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
    value = _number(point.value)
    if measure is None or value is None:
        return None  # a position, or a channel this version does not know
    report: dict[str, Any] = {"type": measure.type, f"{PREFIX}:channel": channel}
    if point.min is None and point.max is None:
        found = {"value": value}
    else:
        # A bucket: the peak must survive the average, as in the readings API.
        found = {"meanValue": value}
        for key, bound in (("minValue", point.min), ("maxValue", point.max)):
            if (b := _number(bound)) is not None:
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
    la, lo = _number(lat.value), _number(lon.value)
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
    value = _number(found)
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
    lat, lon = _number(evidence.get("lat")), _number(evidence.get("lon"))
    if lat is None or lon is None:
        # temp_excursion gives the reading's position as GeoJSON [lon, lat].
        position = evidence.get("position")
        if isinstance(position, Sequence) and not isinstance(position, str) and len(position) >= 2:
            lon, lat = _number(position[0]), _number(position[1])
    if lat is None or lon is None:
        return None
    return geo_uri(lat, lon)
