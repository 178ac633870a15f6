"""When a stuck probe's readings show the fault: the truth a `sensor_fault` label rests on.

A probe stuck at one value sends a run of that value. An honest probe sends runs too: a quiet
probe on a product that holds still may read one value for hours, and a coarse one reads one
step for as long as its product stays on it. A stuck spell is a fault the readings show only
where its run is longer than every run the same probe read honestly on the same trip: a run no
longer than one the probe made honestly, on that very trip, is one no reader of the readings
can tell from the truth (stuck at the value it was reading anyway, it even was the truth). The
generator finds both with `ValueRuns`, on the readings the tracker took: the honest ones (noise
and resolution, no fault) and the ones it sent (`simulators.device.DeviceSim._watch_stuck`).
Longer than the trip's honest runs is not enough, though: a trip's longest honest run is one
draw, and a 0.1 °C probe with 0.06 °C of noise, read every 15 minutes on a product that holds
still mid-step, reads nine of one value honestly about once a day. So a spell's run must also
be one an honest probe of the same noise and resolution reads rarely (`shown`): less than once
in `SHOWN_HOURS` of reporting at its interval, wherever its product sat between two steps
(`honest_run_chance`).
"""

from __future__ import annotations

import itertools
import math
from typing import Final

import numpy as np

#: A stuck run owes `sensor_fault` only where an honest probe of the same noise, resolution and
#: reporting interval reads a run that long less often than once in this many hours. A detector
#: that flagged likelier runs would spend, on this one fault of honest probes alone, a tenth of
#: the false-alert target (one alert in 1,000 device-hours, every kind together).
SHOWN_HOURS: Final = 10_000.0
#: Where the product may sit between two of the probe's steps, as offsets (in steps) from the
#: centre of one: half a step is enough, the other half mirrors it.
_OFFSETS: Final = tuple(i / 32 for i in range(17))


def honest_run_chance(noise_steps: float, readings: int) -> float:
    """The chance that `readings` readings in a row of an honest probe all show one value: its
    Gaussian noise `noise_steps` (a standard deviation, in the probe's steps), its product
    holding still at the place between two steps where such a run is likeliest.

    >>> honest_run_chance(1.0, 1)
    1.0
    >>> round(honest_run_chance(1.0, 12), 7)  # 0.1 °C probe, 0.1 °C of noise: twelve alike
    1e-05
    >>> round(honest_run_chance(0.25, 60), 2)  # a quiet 0.5 °C probe: sixty alike is common
    0.06
    """
    if readings <= 1 or noise_steps <= 0.0:
        return 1.0
    scale = noise_steps * math.sqrt(2.0)
    reach = int(6 * noise_steps) + 2
    best = 0.0
    for u in _OFFSETS:
        edges = [math.erf((j + 0.5 - u) / scale) for j in range(-reach - 1, reach + 1)]
        chance = sum((0.5 * (hi - lo)) ** readings for lo, hi in itertools.pairwise(edges))
        best = max(best, chance)
    return min(1.0, best)


def shown(
    stuck_run: int, honest_run: int, noise_c: float, resolution_c: float, interval_s: float
) -> bool:
    """Do a stuck spell's readings show the fault? Its run of `stuck_run` readings of one value
    must outlast every run the probe read honestly on the trip (`honest_run`), and be one an
    honest probe of `noise_c` and `resolution_c` (°C), reading every `interval_s`, reads less
    than once in `SHOWN_HOURS`.

    >>> # Twelve alike (a chance of 1e-5) come honestly once in 8,000 h of 5-minute readings,
    >>> # once in 25,000 h of 15-minute ones; and no run as long as an honest one shows a fault.
    >>> shown(12, 5, 0.1, 0.1, 300.0), shown(12, 5, 0.1, 0.1, 900.0), shown(9, 9, 0.1, 0.1, 60.0)
    (False, True, False)
    """
    if stuck_run <= honest_run:
        return False
    readings_per_hour = 3600.0 / interval_s
    chance = honest_run_chance(noise_c / resolution_c, stuck_run)
    return chance * readings_per_hour * SHOWN_HOURS < 1.0


class ValueRuns:
    """Runs of one repeated value among a probe's readings, found a stretch at a time.

    A run still going at a stretch's last reading is carried on by the next stretch, which
    returns it again with its whole length so far.

    >>> runs = ValueRuns()
    >>> runs.runs(np.array([0.0, 60, 120]), np.array([2.0, 2.5, 2.5]))
    [(0.0, 0.0, 1), (60.0, 120.0, 2)]
    >>> runs.runs(np.array([180.0, 240]), np.array([2.5, 3.0]))
    [(60.0, 180.0, 3), (240.0, 240.0, 1)]
    """

    __slots__ = ("length", "since", "value")

    def __init__(self) -> None:
        #: The value, first reading time and length of the run still going at the last
        #: stretch's end (None: no reading yet).
        self.value: float | None = None
        self.since = 0.0
        self.length = 0

    def runs(self, times: np.ndarray, values: np.ndarray) -> list[tuple[float, float, int]]:
        """The stretch's runs as (first, last reading time, readings), in time order."""
        if not len(values):
            return []
        cuts = np.flatnonzero(values[1:] != values[:-1]) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [len(values)]))
        found = [
            (float(times[s]), float(times[e - 1]), int(e - s))
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
        ]
        if self.value is not None and float(values[0]) == self.value:
            _, last, n = found[0]
            found[0] = (self.since, last, self.length + n)
        self.value = float(values[-1])
        self.since, _, self.length = found[-1]
        return found
