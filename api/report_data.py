"""The facts of a shipment release report, gathered once for every format: `gather_report`.

It reads the shipment (its current manifest version and every earlier one) from the SQL
store, its alerts with their whole history and the risk score over time
(`api.report_alerts`), and the device's readings over the trip from InfluxDB
(`api.report_telemetry`), and computes the temperature figures (`api.report_stats`) against
the profile in force, manifest overrides included.

The trip runs from the manifest's departure to its arrival (to `now_ms` while that is in the
future or unknown; a day back when the departure is unknown), and no longer than one readings
query may span (`api.readings_query.MAX_RANGE_MS`). InfluxDB failures raise the client's
`InfluxError`; a manifest that no longer parses raises `detectors.profiles.ManifestError`.
Everything here is data: rendering is elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import Shipment, ShipmentVersion, to_ms
from api.readings_query import MAX_RANGE_MS
from api.report_alerts import CUSTOMS_KINDS, AlertRecord, RiskPoint, risk_over_time, shipment_alerts
from api.report_stats import (
    BudgetUse,
    Excursion,
    TemperatureStats,
    TempPoint,
    budget_use,
    excursions,
    plausible,
    simulated_product,
    temperature_stats,
)
from api.report_telemetry import Fix, SealChange, TripTelemetry, read_telemetry
from detectors.profiles import Place, Zone, parse_shipment
from detectors.temperature import make_temp_excursion
from ingest.influx_client import InfluxClient

_DAY_MS: Final = 86_400_000


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
    #: The product's time constant when the probe reads the air: every temperature figure is
    #: then of the product simulated from it. None: the probe reads the product.
    product_lag_min: float | None = None

    @property
    def customs_alerts(self) -> tuple[AlertRecord, ...]:
        """Route deviations, unscheduled stops and restricted zone entries, oldest first."""
        return tuple(a for a in self.alerts if a.kind in CUSTOMS_KINDS)


def gather_report(
    session: Session,
    influx: InfluxClient,
    shipment: Shipment,
    organisation: str,
    *,
    now_ms: int,
    chain_head: str | None,
    telemetry: TripTelemetry | None = None,
) -> ReportData:
    """The report's facts for `shipment` (its current version) as of `now_ms`; `telemetry`,
    when it covers the report's device and window, stands for reading them from InfluxDB."""
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
    stops = parsed.authorised_stops
    if telemetry is not None and telemetry.covers(parsed.device_id, start_ms, end_ms, stops):
        seen = telemetry.telemetry
    else:
        seen = read_telemetry(influx, parsed.device_id, start_ms, end_ms, stops)
    detector = make_temp_excursion(parsed)
    # Without a range nothing is out of it; the cap is still the one the detector would use.
    max_step_s = (
        detector.max_step_s if detector is not None else max(900.0, 3 * profile.expected_interval_s)
    )
    # An air probe's readings stand for the product the detectors simulate from them.
    temperatures = simulated_product(seen.temperatures, parsed.product_lag_min)
    found = (
        excursions(temperatures, *profile.temp_range_c, max_step_s)
        if profile.temp_range_c is not None
        else []
    )
    alerts = shipment_alerts(session, shipment)
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
        temperatures=tuple(plausible(temperatures)[0]),
        stats=temperature_stats(temperatures, max_step_s),
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
        product_lag_min=parsed.product_lag_min,
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
