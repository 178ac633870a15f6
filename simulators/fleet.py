"""A simulated fleet: plans for every device, and their messages merged in arrival order.

`simulate()` is the in-process entry point for tests and benchmarks: it plans the fleet
and returns a `Fleet` whose `messages()` generates every device six simulated hours at a time
and yields messages in the order they would reach the broker (a late upload after the newer
readings sent before it), never holding more than a window's worth in memory. `manifest()`
and `labels()` give the fleet's shipments and ground truth in the documented shapes.
"""

from __future__ import annotations

import bisect
import gc
import heapq
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Final

import numpy as np

from simulators.device import DeviceSim
from simulators.manifest import label, shipment
from simulators.physics import check_split
from simulators.plan import DevicePlan, FleetConfig, plan_device
from simulators.profiles import PROFILES
from simulators.routes import LANES
from simulators.scenarios import assign, parse_spec, resolve_params
from simulators.timeutil import parse_instant_ms
from simulators.wire import Message

#: Simulated time generated per step; a constant, so output never depends on fleet size.
WINDOW_S: Final = 6 * 3600.0
DEFAULT_START: Final = "2026-01-05T00:00:00Z"


class Fleet:
    """Planned devices of one run (or of one worker's share of it)."""

    def __init__(self, cfg: FleetConfig, only: Sequence[int] | None = None) -> None:
        self.cfg = cfg
        wanted = assign(cfg.devices, list(cfg.scenarios), cfg.params, cfg.seed)
        indices = range(cfg.devices) if only is None else only
        self.plans: list[DevicePlan] = [plan_device(cfg, i, wanted[i]) for i in indices]
        self._labels: list[dict[str, Any]] | None = None

    @property
    def start_ms(self) -> int:
        return self.cfg.start_ms

    def manifest(self) -> dict[str, Any]:
        """The shipment manifest: ``{"shipments": [...]}`` as docs/manifest.md describes it."""
        return {"shipments": [shipment(p, self.start_ms) for p in self.plans]}

    def messages(self) -> Iterator[Message]:
        """Every message of the run in arrival order; labels are complete once it ends."""
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[Message]]:
        """The messages in arrival order, a window at a time (cheaper to loop over)."""
        for plan in self.plans:
            for incident in plan.incidents:
                incident.forget_truth()
        sims = [DeviceSim(p, self.start_ms) for p in self.plans]
        horizon = self.cfg.duration_s
        pending: list[Message] = []
        t_end = 0.0
        while t_end < horizon:
            t_end = min(t_end + WINDOW_S, horizon)
            # Hundreds of thousands of young tuples would set off full collections over and
            # over; none of them can form a cycle, so collection waits for the window's end.
            collecting = gc.isenabled()
            gc.disable()
            try:
                batch = _arrival_order([m for sim in sims for m in sim.advance(t_end)])
            finally:
                if collecting:
                    gc.enable()
            pending = list(heapq.merge(pending, batch)) if pending else batch
            # Nothing generated later can arrive before this window's end.
            limit = self.start_ms + t_end * 1000.0 if t_end < horizon else float("inf")
            cut = bisect.bisect_left(pending, limit, key=lambda m: m.arrival_ms)
            yield pending[:cut]
            pending = pending[cut:]
        self._labels = [
            label(plan, incident, self.start_ms)
            for plan in self.plans
            for incident in plan.incidents
        ]

    def payloads(self) -> Iterator[tuple[str, bytes]]:
        """``(topic, payload)`` of every message, in arrival order."""
        for m in self.messages():
            yield m.topic, m.payload

    def labels(self) -> list[dict[str, Any]]:
        """Ground truth, one dict per incident (generates the run if it has not been yet)."""
        if self._labels is None:
            for _ in self.messages():
                pass
        assert self._labels is not None
        return self._labels

    def scenario_counts(self) -> Counter[str]:
        return Counter(i.scenario for p in self.plans for i in p.incidents)


def _arrival_order(batch: list[Message]) -> list[Message]:
    """Sort by (arrival, device, order): the list is already in (device, order) order, so a
    stable sort on arrival alone suffices, and numpy does that far faster than tuples compare."""
    if len(batch) < 2:
        return batch
    arrival = np.fromiter((m[0] for m in batch), dtype=np.int64, count=len(batch))
    return list(itemgetter(*np.argsort(arrival, kind="stable").tolist())(batch))


def config(
    devices: int = 10,
    scenario: str | Sequence[str] = "normal",
    duration_s: float = 6 * 3600.0,
    seed: int = 0,
    start: str | int | None = None,
    params: Mapping[str, Any] | None = None,
    profiles: Sequence[str] | None = None,
    lanes: Sequence[str] | None = None,
    physics: str = "dev",
    air_probes: float = 0.0,
    routine_stops: float = 0.0,
) -> FleetConfig:
    """Validate a run's settings into a `FleetConfig` (raises ValueError naming the setting).

    Held-out seeds run only with ``physics="holdout"`` and the other way round
    (`simulators.physics.check_split`).
    """
    if devices < 1:
        raise ValueError(f"devices must be at least 1, got {devices}")
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s} s")
    check_split(seed, physics)
    if not 0.0 <= air_probes <= 1.0:
        raise ValueError(f"air probes must be a share from 0 to 1, got {air_probes}")
    if not 0.0 <= routine_stops <= 1.0:
        raise ValueError(f"routine stops must be a share from 0 to 1, got {routine_stops}")
    names = parse_spec(scenario)
    start_ms = parse_instant_ms(start or DEFAULT_START) if not isinstance(start, int) else start
    for name in profiles or ():
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    for name in lanes or ():
        if name not in LANES:
            raise ValueError(f"unknown lane {name!r}; known: {', '.join(LANES)}")
    return FleetConfig(
        devices=devices,
        start_ms=start_ms,
        duration_s=float(duration_s),
        seed=seed,
        scenarios=tuple(names),
        params=resolve_params(names, params or {}),
        profiles=tuple(profiles) if profiles else None,
        lanes=tuple(lanes) if lanes else None,
        physics=physics,
        air_probes=float(air_probes),
        routine_stops=float(routine_stops),
    )


def simulate(
    devices: int = 10,
    scenario: str | Sequence[str] = "normal",
    duration_s: float = 6 * 3600.0,
    seed: int = 0,
    start: str | int | None = None,
    params: Mapping[str, Any] | None = None,
    profiles: Sequence[str] | None = None,
    lanes: Sequence[str] | None = None,
    physics: str = "dev",
    air_probes: float = 0.0,
    routine_stops: float = 0.0,
) -> Fleet:
    """Plan a fleet; iterate ``.messages()`` or ``.payloads()`` to generate it.

    ``start`` is RFC 3339 text or epoch ms (default 2026-01-05T00:00:00Z); ``params`` maps
    ``key`` or ``scenario.key`` to a value, as ``--param`` does; ``physics`` names the regime
    device physics is drawn from, ``dev`` or ``holdout`` (held-out seeds only); ``air_probes``
    the share of cooled shipments whose probe reads the box's air (declared in the manifest);
    ``routine_stops`` the share of trucks with a road leg that rest at service areas, stand in
    jams and queue before borders (`simulators.routine`; not declared, and never labelled).

    >>> fleet = simulate(devices=2, scenario="normal", duration_s=3600, seed=1)
    >>> topic, payload = next(fleet.payloads())
    >>> topic.startswith("cargo/v1/trk-0000"), payload.startswith(b'{"device_id":"trk-')
    (True, True)
    """
    return Fleet(
        config(
            devices,
            scenario,
            duration_s,
            seed,
            start,
            params,
            profiles,
            lanes,
            physics,
            air_probes,
            routine_stops,
        )
    )
