"""Detection quality against the simulator's ground truth: recall, precision, delay, lead, false alerts.

For each scenario, simulates a fleet in-process, replays its messages in
arrival order through the live decoder and the detector engine (clock =
arrival time, so silence and the reorder buffer behave as they would live),
and scores the alert events against the labels with `simulators.scoring`, the code
`cargowatch score` runs:
  - recall per expected alert kind: incidents whose kind opened for the device
    between the incident's start (less 5 min) and its end plus a grace period;
  - precision per kind: opened alerts that belong to some incident expecting them;
  - detection delay (open - incident start), median;
  - for temperature incidents, warning lead = breach_at - first temp_breach_predicted
    open (positive: warned before the product left its range), median;
  - false alerts per 1,000 device-hours on a normal fleet.
Targets: recall >= 0.95 for temp_excursion, seal_breach, route_deviation,
unscheduled_stop and silence; median lead >= 15 min on reefer failures;
<= 1 false alert per 1,000 device-hours on normal fleets.

    .venv/bin/python bench/detection.py --devices 40 --hours 48
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors.alerts import AlertEvent
from detectors.profiles import parse_manifest
from detectors.registry import build_engine
from ingest.decode import decode
from simulators import SCENARIOS as SIM_SCENARIOS
from simulators import Fleet, simulate
from simulators.scoring import Exposure, Score, exposure, score
from simulators.scoring_input import alerts_from_events, parse_label

#: Every incident scenario of the catalogue (normal is scored as the false-alert fleet).
SCENARIOS = tuple(n for n in SIM_SCENARIOS if n not in ("normal", "mixed", "malformed_payloads"))
RECALL_TARGETS = ("temp_excursion", "seal_breach", "route_deviation", "unscheduled_stop", "silence")
MIN = 60_000


def replay(fleet: Fleet) -> tuple[list[AlertEvent], Exposure]:
    """Run a fleet through decoder and engine; return the events and the device-hours covered."""
    shipments = parse_manifest(fleet.manifest())
    engine = build_engine(shipments, lateness_ms=30_000)
    events: list[AlertEvent] = []
    next_tick = None
    first = last = None
    for m in fleet.messages():
        now = m.arrival_ms
        first = now if first is None else first
        last = now
        if next_tick is None or now >= next_tick:
            events += engine.advance(now)
            next_tick = now + MIN
        for r in decode(m.topic, m.payload, now).readings:
            events += engine.process(r, now)
    events += engine.flush()
    # Every shipment for the whole span the fleet was heard over, as the false-alert rate
    # has always been counted here.
    trips = [(s.device_id, None, None) for s in shipments]
    return events, exposure([], [], trips, first, last)


def score_fleet(fleet: Fleet, events: list[AlertEvent], hours: Exposure) -> Score:
    """The same scoring `cargowatch score` does, on an in-process replay."""
    labels = [parse_label(lab, f"label {i}") for i, lab in enumerate(fleet.labels())]
    return score(labels, alerts_from_events(events), hours)


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=40)
    parser.add_argument("--hours", type=float, default=48.0)
    parser.add_argument("--normal-devices", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    started = time.perf_counter()
    all_recall: dict[str, list[float]] = defaultdict(list)
    reefer_lead: float | None = None
    reefer_scored = False
    print(
        f"{'scenario':<20} {'expected kinds: recall (incidents)':<52} {'median delay':>12}  other alerts opened"
    )
    for scenario in args.scenarios.split(","):
        fleet = simulate(
            devices=args.devices, scenario=scenario, duration_s=args.hours * 3600, seed=args.seed
        )
        events, hours = replay(fleet)
        s = score_fleet(fleet, events, hours)
        expected = [k for k in s.kinds if k.expected]
        for k in expected:
            assert k.recall is not None
            all_recall[k.kind].append(k.recall)
        recall = (
            ", ".join(f"{k.kind} {k.recall:.2f} ({k.expected})" for k in expected)
            or "(nothing expected)"
        )
        delay = _minutes(s.median_delay_min)
        others = {k.kind: k.opened for k in s.kinds if not k.expected and k.opened}
        print(f"{scenario:<20} {recall:<52} {delay:>12}  {others or ''}")
        if scenario in ("reefer_failure", "power_loss", "heat_wave") and s.lead.breaches:
            print(
                f"{'':<20} warning lead before the breach: median {_minutes(s.lead.median_min)},"
                f" warned ahead in {s.lead.warned_ahead}/{s.lead.breaches}"
            )
            if scenario == "reefer_failure":
                reefer_lead, reefer_scored = s.lead.median_min, True
    fleet = simulate(
        devices=args.normal_devices,
        scenario="normal",
        duration_s=args.hours * 3600,
        seed=args.seed + 1,
    )
    events, hours = replay(fleet)
    normal = score_fleet(fleet, events, hours)
    rate = normal.false_per_1000_device_hours or 0.0
    opened = {k.kind: k.opened for k in normal.kinds if k.opened}
    print(
        f"normal fleet: {normal.false_alerts} alerts in {hours.device_hours:,.0f} device-hours ="
        f" {rate:.2f} per 1,000 device-hours (target <= 1) {opened or ''}"
    )
    print("targets:")
    for kind in RECALL_TARGETS:
        values = all_recall.get(kind)
        if values:
            worst = min(values)
            print(
                f"  recall {kind:<18} worst scenario {worst:.2f} (target >= 0.95): {'met' if worst >= 0.95 else 'NOT met'}"
            )
    if reefer_scored:
        met = reefer_lead is not None and reefer_lead >= 15
        print(
            f"  reefer_failure median warning lead {_minutes(reefer_lead)} (target >= 15): {'met' if met else 'NOT met'}"
        )
    print(
        f"  false alerts {rate:.2f} per 1,000 device-hours (target <= 1): {'met' if rate <= 1 else 'NOT met'}"
    )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
