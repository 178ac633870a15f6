"""Staging incidents on a shipment's draft plan: when each happens and what it changes.

Each scenario has a `place_*` function that picks a start inside the time slot it was given
(never in the shipment's first hour, so detectors have a baseline), checks the situation allows
it (an unscheduled stop needs a moving truck away from authorised stops), records its effects
and returns the `Incident` its label is written from. A function that cannot fit raises
`Unplaceable`, and the planner tries another profile or lane.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.effects import Effects, Failure, Incident, Window
from simulators.motion import Motion, Phase, arrival_s, insert_stop
from simulators.physics import DevicePhysics, Regime, draw_failure
from simulators.profiles import Profile
from simulators.routes import Lane
from simulators.scoring import WARNING_KIND

EXCURSION_KIND = "temp_excursion"
FAULT_KIND = "sensor_fault"
TEMP_KINDS = (WARNING_KIND, EXCURSION_KIND)
#: Time out of range (s) without a break before a `temp_excursion` is reported: the default
#: of the manifest's `excursion_min_duration_min` (docs/manifest.md), which the simulator's
#: manifests leave as it is.
EXCURSION_MIN_S = 300.0
#: Baseline before any incident, and the quiet tail kept before the end of the run.
BASELINE_S = 3600.0
TAIL_S = 900.0
#: An unscheduled stop this long or longer is one a good detector reports.
UNSCHEDULED_STOP_MIN_S = 600.0


def excursion_owed(longest_read_out_s: float) -> bool:
    """Whether readings out of range this long, first to last, must raise `temp_excursion`.

    The alert is defined by the readings, not the product: out of range without a break for
    `EXCURSION_MIN_S`. A product that left its range by less than its probe resolves, or
    for less time than readings show, owes a breach warning but no excursion.

    >>> excursion_owed(299.0), excursion_owed(300.0)
    (False, True)
    """
    return longest_read_out_s >= EXCURSION_MIN_S


class Unplaceable(Exception):
    """The incident does not fit this shipment (too short a run, no road, no room)."""


@dataclass
class Draft:
    """A shipment's plan while incidents are being placed on it."""

    profile: Profile
    lane: Lane
    phases: list[Phase]
    departure_s: float
    horizon_s: float
    max_gap_min: float
    effects: Effects
    rng: np.random.Generator
    physics: DevicePhysics
    regime: Regime

    def slot(self, index: int, count: int) -> Window:
        """The share of the run the ``index``-th of ``count`` composed incidents may use."""
        lo = max(self.departure_s, 0.0) + BASELINE_S
        hi = self.horizon_s - TAIL_S
        step = (hi - lo) / count
        return lo + index * step, lo + (index + 1) * step


def _intersect(a: list[Window], b: list[Window]) -> list[Window]:
    out = [(max(x0, y0), min(x1, y1)) for x0, x1 in a for y0, y1 in b]
    return [(x, y) for x, y in out if y >= x]


def _subtract(a: list[Window], cut: list[Window]) -> list[Window]:
    for c0, c1 in cut:
        nxt: list[Window] = []
        for x0, x1 in a:
            if c1 <= x0 or c0 >= x1:
                nxt.append((x0, x1))
                continue
            if c0 > x0:
                nxt.append((x0, c0))
            if c1 < x1:
                nxt.append((c1, x1))
        a = nxt
    return a


def _start(
    d: Draft,
    slot: Window,
    length: float,
    params: dict[str, Any],
    spans: list[Window] | None = None,
    whole: bool = False,
    check: Callable[[float], bool] | None = None,
) -> float:
    """A start time for an incident ``length`` seconds long, honouring ``start_min`` if given."""
    allowed = [(slot[0], slot[1] - length)] if slot[1] - length >= slot[0] else []
    if spans is not None:
        allowed = _intersect(allowed, [(a, b - length) if whole else (a, b) for a, b in spans])
    allowed = _subtract(allowed, [(f0 - length, f1) for f0, f1 in d.effects.flights])
    if params.get("start_min") is not None:
        t0 = float(params["start_min"]) * 60.0
        fits = any(a - 1e-6 <= t0 <= b + 1e-6 for a, b in allowed)
        if fits and (check is None or check(t0)):
            return t0
        raise Unplaceable(f"start_min={params['start_min']} does not fit this shipment")
    total = sum(b - a for a, b in allowed)
    if not allowed:
        raise Unplaceable("no room in the run")
    for _ in range(40):
        x = d.rng.uniform(0.0, total)
        for a, b in allowed:
            if x <= b - a:
                t0 = a + x
                break
            x -= b - a
        else:
            t0 = allowed[-1][1]
        # Whole seconds keep labels readable; the window is seconds wide, so t0 stays inside.
        t0 = float(min(max(round(t0), math.ceil(allowed[0][0])), allowed[-1][1]))
        if check is None or check(t0):
            return t0
    raise Unplaceable("no suitable moment found")


def _minutes(params: dict[str, Any], key: str = "duration_min") -> float:
    return float(params[key]) * 60.0


def _away_from_stops(d: Draft, margin_m: float = 3000.0) -> Callable[[float], bool]:
    motion = Motion(d.phases)

    def check(t0: float) -> bool:
        dist, _ = motion.at(np.array([t0]))
        return all(abs(float(dist[0]) - s.d_m) > s.radius_m + margin_m for s in d.lane.stops)

    return check


def _road(d: Draft) -> list[Window]:
    return Motion(d.phases).moving_windows(road_only=True)


def place_reefer_failure(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    prof, phys = d.profile, d.physics
    assert prof.temp_range_c is not None and prof.setpoint_c is not None
    p = draw_failure(d.regime, prof, d.rng, p)
    headroom = prof.temp_range_c[1] - prof.setpoint_c
    shape = str(p["shape"])
    # Time for the air to pass the limit plus the product's lag, with some room to spare.
    if shape == "linear":
        need = (headroom / float(p["rise_c_per_h"]) + 0.5) * 3600.0
    elif shape == "exponential":
        need = float(p["approach_tau_h"]) * 3600.0
    elif shape == "cycling":
        need = float(p["cycle_degrade_h"]) * 3600.0 + 0.5 * phys.tau_box_s
    else:
        need = float(p["ramp_min"]) * 60.0 + phys.tau_product_s
    need += phys.tau_product_s * 1.2
    if p.get("duration_min") is not None:
        length = _minutes(p)
        t0 = _start(d, slot, max(length, need), p)
        t1 = t0 + length
    else:
        t0 = _start(d, slot, need, p)
        t1 = slot[1]
    d.effects.failure.append(
        Failure(
            t0,
            t1,
            shape,
            rate_c_per_h=float(p.get("rise_c_per_h") or 0.0),
            tau_s=float(p.get("approach_tau_h") or 0.0) * 3600.0,
            settles_c=float(p.get("settles_c") or 0.0),
            ramp_s=float(p.get("ramp_min") or 0.0) * 60.0,
        )
    )
    if shape == "cycling":
        d.effects.compressor_off.extend(
            _cycling(t0, t1, float(p["cycle_period_min"]) * 60, float(p["cycle_degrade_h"]) * 3600)
        )
    return Incident("reefer_failure", t0, t1, p, TEMP_KINDS)


def _cycling(t0: float, t1: float, period_s: float, degrade_s: float) -> list[Window]:
    """Compressor-off spells: a fifth of each cycle at first, the whole cycle after degrade_s."""
    spells: list[Window] = []
    t = t0
    while t < t1:
        share = min(1.0, 0.2 + 0.8 * (t - t0) / degrade_s)
        if share >= 1.0:
            spells.append((t, t1))
            break
        spells.append((t + (1.0 - share) * period_s, min(t + period_s, t1)))
        t += period_s
    return spells


def place_power_loss(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    t0 = _start(d, slot, _minutes(p), p)
    d.effects.power_off.append((t0, t0 + _minutes(p)))
    return Incident("power_loss", t0, t0 + _minutes(p), p, TEMP_KINDS)


def place_door_left_open(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    # The whole window on the road between two stops: a door open at a stop would be normal.
    t0 = _start(d, slot, _minutes(p), p, spans=_road(d), whole=True, check=_away_from_stops(d))
    d.effects.door.append((t0, t0 + _minutes(p)))
    return Incident("door_left_open", t0, t0 + _minutes(p), p, ("door_open",))


def place_heat_wave(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    band = d.profile.temp_range_c
    if band is not None:
        # A unit drawn stronger than its profile would hold the given peak: the wave that puts
        # this shipment at risk is hotter, and the label says how hot it was.
        hottest = round(d.physics.cool_capacity_c + band[1] + 3.0, 1)
        p = {**p, "peak_c": max(float(p["peak_c"]), hottest)}
    ramp = _minutes(p, "ramp_min")
    length = _minutes(p) + 2 * ramp
    t0 = _start(d, slot, length, p)
    d.effects.heat.append((t0, t0 + length, float(p["peak_c"]), ramp))
    return Incident("heat_wave", t0, t0 + length, p, TEMP_KINDS)


def _stop_incident(d: Draft, slot: Window, p: dict[str, Any]) -> tuple[float, float]:
    length = _minutes(p)
    t0 = _start(d, slot, length, p, spans=_road(d), check=_away_from_stops(d))
    d.phases = insert_stop(d.phases, t0, length, park_m=float(d.rng.uniform(15.0, 40.0)))
    return t0, t0 + length


def place_seal_tamper(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    t0, t1 = _stop_incident(d, slot, p)
    a = t0 + min(120.0, (t1 - t0) / 4)
    b = t1 - min(120.0, (t1 - t0) / 4)
    d.effects.door.append((a, b))
    if p["forced"]:
        d.effects.seal_tampered.append((a, math.inf))
    else:
        d.effects.seal_open.append((a, b))
    kinds: tuple[str, ...] = ("seal_breach",)
    if t1 - t0 >= UNSCHEDULED_STOP_MIN_S:
        kinds += ("unscheduled_stop",)
    return Incident("seal_tamper", t0, t1, p, kinds)


def place_tamper_out_of_coverage(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    """A seal opened at a stop while the tracker is out of coverage, the stop and a margin
    either side in the gap: its stored readings, the only ones that show the seal open, are
    uploaded `delay_min` after it ends, behind the newer readings sent live by then."""
    tamper = place_seal_tamper(d, slot, p)
    # The stop's positions arrive late too: no stop is judged live, but the upload shows it, so
    # a stop long enough is due as for a tamper in coverage.
    return _out_of_coverage(d, tamper, "tamper_out_of_coverage", p)


def _out_of_coverage(d: Draft, inc: Incident, scenario: str, p: dict[str, Any]) -> Incident:
    """`inc` staged inside a coverage gap (`margin_min` either side), its readings uploaded
    `delay_min` after the gap ends: the same incident, ending at the upload."""
    margin = _minutes(p, "margin_min")
    g0, g1 = max(0.0, inc.t0 - margin), inc.t1 + margin
    upload = g1 + _minutes(p, "delay_min")
    d.effects.gaps.append((g0, g1, upload))
    return Incident(scenario, inc.t0, upload, p, inc.kinds)


def place_unscheduled_stop(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    t0, t1 = _stop_incident(d, slot, p)
    kinds = ("unscheduled_stop",) if t1 - t0 >= UNSCHEDULED_STOP_MIN_S else ()
    return Incident("unscheduled_stop", t0, t1, p, kinds)


def place_route_deviation(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    length = _minutes(p)
    t0 = _start(d, slot, length, p, spans=_road(d), whole=True)
    side = 1.0 if d.rng.uniform() < 0.5 else -1.0
    offset = side * float(p["offset_km"]) * 1000.0
    d.effects.deviation.append((t0, t0 + length, offset, min(_minutes(p, "ramp_min"), length / 3)))
    kinds = ("route_deviation",) if abs(offset) > d.lane.spec.corridor_m else ()
    return Incident("route_deviation", t0, t0 + length, p, kinds)


def place_detour_out_of_coverage(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    """A detour off the route while the tracker is out of coverage, the detour and a margin
    either side in the gap: only its stored readings, uploaded `delay_min` after the gap ends
    behind the newer live ones, show the truck off its route."""
    return _out_of_coverage(d, place_route_deviation(d, slot, p), "detour_out_of_coverage", p)


def place_tracker_silence(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    # Mid-trip: a tracker quiet at its destination after arrival is expected to be, so a
    # silence staged there would label as an incident what no detector should raise.
    trip = [(d.departure_s, arrival_s(d.phases))]
    t0 = _start(d, slot, _minutes(p), p, spans=trip, whole=True)
    d.effects.silence.append((t0, t0 + _minutes(p)))
    kinds = ("silence",) if float(p["duration_min"]) > d.max_gap_min else ()
    return Incident("tracker_silence", t0, t0 + _minutes(p), p, kinds)


def place_gps_jamming(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    p = {**p, "mode": p["mode"] or str(d.rng.choice(["no_fix", "frozen"]))}
    t0 = _start(d, slot, _minutes(p), p)
    target = d.effects.no_fix if p["mode"] == "no_fix" else d.effects.frozen_fix
    target.append((t0, t0 + _minutes(p)))
    return Incident("gps_jamming", t0, t0 + _minutes(p), p, ("gps_lost",))


def place_gps_spoofing(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    length = _minutes(p)
    t0 = _start(d, slot, length, p)
    jumps: list[tuple[float, float, float]] = []
    t = t0
    while t < t0 + length:
        km = d.rng.uniform(float(p["jump_km_min"]), float(p["jump_km_max"]))
        bearing = d.rng.uniform(0.0, 2 * math.pi)
        jumps.append((t, km * 1000.0 * math.sin(bearing), km * 1000.0 * math.cos(bearing)))
        t += d.rng.uniform(5.0, 15.0) * 60.0
    d.effects.spoof.append((t0, t0 + length, jumps))
    return Incident("gps_spoofing", t0, t0 + length, p, ("gps_implausible",))


def place_sensor_fault(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    p = {**p, "mode": p["mode"] or str(d.rng.choice(["stuck", "spikes"]))}
    t0 = _start(d, slot, _minutes(p), p)
    if p["mode"] == "stuck":
        d.effects.stuck.append((t0, t0 + _minutes(p)))
    else:
        d.effects.spikes.append((t0, t0 + _minutes(p), float(p["spike_share"])))
    return Incident("sensor_fault", t0, t0 + _minutes(p), p, (FAULT_KIND,))


def place_battery_depletion(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    t0 = _start(d, slot, _minutes(p), p)
    d.effects.drain.append((t0, t0 + _minutes(p), float(p["end_v"])))
    # A drained battery stays low: the condition lasts to the end of the run.
    return Incident("battery_depletion", t0, d.horizon_s, p, ("battery_low",))


def place_late_upload(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    gap, delay = _minutes(p, "gap_min"), _minutes(p, "delay_min")
    t0 = _start(d, slot, gap + delay, p)
    d.effects.gaps.append((t0, t0 + gap, t0 + gap + delay))
    return Incident("late_upload", t0, t0 + gap + delay, p, ())


def place_duplicate_delivery(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    t0 = _start(d, slot, _minutes(p), p)
    t1 = t0 + _minutes(p)
    d.effects.duplicates.append((t0, t1, float(p["share"]), float(p["max_delay_s"])))
    return Incident("duplicate_delivery", t0, t1, p, ())


def place_malformed_payloads(d: Draft, slot: Window, p: dict[str, Any]) -> Incident:
    t0 = _start(d, slot, _minutes(p), p)
    t1 = t0 + _minutes(p)
    reasons = [r for r in str(p["reasons"]).split(",") if r]
    times = np.sort(d.rng.uniform(t0, t1, int(p["count"])))
    d.effects.malformed.extend(
        (float(t), reasons[i % len(reasons)]) for i, t in enumerate(times.tolist())
    )
    return Incident("malformed_payloads", t0, t1, p, ())
