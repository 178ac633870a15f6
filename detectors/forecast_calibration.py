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
    (0.113, 0.2425),
    (0.1485, 0.2727),
    (0.175, 0.3222),
    (0.2026, 0.3799),
    (0.2248, 0.392),
    (0.2439, 0.4058),
    (0.2758, 0.4883),
    (0.3162, 0.5),
    (0.3525, 0.5272),
    (0.3847, 0.625),
    (0.4022, 0.6704),
    (0.451, 0.6946),
    (0.4911, 0.7179),
    (0.5086, 0.7236),
    (0.5463, 0.7326),
    (0.5805, 0.7478),
    (0.5859, 0.75),
    (0.5928, 0.7812),
    (0.6061, 0.7826),
    (0.6215, 0.8281),
    (0.6395, 0.8509),
    (0.6475, 0.8667),
    (0.6524, 0.9016),
    (0.6687, 0.912),
    (0.6914, 0.92),
    (0.7347, 0.9522),
    (0.7693, 0.9582),
    (0.7802, 0.9623),
    (0.7918, 0.9965),
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
