"""A fleet's shipment manifest (the shape of docs/manifest.md) and its ground-truth labels.

The manifest entry carries exactly the documented keys (consumers reject unknown ones): the
profile and its range, reporting interval, tolerated gap, planned departure and arrival, the
route as a GeoJSON LineString in lon/lat order, its corridor, authorised stops, restricted
zones, seal id and, for a receiver that pins its fix while standing still, `gps_static_hold`.
A label is one incident: device and shipment, scenario, start and end in RFC 3339 UTC, the
alert kinds a good detector should raise, when the product first left its range (so warning
lead time can be measured) and the scenario's parameters.
"""

from __future__ import annotations

from typing import Any

from simulators.effects import Incident
from simulators.incidents import EXCURSION_KIND, FAULT_KIND, TEMP_KINDS, excursion_owed
from simulators.plan import DevicePlan
from simulators.scoring import WARNING_KIND
from simulators.stuck_truth import shown
from simulators.timeutil import rfc3339


def shipment(plan: DevicePlan, start_ms: int) -> dict[str, Any]:
    """The manifest entry of one planned shipment."""
    prof, lane = plan.profile, plan.lane
    entry: dict[str, Any] = {
        "shipment_id": plan.shipment_id,
        "device_id": plan.device_id,
        "profile": prof.name,
    }
    if prof.temp_range_c is not None:
        entry["temp_range_c"] = list(prof.temp_range_c)
        entry["stability_budget_min"] = prof.stability_budget_min
    entry["expected_interval_s"] = int(plan.interval_s)
    entry["max_gap_min"] = plan.max_gap_min
    entry["departure"] = rfc3339(start_ms + round(plan.departure_s * 1000))
    entry["arrival"] = rfc3339(start_ms + round(plan.arrival_s * 1000))
    entry["route"] = lane.route_geojson()
    entry["corridor_m"] = int(lane.spec.corridor_m)
    entry["authorised_stops"] = [
        {"name": s.name, "lon": s.lon, "lat": s.lat, "radius_m": int(s.radius_m)}
        for s in lane.stops
    ]
    entry["restricted_zones"] = list(lane.zones)
    if plan.seal_id is not None:
        entry["seal_id"] = plan.seal_id
    if plan.static_hold:
        entry["gps_static_hold"] = True
    if plan.air_probe:
        # As an operator who knows where the probe sits, but not the product's time constant.
        entry["probe"] = "air"
    return entry


def label(plan: DevicePlan, incident: Incident, start_ms: int) -> dict[str, Any]:
    """The ground truth of one incident, once its readings have been generated."""
    # Temperature kinds stand only where the product really left its range, whatever the
    # scenario: a door left open in a cold night may do no harm, one in the sun does. A
    # breach is always worth a warning; an excursion only where the readings showed it (see
    # `excursion_owed`).
    kinds = [k for k in incident.kinds if k not in TEMP_KINDS]
    stuck = incident.scenario == "sensor_fault" and incident.params.get("mode") == "stuck"
    phys = plan.physics
    if stuck and not shown(
        incident.stuck_run, incident.honest_run, phys.noise_c, phys.resolution_c, plan.interval_s
    ):
        # A run no longer than one the same probe read honestly on this trip, or one an honest
        # probe of its noise reads often enough, is no fault the readings show
        # (`simulators.stuck_truth`); stuck at the value it would have read anyway, the probe
        # even reported the truth throughout.
        kinds = [k for k in kinds if k != FAULT_KIND]
    if incident.breach_ms is not None:
        kinds.append(WARNING_KIND)
        if excursion_owed(incident.longest_read_out_s):
            kinds.append(EXCURSION_KIND)
    end_s = min(incident.t1, plan.horizon_s)
    return {
        "device_id": plan.device_id,
        "shipment_id": plan.shipment_id,
        "scenario": incident.scenario,
        "start": rfc3339(start_ms + round(incident.t0 * 1000)),
        "end": rfc3339(start_ms + round(end_s * 1000)),
        "kinds": kinds,
        "breach_at": None if incident.breach_ms is None else rfc3339(incident.breach_ms),
        "params": {k: v for k, v in incident.params.items() if v is not None},
    }
