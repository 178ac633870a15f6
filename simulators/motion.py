"""Movement along a lane as a schedule of phases: moving between stops, or standing at one.

A schedule is built once per shipment (departure, legs in pieces of varying speed, a dwell at
every authorised stop) and can then be altered by incidents, which insert a stop somewhere
unauthorised and shift everything after it. Evaluating it at many instants at once is a
handful of array operations, so positions for thousands of readings cost almost nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from simulators.routes import Lane

#: ``Phase.stop`` of a moving phase, and of a stop at no authorised place.
MOVING = -1
UNAUTHORISED = -2


@dataclass(frozen=True)
class Phase:
    t0: float
    t1: float
    d0: float
    d1: float
    #: Index of the authorised stop stood at, MOVING, or UNAUTHORISED.
    stop: int
    mode: str
    #: Where the vehicle parks, metres east and north of the route point.
    park_e: float = 0.0
    park_n: float = 0.0


def build_schedule(
    lane: Lane, departure_s: float, speed_factor: float, rng: np.random.Generator
) -> list[Phase]:
    """Depart the first stop, dwell at every authorised stop, stand at the last one for good."""
    phases: list[Phase] = []
    t = departure_s
    stops = lane.stops
    for i, stop in enumerate(stops):
        if i > 0:
            prev = stops[i - 1]
            mode = prev.leg
            road = mode == "road"
            v = lane.speed_kmh(mode) / 3.6 * (speed_factor if road else 1.0)
            d = prev.d_m
            while d < stop.d_m - 1e-6:
                piece = min(stop.d_m - d, v * rng.uniform(20.0, 40.0) * 60.0)
                f = rng.uniform(0.8, 1.1) if road else rng.uniform(0.95, 1.05)
                dt = piece / (v * f)
                phases.append(Phase(t, t + dt, d, d + piece, MOVING, mode))
                t, d = t + dt, d + piece
        last = i == len(stops) - 1
        dwell = math.inf if last else rng.uniform(*stop.dwell_min) * 60.0
        r = stop.radius_m * 0.3 * math.sqrt(rng.uniform())
        a = rng.uniform(0.0, 2 * math.pi)
        phases.append(
            Phase(t, t + dwell, stop.d_m, stop.d_m, i, "", r * math.cos(a), r * math.sin(a))
        )
        t += dwell
    return phases


def arrival_s(phases: list[Phase]) -> float:
    """When the schedule reaches its destination (the start of the final, endless dwell)."""
    return phases[-1].t0


def insert_stop(
    phases: list[Phase], t: float, duration_s: float, park_m: float, *, park_n: float = 0.0
) -> list[Phase]:
    """Stop unauthorised at ``t`` for ``duration_s``, parked ``park_m`` metres east and
    ``park_n`` north of the route point; ``t`` must fall in a moving phase."""
    out: list[Phase] = []
    for i, p in enumerate(phases):
        if not p.t0 <= t < p.t1:
            out.append(p)
            continue
        if p.stop != MOVING:
            raise ValueError("an unscheduled stop must start while moving")
        d = p.d0 + (t - p.t0) / (p.t1 - p.t0) * (p.d1 - p.d0)
        out.append(replace(p, t1=t, d1=d))
        out.append(Phase(t, t + duration_s, d, d, UNAUTHORISED, "", park_m, park_n))
        out.append(replace(p, t0=t + duration_s, t1=p.t1 + duration_s, d0=d))
        out.extend(replace(q, t0=q.t0 + duration_s, t1=q.t1 + duration_s) for q in phases[i + 1 :])
        return out
    raise ValueError("no phase contains the stop's time")


class Motion:
    """A schedule compiled to arrays for evaluation at many instants at once."""

    def __init__(self, phases: list[Phase]) -> None:
        self.phases = phases
        self.t0 = np.array([p.t0 for p in phases])
        self.t1 = np.array([p.t1 for p in phases])
        self.d0 = np.array([p.d0 for p in phases])
        self.d1 = np.array([p.d1 for p in phases])
        self.stop = np.array([p.stop for p in phases])
        self.park_e = np.array([p.park_e for p in phases])
        self.park_n = np.array([p.park_n for p in phases])
        span = self.t1 - self.t0
        # The final dwell never ends: progress through it is zero, not inf/inf.
        finite = np.isfinite(span) & (span > 0)
        self.inv_span = np.divide(1.0, span, out=np.zeros_like(span), where=finite)
        self.road = np.array([p.mode == "road" for p in phases])
        self.air = np.array([p.mode == "air" for p in phases])

    def at(
        self, t: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
        """Distance along the route and phase index at each instant (before departure: origin)."""
        idx = np.searchsorted(self.t0, t, side="right") - 1
        np.maximum(idx, 0, out=idx)
        frac = np.clip((t - self.t0[idx]) * self.inv_span[idx], 0.0, 1.0)
        return self.d0[idx] + frac * (self.d1[idx] - self.d0[idx]), idx

    def moving_windows(self, road_only: bool) -> list[tuple[float, float]]:
        """Spans of time the vehicle moves (on roads only, if asked), merged where they touch."""
        spans: list[tuple[float, float]] = []
        for p in self.phases:
            if p.stop != MOVING or (road_only and p.mode != "road"):
                continue
            if spans and abs(spans[-1][1] - p.t0) < 1e-6:
                spans[-1] = (spans[-1][0], p.t1)
            else:
                spans.append((p.t0, p.t1))
        return spans

    def dwells(self) -> list[Phase]:
        """The stands at authorised stops, in order."""
        return [p for p in self.phases if p.stop >= 0]
