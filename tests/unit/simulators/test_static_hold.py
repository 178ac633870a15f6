"""Static-hold receivers in simulated fleets: a share pin their fix while standing still.

Real trackers often have a receiver with static hold, which repeats its fix bit for bit while
the vehicle stands still. A share of simulated trackers do too, and their manifest declares it
(`gps_static_hold`), so the fleets exercise that path of `gps_lost` and of the stop alerts;
a tracker whose incident freezes its fix (GPS jamming) never has it.
"""

import dataclasses

from simruns import run_of

from detectors.profiles import parse_manifest
from simulators import simulate
from simulators.fleet_replay import replay_fleet
from simulators.motion import MOVING
from simulators.plan import STATIC_HOLD_SHARE


def test_a_share_of_trackers_pin_their_fix_at_every_stop_and_their_manifest_says_so():
    run = run_of("normal", devices=60, hours=12)
    plans = {p.device_id: p for p in run.fleet.plans}
    held = {d for d, p in plans.items() if p.static_hold}
    # 60 draws at 15 %: 9 expected; between 3 and 18 holds with odds far beyond a billion to one.
    assert 3 <= len(held) <= 18, (len(held), STATIC_HOLD_SHARE)
    assert {d for d, s in run.shipments.items() if s.get("gps_static_hold")} == held
    assert all("gps_static_hold" not in s for d, s in run.shipments.items() if d not in held)
    pinned_stops = 0
    for device, plan in plans.items():
        fixes = [r for r in run.readings[device] if r.lat is not None]
        rel_s = [(r.ts_ms - run.start_ms) / 1000 for r in fixes]
        _, phases = plan.motion.at(rel_s)
        stops: dict[int, list[tuple[float, float]]] = {}
        for r, phase in zip(fixes, phases.tolist(), strict=True):
            if plan.motion.stop[phase] != MOVING:
                stops.setdefault(phase, []).append((r.lat, r.lon))
        for positions in stops.values():
            if device in held:
                assert len(set(positions)) == 1, "a static-hold receiver repeats the stop's fix"
                pinned_stops += len(positions) > 2
            elif len(positions) > 2:
                assert len(set(positions)) > 1, "a live receiver's noise moves its fixes"
    assert pinned_stops > 0, "the held trackers stood still somewhere"


def test_a_tracker_whose_jamming_freezes_its_fix_never_has_static_hold():
    fleet = simulate(
        devices=80,
        scenario="gps_jamming",
        duration_s=12 * 3600,
        seed=4,
        params={"gps_jamming.mode": "frozen"},
    )
    assert all(p.effects.frozen_fix and not p.static_hold for p in fleet.plans)


def test_a_normal_fleet_with_declared_static_hold_raises_no_gps_lost_and_undeclared_would():
    fleet = simulate(devices=40, scenario="normal", duration_s=24 * 3600, seed=6)
    held = [p for p in fleet.plans if p.static_hold]
    assert held
    declared = parse_manifest(fleet.manifest())
    events = replay_fleet(fleet, declared).events
    assert not [e for e in events if e.kind == "gps_lost"]
    undeclared = [dataclasses.replace(s, gps_static_hold=False) for s in declared]
    lost = {e.device_id for e in replay_fleet(fleet, undeclared).events if e.kind == "gps_lost"}
    assert lost and lost <= {p.device_id for p in held}
