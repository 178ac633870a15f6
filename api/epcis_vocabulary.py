"""How CargoWatch's channels and alert kinds are said in GS1 EPCIS 2.0 / CBV 2.0 terms.

One table for readings (wire-format channel -> CBV measurement type and UN/ECE Rec. 20 unit)
and one for alerts (kind -> the measurement the condition is about, the evidence key holding
its figure, and the CBV sensor alert type: ``ALARM_CONDITION`` when the cargo's conditions are
out of bounds, ``ERROR_CONDITION`` when the tracker itself cannot be trusted). Where CBV has
no measurement type for something we observe (a seal's state, a door, a zone entered), the type
is a URN of our own under `NAMESPACE`, as EPCIS 2.0 allows for any type outside GS1's Web
vocabulary. docs/epcis.md prints these tables for people; a test holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

#: The official JSON-LD context of EPCIS 2.0, first in every document's ``@context``.
EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
#: Our own terms: extension keys are written ``cargowatch:alertId`` and so on, and the
#: ``@context`` maps the prefix to this namespace.
PREFIX: Final = "cargowatch"
NAMESPACE: Final = "urn:cargowatch:epcis:"

ALARM: Final = "ALARM_CONDITION"
ERROR: Final = "ERROR_CONDITION"

#: Standard acceleration of free fall: trackers report shock in g, EPCIS in m/s² (``MSK``).
G_MS2: Final = 9.80665


@dataclass(frozen=True, slots=True)
class Measure:
    """A CBV measurement type (or our URN) and its unit; `scale` converts our value to it."""

    type: str
    uom: str | None = None
    scale: float = 1.0


#: Numeric channels, as sensor reports. Position (lat, lon) is the event's ``readPoint``.
CHANNEL_MEASURES: Final[dict[str, Measure]] = {
    "temp_c": Measure("Temperature", "CEL"),
    "ambient_c": Measure("Temperature", "CEL"),
    "humidity_pct": Measure("RelativeHumidity", "P1"),
    "shock_g": Measure("Acceleration", "MSK", G_MS2),
    "light_lux": Measure("Illuminance", "LUX"),
    "battery_v": Measure("Voltage", "VLT"),
}
#: Text channels, as sensor reports with a ``stringValue``: CBV has no type for them.
TEXT_MEASURES: Final[dict[str, Measure]] = {
    "seal": Measure(NAMESPACE + "SealState"),
    "seal_id": Measure(NAMESPACE + "SealId"),
    "door": Measure(NAMESPACE + "DoorState"),
}
#: Channels that are the event's position rather than a sensor report.
POSITION_CHANNELS: Final = ("lat", "lon")


@dataclass(frozen=True, slots=True)
class AlertMeasure:
    """What an alert kind's sensor report says: type, unit, the evidence key, the exception."""

    measure: Measure
    evidence_key: str | None
    exception: str


ALERT_MEASURES: Final[dict[str, AlertMeasure]] = {
    "temp_excursion": AlertMeasure(CHANNEL_MEASURES["temp_c"], "temp_c", ALARM),
    "temp_breach_predicted": AlertMeasure(CHANNEL_MEASURES["temp_c"], "temp_c", ALARM),
    "stability_budget": AlertMeasure(Measure("Time", "MIN"), "cumulative_out_min", ALARM),
    "anomaly": AlertMeasure(CHANNEL_MEASURES["temp_c"], "value", ALARM),
    "sensor_fault": AlertMeasure(CHANNEL_MEASURES["temp_c"], "temp_c", ERROR),
    "battery_low": AlertMeasure(CHANNEL_MEASURES["battery_v"], "battery_v", ALARM),
    "route_deviation": AlertMeasure(Measure("Length", "MTR"), "distance_m", ALARM),
    "unscheduled_stop": AlertMeasure(Measure("Time", "MIN"), "duration_min", ALARM),
    "restricted_zone": AlertMeasure(Measure(NAMESPACE + "RestrictedZone"), "zone", ALARM),
    # The position itself is what cannot be trusted: an error of the tracker, not of the cargo.
    "gps_implausible": AlertMeasure(Measure("Speed", "KMH"), "speed_kmh", ERROR),
    "gps_lost": AlertMeasure(Measure("Time", "MIN"), "minutes", ERROR),
    "seal_breach": AlertMeasure(TEXT_MEASURES["seal"], "seal", ALARM),
    "seal_id_changed": AlertMeasure(TEXT_MEASURES["seal_id"], "seal_id", ALARM),
    "door_open": AlertMeasure(Measure("Time", "MIN"), "open_min", ALARM),
    # A silent tracker reports nothing about the cargo: its record has a hole, an error.
    "silence": AlertMeasure(Measure("Time", "MIN"), "gap_min", ERROR),
    "shock": AlertMeasure(CHANNEL_MEASURES["shock_g"], "shock_g", ALARM),
}


def alert_measure(kind: str) -> AlertMeasure:
    """The kind's row, or for a kind added after this table an alarm of type ``…:alert:KIND``."""
    found = ALERT_MEASURES.get(kind)
    if found is not None:
        return found
    return AlertMeasure(Measure(f"{NAMESPACE}alert:{quote(kind, safe='')}"), None, ALARM)
