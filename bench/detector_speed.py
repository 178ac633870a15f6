"""Detector hot path: readings/s through the full detector set on one core, and memory per device.

Drives the engine in-process (no broker, no database) with a synthetic fleet
of vaccine shipments moving along a real lane and reporting every five
minutes, and prints, in the same run:
  - a reference: the same readings through a bare loop doing one range check,
    the least any detector could cost;
  - each registered detector alone (µs per reading);
  - the full engine (reorder buffer, all detectors, lifecycle) in readings/s
    (target >= 50,000 on one core);
  - memory per tracked device with every detector's state (target <= 4 KB),
    measured with tracemalloc over thousands of devices, and its split by the module
    whose code allocated it (a detector's state is charged to the detector's module).

    .venv/bin/python bench/detector_speed.py --devices 2000 --hours 24
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import time
import tracemalloc
from pathlib import Path

from detectors.profiles import Shipment, parse_shipment
from detectors.reading import Reading
from detectors.registry import FACTORIES, build_engine

ROUTE = [[39.66, -4.04], [37.0, -2.5], [34.27, 0.63], [32.58, 0.31]]
STOPS = [{"name": "Malaba border", "lon": 34.27, "lat": 0.63, "radius_m": 500}]


def fleet(devices: int) -> list[Shipment]:
    return [
        parse_shipment(
            {
                "shipment_id": f"SHP-{i:05d}",
                "device_id": f"trk-{i:05d}",
                "profile": "vaccine_2_8",
                "route": {"type": "LineString", "coordinates": ROUTE},
                "corridor_m": 2000,
                "authorised_stops": STOPS,
                "seal_id": f"ES-{i:06d}",
            }
        )
        for i in range(devices)
    ]


def readings(devices: int, hours: float, seed: int = 1) -> list[Reading]:
    """Interleaved readings of every device, five minutes apart, in arrival order."""
    rng = random.Random(seed)
    steps = int(hours * 12)
    t0 = 1_767_571_200_000
    out = []
    for k in range(steps):
        frac = k / max(1, steps - 1)
        seg = min(int(frac * 3), 2)
        f = frac * 3 - seg
        lon = ROUTE[seg][0] + (ROUTE[seg + 1][0] - ROUTE[seg][0]) * f
        lat = ROUTE[seg][1] + (ROUTE[seg + 1][1] - ROUTE[seg][1]) * f
        for d in range(devices):
            out.append(
                Reading(
                    f"trk-{d:05d}",
                    t0 + k * 300_000 + d,
                    seq=k,
                    lat=lat + rng.gauss(0, 0.0001),
                    lon=lon + rng.gauss(0, 0.0001),
                    temp_c=round(5.0 + 0.8 * math.sin(k / 20 + d) + rng.gauss(0, 0.1), 1),
                    humidity_pct=60.0,
                    battery_v=3.9 - k * 0.0001,
                    seal="closed",
                    seal_id=f"ES-{d:06d}",
                    door="closed",
                    shock_g=0.1,
                )
            )
    return out


def per_second(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} readings/s  {1e6 * seconds / n:7.2f} µs/reading"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args()
    shipments = fleet(args.devices)
    data = readings(args.devices, args.hours)
    n = len(data)
    print(f"{n:,} readings from {args.devices:,} devices over {args.hours:g} h")

    started = time.perf_counter()
    hits = 0
    for r in data:
        t = r.temp_c
        if t is not None and not 2.0 <= t <= 8.0:
            hits += 1
    reference = time.perf_counter() - started
    print(f"{'reference: bare loop, one range check':<44}{per_second(n, reference)}")

    by_device = {s.device_id: s for s in shipments}
    for factory in FACTORIES:
        instances = {d: factory(s) for d, s in by_device.items()}
        if not any(instances.values()):
            continue
        started = time.perf_counter()
        for r in data:
            det = instances[r.device_id]
            if det is not None:
                det.update(r)
        took = time.perf_counter() - started
        name = factory.__name__.removeprefix("make_")
        print(f"  {name:<42}{per_second(n, took)}")

    engine = build_engine(shipments, lateness_ms=0)
    gc.collect()
    started = time.perf_counter()
    events = 0
    for r in data:
        events += len(engine.process(r, r.ts_ms))
    full = time.perf_counter() - started
    print(
        f"{'full engine (all detectors + lifecycle)':<44}{per_second(n, full)}  ({events} events)"
    )
    print(
        f"full engine / reference: {full / reference:.1f}x the cost of one range check"
        f"  (target >= 50,000 readings/s: {'met' if n / full >= 50_000 else 'NOT met'})"
    )

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    engine = build_engine(shipments, lateness_ms=0)
    for r in data[: args.devices * 24]:  # two hours: every detector past its first reading
        engine.process(r, r.ts_ms)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    by_file = after.compare_to(before, "filename")
    grown = sum(s.size_diff for s in by_file)
    per_device = grown / args.devices
    print(
        f"memory per tracked device (detectors, alert book, buffers): {per_device:,.0f} bytes"
        f"  (target <= 4,096: {'met' if per_device <= 4096 else 'NOT met'})"
    )
    split = [
        (s.size_diff / args.devices, Path(s.traceback[0].filename).stem)
        for s in sorted(by_file, key=lambda s: -s.size_diff)
        if s.size_diff >= 8 * args.devices  # a byte or so a device is noise, not state
    ]
    print("  by module: " + ", ".join(f"{name} {size:,.0f}" for size, name in split))


if __name__ == "__main__":
    main()
