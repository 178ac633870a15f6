"""Alerts as OASIS CAP 1.2 messages: one message per entry of an alert's history, built as XML.

The first entry (the detector's ``open``) is a CAP ``Alert``; every later entry an ``Update``,
until the alert is resolved (the detector's ``resolve`` or a person's ``close``), from which on
each message is a ``Cancel`` with urgency ``Past``, so a CAP client never re-raises an alert
that has ended. Each message's ``references`` lists every earlier message of the same alert,
and its identifier, ``cargowatch:{alert_id}:{history_seq}``, is stable: the same entry is
always the same message. Urgency, severity, certainty and category come from `CAP_KINDS` and
`CAP_SEVERITY` (docs/alerts.md has the table). The area is the restricted zone's polygon for a
``restricted_zone`` alert whose zone the manifest names, else a circle of `DEFAULT_RADIUS_KM`
round the newest position any entry up to this one carried, else no area at all. Summaries and
evidence come from device data, so every string is made fit for XML 1.0 first: characters XML
cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF) become U+FFFD, and the
serialiser escapes the rest. Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from api.models import Alert, AlertHistory

CAP_NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
MEDIA_TYPE: Final = "application/cap+xml"
#: Who sends the messages: CAP asks for an identifier without spaces or commas.
SENDER: Final = "cargowatch"
SENDER_NAME: Final = "CargoWatch"
#: The messages go only to API keys that may see the alert, as ``GET /alerts/{id}`` does.
RESTRICTION: Final = (
    "CargoWatch API keys that may see this alert: its organisation's, customs while the "
    "shipment is in transit, and administrators"
)
#: The circle round a fix: a fix can be up to 5 min old when it stands in for a reading
#: without one, and GPS itself is good to tens of metres, so 1 km holds a slow or stopped truck.
DEFAULT_RADIUS_KM: Final = 1.0
#: History actions that end an alert.
ENDING: Final = frozenset({"resolve", "close"})


@dataclass(frozen=True, slots=True)
class KindMapping:
    """How one alert kind reads in CAP: category, urgency (below critical and at it), certainty."""

    event: str
    category: str
    urgency: str
    urgency_critical: str
    certainty: str


#: kind -> CAP fields. Urgency follows the kind's time to act: a forecast is ``Expected``
#: (within the hour), an anomaly ``Future`` (someone should look), a measured condition
#: ``Immediate``; a battery or a half-used budget is ``Expected`` until it turns critical.
CAP_KINDS: Final[Mapping[str, KindMapping]] = {
    "temp_excursion": KindMapping(
        "Temperature excursion", "Safety", "Immediate", "Immediate", "Observed"
    ),
    "temp_breach_predicted": KindMapping(
        "Temperature breach predicted", "Safety", "Expected", "Expected", "Likely"
    ),
    "stability_budget": KindMapping(
        "Stability budget used", "Safety", "Expected", "Immediate", "Observed"
    ),
    "anomaly": KindMapping("Temperature anomaly", "Safety", "Future", "Future", "Possible"),
    "sensor_fault": KindMapping("Sensor fault", "Transport", "Expected", "Immediate", "Observed"),
    "battery_low": KindMapping(
        "Tracker battery low", "Transport", "Expected", "Immediate", "Observed"
    ),
    "route_deviation": KindMapping(
        "Route deviation", "Transport", "Immediate", "Immediate", "Observed"
    ),
    "unscheduled_stop": KindMapping(
        "Unscheduled stop", "Transport", "Immediate", "Immediate", "Observed"
    ),
    "restricted_zone": KindMapping(
        "Restricted zone entered", "Security", "Immediate", "Immediate", "Observed"
    ),
    "gps_implausible": KindMapping(
        "Implausible GPS position", "Security", "Immediate", "Immediate", "Likely"
    ),
    "gps_lost": KindMapping("GPS lost", "Transport", "Immediate", "Immediate", "Observed"),
    "seal_breach": KindMapping("Seal breach", "Security", "Immediate", "Immediate", "Observed"),
    "seal_id_changed": KindMapping(
        "Seal id changed", "Security", "Immediate", "Immediate", "Observed"
    ),
    "door_open": KindMapping("Door open", "Security", "Immediate", "Immediate", "Observed"),
    "silence": KindMapping("Tracker silent", "Transport", "Immediate", "Immediate", "Observed"),
    "shock": KindMapping("Shock", "Safety", "Immediate", "Immediate", "Observed"),
}
#: A kind added after this table is still sent, as what CAP calls unknown.
UNKNOWN_KIND: Final = KindMapping("Cargo alert", "Other", "Unknown", "Unknown", "Unknown")
#: CargoWatch severity -> CAP severity. ``Extreme`` (a threat to life) is never claimed.
CAP_SEVERITY: Final[Mapping[str, str]] = {
    "info": "Minor",
    "warning": "Moderate",
    "critical": "Severe",
}

# Everything outside XML 1.0's Char production, lone surrogates included.
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# What CAP allows in identifier and sender: no spaces, commas, '<' or '&'.
_TOKEN_SAFE: Final = "._:#-"


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 cannot carry replaced by U+FFFD.

    >>> xml_text("seal \\x00]]><b>\\ud800")
    'seal \\ufffd]]><b>\\ufffd'
    """
    return _NOT_XML.sub("\ufffd", text)


def cap_time(at: datetime) -> str:
    """CAP's date-time: whole seconds and an explicit offset (CAP refuses ``Z``).

    >>> cap_time(datetime(2026, 11, 22, 14, 3, 10, 500_000, tzinfo=UTC))
    '2026-11-22T14:03:10+00:00'
    """
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def identifier(alert_id: str, history_seq: int) -> str:
    """The message of an alert's history entry: ``cargowatch:{alert_id}:{history_seq}``.

    >>> identifier("al_53b857b7b5a07420", 2)
    'cargowatch:al_53b857b7b5a07420:2'
    """
    return f"{SENDER}:{quote(alert_id, safe=_TOKEN_SAFE)}:{history_seq}"


def msg_type(history: Sequence[AlertHistory], index: int) -> str:
    """``Alert`` for the first entry, ``Cancel`` from the one that ended the alert on,
    ``Update`` for the rest."""
    if any(entry.action in ENDING for entry in history[: index + 1]):
        return "Cancel"
    return "Alert" if index == 0 else "Update"


def _coordinate(value: Any, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and -limit <= number <= limit else None


def position(evidence: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """The (lat, lon) an entry's evidence gives: ``lat``/``lon``, a ``position`` ``[lon, lat]``
    or a ``last_fix`` ``{lat, lon}``; None when it gives none in range.

    >>> position({"lat": 0.63, "lon": 34.24}), position({"position": [34.24, 0.63]})
    ((0.63, 34.24), (0.63, 34.24))
    >>> position({"lat": None, "lon": None}) is None
    True
    """
    if not evidence:
        return None
    candidates: list[tuple[Any, Any]] = [(evidence.get("lat"), evidence.get("lon"))]
    pos = evidence.get("position")
    if isinstance(pos, list) and len(pos) == 2:
        candidates.append((pos[1], pos[0]))
    fix = evidence.get("last_fix")
    if isinstance(fix, dict):
        candidates.append((fix.get("lat"), fix.get("lon")))
    for lat, lon in candidates:
        la, lo = _coordinate(lat, 90.0), _coordinate(lon, 180.0)
        if la is not None and lo is not None:
            return la, lo
    return None


def zone_polygon(ring: Any) -> str | None:
    """A GeoJSON ring (``[lon, lat]`` positions) as a CAP polygon (``lat,lon`` pairs, closed),
    or None when it is not a ring of at least three positions in range."""
    if not isinstance(ring, list):
        return None
    points: list[tuple[float, float]] = []
    for vertex in ring:
        if not isinstance(vertex, list) or len(vertex) < 2:
            return None
        lat, lon = _coordinate(vertex[1], 90.0), _coordinate(vertex[0], 180.0)
        if lat is None or lon is None:
            return None
        points.append((lat, lon))
    if points and points[0] != points[-1]:
        points.append(points[0])
    if len(points) < 4:
        return None
    return " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in points)


def _evidence_text(evidence: Mapping[str, Any] | None) -> str:
    if not evidence:
        return ""
    lines = [
        f"{key}: {json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)}"
        for key, value in sorted(evidence.items(), key=lambda item: str(item[0]))
    ]
    return "\n\nEvidence:\n" + "\n".join(lines)


def _description(entry: AlertHistory) -> str:
    text = entry.summary
    if entry.action not in ("open", "update", "resolve"):
        text = f"{entry.action} by {entry.actor}: {entry.comment or ''}\n\n{text}"
    return text + _evidence_text(entry.evidence)


def _area(
    alert: Alert, history: Sequence[AlertHistory], index: int, zones: Mapping[str, Any]
) -> tuple[str, str, str] | None:
    """(areaDesc, kind of shape, shape) for entry `index`, or None when nothing places it."""
    for entry in reversed(history[: index + 1]):
        zone = (entry.evidence or {}).get("zone")
        if alert.kind == "restricted_zone" and isinstance(zone, str) and zone in zones:
            polygon = zone_polygon(zones[zone])
            if polygon is not None:
                return f"restricted zone {zone}", "polygon", polygon
        fix = position(entry.evidence)
        if fix is not None:
            lat, lon = fix
            where = f"last known position of {alert.device_id}: {lat:.4f}, {lon:.4f}"
            return where, "circle", f"{lat:.6f},{lon:.6f} {DEFAULT_RADIUS_KM:g}"
    return None


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = xml_text(text)
    return element


def _pair(parent: ET.Element, tag: str, name: str, value: str) -> None:
    element = _sub(parent, tag)
    _sub(element, "valueName", name)
    _sub(element, "value", value)


def cap_alert(
    alert: Alert,
    history: Sequence[AlertHistory],
    *,
    upto: int | None = None,
    zones: Mapping[str, Any] | None = None,
) -> ET.Element:
    """The CAP ``alert`` element for the entry of `history` with seq `upto` (the newest by
    default). `history` is the alert's, in seq order; `zones` maps the shipment's restricted
    zone names to their GeoJSON rings."""
    if not history:
        raise ValueError(f"alert {alert.alert_id!r} has no history to send")
    index = len(history) - 1
    if upto is not None:
        index = next(i for i, entry in enumerate(history) if entry.seq == upto)
    entry = history[index]
    kind_of = msg_type(history, index)
    mapping = CAP_KINDS.get(alert.kind, UNKNOWN_KIND)

    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", identifier(alert.alert_id, entry.seq))
    _sub(root, "sender", SENDER)
    _sub(root, "sent", cap_time(entry.at))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", kind_of)
    _sub(root, "scope", "Restricted")
    _sub(root, "restriction", RESTRICTION)
    if index > 0:
        earlier = (
            f"{SENDER},{identifier(alert.alert_id, e.seq)},{cap_time(e.at)}"
            for e in history[:index]
        )
        _sub(root, "references", " ".join(earlier))

    info = _sub(root, "info")
    _sub(info, "language", "en")
    _sub(info, "category", mapping.category)
    _sub(info, "event", mapping.event)
    if kind_of == "Cancel":
        _sub(info, "responseType", "AllClear")
        urgency = "Past"
    else:
        urgency = mapping.urgency_critical if entry.severity == "critical" else mapping.urgency
    _sub(info, "urgency", urgency)
    _sub(info, "severity", CAP_SEVERITY.get(entry.severity, "Unknown"))
    _sub(info, "certainty", mapping.certainty)
    _sub(info, "senderName", SENDER_NAME)
    _sub(info, "headline", entry.summary)
    _sub(info, "description", _description(entry))
    parameters = {
        "alert_id": alert.alert_id,
        "shipment_id": alert.shipment_id,
        "device_id": alert.device_id,
        "kind": alert.kind,
        "severity": entry.severity,
        "event": entry.action,
        "history_seq": str(entry.seq),
    }
    for name, value in parameters.items():
        if value is not None:
            _pair(info, "parameter", name, value)
    area = _area(alert, history, index, zones or {})
    if area is not None:
        description, shape, value = area
        element = _sub(info, "area")
        _sub(element, "areaDesc", description)
        _sub(element, shape, value)
    return root


def cap_message(
    alert: Alert,
    history: Sequence[AlertHistory],
    *,
    upto: int | None = None,
    zones: Mapping[str, Any] | None = None,
) -> bytes:
    """`cap_alert` as a UTF-8 XML document."""
    element = cap_alert(alert, history, upto=upto, zones=zones)
    document: bytes = ET.tostring(
        element, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS
    )
    return document
