"""Air probes: what declaring `"probe": "air"` changes, on fleets whose probes read the box's air.

Simulates fleets in which every cooled shipment's probe reads the air in its box, not the
product (`simulate(air_probes=1.0)`; the product follows that air with the time constant the
device drew, 1 to 5 hours), and replays each twice through the decoder and the engine as
`bench/detection.py` does: with the manifest as simulated, which declares `"probe": "air"` and
leaves `product_lag_min` at its default (an operator who knows where the probe sits but not
the product's time constant), and with that declaration taken out, which judges the air as the
product, as before the key existed. For each it prints:
  - on a normal fleet: alerts per 1,000 device-hours of its air-probe shipments (every one is
    false there), with its 95 % interval, and the count per kind (the door check judges the
    cargo's warming, so it changes too);
  - on the failures that breach (reefer_failure, power_loss, heat_wave): recall of
    `temp_excursion` and `temp_breach_predicted` (against the labels, which follow the
    product), breaches warned strictly before, the median lead (an unwarned breach counts
    as the shortest), and how long after the product's breach the first excursion alert
    opened (median): what a simulated product slower than the real one costs.
Labels are the simulator's: a breach is the product's, and an excursion is owed where a
probe in the product would have read one. Development seeds by default; ``--holdout`` runs the
held-out seeds and physics, which no setting was chosen on.

    .venv/bin/python bench/air_probes.py [--seed 11] [--holdout] [--devices 40] [--hours 48]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from detection import FAILURES, score_fleet

from detectors.profiles import parse_manifest
from simulators import Fleet, simulate
from simulators.fleet_replay import replay_fleet
from simulators.physics import HOLDOUT_SEED_MIN
from simulators.scoring import Score, rate_interval

MIN = 60_000


def _undeclared(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with every air probe judged as a product probe."""
    return {
        "shipments": [
            {k: v for k, v in s.items() if k not in ("probe", "product_lag_min")}
            for s in manifest["shipments"]
        ]
    }


def _declared(manifest: dict[str, Any], lag_min: float | None) -> dict[str, Any]:
    """The manifest as simulated, with `product_lag_min` set on every air probe when given."""
    if lag_min is None:
        return manifest
    return {
        "shipments": [
            {**s, "product_lag_min": lag_min} if s.get("probe") == "air" else s
            for s in manifest["shipments"]
        ]
    }


def _judged(fleet: Fleet, declared: bool, lag_min: float | None) -> tuple[list[Any], Any, set[str]]:
    manifest = fleet.manifest()
    shipments = parse_manifest(_declared(manifest, lag_min) if declared else _undeclared(manifest))
    run = replay_fleet(fleet, shipments)
    air = {s["device_id"] for s in manifest["shipments"] if s.get("probe") == "air"}
    return run.events, run.exposure(shipments), air


def _how(args: argparse.Namespace, declared: bool) -> str:
    return f"declared air, lag {args.lag or 'default'}" if declared else "undeclared"


def _fleet(args: argparse.Namespace, scenario: str, devices: int, seed: int, physics: str) -> Fleet:
    """A fleet of `scenario` in which every cooled shipment's probe reads the air."""
    return simulate(
        devices=devices,
        scenario=scenario,
        duration_s=args.hours * 3600,
        seed=seed,
        physics=physics,
        air_probes=1.0,
    )


def normal(args: argparse.Namespace, seed: int, physics: str) -> None:
    fleet = _fleet(args, "normal", args.normal_devices, seed, physics)
    for declared in (True, False):
        events, hours, air = _judged(fleet, declared, args.lag)
        # Device-hours of the air-probe shipments alone (each watched for the whole span, as
        # every shipment is here): the others' alerts do not change with the declaration.
        device_hours = hours.device_hours / max(1, hours.devices) * len(air)
        opened = Counter(e.kind for e in events if e.event == "open" and e.device_id in air)
        count = sum(opened.values())
        low, high = rate_interval(count, device_hours)
        rate = 1000 * count / device_hours if device_hours else 0.0
        print(
            f"  normal, {_how(args, declared)}: {count} alerts in {device_hours:,.0f} device-hours"
            f" of {len(air)} air-probe shipments = {rate:.2f} per 1,000 ({low:.2f}-{high:.2f})"
            f" {dict(opened)}"
        )


@dataclass
class FailureTally:
    """The failures' figures for one way of judging the air probes, over every scenario."""

    found: Counter[str] = field(default_factory=Counter)
    owed: Counter[str] = field(default_factory=Counter)
    leads: list[float] = field(default_factory=list)
    #: Minutes from each breach to its first excursion alert: what a long lag costs.
    after: list[float] = field(default_factory=list)
    ahead: int = 0
    breaches: int = 0

    def add(self, s: Score, air: set[str]) -> None:
        for i in s.incidents:
            if i.label.device_id not in air:
                continue
            for kind in ("temp_excursion", "temp_breach_predicted"):
                if kind in i.label.kinds:
                    self.owed[kind] += 1
                    self.found[kind] += kind not in i.missed
            if i.label.breach_at_ms is not None:
                self.breaches += 1
                self.ahead += i.lead_min is not None and i.lead_min > 0
                self.leads.append(float("-inf") if i.lead_min is None else i.lead_min)
                if "temp_excursion" in i.opened_ms:
                    self.after.append((i.opened_ms["temp_excursion"] - i.label.breach_at_ms) / MIN)

    def line(self) -> str:
        owed, found = self.owed, self.found
        recall = ", ".join(f"{k} {found[k] / owed[k]:.2f} ({owed[k]})" for k in owed if owed[k])
        median = statistics.median(self.leads) if self.leads else None
        lead = "-" if median is None or median == float("-inf") else f"{median:.0f} min"
        mid = statistics.median(self.after) if self.after else None
        late = "-" if mid is None else f"{abs(mid):.0f} min {'after' if mid >= 0 else 'before'}"
        return (
            f"{recall}; warned ahead {self.ahead}/{self.breaches}, median lead {lead};"
            f" excursion opened a median {late} the breach"
        )


def failures(args: argparse.Namespace, seed: int, physics: str) -> None:
    tallies = {declared: FailureTally() for declared in (True, False)}
    for scenario in FAILURES:
        # Each fleet is simulated once and judged both ways.
        fleet = _fleet(args, scenario, args.devices, seed, physics)
        for declared, tally in tallies.items():
            events, hours, air = _judged(fleet, declared, args.lag)
            tally.add(score_fleet(fleet, events, hours), air)
    for declared, tally in tallies.items():
        print(f"  failures, {_how(args, declared)}: {tally.line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--holdout", action="store_true", help="held-out seeds and physics")
    parser.add_argument("--devices", type=int, default=40, help="devices per failure scenario")
    parser.add_argument("--normal-devices", type=int, default=200)
    parser.add_argument("--hours", type=float, default=48.0)
    parser.add_argument(
        "--lag",
        type=float,
        default=None,
        metavar="MIN",
        help="declare this product_lag_min on every air probe (default: the key's default)",
    )
    args = parser.parse_args()
    seed = args.seed + (HOLDOUT_SEED_MIN if args.holdout else 0)
    physics = "holdout" if args.holdout else "dev"
    print(
        f"{physics} physics, seed {seed:,} (normal fleet {seed + 1:,}); every cooled probe in air"
    )
    failures(args, seed, physics)
    normal(args, seed + 1, physics)


if __name__ == "__main__":
    main()
