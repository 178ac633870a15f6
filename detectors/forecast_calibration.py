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
    (0.0126, 0.0783),
    (0.0224, 0.1238),
    (0.0453, 0.1432),
    (0.0749, 0.2953),
    (0.1573, 0.2974),
    (0.2329, 0.317),
    (0.2478, 0.3243),
    (0.2513, 0.3571),
    (0.2542, 0.375),
    (0.2576, 0.3761),
    (0.2635, 0.3855),
    (0.273, 0.4505),
    (0.2904, 0.4975),
    (0.3092, 0.5676),
    (0.3476, 0.583),
    (0.3785, 0.5833),
    (0.3901, 0.6136),
    (0.4047, 0.6984),
    (0.4448, 0.7122),
    (0.5399, 0.7149),
    (0.606, 0.7186),
    (0.6384, 0.7442),
    (0.6681, 0.7958),
    (0.7082, 0.8607),
    (0.7531, 0.9064),
    (0.7932, 0.9128),
    (0.8225, 0.9344),
    (0.857, 0.9422),
    (0.8937, 0.9497),
    (0.9067, 0.9694),
    (0.9141, 0.9808),
    (0.9265, 0.985),
    (0.9474, 0.9857),
    (0.9694, 0.9904),
    (0.9914, 1.0),
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
