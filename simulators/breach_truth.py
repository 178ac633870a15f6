"""When a product really left its range: the truth a breach warning is judged against.

A label marks only an incident's first breach; a product that came back into its range and
left it again breached again. The benches that judge the breach warning
(`bench/detection.py`, `bench/forecast_calibration.py`, both through
`simulators.fleet_replay`) therefore note every reading out of its shipment's range, at the
device's full reporting rate, and call a warning followed when such a reading comes within
its horizon.

A breach is the product's; a `temp_excursion` is the readings': the label owes one only where
the tracker's readings stayed out of range without a break for the excursion's minimum
(`simulators.incidents.excursion_owed`). The generator finds those runs with `RunsOut`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np


def note_outside(
    outside: dict[str, list[int]],
    device_id: str,
    ts_ms: int,
    temp_c: float | None,
    span: tuple[float, float] | None,
) -> None:
    """Add the reading's time to its device's list when it is out of `span` (low, high).

    >>> outside: dict[str, list[int]] = {}
    >>> for ts, t in ((1, 7.9), (2, 8.2), (3, None)):
    ...     note_outside(outside, "t", ts, t, (2.0, 8.0))
    >>> outside
    {'t': [2]}
    """
    if span is None or temp_c is None or span[0] <= temp_c <= span[1]:
        return
    outside.setdefault(device_id, []).append(ts_ms)


def followed(times: Sequence[int], at_ms: int, horizon_ms: float) -> bool:
    """Whether sorted `times` hold one from `at_ms` to `at_ms + horizon_ms`, both included.

    >>> followed([100, 500], 200, 300), followed([100, 500], 200, 299)
    (True, False)
    """
    i = bisect.bisect_left(times, at_ms)
    return i < len(times) and times[i] <= at_ms + horizon_ms


class RunsOut:
    """Runs of readings out of range, found a stretch of readings at a time.

    A run still out at a stretch's last reading ends there for now; its first reading is
    kept, so the next stretch carries it on.

    >>> runs = RunsOut()
    >>> runs.runs(np.array([0.0, 60, 120]), np.array([False, True, True]))
    [(60.0, 120.0)]
    >>> runs.runs(np.array([180.0, 240, 300]), np.array([True, False, True]))
    [(60.0, 180.0), (300.0, 300.0)]
    """

    __slots__ = ("last", "since")

    def __init__(self) -> None:
        #: The first and latest reading of the run still out at the last stretch's end.
        self.since: float | None = None
        self.last = 0.0

    def runs(self, times: np.ndarray, out: np.ndarray) -> list[tuple[float, float]]:
        """The stretch's runs as (first, last) reading times; `out` says which readings are."""
        found: list[tuple[float, float]] = []
        start = self.since
        was_out = np.int8(start is not None)
        for i in np.flatnonzero(np.diff(out.astype(np.int8), prepend=was_out)).tolist():
            if out[i]:
                start = float(times[i])
            else:
                assert start is not None
                found.append((start, float(times[i - 1]) if i else self.last))
                start = None
        if start is not None and len(times):
            self.last = float(times[-1])
            found.append((start, self.last))
        self.since = start
        return found
