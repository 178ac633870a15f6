"""Shipment risk score for customs: a shipment's open alerts combined into one number, with reasons.

Each open alert contributes points by kind (what customs care about most:
seals, zones, route) scaled by its severity. Contributions combine like
independent probabilities, `100 * (1 - prod(1 - p_i / 100))`, so two serious
alerts score higher than one, no pile of minor ones reaches 100, and the
order does not matter. The result lists every contribution so an officer sees
why a shipment scored what it did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

#: Points an open critical alert of each kind contributes (0-100).
KIND_POINTS: Final = {
    "seal_breach": 70.0,
    "seal_id_changed": 65.0,
    "restricted_zone": 60.0,
    "route_deviation": 45.0,
    "gps_implausible": 40.0,
    "unscheduled_stop": 35.0,
    "gps_lost": 30.0,
    "door_open": 30.0,
    "silence": 30.0,
    "shock": 15.0,
    "temp_excursion": 15.0,
    "temp_breach_predicted": 10.0,
    "stability_budget": 10.0,
    "sensor_fault": 10.0,
    "battery_low": 10.0,
    "anomaly": 5.0,
}
SEVERITY_WEIGHT: Final = {"info": 0.3, "warning": 0.6, "critical": 1.0}


@dataclass(frozen=True, slots=True)
class Contribution:
    alert_id: str
    kind: str
    severity: str
    points: float


@dataclass(frozen=True, slots=True)
class RiskScore:
    score: float
    contributions: tuple[Contribution, ...]


def _points(kind: str, severity: str) -> float:
    return round(KIND_POINTS.get(kind, 10.0) * SEVERITY_WEIGHT[severity], 2)


def risk_score(open_alerts: Iterable[tuple[str, str, str]]) -> RiskScore:
    """Score (alert_id, kind, severity) triples of one shipment's open alerts.

    >>> r = risk_score([("a1", "seal_breach", "critical"), ("a2", "route_deviation", "warning")])
    >>> round(r.score, 1), [(c.kind, c.points) for c in r.contributions]
    (78.1, [('seal_breach', 70.0), ('route_deviation', 27.0)])
    >>> risk_score([]).score
    0.0
    """
    parts = [
        Contribution(alert_id, kind, sev, _points(kind, sev)) for alert_id, kind, sev in open_alerts
    ]
    parts.sort(key=lambda c: (-c.points, c.kind, c.alert_id))
    remaining = 1.0
    for c in parts:
        remaining *= 1.0 - c.points / 100.0
    return RiskScore(round(100.0 * (1.0 - remaining), 2), tuple(parts))
