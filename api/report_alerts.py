"""The release report's alerts: each with its whole stored history, and the risk score over time.

The alerts are the shipment's (its organisation's, by shipment id), oldest first, each with
every entry of its history: detector events and people's actions (who acknowledged, when,
with what comment). The customs risk score is the one a shipment's page shows
(`detectors.risk.risk_score` of its unresolved alerts), replayed through those histories, so
each step is a change of what was open and at which severity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import Alert, AlertHistory, Shipment, to_ms
from api.report_telemetry import Fix
from detectors.risk import risk_score

#: Alert kinds that are customs' route and stop findings, listed in their own section.
CUSTOMS_KINDS: Final = ("route_deviation", "unscheduled_stop", "restricted_zone")
#: History actions after which an alert no longer counts towards the risk score.
_ENDED: Final = ("resolve", "close")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One entry of an alert's history: a detector event or a person's action."""

    at_ms: int
    actor: str
    action: str
    severity: str
    summary: str
    comment: str | None
    assignee: str | None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert on the shipment as it stands, with its whole history in order."""

    alert_id: str
    kind: str
    severity: str
    state: str
    opened_at_ms: int
    resolved_at_ms: int | None
    summary: str
    position: Fix | None
    history: tuple[HistoryEntry, ...]

    @property
    def acknowledgements(self) -> tuple[HistoryEntry, ...]:
        return tuple(e for e in self.history if e.action == "ack")


@dataclass(frozen=True, slots=True)
class RiskPoint:
    """The customs risk score (0-100) from `at_ms` on, and how many alerts made it."""

    at_ms: int
    score: float
    open_alerts: int


def shipment_alerts(session: Session, shipment: Shipment) -> list[AlertRecord]:
    """The shipment's alerts, oldest first, each with its whole history in order."""
    alerts = list(
        session.scalars(
            select(Alert)
            .where(
                Alert.organisation_id == shipment.organisation_id,
                Alert.shipment_id == shipment.shipment_id,
            )
            .order_by(Alert.opened_at, Alert.alert_id)
        )
    )
    history: dict[str, list[HistoryEntry]] = {a.alert_id: [] for a in alerts}
    if alerts:
        entries = session.scalars(
            select(AlertHistory)
            .where(AlertHistory.alert_id.in_(list(history)))
            .order_by(AlertHistory.alert_id, AlertHistory.seq)
        )
        for e in entries:
            history[e.alert_id].append(
                HistoryEntry(
                    to_ms(e.at), e.actor, e.action, e.severity, e.summary, e.comment, e.assignee
                )
            )
    return [
        AlertRecord(
            alert_id=a.alert_id,
            kind=a.kind,
            severity=a.severity,
            state=a.state,
            opened_at_ms=to_ms(a.opened_at),
            resolved_at_ms=to_ms(a.resolved_at) if a.resolved_at is not None else None,
            summary=a.summary,
            position=_evidence_fix(a.evidence, to_ms(a.opened_at)),
            history=tuple(history[a.alert_id]),
        )
        for a in alerts
    ]


def _evidence_fix(evidence: dict[str, Any] | None, at_ms: int) -> Fix | None:
    """Where an alert's evidence says it happened: ``lon``/``lat`` or ``position: [lon, lat]``."""
    if not evidence:
        return None
    lon, lat = evidence.get("lon"), evidence.get("lat")
    position = evidence.get("position")
    if (lon is None or lat is None) and isinstance(position, list) and len(position) == 2:
        lon, lat = position
    if isinstance(lon, int | float) and isinstance(lat, int | float):
        return Fix(at_ms, float(lon), float(lat))
    return None


def risk_over_time(alerts: Sequence[AlertRecord], start_ms: int) -> list[RiskPoint]:
    """The risk score at `start_ms` and at every history entry that changed it, in time order.

    An alert counts from its open at the severity of its latest event until it is resolved or
    closed, as on the shipment's page; acknowledging it does not lower the risk.
    """
    entries = sorted(
        ((e.at_ms, a.alert_id, i, a.kind, e) for a in alerts for i, e in enumerate(a.history)),
        key=lambda item: item[:3],
    )
    active: dict[str, tuple[str, str]] = {}
    ended: set[str] = set()
    points = [RiskPoint(start_ms, 0.0, 0)]
    for at, alert_id, _, kind, entry in entries:
        if entry.action in _ENDED:
            active.pop(alert_id, None)
            ended.add(alert_id)
        elif entry.action in ("open", "update") and alert_id not in ended:
            active[alert_id] = (kind, entry.severity)
        else:
            continue
        score = risk_score((i, k, s) for i, (k, s) in active.items()).score
        if score != points[-1].score or len(active) != points[-1].open_alerts:
            if at <= points[-1].at_ms:
                # Several changes at one instant (or before the trip): only the last one holds.
                points[-1] = RiskPoint(points[-1].at_ms, score, len(active))
            else:
                points.append(RiskPoint(at, score, len(active)))
    return points
