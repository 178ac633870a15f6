"""Alert vocabulary: kind names, severities, the conditions detectors report, alert events.

A detector never opens or closes an alert itself. It reports a `Condition`:
"this kind of trouble holds (or no longer holds) for this device, this badly,
because of this evidence". The lifecycle turns conditions into `AlertEvent`s
(open, update, resolve) with deduplication and damping. Kind names are a
contract with dashboards, webhooks and scoring: add, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

KINDS: Final = (
    "temp_excursion",
    "temp_breach_predicted",
    "stability_budget",
    "anomaly",
    "sensor_fault",
    "battery_low",
    "route_deviation",
    "unscheduled_stop",
    "restricted_zone",
    "gps_implausible",
    "gps_lost",
    "seal_breach",
    "seal_id_changed",
    "door_open",
    "silence",
    "shock",
)
SEVERITIES: Final = ("info", "warning", "critical")
SEVERITY_RANK: Final = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(slots=True)
class Condition:
    """A detector's current opinion on one kind of trouble for one device.

    `active` False means the trouble has cleared. `at_ms` is the event time of
    the reading (or timer) that produced it. `value` is the headline number
    (degrees, metres, minutes) for dashboards.
    """

    kind: str
    active: bool
    at_ms: int
    severity: str = "warning"
    summary: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    predicted_breach_at_ms: int | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One step of an alert's life, as the backtest writes it and webhooks carry it."""

    event: str  # open | update | resolve
    alert_id: str
    kind: str
    severity: str
    device_id: str
    shipment_id: str | None
    at_ms: int
    summary: str
    evidence: dict[str, Any]
    value: float | None = None
    predicted_breach_at_ms: int | None = None
    confidence: float | None = None
    #: The event's place in its alert's history (the open is 1): with `alert_id`, what makes
    #: an event unique, so a store or a consumer can take a replayed event exactly once.
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """The alert event shape of docs/alerts.md.

        >>> e = AlertEvent("open", "a1", "silence", "warning", "trk-1", None, 0, "quiet", {})
        >>> e.to_json()["at"]
        '1970-01-01T00:00:00Z'
        """
        out: dict[str, Any] = {
            "event": self.event,
            "alert_id": self.alert_id,
            "seq": self.seq,
            "kind": self.kind,
            "severity": self.severity,
            "device_id": self.device_id,
            "shipment_id": self.shipment_id,
            "at": rfc3339(self.at_ms),
            "summary": self.summary,
            "evidence": self.evidence,
        }
        if self.value is not None:
            out["value"] = self.value
        if self.kind == "temp_breach_predicted":
            out["predicted_breach_at"] = (
                rfc3339(self.predicted_breach_at_ms) if self.predicted_breach_at_ms else None
            )
            out["confidence"] = self.confidence
        return out


def rfc3339(ms: int) -> str:
    """Epoch milliseconds as RFC 3339 UTC, to the second unless there is a fraction.

    >>> rfc3339(1_763_800_000_000), rfc3339(1_763_800_000_250)
    ('2025-11-22T08:26:40Z', '2025-11-22T08:26:40.250Z')
    """
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
