"""Slow creeps and near misses: how the breach warning's minimum rate trades one for the other.

A passive shipper whose coolant is spent, or a unit that loses ground slowly, creeps towards
its limit at a few tenths of a degree an hour; a room that settles just under its limit rises
as slowly and then turns back. This bench runs the breach forecaster alone over synthetic
readings of both, for creeps of 0.1 to 0.3 °C/h on a 2-8 °C product from 5 °C (after four calm
hours, or from the first reading), at 1, 5 and 15 min reporting, probe noise 0.05 and 0.15 °C,
0.1 and 0.5 °C probes, three seeds each; and the same rises turning back at a given height
under the limit. It prints, for the default minimum rate and for a reference minimum given
on the command line (the former default, 0.3 °C/h), how many creeps were warned ahead of the
first reading out, their median lead, and how many turn-backs were warned though nothing
breached. Deterministic: a rerun prints the same figures.

    .venv/bin/python bench/slow_creep.py [--reference-rate 0.3] [--stops 7.0,7.5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors.predicted_breach import PredictedBreach
from detectors.reading import Reading

MIN = 60_000
RATES = (0.1, 0.15, 0.2, 0.25, 0.3)
STEPS_MIN = (1, 5, 15)
NOISES_C = (0.05, 0.15)
RESOLUTIONS_C = (0.1, 0.5)
SEEDS = range(3)
START_C, HIGH_C = 5.0, 8.0


def true_temp(minute: float, rate: float, calm_min: float, stop_c: float | None) -> float:
    """The product at `minute`: calm, then creeping at `rate` °C/h, turning back at `stop_c`."""
    rise = START_C + max(0.0, minute - calm_min) / 60.0 * rate
    if stop_c is None or rise <= stop_c:
        return rise
    return stop_c - (rise - stop_c)  # back down as fast as it came


def run(
    min_rate: float,
    rate: float,
    step_min: int,
    noise: float,
    resolution: float,
    seed: int,
    calm_min: float,
    stop_c: float | None = None,
) -> tuple[float | None, float | None]:
    """(minute of the first warning, minute of the first reading out), None for never."""
    rng = random.Random(seed)
    forecaster = PredictedBreach(2.0, HIGH_C, min_rate_c_per_h=min_rate)
    warned = breach = None
    minute = 0.0
    while minute < 40 * 60:
        true = true_temp(minute, rate, calm_min, stop_c)
        if stop_c is not None and true < START_C:
            break
        value = round((true + rng.gauss(0.0, noise)) / resolution) * resolution
        reading = Reading("creep", int(minute * MIN), temp_c=value)
        for c in forecaster.update(reading) or []:
            if c.active and warned is None:
                warned = minute
        if value > HIGH_C and breach is None:
            breach = minute
            if stop_c is None:
                break
        minute += step_min
    return warned, breach


def cases() -> list[tuple[int, float, float, int]]:
    return [
        (s, n, r, seed)
        for s in STEPS_MIN
        for n in NOISES_C
        for r in RESOLUTIONS_C
        for seed in SEEDS
    ]


def report(min_rate: float, calm_min: float, stops: tuple[float, ...]) -> None:
    for rate in RATES:
        leads: list[float] = []
        false = near = 0
        for step_min, noise, resolution, seed in cases():
            warned, breach = run(min_rate, rate, step_min, noise, resolution, seed, calm_min)
            if warned is not None and breach is not None and warned < breach:
                leads.append(breach - warned)
            for stop_c in stops:
                near += 1
                w, b = run(
                    min_rate, rate, step_min, noise, resolution, seed + 100, calm_min, stop_c
                )
                false += w is not None and b is None
        lead = f"{statistics.median(leads):.0f} min" if leads else "-"
        print(
            f"  {rate:.2f} °C/h: warned ahead {len(leads)}/{len(cases())}, median lead {lead};"
            f" turn-backs warned with no breach {false}/{near}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-rate", type=float, default=0.3)
    parser.add_argument("--stops", default="7.0,7.5", help="turn-back heights, °C (limit 8)")
    args = parser.parse_args()
    stops = tuple(float(s) for s in args.stops.split(","))
    default = PredictedBreach(2.0, HIGH_C).min_rate
    for label, min_rate in (("default", default), ("reference", args.reference_rate)):
        for calm_min, start in ((240.0, "after 4 calm hours"), (0.0, "from the first reading")):
            print(f"minimum rate {min_rate:g} °C/h ({label}), creeps {start}:")
            report(min_rate, calm_min, stops)


if __name__ == "__main__":
    main()
