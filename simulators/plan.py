"""Planning one shipment: profile, lane, schedule, normal events and its staged incidents.

A plan is everything about a shipment that is decided before any reading is made: where it
goes and when, when its doors and seals open at authorised stops, when the reefer defrosts,
where coverage drops, and which incidents happen when. It depends only on the fleet's seed,
the device's index and the run's settings, never on how devices are split across workers, so
device i behaves the same in every run with the same seed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from simulators.effects import Effects, Incident, Window, overlaps
from simulators.incidents import Draft, Unplaceable
from simulators.motion import MOVING, Motion, Phase, arrival_s, build_schedule
from simulators.physics import REGIMES, DevicePhysics
from simulators.physics import draw as draw_physics
from simulators.profiles import PROFILES, Profile
from simulators.routes import LANES, Lane
from simulators.routine import add_routine_stops
from simulators.scenarios import SCENARIOS, mixed_pool, profile_allows
from simulators.thermal import Weather

#: Domain tags mixed into seeds so each use of randomness has a stream of its own.
_ORDER, _SWAP, _PLAN, GENERATE, _PHYSICS, _STATIC_HOLD, _AIR_PROBE = 5, 7, 11, 13, 17, 19, 23
_ROUTINE = 29
#: The share of trackers whose GPS receiver has static hold: it pins its fix while the vehicle
#: stands still. Their manifest declares it (`gps_static_hold`), as an operator who knows the
#: hardware would.
STATIC_HOLD_SHARE = 0.15
DEFAULT_MAX_GAP_MIN = 30


class PlanError(ValueError):
    """The run's settings leave a shipment no way to have the incidents asked for."""


@dataclass(frozen=True)
class FleetConfig:
    devices: int
    start_ms: int
    duration_s: float
    seed: int
    scenarios: tuple[str, ...]
    params: dict[str, dict[str, object]]
    profiles: tuple[str, ...] | None = None
    lanes: tuple[str, ...] | None = None
    #: The regime device physics is drawn from (`simulators.physics.REGIMES`).
    physics: str = "dev"
    #: The share of cooled shipments whose probe reads the box's air, not the product
    #: (`--air-probes`); their manifest declares it (`"probe": "air"`).
    air_probes: float = 0.0
    #: The share of trucks with a road leg that make routine stops (`--routine-stops`): rests
    #: at service areas, traffic jams, border queues (`simulators.routine`); undeclared.
    routine_stops: float = 0.0


@dataclass
class DevicePlan:
    index: int
    device_id: str
    shipment_id: str
    profile: Profile
    lane: Lane
    departure_s: float
    arrival_s: float
    horizon_s: float
    interval_s: float
    max_gap_min: int
    motion: Motion
    effects: Effects
    incidents: list[Incident]
    seal_id: str | None
    battery_v0: float
    battery_drain_v_per_h: float
    weather: Weather
    #: Sideways wander of a ship or aircraft about its lane, in metres.
    wander: Weather
    humidity: Weather
    seed: tuple[int, ...]
    physics: DevicePhysics
    #: The receiver pins its fix while standing still (static hold).
    static_hold: bool = False
    #: The temperature probe reads the box's air, which the product follows slowly.
    air_probe: bool = False


def plan_device(cfg: FleetConfig, index: int, wanted: list[str]) -> DevicePlan:
    """Plan device ``index`` with the incidents ``wanted``, trying profiles and lanes in turn.

    In a ``mixed`` fleet an incident that fits no shipment of this run (too short a run for a
    heat wave, say) is swapped for another from the pool, so the share of shipments with an
    incident holds; elsewhere it is an error that names what did not fit.
    """
    plan = _first_fit(cfg, index, wanted)
    if plan is not None:
        return plan
    if cfg.scenarios == ("mixed",):
        pool = [n for n in mixed_pool(cfg.params["mixed"]) if n not in wanted]
        order = np.random.default_rng([cfg.seed, _SWAP, index]).permutation(len(pool))
        for k in order.tolist():
            plan = _first_fit(cfg, index, [pool[k]])
            if plan is not None:
                return plan
        return plan_device(cfg, index, [])
    hours = cfg.duration_s / 3600
    raise PlanError(
        f"no profile and lane can stage {'+'.join(wanted) or 'normal'} in a {hours:g} h run"
        " (incidents start after the first hour; try a longer --duration or other parameters)"
    )


def _first_fit(cfg: FleetConfig, index: int, wanted: list[str]) -> DevicePlan | None:
    candidates = [
        (profile, LANES[lane])
        for profile in PROFILES.values()
        if (cfg.profiles is None or profile.name in cfg.profiles)
        and profile_allows(profile, wanted, cfg.params)
        for lane in profile.lanes
        if (cfg.lanes is None or lane in cfg.lanes)
        and (LANES[lane].has_road() or not any(SCENARIOS[n].road for n in wanted))
    ]
    rng = np.random.default_rng([cfg.seed, _ORDER, index])
    # Weighted order without replacement: a key of u ** (1 / weight) per candidate.
    keys = [
        rng.uniform() ** (len(p.lanes) / p.weight) if p.weight > 0 else 0.0 for p, _ in candidates
    ]
    ordered = [c for _, c in sorted(zip(keys, candidates, strict=True), key=lambda x: -x[0])]
    for attempt, (profile, lane) in enumerate(ordered):
        try:
            return _build(cfg, index, profile, lane, wanted, attempt)
        except Unplaceable:
            continue
    return None


def _build(
    cfg: FleetConfig, index: int, profile: Profile, lane: Lane, wanted: list[str], attempt: int
) -> DevicePlan:
    rng = np.random.default_rng([cfg.seed, _PLAN, index, attempt])
    horizon = cfg.duration_s
    departure = float(round(rng.uniform(0.0, min(900.0, 0.05 * horizon))))
    # Physics has a stream of its own, so drawing it never moves the plan's other draws.
    regime = REGIMES[cfg.physics]
    climate = (float(lane.ambient_mean_c.min()), float(lane.ambient_mean_c.max()))
    step_window = (departure + 2 * 3600.0, horizon - 2 * 3600.0)
    phys = draw_physics(
        profile,
        regime,
        np.random.default_rng([cfg.seed, _PHYSICS, index, attempt]),
        climate,
        lane.spec.diurnal_c,
        step_window,
    )
    phases = build_schedule(lane, departure, float(rng.uniform(0.85, 1.1)), rng)
    # Routine stops go in before any incident is placed, so incidents land on the schedule the
    # truck really drives and the planned arrival allows for them. Their stream is their own
    # and is not touched without a share: a fleet without them is the fleet it always was.
    if cfg.routine_stops > 0 and lane.has_road():
        routine = np.random.default_rng([cfg.seed, _ROUTINE, index, attempt])
        if float(routine.uniform()) < cfg.routine_stops:
            phases = add_routine_stops(phases, lane, regime, routine)
    planned_arrival = arrival_s(phases)
    effects = Effects(flights=_flights(phases))
    longest = max((b - a for a, b in effects.flights), default=0.0)
    # A coverage gap (up to 20 min) plus an interval either side must not read as silence.
    max_gap = max(DEFAULT_MAX_GAP_MIN, math.ceil(2 * phys.interval_s / 60 + 25))
    if longest:
        max_gap = max(max_gap, math.ceil(longest / 60 + 60))
    draft = Draft(profile, lane, phases, departure, horizon, max_gap, effects, rng, phys, regime)
    incidents: list[Incident] = []
    for j, name in enumerate(wanted):
        slot = draft.slot(j, len(wanted))
        if slot[1] <= slot[0]:
            raise Unplaceable("run too short")
        place = SCENARIOS[name].place
        assert place is not None
        incidents.append(place(draft, slot, dict(cfg.params[name])))
        effects.flights = _flights(draft.phases)
    for a, b in itertools.pairwise(incidents):
        a.search_until = b.t0
    motion = Motion(draft.phases)
    _stop_events(draft, motion)
    for f0, f1 in effects.flights:
        # On landing the tracker leaves flight mode and uploads what it logged in the air.
        # A landing after the run's end uploads nothing within it.
        upload = min(f1 + float(rng.uniform(120.0, 300.0)), max(f1, horizon))
        effects.gaps.append((f0, f1, upload))
    _coverage_gaps(draft, incidents)
    if profile.cooling == "reefer":
        period = profile.defrost_every_h * 3600.0
        t = departure + float(rng.uniform(0.0, period))
        while t < horizon:
            effects.defrost.append((t, t + profile.defrost_min * 60.0))
            t += period * float(rng.uniform(0.9, 1.1))
    # A stream of its own, so the draw moves no other. Never on a tracker whose incident
    # freezes its fix: declared static hold, that frozen fix would be no fault to report.
    static_hold = (
        float(np.random.default_rng([cfg.seed, _STATIC_HOLD, index, attempt]).uniform())
        < STATIC_HOLD_SHARE
        and not effects.frozen_fix
    )
    # Its own stream too: a fleet with air probes differs from one without only in them.
    air_probe = (
        cfg.air_probes > 0
        and profile.temp_range_c is not None
        and profile.cooling != "none"
        and float(np.random.default_rng([cfg.seed, _AIR_PROBE, index, attempt]).uniform())
        < cfg.air_probes
    )
    wander_m = 0.12 * lane.spec.corridor_m if lane.spec.mode != "road" else 0.0
    wander = Weather.draw(rng, wander_m)
    wander = Weather(wander.amplitude_c, tuple(p / 4 for p in wander.period_s), wander.phase)
    return DevicePlan(
        index=index,
        device_id=f"trk-{index + 1:05d}",
        shipment_id=f"SHP-{index + 1:05d}",
        profile=profile,
        lane=lane,
        departure_s=departure,
        arrival_s=planned_arrival,
        horizon_s=horizon,
        interval_s=phys.interval_s,
        max_gap_min=max_gap,
        motion=motion,
        effects=effects,
        incidents=incidents,
        seal_id=f"ES-{int(rng.integers(100_000, 1_000_000))}" if profile.seal else None,
        battery_v0=float(rng.uniform(3.95, 4.15)),
        battery_drain_v_per_h=float(rng.uniform(0.0003, 0.0006)),
        weather=Weather.draw(rng),
        wander=wander,
        humidity=Weather.draw(rng, 3.0),
        seed=(cfg.seed, GENERATE, index),
        physics=phys,
        static_hold=static_hold,
        air_probe=air_probe,
    )


def _flights(phases: list[Phase]) -> list[Window]:
    spans: list[Window] = []
    for p in phases:
        if p.stop == MOVING and p.mode == "air":
            if spans and abs(spans[-1][1] - p.t0) < 1e-6:
                spans[-1] = (spans[-1][0], p.t1)
            else:
                spans.append((p.t0, p.t1))
    return spans


def _stop_events(d: Draft, motion: Motion) -> None:
    """Doors and seals open at authorised stops: loading, inspections, unloading."""
    if not d.profile.door:
        return
    rng, eff, last = d.rng, d.effects, len(d.lane.stops) - 1
    for phase in motion.dwells():
        if phase.t0 >= d.horizon_s:
            break
        kind = d.lane.stops[phase.stop].kind
        minute = 60.0
        # Sealed cargo is checked at length; a reefer's door is opened as briefly as possible.
        brief = 1.0 if d.profile.seal else 0.6
        if phase.stop == 0:
            a = phase.t0 + rng.uniform(1, 5) * minute
            b = min(a + rng.uniform(10, 25) * brief * minute, phase.t1 - 3 * minute)
            eff.door.append((a, b))
            if d.profile.seal:
                eff.seal_open.append((phase.t0, min(b + rng.uniform(1, 3) * minute, phase.t1)))
        elif phase.stop == last:
            a = phase.t0 + rng.uniform(5, 15) * minute
            # Sealed cargo is unloaded through the door; a reefer's load is only checked here.
            eff.door.append(
                (a, a + rng.uniform(30, 60) * (1.0 if d.profile.seal else 0.25) * minute)
            )
            if d.profile.seal:
                eff.seal_open.append((a, math.inf))
        elif (d.profile.seal and kind == "border") or (not d.profile.seal and kind == "depot"):
            chance = 0.5 if d.profile.seal else 0.3
            length = rng.uniform(15, 40) * minute if d.profile.seal else rng.uniform(5, 12) * minute
            room = phase.t1 - phase.t0 - length - 10 * minute
            if rng.uniform() < chance and room > 0:
                a = phase.t0 + 5 * minute + rng.uniform(0, room)
                eff.door.append((a, a + length))
                if d.profile.seal:
                    eff.seal_open.append((a, a + length))


def _coverage_gaps(d: Draft, incidents: list[Incident]) -> None:
    """Short spells without coverage; stored readings go up as one array on reconnection."""
    rng, eff = d.rng, d.effects
    busy = eff.busy() + [(i.t0, i.t1) for i in incidents]
    t = d.departure_s + 1800.0
    while True:
        t += float(rng.exponential(6 * 3600.0))
        length = float(rng.uniform(5, 20)) * 60.0
        upload = t + length + float(rng.uniform(5, 90))
        if upload > d.horizon_s - 600.0:
            return
        if not overlaps((t, upload), busy, margin=300.0):
            eff.gaps.append((t, t + length, upload))
            busy.append((t, upload))
