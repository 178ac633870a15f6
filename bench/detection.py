"""Detection quality against the simulator's ground truth: recall, precision, delay, lead, false alerts.

For each scenario, simulates a fleet in-process, replays its messages in
arrival order through the live decoder and the detector engine (clock =
arrival time, so silence and the reorder buffer behave as they would live),
and scores the alert events against the labels:
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
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors.alerts import AlertEvent
from detectors.profiles import parse_manifest
from detectors.registry import build_engine
from ingest.decode import decode
from simulators import SCENARIOS as SIM_SCENARIOS
from simulators import simulate

#: Every incident scenario of the catalogue (normal is scored as the false-alert fleet).
SCENARIOS = tuple(n for n in SIM_SCENARIOS if n not in ("normal", "mixed", "malformed_payloads"))
RECALL_TARGETS = ("temp_excursion", "seal_breach", "route_deviation", "unscheduled_stop", "silence")
GRACE_MS = 60 * 60_000
MIN = 60_000


def ms(text: str | None) -> int | None:
    return None if text is None else int(datetime.fromisoformat(text).timestamp() * 1000)


def replay(fleet: Any) -> tuple[list[AlertEvent], float]:
    """Run a fleet through decoder and engine; return the events and device-hours covered."""
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
    hours = (last - first) / 3_600_000 if first is not None else 0.0
    return events, hours * len(shipments)


def score(scenario: str, labels: list[dict], events: list[AlertEvent]) -> dict[str, Any]:
    opens = [e for e in events if e.event == "open"]
    by_device: dict[str, list[AlertEvent]] = defaultdict(list)
    for e in opens:
        by_device[e.device_id].append(e)
    hits: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    delays: list[float] = []
    leads: list[float] = []
    matched: set[str] = set()
    for lab in labels:
        start, end = ms(lab["start"]), ms(lab["end"])
        assert start is not None and end is not None
        for kind in lab["kinds"]:
            expected[kind] += 1
            found = [
                e
                for e in by_device[lab["device_id"]]
                if e.kind == kind and start - 5 * MIN <= e.at_ms <= end + GRACE_MS
            ]
            if found:
                hits[kind] += 1
                matched.update(e.alert_id for e in found)
                delays.append((found[0].at_ms - start) / MIN)
        breach = ms(lab.get("breach_at"))
        if breach is not None:
            warned = [
                e
                for e in by_device[lab["device_id"]]
                if e.kind == "temp_breach_predicted"
                and start - 5 * MIN <= e.at_ms <= breach + GRACE_MS
            ]
            if warned:
                leads.append((breach - warned[0].at_ms) / MIN)
            else:
                leads.append(float("-inf"))  # never warned before or soon after the breach
    kinds_opened = Counter(e.kind for e in opens)
    precision = {
        k: sum(1 for e in opens if e.kind == k and e.alert_id in matched) / n
        for k, n in kinds_opened.items()
    }
    return {
        "scenario": scenario,
        "recall": {k: hits[k] / n for k, n in expected.items()},
        "expected": dict(expected),
        "precision": precision,
        "delay_min": delays,
        "lead_min": leads,
        "opened": dict(kinds_opened),
    }


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
    all_leads: list[float] = []
    print(
        f"{'scenario':<20} {'expected kinds: recall (incidents)':<52} {'median delay':>12}  other alerts opened"
    )
    for scenario in args.scenarios.split(","):
        fleet = simulate(
            devices=args.devices, scenario=scenario, duration_s=args.hours * 3600, seed=args.seed
        )
        events, _ = replay(fleet)
        s = score(scenario, fleet.labels(), events)
        for k, v in s["recall"].items():
            all_recall[k].append(v)
        recall = (
            ", ".join(f"{k} {v:.2f} ({s['expected'][k]})" for k, v in s["recall"].items())
            or "(nothing expected)"
        )
        delay = f"{statistics.median(s['delay_min']):.0f} min" if s["delay_min"] else "-"
        expected = set(s["expected"])
        others = {k: n for k, n in s["opened"].items() if k not in expected}
        print(f"{scenario:<20} {recall:<52} {delay:>12}  {others or ''}")
        if scenario in ("reefer_failure", "power_loss", "heat_wave") and s["lead_min"]:
            finite = sorted(s["lead_min"])
            med = statistics.median(finite)
            warned = sum(1 for x in finite if x > 0)
            print(
                f"{'':<20} warning lead before the breach: median {med:.0f} min,"
                f" warned ahead in {warned}/{len(finite)}"
            )
            if scenario == "reefer_failure":
                all_leads = finite
    fleet = simulate(
        devices=args.normal_devices,
        scenario="normal",
        duration_s=args.hours * 3600,
        seed=args.seed + 1,
    )
    events, device_hours = replay(fleet)
    opened = Counter(e.kind for e in events if e.event == "open")
    rate = 1000 * sum(opened.values()) / device_hours
    print(
        f"normal fleet: {sum(opened.values())} alerts in {device_hours:,.0f} device-hours ="
        f" {rate:.2f} per 1,000 device-hours (target <= 1) {dict(opened) or ''}"
    )
    print("targets:")
    for kind in RECALL_TARGETS:
        values = all_recall.get(kind)
        if values:
            worst = min(values)
            print(
                f"  recall {kind:<18} worst scenario {worst:.2f} (target >= 0.95): {'met' if worst >= 0.95 else 'NOT met'}"
            )
    if all_leads:
        med = statistics.median(all_leads)
        print(
            f"  reefer_failure median warning lead {med:.0f} min (target >= 15): {'met' if med >= 15 else 'NOT met'}"
        )
    print(
        f"  false alerts {rate:.2f} per 1,000 device-hours (target <= 1): {'met' if rate <= 1 else 'NOT met'}"
    )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
