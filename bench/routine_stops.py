"""Routine stops: what roadside places change, on fleets whose trucks rest, queue and sit in jams.

Simulates road trucks that stop as trucks do (`simulate(routine_stops=1.0)`: rests and fuel
stops at their lane's service areas, which no manifest lists, standstills in traffic jams and
queues before border posts) and replays them through the decoder and the engine as
`bench/detection.py` does, three ways:
  - without roadside places (a record that never reaches its trackers), as before they were
    learnt: every stop of `unscheduled_stop_min` away from authorised places is reported;
  - learning from the fleet itself, from an empty record (an engine's first days);
  - after an earlier fleet's trips: as many other trucks' trips of the same length on the same
    lanes a week earlier, replayed first into the same record (an engine that has watched its
    corridors before).
For each it prints the normal fleet's `unscheduled_stop` alerts per 1,000 device-hours of its
shipments with a stop detector (every one is false there: no incident is staged), with its
95 % interval, which routine stops they were (a rest at a service area, a queue before a
border post, a jam: from the simulator's own schedule), and every other kind opened; then, on a fleet with a staged unscheduled stop
per truck (the `unscheduled_stop` scenario, routine stops on, after the same warm-up), the
labelled stops caught, which a roadside place must not hide. Development seeds by default;
``--holdout`` runs the held-out seeds and physics, whose routine stops are drawn from other
ranges, and which no setting was chosen on.

    .venv/bin/python bench/routine_stops.py [--seed 11] [--holdout] [--devices 200] [--hours 48]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from detection import score_fleet

from detectors.alerts import AlertEvent
from detectors.profiles import parse_manifest
from detectors.roadside_places import RoadsidePlaces
from detectors.unscheduled_stop import make_unscheduled_stop
from simulators import Fleet, simulate
from simulators.fleet import DEFAULT_START
from simulators.fleet_replay import replay_fleet
from simulators.motion import UNAUTHORISED
from simulators.physics import HOLDOUT_SEED_MIN
from simulators.routine import service_places
from simulators.scoring import rate_interval
from simulators.timeutil import parse_instant_ms

KIND = "unscheduled_stop"
WEEK_MS = 7 * 86_400_000
#: A warm-up fleet's seed is the run's plus this (each side of the split keeps its own).
WARMUP_OFFSET = 500


def _never() -> RoadsidePlaces:
    """A record no place is ever known in: every stop judged as before places were learnt."""
    return RoadsidePlaces(least_trackers=sys.maxsize)


def _fleet(
    args: argparse.Namespace, seed: int, physics: str, scenario: str, devices: int, start: int
) -> Fleet:
    return simulate(
        devices=devices,
        scenario=scenario,
        duration_s=args.hours * 3600,
        seed=seed,
        start=start,
        physics=physics,
        routine_stops=1.0,
    )


def _normal(fleet: Fleet, places: RoadsidePlaces, label: str) -> None:
    """Replay the normal fleet with `places`; print its false stops and other alerts."""
    shipments = parse_manifest(fleet.manifest())
    run = replay_fleet(fleet, shipments, places=places)
    # The detector's own rule says which shipments it watches (a route, or departure and
    # arrival); each shipment is heard for the same span.
    watched = sum(1 for s in shipments if make_unscheduled_stop(s) is not None)
    exposure = run.exposure(shipments)
    hours = exposure.device_hours / max(len(shipments), 1) * watched
    s = score_fleet(fleet, run.events, exposure)
    opened = {k.kind: k.opened for k in s.kinds if k.opened}
    stops = opened.pop(KIND, 0)
    low, high = rate_interval(stops, hours)
    rate = 1000 * stops / hours if hours else 0.0
    print(
        f"  {label:<34} {KIND} {stops:>4} = {rate:6.2f} per 1,000 device-hours"
        f" ({low:.2f}-{high:.2f}) {dict(_which(fleet, run.events))}; other kinds {opened or '{}'}"
    )


def _which(fleet: Fleet, events: list[AlertEvent]) -> Counter[str]:
    """Which routine stop each stop alert opened in: the schedule's unauthorised stop under way
    at the alert's `since`, a rest where it stands at a service area, a queue where a border
    post is less than 4.5 km on, else a jam."""
    plans = {p.device_id: p for p in fleet.plans}
    found: Counter[str] = Counter()
    for e in events:
        if e.kind != KIND or e.event != "open":
            continue
        plan = plans[e.device_id]
        since_s = (parse_instant_ms(e.evidence["since"]) - fleet.start_ms) / 1000
        # The anchor is the first fix at the stop, up to a reporting interval after it began.
        stop = next(
            (
                p
                for p in plan.motion.phases
                if p.stop == UNAUTHORISED and p.t0 - plan.interval_s <= since_s <= p.t1
            ),
            None,
        )
        if stop is None:
            found["other"] += 1
        elif any(abs(s.d_m - stop.d0) < 50.0 for s in service_places(plan.lane)):
            found["rest"] += 1
        elif any(s.kind == "border" and 0 < s.d_m - stop.d0 < 4500.0 for s in plan.lane.stops):
            found["queue"] += 1
        else:
            found["jam"] += 1
    return found


def _incidents(fleet: Fleet, places: RoadsidePlaces, label: str) -> None:
    """Replay the fleet with staged stops; print the labelled stops caught."""
    shipments = parse_manifest(fleet.manifest())
    run = replay_fleet(fleet, shipments, places=places)
    s = score_fleet(fleet, run.events, run.exposure(shipments))
    [k] = [k for k in s.kinds if k.kind == KIND]
    roadside = sum(
        1
        for e in run.events
        if e.kind == KIND and e.event == "open" and "roadside_trackers" in e.evidence
    )
    others = {k.kind: k.opened for k in s.kinds if k.kind != KIND and k.opened}
    print(
        f"  {label:<34} labelled stops caught {k.detected} of {k.expected};"
        f" {KIND} opened {k.opened} ({roadside} at roadside places); other kinds {others}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--incident-devices", type=int, default=40)
    parser.add_argument("--hours", type=float, default=48.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--holdout",
        action="store_true",
        help=f"held-out seeds ({HOLDOUT_SEED_MIN:,} + --seed) and the held-out physics",
    )
    args = parser.parse_args()
    if not 0 <= args.seed < HOLDOUT_SEED_MIN - WARMUP_OFFSET - 2:
        parser.error(f"--seed must be between 0 and {HOLDOUT_SEED_MIN - WARMUP_OFFSET - 3:,}")
    physics = "holdout" if args.holdout else "dev"
    seed = HOLDOUT_SEED_MIN + args.seed if args.holdout else args.seed
    start = parse_instant_ms(DEFAULT_START)
    warm_seed = seed + WARMUP_OFFSET
    print(
        f"{physics} physics, seed {seed:,}: {args.devices} trucks' normal trips with routine"
        f" stops, {args.hours:g} h (warm-up: seed {warm_seed:,}, {args.devices} trucks, a week"
        " earlier)"
    )
    started = time.perf_counter()

    def warmed() -> RoadsidePlaces:
        places = RoadsidePlaces()
        warm = _fleet(args, warm_seed, physics, "normal", args.devices, start - WEEK_MS)
        replay_fleet(warm, parse_manifest(warm.manifest()), places=places)
        return places

    normal = _fleet(args, seed + 1, physics, "normal", args.devices, start)
    print("normal trips:")
    _normal(normal, _never(), "without roadside places")
    _normal(normal, RoadsidePlaces(), "learning from this fleet alone")
    _normal(normal, warmed(), "after an earlier fleet's trips")
    staged = _fleet(args, seed, physics, KIND, args.incident_devices, start)
    print("a staged unscheduled stop per truck:")
    _incidents(staged, _never(), "without roadside places")
    _incidents(staged, warmed(), "after an earlier fleet's trips")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
