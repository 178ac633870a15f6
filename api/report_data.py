"""The facts of a shipment release report, gathered from the SQL store and InfluxDB.

`gather_report` reads the shipment (its current manifest version and every earlier one), its
alerts with their whole history (detector events and people's actions: who acknowledged,
when, with what comment), and the device's readings over the trip from InfluxDB, and computes
everything the report shows: the temperature figures (`api.report_stats`), seal state changes
placed against the authorised stops, the route deviations, unscheduled stops and restricted
zone entries raised, and the customs risk score over time. The risk score is the one a
shipment's page shows (`detectors.risk.risk_score` of its unresolved alerts), replayed through
the alerts' stored history, so each step is a change of what was open and at which severity.

The trip runs from the manifest's departure to its arrival (to `now_ms` while that is in the
future or unknown; a day back when the departure is unknown), and no longer than one readings
query may span (`api.readings_query.MAX_RANGE_MS`). Readings are read a page at a time, oldest
first. InfluxDB failures raise the client's `InfluxError`; a manifest that no longer parses
raises `detectors.profiles.ManifestError`. Everything here is data: rendering is elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import Alert, AlertHistory, Shipment, ShipmentVersion, to_ms
from api.readings_query import MAX_RANGE_MS
from api.report_stats import (
    BudgetUse,
    Excursion,
    TemperatureStats,
    TempPoint,
    budget_use,
    excursions,
    plausible,
    temperature_stats,
)
from detectors.geo import nearest_place, place_containing
from detectors.profiles import Place, Zone, parse_shipment
from detectors.risk import risk_score
from detectors.temperature import make_temp_excursion
from ingest.influx_client import InfluxClient
from ingest.line_protocol import TELEMETRY

#: Readings per InfluxDB query: bounds memory per response, not the trip.
PAGE_ROWS: Final = 10_000
#: How old a position fix may be and still say where a seal reading without one was taken
#: (the seal breach detector's own default).
FIX_MAX_AGE_MS: Final = 300_000
#: Alert kinds that are customs' route and stop findings, listed in their own section.
CUSTOMS_KINDS: Final = ("route_deviation", "unscheduled_stop", "restricted_zone")
#: History actions after which an alert no longer counts towards the risk score.
_ENDED: Final = ("resolve", "close")
_DAY_MS: Final = 86_400_000


@dataclass(frozen=True, slots=True)
class Fix:
    """A position (WGS84 degrees) and when it was taken (epoch ms)."""

    at_ms: int
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class SealChange:
    """The seal read a state different from its previous one (`previous` None: the first)."""

    at_ms: int
    seal: str
    previous: str | None
    seal_id: str | None
    position: Fix | None
    #: The authorised stop the position lies in, if any.
    at_stop: str | None
    #: The nearest authorised stop and its centre's distance in metres.
    nearest_stop: str | None
    nearest_m: float | None


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


@dataclass(frozen=True, slots=True)
class ManifestVersion:
    """One stored version of the shipment: who saved it, when, and what it said."""

    version: int
    status: str
    actor: str
    saved_at_ms: int
    profile: str
    temp_range_c: tuple[float, float] | None
    stability_budget_min: float


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything a shipment release report states, computed once for every format."""

    shipment_id: str
    organisation: str
    device_id: str
    status: str
    profile: str
    temp_range_c: tuple[float, float] | None
    stability_budget_min: float
    #: Longest gap between readings counted as continuous time (the budget's own cap).
    max_step_s: float
    departure_ms: int | None
    arrival_ms: int | None
    window_start_ms: int
    window_end_ms: int
    first_reading_ms: int | None
    last_reading_ms: int | None
    generated_at_ms: int
    #: The evidence chain's head hash when the report was made; None when there is none.
    chain_head: str | None
    temperatures: tuple[TempPoint, ...]
    stats: TemperatureStats
    excursions: tuple[Excursion, ...]
    budget: BudgetUse | None
    track: tuple[Fix, ...]
    route: tuple[tuple[float, float], ...]
    stops: tuple[Place, ...]
    zones: tuple[Zone, ...]
    seal_id: str | None
    seal_changes: tuple[SealChange, ...]
    alerts: tuple[AlertRecord, ...]
    risk: tuple[RiskPoint, ...]
    versions: tuple[ManifestVersion, ...]

    @property
    def customs_alerts(self) -> tuple[AlertRecord, ...]:
        """Route deviations, unscheduled stops and restricted zone entries, oldest first."""
        return tuple(a for a in self.alerts if a.kind in CUSTOMS_KINDS)


@dataclass(frozen=True, slots=True)
class _Telemetry:
    temperatures: list[TempPoint]
    track: list[Fix]
    seal_changes: list[SealChange]
    first_ms: int | None
    last_ms: int | None


def gather_report(
    session: Session,
    influx: InfluxClient,
    shipment: Shipment,
    organisation: str,
    *,
    now_ms: int,
    chain_head: str | None,
) -> ReportData:
    """The report's facts for `shipment` (its current version) as of `now_ms`."""
    versions = list(
        session.scalars(
            select(ShipmentVersion)
            .where(ShipmentVersion.shipment_pk == shipment.id)
            .order_by(ShipmentVersion.version)
        )
    )
    current = next(v for v in versions if v.version == shipment.current_version)
    parsed = parse_shipment(current.manifest)
    profile = parsed.profile
    start_ms, end_ms = trip_window(parsed.departure_ms, parsed.arrival_ms, now_ms)
    seen = _read_telemetry(influx, parsed.device_id, start_ms, end_ms, parsed.authorised_stops)
    detector = make_temp_excursion(parsed)
    # Without a range nothing is out of it; the cap is still the one the detector would use.
    max_step_s = (
        detector.max_step_s if detector is not None else max(900.0, 3 * profile.expected_interval_s)
    )
    found = (
        excursions(seen.temperatures, *profile.temp_range_c, max_step_s)
        if profile.temp_range_c is not None
        else []
    )
    alerts = _alerts(session, shipment)
    return ReportData(
        shipment_id=shipment.shipment_id,
        organisation=organisation,
        device_id=parsed.device_id,
        status=current.status,
        profile=profile.name,
        temp_range_c=profile.temp_range_c,
        stability_budget_min=profile.stability_budget_min,
        max_step_s=max_step_s,
        departure_ms=parsed.departure_ms,
        arrival_ms=parsed.arrival_ms,
        window_start_ms=start_ms,
        window_end_ms=end_ms,
        first_reading_ms=seen.first_ms,
        last_reading_ms=seen.last_ms,
        generated_at_ms=now_ms,
        chain_head=chain_head,
        temperatures=tuple(plausible(seen.temperatures)[0]),
        stats=temperature_stats(seen.temperatures, max_step_s),
        excursions=tuple(found),
        budget=(
            budget_use(found, profile.stability_budget_min)
            if profile.temp_range_c is not None
            else None
        ),
        track=tuple(seen.track),
        route=parsed.route,
        stops=parsed.authorised_stops,
        zones=parsed.restricted_zones,
        seal_id=parsed.seal_id,
        seal_changes=tuple(seen.seal_changes),
        alerts=tuple(alerts),
        risk=tuple(risk_over_time(alerts, start_ms)),
        versions=tuple(_version(v) for v in versions),
    )


def trip_window(departure_ms: int | None, arrival_ms: int | None, now_ms: int) -> tuple[int, int]:
    """[start, end] (inclusive, epoch ms) of the readings a report covers.

    >>> trip_window(1_000, 5_000, 10_000), trip_window(1_000, 50_000, 10_000)
    ((1000, 5000), (1000, 10000))
    """
    end = arrival_ms if arrival_ms is not None and arrival_ms <= now_ms else now_ms
    start = departure_ms if departure_ms is not None else end - _DAY_MS
    start = max(0, min(start, end), end - MAX_RANGE_MS)
    return start, end


def _version(v: ShipmentVersion) -> ManifestVersion:
    manifest = v.manifest
    try:
        profile = parse_shipment(manifest).profile
        rng, budget = profile.temp_range_c, profile.stability_budget_min
    except ValueError:  # an older release's looser manifest: show what it said it was
        rng, budget = None, math.nan
    return ManifestVersion(
        version=v.version,
        status=v.status,
        actor=v.actor,
        saved_at_ms=to_ms(v.created_at),
        profile=str(manifest.get("profile", "")),
        temp_range_c=rng,
        stability_budget_min=budget,
    )


def _read_telemetry(
    influx: InfluxClient, device_id: str, start_ms: int, end_ms: int, stops: Sequence[Place]
) -> _Telemetry:
    temps: list[TempPoint] = []
    track: list[Fix] = []
    seals: list[SealChange] = []
    first = last = None
    seal: str | None = None
    seal_id: str | None = None
    for row in _telemetry_rows(influx, device_id, start_ms, end_ms):
        at = int(row["time"])
        first = at if first is None else first
        last = at
        if row.get("temp_c") is not None:
            temps.append((at, float(row["temp_c"])))
        lon, lat = row.get("lon"), row.get("lat")
        if lon is not None and lat is not None:
            track.append(Fix(at, float(lon), float(lat)))
        state = row.get("seal")
        if state is not None and state != seal:
            reading_id = row.get("seal_id")
            seal_id = str(reading_id) if reading_id is not None else seal_id
            seals.append(_seal_change(at, str(state), seal, seal_id, track, stops))
            seal = str(state)
    return _Telemetry(temps, track, seals, first, last)


def _seal_change(
    at: int,
    seal: str,
    previous: str | None,
    seal_id: str | None,
    track: Sequence[Fix],
    stops: Sequence[Place],
) -> SealChange:
    fix = track[-1] if track and at - track[-1].at_ms <= FIX_MAX_AGE_MS else None
    if fix is None:
        return SealChange(at, seal, previous, seal_id, None, None, None, None)
    inside = place_containing(stops, fix.lon, fix.lat)
    near = nearest_place(stops, fix.lon, fix.lat)
    return SealChange(
        at,
        seal,
        previous,
        seal_id,
        fix,
        inside.name if inside is not None else None,
        near[0].name if near is not None else None,
        near[1] if near is not None else None,
    )


def _telemetry_rows(
    influx: InfluxClient, device_id: str, start_ms: int, end_ms: int
) -> Iterator[dict[str, Any]]:
    """The device's rows with start_ms <= ts <= end_ms, oldest first, a page at a time."""
    after = start_ms * 1_000_000 - 1  # the query's lower bound is exclusive; times in ns
    until = end_ms * 1_000_000
    while True:
        q = (
            f'SELECT "temp_c", "lat", "lon", "seal", "seal_id" FROM {TELEMETRY}'
            " WHERE device_id = $device AND time > $after AND time <= $until"
            f" ORDER BY time ASC LIMIT {PAGE_ROWS}"
        )
        rows: list[dict[str, Any]] = []
        for series in influx.query(q, {"device": device_id, "after": after, "until": until}):
            columns = series["columns"]
            rows.extend(dict(zip(columns, values, strict=True)) for values in series["values"])
        yield from rows
        if len(rows) < PAGE_ROWS:
            return
        after = int(rows[-1]["time"]) * 1_000_000  # the client asks for epoch ms


def _alerts(session: Session, shipment: Shipment) -> list[AlertRecord]:
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
