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
    (0.0342, 0.0),
    (0.0429, 0.0333),
    (0.0545, 0.0876),
    (0.0672, 0.1847),
    (0.0751, 0.2208),
    (0.1128, 0.2404),
    (0.1486, 0.274),
    (0.1559, 0.2857),
    (0.1766, 0.3255),
    (0.1975, 0.3878),
    (0.2045, 0.4118),
    (0.2245, 0.4137),
    (0.2439, 0.4179),
    (0.2761, 0.5),
    (0.3161, 0.5106),
    (0.3525, 0.5455),
    (0.3847, 0.6111),
    (0.4022, 0.6813),
    (0.4505, 0.7107),
    (0.5012, 0.724),
    (0.5529, 0.7358),
    (0.5928, 0.776),
    (0.6061, 0.7842),
    (0.6216, 0.8224),
    (0.6394, 0.85),
    (0.6475, 0.875),
    (0.6524, 0.904),
    (0.6687, 0.9112),
    (0.6902, 0.93),
    (0.6992, 0.9394),
    (0.7402, 0.9547),
    (0.7802, 0.9628),
    (0.7918, 0.9964),
    (0.8173, 1.0),
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
