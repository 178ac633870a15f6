"""Calibrating the breach forecast: a raw probability in, the share of such forecasts that breach.

The forecaster's raw probability comes from a normal model of its trend, which is not
what happens: a simulated failure that looks 60 % likely breached far more often than
60 % of the time. `calibrate` maps the raw value through a monotone, piecewise-linear
curve fitted by isotonic regression (pool-adjacent-violators, `fit_isotonic`) on the
development seeds only, so that of forecasts stated at 80 %, about 80 % are followed by a
breach within the horizon. Refit with ``bench/forecast_calibration.py --fit`` and paste
the printed points into `POINTS`.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Final

#: (raw, calibrated) points, raw increasing, calibrated non-decreasing. Fitted by
#: ``.venv/bin/python bench/forecast_calibration.py --fit`` on development seeds 1000-1019
#: (dev physics, 10 devices x 24 h per fleet, reefer_failure, power_loss, heat_wave and
#: normal fleets at 1, 5, 10 and 15 minute reporting): one sample per device every 15 min
#: that had a forecast, followed or not by a reading out of range within the horizon.
POINTS: Final[tuple[tuple[float, float], ...]] = (
    (0.0, 0.0968),
    (0.0001, 0.1197),
    (0.0002, 0.1875),
    (0.0003, 0.197),
    (0.0004, 0.2184),
    (0.0009, 0.2279),
    (0.0026, 0.2486),
    (0.0042, 0.2561),
    (0.0068, 0.2879),
    (0.0149, 0.3178),
    (0.0219, 0.3729),
    (0.0242, 0.4286),
    (0.0271, 0.4368),
    (0.0384, 0.4474),
    (0.0511, 0.5),
    (0.0801, 0.5857),
    (0.1293, 0.609),
    (0.1785, 0.6161),
    (0.2222, 0.623),
    (0.2429, 0.6613),
    (0.2581, 0.7059),
    (0.3547, 0.7215),
    (0.6068, 0.7436),
    (0.7655, 0.7557),
    (0.7845, 0.8182),
    (0.8189, 0.8281),
    (0.9027, 0.8519),
    (0.9693, 0.9061),
    (0.994, 0.9452),
    (0.9997, 0.9484),
    (1.0, 1.0),
)


def calibrate(raw: float, points: Sequence[tuple[float, float]] = POINTS) -> float:
    """The calibrated probability of a raw one: linear between the fitted points, in [0, 1].

    >>> calibrate(0.5, ((0.0, 0.1), (1.0, 0.9)))
    0.5
    >>> calibrate(2.0, ((0.0, 0.1), (1.0, 0.9)))
    0.9
    """
    if math.isnan(raw):
        return 0.0
    xs = [x for x, _ in points]
    i = bisect.bisect_right(xs, raw)
    if i == 0:
        value = points[0][1]
    elif i == len(points):
        value = points[-1][1]
    else:
        (x0, y0), (x1, y1) = points[i - 1], points[i]
        value = y0 if x1 == x0 else y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
    return min(1.0, max(0.0, value))


def fit_isotonic(samples: Iterable[tuple[float, bool]]) -> list[tuple[float, float]]:
    """Pool adjacent violators: (mean raw, share followed) of each block, both increasing.

    >>> fit_isotonic([(0.1, False), (0.2, True), (0.3, False), (0.9, True)])
    [(0.1, 0.0), (0.25, 0.5), (0.9, 1.0)]
    >>> fit_isotonic([(0.5, False), (1.0, False), (1.0, True), (1.0, True)])
    [(0.5, 0.0), (1.0, 0.6667)]
    """
    blocks: list[list[float]] = []  # [sum raw, sum followed, count]
    # Equal raw values start as one block: their order among themselves says nothing.
    for raw, tied in itertools.groupby(sorted(samples), key=lambda s: s[0]):
        outcomes = [followed for _, followed in tied]
        blocks.append([raw * len(outcomes), float(sum(outcomes)), float(len(outcomes))])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            last = blocks.pop()
            for k in range(3):
                blocks[-1][k] += last[k]
    return [(round(s / n, 4), round(f / n, 4)) for s, f, n in blocks]
