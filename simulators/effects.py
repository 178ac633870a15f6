"""What a shipment's plan asks the generator to do: incidents and the effects they stage.

Planning (schedules, authorised stops, incidents) and generation (physics, sensors, wire) are
separate steps joined by these plain records. Every effect is a window in simulated seconds
from the run's start; the generator applies them to arrays of reading times with `in_windows`,
so a scenario never needs code in the hot path of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Window = tuple[float, float]


@dataclass
class Incident:
    """One staged incident: the ground truth a label is written from."""

    scenario: str
    t0: float
    t1: float
    params: dict[str, Any]
    kinds: tuple[str, ...]
    #: Whether its kinds are the temperature ones, kept only if the product really left range.
    temperature: bool = False
    #: Filled in by generation: first out-of-range product reading at or after t0 (epoch ms).
    breach_ms: int | None = None
    #: Filled in by generation: the longest run of readings out of range without a break,
    #: first to last (s), counted from t0, over runs that began before `search_until`.
    longest_read_out_s: float = 0.0
    #: Filled in by generation for a stuck probe: the readings in the run of one value that
    #: holds the spell's, as sent, and the longest run of one value the probe read honestly
    #: on the trip. A spell no longer than that is no fault the readings show
    #: (`simulators.stuck_truth.shown`).
    stuck_run: int = 0
    honest_run: int = 0
    #: Reading that ends the search for a breach (the next incident's start).
    search_until: float = float("inf")

    def forget_truth(self) -> None:
        """Clear what generation fills in, before the readings are generated (again)."""
        self.breach_ms = None
        self.longest_read_out_s = 0.0
        self.stuck_run = 0
        self.honest_run = 0


@dataclass(frozen=True)
class Failure:
    """A cooling unit failing from t0 to t1, in one of `simulators.physics.FAILURE_SHAPES`.

    ``linear`` loses ``rate_c_per_h`` of its hold on the air every hour; ``exponential`` lets
    the air approach ambient with time constant ``tau_s``; ``partial`` settles the air at
    ``settles_c`` (never above ambient) over ``ramp_s``; ``cycling`` stops the compressor for
    ever longer spells, which are `Effects.compressor_off` windows.
    """

    t0: float
    t1: float
    shape: str
    rate_c_per_h: float = 0.0
    tau_s: float = 0.0
    settles_c: float = 0.0
    ramp_s: float = 0.0


@dataclass
class Effects:
    """Every window the generator applies; normal behaviour and incidents alike."""

    door: list[Window] = field(default_factory=list)
    seal_open: list[Window] = field(default_factory=list)
    seal_tampered: list[Window] = field(default_factory=list)
    defrost: list[Window] = field(default_factory=list)
    failure: list[Failure] = field(default_factory=list)
    power_off: list[Window] = field(default_factory=list)
    #: A compressor cycling off as its unit fails: the box warms as with the power off.
    compressor_off: list[Window] = field(default_factory=list)
    #: (t0, t1, peak ambient °C, ramp seconds)
    heat: list[tuple[float, float, float, float]] = field(default_factory=list)
    #: (t0, t1, signed lateral offset in metres, ramp seconds)
    deviation: list[tuple[float, float, float, float]] = field(default_factory=list)
    no_fix: list[Window] = field(default_factory=list)
    frozen_fix: list[Window] = field(default_factory=list)
    #: (t0, t1, [(from time, east metres, north metres), ...])
    spoof: list[tuple[float, float, list[tuple[float, float, float]]]] = field(default_factory=list)
    stuck: list[Window] = field(default_factory=list)
    #: (t0, t1, share of readings replaced by an error code)
    spikes: list[tuple[float, float, float]] = field(default_factory=list)
    #: (t0, t1, volts reached at t1)
    drain: list[tuple[float, float, float]] = field(default_factory=list)
    silence: list[Window] = field(default_factory=list)
    #: (t0, t1, upload time): readings in [t0, t1) are stored and sent together at upload time.
    gaps: list[tuple[float, float, float]] = field(default_factory=list)
    #: (t0, t1, share of messages delivered twice, longest delay of the copy in seconds)
    duplicates: list[tuple[float, float, float, float]] = field(default_factory=list)
    #: (time, reason the ingest decoder must give)
    malformed: list[tuple[float, str]] = field(default_factory=list)
    #: Flights: the tracker logs but does not transmit (a gap uploaded on landing).
    flights: list[Window] = field(default_factory=list)

    def busy(self) -> list[Window]:
        """Windows that normal coverage gaps should keep clear of."""
        spans: list[Window] = []
        for name in ("silence", "no_fix", "frozen_fix", "stuck", "flights"):
            spans.extend(getattr(self, name))
        spans.extend((a, b) for a, b, *_ in self.gaps)
        spans.extend((a, b) for a, b, *_ in self.spoof)
        spans.extend((a, b) for a, b, *_ in self.duplicates)
        spans.extend((t - 60.0, t + 60.0) for t, _ in self.malformed)
        return spans


def in_windows(t: npt.NDArray[np.float64], windows: list[Window]) -> npt.NDArray[np.bool_]:
    """Which instants fall in any half-open window [t0, t1)."""
    mask = np.zeros(t.shape, dtype=bool)
    for t0, t1 in windows:
        mask |= (t >= t0) & (t < t1)
    return mask


def overlaps(a: Window, spans: list[Window], margin: float = 0.0) -> bool:
    """Whether window ``a`` comes within ``margin`` seconds of any of ``spans``."""
    return any(a[0] < s1 + margin and s0 - margin < a[1] for s0, s1 in spans)
