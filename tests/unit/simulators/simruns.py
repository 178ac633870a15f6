"""Simulated runs for the simulator's tests, decoded by the real ingest decoder.

Each scenario of the catalogue is run once per session (a dozen devices, twelve simulated
hours) and every message goes through ``ingest.decode`` with the ingester's clock at the
message's arrival, exactly as the ingester would see it. Tests then look at the decoded
readings, the manifest and the labels; geometry helpers are independent of the simulator's
own, so a shared mistake cannot hide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from detectors.reading import Reading
from ingest.decode import Decoded, decode
from simulators import SCENARIOS, Fleet, Message, simulate
from simulators.device import DeviceSim
from simulators.fleet import WINDOW_S
from simulators.timeutil import parse_instant_ms

HOURS = 12
DEVICES = 12
SEED = 11
START = "2026-03-02T00:00:00Z"


@dataclass
class Run:
    fleet: Fleet
    messages: list[Message]
    decoded: list[Decoded]
    labels: list[dict[str, Any]]
    shipments: dict[str, dict[str, Any]]
    start_ms: int
    end_ms: int
    #: Each device's readings in event-time order, redeliveries dropped.
    readings: dict[str, list[Reading]] = field(default_factory=dict)

    def labels_of(self, scenario: str) -> list[dict[str, Any]]:
        return [x for x in self.labels if x["scenario"] == scenario]

    def window(self, label: dict[str, Any]) -> list[Reading]:
        start, end = ms(label["start"]), ms(label["end"])
        return [r for r in self.readings[label["device_id"]] if start <= r.ts_ms < end]

    def route_distance_m(self, device: str, lon: float, lat: float) -> float:
        coords = np.array(self.shipments[device]["route"]["coordinates"])
        return point_to_polyline_m(lon, lat, coords[:, 0], coords[:, 1])

    def at_authorised_stop(self, device: str, lon: float, lat: float) -> bool:
        stops = self.shipments[device]["authorised_stops"]
        return any(haversine_m(lon, lat, s["lon"], s["lat"]) <= s["radius_m"] for s in stops)


def ms(text: str) -> int:
    return parse_instant_ms(text)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(a)))


def point_to_polyline_m(lon: float, lat: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """Distance to the nearest segment in an equirectangular frame centred on the point."""
    k = 6_371_000 * math.pi / 180
    dx = ((xs - lon + 180.0) % 360.0 - 180.0) * math.cos(math.radians(lat)) * k
    dy = (ys - lat) * k
    ax, ay, bx, by = dx[:-1], dy[:-1], dx[1:], dy[1:]
    sx, sy = bx - ax, by - ay
    t = np.clip(-(ax * sx + ay * sy) / np.maximum(sx * sx + sy * sy, 1e-9), 0.0, 1.0)
    return float(np.hypot(ax + t * sx, ay + t * sy).min())


@cache
def run_of(
    scenario: str,
    devices: int = DEVICES,
    hours: float = HOURS,
    seed: int = SEED,
    params: tuple[tuple[str, Any], ...] = (),
    lanes: tuple[str, ...] | None = None,
) -> Run:
    fleet = simulate(
        devices=devices,
        scenario=scenario,
        duration_s=hours * 3600,
        seed=seed,
        start=START,
        params=dict(params),
        lanes=lanes,
    )
    messages = list(fleet.messages())
    decoded = [decode(m.topic, m.payload, m.arrival_ms) for m in messages]
    start_ms = ms(START)
    run = Run(
        fleet,
        messages,
        decoded,
        fleet.labels(),
        {s["device_id"]: s for s in fleet.manifest()["shipments"]},
        start_ms,
        start_ms + int(hours * 3600 * 1000),
    )
    seen: set[tuple[str, int]] = set()
    for d in decoded:
        for r in d.readings:
            if (r.device_id, r.ts_ms) not in seen:
                seen.add((r.device_id, r.ts_ms))
                run.readings.setdefault(r.device_id, []).append(r)
    for rows in run.readings.values():
        rows.sort(key=lambda r: r.ts_ms)
    return run


INCIDENTS = [name for name, s in SCENARIOS.items() if s.place is not None]


def product_traces(fleet: Fleet) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each device's true product temperature at its reading instants (epoch ms, °C).

    Generates the fleet again device by device with the generator's trace on; the plans'
    incidents get their breach times again, the same ones, since generation is deterministic.
    """
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for plan in fleet.plans:
        for incident in plan.incidents:
            incident.forget_truth()
        sim = DeviceSim(plan, fleet.start_ms)
        sim.trace = []
        t_end = 0.0
        while t_end < fleet.cfg.duration_s:
            t_end = min(t_end + WINDOW_S, fleet.cfg.duration_s)
            sim.advance(t_end)
        t = np.concatenate([a for a, _ in sim.trace])
        product = np.concatenate([b for _, b in sim.trace])
        out[plan.device_id] = (fleet.start_ms + t * 1000.0, product)
    return out
