"""When a stuck probe's readings show the fault: the truth a `sensor_fault` label rests on.

A probe stuck at one value sends a run of that value. An honest probe sends runs too: a quiet
probe on a product that holds still may read one value for hours, and a coarse one reads one
step for as long as its product stays on it. A stuck spell is a fault the readings show only
where its run is longer than every run the same probe read honestly on the same trip: a run no
longer than one the probe made honestly, on that very trip, is one no reader of the readings
can tell from the truth (stuck at the value it was reading anyway, it even was the truth). The
generator finds both with `ValueRuns`, on the readings the tracker took: the honest ones (noise
and resolution, no fault) and the ones it sent (`simulators.device.DeviceSim._watch_stuck`).
"""

from __future__ import annotations

import numpy as np


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
